//! One function instance: a child process in its own process group, the Runtime API endpoint it
//! talks to, and the pump that turns its output into log events. The `Instance` owns all three:
//! dropping it kills the whole process group and stops the endpoint, so nothing outlives it.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::unix::AsyncFd;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::logs::{now_ms, LogStore, MAX_EVENT_BYTES};
use super::memory::MemoryLimit;
use super::runtime_api::{self, Outcome, RuntimeChannel, Work};
use super::runtimes::Launch;

/// How long a new instance may take to ask for its first work (Lambda's init phase).
pub const INIT_LIMIT: Duration = Duration::from_secs(10);
/// The most of one invocation's log kept for `LogType: Tail` (Lambda returns the last 4 KB).
const TAIL_BYTES: usize = 4096;

/// What became of an invocation handed to an instance.
#[derive(Debug)]
pub enum Ended {
    Finished(Outcome),
    /// The deadline passed (the instance must be killed).
    TimedOut,
    /// The process exited (`Some(body)` when it reported an init error first).
    Exited(String, Option<Bytes>),
    /// The kernel killed it for passing its memory limit.
    OutOfMemory,
}

pub struct Instance {
    pub id: String,
    pub log_stream: String,
    child: tokio::process::Child,
    pid: i32,
    work: mpsc::Sender<Work>,
    channel: Arc<RuntimeChannel>,
    endpoint: JoinHandle<()>,
    pump: JoinHandle<()>,
    pub output: Arc<Output>,
    pub spawned: Instant,
    /// The cgroup that holds the instance to its `MemorySize`, where the machine allows one.
    memory: Option<MemoryLimit>,
    /// How long init took, until the first invocation reports it.
    pub init_duration: Option<Duration>,
    pub invoked: bool,
}

impl Instance {
    /// Starts the process with `env`, its Runtime API endpoint and its log pump, inside
    /// `memory` when given.
    pub async fn start(
        launch: &Launch,
        code: &Path,
        mut env: BTreeMap<String, String>,
        logs: Arc<LogStore>,
        (group, log_stream): (String, String),
        memory: Option<MemoryLimit>,
    ) -> std::io::Result<Instance> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let api = listener.local_addr()?;
        let (channel, work) = RuntimeChannel::new();
        let endpoint = tokio::spawn(serve(listener, channel.clone()));
        env.insert("AWS_LAMBDA_RUNTIME_API".into(), api.to_string());

        let (reader, writer) = std::io::pipe()?;
        let mut command = tokio::process::Command::new(&launch.program);
        command
            .args(&launch.args)
            .current_dir(code)
            .env_clear()
            .envs(&env)
            .stdin(Stdio::null())
            .stdout(writer.try_clone()?)
            .stderr(writer)
            .process_group(0)
            .kill_on_drop(true);
        let procs = memory.as_ref().map(|m| m.procs.clone());
        #[cfg(target_os = "linux")]
        // SAFETY: between fork and exec the child only makes system calls: prctl asks the
        // kernel to kill it if the server dies (a crashed server leaves no instance behind), and
        // `enter` moves it into its cgroup before the runtime allocates anything.
        unsafe {
            command.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if let Some(procs) = &procs {
                    // Without the cgroup the instance runs unlimited rather than not at all.
                    let _ = MemoryLimit::enter(procs);
                }
                Ok(())
            });
        }
        let spawned = command.spawn();
        // Our copies of the pipe's write end are gone with `command`: the pump sees EOF once
        // every process of the instance has exited.
        drop(command);
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                endpoint.abort();
                return Err(e);
            }
        };
        let output = Arc::new(Output::new(reader.into(), logs, group, log_stream.clone())?);
        let pump = tokio::spawn(output.clone().pump());
        Ok(Instance {
            id: uuid::Uuid::new_v4().simple().to_string(),
            log_stream,
            pid: child.id().map(|p| p as i32).unwrap_or(0),
            child,
            work,
            channel,
            endpoint,
            pump,
            output,
            spawned: Instant::now(),
            memory,
            init_duration: None,
            invoked: false,
        })
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits until the runtime asks for work (init done), it exits, or `INIT_LIMIT` passes.
    /// Returns how init ended: `None` if it is still going (Lambda then lets init go on inside
    /// the invocation's own timeout).
    pub async fn wait_ready(&mut self) -> Option<Result<(), Ended>> {
        let mut ready = self.channel.ready();
        let limit = tokio::time::sleep(INIT_LIMIT);
        tokio::select! {
            r = ready.wait_for(|r| *r) => {
                if r.is_ok() {
                    self.init_duration = Some(self.spawned.elapsed());
                }
                Some(Ok(()))
            }
            status = self.child.wait() => Some(Err(self.exited(status))),
            () = limit => None,
        }
    }

    /// Hands `work` to the runtime and waits for it to finish, exit or pass `deadline`.
    pub async fn run(&mut self, work: Work, deadline: tokio::time::Instant) -> Ended {
        let (tx, rx) = oneshot::channel();
        let work = Work {
            respond: tx,
            ..work
        };
        self.invoked = true;
        if self.work.send(work).await.is_err() {
            return Ended::Exited("Runtime exited without providing a reason".into(), None);
        }
        tokio::select! {
            outcome = rx => match outcome {
                Ok(outcome) => Ended::Finished(outcome),
                Err(_) => Ended::Exited("Runtime exited without providing a reason".into(), None),
            },
            status = self.child.wait() => self.exited(status),
            () = tokio::time::sleep_until(deadline) => Ended::TimedOut,
        }
    }

    fn exited(&self, status: std::io::Result<std::process::ExitStatus>) -> Ended {
        if self.memory.as_ref().is_some_and(MemoryLimit::oom_killed) {
            return Ended::OutOfMemory;
        }
        let reason = match status {
            Ok(s) => match (s.code(), std::os::unix::process::ExitStatusExt::signal(&s)) {
                (Some(code), _) => format!("Runtime exited with error: exit status {code}"),
                (None, Some(sig)) => {
                    format!("Runtime exited with error: signal: {}", signal_name(sig))
                }
                _ => "Runtime exited without providing a reason".into(),
            },
            Err(e) => format!("Runtime exited without providing a reason: {e}"),
        };
        Ended::Exited(reason, self.channel.take_init_error())
    }

    /// The instance's peak memory in MB (Lambda's `Max Memory Used`): its cgroup's peak, or
    /// the runtime process's peak resident set without one.
    pub fn max_memory_mb(&self) -> u64 {
        if let Some(peak) = self.memory.as_ref().and_then(MemoryLimit::peak_mb) {
            return peak;
        }
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb.div_ceil(1024))
            .unwrap_or(0)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if self.pid > 0 {
            // SAFETY: signals the instance's own process group (it is the group's leader).
            unsafe {
                libc::kill(-self.pid, libc::SIGKILL);
            }
        }
        self.endpoint.abort();
        self.pump.abort();
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "killed",
        libc::SIGSEGV => "segmentation fault",
        libc::SIGABRT => "aborted",
        libc::SIGTERM => "terminated",
        _ => "signal",
    }
}

