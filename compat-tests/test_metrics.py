"""`GET /metrics` (Prometheus, OpenMetrics text) and `GET /ready`: dynarock's own endpoints,
with metrics named after DynamoDB's and Lambda's CloudWatch metrics. The scrape is parsed with
the Prometheus project's own Python parser."""

import boto3
import pytest
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from conftest import NO_RETRIES, own_server
from functions import function, invoke, zip_of
from util import create_table, random_table_name, wait_until

pytestmark = pytest.mark.dynarock_only  # the server's own endpoints

FAILS_ON_ODD = "def handler(event, context):\n    if event['n'] % 2:\n        raise ValueError('odd')\n    return event['n']\n"


def scrape(url):
    r = requests.get(f"{url}/metrics", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture(scope="module")
def server():
    with own_server() as (url, _):
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                        region_name="us-east-1")
        yield url, session.client("dynamodb", endpoint_url=url, config=NO_RETRIES), \
            session.client("lambda", endpoint_url=url, config=NO_RETRIES)


def test_requests_are_counted_per_table_and_operation_as_cloudwatch_counts_them(server):
    url, ddb, _ = server
    name = create_table(ddb, random_table_name(), [{"AttributeName": "p", "KeyType": "HASH"},
                                                   {"AttributeName": "s", "KeyType": "RANGE"}],
                        [{"AttributeName": "p", "AttributeType": "S"}, {"AttributeName": "s", "AttributeType": "N"}])
    for i in range(3):
        ddb.put_item(TableName=name, Item={"p": {"S": "a"}, "s": {"N": str(i)}, "v": {"S": "x" * 1500}})
    ddb.get_item(TableName=name, Key={"p": {"S": "a"}, "s": {"N": "0"}}, ConsistentRead=True)
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.put_item(TableName=name, Item={"p": {"S": "a"}, "s": {"N": "0"}}, ConditionExpression="attribute_not_exists(p)")
    with pytest.raises(ddb.exceptions.ClientError):
        ddb.get_item(TableName=name, Key={"p": {"S": "a"}})  # missing the sort key
    assert ddb.query(TableName=name, KeyConditionExpression="p = :p",
                     ExpressionAttributeValues={":p": {"S": "a"}})["Count"] == 3
    ddb.list_tables()
    s = scrape(url)
    t = {"region": "us-east-1", "table": name}
    assert value(s, "dynamodb_successful_request_latency_seconds_count", **t, operation="PutItem") == 3
    assert value(s, "dynamodb_successful_request_latency_seconds_count", **t, operation="GetItem") == 1
    assert value(s, "dynamodb_successful_request_latency_seconds_sum", **t, operation="PutItem") > 0
    assert value(s, "dynamodb_conditional_check_failed_requests_total", **t, operation="PutItem") == 1
    assert value(s, "dynamodb_user_errors_total", **t, operation="GetItem") == 1
    assert value(s, "dynamodb_returned_item_count_total", **t, operation="Query") == 3
    # Three 1.5 KB items written (2 units each; the failed conditional put wrote nothing); one
    # consistent read of 1.5 KB (1 unit) and an eventually consistent Query of 4.5 KB (1 unit).
    assert value(s, "dynamodb_consumed_write_capacity_units_total", **t) == 6
    assert value(s, "dynamodb_consumed_read_capacity_units_total", **t) == 2
    assert value(s, "dynamodb_item_count", **t) == 3
    assert value(s, "dynamodb_table_size_bytes", **t) > 4500
    assert value(s, "dynamodb_successful_request_latency_seconds_count", region="", table="",
                 operation="ListTables") >= 1
    assert value(s, "rocksdb_is_write_stopped") == 0
    # A deleted table's series go with it: the label sets are bounded by the tables.
    ddb.delete_table(TableName=name)
    assert not [k for k in scrape(url) if dict(k[1]).get("table") == name]


def test_caches_report_what_they_hold_and_serve(server):
    """Item reads answered by the item cache and not, its bytes, and the block cache's bytes."""
    url, ddb, _ = server
    name = create_table(ddb, random_table_name(), [{"AttributeName": "p", "KeyType": "HASH"}],
                        [{"AttributeName": "p", "AttributeType": "S"}])
    before = scrape(url)
    ddb.put_item(TableName=name, Item={"p": {"S": "cached"}, "v": {"S": "x" * 100}})
    for _ in range(3):
        ddb.get_item(TableName=name, Key={"p": {"S": "cached"}})
    ddb.get_item(TableName=name, Key={"p": {"S": "absent"}})
    after = scrape(url)

    def grew(metric):
        return value(after, metric) - value(before, metric)
    # The put wrote the item into the cache: three reads of it hit; the absent key misses (and
    # so did the put's own read of the old item).
    assert grew("dynarock_item_cache_hits_total") == 3
    assert grew("dynarock_item_cache_misses_total") == 2
    assert value(after, "dynarock_item_cache_bytes") > 100
    assert value(after, "rocksdb_block_cache_usage_bytes") > 0
    ddb.delete_table(TableName=name)


