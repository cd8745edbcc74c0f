"""Query: key conditions planned as ranges, ordering, paging, filters, Select, legacy members."""

import pytest

from util import Raw, error_of, expect_error, patiently, random_string


@pytest.fixture
def part(client, table_sn):
    """A fresh partition of table_sn with sort keys 0..9 (attribute v = 10 * c)."""
    p = random_string()
    for i in range(10):
        client.put_item(TableName=table_sn, Item={"p": {"S": p}, "c": {"N": str(i)}, "v": {"N": str(i * 10)}})
    return p


def query(client, table, p, cond="", values=None, **kw):
    values = dict(values or {}, **{":p": {"S": p}})
    expr = "p = :p" + (" AND " + cond if cond else "")
    return client.query(TableName=table, KeyConditionExpression=expr, ExpressionAttributeValues=values, **kw)


def sort_keys(r):
    return [int(i["c"]["N"]) for i in r["Items"]]


def n(x):
    return {"N": str(x)}


@pytest.mark.parametrize("cond, values, expected", [
    ("", {}, list(range(10))),
    ("c = :a", {":a": n(3)}, [3]),
    ("c < :a", {":a": n(3)}, [0, 1, 2]),
    ("c <= :a", {":a": n(3)}, [0, 1, 2, 3]),
    ("c > :a", {":a": n(7)}, [8, 9]),
    ("c >= :a", {":a": n(7)}, [7, 8, 9]),
    ("c BETWEEN :a AND :b", {":a": n(2), ":b": n(4)}, [2, 3, 4]),
    (":a > c", {":a": n(2)}, [0, 1]),
    ("c = :a", {":a": n(42)}, []),
])
def test_sort_key_conditions(client, table_sn, part, cond, values, expected):
    r = query(client, table_sn, part, cond, values)
    assert sort_keys(r) == expected
    assert r["Count"] == r["ScannedCount"] == len(expected)


def test_begins_with_on_string_sort_keys(client, table_ss):
    p = random_string()
    for c in ["a", "ab", "abc", "b", "a\u00ff", "aa"]:
        client.put_item(TableName=table_ss, Item={"p": {"S": p}, "c": {"S": c}})
    r = query(client, table_ss, p, "begins_with(c, :x)", {":x": {"S": "ab"}})
    assert [i["c"]["S"] for i in r["Items"]] == ["ab", "abc"]
    r = query(client, table_ss, p, "begins_with(c, :x)", {":x": {"S": "a"}})
    assert [i["c"]["S"] for i in r["Items"]] == ["a", "aa", "ab", "abc", "a\u00ff"]


def test_descending_order_and_paging_both_ways(client, table_sn, part):
    for forward in (True, False):
        seen, start, pages = [], None, 0
        while True:
            kw = {"Limit": 3, "ScanIndexForward": forward}
            if start:
                kw["ExclusiveStartKey"] = start
            r = query(client, table_sn, part, **kw)
            assert r["Count"] <= 3
            seen += sort_keys(r)
            pages += 1
            start = r.get("LastEvaluatedKey")
            if not start:
                break
            assert set(start) == {"p", "c"}
        assert seen == (list(range(10)) if forward else list(range(9, -1, -1)))
        assert pages >= 4


def test_filter_applies_after_limit(client, table_sn, part):
    r = query(client, table_sn, part, values={":x": n(75)}, FilterExpression="v > :x", Limit=4)
    assert r["Count"] == 0 and r["ScannedCount"] == 4 and r["Items"] == []
    assert r["LastEvaluatedKey"] == {"p": {"S": part}, "c": n(3)}
    r = query(client, table_sn, part, values={":x": n(75)}, FilterExpression="v > :x")
    assert sort_keys(r) == [8, 9] and r["ScannedCount"] == 10


