//! RocksDB: the only module that names it. Column families, atomic write batches, range
//! deletes and prefix iteration; what the bytes mean lives in `keys` and `codec`.

pub mod backup;
pub mod budget;
pub mod codec;
pub mod copy;
mod durability;
mod item_cache;
pub mod keys;

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rocksdb::statistics::{StatsLevel, Ticker};
use rocksdb::{
    BlockBasedIndexType, BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor,
    DBCompressionType, DBPinnableSlice, DataBlockIndexType, Direction, Env, IteratorMode,
    MergeOperands, Options, ReadOptions, WriteBatch, WriteBufferManager, DB,
};

use crate::error::{Error, Result};
pub use budget::MemoryBudget;
use durability::{Durability, LogWriter};
pub use item_cache::CacheStats;
use item_cache::{ItemCache, Lookup};

/// The column families; their names are part of the on-disk format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cf {
    /// Catalog, id allocation, per-table counters.
    Meta,
    /// Items, keyed by `keys::item_key`.
    Items,
    /// Secondary index entries (projected items), keyed by `keys::index_key`.
    Indexes,
    /// Stream records, keyed by `stream_id | shard | sequence number`.
    Streams,
    /// The TTL expiry index, keyed by `expiry seconds | table_id | item key`.
    Expiry,
    /// On-demand backups' copies of tables, keyed by `backup_id | part | key`.
    Backups,
}

impl Cf {
    const ALL: [Cf; 6] = [
        Cf::Meta,
        Cf::Items,
        Cf::Indexes,
        Cf::Streams,
        Cf::Expiry,
        Cf::Backups,
    ];

    fn name(self) -> &'static str {
        match self {
            Cf::Meta => "meta",
            Cf::Items => "items",
            Cf::Indexes => "indexes",
            Cf::Streams => "streams",
            Cf::Expiry => "expiry",
            Cf::Backups => "backups",
        }
    }
}

/// One stored (key, value) pair as an iterator yields it.
pub type Entry = (Box<[u8]>, Box<[u8]>);

/// A key range `[lower, upper)` of one column family, read forwards or backwards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRange {
    pub cf: Cf,
    pub lower: Vec<u8>,
    pub upper: Vec<u8>,
    pub reverse: bool,
}

pub struct Store {
    db: Arc<DB>,
    /// What answers wait for (`durable`).
    log: Log,
    /// Requests under way (`Underway`).
    underway: AtomicUsize,
    /// False for `--in-memory`: nothing to flush, nothing to sync.
    persistent: bool,
    /// Recently read and written items (`Cf::Items` only).
    items: ItemCache,
    /// RocksDB's block cache, for its figures.
    block_cache: Cache,
    /// The options the database was opened with: they hold RocksDB's statistics.
    statistics: Options,
    /// The in-memory file system of an in-memory store.
    env: Option<Env>,
    /// Where files to ingest are written (`copy`).
    staging: PathBuf,
    staged: AtomicUsize,
}

/// The storage's running figures (`Store::stats`), for /metrics.
pub struct StoreStats {
    pub items: CacheStats,
    /// Bytes in RocksDB's block cache, the memtables' share included.
    pub block_cache_bytes: u64,
    /// Block cache lookups per kind of block (data, index, filter).
    pub block_cache: [BlockCacheLookups; 3],
    /// Microseconds writes waited because RocksDB slowed or stopped them.
    pub stall_micros: u64,
}

pub struct BlockCacheLookups {
    pub kind: &'static str,
    pub hits: u64,
    pub misses: u64,
}

/// A request under way: its answer may share a log write with others (`Store::underway`).
pub struct Underway<'a>(&'a AtomicUsize);

impl Drop for Underway<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How far an answer waits for the write-ahead log.
enum Log {
    /// `--in-memory`: nothing outlives the process anyway.
    Volatile,
    /// The default: until the log is written to the operating system.
    Written(LogWriter),
    /// `--sync`: until the log is on disk.
    Synced(Durability),
}

