"""The Lambda API's management operations: functions, versions, aliases, concurrency, tags,
permissions, asynchronous-invocation settings, with Lambda's errors."""

import base64
import json

import pytest

from functions import ECHO_PY, ROLE, function, function_name, invoke, rest, zip_of
from util import expect_error

CODE = {"app.py": ECHO_PY}


def test_create_get_list_delete(lam):
    name = function_name()
    created = lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                  Code={"ZipFile": zip_of(CODE)}, Description="echo", Timeout=10,
                                  MemorySize=256, Environment={"Variables": {"GREETING": "hi"}},
                                  Tags={"team": "a"})
    try:
        assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
        assert created["FunctionName"] == name
        assert created["FunctionArn"].endswith(f":function:{name}")
        assert created["FunctionArn"].startswith("arn:aws:lambda:")
        assert (created["Runtime"], created["Handler"], created["Timeout"], created["MemorySize"]) == \
            ("python3.12", "app.handler", 10, 256)
        assert created["Version"] == "$LATEST"
        assert created["Environment"] == {"Variables": {"GREETING": "hi"}}
        assert created["CodeSize"] > 0 and len(created["CodeSha256"]) == 44
        assert created["PackageType"] == "Zip"
        assert (created["State"], created["StateReasonCode"]) == ("Pending", "Creating")
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        got = lam.get_function(FunctionName=name)
        assert got["Configuration"]["State"] == "Active"
        assert got["Configuration"]["LastUpdateStatus"] == "Successful"
        assert got["Configuration"]["RevisionId"] == created["RevisionId"]
        assert got["Tags"] == {"team": "a"}
        assert "Location" in got["Code"]
        config = lam.get_function_configuration(FunctionName=created["FunctionArn"])
        assert config["Description"] == "echo"
        names = [f["FunctionName"] for page in lam.get_paginator("list_functions").paginate()
                 for f in page["Functions"]]
        assert name in names
    finally:
        lam.delete_function(FunctionName=name)
    with expect_error("ResourceNotFoundException"):
        lam.get_function(FunctionName=name)
    with expect_error("ResourceNotFoundException"):
        lam.delete_function(FunctionName=name)


