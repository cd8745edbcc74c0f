"""Helpers shared by the compat tests."""

import contextlib
import json
import os
import random
import string
import subprocess
import time
import zlib

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

PREFIX = "compat_"


def random_string(n=10):
    return "".join(random.choice(string.ascii_letters + string.digits) for _ in range(n))


def random_table_name():
    return PREFIX + random_string(16)


def create_table(client, name, key_schema, attribute_definitions, **extra):
    extra.setdefault("BillingMode", "PAY_PER_REQUEST")
    client.create_table(TableName=name, KeySchema=key_schema,
                        AttributeDefinitions=attribute_definitions, **extra)
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    return name


def delete_table(client, name):
    try:
        client.delete_table(TableName=name)
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceNotFoundException":
            raise


THROTTLED = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}


def patiently(call, tries=200):
    """call(), again after a short wait while it is throttled, as an SDK's retries would: for
    tests that write faster than one partition takes (1,000 units a second), as DynamoDB
    would throttle them too."""
    for _ in range(tries - 1):
        try:
            return call()
        except ClientError as e:
            if e.response["Error"]["Code"] not in THROTTLED:
                raise
            time.sleep(0.05)
    return call()


@contextlib.contextmanager
def expect_error(code, message=None, match=None):
    """pytest.raises for a ClientError with this exact code (and message, if given)."""
    with pytest.raises(ClientError) as info:
        yield info
    err = info.value.response["Error"]
    assert err["Code"] == code, err
    if message is not None:
        assert err["Message"] == message, err
    if match is not None:
        assert match in err["Message"], err


class Raw:
    """Sends hand-made requests, to test what an SDK would refuse or normalise."""

    def __init__(self, url, region="us-east-1"):
        self.url = url
        self.region = region
        self.credentials = Credentials("testing", "testing")

    def headers(self, target, body, content_type="application/x-amz-json-1.0", sign=True, extra=None):
        req = AWSRequest(method="POST", url=self.url, data=body,
                         headers={"Content-Type": content_type, "X-Amz-Target": target, **(extra or {})})
        if sign:
            SigV4Auth(self.credentials, "dynamodb", self.region).add_auth(req)
        return dict(req.headers.items())

    def post(self, op, body, target_prefix="DynamoDB_20120810.", **kw):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        if isinstance(data, str):
            data = data.encode()
        headers = self.headers(target_prefix + op if op else "", data, **kw)
        return requests.post(self.url, data=data, headers=headers, timeout=30)

    def call(self, op, body, **kw):
        """Posts and returns (status, json body)."""
        r = self.post(op, body, **kw)
        return r.status_code, (r.json() if r.content else None)


def error_of(body):
    return body["__type"].split("#")[-1], body.get("message", body.get("Message"))


def crc32_ok(response):
    return int(response.headers["x-amz-crc32"]) == zlib.crc32(response.content) & 0xFFFFFFFF


def wait_until(predicate, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def with_placeholders(args, values=None, names=None):
    """Adds ExpressionAttributeValues/Names to request arguments when given."""
    if values:
        args["ExpressionAttributeValues"] = values
    if names:
        args["ExpressionAttributeNames"] = names
    return args


def aws_cli(url, *args, region="us-east-1"):
    """The aws CLI against `url`, with test credentials; its JSON answer (None when empty)."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
               AWS_SECRET_ACCESS_KEY=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
               AWS_DEFAULT_REGION=region, AWS_PAGER="")
    out = subprocess.run(["aws", "--endpoint-url", url, "--output", "json", *args],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else None


def scan_all(client, name, index=None):
    """Every item of a table (read consistently) or of one of its indexes, page after page."""
    args = {"TableName": name, **({"IndexName": index} if index else {"ConsistentRead": True})}
    items, start = [], None
    while True:
        page = client.scan(**args, **({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items
