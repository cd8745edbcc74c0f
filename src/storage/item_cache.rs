//! A read cache of items in front of RocksDB. A hit skips the memtable, the bloom filter and the
//! index and data block searches: about 9,000 of the 40,000 instructions of a GetItem, and the
//! read of the old item that every write makes. RocksDB's own row cache cannot serve: it refuses
//! range deletions, and dropping a table is one.
//!
//! Reads stay strongly consistent. Writes to one item are serialised by the engine (its lock
//! stripes), and each one goes through `begin` before its batch commits and `finish` after:
//! - `begin` replaces the cached value with a mark: the key is being written;
//! - `finish` replaces the mark with the committed value (or drops it: deleted, or the commit
//!   failed).
//!
//! Both move the shard's epoch on. A reader that misses notes the epoch, reads RocksDB, and
//! `fill`s only if the epoch has not moved and the key is not marked, so a value read before a
//! commit never lands after it, and between a commit and its `finish` nothing stale is served.
//! Marks are never evicted.

use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};

use lru::{DefaultHasher, LruCache};

/// Shards keep lock waits rare: two requests meet only on the same shard.
const SHARDS: usize = 64;

/// What an entry costs beyond its key and value bytes: the LRU node and its links, the hash
/// slot, the `Arc` counts and the allocator's rounding. Measured: caching 100,000 items of 224
/// bytes (key and value) grows the process by ~400 bytes each.
const ENTRY_OVERHEAD: usize = 176;

pub struct ItemCache {
    shards: Box<[Mutex<Shard>]>,
    shard_capacity: usize,
    /// Picks a key's shard. Seeded per process, as the maps' own hashers are: item keys come
    /// from clients, who must not be able to pile them into one shard or one hash chain.
    shard_hasher: DefaultHasher,
}

struct Shard {
    entries: LruCache<Box<[u8]>, Slot>,
    bytes: usize,
    epoch: u64,
    /// Lookups answered from the cache, and not (counted under the shard's lock: free).
    hits: u64,
    misses: u64,
}

/// What the cache holds and how well it has served, summed over its shards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub bytes: u64,
    pub hits: u64,
    pub misses: u64,
}

enum Slot {
    Value(Arc<[u8]>),
    /// A write of the key is under way.
    Writing,
}

/// What a miss saw, to be handed back to `fill`.
pub struct Miss {
    shard: usize,
    epoch: u64,
}

pub enum Lookup {
    Hit(Arc<[u8]>),
    Miss(Miss),
}

