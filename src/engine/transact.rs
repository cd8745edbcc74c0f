//! Transactions. A TransactWriteItems holds its items for its whole run: another transaction
//! touching one of them is cancelled with `TransactionConflict`, and a single-item write to
//! one gets `TransactionConflictException`, as DynamoDB answers (never a silent queue). Items
//! not shared never conflict. The actions are staged under their items' locks and committed
//! in one write batch; TransactGetItems reads one RocksDB snapshot, so it never sees half a
//! transaction.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::catalog::TableMeta;
use super::items::{Change, WriteCondition, WriteOutcome};
use super::streams::Commit;
use super::throttle::ReadTarget;
use super::Engine;
use crate::capacity::read_units;
use crate::error::{Error, Result};
use crate::model::Item;
use crate::storage::codec::StoredItem;
use crate::storage::{keys, Cf};

/// Items held by running transactions, and tokens of transactions running now.
#[derive(Default)]
pub struct Held {
    items: Mutex<HashSet<Vec<u8>>>,
    /// Number of held items: single-item writes skip the set while no transaction runs.
    count: AtomicUsize,
    tokens: Mutex<HashSet<String>>,
}

/// Releases a transaction's items when it ends, however it ends.
struct HeldItems<'a> {
    held: &'a Held,
    keys: Vec<Vec<u8>>,
}

impl Drop for HeldItems<'_> {
    fn drop(&mut self) {
        let mut items = self.held.items.lock().unwrap_or_else(|p| p.into_inner());
        for k in &self.keys {
            items.remove(k);
        }
        self.held.count.fetch_sub(self.keys.len(), Ordering::SeqCst);
    }
}

/// One action of a TransactWriteItems.
pub struct TxWrite<'a> {
    pub table: Arc<TableMeta>,
    /// The item (Put) or key (the others) the action is about.
    pub key: &'a Item,
    pub change: Change<'a>,
    pub condition: Option<WriteCondition<'a>>,
}

/// How long a `ClientRequestToken` is remembered (DynamoDB: 10 minutes).
const TOKEN_SECONDS: f64 = 600.0;
const TOKEN_PREFIX: &[u8] = b"x\x00";

fn token_key(token: &str) -> Vec<u8> {
    let mut k = TOKEN_PREFIX.to_vec();
    k.extend_from_slice(token.as_bytes());
    k
}

/// A request's fingerprint, to tell a retry from a different request with the same token.
pub fn fingerprint(request: &[u8]) -> String {
    format!("{:08x}-{}", crc32fast::hash(request), request.len())
}

fn cancelled(reasons: Vec<Value>) -> Error {
    Error::TransactionCanceled { reasons }
}

impl Engine {
    /// Single-item writes to an item a transaction holds are refused, not queued.
    pub(super) fn check_not_held(&self, key: &[u8]) -> Result<()> {
        if self.held.count.load(Ordering::SeqCst) == 0 {
            return Ok(());
        }
        let items = self.held.items.lock().unwrap_or_else(|p| p.into_inner());
        if items.contains(key) {
            return Err(Error::TransactionConflict(
                "Transaction is ongoing for the item".into(),
            ));
        }
        Ok(())
    }

