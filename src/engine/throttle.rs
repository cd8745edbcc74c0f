//! Throttling: which limit applies to a table, a GSI and a partition, checked against their
//! buckets before a write commits and around a read.
//!
//! - Provisioned tables and GSIs: their read and write capacity units per second, plus up to
//!   300 seconds of unused capacity kept as burst. Buckets start full (a new table, a new GSI
//!   and a throughput change alike), so a short test never throttles. LSIs share the table's.
//! - On-demand tables and GSIs: the `OnDemandThroughput` maximum when one is set below the
//!   per-table account quota, else that quota; one second of either may be spent at once.
//! - Every partition key value: 3,000 read and 1,000 write units per second.
//!
//! A request goes ahead while its buckets hold anything and is then charged in full (see
//! `capacity::bucket`); a throttled write changes nothing.

use std::time::UNIX_EPOCH;

use super::catalog::{BillingMode, IndexMeta, TableMeta};
use super::Engine;
use crate::capacity::bucket::{Bucket, Micros, Rate};
use crate::capacity::hot_keys::HotKeys;
use crate::capacity::{Consumed, Limit, Op, Reason, Throttled};
use crate::error::{Error, Result};

#[derive(Clone, Debug)]
pub struct ThrottleConfig {
    pub enabled: bool,
    /// The per-table account quota of on-demand tables and their GSIs, in units per second
    /// (DynamoDB's default: 40,000 each).
    pub table_read_quota: f64,
    pub table_write_quota: f64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            enabled: true,
            table_read_quota: 40_000.0,
            table_write_quota: 40_000.0,
        }
    }
}

pub(super) struct Throttle {
    config: ThrottleConfig,
    hot: HotKeys,
}

impl Throttle {
    pub(super) fn new(config: ThrottleConfig) -> Throttle {
        Throttle {
            config,
            hot: HotKeys::default(),
        }
    }
}

/// DynamoDB keeps up to five minutes of unused provisioned capacity.
const BURST_SECONDS: f64 = 300.0;
/// On-demand limits are per second; a second's worth may come at once.
const ON_DEMAND_BURST_SECONDS: f64 = 1.0;

/// What a read is against: its table, the GSI it reads (`None`: the table or one of its
/// LSIs), and the partition it reads, when it reads one.
#[derive(Clone, Copy)]
pub struct ReadTarget<'a> {
    pub table: &'a TableMeta,
    pub index: Option<&'a IndexMeta>,
    pub partition: Option<u64>,
}

fn resource(table: &TableMeta, index: Option<&IndexMeta>) -> String {
    match index {
        Some(i) => format!("{}/index/{}", table.arn(), i.name),
        None => table.arn(),
    }
}

impl Engine {
    fn now_micros(&self) -> Micros {
        let since = self.clock.now().duration_since(UNIX_EPOCH);
        since.unwrap_or_default().as_micros() as Micros
    }

