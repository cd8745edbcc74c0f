#!/usr/bin/env python3
"""Runs the same load-generator workloads against dynarock, dynalite (LevelDB and in-memory) and
moto, one server after another on loopback, and prints the machine (CPUs, idle driver, and the
guest's halt polling, which decides one-connection latency) and one Markdown table: req/s per
server with dynarock's ratio, p50/p99 latency, server CPU per request, startup time (launch to
the first successful ListTables), idle RSS, the highest RSS seen under the put load, peak RSS,
and the data directory's size once the server has stopped (persistent servers). Then dynarock's
performance targets, each with the figure measured and whether it is met.

A workload `NAME@C` runs with C connections instead of --concurrency (`get@1`: one client).
The server `bare` is the floor, the load generator's `bare-http` (a fixed answer to every
request): it runs the GetItem workloads only.

usage: bench/compare.py [--servers dynarock,dynalite,dynalite-mem,moto,bare] [--items 20000]
                        [--duration 10] [--concurrency 32] [--workloads get,put,query,get@1,...]
                        [--rounds 1] [--rss-timeline]

Large data: `--items 2000000` (or 10,000,000) preloads that many items into each of the two
benchmark tables with BatchWriteItem from every connection at full speed (here 4,000,000 items in
about 44 s, 20,000,000 in 269 s, warm-up included), the path a client bulk-loading DynamoDB takes, so the server
measured is the one that took the load (compactions included); the preload's time is reported. A
server's memory budget comes from its environment (DYNAROCK_MEMORY_MB).
Needs: a release build (cargo build --release), the load generator
(cargo build --release --manifest-path bench/loadgen/Cargo.toml), dynalite (npm) and moto (pip).
"""
import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request

import requests

from procstat import cpu_seconds
from scan_full import scan, tenths

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Built where cargo puts them: CARGO_TARGET_DIR when set, else each crate's own target/.
TARGET = os.environ.get("CARGO_TARGET_DIR")
RELEASE = os.path.join(TARGET or os.path.join(ROOT, "target"), "release")
LOADGEN_RELEASE = os.path.join(TARGET or os.path.join(ROOT, "bench", "loadgen", "target"), "release")
LOADGEN = os.path.join(LOADGEN_RELEASE, "dynarock-loadgen")
BARE = os.path.join(LOADGEN_RELEASE, "bare-http")
# Other dynarock builds to measure beside this one (`--binary NAME=PATH`).
BINARIES = {}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# dynarock throttles as DynamoDB does, and DynamoDB caps an on-demand table at 40,000 read and
# 40,000 write units a second unless the account's quota is raised. The benchmark measures the
# server, not that quota: it raises it (the checks still run on every request). Builds that
# predate throttling ignore these variables.
UNCAPPED = {"DYNAROCK_TABLE_READ_QUOTA": "1e12", "DYNAROCK_TABLE_WRITE_QUOTA": "1e12"}


def command(name, port, data):
    if name in BINARIES:
        return [BINARIES[name], "serve", "--port", str(port), "--data-dir", data, "--log-level", "warn"]
    return {
        "dynarock": [os.path.join(RELEASE, "dynarock"), "serve", "--port", str(port),
                     "--data-dir", data, "--log-level", "warn"],
        "dynalite": ["dynalite", "--port", str(port), "--path", data],
        "dynalite-mem": ["dynalite", "--port", str(port)],
        "moto": ["moto_server", "-p", str(port)],
        "bare": [BARE, str(port)],
    }[name]


def dynamodb_request(url, operation, body):
    """A DynamoDB request signed with the load generator's keys (AKIDLOADGEN/loadgen-secret), so
    a server that verifies signatures takes it as well as one that does not."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=url, data=json.dumps(body).encode(), headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"DynamoDB_20120810.{operation}"})
    SigV4Auth(Credentials("AKIDLOADGEN", "loadgen-secret"), "dynamodb", "us-east-1").add_auth(request)
    return urllib.request.Request(url, data=request.body, method="POST", headers=dict(request.headers.items()))


def list_tables_ok(url):
    try:
        with urllib.request.urlopen(dynamodb_request(url, "ListTables", {}), timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def rss_mib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


class RssSampler:
    """The highest RSS of a process while a block runs, sampled every 50 ms, and one sample a
    second for a timeline."""

    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, 0.0, threading.Event()
        self.timeline = []

    def __enter__(self):
        def sample():
            ticks = 0
            while not self.stop.wait(0.05):
                rss = rss_mib(self.pid, "VmRSS")
                self.peak = max(self.peak, rss)
                ticks += 1
                if ticks % 20 == 0:
                    self.timeline.append(rss)
        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def cache_counters(url):
    """A dynarock server's cache and stall counters from /metrics, by metric name (and kind of
    block); None for servers without them."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    pattern = (r'^((?:dynarock_item_cache_|rocksdb_block_cache_|rocksdb_stall_)\w+(?:\{kind="\w+"\})?) (\S+)$')
    found = {name: float(value) for name, value in re.findall(pattern, text, re.M)}
    return found if "dynarock_item_cache_hits_total" in found else None