impl ItemCache {
    /// A cache holding about `capacity` bytes of keys and values (the memory budget's share).
    pub fn new(capacity: usize) -> ItemCache {
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    entries: LruCache::unbounded(),
                    bytes: 0,
                    epoch: 0,
                    hits: 0,
                    misses: 0,
                })
            })
            .collect();
        ItemCache {
            shards,
            shard_capacity: capacity / SHARDS,
            shard_hasher: DefaultHasher::default(),
        }
    }

    pub fn get(&self, key: &[u8]) -> Lookup {
        let shard = self.shard_of(key);
        let mut s = self.lock(shard);
        if let Some(Slot::Value(value)) = s.entries.get(key) {
            let value = value.clone();
            s.hits += 1;
            return Lookup::Hit(value);
        }
        s.misses += 1;
        Lookup::Miss(Miss {
            shard,
            epoch: s.epoch,
        })
    }

    pub fn stats(&self) -> CacheStats {
        (0..SHARDS).fold(CacheStats::default(), |total, shard| {
            let s = self.lock(shard);
            CacheStats {
                bytes: total.bytes + s.bytes as u64,
                hits: total.hits + s.hits,
                misses: total.misses + s.misses,
            }
        })
    }

    /// Caches what a reader found after `miss`, unless a write may have overtaken it.
    pub fn fill(&self, miss: Miss, key: &[u8], value: Arc<[u8]>) {
        let mut s = self.lock(miss.shard);
        if s.epoch == miss.epoch && s.entries.peek(key).is_none() {
            self.set(&mut s, key, Slot::Value(value));
        }
    }

    /// Before a write of `key` commits.
    pub fn begin(&self, key: &[u8]) {
        let mut s = self.lock(self.shard_of(key));
        s.epoch += 1;
        self.set(&mut s, key, Slot::Writing);
    }

    /// After the write of `key` committed with `value` (`None`: deleted, or the commit failed).
    pub fn finish(&self, key: &[u8], value: Option<Arc<[u8]>>) {
        let mut s = self.lock(self.shard_of(key));
        s.epoch += 1;
        match value {
            Some(value) => self.set(&mut s, key, Slot::Value(value)),
            None => s.remove(key),
        }
    }

    /// Forgets everything (a range of items was deleted).
    pub fn clear(&self) {
        for shard in 0..SHARDS {
            let mut s = self.lock(shard);
            s.epoch += 1;
            s.entries.clear();
            s.bytes = 0;
        }
    }

    /// Puts `slot` at `key`, then evicts least recently used values until the shard fits.
    fn set(&self, s: &mut Shard, key: &[u8], slot: Slot) {
        let added = weight(key, &slot);
        if added > self.shard_capacity {
            s.remove(key);
            return;
        }
        s.bytes += added;
        match s.entries.get_mut(key) {
            Some(current) => {
                let old = std::mem::replace(current, slot);
                s.bytes -= weight(key, &old);
            }
            None => {
                s.entries.put(key.into(), slot);
            }
        }
        let mut tries = s.entries.len();
        while s.bytes > self.shard_capacity && tries > 0 {
            tries -= 1;
            match s.entries.pop_lru() {
                Some((k, Slot::Writing)) => {
                    s.entries.put(k, Slot::Writing);
                }
                Some((k, old)) => s.bytes -= weight(&k, &old),
                None => break,
            }
        }
    }

    fn shard_of(&self, key: &[u8]) -> usize {
        self.shard_hasher.hash_one(key) as usize % SHARDS
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        // A panic under the lock leaves a shard whose entries are still each a committed value.
        self.shards[shard].lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Shard {
    fn remove(&mut self, key: &[u8]) {
        if let Some(old) = self.entries.pop(key) {
            self.bytes -= weight(key, &old);
        }
    }
}

fn weight(key: &[u8], slot: &Slot) -> usize {
    let value = match slot {
        Slot::Value(v) => v.len(),
        Slot::Writing => 0,
    };
    key.len() + value + ENTRY_OVERHEAD
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(cache: &ItemCache, key: &[u8]) -> Option<Vec<u8>> {
        match cache.get(key) {
            Lookup::Hit(v) => Some(v.to_vec()),
            Lookup::Miss(_) => None,
        }
    }

    fn miss(cache: &ItemCache, key: &[u8]) -> Miss {
        match cache.get(key) {
            Lookup::Hit(_) => panic!("expected a miss"),
            Lookup::Miss(m) => m,
        }
    }

    #[test]
    fn lookups_are_counted() {
        let cache = ItemCache::new(1 << 20);
        let m = miss(&cache, b"k");
        cache.fill(m, b"k", Arc::from(&b"v0"[..]));
        assert!(hit(&cache, b"k").is_some());
        assert!(hit(&cache, b"k").is_some());
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses), (2, 1));
        assert!(stats.bytes > 0);
    }

    #[test]
    fn a_fill_is_served_until_a_write_replaces_it() {
        let cache = ItemCache::new(1 << 20);
        let m = miss(&cache, b"k");
        cache.fill(m, b"k", Arc::from(&b"v0"[..]));
        assert_eq!(hit(&cache, b"k").as_deref(), Some(&b"v0"[..]));
        cache.begin(b"k");
        assert_eq!(hit(&cache, b"k"), None);
        cache.finish(b"k", Some(Arc::from(&b"v1"[..])));
        assert_eq!(hit(&cache, b"k").as_deref(), Some(&b"v1"[..]));
        cache.begin(b"k");
        cache.finish(b"k", None);
        assert_eq!(hit(&cache, b"k"), None);
    }

    #[test]
    fn a_value_read_before_a_commit_never_lands_after_it() {
        let cache = ItemCache::new(1 << 20);
        // Missed before the write began, filled after it finished.
        let m = miss(&cache, b"k");
        cache.begin(b"k");
        cache.finish(b"k", None);
        cache.fill(m, b"k", Arc::from(&b"old"[..]));
        assert_eq!(hit(&cache, b"k"), None);
        // Missed while the write was under way, filled before it finished.
        cache.begin(b"k");
        let m = miss(&cache, b"k");
        cache.fill(m, b"k", Arc::from(&b"old"[..]));
        assert_eq!(hit(&cache, b"k"), None);
        cache.finish(b"k", Some(Arc::from(&b"new"[..])));
        assert_eq!(hit(&cache, b"k").as_deref(), Some(&b"new"[..]));
        // Missed before a clear.
        cache.begin(b"k");
        cache.finish(b"k", None);
        let m = miss(&cache, b"k");
        cache.clear();
        cache.fill(m, b"k", Arc::from(&b"gone"[..]));
        assert_eq!(hit(&cache, b"k"), None);
    }

    #[test]
    fn stays_within_its_capacity_dropping_the_least_recently_used() {
        let cache = ItemCache::new(SHARDS * 4 * (ENTRY_OVERHEAD + 16));
        let keys: Vec<[u8; 8]> = (0..10_000u64).map(|n| n.to_be_bytes()).collect();
        for k in &keys {
            let m = miss(&cache, k);
            cache.fill(m, k, Arc::from(&[7u8; 8][..]));
        }
        for shard in cache.shards.iter() {
            let s = shard.lock().unwrap();
            assert!(s.bytes <= cache.shard_capacity);
            assert_eq!(s.bytes, s.entries.len() * (ENTRY_OVERHEAD + 16));
        }
        // The last key filled is still there; the first one went long ago.
        assert!(hit(&cache, &keys[9_999]).is_some());
        assert!(hit(&cache, &keys[0]).is_none());
        // A write's mark outlives any number of evictions.
        cache.begin(&keys[0]);
        let m = miss(&cache, &keys[0]);
        for k in &keys[1..] {
            let m = miss(&cache, k);
            cache.fill(m, k, Arc::from(&[8u8; 8][..]));
        }
        cache.fill(m, &keys[0], Arc::from(&[0u8; 8][..]));
        assert!(hit(&cache, &keys[0]).is_none());
        // Nothing is cached with no capacity.
        let none = ItemCache::new(0);
        let m = miss(&none, b"k");
        none.fill(m, b"k", Arc::from(&b"v"[..]));
        assert_eq!(hit(&none, b"k"), None);
    }

    /// One writer counts up; readers must never see the count go back, whatever the
    /// interleaving of cache fills and writes.
    #[test]
    fn concurrent_readers_never_go_back_in_time() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let cache = ItemCache::new(1 << 20);
        let committed = AtomicU64::new(0);
        let read = |cache: &ItemCache| -> u64 {
            match cache.get(b"k") {
                Lookup::Hit(v) => u64::from_be_bytes(v[..].try_into().unwrap()),
                Lookup::Miss(m) => {
                    let n = committed.load(Ordering::SeqCst);
                    // Widens the window in which a write can overtake the fill.
                    std::thread::yield_now();
                    cache.fill(m, b"k", Arc::from(&n.to_be_bytes()[..]));
                    n
                }
            }
        };
        std::thread::scope(|s| {
            s.spawn(|| {
                for n in 1..=20_000u64 {
                    cache.begin(b"k");
                    committed.store(n, Ordering::SeqCst);
                    cache.finish(b"k", (n % 3 != 0).then(|| Arc::from(&n.to_be_bytes()[..])));
                }
            });
            for _ in 0..3 {
                s.spawn(|| {
                    let mut last = 0;
                    while last < 20_000 {
                        // Whatever was committed before the read began is the floor.
                        let floor = committed.load(Ordering::SeqCst);
                        let n = read(&cache);
                        assert!(
                            n >= floor && n >= last,
                            "read {n} after {last}, floor {floor}"
                        );
                        last = n;
                    }
                });
            }
        });
    }
}
