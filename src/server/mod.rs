//! HTTP: DynamoDB's `POST /`, checked in DynamoDB's order (content type → target → auth →
//! decompression → JSON), then handed to the API's operation table, served by hyper directly
//! (a router would only add work to every request); every other path goes to the axum router
//! of the REST surfaces (Lambda, ...).

pub mod access;
mod cors;
mod encoding;
pub mod idle_poll;
pub mod rest;
pub mod stacks;
pub mod tls;
mod watchdog;

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use crate::api::input::{Body, Input};
use crate::api::{self, Context};
use crate::engine::Engine;
use crate::error::Error;
use idle_poll::IdlePoll;

/// DynamoDB's request size limit.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The read buffer a connection's request line and headers must fit in (bodies stream through
/// it): headers that have not ended once it holds this much are refused with `431 Request
/// Header Fields Too Large`. The buffer grows by doubling, so 64-128 KiB of headers may pass,
/// never more. SDK requests take under 2 KiB.
const MAX_HEADER_BYTES: usize = 64 * 1024;

pub struct ServerConfig {
    /// The principals whose signatures are verified (`None`: signatures are checked for shape).
    pub credentials: Option<Arc<crate::auth::credentials::Credentials>>,
    pub region: String,
    pub account: String,
    pub limits: ConnectionLimits,
}

/// What keeps one client from taking the server: at most `max` connections at once (more wait
/// to be accepted), and a connection is closed when a request's headers or body take longer
/// than `timeout` to arrive, or when it has been idle that long.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    pub max: usize,
    pub timeout: Duration,
}

pub struct AppState {
    pub engine: Arc<Engine>,
    pub config: ServerConfig,
    /// Every REST surface (Lambda, ...): requests to any path but `/`.
    rest: axum::Router,
    request_counter: AtomicU64,
    /// Random per process, so request ids stay unique across restarts.
    request_id_prefix: [u8; 32],
}

/// 52 characters of [A-Z0-9], like DynamoDB's request ids: a random per-process prefix and a
/// zero-padded counter, built without the formatting machinery (it is on every response).
struct RequestId([u8; 52]);

