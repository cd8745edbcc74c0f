//! The AWS SDK for Rust's DynamoDB Streams client against dynarock (`DYNAROCK_URL`): a table's
//! changes read back through DescribeStream, GetShardIterator and GetRecords.

mod common;

use aws_sdk_dynamodb::types::{AttributeValue, StreamSpecification, StreamViewType};
use aws_sdk_dynamodbstreams::types::{OperationType, ShardIteratorType};

#[tokio::test]
async fn a_tables_changes_read_through_the_streams_client() {
    let ddb = common::dynamodb(3);
    let streams = aws_sdk_dynamodbstreams::Client::from_conf(
        aws_sdk_dynamodbstreams::Config::builder()
            .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
            .endpoint_url(common::url())
            .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
            .credentials_provider(common::credentials())
            .build(),
    );
    let (table, description) = common::table(&ddb, "stream", false, |b| {
        b.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
    })
    .await;
    let arn = description.latest_stream_arn().unwrap().to_string();
    for v in ["one", "two"] {
        ddb.put_item()
            .table_name(&table)
            .item("pk", AttributeValue::S("k".into()))
            .item("v", AttributeValue::S(v.into()))
            .send()
            .await
            .unwrap();
    }
    let stream = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .unwrap();
    let mut events = Vec::new();
    for shard in stream.stream_description().unwrap().shards() {
        let iterator = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard.shard_id().unwrap())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap();
        let records = streams
            .get_records()
            .shard_iterator(iterator.shard_iterator().unwrap())
            .send()
            .await
            .unwrap();
        events.extend(records.records().to_vec());
    }
    let kinds: Vec<_> = events.iter().map(|r| r.event_name().cloned()).collect();
    assert_eq!(
        kinds,
        [Some(OperationType::Insert), Some(OperationType::Modify)]
    );
    let modify = events[1].dynamodb().unwrap();
    assert_eq!(
        modify.old_image().unwrap()["v"],
        aws_sdk_dynamodbstreams::types::AttributeValue::S("one".into())
    );
    ddb.delete_table().table_name(&table).send().await.unwrap();
}
