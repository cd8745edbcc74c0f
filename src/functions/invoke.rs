//! One invocation, start to end: a unit of concurrency, a warm instance or a new one, the
//! work handed over the Runtime API, Lambda's START/END/REPORT lines around it, and the
//! caller's answer. A function's failure is an answer (`FunctionError: Unhandled`), not an
//! error of the API.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use serde_json::json;

use super::error::{LambdaError, LambdaResult};
use super::instance::{Ended, Instance};
use super::model::{Function, Version, LATEST};
use super::runtime_api::{Outcome, Work};
use super::Functions;

pub struct Request {
    pub payload: Bytes,
    pub client_context: Option<String>,
    /// The ARN the caller named (with its qualifier, if any).
    pub invoked_arn: String,
}

#[derive(Debug)]
pub struct Invoked {
    pub payload: Bytes,
    /// The function failed: the payload is its error object.
    pub function_error: bool,
    /// The invocation's log, its last 4 KB.
    pub log_tail: Vec<u8>,
    pub executed_version: String,
}

/// Where idle instances of a version wait: a new revision (code or configuration) never
/// reuses an instance of the old one.
pub fn instance_key(f: &Function, v: &Version) -> String {
    format!("{}/{}/{}/{}", f.region, f.name, v.version, v.revision_id)
}

pub fn function_key(f: &Function) -> String {
    format!("{}/{}/", f.region, f.name)
}

impl Functions {
    /// Runs `version` of `function` once, synchronously.
    pub async fn run(
        &self,
        function: &Function,
        version: &Version,
        request: Request,
    ) -> LambdaResult<Invoked> {
        let fkey = function_key(function);
        let _lease = self
            .pool
            .lease(&fkey)
            .inspect_err(|_| self.stats.throttled(&fkey))?;
        let key = instance_key(function, version);
        let request_id = uuid::Uuid::new_v4().to_string();
        let timeout = Duration::from_secs(u64::from(version.timeout));

        let mut instance = match self.pool.take_idle(&key) {
            Some(instance) => instance,
            None => match self.start_instance(function, version).await {
                Ok(instance) => instance,
                Err(failure) => {
                    self.stats.invoked(&fkey, Duration::ZERO, true);
                    return Ok(self.failed_start(version, &request_id, failure));
                }
            },
        };
        let cold = !instance.invoked;
        let init = if cold {
            instance.wait_ready().await
        } else {
            Some(Ok(()))
        };

        let output = instance.output.clone();
        if !cold {
            // A new instance's tail keeps what its init printed.
            output.begin_tail();
        }
        if let Some(note) = cold.then(|| self.launch_note(version)).flatten() {
            output.platform_line(&note);
        }
        output.platform_line(&format!(
            "START RequestId: {request_id} Version: {}",
            version.version
        ));
        let started = Instant::now();
        let ended = match init {
            Some(Err(ended)) => ended,
            _ => {
                let deadline = tokio::time::Instant::now() + timeout;
                let work = Work {
                    request_id: request_id.clone(),
                    payload: request.payload,
                    deadline_ms: epoch_ms(SystemTime::now() + timeout),
                    function_arn: request.invoked_arn,
                    trace_id: trace_id(),
                    client_context: request.client_context,
                    respond: tokio::sync::oneshot::channel().0,
                };
                instance.run(work, deadline).await
            }
        };
        let duration = started.elapsed();
        output.drain();

        let (payload, function_error, keep) = answer(&ended, &request_id, version.timeout);
        self.stats.invoked(&fkey, duration, function_error);
        if let Ended::Finished(Outcome::Error(body)) = &ended {
            output.platform_line(&String::from_utf8_lossy(body));
        }
        if !keep {
            if let Some(message) = payload_message(&payload) {
                output.platform_line(&format!("{} {message}", timestamp_now()));
            }
        }
        output.platform_line(&format!("END RequestId: {request_id}"));
        output.platform_line(&report_line(
            &request_id,
            duration,
            version,
            &instance,
            cold,
        ));
        let log_tail = output.tail();
        if keep && instance.alive() {
            self.pool.put_idle(&key, instance);
        }
        Ok(Invoked {
            payload,
            function_error,
            log_tail,
            executed_version: version.version.clone(),
        })
    }

