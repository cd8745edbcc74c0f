//! DynamoDB Streams: one record per item change, written in the same batch as the change.
//!
//! Records live in the `streams` column family under `stream_id | shard | sequence number`.
//! Sequence numbers come from the clock (epoch microseconds x 1000, bumped past the last one),
//! so they increase across restarts, and a shard's range is known from its time window: shard
//! `n` of a stream covers `[created + n * interval, created + (n + 1) * interval)`. Sequence
//! numbers are assigned and the batch written under one lock, so a reader never sees a record
//! appear behind one it has already passed.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

use super::catalog::{StreamSpec, TableMeta};
use super::Engine;
use crate::error::Result;
use crate::model::{item_size, Item};
use crate::storage::{Batch, Cf, KeyRange};

/// A record waiting for its sequence number: its JSON up to the number's opening quote.
pub struct PendingRecord {
    key_prefix: Vec<u8>,
    head: Vec<u8>,
}

/// Values written into a record with serde_json.
mod erased {
    use crate::error::{Error, Result};

    pub trait Json {
        fn write(&self, out: &mut Vec<u8>) -> Result<()>;
    }

    impl<T: serde::Serialize> Json for T {
        fn write(&self, out: &mut Vec<u8>) -> Result<()> {
            serde_json::to_writer(out, self).map_err(|e| Error::Internal(e.to_string()))
        }
    }
}

