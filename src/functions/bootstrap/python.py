"""dynarock's runtime client for Python functions: speaks the Lambda Runtime API
(AWS_LAMBDA_RUNTIME_API) and calls the handler `_HANDLER` (`module.function`) with Lambda's event
and context, as the managed python3.x runtimes do."""

import http.client
import importlib
import json
import logging
import os
import sys
import time
import traceback

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
PREFIX = "/2018-06-01/runtime"
conn = http.client.HTTPConnection(API)


def call(method, path, body=None, headers=None):
    conn.request(method, PREFIX + path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response, response.read()


def error_body(exc, error_type=None):
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_tb(exc.__traceback__) if exc.__traceback__ else [],
    }


def post_error(path, body):
    data = json.dumps(body).encode()
    call("POST", path, data, {"Lambda-Runtime-Function-Error-Type": body["errorType"]})


class Context:
    def __init__(self, headers):
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms", "0"))
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        cognito = headers.get("Lambda-Runtime-Cognito-Identity")
        if cognito:
            self.identity = json.loads(cognito)
        client_context = headers.get("Lambda-Runtime-Client-Context")
        if client_context:
            self.client_context = json.loads(client_context)

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)


class RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record):
        record.aws_request_id = RequestIdFilter.request_id
        return True


def setup_logging():
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
        "%Y-%m-%dT%H:%M:%S"))
    handler.formatter.converter = time.gmtime
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)


def load_handler():
    spec = os.environ["_HANDLER"]
    module_name, _, function_name = spec.rpartition(".")
    if not module_name:
        raise LoadError("Runtime.MalformedHandlerName",
                        f"Bad handler '{spec}': not enough values to unpack (expected 2, got 1)")
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise LoadError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {e}")
    except SyntaxError as e:
        raise LoadError("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {e}")
    handler = getattr(module, function_name, None)
    if handler is None:
        raise LoadError("Runtime.HandlerNotFound",
                        f"Handler '{function_name}' missing on module '{module_name}'")
    return handler


class LoadError(Exception):
    def __init__(self, error_type, message):
        super().__init__(message)
        self.error_type = error_type


def main():
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path.insert(0, task_root)
    setup_logging()
    try:
        handler = load_handler()
    except LoadError as e:
        print(f"[ERROR] {e.error_type}: {e}", flush=True)
        post_error("/init/error", {"errorMessage": str(e), "errorType": e.error_type,
                                    "requestId": "", "stackTrace": []})
        sys.exit(1)
    except Exception as e:  # an exception raised by the module's own top-level code
        traceback.print_exc(file=sys.stdout)
        post_error("/init/error", error_body(e))
        sys.exit(1)

    while True:
        response, body = call("GET", "/invocation/next")
        headers = response.headers
        request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        RequestIdFilter.request_id = request_id
        os.environ["_X_AMZN_TRACE_ID"] = headers.get("Lambda-Runtime-Trace-Id", "")
        try:
            event = json.loads(body) if body else None
            result = handler(event, Context(headers))
        except Exception as e:
            info = error_body(e)
            print(f"[ERROR] {info['errorType']}: {info['errorMessage']}\nTraceback (most recent call last):\n"
                  + "".join(info["stackTrace"]), end="", flush=True)
            post_error(f"/invocation/{request_id}/error", info)
            continue
        try:
            data = json.dumps(result).encode()
        except (TypeError, ValueError) as e:
            post_error(f"/invocation/{request_id}/error",
                       {"errorMessage": f"Unable to marshal response: {e}",
                        "errorType": "Runtime.MarshalError", "requestId": request_id, "stackTrace": []})
            continue
        call("POST", f"/invocation/{request_id}/response", data)


if __name__ == "__main__":
    main()
