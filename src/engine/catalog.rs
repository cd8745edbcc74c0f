//! The catalog: every table's definition, persisted in the `meta` column family and cached in
//! memory as an immutable snapshot, so the request path finds a table without taking a lock.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::capacity::bucket::Buckets;
use crate::error::{Error, Result};
use crate::model::schema::KeySchema;
use crate::model::ScalarType;
use crate::storage::{Batch, Cf, Store};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BillingMode {
    #[serde(rename = "PROVISIONED")]
    Provisioned,
    #[serde(rename = "PAY_PER_REQUEST")]
    PayPerRequest,
}

impl BillingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            BillingMode::Provisioned => "PROVISIONED",
            BillingMode::PayPerRequest => "PAY_PER_REQUEST",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub read: i64,
    pub write: i64,
    pub last_increase: Option<f64>,
    pub last_decrease: Option<f64>,
    pub decreases_today: i64,
}

/// DynamoDB allows 4 decreases of a table's throughput at any time of a UTC day, then one an
/// hour.
const FREE_DECREASES: i64 = 4;
const DECREASE_INTERVAL: f64 = 3600.0;

impl Throughput {
    /// Decreases made on the UTC day of `now`.
    pub fn decreases_on_day_of(&self, now: f64) -> i64 {
        let day = |t: f64| (t / 86400.0).floor();
        match self.last_decrease {
            Some(at) if day(at) == day(now) => self.decreases_today,
            _ => 0,
        }
    }

