//! Invoke (`RequestResponse`, `Event`, `DryRun`) and the deprecated InvokeAsync.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::functions::QualifierQuery;
use super::{find, parse_function_name, qualifier, Caller};
use crate::functions::error::{validation, LambdaError, LambdaResult};
use crate::functions::invoke::{resolve, Request};
use crate::functions::queue::Event;
use crate::functions::Functions;

/// Lambda's payload limits: synchronous, asynchronous (`Event`), and InvokeAsync.
const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;
const MAX_EVENT_PAYLOAD: usize = 1024 * 1024;
const MAX_INVOKE_ASYNC_PAYLOAD: usize = 256 * 1024;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn too_large(limit: usize) -> LambdaError {
    LambdaError::RequestTooLarge(format!(
        "Request must be smaller than {limit} bytes for the InvokeFunction operation"
    ))
}

/// A non-empty payload must be JSON; an empty one is passed on empty, as Lambda does.
fn check_payload(body: &Bytes) -> LambdaResult<()> {
    if body.is_empty() {
        return Ok(());
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(body)
        .map(|_| ())
        .map_err(|e| {
            LambdaError::InvalidRequestContent(format!(
                "Could not parse request body into json: Could not parse payload into json: {e}"
            ))
        })
}

pub async fn invoke(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(raw): Path<String>,
    Query(q): Query<QualifierQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> LambdaResult<Response> {
    let invocation_type = header(&headers, "x-amz-invocation-type").unwrap_or("RequestResponse");
    let log_type = header(&headers, "x-amz-log-type").unwrap_or("None");
    let mut errors = Vec::new();
    if !["RequestResponse", "Event", "DryRun"].contains(&invocation_type) {
        errors.push(format!("Value '{invocation_type}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"));
    }
    if !["None", "Tail"].contains(&log_type) {
        errors.push(format!("Value '{log_type}' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]"));
    }
    if !errors.is_empty() {
        return Err(validation(&errors));
    }
    let limit = if invocation_type == "Event" {
        MAX_EVENT_PAYLOAD
    } else {
        MAX_SYNC_PAYLOAD
    };
    if body.len() > limit {
        return Err(too_large(limit));
    }
    let (name, from_name) = parse_function_name(&raw)?;
    let q = qualifier(from_name, q.qualifier)?;
    let function = find(&state, &caller, &name)?;
    let version = resolve(&function, q.as_deref())?.clone();
    check_payload(&body)?;
    let client_context = match header(&headers, "x-amz-client-context") {
        Some(encoded) => Some(decode_client_context(encoded)?),
        None => None,
    };
    match invocation_type {
        "DryRun" => Ok(StatusCode::NO_CONTENT.into_response()),
        "Event" => {
            let request_id = queue_event(&state, &caller, name, q, body).await?;
            Ok(event_response(&request_id, &version.version))
        }
        _ => {
            let invoked_arn = q
                .as_deref()
                .map_or_else(|| function.arn(), |q| function.qualified_arn(q));
            let request = Request {
                payload: body,
                client_context,
                invoked_arn,
            };
            let invoked = state.run(&function, &version, request).await?;
            let mut response = Response::new(Body::from(invoked.payload));
            let h = response.headers_mut();
            h.insert("content-type", HeaderValue::from_static("application/json"));
            if let Ok(v) = HeaderValue::from_str(&invoked.executed_version) {
                h.insert("x-amz-executed-version", v);
            }
            if invoked.function_error {
                h.insert(
                    "x-amz-function-error",
                    HeaderValue::from_static("Unhandled"),
                );
            }
            if log_type == "Tail" {
                let tail = base64::engine::general_purpose::STANDARD.encode(&invoked.log_tail);
                if let Ok(v) = HeaderValue::from_str(&tail) {
                    h.insert("x-amz-log-result", v);
                }
            }
            Ok(response)
        }
    }
}

/// `X-Amz-Client-Context` is base64 JSON; the runtime gets the JSON.
fn decode_client_context(encoded: &str) -> LambdaResult<String> {
    let invalid = || {
        LambdaError::InvalidRequestContent(
            "Client context must be a valid Base64-encoded JSON object.".into(),
        )
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| invalid())?;
    if bytes.len() > 3583 {
        return Err(LambdaError::InvalidRequestContent(
            "Client context must be at most 3583 bytes.".into(),
        ));
    }
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes)
        .map_err(|_| invalid())?;
    String::from_utf8(bytes).map_err(|_| invalid())
}

async fn queue_event(
    state: &Functions,
    caller: &Caller,
    name: String,
    q: Option<String>,
    body: Bytes,
) -> LambdaResult<String> {
    let payload = if body.is_empty() {
        "{}".to_string()
    } else {
        String::from_utf8_lossy(&body).into_owned()
    };
    state
        .enqueue(Event::new(caller.region.clone(), name, q, payload))
        .await
}

fn event_response(request_id: &str, version: &str) -> Response {
    let mut response = StatusCode::ACCEPTED.into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    if let Ok(v) = HeaderValue::from_str(version) {
        h.insert("x-amz-executed-version", v);
    }
    response
}

pub async fn invoke_async(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(raw): Path<String>,
    body: Bytes,
) -> LambdaResult<Response> {
    if body.len() > MAX_INVOKE_ASYNC_PAYLOAD {
        return Err(too_large(MAX_INVOKE_ASYNC_PAYLOAD));
    }
    let (name, q) = parse_function_name(&raw)?;
    let function = find(&state, &caller, &name)?;
    resolve(&function, q.as_deref())?;
    check_payload(&body)?;
    let request_id = queue_event(&state, &caller, name, q, body).await?;
    let mut response = (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"Status": 202})),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-requestid", v);
    }
    Ok(response)
}
