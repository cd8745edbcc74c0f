"""PutItem, GetItem, DeleteItem: values of every type, keys, limits and errors."""

import threading
from decimal import Decimal

import boto3
import pytest
from botocore.config import Config

from util import Raw, error_of, expect_error, random_string, random_table_name


@pytest.fixture(scope="module")
def raw(url):
    return Raw(url)


def get(client, table, key):
    return client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")


def test_every_type_round_trips(client, table_s):
    p = random_string()
    item = {
        "p": {"S": p}, "s": {"S": "héllo ✓"}, "empty": {"S": ""}, "n": {"N": "-12.5"},
        "b": {"B": b"\x00\x01\xff"}, "eb": {"B": b""}, "t": {"BOOL": True}, "f": {"BOOL": False},
        "z": {"NULL": True}, "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]},
        "bs": {"BS": [b"x", b"y"]}, "l": {"L": [{"S": "x"}, {"N": "1"}, {"L": []}, {"M": {}}]},
        "m": {"M": {"inner": {"M": {"deep": {"SS": ["q"]}}}, "": {"S": "empty name"}}},
    }
    client.put_item(TableName=table_s, Item=item)
    got = get(client, table_s, {"p": {"S": p}})
    assert sorted(got["ss"]["SS"]) == ["a", "b"]
    assert sorted(got["ns"]["NS"]) == ["1", "2.5"]
    assert sorted(got["bs"]["BS"]) == [b"x", b"y"]
    for k in ("ss", "ns", "bs"):
        got.pop(k), item.pop(k)
    assert got == item


def test_numbers_come_back_canonical(client, table_s):
    p = random_string()
    client.put_item(TableName=table_s, Item={"p": {"S": p}, "a": {"N": "1e3"}, "b": {"N": "+0001.50"},
                                             "c": {"N": "-0"}, "d": {"N": "12e-5"}, "e": {"N": ".5"}})
    got = get(client, table_s, {"p": {"S": p}})
    assert [got[k]["N"] for k in "abcde"] == ["1000", "1.5", "0", "0.00012", "0.5"]


def test_number_keys_are_normalised(client, table_n):
    client.put_item(TableName=table_n, Item={"p": {"N": "1e3"}, "v": {"S": "first"}})
    assert get(client, table_n, {"p": {"N": "1000.00"}})["v"] == {"S": "first"}
    client.put_item(TableName=table_n, Item={"p": {"N": "1000"}, "v": {"S": "second"}})
    assert get(client, table_n, {"p": {"N": "1E+3"}}) == {"p": {"N": "1000"}, "v": {"S": "second"}}


def test_number_limits(client, table_s):
    p = random_string()
    ok = ["9.9999999999999999999999999999999999999E+125", "1E-130", "-1E-130",
          "3.1415926535897932384626433832795028841"]
    for n in ok:
        client.put_item(TableName=table_s, Item={"p": {"S": p}, "n": {"N": n}})
        assert Decimal(get(client, table_s, {"p": {"S": p}})["n"]["N"]) == Decimal(n)
    bad = {
        "1E126": "Number overflow. Attempting to store a number with magnitude larger than supported range",
        "1E-131": "Number underflow. Attempting to store a number with magnitude smaller than supported range",
        "3.14159265358979323846264338327950288419": "Attempting to store more than 38 significant digits in a Number",
        "dog": "The parameter cannot be converted to a numeric value: dog",
        " 1": "The parameter cannot be converted to a numeric value:  1",
        "NaN": "The parameter cannot be converted to a numeric value: NaN",
    }
    for n, message in bad.items():
        with expect_error("ValidationException", message):
            client.put_item(TableName=table_s, Item={"p": {"S": p}, "n": {"N": n}})


def test_get_missing_item(client, table_s):
    assert "Item" not in client.get_item(TableName=table_s, Key={"p": {"S": random_string()}})


