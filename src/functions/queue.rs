//! Asynchronous (`Event`) invocations: queued durably before they are acknowledged, run by one
//! worker that sleeps until the next event is due or a new one arrives, retried on function
//! errors as Lambda retries them (twice by default, after a delay that doubles), and sent to the
//! on-failure destination when retries or the event's age run out. A throttled event waits and
//! is tried again without counting as a failure. A restart resumes every queued event.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Notify;

use super::error::LambdaError;
use super::invoke::{self, Request};
use super::Functions;
use crate::engine::Engine;

const NAMESPACE: &str = "q";
/// Lambda's defaults for asynchronous invocations.
pub const DEFAULT_RETRIES: u32 = 2;
pub const DEFAULT_MAX_AGE_SECONDS: u32 = 21_600;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Event {
    pub region: String,
    pub function: String,
    pub qualifier: Option<String>,
    pub payload: String,
    pub request_id: String,
    /// Attempts that ended in a function error.
    pub failures: u32,
    pub enqueued_ms: u64,
    /// Consecutive throttles, for the backoff.
    #[serde(default)]
    pub throttles: u32,
}

impl Event {
    /// A new event for `function` (`qualifier`), not yet tried.
    pub fn new(
        region: String,
        function: String,
        qualifier: Option<String>,
        payload: String,
    ) -> Event {
        Event {
            region,
            function,
            qualifier,
            payload,
            request_id: uuid::Uuid::new_v4().to_string(),
            failures: 0,
            enqueued_ms: 0,
            throttles: 0,
        }
    }
}

/// Queue key: due time, then a unique id, so the first key is the next due event.
type Key = (u64, String);

pub struct Queue {
    pending: Mutex<BTreeMap<Key, Event>>,
    wake: Notify,
    /// Delay before the first retry (Lambda: one minute); each later one doubles it.
    retry_delay: Duration,
    /// Events run at once: a burst (a clock moved a day ahead, a thousand events queued in a
    /// second) waits here rather than starting an instance each.
    running: Arc<tokio::sync::Semaphore>,
}

/// The most asynchronous invocations under way at once.
const MAX_RUNNING: usize = 16;

fn encode(key: &Key) -> Vec<u8> {
    let mut k = key.0.to_be_bytes().to_vec();
    k.extend_from_slice(key.1.as_bytes());
    k
}

fn decode(bytes: &[u8]) -> Option<Key> {
    let due = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
    Some((due, String::from_utf8(bytes[8..].to_vec()).ok()?))
}

