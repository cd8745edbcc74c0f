//! Secondary index entries: which entry an item has in an index (none if it lacks an index key
//! attribute: indexes are sparse), what that entry holds (the projection), and the checks
//! DynamoDB makes on index key values when an item is written.

use super::catalog::{IndexMeta, TableMeta};
use crate::error::{Error, Result};
use crate::model::schema::{check_key_sizes, KeySchema};
use crate::model::{item_size, Item};
use crate::storage::keys;

/// One item's entry in one index: its `indexes` key, the projected item and its size.
pub struct Entry {
    pub key: Vec<u8>,
    pub item: Item,
    pub size: usize,
}

impl IndexMeta {
    /// Whether a top-level attribute is stored in this index's entries.
    pub fn projects(&self, table: &KeySchema, name: &str) -> bool {
        self.projection.kind == "ALL"
            || table.is_key_attribute(name)
            || self.key_schema.is_key_attribute(name)
            || self.projection.non_key_attributes.iter().any(|a| a == name)
    }

    /// The item's entry, or `None` when it has no valid key in this index: a key attribute
    /// missing (indexes are sparse), or, for items written before the index existed, one of the
    /// wrong type, empty or too large (a backfill leaves those out, as DynamoDB does).
    pub fn entry(&self, table: &KeySchema, item: &Item) -> Option<Entry> {
        let (ipk, isk) = self.key_schema.values_in(item)?;
        if self.key_error(item).is_some() {
            return None;
        }
        let pk = item.get(&table.hash_key().name)?;
        let sk = table.range_key().and_then(|r| item.get(&r.name));
        let key = keys::index_key(self.id, (&ipk, &isk), (pk, sk));
        let projected: Item = if self.projection.kind == "ALL" {
            item.clone()
        } else {
            item.iter()
                .filter(|(name, _)| self.projects(table, name))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let size = item_size(&projected);
        Some(Entry {
            key,
            item: projected,
            size,
        })
    }
}

impl TableMeta {
    pub fn indexes(&self) -> impl Iterator<Item = &IndexMeta> {
        self.local_indexes.iter().chain(&self.global_indexes)
    }

    pub fn index(&self, name: &str) -> Option<(&IndexMeta, bool)> {
        let local = self.local_indexes.iter().map(|i| (i, false));
        let global = self.global_indexes.iter().map(|i| (i, true));
        local.chain(global).find(|(i, _)| i.name == name)
    }
}

impl IndexMeta {
    /// What is wrong with the index key attributes an item has, if anything: a type other than
    /// the index's, an empty string or binary, or a key over DynamoDB's size limits.
    fn key_error(&self, item: &Item) -> Option<Error> {
        let mut sizes = [0, 0];
        for (attrs, size) in [&self.key_schema.hash, &self.key_schema.range]
            .into_iter()
            .zip(&mut sizes)
        {
            for attr in attrs {
                let Some(v) = item.get(&attr.name) else {
                    continue;
                };
                if v.scalar_type() != Some(attr.ty) {
                    return Some(Error::validation(format!(
                        "One or more parameter values were invalid: Type mismatch for Index Key {} Expected: {} Actual: {} IndexName: {}",
                        attr.name,
                        attr.ty.as_str(),
                        v.type_name(),
                        self.name
                    )));
                }
                if let Some(kind) = v.empty_key_kind() {
                    return Some(Error::validation(format!(
                        "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty {kind} value. IndexName: {}, IndexKey: {}",
                        self.name, attr.name
                    )));
                }
                *size += v.size();
            }
        }
        check_key_sizes(sizes[0], sizes[1]).err()
    }
}

/// The index key attributes present in a written item must have each index's type, not be
/// empty and fit the key size limits; DynamoDB refuses the whole write otherwise.
pub fn check_index_keys(table: &TableMeta, item: &Item) -> Result<()> {
    match table.indexes().find_map(|index| index.key_error(item)) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
