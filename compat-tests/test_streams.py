"""DynamoDB Streams through boto3's `dynamodbstreams` client on the same endpoint: records for
every kind of write, every view type and iterator type, closed and re-enabled streams, and a
consumer following shard lineage. (compat-tests/run.sh starts dynarock with 2-second shards so
that lineage is exercised; against DynamoDB the same tests see one shard.)"""

import threading
import time

import boto3
import pytest
from botocore.config import Config

from util import create_table, delete_table, expect_error, random_table_name, wait_until

KEY = [{"AttributeName": "p", "KeyType": "HASH"}]
DEFS = [{"AttributeName": "p", "AttributeType": "S"}]


def s(x):
    return {"S": x}


def n(x):
    return {"N": str(x)}


@pytest.fixture
def table_with_stream(client):
    made = []

    def make(view="NEW_AND_OLD_IMAGES"):
        name = create_table(client, random_table_name(), KEY, DEFS,
                            StreamSpecification={"StreamEnabled": True, "StreamViewType": view})
        made.append(name)
        return name, client.describe_table(TableName=name)["Table"]["LatestStreamArn"]

    yield make
    for name in made:
        delete_table(client, name)


def read_all(streams, arn, expected, timeout=30):
    """Follows every shard of a stream from TRIM_HORIZON (parents before children) until
    `expected` records are read; returns them in read order."""
    records, iterators, done_shards = [], {}, set()
    deadline = time.time() + timeout
    while len(records) < expected and time.time() < deadline:
        shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        for shard in shards:
            sid = shard["ShardId"]
            parent = shard.get("ParentShardId")
            if sid in done_shards or (parent and parent not in done_shards and
                                      any(x["ShardId"] == parent for x in shards)):
                continue
            it = iterators.get(sid) or streams.get_shard_iterator(
                StreamArn=arn, ShardId=sid, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            while it:
                r = streams.get_records(ShardIterator=it, Limit=1000)
                records += r["Records"]
                nxt = r.get("NextShardIterator")
                if nxt is None:
                    done_shards.add(sid)
                    iterators.pop(sid, None)
                    break
                iterators[sid] = it = nxt
                if not r["Records"]:
                    break
    return records


@pytest.mark.parametrize("view", ["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"])
def test_records_for_each_view_type(client, streams, region, table_with_stream, view):
    table, arn = table_with_stream(view)
    client.put_item(TableName=table, Item={"p": s("a"), "v": n(1)})
    client.put_item(TableName=table, Item={"p": s("a"), "v": n(1)})  # changes nothing: no record
    client.update_item(TableName=table, Key={"p": s("a")}, UpdateExpression="SET v = :v",
                       ExpressionAttributeValues={":v": n(2)})
    client.delete_item(TableName=table, Key={"p": s("a")})
    client.delete_item(TableName=table, Key={"p": s("a")})  # nothing to delete: no record
    client.update_item(TableName=table, Key={"p": s("a")},  # an update creating nothing: no record
                       UpdateExpression="REMOVE v")
    records = read_all(streams, arn, 3)
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    old = [None, {"p": s("a"), "v": n(1)}, {"p": s("a"), "v": n(2)}]
    new = [{"p": s("a"), "v": n(1)}, {"p": s("a"), "v": n(2)}, None]
    seqs = []
    for r, o, nw in zip(records, old, new):
        assert r["eventVersion"] == "1.1" and r["eventSource"] == "aws:dynamodb" and r["awsRegion"] == region
        assert len(r["eventID"]) > 0
        d = r["dynamodb"]
        assert d["Keys"] == {"p": s("a")} and d["StreamViewType"] == view and d["SizeBytes"] > 0
        assert d.get("NewImage") == (nw if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") else None)
        assert d.get("OldImage") == (o if view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") else None)
        seqs.append(int(d["SequenceNumber"]))
    assert seqs == sorted(seqs) and len(set(seqs)) == 3


def test_batch_writes_and_transactions_write_records(client, streams, table_with_stream):
    table, arn = table_with_stream("KEYS_ONLY")
    client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {"p": s(f"b{i}")}}} for i in range(3)]})
    client.transact_write_items(TransactItems=[
        {"Put": {"TableName": table, "Item": {"p": s("t1")}}},
        {"Delete": {"TableName": table, "Key": {"p": s("b0")}}},
    ])
    # A cancelled transaction writes no record.
    with expect_error("TransactionCanceledException"):
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"p": s("t2")}}},
            {"ConditionCheck": {"TableName": table, "Key": {"p": s("zz")},
                                "ConditionExpression": "attribute_exists(p)"}},
        ])
    client.execute_statement(Statement=f"INSERT INTO \"{table}\" VALUE {{'p': 'q1'}}")
    records = read_all(streams, arn, 6)
    got = [(r["eventName"], r["dynamodb"]["Keys"]["p"]["S"]) for r in records]
    assert sorted(got) == sorted([("INSERT", "b0"), ("INSERT", "b1"), ("INSERT", "b2"), ("INSERT", "t1"),
                                  ("REMOVE", "b0"), ("INSERT", "q1")])
    # The insert of b0 comes before its removal.
    assert got.index(("INSERT", "b0")) < got.index(("REMOVE", "b0"))


