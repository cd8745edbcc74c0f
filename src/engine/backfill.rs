//! Backfilling a GSI added by UpdateTable: a background thread indexes every existing item
//! while writes go on. Each item is indexed under its lock stripe from a fresh read, and
//! writes made since the index was published maintain it themselves, so no item is missed
//! or counted twice however the two race. A restart resumes unfinished backfills.

use std::sync::Arc;

use super::catalog::TableMeta;
use super::read::Source;
use super::Engine;
use crate::error::Result;
use crate::storage::codec::{self, StoredItem};
use crate::storage::{Batch, Cf};

/// Items indexed per page read.
const PAGE: usize = 512;

impl Engine {
    pub(super) fn start_backfill(self: &Arc<Self>, table: &TableMeta, index_id: u32) {
        let engine = Arc::clone(self);
        let (region, name) = (table.region.clone(), table.name.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("backfill-{name}"))
            .spawn(move || {
                if let Err(e) = engine.backfill(&region, &name, index_id) {
                    tracing::error!(table = %name, index_id, error = %e, "index backfill failed");
                }
            });
        if let Err(e) = spawned {
            tracing::error!(table = %table.name, error = %e, "cannot start index backfill");
        }
    }

    /// Restarts the backfills a previous run left unfinished.
    pub fn resume_backfills(self: &Arc<Self>) {
        for table in self.catalog.all() {
            for index in table.global_indexes.iter().filter(|i| i.backfilling) {
                self.start_backfill(&table, index.id);
            }
        }
    }

    fn backfill(&self, region: &str, name: &str, index_id: u32) -> Result<()> {
        let Some(table) = self.catalog.get(region, name) else {
            return Ok(());
        };
        let source = Source {
            table: &table,
            index: None,
        };
        let range = source.scan_range(0, 1);
        let mut after: Option<Vec<u8>> = None;
        let mut items = 0usize;
        tracing::info!(table = name, index_id, "index backfill started");
        loop {
            let page = self.read_page(range.clone(), after.take(), Some(PAGE))?;
            for stored in &page.items {
                let item = stored.decode()?;
                let Some(key) = source.storage_key(&item) else {
                    continue;
                };
                if !self.index_one(region, name, index_id, &key)? {
                    return Ok(()); // the table or the index is gone
                }
                after = Some(key);
                items += 1;
            }
            if !page.truncated || after.is_none() {
                break;
            }
        }
        self.finish_backfill(region, name, index_id)?;
        tracing::info!(table = name, index_id, items, "index backfill finished");
        Ok(())
    }

    /// Writes one item's entry in the index unless a write already did. False once the
    /// index no longer exists.
    fn index_one(&self, region: &str, name: &str, index_id: u32, key: &[u8]) -> Result<bool> {
        let _guard = self.locks.lock(key);
        let Some(table) = self.catalog.get(region, name) else {
            return Ok(false);
        };
        let Some(index) = table.global_indexes.iter().find(|i| i.id == index_id) else {
            return Ok(false);
        };
        let Some(bytes) = self.store.get(Cf::Items, key)? else {
            return Ok(true);
        };
        let item = StoredItem::new(bytes.to_vec()).decode()?;
        let Some(entry) = index.entry(&table.key_schema, &item) else {
            return Ok(true);
        };
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
