//! PublishVersion, ListVersionsByFunction and aliases (CreateAlias, GetAlias, UpdateAlias,
//! DeleteAlias, ListAliases).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::functions::check_revision;
use super::{change, find, page, parse_body, parse_function_name, Caller};
use crate::functions::error::{validation, LambdaError, LambdaResult};
use crate::functions::model::{self, Alias, Function, Version, LATEST};
use crate::functions::Functions;

/// Publishes `$LATEST` as the next version, unless the newest version has the same code and
/// configuration (Lambda then returns that version). Returns the version shown.
pub fn publish_latest(f: &mut Function, description: Option<String>) -> Version {
    if let Some(newest) = f.versions.values().next_back() {
        if publishable(newest) == publishable(&f.latest) {
            return newest.clone();
        }
    }
    let number = f.next_version;
    f.next_version += 1;
    let mut v = f.latest.clone();
    v.version = number.to_string();
    v.revision_id = model::revision_id();
    if let Some(d) = description {
        v.description = d;
    }
    f.versions.insert(number, v.clone());
    v
}

/// The version a create or update answers with: `$LATEST`, or the version it published.
pub fn shown_after_change(f: &mut Function, publish: bool) -> Version {
    if publish {
        publish_latest(f, None)
    } else {
        f.latest.clone()
    }
}

