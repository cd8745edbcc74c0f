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

use crate::functions::{cloudwatch, Functions};
use crate::triggers::Triggers;

pub fn router(functions: Arc<Functions>, triggers: Arc<Triggers>) -> Router {
    let json11 = Router::new()
        .route("/", post(json11))
        .with_state(functions.clone());
    crate::functions::api::router(functions)
        .merge(crate::triggers::api::router(triggers))
        .merge(json11)
}

const JSON_11: HeaderValue = HeaderValue::from_static("application/x-amz-json-1.1");

fn answer(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert("content-type", JSON_11);
    response
}

async fn json11(
    State(functions): State<Arc<Functions>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
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
        _ => answer(
            StatusCode::BAD_REQUEST,
            json!({"__type": "UnknownOperationException"}),
        ),
    }
}
