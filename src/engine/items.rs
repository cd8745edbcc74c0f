//! Single-item reads and writes. Every mutation goes through `commit`: lock the item's stripe,
//! read the current item, decide, and write item and counters in one batch.

use super::Engine;
use crate::engine::catalog::{counter_key, TableMeta};
use crate::error::{Error, Result};
use crate::expr::ast::{Condition, UpdateAction};
use crate::expr::{eval, update};
use crate::model::{item_size, Item};
use crate::storage::codec::{self, StoredItem};
use crate::storage::{encode_counter, keys, Batch, Cf};

/// DynamoDB's item size limit (400 KB).
pub const MAX_ITEM_SIZE: usize = 400 * 1024;

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
    /// Size of the larger of the old and new item (a write is charged for that).
    pub charged_size: usize,
}

/// A write's `ConditionExpression`, and whether a failure returns the current item
/// (`ReturnValuesOnConditionCheckFailure=ALL_OLD`).
pub struct WriteCondition<'a> {
    pub condition: &'a Condition,
    pub return_item_on_failure: bool,
}

enum Change<'a> {
    /// A whole new item and its size (measured once, before the lock).
    Put(Item, usize),
    Delete,
    Update {
        key: Item,
        actions: &'a [UpdateAction],
    },
}

impl Engine {
    pub fn get_item(&self, table: &TableMeta, key: &Item) -> Result<Option<StoredItem>> {
        let kv = table.key_schema.key_of_request(key)?;
        let k = keys::item_key(table.id, kv.hash, kv.range);
        Ok(self
            .store
            .get(Cf::Items, &k)?
            .map(|bytes| StoredItem::new(bytes.to_vec())))
    }

    pub fn put_item(
        &self,
        table: &TableMeta,
        item: Item,
        condition: Option<WriteCondition<'_>>,
    ) -> Result<WriteOutcome> {
        let kv = table.key_schema.key_of_item(&item)?;
        kv.check_sizes()?;
        // Refused before the condition is even looked at, as DynamoDB does.
        let size = item_size(&item);
        check_item_size(size)?;
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
        kv.check_sizes()?;
        let k = keys::item_key(table.id, kv.hash, kv.range);
        self.commit(table, &k, Change::Update { key, actions }, condition)
    }

    /// The one write path for an item: lock its stripe, read it, check the condition, compute
    /// the new item, and commit item and counters in one batch.
    fn commit(
        &self,
        table: &TableMeta,
        key: &[u8],
        change: Change<'_>,
        condition: Option<WriteCondition<'_>>,
    ) -> Result<WriteOutcome> {
        let _guard = self.locks.lock(key);
        let old = self
            .store
            .get(Cf::Items, key)?
            .map(|b| StoredItem::new(b.to_vec()));
        let old_size = old.as_ref().map(StoredItem::size).transpose()?;
        // Decoded only when a condition or an update needs to look inside.
        let needs_current = condition.is_some() || matches!(change, Change::Update { .. });
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
            Change::Put(item, size) => Some((item, size)),
            Change::Delete => None,
            Change::Update { key, actions } => {
                let item = update::apply(current.as_ref().unwrap_or(&key), actions)?;
                let size = item_size(&item);
                check_item_size(size)?;
                Some((item, size))
            }
        };
        if new_item.is_none() && old.is_none() {
            return Ok(WriteOutcome {
                old: None,
                new: None,
                charged_size: 0,
            });
        }

        let mut batch = Batch::default();
        let new_size = match &new_item {
            Some((item, size)) => {
                self.store
                    .put(&mut batch, Cf::Items, key, &codec::encode_item(item, *size))?;
                Some(*size)
            }
            None => {
                self.store.delete(&mut batch, Cf::Items, key)?;
                None
            }
        };
        let count_delta = new_size.is_some() as i64 - old_size.is_some() as i64;
        let size_delta = new_size.unwrap_or(0) as i64 - old_size.unwrap_or(0) as i64;
        self.store.merge(
            &mut batch,
            Cf::Meta,
            &counter_key(table.id),
            &encode_counter(count_delta, size_delta),
        )?;
        self.store.write(batch)?;

        Ok(WriteOutcome {
            old,
            new: new_item.map(|(item, _)| item),
            charged_size: old_size.unwrap_or(0).max(new_size.unwrap_or(0)),
        })
    }
}
