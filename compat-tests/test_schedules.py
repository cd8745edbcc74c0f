"""EventBridge rules with schedules: the API and its errors, and firings on a clock the test
moves (a server of its own started with --manual-clock)."""

import calendar
import datetime
import json
import os
import subprocess
import time

import boto3
import pytest
import requests

from conftest import NO_RETRIES
from functions import function
from util import create_table, delete_table, expect_error, random_string, random_table_name, wait_until

NOOP = {"app.py": "def handler(e, c):\n    return 1\n"}


@pytest.fixture(scope="session")
def events(url, region):
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                 region_name=region).client("events", endpoint_url=url, config=NO_RETRIES)


def rule_name():
    return "compat-rule-" + random_string(8)


def test_rule_api(events, lam):
    name = rule_name()
    with function(lam, NOOP) as fn:
        fn_arn = lam.get_function(FunctionName=fn)["Configuration"]["FunctionArn"]
        arn = events.put_rule(Name=name, ScheduleExpression="rate(5 minutes)", Description="every 5",
                              Tags=[{"Key": "team", "Value": "a"}])["RuleArn"]
        try:
            assert arn.endswith(f":rule/{name}")
            described = events.describe_rule(Name=name)
            assert {k: described[k] for k in ["Name", "Arn", "ScheduleExpression", "State", "Description",
                                               "EventBusName"]} == \
                {"Name": name, "Arn": arn, "ScheduleExpression": "rate(5 minutes)", "State": "ENABLED",
                 "Description": "every 5", "EventBusName": "default"}
            assert name in [r["Name"] for r in events.list_rules(NamePrefix="compat-rule-")["Rules"]]
            events.disable_rule(Name=name)
            assert events.describe_rule(Name=name)["State"] == "DISABLED"
            events.enable_rule(Name=name)
            put = events.put_targets(Rule=name, Targets=[
                {"Id": "fn", "Arn": fn_arn, "Input": '{"fixed": true}'},
                {"Id": "bad", "Arn": "arn:aws:sqs:us-east-1:000000000000:queue"}])
            assert put["FailedEntryCount"] == 1 and put["FailedEntries"][0]["TargetId"] == "bad"
            assert [t["Id"] for t in events.list_targets_by_rule(Rule=name)["Targets"]] == ["fn"]
            assert events.list_rule_names_by_target(TargetArn=fn_arn)["RuleNames"] == [name]
            assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "a"}]
            events.untag_resource(ResourceARN=arn, TagKeys=["team"])
            assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == []
            with expect_error("ValidationException", "Rule can't be deleted since it has targets."):
                events.delete_rule(Name=name)
            events.remove_targets(Rule=name, Ids=["fn"])
        finally:
            events.delete_rule(Name=name)
    with expect_error("ResourceNotFoundException", f"Rule {name} does not exist on EventBus default."):
        events.describe_rule(Name=name)


@pytest.mark.parametrize("expression", [
    "cron(* * * * * *)", "cron(0 12 ? * ? *)", "cron(0 12 * * *)", "cron(60 * * * ? *)",
    "rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "rate(5 seconds)", "at(2030-01-01T00:00:00)",
])
def test_invalid_schedule_expressions(events, expression):
    with expect_error("ValidationException", "Parameter ScheduleExpression is not valid."):
        events.put_rule(Name=rule_name(), ScheduleExpression=expression)


def test_rule_errors(events):
    with expect_error("ValidationException", "Parameter(s) EventPattern or ScheduleExpression must be specified."):
        events.put_rule(Name=rule_name())
    with expect_error("InvalidEventPatternException"):
        events.put_rule(Name=rule_name(), EventPattern='{"source": "not-a-list"}')
    with expect_error("ResourceNotFoundException"):
        events.put_targets(Rule="compat-rule-none", Targets=[{"Id": "x", "Arn": "arn:aws:lambda:us-east-1:0:function:f"}])
    name = rule_name()
    events.put_rule(Name=name, EventPattern='{"source": ["my.app"]}')
    assert events.describe_rule(Name=name)["EventPattern"] == '{"source": ["my.app"]}'
    events.delete_rule(Name=name)


# Records each firing's event into RECORD_TABLE.
FIRING = """
import json, os, uuid
import boto3

table = boto3.resource("dynamodb").Table(os.environ["RECORD_TABLE"])

def handler(event, context):
    table.put_item(Item={"id": str(uuid.uuid4()), "event": json.dumps(event)})
"""