def cache_figures(before, after):
    """What a workload did to the caches: hit rates (None without lookups) of the item cache, of
    data blocks and of index and filter blocks in the block cache; the block cache's bytes; and
    seconds writes were stalled."""
    def delta(name):
        return after.get(name, 0) - before.get(name, 0)

    def blocks(what, kinds):
        return sum(delta(f'rocksdb_block_cache_{what}_total{{kind="{k}"}}') for k in kinds)

    def rate(hits, misses):
        return hits / (hits + misses) if hits + misses > 0 else None

    return {"item_hits": rate(delta("dynarock_item_cache_hits_total"), delta("dynarock_item_cache_misses_total")),
            "data_hits": rate(blocks("hits", ["data"]), blocks("misses", ["data"])),
            "meta_hits": rate(blocks("hits", ["index", "filter"]), blocks("misses", ["index", "filter"])),
            "block_cache_mib": after.get("rocksdb_block_cache_usage_bytes", 0) / (1 << 20),
            "stall_s": delta("rocksdb_stall_seconds_total") if "rocksdb_stall_seconds_total" in after else None}


def dir_mib(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    return total / (1 << 20)


def server_pid(proc):
    """The process doing the work (npm-style launchers may wrap it in a shell)."""
    try:
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    except OSError:
        children = []
    return int(children[0]) if children else proc.pid


def split_workload(workload):
    """`get@1` -> ("get", 1); `get` -> ("get", None)."""
    name, _, conns = workload.partition("@")
    return name, int(conns) if conns else None


def loadgen(url, args, workload, setup):
    out = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name
    name, conns = split_workload(workload)
    cmd = [LOADGEN, url, "--workload", name, "--items", str(args.items), "--distribution", args.distribution,
           "--concurrency", str(conns or args.concurrency), "--duration", str(args.duration), "--json", out]
    if not setup:
        cmd.append("--no-setup")
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen {workload}: {done.stderr.strip()[-300:]}")
    with open(out) as f:
        result = json.load(f)
    os.unlink(out)
    return result


def measure(name, args):
    port, data = free_port(), tempfile.mkdtemp(prefix=f"bench-{name}-")
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    budget = {"DYNAROCK_MEMORY_MB": str(args.memory[name])} if name in args.memory else {}
    proc = subprocess.Popen(command(name, port, data), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **UNCAPPED, **budget})
    try:
        while not list_tables_ok(url):
            if proc.poll() is not None or time.perf_counter() - started > 60:
                raise SystemExit(f"{name} did not start")
            time.sleep(0.005)
        row = {"startup_ms": (time.perf_counter() - started) * 1000}
        time.sleep(1)
        pid = server_pid(proc)
        row["idle_rss"] = rss_mib(pid, "VmRSS")
        bare = name == "bare"
        # The preload: BatchWriteItem from every connection at full speed (the load generator's
        # setup), timed, so large-data runs report their load rate too.
        loaded = time.perf_counter()
        warm_up = argparse.Namespace(**{**vars(args), "duration": min(args.duration, 10)})
        loadgen(url, warm_up, "get", setup=not bare)  # preload + warm-up
        row["load_s"] = time.perf_counter() - loaded
        if name in args.pitr:
            for table in ("loadgen_kv", "loadgen_q"):
                spec = {"PointInTimeRecoveryEnabled": True}
                call = dynamodb_request(url, "UpdateContinuousBackups",
                                        {"TableName": table, "PointInTimeRecoverySpecification": spec})
                with urllib.request.urlopen(call, timeout=10) as r:
                    assert r.status == 200
        for w in args.workloads:
            if bare and split_workload(w)[0] != "get":
                continue
            before, counters = cpu_seconds(pid), cache_counters(url)
            with RssSampler(pid) as rss:
                r = loadgen(url, args, w, setup=False)
            used = cpu_seconds(pid) - before
            after = cache_counters(url)
            row[w] = {"rps": r["requests_per_second"], "p50": r["latency_ms"]["p50"],
                      "p99": r["latency_ms"]["p99"], "errors": r["errors"],
                      "cpu_us": used * 1e6 / max(r["requests"], 1), "rss": rss.peak,
                      "timeline": rss.timeline,
                      "caches": cache_figures(counters, after) if counters and after else None}
        if args.scan and not bare:
            # After the workloads, so the scan meets a table that compaction has been reshaping.
            started, cpu = time.perf_counter(), cpu_seconds(pid)
            with requests.Session() as session:
                items, pages = scan(url, "loadgen_kv", session)
            row["scan"] = {"items": items, "seconds": time.perf_counter() - started,
                           "cpu_us": (cpu_seconds(pid) - cpu) * 1e6 / max(items, 1), "tenths": tenths(pages)}
        row["peak_rss"] = rss_mib(pid, "VmHWM")
        proc.terminate()
        proc.wait(timeout=30)
        persistent = name in ("dynarock", "dynalite") or name in BINARIES
        row["data_mib"] = dir_mib(data) if persistent else None
        return row
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


