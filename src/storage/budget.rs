//! One memory budget (`--memory-mb`) divided among everything that grows with the data: the
//! item cache, and RocksDB's block cache, which also holds the index and filter blocks and is
//! charged for the memtables (through a write buffer manager), so RocksDB's share cannot grow
//! past its part however large the tables become.

/// The smallest budget that leaves every part room to work.
pub const MIN_MB: usize = 32;
/// `--memory-mb`'s default: RSS under load then stays near 256 MiB plus the fixed margin
/// (docs/configuration.md).
pub const DEFAULT_MB: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryBudget {
    /// Recently read and written items, decoded, in front of RocksDB.
    pub item_cache: usize,
    /// RocksDB's cache: data, index and filter blocks, and the memtables charged to it.
    pub block_cache: usize,
    /// The most the memtables of all column families may take of `block_cache`.
    pub memtables: usize,
}

impl MemoryBudget {
    /// A quarter of the budget for the item cache, three quarters for RocksDB's cache, of
    /// which up to a third may be memtables.
    pub fn of_mb(mb: usize) -> MemoryBudget {
        let total = mb.max(MIN_MB) << 20;
        let item_cache = total / 4;
        let block_cache = total - item_cache;
        MemoryBudget {
            item_cache,
            block_cache,
            memtables: block_cache / 3,
        }
    }

    /// The memtable size of the item and index column families: small enough that each of
    /// them can hold two (the one filling and one flushing) within the memtable share.
    pub fn write_buffer(&self) -> usize {
        (self.memtables / 8).clamp(1 << 20, 64 << 20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_add_up_to_the_budget() {
        for mb in [MIN_MB, 64, DEFAULT_MB, 1024, 16384] {
            let b = MemoryBudget::of_mb(mb);
            assert_eq!(b.item_cache + b.block_cache, mb << 20);
            assert!(b.memtables < b.block_cache);
            // Items and indexes, two memtables each, fit the memtable share.
            assert!(4 * b.write_buffer() <= b.memtables, "{mb}");
        }
        assert_eq!(MemoryBudget::of_mb(1), MemoryBudget::of_mb(MIN_MB));
    }
}