/// One atomic group of writes: everything a request changes commits together or not at all.
#[derive(Default)]
pub struct Batch {
    inner: WriteBatch,
    /// The items it writes, each once with its final value, for the cache.
    items: Vec<ItemWrite>,
}

/// An item's key and its value after the batch (`None`: deleted).
type ItemWrite = (Vec<u8>, Option<Arc<[u8]>>);

impl Batch {
    fn write_item(&mut self, key: &[u8], value: Option<&[u8]>) {
        let value = value.map(Arc::from);
        match self.items.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.items.push((key.to_vec(), value)),
        }
    }
}

/// A value read: pinned in RocksDB's memory, or shared with the item cache.
pub enum Value<'a> {
    Pinned(DBPinnableSlice<'a>),
    Cached(Arc<[u8]>),
}

impl Deref for Value<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Value::Pinned(slice) => slice,
            Value::Cached(bytes) => bytes,
        }
    }
}

/// Counters are pairs of little-endian i64s merged by addition, so every write can adjust its
/// table's item count and size in its own batch without a read-modify-write.
pub fn encode_counter(a: i64, b: i64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&a.to_le_bytes());
    out[8..].copy_from_slice(&b.to_le_bytes());
    out
}

pub fn decode_counter(bytes: &[u8]) -> (i64, i64) {
    let field = |r: std::ops::Range<usize>| {
        bytes
            .get(r)
            .and_then(|s| s.try_into().ok())
            .map(i64::from_le_bytes)
            .unwrap_or(0)
    };
    (field(0..8), field(8..16))
}

