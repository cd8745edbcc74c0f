//! Secondary index entries: which entry an item has in an index (none if it lacks an index key
//! attribute: indexes are sparse), what that entry holds (the projection), and the checks
//! DynamoDB makes on index key values when an item is written.

use super::catalog::{IndexMeta, TableMeta};
use crate::error::{Error, Result};
use crate::model::schema::KeySchema;
use crate::model::{item_size, AttributeValue, Item};
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

    /// The item's entry, or `None` when an index key attribute is missing. Index key values
    /// have been checked with `check_index_keys`.
    pub fn entry(&self, table: &KeySchema, item: &Item) -> Option<Entry> {
        let ipk = item.get(&self.key_schema.hash.name)?;
        let isk = match &self.key_schema.range {
            Some(r) => Some(item.get(&r.name)?),
            None => None,
        };
        let pk = item.get(&table.hash.name)?;
        let sk = match &table.range {
            Some(r) => item.get(&r.name),
            None => None,
        };
        let key = keys::index_key(self.id, (ipk, isk), (pk, sk));
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

/// An index key attribute present in a written item must have the index's type and not be
/// empty; DynamoDB refuses the whole write otherwise.
pub fn check_index_keys(table: &TableMeta, item: &Item) -> Result<()> {
    for index in table.indexes() {
        for attr in index.key_schema.attributes() {
            let Some(v) = item.get(&attr.name) else {
                continue;
            };
            if v.scalar_type() != Some(attr.ty) {
                return Err(Error::validation(format!(
                    "One or more parameter values were invalid: Type mismatch for Index Key {} Expected: {} Actual: {} IndexName: {}",
                    attr.name,
                    attr.ty.as_str(),
                    v.type_name(),
                    index.name
                )));
            }
            let empty = match v {
                AttributeValue::S(s) if s.is_empty() => Some("string"),
                AttributeValue::B(b) if b.is_empty() => Some("binary"),
                _ => None,
            };
            if let Some(kind) = empty {
                return Err(Error::validation(format!(
                    "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty {kind} value. IndexName: {}, IndexKey: {}",
                    index.name, attr.name
                )));
            }
        }
    }
    Ok(())
}
