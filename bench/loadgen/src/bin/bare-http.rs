//! The floor for an HTTP + JSON server on this machine: answers every request with a fixed
//! GetItem-sized body, on the same stack as dynarock (tokio's multi-threaded runtime, hyper's
//! HTTP/1 server, mimalloc). dynarock's per-request CPU and req/s are measured against it in one
//! sitting.
//!
//! usage: bare-http [PORT]   (default 8199)

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What dynarock answers to the wrk GetItem scenario: one item of ~200 bytes.
const BODY: &str = concat!(
    r#"{"Item":{"pk":{"S":"k000042"},"n":{"N":"42"},"data":{"S":""#,
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    r#""}}}"#
);

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p.parse().map_err(std::io::Error::other)?,
        None => 8199,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let service = service_fn(|_request| async {
            let mut response = hyper::Response::new(Full::new(Bytes::from_static(BODY.as_bytes())));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-amz-json-1.0"),
            );
            Ok::<_, Infallible>(response)
        });
        tokio::spawn(
            hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service),
        );
    }
}
