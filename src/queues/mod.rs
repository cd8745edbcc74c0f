//! SQS queues, as far as serverless applications use them beside functions: on-failure
//! destinations of event source mappings and asynchronous invocations, and queues a person or
//! test reads. The JSON protocol (`X-Amz-Target: AmazonSQS.<Operation>`) that current SDKs and
//! the aws CLI speak, on the shared `POST /`.
//!
//! Sent messages are durable before `SendMessage` answers, and deleted durably; receiving
//! (visibility, receive counts) is kept in memory, so after a restart every message not
//! deleted is visible again: at-least-once delivery, as SQS promises.

pub mod api;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::engine::records::Documents;
use crate::engine::Engine;

#[derive(Debug, thiserror::Error)]
pub enum SqsError {
    #[error("The specified queue does not exist.")]
    QueueDoesNotExist,
    #[error("A queue already exists with the same name and a different value for attribute {0}")]
    QueueAlreadyExists(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("{0}")]
    MissingParameter(String),
    #[error("The input receipt handle \"{0}\" is not a valid receipt handle.")]
    ReceiptHandleIsInvalid(String),
    #[error("Unknown Attribute {0}.")]
    InvalidAttributeName(String),
    #[error("{0}")]
    InvalidAddress(String),
    #[error("The action {0} is not valid for this endpoint.")]
    InvalidAction(String),
    #[error("{0}")]
    Internal(String),
}

impl SqsError {
    /// The JSON protocol's error shape name and the query protocol's code (what SDKs report).
    pub fn codes(&self) -> (&'static str, &'static str) {
        match self {
            SqsError::QueueDoesNotExist => (
                "QueueDoesNotExist",
                "AWS.SimpleQueueService.NonExistentQueue",
            ),
            SqsError::QueueAlreadyExists(_) => ("QueueNameExists", "QueueAlreadyExists"),
            SqsError::InvalidParameterValue(_) => {
                ("InvalidParameterValueException", "InvalidParameterValue")
            }
            SqsError::MissingParameter(_) => {
                ("MissingRequiredParameterException", "MissingParameter")
            }
            SqsError::ReceiptHandleIsInvalid(_) => {
                ("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid")
            }
            SqsError::InvalidAttributeName(_) => ("InvalidAttributeName", "InvalidAttributeName"),
            SqsError::InvalidAddress(_) => ("InvalidAddress", "InvalidAddress"),
            SqsError::InvalidAction(_) => ("InvalidAction", "InvalidAction"),
            SqsError::Internal(_) => ("InternalError", "InternalError"),
        }
    }
}

impl From<crate::error::Error> for SqsError {
    fn from(e: crate::error::Error) -> Self {
        SqsError::Internal(e.to_string())
    }
}

pub type SqsResult<T> = Result<T, SqsError>;

/// A queue's settings.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct QueueDef {
    pub region: String,
    pub name: String,
    pub attributes: BTreeMap<String, String>,
    pub created: u64,
    pub modified: u64,
}

/// A message as stored.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct Message {
    pub id: String,
    pub body: String,
    #[serde(default)]
    pub attributes: serde_json::Value,
    pub sent_ms: u64,
    /// Not receivable before (a `DelaySeconds`).
    pub available_ms: u64,
}

/// A message with what receiving it has done.
struct Held {
    seq: u64,
    message: Message,
    visible_ms: u64,
    receive_count: u32,
    first_receive_ms: Option<u64>,
    handle: Option<String>,
}

struct QueueState {
    messages: VecDeque<Held>,
    notify: Arc<tokio::sync::Notify>,
}

pub struct Queues {
    engine: Arc<Engine>,
    pub account: String,
    pub region: String,
    defs: Documents<QueueDef>,
    state: Mutex<BTreeMap<String, QueueState>>,
    next_seq: std::sync::atomic::AtomicU64,
}

const MESSAGES: &str = "sqs-m";

/// The attributes a queue takes, with SQS's defaults.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("DelaySeconds", "0"),
    ("MaximumMessageSize", "262144"),
    ("MessageRetentionPeriod", "345600"),
    ("ReceiveMessageWaitTimeSeconds", "0"),
    ("VisibilityTimeout", "30"),
];

fn queue_key(region: &str, name: &str) -> String {
    format!("{region}/{name}")
}

