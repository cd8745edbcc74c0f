"""Invoke: the three kinds of runtime, what a function's failures look like to the caller,
timeouts, crashes, concurrency limits, asynchronous invocations with retries and destinations,
and the logs each invocation leaves."""

import json
import os
import queue
import subprocess
import threading
import time
import uuid

import pytest

from functions import ECHO_BOOTSTRAP, ECHO_NODE, ECHO_PY, function, invoke, log_tail, rest
from util import expect_error, wait_until


def test_python_gets_lambdas_event_and_context(lam):
    with function(lam, {"app.py": ECHO_PY}, MemorySize=256, Timeout=7,
                  Environment={"Variables": {"GREETING": "hi"}}) as name:
        r, out = invoke(lam, name, {"k": [1, 2, {"x": None}]}, LogType="Tail")
        assert r["StatusCode"] == 200 and "FunctionError" not in r
        assert r["ExecutedVersion"] == "$LATEST"
        assert out["event"] == {"k": [1, 2, {"x": None}]}
        assert out["function_name"] == name
        assert out["memory_limit_in_mb"] == 256
        assert out["invoked_function_arn"].endswith(f":function:{name}")
        assert out["log_group_name"] == f"/aws/lambda/{name}"
        assert 0 < out["remaining"] <= 7000
        assert len(out["aws_request_id"]) == 36
        assert out["env"] == {"AWS_REGION": "us-east-1", "AWS_LAMBDA_FUNCTION_NAME": name, "_HANDLER": "app.handler",
                              "GREETING": "hi", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                              "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST"}
        log = log_tail(r)
        assert f"START RequestId: {out['aws_request_id']} Version: $LATEST" in log
        assert 'got {"k": [1, 2, {"x": null}]}' in log
        assert f"END RequestId: {out['aws_request_id']}" in log
        assert f"REPORT RequestId: {out['aws_request_id']}\tDuration: " in log
        assert "Memory Size: 256 MB" in log
        # A second call reuses the warm instance: no Init Duration.
        r2, out2 = invoke(lam, name, {}, LogType="Tail")
        assert out2["aws_request_id"] != out["aws_request_id"]
        assert "Init Duration" not in log_tail(r2)


def test_node_handler(lam):
    with function(lam, {"index.js": ECHO_NODE}, runtime="nodejs20.x", handler="index.handler") as name:
        r, out = invoke(lam, name, {"n": 1}, LogType="Tail")
        assert "FunctionError" not in r
        assert out["event"] == {"n": 1}
        assert out["functionName"] == name
        assert out["memoryLimitInMB"] == "128"
        assert out["remaining"] > 0
        assert f"\t{out['awsRequestId']}\tINFO\tgot {{\"n\":1}}" in log_tail(r)


def test_node_esm_and_callback_handlers(lam):
    files = {"esm.mjs": "export const handler = async (e) => ({esm: e.v});\n",
             "cb.js": "exports.handler = (e, ctx, cb) => { setTimeout(() => cb(null, {cb: e.v}), 5); };\n"}
    with function(lam, files, runtime="nodejs20.x", handler="esm.handler") as esm:
        assert invoke(lam, esm, {"v": 1})[1] == {"esm": 1}
    with function(lam, files, runtime="nodejs20.x", handler="cb.handler") as cb:
        assert invoke(lam, cb, {"v": 2})[1] == {"cb": 2}


def test_provided_bootstrap(lam):
    with function(lam, {"bootstrap": ECHO_BOOTSTRAP}, runtime="provided.al2023", handler="my.handler") as name:
        r, out = invoke(lam, name, {"a": 1}, LogType="Tail")
        assert out == {"echo": {"a": 1}, "handler": "my.handler"}
        assert "handling " in log_tail(r)


@pytest.mark.skipif("RUST_ECHO_BOOTSTRAP" not in os.environ,
                    reason="needs compat-tests/functions/rust-echo built (compat-tests/run.sh builds it)")
def test_stock_rust_runtime_client(lam):
    """A `provided` function built with the `lambda_runtime` crate, unmodified."""
    with open(os.environ["RUST_ECHO_BOOTSTRAP"], "rb") as f:
        binary = f.read()
    with function(lam, {"bootstrap": (binary, 0o755)}, runtime="provided.al2023", handler="unused",
                  MemorySize=192) as name:
        r, out = invoke(lam, name, {"a": [1, 2]})
        assert "FunctionError" not in r
        assert out["echo"] == {"a": [1, 2]}
        assert out["function_name"] == name and out["memory"] == 192
        assert out["invoked_function_arn"].endswith(f":function:{name}")
        assert out["deadline_ms"] > time.time() * 1000
        r, out = invoke(lam, name, {"fail": True})
        assert (r["FunctionError"], out["errorMessage"]) == ("Unhandled", "asked to fail")


