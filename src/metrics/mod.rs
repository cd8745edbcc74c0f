//! Prometheus metrics (`GET /metrics`), named after the CloudWatch metrics of DynamoDB and
//! Lambda so that dashboards translate: `SuccessfulRequestLatency` becomes
//! `dynamodb_successful_request_latency_seconds`, `ConsumedReadCapacityUnits`
//! `dynamodb_consumed_read_capacity_units_total`, `Invocations` `lambda_invocations_total`, and so on.
//!
//! Counting costs a request two atomic additions on structures it already holds: a table's
//! counters live beside its definition (`TableStats`, shared by every version of it, gone with
//! the table), so the label sets are bounded by the tables and functions that exist. Storage
//! figures (item counts, sizes, RocksDB's compaction debt) are read when scraped.

mod collect;
pub mod functions;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;

pub use collect::render;

use crate::error::Error;

/// Latency buckets, in seconds: 100 µs to about 3 s.
fn latency_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.0001, 2.0, 16)
}

/// Counts in floating point (capacity units come in halves).
type Units = Counter<f64, std::sync::atomic::AtomicU64>;

/// What happened to requests of one operation on one table.
#[derive(Debug)]
pub struct OpStats {
    latency: Histogram,
    user_errors: Counter,
    system_errors: Counter,
    throttled: Counter,
    conditional_check_failed: Counter,
    transaction_conflicts: Counter,
    returned_items: Counter,
}

impl Default for OpStats {
    fn default() -> Self {
        OpStats {
            latency: Histogram::new(latency_buckets()),
            user_errors: Counter::default(),
            system_errors: Counter::default(),
            throttled: Counter::default(),
            conditional_check_failed: Counter::default(),
            transaction_conflicts: Counter::default(),
            returned_items: Counter::default(),
        }
    }
}

/// A table's request metrics: per operation (by its place in the API's operation table), and
/// the capacity its requests consumed. Cloning shares them; they are never stored, and any two
/// compare equal (they are not part of the table's definition).
#[derive(Clone, Debug)]
pub struct TableStats(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    ops: Box<[OnceLock<OpStats>]>,
    read_units: Units,
    write_units: Units,
}

impl Default for TableStats {
    fn default() -> Self {
        TableStats(Arc::new(Inner {
            ops: (0..crate::api::OPERATION_COUNT)
                .map(|_| OnceLock::new())
                .collect(),
            read_units: Units::default(),
            write_units: Units::default(),
        }))
    }
}

impl PartialEq for TableStats {
    fn eq(&self, _: &TableStats) -> bool {
        true
    }
}

impl TableStats {
    fn op(&self, index: usize) -> Option<&OpStats> {
        Some(self.0.ops.get(index)?.get_or_init(OpStats::default))
    }

    /// Records one request of operation `index`: its latency if it succeeded, else the kind of
    /// its failure, as CloudWatch counts them.
    pub fn record(&self, index: usize, elapsed: Duration, outcome: Result<(), &Error>) {
        let Some(op) = self.op(index) else {
            return;
        };
        let counter = match outcome {
            Ok(()) => {
                op.latency.observe(elapsed.as_secs_f64());
                return;
            }
            Err(Error::Throttled(_)) => &op.throttled,
            Err(Error::ConditionalCheckFailed { .. }) => &op.conditional_check_failed,
            Err(Error::TransactionConflict(_)) => &op.transaction_conflicts,
            Err(Error::TransactionCanceled { reasons }) if has_conflict(reasons) => {
                &op.transaction_conflicts
            }
            Err(Error::Internal(_)) => &op.system_errors,
            Err(_) => &op.user_errors,
        };
        counter.inc();
    }

    /// Items a Query or Scan (operation `index`) returned.
    pub fn returned(&self, index: usize, items: usize) {
        if let Some(op) = self.op(index) {
            op.returned_items.inc_by(items as u64);
        }
    }

    /// Capacity units consumed (reads, or writes).
    pub fn consumed(&self, write: bool, units: f64) {
        let counter = if write {
            &self.0.write_units
        } else {
            &self.0.read_units
        };
        counter.inc_by(units);
    }
}

fn has_conflict(reasons: &[serde_json::Value]) -> bool {
    reasons.iter().any(|r| r["Code"] == "TransactionConflict")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_count_where_cloudwatch_counts_them() {
        let stats = TableStats::default();
        stats.record(0, Duration::from_millis(2), Ok(()));
        stats.record(0, Duration::ZERO, Err(&Error::validation("bad")));
        stats.record(
            0,
            Duration::ZERO,
            Err(&Error::ConditionalCheckFailed { item: None }),
        );
        let conflict = serde_json::json!([{"Code": "None"}, {"Code": "TransactionConflict"}]);
        let reasons = conflict.as_array().unwrap().clone();
        stats.record(
            0,
            Duration::ZERO,
            Err(&Error::TransactionCanceled { reasons }),
        );
        stats.record(0, Duration::ZERO, Err(&Error::Internal("x".into())));
        let op = stats.op(0).unwrap();
        assert_eq!(op.user_errors.get(), 1);
        assert_eq!(op.conditional_check_failed.get(), 1);
        assert_eq!(op.transaction_conflicts.get(), 1);
        assert_eq!(op.system_errors.get(), 1);
        // Versions of a table share its counters.
        let shared = stats.clone();
        shared.consumed(true, 1.5);
        assert_eq!(stats.0.write_units.get(), 1.5);
        assert!(stats.op(usize::MAX).is_none());
    }
}
