//! The DynamoDB Streams API (`DynamoDBStreams_20120810.*`): ListStreams, DescribeStream,
//! GetShardIterator, GetRecords, over the records the engine writes with each item change.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Value};

use super::describe::{iso8601_millis, key_schema};
use super::input::{present, Constraints, Input};
use super::{to_body, Context};
use crate::engine::catalog::{StreamSpec, TableMeta};
use crate::engine::streams::{seq_at, seq_text};
use crate::error::{Error, Result};
use crate::model::wire::JsonKind;

/// Iterators expire after 15 minutes, as DynamoDB's do.
const ITERATOR_SECONDS: f64 = 900.0;

fn not_found(what: &str) -> Error {
    Error::ResourceNotFound(format!("Requested resource not found: {what}"))
}

/// Every stream of the region's tables, current and past, with its table.
fn all_streams(ctx: &Context<'_>) -> Vec<(Arc<TableMeta>, StreamSpec)> {
    let mut out = Vec::new();
    for name in ctx.engine.table_names(ctx.region) {
        if let Some(t) = ctx.engine.table(ctx.region, &name) {
            for s in t.past_streams.iter().chain(&t.stream) {
                if s.id != 0 && s.label.is_some() && ctx.engine.stream_visible(s) {
                    out.push((t.clone(), s.clone()));
                }
            }
        }
    }
    out
}

fn arn_of(table: &TableMeta, stream: &StreamSpec) -> String {
    table.stream_arn(stream.label.as_deref().unwrap_or_default())
}

/// A stream ARN's shape, `arn:<partition>:dynamodb:<region>:<account>:table/<name>/stream/<label>`;
/// anything else is refused before streams are looked up.
fn check_stream_arn(arn: &str) -> Result<()> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let resource: Vec<&str> = parts.get(5).map_or(vec![], |r| r.split('/').collect());
    let well_formed = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "dynamodb"
        && matches!(resource.as_slice(), ["table", name, "stream", label] if !name.is_empty() && !label.is_empty());
    if !well_formed {
        return Err(Error::validation(format!("Invalid StreamArn: {arn}")));
    }
    Ok(())
}

fn find_stream(ctx: &Context<'_>, arn: &str) -> Result<(Arc<TableMeta>, StreamSpec)> {
    check_stream_arn(arn)?;
    all_streams(ctx)
        .into_iter()
        .find(|(t, s)| arn_of(t, s) == arn)
        .ok_or_else(|| not_found(&format!("Stream: {arn} not found")))
}

fn shard_id(stream: &StreamSpec, shard: u32) -> String {
    format!("shardId-{:020}-{:08x}", shard, stream.id)
}

fn parse_shard_id(stream: &StreamSpec, id: &str) -> Option<u32> {
    let rest = id.strip_prefix("shardId-")?;
    let (n, sid) = rest.split_once('-')?;
    (u32::from_str_radix(sid, 16).ok()? == stream.id).then_some(())?;
    n.parse().ok()
}

pub fn list_streams(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let table = input.str("TableName")?;
    c.name(table, "tableName");
    let limit = input.int("Limit", JsonKind::Integer)?;
    c.at_least(limit, "limit", 1);
    c.at_most(limit, "limit", 100);
    let start = input.str("ExclusiveStartStreamArn")?;
    c.finish()?;
    start.map(check_stream_arn).transpose()?;
    let mut streams: Vec<(String, String, String)> = all_streams(ctx)
        .into_iter()
        .filter(|(t, _)| table.is_none_or(|n| t.name == n))
        .map(|(t, s)| {
            (
                arn_of(&t, &s),
                t.name.clone(),
                s.label.clone().unwrap_or_default(),
            )
        })
        .collect();
    streams.sort();
    let first = start.map_or(0, |a| {
        streams.partition_point(|(arn, _, _)| arn.as_str() <= a)
    });
    let limit = limit.unwrap_or(100) as usize;
    let page: Vec<Value> = streams[first..]
        .iter()
        .take(limit)
        .map(|(arn, t, label)| json!({"StreamArn": arn, "TableName": t, "StreamLabel": label}))
        .collect();
    let mut out = json!({ "Streams": page });
    if first + limit < streams.len() {
        out["LastEvaluatedStreamArn"] = json!(streams[first + limit - 1].0);
    }
    to_body(&out)
}

