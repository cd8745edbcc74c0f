"""Signatures verified for real (`serve --credentials FILE`): every service on the port accepts
the file's principals and refuses anything else with DynamoDB's and Lambda's own errors.
A server of its own, since the shared one accepts any well-formed signature."""

import datetime
import json
import os
import random
import signal
import subprocess

import boto3
import botocore.auth
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from conftest import free_port, own_server
from util import expect_error, wait_until

pytestmark = pytest.mark.dynarock_only  # a server started here, with its own credentials

ADMIN = ("AKIDADMIN", "admin-secret")
TEMP = ("AKIDTEMP", "temp-secret", "session-token-1")
MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details.")
FILE = f"""# principals of the test server
[admin]
aws_access_key_id = {ADMIN[0]}
aws_secret_access_key = {ADMIN[1]}

[temporary]
aws_access_key_id = {TEMP[0]}
aws_secret_access_key = {TEMP[1]}
aws_session_token = {TEMP[2]}
"""
# (botocore's `max_attempts` counts retries, not attempts: one attempt in all is this.)
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def binary():
    if "DYNAROCK_BIN" not in os.environ:
        pytest.skip("needs the dynarock binary (compat-tests/run.sh sets it)")
    return os.environ["DYNAROCK_BIN"]


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    path = tmp_path_factory.mktemp("auth") / "credentials"
    path.write_text(FILE)
    with own_server("--credentials", str(path)) as (url, server):
        yield url, path, server


def client(url, service, key=ADMIN[0], secret=ADMIN[1], token=None):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, aws_session_token=token, config=NO_RETRIES)


