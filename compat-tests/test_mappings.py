"""Event source mappings from DynamoDB streams to functions: the API with Lambda's defaults and
errors, the event as Lambda delivers it, every write path, filters, retries with bisection,
partial batch failures, the on-failure destination, several mappings per stream, and a table
re-created under the same name."""

import json
import os
import subprocess
import time

import pytest

from functions import function, rest
from util import create_table, delete_table, expect_error, random_table_name, wait_until

# Records each event's records into the table named by RECORD_TABLE, through the function's own
# SDK: one item per record (its sequence number, event name, key and the record itself). With
# FAIL_ON set, a batch holding a record whose NewImage has that `v` fails (or, with REPORT, is
# reported as a failed item the first time it is seen).
RECORDER = """
import json, os, time
import boto3

table = boto3.resource("dynamodb").Table(os.environ["RECORD_TABLE"])
FAIL_ON = os.environ.get("FAIL_ON")
REPORT = os.environ.get("REPORT")

def image_v(r):
    return r["dynamodb"].get("NewImage", {}).get("v", {}).get("S")

def handler(event, context):
    records = event["Records"]
    for i, r in enumerate(records):
        table.put_item(Item={"id": r["eventID"] + ":" + context.aws_request_id, "at": f"{time.time_ns():020d}{i:05d}",
                             "seq": r["dynamodb"]["SequenceNumber"], "name": r["eventName"],
                             "key": r["dynamodb"]["Keys"]["p"]["S"], "batch": len(records),
                             "record": json.dumps(r), "v": str(image_v(r))})
    failing = [r for r in records if FAIL_ON and image_v(r) == FAIL_ON]
    if failing and REPORT:
        seen = table.get_item(Key={"id": "reported"}, ConsistentRead=True).get("Item")
        if not seen:
            table.put_item(Item={"id": "reported", "seq": "0"})
            return {"batchItemFailures": [{"itemIdentifier": failing[0]["dynamodb"]["SequenceNumber"]}]}
        return {"batchItemFailures": []}
    if failing:
        raise ValueError("poison record")
    return "ok"
"""


@pytest.fixture
def stream_table(client):
    """A table with a NEW_AND_OLD_IMAGES stream, keyed by p (S); yields (name, stream ARN)."""
    name = random_table_name()
    create_table(client, name, [{"AttributeName": "p", "KeyType": "HASH"}],
                 [{"AttributeName": "p", "AttributeType": "S"}],
                 StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    yield name, client.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    delete_table(client, name)


def recorded(client, table):
    items = client.scan(TableName=table, ConsistentRead=True)["Items"]
    rows = [{k: list(v.values())[0] for k, v in i.items()} for i in items if i["id"]["S"] != "reported"]
    for r in rows:
        r["batch"] = int(r.get("batch", 0))
    return sorted(rows, key=lambda r: r["seq"])


def recorder(lam, record_table, **env):
    variables = {"RECORD_TABLE": record_table, **env}
    return function(lam, {"app.py": RECORDER}, Environment={"Variables": variables}, Timeout=30)


def test_api_defaults_states_and_listing(lam, stream_table):
    table, arn = stream_table
    with function(lam, {"app.py": "def handler(e, c):\n    return 1\n"}) as name:
        created = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, StartingPosition="LATEST")
        try:
            assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
            expected = {"BatchSize": 100, "MaximumBatchingWindowInSeconds": 0, "ParallelizationFactor": 1,
                        "MaximumRetryAttempts": -1, "MaximumRecordAgeInSeconds": -1,
                        "BisectBatchOnFunctionError": False, "TumblingWindowInSeconds": 0,
                        "FunctionResponseTypes": [], "DestinationConfig": {"OnFailure": {}},
                        "StartingPosition": "LATEST", "State": "Creating", "StateTransitionReason": "User action",
                        "LastProcessingResult": "No records processed", "EventSourceArn": arn}
            assert {k: created[k] for k in expected} == expected
            uuid = created["UUID"]
            assert created["FunctionArn"].endswith(f":function:{name}")
            assert created["EventSourceMappingArn"].endswith(f":event-source-mapping:{uuid}")
            assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled"
            by_function = lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
            assert [m["UUID"] for m in by_function] == [uuid]
            by_source = lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
            assert [m["UUID"] for m in by_source] == [uuid]
            updated = lam.update_event_source_mapping(UUID=uuid, BatchSize=10, MaximumBatchingWindowInSeconds=2)
            assert (updated["State"], updated["BatchSize"], updated["MaximumBatchingWindowInSeconds"]) == \
                ("Updating", 10, 2)
            assert lam.update_event_source_mapping(UUID=uuid, Enabled=False)["State"] == "Disabling"
            assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Disabled"
            assert lam.update_event_source_mapping(UUID=uuid, Enabled=True)["State"] == "Enabling"
            assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled"
        finally:
            deleted = lam.delete_event_source_mapping(UUID=created["UUID"])
        assert deleted["State"] == "Deleting"
        with expect_error("ResourceNotFoundException"):
            lam.get_event_source_mapping(UUID=created["UUID"])
        with expect_error("ResourceNotFoundException"):
            lam.delete_event_source_mapping(UUID=created["UUID"])