pub fn describe_stream(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let arn = c.not_null(input.str("StreamArn")?, "streamArn");
    let limit = input.int("Limit", JsonKind::Integer)?;
    c.at_least(limit, "limit", 1);
    c.at_most(limit, "limit", 100);
    let start = input.str("ExclusiveStartShardId")?;
    let filter = input.structure(
        "ShardFilter",
        "com.amazonaws.dynamodb.v20120810.ShardFilter",
    )?;
    let (filter_type, filter_shard) = match filter {
        Some(f) => (f.str("Type")?, f.str("ShardId")?),
        None => (None, None),
    };
    c.one_of(filter_type, "shardFilter.type", &["CHILD_SHARDS"]);
    c.finish()?;
    let (table, stream) = find_stream(ctx, present(arn)?)?;
    let mut current = ctx.engine.current_shard(&stream);
    // Shards listed after `ExclusiveStartShardId` in id order (ids sort like their numbers);
    // an id that names no shard still has its place in that order, as on DynamoDB.
    let kept = ctx.engine.first_kept_shard(&stream);
    let mut first = match start {
        Some(id) => (kept..=current + 1)
            .find(|&n| shard_id(&stream, n).as_str() > id)
            .unwrap_or(current + 1),
        None => kept,
    };
    // CHILD_SHARDS: only the shard that took over from the given one (shards here have one
    // child each, the next in time).
    if filter.is_some() {
        let parent = filter_shard
            .and_then(|id| parse_shard_id(&stream, id))
            .ok_or_else(|| {
                Error::validation("ShardFilter requires the ShardId of a shard of this stream")
            })?;
        first = first.max(parent + 1);
        current = current.min(parent + 1);
    }
    let limit = limit.unwrap_or(100) as u32;
    let mut shards = Vec::new();
    for n in first..=current {
        if shards.len() as u32 == limit {
            break;
        }
        let (start, end) = ctx.engine.shard_window(&stream, n);
        let mut range = json!({ "StartingSequenceNumber": seq_text(seq_at(start)) });
        if let Some(end) = end {
            // A closed shard ends at its last record (or just before the next one's start).
            let last = ctx.engine.last_seq(stream.id, n)?;
            let ending = last.unwrap_or_else(|| seq_at(end).saturating_sub(1));
            range["EndingSequenceNumber"] = json!(seq_text(ending));
        }
        let mut shard = json!({"ShardId": shard_id(&stream, n), "SequenceNumberRange": range});
        if n > 0 {
            shard["ParentShardId"] = json!(shard_id(&stream, n - 1));
        }
        shards.push(shard);
    }
    let mut description = json!({
        "StreamArn": arn_of(&table, &stream),
        "StreamLabel": stream.label,
        "StreamStatus": if stream.enabled { "ENABLED" } else { "DISABLED" },
        "StreamViewType": stream.view_type,
        "CreationRequestDateTime": stream.created,
        "TableName": table.name,
        "KeySchema": key_schema(&table.key_schema),
        "Shards": shards,
    });
    if first + limit <= current && !shards.is_empty() {
        description["LastEvaluatedShardId"] = json!(shard_id(&stream, first + limit - 1));
    }
    to_body(&json!({ "StreamDescription": description }))
}

/// What a shard iterator stands for; it travels as base64 JSON.
struct Iterator {
    arn: String,
    shard: u32,
    /// The first sequence number to read.
    from: u64,
    issued: f64,
}

impl Iterator {
    fn encode(&self) -> String {
        let v =
            json!({"arn": self.arn, "shard": self.shard, "from": self.from, "issued": self.issued});
        BASE64.encode(v.to_string())
    }

