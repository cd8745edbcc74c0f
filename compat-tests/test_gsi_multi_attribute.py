"""GSIs whose partition and sort keys are made of several attributes (up to four each):
definitions and their errors, index maintenance and sparseness, Query's left-to-right rules,
ordering, paging, Scan, projections, capacity, PartiQL, and streams left unchanged."""

import pytest

from util import create_table, delete_table, expect_error, random_string, random_table_name, wait_until


def s(x):
    return {"S": x}


def n(x):
    return {"N": str(x)}


def b(x):
    return {"B": x}


def keys(hashes, ranges=()):
    return ([{"AttributeName": a, "KeyType": "HASH"} for a in hashes]
            + [{"AttributeName": a, "KeyType": "RANGE"} for a in ranges])


def defs(**types):
    return [{"AttributeName": a, "AttributeType": t} for a, t in types.items()]


TYPES = {"p": "S", "h1": "S", "h2": "N", "r1": "S", "r2": "N", "r3": "B"}
INDEX = {"IndexName": "gsi", "KeySchema": keys(["h1", "h2"], ["r1", "r2", "r3"]),
         "Projection": {"ProjectionType": "ALL"}}


@pytest.fixture(scope="module")
def table(client):
    """p (S); GSI g: partition (h1 S, h2 N), sort (r1 S, r2 N, r3 B); GSI k: KEYS_ONLY on (h1, r2)."""
    name = create_table(
        client, random_table_name(), keys(["p"]), defs(**TYPES),
        GlobalSecondaryIndexes=[INDEX, {"IndexName": "keys_gsi", "KeySchema": keys(["h1"], ["r2"]),
                                        "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    yield name
    delete_table(client, name)


def item(p, h1, h2, r1, r2, r3=b"\x01", **more):
    return {"p": s(p), "h1": s(h1), "h2": n(h2), "r1": s(r1), "r2": n(r2), "r3": b(r3), **more}


def query(client, table, expression, values, **kw):
    placeholders = {f":{k}": v for k, v in values.items()}
    return client.query(TableName=table, IndexName="gsi", KeyConditionExpression=expression,
                        ExpressionAttributeValues=placeholders, **kw)


def ps(items):
    return [i["p"]["S"] for i in items]


def test_definition_is_described_in_order(client, table):
    gsis = {g["IndexName"]: g for g in client.describe_table(TableName=table)["Table"]["GlobalSecondaryIndexes"]}
    assert gsis["gsi"]["KeySchema"] == INDEX["KeySchema"]
    assert gsis["keys_gsi"]["KeySchema"] == keys(["h1"], ["r2"])


@pytest.mark.parametrize("schema, message", [
    (keys([f"a{i}" for i in range(5)]),
     "Invalid KeySchema: The KeySchema exceeds the maximum allowed number of HASH key attributes"),
    (keys(["a0"], [f"a{i}" for i in range(1, 6)]),
     "Invalid KeySchema: The KeySchema exceeds the maximum allowed number of RANGE key attributes"),
    (keys([], ["a0", "a1"]), "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"),
    (keys(["a0"], ["a1"]) + keys(["a2"]),
     "Invalid KeySchema: All HASH key attributes must precede RANGE key attributes in the KeySchema"),
    (keys(["a0", "a0"]), "Both the Hash Key and the Range Key element in the KeySchema have the same name"),
    (keys(["a0", "a1"], ["a0"]), "Invalid KeySchema: Duplicate attribute name in the KeySchema: a0"),
    (keys(["a0", "zz"]), "One or more parameter values were invalid: Some index key attributes are not "
     "defined in AttributeDefinitions. Keys: [a0, zz], AttributeDefinitions: [p, a0, a1, a2, a3, a4, a5]"),
])
def test_bad_definitions_are_refused(client, schema, message):
    with expect_error("ValidationException", message):
        client.create_table(
            TableName=random_table_name(), KeySchema=keys(["p"]), BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=defs(p="S", **{f"a{i}": "S" for i in range(6)}),
            GlobalSecondaryIndexes=[{"IndexName": "gsi", "KeySchema": schema,
                                     "Projection": {"ProjectionType": "ALL"}}])


def test_nine_elements_and_multi_attribute_lsis_are_refused(client):
    with expect_error("ValidationException", match="Member must have length less than or equal to 8"):
        client.create_table(
            TableName=random_table_name(), KeySchema=keys(["p"]), BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=defs(p="S", **{f"a{i}": "S" for i in range(9)}),
            GlobalSecondaryIndexes=[{"IndexName": "gsi", "KeySchema": keys([f"a{i}" for i in range(4)],
                                                                         [f"a{i}" for i in range(4, 9)]),
                                     "Projection": {"ProjectionType": "ALL"}}])
    with expect_error("ValidationException", match="Member must have length less than or equal to 2"):
        client.create_table(
            TableName=random_table_name(), KeySchema=keys(["p"], ["c"]), BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=defs(p="S", c="S", l="S"),
            LocalSecondaryIndexes=[{"IndexName": "lsi", "KeySchema": keys(["p"], ["c", "l"]),
                                    "Projection": {"ProjectionType": "ALL"}}])
    # A table's own key stays one partition and one sort attribute.
    with expect_error("ValidationException", "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type"):
        client.create_table(TableName=random_table_name(), KeySchema=keys(["p", "c"]),
                            BillingMode="PAY_PER_REQUEST", AttributeDefinitions=defs(p="S", c="S"))


def test_writes_are_checked_against_every_key_attribute(client, table):
    with expect_error("ValidationException", "One or more parameter values were invalid: Type mismatch for "
                      "Index Key h2 Expected: N Actual: S IndexName: gsi"):
        client.put_item(TableName=table, Item={"p": s("x"), "h1": s("a"), "h2": s("1")})
    with expect_error("ValidationException", match="cannot contain an empty string value. IndexName: gsi, IndexKey: r1"):
        client.put_item(TableName=table, Item={"p": s("x"), "r1": s("")})
    # The sort key's limit is on its attributes together.
    with expect_error("ValidationException", match="Aggregated size of all range keys has exceeded the size limit of 1024 bytes"):
        client.put_item(TableName=table, Item=item("x", "a", 1, "r" * 600, 1, b"\x01" * 500))
    assert "Item" not in client.get_item(TableName=table, Key={"p": s("x")})


def test_index_is_sparse_until_every_key_attribute_is_there(client, table):
    h1, p = random_string(), random_string()
    full = item(p, h1, 1, "a", 1)
    partial = {k: v for k, v in full.items() if k != "r3"}
    client.put_item(TableName=table, Item=partial)
    assert query(client, table, "h1 = :a AND h2 = :b", {"a": s(h1), "b": n(1)})["Items"] == []
    client.update_item(TableName=table, Key={"p": s(p)}, UpdateExpression="SET r3 = :v",
                       ExpressionAttributeValues={":v": b(b"\x01")})
    assert query(client, table, "h1 = :a AND h2 = :b", {"a": s(h1), "b": n(1)})["Items"] == [full]
    client.update_item(TableName=table, Key={"p": s(p)}, UpdateExpression="REMOVE h2")
    assert query(client, table, "h1 = :a AND h2 = :b", {"a": s(h1), "b": n(1)})["Items"] == []


@pytest.fixture(scope="module")
def ladder(client, table):
    """Twelve items of one index partition, sort keys r1 in {a, b}, r2 in {-1, 2, 10}, r3 in {0x01, 0x02}."""
    h1 = random_string()
    items = []
    for r1 in ["b", "a"]:
        for r2 in [10, -1, 2]:
            for r3 in [b"\x02", b"\x01"]:
                it = item(f"{h1}-{r1}{r2}{r3.hex()}", h1, 7, r1, r2, r3, extra=s("x"))
                client.put_item(TableName=table, Item=it)
                items.append(it)
    # The same h1 under another h2 is another partition.
    client.put_item(TableName=table, Item=item(f"{h1}-other", h1, 8, "a", 1))
    order = sorted(items, key=lambda i: (i["r1"]["S"], float(i["r2"]["N"]), i["r3"]["B"]))
    return h1, order


def test_query_orders_by_the_sort_attributes_left_to_right(client, table, ladder):
    h1, order = ladder
    got = query(client, table, "h1 = :a AND h2 = :b", {"a": s(h1), "b": n(7)})
    assert got["Items"] == order
    back = query(client, table, "h2 = :b AND h1 = :a", {"a": s(h1), "b": n(7)}, ScanIndexForward=False)
    assert back["Items"] == order[::-1]


@pytest.mark.parametrize("sort, values, want", [
    ("r1 = :c", {"c": s("a")}, lambda i: i["r1"]["S"] == "a"),
    ("r1 > :c", {"c": s("a")}, lambda i: i["r1"]["S"] > "a"),
    ("r1 = :c AND r2 = :d", {"c": s("b"), "d": n(2)}, lambda i: i["r1"]["S"] == "b" and i["r2"]["N"] == "2"),
    ("r2 >= :d AND r1 = :c", {"c": s("b"), "d": n(2)}, lambda i: i["r1"]["S"] == "b" and float(i["r2"]["N"]) >= 2),
    ("r1 = :c AND r2 BETWEEN :d AND :e", {"c": s("a"), "d": n(-1), "e": n(2)},
     lambda i: i["r1"]["S"] == "a" and -1 <= float(i["r2"]["N"]) <= 2),
    ("r1 = :c AND r2 = :d AND r3 < :e", {"c": s("a"), "d": n(10), "e": b(b"\x02")},
     lambda i: (i["r1"]["S"], i["r2"]["N"], i["r3"]["B"]) == ("a", "10", b"\x01")),
    ("r1 = :c AND r2 = :d AND begins_with(r3, :e)", {"c": s("b"), "d": n(-1), "e": b(b"\x02")},
     lambda i: (i["r1"]["S"], i["r2"]["N"], i["r3"]["B"]) == ("b", "-1", b"\x02")),
    ("begins_with(r1, :c)", {"c": s("b")}, lambda i: i["r1"]["S"] == "b"),
    ("r1 < :c", {"c": s("a")}, lambda i: False),
])
def test_sort_conditions(client, table, ladder, sort, values, want):
    h1, order = ladder
    got = query(client, table, f"h1 = :a AND h2 = :b AND {sort}", {"a": s(h1), "b": n(7), **values})
    assert ps(got["Items"]) == ps([i for i in order if want(i)])
    assert got["ScannedCount"] == got["Count"]


@pytest.mark.parametrize("expression, message", [
    ("h1 = :a", "Query condition missed key schema element: h2"),
    ("h1 = :a AND h2 > :b", "Query key condition not supported"),
    ("h1 = :a AND h2 = :b AND r2 = :b", "Query condition missed key schema element: r1"),
    ("h1 = :a AND h2 = :b AND r1 = :a AND r3 = :c", "Query condition missed key schema element: r2"),
    ("h1 = :a AND h2 = :b AND r1 > :a AND r2 = :b", "Query key condition not supported"),
    ("h1 = :a AND h2 = :b AND begins_with(r1, :a) AND r2 = :b", "Query key condition not supported"),
    ("h1 = :a AND h2 = :a", "One or more parameter values were invalid: Condition parameter type does not match schema type"),
    ("h1 = :a AND h2 = :b AND r1 = :b", "One or more parameter values were invalid: Condition parameter type does not match schema type"),
    ("h1 = :a OR h2 = :b", "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: OR"),
])
def test_key_condition_errors(client, table, expression, message):
    values = {"a": s("x"), "b": n(1), "c": b(b"\x01")}
    used = {k: v for k, v in values.items() if f":{k}" in expression}
    with expect_error("ValidationException", message):
        query(client, table, expression, used)


def test_other_query_rules(client, table):
    with expect_error("ValidationException", "Filter Expression can only contain non-primary key attributes: "
                      "Primary key attribute: r2"):
        query(client, table, "h1 = :a AND h2 = :b", {"a": s("x"), "b": n(1)},
              FilterExpression="r2 > :b")
    with expect_error("ValidationException", "Consistent reads are not supported on global secondary indexes"):
        query(client, table, "h1 = :a AND h2 = :b", {"a": s("x"), "b": n(1)}, ConsistentRead=True)
    with expect_error("ValidationException", match="KeyConditions cannot query an index with a multi-attribute key"):
        client.query(TableName=table, IndexName="gsi", KeyConditions={
            "h1": {"ComparisonOperator": "EQ", "AttributeValueList": [s("x")]},
            "h2": {"ComparisonOperator": "EQ", "AttributeValueList": [n(1)]}})


def test_filter_and_projection_on_other_attributes(client, table, ladder):
    h1, order = ladder
    got = query(client, table, "h1 = :a AND h2 = :b", {"a": s(h1), "b": n(7), "p": s(order[3]["p"]["S"])},
                FilterExpression="p = :p", ProjectionExpression="r2, extra")
    assert got["Items"] == [{"r2": order[3]["r2"], "extra": s("x")}]
    assert (got["Count"], got["ScannedCount"]) == (1, 12)


def test_paging_carries_every_key_attribute(client, table, ladder):
    h1, order = ladder
    values = {"a": s(h1), "b": n(7)}
    seen, start = [], None
    while True:
        extra = {"ExclusiveStartKey": start} if start else {}
        page = query(client, table, "h1 = :a AND h2 = :b", values, Limit=5, **extra)
        seen += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
        assert set(start) == {"p", "h1", "h2", "r1", "r2", "r3"}
    assert seen == order
    start = {k: order[4][k] for k in ["p", "h1", "h2", "r1", "r2", "r3"]}
    rest = query(client, table, "h1 = :a AND h2 = :b AND r1 = :c", {**values, "c": s("a")}, ExclusiveStartKey=start)
    assert ps(rest["Items"]) == ps(order[5:6])
    with expect_error("ValidationException", "The provided starting key is invalid: The provided key element "
                      "does not match the schema"):
        query(client, table, "h1 = :a AND h2 = :b", values,
              ExclusiveStartKey={k: v for k, v in start.items() if k != "h2"})
    with expect_error("ValidationException", "The provided starting key is outside query boundaries based on "
                      "provided conditions"):
        query(client, table, "h1 = :a AND h2 = :b AND r1 = :c AND r2 > :d", {**values, "c": s("b"), "d": n(-5)},
              ExclusiveStartKey=start)
    with expect_error("ValidationException", "The provided starting key does not match the range key predicate"):
        query(client, table, "h1 = :a AND h2 = :b AND r1 = :c AND r2 > :d",
              {**values, "c": s("a"), "d": n(50)}, ExclusiveStartKey=start)


def test_scan_and_keys_only_index(client, table, ladder):
    h1, order = ladder
    scanned, start = [], None
    while True:
        extra = {"ExclusiveStartKey": start} if start else {}
        page = client.scan(TableName=table, IndexName="gsi", Limit=7, **extra)
        scanned += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    mine = [i for i in scanned if i["h1"] == s(h1) and i["h2"] == n(7)]
    assert mine == order
    got = client.query(TableName=table, IndexName="keys_gsi", KeyConditionExpression="h1 = :a AND r2 = :d",
                       ExpressionAttributeValues={":a": s(h1), ":d": n(10)})["Items"]
    assert sorted(map(sorted, got)) == [["h1", "p", "r2"]] * 4


def test_consumed_capacity_charges_the_index(client, table, ladder):
    h1, _ = ladder
    got = query(client, table, "h1 = :a AND h2 = :b", {"a": s(h1), "b": n(7)}, ReturnConsumedCapacity="INDEXES")
    consumed = got["ConsumedCapacity"]
    assert consumed["Table"]["CapacityUnits"] == 0
    assert consumed["GlobalSecondaryIndexes"]["gsi"]["CapacityUnits"] == consumed["CapacityUnits"] > 0


def test_partiql_select_uses_the_whole_key(client, table, ladder):
    h1, order = ladder
    got = client.execute_statement(
        Statement=f'SELECT p FROM "{table}"."gsi" WHERE h1 = ? AND h2 = ? AND r1 = ? AND r2 > ?',
        Parameters=[s(h1), n(7), s("b"), n(0)])["Items"]
    assert [i["p"] for i in got] == [i["p"] for i in order if i["r1"] == s("b") and float(i["r2"]["N"]) > 0]


def test_stream_records_keep_the_table_key(client, table, streams):
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    p = random_string()
    client.put_item(TableName=table, Item=item(p, "s", 1, "a", 1))
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    records = []
    for shard in shards:
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        records += streams.get_records(ShardIterator=it)["Records"]
    mine = [r for r in records if r["dynamodb"]["Keys"].get("p") == s(p)]
    assert [r["dynamodb"]["Keys"] for r in mine] == [{"p": s(p)}]


def test_added_to_a_live_table_with_backfill(client):
    name = create_table(client, random_table_name(), keys(["p"]), defs(p="S"))
    try:
        good = [item(f"good{i}", "t", 1, "a", i) for i in range(3)]
        bad = [
            {**item("wrong-type", "t", 1, "a", 9), "h2": s("1")},
            {**item("empty", "t", 1, "a", 9), "r1": s("")},
            {**item("oversized", "t", 1, "a", 9), "h1": s("h" * 2049)},
            {k: v for k, v in item("partial", "t", 1, "a", 9).items() if k != "r2"},
        ]
        for it in good + bad:
            client.put_item(TableName=name, Item=it)
        client.update_table(TableName=name, AttributeDefinitions=defs(**TYPES),
                            GlobalSecondaryIndexUpdates=[{"Create": INDEX}])

        def status():
            return client.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"][0]

        assert wait_until(lambda: status()["IndexStatus"] == "ACTIVE", timeout=60)
        assert status()["KeySchema"] == INDEX["KeySchema"]
        assert status()["ItemCount"] == 3
        got = query(client, name, "h1 = :a AND h2 = :b", {"a": s("t"), "b": n(1)})
        assert got["Items"] == good
        # Once the index exists, writes are held to it.
        with expect_error("ValidationException", match="Type mismatch for Index Key h2"):
            client.put_item(TableName=name, Item=bad[0])
    finally:
        delete_table(client, name)


def test_update_table_refuses_bad_definitions(client, table):
    with expect_error("ValidationException", "Invalid KeySchema: All HASH key attributes must precede RANGE key "
                      "attributes in the KeySchema"):
        client.update_table(TableName=table, AttributeDefinitions=defs(a="S", b2="S"),
                            GlobalSecondaryIndexUpdates=[{"Create": {
                                "IndexName": "xxx", "KeySchema": keys(["a"], ["b2"]) + keys(["p"]),
                                "Projection": {"ProjectionType": "ALL"}}}])
