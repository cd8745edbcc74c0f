//! SQS's JSON protocol: `AmazonSQS.<Operation>` bodies in, JSON out, errors with the JSON
//! shape name in `__type` and the query protocol's code in `x-amzn-query-error` (what SDKs
//! built for both report).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

use super::{QueueDef, Queues, SqsError, SqsResult, DEFAULTS};

fn error_response(e: &SqsError) -> Response {
    let (shape, query) = e.codes();
    let status = match e {
        SqsError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let body = json!({"__type": format!("com.amazonaws.sqs#{shape}"), "message": e.to_string()});
    let mut r = (status, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("{query};Sender")) {
        h.insert("x-amzn-query-error", v);
    }
    r
}

pub async fn handle(
    queues: &Queues,
    region: &str,
    host: &str,
    operation: &str,
    body: &[u8],
) -> Response {
    let input: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return error_response(&SqsError::InvalidParameterValue(
                "The request body is not a JSON object.".into(),
            ))
        }
    };
    match call(queues, region, host, operation, &input).await {
        Ok(v) => {
            let mut r = (StatusCode::OK, v.to_string()).into_response();
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/x-amz-json-1.0"),
            );
            r
        }
        Err(e) => error_response(&e),
    }
}

fn text<'a>(input: &'a Value, member: &str) -> SqsResult<&'a str> {
    input[member].as_str().ok_or_else(|| {
        SqsError::MissingParameter(format!("The request must contain the parameter {member}."))
    })
}

fn url(host: &str, queues: &Queues, def: &QueueDef) -> String {
    format!("http://{host}/{}/{}", queues.account, def.name)
}

/// The queue a `QueueUrl` names: its last path segment, in the caller's region.
fn queue(queues: &Queues, region: &str, input: &Value) -> SqsResult<QueueDef> {
    let url = text(input, "QueueUrl")?;
    let name = url.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    if name.is_empty() || !url.contains('/') {
        return Err(SqsError::InvalidAddress(format!(
            "The address {url} is not valid for this endpoint."
        )));
    }
    queues.get(region, name)
}

fn attributes(input: &Value) -> BTreeMap<String, String> {
    input["Attributes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_string),
            )
        })
        .collect()
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn int(input: &Value, member: &str, lo: i64, hi: i64) -> SqsResult<Option<i64>> {
    match input.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if (lo..=hi).contains(&n) => Ok(Some(n)),
            _ => Err(SqsError::InvalidParameterValue(format!(
                "Value {v} for parameter {member} is invalid. Reason: must be between {lo} and {hi}."
            ))),
        },
    }
}

