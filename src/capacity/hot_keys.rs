//! Per-partition limits: DynamoDB serves at most 3,000 read units and 1,000 write units per
//! second to one partition key value, whatever the table's capacity.
//!
//! Partitions are tracked in a fixed table of slots (no allocation, no growth with the
//! number of keys), each under its own lock, so requests on different keys do not contend.
//! A slot belongs to one partition while that partition has used it within the last second;
//! a partition whose slot is busy with another is not tracked for that second. So a
//! partition can escape its limit when two busy ones share a slot, but none is ever
//! throttled for another's traffic.

use std::sync::Mutex;

use super::bucket::{self, Micros, Rate};
use super::Op;

pub const READ: Rate = Rate {
    per_second: 3000.0,
    burst_seconds: 1.0,
};
pub const WRITE: Rate = Rate {
    per_second: 1000.0,
    burst_seconds: 1.0,
};

const SLOTS: usize = 4096;

#[derive(Default)]
struct Slot {
    /// The partition's fingerprint (0: free).
    owner: u64,
    read: Micros,
    write: Micros,
}

impl Slot {
    fn bucket(&mut self, op: Op) -> (&mut Micros, Rate) {
        match op {
            Op::Read => (&mut self.read, READ),
            Op::Write => (&mut self.write, WRITE),
        }
    }

    /// Claims the slot for `partition` if it is its own or idle; false if another partition
    /// is busy in it.
    fn claim(&mut self, partition: u64, now: Micros) -> bool {
        if self.owner == partition {
            return true;
        }
        let idle = bucket::is_full(self.read, now, READ) && bucket::is_full(self.write, now, WRITE);
        if idle {
            *self = Slot {
                owner: partition,
                read: 0,
                write: 0,
            };
        }
        idle
    }
}

pub struct HotKeys {
    slots: Box<[Mutex<Slot>]>,
}

impl Default for HotKeys {
    fn default() -> Self {
        HotKeys {
            slots: (0..SLOTS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl HotKeys {
    fn slot(&self, partition: u64) -> std::sync::MutexGuard<'_, Slot> {
        // Fibonacci hashing spreads fingerprints that differ only in their low bits.
        let i = (partition.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize % SLOTS;
        self.slots[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the partition may start a request of kind `op` now.
    pub fn has_tokens(&self, partition: u64, op: Op, now: Micros) -> bool {
        let mut slot = self.slot(partition);
        if !slot.claim(partition, now) {
            return true;
        }
        let (empty_at, _) = slot.bucket(op);
        bucket::has_tokens(*empty_at, now)
    }

    /// Takes `units` if the partition has anything left (one lock where `has_tokens` and
    /// `charge` take two); false, and nothing taken, otherwise.
    pub fn take(&self, partition: u64, op: Op, now: Micros, units: f64) -> bool {
        let mut slot = self.slot(partition);
        if !slot.claim(partition, now) {
            return true;
        }
        let (empty_at, rate) = slot.bucket(op);
        let ok = bucket::has_tokens(*empty_at, now);
        if ok {
            *empty_at = bucket::charged(*empty_at, now, rate, units);
        }
        ok
    }

    /// Charges the partition for units it used.
    pub fn charge(&self, partition: u64, op: Op, now: Micros, units: f64) {
        let mut slot = self.slot(partition);
        if slot.claim(partition, now) {
            let (empty_at, rate) = slot.bucket(op);
            *empty_at = bucket::charged(*empty_at, now, rate, units);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Micros = 1_700_000_000_000_000;

    fn take(h: &HotKeys, p: u64, op: Op, now: Micros, units: f64) -> bool {
        h.take(p, op, now, units)
    }

    #[test]
    fn checking_and_charging_apart_is_taking() {
        let (apart, at_once) = (HotKeys::default(), HotKeys::default());
        let mut granted = (0, 0);
        for _ in 0..200 {
            if apart.has_tokens(9, Op::Read, NOW) {
                apart.charge(9, Op::Read, NOW, 40.0);
                granted.0 += 1;
            }
            granted.1 += at_once.take(9, Op::Read, NOW, 40.0) as i32;
        }
        assert_eq!(granted, (75, 75));
    }

    #[test]
    fn one_partition_gets_a_thousand_write_units_a_second_and_others_are_untouched() {
        let h = HotKeys::default();
        for _ in 0..100 {
            assert!(take(&h, 7, Op::Write, NOW, 10.0));
        }
        assert!(!take(&h, 7, Op::Write, NOW, 10.0));
        // Reads of the same partition and writes of another are separate.
        assert!(take(&h, 7, Op::Read, NOW, 10.0));
        assert!(take(&h, 8, Op::Write, NOW, 10.0));
        // A tenth of a second later, a tenth of the rate is back.
        let later = NOW + 100_000;
        for _ in 0..10 {
            assert!(take(&h, 7, Op::Write, later, 10.0));
        }
        assert!(!take(&h, 7, Op::Write, later, 10.0));
    }

    #[test]
    fn a_partition_sharing_a_busy_slot_is_never_throttled_for_the_other() {
        let h = HotKeys::default();
        // Find a fingerprint that lands in partition 7's slot.
        let same_slot = |p: u64| (p.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize % SLOTS;
        let other = (8..).find(|p| same_slot(*p) == same_slot(7)).unwrap();
        for _ in 0..100 {
            assert!(take(&h, 7, Op::Write, NOW, 10.0));
        }
        assert!(take(&h, other, Op::Write, NOW, 10.0));
        // Once partition 7 has been idle a whole second, the slot passes to the other.
        let idle = NOW + 2_000_000;
        for _ in 0..100 {
            assert!(take(&h, other, Op::Write, idle, 10.0));
        }
        assert!(!take(&h, other, Op::Write, idle, 10.0));
    }
}
