//! Connections that hold a slot without using it: one idle between requests, or one whose
//! next request's headers arrive too slowly (a byte a second), is closed once no request has
//! been under way on it for the client timeout.
//!
//! A request marks its connection busy while it runs; a watchdog per connection looks every
//! quarter of the timeout. That costs a request three uncontended atomic operations, where a
//! timer armed for every request's headers (hyper's `header_read_timeout`) measured 5% of
//! GetItem's throughput (bench/RESULTS.md, eighteenth sitting).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Default)]
pub struct Activity {
    in_flight: AtomicU32,
    served: AtomicU64,
}

/// A request under way on a connection.
pub struct Busy(Arc<Activity>);

impl Activity {
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.served.fetch_add(1, Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Resolves once the connection has had no request under way, and finished none, for
/// `timeout` (give or take a quarter of it).
pub async fn idle_for(activity: &Activity, timeout: Duration) {
    let tick = timeout / 4;
    let mut seen = activity.served.load(Ordering::Relaxed);
    let mut quiet_ticks = 0;
    while quiet_ticks < 4 {
        tokio::time::sleep(tick).await;
        let served = activity.served.load(Ordering::Relaxed);
        if activity.in_flight.load(Ordering::Relaxed) > 0 || served != seen {
            seen = served;
            quiet_ticks = 0;
        } else {
            quiet_ticks += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_is_idle_only_after_the_timeout_without_requests() {
        let a = Arc::new(Activity::default());
        let timeout = Duration::from_millis(400);
        let watch = {
            let a = a.clone();
            tokio::spawn(async move { idle_for(&a, timeout).await })
        };
        // A request keeps it busy however long it runs.
        let busy = a.begin();
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert!(!watch.is_finished());
        drop(busy);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(!watch.is_finished());
        tokio::time::timeout(Duration::from_secs(5), watch)
            .await
            .expect("idle once the timeout passed without requests")
            .unwrap();
    }
}
