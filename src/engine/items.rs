//! Single-item reads and writes. Every mutation goes through `commit`: lock the item's stripe,
//! read the current item, decide, and write item and counters in one batch.

use std::sync::Arc;

use super::indexes::{check_index_keys, Entry};
use super::streams::Commit;
use super::throttle::ReadTarget;
use super::Engine;
use crate::capacity::{read_units, write_units, Consumed};
use crate::engine::catalog::{collection_key, counter_key, TableMeta};
use crate::error::{Error, Result};
use crate::expr::ast::{Condition, UpdateAction};
use crate::expr::{eval, update};
use crate::model::{item_size, Item};
use crate::storage::codec::{self, StoredItem};
use crate::storage::{decode_counter, encode_counter, keys, Batch, Cf};

/// DynamoDB's item size limit (400 KB).
pub const MAX_ITEM_SIZE: usize = 400 * 1024;

fn size_delta(old: Option<usize>, new: Option<usize>) -> i64 {
    new.unwrap_or(0) as i64 - old.unwrap_or(0) as i64
}

fn check_item_size(size: usize) -> Result<()> {
    if size > MAX_ITEM_SIZE {
        return Err(Error::validation(
            "Item size has exceeded the maximum allowed size",
        ));
    }
    Ok(())
}

/// What a write did, for ReturnValues and capacity accounting.
pub struct WriteOutcome {
    /// The item as stored before the write.
    pub old: Option<StoredItem>,
    /// The item after the write (none after a delete).
    pub new: Option<Item>,
    /// Units the write costs: the larger of the old and new item on the table, and each index
    /// entry put or deleted.
    pub consumed: Consumed,
    /// For tables with LSIs: the item's collection size after the write.
    pub collection_size: Option<u64>,
}

/// A write's `ConditionExpression`, and whether a failure returns the current item
/// (`ReturnValuesOnConditionCheckFailure=ALL_OLD`).
pub struct WriteCondition<'a> {
    pub condition: &'a Condition,
    pub return_item_on_failure: bool,
}

pub enum Change<'a> {
    /// A whole new item and its size (measured once, before the lock).
    Put(Item, usize),
    Delete,
    Update {
        key: Item,
        actions: &'a [UpdateAction],
    },
    /// A transaction's ConditionCheck: the condition only.
    Check,
}

/// What a staged write will do to the item.
pub(super) enum Write {
    Put(Item, usize),
    Delete,
    Nothing,
}

/// A write decided under its item's lock, not yet committed.
pub(super) struct Staged {
    old: Option<StoredItem>,
    old_size: Option<usize>,
    /// The old item decoded, when something needed to look inside it.
    current: Option<Item>,
    new_item: Write,
}

impl Engine {
    /// An item, uncharged (the server's own reads).
    pub fn get_item(&self, table: &TableMeta, key: &Item) -> Result<Option<StoredItem>> {
        Ok(self.lookup(table, key)?.1)
    }

    /// GetItem and BatchGetItem: the item, its read charged to the table's and the
    /// partition's capacity; and the units it cost.
    pub fn read_item(
        &self,
        table: &TableMeta,
        key: &Item,
        consistent: bool,
    ) -> Result<(Option<StoredItem>, f64)> {
        let (k, stored) = self.lookup(table, key)?;
        let size = stored.as_ref().map(StoredItem::size).transpose()?;
        let units = read_units(size.unwrap_or(0), consistent);
        let target = ReadTarget {
            table,
            index: None,
            partition: Some(keys::partition_fingerprint(&k)),
        };
        self.take_read(target, units)?;
        Ok((stored, units))
    }

    fn lookup(&self, table: &TableMeta, key: &Item) -> Result<(Vec<u8>, Option<StoredItem>)> {
        let kv = table.key_schema.key_of_request(key)?;
        let k = keys::item_key(table.id, kv.hash, kv.range);
        let stored = self.store.get(Cf::Items, &k)?;
        let stored = stored.map(|bytes| StoredItem::new(bytes.to_vec()));
        Ok((k, stored))
    }

    /// What PutItem checks of an item before anything else (the condition included), as
    /// DynamoDB does: key, key sizes, item size, index keys. Returns the item's size.
    pub fn check_put(&self, table: &TableMeta, item: &Item) -> Result<usize> {
        table.key_schema.key_of_item(item)?.check_sizes()?;
        let size = item_size(item);
        check_item_size(size)?;
        check_index_keys(table, item)?;
        Ok(size)
    }