    fn decode(text: &str) -> Result<Iterator> {
        let invalid = || Error::validation("Invalid ShardIterator");
        let bytes = BASE64.decode(text).map_err(|_| invalid())?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        Ok(Iterator {
            arn: v["arn"].as_str().ok_or_else(invalid)?.to_string(),
            shard: v["shard"].as_u64().ok_or_else(invalid)? as u32,
            from: v["from"].as_u64().ok_or_else(invalid)?,
            issued: v["issued"].as_f64().ok_or_else(invalid)?,
        })
    }
}

/// The stream a shard iterator reads (for authorization); `None` if it is not one.
pub(super) fn iterator_stream(text: &str) -> Option<String> {
    Iterator::decode(text).ok().map(|i| i.arn)
}

pub fn get_shard_iterator(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let arn = c.not_null(input.str("StreamArn")?, "streamArn");
    let shard = c.not_null(input.str("ShardId")?, "shardId");
    let kind = c.not_null(input.str("ShardIteratorType")?, "shardIteratorType");
    c.one_of(
        kind,
        "shardIteratorType",
        &[
            "TRIM_HORIZON",
            "LATEST",
            "AT_SEQUENCE_NUMBER",
            "AFTER_SEQUENCE_NUMBER",
        ],
    );
    let seq = input.str("SequenceNumber")?;
    c.finish()?;
    let (arn, shard, kind) = (present(arn)?, present(shard)?, present(kind)?);
    let (_, stream) = find_stream(ctx, arn)?;
    let n = parse_shard_id(&stream, shard)
        .filter(|n| *n <= ctx.engine.current_shard(&stream))
        .filter(|n| *n >= ctx.engine.first_kept_shard(&stream))
        .ok_or_else(|| not_found(&format!("Shard does not exist: {shard}")))?;
    let at = |seq: Option<&str>| -> Result<u64> {
        seq.ok_or_else(|| {
            Error::validation(format!(
                "Must specify a SequenceNumber when the ShardIteratorType is {kind}"
            ))
        })?
        .parse::<u64>()
        .map_err(|_| Error::validation("Invalid SequenceNumber"))
    };
    let from = match kind {
        "TRIM_HORIZON" => 0,
        "LATEST" => ctx.engine.last_seq(stream.id, n)?.map_or(0, |s| s + 1),
        "AT_SEQUENCE_NUMBER" => at(seq)?,
        _ => at(seq)? + 1,
    };
    let iterator = Iterator {
        arn: arn.to_string(),
        shard: n,
        from,
        issued: ctx.engine.clock.epoch_seconds(),
    };
    to_body(&json!({ "ShardIterator": iterator.encode() }))
}

