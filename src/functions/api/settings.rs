//! Concurrency (Put/Get/DeleteFunctionConcurrency, GetAccountSettings), tags, resource policies
//! (AddPermission, RemovePermission, GetPolicy: stored and returned, they gate nothing here),
//! and asynchronous-invocation settings (Put/Update/Get/Delete/ListFunctionEventInvokeConfig).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::functions::QualifierQuery;
use super::{change, find, parse_body, parse_function_arn, parse_function_name, qualifier, Caller};
use crate::functions::error::{out_of_range, validation, LambdaError, LambdaResult};
use crate::functions::invoke::{function_key, resolve};
use crate::functions::model::{self, EventInvokeConfig, Function, LATEST};
use crate::functions::pool::unreserved_minimum;
use crate::functions::Functions;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConcurrencyInput {
    reserved_concurrent_executions: Option<i64>,
}

pub async fn put_concurrency(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(raw): Path<String>,
    body: Bytes,
) -> LambdaResult<Json<Value>> {
    let input: ConcurrencyInput = parse_body(&body)?;
    let (name, _) = parse_function_name(&raw)?;
    let Some(n) = input.reserved_concurrent_executions else {
        return Err(validation(&["Value null at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must not be null".into()]));
    };
    if n < 0 {
        return Err(validation(&[format!("Value '{n}' at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 0")]));
    }
    let function = find(&state, &caller, &name)?;
    let key = function_key(&function);
    let limit = state.pool.account_limit;
    let minimum = unreserved_minimum(limit);
    let others = state.pool.reserved_total(&key);
    if (limit as i64) - (others as i64) - n < minimum as i64 {
        return Err(LambdaError::InvalidParameterValue(format!(
            "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{minimum}]."
        )));
    }
    let n = n as u32;
    change(&state, &caller, &name, |f| {
        f.reserved_concurrency = Some(n);
        Ok(())
    })
    .await?;
    state.pool.set_reserved(&key, Some(n));
    Ok(Json(json!({"ReservedConcurrentExecutions": n})))
}

pub async fn get_concurrency(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(raw): Path<String>,
) -> LambdaResult<Json<Value>> {
    let (name, _) = parse_function_name(&raw)?;
    let f = find(&state, &caller, &name)?;
    Ok(Json(match f.reserved_concurrency {
        Some(n) => json!({"ReservedConcurrentExecutions": n}),
        None => json!({}),
    }))
}

