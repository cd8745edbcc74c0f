//! An event source mapping as stored, its checkpoint, and its Lambda wire shape.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Mapping {
    pub uuid: String,
    pub region: String,
    pub account: String,
    /// The function as named by the mapping: name and optional qualifier.
    pub function_name: String,
    pub qualifier: Option<String>,
    pub event_source_arn: String,
    pub table_name: String,
    /// The stream's id in the engine: a re-created table has a new one.
    pub stream_id: u32,
    pub batch_size: u32,
    pub batching_window_seconds: u32,
    pub starting_position: String,
    /// Each filter's pattern as given (JSON text).
    pub filters: Vec<String>,
    pub maximum_retry_attempts: i64,
    pub maximum_record_age_seconds: i64,
    pub bisect_on_error: bool,
    pub parallelization_factor: u32,
    pub tumbling_window_seconds: u32,
    pub report_item_failures: bool,
    pub on_failure: Option<String>,
    pub enabled: bool,
    pub last_modified: f64,
    pub last_processing_result: String,
    pub state_transition_reason: String,
    /// Why the mapping stopped on its own (its table or stream went away).
    pub stopped: Option<String>,
}

/// Where a mapping's next record is: a shard of its stream and a sequence number; with a
/// tumbling window, the open window and the state the function returned for it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub shard: u32,
    pub next_seq: u64,
    #[serde(default)]
    pub window: Option<OpenWindow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenWindow {
    /// Epoch seconds.
    pub start: i64,
    pub state: Value,
}

impl Mapping {
    pub fn function_arn(&self) -> String {
        let base = format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.region, self.account, self.function_name
        );
        match &self.qualifier {
            Some(q) => format!("{base}:{q}"),
            None => base,
        }
    }

    pub fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{}:event-source-mapping:{}",
            self.region, self.account, self.uuid
        )
    }

    /// The state a read shows (`Creating`, `Updating` and `Deleting` are what the calls that
    /// cause them answer).
    pub fn state(&self) -> &'static str {
        if self.enabled && self.stopped.is_none() {
            "Enabled"
        } else {
            "Disabled"
        }
    }

    pub fn to_json(&self, state: &str) -> Value {
        let filters: Vec<Value> = self
            .filters
            .iter()
            .map(|p| json!({ "Pattern": p }))
            .collect();
        let mut out = json!({
            "UUID": self.uuid,
            "EventSourceMappingArn": self.arn(),
            "StartingPosition": self.starting_position,
            "BatchSize": self.batch_size,
            "MaximumBatchingWindowInSeconds": self.batching_window_seconds,
            "ParallelizationFactor": self.parallelization_factor,
            "EventSourceArn": self.event_source_arn,
            "FunctionArn": self.function_arn(),
            "LastModified": self.last_modified,
            "LastProcessingResult": self.last_processing_result,
            "State": state,
            "StateTransitionReason": self.stopped.as_deref().unwrap_or(&self.state_transition_reason),
            "DestinationConfig": {"OnFailure": self.on_failure.as_ref().map_or_else(|| json!({}), |d| json!({"Destination": d}))},
            "MaximumRecordAgeInSeconds": self.maximum_record_age_seconds,
            "BisectBatchOnFunctionError": self.bisect_on_error,
            "MaximumRetryAttempts": self.maximum_retry_attempts,
            "TumblingWindowInSeconds": self.tumbling_window_seconds,
            "FunctionResponseTypes": if self.report_item_failures { json!(["ReportBatchItemFailures"]) } else { json!([]) },
        });
        if !filters.is_empty() {
            out["FilterCriteria"] = json!({ "Filters": filters });
        }
        out
    }
}
