"""Point-in-time recovery: UpdateContinuousBackups, DescribeContinuousBackups and
RestoreTableToPointInTime. A restore to T is the table as it was at T, item for item and index
entry for index entry: proved against a model of the table over thousands of random writes,
deletes, transactions and TTL expiries, restored at many instants of a manual clock."""

import copy
import datetime
import json
import os
import random

import boto3
import pytest

from conftest import NO_RETRIES, clock_mover, own_server
from util import Raw, aws_cli, create_table, delete_table, error_of, expect_error, random_table_name, scan_all, wait_until

KEYS = [{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "s", "KeyType": "RANGE"}]
DEFS = [{"AttributeName": "p", "AttributeType": "S"}, {"AttributeName": "s", "AttributeType": "N"},
        {"AttributeName": "g", "AttributeType": "S"}, {"AttributeName": "l", "AttributeType": "N"}]
GSI = [{"IndexName": "byG", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                          {"AttributeName": "s", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"}}]
LSI = [{"IndexName": "byL", "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"},
                                          {"AttributeName": "l", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"}}]


def pitr_of(client, name):
    return client.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]


def canonical(items):
    return sorted(json.dumps(i, sort_keys=True, default=str) for i in items)


def test_continuous_backups_are_off_until_enabled_and_describe_their_window(client):
    name = create_table(client, random_table_name(), KEYS[:1], DEFS[:1])
    assert pitr_of(client, name) == {"ContinuousBackupsStatus": "ENABLED",
                                     "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"}}
    before = datetime.datetime.now(datetime.timezone.utc)
    on = client.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    described = on["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert described["PointInTimeRecoveryStatus"] == "ENABLED"
    assert described["RecoveryPeriodInDays"] == 35
    assert described["EarliestRestorableDateTime"] >= before - datetime.timedelta(seconds=1)
    later = pitr_of(client, name)["PointInTimeRecoveryDescription"]
    assert later["EarliestRestorableDateTime"] == described["EarliestRestorableDateTime"]
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((later["LatestRestorableDateTime"] - now).total_seconds()) < 5
    # A new recovery period keeps the history already kept.
    shorter = client.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True,
                                                          "RecoveryPeriodInDays": 7})
    seven = shorter["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert seven["RecoveryPeriodInDays"] == 7
    assert seven["EarliestRestorableDateTime"] == described["EarliestRestorableDateTime"]
    off = client.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    assert off["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"] == {
        "PointInTimeRecoveryStatus": "DISABLED"}
    delete_table(client, name)


def test_continuous_backup_errors(client, url):
    name = create_table(client, random_table_name(), KEYS[:1], DEFS[:1])
    with expect_error("TableNotFoundException", "Table not found: no-such-table"):
        client.describe_continuous_backups(TableName="no-such-table")
    with expect_error("TableNotFoundException", "Table not found: no-such-table"):
        client.update_continuous_backups(TableName="no-such-table",
                                         PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    for days in (0, 36):  # The SDK refuses these itself: sent by hand.
        status, body = Raw(url).call("UpdateContinuousBackups", {
            "TableName": name, "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True,
                                                                    "RecoveryPeriodInDays": days}})
        assert status == 400 and error_of(body)[0] == "ValidationException", body
        assert "pointInTimeRecoverySpecification.recoveryPeriodInDays" in error_of(body)[1]
    # Off: nothing to restore from.
    with expect_error("PointInTimeRecoveryUnavailableException",
                      f"Point in time recovery is not enabled for table '{name}'"):
        client.restore_table_to_point_in_time(SourceTableName=name, TargetTableName=random_table_name(),
                                              UseLatestRestorableTime=True)
    with expect_error("TableNotFoundException", "Table not found: no-such-table"):
        client.restore_table_to_point_in_time(SourceTableName="no-such-table",
                                              TargetTableName=random_table_name(),
                                              UseLatestRestorableTime=True)
    client.update_continuous_backups(TableName=name,
                                     PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    window = pitr_of(client, name)["PointInTimeRecoveryDescription"]
    for instant in (window["EarliestRestorableDateTime"] - datetime.timedelta(hours=1),
                    window["LatestRestorableDateTime"] + datetime.timedelta(hours=1)):
        with expect_error("InvalidRestoreTimeException"):
            client.restore_table_to_point_in_time(SourceTableName=name, TargetTableName=random_table_name(),
                                                  RestoreDateTime=instant)
    with expect_error("TableAlreadyExistsException", f"Table already exists: {name}"):
        client.restore_table_to_point_in_time(SourceTableName=name, TargetTableName=name,
                                              UseLatestRestorableTime=True)
    with expect_error("ValidationException"):
        client.restore_table_to_point_in_time(TargetTableName=random_table_name(), UseLatestRestorableTime=True)
    delete_table(client, name)


def test_a_restore_to_the_latest_time_by_table_arn_is_a_table_like_any_other(client):
    name = create_table(client, random_table_name(), KEYS, DEFS, GlobalSecondaryIndexes=GSI,
                        LocalSecondaryIndexes=LSI)
    client.update_continuous_backups(TableName=name,
                                     PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    items = [{"p": {"S": f"p{i % 3}"}, "s": {"N": str(i)}, "g": {"S": "g"}, "l": {"N": str(-i)},
              "v": {"M": {"set": {"NS": ["1", "2"]}, "b": {"B": b"\x00\xff"}, "e": {"S": ""}}}}
             for i in range(20)]
    for i in items:
        client.put_item(TableName=name, Item=i)
    arn = client.describe_table(TableName=name)["Table"]["TableArn"]
    target = random_table_name()
    made = client.restore_table_to_point_in_time(SourceTableArn=arn, TargetTableName=target,
                                                 UseLatestRestorableTime=True)["TableDescription"]
    assert made["TableStatus"] == "CREATING"
    summary = made["RestoreSummary"]
    assert summary["SourceTableArn"] == arn and summary["RestoreInProgress"] is True
    assert "SourceBackupArn" not in summary
    assert wait_until(lambda: client.describe_table(TableName=target)["Table"]["TableStatus"] == "ACTIVE",
                      timeout=30)
    table = client.describe_table(TableName=target)["Table"]
    assert table["ItemCount"] == 20 and table["RestoreSummary"]["RestoreInProgress"] is False
    assert canonical(scan_all(client, target)) == canonical(items)
    assert canonical(scan_all(client, target, "byG")) == canonical(items)
    # The restore's snapshot is no backup of the user's.
    assert client.list_backups(TableName=name)["BackupSummaries"] == []
    # What a restore does not bring back: PITR itself.
    assert pitr_of(client, target)["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
    client.put_item(TableName=target, Item={"p": {"S": "new"}, "s": {"N": "1"}})
    assert client.get_item(TableName=target, Key={"p": {"S": "new"}, "s": {"N": "1"}})["Item"]
    delete_table(client, target)
    delete_table(client, name)


def test_the_aws_cli_drives_point_in_time_recovery(url, client):
    name = create_table(client, random_table_name(), KEYS[:1], DEFS[:1])
    client.put_item(TableName=name, Item={"p": {"S": "via-cli"}})
    def aws(*args):
        return aws_cli(url, "dynamodb", *args)

    on = aws("update-continuous-backups", "--table-name", name, "--point-in-time-recovery-specification",
             "PointInTimeRecoveryEnabled=true,RecoveryPeriodInDays=3")
    assert on["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["RecoveryPeriodInDays"] == 3
    described = aws("describe-continuous-backups", "--table-name", name)
    assert described["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
        "PointInTimeRecoveryStatus"] == "ENABLED"
    target = random_table_name()
    made = aws("restore-table-to-point-in-time", "--source-table-name", name, "--target-table-name", target,
               "--use-latest-restorable-time")
    assert made["TableDescription"]["TableStatus"] == "CREATING"
    assert wait_until(lambda: client.describe_table(TableName=target)["Table"]["TableStatus"] == "ACTIVE")
    assert client.get_item(TableName=target, Key={"p": {"S": "via-cli"}})["Item"] == {"p": {"S": "via-cli"}}
    delete_table(client, target)
    delete_table(client, name)


class Model:
    """The table as the test believes it is, and random changes made to both."""

    def __init__(self, client, name, rng):
        self.client, self.name, self.rng = client, name, rng
        self.items = {}

    def key(self, p, s):
        return {"p": {"S": f"p{p}"}, "s": {"N": str(s)}}

    def random_key(self):
        return self.rng.randrange(6), self.rng.randrange(12)

    def new_item(self, p, s, now):
        item = {**self.key(p, s), "v": {"N": str(self.rng.randrange(1000))},
                "blob": {"B": bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 40)))}}
        if self.rng.random() < 0.6:
            item["g"] = {"S": f"g{self.rng.randrange(3)}"}
        if self.rng.random() < 0.5:
            item["l"] = {"N": str(self.rng.randrange(-50, 50))}
        if self.rng.random() < 0.2:
            item["exp"] = {"N": str(now + self.rng.randrange(1, 6))}
        return item

    def put(self, now):
        p, s = self.random_key()
        item = self.new_item(p, s, now)
        self.client.put_item(TableName=self.name, Item=item)
        self.items[(p, s)] = item

    def delete(self, _now):
        p, s = self.random_key()
        self.client.delete_item(TableName=self.name, Key=self.key(p, s))
        self.items.pop((p, s), None)

    def update(self, _now):
        p, s = self.random_key()
        out = self.client.update_item(TableName=self.name, Key=self.key(p, s),
                                      UpdateExpression="ADD v :one REMOVE g", ReturnValues="ALL_NEW",
                                      ExpressionAttributeValues={":one": {"N": "1"}})
        self.items[(p, s)] = out["Attributes"]

    def transact(self, now):
        keys = set()
        while len(keys) < 3:
            keys.add(self.random_key())
        (pp, ps), (dp, ds), (cp, cs) = keys
        put = self.new_item(pp, ps, now)
        self.client.transact_write_items(TransactItems=[
            {"Put": {"TableName": self.name, "Item": put}},
            {"Delete": {"TableName": self.name, "Key": self.key(dp, ds)}},
            {"Update": {"TableName": self.name, "Key": self.key(cp, cs), "UpdateExpression": "SET w = :w",
                        "ExpressionAttributeValues": {":w": {"S": "tx"}}}},
        ])
        self.items[(pp, ps)] = put
        self.items.pop((dp, ds), None)
        self.items[(cp, cs)] = {**self.items.get((cp, cs), self.key(cp, cs)), "w": {"S": "tx"}}

    def expire(self, now):
        """Items whose expiry has passed: deleted by the server's expirer; waits for it."""
        due = [k for k, i in self.items.items() if "exp" in i and int(i["exp"]["N"]) <= now]
        for k in due:
            assert wait_until(lambda: "Item" not in self.client.get_item(
                TableName=self.name, Key=self.key(*k), ConsistentRead=True), timeout=10), k
            del self.items[k]
        return len(due)


@pytest.mark.dynarock_only  # DynamoDB's restorable window ends minutes before now.
def test_a_restore_to_any_instant_is_the_table_as_it_was_then(tmp_path):
    with own_server("--manual-clock", "--throttling", "off", "--ttl-interval-seconds", "0.02",
                    data_dir=tmp_path) as (url, _):
        client = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", config=NO_RETRIES,
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        move = clock_mover(url)
        move(to="2027-01-01T00:00:00Z")
        start = int(datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc).timestamp())
        name = create_table(client, random_table_name(), KEYS, DEFS, GlobalSecondaryIndexes=GSI,
                            LocalSecondaryIndexes=LSI)
        client.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True,
                                                                            "AttributeName": "exp"})
        rng = random.Random(int(os.environ.get("PITR_SEED", "27")))
        model = Model(client, name, rng)
        # Items from before PITR was on are in every restore until they change.
        for _ in range(20):
            model.put(start)
        client.update_continuous_backups(TableName=name,
                                         PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        states, operations, expired = {start: copy.deepcopy(model.items)}, 0, 0
        for step in range(1, 151):
            move(advance=1)
            now = start + step
            expired += model.expire(now)
            for _ in range(15):
                rng.choices([model.put, model.delete, model.update, model.transact],
                            weights=[5, 2, 3, 1])[0](now)
                operations += 1
            states[now] = copy.deepcopy(model.items)
        assert operations >= 2000 and expired >= 20, (operations, expired)
        instants = [start, start + 1, start + 75, start + 150] + rng.sample(sorted(states), 8)
        for instant in instants:
            target = random_table_name()
            client.restore_table_to_point_in_time(
                SourceTableName=name, TargetTableName=target,
                RestoreDateTime=datetime.datetime.fromtimestamp(instant, datetime.timezone.utc))
            assert wait_until(lambda: client.describe_table(TableName=target)["Table"]["TableStatus"]
                              == "ACTIVE", timeout=30)
            expected = list(states[instant].values())
            assert canonical(scan_all(client, target)) == canonical(expected), instant - start
            assert canonical(scan_all(client, target, "byG")) == canonical(i for i in expected if "g" in i)
            keys_only = [{k: i[k] for k in ("p", "s", "l")} for i in expected if "l" in i]
            assert canonical(scan_all(client, target, "byL")) == canonical(keys_only)
            table = client.describe_table(TableName=target)["Table"]
            assert table["ItemCount"] == len(expected)
            assert table["RestoreSummary"]["RestoreDateTime"].timestamp() == instant
            delete_table(client, target)
        # The latest restorable time is now: the table as it is.
        target = random_table_name()
        client.restore_table_to_point_in_time(SourceTableName=name, TargetTableName=target,
                                              UseLatestRestorableTime=True)
        assert wait_until(lambda: client.describe_table(TableName=target)["Table"]["TableStatus"] == "ACTIVE",
                          timeout=30)
        assert canonical(scan_all(client, target)) == canonical(model.items.values())
        # The window moves with the recovery period: a day's period forgets what is older.
        client.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 1})
        move(advance=86400 + 100)
        window = pitr_of(client, name)["PointInTimeRecoveryDescription"]
        assert window["EarliestRestorableDateTime"].timestamp() == start + 150 + 100
        with expect_error("InvalidRestoreTimeException"):
            client.restore_table_to_point_in_time(
                SourceTableName=name, TargetTableName=random_table_name(),
                RestoreDateTime=datetime.datetime.fromtimestamp(start + 150, datetime.timezone.utc))