def test_put_replaces_whole_item(client, table_s):
    p = random_string()
    client.put_item(TableName=table_s, Item={"p": {"S": p}, "a": {"S": "1"}})
    client.put_item(TableName=table_s, Item={"p": {"S": p}, "b": {"S": "2"}})
    assert get(client, table_s, {"p": {"S": p}}) == {"p": {"S": p}, "b": {"S": "2"}}


def test_return_values(client, table_s):
    p = random_string()
    r = client.put_item(TableName=table_s, Item={"p": {"S": p}, "a": {"S": "1"}}, ReturnValues="ALL_OLD")
    assert "Attributes" not in r
    r = client.put_item(TableName=table_s, Item={"p": {"S": p}, "a": {"S": "2"}}, ReturnValues="ALL_OLD")
    assert r["Attributes"] == {"p": {"S": p}, "a": {"S": "1"}}
    r = client.put_item(TableName=table_s, Item={"p": {"S": p}, "a": {"S": "3"}})
    assert "Attributes" not in r
    r = client.delete_item(TableName=table_s, Key={"p": {"S": p}}, ReturnValues="ALL_OLD")
    assert r["Attributes"] == {"p": {"S": p}, "a": {"S": "3"}}
    r = client.delete_item(TableName=table_s, Key={"p": {"S": p}}, ReturnValues="ALL_OLD")
    assert "Attributes" not in r
    for rv in ["ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"]:
        with expect_error("ValidationException", "ReturnValues can only be ALL_OLD or NONE"):
            client.put_item(TableName=table_s, Item={"p": {"S": p}}, ReturnValues=rv)
        with expect_error("ValidationException", "ReturnValues can only be ALL_OLD or NONE"):
            client.delete_item(TableName=table_s, Key={"p": {"S": p}}, ReturnValues=rv)


def test_delete_item(client, table_sn):
    p = random_string()
    client.put_item(TableName=table_sn, Item={"p": {"S": p}, "c": {"N": "1"}})
    client.put_item(TableName=table_sn, Item={"p": {"S": p}, "c": {"N": "2"}})
    client.delete_item(TableName=table_sn, Key={"p": {"S": p}, "c": {"N": "1"}})
    assert get(client, table_sn, {"p": {"S": p}, "c": {"N": "1"}}) is None
    assert get(client, table_sn, {"p": {"S": p}, "c": {"N": "2"}}) is not None
    # Deleting what is not there succeeds.
    client.delete_item(TableName=table_sn, Key={"p": {"S": p}, "c": {"N": "3"}})


def test_binary_keys(client, table_b):
    for key in [b"\x00", b"\x00\x00", b"\xff", b"a\x00b"]:
        client.put_item(TableName=table_b, Item={"p": {"B": key}, "v": {"B": key}})
    for key in [b"\x00", b"\x00\x00", b"\xff", b"a\x00b"]:
        assert get(client, table_b, {"p": {"B": key}})["v"] == {"B": key}


def test_missing_key_attribute(client, table_sn):
    with expect_error("ValidationException",
                      "One or more parameter values were invalid: Missing the key c in the item"):
        client.put_item(TableName=table_sn, Item={"p": {"S": "x"}})


def test_key_type_mismatch(client, table_sn):
    with expect_error("ValidationException",
                      "One or more parameter values were invalid: Type mismatch for key c expected: N actual: S"):
        client.put_item(TableName=table_sn, Item={"p": {"S": "x"}, "c": {"S": "1"}})


def test_key_must_match_schema(client, table_sn):
    for key in [{"p": {"S": "x"}}, {"p": {"S": "x"}, "c": {"S": "1"}},
                {"p": {"S": "x"}, "c": {"N": "1"}, "extra": {"S": "y"}}, {"q": {"S": "x"}, "c": {"N": "1"}}]:
        with expect_error("ValidationException", "The provided key element does not match the schema"):
            client.get_item(TableName=table_sn, Key=key)
        with expect_error("ValidationException", "The provided key element does not match the schema"):
            client.delete_item(TableName=table_sn, Key=key)


