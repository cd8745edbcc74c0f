//! The router of every surface beside DynamoDB's: the Lambda REST API (functions and event
//! source mappings), and the JSON 1.1 services that share `POST /` (told apart by
//! `X-Amz-Target`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use std::time::{Duration, UNIX_EPOCH};

use axum::routing::get;

use crate::auth::credentials::Credentials;
use crate::engine::Engine;
use crate::functions::api::urls::URL_PREFIX;
use crate::functions::api::MAX_REQUEST_BYTES;
use crate::functions::http_api::API_PREFIX;
use crate::functions::{cloudwatch, Functions};
use crate::schedules::events_api;
use crate::schedules::rules::Rules;
use crate::triggers::Triggers;

/// Everything the surfaces beside DynamoDB's serve.
pub struct Surfaces {
    pub engine: Arc<Engine>,
    pub functions: Arc<Functions>,
    pub triggers: Arc<Triggers>,
    pub rules: Arc<Rules>,
    pub scheduler: Arc<crate::schedules::scheduler::Scheduler>,
    pub queues: Arc<crate::queues::Queues>,
    /// Verify signatures with these principals (`None`: shape checks only).
    pub credentials: Option<Arc<Credentials>>,
    /// Where the server keeps its data (`None`: in memory).
    pub data_dir: Option<std::path::PathBuf>,
}

/// What the JSON 1.1 services share.
#[derive(Clone)]
struct Json11 {
    functions: Arc<Functions>,
    rules: Arc<Rules>,
    queues: Arc<crate::queues::Queues>,
}

pub fn router(s: Surfaces) -> crate::error::Result<Router> {
    let json11 = Router::new().route("/", post(json11)).with_state(Json11 {
        functions: s.functions.clone(),
        rules: s.rules,
        queues: s.queues,
    });
    let admin = Router::new()
        .route("/dynarock/clock", get(read_clock).post(move_clock))
        .with_state(s.engine.clone());
    let backups = Router::new()
        .route("/dynarock/backup", post(back_up))
        .with_state((s.engine.clone(), s.data_dir.clone()));
    // Scraped and probed without signatures, as the health check at `/` is.
    let observability = Router::new()
        .route("/metrics", get(metrics))
        .route("/ready", get(ready))
        .with_state((s.engine.clone(), s.functions.clone(), s.triggers.clone()));
    let region = s.functions.settings.region.clone();
    let account = s.functions.settings.account.clone();
    let credentials = s.credentials.clone();
    let router = crate::functions::api::router(s.functions.clone())
        .merge(crate::functions::http_api::router(s.functions)?)
        .merge(super::stacks::router(s.engine.clone(), &region)?)
        .merge(crate::triggers::api::router(s.triggers))
        .merge(crate::schedules::scheduler_api::router(s.scheduler))
        .merge(json11)
        .merge(admin)
        .merge(backups);
    Ok(match credentials {
        Some(credentials) => {
            let verifier = Verifier {
                credentials,
                region: region.clone(),
                account,
            };
            router.layer(axum::middleware::from_fn_with_state(
                Arc::new(verifier),
                verified,
            ))
        }
        None => router,
    }
    .merge(observability))
}

/// What `/metrics` and `/ready` read.
type Observed = (Arc<Engine>, Arc<Functions>, Arc<Triggers>);

/// `GET /metrics`: Prometheus metrics (`crate::metrics`).
async fn metrics(State((engine, functions, triggers)): State<Observed>) -> Response {
    let text = crate::metrics::render(&engine, &functions, &triggers);
    (
        [(
            http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// `GET /ready`: 200 once the server serves requests (it listens only after opening its data
/// and resuming interrupted work), for orchestrators' readiness probes.
async fn ready(State((engine, _, _)): State<Observed>) -> Response {
    let tables = engine.all_tables().len();
    answer(StatusCode::OK, json!({"status": "ready", "tables": tables}))
}

/// What the REST surfaces check requests against.
struct Verifier {
    credentials: Arc<Credentials>,
    /// For ARNs when a request's scope names no region.
    region: String,
    account: String,
}

/// Lets a request through when its signature verifies and, for a caller a policy limits, the
/// policy allows it. Function URLs and HTTP APIs are public HTTP endpoints, not signed.
async fn verified(
    State(v): State<Arc<Verifier>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    if path.starts_with(URL_PREFIX) || path.starts_with(API_PREFIX) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let mut bytes = bytes;
    let refused = match v
        .credentials
        .verify(&parts.method, &parts.uri, &parts.headers, &bytes)
    {
        Ok(verified) => {
            if let Some(decoded) = verified.body {
                bytes = Bytes::from(decoded);
            }
            let caller = verified.caller;
            caller
                .and_then(|c| permitted(&v, &parts, &c).err())
                .map(|m| ("AccessDeniedException", m))
        }
        Err(e) => Some((e.code(), e.message())),
    };
    let Some((code, message)) = refused else {
        let body = axum::body::Body::from(bytes);
        return next
            .run(axum::extract::Request::from_parts(parts, body))
            .await;
    };
    // The JSON protocols at `/` answer as DynamoDB does; the REST APIs as Lambda does.
    if parts.uri.path() == "/" {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"__type": code, "message": message}),
        );
    }
    let mut r = (
        StatusCode::FORBIDDEN,
        axum::Json(json!({"Type": "User", "Message": message, "message": message})),
    )
        .into_response();
    r.headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(code));
    r
}

