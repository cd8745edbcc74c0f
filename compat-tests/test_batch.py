"""BatchGetItem and BatchWriteItem over several tables."""

from util import Raw, error_of, expect_error, random_string


def s(x):
    return {"S": x}


def test_write_then_get_over_two_tables(client, table_s, table_sn):
    p = random_string()
    client.put_item(TableName=table_s, Item={"p": s(p + "old"), "a": s("x")})
    r = client.batch_write_item(RequestItems={
        table_s: [{"PutRequest": {"Item": {"p": s(p), "a": s("1"), "b": s("2")}}},
                  {"DeleteRequest": {"Key": {"p": s(p + "old")}}}],
        table_sn: [{"PutRequest": {"Item": {"p": s(p), "c": {"N": str(i)}}}} for i in range(3)],
    }, ReturnConsumedCapacity="TOTAL")
    assert r["UnprocessedItems"] == {}
    assert sorted((c["TableName"], c["CapacityUnits"]) for c in r["ConsumedCapacity"]) == sorted(
        [(table_s, 2.0), (table_sn, 3.0)])
    r = client.batch_get_item(RequestItems={
        table_s: {"Keys": [{"p": s(p)}, {"p": s(p + "old")}], "ProjectionExpression": "#a",
                  "ExpressionAttributeNames": {"#a": "a"}},
        table_sn: {"Keys": [{"p": s(p), "c": {"N": str(i)}} for i in range(3)], "ConsistentRead": True},
    })
    assert r["UnprocessedKeys"] == {}
    assert r["Responses"][table_s] == [{"a": s("1")}]
    assert sorted(int(i["c"]["N"]) for i in r["Responses"][table_sn]) == [0, 1, 2]


def test_a_bad_request_writes_nothing(client, table_s):
    good, bad = random_string(), random_string()
    for items in ([{"p": s(good)}, {"p": {"N": "1"}}], [{"p": s(good)}, {"q": s(bad)}]):
        with expect_error("ValidationException", "The provided key element does not match the schema"):
            client.batch_write_item(RequestItems={table_s: [{"PutRequest": {"Item": i}} for i in items]})
    with expect_error("ValidationException", "Item size has exceeded the maximum allowed size"):
        client.batch_write_item(RequestItems={table_s: [
            {"PutRequest": {"Item": {"p": s(good)}}},
            {"PutRequest": {"Item": {"p": s(bad), "big": s("x" * 410_000)}}}]})
    assert "Item" not in client.get_item(TableName=table_s, Key={"p": s(good)})


def test_batch_errors(client, url, table_s, table_sn):
    with expect_error("ValidationException", "Provided list of item keys contains duplicates"):
        client.batch_write_item(RequestItems={table_s: [{"PutRequest": {"Item": {"p": s("d")}}},
                                                        {"DeleteRequest": {"Key": {"p": s("d")}}}]})
    with expect_error("ValidationException", "Provided list of item keys contains duplicates"):
        client.batch_get_item(RequestItems={table_s: {"Keys": [{"p": s("d")}, {"p": s("d")}]}})
    with expect_error("ValidationException", match="Member must have length less than or equal to 100"):
        client.batch_get_item(RequestItems={table_s: {"Keys": [{"p": s(str(i))} for i in range(101)]}})
    with expect_error("ValidationException", "Too many items requested for the BatchGetItem call"):
        client.batch_get_item(RequestItems={
            table_s: {"Keys": [{"p": s(str(i))} for i in range(60)]},
            table_sn: {"Keys": [{"p": s(str(i)), "c": {"N": "1"}} for i in range(60)]}})
    with expect_error("ValidationException", match="Member must have length less than or equal to 25"):
        client.batch_write_item(RequestItems={table_s: [
            {"PutRequest": {"Item": {"p": s(str(i))}}} for i in range(26)]})
    with expect_error("ValidationException", "The provided key element does not match the schema"):
        client.batch_get_item(RequestItems={table_s: {"Keys": [{"p": s("x"), "extra": s("y")}]}})
    with expect_error("ResourceNotFoundException"):
        client.batch_get_item(RequestItems={"compat_no_such_table": {"Keys": [{"p": s("x")}]}})
    with expect_error("ResourceNotFoundException"):
        client.batch_write_item(RequestItems={"compat_no_such_table": [{"PutRequest": {"Item": {"p": s("x")}}}]})
    status, body = Raw(url).call("BatchWriteItem", {"RequestItems": {}})
    assert status == 400 and error_of(body) == (
        "ValidationException", "1 validation error detected: Value '{}' at 'requestItems' failed to satisfy "
                               "constraint: Member must have length greater than or equal to 1")


def test_get_answers_at_most_16_mb(client, table_s):
    p = random_string()
    blob = "x" * 390_000
    keys = [{"p": s(f"{p}{i}")} for i in range(50)]
    for start in range(0, 50, 10):
        client.batch_write_item(RequestItems={table_s: [
            {"PutRequest": {"Item": dict(k, blob=s(blob))}} for k in keys[start:start + 10]]})
    r = client.batch_get_item(RequestItems={table_s: {"Keys": keys, "ProjectionExpression": "p"}})
    got = [i["p"]["S"] for i in r["Responses"][table_s]]
    left = r["UnprocessedKeys"][table_s]["Keys"]
    # 16 MB of 390 KB items is about 42: the rest must come back, with the request's projection.
    assert 35 <= len(got) <= 45 and len(got) + len(left) == 50
    assert r["UnprocessedKeys"][table_s]["ProjectionExpression"] == "p"
    again = client.batch_get_item(RequestItems=r["UnprocessedKeys"])
    got += [i["p"]["S"] for i in again["Responses"][table_s]]
    assert sorted(got) == sorted(k["p"]["S"] for k in keys)