    pub fn put_item(
        &self,
        table: &TableMeta,
        item: Item,
        condition: Option<WriteCondition<'_>>,
    ) -> Result<WriteOutcome> {
        let size = self.check_put(table, &item)?;
        let kv = table.key_schema.key_of_item(&item)?;
        let k = keys::item_key(table.id, kv.hash, kv.range);
        self.commit(table, &k, Change::Put(item, size), condition)
    }

    pub fn delete_item(
        &self,
        table: &TableMeta,
        key: &Item,
        condition: Option<WriteCondition<'_>>,
    ) -> Result<WriteOutcome> {
        let kv = table.key_schema.key_of_request(key)?;
        let k = keys::item_key(table.id, kv.hash, kv.range);
        self.commit(table, &k, Change::Delete, condition)
    }

    /// UpdateItem: applies validated update actions to the item, creating it (from its key)
    /// when it does not exist.
    pub fn update_item(
        &self,
        table: &TableMeta,
        key: Item,
        actions: &[UpdateAction],
        condition: Option<WriteCondition<'_>>,
    ) -> Result<WriteOutcome> {
        let kv = table.key_schema.key_of_request(&key)?;
        let k = keys::item_key(table.id, kv.hash, kv.range);
        self.commit(table, &k, Change::Update { key, actions }, condition)
    }

    /// The one write path for an item: lock its stripe, read it, check the condition, compute
    /// the new item, and commit item, index entries and counters in one batch.
    fn commit(
        &self,
        table: &TableMeta,
        key: &[u8],
        change: Change<'_>,
        condition: Option<WriteCondition<'_>>,
    ) -> Result<WriteOutcome> {
        let _guard = self.locks.lock(key);
        self.check_not_held(key)?;
        let latest = self.latest(table);
        let table = latest.as_deref().unwrap_or(table);
        let staged = self.stage(table, key, change, condition)?;
        let mut commit = Commit::default();
        let outcome = self.apply(&mut commit, table, key, staged)?;
        self.take_write(table, keys::partition_fingerprint(key), &outcome.consumed)?;
        self.write_commit(commit)?;
        Ok(outcome)
    }

    /// A write of the server's own (a restore putting items back, an import): no condition,
    /// no capacity charged.
    pub(super) fn write_uncharged(
        &self,
        table: &TableMeta,
        key: &[u8],
        change: Change<'_>,
    ) -> Result<()> {
        let _guard = self.locks.lock(key);
        let staged = self.stage(table, key, change, None)?;
        let mut commit = Commit::default();
        self.apply(&mut commit, table, key, staged)?;
        self.write_commit(commit)
    }

    /// Puts an item read by an import, checked as PutItem checks it.
    pub fn import_item(&self, table: &TableMeta, item: Item) -> Result<()> {
        let size = self.check_put(table, &item)?;
        let kv = table.key_schema.key_of_item(&item)?;
        let k = keys::item_key(table.id, kv.hash, kv.range);
        self.write_uncharged(table, &k, Change::Put(item, size))
    }

    /// The table's definition as of now. Called under the item's lock: an index added since
    /// the request began is maintained by this write, and a backfill that reaches the item
    /// afterwards sees it.
    pub(super) fn latest(&self, table: &TableMeta) -> Option<Arc<TableMeta>> {
        self.catalog
            .get(&table.region, &table.name)
            .filter(|t| t.id == table.id)
    }

    /// Reads the item, checks the condition and computes the new item; the caller holds the
    /// item's lock and commits the result with `apply`.
    pub(super) fn stage(
        &self,
        table: &TableMeta,
        key: &[u8],
        change: Change<'_>,
        condition: Option<WriteCondition<'_>>,
    ) -> Result<Staged> {
        let old = self
            .store
            .get(Cf::Items, key)?
            .map(|b| StoredItem::new(b.to_vec()));
        let old_size = old.as_ref().map(StoredItem::size).transpose()?;
        // Decoded only when a condition, an update or an index needs to look inside.
        let needs_current = condition.is_some()
            || matches!(change, Change::Update { .. })
            || table.indexes().next().is_some()
            || table.active_stream().is_some()
            || table.ttl.is_some();
        let current = match (&old, needs_current) {
            (Some(stored), true) => Some(stored.decode()?),
            _ => None,
        };
        if let Some(c) = condition {
            let empty = Item::new();
            let item = current.as_ref().unwrap_or(&empty);
            if !eval::evaluate(c.condition, item, "ConditionExpression")? {
                let item = match (&current, c.return_item_on_failure) {
                    (Some(item), true) => Some(
                        serde_json::to_value(item).map_err(|e| Error::Internal(e.to_string()))?,
                    ),
                    _ => None,
                };
                return Err(Error::ConditionalCheckFailed { item });
            }
        }
        // The new item with its size; an updated item is measured (and limited) only now.
        let new_item = match change {
            Change::Put(item, size) => Write::Put(item, size),
            Change::Delete => Write::Delete,
            Change::Check => Write::Nothing,
            Change::Update { key, actions } => {
                let item = update::apply(current.as_ref().unwrap_or(&key), actions)?;
                // An update that leaves a missing item with nothing but its key (REMOVE or DELETE
                // of attributes it never had) creates nothing, as DynamoDB does.
                if old.is_none() && !actions.is_empty() && item == key {
                    Write::Nothing
                } else {
                    let size = item_size(&item);
                    check_item_size(size)?;
                    check_index_keys(table, &item)?;
                    Write::Put(item, size)
                }
            }
        };
        Ok(Staged {
            old,
            old_size,
            current,
            new_item,
        })
    }

