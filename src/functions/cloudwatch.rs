//! The CloudWatch Logs API subset that reads function logs (`aws logs tail --follow` and the
//! SDKs' log readers): DescribeLogGroups, DescribeLogStreams, GetLogEvents, FilterLogEvents and
//! DeleteLogGroup, JSON 1.1 with `X-Amz-Target: Logs_20140328.<Operation>`.

use serde::Deserialize;
use serde_json::{json, Value};

use super::logs::{Group, LogEvent, LogStore};

/// A CloudWatch Logs error: `__type` and `message`, HTTP 400.
#[derive(Debug)]
pub struct LogsError {
    pub code: &'static str,
    pub message: String,
}

fn not_found(what: &str) -> LogsError {
    LogsError {
        code: "ResourceNotFoundException",
        message: format!("The specified {what} does not exist."),
    }
}

fn invalid(message: impl Into<String>) -> LogsError {
    LogsError {
        code: "InvalidParameterException",
        message: message.into(),
    }
}

impl LogsError {
    pub fn body(&self) -> Value {
        json!({"__type": self.code, "message": self.message})
    }
}

pub fn handle(
    store: &LogStore,
    region: &str,
    account: &str,
    operation: &str,
    body: &[u8],
) -> Result<Value, LogsError> {
    let input: Input =
        serde_json::from_slice(if body.is_empty() { b"{}" } else { body }).map_err(|e| {
            LogsError {
                code: "SerializationException",
                message: e.to_string(),
            }
        })?;
    let limit = input.limit.unwrap_or(10_000).clamp(1, 10_000);
    let arn = |group: &str| format!("arn:aws:logs:{region}:{account}:log-group:{group}");
    match operation {
        "DescribeLogGroups" => store.read(|groups| {
            let prefix = input.log_group_name_prefix.as_deref().unwrap_or("");
            let shown: Vec<Value> = groups
                .iter()
                .filter(|(name, _)| name.starts_with(prefix))
                .map(|(name, g)| json!({
                    "logGroupName": name, "creationTime": g.created, "metricFilterCount": 0,
                    "arn": format!("{}:*", arn(name)), "logGroupArn": arn(name),
                    "storedBytes": stored_bytes(g), "logGroupClass": "STANDARD",
                }))
                .collect();
            paged(shown, "logGroups", input.next_token.as_deref(), input.limit.unwrap_or(50).clamp(1, 50))
        }),
        "DescribeLogStreams" => store.read(|groups| {
            let (name, g) = group(groups, &input)?;
            let prefix = input.log_stream_name_prefix.as_deref().unwrap_or("");
            let mut streams: Vec<(&String, &super::logs::Stream)> =
                g.streams.iter().filter(|(s, _)| s.starts_with(prefix)).collect();
            if input.order_by.as_deref() == Some("LastEventTime") {
                streams.sort_by_key(|(_, s)| s.events.back().map(|e| e.timestamp));
            }
            if input.descending.unwrap_or(false) {
                streams.reverse();
            }
            let shown: Vec<Value> = streams
                .into_iter()
                .map(|(stream, s)| json!({
                    "logStreamName": stream, "creationTime": s.created,
                    "firstEventTimestamp": s.events.front().map(|e| e.timestamp),
                    "lastEventTimestamp": s.events.back().map(|e| e.timestamp),
                    "lastIngestionTime": s.events.back().map(|e| e.ingestion_time),
                    "arn": format!("{}:log-stream:{stream}", arn(name)), "storedBytes": 0,
                }))
                .collect();
            paged(shown, "logStreams", input.next_token.as_deref(), input.limit.unwrap_or(50).clamp(1, 50))
        }),
        "GetLogEvents" => store.read(|groups| {
            let (_, g) = group(groups, &input)?;
            let stream_name = input.log_stream_name.as_deref().ok_or_else(|| invalid("logStreamName is required"))?;
            let stream = g.streams.get(stream_name).ok_or_else(|| not_found("log stream"))?;
            let events: Vec<&LogEvent> = stream.events.iter().filter(|e| in_window(e, &input)).collect();
            let (from_head, after) = match input.next_token.as_deref() {
                Some(t) if t.starts_with("f/") => (true, t[2..].parse::<u64>().ok()),
                Some(t) if t.starts_with("b/") => (false, t[2..].parse::<u64>().ok()),
                Some(_) => return Err(invalid("The specified nextToken is invalid.")),
                None => (input.start_from_head.unwrap_or(false), None),
            };
            let chosen: Vec<&LogEvent> = if from_head {
                events.into_iter().filter(|e| after.is_none_or(|a| e.seq > a)).take(limit).collect()
            } else {
                let before: Vec<&LogEvent> = events.into_iter().filter(|e| after.is_none_or(|a| e.seq < a)).collect();
                before[before.len().saturating_sub(limit)..].to_vec()
            };
            let first = chosen.first().map(|e| e.seq);
            let last = chosen.last().map(|e| e.seq);
            Ok(json!({
                "events": chosen.iter().map(|e| json!({"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion_time})).collect::<Vec<_>>(),
                "nextForwardToken": format!("f/{}", last.or(after).unwrap_or(0)),
                "nextBackwardToken": format!("b/{}", first.or(after).unwrap_or(u64::MAX)),
            }))
        }),
        "FilterLogEvents" => store.read(|groups| {
            let (_, g) = group(groups, &input)?;
            let pattern = FilterPattern::parse(input.filter_pattern.as_deref().unwrap_or(""));
            let after = match input.next_token.as_deref() {
                Some(t) => Some(t.parse::<u64>().map_err(|_| invalid("The specified nextToken is invalid."))?),
                None => None,
            };
            let mut events: Vec<(&String, &LogEvent)> = g
                .streams
                .iter()
                .filter(|(name, _)| input.log_stream_names.as_ref().is_none_or(|names| names.contains(name)))
                .filter(|(name, _)| name.starts_with(input.log_stream_name_prefix.as_deref().unwrap_or("")))
                .flat_map(|(name, s)| s.events.iter().map(move |e| (name, e)))
                .filter(|(_, e)| in_window(e, &input) && after.is_none_or(|a| e.seq > a) && pattern.matches(&e.message))
                .collect();
            events.sort_by_key(|(_, e)| (e.timestamp, e.seq));
            let more = events.len() > limit;
            events.truncate(limit);
            let mut out = json!({
                "events": events.iter().map(|(stream, e)| json!({
                    "logStreamName": stream, "timestamp": e.timestamp, "message": e.message,
                    "ingestionTime": e.ingestion_time, "eventId": format!("{:056}", e.seq),
                })).collect::<Vec<_>>(),
                "searchedLogStreams": [],
            });
            if more {
                out["nextToken"] = events.last().map(|(_, e)| e.seq.to_string()).into();
            }
            Ok(out)
        }),
        "DeleteLogGroup" => {
            let name = input.log_group_name.as_deref().ok_or_else(|| invalid("logGroupName is required"))?;
            if !store.read(|groups| groups.contains_key(name)) {
                return Err(not_found("log group"));
            }
            store.delete_group(name);
            Ok(json!({}))
        }
        _ => Err(LogsError { code: "UnknownOperationException", message: format!("Unknown operation {operation}") }),
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Input {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_group_name_prefix: Option<String>,
    log_stream_name: Option<String>,
    log_stream_names: Option<Vec<String>>,
    log_stream_name_prefix: Option<String>,
    order_by: Option<String>,
    descending: Option<bool>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    filter_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<usize>,
    start_from_head: Option<bool>,
}

fn group<'a>(
    groups: &'a std::collections::BTreeMap<String, Group>,
    input: &Input,
) -> Result<(&'a String, &'a Group), LogsError> {
    let name = input
        .log_group_name
        .as_deref()
        .or(input
            .log_group_identifier
            .as_deref()
            .map(|id| id.rsplit(":log-group:").next().unwrap_or(id)))
        .ok_or_else(|| invalid("logGroupName is required"))?;
    groups
        .get_key_value(name)
        .ok_or_else(|| not_found("log group"))
}

fn in_window(e: &LogEvent, input: &Input) -> bool {
    input.start_time.is_none_or(|t| e.timestamp >= t)
        && input.end_time.is_none_or(|t| e.timestamp <= t)
}

fn stored_bytes(g: &Group) -> usize {
    g.streams
        .values()
        .flat_map(|s| s.events.iter())
        .map(|e| e.message.len())
        .sum()
}

fn paged(
    items: Vec<Value>,
    member: &str,
    token: Option<&str>,
    limit: usize,
) -> Result<Value, LogsError> {
    let start = match token {
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| invalid("The specified nextToken is invalid."))?,
        None => 0,
    };
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    let mut out = json!({ member: page });
    if start + limit < total {
        out["nextToken"] = (start + limit).to_string().into();
    }
    Ok(out)
}

/// CloudWatch's filter pattern for unstructured events: every term must occur (`"a phrase"`
/// quoted), `-term` must not, `?term`s are alternatives; an empty pattern matches everything.
struct FilterPattern {
    all: Vec<String>,
    none: Vec<String>,
    any: Vec<String>,
}

impl FilterPattern {
    fn parse(pattern: &str) -> FilterPattern {
        let mut p = FilterPattern {
            all: vec![],
            none: vec![],
            any: vec![],
        };
        let mut rest = pattern.trim();
        while !rest.is_empty() {
            let (prefix, body) = match rest.as_bytes()[0] {
                b'-' => ('-', &rest[1..]),
                b'?' => ('?', &rest[1..]),
                _ => (' ', rest),
            };
            let (term, after) = match body.strip_prefix('"') {
                Some(quoted) => match quoted.find('"') {
                    Some(end) => (&quoted[..end], &quoted[end + 1..]),
                    None => (quoted, ""),
                },
                None => match body.find(char::is_whitespace) {
                    Some(end) => (&body[..end], &body[end..]),
                    None => (body, ""),
                },
            };
            let list = match prefix {
                '-' => &mut p.none,
                '?' => &mut p.any,
                _ => &mut p.all,
            };
            if !term.is_empty() {
                list.push(term.to_string());
            }
            rest = after.trim_start();
        }
        p
    }

    fn matches(&self, message: &str) -> bool {
        self.all.iter().all(|t| message.contains(t.as_str()))
            && !self.none.iter().any(|t| message.contains(t.as_str()))
            && (self.any.is_empty() || self.any.iter().any(|t| message.contains(t.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_patterns_match_terms() {
        let p = FilterPattern::parse(r#"ERROR "timed out" -retry"#);
        assert!(p.matches("ERROR: Task timed out after 1.00 seconds"));
        assert!(!p.matches("ERROR: Task timed out, retry"));
        assert!(!p.matches("ERROR only"));
        let any = FilterPattern::parse("?START ?END");
        assert!(any.matches("END RequestId: x"));
        assert!(!any.matches("REPORT"));
        assert!(FilterPattern::parse("").matches("anything"));
    }

    #[test]
    fn filtering_pages_with_a_token() {
        let store = LogStore::default();
        for i in 0..5 {
            store.append("/aws/lambda/f", "s", 1000 + i, &format!("line {i}"));
        }
        let first = handle(
            &store,
            "r",
            "a",
            "FilterLogEvents",
            br#"{"logGroupName": "/aws/lambda/f", "limit": 3}"#,
        )
        .unwrap();
        assert_eq!(first["events"].as_array().unwrap().len(), 3);
        let token = first["nextToken"].as_str().unwrap();
        let body = format!(r#"{{"logGroupName": "/aws/lambda/f", "nextToken": "{token}"}}"#);
        let rest = handle(&store, "r", "a", "FilterLogEvents", body.as_bytes()).unwrap();
        assert_eq!(rest["events"][1]["message"], "line 4");
        assert!(rest.get("nextToken").is_none());
        let missing = handle(
            &store,
            "r",
            "a",
            "GetLogEvents",
            br#"{"logGroupName": "nope", "logStreamName": "s"}"#,
        );
        assert_eq!(missing.unwrap_err().code, "ResourceNotFoundException");
    }
}
