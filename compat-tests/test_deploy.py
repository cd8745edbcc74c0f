"""`dynarock deploy`: templates deployed as stacks through the public APIs. Parameters,
conditions, intrinsic functions and outputs; redeploys that change only what changed; what
cannot be deployed refused before anything is created; stacks deleted with what they made."""

import json

import boto3
import pytest
import requests

from deploy import delete, deploy, stack_name

pytestmark = pytest.mark.dynarock_only  # `dynarock deploy` is this server's tool

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Env: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Greeting: {Type: String, Default: hello}
  Capacity: {Type: Number, Default: 5}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
Globals:
  Function:
    Runtime: python3.12
    Timeout: 5
Resources:
  Things:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}__EXTRA_ATTRS__]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
      PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true, RecoveryPeriodInDays: __DAYS__}
      Tags: [{Key: env, Value: !Ref Env}]__GSI__
  Ranged:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions:
        - {AttributeName: id, AttributeType: S}
        - {AttributeName: at, AttributeType: N}
        - {AttributeName: other, AttributeType: S}
      KeySchema: [{AttributeName: id, KeyType: HASH}, {AttributeName: at, KeyType: RANGE}]
      LocalSecondaryIndexes:
        - IndexName: ByOther
          KeySchema: [{AttributeName: id, KeyType: HASH}, {AttributeName: other, KeyType: RANGE}]
          Projection: {ProjectionType: ALL}
      ProvisionedThroughput: {ReadCapacityUnits: !Ref Capacity, WriteCapacityUnits: !Ref Capacity}
      TimeToLiveSpecification: {AttributeName: expires, Enabled: true}
  Simple:
    Type: AWS::Serverless::SimpleTable
    Properties:
      PrimaryKey: {Name: pk, Type: Number}
  ProdOnly:
    Type: AWS::Serverless::SimpleTable
    Condition: IsProd
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: |
        import os
        def handler(event, context):
            return {"greeting": os.environ["GREETING"], "table": os.environ["TABLE"], "event": event, "v": __VERSION__}
      Handler: index.handler
      MemorySize: 256
      Environment:
        Variables:
          GREETING: !Sub "${Greeting}, ${AWS::Region}"
          TABLE: !Ref Things
          MAYBE: !If [IsProd, "yes", !Ref "AWS::NoValue"]
      Events:
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Things.StreamArn
            StartingPosition: LATEST
            BatchSize: 5
        Web:
          Type: HttpApi
          Properties: {Path: "/things/{id}", Method: get}
Outputs:
  TableName: {Value: !Ref Things}
  TableArn: {Value: !GetAtt Things.Arn}
  Joined: {Value: !Join ["/", [!Ref Env, !Select [1, !Split [",", "a,b,c"]]]]}
  Url: {Value: !Sub "https://${ServerlessHttpApi}.execute-api.${AWS::Region}.amazonaws.com/things"}
  ProdTable:
    Condition: IsProd
    Value: !Ref ProdOnly