    /// Adds a staged write (item, counters, index entries, item collection, stream record,
    /// change log entry) to `commit`.
    pub(super) fn apply(
        &self,
        commit: &mut Commit,
        table: &TableMeta,
        key: &[u8],
        staged: Staged,
    ) -> Result<WriteOutcome> {
        let Staged {
            old,
            old_size,
            current,
            new_item,
        } = staged;
        let new_item = match new_item {
            Write::Put(item, size) => Some((item, size)),
            Write::Delete if old.is_some() => None,
            Write::Delete | Write::Nothing => {
                return Ok(WriteOutcome {
                    old,
                    new: None,
                    consumed: Consumed::table(write_units(old_size.unwrap_or(0))),
                    collection_size: None,
                })
            }
        };
        let batch = &mut commit.batch;
        let new_size = match &new_item {
            Some((item, size)) => {
                self.store
                    .put(batch, Cf::Items, key, &codec::encode_item(item, *size))?;
                Some(*size)
            }
            None => {
                self.store.delete(batch, Cf::Items, key)?;
                None
            }
        };
        self.count(batch, table.id, (old_size, new_size))?;
        let new_ref = new_item.as_ref().map(|(item, _)| item);
        let mut consumed = Consumed::table(write_units(old_size.max(new_size).unwrap_or(0)));
        let local_delta =
            self.write_index_entries(batch, table, (current.as_ref(), new_ref), &mut consumed)?;
        let collection_size = match new_ref.or(current.as_ref()) {
            Some(item) if !table.local_indexes.is_empty() => {
                let delta = size_delta(old_size, new_size) + local_delta;
                Some(self.grow_collection(batch, table, item, delta)?)
            }
            _ => None,
        };
        self.write_expiry(commit, table, key, current.as_ref(), new_ref)?;
        self.record_change(commit, table, current.as_ref(), new_ref)?;
        self.log_change(commit, table, key, old.as_ref());
        Ok(WriteOutcome {
            old,
            new: new_item.map(|(item, _)| item),
            consumed,
            collection_size,
        })
    }

    /// Adds `delta` bytes to the item collection of `item`, refusing to grow it past the
    /// limit; returns its new size.
    fn grow_collection(
        &self,
        batch: &mut Batch,
        table: &TableMeta,
        item: &Item,
        delta: i64,
    ) -> Result<u64> {
        let pk = item
            .get(&table.key_schema.hash_key().name)
            .ok_or_else(|| Error::Internal("stored item without its key".into()))?;
        let key = collection_key(&keys::partition_prefix(table.id, pk));
        let (_, current) = self
            .store
            .get(Cf::Meta, &key)?
            .map(|v| decode_counter(&v))
            .unwrap_or((0, 0));
        let after = (current + delta).max(0) as u64;
        if delta > 0 && after > self.item_collection_limit {
            return Err(Error::ItemCollectionSizeLimitExceeded);
        }
        if delta != 0 {
            self.store
                .merge(batch, Cf::Meta, &key, &encode_counter(0, delta))?;
        }
        Ok(after)
    }

    /// Adjusts the item count and size of a table or index for one entry going from
    /// `old` to `new` (sizes; `None` where there is no entry).
    pub(super) fn count(
        &self,
        batch: &mut Batch,
        id: u32,
        (old, new): (Option<usize>, Option<usize>),
    ) -> Result<()> {
        let count_delta = new.is_some() as i64 - old.is_some() as i64;
        let size_delta = size_delta(old, new);
        if count_delta == 0 && size_delta == 0 {
            return Ok(());
        }
        self.store.merge(
            batch,
            Cf::Meta,
            &counter_key(id),
            &encode_counter(count_delta, size_delta),
        )
    }

