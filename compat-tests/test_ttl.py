"""Time to Live: the API's statuses and errors, and (dynarock only) expiry within seconds."""

import time

import pytest

from util import create_table, delete_table, expect_error, random_table_name, wait_until

KEY = [{"AttributeName": "p", "KeyType": "HASH"}]
DEFS = [{"AttributeName": "p", "AttributeType": "S"}]


@pytest.fixture
def ttl_table(client):
    name = create_table(client, random_table_name(), KEY, DEFS,
                        StreamSpecification={"StreamEnabled": True, "StreamViewType": "OLD_IMAGE"})
    yield name
    delete_table(client, name)


def test_update_and_describe(client, ttl_table):
    assert client.describe_time_to_live(TableName=ttl_table)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "DISABLED"}
    r = client.update_time_to_live(TableName=ttl_table,
                                   TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    assert r["TimeToLiveSpecification"] == {"Enabled": True, "AttributeName": "exp"}
    d = client.describe_time_to_live(TableName=ttl_table)["TimeToLiveDescription"]
    # DynamoDB passes through ENABLING for a while; dynarock is ENABLED at once.
    assert d["TimeToLiveStatus"] in ("ENABLING", "ENABLED") and d["AttributeName"] == "exp"
    with expect_error("ValidationException", "TimeToLive is already enabled"):
        client.update_time_to_live(TableName=ttl_table,
                                   TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    with expect_error("ResourceNotFoundException"):
        client.describe_time_to_live(TableName="compat_no_such_table")


@pytest.mark.dynarock_only  # DynamoDB deletes expired items within days, dynarock within seconds.
def test_expired_items_are_deleted_with_a_service_stream_record(client, url, region, ttl_table):
    import boto3
    now = int(time.time())
    client.update_time_to_live(TableName=ttl_table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    items = {"gone": {"N": str(now - 60)}, "alive": {"N": str(now + 3600)}, "text": {"S": str(now - 60)},
             "ancient": {"N": str(now - 6 * 365 * 86400)}}
    for p, exp in items.items():
        client.put_item(TableName=ttl_table, Item={"p": {"S": p}, "exp": exp})

    def present(p):
        return "Item" in client.get_item(TableName=ttl_table, Key={"p": {"S": p}}, ConsistentRead=True)

    assert wait_until(lambda: not present("gone"), timeout=15)
    assert present("alive") and present("text") and present("ancient")
    streams = boto3.client("dynamodbstreams", endpoint_url=url, region_name=region,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
    arn = client.describe_table(TableName=ttl_table)["Table"]["LatestStreamArn"]
    removes = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        removes += [r for r in streams.get_records(ShardIterator=it)["Records"] if r["eventName"] == "REMOVE"]
    assert len(removes) == 1
    assert removes[0]["userIdentity"] == {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}
    assert removes[0]["dynamodb"]["OldImage"]["p"] == {"S": "gone"}