impl Queue {
    pub fn load(engine: &Engine, retry_delay: Duration) -> crate::error::Result<Queue> {
        let mut pending = BTreeMap::new();
        for (k, v) in engine.records(NAMESPACE, b"")? {
            let (Some(key), Ok(event)) = (decode(&k), serde_json::from_slice::<Event>(&v)) else {
                tracing::warn!("skipping an unreadable queued invocation");
                continue;
            };
            pending.insert(key, event);
        }
        Ok(Queue {
            pending: Mutex::new(pending),
            wake: Notify::new(),
            retry_delay,
            running: Arc::new(tokio::sync::Semaphore::new(MAX_RUNNING)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Event>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The event due first, taken out of the queue if it is due at `now_ms`; otherwise when the
    /// first one is due.
    fn take_due(&self, now_ms: u64) -> Result<(Key, Event), Option<u64>> {
        let mut pending = self.lock();
        match pending.first_key_value() {
            Some((key, _)) if key.0 <= now_ms => pending.pop_first().ok_or(None),
            Some((key, _)) => Err(Some(key.0)),
            None => Err(None),
        }
    }
}

fn now_ms(functions: &Functions) -> u64 {
    (functions.engine.clock.epoch_seconds() * 1000.0) as u64
}

impl Functions {
    /// Queues an event durably; returns its request id.
    pub async fn enqueue(&self, mut event: Event) -> Result<String, LambdaError> {
        event.enqueued_ms = now_ms(self);
        let key = (event.enqueued_ms, uuid::Uuid::new_v4().simple().to_string());
        self.store_event(None, &key, &event).await?;
        Ok(event.request_id)
    }

    /// Replaces `old` (if any) by `event` under `key`, on disk then in memory.
    async fn store_event(
        &self,
        old: Option<&Key>,
        key: &Key,
        event: &Event,
    ) -> Result<(), LambdaError> {
        let value = serde_json::to_vec(event).map_err(|e| LambdaError::Service(e.to_string()))?;
        let mut changes = vec![(encode(key), Some(value))];
        if let Some(old) = old {
            changes.insert(0, (encode(old), None));
        }
        self.engine.write_records(NAMESPACE, &changes).await?;
        self.queue.lock().insert(key.clone(), event.clone());
        self.queue.wake.notify_one();
        Ok(())
    }

    async fn forget_event(&self, key: &Key) {
        if let Err(e) = self
            .engine
            .write_records(NAMESPACE, &[(encode(key), None)])
            .await
        {
            tracing::error!("cannot remove a finished queued invocation: {e}");
        }
    }

    /// Runs one event and decides what becomes of it.
    async fn process(self: Arc<Self>, key: Key, mut event: Event) {
        let Some(function) = self.registry.get(&event.region, &event.function) else {
            // The function was deleted: its queued events go with it.
            self.forget_event(&key).await;
            return;
        };
        let config = function
            .event_invoke
            .get(event.qualifier.as_deref().unwrap_or(super::model::LATEST))
            .cloned()
            .unwrap_or_default();
        let max_age_ms = u64::from(
            config
                .maximum_event_age_seconds
                .unwrap_or(DEFAULT_MAX_AGE_SECONDS),
        ) * 1000;
        let retries = config.maximum_retry_attempts.unwrap_or(DEFAULT_RETRIES);
        let version = match invoke::resolve(&function, event.qualifier.as_deref()) {
            Ok(v) => v.clone(),
            Err(_) => {
                self.forget_event(&key).await;
                return;
            }
        };
        let request = Request {
            payload: Bytes::from(event.payload.clone()),
            client_context: None,
            invoked_arn: event
                .qualifier
                .as_deref()
                .map_or_else(|| function.arn(), |q| function.qualified_arn(q)),
        };
        let now = now_ms(&self);
        let outcome = self.run(&function, &version, request).await;
        let (failed, response) = match outcome {
            Ok(invoked) if !invoked.function_error => {
                self.deliver(
                    &function,
                    &config.on_success,
                    &event,
                    "Success",
                    &invoked.payload,
                    None,
                )
                .await;
                self.forget_event(&key).await;
                return;
            }
            Ok(invoked) => (true, invoked.payload),
            Err(LambdaError::TooManyRequests { .. }) => {
                // Throttled: wait (1 s doubling up to 5 minutes) without counting a failure.
                event.throttles += 1;
                let wait = 1000u64 << event.throttles.min(8);
                let retry_key = (now + wait.min(300_000), key.1.clone());
                if let Err(e) = self.store_event(Some(&key), &retry_key, &event).await {
                    tracing::error!("cannot requeue a throttled invocation: {e}");
                }
                return;
            }
            Err(e) => (true, Bytes::from(e.body().to_string())),
        };
        debug_assert!(failed);
        event.failures += 1;
        event.throttles = 0;
        let too_old = now.saturating_sub(event.enqueued_ms) >= max_age_ms;
        if event.failures > retries || too_old {
            let condition = if too_old {
                "EventAgeExceeded"
            } else {
                "RetriesExhausted"
            };
            tracing::info!(function = %event.function, request_id = %event.request_id, "asynchronous invocation failed: {condition}");
            self.deliver(
                &function,
                &config.on_failure,
                &event,
                condition,
                &response,
                Some("Unhandled"),
            )
            .await;
            self.forget_event(&key).await;
            return;
        }
        let delay = self
            .queue
            .retry_delay
            .saturating_mul(1 << (event.failures - 1).min(10));
        let retry_key = (now + delay.as_millis() as u64, key.1.clone());
        if let Err(e) = self.store_event(Some(&key), &retry_key, &event).await {
            tracing::error!("cannot requeue a failed invocation: {e}");
        }
    }

    /// Sends Lambda's invocation record to a destination function, as an asynchronous event.
    async fn deliver(
        &self,
        function: &super::model::Function,
        destination: &Option<String>,
        event: &Event,
        condition: &str,
        response: &Bytes,
        function_error: Option<&str>,
    ) {
        let Some(arn) = destination else { return };
        let response_payload: serde_json::Value =
            serde_json::from_slice(response).unwrap_or(serde_json::Value::Null);
        let mut response_context = json!({"statusCode": 200, "executedVersion": "$LATEST"});
        if let Some(error) = function_error {
            response_context["functionError"] = error.into();
        }
        let record = json!({
            "version": "1.0",
            "timestamp": super::model::timestamp(self.engine.clock.now()),
            "requestContext": {
                "requestId": event.request_id,
                "functionArn": event.qualifier.as_deref().map_or_else(|| function.arn(), |q| function.qualified_arn(q)),
                "condition": condition,
                "approximateInvokeCount": event.failures.max(1),
            },
            "requestPayload": serde_json::from_str::<serde_json::Value>(&event.payload).unwrap_or(serde_json::Value::Null),
            "responseContext": response_context,
            "responsePayload": response_payload,
        });
        if let Err(e) = self.send_to_destination(arn, &record).await {
            tracing::error!("{e}");
        }
    }

    /// Sends `record` to the destination `arn`: an SQS queue, or a function invoked
    /// asynchronously.
    pub async fn send_to_destination(
        &self,
        arn: &str,
        record: &serde_json::Value,
    ) -> Result<(), String> {
        if arn.starts_with("arn:aws:sqs:") {
            return self.queues.send_to_arn(arn, record.to_string()).await;
        }
        let (region, name, qualifier) = super::api::parse_function_arn(arn).ok_or_else(|| {
            format!("destination {arn} is not a function or queue of this server")
        })?;
        self.enqueue(Event::new(region, name, qualifier, record.to_string()))
            .await
            .map(|_| ())
            .map_err(|e| format!("cannot deliver to destination {arn}: {e}"))
    }
}

/// The worker: takes each event when it is due and runs it on a task of its own.
pub fn start(functions: &Arc<Functions>) {
    let weak = Arc::downgrade(functions);
    tokio::spawn(async move {
        loop {
            let Some(functions) = weak.upgrade() else {
                return;
            };
            let Ok(permit) = functions.queue.running.clone().acquire_owned().await else {
                return;
            };
            let due = match functions.queue.take_due(now_ms(&functions)) {
                Ok((key, event)) => {
                    let functions = functions.clone();
                    tokio::spawn(async move {
                        functions.process(key, event).await;
                        drop(permit);
                    });
                    continue;
                }
                Err(due) => due,
            };
            drop(permit);
            let queue = functions.queue.clone();
            let engine = functions.engine.clone();
            drop(functions);
            // The next due event on the engine's clock (which may be the manual one), a new event,
            // or a second (so the worker also notices when the server drops the functions).
            let next = async {
                match due {
                    Some(ms) => {
                        engine
                            .clock
                            .sleep_until(std::time::UNIX_EPOCH + Duration::from_millis(ms))
                            .await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = queue.wake.notified() => {}
                () = next => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    });
}