/// Serves the Runtime API to the instance's process until aborted.
async fn serve(listener: TcpListener, channel: Arc<RuntimeChannel>) {
    let router = runtime_api::router(channel);
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        connections.spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// An instance's stdout and stderr (one pipe), split into log events of its stream.
pub struct Output {
    pipe: AsyncFd<std::fs::File>,
    state: Mutex<OutputState>,
}

struct OutputState {
    logs: Arc<LogStore>,
    group: String,
    stream: String,
    partial: Vec<u8>,
    /// What the current invocation has logged, for `LogType: Tail`.
    tail: Vec<u8>,
}

impl Output {
    fn new(
        fd: OwnedFd,
        logs: Arc<LogStore>,
        group: String,
        stream: String,
    ) -> std::io::Result<Output> {
        set_nonblocking(&fd)?;
        // SAFETY: the file owns its descriptor, which nothing else closes or replaces while the
        // `AsyncFd` holds it.
        let pipe = unsafe { AsyncFd::register(std::fs::File::from(fd))? };
        Ok(Output {
            pipe,
            state: Mutex::new(OutputState {
                logs,
                group,
                stream,
                partial: Vec::new(),
                tail: Vec::new(),
            }),
        })
    }

    async fn pump(self: Arc<Self>) {
        loop {
            let Ok(mut guard) = self.pipe.readable().await else {
                return;
            };
            if self.drain() {
                self.flush_partial();
                return;
            }
            guard.clear_ready();
        }
    }

    /// Reads what the pipe holds now; true at end of file. Everything the process wrote before
    /// it answered an invocation is in the pipe by then, so draining at the end of an
    /// invocation attributes all of its output to it.
    pub fn drain(&self) -> bool {
        let mut state = self.lock();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.pipe.get_ref().read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => state.push(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return true,
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutputState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn flush_partial(&self) {
        let mut state = self.lock();
        if !state.partial.is_empty() {
            let line = std::mem::take(&mut state.partial);
            state.emit(&line);
        }
    }

    /// Writes a line of the platform's own (START, END, REPORT, notes) into the stream.
    pub fn platform_line(&self, line: &str) {
        self.flush_partial();
        self.lock().emit(line.as_bytes());
    }

    /// Starts a new invocation's tail.
    pub fn begin_tail(&self) {
        self.lock().tail.clear();
    }

    /// The current invocation's log, its last 4 KB.
    pub fn tail(&self) -> Vec<u8> {
        let state = self.lock();
        let start = state.tail.len().saturating_sub(TAIL_BYTES);
        state.tail[start..].to_vec()
    }
}

impl OutputState {
    fn push(&mut self, mut bytes: &[u8]) {
        while let Some(end) = bytes.iter().position(|b| *b == b'\n') {
            let mut line = std::mem::take(&mut self.partial);
            line.extend_from_slice(&bytes[..end]);
            self.emit(&line);
            bytes = &bytes[end + 1..];
        }
        self.partial.extend_from_slice(bytes);
        while self.partial.len() >= MAX_EVENT_BYTES {
            let rest = self.partial.split_off(MAX_EVENT_BYTES);
            let line = std::mem::replace(&mut self.partial, rest);
            self.emit(&line);
        }
    }

    fn emit(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        self.logs.append(&self.group, &self.stream, now_ms(), &text);
        self.tail.extend_from_slice(line);
        self.tail.push(b'\n');
        if self.tail.len() > 2 * TAIL_BYTES {
            self.tail.drain(..self.tail.len() - TAIL_BYTES);
        }
    }
}

fn set_nonblocking(fd: &OwnedFd) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let raw = fd.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(raw, libc::F_GETFL);
        if flags < 0 || libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
