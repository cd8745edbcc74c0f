"""On-demand backups: CreateBackup, DescribeBackup, ListBackups, DeleteBackup and
RestoreTableFromBackup, on real data. A backup is the table at one instant, outlives the table,
and restores item for item with its indexes; the errors are DynamoDB's."""

import datetime
import json
import re
import time

import pytest

from util import aws_cli, create_table, delete_table, expect_error, random_table_name, scan_all, wait_until

ARN = re.compile(r"^arn:aws:dynamodb:us-east-1:\d{12}:table/(.+)/backup/\d{14}-[0-9a-f]{8}$")

KEYS = [{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "s", "KeyType": "RANGE"}]
DEFS = [{"AttributeName": "p", "AttributeType": "S"}, {"AttributeName": "s", "AttributeType": "N"},
        {"AttributeName": "g", "AttributeType": "S"}, {"AttributeName": "l", "AttributeType": "B"}]
GSI = [{"IndexName": "byG", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"}}]
LSI = [{"IndexName": "byL", "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"},
                                          {"AttributeName": "l", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"}}]


def item(i):
    """Items of every kind of value a backup must keep exactly."""
    return {"p": {"S": f"p{i % 7}"}, "s": {"N": f"{i}.{'0' * 30}1"},
            "g": {"S": f"g{i % 3}"}, "l": {"B": bytes([i % 256, 0, 255])},
            "nested": {"M": {"list": {"L": [{"N": "-0.5"}, {"S": ""}, {"NULL": True}]},
                             "set": {"SS": ["a", "b"]}, "bin": {"BS": [b"\x00", b"\x01"]}}},
            "empty": {"S": ""}, "n": {"NS": ["1", "99999999999999999999999999999999999999"]}}


def everything(client, name, index=None):
    return sorted(scan_all(client, name, index), key=lambda i: json.dumps(i, sort_keys=True, default=str))


def available(client, arn):
    wait_until(lambda: client.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]
               ["BackupStatus"] == "AVAILABLE", timeout=30)
    return client.describe_backup(BackupArn=arn)["BackupDescription"]


def restored(client, backup_arn, **overrides):
    target = random_table_name()
    described = client.restore_table_from_backup(TargetTableName=target, BackupArn=backup_arn, **overrides)
    client.get_waiter("table_exists").wait(TableName=target, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert wait_until(lambda: client.describe_table(TableName=target)["Table"]["TableStatus"] == "ACTIVE",
                      timeout=30)
    return target, described["TableDescription"]


@pytest.fixture
def source(client):
    name = create_table(client, random_table_name(), KEYS, DEFS, GlobalSecondaryIndexes=GSI,
                        LocalSecondaryIndexes=LSI, Tags=[{"Key": "team", "Value": "a"}],
                        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    for i in range(60):
        client.put_item(TableName=name, Item=item(i))
    yield name
    delete_table(client, name)


def test_a_backup_is_the_table_at_one_instant_and_restores_item_for_item(client, source):
    before = everything(client, source)
    created = client.create_backup(TableName=source, BackupName="nightly")["BackupDetails"]
    assert ARN.match(created["BackupArn"]).group(1) == source
    assert created["BackupName"] == "nightly" and created["BackupType"] == "USER"
    assert created["BackupStatus"] in ("CREATING", "AVAILABLE")
    # Writes after the backup are not in it.
    client.put_item(TableName=source, Item=item(1000))
    client.delete_item(TableName=source, Key={"p": item(0)["p"], "s": item(0)["s"]})
    described = available(client, created["BackupArn"])
    details, table = described["BackupDetails"], described["SourceTableDetails"]
    assert details["BackupSizeBytes"] > 0 and details["BackupCreationDateTime"] == created["BackupCreationDateTime"]
    assert (table["TableName"], table["ItemCount"], table["BillingMode"]) == (source, 60, "PAY_PER_REQUEST")
    assert table["KeySchema"] == KEYS
    features = described["SourceTableFeatureDetails"]
    assert [i["IndexName"] for i in features["GlobalSecondaryIndexes"]] == ["byG"]
    assert [i["IndexName"] for i in features["LocalSecondaryIndexes"]] == ["byL"]
    assert features["StreamDescription"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}

    target, description = restored(client, created["BackupArn"])
    assert description["TableStatus"] == "CREATING"
    assert description["RestoreSummary"]["SourceBackupArn"] == created["BackupArn"]
    assert description["RestoreSummary"]["RestoreInProgress"] is True
    table = client.describe_table(TableName=target)["Table"]
    assert table["RestoreSummary"]["RestoreInProgress"] is False
    assert table["RestoreSummary"]["SourceTableArn"].endswith(f":table/{source}")
    assert table["ItemCount"] == 60
    assert everything(client, target) == before
    # The indexes came back entry for entry: the restored table's index holds the backup's
    # items (the source has changed since).
    assert everything(client, target, "byG") == before
    got = client.query(TableName=target, IndexName="byL", KeyConditionExpression="p = :p",
                       ExpressionAttributeValues={":p": {"S": "p3"}})["Items"]
    assert sorted(i["l"]["B"] for i in got) == sorted(bytes([i % 256, 0, 255]) for i in range(60) if i % 7 == 3)
    # What a restore does not bring back: tags, the stream.
    assert "StreamSpecification" not in table and "LatestStreamArn" not in table
    assert client.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"] == []
    # The restored table is a table like any other.
    client.put_item(TableName=target, Item=item(5000))
    assert client.get_item(TableName=target, Key={"p": item(5000)["p"], "s": item(5000)["s"]})["Item"] == item(5000)
    delete_table(client, target)


def test_a_backup_outlives_its_table(client):
    name = create_table(client, random_table_name(), KEYS[:1], DEFS[:1])
    client.put_item(TableName=name, Item={"p": {"S": "kept"}})
    arn = client.create_backup(TableName=name, BackupName="before-delete")["BackupDetails"]["BackupArn"]
    available(client, arn)
    client.delete_table(TableName=name)
    assert any(b["BackupArn"] == arn for b in client.list_backups(TableName=name)["BackupSummaries"])
    target, _ = restored(client, arn)
    assert client.get_item(TableName=target, Key={"p": {"S": "kept"}})["Item"] == {"p": {"S": "kept"}}
    delete_table(client, target)
    client.delete_backup(BackupArn=arn)


def test_restore_overrides_billing_and_indexes(client, source):
    arn = client.create_backup(TableName=source, BackupName="bk1")["BackupDetails"]["BackupArn"]
    available(client, arn)
    # Provisioned, without the backup's GSI, and with a new one built from the items.
    new_gsi = [{"IndexName": "byS", "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"},
                                                  {"AttributeName": "s", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}}]
    target, _ = restored(client, arn, BillingModeOverride="PROVISIONED",
                         ProvisionedThroughputOverride={"ReadCapacityUnits": 7, "WriteCapacityUnits": 3},
                         GlobalSecondaryIndexOverride=new_gsi)
    table = client.describe_table(TableName=target)["Table"]
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 7
    assert table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED") == "PROVISIONED"
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["byS"]
    assert wait_until(lambda: client.describe_table(TableName=target)["Table"]["GlobalSecondaryIndexes"][0]
                      ["IndexStatus"] == "ACTIVE", timeout=30)
    got = client.query(TableName=target, IndexName="byS", KeyConditionExpression="p = :p",
                       ExpressionAttributeValues={":p": {"S": "p1"}})["Items"]
    assert len(got) == len([i for i in range(60) if i % 7 == 1])
    delete_table(client, target)
    client.delete_backup(BackupArn=arn)


def test_list_backups_filters_and_pages(client):
    name = create_table(client, random_table_name(), KEYS[:1], DEFS[:1])
    arns = []
    for i in range(3):
        arns.append(client.create_backup(TableName=name, BackupName=f"bk{i}")["BackupDetails"]["BackupArn"])
        # The SDK sends time bounds in whole seconds: the first backup a second before the rest.
        time.sleep(1.05 if i == 0 else 0.002)
    for arn in arns:
        available(client, arn)
    listed = client.list_backups(TableName=name)["BackupSummaries"]
    assert [b["BackupArn"] for b in listed] == arns
    assert {b["BackupType"] for b in listed} == {"USER"} and listed[0]["TableName"] == name
    assert client.list_backups(TableName=name, BackupType="SYSTEM")["BackupSummaries"] == []
    first = client.list_backups(TableName=name, Limit=2)
    assert [b["BackupArn"] for b in first["BackupSummaries"]] == arns[:2]
    rest = client.list_backups(TableName=name, Limit=2, ExclusiveStartBackupArn=first["LastEvaluatedBackupArn"])
    assert [b["BackupArn"] for b in rest["BackupSummaries"]] == arns[2:] and "LastEvaluatedBackupArn" not in rest
    second = listed[1]["BackupCreationDateTime"]
    bounded = client.list_backups(TableName=name, TimeRangeLowerBound=second,
                                  TimeRangeUpperBound=second + datetime.timedelta(hours=1))
    assert [b["BackupArn"] for b in bounded["BackupSummaries"]] == arns[1:]
    for arn in arns:
        deleted = client.delete_backup(BackupArn=arn)["BackupDescription"]
        assert deleted["BackupDetails"]["BackupStatus"] == "DELETED"
    assert client.list_backups(TableName=name)["BackupSummaries"] == []
    delete_table(client, name)


def test_backup_errors(client, source):
    missing = "arn:aws:dynamodb:us-east-1:000000000000:table/none/backup/01700000000000-0123abcd"
    with expect_error("BackupNotFoundException", f"Backup not found for the given BackupARN: {missing}"):
        client.describe_backup(BackupArn=missing)
    with expect_error("BackupNotFoundException"):
        client.delete_backup(BackupArn=missing)
    with expect_error("BackupNotFoundException"):
        client.restore_table_from_backup(TargetTableName="anything", BackupArn=missing)
    with expect_error("TableNotFoundException", "Table not found: no-such-table"):
        client.create_backup(TableName="no-such-table", BackupName="xx1")
    with expect_error("ValidationException", match="backupName"):
        client.create_backup(TableName=source, BackupName="a b")
    arn = client.create_backup(TableName=source, BackupName="bk1")["BackupDetails"]["BackupArn"]
    available(client, arn)
    with expect_error("TableAlreadyExistsException", f"Table already exists: {source}"):
        client.restore_table_from_backup(TargetTableName=source, BackupArn=arn)
    client.delete_backup(BackupArn=arn)
    with expect_error("BackupNotFoundException"):
        client.describe_backup(BackupArn=arn)


def test_the_aws_cli_drives_every_backup_operation(url, client):
    name = create_table(client, random_table_name(), KEYS[:1], DEFS[:1])
    client.put_item(TableName=name, Item={"p": {"S": "via-cli"}})
    def aws(*args):
        return aws_cli(url, "dynamodb", *args)

    arn = aws("create-backup", "--table-name", name, "--backup-name", "cli")["BackupDetails"]["BackupArn"]
    assert [b["BackupArn"] for b in aws("list-backups", "--table-name", name)["BackupSummaries"]] == [arn]
    available(client, arn)
    described = aws("describe-backup", "--backup-arn", arn)["BackupDescription"]
    assert described["SourceTableDetails"]["ItemCount"] == 1
    target = random_table_name()
    made = aws("restore-table-from-backup", "--target-table-name", target, "--backup-arn", arn)
    assert made["TableDescription"]["TableStatus"] == "CREATING"
    assert wait_until(lambda: client.describe_table(TableName=target)["Table"]["TableStatus"] == "ACTIVE")
    assert client.get_item(TableName=target, Key={"p": {"S": "via-cli"}})["Item"] == {"p": {"S": "via-cli"}}
    deleted = aws("delete-backup", "--backup-arn", arn)["BackupDescription"]["BackupDetails"]
    assert deleted["BackupStatus"] == "DELETED"
    delete_table(client, target)
    delete_table(client, name)
