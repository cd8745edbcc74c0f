"""Whole-server backups (`dynarock backup`, `dynarock backups`, `dynarock restore`): a running
server's database and functions' code go to a backup folder, incrementally; a stopped server's
data directory is restored from any of its backups and serves what it held then."""

import os
import subprocess

import boto3
import pytest

from conftest import NO_RETRIES, own_server
from functions import invoke, zip_of
from util import create_table, wait_until

pytestmark = pytest.mark.dynarock_only  # the server's own command line

ENV = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")


def dynarock(*args):
    return subprocess.run([os.environ["DYNAROCK_BIN"], *args], env=ENV, capture_output=True, text=True,
                          timeout=120)


def clients(url):
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name="us-east-1")
    return (session.client("dynamodb", endpoint_url=url, config=NO_RETRIES),
            session.client("lambda", endpoint_url=url, config=NO_RETRIES))


SQUARE = "def handler(event, context):\n    return event['n'] * event['n']\n"


def test_a_server_backed_up_and_restored_serves_what_it_held(tmp_path):
    folder = tmp_path / "backups"
    with own_server(data_dir=tmp_path / "first") as (url, _):
        ddb, lam = clients(url)
        create_table(ddb, "kept", [{"AttributeName": "p", "KeyType": "HASH"}],
                     [{"AttributeName": "p", "AttributeType": "S"}])
        for i in range(100):
            ddb.put_item(TableName="kept", Item={"p": {"S": f"k{i}"}, "v": {"N": str(i)}})
        lam.create_function(FunctionName="square", Runtime="python3.12", Role="arn:aws:iam::123456789012:role/r",
                            Handler="app.handler", Code={"ZipFile": zip_of({"app.py": SQUARE})})
        lam.get_waiter("function_active_v2").wait(FunctionName="square")
        first = dynarock("backup", "--to", str(folder), "--endpoint", url)
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith("backup 1 added to ") and "(1 new code packages)" in first.stdout
        # Written after the first backup: only in the second, which copies no code again.
        ddb.put_item(TableName="kept", Item={"p": {"S": "later"}})
        second = dynarock("backup", "--to", str(folder), "--endpoint", url)
        assert second.returncode == 0 and "backup 2 added" in second.stdout and "(0 new" in second.stdout
    listed = dynarock("backups", str(folder))
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["ID", "1", "2"]

    restored = tmp_path / "restored"
    done = dynarock("restore", "--from", str(folder), "--data-dir", str(restored), "--backup-id", "1")
    assert done.returncode == 0, done.stderr
    with own_server(data_dir=restored) as (url, _):
        ddb, lam = clients(url)
        assert ddb.describe_table(TableName="kept")["Table"]["ItemCount"] == 100
        assert ddb.get_item(TableName="kept", Key={"p": {"S": "k42"}})["Item"]["v"] == {"N": "42"}
        assert "Item" not in ddb.get_item(TableName="kept", Key={"p": {"S": "later"}})
        assert invoke(lam, "square", {"n": 7})[1] == 49
    again = dynarock("restore", "--from", str(folder), "--data-dir", str(restored))
    assert again.returncode != 0 and "holds a database already" in again.stderr
    latest = tmp_path / "latest"
    assert dynarock("restore", "--from", str(folder), "--data-dir", str(latest)).returncode == 0
    with own_server(data_dir=latest) as (url, _):
        ddb, _ = clients(url)
        assert ddb.get_item(TableName="kept", Key={"p": {"S": "later"}})["Item"] == {"p": {"S": "later"}}


def test_what_cannot_be_backed_up_is_refused_with_the_reason(tmp_path):
    with own_server() as (url, _):
        done = dynarock("backup", "--to", str(tmp_path / "b"), "--endpoint", url)
        assert done.returncode != 0 and "An in-memory server has no database files to back up" in done.stderr
    missing = dynarock("backups", str(tmp_path / "nothing-here"))
    assert missing.returncode != 0 and "is not a backup folder" in missing.stderr
    assert not (tmp_path / "nothing-here").exists()
    missing = dynarock("restore", "--from", str(tmp_path / "nothing-here"), "--data-dir", str(tmp_path / "d"))
    assert missing.returncode != 0 and "is not a backup folder" in missing.stderr


def test_a_server_killed_during_a_backup_keeps_its_data_and_its_backup_folder_usable(tmp_path):
    data, folder = tmp_path / "data", tmp_path / "backups"
    (data / "s3" / "bucket").mkdir(parents=True)
    count = 200_000
    with open(data / "s3" / "bucket" / "rows.json", "w") as f:
        for i in range(count):
            f.write('{"Item":{"p":{"S":"k%d"},"v":{"S":"%s"}}}\n' % (i, "x" * 200))
    table = {"TableName": "big", "BillingMode": "PAY_PER_REQUEST",
             "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"}],
             "AttributeDefinitions": [{"AttributeName": "p", "AttributeType": "S"}]}
    with own_server(data_dir=data) as (url, server):
        ddb, _ = clients(url)
        arn = ddb.import_table(S3BucketSource={"S3Bucket": "bucket"}, InputFormat="DYNAMODB_JSON",
                               TableCreationParameters=table)["ImportTableDescription"]["ImportArn"]
        assert wait_until(lambda: ddb.describe_import(ImportArn=arn)["ImportTableDescription"]["ImportStatus"]
                          == "COMPLETED", timeout=60)
        backup = subprocess.Popen([os.environ["DYNAROCK_BIN"], "backup", "--to", str(folder), "--endpoint", url],
                                  env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert wait_until(lambda: (folder / "database").exists() or backup.poll() is not None, timeout=30)
        server.kill()  # kill -9, while the backup is written (or just after)
        backup.wait(timeout=60)
    # The folder lists the complete backups only, and takes new ones.
    listed = dynarock("backups", str(folder))
    assert listed.returncode == 0, listed.stderr
    with own_server(data_dir=data) as (url, _):
        ddb, _ = clients(url)
        assert ddb.describe_table(TableName="big")["Table"]["ItemCount"] == count
        again = dynarock("backup", "--to", str(folder), "--endpoint", url)
        assert again.returncode == 0, again.stderr
    ids = [line.split()[0] for line in dynarock("backups", str(folder)).stdout.splitlines()[1:]]
    restored = tmp_path / "restored"
    done = dynarock("restore", "--from", str(folder), "--data-dir", str(restored), "--backup-id", ids[-1])
    assert done.returncode == 0, done.stderr
    with own_server(data_dir=restored) as (url, _):
        ddb, _ = clients(url)
        assert ddb.describe_table(TableName="big")["Table"]["ItemCount"] == count