def test_paging_with_a_filter_both_ways(client, table_sn, part):
    for forward in (True, False):
        seen, start, scanned = [], None, 0
        while True:
            kw = {"Limit": 3, "ScanIndexForward": forward, "FilterExpression": "v <> :x"}
            if start:
                kw["ExclusiveStartKey"] = start
            r = query(client, table_sn, part, values={":x": n(50)}, **kw)
            seen += sort_keys(r)
            scanned += r["ScannedCount"]
            start = r.get("LastEvaluatedKey")
            if not start:
                break
        expected = [i for i in range(10) if i != 5]
        assert seen == (expected if forward else expected[::-1])
        assert scanned == 10


def test_select_and_projection(client, table_sn, part):
    r = query(client, table_sn, part, "c < :a", {":a": n(2)}, Select="COUNT")
    assert r["Count"] == 2 and "Items" not in r
    r = query(client, table_sn, part, "c = :a", {":a": n(2)}, ProjectionExpression="v")
    assert r["Items"] == [{"v": n(20)}]
    r = query(client, table_sn, part, "c = :a", {":a": n(2)}, Select="SPECIFIC_ATTRIBUTES",
              ProjectionExpression="c, #v", ExpressionAttributeNames={"#v": "v"})
    assert r["Items"] == [{"c": n(2), "v": n(20)}]
    r = query(client, table_sn, part, "c = :a", {":a": n(2)}, Select="ALL_ATTRIBUTES")
    assert r["Items"] == [{"p": {"S": part}, "c": n(2), "v": n(20)}]


def test_consumed_capacity_sums_sizes(client, table_sn, part):
    r = query(client, table_sn, part, ReturnConsumedCapacity="TOTAL")
    # Ten small items are well under 4 KB: one eventually consistent read unit, halved.
    assert r["ConsumedCapacity"] == {"TableName": table_sn, "CapacityUnits": 0.5}
    r = query(client, table_sn, part, ReturnConsumedCapacity="TOTAL", ConsistentRead=True)
    assert r["ConsumedCapacity"]["CapacityUnits"] == 1.0


def test_one_megabyte_pages(client, table_sn):
    p = random_string()
    blob = "x" * 100_000
    for i in range(25):
        # 2.5 MB into one partition: more than DynamoDB's 1,000 write units a second for one key.
        patiently(lambda: client.put_item(TableName=table_sn, Item={"p": {"S": p}, "c": n(i), "blob": {"S": blob}}))
    first = query(client, table_sn, p)
    # A page stops once about 1 MB of items is read: ten or eleven 100 KB items.
    assert 9 <= first["Count"] <= 11 and "LastEvaluatedKey" in first
    seen, start = sort_keys(first), first["LastEvaluatedKey"]
    while start:
        r = query(client, table_sn, p, ExclusiveStartKey=start)
        assert r["Count"] <= 11
        seen += sort_keys(r)
        start = r.get("LastEvaluatedKey")
    assert seen == list(range(25))
    # Select=COUNT pages the same way: the limit is on data read, not returned.
    assert query(client, table_sn, p, Select="COUNT")["Count"] == first["Count"]


