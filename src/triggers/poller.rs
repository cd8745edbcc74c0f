//! One mapping's poller: reads its stream shard by shard (parents before children: shards are
//! numbered in time order), waits on the engine's commit signal when it has caught up, batches,
//! filters, invokes the function synchronously, retries and bisects failed batches, hands what
//! cannot be processed to the on-failure destination, and checkpoints after every batch.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use tokio::sync::watch;

use super::event::{self, Failure, Record};
use super::model::{Checkpoint, Mapping, OpenWindow};
use super::Triggers;
use crate::engine::catalog::StreamSpec;
use crate::functions::error::LambdaError;
use crate::functions::invoke::{resolve, Request};
use crate::pattern::Pattern;

/// Lambda's limit on an invocation's payload.
const MAX_BATCH_BYTES: usize = 6 * 1024 * 1024;
/// The longest wait between looks at the stream when nothing commits (shard rollover, a
/// deleted table).
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// What became of a batch.
enum Delivered {
    /// Processed (with the function's answer), or handed to the destination (`None`): move
    /// past it.
    Done(Option<Bytes>),
    /// The poller is stopping: the batch stays where it is.
    Stopped,
}

pub async fn run(triggers: Arc<Triggers>, uuid: String, mut stop: watch::Receiver<bool>) {
    let mut commits = triggers.engine.stream_commits();
    let mut cp = triggers.checkpoint(&uuid).unwrap_or_default();
    loop {
        if *stop.borrow() {
            return;
        }
        let Some(mapping) = triggers.get(&uuid) else {
            return;
        };
        let stream = match locate(&triggers, &mapping) {
            Ok(s) => s,
            Err(reason) => {
                tracing::warn!(mapping = %uuid, "event source mapping stopped: {reason}");
                triggers.note(&uuid, |m| m.stopped = Some(reason)).await;
                return;
            }
        };
        let engine = &triggers.engine;
        let first_kept = engine.first_kept_shard(&stream);
        if cp.shard < first_kept {
            tracing::warn!(mapping = %uuid, "records expired from the stream before they were processed");
            triggers
                .note(&uuid, |m| {
                    m.last_processing_result =
                        "PROBLEM: Records expired from the stream before they were processed".into()
                })
                .await;
            cp = Checkpoint {
                shard: first_kept,
                next_seq: 0,
                window: None,
            };
            save(&triggers, &uuid, cp.clone()).await;
        }
        commits.borrow_and_update();
        let records = match read(&triggers, &mapping, &stream, &cp).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(mapping = %uuid, "cannot read the stream: {e}");
                if sleep_or_stop(&mut stop, IDLE_CHECK).await {
                    return;
                }
                continue;
            }
        };
        let shard_id = format!("shardId-{:020}-{:08x}", cp.shard, stream.id);
        let Some(last) = records.last().map(|r| r.seq) else {
            let window_over = cp.window.as_ref().is_some_and(|w| {
                engine.clock.epoch_seconds()
                    >= (w.start + i64::from(mapping.tumbling_window_seconds)) as f64
            });
            if window_over {
                match close_window(&triggers, &mapping, &shard_id, &mut cp, &stop, false).await {
                    Delivered::Stopped => return,
                    Delivered::Done(_) => save(&triggers, &uuid, cp.clone()).await,
                }
                continue;
            }
            if cp.shard < engine.current_shard(&stream) {
                // A closed shard read to its end: its child is next.
                cp = Checkpoint {
                    shard: cp.shard + 1,
                    next_seq: 0,
                    window: cp.window.take(),
                };
                save(&triggers, &uuid, cp.clone()).await;
                continue;
            }
            tokio::select! {
                _ = commits.changed() => {}
                _ = stop.changed() => return,
                () = tokio::time::sleep(IDLE_CHECK) => {}
            }
            continue;
        };
        let filters: Vec<Pattern> = mapping
            .filters
            .iter()
            .filter_map(|f| Pattern::parse(f).ok())
            .collect();
        let batch: Vec<Record> = records
            .into_iter()
            .filter(|r| filters.is_empty() || filters.iter().any(|f| f.matches(&r.json)))
            .collect();
        if !batch.is_empty() {
            let delivered = if mapping.tumbling_window_seconds > 0 {
                deliver_windows(&triggers, &mapping, &shard_id, batch, &mut cp, &stop).await
            } else {
                deliver_lanes(&triggers, &mapping, &shard_id, batch, &stop).await
            };
            if let Delivered::Stopped = delivered {
                return;
            }
        }
        cp.next_seq = last + 1;
        save(&triggers, &uuid, cp.clone()).await;
    }
}

