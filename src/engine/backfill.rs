//! Backfilling a GSI added by UpdateTable: a background thread indexes every existing item
//! while writes go on. Each item is indexed under its lock stripe from a fresh read, and
//! writes made since the index was published maintain it themselves, so no item is missed
//! or counted twice however the two race. A restart resumes unfinished backfills. The item
//! walk is shared with the TTL backfill.

use std::sync::Arc;

use super::catalog::TableMeta;
use super::read::Source;
use super::Engine;
use crate::error::Result;
use crate::model::Item;
use crate::storage::codec::{self, StoredItem};
use crate::storage::{Batch, Cf};

/// Items indexed per page read.
const PAGE: usize = 512;

impl Engine {
    /// Runs `work` on a named background thread, logging its failure.
    pub(super) fn in_background(
        self: &Arc<Self>,
        what: String,
        work: impl FnOnce(&Engine) -> Result<()> + Send + 'static,
    ) {
        let engine = Arc::clone(self);
        let name = what.clone();
        let spawned = std::thread::Builder::new()
            .name(what.chars().take(15).collect())
            .spawn(move || {
                if let Err(e) = work(&engine) {
                    tracing::error!(task = %name, error = %e, "background task failed");
                }
            });
        if let Err(e) = spawned {
            tracing::error!(task = %what, error = %e, "cannot start background task");
        }
    }

    /// Visits every item of a table, each under its lock with a fresh read: `visit` gets the
    /// table's current definition, the item's key and the item as stored now (gone: `None`),
    /// and returns false to stop. Writes made meanwhile are ordered before or after each visit,
    /// never interleaved with it. Returns how many items were visited.
    pub(super) fn walk_items(
        &self,
        region: &str,
        name: &str,
        mut visit: impl FnMut(&TableMeta, &[u8], Option<Item>) -> Result<bool>,
    ) -> Result<usize> {
        let Some(table) = self.catalog.get(region, name) else {
            return Ok(0);
        };
        let source = Source {
            table: &table,
            index: None,
        };
        let range = source.scan_range(0, 1);
        let mut after: Option<Vec<u8>> = None;
        let mut visited = 0;
        loop {
            let page = self.read_page(range.clone(), after.take(), Some(PAGE))?;
            for stored in &page.items {
                let Some(key) = source.storage_key(&stored.decode()?) else {
                    continue;
                };
                let _guard = self.locks.lock(&key);
                let Some(latest) = self.latest(&table) else {
                    return Ok(visited); // the table is gone
                };
                let current = self
                    .store
                    .get(Cf::Items, &key)?
                    .map(|b| StoredItem::new(b.to_vec()).decode())
                    .transpose()?;
                if !visit(&latest, &key, current)? {
                    return Ok(visited);
                }
                visited += 1;
                after = Some(key);
            }
            if !page.truncated || after.is_none() {
                return Ok(visited);
            }
        }
    }

    pub(super) fn start_backfill(self: &Arc<Self>, table: &TableMeta, index_id: u32) {
        let (region, name) = (table.region.clone(), table.name.clone());
        self.in_background(format!("backfill-{name}"), move |engine| {
            engine.backfill(&region, &name, index_id)
        });
    }

    /// Restarts the backfills a previous run left unfinished.
    pub fn resume_backfills(self: &Arc<Self>) {
        // A restoring table's indexes are built when its restore ends.
        for table in self.catalog.all().iter().filter(|t| !t.filling()) {
            for index in table.global_indexes.iter().filter(|i| i.backfilling) {
                self.start_backfill(table, index.id);
            }
        }
    }

    fn backfill(&self, region: &str, name: &str, index_id: u32) -> Result<()> {
        tracing::info!(table = name, index_id, "index backfill started");
        let mut gone = false;
        let items = self.walk_items(region, name, |table, _, item| {
            let Some(index) = table.global_indexes.iter().find(|i| i.id == index_id) else {
                gone = true;
                return Ok(false);
            };
            let Some(entry) = item.and_then(|item| index.entry(&table.key_schema, &item)) else {
                return Ok(true);
            };
            // A write since the index was published has already entered the item.
            if self.store.get(Cf::Indexes, &entry.key)?.is_some() {
                return Ok(true);
            }
            let mut batch = Batch::default();
            let value = codec::encode_item(&entry.item, entry.size);
            self.store
                .put(&mut batch, Cf::Indexes, &entry.key, &value)?;
            self.count(&mut batch, index_id, (None, Some(entry.size)))?;
            self.store.write(batch)?;
            Ok(true)
        })?;
        if gone {
            return Ok(());
        }
        self.finish_backfill(region, name, index_id)?;
        tracing::info!(table = name, index_id, items, "index backfill finished");
        Ok(())
    }

    /// Marks the index ACTIVE.
    fn finish_backfill(&self, region: &str, name: &str, index_id: u32) -> Result<()> {
        let change = self.catalog.begin();
        let Some(current) = change.get(region, name) else {
            return Ok(());
        };
        let mut meta = (*current).clone();
        let Some(index) = meta.global_indexes.iter_mut().find(|i| i.id == index_id) else {
            return Ok(());
        };
        index.backfilling = false;
        change.save(&self.store, Batch::default(), meta)?;
        Ok(())
    }
}