def test_api_errors(lam, url, stream_table):
    table, arn = stream_table
    with function(lam, {"app.py": "def handler(e, c):\n    return 1\n"}) as name:
        with expect_error("InvalidParameterValueException", f"Unsupported starting position for arn type: {arn}"):
            lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, StartingPosition="AT_TIMESTAMP",
                                            StartingPositionTimestamp=time.time())
        with expect_error("InvalidParameterValueException", "Timestamp only valid with StartingPosition AT_TIMESTAMP"):
            lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, StartingPosition="LATEST",
                                            StartingPositionTimestamp=time.time())
        with expect_error("InvalidParameterValueException", "Invalid filter pattern definition."):
            lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, StartingPosition="LATEST",
                                            FilterCriteria={"Filters": [{"Pattern": '{"eventName": ["INSERT"=123}'}]})
        with expect_error("InvalidParameterValueException"):
            lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn + "x", StartingPosition="LATEST")
        with expect_error("ResourceNotFoundException"):
            lam.create_event_source_mapping(FunctionName="compat-fn-missing", EventSourceArn=arn,
                                            StartingPosition="LATEST")
        status, body, headers = rest(url, "POST", "/2015-03-31/event-source-mappings",
                                     {"FunctionName": name, "EventSourceArn": arn, "StartingPosition": "NEVER"})
        assert (status, headers["x-amzn-ErrorType"]) == (400, "ValidationException")
        assert body["Message"] == ("1 validation error detected: Value 'NEVER' at 'startingPosition' failed to "
                                   "satisfy constraint: Member must satisfy enum value set: "
                                   "[LATEST, AT_TIMESTAMP, TRIM_HORIZON]")
        status, body, _ = rest(url, "POST", "/2015-03-31/event-source-mappings",
                               {"FunctionName": name, "EventSourceArn": arn, "StartingPosition": "LATEST",
                                "BatchSize": 0, "ParallelizationFactor": 11})
        assert status == 400 and body["Message"].startswith("2 validation errors detected")
        first = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, StartingPosition="LATEST")
        try:
            with expect_error("ResourceConflictException", match=first["UUID"]):
                lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, StartingPosition="LATEST")
        finally:
            lam.delete_event_source_mapping(UUID=first["UUID"])


def test_event_shape_and_every_write_path(lam, client, stream_table, record_table):
    table, arn = stream_table
    with recorder(lam, record_table) as name:
        mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn,
                                                  StartingPosition="TRIM_HORIZON")
        try:
            client.put_item(TableName=table, Item={"p": {"S": "a"}, "v": {"S": "1"}})
            client.update_item(TableName=table, Key={"p": {"S": "a"}}, UpdateExpression="SET v = :v",
                               ExpressionAttributeValues={":v": {"S": "2"}})
            client.delete_item(TableName=table, Key={"p": {"S": "a"}})
            client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {"p": {"S": "b"}}}}]})
            client.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": {"p": {"S": "c"}}}}])
            client.execute_statement(Statement=f"INSERT INTO \"{table}\" VALUE {{'p': 'd'}}")
            assert wait_until(lambda: len(recorded(client, record_table)) == 6, timeout=30)
            rows = recorded(client, record_table)
            assert [(r["key"], r["name"]) for r in rows] == [
                ("a", "INSERT"), ("a", "MODIFY"), ("a", "REMOVE"), ("b", "INSERT"), ("c", "INSERT"), ("d", "INSERT")]
            modify = json.loads(rows[1]["record"])
            assert set(modify) == {"eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb",
                                   "eventSourceARN"}
            assert (modify["eventVersion"], modify["eventSource"], modify["eventSourceARN"]) == \
                ("1.1", "aws:dynamodb", arn)
            d = modify["dynamodb"]
            assert d["Keys"] == {"p": {"S": "a"}}
            assert d["NewImage"] == {"p": {"S": "a"}, "v": {"S": "2"}}
            assert d["OldImage"] == {"p": {"S": "a"}, "v": {"S": "1"}}
            assert d["StreamViewType"] == "NEW_AND_OLD_IMAGES"
            assert isinstance(d["ApproximateCreationDateTime"], (int, float)) and d["SizeBytes"] > 0
            assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)
            assert wait_until(lambda: lam.get_event_source_mapping(UUID=mapping["UUID"])["LastProcessingResult"] == "OK")
        finally:
            lam.delete_event_source_mapping(UUID=mapping["UUID"])