def test_stock_python_runtime_client(lam):
    """awslambdaric, AWS's runtime interface client for Python, as a custom runtime's bootstrap."""
    bootstrap = "#!/bin/sh\nexec python3 -m awslambdaric \"$_HANDLER\"\n"
    code = {"bootstrap": bootstrap,
            "app.py": "def handler(event, context):\n"
                      "    return {'got': event, 'name': context.function_name,\n"
                      "            'remaining': context.get_remaining_time_in_millis()}\n"}
    with function(lam, code, runtime="provided.al2023", handler="app.handler", Timeout=5) as name:
        r, out = invoke(lam, name, {"x": 1})
        assert "FunctionError" not in r, out
        assert out["got"] == {"x": 1} and out["name"] == name
        assert 0 < out["remaining"] <= 5000


def test_function_errors_are_answers(lam):
    code = {"app.py": "def handler(e, c):\n    raise ValueError('bad input: ' + e['v'])\n"}
    with function(lam, code) as name:
        r, out = invoke(lam, name, {"v": "x"}, LogType="Tail")
        assert r["StatusCode"] == 200
        assert r["FunctionError"] == "Unhandled"
        assert out["errorType"] == "ValueError"
        assert out["errorMessage"] == "bad input: x"
        assert isinstance(out["stackTrace"], list)
        assert "ValueError" in log_tail(r)
        # The instance survives a handled error.
        r2, _ = invoke(lam, name, {"v": "y"}, LogType="Tail")
        assert "Init Duration" not in log_tail(r2)
    node = {"index.js": "exports.handler = async () => { throw new TypeError('nope'); };\n"}
    with function(lam, node, runtime="nodejs20.x", handler="index.handler") as name:
        r, out = invoke(lam, name)
        assert (r["FunctionError"], out["errorType"], out["errorMessage"]) == ("Unhandled", "TypeError", "nope")


def test_init_errors(lam):
    with function(lam, {"app.py": "x = 1\n"}, handler="missing.handler") as name:
        r, out = invoke(lam, name)
        assert r["FunctionError"] == "Unhandled"
        assert out["errorType"] == "Runtime.ImportModuleError"
        assert "Unable to import module 'missing'" in out["errorMessage"]
    with function(lam, {"app.py": "x = 1\n"}, handler="app.nothere") as name:
        r, out = invoke(lam, name)
        assert out["errorType"] == "Runtime.HandlerNotFound"
    with function(lam, {"app.py": "raise RuntimeError('at import')\n"}) as name:
        r, out = invoke(lam, name)
        assert (r["FunctionError"], out["errorType"], out["errorMessage"]) == ("Unhandled", "RuntimeError", "at import")
    with function(lam, {"index.js": "exports.other = 1;\n"}, runtime="nodejs20.x", handler="index.handler") as name:
        assert invoke(lam, name)[1]["errorType"] == "Runtime.HandlerNotFound"


def test_missing_or_failing_bootstrap(lam):
    with function(lam, {"readme.txt": "no bootstrap here"}, runtime="provided.al2023") as name:
        r, out = invoke(lam, name)
        assert r["FunctionError"] == "Unhandled"
        assert out["errorType"] == "Runtime.InvalidEntrypoint"
    with function(lam, {"bootstrap": "#!/bin/sh\necho starting\nexit 3\n"}, runtime="provided.al2023") as name:
        r, out = invoke(lam, name, LogType="Tail")
        assert out["errorType"] == "Runtime.ExitError"
        assert "exit status 3" in out["errorMessage"]
        assert "starting" in log_tail(r)