/// Lambda's limit on a tumbling window's state: past it the window ends early.
const MAX_WINDOW_STATE: usize = 1 << 20;

/// With `TumblingWindowInSeconds`, records are grouped by the window their change time falls
/// in; each group is invoked with the state the function returned for the window so far, and a
/// window ends with one more invocation (`isFinalInvokeForWindow`, no records) once a later
/// window's records arrive or its time has passed.
async fn deliver_windows(
    triggers: &Arc<Triggers>,
    mapping: &Mapping,
    shard_id: &str,
    batch: Vec<Record>,
    cp: &mut Checkpoint,
    stop: &watch::Receiver<bool>,
) -> Delivered {
    let size = i64::from(mapping.tumbling_window_seconds);
    let mut groups: Vec<(i64, Vec<Record>)> = Vec::new();
    for r in batch {
        let start = (r.created() as i64).div_euclid(size) * size;
        match groups.last_mut() {
            Some((s, g)) if *s == start => g.push(r),
            _ => groups.push((start, vec![r])),
        }
    }
    for (start, records) in groups {
        if cp.window.as_ref().is_some_and(|w| w.start < start) {
            if let Delivered::Stopped =
                close_window(triggers, mapping, shard_id, cp, stop, false).await
            {
                return Delivered::Stopped;
            }
        }
        let state = cp
            .window
            .as_ref()
            .map_or_else(|| serde_json::json!({}), |w| w.state.clone());
        let call = event::WindowCall {
            start,
            end: start + size,
            state,
            shard_id: shard_id.to_string(),
            source_arn: mapping.event_source_arn.clone(),
            last: false,
            terminated_early: false,
        };
        let answer = match deliver(
            triggers,
            mapping,
            shard_id,
            records,
            Some(&call),
            &mut stop.clone(),
        )
        .await
        {
            Delivered::Stopped => return Delivered::Stopped,
            Delivered::Done(answer) => answer,
        };
        let state = answer
            .as_deref()
            .map(event::returned_state)
            .unwrap_or_else(|| serde_json::json!({}));
        let too_big = state.to_string().len() > MAX_WINDOW_STATE;
        cp.window = Some(OpenWindow { start, state });
        if too_big {
            if let Delivered::Stopped =
                close_window(triggers, mapping, shard_id, cp, stop, true).await
            {
                return Delivered::Stopped;
            }
        }
    }
    Delivered::Done(None)
}

/// The open window's final invocation; the window is closed after it.
async fn close_window(
    triggers: &Arc<Triggers>,
    mapping: &Mapping,
    shard_id: &str,
    cp: &mut Checkpoint,
    stop: &watch::Receiver<bool>,
    terminated_early: bool,
) -> Delivered {
    let Some(open) = cp.window.take() else {
        return Delivered::Done(None);
    };
    let call = event::WindowCall {
        start: open.start,
        end: open.start + i64::from(mapping.tumbling_window_seconds),
        state: open.state.clone(),
        shard_id: shard_id.to_string(),
        source_arn: mapping.event_source_arn.clone(),
        last: true,
        terminated_early,
    };
    let done = deliver(
        triggers,
        mapping,
        shard_id,
        Vec::new(),
        Some(&call),
        &mut stop.clone(),
    )
    .await;
    if let Delivered::Stopped = done {
        cp.window = Some(open);
    }
    done
}

