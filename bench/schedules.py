#!/usr/bin/env python3
"""Schedules on dynarock, on the real clock: the server's CPU while idle with 10,000 rules
defined, and firing lateness (scheduled instant to the function's start) with 1,000 rules due
in the same minutes.

    bench/schedules.py [--rules 1000] [--idle-rules 10000] [--minutes 2]
"""

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time

import boto3

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat-tests"))
from functions import ROLE, zip_of  # noqa: E402

from compare import RELEASE, free_port, list_tables_ok  # noqa: E402
from procstat import cpu_seconds  # noqa: E402

# Appends "<scheduled time> <start ns>" for each firing to $OUT.
LATENESS = """
import os, time

def handler(event, context):
    started = time.time_ns()
    with open(os.environ["OUT"], "a") as f:
        f.write(event["time"] + " " + str(started) + "\\n")
"""


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(RELEASE, "dynarock"))
    ap.add_argument("--rules", type=int, default=1000)
    ap.add_argument("--idle-rules", type=int, default=10_000)
    ap.add_argument("--minutes", type=int, default=2)
    args = ap.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = tempfile.mkdtemp(prefix="bench-schedules-")
    server = subprocess.Popen([args.binary, "serve", "--port", str(port), "--data-dir", data, "--log-level", "warn"])
    try:
        while not list_tables_ok(url):
            time.sleep(0.02)
        kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="b", aws_secret_access_key="b")
        events, lam = boto3.client("events", **kw), boto3.client("lambda", **kw)

        # Idle: rules that fire once a day at noon, defined, and nothing else happening.
        for i in range(args.idle_rules):
            events.put_rule(Name=f"idle-{i}", ScheduleExpression="cron(0 12 * * ? *)")
        time.sleep(1)
        before = cpu_seconds(server.pid)
        time.sleep(10)
        idle_cpu_ms = (cpu_seconds(server.pid) - before) * 1000

        # Lateness: every rule fires each minute into one function.
        out = os.path.join(data, "fired")
        arn = lam.create_function(FunctionName="late", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                  Code={"ZipFile": zip_of({"app.py": LATENESS})},
                                  Environment={"Variables": {"OUT": out}})["FunctionArn"]
        for i in range(args.rules):
            events.put_rule(Name=f"busy-{i}", ScheduleExpression="cron(* * * * ? *)")
            events.put_targets(Rule=f"busy-{i}", Targets=[{"Id": "f", "Arn": arn}])
        now = time.time()
        end = (now // 60 + args.minutes + 1) * 60 + 20
        time.sleep(end - now)
        lateness = []
        with open(out) as f:
            for line in f:
                scheduled, started = line.split()
                due = datetime.datetime.fromisoformat(scheduled.replace("Z", "+00:00")).timestamp()
                lateness.append(int(started) / 1e9 - due)
        firings = len(lateness)
        print(f"idle with {args.idle_rules:,} rules: {idle_cpu_ms:.0f} ms of server CPU in 10 s")
        print(f"{args.rules:,} rules due each minute, {firings:,} firings: scheduled instant to function start "
              f"p50 {percentile(lateness, 0.5) * 1000:.0f} ms, p99 {percentile(lateness, 0.99) * 1000:.0f} ms, "
              f"first {min(lateness) * 1000:.0f} ms, last {max(lateness) * 1000:.0f} ms")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
