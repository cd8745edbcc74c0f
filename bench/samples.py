#!/usr/bin/env python3
"""The two samples, measured end to end on a server of their own (fresh data directory):

- thumbnails: N images uploaded over HTTP as fast as 8 clients can, with the stream trigger's
  ParallelizationFactor 1 and 4; images/s from the first upload to the last thumbnail, and the
  latency from each upload (the upload function's clock) to its thumbnail written (the
  thumbnail function's clock), p50/p99; then the latency again with uploads paced at 10/s, so
  no queue builds up;
- cron job: the archive function run on 20,000 orders older than the cutoff (orders/s), and
  how late the heartbeat (rate(1 minute)) runs after its due time over a few minutes.

    bench/samples.py [--images 300] [--orders 20000] [--heartbeats 4]
"""

import argparse
import concurrent.futures
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from decimal import Decimal

import boto3

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "samples", "cron-job", "src"))
from orders import DAY_MS, order  # noqa: E402

from compare import RELEASE, free_port, list_tables_ok  # noqa: E402

KEYS = dict(region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class Server:
    def __init__(self, binary):
        self.dir = tempfile.TemporaryDirectory(prefix="dynarock-bench-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([binary, "serve", "--port", str(self.port), "--data-dir",
                                      os.path.join(self.dir.name, "data"), "--log-level", "warn"])
        deadline = time.time() + 20
        while not list_tables_ok(self.url):
            if time.time() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        self.dir.cleanup()


def deploy(binary, url, sample, stack, *overrides):
    cmd = [binary, "deploy", os.path.join(ROOT, "samples", sample, "template.yaml"), "--stack-name", stack,
           "--endpoint", url]
    if overrides:
        cmd += ["--parameter-overrides", *overrides]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         env={**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}).stdout
    return dict(line.strip().split(" = ", 1) for line in out.split("Outputs:")[1].splitlines() if " = " in line)


def jpeg(seed):
    from PIL import Image
    buf = io.BytesIO()
    Image.effect_noise((640, 480), 20 + seed % 50).convert("RGB").save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def thumbnails(binary, count, parallelization, pace=None):
    server = Server(binary)
    try:
        out = deploy(binary, server.url, "thumbnails", "thumbnails", f"Parallelization={parallelization}")
        api = out["ApiUrl"]
        images = [jpeg(i) for i in range(16)]

        def upload(i):
            req = urllib.request.Request(f"{api}/images/img-{i:05d}.jpg", data=images[i % len(images)],
                                         headers={"content-type": "image/jpeg"}, method="POST")
            with urllib.request.urlopen(req) as r:
                assert r.status == 201

        db = boto3.resource("dynamodb", endpoint_url=server.url, **KEYS)
        thumbs, originals = db.Table(out["ThumbnailsTable"]), db.Table(out["ImagesTable"])
        if pace:
            for i in range(count):
                upload(i)
                time.sleep(1 / pace)
        else:
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                list(pool.map(upload, range(count)))
        deadline = time.time() + 300
        while thumbs.scan(Select="COUNT")["Count"] < count:
            if time.time() > deadline:
                raise SystemExit("thumbnails did not all appear")
            time.sleep(0.2)
        made = {i["name"]: int(i["createdAt"]) for i in scan(thumbs, "#n, createdAt")}
        uploaded = {i["name"]: int(i["uploadedAt"]) for i in scan(originals, "#n, uploadedAt")}
        latencies = [made[n] - uploaded[n] for n in made]
        span = (max(made.values()) - min(uploaded.values())) / 1000
        return {"images": count, "parallelization": parallelization, "paced_per_s": pace,
                "images_per_s": round(count / span, 1),
                "latency_ms_p50": percentile(latencies, 0.5), "latency_ms_p99": percentile(latencies, 0.99)}
    finally:
        server.stop()


def scan(table, projection):
    args = {"ProjectionExpression": projection, "ExpressionAttributeNames": {"#n": "name"}}
    while True:
        page = table.scan(**args)
        yield from page["Items"]
        if "LastEvaluatedKey" not in page:
            return
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def cron_job(binary, orders, heartbeats):
    server = Server(binary)
    try:
        out = deploy(binary, server.url, "cron-job", "cron-job", "ArchiveAfterDays=2")
        db = boto3.resource("dynamodb", endpoint_url=server.url, **KEYS)
        table = db.Table(out["OrdersTable"])
        now = int(time.time() * 1000)
        with table.batch_writer() as batch:
            for i in range(orders):
                batch.put_item(Item=order(f"o-{i:06d}", now - 3 * DAY_MS - i * 1000, Decimal("12.50")))
        lam = boto3.client("lambda", endpoint_url=server.url, **KEYS)
        event = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}).encode()
        start = time.time()
        r = lam.invoke(FunctionName=out["ArchiveFunction"], Payload=event)
        took = time.time() - start
        result = json.loads(r["Payload"].read())
        assert result.get("archived") == orders, result
        # The heartbeat's lateness: when it ran against when it was due, over a few minutes.
        reports = db.Table(out["ReportsTable"])
        late = []
        seen = None
        deadline = time.time() + 60 * (heartbeats + 1) + 30
        while len(late) < heartbeats and time.time() < deadline:
            item = reports.get_item(Key={"reportId": "heartbeat"}).get("Item")
            if item and item["lastDue"] != seen:
                seen = item["lastDue"]
                due = time.mktime(time.strptime(seen, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
                late.append(int(item["lastRan"]) - int(due * 1000))
            time.sleep(0.5)
        return {"orders": orders, "archive_orders_per_s": round(orders / took), "archive_seconds": round(took, 2),
                "heartbeat_late_ms": late}
    finally:
        server.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default=os.path.join(RELEASE, "dynarock"))
    p.add_argument("--images", type=int, default=300)
    p.add_argument("--orders", type=int, default=20_000)
    p.add_argument("--heartbeats", type=int, default=4)
    p.add_argument("--only-paced", action="store_true", help="just the paced thumbnails run")
    args = p.parse_args()
    if not args.only_paced:
        for parallelization in (1, 4):
            print(json.dumps(thumbnails(args.binary, args.images, parallelization)), flush=True)
    print(json.dumps(thumbnails(args.binary, 100, 1, pace=10)), flush=True)
    if args.only_paced:
        return
    print(json.dumps(cron_job(args.binary, args.orders, args.heartbeats)), flush=True)


if __name__ == "__main__":
    main()
