//! Whole key ranges copied as sorted table files: the ranges are read as of one instant (a
//! snapshot), their keys given a new prefix, written in order to a file and ingested into the
//! destination column family. Backups and restores move tables this way, without the memtable,
//! the log, or a write per item, and without stopping writes to the source.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use rocksdb::{
    DBCompressionType, IngestExternalFileOptions, IteratorMode, Options, ReadOptions,
    SnapshotWithThreadMode, SstFileWriter, DB,
};

use super::{Cf, Store};
use crate::error::Result;

/// The store as of one instant.
pub struct Snapshot<'a> {
    inner: SnapshotWithThreadMode<'a, DB>,
    store: &'a Store,
}

impl Snapshot<'_> {
    pub fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.inner.get_cf(self.store.cf(cf)?, key)?)
    }

    /// Visits the entries of `[lower, upper)` in key order, without filling the block cache (a
    /// one-off sequential read).
    pub fn for_each(
        &self,
        cf: Cf,
        lower: Vec<u8>,
        upper: Vec<u8>,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut read = ReadOptions::default();
        read.set_snapshot(&self.inner);
        read.set_iterate_lower_bound(lower);
        read.set_iterate_upper_bound(upper);
        read.fill_cache(false);
        let cf = self.store.cf(cf)?;
        for entry in self.store.db.iterator_cf_opt(cf, read, IteratorMode::Start) {
            let (k, v) = entry?;
            visit(&k, &v)?;
        }
        Ok(())
    }
}

/// One range to copy: the entries of `[lower, upper)` of `from`, each key's first `strip`
/// bytes replaced by `prefix`.
pub struct RangeCopy {
    pub from: Cf,
    pub lower: Vec<u8>,
    pub upper: Vec<u8>,
    pub strip: usize,
    pub prefix: Vec<u8>,
}

/// What a copy wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Copied {
    pub entries: u64,
    /// Keys and values, as written.
    pub bytes: u64,
}

impl Store {
    pub fn snapshot(&self) -> Snapshot<'_> {
        Snapshot {
            inner: self.db.snapshot(),
            store: self,
        }
    }

    /// Copies `ranges` (read as of `at`, or now) into `to`. Their new keys must ascend in the
    /// order given, and must not exist in `to`: they are ingested as one file below everything
    /// written there.
    pub fn copy(&self, at: Option<&Snapshot>, ranges: &[RangeCopy], to: Cf) -> Result<Copied> {
        let mut options = Options::default();
        if let Some(env) = &self.env {
            options.set_env(env);
        }
        options.set_compression_type(DBCompressionType::Lz4);
        let path = self.staging_file();
        let mut writer = SstFileWriter::create(&options);
        let mut opened = false;
        let mut copied = Copied::default();
        let mut key = Vec::new();
        for range in ranges {
            let mut read = ReadOptions::default();
            if let Some(at) = at {
                read.set_snapshot(&at.inner);
            }
            read.set_iterate_lower_bound(range.lower.clone());
            read.set_iterate_upper_bound(range.upper.clone());
            // A one-off sequential read: it should not evict what requests use.
            read.fill_cache(false);
            let from = self.cf(range.from)?;
            for entry in self.db.iterator_cf_opt(from, read, IteratorMode::Start) {
                let (k, v) = entry?;
                key.clear();
                key.extend_from_slice(&range.prefix);
                key.extend_from_slice(k.get(range.strip..).unwrap_or_default());
                if !opened {
                    // Opened at the first entry: an empty file cannot be finished or ingested.
                    writer.open(&path)?;
                    opened = true;
                }
                writer.put(&key, &v)?;
                copied.entries += 1;
                copied.bytes += (key.len() + v.len()) as u64;
            }
        }
        if !opened {
            return Ok(copied);
        }
        writer.finish()?;
        let mut ingest = IngestExternalFileOptions::default();
        ingest.set_move_files(true);
        self.db
            .ingest_external_file_cf_opts(self.cf(to)?, &ingest, vec![&path])?;
        Ok(copied)
    }

    /// A fresh file name in the staging folder (emptied at every start).
    fn staging_file(&self) -> PathBuf {
        let n = self.staged.fetch_add(1, Ordering::Relaxed);
        self.staging
            .join(format!("{n}-{}.sst", uuid::Uuid::new_v4().simple()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Batch;

    fn put(store: &Store, cf: Cf, key: &[u8], value: &[u8]) {
        let mut batch = Batch::default();
        store.put(&mut batch, cf, key, value).unwrap();
        store.write(batch).unwrap();
    }

    fn all(store: &Store, cf: Cf) -> Vec<(Vec<u8>, Vec<u8>)> {
        store.scan_prefix(cf, b"").unwrap()
    }

    fn copies_as_of_the_snapshot(store: Store) {
        put(&store, Cf::Items, b"\x01a", b"1");
        put(&store, Cf::Items, b"\x01b", b"2");
        put(&store, Cf::Items, b"\x02c", b"other table");
        let snapshot = store.snapshot();
        put(&store, Cf::Items, b"\x01z", b"after the snapshot");
        let range = RangeCopy {
            from: Cf::Items,
            lower: b"\x01".to_vec(),
            upper: b"\x02".to_vec(),
            strip: 1,
            prefix: b"B7".to_vec(),
        };
        let copied = store.copy(Some(&snapshot), &[range], Cf::Backups).unwrap();
        assert_eq!(copied.entries, 2);
        assert_eq!(
            all(&store, Cf::Backups),
            vec![
                (b"B7a".to_vec(), b"1".to_vec()),
                (b"B7b".to_vec(), b"2".to_vec())
            ]
        );
        // Nothing to copy: nothing ingested.
        let empty = RangeCopy {
            from: Cf::Items,
            lower: b"\x09".to_vec(),
            upper: b"\x0a".to_vec(),
            strip: 1,
            prefix: b"X".to_vec(),
        };
        assert_eq!(
            store.copy(None, &[empty], Cf::Items).unwrap(),
            Copied::default()
        );
    }

    #[test]
    fn ranges_are_copied_as_of_one_instant_in_memory() {
        copies_as_of_the_snapshot(
            Store::open(None, false, crate::storage::MemoryBudget::of_mb(32)).unwrap(),
        );
    }

    #[test]
    fn ranges_are_copied_as_of_one_instant_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        copies_as_of_the_snapshot(
            Store::open(
                Some(dir.path()),
                false,
                crate::storage::MemoryBudget::of_mb(32),
            )
            .unwrap(),
        );
        // The staging folder keeps nothing once the files are ingested.
        let staged = std::fs::read_dir(dir.path().join("staging"))
            .unwrap()
            .count();
        assert_eq!(staged, 0);
    }
}
