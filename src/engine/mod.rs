//! The engine: the catalog of tables and the item read/write paths over storage. Everything
//! here is synchronous and fast; the server calls it straight from its request tasks.

mod backfill;
pub mod backups;
pub mod catalog;
pub mod history;
pub mod indexes;
pub mod items;
mod locks;
pub mod read;
pub mod records;
pub mod streams;
#[cfg(test)]
pub(crate) mod testing;
pub mod throttle;
pub mod transact;
pub mod ttl;

use std::path::PathBuf;
use std::sync::Arc;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::storage::{decode_counter, keys, Batch, Cf, Store};
use catalog::{collection_key, counter_key, Catalog, TableMeta};
use locks::LockStripes;

pub struct EngineConfig {
    /// `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    pub sync: bool,
    /// The memory that grows with the data: caches and memtables.
    pub memory: crate::storage::MemoryBudget,
    pub max_tables_per_region: usize,
    /// Largest item collection of a table with LSIs (DynamoDB: 10 GB).
    pub item_collection_limit: u64,
    /// How long a stream shard stays open before the next one starts (DynamoDB: ~4 hours).
    pub stream_shard_seconds: f64,
    /// How long stream records are kept (DynamoDB: 24 hours).
    pub stream_retention_seconds: f64,
    pub throttle: throttle::ThrottleConfig,
    /// The folder standing in for S3 (exports and imports), one subfolder per bucket.
    pub s3_dir: Option<PathBuf>,
}

/// DynamoDB's item collection size limit.
pub const ITEM_COLLECTION_LIMIT: u64 = 10 << 30;

pub struct Engine {
    store: Store,
    catalog: Catalog,
    locks: LockStripes,
    pub clock: Arc<dyn Clock>,
    max_tables: usize,
    item_collection_limit: u64,
    held: transact::Held,
    sequencer: streams::Sequencer,
    stream_shard_seconds: f64,
    stream_retention_seconds: f64,
    trimmed: streams::Trimmed,
    /// Counts commits that carried stream records: stream consumers wait on it.
    stream_commits: tokio::sync::watch::Sender<u64>,
    throttle: throttle::Throttle,
    s3_dir: Option<PathBuf>,
    /// Metrics of the requests that name no table (ListTables, batches, transactions, ...).
    pub request_stats: crate::metrics::TableStats,
}

/// Item count and total item size of a table or index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub items: i64,
    pub bytes: i64,
}

impl Engine {
    pub fn open(config: &EngineConfig, clock: Arc<dyn Clock>) -> Result<Engine> {
        let store = Store::open(config.data_dir.as_deref(), config.sync, config.memory)?;
        let catalog = Catalog::load(&store)?;
        Ok(Engine {
            store,
            catalog,
            locks: LockStripes::default(),
            clock,
            max_tables: config.max_tables_per_region,
            item_collection_limit: config.item_collection_limit,
            held: transact::Held::default(),
            sequencer: streams::Sequencer::default(),
            stream_shard_seconds: config.stream_shard_seconds,
            stream_retention_seconds: config.stream_retention_seconds,
            trimmed: Default::default(),
            stream_commits: tokio::sync::watch::channel(0).0,
            throttle: throttle::Throttle::new(config.throttle.clone()),
            s3_dir: config.s3_dir.clone(),
            request_stats: Default::default(),
        })
    }

    pub fn table(&self, region: &str, name: &str) -> Option<Arc<TableMeta>> {
        self.catalog.get(region, name)
    }

    pub fn s3_dir(&self) -> Option<&std::path::Path> {
        self.s3_dir.as_deref()
    }

    /// Every table of every region.
    pub fn all_tables(&self) -> Vec<Arc<TableMeta>> {
        self.catalog.all()
    }

    pub fn table_names(&self, region: &str) -> Vec<String> {
        self.catalog.names(region)
    }

    pub fn usage(&self, id: u32) -> Result<Usage> {
        let (items, bytes) = self
            .store
            .get(Cf::Meta, &counter_key(id))?
            .map(|v| decode_counter(&v))
            .unwrap_or((0, 0));
        Ok(Usage { items, bytes })
    }

    /// Creates a table from a validated definition; assigns its ids and creation time.
    pub fn create_table(&self, mut meta: TableMeta) -> Result<Arc<TableMeta>> {
        let change = self.catalog.begin();
        if change.get(&meta.region, &meta.name).is_some() {
            return Err(Error::ResourceInUse(format!(
                "Table already exists: {}",
                meta.name
            )));
        }
        if change.count(&meta.region) >= self.max_tables {
            return Err(Error::LimitExceeded(format!(
                "Subscriber limit exceeded: Number of tables in this region exceeds the limit of {}",
                self.max_tables
            )));
        }
        let mut batch = Batch::default();
        let index_count = (meta.local_indexes.len() + meta.global_indexes.len()) as u32;
        let stream = meta.stream.as_ref().is_some_and(|s| s.enabled) as u32;
        let first = change.allocate_ids(&self.store, &mut batch, 1 + index_count + stream)?;
        meta.id = first;
        for (i, index) in meta
            .local_indexes
            .iter_mut()
            .chain(meta.global_indexes.iter_mut())
            .enumerate()
        {
            index.id = first + 1 + i as u32;
        }
        meta.uuid = uuid::Uuid::new_v4().to_string();
        meta.created = self.clock.epoch_seconds();
        if let Some(stream) = meta.stream.as_mut().filter(|s| s.enabled) {
            stream.id = first + 1 + index_count;
            stream.created = meta.created;
        }
        change.save(&self.store, batch, meta)
    }

