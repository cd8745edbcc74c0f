//! A scrape: every metric read as it is now and written in the OpenMetrics text format by the
//! `prometheus-client` crate.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::OpStats;
use crate::engine::Engine;
use crate::functions::Functions;
use crate::triggers::Triggers;

/// The scrape's text (`application/openmetrics-text`).
pub fn render(
    engine: &Arc<Engine>,
    functions: &Arc<Functions>,
    triggers: &Arc<Triggers>,
) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape {
        engine: engine.clone(),
        functions: functions.clone(),
        triggers: triggers.clone(),
    }));
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        tracing::error!(error = %e, "metrics encoding failed");
    }
    out
}

struct Scrape {
    engine: Arc<Engine>,
    functions: Arc<Functions>,
    triggers: Arc<Triggers>,
}

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scrape")
    }
}

/// A per-operation metric: its name, help, type, and where it is in `OpStats`.
type OpMetric = (
    &'static str,
    &'static str,
    MetricType,
    fn(&OpStats) -> &dyn EncodeMetric,
);

const OP_METRICS: &[OpMetric] = &[
    (
        "dynamodb_successful_request_latency_seconds",
        "SuccessfulRequestLatency: time to answer successful requests",
        MetricType::Histogram,
        |o| &o.latency,
    ),
    (
        "dynamodb_user_errors",
        "UserErrors: requests refused with a 400 other than the kinds counted apart",
        MetricType::Counter,
        |o| &o.user_errors,
    ),
    (
        "dynamodb_system_errors",
        "SystemErrors: requests that failed with a 500",
        MetricType::Counter,
        |o| &o.system_errors,
    ),
    (
        "dynamodb_throttled_requests",
        "ThrottledRequests: requests refused for capacity",
        MetricType::Counter,
        |o| &o.throttled,
    ),
    (
        "dynamodb_conditional_check_failed_requests",
        "ConditionalCheckFailedRequests: writes whose condition was false",
        MetricType::Counter,
        |o| &o.conditional_check_failed,
    ),
    (
        "dynamodb_transaction_conflict",
        "TransactionConflict: requests refused for a transaction under way on an item",
        MetricType::Counter,
        |o| &o.transaction_conflicts,
    ),
    (
        "dynamodb_returned_item_count",
        "ReturnedItemCount: items returned by Query and Scan",
        MetricType::Counter,
        |o| &o.returned_items,
    ),
];

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let tables = self.engine.all_tables();
        let names = crate::api::operation_names();
        for (name, help, kind, get) in OP_METRICS {
            let mut metric = encoder.encode_descriptor(name, help, None, *kind)?;
            let every = tables
                .iter()
                .map(|t| (t.name.as_str(), t.region.as_str(), &t.stats))
                .chain([("", "", &self.engine.request_stats)]);
            for (table, region, stats) in every {
                for (index, op) in stats.0.ops.iter().enumerate() {
                    let (Some(op), Some(operation)) = (op.get(), names.get(index)) else {
                        continue;
                    };
                    let labels = [
                        ("region", region),
                        ("table", table),
                        ("operation", operation),
                    ];
                    get(op).encode(metric.encode_family(&labels)?)?;
                }
            }
        }
        for (name, help, write) in [
            (
                "dynamodb_consumed_read_capacity_units",
                "ConsumedReadCapacityUnits: read units consumed by a table and its indexes",
                false,
            ),
            (
                "dynamodb_consumed_write_capacity_units",
                "ConsumedWriteCapacityUnits: write units consumed by a table and its indexes",
                true,
            ),
        ] {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for t in &tables {
                let units = if write {
                    &t.stats.0.write_units
                } else {
                    &t.stats.0.read_units
                };
                let labels = [("region", t.region.as_str()), ("table", t.name.as_str())];
                units.encode(metric.encode_family(&labels)?)?;
            }
        }
        let usage: Vec<_> = tables
            .iter()
            .map(|t| (t, self.engine.usage(t.id).unwrap_or_default()))
            .collect();
        for (name, help, bytes) in [
            ("dynamodb_item_count", "ItemCount: items in a table", false),
            (
                "dynamodb_table_size_bytes",
                "TableSizeBytes: bytes of a table's items",
                true,
            ),
        ] {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (t, u) in &usage {
                let labels = [("region", t.region.as_str()), ("table", t.name.as_str())];
                let value = if bytes { u.bytes } else { u.items };
                metric.encode_family(&labels)?.encode_gauge(&value)?;
            }
        }
        for (name, help, property) in [
            (
                "rocksdb_estimate_pending_compaction_bytes",
                "Bytes RocksDB estimates compaction has to rewrite",
                "rocksdb.estimate-pending-compaction-bytes",
            ),
            (
                "rocksdb_actual_delayed_write_rate",
                "Write rate RocksDB imposes while it stalls writes, bytes/s (0: no stall)",
                "rocksdb.actual-delayed-write-rate",
            ),
            (
                "rocksdb_is_write_stopped",
                "1 while RocksDB has stopped writes",
                "rocksdb.is-write-stopped",
            ),
        ] {
            let value = self.engine.storage_property(property);
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            metric.encode_gauge(&value)?;
        }
        let stats = self.engine.storage_stats();
        for (name, help, value) in [
            (
                "dynarock_item_cache_hits",
                "Item reads answered by the item cache",
                stats.items.hits,
            ),
            (
                "dynarock_item_cache_misses",
                "Item reads the item cache could not answer (they read RocksDB)",
                stats.items.misses,
            ),
        ] {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            metric
                .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(&value, None)?;
        }
        let mut metric = encoder.encode_descriptor(
            "rocksdb_stall_seconds",
            "Time writes waited because RocksDB slowed or stopped them",
            None,
            MetricType::Counter,
        )?;
        let stalled = stats.stall_micros as f64 / 1e6;
        metric.encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(&stalled, None)?;
        for (name, help, hits) in [
            (
                "rocksdb_block_cache_hits",
                "Block cache lookups that found the block, by kind of block",
                true,
            ),
            (
                "rocksdb_block_cache_misses",
                "Block cache lookups that read the block from its file, by kind of block",
                false,
            ),
        ] {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for lookups in &stats.block_cache {
                let value = if hits { lookups.hits } else { lookups.misses };
                metric
                    .encode_family(&[("kind", lookups.kind)])?
                    .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(
                        &value, None,
                    )?;
            }
        }
        for (name, help, value) in [
            (
                "dynarock_item_cache_bytes",
                "Bytes the item cache holds (keys, values and bookkeeping)",
                stats.items.bytes,
            ),
            (
                "rocksdb_block_cache_usage_bytes",
                "Bytes in RocksDB's block cache: data, index and filter blocks, and the memtables charged to it",
                stats.block_cache_bytes,
            ),
        ] {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            metric.encode_gauge(&(value as i64))?;
        }
        super::functions::encode(&self.functions, &mut encoder)?;
        let mut metric = encoder.encode_descriptor(
            "lambda_iterator_age_seconds",
            "IteratorAge: how old the newest record of a stream mapping's last batch was",
            None,
            MetricType::Gauge,
        )?;
        for m in self.triggers.all() {
            let age = self.triggers.stats(&m.uuid).iterator_age_milliseconds as f64 / 1000.0;
            let labels = [
                ("function_name", m.function_name.as_str()),
                ("uuid", m.uuid.as_str()),
            ];
            metric.encode_family(&labels)?.encode_gauge(&age)?;
        }
        Ok(())
    }
}
