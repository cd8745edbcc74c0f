//! Group commit for durable mode: concurrent writes share one fsync.
//!
//! RocksDB already commits every writer queued while a sync runs in the next sync, but clients
//! that wait for their answer before writing again then settle into two cohorts: one syncing, one
//! queued behind it, so each write pays for two syncs and 32 writers share them 16 at a time.
//! Here, when gathering pays (`Gather` measures it), the first writer to arrive leads: it waits
//! (at most half a sync) until as many writers have queued as the last group held plus those that
//! queued during its sync, so the writers just answered all share the next sync; it merges the
//! queued batches into one RocksDB write, hands leadership to the first writer queued meanwhile,
//! then wakes its followers. A lone writer commits on its own thread, as with RocksDB alone.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::Thread;
use std::time::{Duration, Instant};

use rocksdb::{WriteBatch, WriteOptions, DB};

use crate::error::Result;

/// The longest a group waits for more writers, whatever a sync costs.
const MAX_GATHER: Duration = Duration::from_millis(2);
/// How long each mode is measured, and windows in the chosen mode between probes of the other.
const WINDOW: Duration = Duration::from_millis(200);
const PROBE_EVERY: u32 = 8;
/// A group stops taking batches past this size (RocksDB's own group limit is 1 MB); a larger
/// single batch still commits alone.
const MAX_GROUP_BYTES: usize = 4 << 20;
/// A serialized write batch starts with an 8-byte sequence number and a 4-byte record count.
const HEADER: usize = 12;

type Outcome = std::result::Result<(), rocksdb::Error>;

#[derive(Default)]
pub struct GroupCommit {
    state: Mutex<State>,
    /// Signalled when the writers a gathering leader waits for have all queued.
    arrivals: Condvar,
}

#[derive(Default)]
struct State {
    queue: Vec<Request>,
    /// A leader is gathering or committing; writers queue behind it.
    leading: bool,
    gathering: bool,
    gather: Gather,
}

struct Request {
    batch: Vec<u8>,
    slot: Arc<Slot>,
}

/// Where a waiting writer learns it leads the next group, or how its write ended.
struct Slot {
    turn: Mutex<Turn>,
    thread: Thread,
}

enum Turn {
    Waiting,
    Lead,
    Done(Outcome),
}

impl Slot {
    fn hand(&self, turn: Turn) {
        *lock(&self.turn) = turn;
        self.thread.unpark();
    }

