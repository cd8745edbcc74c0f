"""UpdateItem with UpdateExpression: SET (arithmetic, if_not_exists, list_append), REMOVE,
ADD, DELETE, ReturnValues, upserts, conditions, and DynamoDB's errors."""

import threading

import pytest
from botocore.config import Config

from util import expect_error, random_string, with_placeholders


@pytest.fixture
def key(client, table_s):
    p = random_string()
    client.put_item(TableName=table_s, Item={
        "p": {"S": p}, "n": {"N": "5"}, "ss": {"SS": ["a", "b"]},
        "l": {"L": [{"S": "a"}, {"S": "b"}, {"S": "c"}]}, "m": {"M": {"k": {"S": "v"}}}})
    return {"p": {"S": p}}


def update(client, table, key, expression, values=None, names=None, **kw):
    return client.update_item(**with_placeholders(
        dict(TableName=table, Key=key, UpdateExpression=expression, **kw), values, names))


def item(client, table, key):
    return client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")


def test_set_arithmetic_and_functions(client, table_s, key):
    update(client, table_s, key,
           "SET n = n + :one, c = :one - n, fresh = if_not_exists(fresh, :zero), l = list_append(l, :more)",
           {":one": {"N": "1"}, ":zero": {"N": "0"}, ":more": {"L": [{"S": "d"}]}})
    got = item(client, table_s, key)
    assert got["n"] == {"N": "6"}
    assert got["c"] == {"N": "-4"}
    assert got["fresh"] == {"N": "0"}
    assert got["l"] == {"L": [{"S": "a"}, {"S": "b"}, {"S": "c"}, {"S": "d"}]}


def test_parenthesised_operands_in_set_values(client, table_s, key):
    update(client, table_s, key, "SET m.x = ((n) + (n)), y = (if_not_exists(y, :one)), z = (:one)",
           {":one": {"N": "1"}})
    got = item(client, table_s, key)
    assert (got["m"]["M"]["x"], got["y"], got["z"]) == ({"N": "10"}, {"N": "1"}, {"N": "1"})


def test_nested_set_and_list_remove(client, table_s, key):
    update(client, table_s, key, "SET m.j = :v, l[1] = :v", {":v": {"S": "z"}})
    update(client, table_s, key, "REMOVE l[0], m.k")
    got = item(client, table_s, key)
    assert got["m"] == {"M": {"j": {"S": "z"}}}
    assert got["l"] == {"L": [{"S": "z"}, {"S": "c"}]}


def test_add_and_delete(client, table_s, key):
    update(client, table_s, key, "ADD n :two, ss :cd, tally :two", {":two": {"N": "2"}, ":cd": {"SS": ["c", "d"]}})
    got = item(client, table_s, key)
    assert got["n"] == {"N": "7"} and got["tally"] == {"N": "2"}
    assert sorted(got["ss"]["SS"]) == ["a", "b", "c", "d"]
    update(client, table_s, key, "DELETE ss :all", {":all": {"SS": ["a", "b", "c", "d"]}})
    assert "ss" not in item(client, table_s, key)


def test_upsert_creates_the_item(client, table_s):
    key = {"p": {"S": random_string()}}
    update(client, table_s, key, "SET a = :v", {":v": {"S": "x"}})
    assert item(client, table_s, key) == dict(key, a={"S": "x"})
    other = {"p": {"S": random_string()}}
    client.update_item(TableName=table_s, Key=other)
    assert item(client, table_s, other) == other


def test_return_values(client, table_s, key):
    r = update(client, table_s, key, "SET n = :v", {":v": {"N": "9"}}, ReturnValues="UPDATED_OLD")
    assert r["Attributes"] == {"n": {"N": "5"}}
    r = update(client, table_s, key, "SET n = :v", {":v": {"N": "10"}}, ReturnValues="UPDATED_NEW")
    assert r["Attributes"] == {"n": {"N": "10"}}
    r = update(client, table_s, key, "SET z = :v", {":v": {"N": "1"}}, ReturnValues="ALL_NEW")
    assert r["Attributes"]["z"] == {"N": "1"} and r["Attributes"]["p"] == key["p"]
    r = update(client, table_s, key, "REMOVE z", ReturnValues="ALL_OLD")
    assert r["Attributes"]["z"] == {"N": "1"}
    r = update(client, table_s, key, "SET n = :v", {":v": {"N": "11"}}, ReturnValues="NONE")
    assert "Attributes" not in r


