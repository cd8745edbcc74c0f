//! Per-item lock stripes: writes to one item are serialised (read, decide, commit), writes to
//! different items almost never wait for each other. No global lock.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Mutex, MutexGuard};

const STRIPES: usize = 4096;

pub struct LockStripes {
    stripes: Box<[Mutex<()>]>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for LockStripes {
    fn default() -> Self {
        LockStripes {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: Default::default(),
        }
    }
}

impl LockStripes {
    fn stripe(&self, key: &[u8]) -> usize {
        let mut h = self.hasher.build_hasher();
        h.write(key);
        (h.finish() as usize) % STRIPES
    }

    /// Locks the stripe of one item key.
    pub fn lock(&self, key: &[u8]) -> MutexGuard<'_, ()> {
        // A poisoned stripe only means another request panicked while holding it; the data
        // it guards is in RocksDB, so carry on.
        self.stripes[self.stripe(key)]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Locks every stripe: no item write is under way while the guards live.
    pub fn lock_every(&self) -> Vec<MutexGuard<'_, ()>> {
        self.stripes
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()))
            .collect()
    }

    /// Locks the stripes of several item keys, in stripe order so that two callers never
    /// wait for each other in a cycle.
    pub fn lock_all<'a>(&self, keys: impl Iterator<Item = &'a [u8]>) -> Vec<MutexGuard<'_, ()>> {
        let mut stripes: Vec<usize> = keys.map(|k| self.stripe(k)).collect();
        stripes.sort_unstable();
        stripes.dedup();
        stripes
            .into_iter()
            .map(|i| self.stripes[i].lock().unwrap_or_else(|p| p.into_inner()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_same_stripe() {
        let l = LockStripes::default();
        assert_eq!(l.stripe(b"abc"), l.stripe(b"abc"));
        let spread: std::collections::HashSet<_> = (0..1000)
            .map(|i| l.stripe(format!("k{i}").as_bytes()))
            .collect();
        assert!(spread.len() > 800);
    }
}
