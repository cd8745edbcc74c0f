//! Point-in-time recovery's change log. While PITR is on, every change to an item adds an entry
//! to the table's log, in the change's own batch: the item's key and its image before the change
//! (none where it did not exist). Entries are numbered by the stream sequencer, so they are in
//! commit order and each number tells its instant (`streams::seq_at`).
//!
//! The table as it was at T is the table now with every item changed since T put back to the
//! old image of its first change after T. A restore to T therefore copies a snapshot of the
//! table (fast, as a backup) and then puts back only the items changed since T; the log keeps
//! the recovery period and no more.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::catalog::{PitrSpec, TableMeta};
use super::items::Change;
use super::streams::{seq_at, Commit};
use super::Engine;
use crate::error::{Error, Result};
use crate::storage::codec::StoredItem;
use crate::storage::{keys, Cf, KeyRange};

const DAY: f64 = 86_400.0;
/// Bytes of an item key's table id, replaced when an image goes back into a restored table.
const TABLE_ID: usize = 4;

/// `log | sequence number`: one entry of a table's change log in `streams`.
fn entry_key(log: u32, seq: u64) -> Vec<u8> {
    let mut k = log.to_be_bytes().to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// An entry: the key's length, the item key, then the old image's bytes if there was one.
fn encode_entry(key: &[u8], old: Option<&[u8]>) -> Vec<u8> {
    let old = old.unwrap_or_default();
    let mut v = Vec::with_capacity(4 + key.len() + old.len());
    v.extend_from_slice(&(key.len() as u32).to_be_bytes());
    v.extend_from_slice(key);
    v.extend_from_slice(old);
    v
}

fn decode_entry(v: &[u8]) -> Result<(&[u8], Option<&[u8]>)> {
    let corrupt = || Error::Internal("corrupt change log entry".into());
    let len = v
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or_else(corrupt)? as usize;
    let key = v.get(4..4 + len).ok_or_else(corrupt)?;
    let old = &v[4 + len..];
    Ok((key, (!old.is_empty()).then_some(old)))
}

/// The first sequence number after instant `t`: a change numbered below it was made at or
/// before `t`. The clock counts milliseconds; the next one is computed as the clock computes
/// its readings, so a change made then numbers at least this.
fn first_seq_after(t: f64) -> u64 {
    let millis = (t * 1000.0 + 1e-4).floor();
    seq_at((millis + 1.0) / 1000.0)
}

/// A restore to a point in time: the instant, and the last sequence number the restore's
/// snapshot holds (set when the snapshot is taken).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PointInTime {
    pub time: f64,
    pub seq: u64,
}

impl Engine {
    /// Adds a change of `key` (whose image was `old`) to the table's log, if PITR is on.
    pub(super) fn log_change(
        &self,
        commit: &mut Commit,
        table: &TableMeta,
        key: &[u8],
        old: Option<&StoredItem>,
    ) {
        if let Some(pitr) = &table.pitr {
            commit.history.push((
                pitr.log.to_be_bytes().to_vec(),
                encode_entry(key, old.map(StoredItem::bytes)),
            ));
        }
    }

    /// UpdateContinuousBackups: turns PITR on (with a recovery period in days) or off. Turning it
    /// on starts a new log, with every item write stopped for the moment the table's definition
    /// changes, so no change is made after the start without being logged; turning it off
    /// deletes the log.
    pub fn set_pitr(
        self: &Arc<Self>,
        region: &str,
        name: &str,
        enabled: bool,
        period_days: Option<u32>,
    ) -> Result<Arc<TableMeta>> {
        let change = self.catalog.begin();
        let current = change
            .get(region, name)
            .ok_or_else(|| Error::TableNotFound(format!("Table not found: {name}")))?;
        let mut meta = (*current).clone();
        let mut batch = crate::storage::Batch::default();
        meta.pitr = match (&current.pitr, enabled) {
            (_, false) => None,
            (Some(on), true) => Some(PitrSpec {
                period_days: period_days.unwrap_or(on.period_days),
                ..on.clone()
            }),
            (None, true) => Some(PitrSpec {
                log: change.allocate_ids(&self.store, &mut batch, 1)?,
                enabled_at: 0.0,
                period_days: period_days.unwrap_or(35),
            }),
        };
        let starting = current.pitr.is_none() && enabled;
        let _writes = starting.then(|| self.locks.lock_every());
        if let Some(p) = meta.pitr.as_mut().filter(|_| starting) {
            p.enabled_at = self.clock.epoch_seconds();
        }
        let saved = change.save(&self.store, batch, meta)?;
        if let (Some(old), false) = (&current.pitr, enabled) {
            let (from, to) = keys::id_range(old.log);
            self.store.delete_range(Cf::Streams, &from, &to)?;
        }
        Ok(saved)
    }

