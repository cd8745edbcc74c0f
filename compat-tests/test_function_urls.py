"""Function URLs: the configuration API, and HTTP requests that reach the function as API
Gateway's payload 2.0 and come back as the response it describes."""


import pytest
import requests

from functions import function
from util import expect_error

ECHO = """
import base64, json

def handler(event, context):
    if event["rawPath"] == "/fail":
        raise RuntimeError("broken")
    if event["rawPath"] == "/plain":
        return {"just": "data"}
    if event["rawPath"] == "/binary":
        body = event["body"] if event["isBase64Encoded"] else base64.b64encode(event["body"].encode()).decode()
        return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                "body": body, "isBase64Encoded": True}
    return {"statusCode": 201, "headers": {"x-echo": "yes", "content-type": "application/json"},
            "cookies": ["session=abc"], "body": json.dumps(event)}
"""


@pytest.fixture
def url_function(lam):
    with function(lam, {"app.py": ECHO}) as name:
        yield name


def test_url_config_api(lam, url_function):
    created = lam.create_function_url_config(FunctionName=url_function, AuthType="NONE")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["AuthType"] == "NONE" and created["FunctionUrl"].endswith("/")
    assert created["FunctionArn"].endswith(f":function:{url_function}")
    with expect_error("ResourceConflictException"):
        lam.create_function_url_config(FunctionName=url_function, AuthType="NONE")
    got = lam.get_function_url_config(FunctionName=url_function)
    assert (got["FunctionUrl"], got["InvokeMode"]) == (created["FunctionUrl"], "BUFFERED")
    updated = lam.update_function_url_config(FunctionName=url_function, AuthType="AWS_IAM",
                                             Cors={"AllowOrigins": ["*"]})
    assert (updated["AuthType"], updated["Cors"]["AllowOrigins"]) == ("AWS_IAM", ["*"])
    assert [c["FunctionUrl"] for c in lam.list_function_url_configs(FunctionName=url_function)["FunctionUrlConfigs"]] \
        == [created["FunctionUrl"]]
    lam.delete_function_url_config(FunctionName=url_function)
    with expect_error("ResourceNotFoundException"):
        lam.get_function_url_config(FunctionName=url_function)
    with expect_error("ValidationException"):
        lam.create_function_url_config(FunctionName=url_function, AuthType="SOMETIMES")


@pytest.mark.dynarock_only  # The URL is this server's (on AWS: https://<id>.lambda-url.<region>.on.aws/).
def test_requests_reach_the_function_and_come_back(lam, url_function):
    base = lam.create_function_url_config(FunctionName=url_function, AuthType="NONE")["FunctionUrl"]
    r = requests.post(base + "items/42?tag=a&tag=b", data="hello", cookies={"c": "1"},
                      headers={"content-type": "text/plain", "x-custom": "v"}, timeout=30)
    assert r.status_code == 201
    assert r.headers["x-echo"] == "yes" and r.cookies["session"] == "abc"
    event = r.json()
    assert (event["version"], event["routeKey"], event["rawPath"]) == ("2.0", "$default", "/items/42")
    assert event["rawQueryString"] == "tag=a&tag=b" and event["queryStringParameters"] == {"tag": "a,b"}
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["headers"]["x-custom"] == "v" and event["cookies"] == ["c=1"]
    assert (event["body"], event["isBase64Encoded"]) == ("hello", False)

    blob = bytes(range(256)) * 4
    r = requests.put(base + "binary", data=blob, headers={"content-type": "image/png"}, timeout=30)
    assert (r.status_code, r.content) == (200, blob)
    assert r.headers["content-type"] == "application/octet-stream"

    r = requests.get(base + "plain", timeout=30)
    assert (r.status_code, r.json()) == (200, {"just": "data"})
    assert requests.get(base + "fail", timeout=30).status_code == 502
    assert requests.get(base.replace(url_function, "compat-fn-nothing"), timeout=30).status_code == 404
    lam.update_function_url_config(FunctionName=url_function, AuthType="AWS_IAM")
    assert requests.get(base, timeout=30).status_code == 403
