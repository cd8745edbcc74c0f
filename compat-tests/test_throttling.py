"""Capacity: what each request costs, and throttling as DynamoDB does it.

The throttling tests run against a server of their own on a manual clock: time stands still
unless a test moves it, so "the burst is spent" and "five units a second" are exact counts,
not timings. Against real DynamoDB they hold only roughly (its burst and partition limits are
best effort), hence the dynarock_only marks.
"""

from datetime import datetime, timezone

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import NO_RETRIES, clock_mover, own_server
from util import create_table, delete_table, expect_error, random_table_name

PROVISIONED_TABLE = ("The level of configured provisioned throughput for the table was exceeded. "
                     "Consider increasing your provisioning level with the UpdateTable API.")
PROVISIONED_INDEX = ("The level of configured provisioned throughput for one or more global secondary indexes "
                     "of the table was exceeded. Consider increasing your provisioning level for the "
                     "under-provisioned global secondary indexes with the UpdateTable API")
HASH = {"KeySchema": [{"AttributeName": "p", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "p", "AttributeType": "S"}]}
KB = 1024
# The per-table quota of on-demand tables on the throttling server (DynamoDB's is 40,000).
WRITE_QUOTA = 5000


def item(key, size, **extra):
    """An item of exactly `size` bytes (attribute names count, as DynamoDB counts them)."""
    used = 2 + len(key) + sum(len(k) + len(v["S"]) for k, v in extra.items())
    return {"p": {"S": key}, "a": {"S": "x" * (size - used)}, **extra}


@pytest.fixture(scope="module")
def clocked():
    """(client, move): a server of its own on a manual clock, its on-demand quota lowered."""
    with own_server("--manual-clock", "--table-write-quota", str(WRITE_QUOTA)) as (url, _):
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                        region_name="us-east-1")
        yield session.client("dynamodb", endpoint_url=url, config=NO_RETRIES), clock_mover(url)


@pytest.fixture
def table_of(clocked):
    """table_of(**create_table arguments) -> a new table on the throttling server."""
    client, _ = clocked
    made = []

    def make(**extra):
        name = random_table_name()
        args = {**HASH, **extra}
        create_table(client, name, args.pop("KeySchema"), args.pop("AttributeDefinitions"), **args)
        made.append(name)
        return name
    yield make
    for name in made:
        delete_table(client, name)


def provisioned(read, write):
    return {"BillingMode": "PROVISIONED", "ProvisionedThroughput": {"ReadCapacityUnits": read,
                                                                    "WriteCapacityUnits": write}}


def until_throttled(call, limit=1000):
    """Calls call(i) for i = 0, 1, ... until it is throttled: (calls that went through, error)."""
    for i in range(limit):
        try:
            call(i)
        except ClientError as e:
            return i, e.response
    raise AssertionError(f"not throttled after {limit} calls")


def arn(client, table):
    return client.describe_table(TableName=table)["Table"]["TableArn"]


@pytest.mark.dynarock_only  # DynamoDB's burst is best effort; here it is exactly 300 s of capacity
def test_a_provisioned_table_spends_its_burst_then_its_rate(clocked, table_of):
    client, move = clocked
    t = table_of(**provisioned(1, 5))
    # 300 seconds of 5 units: 150 writes of 10 KB.
    n, err = until_throttled(lambda i: client.put_item(TableName=t, Item=item(f"k{i}", 10 * KB)))
    assert n == 150
    assert err["Error"] == {"Code": "ProvisionedThroughputExceededException", "Message": PROVISIONED_TABLE}
    assert err["ThrottlingReasons"] == [{"reason": "TableWriteProvisionedThroughputExceeded",
                                         "resource": arn(client, t)}]
    # The throttled write wrote nothing.
    assert "Item" not in client.get_item(TableName=t, Key={"p": {"S": "k150"}}, ConsistentRead=True)
    # Then five 1 KB writes a second, over a 20 second window.
    granted = 0
    for _ in range(20):
        move(advance=1)
        granted += until_throttled(lambda i: client.put_item(TableName=t, Item=item(f"r{granted + i}", KB)))[0]
    assert granted == 100
    # A throughput change starts with a full burst of the new capacity.
    client.update_table(TableName=t, ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 10})
    n, _ = until_throttled(lambda i: client.put_item(TableName=t, Item=item(f"u{i}", 10 * KB)))
    assert n == 300


