//! dynarock: a DynamoDB-compatible server on RocksDB.
//!
//! Requests flow `server` → `api` → `engine` → `storage`; `model`, `error` and `clock` are
//! leaves that every layer uses.

pub mod api;
pub mod auth;
pub mod backup;
pub mod capacity;
pub mod client;
pub mod clock;
pub mod config;
pub mod deploy;
pub mod engine;
pub mod error;
pub mod expr;
pub mod functions;
pub mod metrics;
pub mod model;
pub mod partiql;
pub mod pattern;
pub mod queues;
pub mod schedules;
pub mod server;
pub mod storage;
pub mod transfer;
pub mod triggers;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use clock::{ManualClock, SystemClock};
use config::ServeArgs;
use engine::{Engine, EngineConfig};
use functions::Functions;
use schedules::rules::Rules;
use schedules::scheduler::Scheduler;
use server::idle_poll::IdlePoll;
use server::ServerConfig;
use triggers::Triggers;

/// A server bound to its port, ready to run.
pub struct Server {
    listener: server::Listener,
    /// HTTPS on a port of its own (`--tls-port`), beside plain HTTP.
    tls_listener: Option<server::Listener>,
    engine: Arc<Engine>,
    functions: Arc<Functions>,
    triggers: Arc<Triggers>,
    rules: Arc<Rules>,
    scheduler: Arc<Scheduler>,
    queues: Arc<queues::Queues>,
    config: ServerConfig,
    /// `None` in memory.
    data_dir: Option<std::path::PathBuf>,
}

