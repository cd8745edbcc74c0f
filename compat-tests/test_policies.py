"""IAM policies (`policy = FILE` in the credentials file): requests are allowed and denied as IAM
evaluates identity policies, with DynamoDB's and Lambda's AccessDeniedException. A server of its
own, started with its own principals and policies."""

import json
import os
import signal
import subprocess

import boto3
import pytest
from botocore.config import Config

from conftest import free_port, own_server
from functions import function, invoke
from util import expect_error, wait_until

pytestmark = pytest.mark.dynarock_only  # a server started here, with its own principals

ACCOUNT = "000000000000"
TABLE_ARN = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table"
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})

POLICIES = {
    "reader": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["dynamodb:Get*", "dynamodb:Query", "dynamodb:DescribeTable"],
         "Resource": [f"{TABLE_ARN}/Orders", f"{TABLE_ARN}/Orders/index/*"]}]},
    "careful": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
        {"Effect": "Deny", "Action": ["dynamodb:DeleteTable", "dynamodb:UpdateTable"], "Resource": f"{TABLE_ARN}/*"}]},
    "keeper": {"Statement": {"Effect": "Allow", "NotAction": "dynamodb:Delete*", "Resource": "*"}},
    # Each user reaches only the items whose partition key is their own name.
    "alice": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow",
         "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query",
                    "dynamodb:BatchWriteItem", "dynamodb:BatchGetItem", "dynamodb:PartiQL*"],
         "Resource": f"{TABLE_ARN}/Users",
         "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:username}"]}}},
        # Profiles: only some attributes, and never everything at once.
        {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"], "Resource": f"{TABLE_ARN}/Users",
         "Condition": {"ForAllValues:StringEquals": {"dynamodb:Attributes": ["p", "name"]},
                       "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}}}]},
    "invoker": {"Statement": [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction",
         "Resource": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:allowed-*"}]},
}
KEYS = {name: (f"AKID{name.upper()}", f"{name}-secret") for name in ["admin", *POLICIES]}
# A function role: its functions may write Orders and nothing else.
WRITER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/orders-writer"
WRITER_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:GetItem"], "Resource": f"{TABLE_ARN}/Orders"}]}


RUNNING = {}  # the module's server: its folder (credentials and policies) and process


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("policies")
    sections = []
    for name, (key, secret) in KEYS.items():
        section = f"[{name}]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
        if name in POLICIES:
            (folder / f"{name}.json").write_text(json.dumps(POLICIES[name]))
            section += f"policy = {name}.json\n"
        sections.append(section)
    (folder / "writer.json").write_text(json.dumps(WRITER_POLICY))
    sections.append(f"[{WRITER_ROLE}]\npolicy = writer.json\n")
    (folder / "credentials").write_text("\n".join(sections))
    with own_server("--credentials", str(folder / "credentials")) as (url, process):
        RUNNING.update(folder=folder, process=process)
        admin = client(url, "dynamodb", "admin")
        for table in ["Orders", "Users", "Other"]:
            admin.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                               KeySchema=[{"AttributeName": "p", "KeyType": "HASH"},
                                          {"AttributeName": "s", "KeyType": "RANGE"}],
                               AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"},
                                                     {"AttributeName": "s", "AttributeType": "S"},
                                                     {"AttributeName": "g", "AttributeType": "S"}],
                               GlobalSecondaryIndexes=[{"IndexName": "byG",
                                                        "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                                        "Projection": {"ProjectionType": "ALL"}}])
        for user in ["alice", "bob"]:
            admin.put_item(TableName="Users", Item={"p": {"S": user}, "s": {"S": "profile"},
                                                    "name": {"S": user.title()}, "secret": {"S": "x"}})
        yield url


def client(url, service, who="admin"):
    key, secret = KEYS[who]
    return boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret,
                                 region_name="us-east-1").client(service, endpoint_url=url, config=NO_RETRIES)


def denied(who, action, resource, explicit=False):
    why = ("with an explicit deny in an identity-based policy" if explicit
           else f"because no identity-based policy allows the {action} action")
    arn = who if who.startswith("arn:") else f"arn:aws:iam::{ACCOUNT}:user/{who}"
    return (f"User: {arn} is not authorized to perform: {action} "
            f"on resource: {resource} {why}")


def key(p, s="profile"):
    return {"p": {"S": p}, "s": {"S": s}}


def test_actions_and_resources_with_wildcards(server):
    reader = client(server, "dynamodb", "reader")
    reader.get_item(TableName="Orders", Key=key("o1"))
    reader.describe_table(TableName="Orders")
    reader.query(TableName="Orders", IndexName="byG", KeyConditionExpression="g = :g",
                 ExpressionAttributeValues={":g": {"S": "x"}})
    with expect_error("AccessDeniedException", denied("reader", "dynamodb:PutItem", f"{TABLE_ARN}/Orders")) as info:
        reader.put_item(TableName="Orders", Item=key("o1"))
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with expect_error("AccessDeniedException", denied("reader", "dynamodb:GetItem", f"{TABLE_ARN}/Other")):
        reader.get_item(TableName="Other", Key=key("o1"))
    with expect_error("AccessDeniedException", denied("reader", "dynamodb:ListTables", "*")):
        reader.list_tables()
    # Nothing was written by the refused request.
    assert "Item" not in client(server, "dynamodb").get_item(TableName="Orders", Key=key("o1"))


def test_an_explicit_deny_wins_and_not_action_allows_the_rest(server):
    careful = client(server, "dynamodb", "careful")
    careful.put_item(TableName="Other", Item=key("c"))
    with expect_error("AccessDeniedException", denied("careful", "dynamodb:DeleteTable", f"{TABLE_ARN}/Other",
                                                      explicit=True)):
        careful.delete_table(TableName="Other")
    keeper = client(server, "dynamodb", "keeper")
    keeper.put_item(TableName="Other", Item=key("k"))
    with expect_error("AccessDeniedException", denied("keeper", "dynamodb:DeleteItem", f"{TABLE_ARN}/Other")):
        keeper.delete_item(TableName="Other", Key=key("k"))


def test_leading_keys_limit_a_user_to_their_own_partition(server):
    alice = client(server, "dynamodb", "alice")
    users = f"{TABLE_ARN}/Users"
    # (`s` is not among the attributes the second statement lets her read of anyone.)
    assert alice.get_item(TableName="Users", Key=key("alice"), ProjectionExpression="p, s")["Item"] == key("alice")
    with expect_error("AccessDeniedException", denied("alice", "dynamodb:GetItem", users)):
        alice.get_item(TableName="Users", Key=key("bob"), ProjectionExpression="p, s")
    alice.put_item(TableName="Users", Item={**key("alice", "note"), "text": {"S": "mine"}})
    with expect_error("AccessDeniedException"):
        alice.put_item(TableName="Users", Item={**key("bob", "note"), "text": {"S": "not mine"}})
    alice.update_item(TableName="Users", Key=key("alice", "note"), UpdateExpression="SET #t = :t",
                      ExpressionAttributeNames={"#t": "text"}, ExpressionAttributeValues={":t": {"S": "again"}})
    with expect_error("AccessDeniedException"):
        alice.update_item(TableName="Users", Key=key("bob", "note"), UpdateExpression="SET t = :t",
                          ExpressionAttributeValues={":t": {"S": "x"}})
    q = dict(TableName="Users", KeyConditionExpression="p = :p AND s BETWEEN :a AND :b", ProjectionExpression="p, s")
    ab = {":a": {"S": "a"}, ":b": {"S": "z"}}
    assert alice.query(**q, ExpressionAttributeValues={":p": {"S": "alice"}, **ab})["Count"] == 2
    with expect_error("AccessDeniedException", denied("alice", "dynamodb:Query", users)):
        alice.query(**q, ExpressionAttributeValues={":p": {"S": "bob"}, **ab})
    # Batches: every key must be hers.
    alice.batch_write_item(RequestItems={"Users": [{"PutRequest": {"Item": key("alice", "b1")}}]})
    with expect_error("AccessDeniedException", denied("alice", "dynamodb:BatchWriteItem", users)):
        alice.batch_write_item(RequestItems={"Users": [{"PutRequest": {"Item": key("alice", "b2")}},
                                                       {"PutRequest": {"Item": key("bob", "b2")}}]})
    # Transactions are checked action by action, as PutItem, UpdateItem, ...
    alice.transact_write_items(TransactItems=[{"Put": {"TableName": "Users", "Item": key("alice", "t1")}}])
    with expect_error("AccessDeniedException", denied("alice", "dynamodb:PutItem", users)):
        alice.transact_write_items(TransactItems=[{"Put": {"TableName": "Users", "Item": key("alice", "t2")}},
                                                  {"Put": {"TableName": "Users", "Item": key("bob", "t2")}}])
    # PartiQL maps to the PartiQL actions, with the key in the WHERE clause.
    r = alice.execute_statement(Statement="SELECT p FROM Users WHERE p = 'alice' AND s = 'profile'")
    assert r["Items"] == [{"p": {"S": "alice"}}]
    with expect_error("AccessDeniedException", denied("alice", "dynamodb:PartiQLSelect", users)):
        alice.execute_statement(Statement="SELECT p FROM Users WHERE p = 'bob' AND s = 'profile'")
    with expect_error("AccessDeniedException", denied("alice", "dynamodb:PartiQLInsert", users)):
        alice.execute_statement(Statement="INSERT INTO Users VALUE {'p': 'bob', 's': 'x'}")
    # None of bob's items changed.
    admin = client(server, "dynamodb")
    assert [i["s"]["S"] for i in admin.query(TableName="Users", KeyConditionExpression="p = :p",
                                             ExpressionAttributeValues={":p": {"S": "bob"}})["Items"]] == ["profile"]


def test_attributes_and_select_limit_what_is_read(server):
    alice = client(server, "dynamodb", "alice")
    # The second statement lets her read only p and name, of anyone's item.
    r = alice.get_item(TableName="Users", Key=key("bob"), ProjectionExpression="p, #n",
                       ExpressionAttributeNames={"#n": "name"})
    assert r["Item"] == {"p": {"S": "bob"}, "name": {"S": "Bob"}}
    with expect_error("AccessDeniedException"):
        alice.get_item(TableName="Users", Key=key("bob"), ProjectionExpression="p, secret")
    with expect_error("AccessDeniedException"):
        alice.query(TableName="Users", KeyConditionExpression="p = :p", Select="ALL_ATTRIBUTES",
                    ExpressionAttributeValues={":p": {"S": "bob"}})


def test_functions_are_authorized_by_their_arn(server):
    admin = client(server, "lambda")
    echo = {"app.py": "def handler(event, context):\n    return event\n"}
    with function(admin, echo, FunctionName="allowed-echo"), function(admin, echo, FunctionName="other-echo"):
        invoker = client(server, "lambda", "invoker")
        assert invoke(invoker, "allowed-echo", {"a": 1})[1] == {"a": 1}
        other = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:other-echo"
        with expect_error("AccessDeniedException", denied("invoker", "lambda:InvokeFunction", other)) as info:
            invoke(invoker, "other-echo", {"a": 1})
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with expect_error("AccessDeniedException", denied("invoker", "lambda:ListFunctions", "*")):
        invoker.list_functions()
    # The JSON 1.1 services are checked by action too.
    with expect_error("AccessDeniedException", denied("invoker", "events:ListRules", "*")):
        client(server, "events", "invoker").list_rules()


WRITES = """
import os, boto3

def handler(event, context):
    ddb = boto3.client("dynamodb")
    if event.get("env"):
        return {k: os.environ.get(k, "")[:4] for k in ["AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN"]}
    try:
        ddb.put_item(TableName=event["table"], Item={"p": {"S": "from-fn"}, "s": {"S": "1"}})
        return "written"
    except ddb.exceptions.ClientError as e:
        return [e.response["Error"]["Code"], e.response["Error"]["Message"]]
"""


def role_denied(role, fn, action, resource):
    return denied(f"arn:aws:sts::{ACCOUNT}:assumed-role/{role.rsplit('/', 1)[1]}/{fn}", action, resource)


def test_functions_act_with_their_roles_keys(server):
    admin = client(server, "lambda")
    with function(admin, {"app.py": WRITES}, Role=WRITER_ROLE, Timeout=30) as fn:
        # Keys of its own, short-lived ones as Lambda's: not the deployer's.
        env = invoke(admin, fn, {"env": True})[1]
        assert env["AWS_ACCESS_KEY_ID"] == "ASIA" and len(env["AWS_SESSION_TOKEN"]) == 4
        assert invoke(admin, fn, {"table": "Orders"})[1] == "written"
        assert invoke(admin, fn, {"table": "Other"})[1] == [
            "AccessDeniedException", role_denied(WRITER_ROLE, fn, "dynamodb:PutItem", f"{TABLE_ARN}/Other")]
    # A role the credentials file does not name may do nothing, as a role without policies.
    nobody = f"arn:aws:iam::{ACCOUNT}:role/nobody"
    with function(admin, {"app.py": WRITES}, Role=nobody, Timeout=30) as fn:
        assert invoke(admin, fn, {"table": "Orders"})[1] == [
            "AccessDeniedException", role_denied(nobody, fn, "dynamodb:PutItem", f"{TABLE_ARN}/Orders")]
    got = client(server, "dynamodb").get_item(TableName="Orders", Key={"p": {"S": "from-fn"}, "s": {"S": "1"}})
    assert got["Item"]["p"] == {"S": "from-fn"}


def test_a_reloaded_role_policy_applies_to_running_functions(server):
    admin = client(server, "lambda")
    with function(admin, {"app.py": WRITES}, Role=WRITER_ROLE, Timeout=30) as fn:
        assert invoke(admin, fn, {"table": "Other"})[1][0] == "AccessDeniedException"
        wider = {"Statement": [{"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": f"{TABLE_ARN}/*"}]}
        (RUNNING["folder"] / "writer.json").write_text(json.dumps(wider))
        try:
            RUNNING["process"].send_signal(signal.SIGHUP)
            # The same warm instance, the same keys: the role's new policy.
            assert wait_until(lambda: invoke(admin, fn, {"table": "Other"})[1] == "written")
        finally:
            (RUNNING["folder"] / "writer.json").write_text(json.dumps(WRITER_POLICY))
            RUNNING["process"].send_signal(signal.SIGHUP)


def test_a_role_section_with_keys_is_refused_at_start(tmp_path):
    (tmp_path / "credentials").write_text(
        f"[a]\naws_access_key_id = A\naws_secret_access_key = s\n[{WRITER_ROLE}]\naws_access_key_id = B\n")
    done = subprocess.run([os.environ["DYNAROCK_BIN"], "serve", "--in-memory", "--port", str(free_port()),
                           "--credentials", str(tmp_path / "credentials")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "a role has no keys of its own" in done.stdout + done.stderr


def test_a_malformed_policy_is_refused_at_start(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps({"Statement": [{"Effect": "Perhaps", "Action": "*", "Resource": "*"}]}))
    (tmp_path / "credentials").write_text("[x]\naws_access_key_id = A\naws_secret_access_key = s\npolicy = bad.json\n")
    done = subprocess.run([os.environ["DYNAROCK_BIN"], "serve", "--in-memory", "--port", str(free_port()),
                           "--credentials", str(tmp_path / "credentials")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    said = done.stdout + done.stderr
    assert "[x]: policy" in said and "bad.json: Statement 1: Effect must be Allow or Deny" in said
