//! A token bucket in one atomic word, so concurrent requests on one table never take a lock.
//!
//! The word is the instant (microseconds since the epoch) at which the bucket is, or was,
//! empty: at `now` it holds `rate * (now - empty_at)` units, at most `rate * burst`. Taking
//! units moves that instant forward by `units / rate` seconds. A request is let in while
//! anything is left and then charged in full, which may leave the bucket in debt: DynamoDB
//! lets a large read or write through the same way and debits it, so an item bigger than a
//! second of capacity still goes through.

use std::sync::atomic::{AtomicU64, Ordering};

/// Microseconds since the epoch.
pub type Micros = u64;

/// The refill rate (units per second) and the most a bucket keeps (seconds of that rate).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst_seconds: f64,
}

impl Rate {
    fn burst_micros(self) -> Micros {
        (self.burst_seconds * 1e6) as Micros
    }

    fn micros_for(self, units: f64) -> Micros {
        (units / self.per_second * 1e6).ceil() as Micros
    }
}

/// Whether a bucket whose empty instant is `empty_at` has anything left at `now`.
pub fn has_tokens(empty_at: Micros, now: Micros) -> bool {
    empty_at < now
}

/// The empty instant after taking `units` at `now`: a bucket fuller than its burst allows is
/// first cut back to the burst.
pub fn charged(empty_at: Micros, now: Micros, rate: Rate, units: f64) -> Micros {
    let full = now.saturating_sub(rate.burst_micros());
    empty_at.max(full) + rate.micros_for(units)
}

/// Whether the bucket is full at `now` (nothing taken from it for a whole burst).
pub fn is_full(empty_at: Micros, now: Micros, rate: Rate) -> bool {
    empty_at <= now.saturating_sub(rate.burst_micros())
}

/// A bucket that starts full.
#[derive(Debug, Default)]
pub struct Bucket {
    empty_at: AtomicU64,
}

impl Bucket {
    pub fn has_tokens(&self, now: Micros) -> bool {
        has_tokens(self.empty_at.load(Ordering::Relaxed), now)
    }

    /// Takes `units` whether or not anything is left (a read charged after it ran).
    pub fn charge(&self, now: Micros, rate: Rate, units: f64) {
        let _ = self
            .empty_at
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |e| {
                Some(charged(e, now, rate, units))
            });
    }
}

/// The read and write buckets of one table or index. They are the running server's state,
/// not part of the definition: every version of a table's definition shares them, they are
/// never stored (a restart starts them full), and any two compare equal.
#[derive(Clone, Debug, Default)]
pub struct Buckets(std::sync::Arc<[Bucket; 2]>);

impl Buckets {
    pub fn get(&self, op: super::Op) -> &Bucket {
        &self.0[op as usize]
    }
}

impl PartialEq for Buckets {
    fn eq(&self, _: &Buckets) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FIVE: Rate = Rate {
        per_second: 5.0,
        burst_seconds: 300.0,
    };
    const START: Micros = 1_700_000_000_000_000;

    impl Bucket {
        /// A request as the engine makes one: let in while anything is left, then charged.
        fn take(&self, now: Micros, rate: Rate, units: f64) -> bool {
            let admitted = self.has_tokens(now);
            if admitted {
                self.charge(now, rate, units);
            }
            admitted
        }

        /// Units available at `now` (negative while in debt).
        fn tokens(&self, now: Micros, rate: Rate) -> f64 {
            let since = now as f64 - self.empty_at.load(Ordering::Relaxed) as f64;
            (rate.per_second * since / 1e6).min(rate.per_second * rate.burst_seconds)
        }
    }

    #[test]
    fn a_new_bucket_holds_its_whole_burst_then_refills_at_its_rate() {
        let b = Bucket::default();
        assert_eq!(b.tokens(START, FIVE), 1500.0);
        let mut granted = 0.0;
        while b.take(START, FIVE, 1.0) {
            granted += 1.0;
        }
        assert_eq!(granted, 1500.0);
        assert!(!b.has_tokens(START));
        // One second later: five more units, and not a sixth.
        let later = START + 1_000_000;
        for _ in 0..5 {
            assert!(b.take(later, FIVE, 1.0));
        }
        assert!(!b.take(later, FIVE, 1.0));
    }

    #[test]
    fn a_large_request_goes_through_and_leaves_the_bucket_in_debt() {
        let b = Bucket::default();
        let now = START;
        assert!(b.take(now, FIVE, 2000.0));
        assert_eq!(b.tokens(now, FIVE), -500.0);
        // The debt is paid back at the rate: 100 s later the bucket is at zero, just after it
        // admits again.
        assert!(!b.has_tokens(now + 100_000_000));
        assert!(b.has_tokens(now + 100_000_001));
    }

    proptest! {
        /// Whatever the pattern of requests, no more is granted than the burst, plus the
        /// rate over the elapsed time, plus the one request that may overdraw.
        #[test]
        fn never_more_than_burst_plus_rate_times_time(
            rate in 1.0f64..1000.0,
            burst in 1.0f64..300.0,
            steps in proptest::collection::vec((0u64..2_000_000, 0.5f64..50.0), 1..400),
        ) {
            let rate = Rate { per_second: rate, burst_seconds: burst };
            let b = Bucket::default();
            let mut now = START;
            let mut granted = 0.0;
            let mut largest = 0.0f64;
            for (wait, units) in steps {
                now += wait;
                if b.take(now, rate, units) {
                    granted += units;
                    largest = largest.max(units);
                }
            }
            let elapsed = (now - START) as f64 / 1e6;
            let bound = rate.per_second * (burst + elapsed) + largest;
            prop_assert!(granted <= bound + 1e-6, "granted {granted} > bound {bound}");
        }

        /// And a bucket left alone for its burst time is full again.
        #[test]
        fn an_idle_bucket_refills(debt in 0.5f64..10_000.0) {
            let b = Bucket::default();
            b.charge(START, FIVE, debt);
            let full_again = START + ((debt / 5.0 + 300.0) * 1e6).ceil() as u64 + 1;
            prop_assert_eq!(b.tokens(full_again, FIVE), 1500.0);
        }
    }
}