def test_timeout_kills_the_instance(lam):
    code = {"app.py": "import time\ndef handler(e, c):\n    if e.get('sleep'):\n        time.sleep(e['sleep'])\n    return 'done'\n"}
    with function(lam, code, Timeout=1) as name:
        started = time.monotonic()
        r, out = invoke(lam, name, {"sleep": 30}, LogType="Tail")
        assert time.monotonic() - started < 10
        assert r["FunctionError"] == "Unhandled"
        assert out["errorType"] == "Sandbox.Timedout"
        assert "Task timed out after 1.00 seconds" in out["errorMessage"]
        assert "Task timed out after 1.00 seconds" in log_tail(r)
        # The next invocation gets a fresh instance.
        r, out = invoke(lam, name, {}, LogType="Tail")
        assert out == "done" and "Init Duration" in log_tail(r)


def test_crash_mid_invocation(lam):
    code = {"app.py": "import os\ndef handler(e, c):\n    if e.get('crash'):\n        os._exit(7)\n    return 'ok'\n"}
    with function(lam, code) as name:
        r, out = invoke(lam, name, {"crash": True})
        assert (r["FunctionError"], out["errorType"]) == ("Unhandled", "Runtime.ExitError")
        assert "exit status 7" in out["errorMessage"]
        assert invoke(lam, name, {})[1] == "ok"


def test_a_response_that_is_not_json_passes_as_it_is(lam):
    bootstrap = ECHO_BOOTSTRAP.replace('-d "{\\"echo\\": $EVENT, \\"handler\\": \\"$_HANDLER\\"}"', "-d 'plain text'")
    assert "plain text" in bootstrap
    with function(lam, {"bootstrap": bootstrap}, runtime="provided.al2023") as name:
        r = lam.invoke(FunctionName=name, Payload=b"{}")
        assert "FunctionError" not in r
        assert r["Payload"].read() == b"plain text"


def test_a_runtime_that_never_asks_for_work_times_out(lam):
    # Lambda gives init 10 s, then the invocation's own timeout, before it gives up.
    with function(lam, {"bootstrap": "#!/bin/sh\nexec sleep 600\n"}, runtime="provided.al2023", Timeout=1) as name:
        started = time.monotonic()
        r, out = invoke(lam, name)
        assert 10 <= time.monotonic() - started < 20
        assert (r["FunctionError"], out["errorType"]) == ("Unhandled", "Sandbox.Timedout")


def test_megabytes_of_output(lam, logs):
    code = {"app.py": "def handler(e, c):\n    for i in range(20000):\n        print('line', i, 'x' * 1000)\n    return 'done'\n"}
    with function(lam, code, Timeout=60) as name:
        r, out = invoke(lam, name, LogType="Tail")
        assert out == "done"
        tail = log_tail(r)
        assert len(tail) <= 4096 and tail.rstrip("\n").split("\n")[-1].startswith("REPORT RequestId:")
        found = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern='"line 19999"')["events"]
        assert len(found) == 1


def test_memory_size_is_a_limit(lam):
    code = {"app.py": "def handler(e, c):\n    block = b'x' * (e['mb'] * 1024 * 1024)\n    return len(block)\n"}
    with function(lam, code, MemorySize=128) as name:
        r, out = invoke(lam, name, {"mb": 40}, LogType="Tail")
        assert out == 40 * 1024 * 1024
        used = int(log_tail(r).split("Max Memory Used: ")[1].split(" MB")[0])
        assert 40 <= used <= 128
        r, out = invoke(lam, name, {"mb": 300})
        assert (r["FunctionError"], out["errorType"]) == ("Unhandled", "Runtime.OutOfMemory")
        assert invoke(lam, name, {"mb": 1})[1] == 1024 * 1024


def test_response_too_large(lam):
    code = {"app.py": "def handler(e, c):\n    return 'x' * (7 * 1024 * 1024)\n"}
    with function(lam, code) as name:
        r, out = invoke(lam, name)
        assert (r["FunctionError"], out["errorType"]) == ("Unhandled", "Function.ResponseSizeTooLarge")


def test_request_payload_errors(lam, url):
    with function(lam, {"app.py": ECHO_PY}) as name:
        with expect_error("InvalidRequestContentException", match="Could not parse request body into json"):
            lam.invoke(FunctionName=name, Payload=b"{not json")
        with expect_error("RequestTooLargeException"):
            lam.invoke(FunctionName=name, Payload=json.dumps({"x": "y" * (6 * 1024 * 1024)}))
        with expect_error("RequestTooLargeException"):
            lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"x": "y" * (1024 * 1024)}))
        dry = lam.invoke(FunctionName=name, InvocationType="DryRun")
        assert dry["StatusCode"] == 204
        status, body, headers = rest(url, "POST", f"/2015-03-31/functions/{name}/invocations", b"{}",
                                     headers={"X-Amz-Invocation-Type": "Sometimes"})
        assert (status, headers["x-amzn-ErrorType"]) == (400, "ValidationException")
    with expect_error("ResourceNotFoundException"):
        lam.invoke(FunctionName="compat-fn-does-not-exist", Payload=b"{}")