fn add_counters(_key: &[u8], existing: Option<&[u8]>, operands: &MergeOperands) -> Option<Vec<u8>> {
    let (mut a, mut b) = existing.map(decode_counter).unwrap_or((0, 0));
    for op in operands.iter() {
        let (da, db) = decode_counter(op);
        a += da;
        b += db;
    }
    Some(encode_counter(a, b).to_vec())
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, or a purely in-memory one. With `sync`,
    /// `durable` waits for the write-ahead log's fsync; without it the log still survives a
    /// process crash. `budget` bounds the memory that grows with the data.
    pub fn open(dir: Option<&Path>, sync: bool, budget: MemoryBudget) -> Result<Store> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_keep_log_file_num(2);
        opts.increase_parallelism(2);
        opts.set_max_background_jobs(2);
        opts.set_bytes_per_sync(1 << 20);
        // The log stays in RocksDB's buffer until `durable` writes it, so that requests
        // answered together share one `write` (or one fsync in durable mode).
        opts.set_manual_wal_flush(true);
        // Counters only (cache hits and misses, stall time): no timers or histograms on the
        // request path.
        opts.enable_statistics();
        opts.set_statistics_level(StatsLevel::ExceptHistogramOrTimers);
        let (path, env) = match dir {
            Some(d) => (d.to_path_buf(), None),
            None => {
                let env = Env::mem_env()?;
                opts.set_env(&env);
                (Path::new("/dynarock-in-memory").to_path_buf(), Some(env))
            }
        };
        // Files a crash left half-written are of no use: the copy they were for starts over.
        let staging = path.join("staging");
        if dir.is_some() {
            let _ = std::fs::remove_dir_all(&staging);
            std::fs::create_dir_all(&staging).map_err(|e| {
                Error::Internal(format!("cannot create {}: {e}", staging.display()))
            })?;
        }

        // RocksDB's lock-free cache (an LRU cache takes a shard mutex on every hit), sized
        // automatically per entry. The memtables are charged to it, so RocksDB's memory stays
        // within its part of the budget however large the tables grow.
        let cache = Cache::new_hyper_clock_cache(budget.block_cache, 0);
        let memtables = WriteBufferManager::new_write_buffer_manager_with_cache(
            budget.memtables,
            false,
            cache.clone(),
        );
        opts.set_write_buffer_manager(&memtables);
        // No row cache: RocksDB refuses DeleteRange with one, and table deletion and stream
        // trimming are range deletes.
        let descriptors = Cf::ALL.iter().map(|cf| {
            let mut cf_opts = Options::default();
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(&cache);
            // Index and filter blocks live in the cache, charged to the budget (in the table
            // readers' own memory they would grow with the data), at high priority; partitioned,
            // so only the parts reads touch are cached, under a small pinned top level.
            table.set_cache_index_and_filter_blocks(true);
            table.set_cache_index_and_filter_blocks_with_high_priority(true);
            table.set_pin_l0_filter_and_index_blocks_in_cache(true);
            table.set_index_type(BlockBasedIndexType::TwoLevelIndexSearch);
            table.set_partition_filters(true);
            table.set_pin_top_level_index_and_filter(true);
            // A hash index inside each data block turns the in-block binary search of a point
            // read into one probe.
            table.set_data_block_index_type(DataBlockIndexType::BinaryAndHash);
            match cf {
                Cf::Meta => {
                    cf_opts.set_merge_operator_associative("add_counters", add_counters);
                    // Every write merges into its table's counter. A small memtable bounds how
                    // many operands a counter read adds up; flushes fold them into one value.
                    cf_opts.set_write_buffer_size(4 << 20);
                }
                Cf::Streams | Cf::Expiry => cf_opts.set_write_buffer_size(budget.write_buffer()),
                Cf::Backups => {
                    cf_opts.set_write_buffer_size(budget.write_buffer());
                    cf_opts.set_compression_type(DBCompressionType::Lz4);
                }
                Cf::Items | Cf::Indexes => {
                    table.set_bloom_filter(10.0, false);
                    table.set_whole_key_filtering(true);
                    // The block hash index leads a point read to a restart point, from which
                    // it scans keys one by one: 4 per restart rather than 16 cuts that scan
                    // (about 1,600 instructions per read) for about 3% more data.
                    table.set_block_restart_interval(4);
                    cf_opts.set_compression_type(DBCompressionType::Lz4);
                    cf_opts.set_write_buffer_size(budget.write_buffer());
                }
            }
            cf_opts.set_block_based_table_factory(&table);
            ColumnFamilyDescriptor::new(cf.name(), cf_opts)
        });
        let db = DB::open_cf_descriptors(&opts, &path, descriptors).map_err(|e| {
            let text = e.to_string();
            if text.contains("lock") || text.contains("Resource temporarily unavailable") {
                Error::Internal(format!(
                    "the data directory {} is in use by another dynarock server ({text})",
                    path.display()
                ))
            } else {
                Error::Internal(format!(
                    "cannot open data directory {}: {text}",
                    path.display()
                ))
            }
        })?;
        let db = Arc::new(db);
        let log = if sync {
            let syncer = Durability::start(db.clone())
                .map_err(|e| Error::Internal(format!("cannot start the log syncer: {e}")))?;
            Log::Synced(syncer)
        } else if dir.is_some() {
            Log::Written(LogWriter::new(db.clone()))
        } else {
            Log::Volatile
        };
        Ok(Store {
            db,
            log,
            underway: AtomicUsize::new(0),
            persistent: dir.is_some(),
            items: ItemCache::new(budget.item_cache),
            block_cache: cache,
            statistics: opts,
            env,
            staging,
            staged: AtomicUsize::new(0),
        })
    }

    fn cf(&self, cf: Cf) -> Result<&ColumnFamily> {
        self.db
            .cf_handle(cf.name())
            .ok_or_else(|| Error::Internal(format!("missing column family {}", cf.name())))
    }

    /// A point read, from the item cache for items; otherwise the value stays pinned in
    /// RocksDB's memory (no copy) while borrowed.
    pub fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Value<'_>>> {
        thread_local! {
            // Default options, made once per thread: creating and freeing them (C++ heap) cost
            // ~230 instructions per cached point read, 2.4% of it.
            static DEFAULT_READ: ReadOptions = ReadOptions::default();
        }
        let miss = match cf {
            Cf::Items => match self.items.get(key) {
                Lookup::Hit(bytes) => return Ok(Some(Value::Cached(bytes))),
                Lookup::Miss(miss) => Some(miss),
            },
            _ => None,
        };
        let handle = self.cf(cf)?;
        let found = DEFAULT_READ.with(|opts| self.db.get_pinned_cf_opt(handle, key, opts))?;
        Ok(found.map(|slice| match miss {
            Some(miss) => {
                let bytes: Arc<[u8]> = Arc::from(&slice[..]);
                self.items.fill(miss, key, bytes.clone());
                Value::Cached(bytes)
            }
            None => Value::Pinned(slice),
        }))
    }

    /// Point reads of several keys from one consistent snapshot: a write batch committed
    /// meanwhile is seen entirely or not at all.
    pub fn get_snapshot(&self, reads: &[(Cf, &[u8])]) -> Result<Vec<Option<Vec<u8>>>> {
        let snapshot = self.db.snapshot();
        let mut out = Vec::with_capacity(reads.len());
        for (cf, key) in reads {
            let mut opts = ReadOptions::default();
            opts.set_snapshot(&snapshot);
            out.push(self.db.get_cf_opt(self.cf(*cf)?, key, &opts)?);
        }
        Ok(out)
    }

    /// Commits a batch. The engine serialises writes to one item (`ItemCache`'s premise).
    pub fn write(&self, batch: Batch) -> Result<()> {
        for (key, _) in &batch.items {
            self.items.begin(key);
        }
        let written = self.db.write(batch.inner);
        for (key, value) in batch.items {
            self.items.finish(&key, value.filter(|_| written.is_ok()));
        }
        Ok(written?)
    }

    /// Commits a batch and makes it survive a crash before returning: for background work that
    /// no request's answer waits for.
    pub fn write_durably(&self, batch: Batch) -> Result<()> {
        self.write(batch)?;
        if self.persistent {
            self.db.flush_wal(true)?;
        }
        Ok(())
    }

    /// Counts a request as under way until the guard drops.
    pub fn underway(&self) -> Underway<'_> {
        self.underway.fetch_add(1, Ordering::Relaxed);
        Underway(&self.underway)
    }

    /// Resolves once everything written so far survives a crash: of the machine in durable
    /// mode, of the process otherwise.
    pub async fn durable(&self) -> Result<()> {
        match &self.log {
            Log::Synced(durability) => durability.wait().await,
            Log::Written(writer) => writer.wait(self.underway.load(Ordering::Relaxed) > 1).await,
            Log::Volatile => Ok(()),
        }
    }

    /// Every (key, value) whose key starts with `prefix`, in key order.
    pub fn scan_prefix(&self, cf: Cf, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut opts = ReadOptions::default();
        let mut upper = prefix.to_vec();
        if increment(&mut upper) {
            opts.set_iterate_upper_bound(upper);
        }
        let iter = self.db.iterator_cf_opt(
            self.cf(cf)?,
            opts,
            IteratorMode::From(prefix, Direction::Forward),
        );
        let mut out = Vec::new();
        for entry in iter {
            let (k, v) = entry?;
            if !k.starts_with(prefix) {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// The entries of a key range in order (or reverse order), read lazily.
    pub fn range(&self, range: &KeyRange) -> Result<impl Iterator<Item = Result<Entry>> + '_> {
        let mut opts = ReadOptions::default();
        opts.set_iterate_lower_bound(range.lower.clone());
        opts.set_iterate_upper_bound(range.upper.clone());
        let mode = if range.reverse {
            IteratorMode::End
        } else {
            IteratorMode::Start
        };
        let iter = self.db.iterator_cf_opt(self.cf(range.cf)?, opts, mode);
        Ok(iter.map(|entry| entry.map_err(Error::from)))
    }

    /// Whether `[from, to)` holds no entry.
    pub fn is_empty(&self, cf: Cf, from: &[u8], to: &[u8]) -> Result<bool> {
        let range = KeyRange {
            cf,
            lower: from.to_vec(),
            upper: to.to_vec(),
            reverse: false,
        };
        Ok(self.range(&range)?.next().transpose()?.is_none())
    }

    /// Removes a whole key range in O(1) (a range tombstone), then hints RocksDB to reclaim
    /// the space in the background.
    pub fn delete_range(&self, cf: Cf, from: &[u8], to: &[u8]) -> Result<()> {
        let handle = self.cf(cf)?;
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(handle, from, to);
        self.db.write(batch)?;
        if cf == Cf::Items {
            self.items.clear();
        }
        // The compaction flushes and rewrites what the range overlaps: seconds for a large
        // table, which the request that deleted it does not wait for.
        let (db, from, to) = (self.db.clone(), from.to_vec(), to.to_vec());
        let spawned = std::thread::Builder::new()
            .name("compact-range".into())
            .spawn(move || {
                if let Some(handle) = db.cf_handle(cf.name()) {
                    db.compact_range_cf(handle, Some(&from), Some(&to));
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("space of a deleted range left to RocksDB's own compactions: {e}");
        }
        Ok(())
    }

    pub fn put(&self, batch: &mut Batch, cf: Cf, key: &[u8], value: &[u8]) -> Result<()> {
        batch.inner.put_cf(self.cf(cf)?, key, value);
        if cf == Cf::Items {
            batch.write_item(key, Some(value));
        }
        Ok(())
    }

    pub fn delete(&self, batch: &mut Batch, cf: Cf, key: &[u8]) -> Result<()> {
        batch.inner.delete_cf(self.cf(cf)?, key);
        if cf == Cf::Items {
            batch.write_item(key, None);
        }
        Ok(())
    }

    pub fn merge(&self, batch: &mut Batch, cf: Cf, key: &[u8], value: &[u8]) -> Result<()> {
        batch.inner.merge_cf(self.cf(cf)?, key, value);
        Ok(())
    }

    /// An integer property of RocksDB summed over the column families (0 where unknown).
    pub fn property(&self, name: &str) -> u64 {
        Cf::ALL
            .iter()
            .filter_map(|cf| self.cf(*cf).ok())
            .filter_map(|cf| self.db.property_int_value_cf(cf, name).ok().flatten())
            .sum()
    }

    /// The caches' figures and the time writes were stalled.
    pub fn stats(&self) -> StoreStats {
        let ticker = |t| self.statistics.get_ticker_count(t);
        StoreStats {
            items: self.items.stats(),
            block_cache_bytes: self.block_cache.get_usage() as u64,
            block_cache: [
                (
                    "data",
                    Ticker::BlockCacheDataHit,
                    Ticker::BlockCacheDataMiss,
                ),
                (
                    "index",
                    Ticker::BlockCacheIndexHit,
                    Ticker::BlockCacheIndexMiss,
                ),
                (
                    "filter",
                    Ticker::BlockCacheFilterHit,
                    Ticker::BlockCacheFilterMiss,
                ),
            ]
            .map(|(kind, hit, miss)| BlockCacheLookups {
                kind,
                hits: ticker(hit),
                misses: ticker(miss),
            }),
            stall_micros: ticker(Ticker::StallMicros),
        }
    }

    /// Makes everything written so far durable (shutdown).
    pub fn flush(&self) -> Result<()> {
        if !self.persistent {
            return Ok(());
        }
        self.db.flush_wal(true)?;
        for cf in Cf::ALL {
            self.db.flush_cf(self.cf(cf)?)?;
        }
        Ok(())
    }
}

/// Turns `key` into the smallest key greater than every key it prefixes; false if none exists.
pub fn increment(key: &mut Vec<u8>) -> bool {
    while let Some(last) = key.last_mut() {
        if *last < 0xFF {
            *last += 1;
            return true;
        }
        key.pop();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_merge_by_addition() {
        let store = Store::open(None, false, MemoryBudget::of_mb(budget::MIN_MB)).unwrap();
        for (a, b) in [(1, 100), (1, 50), (-1, -100)] {
            let mut batch = Batch::default();
            store
                .merge(&mut batch, Cf::Meta, b"c", &encode_counter(a, b))
                .unwrap();
            store.write(batch).unwrap();
        }
        let v = store.get(Cf::Meta, b"c").unwrap().unwrap();
        assert_eq!(decode_counter(&v), (1, 50));
    }

    #[test]
    fn prefix_scan_and_range_delete() {
        let store = Store::open(None, false, MemoryBudget::of_mb(budget::MIN_MB)).unwrap();
        let mut batch = Batch::default();
        for k in [&b"a\xff"[..], b"a\xff\x00", b"a\xff\xff", b"b", b"a"] {
            store.put(&mut batch, Cf::Items, k, b"v").unwrap();
        }
        store.write(batch).unwrap();
        let keys: Vec<_> = store
            .scan_prefix(Cf::Items, b"a\xff")
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            keys,
            vec![
                b"a\xff".to_vec(),
                b"a\xff\x00".to_vec(),
                b"a\xff\xff".to_vec()
            ]
        );
        store.delete_range(Cf::Items, b"a", b"b").unwrap();
        assert_eq!(store.scan_prefix(Cf::Items, b"").unwrap().len(), 1);
    }

    /// Point reads of items go through the cache: each must see the latest batch, whether the
    /// item was cached by a read, by a write, or dropped by a range delete.
    #[test]
    fn item_reads_see_every_committed_write() {
        let store = Store::open(None, false, MemoryBudget::of_mb(budget::MIN_MB)).unwrap();
        let read = |key: &[u8]| store.get(Cf::Items, key).unwrap().map(|v| v.to_vec());
        let write = |ops: &[(&[u8], Option<&[u8]>)]| {
            let mut batch = Batch::default();
            for (key, value) in ops {
                match value {
                    Some(v) => store.put(&mut batch, Cf::Items, key, v).unwrap(),
                    None => store.delete(&mut batch, Cf::Items, key).unwrap(),
                }
            }
            store.write(batch).unwrap();
        };
        write(&[(b"a", Some(b"1")), (b"b", Some(b"1"))]);
        assert_eq!(read(b"a").as_deref(), Some(&b"1"[..]));
        // The same key twice in a batch: the last write wins, in RocksDB and in the cache.
        write(&[(b"a", Some(b"2")), (b"a", Some(b"3")), (b"b", None)]);
        assert_eq!(read(b"a").as_deref(), Some(&b"3"[..]));
        assert_eq!(read(b"b"), None);
        write(&[(b"b", Some(b"4")), (b"b", None), (b"c", Some(b"5"))]);
        assert_eq!(read(b"b"), None);
        assert_eq!(read(b"c").as_deref(), Some(&b"5"[..]));
        store.delete_range(Cf::Items, b"a", b"d").unwrap();
        assert_eq!((read(b"a"), read(b"c")), (None, None));
    }

    #[test]
    fn concurrent_durable_writes_commit_whole_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store =
                Store::open(Some(dir.path()), true, MemoryBudget::of_mb(budget::MIN_MB)).unwrap();
            std::thread::scope(|s| {
                for writer in 0..8u8 {
                    let store = &store;
                    s.spawn(move || {
                        for n in 0..25u8 {
                            let mut batch = Batch::default();
                            store
                                .put(&mut batch, Cf::Items, &[writer, n], &[n])
                                .unwrap();
                            store
                                .merge(&mut batch, Cf::Meta, b"c", &encode_counter(1, 2))
                                .unwrap();
                            store.write(batch).unwrap();
                        }
                    });
                }
            });
        }
        let store =
            Store::open(Some(dir.path()), false, MemoryBudget::of_mb(budget::MIN_MB)).unwrap();
        assert_eq!(store.scan_prefix(Cf::Items, b"").unwrap().len(), 200);
        let counter = store.get(Cf::Meta, b"c").unwrap().unwrap();
        assert_eq!(decode_counter(&counter), (200, 400));
    }

    #[test]
    fn second_open_of_a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first =
            Store::open(Some(dir.path()), false, MemoryBudget::of_mb(budget::MIN_MB)).unwrap();
        let err = Store::open(Some(dir.path()), false, MemoryBudget::of_mb(budget::MIN_MB))
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("in use by another dynarock server"),
            "{err}"
        );
    }
}