fn message_key(queue: &str, seq: u64) -> Vec<u8> {
    format!("{queue}\0{seq:020}").into_bytes()
}

impl Queues {
    pub fn load(
        engine: Arc<Engine>,
        region: &str,
        account: &str,
    ) -> crate::error::Result<Arc<Queues>> {
        let defs: Documents<QueueDef> = Documents::load(engine.clone(), "sqs-q")?;
        let mut state = BTreeMap::new();
        for (key, _) in defs.list("") {
            state.insert(
                key,
                QueueState {
                    messages: VecDeque::new(),
                    notify: Default::default(),
                },
            );
        }
        let mut max_seq = 0;
        for (k, v) in engine.records(MESSAGES, b"")? {
            let text = String::from_utf8_lossy(&k).into_owned();
            let Some((queue, seq)) = text.split_once('\0') else {
                continue;
            };
            let seq: u64 = seq.parse().unwrap_or(0);
            max_seq = max_seq.max(seq);
            let Ok(message) = serde_json::from_slice::<Message>(&v) else {
                continue;
            };
            if let Some(q) = state.get_mut(queue) {
                q.messages.push_back(Held {
                    seq,
                    visible_ms: message.available_ms,
                    message,
                    receive_count: 0,
                    first_receive_ms: None,
                    handle: None,
                });
            }
        }
        Ok(Arc::new(Queues {
            engine,
            account: account.to_string(),
            region: region.to_string(),
            defs,
            state: Mutex::new(state),
            next_seq: std::sync::atomic::AtomicU64::new(max_seq + 1),
        }))
    }

    fn now_ms(&self) -> u64 {
        self.engine
            .clock
            .now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, QueueState>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn arn(&self, def: &QueueDef) -> String {
        format!("arn:aws:sqs:{}:{}:{}", def.region, self.account, def.name)
    }

    pub fn get(&self, region: &str, name: &str) -> SqsResult<QueueDef> {
        self.defs
            .get(&queue_key(region, name))
            .ok_or(SqsError::QueueDoesNotExist)
    }

    pub fn list(&self, region: &str, prefix: &str) -> Vec<QueueDef> {
        self.defs
            .list(&format!("{region}/{prefix}"))
            .into_iter()
            .map(|(_, d)| d)
            .collect()
    }

    /// Creates the queue, or returns it when it exists with the same attributes.
    pub async fn create(
        &self,
        region: &str,
        name: &str,
        attributes: BTreeMap<String, String>,
    ) -> SqsResult<QueueDef> {
        let valid = !name.is_empty()
            && name.len() <= 80
            && name
                .trim_end_matches(".fifo")
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(SqsError::InvalidParameterValue(
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length".into(),
            ));
        }
        let mut all: BTreeMap<String, String> = DEFAULTS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        check_attributes(&attributes)?;
        all.extend(attributes);
        if let Ok(existing) = self.get(region, name) {
            if let Some((k, _)) = all
                .iter()
                .find(|(k, v)| existing.attributes.get(*k) != Some(v))
            {
                return Err(SqsError::QueueAlreadyExists(k.clone()));
            }
            return Ok(existing);
        }
        let now = self.now_ms() / 1000;
        let def = QueueDef {
            region: region.into(),
            name: name.into(),
            attributes: all,
            created: now,
            modified: now,
        };
        let key = queue_key(region, name);
        self.defs.put(&key, Some(def.clone())).await?;
        self.lock().entry(key).or_insert_with(|| QueueState {
            messages: VecDeque::new(),
            notify: Default::default(),
        });
        Ok(def)
    }

    pub async fn set_attributes(
        &self,
        def: &QueueDef,
        attributes: BTreeMap<String, String>,
    ) -> SqsResult<()> {
        check_attributes(&attributes)?;
        let mut def = def.clone();
        def.attributes.extend(attributes);
        def.modified = self.now_ms() / 1000;
        self.defs
            .put(&queue_key(&def.region, &def.name), Some(def))
            .await?;
        Ok(())
    }

    pub async fn delete(&self, def: &QueueDef) -> SqsResult<()> {
        let key = queue_key(&def.region, &def.name);
        self.purge(def).await?;
        self.defs.put(&key, None).await?;
        self.lock().remove(&key);
        Ok(())
    }

