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

    /// Stores one record (`None` deletes it) and waits until it survives a crash: for callers
    /// off the async runtime.
    pub fn put_record_durably(
        &self,
        namespace: &str,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<()> {
        let mut batch = Batch::default();
        let key = record_key(namespace, key);
        match value {
            Some(v) => self.store.put(&mut batch, Cf::Meta, &key, v)?,
            None => self.store.delete(&mut batch, Cf::Meta, &key)?,
        }
        self.store.write_durably(batch)
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

/// Whole JSON documents of one namespace under string keys, read from memory and stored
/// durably before a change is answered: what small admin surfaces (HTTP APIs, deployed
/// stacks) keep.
pub struct Documents<T> {
    engine: std::sync::Arc<Engine>,
    namespace: &'static str,
    docs: std::sync::RwLock<std::collections::BTreeMap<String, T>>,
    writer: tokio::sync::Mutex<()>,
}

impl<T: serde::Serialize + serde::de::DeserializeOwned + Clone> Documents<T> {
    pub fn load(engine: std::sync::Arc<Engine>, namespace: &'static str) -> Result<Self> {
        let mut docs = std::collections::BTreeMap::new();
        for (k, v) in engine.records(namespace, b"")? {
            let doc = serde_json::from_slice(&v).map_err(|e| {
                crate::error::Error::Internal(format!("corrupt {namespace} record: {e}"))
            })?;
            docs.insert(String::from_utf8_lossy(&k).into_owned(), doc);
        }
        Ok(Documents {
            engine,
            namespace,
            docs: std::sync::RwLock::new(docs),
            writer: tokio::sync::Mutex::new(()),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, std::collections::BTreeMap<String, T>> {
        self.docs.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &str) -> Option<T> {
        self.read().get(key).cloned()
    }

    /// The documents whose keys start with `prefix`, in key order.
    pub fn list(&self, prefix: &str) -> Vec<(String, T)> {
        self.read()
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Stores `doc` under `key` (`None` deletes it), durably; returns what was there.
    pub async fn put(&self, key: &str, doc: Option<T>) -> Result<Option<T>> {
        let _writer = self.writer.lock().await;
        let value = match &doc {
            Some(d) => Some(
                serde_json::to_vec(d).map_err(|e| crate::error::Error::Internal(e.to_string()))?,
            ),
            None => None,
        };
        self.engine
            .write_records(self.namespace, &[(key.as_bytes().to_vec(), value)])
            .await?;
        let mut docs = self.docs.write().unwrap_or_else(|p| p.into_inner());
        Ok(match doc {
            Some(d) => docs.insert(key.to_string(), d),
            None => docs.remove(key),
        })
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

    #[tokio::test]
    async fn documents_survive_a_reload() {
        let e = engine(Arc::new(SystemClock), 1 << 20);
        let docs = super::Documents::<serde_json::Value>::load(e.clone(), "d").unwrap();
        docs.put("a/1", Some(serde_json::json!({"x": 1})))
            .await
            .unwrap();
        docs.put("a/2", Some(serde_json::json!(2))).await.unwrap();
        docs.put("b/1", Some(serde_json::json!(3))).await.unwrap();
        docs.put("a/2", None).await.unwrap();
        let again = super::Documents::<serde_json::Value>::load(e, "d").unwrap();
        assert_eq!(
            again.list("a/"),
            vec![("a/1".to_string(), serde_json::json!({"x": 1}))]
        );
        assert_eq!(again.get("b/1"), Some(serde_json::json!(3)));
    }
}