def test_filters_skip_records(lam, client, stream_table, record_table):
    table, arn = stream_table
    pattern = {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"v": {"S": [{"prefix": "keep"}]}}}}
    with recorder(lam, record_table) as name:
        mapping = lam.create_event_source_mapping(
            FunctionName=name, EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
            FilterCriteria={"Filters": [{"Pattern": json.dumps(pattern)}, {"Pattern": '{"eventName": ["REMOVE"]}'}]})
        try:
            for key, v in [("a", "keep-1"), ("b", "drop"), ("c", "keep-2")]:
                client.put_item(TableName=table, Item={"p": {"S": key}, "v": {"S": v}})
            client.update_item(TableName=table, Key={"p": {"S": "a"}}, UpdateExpression="SET v = :v",
                               ExpressionAttributeValues={":v": {"S": "keep-3"}})
            client.delete_item(TableName=table, Key={"p": {"S": "b"}})
            client.put_item(TableName=table, Item={"p": {"S": "z"}, "v": {"S": "keep-last"}})
            assert wait_until(lambda: any(r["key"] == "z" for r in recorded(client, record_table)), timeout=30)
            assert [(r["key"], r["name"]) for r in recorded(client, record_table)] == [
                ("a", "INSERT"), ("c", "INSERT"), ("b", "REMOVE"), ("z", "INSERT")]
        finally:
            lam.delete_event_source_mapping(UUID=mapping["UUID"])


# An on-failure destination: stores the failure record it gets.
DESTINATION = """
import json, os
import boto3

table = boto3.resource("dynamodb").Table(os.environ["RECORD_TABLE"])

def handler(event, context):
    table.put_item(Item={"id": "dest:" + context.aws_request_id, "seq": "dest", "name": "dest", "key": "dest",
                         "batch": 0, "record": json.dumps(event), "v": "dest"})
"""


def test_retries_bisect_and_on_failure_destination(lam, client, stream_table, record_table):
    table, arn = stream_table
    with recorder(lam, record_table, FAIL_ON="poison") as name, \
            function(lam, {"app.py": DESTINATION}, Environment={"Variables": {"RECORD_TABLE": record_table}}) as dest:
        dest_arn = lam.get_function(FunctionName=dest)["Configuration"]["FunctionArn"]
        # Written before the mapping exists, so the first batch holds all five.
        for i, v in enumerate(["ok0", "ok1", "poison", "ok3", "ok4"]):
            client.put_item(TableName=table, Item={"p": {"S": f"k{i}"}, "v": {"S": v}})
        mapping = lam.create_event_source_mapping(
            FunctionName=name, EventSourceArn=arn, StartingPosition="TRIM_HORIZON", MaximumRetryAttempts=1,
            BisectBatchOnFunctionError=True, DestinationConfig={"OnFailure": {"Destination": dest_arn}})
        try:
            assert wait_until(lambda: any(r["name"] == "dest" for r in recorded(client, record_table)), timeout=60)
            rows = recorded(client, record_table)
            poison = [r for r in rows if r["v"] == "poison"]
            # Bisected down to the poison record alone, tried once and retried once.
            assert len([r for r in poison if r["batch"] == 1]) == 2, rows
            # Every other record was processed in a batch without the poison record.
            for key in ["k0", "k1", "k3", "k4"]:
                assert any(r["key"] == key and r["batch"] <= 2 for r in rows), key
            failure = json.loads(next(r for r in rows if r["name"] == "dest")["record"])
            assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
            assert failure["requestContext"]["approximateInvokeCount"] == 2
            assert failure["requestContext"]["functionArn"].endswith(f":function:{name}")
            assert failure["responseContext"]["functionError"] == "Unhandled"
            info = failure["DDBStreamBatchInfo"]
            assert (info["batchSize"], info["streamArn"]) == (1, arn)
            assert info["startSequenceNumber"] == info["endSequenceNumber"] == poison[0]["seq"]
            assert info["shardId"].startswith("shardId-")
        finally:
            lam.delete_event_source_mapping(UUID=mapping["UUID"])


