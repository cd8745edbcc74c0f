#!/usr/bin/env python3
"""Time from launch to the first successful ListTables, over several launches of one server
command (e.g. on a data directory holding 1 GB), and the process's RSS once it answers.

usage: bench/startup.py [--runs 5] PORT -- COMMAND ...
e.g.   bench/startup.py 8104 -- target/release/dynarock serve --port 8104 --data-dir big-data
"""
import argparse
import statistics
import subprocess
import time

from compare import list_tables_ok, rss_mib


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("port", type=int)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    command = [c for c in args.command if c != "--"]
    url = f"http://127.0.0.1:{args.port}"
    times, rss = [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while not list_tables_ok(url):
                if proc.poll() is not None or time.perf_counter() - started > 60:
                    raise SystemExit("the server did not start")
                time.sleep(0.002)
            times.append((time.perf_counter() - started) * 1000)
            rss.append(rss_mib(proc.pid, "VmRSS"))
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    print(f"startup to first answer: median {statistics.median(times):.0f} ms "
          f"(min {min(times):.0f}, max {max(times):.0f}, {args.runs} runs); RSS then {statistics.median(rss):.0f} MiB")


if __name__ == "__main__":
    main()
