//! EventBridge Scheduler's schedules and schedule groups: stored in RocksDB, fired by the shared
//! timer in each schedule's time zone, between its start and end dates, with its flexible time
//! window; a one-time `at()` schedule with `ActionAfterCompletion: DELETE` goes away after it
//! fires.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::expression::Schedule;
use super::timer::{self, now_ms, Fires, Timer};
use crate::engine::Engine;
use crate::functions::queue::Event;
use crate::functions::Functions;

const SCHEDULES: &str = "sched";
const GROUPS: &str = "schedgroup";
pub const DEFAULT_GROUP: &str = "default";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScheduleDef {
    pub name: String,
    pub group: String,
    pub region: String,
    pub account: String,
    pub expression: String,
    pub timezone: String,
    /// Epoch seconds.
    pub start_date: Option<f64>,
    pub end_date: Option<f64>,
    pub flexible_mode: String,
    pub flexible_minutes: Option<u32>,
    pub enabled: bool,
    pub description: Option<String>,
    /// As the API takes and shows it (`Arn`, `RoleArn`, `Input`, `RetryPolicy`, ...).
    pub target: Value,
    pub action_after_completion: String,
    pub kms_key_arn: Option<String>,
    pub created: f64,
    pub modified: f64,
    pub last_fired_ms: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub region: String,
    pub account: String,
    pub created: f64,
    pub modified: f64,
    pub tags: BTreeMap<String, String>,
}

/// (region, group, name).
pub type Key = (String, String, String);

impl ScheduleDef {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:scheduler:{}:{}:schedule/{}/{}",
            self.region, self.account, self.group, self.name
        )
    }

    /// The next nominal instant strictly after `after_ms`, within the start and end dates.
    fn next_after(&self, after_ms: i64) -> Option<i64> {
        let schedule = Schedule::parse(&self.expression).ok()?;
        let tz = TimeZone::get(&self.timezone).ok()?;
        let start_ms = self.start_date.map(|s| (s * 1000.0) as i64);
        let from = after_ms.max(start_ms.map_or(i64::MIN, |s| s - 1));
        let anchor =
            Timestamp::from_millisecond(start_ms.unwrap_or((self.created * 1000.0) as i64)).ok()?;
        let next = schedule
            .next_after(Timestamp::from_millisecond(from).ok()?, anchor, &tz)?
            .as_millisecond();
        match self.end_date {
            Some(end) if next as f64 > end * 1000.0 => None,
            _ => Some(next),
        }
    }
}

impl Group {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:scheduler:{}:{}:schedule-group/{}",
            self.region, self.account, self.name
        )
    }
}

fn record_key(key: &Key) -> Vec<u8> {
    format!("{}\0{}\0{}", key.0, key.1, key.2).into_bytes()
}

pub struct Scheduler {
    engine: Arc<Engine>,
    functions: Arc<Functions>,
    schedules: RwLock<BTreeMap<Key, ScheduleDef>>,
    groups: RwLock<BTreeMap<(String, String), Group>>,
    writer: tokio::sync::Mutex<()>,
    timer: Timer<Key>,
    /// The nominal instant of each pending firing (the timer's instant may be later, within the
    /// flexible window).
    nominal: Mutex<BTreeMap<Key, i64>>,
}

impl Scheduler {
    pub fn load(
        engine: Arc<Engine>,
        functions: Arc<Functions>,
    ) -> crate::error::Result<Arc<Scheduler>> {
        let mut schedules = BTreeMap::new();
        for (_, v) in engine.records(SCHEDULES, b"")? {
            if let Ok(s) = serde_json::from_slice::<ScheduleDef>(&v) {
                schedules.insert((s.region.clone(), s.group.clone(), s.name.clone()), s);
            }
        }
        let mut groups = BTreeMap::new();
        for (_, v) in engine.records(GROUPS, b"")? {
            if let Ok(g) = serde_json::from_slice::<Group>(&v) {
                groups.insert((g.region.clone(), g.name.clone()), g);
            }
        }
        let this = Arc::new(Scheduler {
            engine,
            functions,
            schedules: RwLock::new(schedules),
            groups: RwLock::new(groups),
            writer: tokio::sync::Mutex::new(()),
            timer: Timer::default(),
            nominal: Mutex::new(BTreeMap::new()),
        });
        let now = now_ms(&this.engine);
        for s in this.all() {
            this.plan(&s, now.max(s.last_fired_ms.unwrap_or(i64::MIN)));
        }
        Ok(this)
    }

    pub fn start(self: &Arc<Self>) {
        timer::start(self);
    }

    pub fn region(&self) -> &str {
        &self.functions.settings.region
    }

    pub fn account(&self) -> &str {
        &self.functions.settings.account
    }

    pub fn now(&self) -> f64 {
        self.engine.clock.epoch_seconds()
    }

