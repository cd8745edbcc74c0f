"""End to end: the serverless CRON job sample deployed from its SAM template on a server whose
clock the test moves, across three days, with orders of many ages; the archive, the originals
and each day's report checked against a model computed here."""

import datetime
import json
import random
import sys
from decimal import Decimal

import boto3
import pytest
import requests

from deploy import SAMPLES, delete, deploy, stack_name
from util import wait_until

pytestmark = pytest.mark.dynarock_only  # the clock is moved through dynarock's admin endpoint

sys.path.insert(0, str(SAMPLES / "cron-job" / "src"))
from orders import DAY_MS, day_of, order  # noqa: E402

ARCHIVE_AFTER_DAYS = 3


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_cron_job_across_days(manual):
    url, clients, move = manual
    now_ms = requests.get(f"{url}/dynarock/clock", timeout=10).json()["epochMillis"]
    # Start at 00:30 UTC of the next day: the report of "yesterday" runs at 00:05.
    start = (now_ms // DAY_MS + 1) * DAY_MS + 30 * 60_000
    move(to=iso(start))
    stack = stack_name("cron")
    out = deploy(url, SAMPLES / "cron-job" / "template.yaml", stack,
                 "--parameter-overrides", f"ArchiveAfterDays={ARCHIVE_AFTER_DAYS}")
    try:
        check_days(url, move, out, start)
    finally:
        # Its schedules would fire on for every later test that moves this server's clock.
        delete(url, stack)


def check_days(url, move, out, start):
    db = boto3.resource("dynamodb", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")
    orders = db.Table(out.outputs["OrdersTable"])
    archive = db.Table(out.outputs["OrdersArchiveTable"])
    reports = db.Table(out.outputs["ReportsTable"])

    rng = random.Random(7)
    made = {}

    def add_orders(count, newest_ms, span_ms):
        with orders.batch_writer() as batch:
            for i in range(count):
                created = newest_ms - rng.randrange(span_ms) - 1
                oid = f"o-{len(made):05d}"
                item = order(oid, created, Decimal(rng.randrange(100, 50_000)) / 100)
                made[oid] = item
                batch.put_item(Item=item)

    # Orders of up to 10 days old, and more as each day goes by.
    add_orders(400, start, 10 * DAY_MS)
    day_ms = 3_600_000
    for day in range(3):
        day_start = start - 30 * 60_000 + day * DAY_MS
        for _ in range(4):
            move(advance=6 * 3600)
            now = requests.get(f"{url}/dynarock/clock", timeout=10).json()["epochMillis"]
            add_orders(15, now, 6 * day_ms)
        assert day_start < now

    end = requests.get(f"{url}/dynarock/clock", timeout=10).json()["epochMillis"]
    assert end == start + 3 * DAY_MS
    # Every firing up to the end has run: the heartbeat counts one a minute.
    minutes = (end - start) // 60_000

    def heartbeats():
        item = reports.get_item(Key={"reportId": "heartbeat"}).get("Item")
        return int(item["runs"]) if item else 0

    assert wait_until(lambda: heartbeats() >= minutes, timeout=240), heartbeats()
    assert heartbeats() == minutes
    assert reports.get_item(Key={"reportId": "heartbeat"})["Item"]["lastDue"] == iso(end)

    # The model: the last archive run (cron 0/5) was at the end; it took what was older.
    cutoff = end - ARCHIVE_AFTER_DAYS * DAY_MS
    should_archive = {oid for oid, o in made.items() if o["createdAt"] < cutoff}
    assert 0 < len(should_archive) < len(made)

    def archived_ids():
        return {i["orderId"] for i in archive.scan(ConsistentRead=True)["Items"]}

    assert wait_until(lambda: archived_ids() == should_archive, timeout=60), len(archived_ids())
    left = {i["orderId"] for i in orders.scan(ConsistentRead=True)["Items"]}
    assert left == set(made) - should_archive
    sample = archive.get_item(Key={"orderId": sorted(should_archive)[0]})["Item"]
    original = made[sorted(should_archive)[0]]
    assert sample["amount"] == original["amount"] and sample["createdAt"] == original["createdAt"]
    assert "expiresAt" not in sample and sample["archivedAt"] >= original["createdAt"] + ARCHIVE_AFTER_DAYS * DAY_MS

    # One report per day that ended during the run, each matching the orders of that day.
    expected = {}
    for o in made.values():
        expected.setdefault(o["day"], [0, Decimal(0)])
        expected[o["day"]][0] += 1
        expected[o["day"]][1] += o["amount"]
    report_days = [day_of(start + d * DAY_MS) for d in range(3)]
    items = reports.scan(ConsistentRead=True)["Items"]
    daily = {i["day"]: i for i in items if i["reportId"].startswith("daily#")}
    assert sorted(daily) == report_days
    for day in report_days:
        assert (daily[day]["orders"], daily[day]["total"]) == tuple(expected[day]), day
        assert daily[day]["generatedFor"] == iso(day_ms_of(day) + DAY_MS + 5 * 60_000)


def day_ms_of(day):
    return int(datetime.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


def test_repeated_and_overlapping_runs_change_nothing_twice(manual):
    url, clients, move = manual
    stack = stack_name("cron-idem")
    out = deploy(url, SAMPLES / "cron-job" / "template.yaml", stack,
                 "--parameter-overrides", "ArchiveAfterDays=2", "HeartbeatSchedule=rate(1 day)")
    try:
        check_runs(url, clients["lambda"], out)
    finally:
        delete(url, stack)


def check_runs(url, lam, out):
    db = boto3.resource("dynamodb", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")
    orders = db.Table(out.outputs["OrdersTable"])
    now = requests.get(f"{url}/dynarock/clock", timeout=10).json()["epochMillis"]
    with orders.batch_writer() as batch:
        for i in range(60):
            batch.put_item(Item=order(f"old-{i}", now - 5 * DAY_MS - i * 1000, 10))
    event = json.dumps({"time": iso(now)}).encode()
    # Two runs at once: each order moves once, in one run or the other.
    calls = [lam.invoke(FunctionName=out.outputs["ArchiveFunction"], InvocationType="Event", Payload=event)
             for _ in range(2)]
    assert all(c["StatusCode"] == 202 for c in calls)
    again = lam.invoke(FunctionName=out.outputs["ArchiveFunction"], Payload=event)
    assert "FunctionError" not in again, again["Payload"].read()

    def done():
        return len(db.Table(out.outputs["OrdersArchiveTable"]).scan(ConsistentRead=True)["Items"]) == 60 \
            and not orders.scan(ConsistentRead=True)["Items"]

    assert wait_until(done, timeout=60)
    # A report run repeated (a retry) writes one report and leaves it as it was.
    payload = json.dumps({"scheduledTime": iso(now)}).encode()
    first = json.loads(lam.invoke(FunctionName=out.outputs["ReportFunction"], Payload=payload)["Payload"].read())
    second = json.loads(lam.invoke(FunctionName=out.outputs["ReportFunction"], Payload=payload)["Payload"].read())
    assert first["written"] is True and second == {"day": first["day"], "written": False}