    pub async fn purge(&self, def: &QueueDef) -> SqsResult<()> {
        let key = queue_key(&def.region, &def.name);
        let seqs: Vec<u64> = match self.lock().get_mut(&key) {
            Some(q) => q.messages.drain(..).map(|h| h.seq).collect(),
            None => return Err(SqsError::QueueDoesNotExist),
        };
        let changes: Vec<_> = seqs.iter().map(|s| (message_key(&key, *s), None)).collect();
        self.engine.write_records(MESSAGES, &changes).await?;
        Ok(())
    }

    /// Stores a message durably; its id.
    pub async fn send(
        &self,
        def: &QueueDef,
        body: String,
        delay_seconds: Option<u64>,
        attributes: serde_json::Value,
    ) -> SqsResult<String> {
        let max: usize = def
            .attributes
            .get("MaximumMessageSize")
            .and_then(|v| v.parse().ok())
            .unwrap_or(262_144);
        if body.is_empty() {
            return Err(SqsError::MissingParameter(
                "The request must contain the parameter MessageBody.".into(),
            ));
        }
        if body.len() > max {
            return Err(SqsError::InvalidParameterValue(format!(
                "One or more parameters are invalid. Reason: Message must be shorter than {max} bytes."
            )));
        }
        let delay = delay_seconds.unwrap_or_else(|| {
            def.attributes
                .get("DelaySeconds")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        });
        if delay > 900 {
            return Err(SqsError::InvalidParameterValue(format!(
                "Value {delay} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900."
            )));
        }
        let now = self.now_ms();
        let message = Message {
            id: uuid::Uuid::new_v4().to_string(),
            body,
            attributes,
            sent_ms: now,
            available_ms: now + delay * 1000,
        };
        let key = queue_key(&def.region, &def.name);
        let seq = self
            .next_seq
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let value = serde_json::to_vec(&message).map_err(|e| SqsError::Internal(e.to_string()))?;
        self.engine
            .write_records(MESSAGES, &[(message_key(&key, seq), Some(value))])
            .await?;
        let mut state = self.lock();
        let q = state.get_mut(&key).ok_or(SqsError::QueueDoesNotExist)?;
        q.messages.push_back(Held {
            seq,
            visible_ms: message.available_ms,
            message: message.clone(),
            receive_count: 0,
            first_receive_ms: None,
            handle: None,
        });
        q.notify.notify_waiters();
        Ok(message.id)
    }

    /// Sends to the queue an ARN names (a destination).
    pub async fn send_to_arn(&self, arn: &str, body: String) -> Result<(), String> {
        let parts: Vec<&str> = arn.split(':').collect();
        let ["arn", _, "sqs", region, _, name] = parts.as_slice() else {
            return Err(format!("{arn} is not a queue ARN"));
        };
        let def = self.get(region, name).map_err(|e| format!("{arn}: {e}"))?;
        self.send(&def, body, None, serde_json::Value::Null)
            .await
            .map(|_| ())
            .map_err(|e| format!("{arn}: {e}"))
    }