pub fn get_records(ctx: &Context<'_>, input: Input<'_>) -> Result<Vec<u8>> {
    let mut c = Constraints::default();
    let text = c.not_null(input.str("ShardIterator")?, "shardIterator");
    let limit = input.int("Limit", JsonKind::Integer)?;
    c.at_least(limit, "limit", 1);
    c.at_most(limit, "limit", 1000);
    c.finish()?;
    let iterator = Iterator::decode(present(text)?)?;
    let now = ctx.engine.clock.epoch_seconds();
    if now - iterator.issued > ITERATOR_SECONDS {
        return Err(Error::ExpiredIterator(format!(
            "Iterator expired. The iterator was created at time {} while right now it is {}, which is further in the future than the tolerated delay of 900000 milliseconds.",
            iso8601_millis(iterator.issued),
            iso8601_millis(now)
        )));
    }
    let (_, stream) = find_stream(ctx, &iterator.arn)?;
    if iterator.shard < ctx.engine.first_kept_shard(&stream) {
        return Err(Error::TrimmedDataAccess(
            "The operation attempted to read past the oldest stream record in a shard.".into(),
        ));
    }
    let page = ctx.engine.read_records(
        stream.id,
        iterator.shard,
        iterator.from,
        limit.unwrap_or(1000) as usize,
    )?;
    let (records, last) = (page.records, page.last);
    let mut out = br#"{"Records":["#.to_vec();
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(r);
    }
    out.push(b']');
    let next = last.map_or(iterator.from, |s| s + 1);
    // A closed shard read to its end has no next iterator.
    let closed = iterator.shard < ctx.engine.current_shard(&stream) || !stream.enabled;
    let drained = records.is_empty() || ctx.engine.last_seq(stream.id, iterator.shard)? == last;
    if !(closed && drained) {
        let next = Iterator {
            from: next,
            issued: now,
            ..iterator
        };
        out.extend_from_slice(format!(r#","NextShardIterator":"{}""#, next.encode()).as_bytes());
    }
    out.push(b'}');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::engine::testing::{engine_with_streams, simple_table};
    use crate::engine::Engine;
    use std::time::{Duration, UNIX_EPOCH};

    /// An engine on a manual clock with a table streaming KEYS_ONLY, and the TRIM_HORIZON
    /// iterator request for the table's first shard.
    fn streaming(shards: (f64, f64)) -> (Arc<ManualClock>, Arc<Engine>, Arc<TableMeta>, Value) {
        let clock = Arc::new(ManualClock::new(
            UNIX_EPOCH + Duration::from_secs(2_000_000_000),
        ));
        let engine = engine_with_streams(clock.clone(), u64::MAX, shards);
        let table = simple_table(&engine, Some("KEYS_ONLY"));
        let stream = table.active_stream().unwrap();
        let request = json!({
            "StreamArn": table.stream_arn(stream.label.as_deref().unwrap()),
            "ShardId": shard_id(stream, 0),
            "ShardIteratorType": "TRIM_HORIZON",
        });
        (clock, engine, table, request)
    }

    fn context(engine: &Arc<Engine>) -> Context<'_> {
        Context {
            engine,
            region: "r",
            account: "a",
            host: "h",
        }
    }

    #[test]
    fn iterators_expire_after_15_minutes() {
        let (clock, engine, _, request) = streaming((4.0 * 3600.0, 86400.0));
        let ctx = context(&engine);
        let body = get_shard_iterator(&ctx, Input::new(&request).unwrap()).unwrap();
        let iterator: Value = serde_json::from_slice(&body).unwrap();
        let read = json!({"ShardIterator": iterator["ShardIterator"]});
        clock.advance(Duration::from_secs(899));
        assert!(get_records(&ctx, Input::new(&read).unwrap()).is_ok());
        clock.advance(Duration::from_secs(2));
        let err = get_records(&ctx, Input::new(&read).unwrap()).unwrap_err();
        assert!(matches!(err, Error::ExpiredIterator(_)), "{err:?}");
    }

    #[test]
    fn reading_trimmed_records_is_refused() {
        // 10-second shards kept for a minute: shard 0 ages out 70 s after the start.
        let (clock, engine, table, request) = streaming((10.0, 60.0));
        let ctx = context(&engine);
        let stream = table.active_stream().unwrap();
        let arn = table.stream_arn(stream.label.as_deref().unwrap());
        let body = get_shard_iterator(&ctx, Input::new(&request).unwrap()).unwrap();
        let iterator: Value = serde_json::from_slice(&body).unwrap();
        clock.advance(Duration::from_secs(75));
        engine.trim_streams().unwrap();
        let read = json!({"ShardIterator": iterator["ShardIterator"]});
        let err = get_records(&ctx, Input::new(&read).unwrap()).unwrap_err();
        assert!(matches!(err, Error::TrimmedDataAccess(_)), "{err:?}");
        // The trimmed shard is gone from the description and cannot be opened again.
        let described =
            describe_stream(&ctx, Input::new(&json!({"StreamArn": arn})).unwrap()).unwrap();
        let described: Value = serde_json::from_slice(&described).unwrap();
        assert_ne!(
            described["StreamDescription"]["Shards"][0]["ShardId"],
            json!(shard_id(stream, 0))
        );
        let err = get_shard_iterator(&ctx, Input::new(&request).unwrap()).unwrap_err();
        assert!(matches!(err, Error::ResourceNotFound(_)), "{err:?}");
    }
}