/// Whether a limited caller's policy allows a REST or JSON 1.1 request; the denial message
/// otherwise.
fn permitted(
    v: &Verifier,
    parts: &http::request::Parts,
    caller: &crate::auth::credentials::Caller,
) -> Result<(), String> {
    let region = crate::auth::check(&parts.headers, parts.uri.query())
        .ok()
        .flatten()
        .unwrap_or_else(|| v.region.clone().into());
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|t| t.to_str().ok());
    let path = parts.uri.path();
    let (action, resource) =
        super::access::rest_access(&parts.method, path, target, (&region, &v.account))
            .unwrap_or_else(|| (format!("unknown:{path}"), "*".to_string()));
    caller.authorize(&v.account, &action, &resource, &[])
}

fn clock_json(engine: &Engine) -> Value {
    let now = engine.clock.now();
    let millis = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let text = jiff::Timestamp::try_from(now)
        .map(|t| t.to_string())
        .unwrap_or_default();
    json!({"now": text, "epochMillis": millis, "manual": engine.clock.manual().is_some()})
}

/// `GET /dynarock/clock`: the server's time, and whether it is the manual clock.
async fn read_clock(State(engine): State<Arc<Engine>>) -> Response {
    answer(StatusCode::OK, clock_json(&engine))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClockMove {
    advance_seconds: Option<f64>,
    set: Option<String>,
}

/// `POST /dynarock/clock` with `{"advanceSeconds": N}` or `{"set": "2027-01-01T00:00:00Z"}`:
/// moves the manual clock forwards (refused for the real clock, or backwards).
async fn move_clock(State(engine): State<Arc<Engine>>, body: Bytes) -> Response {
    let refuse = |message: &str| {
        answer(
            StatusCode::BAD_REQUEST,
            json!({"__type": "ValidationException", "message": message}),
        )
    };
    let Some(clock) = engine.clock.manual() else {
        return refuse(
            "The clock is the real one: start the server with --manual-clock to move it",
        );
    };
    let Ok(request) = serde_json::from_slice::<ClockMove>(&body) else {
        return refuse("Expected {\"advanceSeconds\": N} or {\"set\": \"<RFC 3339 time>\"}");
    };
    match (request.advance_seconds, request.set) {
        (Some(s), None) if s >= 0.0 && s.is_finite() => clock.advance(Duration::from_secs_f64(s)),
        (None, Some(text)) => {
            let Ok(to) = text.parse::<jiff::Timestamp>() else {
                return refuse("set must be an RFC 3339 time, such as 2027-01-01T00:00:00Z");
            };
            let to = UNIX_EPOCH + Duration::from_millis(to.as_millisecond().max(0) as u64);
            if !clock.set(to) {
                return refuse("The clock only moves forwards");
            }
        }
        _ => return refuse("Give one of advanceSeconds (zero or more) and set"),
    }
    answer(StatusCode::OK, clock_json(&engine))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BackUp {
    to: std::path::PathBuf,
}

/// `POST /dynarock/backup` with `{"To": "/absolute/folder"}`: adds a whole-server backup to the
/// folder (`crate::backup`) and answers once it is complete.
async fn back_up(
    State((engine, data_dir)): State<(Arc<Engine>, Option<std::path::PathBuf>)>,
    body: Bytes,
) -> Response {
    let refuse = |message: String| {
        answer(
            StatusCode::BAD_REQUEST,
            json!({"__type": "ValidationException", "message": message}),
        )
    };
    let Ok(request) = serde_json::from_slice::<BackUp>(&body) else {
        return refuse("Expected {\"To\": \"<absolute folder>\"}".into());
    };
    let taken = tokio::task::spawn_blocking(move || {
        crate::backup::take(&engine, data_dir.as_deref(), &request.to)
    })
    .await;
    match taken {
        Ok(Ok(backup)) => answer(StatusCode::OK, backup),
        Ok(Err(message)) => refuse(message),
        Err(e) => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"__type": "ServiceException", "message": e.to_string()}),
        ),
    }
}

const JSON_11: HeaderValue = HeaderValue::from_static("application/x-amz-json-1.1");

fn answer(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert("content-type", JSON_11);
    response
}

async fn json11(State(services): State<Json11>, headers: HeaderMap, body: Bytes) -> Response {
    let functions = &services.functions;
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let region = match crate::auth::check(&headers, None) {
        Ok(region) => region.map_or_else(|| functions.settings.region.clone(), |r| r.into_owned()),
        Err(e) => {
            return answer(
                StatusCode::FORBIDDEN,
                json!({"__type": e.code(), "message": e.to_string()}),
            )
        }
    };
    match target.split_once('.') {
        Some(("Logs_20140328", operation)) => {
            match cloudwatch::handle(
                &functions.logs,
                &region,
                &functions.settings.account,
                operation,
                &body,
            ) {
                Ok(out) => answer(StatusCode::OK, out),
                Err(e) => answer(StatusCode::BAD_REQUEST, e.body()),
            }
        }
        Some(("AWSEvents", operation)) => {
            let account = &functions.settings.account;
            match events_api::handle(&services.rules, &region, account, operation, &body).await {
                Ok(out) => answer(StatusCode::OK, out),
                Err(e) => answer(StatusCode::BAD_REQUEST, e.body()),
            }
        }
        Some(("AmazonSQS", operation)) => {
            let host = headers
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("localhost");
            crate::queues::api::handle(&services.queues, &region, host, operation, &body).await
        }
        _ => answer(
            StatusCode::BAD_REQUEST,
            json!({"__type": "UnknownOperationException"}),
        ),
    }
}
