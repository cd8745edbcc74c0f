//! `dynarock logs FUNCTION [--follow]`: a function's log lines, read through the server's
//! CloudWatch Logs API (FilterLogEvents), as `aws logs tail` reads them.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;

use super::Endpoint;
use crate::config::LogsArgs;

/// How often `--follow` asks for new lines.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);

pub fn run(args: &LogsArgs) -> Result<(), String> {
    let endpoint = Endpoint::new(&args.server.at.endpoint, &args.server.region);
    let group = format!("/aws/lambda/{}", args.function);
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let mut start = now_ms - (args.since_seconds as i64) * 1000;
    // Events at the last timestamp seen may be returned again; their ids say which.
    let mut seen: HashSet<String> = HashSet::new();
    loop {
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({"logGroupName": group, "startTime": start});
            if let Some(t) = &token {
                body["nextToken"] = t.clone().into();
            }
            let page = match endpoint.json11("logs", "Logs_20140328.FilterLogEvents", &body) {
                Ok(page) => page,
                // No log group yet: the function has not run.
                Err(e) if e.code() == Some("ResourceNotFoundException") && args.follow => break,
                Err(e) => return Err(e.into()),
            };
            for event in page["events"].as_array().into_iter().flatten() {
                let id = event["eventId"].as_str().unwrap_or_default().to_string();
                if !seen.insert(id) {
                    continue;
                }
                let ts = event["timestamp"].as_i64().unwrap_or(0);
                start = start.max(ts);
                let time = jiff::Timestamp::from_millisecond(ts)
                    .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                    .unwrap_or_default();
                println!(
                    "{time} {} {}",
                    event["logStreamName"].as_str().unwrap_or(""),
                    event["message"].as_str().unwrap_or("")
                );
            }
            token = page["nextToken"].as_str().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        if !args.follow {
            return Ok(());
        }
        std::thread::sleep(FOLLOW_EVERY);
    }
}
