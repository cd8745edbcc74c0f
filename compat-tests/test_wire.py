"""The HTTP + JSON 1.0 protocol itself: headers, errors, auth, body handling."""

import gzip
import json
import zlib

import pytest
import requests

from util import Raw, crc32_ok, error_of


@pytest.fixture(scope="module")
def raw(url):
    return Raw(url)


def test_every_response_has_request_id_crc32_and_server(raw, table_s):
    for op, body in [("ListTables", {}), ("GetItem", {"TableName": table_s, "Key": {"p": {"S": "x"}}}),
                     ("DescribeTable", {"TableName": "compat_does_not_exist"})]:
        r = raw.post(op, body)
        assert r.headers["x-amzn-RequestId"]
        assert crc32_ok(r)
        # The name DynamoDB's endpoints give themselves, on answers and errors alike.
        assert r.headers["Server"] == "Server"


def test_request_ids_are_unique(raw):
    ids = {raw.post("ListTables", {}).headers["x-amzn-RequestId"] for _ in range(5)}
    assert len(ids) == 5


def test_content_type_is_echoed(raw):
    r = raw.post("ListTables", {}, content_type="application/json")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    r = raw.post("ListTables", {})
    assert r.headers["Content-Type"].startswith("application/x-amz-json-1.0")


def test_unknown_operation(raw):
    status, body = raw.call("NoSuchOperation", {})
    assert status == 400
    assert body["__type"] == "com.amazon.coral.service#UnknownOperationException"
    status, body = raw.call("ListTables", {}, target_prefix="DynamoDB_20111205.")
    assert error_of(body)[0] == "UnknownOperationException"


def test_missing_target_is_unknown_operation(raw):
    status, body = raw.call("", {})
    assert status == 400
    assert error_of(body)[0] == "UnknownOperationException"


def test_missing_authentication(raw):
    status, body = raw.call("ListTables", {}, sign=False)
    assert status == 400
    assert body["__type"] == "com.amazon.coral.service#MissingAuthenticationTokenException"
    assert body["message"] == "Request is missing Authentication Token"


def test_incomplete_signature(raw, url):
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.ListTables",
               "Authorization": "AWS4-HMAC-SHA256 Signature=abc"}
    r = requests.post(url, data=b"{}", headers=headers, timeout=10)
    assert r.status_code == 400
    code, message = error_of(r.json())
    assert code == "IncompleteSignatureException"
    assert "Authorization header requires 'Credential' parameter." in message
    assert r.json()["__type"] == "com.amazon.coral.service#IncompleteSignatureException"


def test_malformed_json(raw):
    status, body = raw.call("ListTables", b"{not json")
    assert status == 400
    assert body["__type"] == "com.amazon.coral.service#SerializationException"


def test_number_sent_as_json_number_is_a_serialization_error(raw, table_s):
    status, body = raw.call("PutItem", {"TableName": table_s, "Item": {"p": {"S": "a"}, "n": {"N": 123}}})
    assert status == 400
    assert body["__type"] == "com.amazon.coral.service#SerializationException"
    # SerializationException spells its message member with a capital M.
    assert body["Message"] == "NUMBER_VALUE cannot be converted to String"


def test_wrong_member_types_are_serialization_errors(raw, table_s):
    cases = [
        ({"TableName": 5}, "NUMBER_VALUE cannot be converted to String"),
        ({"TableName": True}, "TRUE_VALUE cannot be converted to String"),
        ({"TableName": {}}, "Start of structure or map found where not expected"),
        ({"TableName": ["x"]}, "Unrecognized collection type class java.lang.String"),
    ]
    for body, message in cases:
        status, resp = raw.call("DescribeTable", body)
        assert status == 400
        assert error_of(resp) == ("SerializationException", message), body
    status, resp = raw.call("ListTables", {"Limit": "5"})
    assert error_of(resp) == ("SerializationException", "STRING_VALUE cannot be converted to Integer")


