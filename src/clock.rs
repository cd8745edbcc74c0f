//! Time, injectable so that time-dependent behaviour is testable without sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;

    /// The manual clock, when this is one (`serve --manual-clock`).
    fn manual(&self) -> Option<&ManualClock> {
        None
    }

    /// Waits until the clock may read `at` or later: a real sleep for the system clock; for
    /// the manual clock, until someone moves it that far.
    fn sleep_until(
        &self,
        at: SystemTime,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        let wait = at.duration_since(self.now()).unwrap_or_default();
        Box::pin(tokio::time::sleep(wait))
    }

    /// Seconds since the epoch with millisecond precision, as DynamoDB's date members.
    fn epoch_seconds(&self) -> f64 {
        let d = self.now().duration_since(UNIX_EPOCH).unwrap_or_default();
        (d.as_millis() as f64) / 1000.0
    }
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to, and only forwards (timestamps, sequence numbers and
/// schedules never see time go back). Waiters wake when it moves.
pub struct ManualClock {
    millis: AtomicU64,
    moved: tokio::sync::watch::Sender<u64>,
}

impl ManualClock {
    pub fn new(start: SystemTime) -> Self {
        let ms = start
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        ManualClock {
            millis: AtomicU64::new(ms),
            moved: tokio::sync::watch::channel(ms).0,
        }
    }

    pub fn advance(&self, by: Duration) {
        let now = self
            .millis
            .fetch_add(by.as_millis() as u64, Ordering::SeqCst)
            + by.as_millis() as u64;
        self.moved.send_replace(now);
    }

    /// Moves the clock to `to`; refused (false) when that is in its past.
    pub fn set(&self, to: SystemTime) -> bool {
        let target = to
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let current = self.millis.load(Ordering::SeqCst);
        if target < current {
            return false;
        }
        self.advance(Duration::from_millis(target - current));
        true
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.millis.load(Ordering::SeqCst))
    }

    fn manual(&self) -> Option<&ManualClock> {
        Some(self)
    }

    fn sleep_until(
        &self,
        at: SystemTime,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        let target = at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let mut moved = self.moved.subscribe();
        Box::pin(async move {
            let _ = moved.wait_for(|now| *now >= target).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_sleepers_wake_when_the_clock_passes_their_instant() {
        let c = std::sync::Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(100)));
        let sleeper = {
            let c = c.clone();
            tokio::spawn(async move { c.sleep_until(UNIX_EPOCH + Duration::from_secs(160)).await })
        };
        c.advance(Duration::from_secs(30));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        assert!(
            !c.set(UNIX_EPOCH + Duration::from_secs(10)),
            "the clock never goes back"
        );
        assert!(c.set(UNIX_EPOCH + Duration::from_secs(160)));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .unwrap()
            .unwrap();
    }

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let c = ManualClock::new(UNIX_EPOCH + Duration::from_secs(10));
        assert_eq!(c.epoch_seconds(), 10.0);
        c.advance(Duration::from_millis(1500));
        assert_eq!(c.epoch_seconds(), 11.5);
    }
}
