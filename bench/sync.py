#!/usr/bin/env python3
"""Durable mode (`serve --sync`): PutItem req/s at 1 and many writers, on the disk as it is and
with bench/slowsync adding a delay to every fsync (a disk without a write cache), and how many
writes share each fdatasync (counted with `perf stat` when perf can trace syscalls). Several
server binaries can be compared, interleaved over rounds; medians are printed.

The client is the load generator (a connection per writer on two threads, signing every
request: on 2 cores it competes with the server for CPU) or wrk's put scenario (`--client wrk`,
unsigned requests costing the client less still, as when clients run elsewhere).

usage: bench/sync.py [--binaries target/release/dynarock,...] [--fsync-us 0,2000]
                     [--writers 1,32,64] [--duration 10] [--rounds 1] [--client loadgen|wrk]
Needs: a release build, the load generator or wrk, and cc (the shim is built into a temporary
folder).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request

from compare import LOADGEN, ROOT, dynamodb_request, free_port, list_tables_ok, loadgen
from run import run_once

WRK_ITEMS = 2000

SHIM_SOURCE = os.path.join(ROOT, "bench", "slowsync", "slow_fsync.c")


def build_shim(folder):
    shim = os.path.join(folder, "slow_fsync.so")
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", shim, SHIM_SOURCE, "-ldl"], check=True)
    return shim


def create_wrk_table(url):
    """The table of bench/wrk/put.lua (`bench_kv`, hash key `pk`)."""
    body = {"TableName": "bench_kv", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}
    urllib.request.urlopen(dynamodb_request(url, "CreateTable", body), timeout=10).close()


def put_load(url, pid, client, writers, duration):
    """PutItem at `writers` connections: (requests, req/s, p50 ms, p99 ms)."""
    if client == "wrk":
        wrk = argparse.Namespace(threads=min(writers, 2), conns=writers, duration=duration, pid=pid)
        rps, p50_us, p99_us, _, _ = run_once(url, "put", wrk)
        return rps * duration, rps, p50_us / 1000, p99_us / 1000
    load = argparse.Namespace(items=WRK_ITEMS, concurrency=writers, duration=duration)
    result = loadgen(url, load, "put", setup=False)
    return (result["requests"], result["requests_per_second"], result["latency_ms"]["p50"],
            result["latency_ms"]["p99"])


def run_one(binary, shim, fsync_us, writers, duration, client):
    port, data = free_port(), tempfile.mkdtemp(prefix="bench-sync-")
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    if fsync_us:
        env.update(LD_PRELOAD=shim, SLOW_FSYNC_US=str(fsync_us))
    proc = subprocess.Popen([binary, "serve", "--sync", "--port", str(port), "--data-dir", data,
                             "--log-level", "warn"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        started = time.perf_counter()
        while not list_tables_ok(url):
            if proc.poll() is not None or time.perf_counter() - started > 60:
                raise SystemExit(f"{binary} did not start")
            time.sleep(0.01)
        if client == "wrk":
            create_wrk_table(url)
            put_load(url, proc.pid, client, writers, 2)  # warm-up
        else:
            load = argparse.Namespace(items=WRK_ITEMS, concurrency=writers, duration=2)
            loadgen(url, load, "put", setup=True)  # tables, preload, warm-up
        perf = subprocess.Popen(["perf", "stat", "-x,", "-e", "syscalls:sys_enter_fdatasync",
                                 "-p", str(proc.pid)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        requests, rps, p50, p99 = put_load(url, proc.pid, client, writers, duration)
        perf.send_signal(2)
        counted = perf.communicate()[1].strip().splitlines()
        fsyncs = int(counted[-1].split(",")[0]) if counted and counted[-1][:1].isdigit() else None
        return {"rps": rps, "p50": p50, "p99": p99, "per_fsync": requests / fsyncs if fsyncs else None}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binaries", default=os.path.join(ROOT, "target", "release", "dynarock"))
    ap.add_argument("--fsync-us", default="0,2000")
    ap.add_argument("--writers", default="1,32,64")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--client", choices=["loadgen", "wrk"], default="loadgen")
    args = ap.parse_args()
    if args.client == "loadgen" and not os.path.exists(LOADGEN):
        raise SystemExit("build the load generator first")
    os.environ["BENCH_ITEMS"] = str(WRK_ITEMS)
    binaries = args.binaries.split(",")
    delays = [int(d) for d in args.fsync_us.split(",")]
    writers = [int(w) for w in args.writers.split(",")]
    folder = tempfile.mkdtemp(prefix="bench-shim-")
    shim = build_shim(folder)
    runs = {}
    try:
        for _ in range(args.rounds):
            for delay in delays:
                for n in writers:
                    for binary in binaries:
                        runs.setdefault((delay, n, binary), []).append(
                            run_one(binary, shim, delay, n, args.duration, args.client))
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    def median(rows, field):
        values = [r[field] for r in rows if r[field] is not None]
        return statistics.median(values) if values else None

    print("| fsync delay | binary | writers | req/s | vs 1 writer | p50 ms | p99 ms | writes per fsync |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for delay in delays:
        for binary in binaries:
            single = median(runs[(delay, writers[0], binary)], "rps")
            for n in writers:
                rows = runs[(delay, n, binary)]
                rps, per = median(rows, "rps"), median(rows, "per_fsync")
                print(f"| +{delay} µs | {os.path.basename(binary)} | {n} | {rps:,.0f} | "
                      f"{rps / single:.1f}x | {median(rows, 'p50'):.2f} | {median(rows, 'p99'):.2f} | "
                      f"{'' if per is None else f'{per:.1f}'} |")


if __name__ == "__main__":
    main()