    async fn start_instance(
        &self,
        function: &Function,
        version: &Version,
    ) -> Result<Instance, String> {
        let code = self.code.path(&version.code);
        let launch = self.bootstraps.launch(&version.runtime, &code);
        if version.runtime.starts_with("provided") && !launch.program.is_file() {
            return Err(format!(
                "Couldn't find valid bootstrap(s): [{}]",
                launch.program.display()
            ));
        }
        let stream = format!(
            "{}/[{}]{}",
            jiff::Timestamp::now().strftime("%Y/%m/%d"),
            version.version,
            uuid::Uuid::new_v4().simple()
        );
        let env = self.environment(function, version, &code, &stream);
        let memory = self.cgroups.as_ref().and_then(|c| {
            c.limit(
                &uuid::Uuid::new_v4().simple().to_string(),
                version.memory_size,
            )
        });
        Instance::start(
            &launch,
            &code,
            env,
            self.logs.clone(),
            (function.log_group(), stream),
            memory,
        )
        .await
        .map_err(|e| format!("fork/exec {}: {e}", launch.program.display()))
    }

    /// A version whose process cannot start answers like Lambda's `Runtime.InvalidEntrypoint`.
    fn failed_start(&self, version: &Version, request_id: &str, reason: String) -> Invoked {
        let payload = json!({
            "errorType": "Runtime.InvalidEntrypoint",
            "errorMessage": format!("RequestId: {request_id} Error: {reason}"),
        });
        Invoked {
            payload: Bytes::from(payload.to_string()),
            function_error: true,
            log_tail: Vec::new(),
            executed_version: version.version.clone(),
        }
    }

    fn launch_note(&self, version: &Version) -> Option<String> {
        let code = self.code.path(&version.code);
        self.bootstraps.launch(&version.runtime, &code).note
    }

    /// The environment Lambda gives a function, pointing its SDK back at this server.
    fn environment(
        &self,
        f: &Function,
        v: &Version,
        code: &std::path::Path,
        stream: &str,
    ) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for name in ["PATH", "HOME", "LANG", "SSL_CERT_FILE"] {
            if let Some(value) = std::env::var_os(name) {
                env.insert(name.to_string(), value.to_string_lossy().into_owned());
            }
        }
        let endpoint = &self.settings.endpoint;
        env.insert("AWS_ENDPOINT_URL".into(), endpoint.clone());
        for service in [
            "DYNAMODB",
            "DYNAMODB_STREAMS",
            "LAMBDA",
            "CLOUDWATCH_LOGS",
            "EVENTBRIDGE",
            "SCHEDULER",
        ] {
            env.insert(format!("AWS_ENDPOINT_URL_{service}"), endpoint.clone());
        }
        if let Some(ca) = &self.settings.ca_bundle {
            env.insert("AWS_CA_BUNDLE".into(), ca.to_string_lossy().into_owned());
        }
        let task_root = code.to_string_lossy().into_owned();
        // With verified signatures, the function acts with its role's keys; without, any
        // keys pass.
        match &self.settings.credentials {
            Some(credentials) => {
                let keys = credentials.session(&v.role, &f.name);
                env.insert("AWS_ACCESS_KEY_ID".into(), keys.access_key_id);
                env.insert("AWS_SECRET_ACCESS_KEY".into(), keys.secret);
                env.insert("AWS_SESSION_TOKEN".into(), keys.token);
            }
            None => {
                env.insert("AWS_ACCESS_KEY_ID".into(), "dynarock".into());
                env.insert("AWS_SECRET_ACCESS_KEY".into(), "dynarock".into());
            }
        }
        let set: [(&str, &str); 13] = [
            ("AWS_REGION", &f.region),
            ("AWS_DEFAULT_REGION", &f.region),
            ("AWS_LAMBDA_FUNCTION_NAME", &f.name),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                &v.memory_size.to_string(),
            ),
            ("AWS_LAMBDA_FUNCTION_VERSION", &v.version),
            ("AWS_LAMBDA_LOG_GROUP_NAME", &f.log_group()),
            ("AWS_LAMBDA_LOG_STREAM_NAME", stream),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
            ("AWS_EXECUTION_ENV", &format!("AWS_Lambda_{}", v.runtime)),
            ("_HANDLER", &v.handler),
            ("LAMBDA_TASK_ROOT", &task_root),
            ("LAMBDA_RUNTIME_DIR", &self.bootstraps_dir()),
            ("TZ", ":UTC"),
        ];
        for (k, value) in set {
            env.insert(k.to_string(), value.to_string());
        }
        if let Some(vars) = &v.environment {
            env.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        env
    }
}

