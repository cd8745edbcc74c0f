#!/usr/bin/env python3
"""Stream triggers on dynarock: latency from an acknowledged PutItem to the function's start
(p50/p99), records/s through one mapping (batch size 100, a function that returns at once), and
PutItem throughput with a mapping attached against without, in one sitting.

    bench/triggers.py [--records 50000] [--writes 300] [--duration 8]

It starts its own server on a fresh data directory, and uses the load generator for PutItem.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat-tests"))
from functions import ROLE, zip_of  # noqa: E402

from compare import LOADGEN, RELEASE, dynamodb_request, free_port, list_tables_ok  # noqa: E402

# Writes, for each record, the key and when the handler started (ns) to $OUT.
TIMING = """
import os, time

def handler(event, context):
    started = time.time_ns()
    with open(os.environ["OUT"], "a") as f:
        for r in event["Records"]:
            f.write(r["dynamodb"]["Keys"]["p"]["S"] + " " + str(started) + "\\n")
"""
FAST = "def handler(event, context):\n    return None\n"


def put(url, table, key):
    body = {"TableName": table, "Item": {"p": {"S": key}, "v": {"S": "x" * 100}}}
    with urllib.request.urlopen(dynamodb_request(url, "PutItem", body)) as r:
        r.read()


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def stream_table(ddb, name):
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST",
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    return ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]


def processed(url, uuid):
    req = urllib.request.Request(url + "/dynarock/mappings", headers={
        "X-Amz-Date": "20260101T000000Z",
        "Authorization": "AWS4-HMAC-SHA256 Credential=b/20260101/us-east-1/lambda/aws4_request, "
                         "SignedHeaders=host, Signature=0"})
    with urllib.request.urlopen(req) as r:
        for m in json.load(r)["Mappings"]:
            if m["UUID"] == uuid:
                return m["Stats"]["RecordsProcessed"]
    return 0


def loadgen_put(url, duration):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([LOADGEN, url, "--workload", "put", "--items", "50000", "--duration", str(duration),
                        "--json", out.name, "--no-setup"], check=True, stdout=subprocess.DEVNULL)
        return json.load(open(out.name))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(RELEASE, "dynarock"))
    ap.add_argument("--records", type=int, default=50_000)
    ap.add_argument("--writes", type=int, default=300)
    ap.add_argument("--duration", type=float, default=8)
    args = ap.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = tempfile.mkdtemp(prefix="bench-triggers-")
    server = subprocess.Popen([args.binary, "serve", "--port", str(port), "--data-dir", data,
                               "--log-level", "warn"])
    try:
        while not list_tables_ok(url):
            time.sleep(0.02)
        kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="b", aws_secret_access_key="b")
        ddb, lam = boto3.client("dynamodb", **kw), boto3.client("lambda", **kw)

        # 1. Latency: sequential writes, each timed from its acknowledgement to the handler's start.
        out = os.path.join(data, "timing")
        arn = stream_table(ddb, "latency")
        lam.create_function(FunctionName="timing", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": zip_of({"app.py": TIMING})}, Environment={"Variables": {"OUT": out}})
        lam.create_event_source_mapping(FunctionName="timing", EventSourceArn=arn, StartingPosition="LATEST")
        put(url, "latency", "warmup")
        time.sleep(1)
        acked = {}
        for i in range(args.writes):
            put(url, "latency", f"w{i}")
            acked[f"w{i}"] = time.time_ns()
            time.sleep(0.01)
        deadline = time.time() + 30
        started = {}
        while time.time() < deadline and len(started) < args.writes:
            time.sleep(0.1)
            with open(out) as f:
                started = dict(line.split() for line in f if line.startswith("w"))
        latencies = [(int(started[k]) - acked[k]) / 1e6 for k in acked if k in started]

        # 2. Throughput of one mapping over a preloaded stream.
        arn = stream_table(ddb, "backlog")
        table = boto3.resource("dynamodb", **kw).Table("backlog")
        with table.batch_writer() as batch:
            for i in range(args.records):
                batch.put_item(Item={"p": f"r{i}", "v": "x" * 100})
        lam.create_function(FunctionName="fast", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": zip_of({"app.py": FAST})})
        began = time.perf_counter()
        mapping = lam.create_event_source_mapping(FunctionName="fast", EventSourceArn=arn,
                                                  StartingPosition="TRIM_HORIZON", BatchSize=100)
        while processed(url, mapping["UUID"]) < args.records:
            time.sleep(0.05)
        rate = args.records / (time.perf_counter() - began)

        # 3. PutItem at 32 connections without and with a mapping on the table (the load
        # generator's table, given a stream for the second run).
        subprocess.run([LOADGEN, url, "--workload", "put", "--items", "50000", "--duration", "1"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        without = loadgen_put(url, args.duration)
        ddb.update_table(TableName="loadgen_kv",
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
        kv_arn = ddb.describe_table(TableName="loadgen_kv")["Table"]["LatestStreamArn"]
        stream_only = loadgen_put(url, args.duration)
        lam.create_event_source_mapping(FunctionName="fast", EventSourceArn=kv_arn, StartingPosition="LATEST",
                                        BatchSize=100)
        with_mapping = loadgen_put(url, args.duration)

        print(f"write -> function start, {len(latencies)} of {args.writes} sequential writes: "
              f"p50 {percentile(latencies, 0.5):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms, "
              f"max {max(latencies):.1f} ms")
        print(f"one mapping, batch size 100, {args.records:,} records: {rate:,.0f} records/s")
        print("PutItem at 32 connections: "
              f"no stream {without['requests_per_second']:,.0f} req/s (p99 {without['latency_ms']['p99']:.2f} ms), "
              f"stream {stream_only['requests_per_second']:,.0f} (p99 {stream_only['latency_ms']['p99']:.2f}), "
              f"stream and mapping {with_mapping['requests_per_second']:,.0f} "
              f"(p99 {with_mapping['latency_ms']['p99']:.2f})")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