/// What makes two versions the same for PublishVersion: code and configuration.
fn publishable(v: &Version) -> Version {
    Version {
        version: String::new(),
        revision_id: String::new(),
        last_modified: String::new(),
        description: String::new(),
        ..v.clone()
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct PublishInput {
    description: Option<String>,
    revision_id: Option<String>,
    code_sha256: Option<String>,
}

fn plain_name(raw: &str) -> LambdaResult<String> {
    let (name, q) = parse_function_name(raw)?;
    if q.is_some() {
        return Err(LambdaError::InvalidParameterValue(
            "Qualifiers are not supported for this operation".into(),
        ));
    }
    Ok(name)
}

pub async fn publish(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(raw): Path<String>,
    body: Bytes,
) -> LambdaResult<Response> {
    let input: PublishInput = parse_body(&body)?;
    let name = plain_name(&raw)?;
    let config = change(&state, &caller, &name, |f| {
        check_revision(input.revision_id.as_deref(), &f.latest.revision_id)?;
        if let Some(sha) = &input.code_sha256 {
            if *sha != f.latest.code.sha256 {
                return Err(LambdaError::InvalidParameterValue(format!(
                    "CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST ({}). Please try again with the CodeSHA256 in $LATEST.",
                    f.latest.code.sha256
                )));
            }
        }
        let v = publish_latest(f, input.description);
        Ok(f.configuration(&v))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(config)).into_response())
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(rename = "Marker")]
    marker: Option<String>,
    #[serde(rename = "MaxItems")]
    max_items: Option<usize>,
}

pub async fn list(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(raw): Path<String>,
    Query(q): Query<ListQuery>,
) -> LambdaResult<Json<Value>> {
    let f = find(&state, &caller, &plain_name(&raw)?)?;
    let mut configs = vec![f.configuration(&f.latest)];
    configs[0]["FunctionArn"] = f.qualified_arn(LATEST).into();
    configs.extend(f.versions.values().map(|v| f.configuration(v)));
    let (versions, next) = page(configs, q.marker.as_deref(), q.max_items)?;
    let mut out = json!({ "Versions": versions });
    if let Some(next) = next {
        out["NextMarker"] = next.into();
    }
    Ok(Json(out))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct AliasInput {
    name: Option<String>,
    function_version: Option<String>,
    description: Option<String>,
    routing_config: Option<RoutingInput>,
    revision_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RoutingInput {
    additional_version_weights: Option<BTreeMap<String, f64>>,
}

/// Alias names: 1-128 of `(?!^[0-9]+$)([a-zA-Z0-9-_]+)`.
fn check_alias_name(name: &str) -> LambdaResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !name.chars().all(|c| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(validation(&[format!(
            "Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"
        )]))
    }
}

fn check_target(f: &Function, version: &str) -> LambdaResult<()> {
    if f.version(version).is_none() {
        return Err(LambdaError::ResourceNotFound(format!(
            "Function not found: {}",
            f.qualified_arn(version)
        )));
    }
    Ok(())
}

fn weights(
    f: &Function,
    routing: Option<RoutingInput>,
) -> LambdaResult<Option<BTreeMap<String, f64>>> {
    let Some(w) = routing.and_then(|r| r.additional_version_weights) else {
        return Ok(None);
    };
    for (version, weight) in &w {
        check_target(f, version)?;
        if !(0.0..=1.0).contains(weight) {
            return Err(validation(&[format!("Value '{weight}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Member must have value between 0.0 and 1.0")]));
        }
    }
    Ok(Some(w))
}

pub async fn create_alias(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(raw): Path<String>,
    body: Bytes,
) -> LambdaResult<Response> {
    let input: AliasInput = parse_body(&body)?;
    let name = plain_name(&raw)?;
    let (Some(alias), Some(version)) = (input.name, input.function_version) else {
        return Err(validation(&[
            "Value null at 'name' failed to satisfy constraint: Member must not be null".into(),
        ]));
    };
    check_alias_name(&alias)?;
    let config = change(&state, &caller, &name, |f| {
        check_target(f, &version)?;
        if f.aliases.contains_key(&alias) {
            return Err(LambdaError::ResourceConflict(format!(
                "Alias already exists: {}",
                f.qualified_arn(&alias)
            )));
        }
        let a = Alias {
            name: alias.clone(),
            function_version: version,
            description: input.description.unwrap_or_default(),
            revision_id: model::revision_id(),
            additional_weights: weights(f, input.routing_config)?.unwrap_or_default(),
        };
        let shown = f.alias_configuration(&a);
        f.aliases.insert(alias, a);
        Ok(shown)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(config)).into_response())
}

fn alias_not_found(f: &Function, alias: &str) -> LambdaError {
    LambdaError::ResourceNotFound(format!("Cannot find alias arn: {}", f.qualified_arn(alias)))
}

pub async fn get_alias(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path((raw, alias)): Path<(String, String)>,
) -> LambdaResult<Json<Value>> {
    let f = find(&state, &caller, &plain_name(&raw)?)?;
    let a = f
        .aliases
        .get(&alias)
        .ok_or_else(|| alias_not_found(&f, &alias))?;
    Ok(Json(f.alias_configuration(a)))
}

pub async fn update_alias(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path((raw, alias)): Path<(String, String)>,
    body: Bytes,
) -> LambdaResult<Json<Value>> {
    let input: AliasInput = parse_body(&body)?;
    let name = plain_name(&raw)?;
    let config = change(&state, &caller, &name, |f| {
        let weights = weights(f, input.routing_config)?;
        if let Some(v) = &input.function_version {
            check_target(f, v)?;
        }
        let not_found = alias_not_found(f, &alias);
        let a = f.aliases.get_mut(&alias).ok_or(not_found)?;
        check_revision(input.revision_id.as_deref(), &a.revision_id)?;
        if let Some(v) = input.function_version {
            a.function_version = v;
        }
        if let Some(d) = input.description {
            a.description = d;
        }
        if let Some(w) = weights {
            a.additional_weights = w;
        }
        a.revision_id = model::revision_id();
        let a = a.clone();
        Ok(f.alias_configuration(&a))
    })
    .await?;
    Ok(Json(config))
}

pub async fn delete_alias(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path((raw, alias)): Path<(String, String)>,
) -> LambdaResult<Response> {
    let name = plain_name(&raw)?;
    change(&state, &caller, &name, |f| {
        f.aliases.remove(&alias);
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
pub struct AliasListQuery {
    #[serde(rename = "FunctionVersion")]
    function_version: Option<String>,
    #[serde(rename = "Marker")]
    marker: Option<String>,
    #[serde(rename = "MaxItems")]
    max_items: Option<usize>,
}

pub async fn list_aliases(
    State(state): State<Arc<Functions>>,
    caller: Caller,
    Path(raw): Path<String>,
    Query(q): Query<AliasListQuery>,
) -> LambdaResult<Json<Value>> {
    let f = find(&state, &caller, &plain_name(&raw)?)?;
    let aliases: Vec<Value> = f
        .aliases
        .values()
        .filter(|a| {
            q.function_version
                .as_ref()
                .is_none_or(|v| *v == a.function_version)
        })
        .map(|a| f.alias_configuration(a))
        .collect();
    let (aliases, next) = page(aliases, q.marker.as_deref(), q.max_items)?;
    let mut out = json!({ "Aliases": aliases });
    if let Some(next) = next {
        out["NextMarker"] = next.into();
    }
    Ok(Json(out))
}
