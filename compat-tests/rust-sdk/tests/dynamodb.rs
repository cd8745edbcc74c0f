//! The AWS SDK for Rust against dynarock (`DYNAROCK_URL`), as an application uses it: tables
//! and their waiter, items, a paginated Query, batches, a transaction and its cancellation
//! reasons, the SDK's typed errors, and its retries on throttling.

mod common;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::get_item::GetItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, OnDemandThroughput, Put, PutRequest, TransactWriteItem,
    WriteRequest,
};
use common::{dynamodb, name, table};

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

#[tokio::test]
async fn items_queries_batches_and_typed_errors() {
    let c = dynamodb(3);
    let (t, _) = table(&c, "items", true, |b| b).await;
    c.put_item()
        .table_name(&t)
        .item("pk", s("a"))
        .item("sk", n(1))
        .item("blob", AttributeValue::B(vec![0u8, 1, 255].into()))
        .item("set", AttributeValue::Ss(vec!["x".into(), "y".into()]))
        .send()
        .await
        .unwrap();
    let got = c
        .get_item()
        .table_name(&t)
        .key("pk", s("a"))
        .key("sk", n(1))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    let item = got.item.unwrap();
    assert_eq!(item["blob"], AttributeValue::B(vec![0u8, 1, 255].into()));

    // A conditional put of an existing item: the SDK's typed error.
    let refused = c
        .put_item()
        .table_name(&t)
        .item("pk", s("a"))
        .item("sk", n(1))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        refused,
        SdkError::ServiceError(ref e) if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_))
    ));
    let missing = c
        .get_item()
        .table_name(name("missing"))
        .key("pk", s("x"))
        .key("sk", n(1))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        missing,
        SdkError::ServiceError(ref e) if matches!(e.err(), GetItemError::ResourceNotFoundException(_))
    ));

    let puts: Vec<WriteRequest> = (0..20)
        .map(|i| {
            let put = PutRequest::builder()
                .item("pk", s("q"))
                .item("sk", n(i))
                .build()
                .unwrap();
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    let written = c
        .batch_write_item()
        .request_items(&t, puts)
        .send()
        .await
        .unwrap();
    assert!(written.unprocessed_items.unwrap_or_default().is_empty());

    // The Query paginator, three items a page.
    let mut pages = c
        .query()
        .table_name(&t)
        .key_condition_expression("pk = :p AND sk >= :from")
        .expression_attribute_values(":p", s("q"))
        .expression_attribute_values(":from", n(5))
        .limit(3)
        .into_paginator()
        .items()
        .send();
    let mut keys = Vec::new();
    while let Some(item) = pages.next().await {
        keys.push(item.unwrap()["sk"].as_n().unwrap().parse::<i64>().unwrap());
    }
    assert_eq!(keys, (5..20).collect::<Vec<_>>());

    // A transaction cancelled by its condition check, with the reasons in order.
    let put = Put::builder()
        .table_name(&t)
        .item("pk", s("t"))
        .item("sk", n(1))
        .build()
        .unwrap();
    let check = ConditionCheck::builder()
        .table_name(&t)
        .key("pk", s("a"))
        .key("sk", n(1))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .unwrap();
    let cancelled = c
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().put(put).build())
        .transact_items(TransactWriteItem::builder().condition_check(check).build())
        .send()
        .await
        .unwrap_err();
    let SdkError::ServiceError(e) = cancelled else {
        panic!("{cancelled:?}")
    };
    let TransactWriteItemsError::TransactionCanceledException(e) = e.err() else {
        panic!("{:?}", e.err())
    };
    let codes: Vec<_> = e
        .cancellation_reasons()
        .iter()
        .map(|r| r.code().unwrap_or_default().to_string())
        .collect();
    assert_eq!(codes, ["None", "ConditionalCheckFailed"]);

    c.delete_table().table_name(&t).send().await.unwrap();
}

#[tokio::test]
async fn the_sdk_retries_throttled_writes_until_they_pass() {
    // One write unit a second at most.
    let impatient = dynamodb(1);
    let (t, _) = table(&impatient, "throttled", true, |b| {
        b.on_demand_throughput(
            OnDemandThroughput::builder()
                .max_write_request_units(1)
                .build(),
        )
    })
    .await;
    let mut throttled = false;
    for i in 0..5 {
        if let Err(e) = impatient
            .put_item()
            .table_name(&t)
            .item("pk", s("r"))
            .item("sk", n(i))
            .send()
            .await
        {
            assert!(
                matches!(
                    e,
                    SdkError::ServiceError(ref e) if matches!(e.err(), PutItemError::ThrottlingException(_))
                ),
                "{e:?}"
            );
            throttled = true;
            break;
        }
    }
    assert!(throttled, "a burst over the maximum is throttled");
    let patient = dynamodb(10);
    for i in 10..13 {
        patient
            .put_item()
            .table_name(&t)
            .item("pk", s("r"))
            .item("sk", n(i))
            .send()
            .await
            .unwrap();
    }
    impatient
        .delete_table()
        .table_name(&t)
        .send()
        .await
        .unwrap();
}
