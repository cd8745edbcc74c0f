//! Query and Scan over storage: a key condition or a scan segment becomes one key range, read
//! a page at a time under DynamoDB's limits (`Limit` items, 1 MB of item data).

use super::catalog::{IndexMeta, TableMeta};
use super::Engine;
use crate::error::Result;
use crate::expr::key_condition::{KeyCondition, SortCondition};
use crate::model::schema::KeySchema;
use crate::model::{AttributeValue, Item};
use crate::storage::codec::StoredItem;
use crate::storage::keys::{self, encode_bytes_open, encode_value};
use crate::storage::{increment, Cf, KeyRange};

/// DynamoDB stops a Query or Scan page once it has read 1 MB of items.
pub const PAGE_BYTES: usize = 1 << 20;

/// Where a read happens: a table, or one of its indexes.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    pub table: &'a TableMeta,
    pub index: Option<&'a IndexMeta>,
}

impl Source<'_> {
    fn cf(&self) -> Cf {
        if self.index.is_some() {
            Cf::Indexes
        } else {
            Cf::Items
        }
    }

    fn id(&self) -> u32 {
        self.index.map_or(self.table.id, |i| i.id)
    }

    /// The GSI read, if it is one (an LSI reads with its table's capacity).
    pub fn gsi(&self) -> Option<&IndexMeta> {
        self.index
            .filter(|i| self.table.global_indexes.iter().any(|g| g.id == i.id))
    }

    /// The key schema reads are ordered and queried by.
    pub fn key_schema(&self) -> &KeySchema {
        self.index.map_or(&self.table.key_schema, |i| &i.key_schema)
    }

    /// The storage key of an item in this source (the position of an `ExclusiveStartKey`);
    /// `None` if the item lacks a key attribute.
    pub fn storage_key(&self, item: &Item) -> Option<Vec<u8>> {
        let table = &self.table.key_schema;
        let pk = item.get(&table.hash_key().name)?;
        let sk = match table.range_key() {
            Some(r) => Some(item.get(&r.name)?),
            None => None,
        };
        Some(match self.index {
            Some(index) => {
                let (ipk, isk) = index.key_schema.values_in(item)?;
                keys::index_key(index.id, (&ipk, &isk), (pk, sk))
            }
            None => keys::item_key(self.table.id, pk, sk),
        })
    }

    /// The key range of a Query.
    pub fn query_range(&self, condition: &KeyCondition, forward: bool) -> KeyRange {
        let partition: Vec<&AttributeValue> = condition.partition.iter().collect();
        // The sort key's leading equalities narrow the partition like a longer prefix.
        let mut partition = keys::composite_partition_prefix(self.id(), &partition);
        for v in &condition.sort_prefix {
            encode_value(v, &mut partition);
        }
        let with = |v: &AttributeValue| {
            let mut k = partition.clone();
            encode_value(v, &mut k);
            k
        };
        let after = |mut k: Vec<u8>| {
            increment(&mut k);
            k
        };
        let end = after(partition.clone());
        let (lower, upper) = match &condition.sort {
            None => (partition.clone(), end),
            Some(SortCondition::Eq(v)) => (with(v), after(with(v))),
            Some(SortCondition::Lt(v)) => (partition.clone(), with(v)),
            Some(SortCondition::Le(v)) => (partition.clone(), after(with(v))),
            Some(SortCondition::Gt(v)) => (after(with(v)), end),
            Some(SortCondition::Ge(v)) => (with(v), end),
            Some(SortCondition::Between(a, b)) => (with(a), after(with(b))),
            Some(SortCondition::BeginsWith(p)) => {
                let mut k = partition.clone();
                match p {
                    AttributeValue::S(s) => encode_bytes_open(s.as_bytes(), &mut k),
                    AttributeValue::B(b) => encode_bytes_open(b, &mut k),
                    other => encode_value(other, &mut k),
                }
                (k.clone(), after(k))
            }
        };
        KeyRange {
            cf: self.cf(),
            lower,
            upper,
            reverse: !forward,
        }
    }

    /// The key range of segment `segment` of a `total`-segment Scan.
    pub fn scan_range(&self, segment: u32, total: u32) -> KeyRange {
        let (lower, upper) = keys::segment_range(self.id(), segment, total);
        KeyRange {
            cf: self.cf(),
            lower,
            upper,
            reverse: false,
        }
    }
}

/// One page of a read.
pub struct Page {
    pub items: Vec<StoredItem>,
    /// Total size of the items read (what capacity is charged on).
    pub bytes: usize,
    /// The read stopped at `Limit` or 1 MB: the last item's key is the `LastEvaluatedKey`.
    pub truncated: bool,
}

impl Engine {
    /// Reads up to `limit` items of `range` starting after the key `after` (in the range's
    /// direction), stopping once 1 MB is read.
    pub fn read_page(
        &self,
        mut range: KeyRange,
        after: Option<Vec<u8>>,
        limit: Option<usize>,
    ) -> Result<Page> {
        if let Some(mut start) = after {
            if range.reverse {
                range.upper = range.upper.min(start);
            } else {
                // The smallest key after `start`.
                start.push(0);
                range.lower = range.lower.max(start);
            }
        }
        let mut page = Page {
            items: Vec::new(),
            bytes: 0,
            truncated: false,
        };
        if range.lower >= range.upper {
            return Ok(page);
        }
        let limit = limit.unwrap_or(usize::MAX);
        // Like DynamoDB, the page ends as soon as a limit is reached, without looking ahead:
        // a `LastEvaluatedKey` may lead to an empty last page.
        for entry in self.store.range(&range)? {
            let (_, value) = entry?;
            let item = StoredItem::new(value.into_vec());
            page.bytes += item.size()?;
            page.items.push(item);
            if page.items.len() >= limit || page.bytes >= PAGE_BYTES {
                page.truncated = true;
                break;
            }
        }
        Ok(page)
    }
}
