"""Whatever a client sends, the answer is a DynamoDB error or a success: never a 5xx, never a hang."""

import json
import random

import pytest

from util import Raw, create_table

OPERATIONS = ["CreateTable", "DescribeTable", "ListTables", "UpdateTable", "DeleteTable", "PutItem",
              "GetItem", "DeleteItem", "UpdateItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
              "TagResource", "UntagResource", "ListTagsOfResource", "DescribeLimits", "DescribeEndpoints",
              "TransactWriteItems", "TransactGetItems", "ExecuteStatement", "BatchExecuteStatement",
              "ExecuteTransaction", "UpdateTimeToLive", "DescribeTimeToLive"]
STREAMS_OPERATIONS = ["ListStreams", "DescribeStream", "GetShardIterator", "GetRecords"]

MEMBERS = ["TableName", "Item", "Key", "KeySchema", "AttributeDefinitions", "BillingMode",
           "ProvisionedThroughput", "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "Tags",
           "TagKeys", "ResourceArn", "Limit", "ExclusiveStartTableName", "ReturnValues",
           "ReturnConsumedCapacity", "StreamSpecification", "SSESpecification", "ConsistentRead",
           "KeyConditionExpression", "FilterExpression", "ProjectionExpression", "ExpressionAttributeValues",
           "ExpressionAttributeNames", "KeyConditions", "QueryFilter", "ScanFilter", "ExclusiveStartKey",
           "IndexName", "Select", "Segment", "TotalSegments", "RequestItems", "GlobalSecondaryIndexUpdates",
           "ScanIndexForward", "AttributesToGet", "ConditionalOperator", "TransactItems", "ClientRequestToken",
           "Statement", "Statements", "TransactStatements", "Parameters", "NextToken", "TimeToLiveSpecification",
           "StreamArn", "ShardId", "ShardIteratorType", "SequenceNumber", "ShardIterator", "ShardFilter",
           "ExclusiveStartShardId"]


def shapes(table):
    """JSON values of every kind, including ones that look almost right."""
    return [None, True, 0, -1, 2**63, 1.5, "", "x", table, "arn:aws:dynamodb:us-east-1:0:table/" + table,
            [], [None], [{}], [{"AttributeName": "p", "KeyType": "HASH"}], {}, {"p": {}},
            {"p": {"S": "x"}}, {"p": {"N": "1e999"}}, {"p": {"B": "not base64!"}}, {"p": {"SS": [1]}},
            {"p": {"L": [{"M": {"x": {"NULL": False}}}]}}, {"ReadCapacityUnits": "1"},
            {"StreamEnabled": True}, [{"Key": None, "Value": 3}], "p = :v", "p = :v AND c > :v",
            {":v": {"S": "x"}}, {"#n": "p"}, {table: {"Keys": [{"p": {"S": "x"}}]}},
            {table: [{"PutRequest": {"Item": {"p": {"S": "x"}}}}]}, {table: [{"DeleteRequest": {}}]},
            {"p": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}]}},
            [{"Create": {"IndexName": "gsi", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                         "Projection": {"ProjectionType": "ALL"}}}], [{"Delete": {"IndexName": "gsi"}}],
            "COUNT", "ALL_PROJECTED_ATTRIBUTES", 999999, 1000000,
            [{"Put": {"TableName": table, "Item": {"p": {"S": "x"}}}}], [{"Get": {"TableName": table}}],
            [{"ConditionCheck": {"TableName": table, "Key": {"p": {"S": "x"}}}}],
            f'SELECT * FROM "{table}" WHERE p = ?', f"INSERT INTO \"{table}\" VALUE {{'p': ?}}",
            "EXISTS(SELECT", "<<>>", [{"Statement": "SELECT * FROM x"}], [{"S": "x"}, {"N": "1"}],
            {"Enabled": True, "AttributeName": "ttl"}, {"Enabled": False}, "TRIM_HORIZON",
            "AFTER_SEQUENCE_NUMBER", "shardId-00000000000000000000-00000001", "00000000000000000001",
            "eyJhcm4iOiAieCJ9", {"Type": "CHILD_SHARDS", "ShardId": "x"}]


@pytest.fixture
def own_table(client, new_name):
    """A table of this test's own: the random requests may well delete or change it."""
    create_table(client, new_name, [{"AttributeName": "p", "KeyType": "HASH"}],
                 [{"AttributeName": "p", "AttributeType": "S"}])
    return new_name


def test_no_input_gets_a_server_error(url, own_table):
    raw = Raw(url)
    rng = random.Random(7)
    values = shapes(own_table)
    targets = [("DynamoDB_20120810.", op) for op in OPERATIONS] + \
        [("DynamoDBStreams_20120810.", op) for op in STREAMS_OPERATIONS]
    for prefix, op in targets:
        for _ in range(120):
            body = {m: rng.choice(values) for m in rng.sample(MEMBERS, rng.randint(0, 5))}
            r = raw.post(op, json.dumps(body), target_prefix=prefix)
            assert r.status_code < 500, (op, body, r.text)
            if r.status_code != 200:
                assert "__type" in r.json(), (op, body, r.text)


@pytest.mark.parametrize("body", [b"", b"null", b"[]", b"42", b'"s"', b"{", b"\xff\xfe", b"{}" * 3,
                                  b'{"TableName": "x", "TableName": 5}'])
def test_odd_bodies(url, body):
    # GetItem and CreateTable have required members, so none of these can succeed.
    for op in ["GetItem", "CreateTable"]:
        r = Raw(url).post(op, body)
        assert 400 <= r.status_code < 500, (op, body, r.text)
        assert "__type" in r.json()
    # ListTables needs nothing: an empty or null body may succeed, anything else is a 4xx.
    r = Raw(url).post("ListTables", body)
    assert r.status_code < 500, (body, r.text)
    if r.status_code != 200:
        assert "__type" in r.json()
