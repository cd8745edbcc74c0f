"""Every 5 minutes: moves orders older than ARCHIVE_AFTER_DAYS to the archive table.

Each order moves in one transaction: put into the archive if not there yet, delete from the
orders table if still there; both or neither. So a run repeated after a crash, or two runs at
once, archive each order exactly once: the loser's transaction is cancelled and skipped (and one
that meets the other's transaction under way, `TransactionConflict`, tries again).

"Now" is the time the schedule fired (the event's `time`), not the clock of the machine, so
the job is correct when it runs late and when a test moves the server's clock.
"""
import json
import os
import time

import boto3

from orders import DAY_MS, SHARDS, epoch_ms

DYNAMODB = boto3.client("dynamodb")
ORDERS = os.environ["ORDERS_TABLE"]
ARCHIVE = os.environ["ARCHIVE_TABLE"]
AFTER_DAYS = int(os.environ.get("ARCHIVE_AFTER_DAYS", "30"))


def old_orders(shard, cutoff_ms):
    """Orders of `shard` made before `cutoff_ms`, oldest first, page by page."""
    pages = DYNAMODB.get_paginator("query").paginate(
        TableName=ORDERS,
        IndexName="ByAge",
        KeyConditionExpression="ageShard = :s AND createdAt < :cutoff",
        ExpressionAttributeValues={":s": {"S": f"orders#{shard}"}, ":cutoff": {"N": str(cutoff_ms)}},
    )
    for page in pages:
        yield from page["Items"]


def archive(item, now_ms):
    """Moves one order; False when another run moved it first."""
    archived = dict(item, archivedAt={"N": str(now_ms)})
    archived.pop("expiresAt", None)
    for attempt in range(8):
        try:
            DYNAMODB.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": ARCHIVE, "Item": archived,
                             "ConditionExpression": "attribute_not_exists(orderId)"}},
                    {"Delete": {"TableName": ORDERS, "Key": {"orderId": item["orderId"]},
                                "ConditionExpression": "attribute_exists(orderId)"}},
                ]
            )
            return True
        except DYNAMODB.exceptions.TransactionCanceledException as e:
            reasons = [r.get("Code") for r in e.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons:
                return False
            if "TransactionConflict" not in reasons:
                raise
            # Another run is moving this order right now: look again shortly.
            time.sleep(0.01 * 2 ** attempt)
    raise RuntimeError(f"order {item['orderId']['S']} stayed in conflict")


def handler(event, context):
    now_ms = epoch_ms(event["time"])
    cutoff_ms = now_ms - AFTER_DAYS * DAY_MS
    moved = skipped = 0
    for shard in range(SHARDS):
        for item in old_orders(shard, cutoff_ms):
            if archive(item, now_ms):
                moved += 1
            else:
                skipped += 1
    print(json.dumps({"archived": moved, "alreadyArchived": skipped, "cutoff": cutoff_ms, "time": event["time"]}))
    return {"archived": moved, "alreadyArchived": skipped}