async fn call(
    queues: &Queues,
    region: &str,
    host: &str,
    operation: &str,
    input: &Value,
) -> SqsResult<Value> {
    Ok(match operation {
        "CreateQueue" => {
            let def = queues
                .create(region, text(input, "QueueName")?, attributes(input))
                .await?;
            json!({"QueueUrl": url(host, queues, &def)})
        }
        "GetQueueUrl" => {
            let def = queues.get(region, text(input, "QueueName")?)?;
            json!({"QueueUrl": url(host, queues, &def)})
        }
        "ListQueues" => {
            let prefix = input["QueueNamePrefix"].as_str().unwrap_or("");
            let urls: Vec<String> = queues
                .list(region, prefix)
                .iter()
                .map(|d| url(host, queues, d))
                .collect();
            if urls.is_empty() {
                json!({})
            } else {
                json!({"QueueUrls": urls})
            }
        }
        "DeleteQueue" => {
            queues.delete(&queue(queues, region, input)?).await?;
            json!({})
        }
        "PurgeQueue" => {
            queues.purge(&queue(queues, region, input)?).await?;
            json!({})
        }
        "GetQueueAttributes" => {
            let def = queue(queues, region, input)?;
            let (visible, in_flight, delayed) = queues.counts(&def);
            let mut all: Map<String, Value> = def
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            all.insert("QueueArn".into(), json!(queues.arn(&def)));
            all.insert(
                "ApproximateNumberOfMessages".into(),
                json!(visible.to_string()),
            );
            all.insert(
                "ApproximateNumberOfMessagesNotVisible".into(),
                json!(in_flight.to_string()),
            );
            all.insert(
                "ApproximateNumberOfMessagesDelayed".into(),
                json!(delayed.to_string()),
            );
            all.insert("CreatedTimestamp".into(), json!(def.created.to_string()));
            all.insert(
                "LastModifiedTimestamp".into(),
                json!(def.modified.to_string()),
            );
            let names: Vec<&str> = input["AttributeNames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let chosen: Map<String, Value> = if names.contains(&"All") {
                all
            } else {
                for n in &names {
                    if !all.contains_key(*n) && !DEFAULTS.iter().any(|(k, _)| k == n) {
                        return Err(SqsError::InvalidAttributeName(n.to_string()));
                    }
                }
                all.into_iter()
                    .filter(|(k, _)| names.contains(&k.as_str()))
                    .collect()
            };
            if chosen.is_empty() {
                json!({})
            } else {
                json!({"Attributes": chosen})
            }
        }
        "SetQueueAttributes" => {
            let def = queue(queues, region, input)?;
            queues.set_attributes(&def, attributes(input)).await?;
            json!({})
        }
        "SendMessage" => {
            let def = queue(queues, region, input)?;
            let body = text(input, "MessageBody")?.to_string();
            let md5 = md5_hex(&body);
            let delay = int(input, "DelaySeconds", 0, 900)?.map(|d| d as u64);
            let attrs = input
                .get("MessageAttributes")
                .cloned()
                .unwrap_or(Value::Null);
            let id = queues.send(&def, body, delay, attrs).await?;
            json!({"MessageId": id, "MD5OfMessageBody": md5})
        }
        "ReceiveMessage" => {
            let def = queue(queues, region, input)?;
            let max = int(input, "MaxNumberOfMessages", 1, 10)?.unwrap_or(1) as usize;
            let visibility = int(input, "VisibilityTimeout", 0, 43_200)?.map(|v| v as u64);
            let default_wait: i64 = def
                .attributes
                .get("ReceiveMessageWaitTimeSeconds")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let wait = int(input, "WaitTimeSeconds", 0, 20)?.unwrap_or(default_wait);
            let got = queues
                .receive(&def, max, visibility, Duration::from_secs(wait as u64))
                .await?;
            let messages: Vec<Value> = got
                .into_iter()
                .map(|r| {
                    let mut m = json!({
                        "MessageId": r.message.id,
                        "ReceiptHandle": r.handle,
                        "MD5OfBody": md5_hex(&r.message.body),
                        "Body": r.message.body,
                        "Attributes": {
                            "SenderId": queues.account,
                            "SentTimestamp": r.message.sent_ms.to_string(),
                            "ApproximateReceiveCount": r.receive_count.to_string(),
                            "ApproximateFirstReceiveTimestamp": r.first_receive_ms.to_string(),
                        },
                    });
                    if !r.message.attributes.is_null() {
                        m["MessageAttributes"] = r.message.attributes;
                    }
                    m
                })
                .collect();
            if messages.is_empty() {
                json!({})
            } else {
                json!({"Messages": messages})
            }
        }
        "DeleteMessage" => {
            let def = queue(queues, region, input)?;
            queues
                .delete_message(&def, text(input, "ReceiptHandle")?)
                .await?;
            json!({})
        }
        "ChangeMessageVisibility" => {
            let def = queue(queues, region, input)?;
            let seconds = int(input, "VisibilityTimeout", 0, 43_200)?.ok_or_else(|| {
                SqsError::MissingParameter(
                    "The request must contain the parameter VisibilityTimeout.".into(),
                )
            })?;
            queues.change_visibility(&def, text(input, "ReceiptHandle")?, seconds as u64)?;
            json!({})
        }
        other => return Err(SqsError::InvalidAction(other.to_string())),
    })
}