    /// Claims the items for one transaction, or names those another transaction holds.
    fn hold(&self, keys: &[Vec<u8>]) -> std::result::Result<HeldItems<'_>, Vec<bool>> {
        let mut items = self.held.items.lock().unwrap_or_else(|p| p.into_inner());
        let taken: Vec<bool> = keys.iter().map(|k| items.contains(k)).collect();
        if taken.iter().any(|t| *t) {
            return Err(taken);
        }
        items.extend(keys.iter().cloned());
        self.held.count.fetch_add(keys.len(), Ordering::SeqCst);
        Ok(HeldItems {
            held: &self.held,
            keys: keys.to_vec(),
        })
    }

    /// Whether the token's transaction already succeeded (within the last 10 minutes); an
    /// error if the token was used for a different request.
    fn token_succeeded(&self, token: &str, print: &str) -> Result<bool> {
        let Some(record) = self.store.get(Cf::Meta, &token_key(token))? else {
            return Ok(false);
        };
        let record: Value = serde_json::from_slice(&record)
            .map_err(|e| Error::Internal(format!("token record: {e}")))?;
        let at = record["at"].as_f64().unwrap_or(0.0);
        if self.clock.epoch_seconds() - at > TOKEN_SECONDS {
            return Ok(false);
        }
        if record["request"].as_str() != Some(print) {
            return Err(Error::IdempotentParameterMismatch(
                "The request uses the same client token as a previous, but non-identical request."
                    .into(),
            ));
        }
        Ok(true)
    }

    /// TransactWriteItems: every action's condition holds and all of them are applied in one
    /// batch, or none is. `token` is the `ClientRequestToken` with the request's fingerprint.
    /// Returns `None` when the token shows the transaction already succeeded.
    pub fn transact_write(
        &self,
        writes: Vec<TxWrite<'_>>,
        token: Option<(&str, &str)>,
    ) -> Result<Option<Vec<WriteOutcome>>> {
        let mut storage_keys = Vec::with_capacity(writes.len());
        for w in &writes {
            let kv = match w.change {
                Change::Put(..) => w.table.key_schema.key_of_item(w.key)?,
                _ => w.table.key_schema.key_of_request(w.key)?,
            };
            storage_keys.push(keys::item_key(w.table.id, kv.hash, kv.range));
        }
        one_operation_per_item(&storage_keys)?;
        let _token_guard = match token {
            Some((t, print)) => {
                let guard = TokenGuard::claim(&self.held, t)?;
                if self.token_succeeded(t, print)? {
                    return Ok(None);
                }
                Some(guard)
            }
            None => None,
        };
        let _held = self.hold(&storage_keys).map_err(|taken| {
            cancelled(
                taken
                    .into_iter()
                    .map(|t| {
                        if t {
                            json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"})
                        } else {
                            json!({"Code": "None"})
                        }
                    })
                    .collect(),
            )
        })?;
        let _locks = self.locks.lock_all(storage_keys.iter().map(Vec::as_slice));

        let mut staged = Vec::with_capacity(writes.len());
        let mut reasons = Vec::with_capacity(writes.len());
        let mut failed = false;
        let mut tables: HashMap<u32, Arc<TableMeta>> = HashMap::new();
        for (w, key) in writes.into_iter().zip(&storage_keys) {
            let table = self.latest(&w.table).unwrap_or(w.table);
            match self.stage(&table, key, w.change, w.condition) {
                Ok(s) => {
                    reasons.push(json!({"Code": "None"}));
                    staged.push(Some((table.id, key, s)));
                }
                Err(Error::ConditionalCheckFailed { item }) => {
                    failed = true;
                    let mut r = json!({"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"});
                    if let Some(item) = item {
                        r["Item"] = item;
                    }
                    reasons.push(r);
                    staged.push(None);
                }
                Err(Error::Validation(message)) => {
                    failed = true;
                    reasons.push(json!({"Code": "ValidationError", "Message": message}));
                    staged.push(None);
                }
                Err(other) => return Err(other),
            }
            tables.insert(table.id, table);
        }
        if failed {
            return Err(cancelled(reasons));
        }
        let mut commit = Commit::default();
        let mut outcomes = Vec::with_capacity(staged.len());
        let mut throttled = false;
        for (i, (table_id, key, s)) in staged.into_iter().flatten().enumerate() {
            let table = tables
                .get(&table_id)
                .ok_or_else(|| Error::Internal("staged table".into()))?;
            let outcome = self.apply(&mut commit, table, key, s)?;
            let doubled = outcome.consumed.clone().doubled();
            let partition = keys::partition_fingerprint(key);
            if let Err(Error::Throttled(t)) = self.take_write(table, partition, &doubled) {
                throttled = true;
                reasons[i] = json!({"Code": "ThrottlingError", "Message": t.message()});
            }
            outcomes.push(outcome);
        }
        if throttled {
            return Err(cancelled(reasons));
        }
        if let Some((t, print)) = token {
            let record = json!({"request": print, "at": self.clock.epoch_seconds()});
            self.store.put(
                &mut commit.batch,
                Cf::Meta,
                &token_key(t),
                record.to_string().as_bytes(),
            )?;
        }
        self.write_commit(commit)?;
        Ok(Some(outcomes))
    }

    /// TransactGetItems: the items (or their absence) as of one instant, each read charged
    /// twice a strongly consistent read; with the units each cost.
    pub fn transact_get(
        &self,
        gets: &[(Arc<TableMeta>, &Item)],
    ) -> Result<Vec<(Option<StoredItem>, f64)>> {
        let mut storage_keys = Vec::with_capacity(gets.len());
        for (table, key) in gets {
            let kv = table.key_schema.key_of_request(key)?;
            storage_keys.push(keys::item_key(table.id, kv.hash, kv.range));
        }
        one_operation_per_item(&storage_keys)?;
        let reads: Vec<(Cf, &[u8])> = storage_keys
            .iter()
            .map(|k| (Cf::Items, k.as_slice()))
            .collect();
        let found = self.store.get_snapshot(&reads)?;
        let mut out = Vec::with_capacity(found.len());
        let mut reasons = Vec::with_capacity(found.len());
        for (((table, _), key), value) in gets.iter().zip(&storage_keys).zip(found) {
            let stored = value.map(StoredItem::new);
            let size = stored.as_ref().map(StoredItem::size).transpose()?;
            let units = 2.0 * read_units(size.unwrap_or(0), true);
            let target = ReadTarget {
                table,
                index: None,
                partition: Some(keys::partition_fingerprint(key)),
            };
            reasons.push(match self.take_read(target, units) {
                Ok(()) => json!({"Code": "None"}),
                Err(Error::Throttled(t)) => {
                    json!({"Code": "ThrottlingError", "Message": t.message()})
                }
                Err(other) => return Err(other),
            });
            out.push((stored, units));
        }
        if reasons.iter().any(|r| r["Code"] != "None") {
            return Err(cancelled(reasons));
        }
        Ok(out)
    }
}