def test_the_principals_reach_every_service(secured):
    url = secured[0]
    db = client(url, "dynamodb")
    db.create_table(TableName="signed", BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"}])
    db.put_item(TableName="signed", Item={"p": {"S": "x"}, "v": {"S": "é" * 100}})
    assert db.get_item(TableName="signed", Key={"p": {"S": "x"}})["Item"]["v"]["S"] == "é" * 100
    assert client(url, "lambda").list_functions(MaxItems=5)["Functions"] == []
    assert client(url, "lambda").get_account_settings()["AccountLimit"]["ConcurrentExecutions"] > 0
    queue = client(url, "sqs").create_queue(QueueName="signed-q")["QueueUrl"]
    assert client(url, "sqs").get_queue_url(QueueName="signed-q")["QueueUrl"] == queue
    assert "logGroups" in client(url, "logs").describe_log_groups()
    assert client(url, "events").list_rules()["Rules"] == []
    assert client(url, "scheduler").list_schedules()["Schedules"] == []
    # A temporary principal signs with its session token.
    temp = client(url, "dynamodb", *TEMP)
    assert "signed" in temp.list_tables()["TableNames"]


def test_unknown_keys_and_tokens_are_unrecognized(secured):
    url = secured[0]
    message = "The security token included in the request is invalid."
    with expect_error("UnrecognizedClientException", message):
        client(url, "dynamodb", "AKIDNOBODY", "x").list_tables()
    with expect_error("UnrecognizedClientException", message):
        client(url, "dynamodb", TEMP[0], TEMP[1]).list_tables()  # its session token left out
    with expect_error("UnrecognizedClientException", message):
        client(url, "dynamodb", TEMP[0], TEMP[1], "another-token").list_tables()
    with expect_error("UnrecognizedClientException") as info:
        client(url, "lambda", "AKIDNOBODY", "x").list_functions()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_wrong_secret_is_an_invalid_signature(secured):
    url = secured[0]
    with expect_error("InvalidSignatureException", MISMATCH) as info:
        client(url, "dynamodb", ADMIN[0], "not-the-secret").list_tables()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with expect_error("InvalidSignatureException", MISMATCH) as info:
        client(url, "lambda", ADMIN[0], "not-the-secret").list_functions()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with expect_error("InvalidSignatureException", MISMATCH):
        client(url, "sqs", ADMIN[0], "not-the-secret").list_queues()


def signed(url, body, when=None, secret=ADMIN[1], headers=None):
    req = AWSRequest(method="POST", url=url, data=body, headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.ListTables", **(headers or {})})
    auth = SigV4Auth(Credentials(ADMIN[0], secret), "dynamodb", "us-east-1")
    if when is not None:
        real = botocore.auth.datetime.datetime

        class Then(real):
            @classmethod
            def utcnow(cls):
                return when

            @classmethod
            def now(cls, tz=None):
                return when.replace(tzinfo=tz) if tz else when

        botocore.auth.datetime.datetime = Then
        try:
            auth.add_auth(req)
        finally:
            botocore.auth.datetime.datetime = real
    else:
        auth.add_auth(req)
    return dict(req.headers.items())


def test_a_changed_body_or_an_old_signature_is_refused(secured):
    url = secured[0]
    headers = signed(url, b"{}")
    assert requests.post(url, data=b"{}", headers=headers, timeout=10).status_code == 200
    r = requests.post(url, data=b'{"Limit": 1}', headers=headers, timeout=10)
    assert (r.status_code, r.json()["__type"].split("#")[-1]) == (400, "InvalidSignatureException")
    old = datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
    r = requests.post(url, data=b"{}", headers=signed(url, b"{}", when=old), timeout=10)
    assert r.status_code == 400 and r.json()["message"].startswith(
        f"Signature expired: {old.strftime('%Y%m%dT%H%M%SZ')} is now earlier than ")
    ahead = datetime.datetime.utcnow() + datetime.timedelta(minutes=20)
    r = requests.post(url, data=b"{}", headers=signed(url, b"{}", when=ahead), timeout=10)
    assert r.json()["message"].startswith("Signature not yet current: ")
    r = requests.post(url, data=b"{}", headers={"Content-Type": "application/x-amz-json-1.0",
                                                "X-Amz-Target": "DynamoDB_20120810.ListTables"}, timeout=10)
    assert r.status_code == 400 and r.json()["__type"].endswith("#MissingAuthenticationTokenException")


def test_an_unsigned_payload_is_accepted_when_signed_so(secured, monkeypatch):
    url = secured[0]
    monkeypatch.setattr(SigV4Auth, "_should_sha256_sign_payload", lambda self, request: False)
    headers = signed(url, b"{}", headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    assert "x-amz-content-sha256" in headers["Authorization"]
    assert requests.post(url, data=b"{}", headers=headers, timeout=10).status_code == 200


def test_public_http_endpoints_need_no_signature(secured):
    url = secured[0]
    r = requests.get(f"{url}/execute-api/nosuchapi/anything", timeout=10)
    assert r.status_code == 404 and r.json() == {"message": "Not Found"}
    assert requests.get(f"{url}/lambda-url/nosuchfunction/", timeout=10).status_code == 404
    assert requests.get(f"{url}/dynarock/mappings", timeout=10).status_code == 403


def test_the_commands_sign_with_the_environment(secured):
    url = secured[0]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ADMIN[0], "AWS_SECRET_ACCESS_KEY": ADMIN[1]}
    ok = subprocess.run([binary(), "mappings", "--endpoint", url], env=env, capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and "no event source mappings" in ok.stdout
    env["AWS_SECRET_ACCESS_KEY"] = "wrong"
    bad = subprocess.run([binary(), "mappings", "--endpoint", url], env=env, capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "InvalidSignatureException (HTTP 403)" in bad.stderr


def test_sighup_reloads_the_file_and_a_bad_file_changes_nothing(secured):
    url, path, server = secured
    new = ("AKIDNEW", "new-secret")
    path.write_text(FILE + f"\n[new]\naws_access_key_id = {new[0]}\naws_secret_access_key = {new[1]}\n")
    server.send_signal(signal.SIGHUP)

    def works(key):
        try:
            client(url, "dynamodb", *key).list_tables()
            return True
        except client(url, "dynamodb").exceptions.ClientError:
            return False

    assert wait_until(lambda: works(new), timeout=10)
    path.write_text("[broken\n")
    server.send_signal(signal.SIGHUP)
    assert not wait_until(lambda: not works(new), timeout=1)
    assert works(ADMIN[:2]) and works(new)
    path.write_text(FILE)


def test_a_malformed_file_is_refused_at_start(tmp_path):
    path = tmp_path / "credentials"
    path.write_text("[ci]\naws_access_key_id = AKID\n")
    r = subprocess.run([binary(), "serve", "--in-memory", "--port", str(free_port()), "--credentials", str(path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "[ci]: aws_secret_access_key is missing" in r.stdout + r.stderr


def test_a_signed_body_hash_must_be_the_bodys(secured):
    url = secured[0]
    import hashlib
    body = b'{"Limit": 5}'
    headers = signed(url, body, headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()})
    assert requests.post(url, data=body, headers=headers, timeout=10).status_code == 200
    # The same signed headers with another body: the hash header no longer stands for it.
    r = requests.post(url, data=b'{"Limit": 6}', headers=headers, timeout=10)
    assert r.status_code == 400 and r.json()["message"] == \
        "The provided 'x-amz-content-sha256' header does not match what was computed."


def test_presigned_urls_are_verified(secured):
    url = secured[0]
    lam = client(url, "lambda")
    good = lam.generate_presigned_url("list_functions", Params={"MaxItems": 5}, ExpiresIn=300)
    r = requests.get(good, timeout=10)
    assert r.status_code == 200 and r.json()["Functions"] == []
    tampered = good.replace("MaxItems=5", "MaxItems=6")
    r = requests.get(tampered, timeout=10)
    assert (r.status_code, r.headers["x-amzn-errortype"]) == (403, "InvalidSignatureException")
    wrong = client(url, "lambda", ADMIN[0], "not-the-secret").generate_presigned_url("list_functions")
    assert requests.get(wrong, timeout=10).status_code == 403


def _auth_refused(r):
    kind = r.headers.get("x-amzn-ErrorType", "")
    try:
        kind += r.json().get("__type", "")
    except ValueError:
        pass
    return "InvalidSignature" in kind or "IncompleteSignature" in kind


def test_what_botocore_signs_is_accepted_and_any_changed_byte_refused(secured):
    """A property test over seeded random requests: DynamoDB JSON bodies and Lambda REST paths
    and queries, with extra signed headers, as botocore signs them; then one byte changed in the
    body, a signed header, the path or the query, which must be refused."""
    url = secured[0]
    rng = random.Random(20261205)
    word = lambda n: "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-_") for _ in range(n))
    for case in range(40):
        headers = {f"X-Amz-Meta-{word(5)}": word(rng.randint(1, 20))}
        if rng.random() < 0.5:
            service, method, path = "dynamodb", "POST", "/"
            headers.update({"Content-Type": "application/x-amz-json-1.0",
                            "X-Amz-Target": "DynamoDB_20120810.ListTables"})
            body = json.dumps({"Limit": rng.randint(1, 100), "ExclusiveStartTableName": word(8),
                               "Note": "".join(chr(rng.randint(32, 0x2fff)) for _ in range(rng.randint(0, 30)))})
        else:
            service, method = "lambda", rng.choice(["GET", "POST"])
            path = f"/2015-03-31/functions/{word(10)}/configuration"
            if rng.random() < 0.5:
                path += f"?Qualifier={word(4)}&Marker={word(6)}"
            body = json.dumps({"Description": word(12)}) if method == "POST" else ""
        request = AWSRequest(method=method, url=url + path, data=body.encode(), headers=headers)
        SigV4Auth(Credentials(*ADMIN), service, "us-east-1").add_auth(request)
        prepared = request.prepare()
        sent = dict(prepared.headers.items())
        r = requests.request(method, prepared.url, headers=sent, data=prepared.body, timeout=10)
        assert not _auth_refused(r), (case, r.status_code, r.text)

        # One byte changed in one signed part.
        target_url, target_headers, target_body = prepared.url, dict(sent), prepared.body or b""
        parts = ["header", "path"] + (["body"] if target_body else [])
        part = rng.choice(parts)
        flip = lambda s, i: s[:i] + ("x" if s[i] != "x" else "y") + s[i + 1:]
        if part == "body":
            i = rng.randrange(len(target_body))
            target_body = target_body[:i] + bytes([target_body[i] ^ 1]) + target_body[i + 1:]
        elif part == "header":
            name = next(h for h in target_headers if h.lower().startswith("x-amz-meta-"))
            target_headers[name] = flip(target_headers[name], rng.randrange(len(target_headers[name])))
        else:
            start = len(url) + 1
            if target_url == url + "/":
                target_url = url + "/x"  # the path itself changed
            else:
                target_url = flip(target_url, rng.randrange(start, len(target_url)))
        r = requests.request(method, target_url, headers=target_headers, data=target_body, timeout=10)
        assert _auth_refused(r), (case, part, r.status_code, r.text)
