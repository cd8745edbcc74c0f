"""Helpers for the Lambda tests: zips made in memory, functions created and removed."""

import base64
import contextlib
import io
import json
import zipfile

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from util import random_string

ROLE = "arn:aws:iam::123456789012:role/lambda-role"


def zip_of(files):
    """A zip of {path: text or (text, mode)}; modes default to 0o644 (0o755 for bootstrap)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path, content in files.items():
            mode = 0o755 if path == "bootstrap" else 0o644
            if isinstance(content, tuple):
                content, mode = content
            info = zipfile.ZipInfo(path)
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, content)
    return buf.getvalue()


def function_name():
    return "compat-fn-" + random_string(10)


@contextlib.contextmanager
def function(lam, files, runtime="python3.12", handler="app.handler", **extra):
    """A function for the duration of a test, deleted afterwards."""
    name = extra.pop("FunctionName", None) or function_name()
    extra.setdefault("Role", ROLE)
    lam.create_function(FunctionName=name, Runtime=runtime, Handler=handler,
                        Code={"ZipFile": zip_of(files)}, **extra)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    try:
        yield name
    finally:
        try:
            lam.delete_function(FunctionName=name)
        except ClientError:
            pass


def invoke(lam, name, payload=None, **extra):
    """Invokes synchronously; returns (response, decoded payload)."""
    body = json.dumps(payload if payload is not None else {})
    r = lam.invoke(FunctionName=name, Payload=body, **extra)
    raw = r["Payload"].read()
    return r, (json.loads(raw) if raw else None)


def log_tail(response):
    return base64.b64decode(response["LogResult"]).decode()


def rest(url, method, path, body=None, region="us-east-1", headers=None):
    """A signed Lambda REST request the SDK would refuse to send; returns (status, json)."""
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    req = AWSRequest(method=method, url=url + path, data=data, headers=headers or {})
    SigV4Auth(Credentials("testing", "testing"), "lambda", region).add_auth(req)
    r = requests.request(method, url + path, data=data, headers=dict(req.headers.items()), timeout=30)
    return r.status_code, (r.json() if r.content else None), r.headers


ECHO_PY = """
import json, os

def handler(event, context):
    print("got", json.dumps(event))
    return {
        "event": event,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": int(context.memory_limit_in_mb),
        "aws_request_id": context.aws_request_id,
        "invoked_function_arn": context.invoked_function_arn,
        "log_group_name": context.log_group_name,
        "remaining": context.get_remaining_time_in_millis(),
        "env": {k: os.environ.get(k) for k in ["AWS_REGION", "AWS_LAMBDA_FUNCTION_NAME", "_HANDLER", "GREETING",
                                               "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION"]},
    }
"""

ECHO_NODE = """
exports.handler = async (event, context) => {
  console.log("got", JSON.stringify(event));
  return {
    event,
    functionName: context.functionName,
    memoryLimitInMB: context.memoryLimitInMB,
    awsRequestId: context.awsRequestId,
    invokedFunctionArn: context.invokedFunctionArn,
    remaining: context.getRemainingTimeInMillis(),
  };
};
"""

# A custom runtime in shell, as AWS's own custom-runtime tutorial writes one.
ECHO_BOOTSTRAP = """#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(curl -sS -LD "$HEADERS" "$API/invocation/next")
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  echo "handling $REQUEST_ID"
  curl -sS -X POST "$API/invocation/$REQUEST_ID/response" -d "{\\"echo\\": $EVENT, \\"handler\\": \\"$_HANDLER\\"}" >/dev/null
  rm -f "$HEADERS"
done
"""
