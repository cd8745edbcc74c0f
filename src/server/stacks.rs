//! Deployed stacks: what `dynarock deploy` records of each stack it deploys (resources with
//! their physical ids and attributes, outputs), kept by the server beside the resources
//! themselves so any client can update or delete the stack later. The server does not read
//! the records: `GET`, `PUT` and `DELETE /dynarock/stacks/{name}`, per region.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::engine::records::Documents;
use crate::engine::Engine;
use crate::functions::api::{Caller, DefaultRegion};
use crate::functions::error::{LambdaError, LambdaResult};

pub struct Stacks {
    docs: Documents<Value>,
    region: String,
}

impl DefaultRegion for Arc<Stacks> {
    fn default_region(&self) -> &str {
        &self.region
    }
}

pub fn router(engine: Arc<Engine>, region: &str) -> crate::error::Result<Router> {
    let stacks = Arc::new(Stacks {
        docs: Documents::load(engine, "stack")?,
        region: region.to_string(),
    });
    Ok(Router::new()
        .route("/dynarock/stacks", get(list))
        .route("/dynarock/stacks/{name}", get(read).put(put).delete(delete))
        .with_state(stacks))
}

fn key(caller: &Caller, name: &str) -> String {
    format!("{}/{name}", caller.region)
}

fn missing(name: &str) -> LambdaError {
    LambdaError::ResourceNotFound(format!("Stack with id {name} does not exist"))
}

async fn list(State(stacks): State<Arc<Stacks>>, caller: Caller) -> Response {
    let prefix = format!("{}/", caller.region);
    let names: Vec<Value> = stacks
        .docs
        .list(&prefix)
        .into_iter()
        .map(|(_, stack)| stack)
        .collect();
    Json(json!({ "Stacks": names })).into_response()
}

async fn read(
    State(stacks): State<Arc<Stacks>>,
    caller: Caller,
    Path(name): Path<String>,
) -> LambdaResult<Response> {
    let stack = stacks
        .docs
        .get(&key(&caller, &name))
        .ok_or_else(|| missing(&name))?;
    Ok(Json(stack).into_response())
}

async fn put(
    State(stacks): State<Arc<Stacks>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> LambdaResult<Response> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !valid {
        return Err(LambdaError::Validation(format!(
            "1 validation error detected: Value '{name}' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*"
        )));
    }
    let stack: Value = serde_json::from_slice(&body).map_err(|e| {
        LambdaError::InvalidRequestContent(format!("Could not parse the stack: {e}"))
    })?;
    stacks.docs.put(&key(&caller, &name), Some(stack)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete(
    State(stacks): State<Arc<Stacks>>,
    caller: Caller,
    Path(name): Path<String>,
) -> LambdaResult<Response> {
    match stacks.docs.put(&key(&caller, &name), None).await? {
        Some(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        None => Err(missing(&name)),
    }
}
