#!/usr/bin/env python3
"""Import and export speed: ImportTable of N items from a DynamoDB JSON file (plain) and
ExportTableToPointInTime of the same table, in items per second, against a dynarock started
here with its own S3 folder.

    python3 bench/transfer.py --items 1000000 [--binary PATH]
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(client, describe, arn, key, status_key):
    while True:
        d = describe(arn)[key]
        if d[status_key] != "IN_PROGRESS":
            return d
        time.sleep(0.02)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--item-size", type=int, default=100, help="bytes of filler per item")
    ap.add_argument("--binary", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                                                      "release", "dynarock"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench-transfer-")
    try:
        bucket = os.path.join(work, "s3", "bucket")
        os.makedirs(os.path.join(bucket, "in"))
        with open(os.path.join(bucket, "in", "rows.json"), "w") as f:
            filler = "x" * args.item_size
            for i in range(args.items):
                f.write(json.dumps({"Item": {"p": {"S": f"k{i}"}, "n": {"N": str(i)}, "v": {"S": filler}}}) + "\n")
        port = free_port()
        server = subprocess.Popen([args.binary, "serve", "--data-dir", os.path.join(work, "data"), "--port", str(port),
                                   "--s3-dir", os.path.join(work, "s3"), "--log-level", "warn"])
        try:
            client = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                                  aws_access_key_id="bench", aws_secret_access_key="bench")
            for _ in range(500):
                try:
                    client.list_tables()
                    break
                except Exception:
                    time.sleep(0.02)
            started = time.perf_counter()
            arn = client.import_table(
                S3BucketSource={"S3Bucket": "bucket", "S3KeyPrefix": "in/"}, InputFormat="DYNAMODB_JSON",
                TableCreationParameters={"TableName": "bench", "BillingMode": "PAY_PER_REQUEST",
                                         "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"}],
                                         "AttributeDefinitions": [{"AttributeName": "p", "AttributeType": "S"}]},
            )["ImportTableDescription"]["ImportArn"]
            done = wait(client, lambda a: client.describe_import(ImportArn=a), arn, "ImportTableDescription",
                        "ImportStatus")
            imported = time.perf_counter() - started
            assert done["ImportedItemCount"] == args.items, done
            client.update_continuous_backups(TableName="bench", PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": True})
            table_arn = client.describe_table(TableName="bench")["Table"]["TableArn"]
            started = time.perf_counter()
            arn = client.export_table_to_point_in_time(TableArn=table_arn, S3Bucket="bucket",
                                                       S3Prefix="out")["ExportDescription"]["ExportArn"]
            done = wait(client, lambda a: client.describe_export(ExportArn=a), arn, "ExportDescription",
                        "ExportStatus")
            exported = time.perf_counter() - started
            assert done["ItemCount"] == args.items, done
        finally:
            server.terminate()
            server.wait()
        print(f"| items | import | export |\n|---:|---:|---:|\n"
              f"| {args.items:,} | {args.items / imported:,.0f} items/s ({imported:.2f} s) "
              f"| {args.items / exported:,.0f} items/s ({exported:.2f} s) |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
