//! Functions: the Lambda API, run on this machine. Definitions live in RocksDB beside the
//! tables, code in a folder of the data dir, and each instance is a child process speaking the
//! real Lambda Runtime API, so stock runtime clients and `provided` bootstraps work unchanged.

pub mod api;
pub mod cloudwatch;
pub mod code;
pub mod error;
pub mod http_api;
pub mod instance;
pub mod invoke;
pub mod logs;
pub mod memory;
pub mod model;
pub mod pool;
pub mod queue;
pub mod registry;
pub mod runtime_api;
pub mod runtimes;
pub mod url_http;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::Engine;
use code::CodeStore;
use logs::LogStore;
use pool::Pool;
use registry::Registry;
use runtimes::Bootstraps;

pub struct Settings {
    /// Where instances' SDKs reach this server (`AWS_ENDPOINT_URL`).
    pub endpoint: String,
    /// With verified signatures, where functions get the keys of their role.
    pub credentials: Option<Arc<crate::auth::credentials::Credentials>>,
    /// The CA bundle instances' SDKs trust when the endpoint is HTTPS (`AWS_CA_BUNDLE`).
    pub ca_bundle: Option<PathBuf>,
    /// The region of requests whose signature names none.
    pub region: String,
    pub account: String,
    /// The account's concurrency limit (Lambda: 1000).
    pub concurrency: u32,
    /// How long an unused instance stays warm.
    pub idle: Duration,
    /// The delay before an asynchronous invocation's first retry (Lambda: one minute).
    pub retry: Duration,
}

pub struct Functions {
    pub engine: Arc<Engine>,
    pub registry: Registry,
    pub code: CodeStore,
    bootstraps: Bootstraps,
    bootstraps_dir: PathBuf,
    pub pool: Arc<Pool>,
    pub logs: Arc<LogStore>,
    pub settings: Settings,
    pub queue: Arc<queue::Queue>,
    /// SQS queues, for destinations that name one.
    pub queues: Arc<crate::queues::Queues>,
    /// Where instances get a memory limit (`None`: the machine does not allow it).
    cgroups: Option<memory::Cgroups>,
    /// The folder of an in-memory server, removed with it.
    _scratch: Option<tempfile::TempDir>,
    /// Invocations, errors, throttles and durations, for `/metrics`.
    pub stats: crate::metrics::functions::FunctionStats,
}

impl Functions {
    /// Opens the functions stored in `engine`, with code under `data_dir` (a scratch folder
    /// removed on exit when `None`).
    pub fn open(
        engine: Arc<Engine>,
        queues: Arc<crate::queues::Queues>,
        data_dir: Option<&std::path::Path>,
        settings: Settings,
    ) -> Result<Arc<Functions>, String> {
        let scratch = match data_dir {
            Some(_) => None,
            None => Some(
                tempfile::Builder::new()
                    .prefix("dynarock-")
                    .tempdir()
                    .map_err(|e| e.to_string())?,
            ),
        };
        let root = data_dir
            .or(scratch.as_ref().map(|s| s.path()))
            .map(|d| d.join("functions"))
            .unwrap_or_default();
        let code_dir = root.join("code");
        std::fs::create_dir_all(&code_dir)
            .map_err(|e| format!("cannot create {}: {e}", code_dir.display()))?;
        let bootstraps_dir = root.join("runtimes");
        let bootstraps = Bootstraps::install(&bootstraps_dir)
            .map_err(|e| format!("cannot write the runtime clients: {e}"))?;
        let registry = Registry::load(engine.clone()).map_err(|e| e.to_string())?;
        let pool = Pool::new(settings.concurrency, settings.idle);
        for f in registry.all() {
            pool.set_reserved(&invoke::function_key(&f), f.reserved_concurrency);
        }
        let cgroups = memory::Cgroups::detect();
        match &cgroups {
            Some(_) => {
                tracing::info!("function instances are limited to their MemorySize (cgroups)")
            }
            None => tracing::info!(
                "function memory is not limited: no writable cgroup with a memory controller"
            ),
        }
        let functions = Arc::new(Functions {
            cgroups,
            queue: Arc::new(
                queue::Queue::load(&engine, settings.retry).map_err(|e| e.to_string())?,
            ),
            engine,
            queues,
            registry,
            code: CodeStore::new(code_dir),
            bootstraps,
            bootstraps_dir,
            pool,
            logs: Arc::new(LogStore::default()),
            settings,
            _scratch: scratch,
            stats: Default::default(),
        });
        functions.collect_code();
        Ok(functions)
    }

    fn bootstraps_dir(&self) -> String {
        self.bootstraps_dir.to_string_lossy().into_owned()
    }

    /// Starts the background work: the asynchronous-invocation queue and the reaper of idle
    /// instances. Both end when `self` is the last reference left.
    pub fn start(self: &Arc<Self>) {
        queue::start(self);
        let weak = Arc::downgrade(self);
        let every =
            (self.settings.idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(functions) = weak.upgrade() else {
                    return;
                };
                functions.pool.reap();
            }
        });
    }

    /// Stops every instance (shutdown).
    pub fn stop(&self) {
        self.pool.clear();
    }

    /// Removes code packages that no version uses any more.
    pub fn collect_code(&self) {
        let used: Vec<String> = self
            .registry
            .all()
            .iter()
            .flat_map(|f| std::iter::once(&f.latest).chain(f.versions.values()))
            .filter_map(|v| match &v.code.source {
                model::CodeSource::Zip(key) => Some(key.clone()),
                model::CodeSource::Local(_) => None,
            })
            .collect();
        self.code.retain(&used);
    }
}