def test_report_batch_item_failures_resumes_at_the_failed_record(lam, client, stream_table, record_table):
    table, arn = stream_table
    with recorder(lam, record_table, FAIL_ON="bad", REPORT="1") as name:
        for i, v in enumerate(["a", "b", "bad", "c"]):
            client.put_item(TableName=table, Item={"p": {"S": f"k{i}"}, "v": {"S": v}})
        mapping = lam.create_event_source_mapping(
            FunctionName=name, EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
            FunctionResponseTypes=["ReportBatchItemFailures"])
        try:
            assert wait_until(lambda: len(recorded(client, record_table)) == 6, timeout=30)
            # First batch: all four; the retry starts at the reported record.
            assert [r["key"] for r in recorded(client, record_table)] == ["k0", "k1", "k2", "k2", "k3", "k3"]
        finally:
            lam.delete_event_source_mapping(UUID=mapping["UUID"])


def test_two_mappings_on_one_stream_each_get_every_record(lam, client, stream_table, record_table):
    table, arn = stream_table
    with recorder(lam, record_table) as first, recorder(lam, record_table) as second:
        mappings = [lam.create_event_source_mapping(FunctionName=f, EventSourceArn=arn, StartingPosition="LATEST")
                    for f in (first, second)]
        try:
            for i in range(5):
                client.put_item(TableName=table, Item={"p": {"S": f"k{i}"}})
            assert wait_until(lambda: len(recorded(client, record_table)) == 10, timeout=30)
            rows = recorded(client, record_table)
            assert sorted(r["key"] for r in rows) == sorted([f"k{i}" for i in range(5)] * 2)
        finally:
            for m in mappings:
                lam.delete_event_source_mapping(UUID=m["UUID"])


def test_latest_skips_what_was_written_before(lam, client, stream_table, record_table):
    table, arn = stream_table
    client.put_item(TableName=table, Item={"p": {"S": "before"}})
    with recorder(lam, record_table) as name:
        mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, StartingPosition="LATEST")
        try:
            client.put_item(TableName=table, Item={"p": {"S": "after"}})
            assert wait_until(lambda: len(recorded(client, record_table)) == 1, timeout=30)
            assert recorded(client, record_table)[0]["key"] == "after"
        finally:
            lam.delete_event_source_mapping(UUID=mapping["UUID"])


@pytest.mark.dynarock_only  # DynamoDB takes minutes to delete a table; the recreated check needs it gone.
def test_a_recreated_table_never_fires_old_mappings(lam, client, record_table):
    table = random_table_name()
    spec = dict(StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    keys = ([{"AttributeName": "p", "KeyType": "HASH"}], [{"AttributeName": "p", "AttributeType": "S"}])
    create_table(client, table, *keys, **spec)
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    with recorder(lam, record_table) as name:
        mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, StartingPosition="LATEST")
        try:
            client.put_item(TableName=table, Item={"p": {"S": "old"}})
            assert wait_until(lambda: len(recorded(client, record_table)) == 1, timeout=30)
            delete_table(client, table)
            assert wait_until(lambda: lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Disabled",
                              timeout=10)
            reason = lam.get_event_source_mapping(UUID=mapping["UUID"])["StateTransitionReason"]
            assert "deleted" in reason or "no longer exists" in reason
            create_table(client, table, *keys, **spec)
            client.put_item(TableName=table, Item={"p": {"S": "new"}})
            time.sleep(1.5)  # a mapping that wrongly fired would have recorded by now
            assert [r["key"] for r in recorded(client, record_table)] == ["old"]
        finally:
            lam.delete_event_source_mapping(UUID=mapping["UUID"])
            delete_table(client, table)