def test_list_functions_paginates(lam):
    names = [function_name() for _ in range(3)]
    for n in names:
        lam.create_function(FunctionName=n, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": zip_of(CODE)})
    try:
        seen = []
        marker = None
        while True:
            kwargs = {"MaxItems": 1}
            if marker:
                kwargs["Marker"] = marker
            page = lam.list_functions(**kwargs)
            assert len(page["Functions"]) <= 1
            seen += [f["FunctionName"] for f in page["Functions"]]
            marker = page.get("NextMarker")
            if not marker:
                break
        assert set(names) <= set(seen)
        assert len(seen) == len(set(seen))
    finally:
        for n in names:
            lam.delete_function(FunctionName=n)


def test_create_errors(lam, url):
    with function(lam, CODE) as name:
        with expect_error("ResourceConflictException", f"Function already exist: {name}"):
            lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                Code={"ZipFile": zip_of(CODE)})
    base = dict(Role=ROLE, Handler="app.handler", Code={"ZipFile": zip_of(CODE)})
    # botocore checks the model's ranges itself: these go on the wire by hand.
    wire = {"Role": ROLE, "Handler": "app.handler", "Runtime": "python3.12",
            "Code": {"ZipFile": base64.b64encode(zip_of(CODE)).decode()}}
    for extra, message in [
        ({"MemorySize": 64}, "1 validation error detected: Value '64' at 'memorySize' failed to satisfy constraint: "
                             "Member must have value greater than or equal to 128"),
        ({"Timeout": 901}, "1 validation error detected: Value '901' at 'timeout' failed to satisfy constraint: "
                           "Member must have value less than or equal to 900"),
    ]:
        status, body, headers = rest(url, "POST", "/2015-03-31/functions",
                                     {"FunctionName": function_name(), **wire, **extra})
        assert (status, headers["x-amzn-ErrorType"].split(":")[0], body["message"] if "message" in body
                else body["Message"]) == (400, "ValidationException", message)
    status, body, _ = rest(url, "POST", "/2015-03-31/functions",
                           {"FunctionName": function_name(), **wire, "Timeout": 0, "MemorySize": 10241})
    assert status == 400 and body["Message"].startswith("2 validation errors detected")
    with expect_error("ValidationException", match="at 'runtime' failed to satisfy constraint"):
        lam.create_function(FunctionName=function_name(), Runtime="cobol85", **base)
    with expect_error("InvalidParameterValueException", match="no longer supported"):
        lam.create_function(FunctionName=function_name(), Runtime="python2.7", **base)
    with expect_error("ValidationException", match="at 'role' failed to satisfy constraint"):
        lam.create_function(FunctionName=function_name(), Runtime="python3.12", Role="not-a-role",
                            Handler="app.handler", Code={"ZipFile": zip_of(CODE)})
    with expect_error("InvalidParameterValueException", "Could not unzip uploaded file. Please check your file, then try to upload again."):
        lam.create_function(FunctionName=function_name(), Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": b"definitely not a zip"})
    with expect_error("InvalidParameterValueException", match="reserved keys"):
        lam.create_function(FunctionName=function_name(), Runtime="python3.12",
                            Environment={"Variables": {"AWS_REGION": "x"}}, **base)
    with expect_error("InvalidParameterValueException", match="exceeded the 4KB limit"):
        lam.create_function(FunctionName=function_name(), Runtime="python3.12",
                            Environment={"Variables": {"BIG": "x" * 5000}}, **base)
    with expect_error("ValidationException", match="at 'functionName' failed to satisfy constraint"):
        lam.create_function(FunctionName="bad name!", Runtime="python3.12", **base)


def test_update_configuration_and_code(lam, url):
    with function(lam, CODE) as name:
        before = lam.get_function_configuration(FunctionName=name)
        updated = lam.update_function_configuration(FunctionName=name, Timeout=30, MemorySize=512,
                                                    Environment={"Variables": {"GREETING": "hello"}})
        assert (updated["Timeout"], updated["MemorySize"]) == (30, 512)
        assert updated["RevisionId"] != before["RevisionId"]
        assert updated["LastUpdateStatus"] == "InProgress"
        lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        assert lam.get_function_configuration(FunctionName=name)["LastUpdateStatus"] == "Successful"
        _, out = invoke(lam, name)
        assert out["env"]["GREETING"] == "hello"
        assert out["memory_limit_in_mb"] == 512
        with expect_error("PreconditionFailedException"):
            lam.update_function_configuration(FunctionName=name, Timeout=5, RevisionId=before["RevisionId"])
        new_code = zip_of({"app.py": "def handler(e, c):\n    return 'v2'\n"})
        code = lam.update_function_code(FunctionName=name, ZipFile=new_code)
        assert code["CodeSha256"] != before["CodeSha256"]
        # The next invocation runs the new code, not a warm instance of the old.
        _, out = invoke(lam, name)
        assert out == "v2"
        status, body, _ = rest(url, "PUT", f"/2015-03-31/functions/{name}/configuration", {"MemorySize": 20000})
        assert status == 400 and "Member must have value less than or equal to 10240" in body["Message"]
    with expect_error("ResourceNotFoundException"):
        lam.update_function_configuration(FunctionName=name, Timeout=5)


def test_versions_and_aliases(lam):
    with function(lam, {"app.py": "def handler(e, c):\n    return 'one'\n"}) as name:
        v1 = lam.publish_version(FunctionName=name, Description="first")
        assert v1["Version"] == "1"
        assert v1["FunctionArn"].endswith(f"{name}:1")
        # Publishing unchanged code returns the same version.
        assert lam.publish_version(FunctionName=name)["Version"] == "1"
        lam.update_function_code(FunctionName=name, ZipFile=zip_of({"app.py": "def handler(e, c):\n    return 'two'\n"}))
        v2 = lam.publish_version(FunctionName=name)
        assert v2["Version"] == "2"
        versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]]
        assert versions == ["$LATEST", "1", "2"]

        alias = lam.create_alias(FunctionName=name, Name="prod", FunctionVersion="1")
        assert alias["AliasArn"].endswith(f"{name}:prod")
        with expect_error("ResourceConflictException"):
            lam.create_alias(FunctionName=name, Name="prod", FunctionVersion="1")
        with expect_error("ResourceNotFoundException"):
            lam.create_alias(FunctionName=name, Name="beta", FunctionVersion="9")
        r, out = invoke(lam, name, Qualifier="prod")
        assert (out, r["ExecutedVersion"]) == ("one", "1")
        r, out = invoke(lam, f"{name}:2")
        assert (out, r["ExecutedVersion"]) == ("two", "2")
        _, out = invoke(lam, name)
        assert out == "two"
        # Weighted routing: about half the calls run version 2.
        lam.update_alias(FunctionName=name, Name="prod", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
        ran = {invoke(lam, name, Qualifier="prod")[0]["ExecutedVersion"] for _ in range(40)}
        assert ran == {"1", "2"}
        lam.update_alias(FunctionName=name, Name="prod", FunctionVersion="2", RoutingConfig={"AdditionalVersionWeights": {}})
        assert lam.get_alias(FunctionName=name, Name="prod")["FunctionVersion"] == "2"
        assert [a["Name"] for a in lam.list_aliases(FunctionName=name)["Aliases"]] == ["prod"]
        with expect_error("ResourceConflictException"):
            lam.delete_function(FunctionName=name, Qualifier="2")
        lam.delete_function(FunctionName=name, Qualifier="1")
        with expect_error("ResourceNotFoundException"):
            lam.get_function(FunctionName=name, Qualifier="1")
        with expect_error("ResourceNotFoundException"):
            invoke(lam, name, Qualifier="7")
        lam.delete_alias(FunctionName=name, Name="prod")
        with expect_error("ResourceNotFoundException"):
            lam.get_alias(FunctionName=name, Name="prod")


def test_concurrency_settings(lam):
    with function(lam, CODE) as name:
        assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)
        assert lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5)[
            "ReservedConcurrentExecutions"] == 5
        assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 5
        assert lam.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 5}
        limit = lam.get_account_settings()["AccountLimit"]
        with expect_error("InvalidParameterValueException", match="UnreservedConcurrentExecution below its minimum"):
            lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=limit["ConcurrentExecutions"])
        lam.delete_function_concurrency(FunctionName=name)
        assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)


