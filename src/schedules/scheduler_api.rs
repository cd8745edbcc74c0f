//! EventBridge Scheduler's REST API: CreateSchedule, GetSchedule, UpdateSchedule,
//! DeleteSchedule, ListSchedules, and schedule groups (CreateScheduleGroup, GetScheduleGroup,
//! DeleteScheduleGroup, ListScheduleGroups) with their tags.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::expression::Schedule;
use super::scheduler::{Group, Key, ScheduleDef, Scheduler, DEFAULT_GROUP};
use crate::functions::api::{Caller, DefaultRegion};

/// Scheduler's errors: `{"Message": ...}` with the type in `x-amzn-ErrorType`.
#[derive(Debug)]
pub struct SchedulerError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

fn validation(message: impl Into<String>) -> SchedulerError {
    SchedulerError {
        status: StatusCode::BAD_REQUEST,
        code: "ValidationException",
        message: message.into(),
    }
}

fn not_found(message: impl Into<String>) -> SchedulerError {
    SchedulerError {
        status: StatusCode::NOT_FOUND,
        code: "ResourceNotFoundException",
        message: message.into(),
    }
}

fn conflict(message: impl Into<String>) -> SchedulerError {
    SchedulerError {
        status: StatusCode::CONFLICT,
        code: "ConflictException",
        message: message.into(),
    }
}

impl IntoResponse for SchedulerError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "Message": self.message }))).into_response();
        response
            .headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_static(self.code));
        response
    }
}

impl From<crate::error::Error> for SchedulerError {
    fn from(e: crate::error::Error) -> Self {
        tracing::error!("scheduler: {e}");
        SchedulerError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "InternalServerException",
            message: "Internal error".into(),
        }
    }
}

impl From<crate::functions::error::LambdaError> for SchedulerError {
    fn from(e: crate::functions::error::LambdaError) -> Self {
        SchedulerError {
            status: e.status(),
            code: e.code(),
            message: e.to_string(),
        }
    }
}

type Result<T> = std::result::Result<T, SchedulerError>;

impl DefaultRegion for Arc<Scheduler> {
    fn default_region(&self) -> &str {
        self.region()
    }
}

pub fn router(scheduler: Arc<Scheduler>) -> Router {
    Router::new()
        .route("/schedules", get(list))
        .route(
            "/schedules/{name}",
            post(create).get(read).put(update).delete(delete),
        )
        .route("/schedule-groups", get(list_groups))
        .route(
            "/schedule-groups/{name}",
            post(create_group).get(read_group).delete(delete_group),
        )
        .route("/tags/{arn}", get(list_tags).post(tag).delete(untag))
        .with_state(scheduler)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Input {
    schedule_expression: Option<String>,
    schedule_expression_timezone: Option<String>,
    start_date: Option<f64>,
    end_date: Option<f64>,
    flexible_time_window: Option<Flexible>,
    state: Option<String>,
    description: Option<String>,
    target: Option<Value>,
    group_name: Option<String>,
    action_after_completion: Option<String>,
    kms_key_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Flexible {
    mode: String,
    maximum_window_in_minutes: Option<u32>,
}

fn parse<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T> {
    if body.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| validation(format!("Invalid request body: {e}")))
}

fn check_name(name: &str, member: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(validation(format!(
            "1 validation error detected: Value '{name}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9a-zA-Z-_.]+$"
        )))
    }
}

