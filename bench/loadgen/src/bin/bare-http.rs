//! The floor for an HTTP + JSON server on this machine: answers every request with a fixed
//! GetItem-sized body, on the same stack as dynarock (tokio's multi-threaded runtime, hyper via
//! axum, mimalloc). dynarock's per-request CPU and req/s are measured against it in one sitting.
//!
//! usage: bare-http [PORT]   (default 8199)

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::Router;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What dynarock answers to the wrk GetItem scenario: one item of ~200 bytes.
const BODY: &str = concat!(
    r#"{"Item":{"pk":{"S":"k000042"},"n":{"N":"42"},"data":{"S":""#,
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    r#""}}}"#
);

async fn answer() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/x-amz-json-1.0")], BODY)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p.parse().map_err(std::io::Error::other)?,
        None => 8199,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, Router::new().fallback(answer)).await
}
