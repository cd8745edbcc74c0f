//! What a mapping sends: Lambda's DynamoDB stream event (the stream's records, each with its
//! `eventSourceARN`), and the failure record an on-failure destination gets.

use serde_json::{json, Value};

/// One stream record as read, with what the poller needs to know of it.
#[derive(Clone, Debug)]
pub struct Record {
    pub seq: u64,
    pub json: Value,
    /// Bytes of the record in the event.
    pub size: usize,
}

impl Record {
    pub fn parse(seq: u64, stored: &[u8], source_arn: &str) -> Option<Record> {
        let mut json: Value = serde_json::from_slice(stored).ok()?;
        let record = json.as_object_mut()?;
        // The Streams API spells the identity `Type`/`PrincipalId`; Lambda's event
        // `type`/`principalId`.
        if let Some(Value::Object(identity)) = record.get_mut("userIdentity") {
            *identity = std::mem::take(identity)
                .into_iter()
                .map(|(k, v)| (lower_first(&k), v))
                .collect();
        }
        record.insert("eventSourceARN".into(), source_arn.into());
        let size = stored.len() + source_arn.len() + 20;
        Some(Record { seq, json, size })
    }

    /// Seconds since the epoch when the change was made.
    pub fn created(&self) -> f64 {
        self.json["dynamodb"]["ApproximateCreationDateTime"]
            .as_f64()
            .unwrap_or(0.0)
    }

    /// The partition key's attribute values, which keep their order across concurrent batches.
    pub fn key(&self) -> String {
        self.json["dynamodb"]["Keys"].to_string()
    }
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// `{"Records": [...]}`.
pub fn payload(records: &[Record]) -> String {
    let list: Vec<&Value> = records.iter().map(|r| &r.json).collect();
    json!({ "Records": list }).to_string()
}

/// A tumbling window's part of an invocation.
#[derive(Clone, Debug)]
pub struct WindowCall {
    pub start: i64,
    pub end: i64,
    pub state: Value,
    pub shard_id: String,
    pub source_arn: String,
    pub last: bool,
    pub terminated_early: bool,
}

/// Lambda's tumbling-window event: the records with the window, the state so far, and whether
/// this is the window's final invocation.
pub fn window_payload(records: &[Record], w: &WindowCall) -> String {
    let time = |t: i64| {
        jiff::Timestamp::from_second(t)
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default()
    };
    let list: Vec<&Value> = records.iter().map(|r| &r.json).collect();
    json!({
        "Records": list,
        "window": {"start": time(w.start), "end": time(w.end)},
        "state": w.state,
        "shardId": w.shard_id,
        "eventSourceARN": w.source_arn,
        "isFinalInvokeForWindow": w.last,
        "isWindowTerminatedEarly": w.terminated_early,
    })
    .to_string()
}

/// The state a tumbling-window function returned (`{"state": {...}}`), `{}` without one.
pub fn returned_state(response: &[u8]) -> Value {
    serde_json::from_slice::<Value>(response)
        .ok()
        .and_then(|v| v.get("state").cloned())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}))
}

/// Lambda's invocation record for a batch that could not be processed.
pub struct Failure<'a> {
    pub records: &'a [Record],
    pub shard_id: String,
    pub stream_arn: &'a str,
    pub function_arn: String,
    pub condition: &'static str,
    pub invoke_count: u32,
    pub function_error: Option<&'a str>,
    pub now: std::time::SystemTime,
}

