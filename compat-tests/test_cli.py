"""The aws CLI, unchanged, against the endpoint."""

import json
import os
import shutil
import subprocess

import pytest

from util import random_table_name

pytestmark = pytest.mark.skipif(shutil.which("aws") is None, reason="aws CLI not installed")


def aws(url, region, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
               AWS_SECRET_ACCESS_KEY=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
               AWS_DEFAULT_REGION=region, AWS_PAGER="")
    out = subprocess.run(["aws", "--endpoint-url", url, "--output", "json", *args],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else None


def test_cli_table_and_items(url, region):
    name = random_table_name()
    created = aws(url, region, "dynamodb", "create-table", "--table-name", name,
                  "--attribute-definitions", "AttributeName=id,AttributeType=S",
                  "--key-schema", "AttributeName=id,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST")
    assert created["TableDescription"]["TableName"] == name
    try:
        aws(url, region, "dynamodb", "wait", "table-exists", "--table-name", name)
        aws(url, region, "dynamodb", "put-item", "--table-name", name,
            "--item", json.dumps({"id": {"S": "1"}, "n": {"N": "42"}, "tags": {"SS": ["a", "b"]}}))
        got = aws(url, region, "dynamodb", "get-item", "--table-name", name, "--key", '{"id": {"S": "1"}}',
                  "--consistent-read")
        assert got["Item"]["n"] == {"N": "42"}
        assert sorted(got["Item"]["tags"]["SS"]) == ["a", "b"]
        assert name in aws(url, region, "dynamodb", "list-tables")["TableNames"]
        aws(url, region, "dynamodb", "delete-item", "--table-name", name, "--key", '{"id": {"S": "1"}}')
        assert aws(url, region, "dynamodb", "get-item", "--table-name", name, "--key", '{"id": {"S": "1"}}') is None
    finally:
        aws(url, region, "dynamodb", "delete-table", "--table-name", name)
