#!/usr/bin/env python3
"""Backup and restore times by table size, and what taking a backup costs requests meanwhile.

Starts a dynarock on a fresh data dir (throttling off), preloads the load generator's table
(`loadgen_kv`) with --items items of --item-size bytes, then for each size: times CreateBackup
until AVAILABLE and RestoreTableFromBackup until ACTIVE (items checked), and compares GetItem
throughput over windows in which backups are taken back to back with windows in which none is.

usage: bench/backups.py [--items 100000] [--item-size 1000] [--binary PATH]
"""

import argparse
import json
import os
import socket
import subprocess
import tempfile
import threading
import time

import boto3
from botocore.config import Config

RELEASE = os.path.join(os.environ.get("CARGO_TARGET_DIR") or "target", "release")
LOADGEN = os.path.join(RELEASE, "dynarock-loadgen")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def du(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def loadgen(url, *args):
    out = tempfile.mktemp(suffix=".json")
    done = subprocess.run([LOADGEN, url, *args, "--json", out], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-500:])
    with open(out) as f:
        return json.load(f)


def wait(check, timeout=600):
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise TimeoutError
        time.sleep(0.02)
    return time.monotonic() - started


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--item-size", type=int, default=1000)
    ap.add_argument("--binary", default=os.path.join(RELEASE, "dynarock"))
    ap.add_argument("--window", type=int, default=8, help="seconds of GetItem load per window")
    args = ap.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="bench-backups-") as data:
        server = subprocess.Popen([args.binary, "serve", "--port", str(port), "--data-dir", data,
                                   "--log-level", "warn", "--throttling", "off"])
        try:
            c = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1",
                             aws_access_key_id="AKIDLOADGEN", aws_secret_access_key="loadgen-secret",
                             config=Config(retries={"total_max_attempts": 1}, read_timeout=600))
            wait(lambda: _up(c), 20)
            started = time.monotonic()
            loadgen(url, "--workload", "get", "--items", str(args.items), "--item-size", str(args.item_size),
                    "--duration", "1", "--concurrency", "32")
            loaded = time.monotonic() - started
            table = c.describe_table(TableName="loadgen_kv")["Table"]
            size_mb = table["TableSizeBytes"] / 1e6
            print(f"table: {table['ItemCount']:,} items, {size_mb:,.0f} MB (DynamoDB's size), "
                  f"loaded in {loaded:.1f} s; data dir {du(data) / 1e6:,.0f} MB")

            t0 = time.monotonic()
            arn = c.create_backup(TableName="loadgen_kv", BackupName="bench")["BackupDetails"]["BackupArn"]
            answered = time.monotonic() - t0
            took = wait(lambda: c.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]
                        ["BackupStatus"] == "AVAILABLE") + answered
            print(f"backup: CreateBackup answered in {answered * 1000:.1f} ms, AVAILABLE after {took:.2f} s "
                  f"({size_mb / took:,.0f} MB/s)")

            c.restore_table_from_backup(TargetTableName="restored", BackupArn=arn)
            took = wait(lambda: c.describe_table(TableName="restored")["Table"]["TableStatus"] == "ACTIVE")
            restored = c.describe_table(TableName="restored")["Table"]["ItemCount"]
            assert restored == table["ItemCount"], (restored, table["ItemCount"])
            print(f"restore: ACTIVE after {took:.2f} s ({size_mb / took:,.0f} MB/s), {restored:,} items")
            t0 = time.monotonic()
            c.delete_backup(BackupArn=arn)
            print(f"DeleteBackup answered in {(time.monotonic() - t0) * 1000:.0f} ms")

            # GetItem throughput with and without a backup being taken, alternated.
            for label in ["no backup", "during backups", "no backup", "during backups"]:
                stop = threading.Event()
                taken = []

                def backups():
                    while not stop.is_set():
                        a = c.create_backup(TableName="loadgen_kv", BackupName="load")["BackupDetails"]["BackupArn"]
                        wait(lambda: c.describe_backup(BackupArn=a)["BackupDescription"]["BackupDetails"]
                             ["BackupStatus"] == "AVAILABLE")
                        taken.append(a)
                worker = threading.Thread(target=backups) if label == "during backups" else None
                if worker:
                    worker.start()
                r = loadgen(url, "--workload", "get", "--items", str(args.items), "--item-size",
                            str(args.item_size), "--duration", str(args.window), "--concurrency", "32",
                            "--no-setup")
                stop.set()
                if worker:
                    worker.join()
                for a in taken:
                    c.delete_backup(BackupArn=a)
                print(f"GetItem {label}: {r['requests_per_second']:,.0f} req/s, p99 {r['latency_ms']['p99']:.2f} ms"
                      + (f" ({len(taken)} backups taken)" if worker else ""))
        finally:
            server.terminate()
            server.wait()


def _up(c):
    try:
        c.list_tables()
        return True
    except Exception:
        return False


if __name__ == "__main__":
    main()
