#!/usr/bin/env python3
"""Schedules on dynarock, on the real clock: the server's CPU while idle with 10,000
EventBridge Scheduler schedules defined; firing lateness (scheduled instant to the function's
start) of a rate(1 minute) rule over --minutes, and of 1,000 one-time schedules due in the same
minute.

    bench/schedules.py [--burst 1000] [--idle 10000] [--minutes 10]
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

# Appends "<tag> <scheduled time> <start ns>" for each firing to $OUT.
LATENESS = """
import os, time

def handler(event, context):
    started = time.time_ns()
    with open(os.environ["OUT"], "a") as f:
        f.write(event["tag"] + " " + event["time"] + " " + str(started) + "\\n")
"""


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def lateness_of(out, prefix):
    """Seconds from each firing's scheduled instant to its function's start."""
    late = []
    with open(out) as f:
        for line in f:
            tag, scheduled, started = line.split()
            if tag == prefix:
                due = datetime.datetime.fromisoformat(scheduled.replace("Z", "+00:00")).timestamp()
                late.append(int(started) / 1e9 - due)
    return late


def summary(late):
    return (f"{len(late):,} firings: p50 {percentile(late, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(late, 0.99) * 1000:.0f} ms, max {max(late) * 1000:.0f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(RELEASE, "dynarock"))
    ap.add_argument("--burst", type=int, default=1000)
    ap.add_argument("--idle", type=int, default=10_000)
    ap.add_argument("--minutes", type=int, default=10)
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
        scheduler = boto3.client("scheduler", **kw)
        out = os.path.join(data, "fired")
        arn = lam.create_function(FunctionName="late", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                  Code={"ZipFile": zip_of({"app.py": LATENESS})},
                                  Environment={"Variables": {"OUT": out}})["FunctionArn"]
        target = {"Arn": arn, "RoleArn": "arn:aws:iam::000000000000:role/b"}

        # Idle: schedules that fire once a day at noon, defined, and nothing else happening.
        for i in range(args.idle):
            scheduler.create_schedule(Name=f"idle-{i}", ScheduleExpression="cron(0 12 * * ? *)",
                                      FlexibleTimeWindow={"Mode": "OFF"}, Target=target)
        time.sleep(1)
        before = cpu_seconds(server.pid)
        time.sleep(10)
        idle_cpu_ms = (cpu_seconds(server.pid) - before) * 1000

        # A rate(1 minute) rule for the whole run, and a burst of one-time schedules due in the
        # same minute, two minutes from now.
        events.put_rule(Name="every-minute", ScheduleExpression="rate(1 minute)")
        events.put_targets(Rule="every-minute", Targets=[{"Id": "f", "Arn": arn, "InputTransformer": {
            "InputPathsMap": {"t": "$.time"}, "InputTemplate": '{"tag": "rate", "time": "<t>"}'}}])
        burst_at = datetime.datetime.fromtimestamp((time.time() // 60 + 2) * 60, datetime.timezone.utc)
        burst_text = burst_at.strftime("%Y-%m-%dT%H:%M:%S")
        for i in range(args.burst):
            scheduler.create_schedule(Name=f"burst-{i}", ScheduleExpression=f"at({burst_text})",
                                      FlexibleTimeWindow={"Mode": "OFF"},
                                      Target={**target, "Input": '{"tag": "burst", "time": "<aws.scheduler.scheduled-time>"}'})
        time.sleep(args.minutes * 60 + 15)
        print(f"idle with {args.idle:,} schedules: {idle_cpu_ms:.0f} ms of server CPU in 10 s")
        print(f"rate(1 minute) over {args.minutes} minutes, scheduled instant to function start: "
              + summary(lateness_of(out, "rate")))
        print(f"{args.burst:,} one-time schedules due in the same minute: " + summary(lateness_of(out, "burst")))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
