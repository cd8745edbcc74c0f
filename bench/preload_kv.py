#!/usr/bin/env python3
"""Create and preload the `bench_kv` table of the team's reference scripts with PutItem.

The reference setup script preloads with BatchWriteItem and checks a Query; until dynarock serves
those, this loads the same 100,000 ~200-byte items (same keys and payload) one PutItem at a time.

usage: preload_kv.py ENDPOINT
"""
import random
import string
import sys
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

ITEMS, THREADS = 100_000, 8


def main(endpoint):
    ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="dummy-secret",
                       config=Config(max_pool_connections=THREADS))
    ddb.create_table(TableName="bench_kv", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    rng = random.Random(1)
    payload = "".join(rng.choice(string.ascii_lowercase) for _ in range(170))

    def load(keys):
        for i in keys:
            ddb.put_item(TableName="bench_kv",
                         Item={"pk": {"S": f"k{i:08d}"}, "n": {"N": str(i)}, "data": {"S": payload}})

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(load, [range(t, ITEMS, THREADS) for t in range(THREADS)]))
    count = ddb.describe_table(TableName="bench_kv")["Table"]["ItemCount"]
    print(f"bench_kv: {count} items")
    if count != ITEMS:
        sys.exit(f"expected {ITEMS} items")


if __name__ == "__main__":
    main(sys.argv[1])
