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


def test_chunked_bodies_are_verified_whole(secured):
    """A body sent in HTTP chunks (an SDK streaming a payload of unknown length) is verified as
    the whole body its signature hashed, on DynamoDB's endpoint and the REST surfaces."""
    url = secured[0]
    body = b'{"Limit": 3}'

    def chunks(data):
        for i in range(0, len(data), 4):
            yield data[i:i + 4]
    r = requests.post(url, data=chunks(body), headers=signed(url, body), timeout=10)
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert r.status_code == 200 and len(r.json()["TableNames"]) <= 3
    r = requests.post(url, data=chunks(b'{"Limit": 4}'), headers=signed(url, body), timeout=10)
    assert (r.status_code, r.json()["__type"].split("#")[-1]) == (400, "InvalidSignatureException")
    # Lambda's REST surface: an Invoke of a function that is not there, signed for its body.
    path = "/2015-03-31/functions/absent/invocations"
    req = AWSRequest(method="POST", url=url + path, data=b'{"a": 1}')
    SigV4Auth(Credentials(*ADMIN), "lambda", "us-east-1").add_auth(req)
    headers = dict(req.headers.items())
    r = requests.post(url + path, data=chunks(b'{"a": 1}'), headers=headers, timeout=10)
    assert (r.status_code, r.headers["x-amzn-errortype"]) == (404, "ResourceNotFoundException")
    r = requests.post(url + path, data=chunks(b'{"a": 2}'), headers=headers, timeout=10)
    assert (r.status_code, r.headers["x-amzn-errortype"]) == (403, "InvalidSignatureException")


STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"


def aws_chunked(url, path, service, data, size=5, target=None):
    """(headers, body): `data` sent aws-chunked as SigV4's streaming upload signs it, the first
    chunk's signature chained from the request's."""
    import hashlib
    import hmac
    headers = {"Content-Encoding": "aws-chunked", "X-Amz-Content-SHA256": STREAMING,
               "X-Amz-Decoded-Content-Length": str(len(data))}
    if target:
        headers.update({"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target})
    req = AWSRequest(method="POST", url=url + path, data=b"", headers=headers)
    SigV4Auth(Credentials(*ADMIN), service, "us-east-1").add_auth(req)
    signed_headers = dict(req.headers.items())
    seed = signed_headers["Authorization"].rsplit("Signature=", 1)[1]
    amz_date = signed_headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/us-east-1/{service}/aws4_request"

    def h(key, msg):
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()
    key = h(h(h(h(("AWS4" + ADMIN[1]).encode(), amz_date[:8]), "us-east-1"), service), "aws4_request")
    body, previous = b"", seed
    for piece in [data[i:i + size] for i in range(0, len(data), size)] + [b""]:
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous,
                             hashlib.sha256(b"").hexdigest(), hashlib.sha256(piece).hexdigest()])
        previous = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        body += f"{len(piece):x};chunk-signature={previous}\r\n".encode() + piece + b"\r\n"
    return signed_headers, body


def test_aws_chunked_bodies_have_every_chunk_verified(secured):
    url = secured[0]
    headers, body = aws_chunked(url, "/", "dynamodb", b'{"Limit": 2}', target="DynamoDB_20120810.ListTables")
    r = requests.post(url, data=body, headers=headers, timeout=10)
    assert r.status_code == 200 and len(r.json()["TableNames"]) <= 2
    # What is served is the decoded body: a Limit of 0 is read, and refused as DynamoDB does.
    zero_headers, zero = aws_chunked(url, "/", "dynamodb", b'{"Limit": 0}', target="DynamoDB_20120810.ListTables")
    r = requests.post(url, data=zero, headers=zero_headers, timeout=10)
    assert r.json()["__type"].endswith("#ValidationException") and "'limit'" in r.json()["message"], r.text
    # One chunk's data changed: its signature no longer holds.
    first = body.index(b"\r\n") + 2
    changed = body[:first] + bytes([body[first] ^ 1]) + body[first + 1:]
    r = requests.post(url, data=changed, headers=headers, timeout=10)
    assert (r.status_code, r.json()["__type"].split("#")[-1]) == (400, "InvalidSignatureException")
    # The final chunk cut off.
    r = requests.post(url, data=body[:-20], headers=headers, timeout=10)
    assert r.json()["__type"].endswith("#InvalidSignatureException")
    assert r.json()["message"].startswith("The aws-chunked request body is malformed")
    # A REST surface gets the decoded body: Lambda reads it as the function's configuration.
    path = "/2015-03-31/functions"
    config = json.dumps({"FunctionName": "chunked", "Runtime": "python3.12", "Handler": "app.handler",
                         "Role": "arn:aws:iam::123456789012:role/r", "Code": {"ZipFile": "bm90IGEgemlw"}})
    headers, body = aws_chunked(url, path, "lambda", config.encode(), size=64)
    r = requests.post(url + path, data=body, headers=headers, timeout=10)
    # Decoded and read as JSON: the zip inside is what is refused, as Lambda refuses it.
    assert (r.status_code, r.headers["x-amzn-errortype"]) == (400, "InvalidParameterValueException"), r.text


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