    /// Takes up to `max` visible messages, hiding each for `visibility`; waits up to `wait`
    /// for one to arrive when none is there.
    pub async fn receive(
        &self,
        def: &QueueDef,
        max: usize,
        visibility: Option<u64>,
        wait: Duration,
    ) -> SqsResult<Vec<Received>> {
        let visibility = visibility.unwrap_or_else(|| {
            def.attributes
                .get("VisibilityTimeout")
                .and_then(|v| v.parse().ok())
                .unwrap_or(30)
        });
        let key = queue_key(&def.region, &def.name);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notify = {
                let mut state = self.lock();
                let q = state.get_mut(&key).ok_or(SqsError::QueueDoesNotExist)?;
                let now = self.now_ms();
                let mut out = Vec::new();
                for held in q
                    .messages
                    .iter_mut()
                    .filter(|h| h.visible_ms <= now)
                    .take(max)
                {
                    held.receive_count += 1;
                    held.first_receive_ms.get_or_insert(now);
                    held.visible_ms = now + visibility * 1000;
                    let handle = format!(
                        "{}:{}:{}",
                        held.seq,
                        held.receive_count,
                        uuid::Uuid::new_v4().simple()
                    );
                    held.handle = Some(handle.clone());
                    out.push(Received {
                        message: held.message.clone(),
                        handle,
                        receive_count: held.receive_count,
                        first_receive_ms: held.first_receive_ms.unwrap_or(now),
                    });
                }
                if !out.is_empty() || tokio::time::Instant::now() >= deadline {
                    return Ok(out);
                }
                q.notify.clone()
            };
            // Messages that become visible with time are seen at the next check.
            let _ = tokio::time::timeout_at(
                deadline.min(tokio::time::Instant::now() + Duration::from_millis(200)),
                notify.notified(),
            )
            .await;
        }
    }

    fn find_handle(&self, key: &str, handle: &str) -> SqsResult<u64> {
        let state = self.lock();
        let q = state.get(key).ok_or(SqsError::QueueDoesNotExist)?;
        q.messages
            .iter()
            .find(|h| h.handle.as_deref() == Some(handle))
            .map(|h| h.seq)
            .ok_or_else(|| SqsError::ReceiptHandleIsInvalid(handle.to_string()))
    }

    pub async fn delete_message(&self, def: &QueueDef, handle: &str) -> SqsResult<()> {
        let key = queue_key(&def.region, &def.name);
        let seq = match self.find_handle(&key, handle) {
            Ok(seq) => seq,
            // A handle of a message already deleted is accepted, as SQS does.
            Err(SqsError::ReceiptHandleIsInvalid(_)) if handle.split(':').count() == 3 => {
                return Ok(())
            }
            Err(e) => return Err(e),
        };
        self.engine
            .write_records(MESSAGES, &[(message_key(&key, seq), None)])
            .await?;
        if let Some(q) = self.lock().get_mut(&key) {
            q.messages.retain(|h| h.seq != seq);
        }
        Ok(())
    }

    pub fn change_visibility(&self, def: &QueueDef, handle: &str, seconds: u64) -> SqsResult<()> {
        let key = queue_key(&def.region, &def.name);
        let now = self.now_ms();
        let mut state = self.lock();
        let q = state.get_mut(&key).ok_or(SqsError::QueueDoesNotExist)?;
        let held = q
            .messages
            .iter_mut()
            .find(|h| h.handle.as_deref() == Some(handle))
            .ok_or_else(|| SqsError::ReceiptHandleIsInvalid(handle.to_string()))?;
        held.visible_ms = now + seconds * 1000;
        q.notify.notify_waiters();
        Ok(())
    }

    /// (visible, in flight, delayed) message counts.
    pub fn counts(&self, def: &QueueDef) -> (usize, usize, usize) {
        let key = queue_key(&def.region, &def.name);
        let now = self.now_ms();
        let state = self.lock();
        let Some(q) = state.get(&key) else {
            return (0, 0, 0);
        };
        let mut c = (0, 0, 0);
        for h in &q.messages {
            if h.visible_ms <= now {
                c.0 += 1;
            } else if h.receive_count > 0 {
                c.1 += 1;
            } else {
                c.2 += 1;
            }
        }
        c
    }
}

/// A message as received.
pub struct Received {
    pub message: Message,
    pub handle: String,
    pub receive_count: u32,
    pub first_receive_ms: u64,
}

fn check_attributes(attributes: &BTreeMap<String, String>) -> SqsResult<()> {
    const RANGES: &[(&str, u64, u64)] = &[
        ("DelaySeconds", 0, 900),
        ("MaximumMessageSize", 1024, 262_144),
        ("MessageRetentionPeriod", 60, 1_209_600),
        ("ReceiveMessageWaitTimeSeconds", 0, 20),
        ("VisibilityTimeout", 0, 43_200),
    ];
    const OTHERS: &[&str] = &[
        "Policy",
        "RedrivePolicy",
        "RedriveAllowPolicy",
        "KmsMasterKeyId",
        "KmsDataKeyReusePeriodSeconds",
        "SqsManagedSseEnabled",
        "FifoQueue",
        "ContentBasedDeduplication",
        "DeduplicationScope",
        "FifoThroughputLimit",
    ];
    for (k, v) in attributes {
        match RANGES.iter().find(|(n, _, _)| n == k) {
            Some((_, lo, hi)) => {
                let ok = v.parse::<u64>().is_ok_and(|n| (*lo..=*hi).contains(&n));
                if !ok {
                    return Err(SqsError::InvalidParameterValue(format!(
                        "Invalid value for the parameter {k}."
                    )));
                }
            }
            None if OTHERS.contains(&k.as_str()) => {}
            None => return Err(SqsError::InvalidAttributeName(k.clone())),
        }
    }
    Ok(())
}