    /// `[EarliestRestorableDateTime, LatestRestorableDateTime]` of a table with PITR on.
    pub fn restorable_window(&self, table: &TableMeta) -> Option<(f64, f64)> {
        let pitr = table.pitr.as_ref()?;
        let now = self.clock.epoch_seconds();
        let earliest = pitr.enabled_at.max(now - pitr.period_days as f64 * DAY);
        Some((earliest, now))
    }

    /// Deletes log entries older than their table's recovery period (not while a restore is
    /// reading the table's log).
    pub fn trim_history(&self) -> Result<()> {
        let tables = self.catalog.all();
        for table in &tables {
            let Some((earliest, _)) = self.restorable_window(table) else {
                continue;
            };
            let arn = table.arn();
            let read_by_restore = tables.iter().any(|t| {
                t.restore
                    .as_ref()
                    .is_some_and(|r| r.in_progress && r.source_table_arn == arn)
            });
            let log = table.pitr.as_ref().map_or(0, |p| p.log);
            if !read_by_restore
                && !self.store.is_empty(
                    Cf::Streams,
                    &entry_key(log, 0),
                    &entry_key(log, seq_at(earliest)),
                )?
            {
                self.store.delete_range(
                    Cf::Streams,
                    &entry_key(log, 0),
                    &entry_key(log, seq_at(earliest)),
                )?;
            }
        }
        Ok(())
    }

    /// Puts every item of `table` (restored from `source`'s snapshot at `point.seq`) that
    /// changed after `point.time` back to its image at that time.
    pub(super) fn put_back(
        &self,
        table: &TableMeta,
        source: &TableMeta,
        point: &PointInTime,
    ) -> Result<usize> {
        let log = source
            .pitr
            .as_ref()
            .ok_or_else(|| Error::Internal("restore from a table without a change log".into()))?
            .log;
        let range = KeyRange {
            cf: Cf::Streams,
            lower: entry_key(log, first_seq_after(point.time)),
            upper: entry_key(log, point.seq.saturating_add(1)),
            reverse: false,
        };
        // Per item (its key after the table id), the image before its first change after T.
        let mut images: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        for entry in self.store.range(&range)? {
            let (_, value) = entry?;
            let (key, old) = decode_entry(&value)?;
            let suffix = key.get(TABLE_ID..).unwrap_or_default().to_vec();
            images
                .entry(suffix)
                .or_insert_with(|| old.map(<[u8]>::to_vec));
        }
        let count = images.len();
        for (suffix, image) in images {
            let mut key = table.id.to_be_bytes().to_vec();
            key.extend_from_slice(&suffix);
            let change = match image {
                Some(bytes) => {
                    let stored = StoredItem::new(bytes);
                    Change::Put(stored.decode()?, stored.size()?)
                }
                None => Change::Delete,
            };
            let _guard = self.locks.lock(&key);
            let staged = self.stage(table, &key, change, None)?;
            let mut commit = Commit::default();
            self.apply(&mut commit, table, &key, staged)?;
            self.write_commit(commit)?;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let e = encode_entry(b"\0\0\0\x07key", Some(b"image"));
        assert_eq!(
            decode_entry(&e).unwrap(),
            (&b"\0\0\0\x07key"[..], Some(&b"image"[..]))
        );
        let none = encode_entry(b"k", None);
        assert_eq!(decode_entry(&none).unwrap(), (&b"k"[..], None));
        assert!(decode_entry(&none[..3]).is_err());
        assert!(decode_entry(&none[..4]).is_err());
    }

    #[test]
    fn a_change_at_an_instant_is_before_the_next_millisecond() {
        // Readings as the clock makes them: whole milliseconds over 1000.
        for ms in [1_700_000_000_123u64, 1_764_936_000_001, 1_764_936_999_999] {
            let t = ms as f64 / 1000.0;
            let next = (ms + 1) as f64 / 1000.0;
            assert!(seq_at(t) < first_seq_after(t));
            assert_eq!(first_seq_after(t), seq_at(next));
            // Within the millisecond: still at or before it.
            assert_eq!(first_seq_after(t + 0.0004), first_seq_after(t));
        }
    }
}
