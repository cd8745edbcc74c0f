//! Lambda's function metrics: `Invocations`, `Errors`, `Throttles`, `Duration` per function,
//! and `ConcurrentExecutions` read from the instance pool when scraped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;

use crate::functions::Functions;

#[derive(Debug)]
struct One {
    invocations: Counter,
    errors: Counter,
    throttles: Counter,
    duration: Histogram,
}

/// Per function (`region/name`).
#[derive(Debug, Default)]
pub struct FunctionStats(Mutex<HashMap<String, Arc<One>>>);

impl FunctionStats {
    fn one(&self, function: &str) -> Arc<One> {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        all.entry(function.to_string())
            .or_insert_with(|| {
                Arc::new(One {
                    invocations: Counter::default(),
                    errors: Counter::default(),
                    throttles: Counter::default(),
                    duration: Histogram::new(
                        prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 16),
                    ),
                })
            })
            .clone()
    }

    /// An invocation that ran, and whether the function failed.
    pub fn invoked(&self, function: &str, elapsed: Duration, failed: bool) {
        let one = self.one(function);
        one.invocations.inc();
        one.duration.observe(elapsed.as_secs_f64());
        if failed {
            one.errors.inc();
        }
    }

    /// An invocation refused for concurrency.
    pub fn throttled(&self, function: &str) {
        self.one(function).throttles.inc();
    }

    /// The functions' figures, dropping those of functions that no longer exist.
    fn live(&self, exists: impl Fn(&str) -> bool) -> Vec<(String, Arc<One>)> {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|k, _| exists(k));
        let mut v: Vec<_> = all.iter().map(|(k, o)| (k.clone(), o.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

type FnMetric = (
    &'static str,
    &'static str,
    MetricType,
    fn(&One) -> &dyn EncodeMetric,
);

const METRICS: &[FnMetric] = &[
    (
        "lambda_invocations",
        "Invocations: times a function's code ran",
        MetricType::Counter,
        |o| &o.invocations,
    ),
    (
        "lambda_errors",
        "Errors: invocations that ended in a function error",
        MetricType::Counter,
        |o| &o.errors,
    ),
    (
        "lambda_throttles",
        "Throttles: invocations refused for concurrency",
        MetricType::Counter,
        |o| &o.throttles,
    ),
    (
        "lambda_duration_seconds",
        "Duration: time a function's code ran",
        MetricType::Histogram,
        |o| &o.duration,
    ),
];

/// `region/name` → the labels of a function's series.
fn labels(key: &str) -> [(&'static str, &str); 2] {
    let (region, name) = key.split_once('/').unwrap_or(("", key));
    [
        ("region", region),
        ("function_name", name.trim_end_matches('/')),
    ]
}

pub fn encode(
    functions: &Functions,
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let live = functions.stats.live(|key| {
        let [(_, region), (_, name)] = labels(key);
        functions.registry.get(region, name).is_some()
    });
    for (name, help, kind, get) in METRICS {
        let mut metric = encoder.encode_descriptor(name, help, None, *kind)?;
        for (key, one) in &live {
            get(one).encode(metric.encode_family(&labels(key))?)?;
        }
    }
    let mut metric = encoder.encode_descriptor(
        "lambda_concurrent_executions",
        "ConcurrentExecutions: invocations of a function running now",
        None,
        MetricType::Gauge,
    )?;
    for (key, running) in functions.pool.running_now() {
        metric
            .encode_family(&labels(&key))?
            .encode_gauge(&u64::from(running))?;
    }
    Ok(())
}