    fn take(&self) -> Turn {
        std::mem::replace(&mut *lock(&self.turn), Turn::Waiting)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl GroupCommit {
    /// Commits `batch` with the next group; returns once it is durable.
    pub fn write(&self, db: &DB, options: &WriteOptions, batch: WriteBatch) -> Result<()> {
        let mut state = lock(&self.state);
        if !state.gather.waiting {
            drop(state);
            let outcome = db.write_opt(batch, options);
            lock(&self.state).gather.record(1, Instant::now());
            return Ok(outcome?);
        }
        let slot = Arc::new(Slot {
            turn: Mutex::new(Turn::Waiting),
            thread: std::thread::current(),
        });
        state.queue.push(Request {
            batch: batch.data().to_vec(),
            slot: slot.clone(),
        });
        if state.leading {
            // The gathering leader only needs waking once everyone it waits for is here.
            if state.gathering && state.queue.len() >= state.gather.expected {
                self.arrivals.notify_one();
            }
            drop(state);
            loop {
                match slot.take() {
                    Turn::Waiting => std::thread::park(),
                    Turn::Lead => break,
                    Turn::Done(outcome) => return Ok(outcome?),
                }
            }
            state = lock(&self.state);
        } else {
            state.leading = true;
        }
        Ok(self.lead(db, options, state, &slot)?)
    }

    /// Commits the group at the head of the queue, which holds the leader's own request.
    fn lead(
        &self,
        db: &DB,
        options: &WriteOptions,
        mut state: MutexGuard<'_, State>,
        me: &Arc<Slot>,
    ) -> Outcome {
        if state.gather.waiting {
            let deadline = state.gather.deadline();
            while state.queue.len() < state.gather.expected {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                state.gathering = true;
                state = self
                    .arrivals
                    .wait_timeout(state, left)
                    .map(|(state, _)| state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner().0);
            }
            state.gathering = false;
        }
        let group = take_group(&mut state.queue);
        drop(state);

        let started = Instant::now();
        let outcome = db.write_opt(merge(&group), options);
        let sync = started.elapsed();

        let mut state = lock(&self.state);
        state.gather.expected = group.len() + state.queue.len();
        state.gather.last_sync = sync;
        state.gather.record(group.len(), Instant::now());
        match state.queue.first() {
            Some(next) => next.slot.hand(Turn::Lead),
            None => state.leading = false,
        }
        drop(state);
        for request in group {
            if !Arc::ptr_eq(&request.slot, me) {
                request.slot.hand(Turn::Done(outcome.clone()));
            }
        }
        outcome
    }
}

/// Whether to gather writers before a sync. Waiting idles the disk: it pays when the writers just
/// answered come back well within a sync, and costs when they cannot (a client sharing busy cores
/// with the server). There RocksDB's own grouping is faster: writers that arrive during a sync
/// form the next group at once, in two alternating cohorts that overlap the clients' work with
/// the disk's. So writers measure both: they run in one mode, try the other for one window every
/// `PROBE_EVERY` windows, and keep the faster.
struct Gather {
    waiting: bool,
    /// Writers answered in the last group plus those that queued during its sync.
    expected: usize,
    last_sync: Duration,
    /// Writes per second last measured without and with gathering.
    rates: [f64; 2],
    windows_since_probe: u32,
    window_started: Instant,
    window_writes: usize,
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
            window_writes: 0,
        }
    }
}

impl Gather {
    /// Until when a leader waits for `expected` writers.
    fn deadline(&self) -> Instant {
        Instant::now() + (self.last_sync / 2).min(MAX_GATHER)
    }

    /// Accounts `writes` committed by `now`, and picks the mode at the end of each window.
    fn record(&mut self, writes: usize, now: Instant) {
        self.window_writes += writes;
        let elapsed = now.saturating_duration_since(self.window_started);
        if elapsed < WINDOW {
            return;
        }
        self.rates[usize::from(self.waiting)] = self.window_writes as f64 / elapsed.as_secs_f64();
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
        self.window_writes = 0;
    }
}

/// The oldest queued requests up to the group size limit (at least one).
fn take_group(queued: &mut Vec<Request>) -> Vec<Request> {
    let mut bytes = 0;
    let count = queued
        .iter()
        .take_while(|r| {
            bytes += r.batch.len();
            bytes <= MAX_GROUP_BYTES
        })
        .count()
        .max(1);
    let rest = queued.split_off(count);
    std::mem::replace(queued, rest)
}

