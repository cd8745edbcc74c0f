//! The Lambda Runtime API of one instance, served on its own loopback port
//! (`AWS_LAMBDA_RUNTIME_API`): `next` blocks until work arrives; `response` and `error` finish
//! it; `init/error` reports a runtime that could not start. Paths, headers, status codes and
//! error bodies are Lambda's, so stock runtime clients work unchanged.

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch};

/// Lambda's limit on a synchronous response (6 MB, and the few bytes Lambda allows over it).
pub const MAX_RESPONSE_BYTES: usize = 6_291_556;

/// One invocation handed to the runtime.
pub struct Work {
    pub request_id: String,
    pub payload: Bytes,
    pub deadline_ms: u64,
    pub function_arn: String,
    pub trace_id: String,
    pub client_context: Option<String>,
    pub respond: oneshot::Sender<Outcome>,
}

/// How the runtime finished an invocation.
#[derive(Debug)]
pub enum Outcome {
    Response(Bytes),
    /// The function's error (`/error`), its body as the runtime sent it.
    Error(Bytes),
    /// The response passed `MAX_RESPONSE_BYTES`.
    TooLarge(usize),
}

/// What the handlers share with the instance that owns them.
pub struct RuntimeChannel {
    work: tokio::sync::Mutex<mpsc::Receiver<Work>>,
    current: Mutex<Option<(String, oneshot::Sender<Outcome>)>>,
    /// True once the runtime asked for work: its init is over.
    ready: watch::Sender<bool>,
    init_error: Mutex<Option<Bytes>>,
}

impl RuntimeChannel {
    pub fn new() -> (Arc<RuntimeChannel>, mpsc::Sender<Work>) {
        let (tx, rx) = mpsc::channel(1);
        let channel = RuntimeChannel {
            work: tokio::sync::Mutex::new(rx),
            current: Mutex::new(None),
            ready: watch::channel(false).0,
            init_error: Mutex::new(None),
        };
        (Arc::new(channel), tx)
    }

    pub fn ready(&self) -> watch::Receiver<bool> {
        self.ready.subscribe()
    }

    pub fn take_init_error(&self) -> Option<Bytes> {
        lock(&self.init_error).take()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn router(channel: Arc<RuntimeChannel>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_RESPONSE_BYTES + 1))
        .with_state(channel)
}

fn runtime_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"errorMessage": message, "errorType": error_type})),
    )
        .into_response()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

async fn next(State(channel): State<Arc<RuntimeChannel>>) -> Response {
    channel.ready.send_replace(true);
    let work = {
        let mut queue = channel.work.lock().await;
        queue.recv().await
    };
    let Some(work) = work else {
        // The instance is going away.
        return runtime_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Runtime.ExitError",
            "the instance is stopping",
        );
    };
    let mut builder = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("lambda-runtime-aws-request-id", &work.request_id)
        .header("lambda-runtime-deadline-ms", work.deadline_ms.to_string())
        .header("lambda-runtime-invoked-function-arn", &work.function_arn)
        .header("lambda-runtime-trace-id", &work.trace_id);
    if let Some(context) = &work.client_context {
        builder = builder.header("lambda-runtime-client-context", context);
    }
    *lock(&channel.current) = Some((work.request_id, work.respond));
    builder.body(Body::from(work.payload)).unwrap_or_else(|_| {
        runtime_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Runtime.Unknown",
            "bad header",
        )
    })
}

/// Takes the invocation `id` if it is the one under way.
fn finish(channel: &RuntimeChannel, id: &str) -> Option<oneshot::Sender<Outcome>> {
    let mut current = lock(&channel.current);
    match current.as_ref() {
        Some((current_id, _)) if current_id == id => current.take().map(|(_, tx)| tx),
        _ => None,
    }
}

fn invalid_request_id() -> Response {
    runtime_error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        "Invalid request ID",
    )
}

async fn response(
    State(channel): State<Arc<RuntimeChannel>>,
    Path(id): Path<String>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let Some(tx) = finish(&channel, &id) else {
        return invalid_request_id();
    };
    match body {
        Ok(bytes) if bytes.len() <= MAX_RESPONSE_BYTES => {
            let _ = tx.send(Outcome::Response(bytes));
            accepted()
        }
        too_large => {
            let size = too_large.map(|b| b.len()).unwrap_or(MAX_RESPONSE_BYTES + 1);
            let _ = tx.send(Outcome::TooLarge(size));
            runtime_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!("Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."),
            )
        }
    }
}

async fn error(
    State(channel): State<Arc<RuntimeChannel>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(tx) = finish(&channel, &id) else {
        return invalid_request_id();
    };
    let _ = tx.send(Outcome::Error(error_body(&headers, body)));
    accepted()
}

async fn init_error(
    State(channel): State<Arc<RuntimeChannel>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    *lock(&channel.init_error) = Some(error_body(&headers, body));
    accepted()
}

/// The error as the caller sees it: the runtime's JSON body, or one built from the
/// `Lambda-Runtime-Function-Error-Type` header when the body is not an error object.
fn error_body(headers: &HeaderMap, body: Bytes) -> Bytes {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    if parsed
        .as_ref()
        .is_some_and(|v| v.get("errorType").is_some() || v.get("errorMessage").is_some())
    {
        return body;
    }
    let error_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Runtime.Unknown");
    let message = String::from_utf8_lossy(&body);
    Bytes::from(json!({"errorType": error_type, "errorMessage": message}).to_string())
}
