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

/// Item images keyed by item key after the table id; `None` where there was no item.
type Images = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// An item changed in a time range: as stored at its start and end (none where there was no
/// item), and when it last changed in the range.
pub struct Changed {
    pub before: Option<Vec<u8>>,
    pub after: Option<Vec<u8>>,
    pub micros: u64,
    /// Whether `after` was read from the log (a change after the range).
    settled: bool,
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

    /// For every item of a table with PITR changed after `time` (up to the change numbered
    /// `last`), keyed by its item key after the table id: its image at `time` (none where it did
    /// not exist), the old image of its first change after `time`.
    fn images_at(&self, table: &TableMeta, time: f64, last: u64) -> Result<Images> {
        let mut images = Images::new();
        self.read_log(table, first_seq_after(time), last, |_, key, old| {
            images
                .entry(key.to_vec())
                .or_insert_with(|| old.map(<[u8]>::to_vec));
        })?;
        Ok(images)
    }

    /// Visits the log entries of a table with PITR numbered from `first` to `last` in order:
    /// `visit` gets the entry's number, the item key after the table id and the old image.
    fn read_log(
        &self,
        table: &TableMeta,
        first: u64,
        last: u64,
        mut visit: impl FnMut(u64, &[u8], Option<&[u8]>),
    ) -> Result<()> {
        let log = table
            .pitr
            .as_ref()
            .ok_or_else(|| Error::Internal("a table without a change log".into()))?
            .log;
        let range = KeyRange {
            cf: Cf::Streams,
            lower: entry_key(log, first),
            upper: entry_key(log, last.saturating_add(1)),
            reverse: false,
        };
        for entry in self.store.range(&range)? {
            let (k, value) = entry?;
            let seq = k
                .get(4..12)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or_default();
            let (key, old) = decode_entry(&value)?;
            visit(seq, key.get(TABLE_ID..).unwrap_or_default(), old);
        }
        Ok(())
    }

    /// The items of a table with PITR as they were at `time` (in the window), each as stored:
    /// read from a snapshot, with the items changed since put back. Returns how many.
    pub fn items_at(
        &self,
        table: &TableMeta,
        time: f64,
        mut visit: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<u64> {
        let (snapshot, last) = self.at_sequence(|seq| (self.store.snapshot(), seq));
        let images = self.images_at(table, time, last)?;
        let (lower, upper) = keys::id_range(table.id);
        let mut count = 0;
        snapshot.for_each(Cf::Items, lower, upper, |key, item| {
            if images.contains_key(key.get(TABLE_ID..).unwrap_or_default()) {
                return Ok(());
            }
            count += 1;
            visit(item)
        })?;
        for image in images.values().flatten() {
            count += 1;
            visit(image)?;
        }
        Ok(count)
    }

    /// The items of a table with PITR that changed in `(from, to]`: each one's images at
    /// `from` and `to` and the time of its last change, in microseconds.
    pub fn changes_between(&self, table: &TableMeta, from: f64, to: f64) -> Result<Vec<Changed>> {
        let (snapshot, last) = self.at_sequence(|seq| (self.store.snapshot(), seq));
        let end = first_seq_after(to);
        let mut changed: BTreeMap<Vec<u8>, Changed> = BTreeMap::new();
        self.read_log(table, first_seq_after(from), last, |seq, key, old| {
            let old = old.map(<[u8]>::to_vec);
            match changed.get_mut(key) {
                None if seq < end => {
                    changed.insert(
                        key.to_vec(),
                        Changed {
                            before: old,
                            after: None,
                            micros: seq / 1000,
                            settled: false,
                        },
                    );
                }
                None => {}
                Some(c) if c.settled => {}
                Some(c) if seq < end => c.micros = seq / 1000,
                // The first change after `to`: its old image is the item at `to`.
                Some(c) => {
                    c.after = old;
                    c.settled = true;
                }
            }
        })?;
        // Items not changed again after `to` are as they are in the snapshot.
        let mut key = table.id.to_be_bytes().to_vec();
        for (suffix, c) in changed.iter_mut().filter(|(_, c)| !c.settled) {
            key.truncate(TABLE_ID);
            key.extend_from_slice(suffix);
            c.after = snapshot.get(Cf::Items, &key)?;
        }
        Ok(changed
            .into_values()
            .filter(|c| c.before.is_some() || c.after.is_some())
            .collect())
    }

    /// Puts every item of `table` (restored from `source`'s snapshot at `point.seq`) that
    /// changed after `point.time` back to its image at that time.
    pub(super) fn put_back(
        &self,
        table: &TableMeta,
        source: &TableMeta,
        point: &PointInTime,
    ) -> Result<usize> {
        let images = self.images_at(source, point.time, point.seq)?;
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
            self.write_uncharged(table, &key, change)?;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::engine::testing::{engine, simple_table};
    use crate::model::item_from_json;
    use std::time::{Duration, UNIX_EPOCH};

    fn log_entries(engine: &Engine, table: &TableMeta) -> usize {
        let log = table.pitr.as_ref().unwrap().log;
        let (from, to) = keys::id_range(log);
        let range = KeyRange {
            cf: Cf::Streams,
            lower: from,
            upper: to,
            reverse: false,
        };
        engine.store.range(&range).unwrap().count()
    }

    #[test]
    fn the_log_keeps_the_recovery_period_and_no_more() {
        let clock = Arc::new(ManualClock::new(
            UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        ));
        let e = engine(clock.clone(), 1 << 30);
        simple_table(&e, None);
        let table = e.set_pitr("r", "s", true, Some(1)).unwrap();
        let put = |v: u32| {
            let item =
                item_from_json(&serde_json::json!({"p": {"S": "k"}, "v": {"N": v.to_string()}}));
            e.put_item(&table, item.unwrap(), None).unwrap();
        };
        put(1);
        put(2);
        assert_eq!(
            log_entries(&e, &table),
            2,
            "one entry per change, the first without an image"
        );
        clock.advance(Duration::from_secs(86_400 - 10));
        put(3);
        e.trim_history().unwrap();
        assert_eq!(log_entries(&e, &table), 3, "all within the day");
        clock.advance(Duration::from_secs(20));
        e.trim_history().unwrap();
        assert_eq!(log_entries(&e, &table), 1, "the first two are past the day");
        // Off: the log goes.
        e.set_pitr("r", "s", false, None).unwrap();
        assert_eq!(log_entries(&e, &table), 0);
    }

    #[test]
    fn a_table_being_restored_from_keeps_its_log_until_the_restore_ends() {
        let e = engine(Arc::new(crate::clock::SystemClock), 1 << 30);
        let source = simple_table(&e, None);
        let mut target = (*source).clone();
        target.name = "target".into();
        target.restore = Some(crate::engine::backups::RestoreSummary {
            backup_arn: "internal".into(),
            source_table_arn: source.arn(),
            date: 0.0,
            in_progress: true,
            point_in_time: true,
        });
        e.create_table(target).unwrap();
        let refused = e.delete_table("r", "s", |_| Ok(())).err().unwrap();
        assert!(matches!(refused, Error::ResourceInUse(_)), "{refused:?}");
        e.update_table("r", "target", |t| {
            t.restore.as_mut().unwrap().in_progress = false;
            Ok(())
        })
        .unwrap();
        assert!(e.delete_table("r", "s", |_| Ok(())).is_ok());
    }

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