    /// Applies `edit` to a table's definition under the catalog lock and saves it. Indexes the
    /// edit adds (id 0) get ids and are backfilled in the background; indexes it drops lose
    /// their data.
    pub fn update_table(
        self: &Arc<Self>,
        region: &str,
        name: &str,
        edit: impl FnOnce(&mut TableMeta) -> Result<()>,
    ) -> Result<Arc<TableMeta>> {
        let change = self.catalog.begin();
        let current = change
            .get(region, name)
            .ok_or_else(|| table_not_found(name))?;
        let mut meta = (*current).clone();
        edit(&mut meta)?;
        let mut batch = Batch::default();
        if let Some(stream) = meta.stream.as_mut().filter(|s| s.enabled && s.id == 0) {
            stream.id = change.allocate_ids(&self.store, &mut batch, 1)?;
            stream.created = self.clock.epoch_seconds();
        }
        let fresh = meta.global_indexes.iter().filter(|i| i.id == 0).count() as u32;
        if fresh > 0 {
            let first = change.allocate_ids(&self.store, &mut batch, fresh)?;
            let fresh = meta.global_indexes.iter_mut().filter(|i| i.id == 0);
            for (id, index) in (first..).zip(fresh) {
                index.id = id;
                index.backfilling = true;
            }
        }
        let dropped: Vec<u32> = current
            .indexes()
            .filter(|old| !meta.indexes().any(|i| i.id == old.id))
            .map(|i| i.id)
            .collect();
        for id in &dropped {
            self.store.delete(&mut batch, Cf::Meta, &counter_key(*id))?;
        }
        let started: Vec<u32> = meta
            .global_indexes
            .iter()
            .filter(|i| i.backfilling && !current.indexes().any(|old| old.id == i.id))
            .map(|i| i.id)
            .collect();
        let ttl_started = meta.ttl.as_ref().is_some_and(|t| t.backfilling)
            && current.ttl.as_ref().is_none_or(|t| !t.backfilling);
        let saved = change.save(&self.store, batch, meta)?;
        if ttl_started {
            self.start_ttl_backfill(&saved);
        }
        for id in dropped {
            let (from, to) = keys::id_range(id);
            self.store.delete_range(Cf::Indexes, &from, &to)?;
        }
        for id in started {
            self.start_backfill(&saved, id);
        }
        Ok(saved)
    }

    /// Deletes a table and, with one range tombstone per id, all its data.
    pub fn delete_table(
        &self,
        region: &str,
        name: &str,
        check: impl FnOnce(&TableMeta) -> Result<()>,
    ) -> Result<Arc<TableMeta>> {
        let change = self.catalog.begin();
        let meta = change
            .get(region, name)
            .ok_or_else(|| table_not_found(name))?;
        check(&meta)?;
        // A point-in-time restore reads the table's change log until it ends.
        let arn = meta.arn();
        let read = self.catalog.all().into_iter().any(|t| {
            t.restore
                .as_ref()
                .is_some_and(|r| r.in_progress && r.point_in_time && r.source_table_arn == arn)
        });
        if read {
            return Err(Error::ResourceInUse(format!(
                "Table is the source of a point-in-time restore in progress: {name}"
            )));
        }
        change.remove(&self.store, &meta)?;
        let (from, to) = keys::id_range(meta.id);
        self.store.delete_range(Cf::Items, &from, &to)?;
        for index in meta.indexes() {
            let (from, to) = keys::id_range(index.id);
            self.store.delete_range(Cf::Indexes, &from, &to)?;
        }
        if !meta.local_indexes.is_empty() {
            self.store
                .delete_range(Cf::Meta, &collection_key(&from), &collection_key(&to))?;
        }
        if let Some(pitr) = &meta.pitr {
            let (from, to) = keys::id_range(pitr.log);
            self.store.delete_range(Cf::Streams, &from, &to)?;
        }
        for stream in meta.stream.iter().chain(&meta.past_streams) {
            if stream.id != 0 {
                let (from, to) = keys::id_range(stream.id);
                self.store.delete_range(Cf::Streams, &from, &to)?;
            }
        }
        Ok(meta)
    }

    /// A RocksDB integer property summed over the column families (0 if unknown).
    pub fn storage_property(&self, name: &str) -> u64 {
        self.store.property(name)
    }

    /// The storage's cache and stall figures.
    pub fn storage_stats(&self) -> crate::storage::StoreStats {
        self.store.stats()
    }

    pub fn flush(&self) -> Result<()> {
        self.store.flush()
    }

    /// Resolves once everything written so far survives a crash (see `Store::durable`).
    pub async fn durable(&self) -> Result<()> {
        self.store.durable().await
    }

    /// Counts a request as under way while the guard lives.
    pub fn underway(&self) -> crate::storage::Underway<'_> {
        self.store.underway()
    }
}

/// The not-found error of the table-level operations (item operations use a shorter one).
pub fn table_not_found(name: &str) -> Error {
    Error::ResourceNotFound(format!(
        "Requested resource not found: Table: {name} not found"
    ))
}