    /// Moves every index of the table from the item's old entries to its new ones, adding
    /// what each index write costs to `consumed`; returns how much the item's LSI entries
    /// grew (they count toward its item collection).
    pub(super) fn write_index_entries(
        &self,
        batch: &mut Batch,
        table: &TableMeta,
        (old, new): (Option<&Item>, Option<&Item>),
        consumed: &mut Consumed,
    ) -> Result<i64> {
        let mut local_delta = 0;
        for (i, index) in table.indexes().enumerate() {
            let mut before = old.and_then(|item| index.entry(&table.key_schema, item));
            // While a new index is backfilled, an old item may not have its entry yet.
            if index.backfilling {
                if let Some(b) = &before {
                    if self.store.get(Cf::Indexes, &b.key)?.is_none() {
                        before = None;
                    }
                }
            }
            let after = new.and_then(|item| index.entry(&table.key_schema, item));
            if let Some(b) = &before {
                if after.as_ref().is_none_or(|a| a.key != b.key) {
                    self.store.delete(batch, Cf::Indexes, &b.key)?;
                }
            }
            if let Some(a) = &after {
                let unchanged = before
                    .as_ref()
                    .is_some_and(|b| b.key == a.key && b.item == a.item);
                if !unchanged {
                    let bytes = codec::encode_item(&a.item, a.size);
                    self.store.put(batch, Cf::Indexes, &a.key, &bytes)?;
                }
            }
            let units = index_write_units(before.as_ref(), after.as_ref());
            let global = i >= table.local_indexes.len();
            if units > 0.0 {
                consumed.add_index(&index.name, global, units);
            }
            let sizes = (before.map(|e| e.size), after.map(|e| e.size));
            if !global {
                local_delta += size_delta(sizes.0, sizes.1);
            }
            self.count(batch, index.id, sizes)?;
        }
        Ok(local_delta)
    }
}

/// What a write costs an index, as DynamoDB charges it: a new or removed entry one write of
/// its size, a moved entry (its index key changed) two, a changed entry one of the larger
/// size, an untouched entry nothing.
fn index_write_units(before: Option<&Entry>, after: Option<&Entry>) -> f64 {
    match (before, after) {
        (None, None) => 0.0,
        (Some(e), None) | (None, Some(e)) => write_units(e.size),
        (Some(b), Some(a)) if b.key != a.key => write_units(b.size) + write_units(a.size),
        (Some(b), Some(a)) if b.item == a.item => 0.0,
        (Some(b), Some(a)) => write_units(b.size.max(a.size)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testing::engine_with_lsi;
    use crate::model::item_from_json;
    use serde_json::json;

    fn item(p: &str, c: u32, filler: usize) -> Item {
        item_from_json(
            &json!({"p": {"S": p}, "c": {"N": c.to_string()}, "l": {"N": "1"},
                               "f": {"S": "x".repeat(filler)}}),
        )
        .unwrap()
    }

    #[test]
    fn item_collections_count_items_and_lsi_entries_up_to_the_limit() {
        let (engine, table) = engine_with_lsi(10_000);
        let first = engine.put_item(&table, item("a", 1, 2000), None).unwrap();
        let one = first.collection_size.unwrap();
        // The item and its (ALL-projected) LSI entry: twice the item's size.
        assert_eq!(one, 2 * item_size(&item("a", 1, 2000)) as u64);
        let second = engine.put_item(&table, item("a", 2, 2000), None).unwrap();
        assert_eq!(second.collection_size, Some(2 * one));
        let err = engine
            .put_item(&table, item("a", 3, 2000), None)
            .err()
            .unwrap();
        assert!(matches!(err, Error::ItemCollectionSizeLimitExceeded));
        // Another partition is another collection; shrinking is always allowed.
        assert!(engine.put_item(&table, item("b", 3, 2000), None).is_ok());
        let key = item_from_json(&json!({"p": {"S": "a"}, "c": {"N": "2"}})).unwrap();
        let deleted = engine.delete_item(&table, &key, None).unwrap();
        assert_eq!(deleted.collection_size, Some(one));
        assert!(engine.put_item(&table, item("a", 3, 2000), None).is_ok());
    }
}