    /// Records a decrease at `now`, or refuses it with DynamoDB's message when the day's
    /// allowance is spent.
    pub fn decrease(&mut self, now: f64) -> Result<()> {
        let today = self.decreases_on_day_of(now);
        if let Some(last) = self.last_decrease {
            if today >= FREE_DECREASES && now - last < DECREASE_INTERVAL {
                let when = |t: f64| {
                    jiff::Timestamp::from_millisecond((t * 1000.0) as i64)
                        .map(|ts| {
                            ts.strftime("%A, %B %-d, %Y at %-I:%M:%S %p Coordinated Universal Time")
                                .to_string()
                        })
                        .unwrap_or_default()
                };
                return Err(Error::LimitExceeded(format!(
                    "Subscriber limit exceeded: Provisioned throughput decreases are limited within a given UTC day. After the first {FREE_DECREASES} decreases, each subsequent decrease in the same UTC day can be performed at most once every {} seconds. Number of decreases today: {today}. Last decrease at {}. Next decrease can be made at {}",
                    DECREASE_INTERVAL as i64,
                    when(last),
                    when(last + DECREASE_INTERVAL)
                )));
            }
        }
        self.last_decrease = Some(now);
        self.decreases_today = today + 1;
        Ok(())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnDemandThroughput {
    pub max_read: Option<i64>,
    pub max_write: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Projection {
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub kind: String,
    pub non_key_attributes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexMeta {
    pub id: u32,
    pub name: String,
    pub key_schema: KeySchema,
    pub projection: Projection,
    /// GSIs of provisioned tables have their own throughput.
    pub throughput: Option<Throughput>,
    pub on_demand: Option<OnDemandThroughput>,
    /// A GSI added by UpdateTable while existing items are still being indexed (CREATING).
    #[serde(default)]
    pub backfilling: bool,
    /// A GSI's own capacity buckets.
    #[serde(skip)]
    pub buckets: Buckets,
}

/// Point-in-time recovery: while it is on, every change's old image goes to the table's change
/// log (`engine::history`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PitrSpec {
    /// The change log's key prefix in `streams`.
    pub log: u32,
    pub enabled_at: f64,
    pub period_days: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamSpec {
    pub enabled: bool,
    pub view_type: Option<String>,
    /// ISO-8601 label of the current stream, set when it was enabled.
    pub label: Option<String>,
    /// The stream's id (its records' key prefix), allocated when it is enabled.
    #[serde(default)]
    pub id: u32,
    /// When it was enabled and (once disabled) when it was disabled, epoch seconds.
    #[serde(default)]
    pub created: f64,
    #[serde(default)]
    pub disabled_at: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SseSpec {
    pub sse_type: String,
    pub kms_key: Option<String>,
}

/// Everything DynamoDB knows about a table. Serialized into `meta`; fields only ever get
/// added with defaults, so older records keep loading.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableMeta {
    pub id: u32,
    pub name: String,
    pub region: String,
    pub account: String,
    pub uuid: String,
    pub created: f64,
    pub key_schema: KeySchema,
    /// Name and type of every attribute used in a key of the table or an index.
    pub attribute_definitions: Vec<(String, String)>,
    pub billing_mode: BillingMode,
    /// Whether `BillingMode` was ever given (DynamoDB describes the summary only then).
    pub billing_mode_given: bool,
    pub last_update_to_pay_per_request: Option<f64>,
    pub throughput: Throughput,
    pub on_demand: Option<OnDemandThroughput>,
    pub local_indexes: Vec<IndexMeta>,
    pub global_indexes: Vec<IndexMeta>,
    pub stream: Option<StreamSpec>,
    pub sse: Option<SseSpec>,
    pub table_class: Option<String>,
    pub deletion_protection: bool,
    pub tags: BTreeMap<String, String>,
    /// Disabled streams, still readable until their records age out.
    #[serde(default)]
    pub past_streams: Vec<StreamSpec>,
    /// Time to Live: the attribute holding each item's expiry (epoch seconds), when enabled.
    #[serde(default)]
    pub ttl: Option<TtlSpec>,
    /// Set on a table made by a restore.
    #[serde(default)]
    pub restore: Option<super::backups::RestoreSummary>,
    #[serde(default)]
    pub pitr: Option<PitrSpec>,
    /// The import filling the table, while it runs.
    #[serde(default)]
    pub importing: Option<String>,
    /// The table's capacity buckets (its LSIs share them).
    #[serde(skip)]
    pub buckets: Buckets,
    /// Request metrics (`crate::metrics`), shared by every version of the definition.
    #[serde(skip)]
    pub stats: crate::metrics::TableStats,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtlSpec {
    pub attribute: String,
    /// Items written before TTL was enabled are still being entered in the expiry index.
    pub backfilling: bool,
}

impl TableMeta {
    pub fn arn(&self) -> String {
        table_arn(&self.region, &self.account, &self.name)
    }

    /// The enabled stream, if any.
    pub fn active_stream(&self) -> Option<&StreamSpec> {
        self.stream.as_ref().filter(|s| s.enabled && s.id != 0)
    }

    pub fn stream_arn(&self, label: &str) -> String {
        format!("{}/stream/{label}", self.arn())
    }

    pub fn attribute_type(&self, name: &str) -> Option<ScalarType> {
        self.attribute_definitions
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, t)| ScalarType::parse(t))
    }
}

pub fn table_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:dynamodb:{region}:{account}:table/{name}")
}

/// Region → table name → definition. Looked up on every request, so hashed with Fx rather than
/// SipHash: the names come from clients that may create and delete tables anyway, and a region's
/// tables are capped (`--max-tables`).
type Tables = FxHashMap<String, FxHashMap<String, Arc<TableMeta>>>;

/// The in-memory catalog over its persisted form.
pub struct Catalog {
    tables: ArcSwap<Tables>,
    /// Serialises catalog changes (clone-on-write of the snapshot, id allocation).
    writer: Mutex<()>,
}

const NEXT_ID_KEY: &[u8] = b"next_id";
const TABLE_PREFIX: &[u8] = b"t\x00";
const COUNTER_PREFIX: &[u8] = b"c\x00";
const COLLECTION_PREFIX: &[u8] = b"i\x00";

fn table_record_key(region: &str, name: &str) -> Vec<u8> {
    let mut k = TABLE_PREFIX.to_vec();
    k.extend_from_slice(region.as_bytes());
    k.push(0);
    k.extend_from_slice(name.as_bytes());
    k
}

/// Key of the merged (item count, size in bytes) counter of a table or index.
pub fn counter_key(id: u32) -> Vec<u8> {
    let mut k = COUNTER_PREFIX.to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// Key of the size counter of one item collection (the items sharing a partition key, with
/// their LSI entries) of a table with local secondary indexes.
pub fn collection_key(partition_prefix: &[u8]) -> Vec<u8> {
    let mut k = COLLECTION_PREFIX.to_vec();
    k.extend_from_slice(partition_prefix);
    k
}

/// A catalog change in progress: holds the writer lock until committed or dropped.
pub struct CatalogChange<'a> {
    catalog: &'a Catalog,
    _guard: std::sync::MutexGuard<'a, ()>,
}

impl Catalog {
    pub fn load(store: &Store) -> Result<Catalog> {
        let mut tables = Tables::default();
        for (_, value) in store.scan_prefix(Cf::Meta, TABLE_PREFIX)? {
            let meta: TableMeta = serde_json::from_slice(&value)
                .map_err(|e| Error::Internal(format!("catalog record: {e}")))?;
            tables
                .entry(meta.region.clone())
                .or_default()
                .insert(meta.name.clone(), Arc::new(meta));
        }
        Ok(Catalog {
            tables: ArcSwap::from_pointee(tables),
            writer: Mutex::new(()),
        })
    }

    pub fn get(&self, region: &str, name: &str) -> Option<Arc<TableMeta>> {
        self.tables.load().get(region)?.get(name).cloned()
    }

    /// Every table of every region.
    pub fn all(&self) -> Vec<Arc<TableMeta>> {
        self.tables
            .load()
            .values()
            .flat_map(|r| r.values().cloned())
            .collect()
    }

    /// Table names of a region, sorted.
    pub fn names(&self, region: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .tables
            .load()
            .get(region)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    pub fn begin(&self) -> CatalogChange<'_> {
        CatalogChange {
            catalog: self,
            _guard: self.writer.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }
}

impl CatalogChange<'_> {
    pub fn get(&self, region: &str, name: &str) -> Option<Arc<TableMeta>> {
        self.catalog.get(region, name)
    }

    pub fn count(&self, region: &str) -> usize {
        self.catalog
            .tables
            .load()
            .get(region)
            .map_or(0, |t| t.len())
    }

    /// Allocates `n` fresh ids (never reused, so a re-created table never sees old data).
    pub fn allocate_ids(&self, store: &Store, batch: &mut Batch, n: u32) -> Result<u32> {
        let next = match store.get(Cf::Meta, NEXT_ID_KEY)? {
            Some(v) => u32::from_be_bytes(
                v[..]
                    .try_into()
                    .map_err(|_| Error::Internal("corrupt id counter".into()))?,
            ),
            None => 1,
        };
        let end = next
            .checked_add(n)
            .filter(|&e| e < u32::MAX)
            .ok_or_else(|| Error::Internal("table ids exhausted".into()))?;
        store.put(batch, Cf::Meta, NEXT_ID_KEY, &end.to_be_bytes())?;
        Ok(next)
    }

    /// Writes the table record into `batch`, commits it, and publishes the new snapshot.
    pub fn save(self, store: &Store, mut batch: Batch, meta: TableMeta) -> Result<Arc<TableMeta>> {
        let bytes = serde_json::to_vec(&meta).map_err(|e| Error::Internal(e.to_string()))?;
        store.put(
            &mut batch,
            Cf::Meta,
            &table_record_key(&meta.region, &meta.name),
            &bytes,
        )?;
        store.write(batch)?;
        let meta = Arc::new(meta);
        let mut tables = (**self.catalog.tables.load()).clone();
        tables
            .entry(meta.region.clone())
            .or_default()
            .insert(meta.name.clone(), meta.clone());
        self.catalog.tables.store(Arc::new(tables));
        Ok(meta)
    }

    /// Removes the table record (its data is range-deleted by the caller).
    pub fn remove(self, store: &Store, meta: &TableMeta) -> Result<()> {
        let mut batch = Batch::default();
        store.delete(
            &mut batch,
            Cf::Meta,
            &table_record_key(&meta.region, &meta.name),
        )?;
        for id in std::iter::once(meta.id).chain(
            meta.local_indexes
                .iter()
                .chain(&meta.global_indexes)
                .map(|i| i.id),
        ) {
            store.delete(&mut batch, Cf::Meta, &counter_key(id))?;
        }
        store.write(batch)?;
        let mut tables = (**self.catalog.tables.load()).clone();
        if let Some(region) = tables.get_mut(&meta.region) {
            region.remove(&meta.name);
        }
        self.catalog.tables.store(Arc::new(tables));
        Ok(())
    }
}
