"""Writes sample orders into the deployed Orders table: COUNT orders spread over the last DAYS
days (python3 seed.py [COUNT] [DAYS]). Reads the table's name from the stack's outputs."""
import os
import random
import sys
import time
import uuid

import boto3

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "src"))
from orders import DAY_MS, order  # noqa: E402

endpoint = os.environ.get("DYNAROCK_ENDPOINT", "http://127.0.0.1:8000")
table_name = os.environ.get("ORDERS_TABLE")
if not table_name:
    names = boto3.client("dynamodb", endpoint_url=endpoint).list_tables()["TableNames"]
    table_name = next(n for n in names if n.startswith("cron-job-Orders-"))
count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
days = int(sys.argv[2]) if len(sys.argv) > 2 else 60
table = boto3.resource("dynamodb", endpoint_url=endpoint).Table(table_name)
now_ms = int(time.time() * 1000)
with table.batch_writer() as batch:
    for _ in range(count):
        created = now_ms - random.randrange(days * DAY_MS)
        batch.put_item(Item=order(str(uuid.uuid4()), created, round(random.uniform(5, 500), 2)))
print(f"{count} orders over {days} days written to {table_name}")