@pytest.mark.dynarock_only
def test_a_query_is_refused_before_it_reads_and_reads_again_once_capacity_is_back(clocked, table_of):
    client, move = clocked
    t = table_of(**provisioned(1, 1000))
    client.put_item(TableName=t, Item=item("big", 390 * KB))
    # A consistent read of 390 KB costs 98 units: the 300-unit burst lets four through (the
    # fourth overdraws).
    n, err = until_throttled(lambda i: client.get_item(TableName=t, Key={"p": {"S": "big"}}, ConsistentRead=True))
    assert n == 4
    assert err["ThrottlingReasons"][0]["reason"] == "TableReadProvisionedThroughputExceeded"
    with expect_error("ProvisionedThroughputExceededException", PROVISIONED_TABLE):
        client.query(TableName=t, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": {"S": "big"}})
    # 4 x 98 - 300 = 92 units of debt: paid back after 92 s at one unit a second.
    move(advance=93)
    r = client.query(TableName=t, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": {"S": "big"}},
                     ReturnConsumedCapacity="TOTAL")
    assert r["Count"] == 1 and r["ConsumedCapacity"]["CapacityUnits"] == 49.0


@pytest.mark.dynarock_only
def test_a_gsi_out_of_write_capacity_throttles_the_table_write(clocked, table_of):
    client, _ = clocked
    t = table_of(KeySchema=HASH["KeySchema"],
                 AttributeDefinitions=HASH["AttributeDefinitions"] + [{"AttributeName": "g", "AttributeType": "S"}],
                 GlobalSecondaryIndexes=[{"IndexName": "byG", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                          "Projection": {"ProjectionType": "ALL"},
                                          "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}],
                 **provisioned(1, 1000))
    n, err = until_throttled(lambda i: client.put_item(TableName=t, Item=item(f"k{i}", 10 * KB, g={"S": "x"})))
    assert n == 30
    assert err["Error"] == {"Code": "ProvisionedThroughputExceededException", "Message": PROVISIONED_INDEX}
    assert err["ThrottlingReasons"] == [{"reason": "IndexWriteProvisionedThroughputExceeded",
                                         "resource": arn(client, t) + "/index/byG"}]
    assert "Item" not in client.get_item(TableName=t, Key={"p": {"S": "k30"}}, ConsistentRead=True)
    # An item without the index key writes nothing to the index, so it goes through.
    client.put_item(TableName=t, Item=item("plain", 10 * KB))
    # The GSI's reads have their own 300 units of burst: a Query of its thirty 10 KB entries
    # costs 37.5 units, so eight go through.
    query = lambda i: client.query(TableName=t, IndexName="byG", KeyConditionExpression="g = :g",
                                   ExpressionAttributeValues={":g": {"S": "x"}})
    n, err = until_throttled(query)
    assert n == 8
    assert err["Error"]["Message"] == PROVISIONED_INDEX
    assert err["ThrottlingReasons"] == [{"reason": "IndexReadProvisionedThroughputExceeded",
                                         "resource": arn(client, t) + "/index/byG"}]
    # The table's own reads are not the index's.
    client.get_item(TableName=t, Key={"p": {"S": "plain"}})


@pytest.mark.dynarock_only  # DynamoDB's partition limits are approximate
def test_a_hot_key_is_throttled_while_other_keys_are_not(clocked, table_of):
    client, move = clocked
    t = table_of()
    # 1,000 write units a second for one partition key: a hundred 10 KB writes.
    n, err = until_throttled(lambda i: client.put_item(TableName=t, Item=item("hot", 10 * KB)))
    assert n == 100
    assert err["Error"]["Code"] == "ThrottlingException"
    assert "check if you have a hot key" in err["Error"]["Message"]
    assert err["throttlingReasons"] == [{"reason": "TableWriteKeyRangeThroughputExceeded",
                                         "resource": arn(client, t)}]
    client.put_item(TableName=t, Item=item("cold", 10 * KB))
    move(advance=1)
    client.put_item(TableName=t, Item=item("hot", 10 * KB))
    # 3,000 read units a second: thirty-one consistent reads of 390 KB (98 units each).
    client.put_item(TableName=t, Item=item("big", 390 * KB))
    move(advance=1)
    n, err = until_throttled(lambda i: client.get_item(TableName=t, Key={"p": {"S": "big"}}, ConsistentRead=True))
    assert n == 31
    assert err["throttlingReasons"][0]["reason"] == "TableReadKeyRangeThroughputExceeded"
    client.get_item(TableName=t, Key={"p": {"S": "cold"}}, ConsistentRead=True)


def test_on_demand_maximums_and_the_table_quota(clocked, table_of):
    client, _ = clocked
    capped = table_of(OnDemandThroughput={"MaxReadRequestUnits": 10, "MaxWriteRequestUnits": 5})
    n, err = until_throttled(lambda i: client.put_item(TableName=capped, Item=item(f"k{i}", KB)))
    assert n == 5
    assert err["Error"]["Code"] == "ThrottlingException"
    assert err["throttlingReasons"] == [{"reason": "TableWriteMaxOnDemandThroughputExceeded",
                                         "resource": arn(client, capped)}]
    # The per-table quota (lowered to 5,000 units a second on this server): 400 KB writes
    # to distinct keys, 400 units each.
    t = table_of()
    n, err = until_throttled(lambda i: client.put_item(TableName=t, Item=item(f"k{i}", 400 * KB)))
    assert n == 13
    assert err["Error"]["Code"] == "RequestLimitExceeded"
    assert err["ThrottlingReasons"] == [{"reason": "TableWriteAccountLimitExceeded", "resource": arn(client, t)}]


@pytest.mark.dynarock_only
def test_batch_write_returns_exactly_the_throttled_items(clocked, table_of):
    client, move = clocked
    t = table_of(**provisioned(1, 1))
    batch = lambda keys: {t: [{"PutRequest": {"Item": item(k, 10 * KB)}} for k in keys]}
    assert client.batch_write_item(RequestItems=batch([f"a{i}" for i in range(25)]))["UnprocessedItems"] == {}
    # 50 units left of the burst: five more writes, the other twenty come back as sent.
    second = [f"b{i}" for i in range(25)]
    left = client.batch_write_item(RequestItems=batch(second))["UnprocessedItems"]
    assert left == batch(second[5:])
    stored = client.batch_get_item(RequestItems={t: {"Keys": [{"p": {"S": k}} for k in second],
                                                     "ConsistentRead": True, "ProjectionExpression": "p"}})
    assert sorted(i["p"]["S"] for i in stored["Responses"][t]) == sorted(second[:5])
    # Nothing left at all: the whole call is throttled.
    with expect_error("ProvisionedThroughputExceededException", PROVISIONED_TABLE):
        client.batch_write_item(RequestItems=left)
    # 200 seconds later the retry goes through.
    move(advance=200)
    assert client.batch_write_item(RequestItems=left)["UnprocessedItems"] == {}


@pytest.mark.dynarock_only
def test_batch_get_returns_the_keys_it_could_not_read(clocked, table_of):
    client, _ = clocked
    t = table_of(**provisioned(1, 1000))
    client.put_item(TableName=t, Item=item("big", 390 * KB))
    client.put_item(TableName=t, Item=item("small", KB))
    until_throttled(lambda i: client.get_item(TableName=t, Key={"p": {"S": "big"}}, ConsistentRead=True))
    with expect_error("ProvisionedThroughputExceededException"):
        client.batch_get_item(RequestItems={t: {"Keys": [{"p": {"S": "small"}}]}})


@pytest.mark.dynarock_only
def test_a_throttled_transaction_is_cancelled_with_a_throttling_reason(clocked, table_of):
    client, _ = clocked
    t = table_of(**provisioned(1, 1))
    until_throttled(lambda i: client.put_item(TableName=t, Item=item(f"k{i}", 10 * KB)))
    with expect_error("TransactionCanceledException") as info:
        client.transact_write_items(TransactItems=[{"Put": {"TableName": t, "Item": item("tx", KB)}}])
    assert [r["Code"] for r in info.value.response["CancellationReasons"]] == ["ThrottlingError"]
    assert "Item" not in client.get_item(TableName=t, Key={"p": {"S": "tx"}}, ConsistentRead=True)


@pytest.mark.dynarock_only  # moves the server's clock through a UTC day
def test_throughput_decreases_are_limited_per_utc_day(clocked, table_of):
    client, move = clocked
    # Start just after midnight UTC, so the whole test stays on one day.
    now = move(advance=0)["epochMillis"] // 1000
    after_midnight = datetime.fromtimestamp((now // 86400 + 1) * 86400 + 60, timezone.utc)
    move(to=after_midnight.strftime("%Y-%m-%dT%H:%M:%SZ"))
    t = table_of(**provisioned(50, 50))
    for units in [40, 30, 20, 10]:
        client.update_table(TableName=t, ProvisionedThroughput={"ReadCapacityUnits": units, "WriteCapacityUnits": units})
    throughput = client.describe_table(TableName=t)["Table"]["ProvisionedThroughput"]
    assert throughput["NumberOfDecreasesToday"] == 4
    with expect_error("LimitExceededException", match="Number of decreases today: 4"):
        client.update_table(TableName=t, ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
    # Increases are not limited, and after an hour without a decrease one more is allowed.
    client.update_table(TableName=t, ProvisionedThroughput={"ReadCapacityUnits": 11, "WriteCapacityUnits": 11})
    move(advance=3600)
    client.update_table(TableName=t, ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
    assert client.describe_table(TableName=t)["Table"]["ProvisionedThroughput"]["NumberOfDecreasesToday"] == 5
    move(advance=86400)
    assert client.describe_table(TableName=t)["Table"]["ProvisionedThroughput"]["NumberOfDecreasesToday"] == 0


@pytest.mark.dynarock_only
def test_throttling_off_never_throttles():
    with own_server("--throttling", "off") as (url, _):
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                        region_name="us-east-1")
        client = session.client("dynamodb", endpoint_url=url, config=NO_RETRIES)
        t = random_table_name()
        create_table(client, t, HASH["KeySchema"], HASH["AttributeDefinitions"], **provisioned(1, 1))
        for i in range(40):
            client.put_item(TableName=t, Item=item(f"k{i}", 10 * KB))


def test_sdk_retries_and_batch_writer_get_everything_written(client, url, region):
    """Real time: a table capped at 200 write units a second takes 1,000 units of writes through
    boto3's batch_writer and botocore's standard retries, as an application would send them."""
    t = random_table_name()
    create_table(client, t, HASH["KeySchema"], HASH["AttributeDefinitions"],
                 OnDemandThroughput={"MaxWriteRequestUnits": 200})
    try:
        retrying = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                         region_name=region).resource(
            "dynamodb", endpoint_url=url, config=Config(retries={"max_attempts": 10, "mode": "standard"}))
        table = retrying.Table(t)
        with table.batch_writer() as writer:
            for i in range(100):
                writer.put_item(Item={"p": f"k{i}", "a": "x" * (10 * KB - 8)})
        retried = 0
        for i in range(30):
            r = table.put_item(Item={"p": f"again{i}", "a": "x" * (10 * KB - 12)})
            retried += r["ResponseMetadata"]["RetryAttempts"]
        pages = client.get_paginator("scan").paginate(TableName=t, Select="COUNT", ConsistentRead=True)
        assert sum(page["Count"] for page in pages) == 130
        assert retried > 0, "300 units a second over a 200 unit cap must have been throttled"
    finally:
        delete_table(client, t)


# What requests cost (DynamoDB's documented arithmetic; these hold against DynamoDB too).

def test_reads_cost_by_4_kb_and_consistency(client, table_s):
    client.put_item(TableName=table_s, Item=item("four", 4 * KB))
    client.put_item(TableName=table_s, Item=item("more", 4 * KB + 100))
    cost = {}
    for key in ["four", "more"]:
        for consistent in [False, True]:
            r = client.get_item(TableName=table_s, Key={"p": {"S": key}}, ConsistentRead=consistent,
                                ReturnConsumedCapacity="TOTAL")
            cost[key, consistent] = r["ConsumedCapacity"]["CapacityUnits"]
        r = client.transact_get_items(TransactItems=[{"Get": {"TableName": table_s, "Key": {"p": {"S": key}}}}],
                                      ReturnConsumedCapacity="TOTAL")
        cost[key, "transaction"] = r["ConsumedCapacity"][0]["CapacityUnits"]
        assert r["ConsumedCapacity"][0]["ReadCapacityUnits"] == cost[key, "transaction"]
    assert cost == {("four", False): 0.5, ("four", True): 1.0, ("four", "transaction"): 2.0,
                    ("more", False): 1.0, ("more", True): 2.0, ("more", "transaction"): 4.0}


def test_writes_cost_by_1_kb_and_transactions_double(client, table_s):
    r = client.put_item(TableName=table_s, Item=item("w1", KB), ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"]["CapacityUnits"] == 1.0
    # Overwriting a 1 KB item with a larger one is charged for the larger.
    r = client.put_item(TableName=table_s, Item=item("w1", KB + 1), ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"]["CapacityUnits"] == 2.0
    r = client.delete_item(TableName=table_s, Key={"p": {"S": "w1"}}, ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"]["CapacityUnits"] == 2.0
    r = client.transact_write_items(TransactItems=[{"Put": {"TableName": table_s, "Item": item("w2", 3 * KB)}}],
                                    ReturnConsumedCapacity="TOTAL")
    # Transactions also give their units as write (or read) units, as DynamoDB's examples show.
    assert r["ConsumedCapacity"] == [{"TableName": table_s, "CapacityUnits": 6.0, "WriteCapacityUnits": 6.0}]
    r = client.execute_statement(Statement=f"UPDATE \"{table_s}\" SET b = 'y' WHERE p = 'w2'",
                                 ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"] == {"TableName": table_s, "CapacityUnits": 4.0}


def test_index_writes_and_reads_are_charged_per_index(client):
    t = random_table_name()
    defs = HASH["AttributeDefinitions"] + [{"AttributeName": "g", "AttributeType": "S"}]
    create_table(client, t, HASH["KeySchema"], defs,
                 GlobalSecondaryIndexes=[{"IndexName": "byG", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                          "Projection": {"ProjectionType": "KEYS_ONLY"}}])
    try:
        def put(it):
            return client.put_item(TableName=t, Item=it, ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
        # A new item with the index key: one write on the table (2 KB), one on the index (keys only).
        c = put(item("k", 2 * KB, g={"S": "one"}))
        assert c == {"TableName": t, "CapacityUnits": 3.0, "Table": {"CapacityUnits": 2.0},
                     "GlobalSecondaryIndexes": {"byG": {"CapacityUnits": 1.0}}}
        # Changing the index key moves the entry: a delete and a put.
        c = put(item("k", 2 * KB, g={"S": "two"}))
        assert c["GlobalSecondaryIndexes"] == {"byG": {"CapacityUnits": 2.0}} and c["CapacityUnits"] == 4.0
        # Changing an attribute the index does not hold costs the index nothing.
        c = put(item("k", 2 * KB - 1, g={"S": "two"}))
        assert "GlobalSecondaryIndexes" not in c and c["CapacityUnits"] == 2.0
        # Removing the index key deletes the entry.
        c = put(item("k", 2 * KB))
        assert c["GlobalSecondaryIndexes"] == {"byG": {"CapacityUnits": 1.0}}
        put(item("q", KB, g={"S": "three"}))
        r = client.query(TableName=t, IndexName="byG", KeyConditionExpression="g = :g",
                         ExpressionAttributeValues={":g": {"S": "three"}}, ReturnConsumedCapacity="INDEXES")
        assert r["ConsumedCapacity"] == {"TableName": t, "CapacityUnits": 0.5, "Table": {"CapacityUnits": 0.0},
                                         "GlobalSecondaryIndexes": {"byG": {"CapacityUnits": 0.5}}}
    finally:
        delete_table(client, t)


def test_an_lsi_read_of_unprojected_attributes_also_pays_for_the_table_reads(client):
    t = random_table_name()
    create_table(client, t, [{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "c", "KeyType": "RANGE"}],
                 [{"AttributeName": "p", "AttributeType": "S"}, {"AttributeName": "c", "AttributeType": "S"},
                  {"AttributeName": "l", "AttributeType": "S"}],
                 LocalSecondaryIndexes=[{"IndexName": "byL", "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"},
                                                                          {"AttributeName": "l", "KeyType": "RANGE"}],
                                         "Projection": {"ProjectionType": "KEYS_ONLY"}}])
    try:
        for i in range(2):
            client.put_item(TableName=t, Item={"p": {"S": "x"}, "c": {"S": str(i)}, "l": {"S": str(i)},
                                               "a": {"S": "y" * 5000}})
        r = client.query(TableName=t, IndexName="byL", KeyConditionExpression="p = :p",
                         ExpressionAttributeValues={":p": {"S": "x"}}, ConsistentRead=True,
                         Select="ALL_ATTRIBUTES", ReturnConsumedCapacity="INDEXES")
        assert r["Count"] == 2 and len(r["Items"][0]["a"]["S"]) == 5000
        # The index entries (keys only, well under 4 KB): one unit; each item from the table
        # (just over 4 KB): two units each.
        assert r["ConsumedCapacity"] == {"TableName": t, "CapacityUnits": 5.0, "Table": {"CapacityUnits": 4.0},
                                         "LocalSecondaryIndexes": {"byL": {"CapacityUnits": 1.0}}}
    finally:
        delete_table(client, t)


def test_partiql_batches_and_transactions_report_capacity(client, table_s):
    client.put_item(TableName=table_s, Item=item("pq", KB))
    r = client.batch_execute_statement(Statements=[{"Statement": f"SELECT * FROM \"{table_s}\" WHERE p = 'pq'"}],
                                       ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"] == [{"TableName": table_s, "CapacityUnits": 0.5}]
    r = client.execute_transaction(TransactStatements=[{"Statement": f"UPDATE \"{table_s}\" SET b = 'z' WHERE p = 'pq'"}],
                                   ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"] == [{"TableName": table_s, "CapacityUnits": 4.0, "WriteCapacityUnits": 4.0}]
    with expect_error("ValidationException"):
        client.execute_transaction(TransactStatements=[{"Statement": f"SELECT * FROM \"{table_s}\" WHERE p = 'pq'"}],
                                   ReturnConsumedCapacity="SOME")
