"""Secondary indexes: maintenance on every write, projections, sparse indexes, Query and Scan on
an index, index errors, LSI item collections, and GSIs added to a live table."""

import threading

import pytest
from botocore.config import Config

from util import create_table, delete_table, expect_error, random_string, random_table_name, wait_until


def s(x):
    return {"S": x}


def n(x):
    return {"N": str(x)}


GSI_KEYS = [{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "gs", "KeyType": "RANGE"}]


@pytest.fixture(scope="module")
def indexed(client):
    """Table p (S) + c (N) with an LSI on l (KEYS_ONLY), GSIs on (g, gs) with ALL, INCLUDE x and
    KEYS_ONLY projections."""
    name = create_table(
        client, random_table_name(),
        [{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "c", "KeyType": "RANGE"}],
        [{"AttributeName": a, "AttributeType": t} for a, t in
         [("p", "S"), ("c", "N"), ("l", "N"), ("g", "S"), ("gs", "N")]],
        LocalSecondaryIndexes=[{"IndexName": "by_l", "KeySchema": [
            {"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "l", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        GlobalSecondaryIndexes=[
            {"IndexName": "all", "KeySchema": GSI_KEYS, "Projection": {"ProjectionType": "ALL"}},
            {"IndexName": "inc", "KeySchema": GSI_KEYS,
             "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x"]}},
            {"IndexName": "keys", "KeySchema": GSI_KEYS, "Projection": {"ProjectionType": "KEYS_ONLY"}},
        ])
    yield name
    delete_table(client, name)


def gquery(client, table, index, g, **kw):
    return client.query(TableName=table, IndexName=index, KeyConditionExpression="g = :g",
                        ExpressionAttributeValues={":g": s(g)}, **kw)


def test_projections(client, indexed):
    g, p = random_string(), random_string()
    item = {"p": s(p), "c": n(1), "g": s(g), "gs": n(5), "x": s("in"), "y": s("out")}
    client.put_item(TableName=indexed, Item=item)
    assert gquery(client, indexed, "all", g)["Items"] == [item]
    assert gquery(client, indexed, "inc", g)["Items"] == [{k: item[k] for k in ["p", "c", "g", "gs", "x"]}]
    assert gquery(client, indexed, "keys", g)["Items"] == [{k: item[k] for k in ["p", "c", "g", "gs"]}]
    # A projection picks from what the index holds; a GSI has nothing else to offer.
    assert gquery(client, indexed, "inc", g, ProjectionExpression="x, y")["Items"] == [{"x": s("in")}]
    assert gquery(client, indexed, "all", g, Select="COUNT")["Count"] == 1


def test_index_entries_follow_the_item(client, indexed):
    g1, g2, p = random_string(), random_string(), random_string()
    key = {"p": s(p), "c": n(1)}
    client.put_item(TableName=indexed, Item=dict(key, g=s(g1), gs=n(1)))
    assert gquery(client, indexed, "all", g1)["Count"] == 1
    client.update_item(TableName=indexed, Key=key, UpdateExpression="SET g = :g", ExpressionAttributeValues={":g": s(g2)})
    assert gquery(client, indexed, "all", g1)["Count"] == 0
    assert gquery(client, indexed, "all", g2)["Items"][0]["g"] == s(g2)
    # Without its sort key attribute the item leaves the index (sparse index).
    client.update_item(TableName=indexed, Key=key, UpdateExpression="REMOVE gs")
    assert gquery(client, indexed, "all", g2)["Count"] == 0
    client.update_item(TableName=indexed, Key=key, UpdateExpression="SET gs = :v", ExpressionAttributeValues={":v": n(3)})
    assert gquery(client, indexed, "all", g2)["Count"] == 1
    client.delete_item(TableName=indexed, Key=key)
    assert gquery(client, indexed, "all", g2)["Count"] == 0


def test_gsi_order_paging_and_duplicate_index_keys(client, indexed):
    g = random_string()
    for i in range(7):
        client.put_item(TableName=indexed, Item={"p": s(random_string()), "c": n(i), "g": s(g), "gs": n(i % 3)})
    seen, start = [], None
    while True:
        kw = {"Limit": 2, "ScanIndexForward": False}
        if start:
            kw["ExclusiveStartKey"] = start
        r = gquery(client, indexed, "keys", g, **kw)
        seen += [int(i["gs"]["N"]) for i in r["Items"]]
        start = r.get("LastEvaluatedKey")
        if not start:
            break
        assert set(start) == {"p", "c", "g", "gs"}
    assert seen == [2, 2, 1, 1, 0, 0, 0]
    r = client.query(TableName=indexed, IndexName="keys", KeyConditionExpression="g = :g AND gs = :one",
                     ExpressionAttributeValues={":g": s(g), ":one": n(1)})
    assert r["Count"] == 2


def test_lsi_query_fetches_unprojected_attributes(client, indexed):
    p = random_string()
    for c in range(4):
        client.put_item(TableName=indexed, Item={"p": s(p), "c": n(c), "l": n(10 - c), "y": s(f"y{c}")})
    r = client.query(TableName=indexed, IndexName="by_l", KeyConditionExpression="p = :p AND l <= :l",
                     ExpressionAttributeValues={":p": s(p), ":l": n(8)})
    assert r["Items"] == [{"p": s(p), "c": n(c), "l": n(10 - c)} for c in (3, 2)]
    r = client.query(TableName=indexed, IndexName="by_l", KeyConditionExpression="p = :p AND l <= :l",
                     ExpressionAttributeValues={":p": s(p), ":l": n(8)}, Select="ALL_ATTRIBUTES", ConsistentRead=True)
    assert [i["y"] for i in r["Items"]] == [s("y3"), s("y2")]
    r = client.query(TableName=indexed, IndexName="by_l", KeyConditionExpression="p = :p",
                     ExpressionAttributeValues={":p": s(p)}, ProjectionExpression="y", Limit=1)
    assert r["Items"] == [{"y": s("y3")}]


def test_scan_on_index(client, indexed):
    g = random_string()
    client.put_item(TableName=indexed, Item={"p": s(g), "c": n(1), "g": s(g), "gs": n(1), "x": s("x")})
    r = client.scan(TableName=indexed, IndexName="inc", FilterExpression="g = :g", ExpressionAttributeValues={":g": s(g)})
    assert r["Items"] == [{"p": s(g), "c": n(1), "g": s(g), "gs": n(1), "x": s("x")}]


def test_index_errors(client, indexed):
    p = random_string()
    with expect_error("ValidationException", "One or more parameter values were invalid: Type mismatch for Index Key "
                                             "g Expected: S Actual: N IndexName: all"):
        client.put_item(TableName=indexed, Item={"p": s(p), "c": n(1), "g": n(1)})
    with expect_error("ValidationException", "One or more parameter values are not valid. A value specified for a "
                                             "secondary index key is not supported. The AttributeValue for a key "
                                             "attribute cannot contain an empty string value. IndexName: all, "
                                             "IndexKey: g"):
        client.put_item(TableName=indexed, Item={"p": s(p), "c": n(1), "g": s("")})
    client.put_item(TableName=indexed, Item={"p": s(p), "c": n(1)})
    with expect_error("ValidationException", match="Type mismatch for Index Key l Expected: N Actual: S"):
        client.update_item(TableName=indexed, Key={"p": s(p), "c": n(1)}, UpdateExpression="SET l = :v",
                           ExpressionAttributeValues={":v": s("x")})
    assert client.get_item(TableName=indexed, Key={"p": s(p), "c": n(1)})["Item"] == {"p": s(p), "c": n(1)}
    with expect_error("ValidationException", "Consistent reads are not supported on global secondary indexes"):
        gquery(client, indexed, "all", "x", ConsistentRead=True)
    with expect_error("ValidationException", "One or more parameter values were invalid: Select type ALL_ATTRIBUTES "
                                             "is not supported for global secondary index inc because its "
                                             "projection type is not ALL"):
        gquery(client, indexed, "inc", "x", Select="ALL_ATTRIBUTES")
    with expect_error("ValidationException", "Query condition missed key schema element: g"):
        client.query(TableName=indexed, IndexName="all", KeyConditionExpression="p = :p",
                     ExpressionAttributeValues={":p": s(p)})
    with expect_error("ValidationException", "The table does not have the specified index: nope"):
        client.scan(TableName=indexed, IndexName="nope")


def test_lsi_item_collection_metrics(client, indexed):
    p = random_string()
    r = client.put_item(TableName=indexed, Item={"p": s(p), "c": n(1), "l": n(1)}, ReturnItemCollectionMetrics="SIZE")
    assert r["ItemCollectionMetrics"] == {"ItemCollectionKey": {"p": s(p)}, "SizeEstimateRangeGB": [0.0, 1.0]}
    r = client.batch_write_item(RequestItems={indexed: [{"DeleteRequest": {"Key": {"p": s(p), "c": n(1)}}}]},
                                ReturnItemCollectionMetrics="SIZE")
    assert r["ItemCollectionMetrics"][indexed] == [{"ItemCollectionKey": {"p": s(p)}, "SizeEstimateRangeGB": [0.0, 1.0]}]


def test_lsi_item_collection_metrics_of_update_and_delete(client, indexed):
    p = random_string()
    key = {"p": s(p), "c": n(1)}
    metrics = {"ItemCollectionKey": {"p": s(p)}, "SizeEstimateRangeGB": [0.0, 1.0]}
    r = client.put_item(TableName=indexed, Item={**key, "l": n(1)})
    assert "ItemCollectionMetrics" not in r
    r = client.update_item(TableName=indexed, Key=key, UpdateExpression="SET l = :v",
                           ExpressionAttributeValues={":v": n(2)}, ReturnItemCollectionMetrics="SIZE")
    assert r["ItemCollectionMetrics"] == metrics
    r = client.update_item(TableName=indexed, Key=key, UpdateExpression="SET l = :v",
                           ExpressionAttributeValues={":v": n(3)}, ReturnItemCollectionMetrics="NONE")
    assert "ItemCollectionMetrics" not in r
    r = client.delete_item(TableName=indexed, Key=key, ReturnItemCollectionMetrics="SIZE")
    assert r["ItemCollectionMetrics"] == metrics


def gsi_of(client, table, name):
    for i in client.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", []):
        if i["IndexName"] == name:
            return i
    return None


def test_gsi_backfill_races_concurrent_writes(url, region, client):
    table = create_table(client, random_table_name(), [{"AttributeName": "p", "KeyType": "HASH"}],
                         [{"AttributeName": "p", "AttributeType": "S"}])
    try:
        for start in range(0, 10000, 25):
            client.batch_write_item(RequestItems={table: [
                {"PutRequest": {"Item": {"p": s(f"k{i}"), "v": s(f"v{i % 10}")}}} for i in range(start, start + 25)]})
        stop = threading.Event()
        errors = []

        def writer(seed):
            import boto3
            c = boto3.client("dynamodb", endpoint_url=url, region_name=region, aws_access_key_id="testing",
                             aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))
            i = 0
            try:
                while not stop.is_set() and i < 3000:
                    k = f"k{(seed * 7919 + i * 31) % 12000}"
                    if i % 5 == 0:
                        c.delete_item(TableName=table, Key={"p": s(k)})
                    elif i % 5 == 1:
                        c.update_item(TableName=table, Key={"p": s(k)}, UpdateExpression="REMOVE v")
                    else:
                        c.put_item(TableName=table, Item={"p": s(k), "v": s(f"w{i % 7}")})
                    i += 1
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        client.update_table(TableName=table, AttributeDefinitions=[{"AttributeName": "v", "AttributeType": "S"}],
                            GlobalSecondaryIndexUpdates=[{"Create": {
                                "IndexName": "by_v", "KeySchema": [{"AttributeName": "v", "KeyType": "HASH"}],
                                "Projection": {"ProjectionType": "ALL"}}}])
        assert gsi_of(client, table, "by_v")["IndexStatus"] in ("CREATING", "ACTIVE")
        assert wait_until(lambda: gsi_of(client, table, "by_v")["IndexStatus"] == "ACTIVE", timeout=600)
        stop.set()
        for t in threads:
            t.join()
        assert not errors, errors
        # The index holds exactly the table's items that have v: none missed, none twice.
        table_items = {i["p"]["S"]: i for i in client.scan(TableName=table, ConsistentRead=True)["Items"]
                       if "v" in i}
        index_items, start = [], None
        while True:
            kw = {"TableName": table, "IndexName": "by_v"}
            if start:
                kw["ExclusiveStartKey"] = start
            r = client.scan(**kw)
            index_items += r["Items"]
            start = r.get("LastEvaluatedKey")
            if not start:
                break
        assert len(index_items) == len({i["p"]["S"] for i in index_items})
        assert {i["p"]["S"]: i for i in index_items} == table_items
        # Deleting the index removes it.
        client.update_table(TableName=table, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by_v"}}])
        assert wait_until(lambda: gsi_of(client, table, "by_v") is None, timeout=600)
        with expect_error("ValidationException", "The table does not have the specified index: by_v"):
            client.scan(TableName=table, IndexName="by_v")
    finally:
        delete_table(client, table)


@pytest.mark.dynarock_only  # DynamoDB refreshes index sizes about every six hours, dynarock at once.
def test_describe_reports_index_sizes(client):
    table = create_table(client, random_table_name(), [{"AttributeName": "p", "KeyType": "HASH"}],
                         [{"AttributeName": "p", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
                         GlobalSecondaryIndexes=[{"IndexName": "by_g", "KeySchema": [
                             {"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "KEYS_ONLY"}}])
    try:
        for i in range(5):
            item = {"p": s(f"p{i}"), "y": s("yyyy")}
            if i % 2 == 0:
                item["g"] = s("gg")
            client.put_item(TableName=table, Item=item)
        index = gsi_of(client, table, "by_g")
        # KEYS_ONLY entries hold p and g: 2 + 1 + 2 + 1 bytes each.
        assert (index["ItemCount"], index["IndexSizeBytes"]) == (3, 18)
    finally:
        delete_table(client, table)


def test_index_update_errors(client, indexed):
    with expect_error("ResourceNotFoundException"):
        client.update_table(TableName=indexed, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "nope"}}])
    with expect_error("LimitExceededException"):
        client.update_table(TableName=indexed, AttributeDefinitions=[{"AttributeName": "z", "AttributeType": "S"}],
                            GlobalSecondaryIndexUpdates=[
                                {"Create": {"IndexName": "zz1", "KeySchema": [{"AttributeName": "z", "KeyType": "HASH"}],
                                            "Projection": {"ProjectionType": "ALL"}}},
                                {"Create": {"IndexName": "zz2", "KeySchema": [{"AttributeName": "z", "KeyType": "HASH"}],
                                            "Projection": {"ProjectionType": "ALL"}}}])


def test_index_key_size_limits_on_every_write_path(client):
    """GSI and LSI key values are held to the table key limits: 2048 bytes for a partition key,
    1024 for a sort key, whichever way the item is written; a refused write changes nothing."""
    name = create_table(
        client, random_table_name(),
        [{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "c", "KeyType": "RANGE"}],
        [{"AttributeName": a, "AttributeType": "S"} for a in ["p", "c", "l", "g", "gs"]],
        LocalSecondaryIndexes=[{"IndexName": "by_l", "KeySchema": [
            {"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "l", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        GlobalSecondaryIndexes=[{"IndexName": "by_g", "KeySchema": [
            {"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "gs", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"}}])
    hash_message = ("One or more parameter values were invalid: Size of hashkey has exceeded the maximum size "
                    "limit of 2048 bytes")
    range_message = ("One or more parameter values were invalid: Aggregated size of all range keys has exceeded "
                     "the size limit of 1024 bytes")
    try:
        key = {"p": s("p"), "c": s("c")}
        client.put_item(TableName=name, Item={**key, "g": s("g" * 2048), "gs": s("s" * 1024), "l": s("l" * 1024)})
        for attr, size, message in [("g", 2049, hash_message), ("gs", 1025, range_message), ("l", 1025, range_message)]:
            value = s(attr * size)
            writes = [
                lambda: client.put_item(TableName=name, Item={**key, attr: value}),
                lambda: client.update_item(TableName=name, Key=key, UpdateExpression="SET #a = :v",
                                           ExpressionAttributeNames={"#a": attr},
                                           ExpressionAttributeValues={":v": value}),
                lambda: client.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": {**key, attr: value}}}]}),
                lambda: client.transact_write_items(TransactItems=[{"Put": {"TableName": name,
                                                                            "Item": {**key, attr: value}}}]),
                lambda: client.execute_statement(Statement=f'UPDATE "{name}" SET {attr} = ? WHERE p = ? AND c = ?',
                                                 Parameters=[value, s("p"), s("c")]),
            ]
            for write in writes:
                with expect_error("ValidationException", message):
                    write()
        item = client.get_item(TableName=name, Key=key)["Item"]
        assert [len(item[a]["S"]) for a in ["g", "gs", "l"]] == [2048, 1024, 1024]
    finally:
        delete_table(client, name)


def test_index_keys_share_one_type_per_attribute(client):
    """A GSI added on an attribute an LSI already keys on takes that attribute's type; a
    definition of another type for it is refused."""
    name = create_table(
        client, random_table_name(),
        [{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "c", "KeyType": "RANGE"}],
        [{"AttributeName": a, "AttributeType": t} for a, t in [("p", "S"), ("c", "N"), ("l", "N")]],
        LocalSecondaryIndexes=[{"IndexName": "by_l", "KeySchema": [
            {"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "l", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"}}])
    try:
        gsi = {"IndexName": "g_l", "KeySchema": [{"AttributeName": "l", "KeyType": "HASH"}],
               "Projection": {"ProjectionType": "ALL"}}
        with expect_error("ValidationException", "One or more parameter values were invalid: Cannot change the "
                          "type of attribute l from N to S"):
            client.update_table(TableName=name, AttributeDefinitions=[{"AttributeName": "l", "AttributeType": "S"}],
                                GlobalSecondaryIndexUpdates=[{"Create": gsi}])
        client.put_item(TableName=name, Item={"p": s("a"), "c": n(1), "l": n(7)})
        client.update_table(TableName=name, AttributeDefinitions=[{"AttributeName": "l", "AttributeType": "N"}],
                            GlobalSecondaryIndexUpdates=[{"Create": gsi}])
        assert wait_until(lambda: client.query(TableName=name, IndexName="g_l", KeyConditionExpression="l = :l",
                                               ExpressionAttributeValues={":l": n(7)})["Count"] == 1, timeout=30)
    finally:
        delete_table(client, name)