def test_empty_key_values(client, table_s, table_b):
    with expect_error("ValidationException",
                      "One or more parameter values are not valid. The AttributeValue for a key attribute "
                      "cannot contain an empty string value. Key: p"):
        client.put_item(TableName=table_s, Item={"p": {"S": ""}})
    with expect_error("ValidationException",
                      "One or more parameter values are not valid. The AttributeValue for a key attribute "
                      "cannot contain an empty binary value. Key: p"):
        client.put_item(TableName=table_b, Item={"p": {"B": b""}})
    with expect_error("ValidationException", match="cannot contain an empty string value"):
        client.get_item(TableName=table_s, Key={"p": {"S": ""}})


def test_invalid_values(raw, table_s):
    cases = [
        ({}, "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"),
        ({"S": "a", "N": "1"},
         "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"),
        ({"NULL": False}, "One or more parameter values were invalid: Null attribute value types must have the value of true"),
        ({"SS": []}, "One or more parameter values were invalid: An string set  may not be empty"),
        ({"NS": []}, "One or more parameter values were invalid: An number set  may not be empty"),
        ({"BS": []}, "One or more parameter values were invalid: Binary sets should not be empty"),
        ({"SS": ["a", "a"]}, "One or more parameter values were invalid: Input collection [a, a] contains duplicates."),
        ({"BS": ["Yg==", "Yg=="]},
         "One or more parameter values were invalid: Input collection [Yg==, Yg==]of type BS contains duplicates."),
    ]
    for value, message in cases:
        status, body = raw.call("PutItem", {"TableName": table_s, "Item": {"p": {"S": "x"}, "a": value}})
        assert status == 400
        assert error_of(body) == ("ValidationException", message), value


def test_duplicate_numbers_in_a_set_compare_by_value(raw, table_s):
    status, body = raw.call("PutItem", {"TableName": table_s, "Item": {"p": {"S": "x"}, "a": {"NS": ["1", "1.0"]}}})
    assert status == 400
    assert error_of(body)[0] == "ValidationException"
    assert "contains duplicates" in error_of(body)[1]


def test_item_size_limit(client, table_s):
    p = random_string()
    # 400 KB counts attribute names and values: "p" + key + "a" + value.
    fits = 400 * 1024 - (1 + len(p)) - 1
    client.put_item(TableName=table_s, Item={"p": {"S": p}, "a": {"S": "x" * fits}})
    assert len(get(client, table_s, {"p": {"S": p}})["a"]["S"]) == fits
    with expect_error("ValidationException", "Item size has exceeded the maximum allowed size"):
        client.put_item(TableName=table_s, Item={"p": {"S": p}, "a": {"S": "x" * (fits + 1)}})
    # The failed write changed nothing.
    assert len(get(client, table_s, {"p": {"S": p}})["a"]["S"]) == fits


def test_key_size_limits(client, table_s, table_ss):
    client.put_item(TableName=table_s, Item={"p": {"S": "k" * 2048}})
    with expect_error("ValidationException",
                      "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size "
                      "limit of 2048 bytes"):
        client.put_item(TableName=table_s, Item={"p": {"S": "k" * 2049}})
    client.put_item(TableName=table_ss, Item={"p": {"S": "x"}, "c": {"S": "c" * 1024}})
    with expect_error("ValidationException",
                      "One or more parameter values were invalid: Aggregated size of all range keys has exceeded "
                      "the size limit of 1024 bytes"):
        client.put_item(TableName=table_ss, Item={"p": {"S": "x"}, "c": {"S": "c" * 1025}})
    # Keys in reads and deletes are held to the same sizes.
    hash_message = ("One or more parameter values were invalid: Size of hashkey has exceeded the maximum size "
                    "limit of 2048 bytes")
    range_message = ("One or more parameter values were invalid: Aggregated size of all range keys has exceeded "
                     "the size limit of 1024 bytes")
    assert client.get_item(TableName=table_s, Key={"p": {"S": "k" * 2048}})["Item"]
    too_long = {"p": {"S": "k" * 2049}}
    for read in [lambda: client.get_item(TableName=table_s, Key=too_long),
                 lambda: client.delete_item(TableName=table_s, Key=too_long),
                 lambda: client.batch_get_item(RequestItems={table_s: {"Keys": [too_long]}}),
                 lambda: client.transact_get_items(TransactItems=[{"Get": {"TableName": table_s, "Key": too_long}}])]:
        with expect_error("ValidationException", match=hash_message):
            read()
    with expect_error("ValidationException", range_message):
        client.get_item(TableName=table_ss, Key={"p": {"S": "x"}, "c": {"S": "c" * 1025}})


