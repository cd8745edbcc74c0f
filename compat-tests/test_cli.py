"""The aws CLI, unchanged, against the endpoint."""

import json
import shutil

import pytest

from util import aws_cli, random_table_name

pytestmark = pytest.mark.skipif(shutil.which("aws") is None, reason="aws CLI not installed")


def aws(url, region, *args):
    return aws_cli(url, *args, region=region)


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


def test_cli_reaches_every_service_dynarock_serves(url, region):
    """DynamoDB Streams, SQS, CloudWatch Logs, Lambda, EventBridge and Scheduler, each through its
    own `aws` command."""
    name = random_table_name()
    created = aws(url, region, "dynamodb", "create-table", "--table-name", name,
                  "--attribute-definitions", "AttributeName=id,AttributeType=S",
                  "--key-schema", "AttributeName=id,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST",
                  "--stream-specification", "StreamEnabled=true,StreamViewType=KEYS_ONLY")
    stream = created["TableDescription"]["LatestStreamArn"]
    try:
        aws(url, region, "dynamodb", "wait", "table-exists", "--table-name", name)
        listed = aws(url, region, "dynamodbstreams", "list-streams", "--table-name", name)["Streams"]
        assert [s["StreamArn"] for s in listed] == [stream]
        described = aws(url, region, "dynamodbstreams", "describe-stream", "--stream-arn", stream)
        assert described["StreamDescription"]["StreamStatus"] == "ENABLED"
    finally:
        aws(url, region, "dynamodb", "delete-table", "--table-name", name)
    queue = aws(url, region, "sqs", "create-queue", "--queue-name", f"cli-{name[-8:]}")["QueueUrl"]
    aws(url, region, "sqs", "send-message", "--queue-url", queue, "--message-body", "hello")
    received = aws(url, region, "sqs", "receive-message", "--queue-url", queue)["Messages"]
    assert [m["Body"] for m in received] == ["hello"]
    aws(url, region, "sqs", "delete-queue", "--queue-url", queue)
    assert isinstance(aws(url, region, "logs", "describe-log-groups")["logGroups"], list)
    assert isinstance(aws(url, region, "lambda", "list-functions")["Functions"], list)
    assert isinstance(aws(url, region, "events", "list-rules")["Rules"], list)
    assert isinstance(aws(url, region, "scheduler", "list-schedules")["Schedules"], list)
