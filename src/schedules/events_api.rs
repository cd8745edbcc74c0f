//! The EventBridge API for rules on the `default` bus (`X-Amz-Target: AWSEvents.<Operation>`,
//! JSON 1.1): PutRule, DescribeRule, ListRules, EnableRule, DisableRule, DeleteRule,
//! PutTargets, RemoveTargets, ListTargetsByRule, ListRuleNamesByTarget, TagResource,
//! UntagResource, ListTagsForResource.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::expression::Schedule;
use super::rules::{Rule, Rules};
use crate::pattern::Pattern;

/// An EventBridge error: `__type` and `message`, HTTP 400.
#[derive(Debug)]
pub struct EventsError {
    pub code: &'static str,
    pub message: String,
}

impl EventsError {
    pub fn body(&self) -> Value {
        json!({"__type": self.code, "message": self.message})
    }
}

impl From<crate::error::Error> for EventsError {
    fn from(e: crate::error::Error) -> Self {
        tracing::error!("events: {e}");
        EventsError {
            code: "InternalException",
            message: "Internal error".into(),
        }
    }
}

fn validation(message: impl Into<String>) -> EventsError {
    EventsError {
        code: "ValidationException",
        message: message.into(),
    }
}

fn not_found(name: &str) -> EventsError {
    EventsError {
        code: "ResourceNotFoundException",
        message: format!("Rule {name} does not exist on EventBus default."),
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Input {
    name: Option<String>,
    rule: Option<String>,
    schedule_expression: Option<String>,
    event_pattern: Option<String>,
    state: Option<String>,
    description: Option<String>,
    role_arn: Option<String>,
    event_bus_name: Option<String>,
    tags: Option<Vec<Tag>>,
    name_prefix: Option<String>,
    limit: Option<usize>,
    next_token: Option<String>,
    targets: Option<Vec<Value>>,
    ids: Option<Vec<String>>,
    target_arn: Option<String>,
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
    tag_keys: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Tag {
    key: String,
    value: String,
}

fn check_name(name: Option<&str>, member: &str) -> Result<String, EventsError> {
    let name = name.ok_or_else(|| {
        validation(format!("1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"))
    })?;
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c));
    if !valid {
        return Err(validation(format!(
            "1 validation error detected: Value '{name}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+"
        )));
    }
    Ok(name.to_string())
}

fn check_bus(input: &Input) -> Result<(), EventsError> {
    match input.event_bus_name.as_deref() {
        None | Some("default") => Ok(()),
        Some(bus) => Err(EventsError {
            code: "ResourceNotFoundException",
            message: format!("Event bus {bus} does not exist."),
        }),
    }
}

fn describe(rule: &Rule) -> Value {
    let mut out = json!({
        "Name": rule.name,
        "Arn": rule.arn(),
        "State": if rule.enabled { "ENABLED" } else { "DISABLED" },
        "EventBusName": "default",
        "CreatedBy": rule.account,
    });
    for (member, value) in [
        ("ScheduleExpression", &rule.schedule),
        ("EventPattern", &rule.event_pattern),
        ("Description", &rule.description),
        ("RoleArn", &rule.role_arn),
    ] {
        if let Some(v) = value {
            out[member] = v.clone().into();
        }
    }
    out
}

fn rule_of_arn(arn: &str) -> Option<(String, String)> {
    let rest = arn.strip_prefix("arn:aws:events:")?;
    let (region, rest) = rest.split_once(':')?;
    let (_, name) = rest.split_once(":rule/")?;
    Some((region.to_string(), name.to_string()))
}

pub async fn handle(
    rules: &Rules,
    region: &str,
    account: &str,
    operation: &str,
    body: &[u8],
) -> Result<Value, EventsError> {
    let input: Input =
        serde_json::from_slice(if body.is_empty() { b"{}" } else { body }).map_err(|e| {
            EventsError {
                code: "SerializationException",
                message: e.to_string(),
            }
        })?;
    check_bus(&input)?;
    match operation {
        "PutRule" => {
            let name = check_name(input.name.as_deref(), "name")?;
            if input.schedule_expression.is_none() && input.event_pattern.is_none() {
                return Err(validation(
                    "Parameter(s) EventPattern or ScheduleExpression must be specified.",
                ));
            }
            if let Some(s) = &input.schedule_expression {
                if !matches!(
                    Schedule::parse(s),
                    Ok(Schedule::Cron(_) | Schedule::Rate(_))
                ) {
                    return Err(validation("Parameter ScheduleExpression is not valid."));
                }
            }
            if let Some(p) = &input.event_pattern {
                Pattern::parse(p).map_err(|reason| EventsError {
                    code: "InvalidEventPatternException",
                    message: format!("Event pattern is not valid. Reason: {reason}"),
                })?;
            }
            let enabled = match input.state.as_deref() {
                None | Some("ENABLED") => true,
                Some("DISABLED") => false,
                Some(other) => {
                    return Err(validation(format!("1 validation error detected: Value '{other}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]")))
                }
            };
            let now = rules.now_ms();
            let tags: BTreeMap<String, String> = input
                .tags
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.key, t.value))
                .collect();
            let arn = rules
                .update::<_, EventsError>(region, &name, |slot| {
                    let rule = slot.get_or_insert_with(|| Rule {
                        name: name.clone(),
                        region: region.to_string(),
                        account: account.to_string(),
                        schedule: None,
                        event_pattern: None,
                        enabled,
                        description: None,
                        role_arn: None,
                        tags: BTreeMap::new(),
                        targets: vec![],
                        created_ms: now,
                        last_fired_ms: None,
                    });
                    if rule.schedule != input.schedule_expression {
                        // A new schedule counts its rate from now.
                        rule.created_ms = now;
                    }
                    rule.schedule = input.schedule_expression;
                    rule.event_pattern = input.event_pattern;
                    rule.enabled = enabled;
                    rule.description = input.description;
                    rule.role_arn = input.role_arn;
                    rule.tags.extend(tags);
                    Ok(rule.arn())
                })
                .await?;
            Ok(json!({ "RuleArn": arn }))
        }
        "DescribeRule" => {
            let name = check_name(input.name.as_deref(), "name")?;
            let rule = rules.get(region, &name).ok_or_else(|| not_found(&name))?;
            Ok(describe(&rule))
        }
        "ListRules" => {
            let prefix = input.name_prefix.unwrap_or_default();
            let all: Vec<Value> = rules
                .all()
                .iter()
                .filter(|r| r.region == region && r.name.starts_with(&prefix))
                .map(describe)
                .collect();
            paged(all, "Rules", input.next_token.as_deref(), input.limit)
        }
        "EnableRule" | "DisableRule" => {
            let name = check_name(input.name.as_deref(), "name")?;
            let enable = operation == "EnableRule";
            rules
                .update::<_, EventsError>(region, &name, |slot| {
                    slot.as_mut().ok_or_else(|| not_found(&name))?.enabled = enable;
                    Ok(())
                })
                .await?;
            Ok(json!({}))
        }
        "DeleteRule" => {
            let name = check_name(input.name.as_deref(), "name")?;
            rules
                .update::<_, EventsError>(region, &name, |slot| {
                    match slot {
                        Some(r) if !r.targets.is_empty() => {
                            return Err(validation("Rule can't be deleted since it has targets."))
                        }
                        _ => *slot = None,
                    }
                    Ok(())
                })
                .await?;
            Ok(json!({}))
        }
        "PutTargets" => {
            let name = check_name(input.rule.as_deref(), "rule")?;
            let targets = input.targets.unwrap_or_default();
            if targets.is_empty() || targets.len() > 10 {
                return Err(validation("1 validation error detected: Value at 'targets' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1"));
            }
            let mut failed = Vec::new();
            let mut accepted = Vec::new();
            for t in targets {
                let id = t["Id"].as_str().unwrap_or_default().to_string();
                let arn = t["Arn"].as_str().unwrap_or_default();
                let inputs = ["Input", "InputPath", "InputTransformer"]
                    .iter()
                    .filter(|k| !t[**k].is_null())
                    .count();
                let problem = if id.is_empty() || arn.is_empty() {
                    Some("Target Id and Arn are required.".to_string())
                } else if crate::functions::api::parse_function_arn(arn).is_none() {
                    Some(format!("Target {arn} is not a Lambda function of this server: rules here invoke functions."))
                } else if inputs > 1 {
                    Some(
                        "Only one of Input, InputPath, or InputTransformer must be provided."
                            .into(),
                    )
                } else if t["Input"]
                    .as_str()
                    .is_some_and(|i| serde_json::from_str::<Value>(i).is_err())
                {
                    Some("Input is not valid JSON.".into())
                } else {
                    None
                };
                match problem {
                    Some(message) => failed.push(json!({"TargetId": id, "ErrorCode": "ValidationException", "ErrorMessage": message})),
                    None => accepted.push(t),
                }
            }
            rules
                .update::<_, EventsError>(region, &name, |slot| {
                    let rule = slot.as_mut().ok_or_else(|| not_found(&name))?;
                    for t in accepted {
                        rule.targets.retain(|old| old["Id"] != t["Id"]);
                        rule.targets.push(t);
                    }
                    if rule.targets.len() > 5 {
                        return Err(EventsError {
                            code: "LimitExceededException",
                            message: "The requested resource exceeds the maximum number allowed."
                                .into(),
                        });
                    }
                    Ok(())
                })
                .await?;
            Ok(json!({"FailedEntryCount": failed.len(), "FailedEntries": failed}))
        }
        "RemoveTargets" => {
            let name = check_name(input.rule.as_deref(), "rule")?;
            let ids = input.ids.unwrap_or_default();
            rules
                .update::<_, EventsError>(region, &name, |slot| {
                    let rule = slot.as_mut().ok_or_else(|| not_found(&name))?;
                    rule.targets
                        .retain(|t| !ids.iter().any(|id| t["Id"] == id.as_str()));
                    Ok(())
                })
                .await?;
            Ok(json!({"FailedEntryCount": 0, "FailedEntries": []}))
        }
        "ListTargetsByRule" => {
            let name = check_name(input.rule.as_deref(), "rule")?;
            let rule = rules.get(region, &name).ok_or_else(|| not_found(&name))?;
            paged(
                rule.targets,
                "Targets",
                input.next_token.as_deref(),
                input.limit,
            )
        }
        "ListRuleNamesByTarget" => {
            let arn = input.target_arn.ok_or_else(|| validation("1 validation error detected: Value null at 'targetArn' failed to satisfy constraint: Member must not be null"))?;
            let names: Vec<Value> = rules
                .all()
                .iter()
                .filter(|r| {
                    r.region == region && r.targets.iter().any(|t| t["Arn"] == arn.as_str())
                })
                .map(|r| r.name.clone().into())
                .collect();
            paged(names, "RuleNames", input.next_token.as_deref(), input.limit)
        }
        "TagResource" | "UntagResource" | "ListTagsForResource" => {
            let arn = input.resource_arn.clone().unwrap_or_default();
            let (rule_region, name) = rule_of_arn(&arn).ok_or_else(|| not_found(&arn))?;
            if operation == "ListTagsForResource" {
                let rule = rules
                    .get(&rule_region, &name)
                    .ok_or_else(|| not_found(&name))?;
                let list: Vec<Value> = rule
                    .tags
                    .iter()
                    .map(|(k, v)| json!({"Key": k, "Value": v}))
                    .collect();
                return Ok(json!({ "Tags": list }));
            }
            let tags: Vec<(String, String)> = input
                .tags
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.key, t.value))
                .collect();
            let removed = input.tag_keys.unwrap_or_default();
            rules
                .update::<_, EventsError>(&rule_region, &name, |slot| {
                    let rule = slot.as_mut().ok_or_else(|| not_found(&name))?;
                    rule.tags.extend(tags);
                    rule.tags.retain(|k, _| !removed.contains(k));
                    Ok(())
                })
                .await?;
            Ok(json!({}))
        }
        _ => Err(EventsError {
            code: "UnknownOperationException",
            message: format!("Unknown operation {operation}"),
        }),
    }
}

fn paged(
    items: Vec<Value>,
    member: &str,
    token: Option<&str>,
    limit: Option<usize>,
) -> Result<Value, EventsError> {
    let start = match token {
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| validation("The nextToken is not valid."))?,
        None => 0,
    };
    let limit = limit.unwrap_or(100).clamp(1, 100);
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    let mut out = json!({ member: page });
    if start + limit < total {
        out["NextToken"] = (start + limit).to_string().into();
    }
    Ok(out)
}
