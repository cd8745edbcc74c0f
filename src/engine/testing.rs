//! Engines and tables for unit tests.

use std::sync::Arc;

use serde_json::json;

use super::catalog::{TableMeta, Throughput};
use super::{Engine, EngineConfig};
use crate::clock::{Clock, SystemClock};

/// A table (p S, c N) with one LSI on `l`, in an in-memory engine whose item collections
/// may hold at most `limit` bytes.
pub fn engine_with_lsi(limit: u64) -> (Arc<Engine>, Arc<TableMeta>) {
    let engine = engine(Arc::new(SystemClock), limit);
    let key =
        |h: &str, r: &str| json!({"hash": {"name": h, "ty": "S"}, "range": {"name": r, "ty": "N"}});
    let meta: TableMeta = serde_json::from_value(json!({
        "id": 0, "name": "t", "region": "r", "account": "a", "uuid": "", "created": 0.0,
        "key_schema": key("p", "c"),
        "attribute_definitions": [["p", "S"], ["c", "N"], ["l", "N"]],
        "billing_mode": "PAY_PER_REQUEST", "billing_mode_given": true,
        "last_update_to_pay_per_request": null, "throughput": Throughput::default(),
        "on_demand": null, "global_indexes": [], "stream": null, "sse": null,
        "table_class": null, "deletion_protection": false, "tags": {},
        "local_indexes": [{"id": 0, "name": "lsi", "key_schema": key("p", "l"),
            "projection": {"kind": "ALL", "non_key_attributes": []},
            "throughput": null, "on_demand": null}],
    }))
    .unwrap();
    let meta = engine.create_table(meta).unwrap();
    (engine, meta)
}

/// An in-memory engine on `clock`, with DynamoDB's stream shard and retention times.
pub fn engine(clock: Arc<dyn Clock>, collection_limit: u64) -> Arc<Engine> {
    engine_with_streams(clock, collection_limit, (4.0 * 3600.0, 86400.0))
}

/// An in-memory engine with the given stream shard lifetime and retention (seconds).
pub fn engine_with_streams(
    clock: Arc<dyn Clock>,
    collection_limit: u64,
    (stream_shard_seconds, stream_retention_seconds): (f64, f64),
) -> Arc<Engine> {
    let config = EngineConfig {
        data_dir: None,
        sync: false,
        memory: crate::storage::MemoryBudget::of_mb(crate::storage::budget::MIN_MB),
        max_tables_per_region: 10,
        item_collection_limit: collection_limit,
        stream_shard_seconds,
        stream_retention_seconds,
        throttle: Default::default(),
        s3_dir: None,
    };
    Arc::new(Engine::open(&config, clock).unwrap())
}

/// A table keyed by `p` (S) alone, with a stream of `view` if given.
pub fn simple_table(engine: &Engine, view: Option<&str>) -> Arc<TableMeta> {
    let stream = view.map(|v| json!({"enabled": true, "view_type": v, "label": "l"}));
    let meta: TableMeta = serde_json::from_value(json!({
        "id": 0, "name": "s", "region": "r", "account": "a", "uuid": "", "created": 0.0,
        "key_schema": {"hash": {"name": "p", "ty": "S"}, "range": null},
        "attribute_definitions": [["p", "S"]],
        "billing_mode": "PAY_PER_REQUEST", "billing_mode_given": true,
        "last_update_to_pay_per_request": null, "throughput": Throughput::default(),
        "on_demand": null, "global_indexes": [], "local_indexes": [], "stream": stream,
        "sse": null, "table_class": null, "deletion_protection": false, "tags": {},
    }))
    .unwrap();
    engine.create_table(meta).unwrap()
}