    /// The bucket, rate and kind of limit of a table's or GSI's reads or writes.
    fn limit<'m>(
        &self,
        table: &'m TableMeta,
        index: Option<&'m IndexMeta>,
        op: Op,
    ) -> (&'m Bucket, Rate, Limit) {
        let bucket = index.map_or(&table.buckets, |i| &i.buckets).get(op);
        if table.billing_mode == BillingMode::Provisioned {
            let t = index
                .and_then(|i| i.throughput.as_ref())
                .unwrap_or(&table.throughput);
            let units = match op {
                Op::Read => t.read,
                Op::Write => t.write,
            };
            let rate = Rate {
                per_second: units.max(1) as f64,
                burst_seconds: BURST_SECONDS,
            };
            return (bucket, rate, Limit::Provisioned);
        }
        let quota = match op {
            Op::Read => self.throttle.config.table_read_quota,
            Op::Write => self.throttle.config.table_write_quota,
        };
        let on_demand = index.map_or(&table.on_demand, |i| &i.on_demand);
        let max = on_demand
            .as_ref()
            .and_then(|o| match op {
                Op::Read => o.max_read,
                Op::Write => o.max_write,
            })
            .filter(|m| *m > 0 && (*m as f64) < quota);
        let (per_second, limit) = match max {
            Some(m) => (m as f64, Limit::MaxOnDemand),
            None => (quota, Limit::AccountLimit),
        };
        let rate = Rate {
            per_second,
            burst_seconds: ON_DEMAND_BURST_SECONDS,
        };
        (bucket, rate, limit)
    }

    fn throttled(&self, table: &TableMeta, reasons: Vec<Reason>) -> Error {
        Error::Throttled(Throttled {
            reasons,
            on_demand: table.billing_mode == BillingMode::PayPerRequest,
        })
    }

    /// The reasons a request on `index` (or the table) and `partition` would be refused now.
    fn reasons(
        &self,
        table: &TableMeta,
        index: Option<&IndexMeta>,
        partition: Option<u64>,
        op: Op,
        now: Micros,
    ) -> Vec<Reason> {
        let (bucket, _, limit) = self.limit(table, index, op);
        let hot = partition.is_some_and(|p| !self.throttle.hot.has_tokens(p, op, now));
        let limits = [(!bucket.has_tokens(now), limit), (hot, Limit::KeyRange)];
        limits
            .into_iter()
            .filter(|(refused, _)| *refused)
            .map(|(_, limit)| Reason {
                index: index.is_some(),
                op,
                limit,
                resource: resource(table, index),
            })
            .collect()
    }

    /// Whether a read may start: its table's (or GSI's) bucket and its partition's hold
    /// anything.
    pub fn admit_read(&self, t: ReadTarget<'_>) -> Result<()> {
        if !self.throttle.config.enabled {
            return Ok(());
        }
        let reasons = self.reasons(t.table, t.index, t.partition, Op::Read, self.now_micros());
        match reasons.is_empty() {
            true => Ok(()),
            false => Err(self.throttled(t.table, reasons)),
        }
    }

    /// Charges a read that ran.
    pub fn charge_read(&self, t: ReadTarget<'_>, units: f64) {
        t.table.stats.consumed(false, units);
        if !self.throttle.config.enabled {
            return;
        }
        let now = self.now_micros();
        let (bucket, rate, _) = self.limit(t.table, t.index, Op::Read);
        bucket.charge(now, rate, units);
        if let Some(p) = t.partition {
            self.throttle.hot.charge(p, Op::Read, now, units);
        }
    }

    /// A read whose cost is known when it is checked (a GetItem that ran): admitted and
    /// charged in one step.
    pub fn take_read(&self, t: ReadTarget<'_>, units: f64) -> Result<()> {
        let table = t.table;
        self.try_read(t, units)?;
        table.stats.consumed(false, units);
        Ok(())
    }

    fn try_read(&self, t: ReadTarget<'_>, units: f64) -> Result<()> {
        if !self.throttle.config.enabled {
            return Ok(());
        }
        let now = self.now_micros();
        let (bucket, rate, _) = self.limit(t.table, t.index, Op::Read);
        let hot = &self.throttle.hot;
        if !bucket.has_tokens(now)
            || t.partition
                .is_some_and(|p| !hot.take(p, Op::Read, now, units))
        {
            let reasons = self.reasons(t.table, t.index, t.partition, Op::Read, now);
            return Err(self.throttled(t.table, reasons));
        }
        bucket.charge(now, rate, units);
        Ok(())
    }

    /// Checks a staged write against the table's, its partition's and its GSIs' buckets and
    /// charges them; on a refusal nothing is charged and the write must not commit.
    pub(super) fn take_write(
        &self,
        table: &TableMeta,
        partition: u64,
        consumed: &Consumed,
    ) -> Result<()> {
        self.try_write(table, partition, consumed)?;
        table.stats.consumed(true, consumed.total());
        Ok(())
    }

    fn try_write(&self, table: &TableMeta, partition: u64, consumed: &Consumed) -> Result<()> {
        if !self.throttle.config.enabled {
            return Ok(());
        }
        let now = self.now_micros();
        let gsis: Vec<(&IndexMeta, f64)> = consumed
            .indexes
            .iter()
            .filter(|i| i.global)
            .filter_map(|u| {
                let index = table.global_indexes.iter().find(|g| g.name == u.name)?;
                Some((index, u.units))
            })
            .collect();
        // The table pays for its own writes and its LSIs'.
        let on_table = consumed.total() - gsis.iter().map(|(_, u)| u).sum::<f64>();
        let (bucket, rate, _) = self.limit(table, None, Op::Write);
        let gsis_have_tokens = gsis.iter().all(|(index, _)| {
            let (b, _, _) = self.limit(table, Some(index), Op::Write);
            b.has_tokens(now)
        });
        // The partition is charged only once the other buckets are known to admit the write.
        let admitted = bucket.has_tokens(now)
            && gsis_have_tokens
            && self.throttle.hot.take(partition, Op::Write, now, on_table);
        if !admitted {
            let mut reasons = self.reasons(table, None, Some(partition), Op::Write, now);
            for (index, _) in &gsis {
                reasons.extend(self.reasons(table, Some(index), None, Op::Write, now));
            }
            return Err(self.throttled(table, reasons));
        }
        bucket.charge(now, rate, on_table);
        for (index, units) in gsis {
            let (b, rate, _) = self.limit(table, Some(index), Op::Write);
            b.charge(now, rate, units);
        }
        Ok(())
    }
}
