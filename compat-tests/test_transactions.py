"""TransactWriteItems and TransactGetItems: all-or-nothing, cancellation reasons, idempotency,
isolation under contention."""

import random
import threading

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from util import expect_error, random_string


def s(x):
    return {"S": x}


def n(x):
    return {"N": str(x)}


def get(client, table, p):
    return client.get_item(TableName=table, Key={"p": s(p)}, ConsistentRead=True).get("Item")


def test_all_actions_apply_together(client, table_s, table_sn):
    a, b, c, d = (random_string() for _ in range(4))
    client.put_item(TableName=table_s, Item={"p": s(b), "v": n(1)})
    client.put_item(TableName=table_s, Item={"p": s(c)})
    client.put_item(TableName=table_s, Item={"p": s(d), "ok": {"BOOL": True}})
    r = client.transact_write_items(TransactItems=[
        {"Put": {"TableName": table_s, "Item": {"p": s(a), "v": n(10)}, "ConditionExpression": "attribute_not_exists(p)"}},
        {"Update": {"TableName": table_s, "Key": {"p": s(b)}, "UpdateExpression": "SET v = v + :one",
                    "ExpressionAttributeValues": {":one": n(1)}}},
        {"Delete": {"TableName": table_s, "Key": {"p": s(c)}}},
        {"ConditionCheck": {"TableName": table_s, "Key": {"p": s(d)}, "ConditionExpression": "ok = :t",
                            "ExpressionAttributeValues": {":t": {"BOOL": True}}}},
        {"Put": {"TableName": table_sn, "Item": {"p": s(a), "c": n(1)}}},
    ], ReturnConsumedCapacity="TOTAL")
    assert get(client, table_s, a) == {"p": s(a), "v": n(10)}
    assert get(client, table_s, b)["v"] == n(2)
    assert get(client, table_s, c) is None
    assert sorted(x["TableName"] for x in r["ConsumedCapacity"]) == sorted([table_s, table_sn])


def test_a_failed_condition_cancels_everything(client, table_s):
    a, b = random_string(), random_string()
    client.put_item(TableName=table_s, Item={"p": s(b), "v": n(5)})
    with expect_error("TransactionCanceledException", "Transaction cancelled, please refer cancellation reasons for "
                                                      "specific reasons [None, ConditionalCheckFailed]") as info:
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": table_s, "Item": {"p": s(a)}}},
            {"Update": {"TableName": table_s, "Key": {"p": s(b)}, "UpdateExpression": "SET v = :z",
                        "ConditionExpression": "v > :big", "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        "ExpressionAttributeValues": {":z": n(0), ":big": n(100)}}},
        ])
    assert info.value.response["CancellationReasons"] == [
        {"Code": "None"},
        {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed",
         "Item": {"p": s(b), "v": n(5)}},
    ]
    assert get(client, table_s, a) is None
    assert get(client, table_s, b)["v"] == n(5)


def test_an_update_that_cannot_apply_is_a_validation_error_reason(client, table_s):
    a = random_string()
    client.put_item(TableName=table_s, Item={"p": s(a), "v": s("text")})
    with expect_error("TransactionCanceledException") as info:
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": table_s, "Key": {"p": s(a)}, "UpdateExpression": "SET v = v + :one",
                        "ExpressionAttributeValues": {":one": n(1)}}},
        ])
    (reason,) = info.value.response["CancellationReasons"]
    assert reason["Code"] == "ValidationError"
    assert reason["Message"] == "An operand in the update expression has an incorrect data type"


def test_request_errors(client, table_s):
    a = random_string()
    with expect_error("ValidationException", "Transaction request cannot include multiple operations on one item"):
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": table_s, "Item": {"p": s(a)}}},
            {"Delete": {"TableName": table_s, "Key": {"p": s(a)}}},
        ])
    # Reads too name each item once.
    with expect_error("ValidationException", "Transaction request cannot include multiple operations on one item"):
        client.transact_get_items(TransactItems=[{"Get": {"TableName": table_s, "Key": {"p": s(a)}}}] * 2)
    with expect_error("ValidationException", "The provided key element does not match the schema"):
        client.transact_write_items(TransactItems=[{"Delete": {"TableName": table_s, "Key": {"q": s(a)}}}])
    with expect_error("ResourceNotFoundException"):
        client.transact_write_items(TransactItems=[{"Put": {"TableName": "compat_nope", "Item": {"p": s(a)}}}])
    with expect_error("ValidationException", match="Member must have length less than or equal to 100"):
        client.transact_get_items(TransactItems=[
            {"Get": {"TableName": table_s, "Key": {"p": s(str(i))}}} for i in range(101)])
    assert get(client, table_s, a) is None
    # Eleven items of 390 KB are more than the 4 MB a transaction may carry.
    big = [{"Put": {"TableName": table_s, "Item": {"p": s(f"{a}{i}"), "blob": s("x" * 390_000)}}} for i in range(11)]
    with expect_error("ValidationException"):
        client.transact_write_items(TransactItems=big)
    assert get(client, table_s, f"{a}0") is None


