"""Every minute: records that the schedules run, in the Reports table's `heartbeat` item (the
latest time it was due, when that run ran, how many runs), for a person to watch.

Runs that catch up after the server was paused may finish out of order: the item keeps the
latest due time, and counts every run."""
import json
import os
import time

import boto3

from orders import epoch_ms

REPORTS = boto3.resource("dynamodb").Table(os.environ["REPORTS_TABLE"])
ConditionalCheckFailed = REPORTS.meta.client.exceptions.ConditionalCheckFailedException


def handler(event, context):
    due_ms = epoch_ms(event["time"])
    ran_ms = int(time.time() * 1000)
    key = {"reportId": "heartbeat"}
    try:
        item = REPORTS.update_item(
            Key=key,
            UpdateExpression="SET lastDue = :due, lastRan = :ran ADD runs :one",
            # ISO 8601 times in UTC compare as text in time order.
            ConditionExpression="attribute_not_exists(lastDue) OR lastDue < :due",
            ExpressionAttributeValues={":due": event["time"], ":ran": ran_ms, ":one": 1},
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except ConditionalCheckFailed:
        item = REPORTS.update_item(
            Key=key, UpdateExpression="ADD runs :one", ExpressionAttributeValues={":one": 1}, ReturnValues="ALL_NEW"
        )["Attributes"]
    print(json.dumps({"heartbeat": event["time"], "runs": int(item["runs"]), "lateMs": ran_ms - due_ms}))
    return {"runs": int(item["runs"])}
