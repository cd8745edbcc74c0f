//! Polling for work before a worker thread sleeps, as the kernel's halt polling would.
//!
//! A client that waits for each answer leaves the server idle between requests. Where an idle
//! CPU halts at once (virtual machines booted with `haltpoll.guest_halt_poll_ns=0`, as
//! Firecracker guests are), waking it costs tens of microseconds per request: more than a
//! GetItem's own work. So a tokio worker about to park polls for a while first: for a readable
//! socket in a set of its own (the listener and every connection) or a task queued from another
//! thread. It then parks as tokio would, and its I/O driver finds the events ready without
//! sleeping. Every idle worker polls, so whichever takes the I/O driver is awake; the first to
//! see an event tells the others, as the set reports each event once.
//!
//! Polling yields the CPU to any thread waiting for it (a client on the same machine), and stops
//! when one ran: a busy machine gains nothing from it. How long a worker polls adapts as the
//! kernel's rule does (`cpuidle-haltpoll`): the limit grows when work came soon after polling
//! gave up, and shrinks when the worker slept longer than the maximum, so a client that pauses
//! between requests (a test suite in Python, say) soon costs no polling at all.

use std::cell::Cell;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, TryLockError};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};

/// The guest kernel's own polling limit (`cpuidle-haltpoll`), in nanoseconds.
const GUEST_HALT_POLL_NS: &str = "/sys/module/haltpoll/parameters/guest_halt_poll_ns";

/// The most the server polls by default, as the kernel's default.
const DEFAULT_MAX: Duration = Duration::from_micros(200);

/// The server polls by default only where the guest kernel's halt polling is off. Where the
/// kernel polls, it already hides the wake, sooner and without charging the server's CPU: there,
/// polling in the server too measured slower (PutItem p50 0.047 against 0.035-0.041 ms at one
/// connection) at twice the CPU per request. Elsewhere (no virtual machine, or one that does
/// not say) waking is left to the kernel.
pub fn default_max() -> Duration {
    match std::fs::read_to_string(GUEST_HALT_POLL_NS).map(|ns| ns.trim().parse::<u64>()) {
        Ok(Ok(0)) => DEFAULT_MAX,
        _ => Duration::ZERO,
    }
}

/// Where the limit starts growing from, as in the kernel.
const GROW_START: Duration = Duration::from_micros(50);
/// A yield that takes longer than this let another thread run. On an idle machine yields take
/// a few microseconds, rarely 30-60; when the CPU is wanted, a time slice (over 100).
const CONTENDED: Duration = Duration::from_micros(50);

pub struct IdlePoll {
    /// Readiness of the sockets that bring work: polled by one worker at a time, and
    /// edge-triggered (each event is reported once).
    sockets: Mutex<(Poll, Events)>,
    registry: Registry,
    /// Counts the events seen, so the workers that did not poll them stop too.
    events_seen: AtomicU64,
    max: Duration,
    limit_ns: AtomicU64,
}

thread_local! {
    /// When this thread began its last poll, if it polled before parking.
    static POLLED_FROM: Cell<Option<Instant>> = const { Cell::new(None) };
}

impl IdlePoll {
    /// Polls for at most `max` before sleeping.
    pub fn new(max: Duration) -> io::Result<IdlePoll> {
        let poll = Poll::new()?;
        Ok(IdlePoll {
            registry: poll.registry().try_clone()?,
            sockets: Mutex::new((poll, Events::with_capacity(1))),
            events_seen: AtomicU64::new(0),
            max,
            limit_ns: AtomicU64::new(0),
        })
    }

    /// Ends the polling when `socket` becomes readable, for as long as it is open.
    pub fn watch(&self, socket: &impl AsRawFd) {
        let fd = socket.as_raw_fd();
        // Closing the socket removes it from the set.
        let registered = self
            .registry
            .register(&mut SourceFd(&fd), Token(0), Interest::READABLE);
        if let Err(e) = registered {
            tracing::debug!("cannot poll socket {fd} before sleeping: {e}");
        }
    }

    fn limit(&self) -> Duration {
        Duration::from_nanos(self.limit_ns.load(Ordering::Relaxed))
    }

    fn set_limit(&self, limit: Duration) {
        let ns = limit.as_nanos().try_into().unwrap_or(u64::MAX);
        self.limit_ns.store(ns, Ordering::Relaxed);
    }

    /// Runs on a worker thread about to park.
    pub fn before_park(&self) {
        let from = Instant::now();
        let limit = self.limit();
        // Even without polling, how long the worker sleeps may make the limit grow.
        if limit.is_zero() || self.poll_until(from + limit) {
            POLLED_FROM.set(Some(from));
        } else {
            // Another thread wants this CPU: poll less, as after a long sleep.
            self.set_limit(limit / 2);
        }
    }

    /// Runs on a worker thread that has just unparked.
    pub fn after_unpark(&self) {
        // Taken either way: an event left in the set (tokio's own set has woken a worker for
        // it) would cut the next poll short.
        let socket_event = self.socket_event();
        if let Some(from) = POLLED_FROM.take() {
            // A short sleep says polling would have paid only if a socket woke it: a wake from
            // another worker with nothing to do is no reason to poll longer.
            let slept = from.elapsed();
            if slept > self.max || socket_event {
                self.set_limit(next_limit(self.limit(), slept, self.max));
            }
        }
    }

