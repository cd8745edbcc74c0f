//! When an answer may go out: once the write-ahead log holds everything it reveals.
//!
//! RocksDB keeps the log in its own buffer (`manual_wal_flush`) until one of these writes it.
//! By default (`LogWriter`) the log need only reach the operating system, which then outlives a
//! process crash; a request that finds the log behind while others are under way yields once,
//! so the other requests ready on its thread make their writes first, and the first of them to
//! resume writes the log for all: one `write` syscall per group instead of one per request. A
//! request alone writes at once (a yield costs a lone client ~10 µs).
//!
//! Durable mode (`--sync`, `Durability`): answers wait until what they reveal is on disk.
//!
//! Writes go to RocksDB's write-ahead log without a sync of their own, so no request blocks a
//! thread; one syncer thread makes the log durable up to the newest sequence number any waiting
//! request needs, and every request (reads too: they may have seen a write still in flight) is
//! answered once the log is synced up to the sequence number current when it finished. One sync
//! covers every write made while the previous one ran (group commit), and a request costs an
//! await rather than two thread switches.
//!
//! Clients that wait for their answer before writing again would settle into two cohorts, one
//! syncing and one queued behind it, each write paying for two syncs; so the syncer may first
//! wait (at most as long as a sync) for as many requests as its last sync answered plus those
//! that queued during it, and the writers just answered all share the next sync (`Gather`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rocksdb::DB;
use tokio::sync::watch;

use crate::error::{Error, Result};

/// The default mode: answers wait until the log is written to the operating system.
pub struct LogWriter {
    db: Arc<DB>,
    /// The log is written up to this sequence number.
    written: AtomicU64,
}

impl LogWriter {
    pub fn new(db: Arc<DB>) -> LogWriter {
        let written = AtomicU64::new(db.latest_sequence_number());
        LogWriter { db, written }
    }

    /// Resolves once the log is written up to every write visible now (a read may have seen
    /// one still in the buffer); `others` says whether other requests are under way.
    pub async fn wait(&self, others: bool) -> Result<()> {
        let target = self.db.latest_sequence_number();
        if self.written.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        if others {
            tokio::task::yield_now().await;
            if self.written.load(Ordering::Acquire) >= target {
                return Ok(());
            }
        }
        // A write is visible only once it is in the buffer, so this flush covers `upto`.
        let upto = self.db.latest_sequence_number();
        self.db.flush_wal(false)?;
        self.written.fetch_max(upto, Ordering::AcqRel);
        Ok(())
    }
}

/// How far the log is durable, and how many syncs have failed (a waiter then fails too).
#[derive(Clone, Copy, Default)]
struct Synced {
    sequence: u64,
    failures: u64,
}

/// The longest the syncer waits for more requests, whatever a sync costs.
const MAX_GATHER: Duration = Duration::from_millis(4);
/// How long each mode is measured, and windows in the chosen mode between probes of the other.
const WINDOW: Duration = Duration::from_millis(200);
const PROBE_EVERY: u32 = 8;

struct Shared {
    wanted: Mutex<Wanted>,
    wake: Condvar,
    synced: watch::Sender<Synced>,
}

#[derive(Default)]
struct Wanted {
    /// The highest sequence number a request waits for.
    sequence: u64,
    /// Requests that started waiting since the syncer took the last count.
    waiters: usize,
    /// The syncer sleeps until a request wants more than it synced...
    idle: bool,
    /// ...or gathers until this many are waiting (0: not gathering).
    gathering_for: usize,
    closing: bool,
}

