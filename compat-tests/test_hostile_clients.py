"""Careless and hostile clients: slow headers, slow bodies, idle connections and too many
connections cannot take the server; browsers get CORS; secrets stay out of the log. The limit
tests run a server of their own with small limits, bounded in time."""

import os
import socket
import subprocess
import time

import boto3
import pytest
import requests

from conftest import _up, free_port, own_server
from util import wait_until

TIMEOUT = 2.0  # --client-timeout-seconds of the limited server
SLOTS = 4      # --max-connections


@pytest.fixture(scope="module")
def limited():
    with own_server("--max-connections", str(SLOTS), "--client-timeout-seconds", str(TIMEOUT)) as (url, _):
        yield url.rsplit(":", 1)[1]


def connect(port):
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    return s


def closed_within(s, seconds):
    """Whether the server closes the connection within `seconds` (reading whatever it sends)."""
    s.settimeout(seconds)
    try:
        while True:
            data = s.recv(4096)
            if not data:
                return True
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


HEALTH = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"


def answer_until_closed(s):
    """Everything the server sends until it closes the connection (a few seconds at most)."""
    s.settimeout(TIMEOUT + 3)
    answer = b""
    while data := s.recv(4096):
        answer += data
    return answer


@pytest.mark.dynarock_only
def test_a_client_sending_its_headers_a_byte_at_a_time_is_cut_off(limited):
    s = connect(limited)
    started = time.monotonic()
    cut = False
    for b in b"POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n":
        try:
            s.send(bytes([b]))
        except (BrokenPipeError, ConnectionResetError):
            cut = True
            break
        if closed_within(s, 0.2):
            cut = True
            break
    took = time.monotonic() - started
    assert cut, "still connected after sending slowly for %.1f s" % took
    assert TIMEOUT * 0.8 <= took <= TIMEOUT + 2


# DynamoDB's endpoint answers as DynamoDB does; the REST surfaces (Lambda's here) with a 408.
STALLED_BODIES = {
    "dynamodb": (b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-amz-json-1.0\r\n"
                 b"X-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 100\r\n\r\n{\"Lim",
                 b"HTTP/1.1 400", b"ValidationException"),
    "rest": (b"POST /2015-03-31/functions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
             b"Content-Length: 100\r\n\r\n{\"Func",
             b"HTTP/1.1 408", b"RequestTimeoutException"),
}


@pytest.mark.dynarock_only
@pytest.mark.parametrize("surface", STALLED_BODIES)
def test_a_body_that_stops_arriving_ends_the_connection(limited, surface):
    request, status, error = STALLED_BODIES[surface]
    s = connect(limited)
    s.send(request)
    started = time.monotonic()
    answer = answer_until_closed(s)
    assert answer.startswith(status), answer
    assert error in answer and b"not received in time" in answer
    assert time.monotonic() - started <= TIMEOUT + 2


@pytest.mark.dynarock_only
def test_oversized_headers_are_refused_and_large_bodies_still_pass(limited):
    s = connect(limited)
    s.sendall(b"POST / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 431")
    s.close()
    # A body far larger than the header limit streams through.
    url = f"http://127.0.0.1:{limited}"
    ddb = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    ddb.create_table(TableName="big", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    ddb.put_item(TableName="big", Item={"pk": {"S": "a"}, "v": {"S": "x" * 390_000}})
    assert len(ddb.get_item(TableName="big", Key={"pk": {"S": "a"}})["Item"]["v"]["S"]) == 390_000


@pytest.mark.dynarock_only
def test_an_idle_connection_is_closed_and_its_slot_comes_back(limited):
    s = connect(limited)
    s.send(HEALTH)
    assert s.recv(4096).startswith(b"HTTP/1.1 200")
    assert not closed_within(s, TIMEOUT * 0.5)
    assert closed_within(s, TIMEOUT + 2)


@pytest.mark.dynarock_only
def test_connections_beyond_the_limit_wait_for_a_free_slot(limited):
    held = [connect(limited) for _ in range(SLOTS)]
    # The slots are taken once the server has accepted them.
    time.sleep(0.2)
    waiting = connect(limited)
    waiting.send(HEALTH)
    waiting.settimeout(0.5)
    with pytest.raises(socket.timeout):
        waiting.recv(4096)
    # One connection closes: the waiting one is served at once.
    held.pop().close()
    waiting.settimeout(1.0)
    assert waiting.recv(4096).startswith(b"HTTP/1.1 200")
    for s in held:
        s.close()


def test_browsers_get_cors(url):
    r = requests.options(url, headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
                                       "Access-Control-Request-Headers": "content-type,x-amz-target,authorization"},
                         timeout=10)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Access-Control-Allow-Methods"] == "POST"
    assert r.headers["Access-Control-Allow-Headers"] == "content-type,x-amz-target,authorization"
    assert int(r.headers["Access-Control-Max-Age"]) > 0
    page = requests.get(url, headers={"Origin": "http://localhost:3000"}, timeout=10)
    assert page.headers["Access-Control-Allow-Origin"] == "*"
    assert "x-amzn-RequestId" in page.headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Origin" not in requests.get(url, timeout=10).headers


@pytest.mark.dynarock_only
def test_secrets_signatures_and_items_stay_out_of_the_log(tmp_path):
    if "DYNAROCK_BIN" not in os.environ:
        pytest.skip("needs the dynarock binary")
    (tmp_path / "credentials").write_text("[admin]\naws_access_key_id = AKIDLOGS\n"
                                          "aws_secret_access_key = very-secret-value\n")
    port = free_port()
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen([os.environ["DYNAROCK_BIN"], "serve", "--in-memory", "--port", str(port),
                                   "--credentials", str(tmp_path / "credentials")], stdout=out, stderr=out)
        try:
            url = f"http://127.0.0.1:{port}"
            assert wait_until(lambda: _up(url), timeout=20)
            session = boto3.session.Session(aws_access_key_id="AKIDLOGS", aws_secret_access_key="very-secret-value",
                                            region_name="us-east-1")
            db = session.client("dynamodb", endpoint_url=url)
            db.create_table(TableName="logged", BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"}])
            db.put_item(TableName="logged", Item={"p": {"S": "item-content-marker"}})
            bad = boto3.session.Session(aws_access_key_id="AKIDLOGS", aws_secret_access_key="wrong-secret",
                                        region_name="us-east-1").client("dynamodb", endpoint_url=url)
            with pytest.raises(Exception):
                bad.get_item(TableName="logged", Key={"p": {"S": "item-content-marker"}})
        finally:
            server.terminate()
            server.wait()
    text = log.read_text()
    assert "dynarock" in text.lower()  # the log was written
    for secret in ["very-secret-value", "wrong-secret", "item-content-marker", "Signature="]:
        assert secret not in text
