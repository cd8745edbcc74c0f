"""bench/loadgen, the load generator, against the endpoint: every workload runs without an error,
and the tables it creates hold what it preloaded and wrote."""

import json
import os
import subprocess

import pytest

from util import delete_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFEST = os.path.join(ROOT, "bench", "loadgen", "Cargo.toml")
ITEMS = 200
WORKLOADS = ["put", "get", "query", "update", "batch-write", "mix",
             "ycsb-a", "ycsb-b", "ycsb-c", "ycsb-d", "ycsb-e", "ycsb-f"]


@pytest.fixture(scope="module")
def loadgen(client):
    subprocess.run(["cargo", "build", "--release", "--quiet", "--manifest-path", MANIFEST], check=True)
    meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps", "--manifest-path", MANIFEST],
                          check=True, capture_output=True, text=True)
    binary = os.path.join(json.loads(meta.stdout)["target_directory"], "release", "dynarock-loadgen")
    yield binary
    for table in ("loadgen_kv", "loadgen_q"):
        delete_table(client, table)


def run(loadgen, url, tmp_path, *args):
    out = tmp_path / "result.json"
    env = dict(os.environ, AWS_ACCESS_KEY_ID=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
               AWS_SECRET_ACCESS_KEY=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"))
    done = subprocess.run([loadgen, url, "--items", str(ITEMS), "--concurrency", "4", "--json", str(out), *args],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())


def count(client, table):
    return client.scan(TableName=table, Select="COUNT", ConsistentRead=True)["Count"]


def test_setup_creates_and_preloads_the_tables(loadgen, client, url, tmp_path):
    result = run(loadgen, url, tmp_path, "--workload", "get", "--duration", "0.3")
    assert result["errors"] == 0 and result["requests"] > 0
    assert count(client, "loadgen_kv") == ITEMS
    assert count(client, "loadgen_q") == ITEMS
    item = client.get_item(TableName="loadgen_kv", Key={"pk": {"S": "k0000000007"}}, ConsistentRead=True)["Item"]
    assert set(item) == {"pk", "n", "data"}


@pytest.mark.parametrize("workload", WORKLOADS)
def test_workload_runs_without_errors(loadgen, client, url, tmp_path, workload):
    result = run(loadgen, url, tmp_path, "--workload", workload, "--duration", "0.3", "--distribution", "zipfian")
    assert result["errors"] == 0
    assert result["requests"] > 0
    assert result["latency_ms"]["p50"] <= result["latency_ms"]["p99"] <= result["latency_ms"]["max"]


def test_inserts_add_items(loadgen, client, url, tmp_path):
    # YCSB D inserts new keys above the preloaded ones (about 5% of its operations).
    first_insert = {"pk": {"S": f"k{ITEMS:010}"}}
    client.delete_item(TableName="loadgen_kv", Key=first_insert)
    result = run(loadgen, url, tmp_path, "--workload", "ycsb-d", "--duration", "0.5")
    assert result["errors"] == 0
    assert "Item" in client.get_item(TableName="loadgen_kv", Key=first_insert, ConsistentRead=True)


def test_open_loop_holds_the_rate(loadgen, url, tmp_path):
    result = run(loadgen, url, tmp_path, "--workload", "get", "--duration", "1", "--rate", "200")
    assert result["errors"] == 0
    assert 150 <= result["requests"] <= 210
