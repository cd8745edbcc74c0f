//! DynamoDB Streams: one record per item change, written in the same batch as the change.
//!
//! Records live in the `streams` column family under `stream_id | shard | sequence number`.
//! Sequence numbers come from the clock (epoch microseconds x 1000, bumped past the last one),
//! so they increase across restarts, and a shard's range is known from its time window: shard
//! `n` of a stream covers `[created + n * interval, created + (n + 1) * interval)`. Sequence
//! numbers are assigned and the batch written under one lock, so a reader never sees a record
//! appear behind one it has already passed.

use std::sync::Mutex;

use serde_json::{json, Value};

use super::catalog::{StreamSpec, TableMeta};
use super::Engine;
use crate::error::Result;
use crate::model::{item_size, Item};
use crate::storage::{Batch, Cf, KeyRange};

/// A record waiting for its sequence number.
pub struct PendingRecord {
    key_prefix: Vec<u8>,
    record: Value,
}

/// Item writes with the stream records that go with them: committed together.
#[derive(Default)]
pub struct Commit {
    pub batch: Batch,
    pub records: Vec<PendingRecord>,
    /// The `userIdentity` of the records, for changes DynamoDB itself makes (TTL deletes).
    pub identity: Option<Value>,
}

/// Stream records as stored (JSON), and the sequence number of the last one.
pub struct RecordPage {
    pub records: Vec<Box<[u8]>>,
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
    /// stream, or a change that changes nothing).
    pub(super) fn record_change(
        &self,
        commit: &mut Commit,
        table: &TableMeta,
        old: Option<&Item>,
        new: Option<&Item>,
    ) {
        let Some(stream) = table.active_stream() else {
            return;
        };
        let event = match (old, new) {
            (None, Some(_)) => "INSERT",
            (Some(o), Some(n)) if o != n => "MODIFY",
            (Some(_), None) => "REMOVE",
            _ => return,
        };
        let view = stream.view_type.as_deref().unwrap_or("KEYS_ONLY");
        let Some(any) = new.or(old) else {
            return;
        };
        let keys = table.key_schema.key_item(any);
        let mut size = item_size(&keys);
        let mut dynamodb = json!({
            "ApproximateCreationDateTime": self.clock.epoch_seconds().floor(),
            "Keys": keys,
            "StreamViewType": view,
        });
        if let (Some(n), "NEW_IMAGE" | "NEW_AND_OLD_IMAGES") = (new, view) {
            size += item_size(n);
            dynamodb["NewImage"] = json!(n);
        }
        if let (Some(o), "OLD_IMAGE" | "NEW_AND_OLD_IMAGES") = (old, view) {
            size += item_size(o);
            dynamodb["OldImage"] = json!(o);
        }
        dynamodb["SizeBytes"] = json!(size);
        let mut record = json!({
            "eventID": uuid::Uuid::new_v4().simple().to_string(),
            "eventName": event,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": table.region,
            "dynamodb": dynamodb,
        });
        if let Some(identity) = &commit.identity {
            record["userIdentity"] = identity.clone();
        }
        commit.records.push(PendingRecord {
            key_prefix: shard_prefix(stream.id, self.current_shard(stream)),
            record,
        });
    }

    /// Writes a commit: its records get their sequence numbers under the sequencer's lock,
    /// held until the batch is written.
    pub(super) fn write_commit(&self, commit: Commit) -> Result<()> {
        let Commit {
            mut batch, records, ..
        } = commit;
        if records.is_empty() {
            return self.store.write(batch);
        }
        let mut last = self
            .sequencer
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = seq_at(self.clock.epoch_seconds());
        for mut r in records {
            *last = (*last + 1).max(now);
            r.record["dynamodb"]["SequenceNumber"] = json!(seq_text(*last));
            let mut key = r.key_prefix;
            key.extend_from_slice(&last.to_be_bytes());
            self.store.put(
                &mut batch,
                Cf::Streams,
                &key,
                r.record.to_string().as_bytes(),
            )?;
        }
        self.store.write(batch)
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
        let mut records = Vec::new();
        let (mut bytes, mut last) = (0, None);
        for entry in self.store.range(&range)? {
            let (key, value) = entry?;
            last = key
                .get(8..16)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes);
            bytes += value.len();
            records.push(value);
            if records.len() >= limit || bytes >= 1 << 20 {
                break;
            }
        }
        Ok(RecordPage { records, last })
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