"""


def template(tmp_path, version=1, gsi=False):
    text = TEMPLATE.replace("__VERSION__", str(version)).replace("__DAYS__", "3" if gsi else "7")
    if gsi:
        text = text.replace("__EXTRA_ATTRS__", ", {AttributeName: kind, AttributeType: S}").replace(
            "__GSI__", "\n      GlobalSecondaryIndexes:\n        - IndexName: ByKind\n"
                       "          KeySchema: [{AttributeName: kind, KeyType: HASH}]\n"
                       "          Projection: {ProjectionType: KEYS_ONLY}")
    else:
        text = text.replace("__EXTRA_ATTRS__", "").replace("__GSI__", "")
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def clients(url, region):
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name=region)
    return {s: session.client(s, endpoint_url=url) for s in ["dynamodb", "lambda"]}


def test_a_stack_is_created_updated_and_deleted(url, clients, tmp_path):
    db, lam = clients["dynamodb"], clients["lambda"]
    stack = stack_name("deploy")
    first = deploy(url, template(tmp_path), stack)
    try:
        assert set(first.actions) == {"Things", "Ranged", "Simple", "Echo", "EchoChanges", "ServerlessHttpApi"}
        assert set(first.actions.values()) == {"CREATE"}
        table = first.outputs["TableName"]
        assert table.startswith(f"{stack}-Things-")
        described = db.describe_table(TableName=table)["Table"]
        assert first.outputs["TableArn"] == described["TableArn"]
        assert described["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        assert db.list_tags_of_resource(ResourceArn=described["TableArn"])["Tags"] == [{"Key": "env", "Value": "dev"}]
        pitr = db.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
        assert pitr["PointInTimeRecoveryDescription"]["RecoveryPeriodInDays"] == 7
        assert first.outputs["Joined"] == "dev/b"
        assert "ProdTable" not in first.outputs
        ranged = [t for t in db.list_tables()["TableNames"] if t.startswith(f"{stack}-Ranged-")][0]
        r = db.describe_table(TableName=ranged)["Table"]
        assert [i["IndexName"] for i in r["LocalSecondaryIndexes"]] == ["ByOther"]
        throughput = r["ProvisionedThroughput"]
        assert (throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]) == (5, 5)
        assert db.describe_time_to_live(TableName=ranged)["TimeToLiveDescription"] == {
            "TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
        simple = [t for t in db.list_tables()["TableNames"] if t.startswith(f"{stack}-Simple-")]
        assert db.describe_table(TableName=simple[0])["Table"]["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]

        fn = [f for f in lam.list_functions()["Functions"] if f["FunctionName"].startswith(f"{stack}-Echo-")][0]
        assert fn["MemorySize"] == 256 and fn["Timeout"] == 5 and fn["Runtime"] == "python3.12"
        assert fn["Environment"]["Variables"] == {"GREETING": "hello, us-east-1", "TABLE": table}
        mapping = lam.list_event_source_mappings(FunctionName=fn["FunctionName"])["EventSourceMappings"][0]
        assert mapping["EventSourceArn"] == described["LatestStreamArn"] and mapping["BatchSize"] == 5
        # The HTTP API's URL, printed as this server's.
        assert first.outputs["Url"].startswith(f"{url}/execute-api/")
        r = requests.get(first.outputs["Url"] + "/42?x=1", timeout=30)
        assert r.status_code == 200
        body = r.json()
        assert body["greeting"] == "hello, us-east-1" and body["v"] == 1
        assert body["event"]["routeKey"] == "GET /things/{id}" and body["event"]["pathParameters"] == {"id": "42"}

        db.put_item(TableName=table, Item={"id": {"S": "kept"}})
        # The same template again: nothing changes.
        same = deploy(url, template(tmp_path), stack)
        assert set(same.actions.values()) == {"UNCHANGED"}, same.stdout
        # New code, a parameter and an index: only what they touch is updated.
        changed = deploy(url, template(tmp_path, version=2, gsi=True), stack,
                         "--parameter-overrides", "Greeting=hi", "Env=prod")
        assert changed.actions["Echo"] == "UPDATE" and changed.actions["Things"] == "UPDATE"
        assert changed.actions["ProdOnly"] == "CREATE" and changed.actions["Simple"] == "UNCHANGED"
        assert changed.outputs["ProdTable"].startswith(f"{stack}-ProdOnly-")
        described = db.describe_table(TableName=table)["Table"]
        assert [i["IndexName"] for i in described["GlobalSecondaryIndexes"]] == ["ByKind"]
        pitr = db.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
        assert pitr["PointInTimeRecoveryDescription"]["RecoveryPeriodInDays"] == 3
        assert db.get_item(TableName=table, Key={"id": {"S": "kept"}})["Item"] == {"id": {"S": "kept"}}
        out = json.loads(lam.invoke(FunctionName=fn["FunctionName"])["Payload"].read())
        assert (out["greeting"], out["v"]) == ("hi, us-east-1", 2)
        config = lam.get_function_configuration(FunctionName=fn["FunctionName"])
        assert config["Environment"]["Variables"]["MAYBE"] == "yes"
        # Back to dev: the conditional table is deleted with its stack entry.
        back = deploy(url, template(tmp_path, version=2, gsi=True), stack, "--parameter-overrides", "Greeting=hi")
        assert changed.outputs["ProdTable"] not in db.list_tables()["TableNames"]
        assert "ProdOnly" not in back.actions
    finally:
        delete(url, stack)
    assert table not in db.list_tables()["TableNames"]
    assert not [f for f in lam.list_functions()["Functions"] if f["FunctionName"].startswith(f"{stack}-")]
    assert not lam.list_event_source_mappings(EventSourceArn=described["LatestStreamArn"])["EventSourceMappings"]


def test_what_cannot_be_deployed_is_refused_before_anything_is_made(url, clients, tmp_path):
    stack = stack_name("refused")
    path = tmp_path / "template.yaml"
    path.write_text("Transform: AWS::Serverless-2016-10-31\nResources:\n  T:\n    Type: AWS::Serverless::SimpleTable\n"
                    "  Bucket:\n    Type: AWS::S3::Bucket\n")
    r = deploy(url, path, stack, check=False)
    assert r.returncode != 0
    assert "Resource Bucket: type AWS::S3::Bucket is not supported by dynarock deploy" in r.stderr
    path.write_text("Transform: AWS::Serverless-2016-10-31\nResources:\n  T:\n    Type: AWS::Serverless::SimpleTable\n"
                    "  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      InlineCode: x\n"
                    "      Handler: index.h\n      Runtime: python3.12\n      Events:\n"
                    "        Q: {Type: SQS, Properties: {Queue: arn}}\n")
    r = deploy(url, path, stack, check=False)
    assert "Resource F: event Q of type SQS is not supported" in r.stderr
    path.write_text("Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      TableName: !Ref Nope\n")
    r = deploy(url, path, stack, check=False)
    assert "Unresolved resource dependencies [Nope]" in r.stderr
    path.write_text("Resources: [oops")
    assert "not valid YAML" in deploy(url, path, stack, check=False).stderr
    path.write_text("Transform: AWS::Serverless-2016-10-31\nParameters:\n  P: {Type: String}\n"
                    "Resources:\n  T: {Type: AWS::Serverless::SimpleTable}\n")
    assert "Parameters: [P] must have values" in deploy(url, path, stack, check=False).stderr
    assert not [t for t in clients["dynamodb"].list_tables()["TableNames"] if t.startswith(stack)]
    assert "does not exist" in delete(url, stack, check=False).stderr


def test_a_failed_deploy_keeps_track_of_what_it_made(url, clients, tmp_path):
    db = clients["dynamodb"]
    stack = stack_name("partial")
    path = tmp_path / "template.yaml"
    good = "Resources:\n  A: {Type: AWS::Serverless::SimpleTable}\n"
    # The function's code folder does not exist: the table is made, the function fails.
    bad = ("Transform: AWS::Serverless-2016-10-31\n" + good +
           "  F:\n    Type: AWS::Serverless::Function\n    DependsOn: A\n    Properties:\n"
           "      CodeUri: missing/\n      Handler: app.h\n      Runtime: python3.12\n")
    path.write_text(bad)
    r = deploy(url, path, stack, check=False)
    assert r.returncode != 0 and "is not a folder" in r.stderr
    made = [t for t in db.list_tables()["TableNames"] if t.startswith(f"{stack}-A-")]
    assert len(made) == 1
    # Deleting the stack removes what the failed deploy made.
    delete(url, stack)
    assert made[0] not in db.list_tables()["TableNames"]
