// dynarock's runtime client for Node functions: speaks the Lambda Runtime API
// (AWS_LAMBDA_RUNTIME_API) and calls the handler `_HANDLER` (`file.export`) with Lambda's event
// and context, as the managed nodejsNN.x runtimes do.
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { format } from "node:util";
import { pathToFileURL } from "node:url";

const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const PREFIX = "/2018-06-01/runtime";

function call(method, urlPath, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path: PREFIX + urlPath, agent, headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function errorBody(err, type) {
  const e = err instanceof Error ? err : new Error(String(err));
  return {
    errorType: type || e.name || "Error",
    errorMessage: e.message,
    trace: (e.stack || "").split("\n"),
  };
}

async function postError(urlPath, body) {
  await call("POST", urlPath, JSON.stringify(body), {
    "Content-Type": "application/json",
    "Lambda-Runtime-Function-Error-Type": body.errorType,
  });
}

// console.* lines as Lambda writes them: time, request id, level, message.
let requestId = "";
for (const [method, level] of [["log", "INFO"], ["info", "INFO"], ["warn", "WARN"], ["error", "ERROR"], ["debug", "DEBUG"], ["trace", "TRACE"]]) {
  console[method] = (...args) => {
    process.stdout.write(`${new Date().toISOString()}\t${requestId || "undefined"}\t${level}\t${format(...args)}\n`);
  };
}

class LoadError extends Error {
  constructor(type, message) {
    super(message);
    this.type = type;
  }
}

async function loadHandler() {
  const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const spec = process.env._HANDLER || "";
  const dot = spec.lastIndexOf(".");
  if (dot <= 0) throw new LoadError("Runtime.MalformedHandlerName", `Bad handler ${spec}`);
  const modulePath = spec.slice(0, dot);
  const name = spec.slice(dot + 1);
  const base = path.resolve(root, modulePath);
  const file = [".js", ".mjs", ".cjs"].map((ext) => base + ext).find((f) => fs.existsSync(f));
  if (!file) {
    throw new LoadError("Runtime.ImportModuleError", `Error: Cannot find module '${modulePath}'`);
  }
  let mod;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (e) {
    throw new LoadError(e instanceof SyntaxError ? "Runtime.UserCodeSyntaxError" : "Runtime.ImportModuleError", `${e.name}: ${e.message}`);
  }
  const handler = mod[name] ?? mod.default?.[name];
  if (typeof handler !== "function") {
    throw new LoadError("Runtime.HandlerNotFound", `${spec} is undefined or not exported`);
  }
  return handler;
}

function invokeHandler(handler, event, context) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const callback = (err, result) => {
      if (settled) return;
      settled = true;
      if (err !== undefined && err !== null) reject(err);
      else resolve(result);
    };
    context.done = callback;
    context.succeed = (r) => callback(null, r);
    context.fail = (e) => callback(e ?? new Error("handled"));
    try {
      const out = handler(event, context, callback);
      if (out && typeof out.then === "function") {
        out.then((r) => callback(null, r), (e) => callback(e ?? new Error("Promise rejected")));
      } else if (handler.length < 3) {
        callback(null, out);
      }
    } catch (e) {
      callback(e);
    }
  });
}

async function main() {
  let handler;
  try {
    handler = await loadHandler();
  } catch (e) {
    const body = errorBody(e, e.type);
    process.stdout.write(`${new Date().toISOString()}\tundefined\tERROR\t${JSON.stringify(body)}\n`);
    await postError("/init/error", body);
    process.exit(1);
  }
  for (;;) {
    const next = await call("GET", "/invocation/next");
    const h = next.headers;
    requestId = h["lambda-runtime-aws-request-id"];
    process.env._X_AMZN_TRACE_ID = h["lambda-runtime-trace-id"] || "";
    const deadline = Number(h["lambda-runtime-deadline-ms"]);
    const context = {
      awsRequestId: requestId,
      invokedFunctionArn: h["lambda-runtime-invoked-function-arn"],
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
      identity: h["lambda-runtime-cognito-identity"] ? JSON.parse(h["lambda-runtime-cognito-identity"]) : undefined,
      clientContext: h["lambda-runtime-client-context"] ? JSON.parse(h["lambda-runtime-client-context"]) : undefined,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
    };
    let result;
    try {
      const event = next.body.length ? JSON.parse(next.body.toString("utf8")) : null;
      result = await invokeHandler(handler, event, context);
    } catch (e) {
      const body = errorBody(e);
      console.error(`Invoke Error \t${JSON.stringify(body)}`);
      await postError(`/invocation/${requestId}/error`, body);
      continue;
    }
    const data = result === undefined ? "null" : JSON.stringify(result);
    await call("POST", `/invocation/${requestId}/response`, data, { "Content-Type": "application/json" });
  }
}

main();
