"""ProjectionExpression on GetItem."""

import pytest

from util import expect_error, random_string, with_placeholders


@pytest.fixture
def key(client, table_s):
    p = random_string()
    client.put_item(TableName=table_s, Item={
        "p": {"S": p}, "a": {"S": "x"}, "b": {"N": "1"}, "name": {"S": "reserved"},
        "m": {"M": {"k": {"S": "v"}, "j": {"S": "w"}, "l": {"L": [{"N": "0"}, {"N": "1"}, {"N": "2"}]}}},
        "l": {"L": [{"M": {"x": {"N": "1"}, "y": {"N": "2"}}}, {"S": "one"}, {"S": "two"}]}})
    return {"p": {"S": p}}


def project(client, table, key, expression, names=None):
    return client.get_item(**with_placeholders(
        dict(TableName=table, Key=key, ProjectionExpression=expression, ConsistentRead=True), names=names))["Item"]


def test_top_level_attributes(client, table_s, key):
    assert project(client, table_s, key, "a, b, absent") == {"a": {"S": "x"}, "b": {"N": "1"}}


def test_nested_paths(client, table_s, key):
    assert project(client, table_s, key, "m.k") == {"m": {"M": {"k": {"S": "v"}}}}
    assert project(client, table_s, key, "m.l[2], m.l[0]") == {"m": {"M": {"l": {"L": [{"N": "0"}, {"N": "2"}]}}}}
    assert project(client, table_s, key, "l[0].y, l[2]") == {"l": {"L": [{"M": {"y": {"N": "2"}}}, {"S": "two"}]}}


def test_nothing_matches(client, table_s, key):
    assert project(client, table_s, key, "l[9], a.b") == {}


def test_names_placeholders(client, table_s, key):
    with expect_error("ValidationException",
                      "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: name"):
        project(client, table_s, key, "name")
    assert project(client, table_s, key, "#n", {"#n": "name"}) == {"name": {"S": "reserved"}}
    with expect_error("ValidationException",
                      "Value provided in ExpressionAttributeNames unused in expressions: keys: {#x}"):
        project(client, table_s, key, "a", {"#x": "x"})


def test_overlapping_and_conflicting_paths(client, table_s, key):
    with expect_error("ValidationException",
                      "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or "
                      "rewrite one of these paths; path one: [a], path two: [a, b]"):
        project(client, table_s, key, "a, a.b")
    with expect_error("ValidationException",
                      "Invalid ProjectionExpression: Two document paths conflict with each other; must remove or "
                      "rewrite one of these paths; path one: [m, k], path two: [m, [0]]"):
        project(client, table_s, key, "m.k, m[0]")


def test_syntax_error(client, table_s, key):
    with expect_error("ValidationException",
                      'Invalid ProjectionExpression: Syntax error; token: "<EOF>", near: ","'):
        project(client, table_s, key, "a,")
