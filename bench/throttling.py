#!/usr/bin/env python3
"""Throttling over time: a provisioned table asked for twice its capacity for a minute.

Starts a dynarock (real clock), creates a table of --wcu write units, spends its burst (300
seconds of capacity) with large writes, then sends 1 KB writes (one unit each) at twice the
provisioned rate for --seconds and prints, per window, the units attempted, granted and
provisioned.

usage: bench/throttling.py [--wcu 100] [--seconds 60] [--window 5] [--binary PATH]
"""

import argparse
import os
import socket
import subprocess
import tempfile
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

RELEASE = os.path.join(os.environ.get("CARGO_TARGET_DIR") or "target", "release")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wcu", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--window", type=float, default=5)
    ap.add_argument("--binary", default=os.path.join(RELEASE, "dynarock"))
    args = ap.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = tempfile.mkdtemp(prefix="bench-throttling-")
    server = subprocess.Popen([args.binary, "serve", "--port", str(port),
                               "--data-dir", data, "--log-level", "warn"])
    try:
        client = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1",
                              aws_access_key_id="bench", aws_secret_access_key="bench",
                              config=Config(retries={"total_max_attempts": 1}))
        for _ in range(200):
            try:
                client.list_tables()
                break
            except Exception:
                time.sleep(0.05)
        client.create_table(TableName="throttled", BillingMode="PROVISIONED",
                            KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"}],
                            ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": args.wcu})
        # Spend the burst: 400 KB writes until one is refused.
        spent = 0
        while True:
            try:
                client.put_item(TableName="throttled", Item={"p": {"S": f"big{spent}"}, "a": {"S": "x" * 409000}})
                spent += 1
            except ClientError:
                break
        print(f"burst spent by {spent} writes of 400 units ({spent * 400} units, "
              f"{300 * args.wcu} kept for 300 s of {args.wcu} units)")
        rate = 2 * args.wcu
        start = time.perf_counter()
        rows, sent, granted, window_start = [], 0, 0, start
        total_sent = total_granted = 0
        while (now := time.perf_counter()) - start < args.seconds:
            # Paced: request number n is due at start + n / rate.
            due = start + total_sent / rate
            if due > now:
                time.sleep(due - now)
            try:
                client.put_item(TableName="throttled", Item={"p": {"S": f"k{total_sent}"}, "a": {"S": "x" * 1000}})
                granted += 1
                total_granted += 1
            except ClientError as e:
                assert e.response["Error"]["Code"] == "ProvisionedThroughputExceededException", e.response
            sent += 1
            total_sent += 1
            if time.perf_counter() - window_start >= args.window:
                elapsed = time.perf_counter() - window_start
                rows.append((time.perf_counter() - start, sent / elapsed, granted / elapsed))
                sent, granted, window_start = 0, 0, time.perf_counter()
        print(f"| seconds | units/s attempted | units/s granted | provisioned |")
        print("|---:|---:|---:|---:|")
        for at, s, g in rows:
            print(f"| {at:.0f} | {s:.1f} | {g:.1f} | {args.wcu} |")
        elapsed = time.perf_counter() - start
        print(f"| whole run | {total_sent / elapsed:.1f} | {total_granted / elapsed:.1f} | {args.wcu} |")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