def test_iterator_types_and_limits(client, streams, table_with_stream):
    table, arn = table_with_stream("KEYS_ONLY")
    for i in range(5):
        client.put_item(TableName=table, Item={"p": s(f"k{i}")})
    records = read_all(streams, arn, 5)
    first = records[0]
    # Find the shard holding the first record and start at, after and past it.
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    seq = first["dynamodb"]["SequenceNumber"]
    shard = next(x["ShardId"] for x in shards
                 if int(x["SequenceNumberRange"]["StartingSequenceNumber"]) <= int(seq) and
                 int(seq) <= int(x["SequenceNumberRange"].get("EndingSequenceNumber", 10**30)))

    def from_(kind, **kw):
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType=kind, **kw)["ShardIterator"]
        return streams.get_records(ShardIterator=it, Limit=1)

    assert from_("AT_SEQUENCE_NUMBER", SequenceNumber=seq)["Records"][0]["dynamodb"]["SequenceNumber"] == seq
    after = from_("AFTER_SEQUENCE_NUMBER", SequenceNumber=seq)["Records"]
    assert all(int(r["dynamodb"]["SequenceNumber"]) > int(seq) for r in after)
    r = from_("TRIM_HORIZON")
    assert len(r["Records"]) == 1 and "NextShardIterator" in r
    latest = from_("LATEST")
    assert latest["Records"] == []
    with expect_error("ResourceNotFoundException"):
        streams.get_shard_iterator(StreamArn=arn, ShardId="shardId-00000000000000000099-0000ffff", ShardIteratorType="LATEST")
    with expect_error("ValidationException"):
        streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER")


def test_disable_and_reenable(client, streams, table_with_stream):
    table, arn = table_with_stream("KEYS_ONLY")
    client.put_item(TableName=table, Item={"p": s("before")})
    with expect_error("ValidationException"):
        client.update_table(TableName=table, StreamSpecification={"StreamEnabled": True,
                                                                  "StreamViewType": "KEYS_ONLY"})
    client.update_table(TableName=table, StreamSpecification={"StreamEnabled": False})
    described = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert described["StreamStatus"] == "DISABLED"
    assert all("EndingSequenceNumber" in x["SequenceNumberRange"] for x in described["Shards"])
    assert [r["dynamodb"]["Keys"]["p"]["S"] for r in read_all(streams, arn, 1)] == ["before"]
    client.put_item(TableName=table, Item={"p": s("while-off")})
    client.update_table(TableName=table, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    new_arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    assert new_arn != arn
    client.put_item(TableName=table, Item={"p": s("after")})
    assert [r["dynamodb"]["Keys"]["p"]["S"] for r in read_all(streams, new_arn, 1)] == ["after"]
    listed = {x["StreamArn"] for x in streams.list_streams(TableName=table)["Streams"]}
    assert listed == {arn, new_arn}
    page = streams.list_streams(TableName=table, Limit=1)
    assert len(page["Streams"]) == 1 and "LastEvaluatedStreamArn" in page


def test_consumer_sees_every_change_once_in_order(url, region, client, streams, table_with_stream):
    """10 writers, 10,000 writes; a reader following shards from TRIM_HORIZON sees each change
    exactly once, and each item's changes in the order they were made."""
    table, arn = table_with_stream("NEW_IMAGE")

    def writer(w):
        c = boto3.client("dynamodb", endpoint_url=url, region_name=region, aws_access_key_id="testing",
                         aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))
        for i in range(1000):
            c.put_item(TableName=table, Item={"p": s(f"w{w}-{i % 20}"), "v": n(i)})

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = read_all(streams, arn, 10_000, timeout=120)
    assert len(records) == 10_000
    assert len({r["eventID"] for r in records}) == 10_000
    per_item = {}
    for r in records:
        per_item.setdefault(r["dynamodb"]["Keys"]["p"]["S"], []).append(int(r["dynamodb"]["NewImage"]["v"]["N"]))
    assert len(per_item) == 200
    for key, values in per_item.items():
        assert values == sorted(values) and len(values) == 50, key


