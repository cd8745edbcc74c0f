#!/usr/bin/env python3
"""Runs dynarock's wrk scenarios (bench/wrk/*.lua) against a running server and prints medians:
requests/s, p50/p99 latency and the server's CPU time per request (from /proc, given --pid).
Compare servers by running it against each in one sitting; the ratios are the result.

usage: bench/run.py ENDPOINT --pid PID [--scenarios put,update_add,...] [--reps 3]
                    [--duration 10] [--threads 2] [--conns 32] [--label NAME]
"""
import argparse
import os
import re
import statistics
import subprocess

from procstat import cpu_seconds

HERE = os.path.dirname(os.path.abspath(__file__))


def run_once(endpoint, scenario, args):
    before = cpu_seconds(args.pid)
    out = subprocess.run(
        ["wrk", f"-t{args.threads}", f"-c{args.conns}", f"-d{args.duration}s", "--timeout", "10s",
         "-s", os.path.join(HERE, "wrk", scenario + ".lua"), endpoint],
        capture_output=True, text=True, check=True).stdout
    used = cpu_seconds(args.pid) - before
    line = next((l for l in out.splitlines() if l.startswith("BENCH ")), None)
    if line is None:
        raise SystemExit(f"{scenario}: no result line in wrk output:\n{out}")
    fields = dict(re.findall(r"(\w+)=([\d.]+)", line))
    requests = int(fields["requests"])
    cpu_us = used * 1e6 / max(requests, 1)
    return float(fields["rps"]), int(fields["p50_us"]), int(fields["p99_us"]), cpu_us, int(fields["non2xx"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("endpoint")
    ap.add_argument("--pid", type=int)
    ap.add_argument("--scenarios", default="put,get,conditional_put,update_add,batch_write,transact_write4,"
                                           "transact_get4")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    print(f"| {args.label or args.endpoint} | req/s | p50 ms | p99 ms | server CPU/req | failed |")
    print("|---|---:|---:|---:|---:|---:|")
    for scenario in args.scenarios.split(","):
        runs = [run_once(args.endpoint, scenario, args) for _ in range(args.reps)]
        med = [statistics.median(r[i] for r in runs) for i in range(4)]
        failed = sum(r[4] for r in runs)
        print(f"| {scenario} | {med[0]:,.0f} | {med[1] / 1000:.2f} | {med[2] / 1000:.2f} | "
              f"{med[3]:.0f} µs | {failed} |", flush=True)


if __name__ == "__main__":
    main()
