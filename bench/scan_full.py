#!/usr/bin/env python3
"""Full Scan of a table, page by page, timed: wall time, the rate through each tenth of the
table (a steady scan keeps it flat from the first page to the last) and, given the server's
PID, the server's CPU time (user + system, from /proc) spent answering it.

usage: scan_full.py ENDPOINT [--table bench_kv] [--pid PID] [--reps 3]
"""
import argparse
import json
import statistics
import time

import requests

from procstat import cpu_seconds

HEADERS = {
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": "DynamoDB_20120810.Scan",
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/dynamodb/aws4_request, "
                     "SignedHeaders=host;x-amz-date;x-amz-target, Signature=" + "0" * 64,
    "X-Amz-Date": "20260101T000000Z",
}


def scan(endpoint, table, session):
    """Reads every page; returns (items, [(items, seconds) per page])."""
    items, pages, start = 0, [], None
    while True:
        body = {"TableName": table}
        if start:
            body["ExclusiveStartKey"] = start
        began = time.perf_counter()
        r = session.post(endpoint, data=json.dumps(body), headers=HEADERS, timeout=60)
        r.raise_for_status()
        page = r.json()
        pages.append((page["Count"], time.perf_counter() - began))
        items += page["Count"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items, pages


def tenths(pages):
    """Items per second through each tenth of the pages, first to last."""
    n = len(pages)
    parts = [pages[i * n // 10:(i + 1) * n // 10] for i in range(10)]
    return [sum(c for c, _ in p) / max(sum(s for _, s in p), 1e-9) for p in parts if p]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("endpoint")
    ap.add_argument("--table", default="bench_kv")
    ap.add_argument("--pid", type=int)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    session = requests.Session()
    walls, cpus = [], []
    for _ in range(args.reps):
        c0, t0 = cpu_seconds(args.pid), time.perf_counter()
        items, pages = scan(args.endpoint, args.table, session)
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_seconds(args.pid) - c0)
        rates = tenths(pages)
        print(f"items/s per tenth: {' '.join(f'{r:,.0f}' for r in rates)} "
              f"(slowest/fastest {min(rates) / max(rates):.2f})")
    print(f"items={items} pages={len(pages)} wall_s_median={statistics.median(walls):.3f} "
          f"server_cpu_s_median={statistics.median(cpus):.3f} walls={[round(w, 3) for w in walls]}")


if __name__ == "__main__":
    main()
