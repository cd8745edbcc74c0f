"""Every day at 00:05 UTC: a report of yesterday's orders (how many, their total), computed
with a Query on the ByDay index, never a Scan.

The report is written only if that day has none yet, so a retried or repeated run writes one
report per day. The day comes from the time the schedule fired (Scheduler's
<aws.scheduler.scheduled-time>), not from the machine's clock.
"""
import datetime
import json
import os
from decimal import Decimal

import boto3
from boto3.dynamodb.conditions import Key

from orders import epoch_ms

DYNAMODB = boto3.resource("dynamodb")
ORDERS = DYNAMODB.Table(os.environ["ORDERS_TABLE"])
REPORTS = DYNAMODB.Table(os.environ["REPORTS_TABLE"])


def yesterday(scheduled_iso):
    at = datetime.datetime.fromisoformat(scheduled_iso.replace("Z", "+00:00"))
    return (at - datetime.timedelta(days=1)).strftime("%Y-%m-%d")


def day_totals(day):
    count, total = 0, Decimal(0)
    query = {"IndexName": "ByDay", "KeyConditionExpression": Key("day").eq(day)}
    while True:
        page = ORDERS.query(**query)
        for item in page["Items"]:
            count += 1
            total += item["amount"]
        if "LastEvaluatedKey" not in page:
            return count, total
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def handler(event, context):
    scheduled = event["scheduledTime"]
    day = yesterday(scheduled)
    count, total = day_totals(day)
    try:
        REPORTS.put_item(
            Item={
                "reportId": f"daily#{day}",
                "day": day,
                "orders": count,
                "total": total,
                "generatedFor": scheduled,
                "generatedAt": epoch_ms(scheduled),
            },
            ConditionExpression="attribute_not_exists(reportId)",
        )
    except DYNAMODB.meta.client.exceptions.ConditionalCheckFailedException:
        print(json.dumps({"day": day, "report": "already written"}))
        return {"day": day, "written": False}
    print(json.dumps({"day": day, "orders": count, "total": str(total)}))
    return {"day": day, "written": True, "orders": count, "total": str(total)}