impl RequestId {
    fn new(prefix: &[u8; 32], mut n: u64) -> RequestId {
        let mut id = [b'0'; 52];
        id[..32].copy_from_slice(prefix);
        for digit in id[32..].iter_mut().rev() {
            *digit = b'0' + (n % 10) as u8;
            n /= 10;
        }
        RequestId(id)
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits and hex letters are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

type Request = http::Request<Incoming>;
type Response = http::Response<Full<Bytes>>;
/// DynamoDB's answers are built here; the REST surfaces' by axum.
type AnyResponse = http::Response<Either<Full<Bytes>, axum::body::Body>>;

pub fn app(engine: Arc<Engine>, config: ServerConfig, rest: axum::Router) -> Arc<AppState> {
    Arc::new(AppState {
        engine,
        config,
        rest,
        request_counter: AtomicU64::new(0),
        request_id_prefix: format!("{:032X}", uuid::Uuid::new_v4().as_u128())
            .into_bytes()
            .try_into()
            .unwrap_or([b'0'; 32]),
    })
}

/// A listening socket, serving HTTPS when it has an acceptor.
pub struct Listener {
    pub tcp: TcpListener,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Listener {
    async fn accept(&self) -> std::io::Result<TcpStream> {
        self.tcp.accept().await.map(|(stream, _)| stream)
    }
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: Listener,
    second: Option<Listener>,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    idle: Option<Arc<IdlePoll>>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    if let Some(idle) = &idle {
        for l in std::iter::once(&listener).chain(&second) {
            idle.watch(&l.tcp);
        }
    }
    let limits = state.config.limits;
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max.max(1)));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A connection is accepted only once one of the slots is free.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (accepted, tls) = tokio::select! {
            accepted = listener.accept() => (accepted, &listener.tls),
            (accepted, tls) = accept_second(second.as_ref()) => (accepted, tls),
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok(stream) => stream,
            // A client that gave up before being accepted.
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors, typically: wait for connections to close rather
                // than spin.
                tracing::error!("accept error: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if let Some(idle) = &idle {
            idle.watch(&stream);
        }
        let state = state.clone();
        let activity = Arc::new(watchdog::Activity::default());
        let watched = activity.clone();
        let service = service_fn(move |request| {
            let state = state.clone();
            let busy = watched.begin();
            async move {
                let response = route(&state, request).await;
                drop(busy);
                Ok::<_, Infallible>(response)
            }
        });
        let watcher = graceful.watcher();
        let served = match tls.clone() {
            None => tokio::spawn(serve_connection(stream, service, watcher, slot)),
            Some(tls) => tokio::spawn(async move {
                // The handshake is what a TLS client's request waits for first: it gets the
                // same time as a request's headers.
                match tokio::time::timeout(limits.timeout, tls.accept(stream)).await {
                    Ok(Ok(stream)) => serve_connection(stream, service, watcher, slot).await,
                    Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                }
            }),
        };
        // Idle, or its next request too slow in coming: closed, its slot freed. A task of its
        // own, so that serving a request never polls it.
        tokio::spawn(watchdog::close_when_idle(served, activity, limits.timeout));
    }
    drop((listener, second));
    graceful.shutdown().await;
    Ok(())
}

/// The second listener's next connection and its acceptor; with none, never.
async fn accept_second(
    second: Option<&Listener>,
) -> (
    std::io::Result<TcpStream>,
    &Option<tokio_rustls::TlsAcceptor>,
) {
    match second {
        Some(l) => (l.accept().await, &l.tls),
        None => std::future::pending().await,
    }
}

/// Serves one connection's requests until it closes (or the server shuts down), then frees its
/// slot.
async fn serve_connection<I, S>(
    io: I,
    service: S,
    watcher: hyper_util::server::graceful::Watcher,
    slot: tokio::sync::OwnedSemaphorePermit,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = Either<Full<Bytes>, axum::body::Body>>
        + Send,
    S::Future: Send,
{
    let connection = hyper::server::conn::http1::Builder::new()
        .max_buf_size(MAX_HEADER_BYTES)
        .serve_connection(TokioIo::new(io), service);
    // A client going away mid-request is not the server's error.
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!("connection ended: {e}");
    }
    drop(slot);
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

const X_AMZ_TARGET: HeaderName = HeaderName::from_static("x-amz-target");
const X_AMZ_CRC32: HeaderName = HeaderName::from_static("x-amz-crc32");
const X_AMZN_REQUESTID: HeaderName = HeaderName::from_static("x-amzn-requestid");

const JSON_TYPES: [&str; 2] = ["application/x-amz-json-1.0", "application/json"];
const JSON_11: &str = "application/x-amz-json-1.1";

/// `/` is DynamoDB's (the hot path, untouched); every other path is a REST surface's.
async fn route(state: &Arc<AppState>, request: Request) -> AnyResponse {
    if !cors::from_page(request.headers()) {
        if request.uri().path() == "/" {
            return handle(state, request).await;
        }
        return rest(state, request).await;
    }
    if request.method() == Method::OPTIONS {
        return cors::preflight(request.headers());
    }
    let mut response = match request.uri().path() {
        "/" => handle(state, request).await,
        _ => rest(state, request).await,
    };
    cors::allow(response.headers_mut());
    response
}

/// A REST surface's request, its body read first under the same limits as DynamoDB's (a
/// client sending a byte a second holds no slot for long).
async fn rest(state: &Arc<AppState>, request: Request) -> AnyResponse {
    let (parts, body) = request.into_parts();
    let limits = state.config.limits;
    let body = match read_body(
        body,
        crate::functions::api::MAX_REQUEST_BYTES,
        limits.timeout,
    )
    .await
    {
        Ok(body) => body,
        Err(failure) => return rest_refusal(failure),
    };
    to_router(state, parts, body).await
}

/// A request whose body is read, to the router of the REST surfaces.
async fn to_router(state: &Arc<AppState>, parts: http::request::Parts, body: Bytes) -> AnyResponse {
    let request = http::Request::from_parts(parts, Full::new(body));
    match state.rest.clone().oneshot(request).await {
        Ok(response) => response.map(Either::Right),
        Err(never) => match never {},
    }
}

/// Why a request's body was not read.
enum BodyFailure {
    TooLarge,
    TooSlow,
}

/// The whole body, at most `limit` bytes, arriving within `timeout`. Most bodies are whole by
/// the time their headers are read: only one that is not costs a timer.
async fn read_body(body: Incoming, limit: usize, timeout: Duration) -> Result<Bytes, BodyFailure> {
    let mut body = std::pin::pin!(Limited::new(body, limit).collect());
    let first = std::future::poll_fn(|cx| Poll::Ready(Future::poll(body.as_mut(), cx))).await;
    let collected = match first {
        Poll::Ready(collected) => collected,
        Poll::Pending => tokio::time::timeout(timeout, body)
            .await
            .map_err(|_| BodyFailure::TooSlow)?,
    };
    collected
        .map(|c| c.to_bytes())
        .map_err(|_| BodyFailure::TooLarge)
}

/// A REST request whose body was too large or too slow, answered as Lambda answers (the
/// connection closed after a slow one).
fn rest_refusal(failure: BodyFailure) -> AnyResponse {
    let (status, kind, message) = match failure {
        BodyFailure::TooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            format!(
                "Request must be smaller than {} bytes",
                crate::functions::api::MAX_REQUEST_BYTES
            ),
        ),
        BodyFailure::TooSlow => (
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeoutException",
            "Request body was not received in time".to_string(),
        ),
    };
    let body = serde_json::json!({"Type": "User", "message": message}).to_string();
    let mut response = http::Response::new(Either::Left(Full::new(Bytes::from(body))));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("x-amzn-errortype", HeaderValue::from_static(kind));
    headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

async fn handle(state: &Arc<AppState>, request: Request) -> AnyResponse {
    let request_id = state.request_id();
    let (parts, body) = request.into_parts();

    if parts.method == Method::GET {
        // The real endpoint answers health checks this way.
        let text = format!("healthy: dynamodb.{}.amazonaws.com ", state.config.region);
        return finish(
            StatusCode::OK,
            "text/plain",
            text.into_bytes(),
            &request_id,
            None,
        );
    }
    if let Some(len) = content_length(&parts.headers) {
        if len > MAX_BODY_BYTES {
            return error_response(&too_large(), JSON_TYPES[0], &request_id);
        }
    }
    // A body that does not arrive in time ends the connection (a client sending a byte a
    // second holds no slot for long).
    let body = match read_body(body, MAX_BODY_BYTES, state.config.limits.timeout).await {
        Ok(body) => body,
        Err(BodyFailure::TooSlow) => return body_timeout(&request_id),
        Err(BodyFailure::TooLarge) => {
            return error_response(&too_large(), JSON_TYPES[0], &request_id)
        }
    };

    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim());
    let known = content_type.and_then(|t| JSON_TYPES.iter().find(|j| j.eq_ignore_ascii_case(t)));
    let content_type = match known {
        Some(t) => *t,
        // The JSON 1.1 services (CloudWatch Logs, ...) share DynamoDB's `POST /`.
        None if content_type.is_some_and(|t| t.eq_ignore_ascii_case(JSON_11)) => {
            return to_router(state, parts, body).await;
        }
        None if parts.method != Method::POST || !body.is_empty() => {
            // What DynamoDB sends for a request that is not its JSON protocol.
            return finish(
                StatusCode::NOT_FOUND,
                "application/x-amz-json-1.0",
                b"<UnknownOperationException/>\n".to_vec(),
                &request_id,
                None,
            );
        }
        None => JSON_TYPES[0],
    };

    let result = {
        let _underway = state.engine.underway();
        dispatch(state, &parts, body.clone()).await
    };
    let coding = encoding::negotiate(&parts.headers);
    match result {
        Ok(bytes) => finish(StatusCode::OK, content_type, bytes, &request_id, coding),
        // SQS speaks JSON 1.0 too; its targets are not DynamoDB's.
        Err(Error::UnknownOperation) if is_sqs(&parts.headers) => {
            to_router(state, parts, body).await
        }
        Err(e) => error_response(&e, content_type, &request_id),
    }
}

/// A request whose body stopped arriving: answered, and the connection closed.
fn body_timeout(request_id: &RequestId) -> AnyResponse {
    let e = Error::validation("Request body was not received in time");
    let mut response = error_response(&e, JSON_TYPES[0], request_id);
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn is_sqs(headers: &http::HeaderMap) -> bool {
    headers
        .get(X_AMZ_TARGET)
        .is_some_and(|t| t.as_bytes().starts_with(b"AmazonSQS."))
}

async fn dispatch(
    state: &Arc<AppState>,
    parts: &http::request::Parts,
    body: Bytes,
) -> Result<Vec<u8>, Error> {
    let target = parts
        .headers
        .get(X_AMZ_TARGET)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (index, handler) = api::operation(target).ok_or(Error::UnknownOperation)?;
    let region = crate::auth::check(&parts.headers, parts.uri.query())?;
    // The caller, when a policy limits it, and the body it signed.
    let (caller, body) = match &state.config.credentials {
        Some(credentials) => {
            let verified = credentials.verify(&parts.method, &parts.uri, &parts.headers, &body)?;
            (verified.caller, verified.body.map_or(body, Bytes::from))
        }
        None => (None, body),
    };
    let region = region.as_deref().unwrap_or(&state.config.region);
    let body = encoding::request_body(&parts.headers, body, MAX_BODY_BYTES)?;
    if body.is_empty() {
        return Err(Error::Serialization("Request body is empty".into()));
    }
    let json = Body::parse(&body)
        .map_err(|e| Error::Serialization(format!("Malformed JSON request: {e}")))?;
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");

    let ctx = Context {
        engine: &state.engine,
        region,
        account: &state.config.account,
        host,
    };
    let input = Input::body(&json)?;
    if let Some(caller) = &caller {
        let operation = target.split_once('.').map_or("", |(_, op)| op);
        api::access::authorize(&ctx, operation, input, caller)?;
    }
    let started = std::time::Instant::now();
    let result = handler(&ctx, input);
    let stats = stats_of(&ctx, input);
    // No answer (an error included) reveals a write before the log holds it: written to the
    // operating system, or on disk in durable mode.
    let result = match state.engine.durable().await {
        Ok(()) => result,
        Err(e) => Err(e),
    };
    stats.record(index, started.elapsed(), result.as_ref().map(drop));
    result
}

/// Where a request is counted: its table's metrics, or the server's when it names none.
fn stats_of(ctx: &Context<'_>, input: Input<'_>) -> crate::metrics::TableStats {
    let table = input.str("TableName").ok().flatten().and_then(|name| {
        let t = ctx.resolve_table(name);
        ctx.engine.table(t.region, t.name)
    });
    match table {
        Some(t) => t.stats.clone(),
        None => ctx.engine.request_stats.clone(),
    }
}

fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn too_large() -> Error {
    Error::RequestTooLarge(format!(
        "Request size exceeds the maximum of {MAX_BODY_BYTES} bytes"
    ))
}

fn error_response(e: &Error, content_type: &'static str, request_id: &RequestId) -> AnyResponse {
    if let Error::Internal(detail) = e {
        tracing::error!(request_id = request_id.as_str(), "internal error: {detail}");
    }
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    finish(status, content_type, e.to_body(), request_id, None)
}

/// Every response carries a request id and the CRC32 of its exact body bytes (compressed, when
/// the client accepts a coding and the answer reaches DynamoDB's threshold).
fn finish(
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
    request_id: &RequestId,
    coding: Option<encoding::Coding>,
) -> AnyResponse {
    let (body, coding) = encoding::compress(coding, body);
    let crc = crc32fast::hash(&body);
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let h = response.headers_mut();
    if let Some(c) = coding {
        h.insert(
            http::header::CONTENT_ENCODING,
            HeaderValue::from_static(c.name()),
        );
    }
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    h.insert(X_AMZ_CRC32, HeaderValue::from(crc));
    // What DynamoDB's endpoints name themselves.
    h.insert(http::header::SERVER, HeaderValue::from_static("Server"));
    if let Ok(id) = HeaderValue::from_bytes(&request_id.0) {
        h.insert(X_AMZN_REQUESTID, id);
    }
    response.map(Either::Left)
}

impl AppState {
    fn request_id(&self) -> RequestId {
        let n = self.request_counter.fetch_add(1, Ordering::Relaxed);
        RequestId::new(&self.request_id_prefix, n)
    }
}

#[cfg(test)]
mod tests {
    use super::RequestId;

    #[test]
    fn request_ids_are_the_prefix_and_a_zero_padded_counter() {
        let prefix = *b"0123456789ABCDEF0123456789ABCDEF";
        let id = RequestId::new(&prefix, 42);
        assert_eq!(
            id.as_str(),
            format!("{}{:020}", "0123456789ABCDEF0123456789ABCDEF", 42)
        );
        assert_eq!(
            RequestId::new(&prefix, u64::MAX).as_str()[32..],
            u64::MAX.to_string()
        );
    }
}
