//! Function logs, kept as CloudWatch Logs keeps them: groups (`/aws/lambda/NAME`) of streams
//! (one per instance) of timestamped events. Bounded: each group keeps its newest
//! `MAX_GROUP_BYTES`, all groups together `MAX_TOTAL_BYTES` (the largest group gives way), and
//! nothing is older than `MAX_AGE_MS`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

const MAX_GROUP_BYTES: usize = 8 << 20;
const MAX_TOTAL_BYTES: usize = 48 << 20;
/// What an event costs beyond its message (its struct, the allocation, the queue's slot).
const EVENT_OVERHEAD: usize = 64;
const MAX_AGE_MS: i64 = 7 * 24 * 3600 * 1000;
/// CloudWatch's largest event; a longer line is split.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

#[derive(Clone, Debug)]
pub struct LogEvent {
    pub timestamp: i64,
    pub ingestion_time: i64,
    pub message: String,
    /// Unique within the store: orders events and makes `eventId`s and tokens.
    pub seq: u64,
}

#[derive(Default)]
pub struct Stream {
    pub created: i64,
    pub events: VecDeque<LogEvent>,
}

#[derive(Default)]
pub struct Group {
    pub created: i64,
    pub streams: BTreeMap<String, Stream>,
    bytes: usize,
}

#[derive(Default)]
pub struct LogStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    groups: BTreeMap<String, Group>,
    seq: u64,
    bytes: usize,
}

impl LogStore {
    pub fn append(&self, group: &str, stream: &str, timestamp: i64, message: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.seq += 1;
        let seq = inner.seq;
        let g = inner.groups.entry(group.to_string()).or_default();
        if g.created == 0 {
            g.created = timestamp;
        }
        let s = g.streams.entry(stream.to_string()).or_default();
        if s.created == 0 {
            s.created = timestamp;
        }
        s.events.push_back(LogEvent {
            timestamp,
            ingestion_time: now_ms(),
            message: message.to_string(),
            seq,
        });
        g.bytes += cost(message);
        let before = g.bytes;
        trim(g, timestamp - MAX_AGE_MS, MAX_GROUP_BYTES);
        let after = g.bytes;
        inner.bytes = inner.bytes + cost(message) - (before - after);
        while inner.bytes > MAX_TOTAL_BYTES {
            let Some(largest) = inner.groups.values_mut().max_by_key(|g| g.bytes) else {
                break;
            };
            let before = largest.bytes;
            trim(largest, i64::MIN, before.saturating_sub(before / 8));
            let freed = before - largest.bytes;
            if freed == 0 {
                break;
            }
            inner.bytes -= freed;
        }
    }

    /// Runs `f` over the groups (under the store's lock: keep it short).
    pub fn read<T>(&self, f: impl FnOnce(&BTreeMap<String, Group>) -> T) -> T {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&inner.groups)
    }

    pub fn delete_group(&self, group: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(g) = inner.groups.remove(group) {
            inner.bytes -= g.bytes;
        }
    }
}

fn cost(message: &str) -> usize {
    message.len() + EVENT_OVERHEAD
}

/// Drops a group's oldest events until it fits in `budget` bytes and none is older than
/// `oldest`.
fn trim(g: &mut Group, oldest: i64, budget: usize) {
    loop {
        let over = g.bytes > budget;
        let first = g
            .streams
            .iter()
            .filter_map(|(name, s)| s.events.front().map(|e| (e.seq, e.timestamp, name)))
            .min();
        let Some((_, ts, name)) = first else { return };
        if !over && ts >= oldest {
            return;
        }
        let name = name.clone();
        if let Some(s) = g.streams.get_mut(&name) {
            if let Some(e) = s.events.pop_front() {
                g.bytes -= cost(&e.message);
            }
            if s.events.is_empty() {
                g.streams.remove(&name);
            }
        }
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(store: &LogStore, group: &str) -> usize {
        store.read(|groups| {
            groups
                .get(group)
                .map_or(0, |g| g.streams.values().map(|s| s.events.len()).sum())
        })
    }

    #[test]
    fn groups_keep_their_newest_bytes() {
        let store = LogStore::default();
        let line = "x".repeat((1 << 20) - EVENT_OVERHEAD);
        let now = now_ms();
        for i in 0..40 {
            store.append("g", &format!("s{}", i % 3), now, &line);
        }
        store.append("other", "s", now, "small");
        assert_eq!(events(&store, "g"), MAX_GROUP_BYTES >> 20);
        assert_eq!(events(&store, "other"), 1);
    }

    #[test]
    fn all_groups_together_stay_in_the_total_budget() {
        let store = LogStore::default();
        let line = "x".repeat((1 << 20) - EVENT_OVERHEAD);
        let now = now_ms();
        let groups = 2 * MAX_TOTAL_BYTES / MAX_GROUP_BYTES;
        for i in 0..groups * (MAX_GROUP_BYTES >> 20) {
            store.append(&format!("g{}", i % groups), "s", now, &line);
        }
        let total: usize = (0..groups).map(|g| events(&store, &format!("g{g}"))).sum();
        assert!(total <= MAX_TOTAL_BYTES >> 20, "{total}");
        assert!(total >= (MAX_TOTAL_BYTES >> 20) * 3 / 4, "{total}");
        store.delete_group("g0");
        store.append("g0", "s", now, "after");
        assert_eq!(events(&store, "g0"), 1);
    }

    #[test]
    fn old_events_are_dropped() {
        let store = LogStore::default();
        let now = now_ms();
        store.append("g", "old", now - MAX_AGE_MS - 1, "old");
        store.append("g", "new", now, "new");
        store.read(|groups| {
            assert!(!groups["g"].streams.contains_key("old"));
            assert_eq!(groups["g"].streams["new"].events[0].message, "new");
        });
    }
}