def test_unknown_operations(url):
    status, body, headers = rest(url, "GET", "/2018-10-31/layers")
    assert (status, headers["x-amzn-ErrorType"]) == (404, "UnknownOperationException")


def test_account_settings(lam):
    settings = lam.get_account_settings()
    assert settings["AccountLimit"]["ConcurrentExecutions"] >= 1
    assert settings["AccountLimit"]["CodeSizeUnzipped"] == 262144000
    assert "FunctionCount" in settings["AccountUsage"]


def test_tags(lam):
    with function(lam, CODE) as name:
        arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        lam.tag_resource(Resource=arn, Tags={"a": "1", "b": "2"})
        assert lam.list_tags(Resource=arn)["Tags"] == {"a": "1", "b": "2"}
        lam.untag_resource(Resource=arn, TagKeys=["a"])
        assert lam.list_tags(Resource=arn)["Tags"] == {"b": "2"}
    with expect_error("ResourceNotFoundException"):
        lam.list_tags(Resource=arn)


def test_permissions(lam):
    with function(lam, CODE) as name:
        with expect_error("ResourceNotFoundException"):
            lam.get_policy(FunctionName=name)
        added = lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                                   Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::bucket")
        statement = json.loads(added["Statement"])
        assert statement["Sid"] == "s3" and statement["Principal"] == {"Service": "s3.amazonaws.com"}
        with expect_error("ResourceConflictException"):
            lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                               Principal="s3.amazonaws.com")
        policy = lam.get_policy(FunctionName=name)
        assert [s["Sid"] for s in json.loads(policy["Policy"])["Statement"]] == ["s3"]
        with expect_error("PreconditionFailedException"):
            lam.remove_permission(FunctionName=name, StatementId="s3", RevisionId="stale")
        lam.remove_permission(FunctionName=name, StatementId="s3", RevisionId=policy["RevisionId"])
        with expect_error("ResourceNotFoundException"):
            lam.remove_permission(FunctionName=name, StatementId="s3")


def test_event_invoke_config(lam, url):
    with function(lam, CODE) as name, function(lam, CODE) as destination:
        with expect_error("ResourceNotFoundException"):
            lam.get_function_event_invoke_config(FunctionName=name)
        dest_arn = lam.get_function(FunctionName=destination)["Configuration"]["FunctionArn"]
        put = lam.put_function_event_invoke_config(
            FunctionName=name, MaximumRetryAttempts=1, MaximumEventAgeInSeconds=120,
            DestinationConfig={"OnFailure": {"Destination": dest_arn}})
        assert (put["MaximumRetryAttempts"], put["MaximumEventAgeInSeconds"]) == (1, 120)
        assert put["DestinationConfig"]["OnFailure"]["Destination"] == dest_arn
        updated = lam.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
        assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (0, 120)
        listed = lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
        assert len(listed) == 1
        path = f"/2019-09-25/functions/{name}/event-invoke-config"
        for bad in [{"MaximumRetryAttempts": 3}, {"MaximumEventAgeInSeconds": 30}]:
            status, body, headers = rest(url, "PUT", path, bad)
            assert (status, headers["x-amzn-ErrorType"]) == (400, "ValidationException"), body
        lam.delete_function_event_invoke_config(FunctionName=name)
        with expect_error("ResourceNotFoundException"):
            lam.get_function_event_invoke_config(FunctionName=name)


@pytest.mark.dynarock_only  # Local code folders are dynarock's development extension.
def test_local_folder_code(lam, tmp_path):
    (tmp_path / "app.py").write_text("def handler(e, c):\n    return 'from disk'\n")
    name = function_name()
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"S3Bucket": "DynarockLocal", "S3Key": str(tmp_path)})
    try:
        _, out = invoke(lam, name)
        assert out == "from disk"
    finally:
        lam.delete_function(FunctionName=name)
    with expect_error("InvalidParameterValueException"):
        lam.create_function(FunctionName=function_name(), Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"S3Bucket": "DynarockLocal", "S3Key": "relative/path"})
