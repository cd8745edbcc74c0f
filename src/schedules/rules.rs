//! EventBridge rules on the `default` bus: stored in RocksDB, and fired by one timer task that
//! sleeps until the next due instant on the engine's clock (or a change of the rules). A firing
//! invokes each target function asynchronously with the "Scheduled Event" envelope, or what the
//! target's `Input`, `InputPath` or `InputTransformer` make of it.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::expression::Schedule;
use super::timer::{self, now_ms, Fires, Timer};
use crate::engine::Engine;
use crate::functions::queue::Event;
use crate::functions::Functions;

const NAMESPACE: &str = "rule";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rule {
    pub name: String,
    pub region: String,
    pub account: String,
    pub schedule: Option<String>,
    pub event_pattern: Option<String>,
    pub enabled: bool,
    pub description: Option<String>,
    pub role_arn: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// Targets as the API takes and shows them (`Id`, `Arn`, `Input`, ...).
    pub targets: Vec<Value>,
    pub created_ms: i64,
    /// The last due instant fired: a restart never fires it again.
    pub last_fired_ms: Option<i64>,
}

impl Rule {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:events:{}:{}:rule/{}",
            self.region, self.account, self.name
        )
    }
}

pub struct Rules {
    engine: Arc<Engine>,
    functions: Arc<Functions>,
    rules: RwLock<BTreeMap<(String, String), Rule>>,
    writer: tokio::sync::Mutex<()>,
    /// When each enabled scheduled rule fires next.
    timer: Timer<(String, String)>,
}

fn record_key(region: &str, name: &str) -> Vec<u8> {
    format!("{region}\0{name}").into_bytes()
}

impl Rules {
    pub fn load(
        engine: Arc<Engine>,
        functions: Arc<Functions>,
    ) -> crate::error::Result<Arc<Rules>> {
        let mut rules = BTreeMap::new();
        for (_, v) in engine.records(NAMESPACE, b"")? {
            match serde_json::from_slice::<Rule>(&v) {
                Ok(r) => {
                    rules.insert((r.region.clone(), r.name.clone()), r);
                }
                Err(e) => tracing::error!("skipping an unreadable rule: {e}"),
            }
        }
        let this = Arc::new(Rules {
            engine,
            functions,
            rules: RwLock::new(rules),
            writer: tokio::sync::Mutex::new(()),
            timer: Timer::default(),
        });
        // Firings missed while the server was down are not replayed (AWS does not either), and
        // one already fired is never fired again, whatever the clock reads now.
        let now = now_ms(&this.engine);
        for rule in this.all() {
            this.schedule(&rule, now.max(rule.last_fired_ms.unwrap_or(i64::MIN)));
        }
        Ok(this)
    }

    /// The engine's time, epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        now_ms(&self.engine)
    }

    pub fn get(&self, region: &str, name: &str) -> Option<Rule> {
        self.read()
            .get(&(region.to_string(), name.to_string()))
            .cloned()
    }

    pub fn all(&self) -> Vec<Rule> {
        self.read().values().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<(String, String), Rule>> {
        self.rules.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `change` on the rule (`None`: absent) and stores what it leaves; the timer hears of
    /// it.
    pub async fn update<T, E: From<crate::error::Error>>(
        &self,
        region: &str,
        name: &str,
        change: impl FnOnce(&mut Option<Rule>) -> Result<T, E>,
    ) -> Result<T, E> {
        let _writer = self.writer.lock().await;
        let mut rule = self.get(region, name);
        let before = rule.as_ref().map(|r| (r.schedule.clone(), r.enabled));
        let out = change(&mut rule)?;
        let value = match &rule {
            Some(r) => Some(
                serde_json::to_vec(r).map_err(|e| crate::error::Error::Internal(e.to_string()))?,
            ),
            None => None,
        };
        self.engine
            .write_records(NAMESPACE, &[(record_key(region, name), value)])
            .await?;
        let key = (region.to_string(), name.to_string());
        let mut rules = self.rules.write().unwrap_or_else(|p| p.into_inner());
        match &rule {
            Some(r) => rules.insert(key.clone(), r.clone()),
            None => rules.remove(&key),
        };
        drop(rules);
        let after = rule.as_ref().map(|r| (r.schedule.clone(), r.enabled));
        if before != after {
            self.timer.set(key, None);
            if let Some(r) = &rule {
                self.schedule(r, now_ms(&self.engine));
            }
            self.timer.poke();
        }
        Ok(out)
    }

    /// Sets when an enabled scheduled rule fires next: strictly after `from_ms`.
    fn schedule(&self, rule: &Rule, from_ms: i64) {
        let key = (rule.region.clone(), rule.name.clone());
        let next = rule
            .schedule
            .as_deref()
            .filter(|_| rule.enabled)
            .and_then(|s| Schedule::parse(s).ok())
            .and_then(|s| {
                let after = Timestamp::from_millisecond(from_ms).ok()?;
                let start = Timestamp::from_millisecond(rule.created_ms).ok()?;
                s.next_after(after, start, &TimeZone::UTC)
            });
        self.timer.set(key, next.map(|t| t.as_millisecond()));
    }

    /// Starts the timer that fires the rules.
    pub fn start(self: &Arc<Self>) {
        timer::start(self);
    }

    /// Fires one due instant of a rule: stored first, so a restart never fires it twice.
    async fn fire_rule(&self, key: &(String, String), at_ms: i64) {
        let fired = self
            .update::<_, crate::error::Error>(&key.0, &key.1, |slot| {
                if let Some(r) = slot.as_mut() {
                    r.last_fired_ms = Some(at_ms);
                }
                Ok(slot.clone())
            })
            .await;
        let rule = match fired {
            Ok(Some(rule)) => rule,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(rule = %key.1, "cannot record a firing: {e}");
                return;
            }
        };
        // The next firing follows this one, so a clock moved far ahead fires every instant in
        // between, in order.
        self.schedule(&rule, at_ms);
        let envelope = scheduled_event(&rule, at_ms);
        for target in &rule.targets {
            let arn = target["Arn"].as_str().unwrap_or_default();
            let payload = match target_input(target, &envelope) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(rule = %rule.name, target = %arn, "target input: {e}");
                    continue;
                }
            };
            let Some((region, name, qualifier)) = crate::functions::api::parse_function_arn(arn)
            else {
                continue;
            };
            if let Err(e) = self
                .functions
                .enqueue(Event::new(region, name, qualifier, payload))
                .await
            {
                tracing::error!(rule = %rule.name, target = %arn, "cannot invoke the target: {e}");
            }
        }
    }
}

