//! Small persistent records of the subsystems beside the tables (functions, queued
//! invocations, ...): whole values under a key in `meta`, each subsystem in its own namespace so
//! their keys never meet the catalog's.

use super::Engine;
use crate::error::Result;
use crate::storage::{Batch, Cf};

/// Key prefix of every record: apart from the catalog's `t\0`, `c\0`, `i\0`, `x\0` and
/// `next_id` keys.
const RECORD_PREFIX: &[u8] = b"r\x00";

fn record_key(namespace: &str, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(RECORD_PREFIX.len() + namespace.len() + 1 + key.len());
    k.extend_from_slice(RECORD_PREFIX);
    k.extend_from_slice(namespace.as_bytes());
    k.push(0);
    k.extend_from_slice(key);
    k
}

/// One change to a namespace's records: a put (`Some`) or a delete (`None`).
pub type RecordChange = (Vec<u8>, Option<Vec<u8>>);

impl Engine {
    /// Applies `changes` atomically and waits until they survive a crash, like an answered
    /// write.
    pub async fn write_records(&self, namespace: &str, changes: &[RecordChange]) -> Result<()> {
        let mut batch = Batch::default();
        for (key, value) in changes {
            let key = record_key(namespace, key);
            match value {
                Some(v) => self.store.put(&mut batch, Cf::Meta, &key, v)?,
                None => self.store.delete(&mut batch, Cf::Meta, &key)?,
            }
        }
        self.store.write(batch)?;
        self.store.durable().await
    }

    /// The records of a namespace whose keys start with `prefix`, in key order, keys without
    /// the namespace.
    pub fn records(&self, namespace: &str, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let full = record_key(namespace, prefix);
        let skip = full.len() - prefix.len();
        Ok(self
            .store
            .scan_prefix(Cf::Meta, &full)?
            .into_iter()
            .map(|(k, v)| (k[skip..].to_vec(), v))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::clock::SystemClock;
    use crate::engine::testing::engine;

    #[tokio::test]
    async fn records_round_trip_per_namespace() {
        let e = engine(Arc::new(SystemClock), 1 << 20);
        e.write_records(
            "a",
            &[
                (b"k1".to_vec(), Some(b"v1".to_vec())),
                (b"k2".to_vec(), Some(b"v2".to_vec())),
            ],
        )
        .await
        .unwrap();
        e.write_records("ab", &[(b"k1".to_vec(), Some(b"other".to_vec()))])
            .await
            .unwrap();
        assert_eq!(
            e.records("a", b"k").unwrap(),
            vec![
                (b"k1".to_vec(), b"v1".to_vec()),
                (b"k2".to_vec(), b"v2".to_vec())
            ]
        );
        e.write_records("a", &[(b"k1".to_vec(), None)])
            .await
            .unwrap();
        assert_eq!(e.records("a", b"").unwrap().len(), 1);
        assert_eq!(e.records("ab", b"").unwrap()[0].1, b"other".to_vec());
    }
}