/// Item writes with the stream records that go with them: committed together.
#[derive(Default)]
pub struct Commit {
    pub batch: Batch,
    pub records: Vec<PendingRecord>,
    /// The `userIdentity` of the records, for changes DynamoDB itself makes (TTL deletes).
    pub identity: Option<Value>,
    /// Change-log entries of tables with point-in-time recovery: key prefix and value; they
    /// take sequence numbers from the same source as stream records.
    pub history: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Per stream, the first shard not yet trimmed.
pub type Trimmed = Mutex<HashMap<u32, u32>>;

/// Stream records as stored (JSON), their sequence numbers, and the last one's.
pub struct RecordPage {
    pub records: Vec<Box<[u8]>>,
    pub seqs: Vec<u64>,
    pub last: Option<u64>,
}

/// The sequence number source; its lock also orders commits that carry records.
#[derive(Default)]
pub struct Sequencer {
    last: Mutex<u64>,
}

/// `stream_id | shard`: the prefix of one shard's records.
pub fn shard_prefix(stream_id: u32, shard: u32) -> Vec<u8> {
    let mut k = stream_id.to_be_bytes().to_vec();
    k.extend_from_slice(&shard.to_be_bytes());
    k
}

pub fn record_key(stream_id: u32, shard: u32, seq: u64) -> Vec<u8> {
    let mut k = shard_prefix(stream_id, shard);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The sequence number of an instant: the floor of every number assigned from then on.
pub fn seq_at(epoch_seconds: f64) -> u64 {
    (epoch_seconds.max(0.0) * 1e6) as u64 * 1000
}

/// DynamoDB's form of a sequence number: a decimal string (fixed width keeps them sortable).
pub fn seq_text(seq: u64) -> String {
    format!("{seq:021}")
}

impl Engine {
    /// The shard a record written now goes to.
    pub fn current_shard(&self, stream: &StreamSpec) -> u32 {
        let end = stream
            .disabled_at
            .unwrap_or_else(|| self.clock.epoch_seconds());
        ((end - stream.created).max(0.0) / self.stream_shard_seconds) as u32
    }

    /// The oldest shard still kept: shards whose window ended more than the retention period
    /// ago are trimmed.
    pub fn first_kept_shard(&self, stream: &StreamSpec) -> u32 {
        let cutoff = self.clock.epoch_seconds() - self.stream_retention_seconds;
        let current = self.current_shard(stream);
        // A disabled stream's last shard closed when it was disabled: it ages out from then.
        if stream.disabled_at.is_some_and(|d| d <= cutoff) {
            return current + 1;
        }
        let x = (cutoff - stream.created) / self.stream_shard_seconds;
        if x <= 0.0 {
            0
        } else {
            (x.floor() as u32).min(current)
        }
    }

    /// Whether any of a stream's records are still kept (a disabled stream ages out).
    pub fn stream_visible(&self, stream: &StreamSpec) -> bool {
        self.first_kept_shard(stream) <= self.current_shard(stream)
    }

    /// Deletes the records of shards past retention (one range tombstone per stream and
    /// trimming step).
    pub fn trim_streams(&self) -> Result<()> {
        let mut trimmed = self.trimmed.lock().unwrap_or_else(|p| p.into_inner());
        for table in self.catalog.all() {
            for stream in table.stream.iter().chain(&table.past_streams) {
                if stream.id == 0 {
                    continue;
                }
                let keep = self.first_kept_shard(stream);
                let done = trimmed.get(&stream.id).copied().unwrap_or(0);
                if keep > done {
                    self.store.delete_range(
                        Cf::Streams,
                        &shard_prefix(stream.id, 0),
                        &shard_prefix(stream.id, keep),
                    )?;
                    trimmed.insert(stream.id, keep);
                }
            }
        }
        Ok(())
    }

    /// The `[start, end)` time window of a shard; the open shard has no end yet.
    pub fn shard_window(&self, stream: &StreamSpec, shard: u32) -> (f64, Option<f64>) {
        let start = stream.created + shard as f64 * self.stream_shard_seconds;
        if shard < self.current_shard(stream) {
            (start, Some(start + self.stream_shard_seconds))
        } else {
            (start, stream.disabled_at)
        }
    }

    /// Queues the stream record of one item change (none for a table without an enabled
    /// stream, or a change that changes nothing). The record is serialised here, up to its
    /// sequence number, straight from the items.
    pub(super) fn record_change(
        &self,
        commit: &mut Commit,
        table: &TableMeta,
        old: Option<&Item>,
        new: Option<&Item>,
    ) -> Result<()> {
        let Some(stream) = table.active_stream() else {
            return Ok(());
        };
        let event = match (old, new) {
            (None, Some(_)) => "INSERT",
            (Some(o), Some(n)) if o != n => "MODIFY",
            (Some(_), None) => "REMOVE",
            _ => return Ok(()),
        };
        let Some(any) = new.or(old) else {
            return Ok(());
        };
        let view = stream.view_type.as_deref().unwrap_or("KEYS_ONLY");
        let new_image = new.filter(|_| matches!(view, "NEW_IMAGE" | "NEW_AND_OLD_IMAGES"));
        let old_image = old.filter(|_| matches!(view, "OLD_IMAGE" | "NEW_AND_OLD_IMAGES"));
        let keys = table.key_schema.key_item(any);
        let size =
            item_size(&keys) + new_image.map_or(0, item_size) + old_image.map_or(0, item_size);
        let json = |out: &mut Vec<u8>, v: &dyn erased::Json| v.write(out);
        let mut head = Vec::with_capacity(256 + size * 2);
        head.extend_from_slice(br#"{"eventID":""#);
        head.extend_from_slice(uuid::Uuid::new_v4().simple().to_string().as_bytes());
        head.extend_from_slice(br#"","eventName":""#);
        head.extend_from_slice(event.as_bytes());
        head.extend_from_slice(
            br#"","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"#,
        );
        json(&mut head, &table.region)?;
        if let Some(identity) = &commit.identity {
            head.extend_from_slice(br#","userIdentity":"#);
            json(&mut head, identity)?;
        }
        head.extend_from_slice(br#","dynamodb":{"ApproximateCreationDateTime":"#);
        head.extend_from_slice(format!("{}", self.clock.epoch_seconds().floor()).as_bytes());
        head.extend_from_slice(br#","Keys":"#);
        json(&mut head, &keys)?;
        if let Some(n) = new_image {
            head.extend_from_slice(br#","NewImage":"#);
            json(&mut head, n)?;
        }
        if let Some(o) = old_image {
            head.extend_from_slice(br#","OldImage":"#);
            json(&mut head, o)?;
        }
        head.extend_from_slice(
            format!(r#","SizeBytes":{size},"StreamViewType":"{view}","SequenceNumber":""#)
                .as_bytes(),
        );
        commit.records.push(PendingRecord {
            key_prefix: shard_prefix(stream.id, self.current_shard(stream)),
            head,
        });
        Ok(())
    }

    /// Writes a commit: its records get their sequence numbers under the sequencer's lock,
    /// held until the batch is written.
    pub(super) fn write_commit(&self, commit: Commit) -> Result<()> {
        let Commit {
            mut batch,
            records,
            history,
            ..
        } = commit;
        if records.is_empty() && history.is_empty() {
            return self.store.write(batch);
        }
        let mut last = self
            .sequencer
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = seq_at(self.clock.epoch_seconds());
        for (mut key, value) in history {
            *last = (*last + 1).max(now);
            key.extend_from_slice(&last.to_be_bytes());
            self.store.put(&mut batch, Cf::Streams, &key, &value)?;
        }
        let notify = !records.is_empty();
        for r in records {
            *last = (*last + 1).max(now);
            let mut record = r.head;
            record.extend_from_slice(seq_text(*last).as_bytes());
            record.extend_from_slice(b"\"}}");
            let mut key = r.key_prefix;
            key.extend_from_slice(&last.to_be_bytes());
            self.store.put(&mut batch, Cf::Streams, &key, &record)?;
        }
        self.store.write(batch)?;
        if notify {
            self.stream_commits.send_modify(|n| *n += 1);
        }
        Ok(())
    }

    /// Runs `f` between commits that take sequence numbers, with the greatest number assigned
    /// so far (or that could have been: every later one is greater). A snapshot taken in `f`
    /// holds exactly the changes numbered up to it.
    pub(super) fn at_sequence<T>(&self, f: impl FnOnce(u64) -> T) -> T {
        let last = self
            .sequencer
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = seq_at(self.clock.epoch_seconds());
        f((*last).max(now.saturating_sub(1)))
    }

    /// Changes whenever records are written to any stream: a consumer waits on it rather than
    /// polling on a timer.
    pub fn stream_commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.stream_commits.subscribe()
    }

    /// Records of one shard from sequence number `from` (inclusive): at most `limit` records
    /// and about 1 MB.
    pub fn read_records(
        &self,
        stream_id: u32,
        shard: u32,
        from: u64,
        limit: usize,
    ) -> Result<RecordPage> {
        let range = KeyRange {
            cf: Cf::Streams,
            lower: record_key(stream_id, shard, from),
            upper: shard_prefix(stream_id, shard + 1),
            reverse: false,
        };
        let (mut records, mut seqs) = (Vec::new(), Vec::new());
        let (mut bytes, mut last) = (0, None);
        for entry in self.store.range(&range)? {
            let (key, value) = entry?;
            last = key
                .get(8..16)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes);
            seqs.push(last.unwrap_or_default());
            bytes += value.len();
            records.push(value);
            if records.len() >= limit || bytes >= 1 << 20 {
                break;
            }
        }
        Ok(RecordPage {
            records,
            seqs,
            last,
        })
    }

    /// The sequence number of the newest record of a shard, if any.
    pub fn last_seq(&self, stream_id: u32, shard: u32) -> Result<Option<u64>> {
        let range = KeyRange {
            cf: Cf::Streams,
            lower: shard_prefix(stream_id, shard),
            upper: shard_prefix(stream_id, shard + 1),
            reverse: true,
        };
        Ok(match self.store.range(&range)?.next() {
            Some(entry) => entry?
                .0
                .get(8..16)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes),
            None => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::engine::testing::{engine, simple_table};
    use crate::model::item_from_json;
    use serde_json::json;
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn shards_roll_over_and_age_out() {
        let clock = Arc::new(ManualClock::new(
            UNIX_EPOCH + Duration::from_secs(2_000_000_000),
        ));
        let engine = engine(clock.clone(), u64::MAX);
        let table = simple_table(&engine, Some("NEW_IMAGE"));
        let put = |p: &str| {
            let item = item_from_json(&json!({"p": {"S": p}})).unwrap();
            engine.put_item(&table, item, None).unwrap();
        };
        let stream = table.active_stream().unwrap().clone();
        let records_in = |shard: u32| {
            engine
                .read_records(stream.id, shard, 0, 10)
                .unwrap()
                .records
                .len()
        };
        put("a");
        clock.advance(Duration::from_secs(5 * 3600));
        put("b");
        assert_eq!(engine.current_shard(&stream), 1);
        assert_eq!(records_in(0), 1);
        assert_eq!(records_in(1), 1);

        // Shard 0 ended 4 h after creation: 24 h later it is trimmed, shard 1 is kept.
        clock.advance(Duration::from_secs(24 * 3600));
        engine.trim_streams().unwrap();
        assert_eq!(engine.first_kept_shard(&stream), 1);
        assert_eq!(records_in(0), 0);
        assert_eq!(records_in(1), 1);
        assert!(engine.stream_visible(&stream));

        // A disabled stream disappears once its last records are past retention.
        let disabled = StreamSpec {
            enabled: false,
            disabled_at: Some(clock.epoch_seconds()),
            ..stream.clone()
        };
        assert!(engine.stream_visible(&disabled));
        clock.advance(Duration::from_secs(25 * 3600));
        assert!(!engine.stream_visible(&disabled));
    }
}
