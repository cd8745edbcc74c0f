//! Triggers: event source mappings from DynamoDB streams to functions. Each enabled mapping has
//! one poller task that reads its stream through the engine (never over HTTP), woken by the
//! engine when records commit, and keeps its checkpoint in RocksDB beside the mapping, so a
//! restart resumes after the last batch that finished.

pub mod api;
mod event;
pub mod model;
mod poller;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;

use crate::engine::Engine;
use crate::functions::error::{LambdaError, LambdaResult};
use crate::functions::Functions;
use model::{Checkpoint, Mapping};

const MAPPINGS: &str = "esm";
const CHECKPOINTS: &str = "esmcp";

pub struct Triggers {
    pub engine: Arc<Engine>,
    pub functions: Arc<Functions>,
    mappings: RwLock<BTreeMap<String, Mapping>>,
    /// Serialises changes to mappings.
    writer: tokio::sync::Mutex<()>,
    /// The stop signal of each running poller, by mapping.
    pollers: Mutex<BTreeMap<String, watch::Sender<bool>>>,
    /// What each mapping has done since the server started.
    stats: Mutex<BTreeMap<String, Stats>>,
}

/// A mapping's counters, for people (`dynarock mappings`, `GET /dynarock/mappings`).
#[derive(Clone, Debug, Default, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Stats {
    pub invocations: u64,
    pub function_errors: u64,
    pub records_processed: u64,
    pub records_to_destination: u64,
    /// How old the newest record of the last batch was when the batch was taken (Lambda's
    /// `IteratorAge` metric).
    pub iterator_age_milliseconds: u64,
    pub last_sequence_number: Option<String>,
}

impl Triggers {
    pub fn load(
        engine: Arc<Engine>,
        functions: Arc<Functions>,
    ) -> crate::error::Result<Arc<Triggers>> {
        let mut mappings = BTreeMap::new();
        for (_, value) in engine.records(MAPPINGS, b"")? {
            match serde_json::from_slice::<Mapping>(&value) {
                Ok(m) => {
                    mappings.insert(m.uuid.clone(), m);
                }
                Err(e) => tracing::error!("skipping an unreadable event source mapping: {e}"),
            }
        }
        Ok(Arc::new(Triggers {
            engine,
            functions,
            mappings: RwLock::new(mappings),
            writer: tokio::sync::Mutex::new(()),
            pollers: Mutex::new(BTreeMap::new()),
            stats: Mutex::new(BTreeMap::new()),
        }))
    }

    /// Starts a poller for every enabled mapping.
    pub fn start(self: &Arc<Self>) {
        for m in self.all() {
            self.sync_poller(&m);
        }
    }

    /// Stops every poller (shutdown).
    pub fn stop(&self) {
        let pollers = std::mem::take(&mut *self.pollers.lock().unwrap_or_else(|p| p.into_inner()));
        for (_, stop) in pollers {
            let _ = stop.send(true);
        }
    }

    pub fn get(&self, uuid: &str) -> Option<Mapping> {
        self.read().get(uuid).cloned()
    }

    pub fn all(&self) -> Vec<Mapping> {
        self.read().values().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Mapping>> {
        self.mappings.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores a mapping (new or changed) with, when given, its first checkpoint; then starts,
    /// restarts or stops its poller to match.
    pub async fn save(
        self: &Arc<Self>,
        mapping: Mapping,
        checkpoint: Option<Checkpoint>,
    ) -> LambdaResult<()> {
        let _writer = self.writer.lock().await;
        self.persist(&mapping, checkpoint).await?;
        self.mappings
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(mapping.uuid.clone(), mapping.clone());
        self.sync_poller(&mapping);
        Ok(())
    }

    async fn persist(&self, mapping: &Mapping, checkpoint: Option<Checkpoint>) -> LambdaResult<()> {
        let value = serde_json::to_vec(mapping).map_err(|e| LambdaError::Service(e.to_string()))?;
        self.engine
            .write_records(
                MAPPINGS,
                &[(mapping.uuid.clone().into_bytes(), Some(value))],
            )
            .await?;
        if let Some(cp) = checkpoint {
            self.save_checkpoint(&mapping.uuid, cp).await?;
        }
        Ok(())
    }

    /// Records what a poller observed (processing results, a stop) without touching its
    /// configuration.
    pub(crate) async fn note(&self, uuid: &str, edit: impl FnOnce(&mut Mapping)) {
        let _writer = self.writer.lock().await;
        let Some(mut mapping) = self.get(uuid) else {
            return;
        };
        edit(&mut mapping);
        if let Err(e) = self.persist(&mapping, None).await {
            tracing::error!(mapping = uuid, "cannot record the mapping's state: {e}");
        }
        self.mappings
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uuid.to_string(), mapping);
    }

    pub async fn delete(&self, uuid: &str) -> LambdaResult<Mapping> {
        let _writer = self.writer.lock().await;
        let mapping = self.get(uuid).ok_or_else(|| not_found(uuid))?;
        self.engine
            .write_records(MAPPINGS, &[(uuid.as_bytes().to_vec(), None)])
            .await?;
        self.engine
            .write_records(CHECKPOINTS, &[(uuid.as_bytes().to_vec(), None)])
            .await?;
        self.mappings
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uuid);
        if let Some(stop) = self
            .pollers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uuid)
        {
            let _ = stop.send(true);
        }
        Ok(mapping)
    }

    pub fn stats(&self, uuid: &str) -> Stats {
        self.stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(uuid)
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn count(&self, uuid: &str, update: impl FnOnce(&mut Stats)) {
        update(
            self.stats
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(uuid.to_string())
                .or_default(),
        );
    }

    pub fn checkpoint(&self, uuid: &str) -> Option<Checkpoint> {
        let records = self.engine.records(CHECKPOINTS, uuid.as_bytes()).ok()?;
        records
            .into_iter()
            .find(|(k, _)| k == uuid.as_bytes())
            .and_then(|(_, v)| serde_json::from_slice(&v).ok())
    }

    pub async fn save_checkpoint(&self, uuid: &str, cp: Checkpoint) -> LambdaResult<()> {
        let value = serde_json::to_vec(&cp).map_err(|e| LambdaError::Service(e.to_string()))?;
        self.engine
            .write_records(CHECKPOINTS, &[(uuid.as_bytes().to_vec(), Some(value))])
            .await?;
        Ok(())
    }

    /// Runs a poller exactly while the mapping is enabled and not stopped: a changed
    /// configuration restarts it (from its checkpoint).
    fn sync_poller(self: &Arc<Self>, mapping: &Mapping) {
        let mut pollers = self.pollers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(stop) = pollers.remove(&mapping.uuid) {
            let _ = stop.send(true);
        }
        if mapping.enabled && mapping.stopped.is_none() {
            let (stop, stopped) = watch::channel(false);
            pollers.insert(mapping.uuid.clone(), stop);
            tokio::spawn(poller::run(self.clone(), mapping.uuid.clone(), stopped));
        }
    }
}

impl crate::functions::api::DefaultRegion for Arc<Triggers> {
    fn default_region(&self) -> &str {
        &self.functions.settings.region
    }
}

pub fn not_found(_uuid: &str) -> LambdaError {
    LambdaError::ResourceNotFound("The resource you requested does not exist.".into())
}