def firings(ddb, table):
    items = ddb.scan(TableName=table, ConsistentRead=True)["Items"]
    return sorted((json.loads(i["event"]["S"]) for i in items), key=lambda e: e.get("time", ""))


@pytest.mark.dynarock_only  # Moves the server's clock.
def test_the_clock_endpoint(manual, url):
    _, _, move = manual
    before = move(advance=0)
    assert before["manual"] is True
    after = move(advance=90)
    assert after["epochMillis"] - before["epochMillis"] == 90_000
    r = requests.post(f"{manual[0]}/dynarock/clock", json={"set": "2000-01-01T00:00:00Z"}, timeout=10)
    assert r.status_code == 400 and "forwards" in r.json()["message"]
    # The suite's own server runs on the real clock: it refuses to be moved.
    r = requests.post(f"{url}/dynarock/clock", json={"advanceSeconds": 1}, timeout=10)
    assert r.status_code == 400


def _recording_function(c):
    """A table and a function that records each event it gets there: (table, function ARN, cleanup)."""
    table = random_table_name()
    create_table(c["dynamodb"], table, [{"AttributeName": "id", "KeyType": "HASH"}],
                 [{"AttributeName": "id", "AttributeType": "S"}])
    fn = function(c["lambda"], {"app.py": FIRING}, Environment={"Variables": {"RECORD_TABLE": table}}, Timeout=30)
    name = fn.__enter__()
    arn = c["lambda"].get_function(FunctionName=name)["Configuration"]["FunctionArn"]

    def cleanup():
        fn.__exit__(None, None, None)
        delete_table(c["dynamodb"], table)
    return table, arn, cleanup


def _with_recording_rule(manual, expression, target_extra=None):
    _, c, _ = manual
    table, arn, remove_function = _recording_function(c)
    rule = rule_name()
    c["events"].put_rule(Name=rule, ScheduleExpression=expression)
    c["events"].put_targets(Rule=rule, Targets=[{"Id": "t", "Arn": arn, **(target_extra or {})}])

    def cleanup():
        c["events"].remove_targets(Rule=rule, Ids=["t"])
        c["events"].delete_rule(Name=rule)
        remove_function()
    return table, rule, cleanup


@pytest.mark.dynarock_only  # Moves the server's clock.
def test_every_five_minutes_over_a_day_fires_288_times(manual):
    _, c, move = manual
    move(to="2031-06-01T00:00:00Z")
    table, rule, cleanup = _with_recording_rule(manual, "rate(5 minutes)")
    try:
        move(advance=24 * 3600)
        assert wait_until(lambda: len(firings(c["dynamodb"], table)) >= 288, timeout=120)
        time.sleep(0.5)
        events = firings(c["dynamodb"], table)
        assert len(events) == 288
        first = events[0]
        assert {k: first[k] for k in ["version", "detail-type", "source", "region", "detail"]} == \
            {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "region": "us-east-1",
             "detail": {}}
        assert first["resources"] == [c["events"].describe_rule(Name=rule)["Arn"]]
        times = [datetime.datetime.fromisoformat(e["time"].replace("Z", "+00:00")) for e in events]
        assert all(b - a == datetime.timedelta(minutes=5) for a, b in zip(times, times[1:]))
        assert len({e["id"] for e in events}) == 288
    finally:
        cleanup()


@pytest.mark.dynarock_only  # Moves the server's clock.
def test_weekdays_at_noon_over_a_month(manual):
    _, c, move = manual
    move(to="2032-03-01T00:00:00Z")
    table, rule, cleanup = _with_recording_rule(
        manual, "cron(0 12 ? * MON-FRI *)",
        {"InputTransformer": {"InputPathsMap": {"t": "$.time"}, "InputTemplate": '{"time": "<t>"}'}})
    try:
        move(to="2032-04-01T00:00:00Z")
        weekdays = [d for d in range(1, 32) if calendar.weekday(2032, 3, d) < 5]
        assert wait_until(lambda: len(firings(c["dynamodb"], table)) >= len(weekdays), timeout=60)
        time.sleep(0.5)
        events = firings(c["dynamodb"], table)
        assert [e["time"] for e in events] == [f"2032-03-{d:02d}T12:00:00Z" for d in weekdays]
    finally:
        cleanup()


