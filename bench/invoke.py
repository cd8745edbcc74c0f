#!/usr/bin/env python3
"""Lambda Invoke on dynarock, per runtime: warm round trip at one caller (p50/p99), invocations/s
at 32 callers, cold start to first answer, and the server's RSS with 10 warm instances.

    bench/invoke.py --rust-bootstrap PATH [--duration 8]

It starts its own in-memory server, creates an echo function per runtime (`provided` from the
stock `lambda_runtime` client built from compat-tests/functions/rust-echo, Python and Node with
dynarock's runtime clients), and drives them with the load generator's `invoke` workload.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import boto3

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat-tests"))
from functions import ECHO_NODE, ECHO_PY, ROLE, zip_of  # noqa: E402

from compare import LOADGEN, RELEASE, free_port, list_tables_ok, rss_mib  # noqa: E402
from procstat import cpu_seconds  # noqa: E402


def loadgen(url, function, concurrency, duration):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([LOADGEN, url, "--workload", "invoke", "--function", function, "--items", "1000",
                        "--concurrency", str(concurrency), "--duration", str(duration), "--json", out.name],
                       check=True, stdout=subprocess.DEVNULL)
        return json.load(open(out.name))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(RELEASE, "dynarock"))
    ap.add_argument("--rust-bootstrap", required=True, help="the built rust-echo `bootstrap` binary")
    ap.add_argument("--duration", type=float, default=8)
    args = ap.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([args.binary, "serve", "--in-memory", "--port", str(port), "--log-level", "warn"])
    try:
        while not list_tables_ok(url):
            time.sleep(0.02)
        lam = boto3.client("lambda", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id="bench", aws_secret_access_key="bench")
        with open(args.rust_bootstrap, "rb") as f:
            rust = f.read()
        functions = {
            "provided (lambda_runtime)": ("provided.al2023", "bootstrap", {"bootstrap": (rust, 0o755)}),
            "python3.12": ("python3.12", "app.handler", {"app.py": ECHO_PY.replace('print("got", json.dumps(event))', "")}),
            "nodejs20.x": ("nodejs20.x", "index.handler", {"index.js": ECHO_NODE.replace('console.log("got", JSON.stringify(event));', "")}),
        }
        # Ten warm instances of one function on the fresh server: ten concurrent callers force ten.
        lam.create_function(FunctionName="bench_ten", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": zip_of({"app.py": "import time\ndef handler(e, c):\n    time.sleep(0.2)\n"})})
        idle_before = rss_mib(server.pid, "VmRSS")
        loadgen(url, "bench_ten", 10, 1)
        time.sleep(0.5)
        rss_ten = rss_mib(server.pid, "VmRSS")

        rows = []
        for label, (runtime, handler, files) in functions.items():
            name = "bench_" + runtime.replace(".", "_")
            lam.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
                                Code={"ZipFile": zip_of(files)}, Timeout=30)
            started = time.perf_counter()
            lam.invoke(FunctionName=name, Payload=b"{}")
            cold_ms = (time.perf_counter() - started) * 1000
            one = loadgen(url, name, 1, args.duration)
            cpu_before = cpu_seconds(server.pid)
            many = loadgen(url, name, 32, args.duration)
            server_cpu_us = (cpu_seconds(server.pid) - cpu_before) / max(many["requests"], 1) * 1e6
            rows.append((label, cold_ms, one, many, server_cpu_us))
        print("| runtime | cold start to first answer | warm p50 / p99 at 1 caller | invocations/s at 32 callers (p50 / p99) | server CPU per invocation |")
        print("|---|---:|---:|---:|---:|")
        for label, cold_ms, one, many, cpu_us in rows:
            print(f"| {label} | {cold_ms:.0f} ms | {one['latency_ms']['p50']:.2f} / {one['latency_ms']['p99']:.2f} ms "
                  f"| {many['requests_per_second']:,.0f} ({many['latency_ms']['p50']:.2f} / {many['latency_ms']['p99']:.2f} ms)"
                  f"{', ' + str(many['errors']) + ' errors' if many['errors'] else ''} | {cpu_us:.0f} µs |")
        print(f"\nserver RSS: {idle_before:.0f} MiB idle, {rss_ten:.0f} MiB with 10 warm Python instances "
              f"(the instances' own memory is theirs, not the server's); {rss_mib(server.pid, 'VmRSS'):.0f} MiB "
              "after the runs above (their logs are kept, at most 48 MiB)")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