/// The mapping's stream, if its table still has it.
fn locate(triggers: &Triggers, mapping: &Mapping) -> Result<StreamSpec, String> {
    let table = triggers
        .engine
        .table(&mapping.region, &mapping.table_name)
        .ok_or_else(|| format!("the table {} was deleted", mapping.table_name))?;
    table
        .stream
        .iter()
        .chain(&table.past_streams)
        .find(|s| s.id == mapping.stream_id)
        .cloned()
        .ok_or_else(|| format!("the stream {} no longer exists", mapping.event_source_arn))
}

/// Up to a batch of records from the checkpoint, waiting up to the batching window for a full
/// one.
async fn read(
    triggers: &Triggers,
    mapping: &Mapping,
    stream: &StreamSpec,
    cp: &Checkpoint,
) -> crate::error::Result<Vec<Record>> {
    let window = Duration::from_secs(u64::from(mapping.batching_window_seconds));
    let deadline = tokio::time::Instant::now() + window;
    let mut commits = triggers.engine.stream_commits();
    loop {
        let page = triggers.engine.read_records(
            stream.id,
            cp.shard,
            cp.next_seq,
            mapping.batch_size as usize,
        )?;
        let full = page.records.len() >= mapping.batch_size as usize;
        let waiting = !page.records.is_empty() && !full && !window.is_zero();
        if waiting && tokio::time::Instant::now() < deadline {
            tokio::select! {
                _ = commits.changed() => {}
                () = tokio::time::sleep_until(deadline) => {}
            }
            continue;
        }
        return Ok(to_records(page, mapping));
    }
}

fn to_records(page: crate::engine::streams::RecordPage, mapping: &Mapping) -> Vec<Record> {
    let mut out = Vec::with_capacity(page.records.len());
    let mut bytes = 0;
    for (stored, seq) in page.records.iter().zip(page.seqs) {
        let Some(record) = Record::parse(seq, stored, &mapping.event_source_arn) else {
            continue;
        };
        bytes += record.size;
        if bytes > MAX_BATCH_BYTES && !out.is_empty() {
            break;
        }
        out.push(record);
    }
    out
}

async fn save(triggers: &Triggers, uuid: &str, cp: Checkpoint) {
    if let Err(e) = triggers.save_checkpoint(uuid, cp).await {
        tracing::error!(mapping = uuid, "cannot save the checkpoint: {e}");
    }
}

/// True if the poller was told to stop while it slept.
async fn sleep_or_stop(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = stop.changed() => true,
        () = tokio::time::sleep(d) => *stop.borrow(),
    }
}

/// With `ParallelizationFactor` N, the batch's records go to N lanes by partition key (a key's
/// records stay in one lane, in order) and the lanes run concurrently; the shard moves on when
/// all are done.
async fn deliver_lanes(
    triggers: &Arc<Triggers>,
    mapping: &Mapping,
    shard_id: &str,
    batch: Vec<Record>,
    stop: &watch::Receiver<bool>,
) -> Delivered {
    let lanes = mapping.parallelization_factor.max(1) as usize;
    if lanes == 1 {
        return deliver(triggers, mapping, shard_id, batch, None, &mut stop.clone()).await;
    }
    let mut split: Vec<Vec<Record>> = vec![Vec::new(); lanes];
    for r in batch {
        let lane = usize::from(u16::from_be_bytes(crate::storage::keys::hash16(
            r.key().as_bytes(),
        ))) % lanes;
        split[lane].push(r);
    }
    let mut running = tokio::task::JoinSet::new();
    for lane in split.into_iter().filter(|l| !l.is_empty()) {
        let (triggers, mapping, shard_id, mut stop) = (
            triggers.clone(),
            mapping.clone(),
            shard_id.to_string(),
            stop.clone(),
        );
        running.spawn(async move {
            deliver(&triggers, &mapping, &shard_id, lane, None, &mut stop).await
        });
    }
    let mut outcome = Delivered::Done(None);
    while let Some(done) = running.join_next().await {
        if !matches!(done, Ok(Delivered::Done(_))) {
            outcome = Delivered::Stopped;
        }
    }
    outcome
}