def test_condition_on_update(client, table_s, key):
    with expect_error("ConditionalCheckFailedException") as info:
        update(client, table_s, key, "SET n = :v", {":v": {"N": "1"}, ":w": {"N": "0"}},
               ConditionExpression="n = :w", ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert info.value.response["Item"]["n"] == {"N": "5"}
    assert item(client, table_s, key)["n"] == {"N": "5"}


def test_errors(client, table_s, key):
    cases = [
        ("SET p = :v", {":v": {"S": "x"}},
         "One or more parameter values were invalid: Cannot update attribute p. This attribute is part of the key"),
        ("SET n = n + :v", {":v": {"S": "x"}}, "An operand in the update expression has an incorrect data type"),
        ("SET a = :v REMOVE a", {":v": {"S": "x"}},
         "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of "
         "these paths; path one: [a], path two: [a]"),
        ("SET a = :v SET b = :v", {":v": {"S": "x"}},
         'Invalid UpdateExpression: The "SET" section can only be used once in an update expression;'),
        ("SET nope.x = :v", {":v": {"S": "x"}},
         "The document path provided in the update expression is invalid for update"),
        ("SET a = absent", None,
         "The provided expression refers to an attribute that does not exist in the item"),
        ("SET a = :v", {":v": {"S": "x"}, ":w": {"S": "y"}},
         "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}"),
        ("SET a =", None, 'Invalid UpdateExpression: Syntax error; token: "<EOF>", near: "="'),
        ("ADD n :v", {":v": {"S": "x"}},
         "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, "
         "operand type: STRING, typeSet: ALLOWED_FOR_ADD_OPERAND"),
        ("DELETE ss :v", {":v": {"M": {}}},
         "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, "
         "operand type: MAP, typeSet: ALLOWED_FOR_DELETE_OPERAND"),
        ("ADD ss :v", {":v": {"NS": ["1"]}}, "An operand in the update expression has an incorrect data type"),
    ]
    for expression, values, message in cases:
        with expect_error("ValidationException", message):
            update(client, table_s, key, expression, values)
    with expect_error("ValidationException", match="Number overflow"):
        update(client, table_s, key, "SET n = :big + :big", {":big": {"N": "9e125"}})
    # Nothing of the failed updates was applied.
    assert item(client, table_s, key)["n"] == {"N": "5"}


def test_return_values_of_nested_paths(client, table_s):
    """UPDATED_OLD and UPDATED_NEW return only the touched paths, within their maps and lists."""
    key = {"p": {"S": random_string()}}
    n = lambda x: {"N": str(x)}  # noqa: E731
    client.put_item(TableName=table_s, Item={**key, "a": {"M": {"b": {"S": "dog"}, "c": {"L": [n(1), n(2), n(3)]}}},
                                             "d": {"S": "cat"}})

    def attributes(expression, values, mode):
        return update(client, table_s, key, expression, values, ReturnValues=mode).get("Attributes")

    assert attributes("SET a.b = :v", {":v": {"S": "hi"}}, "UPDATED_OLD") == {"a": {"M": {"b": {"S": "dog"}}}}
    assert attributes("SET a.c[1] = :v", {":v": n(7)}, "UPDATED_OLD") == {"a": {"M": {"c": {"L": [n(2)]}}}}
    assert attributes("SET a.c[1] = :v, a.b = :w", {":v": n(8), ":w": {"S": "yo"}}, "UPDATED_NEW") == \
        {"a": {"M": {"b": {"S": "yo"}, "c": {"L": [n(8)]}}}}
    # A new sub-attribute has no old value; an element set past the end lands elsewhere.
    assert attributes("SET a.x = :v", {":v": n(1)}, "UPDATED_OLD") is None
    assert attributes("SET a.y = :v", {":v": n(1)}, "UPDATED_NEW") == {"a": {"M": {"y": n(1)}}}
    assert attributes("SET a.c[100] = :v", {":v": n(70)}, "UPDATED_NEW") is None
    assert attributes("REMOVE a.c[1], a.c[9]", None, "UPDATED_OLD") == {"a": {"M": {"c": {"L": [n(8)]}}}}
    assert attributes("REMOVE d", None, "UPDATED_NEW") is None
    assert attributes("SET a.b = :v", {":v": {"S": "z"}}, "ALL_NEW")["a"]["M"]["c"] == {"L": [n(1), n(3), n(70)]}


def test_an_update_that_changes_nothing_creates_nothing(client, table_s):
    for expression, values in [("REMOVE a, b", None), ("DELETE s :v", {":v": {"SS": ["x"]}})]:
        key = {"p": {"S": random_string()}}
        r = update(client, table_s, key, expression, values, ReturnValues="ALL_NEW")
        assert "Attributes" not in r
        assert item(client, table_s, key) is None
    # Writing nothing at all (legacy AttributeUpdates) still creates the item.
    key = {"p": {"S": random_string()}}
    r = client.update_item(TableName=table_s, Key=key, AttributeUpdates={}, ReturnValues="ALL_NEW")
    assert r["Attributes"] == key


def test_list_append_only_stands_outermost(client, table_s, key):
    lists = {":a": {"L": [{"S": "x"}]}, ":b": {"L": [{"S": "y"}]}}
    for expression in ["SET q = list_append(list_append(:a, :b), :a)", "SET q = if_not_exists(q, list_append(:a, :b))"]:
        with expect_error("ValidationException", "Invalid UpdateExpression: The function is not allowed to be used "
                          "this way in an expression; function: list_append"):
            update(client, table_s, key, expression, lists)
    update(client, table_s, key, "SET q = list_append(if_not_exists(q, :a), :b)", lists)
    assert item(client, table_s, key)["q"] == {"L": [{"S": "x"}, {"S": "y"}]}


def test_concurrent_increments_are_not_lost(url, region, table_s):
    """16 clients x 500 conditional increments of one counter end at exactly 8000."""
    import boto3
    key = {"p": {"S": random_string()}}
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name=region)
    errors = []

    def worker():
        c = session.client("dynamodb", endpoint_url=url, config=Config(retries={"max_attempts": 10}))
        try:
            for _ in range(500):
                c.update_item(TableName=table_s, Key=key, UpdateExpression="SET n = if_not_exists(n, :zero) + :one",
                              ConditionExpression="attribute_not_exists(n) OR n >= :zero",
                              ExpressionAttributeValues={":one": {"N": "1"}, ":zero": {"N": "0"}})
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    got = session.client("dynamodb", endpoint_url=url).get_item(TableName=table_s, Key=key, ConsistentRead=True)
    assert got["Item"]["n"] == {"N": "8000"}
