//! The functions, in memory for reads and in RocksDB (one record per function) for restarts.
//! Changes are serialised and each is durable before it is answered.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use super::error::{LambdaError, LambdaResult};
use super::model::Function;
use crate::engine::Engine;

const NAMESPACE: &str = "fn";

pub struct Registry {
    engine: Arc<Engine>,
    functions: RwLock<BTreeMap<(String, String), Function>>,
    writer: tokio::sync::Mutex<()>,
}

fn record_key(region: &str, name: &str) -> Vec<u8> {
    format!("{region}\0{name}").into_bytes()
}

impl Registry {
    pub fn load(engine: Arc<Engine>) -> crate::error::Result<Registry> {
        let mut functions = BTreeMap::new();
        for (_, value) in engine.records(NAMESPACE, b"")? {
            let f: Function = serde_json::from_slice(&value).map_err(|e| {
                crate::error::Error::Internal(format!("corrupt function record: {e}"))
            })?;
            functions.insert((f.region.clone(), f.name.clone()), f);
        }
        Ok(Registry {
            engine,
            functions: RwLock::new(functions),
            writer: tokio::sync::Mutex::new(()),
        })
    }

    pub fn get(&self, region: &str, name: &str) -> Option<Function> {
        self.read()
            .get(&(region.to_string(), name.to_string()))
            .cloned()
    }

    pub fn list(&self, region: &str) -> Vec<Function> {
        self.read()
            .values()
            .filter(|f| f.region == region)
            .cloned()
            .collect()
    }

    pub fn all(&self) -> Vec<Function> {
        self.read().values().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<(String, String), Function>> {
        self.functions.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `change` on the function (`None` if it does not exist) and stores what it leaves:
    /// `Some` is saved, `None` deleted. Nothing is stored when `change` fails.
    pub async fn update<T>(
        &self,
        region: &str,
        name: &str,
        change: impl FnOnce(&mut Option<Function>) -> LambdaResult<T>,
    ) -> LambdaResult<T> {
        let _writer = self.writer.lock().await;
        let mut function = self.get(region, name);
        let out = change(&mut function)?;
        let value = match &function {
            Some(f) => {
                Some(serde_json::to_vec(f).map_err(|e| LambdaError::Service(e.to_string()))?)
            }
            None => None,
        };
        self.engine
            .write_records(NAMESPACE, &[(record_key(region, name), value)])
            .await?;
        let mut functions = self.functions.write().unwrap_or_else(|p| p.into_inner());
        let key = (region.to_string(), name.to_string());
        match function {
            Some(f) => functions.insert(key, f),
            None => functions.remove(&key),
        };
        Ok(out)
    }
}