/// A schedule from a Create or Update request, checked as Scheduler checks it.
fn definition(
    scheduler: &Scheduler,
    caller: &Caller,
    name: &str,
    input: Input,
    created: f64,
) -> Result<ScheduleDef> {
    check_name(name, "name")?;
    let mut missing = Vec::new();
    for (member, absent) in [
        ("scheduleExpression", input.schedule_expression.is_none()),
        ("flexibleTimeWindow", input.flexible_time_window.is_none()),
        ("target", input.target.is_none()),
    ] {
        if absent {
            missing.push(format!(
                "Value null at '{member}' failed to satisfy constraint: Member must not be null"
            ));
        }
    }
    if !missing.is_empty() {
        let n = missing.len();
        return Err(validation(format!(
            "{n} validation error{} detected: {}",
            if n == 1 { "" } else { "s" },
            missing.join("; ")
        )));
    }
    let expression = input.schedule_expression.unwrap_or_default();
    if Schedule::parse(&expression).is_err() {
        return Err(validation(format!(
            "Invalid Schedule Expression {expression}."
        )));
    }
    let timezone = input
        .schedule_expression_timezone
        .unwrap_or_else(|| "UTC".into());
    if jiff::tz::TimeZone::get(&timezone).is_err() {
        return Err(validation(format!(
            "Invalid ScheduleExpressionTimezone {timezone}."
        )));
    }
    let flexible = input
        .flexible_time_window
        .ok_or_else(|| validation("FlexibleTimeWindow is required"))?;
    match (flexible.mode.as_str(), flexible.maximum_window_in_minutes) {
        ("OFF", None) => {}
        ("OFF", Some(_)) => return Err(validation("MaximumWindowInMinutes must not be provided when Mode is OFF.")),
        ("FLEXIBLE", Some(m)) if (1..=1440).contains(&m) => {}
        ("FLEXIBLE", _) => return Err(validation("MaximumWindowInMinutes must be between 1 and 1440 when Mode is FLEXIBLE.")),
        (other, _) => return Err(validation(format!("1 validation error detected: Value '{other}' at 'flexibleTimeWindow.mode' failed to satisfy constraint: Member must satisfy enum value set: [OFF, FLEXIBLE]"))),
    }
    let target = input.target.unwrap_or_default();
    let arn = target["Arn"].as_str().unwrap_or_default();
    if target["RoleArn"].as_str().is_none() {
        return Err(validation("1 validation error detected: Value null at 'target.roleArn' failed to satisfy constraint: Member must not be null"));
    }
    if crate::functions::api::parse_function_arn(arn).is_none() {
        return Err(validation(format!("Target {arn} is not a Lambda function of this server: schedules here invoke functions.")));
    }
    if let (Some(start), Some(end)) = (input.start_date, input.end_date) {
        if end <= start {
            return Err(validation("The EndDate must be after the StartDate."));
        }
    }
    let enabled = match input.state.as_deref() {
        None | Some("ENABLED") => true,
        Some("DISABLED") => false,
        Some(other) => return Err(validation(format!("1 validation error detected: Value '{other}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]"))),
    };
    let action = input
        .action_after_completion
        .unwrap_or_else(|| "NONE".into());
    if action != "NONE" && action != "DELETE" {
        return Err(validation(format!("1 validation error detected: Value '{action}' at 'actionAfterCompletion' failed to satisfy constraint: Member must satisfy enum value set: [NONE, DELETE]")));
    }
    let group = input.group_name.unwrap_or_else(|| DEFAULT_GROUP.into());
    if scheduler.group(&caller.region, &group).is_none() {
        return Err(not_found(format!("Schedule group {group} does not exist.")));
    }
    Ok(ScheduleDef {
        name: name.to_string(),
        group,
        region: caller.region.clone(),
        account: scheduler.account().to_string(),
        expression,
        timezone,
        start_date: input.start_date,
        end_date: input.end_date,
        flexible_mode: flexible.mode,
        flexible_minutes: flexible.maximum_window_in_minutes,
        enabled,
        description: input.description,
        target,
        action_after_completion: action,
        kms_key_arn: input.kms_key_arn,
        created,
        modified: scheduler.now(),
        last_fired_ms: None,
    })
}

fn key(caller: &Caller, group: &str, name: &str) -> Key {
    (caller.region.clone(), group.to_string(), name.to_string())
}

async fn create(
    State(s): State<Arc<Scheduler>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    let def = definition(&s, &caller, &name, parse(&body)?, s.now())?;
    let k = key(&caller, &def.group, &name);
    if s.get(&k).is_some() {
        return Err(conflict(format!("Schedule {name} already exists.")));
    }
    let arn = def.arn();
    s.put(&k, Some(def)).await?;
    Ok(Json(json!({ "ScheduleArn": arn })))
}