def test_attribute_name_limits(client, table_s):
    """Names under 64 KB: 65535 bytes are accepted and 65536 refused wherever a name appears;
    index projections name at most 255-character attributes."""
    p = {"p": {"S": random_string()}}
    fits, too_long = "n" * 65535, "n" * 65536
    client.put_item(TableName=table_s, Item={**p, fits: {"S": "v"}})
    assert client.get_item(TableName=table_s, Key=p, ProjectionExpression="#n",
                           ExpressionAttributeNames={"#n": fits})["Item"] == {fits: {"S": "v"}}
    message = "Attribute name is too large, must be less than 65536 bytes"
    for call in [
        lambda: client.put_item(TableName=table_s, Item={**p, too_long: {"S": "v"}}),
        lambda: client.put_item(TableName=table_s, Item={**p, "m": {"M": {too_long: {"S": "v"}}}}),
        lambda: client.get_item(TableName=table_s, Key=p, ProjectionExpression="#n",
                                ExpressionAttributeNames={"#n": too_long}),
        lambda: client.get_item(TableName=table_s, Key=p, AttributesToGet=[too_long]),
        lambda: client.update_item(TableName=table_s, Key=p, AttributeUpdates={too_long: {"Value": {"S": "v"}}}),
        lambda: client.update_item(TableName=table_s, Key=p, UpdateExpression="SET a = :v",
                                   ConditionExpression="attribute_exists(#n)",
                                   ExpressionAttributeNames={"#n": too_long},
                                   ExpressionAttributeValues={":v": {"S": "v"}}),
        lambda: client.scan(TableName=table_s, ScanFilter={too_long: {"ComparisonOperator": "NULL"}}),
    ]:
        with expect_error("ValidationException", message):
            call()
    long_key = "k" * 256
    with expect_error("ValidationException", match="Member must have length less than or equal to 255"):
        client.create_table(TableName=random_table_name(), BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": long_key, "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": long_key, "AttributeType": "S"}])
    with expect_error("ValidationException",
                      f"1 validation error detected: Value '[x, {long_key}]' at "
                      "'globalSecondaryIndexes.1.member.projection.nonKeyAttributes' failed to satisfy constraint: "
                      "Member must satisfy constraint: [Member must have length less than or equal to 255, "
                      "Member must have length greater than or equal to 1]"):
        client.create_table(
            TableName=random_table_name(), BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ["p", "g"]],
            GlobalSecondaryIndexes=[{"IndexName": "gsi", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                     "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x", long_key]}}])


def nested(depth, kind="M"):
    value = {"S": "leaf"}
    for _ in range(depth):
        value = {"M": {"n": value}} if kind == "M" else {"L": [value]}
    return value


