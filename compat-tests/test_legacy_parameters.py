"""The pre-expression parameters: Expected (with ConditionalOperator) and AttributesToGet."""

import pytest

from util import expect_error, random_string


@pytest.fixture
def key(client, table_s):
    p = random_string()
    client.put_item(TableName=table_s, Item={"p": {"S": p}, "n": {"N": "10"}, "s": {"S": "hello"},
                                             "ss": {"SS": ["a", "b"]}})
    return {"p": {"S": p}}


def put_expected(client, table, key, expected, **kw):
    return client.put_item(TableName=table, Item=dict(key, marker={"S": "w"}), Expected=expected, **kw)


PASSING = [
    {"n": {"Value": {"N": "10"}}},
    {"n": {"Value": {"N": "10"}, "Exists": True}},
    {"nope": {"Exists": False}},
    {"n": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "9"}]}},
    {"n": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"N": "10"}]}},
    {"n": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "1"}, {"N": "10"}]}},
    {"s": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "he"}]}},
    {"ss": {"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"S": "a"}]}},
    {"ss": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"S": "z"}]}},
    {"n": {"ComparisonOperator": "NOT_NULL"}, "nope": {"ComparisonOperator": "NULL"}},
    {"nope": {"ComparisonOperator": "NE", "AttributeValueList": [{"N": "1"}]}},
]


@pytest.mark.parametrize("expected", PASSING)
def test_expected_passes(client, table_s, key, expected):
    put_expected(client, table_s, key, expected)
    assert client.get_item(TableName=table_s, Key=key, ConsistentRead=True)["Item"]["marker"] == {"S": "w"}


def test_expected_fails(client, table_s, key):
    for expected in [{"n": {"Value": {"N": "11"}}}, {"n": {"Exists": False}},
                     {"n": {"ComparisonOperator": "LT", "AttributeValueList": [{"N": "10"}]}}]:
        with expect_error("ConditionalCheckFailedException"):
            put_expected(client, table_s, key, expected)


def test_conditional_operator(client, table_s, key):
    either = {"n": {"Value": {"N": "1"}}, "s": {"Value": {"S": "hello"}}}
    with expect_error("ConditionalCheckFailedException"):
        put_expected(client, table_s, key, either)
    put_expected(client, table_s, key, either, ConditionalOperator="OR")


def test_expected_errors(client, table_s, key):
    cases = [
        ({"n": {"Exists": True}}, "Value must be provided when Exists is true for Attribute: n"),
        ({"n": {}}, "Value must be provided when Exists is null for Attribute: n"),
        ({"n": {"Exists": False, "Value": {"N": "1"}}}, "Value cannot be used when Exists is false for Attribute: n"),
        ({"n": {"ComparisonOperator": "EQ"}}, "Invalid number of argument(s) for the EQ ComparisonOperator"),
        ({"n": {"ComparisonOperator": "EQ", "Exists": True, "AttributeValueList": [{"N": "1"}]}},
         "Exists and ComparisonOperator cannot be used together for Attribute: n"),
        ({"n": {"ComparisonOperator": "LT", "AttributeValueList": [{"SS": ["a"]}]}},
         "ComparisonOperator LT is not valid for SS AttributeValue type"),
    ]
    for expected, message in cases:
        with expect_error("ValidationException", "One or more parameter values were invalid: " + message):
            put_expected(client, table_s, key, expected)


def test_mixing_styles_is_refused(client, table_s, key):
    with expect_error("ValidationException",
                      "Can not use both expression and non-expression parameters in the same request: "
                      "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}"):
        client.put_item(TableName=table_s, Item=key, Expected={"n": {"Exists": False}},
                        ConditionExpression="attribute_exists(n)")
    with expect_error("ValidationException",
                      "Can not use both expression and non-expression parameters in the same request: "
                      "Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}"):
        client.get_item(TableName=table_s, Key=key, AttributesToGet=["n"], ProjectionExpression="s")


