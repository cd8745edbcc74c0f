"""SQS over its JSON protocol, as far as dynarock serves it: queues, attributes, send,
receive with visibility and long polling, delete, purge, and SQS's errors."""

import time

import boto3
import pytest

from util import expect_error, random_string


@pytest.fixture(scope="module")
def sqs(url, region):
    return boto3.client("sqs", endpoint_url=url, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def queue(sqs):
    url = sqs.create_queue(QueueName="compat-q-" + random_string(8), Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)


def test_queues_are_created_found_and_listed(sqs, queue):
    name = queue.rsplit("/", 1)[1]
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == queue
    # Creating it again with the same attributes returns the same queue.
    assert sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "2"})["QueueUrl"] == queue
    assert queue in sqs.list_queues(QueueNamePrefix=name)["QueueUrls"]
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "2" and attrs["MessageRetentionPeriod"] == "345600"
    assert attrs["QueueArn"].endswith(f":{name}") and attrs["QueueArn"].startswith("arn:aws:sqs:")
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"DelaySeconds": "0", "VisibilityTimeout": "3"})
    assert sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["VisibilityTimeout"])["Attributes"] == {
        "VisibilityTimeout": "3"}


def test_errors_are_sqs_errors(sqs, queue):
    name = queue.rsplit("/", 1)[1]
    with expect_error("AWS.SimpleQueueService.NonExistentQueue"):
        sqs.get_queue_url(QueueName="compat-missing-" + random_string(6))
    with expect_error("QueueAlreadyExists"):
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "9"})
    with expect_error("InvalidAttributeName"):
        sqs.create_queue(QueueName="compat-q-" + random_string(8), Attributes={"Nope": "1"})
    with expect_error("InvalidParameterValue"):
        sqs.create_queue(QueueName="bad name!")
    with expect_error("InvalidParameterValue"):
        sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=11)
    with expect_error("ReceiptHandleIsInvalid"):
        sqs.delete_message(QueueUrl=queue, ReceiptHandle="garbage")


def test_messages_are_sent_received_hidden_and_deleted(sqs, queue):
    sent = sqs.send_message(QueueUrl=queue, MessageBody="hello")
    assert sent["MD5OfMessageBody"] == "5d41402abc4b2a76b9719d911017c592"
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert [(m["MessageId"], m["Body"]) for m in got] == [(sent["MessageId"], "hello")]
    assert got[0]["Attributes"]["ApproximateReceiveCount"] == "1"
    # Hidden while in flight, then visible again with a higher receive count.
    assert "Messages" not in sqs.receive_message(QueueUrl=queue)
    counts = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]) == ("0", "1")
    again = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5, AttributeNames=["All"])["Messages"]
    assert again[0]["MessageId"] == sent["MessageId"] and again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=again[0]["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0)


def test_long_polling_returns_when_a_message_arrives(sqs, queue):
    start = time.time()
    assert "Messages" not in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)
    assert time.time() - start >= 0.9
    sqs.send_message(QueueUrl=queue, MessageBody="later", DelaySeconds=1)
    start = time.time()
    got = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=10)["Messages"]
    assert got[0]["Body"] == "later" and time.time() - start < 5


def test_visibility_can_be_changed_and_queues_purged(sqs, queue):
    for i in range(3):
        sqs.send_message(QueueUrl=queue, MessageBody=f"m{i}")
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=60)["Messages"]
    assert sorted(m["Body"] for m in got) == ["m0", "m1", "m2"]
    sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=got[0]["ReceiptHandle"], VisibilityTimeout=0)
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=queue)["Messages"]] == [got[0]["Body"]]
    sqs.purge_queue(QueueUrl=queue)
    counts = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "0" and counts["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_a_deleted_queue_is_gone(sqs):
    url = sqs.create_queue(QueueName="compat-q-" + random_string(8))["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    with expect_error("AWS.SimpleQueueService.NonExistentQueue"):
        sqs.send_message(QueueUrl=url, MessageBody="x")