def test_block_cache_lookups_and_write_stalls_are_counted():
    """RocksDB's own figures: block cache hits and misses per kind of block, and stall time.
    With the smallest budget a few MB of items leave the memtable for table files, so a Scan
    reads data blocks through the block cache."""
    with own_server("--memory-mb", "32") as (url, _):
        ddb = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", config=NO_RETRIES,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        name = create_table(ddb, random_table_name(), [{"AttributeName": "p", "KeyType": "HASH"}],
                            [{"AttributeName": "p", "AttributeType": "S"}])
        for batch in range(40):
            items = [{"PutRequest": {"Item": {"p": {"S": f"{batch}-{i}"}, "v": {"S": "x" * 4000}}}}
                     for i in range(25)]
            assert not ddb.batch_write_item(RequestItems={name: items})["UnprocessedItems"]
        data = {"kind": "data"}

        def lookups(samples):
            return sum(value(samples, f"rocksdb_block_cache_{w}_total", **data) for w in ("hits", "misses"))

        before = scrape(url)
        assert {k for k in ("data", "index", "filter")
                if value(before, "rocksdb_block_cache_misses_total", kind=k) is not None} == {"data", "index", "filter"}

        def scanned_blocks():
            pages = ddb.get_paginator("scan").paginate(TableName=name)
            assert sum(page["Count"] for page in pages) == 1000
            return lookups(scrape(url)) > lookups(before)
        assert wait_until(scanned_blocks, timeout=20)
        first = scrape(url)
        assert value(first, "rocksdb_block_cache_misses_total", **data) > 0
        # The blocks the first pass read stay in the cache (4 MB of items, a 24 MB cache): a
        # second pass hits them.
        scanned_blocks()
        second = scrape(url)
        assert value(second, "rocksdb_block_cache_hits_total", **data) > \
            value(first, "rocksdb_block_cache_hits_total", **data)
        assert value(second, "rocksdb_stall_seconds_total") == 0
        assert value(second, "rocksdb_is_write_stopped") == 0


def test_functions_are_counted_as_lambda_counts_them(server):
    url, _, lam = server
    name = "metrics-" + random_table_name()[-8:]
    lam.create_function(FunctionName=name, Runtime="python3.12", Role="arn:aws:iam::123456789012:role/r",
                        Handler="app.handler", Code={"ZipFile": zip_of({"app.py": FAILS_ON_ODD})})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    for n in range(3):
        invoke(lam, name, {"n": n})
    s = scrape(url)
    f = {"region": "us-east-1", "function_name": name}
    assert value(s, "lambda_invocations_total", **f) == 3
    assert value(s, "lambda_errors_total", **f) == 1
    assert value(s, "lambda_duration_seconds_count", **f) == 3
    lam.delete_function(FunctionName=name)
    assert value(scrape(url), "lambda_invocations_total", **f) is None


def test_stream_mappings_report_their_iterator_age(server):
    url, ddb, lam = server
    name = create_table(ddb, random_table_name(), [{"AttributeName": "p", "KeyType": "HASH"}],
                        [{"AttributeName": "p", "AttributeType": "S"}],
                        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    arn = ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    with function(lam, {"app.py": "def handler(e, c):\n    return len(e['Records'])\n"}) as fn:
        uuid = lam.create_event_source_mapping(FunctionName=fn, EventSourceArn=arn,
                                               StartingPosition="TRIM_HORIZON")["UUID"]
        ddb.put_item(TableName=name, Item={"p": {"S": "x"}})
        labels = {"function_name": fn, "uuid": uuid}
        assert wait_until(lambda: value(scrape(url), "lambda_invocations_total", region="us-east-1",
                                        function_name=fn) == 1, timeout=30)
        age = value(scrape(url), "lambda_iterator_age_seconds", **labels)
        assert age is not None and 0 <= age < 30
        lam.delete_event_source_mapping(UUID=uuid)


def test_readiness(server):
    url, _, _ = server
    r = requests.get(f"{url}/ready", timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "ready"
    # Health stays as DynamoDB answers it.
    assert requests.get(url, timeout=10).text.startswith("healthy: dynamodb.")