impl Server {
    /// Opens the storage and binds the listener.
    pub async fn bind(args: &ServeArgs) -> Result<Server, String> {
        let engine = Engine::open(
            &EngineConfig {
                data_dir: (!args.in_memory).then(|| args.data_dir.clone()),
                sync: args.sync,
                memory: crate::storage::MemoryBudget::of_mb(args.memory_mb),
                max_tables_per_region: args.max_tables,
                item_collection_limit: engine::ITEM_COLLECTION_LIMIT,
                stream_shard_seconds: args.stream_shard_seconds.max(0.001),
                stream_retention_seconds: args.stream_retention_seconds.max(0.0),
                throttle: engine::throttle::ThrottleConfig {
                    enabled: args.throttling == "on",
                    table_read_quota: args.table_read_quota.max(1.0),
                    table_write_quota: args.table_write_quota.max(1.0),
                },
                s3_dir: args
                    .s3_dir
                    .clone()
                    .or_else(|| (!args.in_memory).then(|| args.data_dir.join("s3"))),
            },
            if args.manual_clock {
                Arc::new(ManualClock::new(std::time::SystemTime::now()))
            } else {
                Arc::new(SystemClock)
            },
        )
        .map_err(|e| e.to_string())?;
        let credentials = match &args.credentials {
            Some(path) => Some(auth::credentials::Credentials::load(path)?),
            None => None,
        };
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(server::tls::acceptor(cert, key)?),
            _ => None,
        };
        let (main_tls, tls_listener) = match (tls, args.tls_port) {
            (Some(tls), Some(port)) => (None, Some((bind(&args.host, port).await?, tls))),
            (tls, _) => (tls, None),
        };
        let listener = bind(&args.host, args.port).await?;
        let engine = Arc::new(engine);
        let port = listener
            .local_addr()
            .map_err(|e| format!("cannot read the listening address: {e}"))?
            .port();
        // Functions reach the server on the main port, trusting its certificate when it serves
        // HTTPS.
        let (scheme, ca_bundle) = match &main_tls {
            Some(_) => ("https", args.tls_ca.clone().or(args.tls_cert.clone())),
            None => ("http", None),
        };
        let queues = queues::Queues::load(engine.clone(), &args.region, &args.account_id)
            .map_err(|e| e.to_string())?;
        let functions = Functions::open(
            engine.clone(),
            queues.clone(),
            (!args.in_memory).then_some(args.data_dir.as_path()),
            functions::Settings {
                endpoint: format!("{scheme}://{}:{port}", loopback(&args.host)),
                ca_bundle,
                credentials: credentials.clone(),
                region: args.region.clone(),
                account: args.account_id.clone(),
                concurrency: args.function_concurrency,
                idle: Duration::from_secs_f64(args.function_idle_seconds.max(0.001)),
                retry: Duration::from_secs_f64(args.function_retry_seconds.max(0.001)),
            },
        )?;
        let triggers =
            Triggers::load(engine.clone(), functions.clone()).map_err(|e| e.to_string())?;
        let rules = Rules::load(engine.clone(), functions.clone()).map_err(|e| e.to_string())?;
        let scheduler =
            Scheduler::load(engine.clone(), functions.clone()).map_err(|e| e.to_string())?;
        engine.resume_backups().map_err(|e| e.to_string())?;
        transfer::resume(&engine).map_err(|e| e.to_string())?;
        engine.resume_backfills();
        engine.resume_ttl_backfills();
        engine.start_expirer(std::time::Duration::from_secs_f64(
            args.ttl_interval_seconds.max(0.01),
        ));
        Ok(Server {
            listener: server::Listener {
                tcp: listener,
                tls: main_tls,
            },
            tls_listener: tls_listener.map(|(tcp, tls)| server::Listener {
                tcp,
                tls: Some(tls),
            }),
            engine,
            functions,
            triggers,
            rules,
            scheduler,
            queues,
            data_dir: (!args.in_memory).then(|| args.data_dir.clone()),
            config: ServerConfig {
                credentials,
                region: args.region.clone(),
                account: args.account_id.clone(),
                limits: server::ConnectionLimits {
                    max: args.max_connections as usize,
                    timeout: std::time::Duration::from_secs_f64(
                        args.client_timeout_seconds.max(0.01),
                    ),
                },
            },
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.tcp.local_addr()
    }

    /// Where the server listens, as URLs: the main port's, and the HTTPS port's if any.
    pub fn urls(&self) -> Vec<String> {
        let url = |l: &server::Listener| {
            let scheme = if l.tls.is_some() { "https" } else { "http" };
            l.tcp.local_addr().map(|a| format!("{scheme}://{a}"))
        };
        [Some(&self.listener), self.tls_listener.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|l| url(l).ok())
            .collect()
    }

    /// Serves until `shutdown` resolves, then flushes and closes the storage.
    /// `idle` is the runtime's polling before its workers sleep, told of every connection.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
        idle: Option<Arc<IdlePoll>>,
    ) -> Result<(), String> {
        self.functions.start();
        self.triggers.start();
        self.rules.start();
        self.scheduler.start();
        let rest = server::rest::router(server::rest::Surfaces {
            engine: self.engine.clone(),
            functions: self.functions.clone(),
            triggers: self.triggers.clone(),
            rules: self.rules.clone(),
            scheduler: self.scheduler.clone(),
            queues: self.queues.clone(),
            credentials: self.config.credentials.clone(),
            data_dir: self.data_dir.clone(),
        })
        .map_err(|e| e.to_string())?;
        if let Some(credentials) = &self.config.credentials {
            reload_on_hangup(credentials.clone());
        }
        let app = server::app(self.engine.clone(), self.config, rest);
        let served = server::serve(self.listener, self.tls_listener, app, shutdown, idle).await;
        self.triggers.stop();
        self.functions.stop();
        served.map_err(|e| e.to_string())?;
        self.engine.flush().map_err(|e| e.to_string())
    }
}

/// Reads the credentials file again on each SIGHUP; a bad file keeps the loaded principals.
fn reload_on_hangup(credentials: Arc<auth::credentials::Credentials>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: the credentials file is read once");
            return;
        };
        while hangups.recv().await.is_some() {
            match credentials.reload() {
                Ok(n) => tracing::info!("credentials reloaded: {n} principals"),
                Err(e) => tracing::error!("credentials not reloaded, the loaded ones stay: {e}"),
            }
        }
    });
}

async fn bind(host: &str, port: u16) -> Result<TcpListener, String> {
    TcpListener::bind((host, port))
        .await
        .map_err(|e| format!("cannot listen on {host}:{port}: {e}"))
}

/// The address a local process uses to reach a server listening on `host`.
fn loopback(host: &str) -> &str {
    match host {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" | "[::]" => "[::1]",
        other => other,
    }
}