/// How one invocation went.
enum Invocation {
    /// With the function's answer.
    Succeeded(Bytes),
    /// `ReportBatchItemFailures`: the records from this sequence number on failed.
    FailedFrom(u64),
    Failed(Bytes),
    /// Throttled, or the function is gone for now: wait, without counting a failure.
    Wait(String),
}

/// Delivers a batch: retried with backoff until it succeeds, its retries or age run out (then
/// the on-failure destination gets it), or the poller stops. A failing batch of more than one
/// record is split in two with `BisectBatchOnFunctionError`, each half delivered on its own.
fn deliver<'a>(
    triggers: &'a Arc<Triggers>,
    mapping: &'a Mapping,
    shard_id: &'a str,
    mut batch: Vec<Record>,
    window: Option<&'a event::WindowCall>,
    stop: &'a mut watch::Receiver<bool>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Delivered> + Send + 'a>> {
    Box::pin(async move {
        let mut failures: u32 = 0;
        let mut waits: u32 = 0;
        loop {
            if *stop.borrow() {
                return Delivered::Stopped;
            }
            let now = triggers.engine.clock.epoch_seconds();
            let oldest = batch.first().map(Record::created).unwrap_or(now);
            if mapping.maximum_record_age_seconds >= 0
                && now - oldest > mapping.maximum_record_age_seconds as f64
            {
                to_destination(
                    triggers,
                    mapping,
                    shard_id,
                    &batch,
                    "RecordAgeExceeded",
                    failures,
                    None,
                )
                .await;
                return Delivered::Done(None);
            }
            let newest = batch.last().map(Record::created).unwrap_or(now);
            triggers.count(&mapping.uuid, |s| {
                s.iterator_age_milliseconds = ((now - newest).max(0.0) * 1000.0) as u64;
            });
            let outcome = invoke(triggers, mapping, &batch, window).await;
            if !matches!(outcome, Invocation::Wait(_)) {
                triggers.count(&mapping.uuid, |s| s.invocations += 1);
            }
            let last_error = match outcome {
                Invocation::Succeeded(answer) => {
                    triggers.count(&mapping.uuid, |s| {
                        s.records_processed += batch.len() as u64;
                        s.last_sequence_number = batch
                            .last()
                            .map(|r| crate::engine::streams::seq_text(r.seq));
                    });
                    note_result(triggers, mapping, "OK").await;
                    return Delivered::Done(Some(answer));
                }
                Invocation::FailedFrom(seq) => {
                    // What came before the first failed record is done.
                    batch.retain(|r| r.seq >= seq);
                    None
                }
                Invocation::Failed(body) => Some(body),
                Invocation::Wait(why) => {
                    waits += 1;
                    note_result(triggers, mapping, &format!("PROBLEM: {why}")).await;
                    let backoff = Duration::from_millis(100u64 << waits.min(6));
                    if sleep_or_stop(stop, backoff).await {
                        return Delivered::Stopped;
                    }
                    continue;
                }
            };
            failures += 1;
            triggers.count(&mapping.uuid, |s| s.function_errors += 1);
            note_result(triggers, mapping, "PROBLEM: Function call failed").await;
            tracing::info!(mapping = %mapping.uuid, records = batch.len(), failures, "batch failed: {}",
                last_error.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_else(|| "reported item failures".into()));
            // A window's records share its state: they are not split.
            if mapping.bisect_on_error && batch.len() > 1 && window.is_none() {
                let second = batch.split_off(batch.len() / 2);
                for half in [batch, second] {
                    if let Delivered::Stopped =
                        deliver(triggers, mapping, shard_id, half, None, stop).await
                    {
                        return Delivered::Stopped;
                    }
                }
                return Delivered::Done(None);
            }
            if mapping.maximum_retry_attempts >= 0
                && i64::from(failures) > mapping.maximum_retry_attempts
            {
                to_destination(
                    triggers,
                    mapping,
                    shard_id,
                    &batch,
                    "RetryAttemptsExhausted",
                    failures,
                    Some("Unhandled"),
                )
                .await;
                return Delivered::Done(None);
            }
            let backoff = Duration::from_millis((50u64 << failures.min(7)).min(5000));
            if sleep_or_stop(stop, backoff).await {
                return Delivered::Stopped;
            }
        }
    })
}

