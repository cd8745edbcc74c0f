"""Black-box tests of the DynamoDB API over HTTP.

They are written to pass against real DynamoDB as well as against dynarock: point them at any
endpoint with --url (and real credentials in the environment for AWS). Where dynarock differs
from DynamoDB on purpose, a marker and a comment say why.
"""

import contextlib
import os
import socket
import subprocess

import boto3
from botocore.exceptions import ClientError
import pytest
from botocore.config import Config

import requests

from util import random_table_name, create_table, delete_table, wait_until


def pytest_addoption(parser):
    parser.addoption("--url", action="store", default=os.environ.get("DYNAROCK_URL", "http://localhost:8000"),
                     help="DynamoDB endpoint to test")
    parser.addoption("--region", action="store", default="us-east-1")
    parser.addoption("--aws", action="store_true",
                     help="the endpoint is real DynamoDB: skip tests of dynarock-only guarantees")


def pytest_configure(config):
    config.addinivalue_line("markers", "dynarock_only: checks a guarantee dynarock gives beyond DynamoDB's "
                                       "(a comment at each use says which); skipped with --aws")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--aws"):
        skip = pytest.mark.skip(reason="dynarock-only guarantee")
        for item in items:
            if "dynarock_only" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def url(request):
    return request.config.getoption("--url")


@pytest.fixture(scope="session")
def region(request):
    return request.config.getoption("--region")


def _session(region):
    return boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        region_name=region,
    )


# Errors must surface at once: SDK retries would hide wrong 5xx answers and slow the suite.
# (botocore's `max_attempts` counts retries, not attempts: one attempt in all is this.)
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="session")
def dynamodb(url, region):
    return _session(region).resource("dynamodb", endpoint_url=url, config=NO_RETRIES)


@pytest.fixture(scope="session")
def client(url, region):
    """The low-level client (a resource's own client converts values, so it is not used here)."""
    return _session(region).client("dynamodb", endpoint_url=url, config=NO_RETRIES)


@pytest.fixture(scope="session")
def lam(url, region):
    """Lambda: a longer read timeout than botocore's 60 s is never needed (functions here time out
    in seconds), so the default stays."""
    return _session(region).client("lambda", endpoint_url=url, config=NO_RETRIES)


@pytest.fixture(scope="session")
def logs(url, region):
    return _session(region).client("logs", endpoint_url=url, config=NO_RETRIES)


@pytest.fixture(scope="session")
def streams(url, region):
    return _session(region).client("dynamodbstreams", endpoint_url=url, config=NO_RETRIES)


@pytest.fixture(scope="session")
def client_in(url):
    """A client for another region: tables are per region."""
    def make(region):
        return _session(region).client("dynamodb", endpoint_url=url, config=NO_RETRIES)
    return make


def _table_fixture(client, *keys):
    """A table keyed by (name, type) pairs: the partition key, then the sort key if any."""
    name = random_table_name()
    create_table(client, name,
                 [{"AttributeName": n, "KeyType": kt} for (n, _), kt in zip(keys, ["HASH", "RANGE"])],
                 [{"AttributeName": n, "AttributeType": t} for n, t in keys])
    yield name
    delete_table(client, name)


@pytest.fixture(scope="session")
def table_s(client):
    yield from _table_fixture(client, ("p", "S"))


@pytest.fixture(scope="session")
def table_sn(client):
    yield from _table_fixture(client, ("p", "S"), ("c", "N"))


@pytest.fixture(scope="session")
def table_ss(client):
    yield from _table_fixture(client, ("p", "S"), ("c", "S"))


@pytest.fixture(scope="session")
def table_b(client):
    yield from _table_fixture(client, ("p", "B"))


@pytest.fixture(scope="session")
def table_n(client):
    yield from _table_fixture(client, ("p", "N"))


@pytest.fixture
def new_name(client):
    """A fresh table name for a test that creates (and may protect) its own table; cleaned up."""
    name = random_table_name()
    yield name
    try:
        client.update_table(TableName=name, DeletionProtectionEnabled=False)
    except ClientError:
        pass
    delete_table(client, name)


@pytest.fixture
def record_table(client):
    """A table keyed by `id` (S) that functions under test write what they saw into."""
    name = random_table_name()
    create_table(client, name, [{"AttributeName": "id", "KeyType": "HASH"}],
                 [{"AttributeName": "id", "AttributeType": "S"}])
    yield name
    delete_table(client, name)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def own_server(*args, data_dir=None):
    """A dynarock of the test's own on a free port, started with `args`, in memory or on
    `data_dir`: yields (url, process)."""
    if "DYNAROCK_BIN" not in os.environ:
        pytest.skip("needs the dynarock binary (compat-tests/run.sh sets it)")
    url = f"http://127.0.0.1:{free_port()}"
    storage = ["--data-dir", str(data_dir)] if data_dir else ["--in-memory"]
    server = subprocess.Popen([os.environ["DYNAROCK_BIN"], "serve", *storage, "--log-level", "warn",
                               "--port", url.rsplit(":", 1)[1], *args])
    try:
        assert wait_until(lambda: _up(url), timeout=20)
        yield url, server
    finally:
        server.terminate()
        server.wait()


def clock_mover(url):
    """move(advance=seconds) or move(to=instant): moves a manual-clock server's time."""
    def move(advance=None, to=None):
        body = {"advanceSeconds": advance} if advance is not None else {"set": to}
        r = requests.post(f"{url}/dynarock/clock", json=body, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()
    return move


@pytest.fixture(scope="session")
def manual():
    """A server of its own on a manual clock: (url, clients, move(seconds or instant)). Its
    tests skip hours in one move, so what would be hours of traffic arrives in one instant of
    its clock: it does not throttle (test_throttling.py has a server that does)."""
    with own_server("--manual-clock", "--throttling", "off") as (url, _):
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                        region_name="us-east-1")
        clients = {s: session.client(s, endpoint_url=url, config=NO_RETRIES)
                   for s in ["events", "lambda", "dynamodb"]}
        yield url, clients, clock_mover(url)


def _up(url):
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False