impl Failure<'_> {
    pub fn to_json(&self) -> Value {
        let first = self.records.first();
        let last = self.records.last();
        let seq = |r: Option<&Record>| r.map(|r| crate::engine::streams::seq_text(r.seq));
        let arrival = |r: Option<&Record>| {
            r.and_then(|r| jiff::Timestamp::from_second(r.created() as i64).ok())
                .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        };
        let mut response = json!({"statusCode": 200, "executedVersion": "$LATEST"});
        if let Some(e) = self.function_error {
            response["functionError"] = e.into();
        }
        json!({
            "requestContext": {
                "requestId": uuid::Uuid::new_v4().to_string(),
                "functionArn": self.function_arn,
                "condition": self.condition,
                "approximateInvokeCount": self.invoke_count,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": jiff::Timestamp::try_from(self.now)
                .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                .unwrap_or_default(),
            "DDBStreamBatchInfo": {
                "shardId": self.shard_id,
                "startSequenceNumber": seq(first),
                "endSequenceNumber": seq(last),
                "approximateArrivalOfFirstRecord": arrival(first),
                "approximateArrivalOfLastRecord": arrival(last),
                "batchSize": self.records.len(),
                "streamArn": self.stream_arn,
            },
        })
    }
}

/// The sequence numbers a function reported as failed (`ReportBatchItemFailures`): `Ok(None)`
/// for a success, `Err` when the answer is not a valid report (the whole batch failed).
pub fn reported_failures(response: &[u8], batch: &[Record]) -> Result<Option<u64>, ()> {
    let Ok(v) = serde_json::from_slice::<Value>(response) else {
        // Not JSON at all: Lambda treats an unparsable answer as a success.
        return Ok(None);
    };
    let failures = match v.get("batchItemFailures") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(()),
    };
    let mut lowest: Option<u64> = None;
    for failure in failures {
        let id = failure
            .get("itemIdentifier")
            .and_then(Value::as_str)
            .ok_or(())?;
        let seq = batch
            .iter()
            .find(|r| {
                crate::engine::streams::seq_text(r.seq) == id
                    || r.json["dynamodb"]["SequenceNumber"] == id
            })
            .map(|r| r.seq)
            .ok_or(())?;
        lowest = Some(lowest.map_or(seq, |l| l.min(seq)));
    }
    Ok(lowest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64) -> Record {
        let stored = format!(
            r#"{{"eventID":"e{seq}","eventName":"INSERT","dynamodb":{{"ApproximateCreationDateTime":1700000000,"Keys":{{"p":{{"S":"k"}}}},"SequenceNumber":"{}"}}}}"#,
            crate::engine::streams::seq_text(seq)
        );
        Record::parse(seq, stored.as_bytes(), "arn:s").unwrap()
    }

    #[test]
    fn ttl_identities_are_spelled_as_lambda_spells_them() {
        let stored = br#"{"eventName":"REMOVE","userIdentity":{"Type":"Service","PrincipalId":"dynamodb.amazonaws.com"},"dynamodb":{}}"#;
        let r = Record::parse(1, stored, "arn").unwrap();
        assert_eq!(
            r.json["userIdentity"],
            serde_json::json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"})
        );
    }

    #[test]
    fn records_carry_their_source() {
        let r = record(5);
        assert_eq!(r.json["eventSourceARN"], "arn:s");
        let p: Value = serde_json::from_str(&payload(&[r.clone(), record(6)])).unwrap();
        assert_eq!(p["Records"][1]["eventID"], "e6");
    }

    #[test]
    fn batch_item_failures() {
        let batch = [record(1), record(2), record(3)];
        let id = |n| crate::engine::streams::seq_text(n);
        assert_eq!(reported_failures(b"null", &batch), Ok(None));
        assert_eq!(
            reported_failures(br#"{"batchItemFailures": []}"#, &batch),
            Ok(None)
        );
        assert_eq!(reported_failures(b"\"done\"", &batch), Ok(None));
        let two = format!(
            r#"{{"batchItemFailures": [{{"itemIdentifier": "{}"}}, {{"itemIdentifier": "{}"}}]}}"#,
            id(3),
            id(2)
        );
        assert_eq!(reported_failures(two.as_bytes(), &batch), Ok(Some(2)));
        assert!(reported_failures(
            br#"{"batchItemFailures": [{"itemIdentifier": "nope"}]}"#,
            &batch
        )
        .is_err());
        assert!(reported_failures(br#"{"batchItemFailures": [{}]}"#, &batch).is_err());
        assert!(reported_failures(br#"{"batchItemFailures": "x"}"#, &batch).is_err());
    }
}