/// One batch holding every record of `group`, in order (RocksDB's `WriteBatchInternal::Append`
/// on the documented serialized form).
fn merge(group: &[Request]) -> WriteBatch {
    if let [one] = group {
        return WriteBatch::from_data(&one.batch);
    }
    let size = HEADER + group.iter().map(|r| r.batch.len() - HEADER).sum::<usize>();
    let mut data = Vec::with_capacity(size);
    data.extend_from_slice(&[0; HEADER]);
    let mut count: u32 = 0;
    for request in group {
        let records = u32::from_le_bytes(request.batch[8..HEADER].try_into().unwrap_or([0; 4]));
        count = count.saturating_add(records);
        data.extend_from_slice(&request.batch[HEADER..]);
    }
    data[8..HEADER].copy_from_slice(&count.to_le_bytes());
    WriteBatch::from_data(&data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(batch: Vec<u8>) -> Request {
        Request {
            batch,
            slot: Arc::new(Slot {
                turn: Mutex::new(Turn::Waiting),
                thread: std::thread::current(),
            }),
        }
    }

    #[test]
    fn merged_batches_hold_every_record_in_order() {
        let mut first = WriteBatch::default();
        first.put(b"a", b"1");
        first.put(b"b", b"2");
        let mut second = WriteBatch::default();
        second.delete(b"a");
        second.merge(b"c", b"3");
        let merged = merge(&[
            request(first.data().to_vec()),
            request(second.data().to_vec()),
        ]);
        assert_eq!(merged.len(), 4);

        let mut expected = WriteBatch::default();
        expected.put(b"a", b"1");
        expected.put(b"b", b"2");
        expected.delete(b"a");
        expected.merge(b"c", b"3");
        assert_eq!(merged.data(), expected.data());
    }

    #[test]
    fn leaders_wait_at_most_half_a_sync() {
        let mut gather = Gather {
            last_sync: Duration::from_micros(800),
            ..Gather::default()
        };
        assert!(gather.deadline() - Instant::now() <= Duration::from_micros(400));
        gather.last_sync = Duration::from_secs(1);
        let wait = gather.deadline() - Instant::now();
        assert!(wait <= MAX_GATHER && wait > MAX_GATHER / 2);
    }

    #[test]
    fn concurrent_writers_all_commit_and_get_their_answer_while_the_mode_flips() {
        let dir = tempfile::tempdir().unwrap();
        let db = DB::open_default(dir.path()).unwrap();
        let mut options = WriteOptions::default();
        options.set_sync(true);
        let group_commit = GroupCommit::default();
        let writing = std::sync::atomic::AtomicUsize::new(16);
        std::thread::scope(|s| {
            for writer in 0..16u8 {
                let (db, options, group_commit, writing) = (&db, &options, &group_commit, &writing);
                s.spawn(move || {
                    for n in 0..50u8 {
                        let mut batch = WriteBatch::default();
                        batch.put([writer, n], [n]);
                        group_commit.write(db, options, batch).unwrap();
                        assert_eq!(db.get([writer, n]).unwrap(), Some(vec![n]));
                    }
                    writing.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                });
            }
            // Writers switch between gathering and RocksDB's own grouping mid-flight.
            while writing.load(std::sync::atomic::Ordering::SeqCst) > 0 {
                let mut state = lock(&group_commit.state);
                state.gather.waiting = !state.gather.waiting;
                drop(state);
                std::thread::sleep(Duration::from_micros(300));
            }
        });
        let state = lock(&group_commit.state);
        assert!(!state.leading);
        assert!(state.queue.is_empty());
    }

    #[test]
    fn the_faster_mode_wins_each_probe() {
        let mut gather = Gather::default();
        let mut now = gather.window_started;
        // Every window lasts as long: its rate is its writes.
        let mut window = |gather: &mut Gather, writes: usize| {
            now += WINDOW;
            gather.record(writes, now);
        };
        for _ in 0..PROBE_EVERY - 1 {
            window(&mut gather, 20);
            assert!(gather.waiting);
        }
        window(&mut gather, 20);
        assert!(!gather.waiting, "probing RocksDB's own grouping");
        window(&mut gather, 30);
        assert!(!gather.waiting, "faster: kept");
        for _ in 0..PROBE_EVERY {
            window(&mut gather, 30);
        }
        assert!(gather.waiting, "probing gathering again");
        window(&mut gather, 10);
        assert!(!gather.waiting, "slower: dropped");
    }

    #[test]
    fn groups_stop_at_the_size_limit_but_take_at_least_one() {
        let half = || request(vec![0; MAX_GROUP_BYTES / 2 + 1]);
        let mut queued = vec![half(), half()];
        assert_eq!(take_group(&mut queued).len(), 1);
        assert_eq!(queued.len(), 1);

        queued[0].batch = vec![0; MAX_GROUP_BYTES + 1];
        assert_eq!(take_group(&mut queued).len(), 1);
        assert!(queued.is_empty());
    }
}
