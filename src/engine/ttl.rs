//! Time to Live. Every item whose TTL attribute is a Number has an entry in the `expiry`
//! column family under `expiry seconds | table_id | item key`, kept in the item's write batch,
//! so the expirer walks expired entries in time order and never scans a table. An expired item
//! is deleted under its lock after a fresh read (a write may have moved its expiry), without
//! capacity, with its index entries and a stream REMOVE record marked as TTL's.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::catalog::TableMeta;
use super::items::Change;
use super::streams::Commit;
use super::Engine;
use crate::error::Result;
use crate::model::{AttributeValue, Item};
use crate::storage::codec::StoredItem;
use crate::storage::{Batch, Cf, KeyRange};

/// DynamoDB ignores expiry times more than five years in the past.
const FIVE_YEARS: f64 = 5.0 * 365.0 * 86400.0;
/// Expired items deleted per pass before the expirer looks at the clock again.
const PASS: usize = 1000;

fn expiry_key(at: u64, table_id: u32, item_key: &[u8]) -> Vec<u8> {
    let mut k = at.to_be_bytes().to_vec();
    k.extend_from_slice(&table_id.to_be_bytes());
    k.extend_from_slice(item_key);
    k
}

/// The expiry second of an item under a table's TTL setting, if it has a usable one.
fn expiry_of(table: &TableMeta, item: &Item) -> Option<u64> {
    let ttl = table.ttl.as_ref()?;
    match item.get(&ttl.attribute)? {
        AttributeValue::N(n) => {
            let secs: f64 = n.to_string().parse().ok()?;
            (secs >= 0.0 && secs < u64::MAX as f64).then_some(secs as u64)
        }
        _ => None,
    }
}

/// Who deleted an item, as a stream record's `userIdentity` says for TTL deletes.
pub fn ttl_identity() -> serde_json::Value {
    json!({"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"})
}

impl Engine {
    /// Moves an item's expiry entry from its old expiry to its new one.
    pub(super) fn write_expiry(
        &self,
        commit: &mut Commit,
        table: &TableMeta,
        key: &[u8],
        old: Option<&Item>,
        new: Option<&Item>,
    ) -> Result<()> {
        if table.ttl.is_none() {
            return Ok(());
        }
        let before = old.and_then(|i| expiry_of(table, i));
        let after = new.and_then(|i| expiry_of(table, i));
        if before == after {
            return Ok(());
        }
        if let Some(at) = before {
            self.store.delete(
                &mut commit.batch,
                Cf::Expiry,
                &expiry_key(at, table.id, key),
            )?;
        }
        if let Some(at) = after {
            self.store.put(
                &mut commit.batch,
                Cf::Expiry,
                &expiry_key(at, table.id, key),
                b"",
            )?;
        }
        Ok(())
    }