    pub fn get(&self, key: &Key) -> Option<ScheduleDef> {
        self.schedules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    pub fn all(&self) -> Vec<ScheduleDef> {
        self.schedules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn group(&self, region: &str, name: &str) -> Option<Group> {
        if name == DEFAULT_GROUP {
            return Some(Group {
                name: DEFAULT_GROUP.into(),
                region: region.into(),
                account: self.functions.settings.account.clone(),
                created: 0.0,
                modified: 0.0,
                tags: BTreeMap::new(),
            });
        }
        self.groups
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(region.to_string(), name.to_string()))
            .cloned()
    }

    pub fn groups(&self, region: &str) -> Vec<Group> {
        let mut out: Vec<Group> = self.group(region, DEFAULT_GROUP).into_iter().collect();
        out.extend(
            self.groups
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .filter(|g| g.region == region)
                .cloned(),
        );
        out
    }

    /// Stores (or with `None` removes) a schedule, and plans its next firing.
    pub async fn put(&self, key: &Key, schedule: Option<ScheduleDef>) -> crate::error::Result<()> {
        let _writer = self.writer.lock().await;
        let value = match &schedule {
            Some(s) => Some(
                serde_json::to_vec(s).map_err(|e| crate::error::Error::Internal(e.to_string()))?,
            ),
            None => None,
        };
        self.engine
            .write_records(SCHEDULES, &[(record_key(key), value)])
            .await?;
        let mut all = self.schedules.write().unwrap_or_else(|p| p.into_inner());
        match &schedule {
            Some(s) => all.insert(key.clone(), s.clone()),
            None => all.remove(key),
        };
        drop(all);
        match &schedule {
            Some(s) => self.plan(
                s,
                now_ms(&self.engine).max(s.last_fired_ms.unwrap_or(i64::MIN)),
            ),
            None => self.timer.set(key.clone(), None),
        }
        self.timer.poke();
        Ok(())
    }

    pub async fn put_group(
        &self,
        region: &str,
        name: &str,
        group: Option<Group>,
    ) -> crate::error::Result<()> {
        let _writer = self.writer.lock().await;
        let value = match &group {
            Some(g) => Some(
                serde_json::to_vec(g).map_err(|e| crate::error::Error::Internal(e.to_string()))?,
            ),
            None => None,
        };
        self.engine
            .write_records(GROUPS, &[(format!("{region}\0{name}").into_bytes(), value)])
            .await?;
        let mut groups = self.groups.write().unwrap_or_else(|p| p.into_inner());
        match group {
            Some(g) => groups.insert((region.to_string(), name.to_string()), g),
            None => groups.remove(&(region.to_string(), name.to_string())),
        };
        Ok(())
    }

    /// Plans a schedule's next firing after `after_ms`: its nominal instant, and the instant the
    /// timer fires it (later by a random part of the flexible window, if it has one).
    fn plan(&self, s: &ScheduleDef, after_ms: i64) {
        let key = (s.region.clone(), s.group.clone(), s.name.clone());
        let next = s.next_after(after_ms).filter(|_| s.enabled);
        let mut nominal = self.nominal.lock().unwrap_or_else(|p| p.into_inner());
        match next {
            Some(at) => {
                nominal.insert(key.clone(), at);
                let window = i64::from(s.flexible_minutes.unwrap_or(0)) * 60_000;
                let jitter = if s.flexible_mode == "FLEXIBLE" && window > 0 {
                    (uuid::Uuid::new_v4().as_u128() % window as u128) as i64
                } else {
                    0
                };
                self.timer.set(key, Some(at + jitter));
            }
            None => {
                nominal.remove(&key);
                self.timer.set(key, None);
            }
        }
    }

    async fn fire_schedule(&self, key: &Key, at_ms: i64) {
        let Some(mut s) = self.get(key) else {
            self.timer.set(key.clone(), None);
            return;
        };
        let nominal = self
            .nominal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .copied()
            .unwrap_or(at_ms);
        s.last_fired_ms = Some(nominal);
        let once = matches!(Schedule::parse(&s.expression), Ok(Schedule::At(_)));
        let delete = once && s.action_after_completion == "DELETE";
        let stored = self.put(key, (!delete).then(|| s.clone())).await;
        if let Err(e) = stored {
            tracing::error!(schedule = %s.name, "cannot record a firing: {e}");
            return;
        }
        if !delete {
            // The next firing follows this one, so a clock moved far ahead fires every instant
            // in between, in order.
            self.plan(&s, nominal);
        }
        let payload = target_input(&s, nominal);
        let arn = s.target["Arn"].as_str().unwrap_or_default();
        let Some((region, name, qualifier)) = crate::functions::api::parse_function_arn(arn) else {
            return;
        };
        if let Err(e) = self
            .functions
            .enqueue(Event::new(region, name, qualifier, payload))
            .await
        {
            tracing::error!(schedule = %s.name, "cannot invoke the target: {e}");
        }
    }
}

/// The target's `Input` with Scheduler's context attributes filled in (`{}` without one).
fn target_input(s: &ScheduleDef, nominal_ms: i64) -> String {
    let input = s.target["Input"].as_str().unwrap_or("{}");
    let time = Timestamp::from_millisecond(nominal_ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    input
        .replace("<aws.scheduler.scheduled-time>", &time)
        .replace(
            "<aws.scheduler.execution-id>",
            &uuid::Uuid::new_v4().to_string(),
        )
        .replace("<aws.scheduler.attempt-number>", "1")
        .replace("<aws.scheduler.schedule-arn>", &s.arn())
}

impl Fires for Scheduler {
    type Key = Key;

    fn timer(&self) -> &Timer<Key> {
        &self.timer
    }

    fn engine(&self) -> &Engine {
        &self.engine
    }

    fn fire<'a>(
        &'a self,
        key: &'a Key,
        at_ms: i64,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(self.fire_schedule(key, at_ms))
    }
}