def test_client_request_token_is_idempotent(client, table_s):
    a, token = random_string(), random_string(20)
    items = [{"Update": {"TableName": table_s, "Key": {"p": s(a)}, "UpdateExpression": "ADD v :one",
                         "ExpressionAttributeValues": {":one": n(1)}}}]
    client.transact_write_items(TransactItems=items, ClientRequestToken=token)
    client.transact_write_items(TransactItems=items, ClientRequestToken=token)
    assert get(client, table_s, a)["v"] == n(1)
    with expect_error("IdempotentParameterMismatchException"):
        client.transact_write_items(TransactItems=[{"Put": {"TableName": table_s, "Item": {"p": s(a)}}}],
                                    ClientRequestToken=token)


def test_transact_get_items(client, table_s):
    a, b = random_string(), random_string()
    client.put_item(TableName=table_s, Item={"p": s(a), "x": n(1), "y": n(2)})
    r = client.transact_get_items(TransactItems=[
        {"Get": {"TableName": table_s, "Key": {"p": s(a)}, "ProjectionExpression": "#y",
                 "ExpressionAttributeNames": {"#y": "y"}}},
        {"Get": {"TableName": table_s, "Key": {"p": s(b)}}},
    ])
    assert r["Responses"] == [{"Item": {"y": n(2)}}, {}]


def test_transfers_under_contention_keep_the_total(url, region, client, table_s):
    """Transfers between accounts race TransactGetItems snapshots: every snapshot sees the same
    total, no balance goes negative, and conflicts are cancellations that succeed on retry."""
    accounts = [f"acct-{random_string()}" for _ in range(6)]
    for acct in accounts:
        client.put_item(TableName=table_s, Item={"p": s(acct), "balance": n(100)})
    total = 100 * len(accounts)
    stop = threading.Event()
    problems, conflicts, done = [], [0], [0]

    def new_client():
        return boto3.client("dynamodb", endpoint_url=url, region_name=region, aws_access_key_id="testing",
                            aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))

    def transfer(seed):
        c, rng = new_client(), random.Random(seed)
        for _ in range(150):
            src, dst = rng.sample(accounts, 2)
            amount = rng.randint(1, 60)
            items = [
                {"Update": {"TableName": table_s, "Key": {"p": s(src)}, "UpdateExpression": "SET balance = balance - :a",
                            "ConditionExpression": "balance >= :a", "ExpressionAttributeValues": {":a": n(amount)}}},
                {"Update": {"TableName": table_s, "Key": {"p": s(dst)}, "UpdateExpression": "SET balance = balance + :a",
                            "ExpressionAttributeValues": {":a": n(amount)}}},
            ]
            for _attempt in range(50):
                try:
                    c.transact_write_items(TransactItems=items)
                    done[0] += 1
                    break
                except ClientError as e:
                    err = e.response
                    if err["Error"]["Code"] != "TransactionCanceledException":
                        problems.append(err)
                        return
                    codes = [r["Code"] for r in err["CancellationReasons"]]
                    if "TransactionConflict" in codes:
                        conflicts[0] += 1
                        continue  # retry
                    if codes[0] != "ConditionalCheckFailed":
                        problems.append(err)
                    break  # not enough money: a legitimate refusal

    def audit():
        c = new_client()
        while not stop.is_set():
            r = c.transact_get_items(TransactItems=[{"Get": {"TableName": table_s, "Key": {"p": s(a)}}}
                                                    for a in accounts])
            balances = [int(x["Item"]["balance"]["N"]) for x in r["Responses"]]
            if sum(balances) != total or min(balances) < 0:
                problems.append(balances)

    workers = [threading.Thread(target=transfer, args=(i,)) for i in range(6)]
    auditor = threading.Thread(target=audit)
    auditor.start()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    auditor.join()
    assert not problems, problems[:3]
    assert done[0] > 0
    final = [int(get(client, table_s, a)["balance"]["N"]) for a in accounts]
    assert sum(final) == total and min(final) >= 0
