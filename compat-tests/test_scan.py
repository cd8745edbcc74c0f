"""Scan: whole tables, paging, filters, Select, and parallel scan segments."""

import pytest

from util import Raw, create_table, delete_table, error_of, expect_error, random_table_name


@pytest.fixture(scope="module")
def filled(client):
    """A table of its own with 300 items: p = "k<i>", n = i."""
    name = create_table(client, random_table_name(), [{"AttributeName": "p", "KeyType": "HASH"}],
                        [{"AttributeName": "p", "AttributeType": "S"}])
    for start in range(0, 300, 25):
        client.batch_write_item(RequestItems={name: [
            {"PutRequest": {"Item": {"p": {"S": f"k{i}"}, "n": {"N": str(i)}}}} for i in range(start, start + 25)]})
    yield name
    delete_table(client, name)


def scan_all(client, table, **kw):
    """Every item of a (segment of a) scan, following LastEvaluatedKey."""
    items, start, pages = [], None, 0
    while True:
        args = dict(kw, TableName=table)
        if start:
            args["ExclusiveStartKey"] = start
        r = client.scan(**args)
        items += r.get("Items", [])
        pages += 1
        start = r.get("LastEvaluatedKey")
        if not start:
            return items, pages


def keys(items):
    return [i["p"]["S"] for i in items]


def test_full_scan_and_paging(client, filled):
    items, _ = scan_all(client, filled)
    assert sorted(keys(items)) == sorted(f"k{i}" for i in range(300))
    paged, pages = scan_all(client, filled, Limit=40)
    assert keys(paged) == keys(items), "paging keeps the scan order"
    assert pages >= 8


@pytest.mark.parametrize("total", [1, 2, 3, 7, 64, 1000])
def test_parallel_segments_are_disjoint_and_complete(client, filled, total):
    seen = []
    for segment in range(total):
        items, _ = scan_all(client, filled, Segment=segment, TotalSegments=total, Limit=50)
        seen += keys(items)
    assert len(seen) == len(set(seen)) == 300
    assert set(seen) == {f"k{i}" for i in range(300)}


def test_filters_select_and_projection(client, filled):
    r = client.scan(TableName=filled, FilterExpression="n < :x", ExpressionAttributeValues={":x": {"N": "5"}})
    assert sorted(keys(r["Items"])) == [f"k{i}" for i in range(5)]
    assert r["ScannedCount"] == 300 and r["Count"] == 5
    r = client.scan(TableName=filled, Select="COUNT")
    assert r["Count"] == 300 and "Items" not in r
    r = client.scan(TableName=filled, ProjectionExpression="n", FilterExpression="p = :k",
                    ExpressionAttributeValues={":k": {"S": "k7"}})
    assert r["Items"] == [{"n": {"N": "7"}}]
    r = client.scan(TableName=filled, ScanFilter={"n": {"ComparisonOperator": "BETWEEN",
                                                       "AttributeValueList": [{"N": "10"}, {"N": "12"}]}},
                    AttributesToGet=["p"])
    assert sorted(keys(r["Items"])) == ["k10", "k11", "k12"]
    assert all(set(i) == {"p"} for i in r["Items"])


def test_segment_errors(client, url, filled):
    raw = Raw(url)
    cases = [
        ({"Segment": 1}, "The TotalSegments parameter is required but was not present in the request when "
                         "Segment parameter is present"),
        ({"TotalSegments": 2}, "The Segment parameter is required but was not present in the request when "
                               "parameter TotalSegments is present"),
        ({"Segment": 2, "TotalSegments": 2}, "The Segment parameter is zero-based and must be less than parameter "
                                             "TotalSegments: Segment: 2 is not less than TotalSegments: 2"),
        ({"Segment": 0, "TotalSegments": 1000001},
         "1 validation error detected: Value '1000001' at 'totalSegments' failed to satisfy constraint: "
         "Member must have value less than or equal to 1000000"),
        ({"ScanFilter": {"n": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "2"}, {"N": "1"}]}}},
         "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"),
        ({"ScanFilter": {"n": {"ComparisonOperator": "GT", "AttributeValueList": [{"BOOL": True}]}}},
         "One or more parameter values were invalid: ComparisonOperator GT is not valid for BOOL AttributeValue type"),
        ({"ScanFilter": {"n": {"ComparisonOperator": "EQ"}}},
         "One or more parameter values were invalid: Invalid number of argument(s) for the EQ ComparisonOperator"),
        ({"ConditionalOperator": "OR"},
         "ConditionalOperator can only be used when Expected or QueryFilter or ScanFilter is present"),
        ({"ExclusiveStartKey": {"n": {"N": "1"}}},
         "The provided starting key is invalid: The provided key element does not match the schema"),
    ]
    for extra, message in cases:
        status, body = raw.call("Scan", dict(extra, TableName=filled))
        assert status == 400 and error_of(body) == ("ValidationException", message), (extra, body)


def test_start_key_outside_segment(client, filled):
    # Find a key of segment 0 of 2, then use it to start segment 1.
    items, _ = scan_all(client, filled, Segment=0, TotalSegments=2)
    with expect_error("ValidationException", "The provided Exclusive start key does not map to the provided "
                                             "Segment and TotalSegments values."):
        client.scan(TableName=filled, Segment=1, TotalSegments=2, ExclusiveStartKey={"p": items[0]["p"]})
