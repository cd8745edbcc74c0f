"""docs/clients.md lists the client versions the suite runs: checked against what it installs, so
the table cannot go stale."""

import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.dynarock_only  # checks this repository's files, not a server


def rows():
    table = (ROOT / "docs" / "clients.md").read_text()
    found = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"[\d.]+", cells[1]):
            found[cells[0].split(" (")[0]] = cells[1]
    return found


def test_the_matrix_names_the_versions_the_suite_installs():
    listed = rows()
    pinned = dict(re.findall(r"^([\w-]+)==([\d.]+)$", (ROOT / "compat-tests" / "requirements.txt").read_text(), re.M))
    lock = json.loads((ROOT / "compat-tests" / "js" / "package-lock.json").read_text())["packages"]
    expected = {"boto3": pinned["boto3"], "aws-cli": pinned["awscli"], "PynamoDB": pinned["pynamodb"],
                "dynamoose": lock["node_modules/dynamoose"]["version"],
                "dynamodb-admin": lock["node_modules/dynamodb-admin"]["version"]}
    rust = (ROOT / "compat-tests" / "rust-sdk" / "Cargo.lock").read_text()
    expected["aws-sdk-dynamodb"] = re.search(r'name = "aws-sdk-dynamodb"\nversion = "([\d.]+)"', rust).group(1)
    for package in ["client-dynamodb", "lib-dynamodb", "client-dynamodb-streams", "client-lambda"]:
        expected[f"@aws-sdk/{package}"] = lock[f"node_modules/@aws-sdk/{package}"]["version"]
    assert listed == expected