async fn update(
    State(s): State<Arc<Scheduler>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    let input: Input = parse(&body)?;
    let group = input
        .group_name
        .clone()
        .unwrap_or_else(|| DEFAULT_GROUP.into());
    let k = key(&caller, &group, &name);
    let current = s
        .get(&k)
        .ok_or_else(|| not_found(format!("Schedule {name} does not exist.")))?;
    let def = definition(&s, &caller, &name, input, current.created)?;
    let arn = def.arn();
    s.put(&k, Some(def)).await?;
    Ok(Json(json!({ "ScheduleArn": arn })))
}

#[derive(Deserialize)]
struct GroupQuery {
    #[serde(rename = "groupName")]
    group_name: Option<String>,
}

fn describe(def: &ScheduleDef) -> Value {
    let mut out = json!({
        "Arn": def.arn(), "Name": def.name, "GroupName": def.group,
        "ScheduleExpression": def.expression, "ScheduleExpressionTimezone": def.timezone,
        "State": if def.enabled { "ENABLED" } else { "DISABLED" },
        "FlexibleTimeWindow": {"Mode": def.flexible_mode},
        "Target": def.target, "ActionAfterCompletion": def.action_after_completion,
        "CreationDate": def.created, "LastModificationDate": def.modified,
    });
    if let Some(m) = def.flexible_minutes {
        out["FlexibleTimeWindow"]["MaximumWindowInMinutes"] = m.into();
    }
    for (member, value) in [("StartDate", def.start_date), ("EndDate", def.end_date)] {
        if let Some(v) = value {
            out[member] = v.into();
        }
    }
    if let Some(d) = &def.description {
        out["Description"] = d.clone().into();
    }
    out
}

async fn read(
    State(s): State<Arc<Scheduler>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<GroupQuery>,
) -> Result<Json<Value>> {
    let group = q.group_name.unwrap_or_else(|| DEFAULT_GROUP.into());
    let def = s
        .get(&key(&caller, &group, &name))
        .ok_or_else(|| not_found(format!("Schedule {name} does not exist.")))?;
    Ok(Json(describe(&def)))
}

async fn delete(
    State(s): State<Arc<Scheduler>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<GroupQuery>,
) -> Result<Json<Value>> {
    let group = q.group_name.unwrap_or_else(|| DEFAULT_GROUP.into());
    let k = key(&caller, &group, &name);
    s.get(&k)
        .ok_or_else(|| not_found(format!("Schedule {name} does not exist.")))?;
    s.put(&k, None).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(rename = "NamePrefix")]
    name_prefix: Option<String>,
    #[serde(rename = "State")]
    state: Option<String>,
    #[serde(rename = "ScheduleGroup")]
    group: Option<String>,
    #[serde(rename = "MaxResults")]
    max_results: Option<usize>,
    #[serde(rename = "NextToken")]
    next_token: Option<String>,
}

fn page(
    items: Vec<Value>,
    member: &str,
    token: Option<&str>,
    max: Option<usize>,
) -> Result<Json<Value>> {
    let start = match token {
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| validation("Invalid NextToken"))?,
        None => 0,
    };
    let max = max.unwrap_or(100).clamp(1, 100);
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(start).take(max).collect();
    let mut out = json!({ member: page });
    if start + max < total {
        out["NextToken"] = (start + max).to_string().into();
    }
    Ok(Json(out))
}