pub struct Durability {
    db: Arc<DB>,
    shared: Arc<Shared>,
    syncer: Option<JoinHandle<()>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Durability {
    pub fn start(db: Arc<DB>) -> std::io::Result<Durability> {
        let initial = Synced {
            sequence: db.latest_sequence_number(),
            failures: 0,
        };
        let shared = Arc::new(Shared {
            wanted: Mutex::new(Wanted {
                sequence: initial.sequence,
                ..Wanted::default()
            }),
            wake: Condvar::new(),
            synced: watch::Sender::new(initial),
        });
        let syncer = {
            let (db, shared) = (db.clone(), shared.clone());
            std::thread::Builder::new()
                .name("wal-sync".into())
                .spawn(move || sync_loop(&db, &shared))?
        };
        Ok(Durability {
            db,
            shared,
            syncer: Some(syncer),
        })
    }

    /// Resolves once everything written so far is durable.
    pub async fn wait(&self) -> Result<()> {
        let target = self.db.latest_sequence_number();
        let mut synced = self.shared.synced.subscribe();
        let failures = {
            let now = *synced.borrow();
            if now.sequence >= target {
                return Ok(());
            }
            now.failures
        };
        {
            let mut wanted = lock(&self.shared.wanted);
            wanted.sequence = wanted.sequence.max(target);
            wanted.waiters += 1;
            if wanted.idle || (wanted.gathering_for > 0 && wanted.waiters >= wanted.gathering_for) {
                self.shared.wake.notify_one();
            }
        }
        let now = *synced
            .wait_for(|s| s.sequence >= target || s.failures > failures)
            .await
            .map_err(|_| Error::Internal("the write-ahead log syncer has stopped".into()))?;
        if now.sequence >= target {
            Ok(())
        } else {
            Err(Error::Internal(
                "the write-ahead log could not be synced to disk".into(),
            ))
        }
    }
}

impl Drop for Durability {
    fn drop(&mut self) {
        lock(&self.shared.wanted).closing = true;
        self.shared.wake.notify_one();
        if let Some(syncer) = self.syncer.take() {
            let _ = syncer.join();
        }
    }
}

fn sync_loop(db: &DB, shared: &Shared) {
    let mut done = shared.synced.borrow().sequence;
    let mut gather = Gather::default();
    loop {
        let mut wanted = lock(&shared.wanted);
        while wanted.sequence <= done && !wanted.closing {
            wanted.idle = true;
            wanted = shared
                .wake
                .wait(wanted)
                .unwrap_or_else(PoisonError::into_inner);
        }
        wanted.idle = false;
        if wanted.sequence <= done {
            return; // closing, nothing left to sync
        }
        if gather.waiting && !wanted.closing {
            let deadline = gather.deadline();
            wanted.gathering_for = gather.expected;
            while wanted.waiters < gather.expected {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                wanted = shared
                    .wake
                    .wait_timeout(wanted, left)
                    .map(|(wanted, _)| wanted)
                    .unwrap_or_else(|poisoned| poisoned.into_inner().0);
            }
            wanted.gathering_for = 0;
        }
        let answered = std::mem::take(&mut wanted.waiters);
        drop(wanted);

        // Everything up to this sequence number is in the log already; the sync covers it and
        // whatever lands meanwhile.
        let started = Instant::now();
        let target = db.latest_sequence_number();
        match db.flush_wal(true) {
            Ok(()) => {
                done = target;
                shared.synced.send_modify(|s| s.sequence = target);
            }
            Err(e) => {
                tracing::error!("syncing the write-ahead log failed: {e}");
                shared.synced.send_modify(|s| s.failures += 1);
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        gather.last_sync = started.elapsed();
        gather.expected = answered + lock(&shared.wanted).waiters;
        gather.record(answered, Instant::now());
    }
}

/// Whether the syncer waits for more requests before a sync. Waiting idles the disk: it pays
/// when the clients just answered come back well within a sync, and costs when they cannot (a
/// client sharing busy cores with the server), where syncing at once lets two cohorts overlap
/// the clients' work with the disk's. So the syncer measures both: it runs in one mode, tries
/// the other for one window every `PROBE_EVERY` windows, and keeps the faster.
struct Gather {
    waiting: bool,
    /// Requests answered by the last sync plus those that queued during it.
    expected: usize,
    last_sync: Duration,
    /// Answers per second last measured without and with waiting.
    rates: [f64; 2],
    windows_since_probe: u32,
    window_started: Instant,
    window_answers: usize,
}

impl Default for Gather {
    fn default() -> Gather {
        Gather {
            waiting: true,
            expected: 1,
            last_sync: Duration::ZERO,
            rates: [0.0; 2],
            windows_since_probe: 0,
            window_started: Instant::now(),
            window_answers: 0,
        }
    }
}

impl Gather {
    /// Until when the syncer waits for `expected` requests.
    fn deadline(&self) -> Instant {
        Instant::now() + self.last_sync.min(MAX_GATHER)
    }

    /// Accounts `answers` made by `now`, and picks the mode at the end of each window.
    fn record(&mut self, answers: usize, now: Instant) {
        self.window_answers += answers;
        let elapsed = now.saturating_duration_since(self.window_started);
        if elapsed < WINDOW {
            return;
        }
        self.rates[usize::from(self.waiting)] = self.window_answers as f64 / elapsed.as_secs_f64();
        if self.windows_since_probe == PROBE_EVERY {
            // The window just measured was the probe: keep whichever mode was faster.
            self.waiting = self.rates[1] >= self.rates[0];
            self.windows_since_probe = 0;
        } else {
            self.windows_since_probe += 1;
            if self.windows_since_probe == PROBE_EVERY {
                self.waiting = !self.waiting;
            }
        }
        self.window_started = now;
        self.window_answers = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_wait_for_the_sync_that_covers_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(DB::open_default(dir.path()).unwrap());
        let durability = Arc::new(Durability::start(db.clone()).unwrap());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let writers: Vec<_> = (0..16u8)
                .map(|writer| {
                    let (db, durability) = (db.clone(), durability.clone());
                    tokio::spawn(async move {
                        for n in 0..20u8 {
                            db.put([writer, n], [n]).unwrap();
                            let written = db.latest_sequence_number();
                            durability.wait().await.unwrap();
                            assert!(durability.shared.synced.borrow().sequence >= written);
                        }
                    })
                })
                .collect();
            for writer in writers {
                tokio::time::timeout(Duration::from_secs(30), writer)
                    .await
                    .expect("every answer is released")
                    .unwrap();
            }
        });
        assert_eq!(
            durability.shared.synced.borrow().sequence,
            db.latest_sequence_number()
        );
    }

    #[test]
    fn the_syncer_waits_at_most_as_long_as_a_sync() {
        let mut gather = Gather {
            last_sync: Duration::from_micros(800),
            ..Gather::default()
        };
        assert!(gather.deadline() - Instant::now() <= Duration::from_micros(800));
        gather.last_sync = Duration::from_secs(1);
        let wait = gather.deadline() - Instant::now();
        assert!(wait <= MAX_GATHER && wait > MAX_GATHER / 2);
    }

    #[test]
    fn the_faster_mode_wins_each_probe() {
        let mut gather = Gather::default();
        let mut now = gather.window_started;
        // Every window lasts as long: its rate is its answers.
        let mut window = |gather: &mut Gather, answers: usize| {
            now += WINDOW;
            gather.record(answers, now);
        };
        for _ in 0..PROBE_EVERY - 1 {
            window(&mut gather, 20);
            assert!(gather.waiting);
        }
        window(&mut gather, 20);
        assert!(!gather.waiting, "probing syncing at once");
        window(&mut gather, 30);
        assert!(!gather.waiting, "faster: kept");
        for _ in 0..PROBE_EVERY {
            window(&mut gather, 30);
        }
        assert!(gather.waiting, "probing waiting again");
        window(&mut gather, 10);
        assert!(!gather.waiting, "slower: dropped");
    }
}