impl Fires for Rules {
    type Key = (String, String);

    fn timer(&self) -> &Timer<Self::Key> {
        &self.timer
    }

    fn engine(&self) -> &Engine {
        &self.engine
    }

    fn fire<'a>(
        &'a self,
        key: &'a Self::Key,
        at_ms: i64,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(self.fire_rule(key, at_ms))
    }
}

/// EventBridge's "Scheduled Event".
fn scheduled_event(rule: &Rule, at_ms: i64) -> Value {
    let time = Timestamp::from_millisecond(at_ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": rule.account,
        "time": time,
        "region": rule.region,
        "resources": [rule.arn()],
        "detail": {},
    })
}

/// What a target gets: its `Input` as given, the part of the event its `InputPath` names, its
/// `InputTransformer`'s template filled from the event, or the whole event.
pub fn target_input(target: &Value, event: &Value) -> Result<String, String> {
    if let Some(input) = target["Input"].as_str() {
        return Ok(input.to_string());
    }
    if let Some(path) = target["InputPath"].as_str() {
        return Ok(json_path(event, path)?.to_string());
    }
    let transformer = &target["InputTransformer"];
    if let Some(template) = transformer["InputTemplate"].as_str() {
        let mut out = template.to_string();
        if let Some(paths) = transformer["InputPathsMap"].as_object() {
            for (var, path) in paths {
                let value = json_path(event, path.as_str().unwrap_or("$"))?;
                // A string placed inside quotes in the template goes in bare, elsewhere as JSON.
                let quoted = format!("\"<{var}>\"");
                let text = match &value {
                    Value::String(s) if out.contains(&quoted) => s.clone(),
                    other => other.to_string(),
                };
                out = out.replace(&format!("<{var}>"), &text);
            }
        }
        return Ok(out);
    }
    Ok(event.to_string())
}

/// `$`, `$.a.b`, `$.a[0].b`: the JSONPath subset EventBridge's input paths use.
fn json_path(event: &Value, path: &str) -> Result<Value, String> {
    let rest = path
        .strip_prefix('$')
        .ok_or_else(|| format!("not a JSON path: {path}"))?;
    let mut at = event;
    for part in rest.split('.').filter(|p| !p.is_empty()) {
        let (name, indexes) = match part.split_once('[') {
            Some((n, i)) => (n, Some(i)),
            None => (part, None),
        };
        if !name.is_empty() {
            at = at.get(name).unwrap_or(&Value::Null);
        }
        for index in indexes.into_iter().flat_map(|i| i.split('[')) {
            let i: usize = index
                .trim_end_matches(']')
                .parse()
                .map_err(|_| format!("not a JSON path: {path}"))?;
            at = at.get(i).unwrap_or(&Value::Null);
        }
    }
    Ok(at.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_inputs() {
        let event =
            json!({"time": "2026-12-05T05:00:00Z", "resources": ["arn:r"], "detail": {"n": 1}});
        assert_eq!(
            target_input(&json!({"Input": "{\"a\":1}"}), &event).unwrap(),
            "{\"a\":1}"
        );
        assert_eq!(
            target_input(&json!({"InputPath": "$.detail"}), &event).unwrap(),
            "{\"n\":1}"
        );
        assert_eq!(
            target_input(&json!({"InputPath": "$.resources[0]"}), &event).unwrap(),
            "\"arn:r\""
        );
        let t = json!({"InputTransformer": {"InputPathsMap": {"t": "$.time", "n": "$.detail.n"},
                                            "InputTemplate": "{\"at\": \"<t>\", \"count\": <n>}"}});
        assert_eq!(
            target_input(&t, &event).unwrap(),
            "{\"at\": \"2026-12-05T05:00:00Z\", \"count\": 1}"
        );
        assert_eq!(target_input(&json!({}), &event).unwrap(), event.to_string());
        assert!(target_input(&json!({"InputPath": "detail"}), &event).is_err());
    }
}
