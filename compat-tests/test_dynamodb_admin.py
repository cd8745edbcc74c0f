"""dynamodb-admin, the table browser people run against local DynamoDB, started against dynarock
and opened by a headless Chromium: it lists the tables, opens one and shows its items. The page
is asserted on and a screenshot kept (compat-tests/output/dynamodb-admin.png)."""

import os
import pathlib
import shutil
import subprocess

import pytest
import requests

from conftest import free_port
from util import create_table, delete_table, random_table_name, wait_until

pytestmark = pytest.mark.dynarock_only  # a browser session, not an API behaviour

HERE = pathlib.Path(__file__).resolve().parent
ADMIN = HERE / "js" / "node_modules" / "dynamodb-admin" / "dist" / "dynamodb-admin.js"
OUTPUT = HERE / "output"


def chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("CI"):
            pytest.fail("CI installs Debian's chromium (.ci/run): it is missing")
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    return found


def browse(browser, url, *extra):
    """Chromium, headless, on one page: its DOM after scripts ran."""
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--virtual-time-budget=5000", *extra, url],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
def admin(url):
    port = free_port()
    env = dict(os.environ, DYNAMO_ENDPOINT=url, AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing")
    server = subprocess.Popen(["node", str(ADMIN), "--port", str(port), "--host", "127.0.0.1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_until(lambda: _up(base), timeout=30), "dynamodb-admin did not start"
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def _up(base):
    try:
        return requests.get(base, timeout=2).ok
    except requests.RequestException:
        return False


def test_dynamodb_admin_lists_tables_and_shows_items(client, admin):
    browser = chromium()
    name = create_table(client, random_table_name(), [{"AttributeName": "id", "KeyType": "HASH"}],
                        [{"AttributeName": "id", "AttributeType": "S"}])
    for who, born in [("ada-lovelace", 1815), ("grace-hopper", 1906), ("katherine-johnson", 1918)]:
        client.put_item(TableName=name, Item={"id": {"S": who}, "born": {"N": str(born)}})
    try:
        tables = browse(browser, admin, "--dump-dom")
        assert name in tables
        page = browse(browser, f"{admin}/tables/{name}", "--dump-dom")
        for who in ["ada-lovelace", "grace-hopper", "katherine-johnson"]:
            assert who in page
        OUTPUT.mkdir(exist_ok=True)
        shot = OUTPUT / "dynamodb-admin.png"
        browse(browser, f"{admin}/tables/{name}", f"--screenshot={shot}", "--window-size=1280,720")
        assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        delete_table(client, name)