pub async fn delete_concurrency(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(raw): Path<String>,
) -> LambdaResult<Response> {
    let (name, _) = parse_function_name(&raw)?;
    let key = change(&state, &caller, &name, |f| {
        f.reserved_concurrency = None;
        Ok(function_key(f))
    })
    .await?;
    state.pool.set_reserved(&key, None);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn account_settings(State(state): State<Arc<Functions>>, caller: Caller) -> Json<Value> {
    let functions = state.registry.list(&caller.region);
    let total: u64 = functions
        .iter()
        .flat_map(|f| std::iter::once(&f.latest).chain(f.versions.values()))
        .map(|v| v.code.size)
        .sum();
    let limit = state.pool.account_limit;
    let reserved: u32 = state
        .registry
        .all()
        .iter()
        .filter_map(|f| f.reserved_concurrency)
        .sum();
    Json(json!({
        "AccountLimit": {
            "TotalCodeSize": 80_530_636_800u64,
            "CodeSizeUnzipped": crate::functions::code::MAX_UNZIPPED_BYTES,
            "CodeSizeZipped": crate::functions::code::MAX_ZIP_BYTES,
            "ConcurrentExecutions": limit,
            "UnreservedConcurrentExecutions": limit.saturating_sub(reserved),
        },
        "AccountUsage": {"TotalCodeSize": total, "FunctionCount": functions.len()},
    }))
}

/// The function a tagging ARN names (tags live on the unqualified function).
fn tagged(state: &Functions, caller: &Caller, arn: &str) -> LambdaResult<String> {
    let Some((_, name, None)) = parse_function_arn(arn) else {
        return Err(LambdaError::InvalidParameterValue(format!(
            "Tags can only be set on an unqualified function ARN: {arn}"
        )));
    };
    find(state, caller, &name)?;
    Ok(name)
}

pub async fn list_tags(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(arn): Path<String>,
) -> LambdaResult<Json<Value>> {
    let name = tagged(&state, &caller, &arn)?;
    let f = find(&state, &caller, &name)?;
    Ok(Json(json!({"Tags": f.tags})))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagInput {
    tags: Option<BTreeMap<String, String>>,
}

pub async fn tag(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(arn): Path<String>,
    body: Bytes,
) -> LambdaResult<Response> {
    let input: TagInput = parse_body(&body)?;
    let Some(tags) = input.tags else {
        return Err(validation(&[
            "Value null at 'tags' failed to satisfy constraint: Member must not be null".into(),
        ]));
    };
    let name = tagged(&state, &caller, &arn)?;
    change(&state, &caller, &name, |f| {
        f.tags.extend(tags);
        if f.tags.len() > 50 {
            return Err(LambdaError::InvalidParameterValue(
                "The number of tags exceeds the limit of 50 tags.".into(),
            ));
        }
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn untag(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(arn): Path<String>,
    RawQuery(query): RawQuery,
) -> LambdaResult<Response> {
    // `tagKeys` repeats in the query string, which a map-shaped query cannot hold.
    let keys: Vec<String> = form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "tagKeys")
        .map(|(_, v)| v.into_owned())
        .collect();
    let name = tagged(&state, &caller, &arn)?;
    change(&state, &caller, &name, |f| {
        for k in &keys {
            f.tags.remove(k);
        }
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PermissionInput {
    statement_id: Option<String>,
    action: Option<String>,
    principal: Option<String>,
    source_arn: Option<String>,
    source_account: Option<String>,
    function_url_auth_type: Option<String>,
    revision_id: Option<String>,
}

pub async fn add_permission(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(raw): Path<String>,
    Query(q): Query<QualifierQuery>,
    body: Bytes,
) -> LambdaResult<Response> {
    let input: PermissionInput = parse_body(&body)?;
    let (name, from_name) = parse_function_name(&raw)?;
    let q = qualifier(from_name, q.qualifier)?;
    let mut errors = Vec::new();
    for (member, value) in [
        ("statementId", &input.statement_id),
        ("action", &input.action),
        ("principal", &input.principal),
    ] {
        if value.is_none() {
            errors.push(format!(
                "Value null at '{member}' failed to satisfy constraint: Member must not be null"
            ));
        }
    }
    if !errors.is_empty() {
        return Err(validation(&errors));
    }
    let sid = input.statement_id.unwrap_or_default();
    let statement = change(&state, &caller, &name, |f| {
        resolve(f, q.as_deref())?;
        check_policy_revision(input.revision_id.as_deref(), &f.policy_revision)?;
        if f.policy.iter().any(|s| s["Sid"] == sid.as_str()) {
            return Err(LambdaError::ResourceConflict(format!(
                "The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the existing statement."
            )));
        }
        let principal = input.principal.unwrap_or_default();
        let principal = if principal.ends_with(".amazonaws.com") {
            json!({"Service": principal})
        } else {
            json!({"AWS": principal})
        };
        let mut statement = json!({
            "Sid": sid,
            "Effect": "Allow",
            "Principal": principal,
            "Action": input.action,
            "Resource": q.as_deref().map_or_else(|| f.arn(), |q| f.qualified_arn(q)),
        });
        let mut condition = serde_json::Map::new();
        if let Some(arn) = input.source_arn {
            condition.insert("ArnLike".into(), json!({"AWS:SourceArn": arn}));
        }
        if let Some(account) = input.source_account {
            condition.insert("StringEquals".into(), json!({"AWS:SourceAccount": account}));
        }
        if let Some(auth) = input.function_url_auth_type {
            condition.insert("StringEquals".into(), json!({"lambda:FunctionUrlAuthType": auth}));
        }
        if !condition.is_empty() {
            statement["Condition"] = Value::Object(condition);
        }
        f.policy.push(statement.clone());
        f.policy_revision = model::revision_id();
        Ok(statement)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Statement": statement.to_string()})),
    )
        .into_response())
}

fn check_policy_revision(expected: Option<&str>, actual: &str) -> LambdaResult<()> {
    match expected {
        Some(e) if e != actual => Err(LambdaError::PreconditionFailed(
            "The revision ID provided does not match the latest policy revision ID. Call the GetPolicy API to retrieve the latest policy revision ID".into(),
        )),
        _ => Ok(()),
    }
}

pub async fn get_policy(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(raw): Path<String>,
) -> LambdaResult<Json<Value>> {
    let (name, _) = parse_function_name(&raw)?;
    let f = find(&state, &caller, &name)?;
    if f.policy.is_empty() {
        return Err(LambdaError::ResourceNotFound(
            "The resource you requested does not exist.".into(),
        ));
    }
    Ok(Json(
        json!({"Policy": f.policy_document().to_string(), "RevisionId": f.policy_revision}),
    ))
}

#[derive(Deserialize)]
pub struct RevisionQuery {
    #[serde(rename = "RevisionId")]
    revision_id: Option<String>,
}

pub async fn remove_permission(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path((raw, sid)): Path<(String, String)>,
    Query(q): Query<RevisionQuery>,
) -> LambdaResult<Response> {
    let (name, _) = parse_function_name(&raw)?;
    change(&state, &caller, &name, |f| {
        check_policy_revision(q.revision_id.as_deref(), &f.policy_revision)?;
        let before = f.policy.len();
        f.policy.retain(|s| s["Sid"] != sid.as_str());
        if f.policy.len() == before {
            return Err(LambdaError::ResourceNotFound(format!(
                "Statement {sid} is not found in resource policy."
            )));
        }
        f.policy_revision = model::revision_id();
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct EventInvokeInput {
    maximum_retry_attempts: Option<i64>,
    maximum_event_age_in_seconds: Option<i64>,
    destination_config: Option<DestinationInput>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct DestinationInput {
    on_success: Option<TargetInput>,
    on_failure: Option<TargetInput>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct TargetInput {
    destination: Option<String>,
}

/// Destinations this server can deliver to: its own functions.
fn check_destination(arn: Option<String>) -> LambdaResult<Option<String>> {
    match arn {
        None => Ok(None),
        Some(arn) if parse_function_arn(&arn).is_some() => Ok(Some(arn)),
        Some(arn) => Err(LambdaError::InvalidParameterValue(format!(
            "The destination ARN {arn} is invalid here: destinations must be Lambda function ARNs of this server."
        ))),
    }
}

fn event_invoke_json(f: &Function, qualifier: &str, c: &EventInvokeConfig) -> Value {
    let target = |d: &Option<String>| match d {
        Some(arn) => json!({"Destination": arn}),
        None => json!({}),
    };
    let mut out = json!({
        "LastModified": c.last_modified,
        "FunctionArn": f.qualified_arn(qualifier),
        "DestinationConfig": {"OnSuccess": target(&c.on_success), "OnFailure": target(&c.on_failure)},
    });
    if let Some(n) = c.maximum_retry_attempts {
        out["MaximumRetryAttempts"] = n.into();
    }
    if let Some(n) = c.maximum_event_age_seconds {
        out["MaximumEventAgeInSeconds"] = n.into();
    }
    out
}

async fn set_event_invoke(
    state: &Functions,
    caller: &Caller,
    raw: &str,
    q: Option<String>,
    body: &[u8],
    replace: bool,
) -> LambdaResult<Json<Value>> {
    let input: EventInvokeInput = parse_body(body)?;
    let mut errors = Vec::new();
    errors.extend(out_of_range(
        input.maximum_retry_attempts,
        "maximumRetryAttempts",
        0,
        2,
    ));
    errors.extend(out_of_range(
        input.maximum_event_age_in_seconds,
        "maximumEventAgeInSeconds",
        60,
        21600,
    ));
    if !errors.is_empty() {
        return Err(validation(&errors));
    }
    let (name, from_name) = parse_function_name(raw)?;
    let q = qualifier(from_name, q)?.unwrap_or_else(|| LATEST.to_string());
    let destinations = input.destination_config.unwrap_or_default();
    let on_success = check_destination(destinations.on_success.and_then(|t| t.destination))?;
    let on_failure = check_destination(destinations.on_failure.and_then(|t| t.destination))?;
    let now = state.engine.clock.epoch_seconds();
    let shown = change(state, caller, &name, |f| {
        resolve(f, Some(&q))?;
        let mut c = if replace {
            EventInvokeConfig::default()
        } else {
            f.event_invoke.get(&q).cloned().unwrap_or_default()
        };
        if input.maximum_retry_attempts.is_some() || replace {
            c.maximum_retry_attempts = input.maximum_retry_attempts.map(|n| n as u32);
        }
        if input.maximum_event_age_in_seconds.is_some() || replace {
            c.maximum_event_age_seconds = input.maximum_event_age_in_seconds.map(|n| n as u32);
        }
        if on_success.is_some() || replace {
            c.on_success = on_success;
        }
        if on_failure.is_some() || replace {
            c.on_failure = on_failure;
        }
        c.last_modified = now;
        let shown = event_invoke_json(f, &q, &c);
        f.event_invoke.insert(q.clone(), c);
        Ok(shown)
    })
    .await?;
    Ok(Json(shown))
}

pub async fn put_event_invoke_config(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(raw): Path<String>,
    Query(q): Query<QualifierQuery>,
    body: Bytes,
) -> LambdaResult<Json<Value>> {
    set_event_invoke(&state, &caller, &raw, q.qualifier, &body, true).await
}

pub async fn update_event_invoke_config(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(raw): Path<String>,
    Query(q): Query<QualifierQuery>,
    body: Bytes,
) -> LambdaResult<Json<Value>> {
    set_event_invoke(&state, &caller, &raw, q.qualifier, &body, false).await
}

fn no_event_invoke_config(f: &Function, q: &str) -> LambdaError {
    LambdaError::ResourceNotFound(format!(
        "The function {} doesn't have an EventInvokeConfig",
        f.qualified_arn(q)
    ))
}

pub async fn get_event_invoke_config(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(raw): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> LambdaResult<Json<Value>> {
    let (name, from_name) = parse_function_name(&raw)?;
    let q = qualifier(from_name, q.qualifier)?.unwrap_or_else(|| LATEST.to_string());
    let f = find(&state, &caller, &name)?;
    let c = f
        .event_invoke
        .get(&q)
        .ok_or_else(|| no_event_invoke_config(&f, &q))?;
    Ok(Json(event_invoke_json(&f, &q, c)))
}

pub async fn delete_event_invoke_config(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(raw): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> LambdaResult<Response> {
    let (name, from_name) = parse_function_name(&raw)?;
    let q = qualifier(from_name, q.qualifier)?.unwrap_or_else(|| LATEST.to_string());
    change(&state, &caller, &name, |f| {
        f.event_invoke
            .remove(&q)
            .ok_or_else(|| no_event_invoke_config(f, &q))?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list_event_invoke_configs(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(raw): Path<String>,
) -> LambdaResult<Json<Value>> {
    let (name, _) = parse_function_name(&raw)?;
    let f = find(&state, &caller, &name)?;
    let configs: Vec<Value> = f
        .event_invoke
        .iter()
        .map(|(q, c)| event_invoke_json(&f, q, c))
        .collect();
    Ok(Json(json!({"FunctionEventInvokeConfigs": configs})))
}