def test_attributes_to_get(client, table_s, key):
    got = client.get_item(TableName=table_s, Key=key, AttributesToGet=["n", "status"], ConsistentRead=True)
    assert got["Item"] == {"n": {"N": "10"}}
    with expect_error("ValidationException",
                      "One or more parameter values were invalid: Duplicate value in attribute name: n"):
        client.get_item(TableName=table_s, Key=key, AttributesToGet=["n", "n"])


def test_attribute_updates(client, table_s, key):
    client.update_item(TableName=table_s, Key=key, AttributeUpdates={
        "s": {"Value": {"S": "bye"}},  # PUT is the default action
        "n": {"Action": "ADD", "Value": {"N": "5"}},
        "ss": {"Action": "DELETE", "Value": {"SS": ["a"]}},
        "l": {"Action": "ADD", "Value": {"L": [{"S": "x"}]}},
        "fresh": {"Action": "ADD", "Value": {"NS": ["1"]}},
    })
    got = client.get_item(TableName=table_s, Key=key, ConsistentRead=True)["Item"]
    assert got["s"] == {"S": "bye"} and got["n"] == {"N": "15"}
    assert got["ss"] == {"SS": ["b"]} and got["l"] == {"L": [{"S": "x"}]} and got["fresh"] == {"NS": ["1"]}
    client.update_item(TableName=table_s, Key=key, AttributeUpdates={"s": {"Action": "DELETE"}},
                       Expected={"n": {"Value": {"N": "15"}}})
    assert "s" not in client.get_item(TableName=table_s, Key=key, ConsistentRead=True)["Item"]


def test_attribute_updates_errors(client, table_s, key):
    with expect_error("ValidationException", "One or more parameter values were invalid: Only DELETE action is "
                                             "allowed when no attribute value is specified"):
        client.update_item(TableName=table_s, Key=key, AttributeUpdates={"s": {"Action": "PUT"}})
    with expect_error("ValidationException", "One or more parameter values were invalid: Cannot update attribute p. "
                                             "This attribute is part of the key"):
        client.update_item(TableName=table_s, Key=key, AttributeUpdates={"p": {"Value": {"S": "x"}}})
    with expect_error("ValidationException",
                      "Can not use both expression and non-expression parameters in the same request: "
                      "Non-expression parameters: {AttributeUpdates} Expression parameters: {UpdateExpression}"):
        client.update_item(TableName=table_s, Key=key, AttributeUpdates={"s": {"Value": {"S": "x"}}},
                           UpdateExpression="REMOVE s")


def test_filters_and_expected_compare_lists_and_maps_for_equality(client, table_s, key):
    """Only key conditions restrict EQ and NE to scalars and sets: the other maps compare lists and
    maps too."""
    l, m = {"L": [{"S": "x"}, {"N": "1"}]}, {"M": {"k": {"BOOL": True}}}
    client.put_item(TableName=table_s, Item={**key, "l": l, "m": m})
    query = dict(TableName=table_s, KeyConditions={"p": {"ComparisonOperator": "EQ", "AttributeValueList": [key["p"]]}})
    assert client.query(**query, QueryFilter={"l": {"ComparisonOperator": "EQ", "AttributeValueList": [l]}})["Count"] == 1
    assert client.query(**query, QueryFilter={"m": {"ComparisonOperator": "NE", "AttributeValueList": [m]}})["Count"] == 0
    # The shared table holds more than a page: every page counted.
    pages = client.get_paginator("scan").paginate(
        TableName=table_s, ScanFilter={"m": {"ComparisonOperator": "EQ", "AttributeValueList": [m]},
                                       "p": {"ComparisonOperator": "EQ", "AttributeValueList": [key["p"]]}})
    assert sum(page["Count"] for page in pages) == 1
    put_expected(client, table_s, key, {"l": {"ComparisonOperator": "EQ", "AttributeValueList": [l]}})
    with expect_error("ConditionalCheckFailedException"):
        put_expected(client, table_s, key, {"m": {"Value": {"M": {}}}})
    with expect_error("ValidationException", match="ComparisonOperator EQ is not valid for L AttributeValue type"):
        client.query(TableName=table_s, KeyConditions={"p": {"ComparisonOperator": "EQ", "AttributeValueList": [l]}})