@pytest.mark.dynarock_only  # Moves the server's clock.
def test_last_friday_and_disabled_rules(manual):
    _, c, move = manual
    move(to="2033-01-01T00:00:00Z")
    table, rule, cleanup = _with_recording_rule(manual, "cron(30 9 ? * 6L 2033)", {"Input": '{"fixed": 1}'})
    try:
        move(to="2033-02-01T00:00:00Z")
        assert wait_until(lambda: len(firings(c["dynamodb"], table)) == 1, timeout=60)
        assert firings(c["dynamodb"], table) == [{"fixed": 1}]
        c["events"].disable_rule(Name=rule)
        move(to="2033-03-01T00:00:00Z")
        time.sleep(1)
        assert len(firings(c["dynamodb"], table)) == 1
        c["events"].enable_rule(Name=rule)
        move(to="2033-04-01T00:00:00Z")
        # Only March's last Friday: February's passed while the rule was disabled.
        assert wait_until(lambda: len(firings(c["dynamodb"], table)) == 2, timeout=60)
    finally:
        cleanup()


@pytest.fixture(scope="session")
def scheduler(url, region):
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                 region_name=region).client("scheduler", endpoint_url=url, config=NO_RETRIES)


ROLE = "arn:aws:iam::123456789012:role/scheduler"


def test_scheduler_api(scheduler, lam):
    name, group = "compat-sched-" + random_string(8), "compat-group-" + random_string(6)
    with function(lam, NOOP) as fn:
        target = {"Arn": lam.get_function(FunctionName=fn)["Configuration"]["FunctionArn"], "RoleArn": ROLE,
                  "Input": '{"a": 1}'}
        group_arn = scheduler.create_schedule_group(Name=group, Tags=[{"Key": "t", "Value": "1"}])["ScheduleGroupArn"]
        try:
            assert scheduler.get_schedule_group(Name=group)["State"] == "ACTIVE"
            assert scheduler.list_tags_for_resource(ResourceArn=group_arn)["Tags"] == [{"Key": "t", "Value": "1"}]
            with expect_error("ConflictException"):
                scheduler.create_schedule_group(Name=group)
            arn = scheduler.create_schedule(Name=name, GroupName=group, ScheduleExpression="cron(0 9 * * ? *)",
                                            ScheduleExpressionTimezone="Europe/Paris",
                                            FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
                                            Target=target, Description="daily")["ScheduleArn"]
            assert arn.endswith(f":schedule/{group}/{name}")
            got = scheduler.get_schedule(Name=name, GroupName=group)
            assert (got["ScheduleExpressionTimezone"], got["State"], got["FlexibleTimeWindow"]) == \
                ("Europe/Paris", "ENABLED", {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15})
            assert got["Target"]["Input"] == '{"a": 1}'
            with expect_error("ConflictException"):
                scheduler.create_schedule(Name=name, GroupName=group, ScheduleExpression="rate(1 hour)",
                                          FlexibleTimeWindow={"Mode": "OFF"}, Target=target)
            scheduler.update_schedule(Name=name, GroupName=group, ScheduleExpression="rate(2 hours)",
                                      FlexibleTimeWindow={"Mode": "OFF"}, Target=target, State="DISABLED")
            got = scheduler.get_schedule(Name=name, GroupName=group)
            assert (got["ScheduleExpression"], got["State"]) == ("rate(2 hours)", "DISABLED")
            listed = scheduler.list_schedules(GroupName=group)["Schedules"]
            assert [(s["Name"], s["State"]) for s in listed] == [(name, "DISABLED")]
            with expect_error("ResourceNotFoundException"):
                scheduler.get_schedule(Name=name)  # it is not in the default group
        finally:
            scheduler.delete_schedule_group(Name=group)
        with expect_error("ResourceNotFoundException"):
            scheduler.get_schedule(Name=name, GroupName=group)
        with expect_error("ResourceNotFoundException"):
            scheduler.get_schedule_group(Name=group)


def test_scheduler_errors(scheduler, lam):
    with function(lam, NOOP) as fn:
        target = {"Arn": lam.get_function(FunctionName=fn)["Configuration"]["FunctionArn"], "RoleArn": ROLE}
        off = {"Mode": "OFF"}
        for expression in ["cron(0 12 * * *)", "rate(1 minutes)", "at(2030-01-01)"]:
            with expect_error("ValidationException", match="Invalid Schedule Expression"):
                scheduler.create_schedule(Name=rule_name(), ScheduleExpression=expression,
                                          FlexibleTimeWindow=off, Target=target)
        with expect_error("ValidationException", match="ScheduleExpressionTimezone"):
            scheduler.create_schedule(Name=rule_name(), ScheduleExpression="rate(1 hour)",
                                      ScheduleExpressionTimezone="Mars/Olympus", FlexibleTimeWindow=off, Target=target)
        with expect_error("ValidationException"):
            scheduler.create_schedule(Name=rule_name(), ScheduleExpression="rate(1 hour)",
                                      FlexibleTimeWindow={"Mode": "FLEXIBLE"}, Target=target)
        with expect_error("ResourceNotFoundException"):
            scheduler.create_schedule(Name=rule_name(), GroupName="compat-no-group", ScheduleExpression="rate(1 hour)",
                                      FlexibleTimeWindow=off, Target=target)
        with expect_error("ResourceNotFoundException"):
            scheduler.delete_schedule(Name="compat-no-schedule")