def test_validation_errors_are_aggregated(raw):
    status, body = raw.call("DescribeTable", {})
    assert status == 400
    assert body["__type"] == "com.amazon.coral.validate#ValidationException"
    assert body["message"] == ("1 validation error detected: Value null at 'tableName' failed to satisfy "
                               "constraint: Member must not be null")
    status, body = raw.call("ListTables", {"Limit": 0, "ExclusiveStartTableName": "a;"})
    assert body["message"] == (
        "3 validation errors detected: "
        "Value 'a;' at 'exclusiveStartTableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; "
        "Value 'a;' at 'exclusiveStartTableName' failed to satisfy constraint: Member must have length greater than or equal to 3; "
        "Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1")


def test_gzip_request_body(raw, url, table_s):
    body = json.dumps({"TableName": table_s, "Item": {"p": {"S": "gz"}, "v": {"S": "zipped"}}}).encode()
    packed = gzip.compress(body)
    headers = raw.headers("DynamoDB_20120810.PutItem", packed, extra={"Content-Encoding": "gzip"})
    r = requests.post(url, data=packed, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    status, got = raw.call("GetItem", {"TableName": table_s, "Key": {"p": {"S": "gz"}}, "ConsistentRead": True})
    assert got["Item"]["v"] == {"S": "zipped"}


def test_wrong_content_type_is_not_the_json_protocol(raw, url):
    headers = raw.headers("DynamoDB_20120810.ListTables", b"{}", content_type="text/plain")
    r = requests.post(url, data=b"{}", headers=headers, timeout=10)
    assert r.status_code == 404
    assert b"UnknownOperationException" in r.content


def test_health_check(url):
    r = requests.get(url, timeout=10)
    assert r.status_code == 200
    assert r.text.startswith("healthy: dynamodb.")


def test_request_over_16mb_is_refused(raw, url):
    body = b'{"TableName": "' + b"x" * (16 * 1024 * 1024 + 10) + b'"}'
    headers = raw.headers("DynamoDB_20120810.DescribeTable", body)
    r = requests.post(url, data=body, headers=headers, timeout=60)
    assert r.status_code == 413


def test_crc32_matches_error_bodies_too(raw):
    r = raw.post("DescribeTable", {})
    assert r.status_code == 400
    assert int(r.headers["x-amz-crc32"]) == zlib.crc32(r.content)


@pytest.mark.parametrize("coding, inflate", [("gzip", gzip.decompress), ("deflate", zlib.decompress)])
def test_large_answers_are_compressed_for_clients_that_accept_it(raw, url, table_s, coding, inflate):
    """Answers of 4096 bytes and more come compressed in the coding the client prefers, with
    the CRC32 over the bytes sent; smaller ones, and answers to clients that accept no coding
    DynamoDB knows, come as they are."""
    p = "z" + coding
    raw.call("PutItem", {"TableName": table_s, "Item": {"p": {"S": p}, "x": {"S": "x" * 4071}}})

    def get(projection, accept):
        body = json.dumps({"TableName": table_s, "Key": {"p": {"S": p}}, "ProjectionExpression": projection}).encode()
        headers = raw.headers("DynamoDB_20120810.GetItem", body, extra={"Accept-Encoding": accept})
        # Read the bytes as sent: requests would otherwise inflate them itself.
        r = requests.post(url, data=body, headers=headers, timeout=10, stream=True)
        return r, r.raw.read(decode_content=False)

    r, sent = get("p, x", coding)
    assert r.headers["Content-Encoding"] == coding
    assert int(r.headers["x-amz-crc32"]) == zlib.crc32(sent)
    item = json.loads(inflate(sent))["Item"]
    assert item["x"]["S"] == "x" * 4071 and len(sent) * 30 < 4096
    r, sent = get("x", coding)  # 4091 bytes: under the threshold
    assert "Content-Encoding" not in r.headers and json.loads(sent)["Item"]["x"]["S"] == "x" * 4071
    for refused in ["identity", "br", "x-gzip", f"{coding};q=0", "*;q=0"]:
        r, sent = get("p, x", refused)
        assert "Content-Encoding" not in r.headers, refused
        assert int(r.headers["x-amz-crc32"]) == zlib.crc32(sent)


@pytest.mark.dynarock_only  # DynamoDB answers these with a 500 InternalServerError (see compatibility.md)
def test_bodies_that_do_not_decode_are_serialization_errors(raw, url, table_s):
    item = json.dumps({"TableName": table_s, "Item": {"p": {"S": "never"}}}).encode()
    cases = [
        ("gzip", item, "Invalid gzip request body"),
        ("gzip", b"", "Invalid gzip request body"),
        ("gzip", gzip.compress(item)[:-1], "Invalid gzip request body"),
        ("gzip", gzip.compress(gzip.compress(item)), "Malformed JSON request"),
        ("deflate", zlib.compress(item), "Unsupported Content-Encoding: deflate; requests may only be gzip encoded"),
        ("garbage", item, "Unsupported Content-Encoding: garbage; requests may only be gzip encoded"),
    ]
    for coding, body, message in cases:
        headers = raw.headers("DynamoDB_20120810.PutItem", body, extra={"Content-Encoding": coding})
        r = requests.post(url, data=body, headers=headers, timeout=10)
        assert r.status_code == 400, (coding, r.text)
        code, got = error_of(r.json())
        assert code == "SerializationException" and got.startswith(message), (coding, got)
    status, body = raw.call("GetItem", {"TableName": table_s, "Key": {"p": {"S": "never"}}, "ConsistentRead": True})
    assert status == 200 and "Item" not in body
    # Two gzip members in a row are one body, as the gzip format allows.
    packed = gzip.compress(item[:10]) + gzip.compress(item[10:])
    headers = raw.headers("DynamoDB_20120810.PutItem", packed, extra={"Content-Encoding": "gzip"})
    assert requests.post(url, data=packed, headers=headers, timeout=10).status_code == 200


@pytest.mark.dynarock_only  # the server under test takes any well-formed signature (no --credentials)
def test_signature_shapes(url):
    """Authorization components may be separated by spaces, commas or both; a presigned query
    string needs all five parameters; without either, the token is missing."""
    base = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "X-Amz-Date": "20260101T000000Z"}
    parts = ["Credential=AKID/20260101/us-east-1/dynamodb/aws4_request", "SignedHeaders=host;x-amz-date",
             "Signature=abc"]
    for sep in [" ", ",", ", "]:
        r = requests.post(url, data=b"{}", headers={**base, "Authorization": "AWS4-HMAC-SHA256 " + sep.join(parts)},
                          timeout=10)
        assert r.status_code == 200, (sep, r.text)
    query = {"X-Amz-Algorithm": "AWS4-HMAC-SHA256",
             "X-Amz-Credential": "AKID/20260101/us-east-1/dynamodb/aws4_request",
             "X-Amz-Date": "20260101T000000Z", "X-Amz-SignedHeaders": "host", "X-Amz-Signature": "ff"}
    plain = {k: v for k, v in base.items() if k != "X-Amz-Date"}
    assert requests.post(url, params=query, data=b"{}", headers=plain, timeout=10).status_code == 200
    for missing in ["X-Amz-Date", "X-Amz-SignedHeaders"]:
        r = requests.post(url, params={k: v for k, v in query.items() if k != missing}, data=b"{}",
                          headers=plain, timeout=10)
        assert error_of(r.json()) == ("IncompleteSignatureException", (
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', "
            "'X-Amz-SignedHeaders' and 'X-Amz-Date'. Re-examine the query-string parameters.")), missing
    r = requests.post(url, data=b"{}", headers=plain, timeout=10)
    assert error_of(r.json()) == ("MissingAuthenticationTokenException", "Request is missing Authentication Token")