/// The caller's payload, whether the function failed, and whether the instance may be reused.
fn answer(ended: &Ended, request_id: &str, timeout: u32) -> (Bytes, bool, bool) {
    let failure = |error_type: &str, message: String| {
        let body = json!({"errorType": error_type, "errorMessage": format!("RequestId: {request_id} Error: {message}")});
        (Bytes::from(body.to_string()), true, false)
    };
    match ended {
        Ended::Finished(Outcome::Response(body)) => (body.clone(), false, true),
        Ended::Finished(Outcome::Error(body)) => (body.clone(), true, true),
        Ended::Finished(Outcome::TooLarge(size)) => {
            let body = json!({
                "errorType": "Function.ResponseSizeTooLarge",
                "errorMessage": format!("Response payload size ({size} bytes) exceeded maximum allowed payload size ({} bytes).", super::runtime_api::MAX_RESPONSE_BYTES),
            });
            (Bytes::from(body.to_string()), true, true)
        }
        Ended::TimedOut => failure(
            "Sandbox.Timedout",
            format!("Task timed out after {timeout}.00 seconds"),
        ),
        Ended::OutOfMemory => failure(
            "Runtime.OutOfMemory",
            "Runtime exited with error: signal: killed".into(),
        ),
        Ended::Exited(_, Some(init_error)) => (init_error.clone(), true, false),
        Ended::Exited(reason, None) => failure("Runtime.ExitError", reason.clone()),
    }
}

fn payload_message(payload: &Bytes) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    v.get("errorMessage")?.as_str().map(str::to_string)
}

fn report_line(
    request_id: &str,
    duration: Duration,
    v: &Version,
    instance: &Instance,
    cold: bool,
) -> String {
    let ms = duration.as_secs_f64() * 1000.0;
    let mut line = format!(
        "REPORT RequestId: {request_id}\tDuration: {ms:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t",
        ms.ceil() as u64,
        v.memory_size,
        instance.max_memory_mb(),
    );
    if let Some(init) = instance.init_duration.filter(|_| cold) {
        line.push_str(&format!(
            "Init Duration: {:.2} ms\t",
            init.as_secs_f64() * 1000.0
        ));
    }
    line
}

fn epoch_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn timestamp_now() -> String {
    super::model::timestamp(SystemTime::now())
}

/// An X-Ray trace header as Lambda passes it (`Root=1-<epoch hex>-<24 hex>`).
fn trace_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("Root=1-{secs:08x}-{};Sampled=0", &random[..24])
}

/// Which version an invocation of `qualifier` runs (an alias resolves to its version).
/// An alias with `AdditionalVersionWeights` sends each invocation to one of its versions at
/// random, by weight.
pub fn resolve<'a>(function: &'a Function, qualifier: Option<&str>) -> LambdaResult<&'a Version> {
    let q = qualifier.unwrap_or(LATEST);
    let target = match function.aliases.get(q) {
        Some(alias) => {
            let roll = (uuid::Uuid::new_v4().as_u128() % 1_000_000) as f64 / 1_000_000.0;
            let mut below = 0.0;
            alias
                .additional_weights
                .iter()
                .find(|(_, weight)| {
                    below += **weight;
                    roll < below
                })
                .map_or(alias.function_version.as_str(), |(version, _)| {
                    version.as_str()
                })
        }
        None => q,
    };
    function.version(target).ok_or_else(|| {
        LambdaError::ResourceNotFound(format!("Function not found: {}", function.qualified_arn(q)))
    })
}
