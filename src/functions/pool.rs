//! Warm instances and concurrency. An invocation takes a `Lease` (a unit of the function's
//! reserved concurrency, or of the account's unreserved pool) before it takes an instance; warm
//! instances wait in an idle list per function version and code revision, and are stopped after
//! `idle_limit` unused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::error::LambdaError;
use super::instance::Instance;

pub struct Pool {
    state: Mutex<State>,
    pub account_limit: u32,
    idle_limit: Duration,
}

#[derive(Default)]
struct State {
    /// Invocations under way per function (`region/name`).
    running: HashMap<String, u32>,
    /// Invocations under way that use the unreserved pool.
    unreserved_running: u32,
    /// Reserved concurrency per function.
    reserved: HashMap<String, u32>,
    /// Idle instances by `InstanceKey`, the most recently used last.
    idle: HashMap<String, Vec<(Instance, Instant)>>,
}

/// Lambda's floor on the unreserved pool: 100, or a tenth of a smaller account limit (a laptop's
/// `--function-concurrency 10` must still leave room for reservations).
pub fn unreserved_minimum(account_limit: u32) -> u32 {
    100.min(account_limit / 10)
}

/// One unit of concurrency, given back when dropped.
pub struct Lease {
    pool: Arc<Pool>,
    function: String,
    reserved: bool,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut state = self.pool.lock();
        if let Some(n) = state.running.get_mut(&self.function) {
            *n = n.saturating_sub(1);
        }
        if !self.reserved {
            state.unreserved_running = state.unreserved_running.saturating_sub(1);
        }
    }
}

impl Pool {
    pub fn new(account_limit: u32, idle_limit: Duration) -> Arc<Pool> {
        Arc::new(Pool {
            state: Mutex::new(State::default()),
            account_limit,
            idle_limit,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_reserved(&self, function: &str, reserved: Option<u32>) {
        let mut state = self.lock();
        match reserved {
            Some(n) => state.reserved.insert(function.to_string(), n),
            None => state.reserved.remove(function),
        };
    }

    /// The concurrency reserved by all functions but `except`.
    pub fn reserved_total(&self, except: &str) -> u32 {
        let state = self.lock();
        state
            .reserved
            .iter()
            .filter(|(f, _)| f.as_str() != except)
            .map(|(_, n)| *n)
            .sum()
    }

    /// Takes a unit of concurrency for `function`, or says why not as Lambda does.
    pub fn lease(self: &Arc<Self>, function: &str) -> Result<Lease, LambdaError> {
        let mut state = self.lock();
        let running = state.running.get(function).copied().unwrap_or(0);
        let reserved = state.reserved.get(function).copied();
        match reserved {
            Some(limit) if running >= limit => {
                return Err(LambdaError::TooManyRequests {
                    message: "Rate Exceeded.".into(),
                    reason: "ReservedFunctionConcurrentInvocationLimitExceeded",
                })
            }
            Some(_) => {}
            None => {
                let reserved_total: u32 = state.reserved.values().sum();
                let unreserved = self.account_limit.saturating_sub(reserved_total);
                if state.unreserved_running >= unreserved {
                    return Err(LambdaError::TooManyRequests {
                        message: "Rate Exceeded.".into(),
                        reason: "ConcurrentInvocationLimitExceeded",
                    });
                }
                state.unreserved_running += 1;
            }
        }
        *state.running.entry(function.to_string()).or_default() += 1;
        Ok(Lease {
            pool: self.clone(),
            function: function.to_string(),
            reserved: reserved.is_some(),
        })
    }

    /// A warm instance for `key` whose process still runs.
    pub fn take_idle(&self, key: &str) -> Option<Instance> {
        let mut state = self.lock();
        let idle = state.idle.get_mut(key)?;
        while let Some((mut instance, _)) = idle.pop() {
            if instance.alive() {
                return Some(instance);
            }
        }
        None
    }

    pub fn put_idle(&self, key: &str, instance: Instance) {
        self.lock()
            .idle
            .entry(key.to_string())
            .or_default()
            .push((instance, Instant::now()));
    }

    /// Stops every idle instance whose key starts with `prefix` (a function's code or
    /// configuration changed, or it was deleted).
    pub fn evict(&self, prefix: &str) {
        let stopped: Vec<_> = {
            let mut state = self.lock();
            let keys: Vec<String> = state
                .idle
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect();
            keys.iter().filter_map(|k| state.idle.remove(k)).collect()
        };
        drop(stopped);
    }

    /// Stops instances idle longer than the limit.
    pub fn reap(&self) {
        let now = Instant::now();
        let mut stopped = Vec::new();
        let mut state = self.lock();
        for list in state.idle.values_mut() {
            let (old, keep): (Vec<_>, Vec<_>) = std::mem::take(list)
                .into_iter()
                .partition(|(_, since)| now.duration_since(*since) > self.idle_limit);
            *list = keep;
            stopped.extend(old);
        }
        state.idle.retain(|_, list| !list.is_empty());
        drop(state);
        drop(stopped);
    }

    /// Stops every idle instance (shutdown).
    pub fn clear(&self) {
        let all = std::mem::take(&mut self.lock().idle);
        drop(all);
    }

    /// Invocations running now, per function with any.
    pub fn running_now(&self) -> Vec<(String, u32)> {
        let mut all: Vec<_> = self
            .lock()
            .running
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (k.clone(), *n))
            .collect();
        all.sort();
        all
    }

    #[cfg(test)]
    fn running(&self, function: &str) -> u32 {
        self.lock().running.get(function).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_unreserved_concurrency_are_separate() {
        let pool = Pool::new(3, Duration::from_secs(60));
        pool.set_reserved("r/a", Some(1));
        let a = pool.lease("r/a").unwrap();
        assert!(matches!(
            pool.lease("r/a"),
            Err(LambdaError::TooManyRequests {
                reason: "ReservedFunctionConcurrentInvocationLimitExceeded",
                ..
            })
        ));
        // Unreserved: 3 - 1 reserved = 2.
        let b1 = pool.lease("r/b").unwrap();
        let _b2 = pool.lease("r/c").unwrap();
        assert!(matches!(
            pool.lease("r/b"),
            Err(LambdaError::TooManyRequests {
                reason: "ConcurrentInvocationLimitExceeded",
                ..
            })
        ));
        drop(b1);
        assert_eq!(pool.running("r/b"), 0);
        let _b3 = pool.lease("r/b").unwrap();
        drop(a);
        let _a2 = pool.lease("r/a").unwrap();
    }

    #[test]
    fn zero_reserved_throttles_everything() {
        let pool = Pool::new(10, Duration::from_secs(60));
        pool.set_reserved("r/a", Some(0));
        assert!(pool.lease("r/a").is_err());
        assert_eq!(unreserved_minimum(1000), 100);
        assert_eq!(unreserved_minimum(10), 1);
    }
}
