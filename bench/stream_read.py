#!/usr/bin/env python3
"""Reads a table's whole stream (every shard from TRIM_HORIZON, GetRecords with Limit 1000)
and reports records/s, wall and (given --pid) server CPU time.

usage: stream_read.py ENDPOINT [--table bench_kv] [--pid PID]
"""
import argparse
import json
import time

import requests

from procstat import cpu_seconds

AUTH = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=host;x-amz-date;x-amz-target, Signature=" + "0" * 64)


def call(session, endpoint, target, body):
    r = session.post(endpoint, data=json.dumps(body), timeout=60, headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target,
        "Authorization": AUTH, "X-Amz-Date": "20260101T000000Z"})
    r.raise_for_status()
    return r.json()




def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("endpoint")
    ap.add_argument("--table", default="bench_kv")
    ap.add_argument("--pid", type=int)
    args = ap.parse_args()
    s = requests.Session()
    arn = call(s, args.endpoint, "DynamoDB_20120810.DescribeTable", {"TableName": args.table})["Table"]["LatestStreamArn"]
    shards = call(s, args.endpoint, "DynamoDBStreams_20120810.DescribeStream", {"StreamArn": arn})["StreamDescription"]["Shards"]
    c0, t0, records, calls = cpu_seconds(args.pid), time.perf_counter(), 0, 0
    for shard in shards:
        it = call(s, args.endpoint, "DynamoDBStreams_20120810.GetShardIterator",
                  {"StreamArn": arn, "ShardId": shard["ShardId"], "ShardIteratorType": "TRIM_HORIZON"})["ShardIterator"]
        while it:
            page = call(s, args.endpoint, "DynamoDBStreams_20120810.GetRecords", {"ShardIterator": it, "Limit": 1000})
            calls += 1
            records += len(page["Records"])
            if not page["Records"]:
                break
            it = page.get("NextShardIterator")
    wall, cpu = time.perf_counter() - t0, cpu_seconds(args.pid) - c0
    print(f"records={records} GetRecords calls={calls} wall_s={wall:.2f} records_per_s={records / wall:,.0f} "
          f"server_cpu_s={cpu:.2f} server_cpu_us_per_record={cpu * 1e6 / max(records, 1):.1f}")


if __name__ == "__main__":
    main()