@pytest.mark.parametrize("kind", ["M", "L"])
def test_nesting_limit(client, raw, table_s, kind):
    """31 enclosing maps or lists are accepted, 32 refused: in items and in expression values."""
    client.put_item(TableName=table_s, Item={"p": {"S": "deep"}, "a": nested(31, kind)})
    assert client.get_item(TableName=table_s, Key={"p": {"S": "deep"}})["Item"]["a"] == nested(31, kind)
    message = ("Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond "
               "supported limit")
    status, body = raw.call("PutItem", {"TableName": table_s, "Item": {"p": {"S": "deep"}, "a": nested(32, kind)}})
    assert (status, error_of(body)) == (400, ("ValidationException", message))
    status, body = raw.call("PutItem", {"TableName": table_s, "Item": {"p": {"S": "deep"}},
                                        "ConditionExpression": "a = :v",
                                        "ExpressionAttributeValues": {":v": nested(32, kind)}})
    assert status == 400 and error_of(body)[0] == "ValidationException" and message in error_of(body)[1]


def test_missing_table(client):
    with expect_error("ResourceNotFoundException", "Requested resource not found"):
        client.get_item(TableName="compat_no_such_table", Key={"p": {"S": "x"}})
    with expect_error("ResourceNotFoundException", "Requested resource not found"):
        client.put_item(TableName="compat_no_such_table", Item={"p": {"S": "x"}})


def test_missing_item_member(raw, table_s):
    status, body = raw.call("PutItem", {"TableName": table_s})
    assert error_of(body) == ("ValidationException", "1 validation error detected: Value null at 'item' failed "
                                                     "to satisfy constraint: Member must not be null")
    status, body = raw.call("GetItem", {"TableName": table_s})
    assert error_of(body) == ("ValidationException", "1 validation error detected: Value null at 'key' failed "
                                                     "to satisfy constraint: Member must not be null")


def test_consumed_capacity(client, table_s):
    p = random_string()
    r = client.put_item(TableName=table_s, Item={"p": {"S": p}, "a": {"S": "x" * 1500}}, ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"] == {"TableName": table_s, "CapacityUnits": 2.0}
    r = client.get_item(TableName=table_s, Key={"p": {"S": p}}, ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"] == {"TableName": table_s, "CapacityUnits": 0.5}
    r = client.get_item(TableName=table_s, Key={"p": {"S": p}}, ConsistentRead=True, ReturnConsumedCapacity="INDEXES")
    assert r["ConsumedCapacity"]["CapacityUnits"] == 1.0
    assert r["ConsumedCapacity"]["Table"] == {"CapacityUnits": 1.0}
    r = client.get_item(TableName=table_s, Key={"p": {"S": p}})
    assert "ConsumedCapacity" not in r


def test_consistent_reads_follow_concurrent_writes(url, region, client, table_s):
    """A strongly consistent read returns at least every write acknowledged before it began, and
    a reader never sees an item go back in time, whatever the interleaving of writes and reads
    (dynarock serves recently used items from a cache, which must never lag behind)."""
    p, writes = random_string(), 400
    client.put_item(TableName=table_s, Item={"p": {"S": p}, "n": {"N": "0"}})
    acknowledged = [0]
    errors = []

    def new_client():
        return boto3.client("dynamodb", endpoint_url=url, region_name=region, aws_access_key_id="testing",
                            aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))

    def writer():
        c = new_client()
        try:
            for n in range(1, writes + 1):
                if n % 3:
                    c.put_item(TableName=table_s, Item={"p": {"S": p}, "n": {"N": str(n)}, "pad": {"S": "x" * n}})
                else:
                    c.update_item(TableName=table_s, Key={"p": {"S": p}}, UpdateExpression="SET n = :n",
                                  ExpressionAttributeValues={":n": {"N": str(n)}})
                acknowledged[0] = n
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def reader():
        c = new_client()
        last = 0
        try:
            while last < writes:
                floor = acknowledged[0]
                n = int(c.get_item(TableName=table_s, Key={"p": {"S": p}}, ConsistentRead=True)["Item"]["n"]["N"])
                assert n >= floor and n >= last, f"read {n} after {last}, {floor} acknowledged"
                last = n
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    item = get(client, table_s, {"p": {"S": p}})
    last_put = max(n for n in range(1, writes + 1) if n % 3)
    assert item["n"] == {"N": str(writes)} and item["pad"] == {"S": "x" * last_put}
