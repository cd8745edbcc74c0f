//! Connections that hold a slot without using it: one idle between requests, or one whose
//! next request's headers arrive too slowly (a byte a second), is closed once no request has
//! been under way on it for the client timeout.
//!
//! A request marks its connection busy while it runs; a watchdog task per connection looks
//! every quarter of the timeout. That costs a request two uncontended atomic additions, where
//! a timer armed for every request's headers (hyper's `header_read_timeout`) measured 4-7% of
//! GetItem's throughput (bench/RESULTS.md, eighteenth sitting).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Requests under way (the low 32 bits) and requests served (the high 32), in one word so
/// that a request costs two atomic additions.
#[derive(Default)]
pub struct Activity(AtomicU64);

const SERVED: u64 = 1 << 32;

/// A request under way on a connection.
pub struct Busy(Arc<Activity>);

impl Activity {
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.0.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        // One more served, one fewer under way.
        self.0 .0.fetch_add(SERVED - 1, Ordering::Relaxed);
    }
}

/// Aborts the task serving a connection (which closes it and frees its slot) once the
/// connection has had no request under way, and finished none, for `timeout` (give or take a
/// quarter of it); ends with the connection.
pub async fn close_when_idle(
    connection: tokio::task::JoinHandle<()>,
    activity: Arc<Activity>,
    timeout: Duration,
) {
    let tick = timeout / 4;
    let mut seen = activity.0.load(Ordering::Relaxed);
    let mut quiet_ticks = 0;
    while quiet_ticks < 4 {
        tokio::time::sleep(tick).await;
        if connection.is_finished() {
            return;
        }
        // Busy while a request is under way, or when one has finished since the last look.
        let now = activity.0.load(Ordering::Relaxed);
        if now as u32 > 0 || now != seen {
            seen = now;
            quiet_ticks = 0;
        } else {
            quiet_ticks += 1;
        }
    }
    connection.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_is_idle_only_after_the_timeout_without_requests() {
        let a = Arc::new(Activity::default());
        let timeout = Duration::from_millis(400);
        let connection = tokio::spawn(std::future::pending::<()>());
        let watch = tokio::spawn(close_when_idle(connection, a.clone(), timeout));
        // A request keeps it busy however long it runs.
        let busy = a.begin();
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert!(!watch.is_finished());
        drop(busy);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(!watch.is_finished());
        tokio::time::timeout(Duration::from_secs(5), watch)
            .await
            .expect("closed once the timeout passed without requests")
            .unwrap();
    }
}