    /// Starts the expirer: every `interval` it deletes the items whose expiry has passed, and
    /// trims stream records and change logs past their retention.
    pub fn start_expirer(self: &Arc<Self>, interval: Duration) {
        let engine = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("expirer".into())
            .spawn(move || loop {
                std::thread::sleep(interval);
                let Some(engine) = engine.upgrade() else {
                    return;
                };
                if let Err(e) = engine.expire_due() {
                    tracing::error!(error = %e, "TTL expirer pass failed");
                }
                if let Err(e) = engine.trim_streams() {
                    tracing::error!(error = %e, "stream trimming failed");
                }
                if let Err(e) = engine.trim_history() {
                    tracing::error!(error = %e, "change log trimming failed");
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the TTL expirer");
        }
    }

    /// One expirer pass: deletes every item whose expiry is due now. Returns how many.
    pub fn expire_due(&self) -> Result<usize> {
        let now = self.clock.epoch_seconds();
        let tables: Vec<Arc<TableMeta>> = self.catalog.all();
        let mut deleted = 0;
        loop {
            let range = KeyRange {
                cf: Cf::Expiry,
                lower: Vec::new(),
                upper: (now.max(0.0) as u64 + 1).to_be_bytes().to_vec(),
                reverse: false,
            };
            let due: Vec<Box<[u8]>> = self
                .store
                .range(&range)?
                .take(PASS)
                .map(|e| e.map(|(k, _)| k))
                .collect::<Result<_>>()?;
            if due.is_empty() {
                return Ok(deleted);
            }
            for entry in &due {
                deleted += self.expire_one(&tables, entry, now)? as usize;
            }
            if due.len() < PASS {
                return Ok(deleted);
            }
        }
    }

    /// Deletes the item of one due expiry entry if it is still expired; drops the entry.
    fn expire_one(&self, tables: &[Arc<TableMeta>], entry: &[u8], now: f64) -> Result<bool> {
        let (Some(table_id), Some(item_key)) = (
            entry
                .get(8..12)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes),
            entry.get(12..),
        ) else {
            return Ok(false);
        };
        let mut commit = Commit::default();
        self.store.delete(&mut commit.batch, Cf::Expiry, entry)?;
        let Some(table) = tables.iter().find(|t| t.id == table_id) else {
            self.store.write(commit.batch)?;
            return Ok(false);
        };
        let _guard = self.locks.lock(item_key);
        let table = self.latest(table).unwrap_or_else(|| table.clone());
        let current = self
            .store
            .get(Cf::Items, item_key)?
            .map(|b| StoredItem::new(b.to_vec()).decode())
            .transpose()?;
        let expired = current
            .as_ref()
            .and_then(|item| expiry_of(&table, item))
            .is_some_and(|at| (at as f64) <= now && (at as f64) >= now - FIVE_YEARS);
        if !expired {
            // A newer write moved or removed the expiry (its own entry exists), or the item is
            // gone, or the time is too far back for TTL: nothing to delete.
            self.store.write(commit.batch)?;
            return Ok(false);
        }
        let staged = self.stage(&table, item_key, Change::Delete, None)?;
        commit.identity = Some(ttl_identity());
        self.apply(&mut commit, &table, item_key, staged)?;
        self.write_commit(commit)?;
        Ok(true)
    }

    /// Enters items written before TTL was enabled in the expiry index (in the background,
    /// under each item's lock from a fresh read, like an index backfill), then marks the
    /// table's TTL as complete.
    pub(super) fn start_ttl_backfill(self: &Arc<Self>, table: &TableMeta) {
        let (region, name) = (table.region.clone(), table.name.clone());
        self.in_background(format!("ttl-{name}"), move |engine| {
            engine.ttl_backfill(&region, &name)
        });
    }

    fn ttl_backfill(&self, region: &str, name: &str) -> Result<()> {
        let mut disabled = false;
        self.walk_items(region, name, |table, key, item| {
            if table.ttl.is_none() {
                disabled = true;
                return Ok(false);
            }
            if let Some(at) = item.and_then(|item| expiry_of(table, &item)) {
                let mut batch = Batch::default();
                self.store
                    .put(&mut batch, Cf::Expiry, &expiry_key(at, table.id, key), b"")?;
                self.store.write(batch)?;
            }
            Ok(true)
        })?;
        if disabled {
            return Ok(());
        }
        let change = self.catalog.begin();
        if let Some(current) = change.get(region, name) {
            let mut meta = (*current).clone();
            if let Some(ttl) = meta.ttl.as_mut() {
                ttl.backfilling = false;
                change.save(&self.store, Default::default(), meta)?;
            }
        }
        Ok(())
    }

    /// Restarts TTL backfills a previous run left unfinished.
    pub fn resume_ttl_backfills(self: &Arc<Self>) {
        for table in self.catalog.all() {
            if table.ttl.as_ref().is_some_and(|t| t.backfilling) {
                self.start_ttl_backfill(&table);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::engine::catalog::TtlSpec;
    use crate::engine::testing::{engine, simple_table};
    use crate::model::item_from_json;
    use std::time::{Duration, UNIX_EPOCH};

    fn item(p: &str, expiry: serde_json::Value) -> Item {
        item_from_json(&json!({"p": {"S": p}, "exp": expiry})).unwrap()
    }

    fn exists(engine: &Engine, table: &TableMeta, p: &str) -> bool {
        let key = item_from_json(&json!({"p": {"S": p}})).unwrap();
        engine.get_item(table, &key).unwrap().is_some()
    }

    #[test]
    fn expired_items_go_and_nothing_else() {
        let start = 2_000_000_000u64;
        let clock = Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(start)));
        let engine = engine(clock.clone(), u64::MAX);
        let table = simple_table(&engine, Some("KEYS_ONLY"));
        // Written before TTL is enabled: entered by the backfill.
        engine
            .put_item(
                &table,
                item("early", json!({"N": (start - 1).to_string()})),
                None,
            )
            .unwrap();
        let table = engine
            .update_table("r", "s", |m| {
                m.ttl = Some(TtlSpec {
                    attribute: "exp".into(),
                    backfilling: true,
                });
                Ok(())
            })
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while engine
            .table("r", "s")
            .unwrap()
            .ttl
            .as_ref()
            .unwrap()
            .backfilling
        {
            assert!(
                std::time::Instant::now() < deadline,
                "backfill never finished"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let n = |s: u64| json!({"N": s.to_string()});
        engine
            .put_item(&table, item("past", n(start - 10)), None)
            .unwrap();
        engine
            .put_item(&table, item("soon", n(start + 60)), None)
            .unwrap();
        engine
            .put_item(&table, item("text", json!({"S": "1"})), None)
            .unwrap();
        engine
            .put_item(&table, item("ancient", n(start - 6 * 365 * 86400)), None)
            .unwrap();
        // A write that moves the expiry away keeps the item.
        engine
            .put_item(&table, item("moved", n(start - 5)), None)
            .unwrap();
        engine
            .put_item(&table, item("moved", n(start + 3600)), None)
            .unwrap();

        assert_eq!(engine.expire_due().unwrap(), 2);
        for (p, alive) in [
            ("early", false),
            ("past", false),
            ("soon", true),
            ("text", true),
            ("ancient", true),
            ("moved", true),
        ] {
            assert_eq!(exists(&engine, &table, p), alive, "{p}");
        }
        clock.advance(Duration::from_secs(61));
        assert_eq!(engine.expire_due().unwrap(), 1);
        assert!(!exists(&engine, &table, "soon"));
        assert!(exists(&engine, &table, "moved"));

        // TTL deletes write REMOVE records marked as the service's.
        let stream = table.active_stream().unwrap();
        let page = engine.read_records(stream.id, 0, 0, 100).unwrap();
        let removes: Vec<serde_json::Value> = page
            .records
            .iter()
            .map(|r| serde_json::from_slice::<serde_json::Value>(r).unwrap())
            .filter(|r| r["eventName"] == "REMOVE")
            .collect();
        assert_eq!(removes.len(), 3);
        assert!(removes.iter().all(|r| r["userIdentity"] == ttl_identity()));
    }
}
