//! One timer for a set of keyed due instants: it fires what is due, then sleeps until the next
//! due instant on the engine's clock (the manual one included), or until the set changes. No
//! polling: the only other wake-up is a bounded one that lets the task end with its owner.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, UNIX_EPOCH};

use tokio::sync::Notify;

use crate::engine::Engine;

pub struct Timer<K> {
    due: Mutex<BTreeMap<K, i64>>,
    changed: Notify,
}

impl<K: Ord + Clone> Default for Timer<K> {
    fn default() -> Self {
        Timer {
            due: Mutex::new(BTreeMap::new()),
            changed: Notify::new(),
        }
    }
}

/// What a timer's owner does when an instant is due.
pub trait Fires: Send + Sync + 'static {
    type Key: Ord + Clone + Send + Sync + 'static;
    fn timer(&self) -> &Timer<Self::Key>;
    fn engine(&self) -> &Engine;
    fn fire<'a>(
        &'a self,
        key: &'a Self::Key,
        at_ms: i64,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
}

impl<K: Ord + Clone> Timer<K> {
    /// Sets (or clears) when `key` is due next, epoch milliseconds.
    pub fn set(&self, key: K, at_ms: Option<i64>) {
        let mut due = self.due.lock().unwrap_or_else(|p| p.into_inner());
        match at_ms {
            Some(at) => due.insert(key, at),
            None => due.remove(&key),
        };
    }

    /// Wakes the timer to look again (the set changed).
    pub fn poke(&self) {
        self.changed.notify_one();
    }

    fn first(&self) -> Option<(K, i64)> {
        let due = self.due.lock().unwrap_or_else(|p| p.into_inner());
        due.iter()
            .min_by_key(|(_, at)| **at)
            .map(|(k, at)| (k.clone(), *at))
    }
}

pub fn now_ms(engine: &Engine) -> i64 {
    engine
        .clock
        .now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs `owner`'s timer until the owner is dropped.
pub fn start<T: Fires>(owner: &Arc<T>) {
    let weak: Weak<T> = Arc::downgrade(owner);
    tokio::spawn(async move {
        loop {
            let Some(owner) = weak.upgrade() else { return };
            let first = owner.timer().first();
            if let Some((key, at)) = &first {
                if *at <= now_ms(owner.engine()) {
                    owner.fire(key, *at).await;
                    continue;
                }
            }
            let changed = owner.timer().changed.notified();
            let wait = async {
                match first {
                    Some((_, at)) => {
                        let instant = UNIX_EPOCH + Duration::from_millis(at.max(0) as u64);
                        owner.engine().clock.sleep_until(instant).await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = changed => {}
                () = wait => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    });
}