@pytest.mark.dynarock_only  # needs shards that roll over within seconds (run.sh sets 2 s)
def test_shard_lineage_pagination_and_child_filter(client, streams, table_with_stream):
    table, arn = table_with_stream("KEYS_ONLY")
    client.put_item(TableName=table, Item={"p": s("first")})
    assert wait_until(lambda: len(streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]) >= 2,
                      timeout=10)
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    parent, child = shards[0], shards[1]
    assert child["ParentShardId"] == parent["ShardId"] and "ParentShardId" not in parent
    assert "EndingSequenceNumber" in parent["SequenceNumberRange"]
    page = streams.describe_stream(StreamArn=arn, Limit=1)["StreamDescription"]
    assert [x["ShardId"] for x in page["Shards"]] == [parent["ShardId"]]
    assert page["LastEvaluatedShardId"] == parent["ShardId"]
    rest = streams.describe_stream(StreamArn=arn, ExclusiveStartShardId=parent["ShardId"])["StreamDescription"]
    assert rest["Shards"][0]["ShardId"] == child["ShardId"]
    children = streams.describe_stream(StreamArn=arn, ShardFilter={"Type": "CHILD_SHARDS",
                                                                   "ShardId": parent["ShardId"]})
    assert [x["ShardId"] for x in children["StreamDescription"]["Shards"]] == [child["ShardId"]]
    # The closed parent, read to its end, gives no next iterator.
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=parent["ShardId"],
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    r = streams.get_records(ShardIterator=it)
    assert [x["dynamodb"]["Keys"]["p"]["S"] for x in r["Records"]] == ["first"]
    assert "NextShardIterator" not in r


def test_stream_arn_and_shard_errors(client, streams, table_with_stream):
    table, arn = table_with_stream("KEYS_ONLY")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    for bad in ["sdfadfsdfnlfkajakfgjalksfgklasjklasdjfklasdfasdfgasf", "arn:aws:dynamodb:us-east-1:000000000000:table/xyz"]:
        with expect_error("ValidationException", f"Invalid StreamArn: {bad}"):
            streams.describe_stream(StreamArn=bad)
        with expect_error("ValidationException", f"Invalid StreamArn: {bad}"):
            streams.get_shard_iterator(StreamArn=bad, ShardId=shard, ShardIteratorType="LATEST")
        with expect_error("ValidationException", f"Invalid StreamArn: {bad}"):
            streams.list_streams(ExclusiveStartStreamArn=bad)
    # A well-formed ARN of no stream is not found.
    gone = arn.replace(f"table/{table}/", f"table/{table}x/")
    with expect_error("ResourceNotFoundException", f"Requested resource not found: Stream: {gone} not found"):
        streams.describe_stream(StreamArn=gone)
    with expect_error("ResourceNotFoundException", match="Shard does not exist"):
        streams.get_shard_iterator(StreamArn=arn, ShardId="shardId-00000000000000000000-ffffffff",
                                   ShardIteratorType="LATEST")
    # An ExclusiveStartShardId that names no shard keeps its place in id order.
    after = streams.describe_stream(StreamArn=arn, ExclusiveStartShardId="zzzzzzzzzzzzzzzzzzzzzzzzsfasdgagadfadfgagkjsdfsfsdjfjks")["StreamDescription"]
    assert after["Shards"] == []
    before = streams.describe_stream(StreamArn=arn, ExclusiveStartShardId="shardId-00000000000000000000")["StreamDescription"]
    assert before["Shards"][0]["ShardId"] == shard
