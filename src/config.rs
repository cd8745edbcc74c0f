//! Command line and environment: every flag of `dynarock serve` can also be set as
//! `DYNAROCK_<FLAG>`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "dynarock",
    version,
    about = "A DynamoDB-compatible database server on embedded RocksDB",
    long_about = "dynarock speaks DynamoDB's wire protocol (the AWS SDKs, the aws CLI and other \
                  DynamoDB tools work unchanged against it) and keeps its data in RocksDB."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Print a function's logs from a running server (`--follow` keeps printing new lines).
    Logs(LogsArgs),
    /// Show what each event source mapping of a running server is doing.
    Mappings(MappingsArgs),
    /// Deploy a SAM or CloudFormation template to a running server as a stack (or delete it).
    Deploy(DeployArgs),
    /// Add a backup of a running server (its database, online, and its functions' code) to a
    /// folder on the server's machine; backups in one folder share what they have in common.
    Backup(BackupArgs),
    /// List the backups of a backup folder.
    Backups(BackupsArgs),
    /// Restore a backup into an empty data directory (with no server running on it).
    Restore(RestoreArgs),
    /// Exit 0 if a server answers its readiness probe (`GET /ready`) within two seconds, else
    /// 1: a container's health check.
    Ready(EndpointArgs),
}

#[derive(Args, Debug, Clone)]
pub struct EndpointArgs {
    /// The server's URL.
    #[arg(
        long,
        env = "DYNAROCK_ENDPOINT",
        default_value = "http://127.0.0.1:8000"
    )]
    pub endpoint: String,
}

#[derive(Args, Debug, Clone)]
pub struct BackupArgs {
    /// The backup folder: an absolute path on the server's machine (created if missing).
    #[arg(long)]
    pub to: PathBuf,

    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Args, Debug, Clone)]
pub struct BackupsArgs {
    /// The backup folder.
    pub folder: PathBuf,
}

#[derive(Args, Debug, Clone)]
pub struct RestoreArgs {
    /// The backup folder.
    #[arg(long)]
    pub from: PathBuf,

    /// The data directory to restore into: new, or empty of any database.
    #[arg(long)]
    pub data_dir: PathBuf,

    /// The backup to restore (`dynarock backups` lists them); the latest by default.
    #[arg(long)]
    pub backup_id: Option<u32>,
}

#[derive(Args, Debug, Clone)]
pub struct DeployArgs {
    /// The template (YAML or JSON), as `sam deploy` takes it.
    #[arg(default_value = "template.yaml")]
    pub template: String,

    /// The stack's name (default: the template's folder name).
    #[arg(long)]
    pub stack_name: Option<String>,

    /// Parameter values: `Key=Value` (or `ParameterKey=Key,ParameterValue=Value`).
    #[arg(long, num_args = 1..)]
    pub parameter_overrides: Vec<String>,

    /// Delete the stack and every resource it created.
    #[arg(long)]
    pub delete: bool,

    /// Zip function folders as they are, without installing their requirements.txt.
    #[arg(long)]
    pub no_build: bool,

    #[command(flatten)]
    pub server: ServerArgs,
}

/// The running server a command talks to.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    #[command(flatten)]
    pub at: EndpointArgs,

    /// The region (of the stack, function or mappings).
    #[arg(long, env = "DYNAROCK_REGION", default_value = "us-east-1")]
    pub region: String,
}

#[derive(Args, Debug, Clone)]
pub struct MappingsArgs {
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Args, Debug, Clone)]
pub struct LogsArgs {
    /// The function whose log group (`/aws/lambda/NAME`) to print.
    pub function: String,

    /// Keep printing new log lines until interrupted.
    #[arg(long, short)]
    pub follow: bool,

    /// Only lines from the last this many seconds.
    #[arg(long, default_value_t = 600)]
    pub since_seconds: u64,

    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on (0.0.0.0 to accept connections from other machines).
    #[arg(long, env = "DYNAROCK_HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// TCP port to listen on (0 picks a free one).
    #[arg(long, env = "DYNAROCK_PORT", default_value_t = 8000)]
    pub port: u16,

    /// Directory for the RocksDB data; created if missing.
    #[arg(long, env = "DYNAROCK_DATA_DIR", default_value = "./dynarock-data")]
    pub data_dir: PathBuf,

    /// Keep all data in memory and leave no files behind (data is lost on exit).
    #[arg(long, env = "DYNAROCK_IN_MEMORY")]
    pub in_memory: bool,

    /// The folder standing in for S3 in exports and imports: bucket `B` is the subfolder `B`
    /// (it must exist), object keys are paths under it. Default: `s3` in the data directory
    /// (none in memory).
    #[arg(long, env = "DYNAROCK_S3_DIR")]
    pub s3_dir: Option<PathBuf>,

    /// Make every write wait for fsync, so acknowledged writes survive power loss, not only a
    /// crash of the process (concurrent writes share an fsync).
    #[arg(long, env = "DYNAROCK_SYNC")]
    pub sync: bool,

    /// Memory, in MiB, for what grows with the data: a quarter caches recently read and
    /// written items, the rest is RocksDB's cache (data, index and filter blocks) and its
    /// memtables (at least 32).
    #[arg(long, env = "DYNAROCK_MEMORY_MB", default_value_t = crate::storage::budget::DEFAULT_MB)]
    pub memory_mb: usize,

    /// Region used when a request's credential scope names none (it appears in ARNs).
    #[arg(long, env = "DYNAROCK_REGION", default_value = "us-east-1")]
    pub region: String,