def median_row(rows, workloads):
    """One row from several runs of a server: medians, except the highest RSS seen."""
    errors = [r["error"] for r in rows if "error" in r]
    if errors:
        return {"error": errors[0]}
    med = statistics.median
    workloads = [w for w in workloads if w in rows[0]]
    out = {w: {k: med([r[w][k] for r in rows]) for k in ("rps", "p50", "p99", "cpu_us")} for w in workloads}
    for w in workloads:
        out[w]["errors"] = sum(r[w]["errors"] for r in rows)
        out[w]["rss"] = max(r[w]["rss"] for r in rows)
    out["startup_ms"] = med([r["startup_ms"] for r in rows])
    out["load_s"] = med([r["load_s"] for r in rows])
    out["idle_rss"] = med([r["idle_rss"] for r in rows])
    out["peak_rss"] = max(r["peak_rss"] for r in rows)
    sizes = [r["data_mib"] for r in rows if r["data_mib"] is not None]
    out["data_mib"] = med(sizes) if sizes else None
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", default="dynarock,dynalite,dynalite-mem,moto")
    ap.add_argument("--workloads", default="get,put,query,update,batch-write,mix,ycsb-a,ycsb-b")
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure every server this many times, interleaved, and report medians "
                         "(a noisy spell of the machine then hits every server alike)")
    ap.add_argument("--binary", action="append", default=[], metavar="NAME=PATH",
                    help="another dynarock binary, measured as server NAME (name it in --servers), "
                         "e.g. a build from before a change")
    ap.add_argument("--pitr", default="", metavar="NAMES",
                    help="servers (comma-separated) measured with point-in-time recovery on for the "
                         "benchmark tables, e.g. `--servers off,on --binary off=B --binary on=B --pitr on`")
    ap.add_argument("--distribution", default="uniform", choices=["uniform", "zipfian"],
                    help="how the workloads pick keys: every item alike, or YCSB's zipfian (a few "
                         "items hot, as in most real tables)")
    ap.add_argument("--memory", action="append", default=[], metavar="NAME=MB",
                    help="run server NAME with this memory budget (--memory-mb), e.g. two names for "
                         "one binary: `--binary small=B --binary big=B --memory big=2048`")
    ap.add_argument("--rss-timeline", action="store_true",
                    help="also print each server's RSS through each workload (last round), a sample "
                         "a second, for long runs against large data (`--items 10000000 --duration 300`)")
    ap.add_argument("--scan", action="store_true",
                    help="after the workloads, Scan the whole key-value table page by page and report "
                         "its rate through each tenth (a steady scan keeps it flat)")
    ap.add_argument("--chart", metavar="PATH",
                    help="also draw the table as a chart (SVG or PNG by the file's extension; needs "
                         "matplotlib): requests per second and p99 latency per workload and server")
    args = ap.parse_args()
    args.pitr = set(filter(None, args.pitr.split(",")))
    args.memory = {n: int(mb) for n, _, mb in (m.partition("=") for m in args.memory)}
    for spec in args.binary:
        name, _, path = spec.partition("=")
        BINARIES[name] = os.path.abspath(path)
    args.workloads = args.workloads.split(",")
    servers = args.servers.split(",")
    runs = {s: [] for s in servers}
    for _ in range(args.rounds):
        for s in servers:
            try:
                runs[s].append(measure(s, args))
            except (RuntimeError, SystemExit) as e:
                runs[s].append({"error": str(e)})
    rows = {s: median_row(r, args.workloads) for s, r in runs.items()}
    failed = {s: r["error"] for s, r in rows.items() if "error" in r}
    servers = [s for s in servers if s not in failed]
    base = rows.get("dynarock") if "dynarock" in servers else None
    print(machine() + "\n")
    print(f"| | {' | '.join(servers)} |")
    print(f"|---|{'---:|' * len(servers)}")
    for w in args.workloads:
        cells = []
        for s in servers:
            r = rows[s].get(w)
            if r is None:
                cells.append("-")
                continue
            cell = f"{r['rps']:,.0f} req/s, p50 {r['p50']:.2f} / p99 {r['p99']:.2f} ms, {r['cpu_us']:.1f} µs CPU"
            if r["errors"]:
                cell += f", {r['errors']} errors"
            if base and s != "dynarock" and r["rps"] > 0 and w in base:
                cell += f" (dynarock {base[w]['rps'] / r['rps']:.1f}x)"
            cells.append(cell)
        print(f"| {w} | {' | '.join(cells)} |")
    footer = [("preload (2 x --items by BatchWriteItem, and a warm-up)", "s", lambda r: r["load_s"]),
              ("startup to first answer", "ms", lambda r: r["startup_ms"]),
              ("idle RSS", "MiB", lambda r: r["idle_rss"]),
              ("peak RSS", "MiB", lambda r: r["peak_rss"]),
              ("data dir after the run", "MiB", lambda r: r["data_mib"])]
    if "put" in args.workloads:
        footer.insert(2, ("RSS under the put load", "MiB", lambda r: r["put"]["rss"] if "put" in r else None))
    for label, unit, value in footer if servers else []:
        cells = ["-" if value(rows[s]) is None else f"{value(rows[s]):,.0f} {unit}" for s in servers]
        print(f"| {label} | {' | '.join(cells)} |")
    for s in servers:
        for w in args.workloads:
            caches = runs[s][-1].get(w, {}).get("caches")
            if caches:
                rates = ", ".join(f"{label} {'-' if caches[k] is None else format(caches[k], '.0%')}"
                                  for label, k in (("item cache", "item_hits"), ("data blocks", "data_hits"),
                                                   ("index and filter blocks", "meta_hits")))
                stalls = "" if caches["stall_s"] is None else f"; writes stalled {caches['stall_s']:.1f} s"
                print(f"\n{s}, {w}: hit rates: {rates}; block cache in use {caches['block_cache_mib']:.0f} MiB"
                      f"{stalls}", end="")
    print()
    for s in servers:
        done = runs[s][-1].get("scan")
        if done:
            rates = done["tenths"]
            print(f"\n{s}, full Scan of {done['items']:,} items: {done['items'] / done['seconds']:,.0f} items/s, "
                  f"{done['cpu_us']:.1f} µs CPU per item; items/s per tenth: "
                  f"{' '.join(f'{r:,.0f}' for r in rates)} (slowest/fastest {min(rates) / max(rates):.2f})")
    for s in servers if args.rss_timeline else []:
        for w in args.workloads:
            line = runs[s][-1].get(w, {}).get("timeline")
            if line:
                every = max(1, len(line) // 30)
                shown = " ".join(f"{v:.0f}" for v in line[::every])
                print(f"\n{s}, RSS during {w} (MiB, every {every} s): {shown}")
    for s, e in failed.items():
        print(f"\n{s} failed: {e}")
    if args.chart and servers:
        chart(args.chart, args.workloads, servers, rows)
    if base:
        print_targets(base, {s: rows[s] for s in servers})


def chart(path, workloads, servers, rows):
    """Two panels, a group of bars per workload and a bar per server: req/s, and p99 latency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [w for w in workloads if any(w in rows[s] for s in servers)]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6.5), constrained_layout=True)
    width = 0.8 / len(servers)
    for i, s in enumerate(servers):
        xs = [j + (i - (len(servers) - 1) / 2) * width for j in range(len(shown))]
        top.bar(xs, [rows[s].get(w, {}).get("rps", 0) for w in shown], width, label=s)
        bottom.bar(xs, [rows[s].get(w, {}).get("p99", 0) for w in shown], width, label=s)
    for ax, label in ((top, "requests per second (higher is better)"),
                      (bottom, "p99 latency, ms (lower is better)")):
        ax.set_xticks(range(len(shown)), shown)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    # The slowest servers are orders of magnitude apart: latency on a log scale.
    bottom.set_yscale("log")
    top.legend()
    top.set_title(f"bench/compare.py, 32 connections ({machine().splitlines()[0]})", fontsize=9)
    fig.savefig(path)
    print(f"\nchart: {path}")


MB_PER_MIB = 1.048576


def read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def machine():
    """What decides the figures besides the servers. One-connection latency is mostly the time to
    wake a thread on an idle core: in a virtual machine that idles its vCPUs by halting, each wake
    costs tens of microseconds unless the guest polls before halting (haltpoll)."""
    cpuinfo = read_text("/proc/cpuinfo") or ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    idle = read_text("/sys/devices/system/cpu/cpuidle/current_driver")
    poll_ns = read_text("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
    out = f"machine: {os.cpu_count()} CPUs, {model.group(1) if model else 'unknown model'}"
    if idle:
        out += f", cpuidle {idle}"
    if poll_ns is not None:
        out += f", guest halt polling {int(poll_ns) // 1000} µs"
    return out


def targets(dr, rows):
    """dynarock's performance targets: (target, None if not measured, else (figure, met))."""
    def figure(workload, key):
        return dr[workload][key] if workload in dr else None

    def ratio(workload, other):
        o = rows.get(other, {}).get(workload)
        if workload not in dr or not o or o["rps"] <= 0:
            return None
        return dr[workload]["rps"] / o["rps"]
    out = []
    for w, limit in (("get", 20), ("put", 30), ("query", 50)):
        v = figure(w, "cpu_us")
        out.append((f"{w}: server CPU per request at most {limit} µs",
                    None if v is None else (f"{v:.1f} µs", v <= limit)))
    for w, times in (("get", 6), ("put", 6), ("query", 10)):
        r = ratio(w, "dynalite")
        out.append((f"{w}: at least {times}x dynalite's req/s", None if r is None else (f"{r:.1f}x", r >= times)))
    r = ratio("get", "bare")
    out.append(("get: at least 60% of the bare HTTP server's req/s",
                None if r is None else (f"{r:.0%}", r >= 0.6)))
    floor = rows.get("bare", {}).get("get@1")
    for w in ("get@1", "put@1"):
        p50, p99 = figure(w, "p50"), figure(w, "p99")
        measured = None
        if p50 is not None:
            shown = f"{p50:.3f} / {p99:.3f} ms"
            if floor:
                shown += f" (bare server's GetItem: {floor['p50']:.3f} / {floor['p99']:.3f})"
            measured = (shown, p50 < 0.1 and p99 < 1)
        out.append((f"{w}: p50 under 0.1 ms, p99 under 1 ms", measured))
    out.append(("startup to first answer, empty data dir, under 50 ms",
                (f"{dr['startup_ms']:.0f} ms", dr["startup_ms"] < 50)))
    out.append(("idle RSS under 30 MB", (f"{dr['idle_rss']:.0f} MiB", dr["idle_rss"] * MB_PER_MIB < 30)))
    rss = figure("put", "rss")
    out.append(("RSS under the put load under 200 MB",
                None if rss is None else (f"{rss:.0f} MiB", rss * MB_PER_MIB < 200)))
    dl = rows.get("dynalite", {}).get("data_mib")
    out.append(("data dir no larger than dynalite's",
                None if dl is None or dr["data_mib"] is None
                else (f"{dr['data_mib']:.0f} against {dl:.0f} MiB", dr["data_mib"] <= dl)))
    return out


def print_targets(dr, rows):
    print("\n| target | dynarock | met |\n|---|---:|---|")
    for target, measured in targets(dr, rows):
        if measured is None:
            print(f"| {target} | not measured | - |")
        else:
            print(f"| {target} | {measured[0]} | {'yes' if measured[1] else '**no**'} |")
    bare = rows.get("bare", {}).get("get")
    if bare and "get" in dr and dr["get"]["rps"] >= 0.9 * bare["rps"]:
        print("\nGetItem ran nearly as fast against dynarock as against the bare server: the load "
              "generator, on the same cores, bounds both, so the req/s ratios understate dynarock's "
              "lead. Compare CPU per request, or use a cheaper client (wrk: bench/rounds.sh).")


if __name__ == "__main__":
    main()
