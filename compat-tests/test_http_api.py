"""HTTP APIs: routes on the server's port that invoke functions with API Gateway's payloads
(2.0 for HTTP APIs, 1.0 for REST API proxy integrations) and turn their answers into HTTP
responses. Defined here through /dynarock/apis, as `dynarock deploy` defines them."""


import pytest
import requests

from functions import function, rest
from util import random_string

pytestmark = pytest.mark.dynarock_only  # API Gateway's own API is not what defines them here

ECHO = """
import base64, json

def handler(event, context):
    if event.get("rawPath", event.get("path", "")).endswith("/binary"):
        return {"statusCode": 200, "isBase64Encoded": True, "headers": {"content-type": "image/png"},
                "body": event["body"]}
    if event.get("rawPath") == "/plain":
        return {"just": "an object"}
    if event.get("rawPath") == "/fail":
        raise RuntimeError("boom")
    return {"statusCode": 201, "headers": {"x-route": event.get("routeKey", event.get("resource", ""))},
            "multiValueHeaders": {"x-many": ["a", "b"]}, "cookies": ["c=1"], "body": json.dumps(event)}
"""


@pytest.fixture(scope="module")
def api(url, lam):
    with function(lam, {"app.py": ECHO}) as name:
        arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        http_id, rest_id = "h" + random_string(8).lower(), "r" + random_string(8).lower()
        routes = [{"RouteKey": k, "FunctionArn": arn} for k in
                  ["GET /items/{id}", "POST /binary", "ANY /files/{path+}", "GET /plain", "GET /fail"]]
        status, body, _ = rest(url, "PUT", f"/dynarock/apis/{http_id}", {"Name": "h", "Routes": routes})
        assert status == 200, body
        assert body["ApiEndpoint"].endswith(f"/execute-api/{http_id}")
        status, _, _ = rest(url, "PUT", f"/dynarock/apis/{rest_id}", {
            "Name": "r", "Stage": "Prod",
            "Routes": [{"RouteKey": "ANY /items/{id}", "FunctionArn": arn, "PayloadFormatVersion": "1.0"}]})
        assert status == 200
        yield f"{url}/execute-api/{http_id}", f"{url}/execute-api/{rest_id}"
        for i in (http_id, rest_id):
            assert rest(url, "DELETE", f"/dynarock/apis/{i}")[0] == 204


def test_routes_send_payload_2(api):
    http, _ = api
    r = requests.get(f"{http}/items/a%20b?x=1&x=2", headers={"cookie": "k=v"}, timeout=30)
    assert r.status_code == 201
    assert r.headers["x-route"] == "GET /items/{id}" and r.headers["set-cookie"] == "c=1"
    assert r.headers["x-many"] == "a, b"
    e = r.json()
    assert (e["version"], e["routeKey"], e["rawPath"], e["rawQueryString"]) == ("2.0", "GET /items/{id}", "/items/a%20b", "x=1&x=2")
    assert e["pathParameters"] == {"id": "a b"} and e["queryStringParameters"] == {"x": "1,2"}
    assert e["cookies"] == ["k=v"] and e["requestContext"]["http"]["method"] == "GET"
    greedy = requests.delete(f"{http}/files/a/b/c.txt", timeout=30).json()
    assert greedy["pathParameters"] == {"path": "a/b/c.txt"} and greedy["routeKey"] == "ANY /files/{path+}"


def test_binary_bodies_round_trip(api):
    http, _ = api
    data = bytes(range(256)) * 4
    r = requests.post(f"{http}/binary", data=data, headers={"content-type": "application/octet-stream"}, timeout=30)
    assert r.status_code == 200 and r.content == data and r.headers["content-type"] == "image/png"


def test_answers_that_are_not_responses_and_failures(api):
    http, _ = api
    r = requests.get(f"{http}/plain", timeout=30)
    assert r.status_code == 200 and r.json() == {"just": "an object"}
    r = requests.get(f"{http}/fail", timeout=30)
    assert r.status_code == 500 and r.json() == {"message": "Internal Server Error"}
    r = requests.get(f"{http}/nowhere", timeout=30)
    assert r.status_code == 404 and r.json() == {"message": "Not Found"}
    assert requests.post(f"{http}/plain", timeout=30).status_code == 404


def test_rest_api_routes_send_payload_1(api):
    _, rest_api = api
    r = requests.put(f"{rest_api}/Prod/items/7?a=1&a=2", data="hi", headers={"content-type": "text/plain"}, timeout=30)
    assert r.status_code == 201
    e = r.json()
    assert (e["resource"], e["path"], e["httpMethod"], e["body"]) == ("/items/{id}", "/items/7", "PUT", "hi")
    assert e["pathParameters"] == {"id": "7"}
    assert e["queryStringParameters"] == {"a": "2"} and e["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert e["requestContext"]["stage"] == "Prod" and e["isBase64Encoded"] is False
    assert requests.get(f"{rest_api}/items/7", timeout=30).status_code == 403  # no stage


def test_bad_definitions_are_refused(url):
    status, body, _ = rest(url, "PUT", "/dynarock/apis/bad", {"Routes": [{"RouteKey": "GET /{p+}/x", "FunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:f"}]})
    assert status == 400 and "Invalid route key" in body["Message"]
    status, body, _ = rest(url, "PUT", "/dynarock/apis/bad", {"Routes": [{"RouteKey": "GET /x", "FunctionArn": "nope"}]})
    assert status == 400 and "Invalid function ARN" in body["Message"]
    assert rest(url, "GET", "/dynarock/apis/missing")[0] == 404