async fn note_result(triggers: &Triggers, mapping: &Mapping, result: &str) {
    let changed = triggers
        .get(&mapping.uuid)
        .is_some_and(|m| m.last_processing_result != result);
    if changed {
        triggers
            .note(&mapping.uuid, |m| {
                m.last_processing_result = result.to_string()
            })
            .await;
    }
}

async fn invoke(
    triggers: &Triggers,
    mapping: &Mapping,
    batch: &[Record],
    window: Option<&event::WindowCall>,
) -> Invocation {
    let functions = &triggers.functions;
    let Some(function) = functions
        .registry
        .get(&mapping.region, &mapping.function_name)
    else {
        return Invocation::Wait(format!("Function {} not found", mapping.function_arn()));
    };
    let version = match resolve(&function, mapping.qualifier.as_deref()) {
        Ok(v) => v.clone(),
        Err(e) => return Invocation::Wait(e.to_string()),
    };
    let request = Request {
        payload: Bytes::from(match window {
            Some(w) => event::window_payload(batch, w),
            None => event::payload(batch),
        }),
        client_context: None,
        invoked_arn: mapping.function_arn(),
    };
    match functions.run(&function, &version, request).await {
        Ok(invoked) if invoked.function_error => Invocation::Failed(invoked.payload),
        Ok(invoked) if mapping.report_item_failures => {
            match event::reported_failures(&invoked.payload, batch) {
                Ok(None) => Invocation::Succeeded(invoked.payload),
                Ok(Some(seq)) => Invocation::FailedFrom(seq),
                Err(()) => Invocation::Failed(invoked.payload),
            }
        }
        Ok(invoked) => Invocation::Succeeded(invoked.payload),
        Err(LambdaError::TooManyRequests { .. }) => Invocation::Wait("Function throttled".into()),
        Err(e) => Invocation::Failed(Bytes::from(e.body().to_string())),
    }
}

/// Hands a batch that could not be processed to the on-failure destination (a function of
/// this server, invoked asynchronously with Lambda's failure record); without one it is only
/// logged, as Lambda drops it.
async fn to_destination(
    triggers: &Triggers,
    mapping: &Mapping,
    shard_id: &str,
    batch: &[Record],
    condition: &'static str,
    failures: u32,
    function_error: Option<&str>,
) {
    tracing::warn!(mapping = %mapping.uuid, records = batch.len(), "batch discarded: {condition}");
    triggers.count(&mapping.uuid, |s| {
        s.records_to_destination += batch.len() as u64
    });
    let Some(destination) = &mapping.on_failure else {
        return;
    };
    let record = Failure {
        records: batch,
        shard_id: shard_id.to_string(),
        stream_arn: &mapping.event_source_arn,
        function_arn: mapping.function_arn(),
        condition,
        invoke_count: failures.max(1),
        function_error,
        now: triggers.engine.clock.now(),
    }
    .to_json();
    if let Err(e) = triggers
        .functions
        .send_to_destination(destination, &record)
        .await
    {
        tracing::error!(mapping = %mapping.uuid, "{e}");
    }
}