def _scheduled(manual, **schedule):
    """A recording function and a Scheduler schedule targeting it: (table, client, name, cleanup)."""
    _, c, _ = manual
    sched = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                  region_name="us-east-1").client("scheduler", endpoint_url=manual[0], config=NO_RETRIES)
    table, arn, remove_function = _recording_function(c)
    target = {"Arn": arn, "RoleArn": ROLE, **schedule.pop("Target", {})}
    sched_name = rule_name()
    sched.create_schedule(Name=sched_name, Target=target, **{"FlexibleTimeWindow": {"Mode": "OFF"}, **schedule})

    def cleanup():
        try:
            sched.delete_schedule(Name=sched_name)
        except sched.exceptions.ResourceNotFoundException:  # an at() schedule with DELETE is gone already
            pass
        remove_function()
    return table, sched, sched_name, cleanup


@pytest.mark.dynarock_only  # Moves the server's clock.
def test_scheduler_in_new_york_across_daylight_saving(manual):
    _, c, move = manual
    move(to="2034-03-10T00:00:00Z")
    table, _, _, cleanup = _scheduled(
        manual, ScheduleExpression="cron(30 2 * * ? *)", ScheduleExpressionTimezone="America/New_York",
        Target={"Input": '{"at": "<aws.scheduler.scheduled-time>", "arn": "<aws.scheduler.schedule-arn>"}'})
    try:
        move(to="2034-03-14T00:00:00Z")
        assert wait_until(lambda: len(firings(c["dynamodb"], table)) >= 3, timeout=60)
        time.sleep(0.5)
        fired = sorted(e["at"] for e in firings(c["dynamodb"], table))
        # 2:30 EST is 07:30Z; on 12 March 2034 2:30 does not exist and fires at 3:30 EDT (07:30Z);
        # from then on 2:30 EDT is 06:30Z.
        assert fired == ["2034-03-10T07:30:00Z", "2034-03-11T07:30:00Z", "2034-03-12T07:30:00Z",
                         "2034-03-13T06:30:00Z"]
        assert all(":schedule/default/" in e["arn"] for e in firings(c["dynamodb"], table))
    finally:
        cleanup()


@pytest.mark.dynarock_only  # Moves the server's clock.
def test_one_time_schedule_deletes_itself(manual):
    _, c, move = manual
    move(to="2035-01-01T00:00:00Z")
    table, sched, name, cleanup = _scheduled(manual, ScheduleExpression="at(2035-01-01T10:00:00)",
                                             ActionAfterCompletion="DELETE", Target={"Input": '{"once": true}'})
    try:
        move(to="2035-01-01T09:59:00Z")
        time.sleep(0.5)
        assert firings(c["dynamodb"], table) == []
        move(to="2035-01-02T00:00:00Z")
        assert wait_until(lambda: firings(c["dynamodb"], table) == [{"once": True}], timeout=30)
        with expect_error("ResourceNotFoundException"):
            sched.get_schedule(Name=name)
    finally:
        cleanup()


@pytest.mark.dynarock_only  # Moves the server's clock.
def test_start_end_dates_and_flexible_windows(manual):
    _, c, move = manual
    move(to="2036-01-01T00:00:00Z")
    start = datetime.datetime(2036, 1, 1, 2, tzinfo=datetime.timezone.utc)
    end = datetime.datetime(2036, 1, 1, 5, tzinfo=datetime.timezone.utc)
    table, _, _, cleanup = _scheduled(
        manual, ScheduleExpression="cron(0 * * * ? *)", StartDate=start, EndDate=end,
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10},
        Target={"Input": '{"at": "<aws.scheduler.scheduled-time>"}'})
    try:
        move(to="2036-01-01T12:00:00Z")
        assert wait_until(lambda: len(firings(c["dynamodb"], table)) >= 4, timeout=60)
        time.sleep(0.5)
        assert sorted(e["at"] for e in firings(c["dynamodb"], table)) == [
            "2036-01-01T02:00:00Z", "2036-01-01T03:00:00Z", "2036-01-01T04:00:00Z", "2036-01-01T05:00:00Z"]
    finally:
        cleanup()


