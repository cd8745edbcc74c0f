//! Function URLs: CreateFunctionUrlConfig, GetFunctionUrlConfig, UpdateFunctionUrlConfig,
//! DeleteFunctionUrlConfig, ListFunctionUrlConfigs. A URL is served on this server's port at
//! `/lambda-url/<function>/` (`/lambda-url/<function>:<alias>/` for an alias), under the
//! host the client used.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::functions::QualifierQuery;
use super::{change, find, parse_body, parse_function_name, qualifier, Caller};
use crate::functions::error::{validation, LambdaError, LambdaResult};
use crate::functions::model::{self, Function, UrlConfig, LATEST};
use crate::functions::Functions;

/// Where a function's URL is served on this server.
pub const URL_PREFIX: &str = "/lambda-url/";

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Input {
    auth_type: Option<String>,
    cors: Option<Value>,
    invoke_mode: Option<String>,
}

fn url_of(headers: &HeaderMap, f: &Function, q: &str) -> String {
    let host = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let target = if q == LATEST {
        f.name.clone()
    } else {
        format!("{}:{q}", f.name)
    };
    format!("http://{host}{URL_PREFIX}{target}/")
}

fn shown(headers: &HeaderMap, f: &Function, q: &str, c: &UrlConfig) -> Value {
    let mut out = json!({
        "FunctionUrl": url_of(headers, f, q),
        "FunctionArn": if q == LATEST { f.arn() } else { f.qualified_arn(q) },
        "AuthType": c.auth_type,
        "CreationTime": c.created,
        "LastModifiedTime": c.modified,
        "InvokeMode": c.invoke_mode,
    });
    if let Some(cors) = &c.cors {
        out["Cors"] = cors.clone();
    }
    out
}

/// The function and qualifier a URL request names; aliases only (no versions), as Lambda.
fn target(raw: &str, param: Option<String>) -> LambdaResult<(String, String)> {
    let (name, from_name) = parse_function_name(raw)?;
    let q = qualifier(from_name, param)?.unwrap_or_else(|| LATEST.into());
    if q != LATEST && q.chars().all(|c| c.is_ascii_digit()) {
        return Err(LambdaError::InvalidParameterValue(
            "Function URLs can only be created for $LATEST or an alias".into(),
        ));
    }
    Ok((name, q))
}

fn check(input: &Input, creating: bool) -> LambdaResult<()> {
    let mut errors = Vec::new();
    match input.auth_type.as_deref() {
        None if creating => errors.push("Value null at 'authType' failed to satisfy constraint: Member must not be null".to_string()),
        Some(a) if a != "NONE" && a != "AWS_IAM" => errors.push(format!(
            "Value '{a}' at 'authType' failed to satisfy constraint: Member must satisfy enum value set: [NONE, AWS_IAM]"
        )),
        _ => {}
    }
    if let Some(m) = input
        .invoke_mode
        .as_deref()
        .filter(|m| *m != "BUFFERED" && *m != "RESPONSE_STREAM")
    {
        errors.push(format!("Value '{m}' at 'invokeMode' failed to satisfy constraint: Member must satisfy enum value set: [BUFFERED, RESPONSE_STREAM]"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(validation(&errors))
    }
}

pub async fn create(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(q): Query<QualifierQuery>,
    body: Bytes,
) -> LambdaResult<Response> {
    let input: Input = parse_body(&body)?;
    check(&input, true)?;
    let (name, q) = target(&raw, q.qualifier)?;
    let now = model::timestamp(state.engine.clock.now());
    let out = change(&state, &caller, &name, |f| {
        crate::functions::invoke::resolve(f, Some(&q))?;
        if f.urls.contains_key(&q) {
            return Err(LambdaError::ResourceConflict(format!(
                "Failed to create function url config for [functionArn = {}]. Error message:  FunctionUrlConfig exists for this Lambda function",
                f.arn()
            )));
        }
        let c = UrlConfig {
            auth_type: input.auth_type.unwrap_or_default(),
            cors: input.cors,
            invoke_mode: input.invoke_mode.unwrap_or_else(|| "BUFFERED".into()),
            created: now.clone(),
            modified: now,
        };
        let mut out = shown(&headers, f, &q, &c);
        if let Some(o) = out.as_object_mut() {
            o.remove("LastModifiedTime");
        }
        f.urls.insert(q.clone(), c);
        Ok(out)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

fn no_url(f: &Function, q: &str) -> LambdaError {
    LambdaError::ResourceNotFound(format!(
        "The resource you requested does not exist. {}",
        if q == LATEST {
            f.arn()
        } else {
            f.qualified_arn(q)
        }
    ))
}

pub async fn get(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> LambdaResult<Json<Value>> {
    let (name, q) = target(&raw, q.qualifier)?;
    let f = find(&state, &caller, &name)?;
    let c = f.urls.get(&q).ok_or_else(|| no_url(&f, &q))?;
    Ok(Json(shown(&headers, &f, &q, c)))
}

pub async fn update(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(q): Query<QualifierQuery>,
    body: Bytes,
) -> LambdaResult<Json<Value>> {
    let input: Input = parse_body(&body)?;
    check(&input, false)?;
    let (name, q) = target(&raw, q.qualifier)?;
    let now = model::timestamp(state.engine.clock.now());
    let out = change(&state, &caller, &name, |f| {
        let missing = no_url(f, &q);
        let c = f.urls.get_mut(&q).ok_or(missing)?;
        if let Some(a) = input.auth_type {
            c.auth_type = a;
        }
        if let Some(cors) = input.cors {
            c.cors = Some(cors);
        }
        if let Some(m) = input.invoke_mode {
            c.invoke_mode = m;
        }
        c.modified = now;
        let c = c.clone();
        Ok(shown(&headers, f, &q, &c))
    })
    .await?;
    Ok(Json(out))
}

pub async fn delete(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(raw): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> LambdaResult<Response> {
    let (name, q) = target(&raw, q.qualifier)?;
    change(&state, &caller, &name, |f| {
        let missing = no_url(f, &q);
        f.urls.remove(&q).ok_or(missing)?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> LambdaResult<Json<Value>> {
    let (name, _) = parse_function_name(&raw)?;
    let f = find(&state, &caller, &name)?;
    let configs: Vec<Value> = f
        .urls
        .iter()
        .map(|(q, c)| shown(&headers, &f, q, c))
        .collect();
    Ok(Json(json!({ "FunctionUrlConfigs": configs })))
}
