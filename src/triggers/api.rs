//! CreateEventSourceMapping, GetEventSourceMapping, ListEventSourceMappings,
//! UpdateEventSourceMapping and DeleteEventSourceMapping for DynamoDB stream sources, with
//! Lambda's defaults, ranges and messages.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::model::{Checkpoint, Mapping};
use super::{not_found, Triggers};
use crate::engine::catalog::StreamSpec;
use crate::functions::api::{page, parse_body, parse_function_name, Caller};
use crate::functions::error::{
    function_not_found, out_of_range, validation, LambdaError, LambdaResult,
};
use crate::pattern::Pattern;

pub fn router(triggers: Arc<Triggers>) -> Router {
    Router::new()
        .route("/2015-03-31/event-source-mappings", get(list).post(create))
        .route(
            "/2015-03-31/event-source-mappings/{uuid}",
            get(read).put(update).delete(delete),
        )
        .route("/dynarock/mappings", get(status))
        .with_state(triggers)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Input {
    function_name: Option<String>,
    event_source_arn: Option<String>,
    enabled: Option<bool>,
    batch_size: Option<i64>,
    maximum_batching_window_in_seconds: Option<i64>,
    starting_position: Option<String>,
    starting_position_timestamp: Option<f64>,
    filter_criteria: Option<FilterCriteria>,
    maximum_retry_attempts: Option<i64>,
    maximum_record_age_in_seconds: Option<i64>,
    bisect_batch_on_function_error: Option<bool>,
    parallelization_factor: Option<i64>,
    tumbling_window_in_seconds: Option<i64>,
    function_response_types: Option<Vec<String>>,
    destination_config: Option<DestinationConfig>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct FilterCriteria {
    filters: Option<Vec<Filter>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Filter {
    pattern: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct DestinationConfig {
    on_failure: Option<Target>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Target {
    destination: Option<String>,
}

/// The model's ranges, reported together as Lambda reports them.
fn constraint_errors(input: &Input) -> Vec<String> {
    let mut errors = Vec::new();
    errors.extend(
        [
            out_of_range(input.batch_size, "batchSize", 1, 10_000),
            out_of_range(
                input.maximum_batching_window_in_seconds,
                "maximumBatchingWindowInSeconds",
                0,
                300,
            ),
            out_of_range(
                input.maximum_retry_attempts,
                "maximumRetryAttempts",
                -1,
                10_000,
            ),
            out_of_range(
                input.maximum_record_age_in_seconds,
                "maximumRecordAgeInSeconds",
                -1,
                604_800,
            ),
            out_of_range(input.parallelization_factor, "parallelizationFactor", 1, 10),
            out_of_range(
                input.tumbling_window_in_seconds,
                "tumblingWindowInSeconds",
                0,
                900,
            ),
        ]
        .into_iter()
        .flatten(),
    );
    if let Some(p) = &input.starting_position {
        if !["LATEST", "AT_TIMESTAMP", "TRIM_HORIZON"].contains(&p.as_str()) {
            errors.push(format!("Value '{p}' at 'startingPosition' failed to satisfy constraint: Member must satisfy enum value set: [LATEST, AT_TIMESTAMP, TRIM_HORIZON]"));
        }
    }
    for t in input.function_response_types.iter().flatten() {
        if t != "ReportBatchItemFailures" {
            errors.push(format!("Value '[{t}]' at 'functionResponseTypes' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [ReportBatchItemFailures]]"));
        }
    }
    errors
}

fn invalid(message: impl Into<String>) -> LambdaError {
    LambdaError::InvalidParameterValue(message.into())
}

/// Checks what the model cannot and applies the members given to `m`.
/// The model's constraints were checked before (`constraint_errors`).
fn apply(input: &Input, m: &mut Mapping) -> LambdaResult<()> {
    if let Some(age) = input.maximum_record_age_in_seconds {
        if (0..60).contains(&age) {
            return Err(invalid(
                "Invalid MaximumRecordAgeInSeconds: it must be -1 (no limit) or at least 60",
            ));
        }
        m.maximum_record_age_seconds = age;
    }
    if let Some(t) = input.tumbling_window_in_seconds {
        m.tumbling_window_seconds = t as u32;
    }
    if let Some(filters) = input
        .filter_criteria
        .as_ref()
        .and_then(|f| f.filters.as_ref())
    {
        if filters.len() > 5 {
            return Err(invalid("The number of filters exceeds the limit of 5."));
        }
        let patterns: Vec<String> = filters.iter().filter_map(|f| f.pattern.clone()).collect();
        if patterns.iter().any(|p| Pattern::parse(p).is_err()) {
            return Err(invalid("Invalid filter pattern definition."));
        }
        m.filters = patterns;
    }
    if let Some(d) = &input.destination_config {
        let destination = d.on_failure.as_ref().and_then(|t| t.destination.clone());
        if let Some(arn) = &destination {
            let queue = arn.starts_with("arn:aws:sqs:") && arn.split(':').count() == 6;
            if !queue && crate::functions::api::parse_function_arn(arn).is_none() {
                return Err(invalid(format!(
                    "The destination ARN {arn} is invalid here: on-failure destinations must be SQS queue or Lambda function ARNs of this server."
                )));
            }
        }
        m.on_failure = destination;
    }
    if let Some(v) = input.batch_size {
        m.batch_size = v as u32;
    }
    if let Some(v) = input.maximum_batching_window_in_seconds {
        m.batching_window_seconds = v as u32;
    }
    if let Some(v) = input.maximum_retry_attempts {
        m.maximum_retry_attempts = v;
    }
    if let Some(v) = input.bisect_batch_on_function_error {
        m.bisect_on_error = v;
    }
    if let Some(v) = input.parallelization_factor {
        m.parallelization_factor = v as u32;
    }
    if let Some(types) = &input.function_response_types {
        m.report_item_failures = !types.is_empty();
    }
    if let Some(enabled) = input.enabled {
        m.enabled = enabled;
    }
    Ok(())
}

/// The function a mapping names: it must exist (with its qualifier).
fn function_of(
    triggers: &Triggers,
    caller: &Caller,
    raw: &str,
) -> LambdaResult<(String, Option<String>)> {
    let (name, qualifier) = parse_function_name(raw)?;
    let functions = &triggers.functions;
    let arn = format!(
        "arn:aws:lambda:{}:{}:function:{name}",
        caller.region, functions.settings.account
    );
    let function = functions
        .registry
        .get(&caller.region, &name)
        .ok_or_else(|| function_not_found(&arn))?;
    crate::functions::invoke::resolve(&function, qualifier.as_deref())?;
    Ok((name, qualifier))
}

/// A stream ARN of this server's tables: the table's name and the stream.
fn stream_of(
    triggers: &Triggers,
    caller: &Caller,
    arn: &str,
) -> LambdaResult<(String, StreamSpec)> {
    let not_found = || invalid(format!("Stream not found: {arn}"));
    let rest = arn
        .strip_prefix("arn:aws:dynamodb:")
        .ok_or_else(not_found)?;
    let (region, rest) = rest.split_once(':').ok_or_else(not_found)?;
    let (_account, rest) = rest.split_once(':').ok_or_else(not_found)?;
    let (table_name, label) = rest
        .strip_prefix("table/")
        .and_then(|r| r.split_once("/stream/"))
        .ok_or_else(not_found)?;
    if region != caller.region {
        return Err(not_found());
    }
    let table = triggers
        .engine
        .table(region, table_name)
        .ok_or_else(not_found)?;
    let stream = table
        .stream
        .iter()
        .chain(&table.past_streams)
        .find(|s| s.id != 0 && s.label.as_deref() == Some(label))
        .cloned()
        .ok_or_else(not_found)?;
    if !stream.enabled {
        return Err(invalid(format!(
            "Stream {arn} is disabled: enable the table's stream first"
        )));
    }
    Ok((table_name.to_string(), stream))
}

async fn create(
    State(triggers): State<Arc<Triggers>>,
    caller: Caller,
    body: Bytes,
) -> LambdaResult<Response> {
    let input: Input = parse_body(&body)?;
    let mut errors = constraint_errors(&input);
    if input.function_name.is_none() {
        errors.insert(
            0,
            "Value null at 'functionName' failed to satisfy constraint: Member must not be null"
                .into(),
        );
    }
    if !errors.is_empty() {
        return Err(validation(&errors));
    }
    let source = input.event_source_arn.clone().ok_or_else(|| {
        invalid("Unrecognized event source, must be kinesis, dynamodb stream or sqs.")
    })?;
    let (function_name, qualifier) = function_of(
        &triggers,
        &caller,
        input.function_name.as_deref().unwrap_or_default(),
    )?;
    let (table_name, stream) = stream_of(&triggers, &caller, &source)?;
    let position = input.starting_position.clone().ok_or_else(|| {
        invalid("StartingPosition is required for DynamoDB stream event sources.")
    })?;
    if input.starting_position_timestamp.is_some() && position != "AT_TIMESTAMP" {
        return Err(invalid(
            "Timestamp only valid with StartingPosition AT_TIMESTAMP",
        ));
    }
    if position == "AT_TIMESTAMP" {
        return Err(invalid(format!(
            "Unsupported starting position for arn type: {source}"
        )));
    }
    if let Some(existing) = triggers.all().into_iter().find(|m| {
        m.event_source_arn == source && m.function_name == function_name && m.qualifier == qualifier
    }) {
        return Err(LambdaError::ResourceConflict(format!(
            "The event source arn (\" {source} \") and function (\" {function_name} \") provided mapping already exists. Please update or delete the existing mapping with UUID {}",
            existing.uuid
        )));
    }
    let engine = &triggers.engine;
    let checkpoint = if position == "LATEST" {
        let shard = engine.current_shard(&stream);
        let next_seq = engine.last_seq(stream.id, shard)?.map_or(0, |s| s + 1);
        Checkpoint {
            shard,
            next_seq,
            window: None,
        }
    } else {
        Checkpoint {
            shard: engine.first_kept_shard(&stream),
            next_seq: 0,
            window: None,
        }
    };
    let mut mapping = Mapping {
        uuid: uuid::Uuid::new_v4().to_string(),
        region: caller.region.clone(),
        account: triggers.functions.settings.account.clone(),
        function_name,
        qualifier,
        event_source_arn: source,
        table_name,
        stream_id: stream.id,
        batch_size: 100,
        batching_window_seconds: 0,
        starting_position: position,
        filters: vec![],
        maximum_retry_attempts: -1,
        maximum_record_age_seconds: -1,
        bisect_on_error: false,
        parallelization_factor: 1,
        tumbling_window_seconds: 0,
        report_item_failures: false,
        on_failure: None,
        enabled: true,
        last_modified: engine.clock.epoch_seconds(),
        last_processing_result: "No records processed".into(),
        state_transition_reason: "User action".into(),
        stopped: None,
    };
    apply(&input, &mut mapping)?;
    triggers.save(mapping.clone(), Some(checkpoint)).await?;
    Ok((StatusCode::ACCEPTED, Json(mapping.to_json("Creating"))).into_response())
}

async fn read(
    State(triggers): State<Arc<Triggers>>,
    Path(uuid): Path<String>,
) -> LambdaResult<Json<Value>> {
    let m = triggers.get(&uuid).ok_or_else(|| not_found(&uuid))?;
    Ok(Json(m.to_json(m.state())))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(rename = "FunctionName")]
    function_name: Option<String>,
    #[serde(rename = "EventSourceArn")]
    event_source_arn: Option<String>,
    #[serde(rename = "Marker")]
    marker: Option<String>,
    #[serde(rename = "MaxItems")]
    max_items: Option<usize>,
}

async fn list(
    State(triggers): State<Arc<Triggers>>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> LambdaResult<Json<Value>> {
    let function = match &q.function_name {
        Some(raw) => Some(parse_function_name(raw)?),
        None => None,
    };
    let shown: Vec<Value> = triggers
        .all()
        .into_iter()
        .filter(|m| m.region == caller.region)
        .filter(|m| {
            function.as_ref().is_none_or(|(name, q)| {
                m.function_name == *name && (q.is_none() || m.qualifier == *q)
            })
        })
        .filter(|m| {
            q.event_source_arn
                .as_ref()
                .is_none_or(|arn| m.event_source_arn == *arn)
        })
        .map(|m| m.to_json(m.state()))
        .collect();
    let (mappings, next) = page(shown, q.marker.as_deref(), q.max_items)?;
    let mut out = json!({ "EventSourceMappings": mappings });
    if let Some(next) = next {
        out["NextMarker"] = next.into();
    }
    Ok(Json(out))
}

async fn update(
    State(triggers): State<Arc<Triggers>>,
    caller: Caller,
    Path(uuid): Path<String>,
    body: Bytes,
) -> LambdaResult<Response> {
    let input: Input = parse_body(&body)?;
    let errors = constraint_errors(&input);
    if !errors.is_empty() {
        return Err(validation(&errors));
    }
    let mut m = triggers.get(&uuid).ok_or_else(|| not_found(&uuid))?;
    if input.starting_position.is_some() || input.event_source_arn.is_some() {
        return Err(invalid(
            "StartingPosition and EventSourceArn cannot be changed: create a new mapping",
        ));
    }
    if let Some(raw) = &input.function_name {
        let (name, qualifier) = function_of(&triggers, &caller, raw)?;
        m.function_name = name;
        m.qualifier = qualifier;
    }
    let was_enabled = m.enabled;
    apply(&input, &mut m)?;
    m.last_modified = triggers.engine.clock.epoch_seconds();
    m.state_transition_reason = "User action".into();
    let state = match (was_enabled, m.enabled) {
        (false, true) => "Enabling",
        (true, false) => "Disabling",
        _ => "Updating",
    };
    triggers.save(m.clone(), None).await?;
    Ok((StatusCode::ACCEPTED, Json(m.to_json(state))).into_response())
}

async fn delete(
    State(triggers): State<Arc<Triggers>>,
    Path(uuid): Path<String>,
) -> LambdaResult<Response> {
    let m = triggers.delete(&uuid).await?;
    Ok((StatusCode::ACCEPTED, Json(m.to_json("Deleting"))).into_response())
}

/// Every mapping of the caller's region with what it has done: dynarock's own view (`dynarock
/// mappings`), beyond what Lambda's API shows.
async fn status(State(triggers): State<Arc<Triggers>>, caller: Caller) -> Json<Value> {
    let mappings: Vec<Value> = triggers
        .all()
        .into_iter()
        .filter(|m| m.region == caller.region)
        .map(|m| {
            let mut shown = m.to_json(m.state());
            let checkpoint = triggers.checkpoint(&m.uuid).unwrap_or_default();
            shown["Checkpoint"] = json!({"Shard": checkpoint.shard, "NextSequenceNumber": crate::engine::streams::seq_text(checkpoint.next_seq)});
            shown["Stats"] = json!(triggers.stats(&m.uuid));
            shown
        })
        .collect();
    Json(json!({ "Mappings": mappings }))
}