def test_reserved_concurrency_throttles(lam):
    code = {"app.py": "import time\ndef handler(e, c):\n    time.sleep(e.get('sleep', 0))\n    return 'ok'\n"}
    with function(lam, code, Timeout=10) as name:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
        with expect_error("TooManyRequestsException") as info:
            lam.invoke(FunctionName=name, Payload=b"{}")
        assert info.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
        invoke(lam, name)  # warm the one instance
        results = []
        slow = threading.Thread(target=lambda: results.append(invoke(lam, name, {"sleep": 2})[1]))
        slow.start()
        time.sleep(0.5)
        with expect_error("TooManyRequestsException"):
            lam.invoke(FunctionName=name, Payload=b"{}")
        slow.join()
        assert results == ["ok"]


RECORDER = """
import json, os, uuid
import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE"])

def handler(event, context):
    table.put_item(Item={"id": str(uuid.uuid4()), "kind": os.environ.get("KIND", "call"),
                         "request": context.aws_request_id, "event": json.dumps(event)})
    if event.get("fail"):
        raise RuntimeError("asked to fail")
    return "recorded"
"""


def scan(client, table):
    return client.scan(TableName=table, ConsistentRead=True)["Items"]


def test_async_invocation_reaches_the_sdk(lam, client, record_table):
    env = {"Variables": {"TABLE": record_table}}
    with function(lam, {"app.py": RECORDER}, Environment=env, Timeout=30) as name:
        r = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"hello": "async"}))
        assert r["StatusCode"] == 202
        assert wait_until(lambda: len(scan(client, record_table)) == 1, timeout=30)
        item = scan(client, record_table)[0]
        assert json.loads(item["event"]["S"]) == {"hello": "async"}
        legacy = lam.invoke_async(FunctionName=name, InvokeArgs=json.dumps({"legacy": True}))
        assert legacy["Status"] == 202
        assert wait_until(lambda: len(scan(client, record_table)) == 2, timeout=30)


@pytest.mark.dynarock_only  # Lambda waits a minute before each retry; run.sh sets 0.5 s.
def test_async_retries_then_on_failure_destination(lam, client, record_table):
    env = {"Variables": {"TABLE": record_table}}
    with function(lam, {"app.py": RECORDER}, Environment=env, Timeout=30) as name, \
            function(lam, {"app.py": RECORDER}, Environment={"Variables": {"TABLE": record_table, "KIND": "dest"}},
                     Timeout=30) as destination:
        dest_arn = lam.get_function(FunctionName=destination)["Configuration"]["FunctionArn"]
        lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1,
                                             DestinationConfig={"OnFailure": {"Destination": dest_arn}})
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"fail": True, "n": 7}))
        assert wait_until(lambda: any(i["kind"]["S"] == "dest" for i in scan(client, record_table)), timeout=60)
        items = scan(client, record_table)
        calls = [i for i in items if i["kind"]["S"] == "call"]
        assert len(calls) == 2  # the first attempt and one retry
        record = json.loads(next(i for i in items if i["kind"]["S"] == "dest")["event"]["S"])
        assert record["requestContext"]["condition"] == "RetriesExhausted"
        assert record["requestContext"]["approximateInvokeCount"] == 2
        assert record["requestContext"]["functionArn"].endswith(f":function:{name}")
        assert record["requestPayload"] == {"fail": True, "n": 7}
        assert record["responseContext"]["functionError"] == "Unhandled"
        assert record["responsePayload"]["errorMessage"] == "asked to fail"