    /// Account id used in ARNs.
    #[arg(long, env = "DYNAROCK_ACCOUNT_ID", default_value = "000000000000")]
    pub account_id: String,

    /// Most tables per region, like DynamoDB's default quota.
    #[arg(long, env = "DYNAROCK_MAX_TABLES", default_value_t = 2500)]
    pub max_tables: usize,

    /// Seconds a stream shard stays open before a child shard takes over (DynamoDB: about 4
    /// hours). Shorter values exercise consumers that follow shard lineage.
    #[arg(long, env = "DYNAROCK_STREAM_SHARD_SECONDS", default_value_t = 4.0 * 3600.0)]
    pub stream_shard_seconds: f64,

    /// Seconds stream records are kept before they are trimmed (DynamoDB: 24 hours).
    #[arg(
        long,
        env = "DYNAROCK_STREAM_RETENTION_SECONDS",
        default_value_t = 86400.0
    )]
    pub stream_retention_seconds: f64,

    /// Seconds between passes of the TTL expirer (DynamoDB takes up to days; a test wants
    /// expired items gone within seconds).
    #[arg(long, env = "DYNAROCK_TTL_INTERVAL_SECONDS", default_value_t = 1.0)]
    pub ttl_interval_seconds: f64,

    /// Microseconds an idle worker thread may poll for the next request before it sleeps
    /// (0: never). By default 200 in a virtual machine whose kernel does not poll before it
    /// halts an idle CPU, where waking it again is slow; there, polling answers a client that
    /// waits for each answer about twice as fast. Elsewhere 0. The time adapts: a client that
    /// pauses longer between requests soon costs no polling. At most 1000000.
    #[arg(long, env = "DYNAROCK_IDLE_POLL_US", value_parser = clap::value_parser!(u64).range(..=1_000_000))]
    pub idle_poll_us: Option<u64>,

    /// Most function invocations running at once, over all functions (Lambda's account
    /// concurrency, 1000 by default; lower it on a small machine).
    #[arg(long, env = "DYNAROCK_FUNCTION_CONCURRENCY", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub function_concurrency: u32,

    /// Seconds an unused function instance stays warm before it is stopped.
    #[arg(long, env = "DYNAROCK_FUNCTION_IDLE_SECONDS", default_value_t = 300.0)]
    pub function_idle_seconds: f64,

    /// Seconds before the first retry of a failed asynchronous invocation (Lambda: 60); each
    /// later retry waits twice as long. Shorter values make retries testable.
    #[arg(long, env = "DYNAROCK_FUNCTION_RETRY_SECONDS", default_value_t = 60.0)]
    pub function_retry_seconds: f64,

    /// Time moves only when told to, through `POST /dynarock/clock` (for tests: schedules, TTL,
    /// retries and stream retention follow it). It starts at the real time and only moves
    /// forwards.
    #[arg(long, env = "DYNAROCK_MANUAL_CLOCK")]
    pub manual_clock: bool,

    /// Most client connections open at once; more wait to be accepted until one closes.
    #[arg(long, env = "DYNAROCK_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Seconds a client may take to send a request's headers, or its body, and may stay idle
    /// between requests, before its connection is closed (a slow or stalled client holds a
    /// connection slot no longer than this).
    #[arg(long, env = "DYNAROCK_CLIENT_TIMEOUT_SECONDS", default_value_t = 60.0)]
    pub client_timeout_seconds: f64,

    /// Throttle requests as DynamoDB does (on): provisioned capacity with burst, on-demand
    /// maximums and quotas, per-partition limits. `off` for benchmarks and bulk loads.
    #[arg(long, env = "DYNAROCK_THROTTLING", default_value = "on", value_parser = ["on", "off"])]
    pub throttling: String,

    /// The per-table account quota of on-demand tables, read units per second (DynamoDB's
    /// default; raise it as a Service Quotas increase would).
    #[arg(long, env = "DYNAROCK_TABLE_READ_QUOTA", default_value_t = 40000.0)]
    pub table_read_quota: f64,

    /// The per-table account quota of on-demand tables, write units per second.
    #[arg(long, env = "DYNAROCK_TABLE_WRITE_QUOTA", default_value_t = 40000.0)]
    pub table_write_quota: f64,

    /// Verify request signatures against the principals of this file (the AWS shared-credentials
    /// format: one [section] per principal with aws_access_key_id and aws_secret_access_key);
    /// reloaded on SIGHUP. Without it, any well-formed signature is accepted.
    #[arg(long, env = "DYNAROCK_CREDENTIALS")]
    pub credentials: Option<PathBuf>,

    /// Serve HTTPS with this PEM certificate chain (with --tls-key): on --tls-port beside
    /// plain HTTP, or without it on --port instead of plain HTTP.
    #[arg(long, env = "DYNAROCK_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, env = "DYNAROCK_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// The port HTTPS is served on, beside plain HTTP on --port.
    #[arg(long, env = "DYNAROCK_TLS_PORT", requires = "tls_cert")]
    pub tls_port: Option<u16>,

    /// The CA bundle functions trust when --port serves HTTPS (their AWS_CA_BUNDLE); by default
    /// the certificate file itself.
    #[arg(long, env = "DYNAROCK_TLS_CA", requires = "tls_cert")]
    pub tls_ca: Option<PathBuf>,

    /// Log filter: error, warn, info, debug, trace (or a tracing directive).
    #[arg(long, env = "DYNAROCK_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}