async fn list(
    State(s): State<Arc<Scheduler>>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>> {
    let prefix = q.name_prefix.unwrap_or_default();
    let summaries: Vec<Value> = s
        .all()
        .iter()
        .filter(|d| d.region == caller.region && d.name.starts_with(&prefix))
        .filter(|d| q.group.as_ref().is_none_or(|g| *g == d.group))
        .filter(|d| {
            q.state
                .as_ref()
                .is_none_or(|st| (st == "ENABLED") == d.enabled)
        })
        .map(|d| {
            json!({"Arn": d.arn(), "Name": d.name, "GroupName": d.group,
                   "State": if d.enabled { "ENABLED" } else { "DISABLED" },
                   "CreationDate": d.created, "LastModificationDate": d.modified,
                   "Target": {"Arn": d.target["Arn"]}})
        })
        .collect();
    page(
        summaries,
        "Schedules",
        q.next_token.as_deref(),
        q.max_results,
    )
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct GroupInput {
    tags: Option<Vec<Tag>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Tag {
    key: String,
    value: String,
}

async fn create_group(
    State(s): State<Arc<Scheduler>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    check_name(&name, "name")?;
    let input: GroupInput = parse(&body)?;
    if s.group(&caller.region, &name).is_some() {
        return Err(conflict(format!("Schedule group {name} already exists.")));
    }
    let now = s.now();
    let group = Group {
        name: name.clone(),
        region: caller.region.clone(),
        account: s.account().to_string(),
        created: now,
        modified: now,
        tags: input
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect(),
    };
    let arn = group.arn();
    s.put_group(&caller.region, &name, Some(group)).await?;
    Ok(Json(json!({ "ScheduleGroupArn": arn })))
}

fn describe_group(g: &Group) -> Value {
    json!({"Arn": g.arn(), "Name": g.name, "State": "ACTIVE", "CreationDate": g.created, "LastModificationDate": g.modified})
}

async fn read_group(
    State(s): State<Arc<Scheduler>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    let g = s
        .group(&caller.region, &name)
        .ok_or_else(|| not_found(format!("Schedule group {name} does not exist.")))?;
    Ok(Json(describe_group(&g)))
}

/// Deleting a group deletes its schedules, as Scheduler does.
async fn delete_group(
    State(s): State<Arc<Scheduler>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    if name == DEFAULT_GROUP {
        return Err(validation("The default schedule group cannot be deleted."));
    }
    s.group(&caller.region, &name)
        .ok_or_else(|| not_found(format!("Schedule group {name} does not exist.")))?;
    for d in s
        .all()
        .into_iter()
        .filter(|d| d.region == caller.region && d.group == name)
    {
        s.put(&key(&caller, &d.group, &d.name), None).await?;
    }
    s.put_group(&caller.region, &name, None).await?;
    Ok(Json(json!({})))
}

async fn list_groups(
    State(s): State<Arc<Scheduler>>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>> {
    let prefix = q.name_prefix.unwrap_or_default();
    let groups: Vec<Value> = s
        .groups(&caller.region)
        .iter()
        .filter(|g| g.name.starts_with(&prefix))
        .map(describe_group)
        .collect();
    page(
        groups,
        "ScheduleGroups",
        q.next_token.as_deref(),
        q.max_results,
    )
}

/// Tags live on schedule groups (Scheduler does not tag schedules).
fn tagged_group(s: &Scheduler, caller: &Caller, arn: &str) -> Result<Group> {
    let name = arn
        .rsplit_once(":schedule-group/")
        .map(|(_, n)| n)
        .ok_or_else(|| not_found(format!("Resource {arn} does not exist.")))?;
    if name == DEFAULT_GROUP {
        return Err(validation("The default schedule group cannot be tagged."));
    }
    s.group(&caller.region, name)
        .ok_or_else(|| not_found(format!("Schedule group {name} does not exist.")))
}

async fn list_tags(
    State(s): State<Arc<Scheduler>>,
    caller: Caller,
    Path(arn): Path<String>,
) -> Result<Json<Value>> {
    let g = tagged_group(&s, &caller, &arn)?;
    let tags: Vec<Value> = g
        .tags
        .iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect();
    Ok(Json(json!({ "Tags": tags })))
}

async fn tag(
    State(s): State<Arc<Scheduler>>,
    caller: Caller,
    Path(arn): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    let mut g = tagged_group(&s, &caller, &arn)?;
    let input: GroupInput = parse(&body)?;
    g.tags.extend(
        input
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.key, t.value)),
    );
    let name = g.name.clone();
    s.put_group(&caller.region, &name, Some(g)).await?;
    Ok(Json(json!({})))
}

async fn untag(
    State(s): State<Arc<Scheduler>>,
    caller: Caller,
    Path(arn): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>> {
    let mut g = tagged_group(&s, &caller, &arn)?;
    let keys: Vec<String> = form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "TagKeys")
        .map(|(_, v)| v.into_owned())
        .collect();
    g.tags.retain(|k, _| !keys.contains(k));
    let name = g.name.clone();
    s.put_group(&caller.region, &name, Some(g)).await?;
    Ok(Json(json!({})))
}