def test_legacy_key_conditions_and_query_filter(client, table_sn, part):
    r = client.query(TableName=table_sn, KeyConditions={
        "p": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": part}]},
        "c": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [n(2), n(6)]},
    }, QueryFilter={
        "v": {"ComparisonOperator": "IN", "AttributeValueList": [n(20), n(60)]},
        "w": {"ComparisonOperator": "NOT_NULL"},
    }, ConditionalOperator="OR", AttributesToGet=["c"])
    assert r["Items"] == [{"c": n(2)}, {"c": n(6)}]
    assert r["ScannedCount"] == 5
    r = client.query(TableName=table_sn, KeyConditions={
        "p": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": part}]}},
        FilterExpression="v >= :x", ExpressionAttributeValues={":x": n(80)})
    assert sort_keys(r) == [8, 9]


@pytest.mark.parametrize("expr, values, message", [
    ("p = :p OR c = :a", {":a": n(1)},
     "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: OR"),
    ("c = :a", {":a": n(1)}, "Query condition missed key schema element: p"),
    ("p = :p AND v = :a", {":a": n(1)}, "Query condition missed key schema element: c"),
    ("p < :p", {}, "Query key condition not supported"),
    ("p = :a", {":a": n(1)},
     "One or more parameter values were invalid: Condition parameter type does not match schema type"),
    ("p = :p AND c = :s", {":s": {"S": "x"}},
     "One or more parameter values were invalid: Condition parameter type does not match schema type"),
    ("p = :p AND c > :a AND c < :a", {":a": n(1)},
     "Invalid KeyConditionExpression: KeyConditionExpressions must only contain one condition per key"),
    ("p = :p AND c <> :a", {":a": n(1)},
     "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: <>"),
    ("p = :p AND attribute_exists(c)", {},
     "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: attribute_exists"),
    ("p = :p AND c.x = :a", {":a": n(1)}, "KeyConditionExpressions cannot have conditions on nested attributes"),
])
def test_key_condition_errors(client, table_sn, expr, values, message):
    with expect_error("ValidationException", message):
        client.query(TableName=table_sn, KeyConditionExpression=expr,
                     ExpressionAttributeValues=dict(values, **{":p": {"S": "x"}}) if ":p" in expr else values)


def test_request_errors(client, url, table_sn, part):
    cases = [
        (dict(), "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."),
        (dict(KeyConditionExpression="p = :p", FilterExpression="c > :p"),
         "Filter Expression can only contain non-primary key attributes: Primary key attribute: c"),
        (dict(KeyConditionExpression="p = :p", Select="ALL_PROJECTED_ATTRIBUTES"),
         "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"),
        (dict(KeyConditionExpression="p = :p", Select="SPECIFIC_ATTRIBUTES"),
         "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES"),
        (dict(KeyConditionExpression="p = :p", Select="ALL_ATTRIBUTES", ProjectionExpression="v"),
         "Cannot specify the ProjectionExpression when choosing to get ALL_ATTRIBUTES"),
        (dict(KeyConditionExpression="p = :p", IndexName="nope"),
         "The table does not have the specified index: nope"),
        (dict(KeyConditionExpression="p = :p", ExclusiveStartKey={"p": {"S": "x"}}),
         "The provided starting key is invalid: The provided key element does not match the schema"),
        (dict(KeyConditionExpression="p = :p", ExclusiveStartKey={"p": {"S": "other"}, "c": n(1)}),
         "The provided starting key is outside query boundaries based on provided conditions"),
        (dict(KeyConditionExpression="p = :p", QueryFilter={"v": {"ComparisonOperator": "NULL"}}),
         "Can not use both expression and non-expression parameters in the same request: "
         "Non-expression parameters: {QueryFilter} Expression parameters: {KeyConditionExpression}"),
    ]
    for kw, message in cases:
        if "KeyConditionExpression" in kw:
            kw["ExpressionAttributeValues"] = {":p": {"S": part}}
        with expect_error("ValidationException", message):
            client.query(TableName=table_sn, **kw)
    status, body = Raw(url).call("Query", {"TableName": table_sn, "KeyConditionExpression": "p = :p", "Limit": 0,
                                           "ExpressionAttributeValues": {":p": {"S": part}}})
    assert status == 400 and error_of(body) == (
        "ValidationException", "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
                               "Member must have value greater than or equal to 1")
    with expect_error("ValidationException", "The provided starting key does not match the range key predicate"):
        query(client, table_sn, part, "c > :a", {":a": n(5)}, ExclusiveStartKey={"p": {"S": part}, "c": n(1)})
    with expect_error("ResourceNotFoundException"):
        client.query(TableName="compat_no_such_table", KeyConditionExpression="p = :p",
                     ExpressionAttributeValues={":p": {"S": "x"}})