def test_logs_api_reads_function_logs(lam, logs):
    marker = uuid.uuid4().hex
    code = {"app.py": f"def handler(e, c):\n    print('marker {marker}')\n    return 1\n"}
    with function(lam, code) as name:
        invoke(lam, name)
        invoke(lam, name)
        group = f"/aws/lambda/{name}"
        groups = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        assert [g["logGroupName"] for g in groups] == [group]
        streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
        assert len(streams) == 1 and "[$LATEST]" in streams[0]["logStreamName"]
        events = logs.get_log_events(logGroupName=group, logStreamName=streams[0]["logStreamName"],
                                     startFromHead=True)["events"]
        messages = [e["message"] for e in events]
        assert sum(m == f"marker {marker}" for m in messages) == 2
        assert sum(m.startswith("REPORT RequestId:") for m in messages) == 2
        found = logs.filter_log_events(logGroupName=group, filterPattern=f'"marker {marker}"')["events"]
        assert len(found) == 2 and all(e["logStreamName"] == streams[0]["logStreamName"] for e in found)
        with expect_error("ResourceNotFoundException"):
            logs.get_log_events(logGroupName="/aws/lambda/compat-none", logStreamName="x")


@pytest.mark.dynarock_only  # `dynarock logs` is the server's own command.
@pytest.mark.skipif("DYNAROCK_BIN" not in os.environ, reason="needs the dynarock binary (compat-tests/run.sh sets it)")
def test_dynarock_logs_command(lam, url):
    marker = uuid.uuid4().hex
    with function(lam, {"app.py": f"def handler(e, c):\n    print('hello {marker}')\n"}) as name:
        _, _ = invoke(lam, name)
        result = subprocess.run([os.environ["DYNAROCK_BIN"], "logs", name, "--endpoint", url],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert any(line.endswith(f"hello {marker}") for line in lines), lines
        assert any("START RequestId:" in line for line in lines)
        assert all("[$LATEST]" in line.split(" ")[1] for line in lines)
    missing = subprocess.run([os.environ["DYNAROCK_BIN"], "logs", "compat-fn-none", "--endpoint", url],
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode == 1 and "ResourceNotFoundException" in missing.stderr


@pytest.mark.dynarock_only  # `dynarock logs` is the server's own command.
@pytest.mark.skipif("DYNAROCK_BIN" not in os.environ, reason="needs the dynarock binary (compat-tests/run.sh sets it)")
def test_dynarock_logs_follow_prints_new_lines(lam, url):
    marker = uuid.uuid4().hex
    code = {"app.py": f"def handler(e, c):\n    print('follow {marker}', e['n'])\n"}
    with function(lam, code) as name:
        invoke(lam, name, {"n": 1})
        follow = subprocess.Popen([os.environ["DYNAROCK_BIN"], "logs", name, "--follow", "--endpoint", url],
                                  stdout=subprocess.PIPE, text=True)
        try:
            seen = []
            deadline = time.monotonic() + 20

            lines = queue.Queue()
            threading.Thread(target=lambda: [lines.put(line) for line in follow.stdout], daemon=True).start()

            def read_until(text):
                # Each wait ends at the deadline: a silent follower fails, it does not hang.
                while (left := deadline - time.monotonic()) > 0:
                    try:
                        line = lines.get(timeout=left)
                    except queue.Empty:
                        return False
                    seen.append(line)
                    if line.rstrip().endswith(text):
                        return True
                return False
            assert read_until(f"follow {marker} 1"), seen
            invoke(lam, name, {"n": 2})
            assert read_until(f"follow {marker} 2"), seen
        finally:
            follow.kill()
            follow.wait()


@pytest.mark.dynarock_only  # On Lambda the sandbox is frozen, not killed; here nothing may outlive it.
def test_children_of_a_timed_out_function_are_killed(lam):
    marker = f"sleep 31{uuid.uuid4().int % 1000:03d}"
    code = {"app.py": "import subprocess, time\n"
                      f"def handler(e, c):\n    subprocess.Popen(['sh', '-c', '{marker}'])\n    time.sleep(30)\n"}
    with function(lam, code, Timeout=1) as name:
        r, out = invoke(lam, name)
        assert out["errorType"] == "Sandbox.Timedout"
        assert wait_until(lambda: marker not in subprocess.run(["ps", "-eo", "args"], capture_output=True,
                                                               text=True).stdout, timeout=5)


def test_cli_invoke(lam, url, region, tmp_path):
    with function(lam, {"app.py": ECHO_PY}) as name:
        out = tmp_path / "out.json"
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        result = subprocess.run(["aws", "lambda", "invoke", "--endpoint-url", url, "--region", region,
                                 "--function-name", name, "--payload", '{"cli": true}', str(out)],
                                capture_output=True, text=True, env=env, timeout=60)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["StatusCode"] == 200
        assert json.loads(out.read_text())["event"] == {"cli": True}