def test_ttl_deletes_trigger_with_their_identity(lam, client, stream_table, record_table):
    table, arn = stream_table
    client.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    with recorder(lam, record_table) as name:
        mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, StartingPosition="LATEST",
                                                  FilterCriteria={"Filters": [{"Pattern": '{"eventName": ["REMOVE"]}'}]})
        try:
            client.put_item(TableName=table, Item={"p": {"S": "gone"}, "exp": {"N": str(int(time.time()) - 10)}})
            assert wait_until(lambda: len(recorded(client, record_table)) == 1, timeout=60)
            record = json.loads(recorded(client, record_table)[0]["record"])
            assert record["eventName"] == "REMOVE"
            assert record["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
        finally:
            lam.delete_event_source_mapping(UUID=mapping["UUID"])


@pytest.mark.dynarock_only  # `dynarock mappings` is the server's own view of its mappings.
@pytest.mark.skipif("DYNAROCK_BIN" not in os.environ, reason="needs the dynarock binary (compat-tests/run.sh sets it)")
def test_dynarock_mappings_shows_what_each_mapping_did(lam, client, url, stream_table, record_table):
    table, arn = stream_table
    with recorder(lam, record_table) as name:
        mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, StartingPosition="LATEST")
        try:
            for i in range(3):
                client.put_item(TableName=table, Item={"p": {"S": f"k{i}"}})
            assert wait_until(lambda: len(recorded(client, record_table)) == 3, timeout=30)
            result = subprocess.run([os.environ["DYNAROCK_BIN"], "mappings", "--endpoint", url],
                                    capture_output=True, text=True, timeout=30)
            assert result.returncode == 0, result.stderr
            section = result.stdout.split(mapping["UUID"])[1].split("\n\n")[0]
            assert "Enabled" in section and f"{arn} -> " in section
            assert "records processed 3" in section and "function errors 0" in section
        finally:
            lam.delete_event_source_mapping(UUID=mapping["UUID"])