def test_cli_rules_and_schedules(url, region, lam):
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    run = lambda *args: subprocess.run(["aws", *args, "--endpoint-url", url, "--region", region],  # noqa: E731
                                       capture_output=True, text=True, env=env, timeout=60)
    name = rule_name()
    put = run("events", "put-rule", "--name", name, "--schedule-expression", "rate(1 hour)")
    assert put.returncode == 0, put.stderr
    assert json.loads(run("events", "describe-rule", "--name", name).stdout)["ScheduleExpression"] == "rate(1 hour)"
    assert run("events", "delete-rule", "--name", name).returncode == 0
    with function(lam, NOOP) as fn:
        target = json.dumps({"Arn": lam.get_function(FunctionName=fn)["Configuration"]["FunctionArn"], "RoleArn": ROLE})
        created = run("scheduler", "create-schedule", "--name", name, "--schedule-expression", "rate(1 day)",
                      "--flexible-time-window", "Mode=OFF", "--target", target)
        assert created.returncode == 0, created.stderr
        got = json.loads(run("scheduler", "get-schedule", "--name", name).stdout)
        assert (got["Name"], got["ScheduleExpression"]) == (name, "rate(1 day)")
        assert run("scheduler", "delete-schedule", "--name", name).returncode == 0


@pytest.mark.dynarock_only  # Moves the server's clock.
def test_ttl_follows_the_manual_clock(manual):
    _, c, move = manual
    ddb = c["dynamodb"]
    table = random_table_name()
    create_table(ddb, table, [{"AttributeName": "p", "KeyType": "HASH"}], [{"AttributeName": "p", "AttributeType": "S"}])
    try:
        ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
        now = move(advance=0)["epochMillis"] // 1000
        ddb.put_item(TableName=table, Item={"p": {"S": "x"}, "exp": {"N": str(now + 3600)}})
        time.sleep(1.5)  # two passes of the expirer: the item is not due
        assert "Item" in ddb.get_item(TableName=table, Key={"p": {"S": "x"}})
        move(advance=3601)
        assert wait_until(lambda: "Item" not in ddb.get_item(TableName=table, Key={"p": {"S": "x"}}), timeout=10)
    finally:
        delete_table(ddb, table)


FAILING = "def handler(e, c):\n    raise RuntimeError('scheduled job failed')\n"


@pytest.mark.dynarock_only  # Moves the server's clock.
def test_a_failing_scheduled_function_reaches_its_on_failure_destination(manual):
    _, c, move = manual
    lam, ddb = c["lambda"], c["dynamodb"]
    move(to="2037-01-01T00:00:00Z")
    table = random_table_name()
    create_table(ddb, table, [{"AttributeName": "id", "KeyType": "HASH"}], [{"AttributeName": "id", "AttributeType": "S"}])
    with function(lam, {"app.py": FAILING}) as failing, \
            function(lam, {"app.py": FIRING}, Environment={"Variables": {"RECORD_TABLE": table}}) as dest:
        dest_arn = lam.get_function(FunctionName=dest)["Configuration"]["FunctionArn"]
        lam.put_function_event_invoke_config(FunctionName=failing, MaximumRetryAttempts=0,
                                             DestinationConfig={"OnFailure": {"Destination": dest_arn}})
        rule = rule_name()
        c["events"].put_rule(Name=rule, ScheduleExpression="cron(0 3 * * ? *)")
        c["events"].put_targets(Rule=rule, Targets=[
            {"Id": "job", "Arn": lam.get_function(FunctionName=failing)["Configuration"]["FunctionArn"]}])
        try:
            move(to="2037-01-01T04:00:00Z")
            assert wait_until(lambda: len(firings(ddb, table)) == 1, timeout=30)
            record = firings(ddb, table)[0]
            assert record["requestContext"]["condition"] == "RetriesExhausted"
            assert record["requestPayload"]["detail-type"] == "Scheduled Event"
            assert record["requestPayload"]["time"] == "2037-01-01T03:00:00Z"
            assert record["responsePayload"]["errorMessage"] == "scheduled job failed"
        finally:
            c["events"].remove_targets(Rule=rule, Ids=["job"])
            c["events"].delete_rule(Name=rule)
            delete_table(ddb, table)