/// Marks a token's transaction as running until it ends.
struct TokenGuard<'a> {
    held: &'a Held,
    token: String,
}

impl<'a> TokenGuard<'a> {
    /// Claims the token, unless a transaction with it is running now.
    fn claim(held: &'a Held, token: &str) -> Result<TokenGuard<'a>> {
        let mut tokens = held.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if !tokens.insert(token.to_string()) {
            return Err(Error::TransactionInProgress(
                "Transaction with the given request token is already in progress.".into(),
            ));
        }
        Ok(TokenGuard {
            held,
            token: token.to_string(),
        })
    }
}

impl Drop for TokenGuard<'_> {
    fn drop(&mut self) {
        self.held
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.token);
    }
}

/// A transaction names each item once, for writes and reads alike.
fn one_operation_per_item(storage_keys: &[Vec<u8>]) -> Result<()> {
    let unique: HashSet<&Vec<u8>> = storage_keys.iter().collect();
    if unique.len() != storage_keys.len() {
        return Err(Error::validation(
            "Transaction request cannot include multiple operations on one item",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testing::engine_with_lsi;
    use crate::model::{item_from_json, item_size};

    fn item(p: &str, c: u32) -> Item {
        item_from_json(&json!({"p": {"S": p}, "c": {"N": c.to_string()}})).unwrap()
    }

    fn put<'a>(table: &Arc<TableMeta>, item: &'a Item) -> TxWrite<'a> {
        TxWrite {
            table: table.clone(),
            key: item,
            change: Change::Put(item.clone(), item_size(item)),
            condition: None,
        }
    }

    #[test]
    fn held_items_conflict_and_others_do_not() {
        let (engine, table) = engine_with_lsi(u64::MAX);
        let (busy, free) = (item("a", 1), item("a", 2));
        let kv = table.key_schema.key_of_item(&busy).unwrap();
        let held_key = keys::item_key(table.id, kv.hash, kv.range);
        let held = engine.hold(std::slice::from_ref(&held_key)).ok().unwrap();

        // A single-item write to the held item is refused, one elsewhere goes through.
        let err = engine.put_item(&table, busy.clone(), None).err().unwrap();
        assert!(matches!(err, Error::TransactionConflict(_)), "{err:?}");
        assert!(engine.put_item(&table, free.clone(), None).is_ok());

        // A transaction touching it is cancelled, naming the conflicting action only.
        let err = engine
            .transact_write(vec![put(&table, &free), put(&table, &busy)], None)
            .err()
            .unwrap();
        let Error::TransactionCanceled { reasons } = err else {
            panic!("{err:?}");
        };
        assert_eq!(reasons[0]["Code"], "None");
        assert_eq!(reasons[1]["Code"], "TransactionConflict");

        // Once released, the same transaction applies.
        drop(held);
        let outcomes = engine
            .transact_write(vec![put(&table, &free), put(&table, &busy)], None)
            .unwrap()
            .unwrap();
        assert_eq!(outcomes.len(), 2);
        assert_eq!(engine.held.count.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_running_token_is_in_progress() {
        let (engine, table) = engine_with_lsi(u64::MAX);
        let guard = TokenGuard::claim(&engine.held, "tok").unwrap();
        let one = item("b", 1);
        let err = engine
            .transact_write(vec![put(&table, &one)], Some(("tok", "print")))
            .err()
            .unwrap();
        assert!(matches!(err, Error::TransactionInProgress(_)), "{err:?}");
        drop(guard);
        assert!(engine
            .transact_write(vec![put(&table, &one)], Some(("tok", "print")))
            .unwrap()
            .is_some());
        // The same token again: already done, nothing re-applied.
        assert!(engine
            .transact_write(vec![put(&table, &one)], Some(("tok", "print")))
            .unwrap()
            .is_none());
    }
}