    /// Whether a watched socket has had an event since the last poll.
    fn socket_event(&self) -> bool {
        let mut sockets = match self.sockets.try_lock() {
            Ok(sockets) => sockets,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return false, // another worker polls
        };
        let (poll, events) = &mut *sockets;
        let polled = poll.poll(events, Some(Duration::ZERO));
        // An error ends the polling as an event would.
        let event = !matches!(polled, Ok(()) if events.is_empty());
        if event {
            self.events_seen.fetch_add(1, Ordering::Release);
        }
        event
    }

    /// Polls until work comes or `deadline`; false if it stopped because another thread wanted
    /// the CPU.
    fn poll_until(&self, deadline: Instant) -> bool {
        let queued = tokio::runtime::Handle::try_current()
            .ok()
            .map(|h| h.metrics());
        let seen = self.events_seen.load(Ordering::Acquire);
        loop {
            self.socket_event();
            if self.events_seen.load(Ordering::Acquire) != seen
                || queued.as_ref().is_some_and(|m| m.global_queue_depth() > 0)
                || Instant::now() >= deadline
            {
                return true;
            }
            let yielded = Instant::now();
            std::thread::yield_now();
            if yielded.elapsed() > CONTENDED {
                return false;
            }
        }
    }
}

/// The kernel's rule: double the limit (from `GROW_START`) when the worker slept longer than it
/// but no longer than `max`; halve it when the worker slept longer than `max`.
fn next_limit(limit: Duration, slept: Duration, max: Duration) -> Duration {
    if slept > max {
        limit / 2
    } else if slept > limit {
        (limit * 2).max(GROW_START).min(max)
    } else {
        limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::sync::Arc;

    const MAX: Duration = Duration::from_micros(200);

    #[test]
    fn the_limit_grows_when_work_came_soon_after_polling_stopped() {
        let us = Duration::from_micros;
        assert_eq!(next_limit(us(0), us(30), MAX), us(50));
        assert_eq!(next_limit(us(50), us(80), MAX), us(100));
        assert_eq!(next_limit(us(150), us(180), MAX), MAX);
        // Caught while polling: unchanged.
        assert_eq!(next_limit(us(100), us(40), MAX), us(100));
    }

    #[test]
    fn the_limit_shrinks_when_the_worker_slept_longer_than_the_maximum() {
        let us = Duration::from_micros;
        assert_eq!(next_limit(MAX, us(900), MAX), us(100));
        assert_eq!(next_limit(us(100), us(5000), MAX), us(50));
        assert_eq!(next_limit(Duration::ZERO, us(5000), MAX), Duration::ZERO);
    }

    #[test]
    fn a_small_maximum_caps_the_first_growth() {
        let us = Duration::from_micros;
        assert_eq!(next_limit(us(0), us(10), us(20)), us(20));
    }

    /// Parks as a worker would, with a fresh `limit` each time, until a poll has seen an event
    /// (a poll that another thread's time slice cut short proves nothing).
    fn park_until_an_event(idle: &IdlePoll, limit: Duration) {
        while idle.events_seen.load(Ordering::Acquire) == 0 {
            idle.set_limit(limit);
            idle.before_park();
        }
    }

    #[test]
    fn polling_stops_when_a_watched_socket_becomes_readable() {
        let idle = IdlePoll::new(MAX).unwrap();
        let (mut client, server) = UnixStream::pair().unwrap();
        idle.watch(&server);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            client.write_all(b"POST").unwrap();
            client
        });
        let started = Instant::now();
        park_until_an_event(&idle, Duration::from_secs(60));
        assert!(started.elapsed() < Duration::from_secs(30));
        drop(writer.join().unwrap());
    }

    #[test]
    fn polling_stops_at_the_limit_when_nothing_comes() {
        let idle = IdlePoll::new(MAX).unwrap();
        let (_client, server) = UnixStream::pair().unwrap();
        idle.watch(&server);
        idle.set_limit(Duration::from_millis(5));
        let started = Instant::now();
        idle.before_park();
        if POLLED_FROM.get().is_some() {
            assert!(started.elapsed() >= Duration::from_millis(5));
            // It slept long after polling stopped.
            std::thread::sleep(Duration::from_millis(10));
            idle.after_unpark();
        }
        // Halved, whether it slept long or another thread wanted the CPU.
        assert_eq!(idle.limit(), Duration::from_micros(2500));
    }

    #[test]
    fn every_polling_worker_stops_at_an_event_only_one_of_them_saw() {
        let idle = Arc::new(IdlePoll::new(MAX).unwrap());
        let (mut client, server) = UnixStream::pair().unwrap();
        idle.watch(&server);
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let idle = idle.clone();
                std::thread::spawn(move || park_until_an_event(&idle, Duration::from_secs(60)))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        client.write_all(b"POST").unwrap();
        for worker in workers {
            worker.join().unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(30));
        assert_eq!(idle.events_seen.load(Ordering::Acquire), 1);
    }
}