def test_parallelization_keeps_each_keys_order(lam, client, stream_table, record_table):
    table, arn = stream_table
    with recorder(lam, record_table) as name:
        for i in range(100):
            client.put_item(TableName=table, Item={"p": {"S": f"k{i % 5}"}, "v": {"S": str(i // 5)}})
        mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn,
                                                  StartingPosition="TRIM_HORIZON", BatchSize=20,
                                                  ParallelizationFactor=4)
        try:
            assert wait_until(lambda: len(recorded(client, record_table)) == 100, timeout=60)
            delivered = sorted(recorded(client, record_table), key=lambda r: r["at"])
            for key in [f"k{i}" for i in range(5)]:
                order = [int(r["v"]) for r in delivered if r["key"] == key]
                assert order == list(range(20)), (key, order)
            # The lanes ran concurrently: batches were smaller than the mapping's batch size.
            assert any(r["batch"] < 20 for r in delivered)
        finally:
            lam.delete_event_source_mapping(UUID=mapping["UUID"])


# Counts records per tumbling window in its state; records each call and each window's end.
WINDOWED = """
import json, os
import boto3

table = boto3.resource("dynamodb").Table(os.environ["RECORD_TABLE"])

def handler(event, context):
    start, count = event["window"]["start"], event["state"].get("count", 0)
    assert event["shardId"].startswith("shardId-") and event["eventSourceARN"]
    if event["isFinalInvokeForWindow"]:
        table.put_item(Item={"id": "final:" + start, "seq": "final", "count": count,
                             "end": event["window"]["end"], "early": event["isWindowTerminatedEarly"],
                             "records": len(event["Records"])})
        return {}
    n = len(event["Records"])
    table.put_item(Item={"id": "call:" + context.aws_request_id, "seq": "call", "start": start,
                         "prior": count, "n": n})
    return {"state": {"count": count + n}}
"""


def test_tumbling_windows_carry_state_to_a_final_invocation(lam, client, stream_table, record_table):
    table, arn = stream_table
    with function(lam, {"app.py": WINDOWED}, Environment={"Variables": {"RECORD_TABLE": record_table}}) as name:
        mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn,
                                                  StartingPosition="LATEST", BatchSize=2,
                                                  TumblingWindowInSeconds=2)
        try:
            assert lam.get_event_source_mapping(UUID=mapping["UUID"])["TumblingWindowInSeconds"] == 2
            for i in range(7):
                client.put_item(TableName=table, Item={"p": {"S": f"k{i}"}})

            def rows(kind):
                items = client.scan(TableName=record_table, ConsistentRead=True)["Items"]
                return [{k: list(v.values())[0] for k, v in i.items()} for i in items if i["seq"]["S"] == kind]
            assert wait_until(lambda: sum(int(f["count"]) for f in rows("final")) == 7, timeout=30)
            calls, finals = rows("call"), rows("final")
            for final in finals:
                start = final["id"].split(":", 1)[1]
                mine = sorted((c for c in calls if c["start"] == start), key=lambda c: int(c["prior"]))
                # Each call got the state the previous one returned; the final call got the total.
                assert [int(c["prior"]) for c in mine] == [sum(int(c["n"]) for c in mine[:k]) for k in range(len(mine))]
                assert int(final["count"]) == sum(int(c["n"]) for c in mine)
                assert int(final["records"]) == 0 and final["early"] is False
        finally:
            lam.delete_event_source_mapping(UUID=mapping["UUID"])


def test_disabling_keeps_the_position(lam, client, stream_table, record_table):
    table, arn = stream_table
    with recorder(lam, record_table) as name:
        mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, StartingPosition="LATEST")
        try:
            client.put_item(TableName=table, Item={"p": {"S": "first"}})
            assert wait_until(lambda: len(recorded(client, record_table)) == 1, timeout=30)
            lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
            client.put_item(TableName=table, Item={"p": {"S": "while-disabled"}})
            time.sleep(1)
            assert len(recorded(client, record_table)) == 1
            lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
            assert wait_until(lambda: len(recorded(client, record_table)) == 2, timeout=30)
            assert [r["key"] for r in recorded(client, record_table)] == ["first", "while-disabled"]
        finally:
            lam.delete_event_source_mapping(UUID=mapping["UUID"])


def test_a_throttled_function_is_waited_for_not_failed(lam, client, stream_table, record_table):
    table, arn = stream_table
    with recorder(lam, record_table) as name, \
            function(lam, {"app.py": DESTINATION}, Environment={"Variables": {"RECORD_TABLE": record_table}}) as dest:
        dest_arn = lam.get_function(FunctionName=dest)["Configuration"]["FunctionArn"]
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
        mapping = lam.create_event_source_mapping(
            FunctionName=name, EventSourceArn=arn, StartingPosition="LATEST", MaximumRetryAttempts=0,
            DestinationConfig={"OnFailure": {"Destination": dest_arn}})
        try:
            client.put_item(TableName=table, Item={"p": {"S": "waits"}})
            assert wait_until(lambda: lam.get_event_source_mapping(UUID=mapping["UUID"])[
                "LastProcessingResult"].startswith("PROBLEM"), timeout=30)
            lam.delete_function_concurrency(FunctionName=name)
            assert wait_until(lambda: len(recorded(client, record_table)) == 1, timeout=30)
            rows = recorded(client, record_table)
            assert rows[0]["key"] == "waits" and all(r["name"] != "dest" for r in rows)
        finally:
            lam.delete_event_source_mapping(UUID=mapping["UUID"])


def test_record_age_and_window_validation(lam, url, stream_table):
    table, arn = stream_table
    with function(lam, {"app.py": "def handler(e, c):\n    return 1\n"}) as name:
        with expect_error("InvalidParameterValueException"):
            lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, StartingPosition="LATEST",
                                            MaximumRecordAgeInSeconds=30)
        status, body, headers = rest(url, "POST", "/2015-03-31/event-source-mappings",
                                     {"FunctionName": name, "EventSourceArn": arn, "StartingPosition": "LATEST",
                                      "TumblingWindowInSeconds": 901, "MaximumBatchingWindowInSeconds": 301})
        assert (status, headers["x-amzn-ErrorType"]) == (400, "ValidationException")
        assert body["Message"].startswith("2 validation errors detected")


def test_cli_creates_and_lists_mappings(lam, url, region, stream_table):
    table, arn = stream_table
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    cli = ["aws", "lambda", "--endpoint-url", url, "--region", region]
    with function(lam, {"app.py": "def handler(e, c):\n    return 1\n"}) as name:
        created = subprocess.run(cli + ["create-event-source-mapping", "--function-name", name,
                                        "--event-source-arn", arn, "--starting-position", "TRIM_HORIZON",
                                        "--batch-size", "7"], capture_output=True, text=True, env=env, timeout=60)
        assert created.returncode == 0, created.stderr
        uuid = json.loads(created.stdout)["UUID"]
        try:
            listed = subprocess.run(cli + ["list-event-source-mappings", "--function-name", name],
                                    capture_output=True, text=True, env=env, timeout=60)
            mappings = json.loads(listed.stdout)["EventSourceMappings"]
            assert [(m["UUID"], m["BatchSize"]) for m in mappings] == [(uuid, 7)]
        finally:
            lam.delete_event_source_mapping(UUID=uuid)


@pytest.mark.dynarock_only  # Moves the server's clock.
def test_records_older_than_the_maximum_age_go_to_the_destination(manual):
    _, c, move = manual
    lam, ddb = c["lambda"], c["dynamodb"]
    record_table, table = random_table_name(), random_table_name()
    create_table(ddb, record_table, [{"AttributeName": "id", "KeyType": "HASH"}],
                 [{"AttributeName": "id", "AttributeType": "S"}])
    create_table(ddb, table, [{"AttributeName": "p", "KeyType": "HASH"}], [{"AttributeName": "p", "AttributeType": "S"}],
                 StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    env = {"Variables": {"RECORD_TABLE": record_table}}
    with function(lam, {"app.py": "def handler(e, c):\n    raise RuntimeError('always')\n"}) as name, \
            function(lam, {"app.py": DESTINATION}, Environment=env) as dest:
        dest_arn = lam.get_function(FunctionName=dest)["Configuration"]["FunctionArn"]
        mapping = lam.create_event_source_mapping(
            FunctionName=name, EventSourceArn=arn, StartingPosition="LATEST", MaximumRetryAttempts=-1,
            MaximumRecordAgeInSeconds=60, DestinationConfig={"OnFailure": {"Destination": dest_arn}})
        try:
            ddb.put_item(TableName=table, Item={"p": {"S": "old"}})
            assert wait_until(lambda: lam.get_event_source_mapping(UUID=mapping["UUID"])[
                "LastProcessingResult"] == "PROBLEM: Function call failed", timeout=30)
            assert recorded(ddb, record_table) == []
            move(advance=61)
            assert wait_until(lambda: any(r["name"] == "dest" for r in recorded(ddb, record_table)), timeout=30)
            failure = json.loads(next(r for r in recorded(ddb, record_table) if r["name"] == "dest")["record"])
            assert failure["requestContext"]["condition"] == "RecordAgeExceeded"
            assert failure["DDBStreamBatchInfo"]["batchSize"] == 1
        finally:
            lam.delete_event_source_mapping(UUID=mapping["UUID"])
            delete_table(ddb, table)
            delete_table(ddb, record_table)


def test_a_queue_can_be_the_on_failure_destination(lam, client, stream_table, url, region):
    """What AWS takes for a DynamoDB mapping: an SQS queue gets the failure record."""
    import boto3
    sqs = boto3.client("sqs", endpoint_url=url, region_name=region,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    queue = sqs.create_queue(QueueName="compat-failures-" + random_table_name()[-8:])["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    table, arn = stream_table
    with function(lam, {"app.py": "def handler(e, c):\n    raise RuntimeError('no')\n"}) as name:
        mapping = lam.create_event_source_mapping(
            FunctionName=name, EventSourceArn=arn, StartingPosition="LATEST", MaximumRetryAttempts=0,
            DestinationConfig={"OnFailure": {"Destination": queue_arn}})
        try:
            assert lam.get_event_source_mapping(UUID=mapping["UUID"])["DestinationConfig"] == {
                "OnFailure": {"Destination": queue_arn}}
            wait_until(lambda: lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Enabled")
            client.put_item(TableName=table, Item={"p": {"S": "doomed"}})
            got = []
            assert wait_until(lambda: got.extend(sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)
                                                 .get("Messages", [])) or got, timeout=60)
            failure = json.loads(got[0]["Body"])
            assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
            assert failure["DDBStreamBatchInfo"]["streamArn"] == arn
        finally:
            lam.delete_event_source_mapping(UUID=mapping["UUID"])
            sqs.delete_queue(QueueUrl=queue)


def test_a_destination_must_be_a_queue_or_function(lam, stream_table):
    _, arn = stream_table
    with function(lam, {"app.py": "def handler(e, c):\n    return 1\n"}) as name:
        with expect_error("InvalidParameterValueException"):
            lam.create_event_source_mapping(
                FunctionName=name, EventSourceArn=arn, StartingPosition="LATEST",
                DestinationConfig={"OnFailure": {"Destination": "arn:aws:s3:::a-bucket"}})
