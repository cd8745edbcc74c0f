//! What the SDK tests share: the endpoint, credentials, fresh names and a table made and waited
//! for.

use std::time::Duration;

use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TableDescription,
};
use aws_sdk_dynamodb::Client;

pub fn url() -> String {
    std::env::var("DYNAROCK_URL").unwrap_or_else(|_| "http://127.0.0.1:8000".into())
}

pub fn credentials() -> Credentials {
    Credentials::new("testing", "testing", None, None, "static")
}

/// A DynamoDB client that tries each request at most `attempts` times.
pub fn dynamodb(attempts: u32) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(url())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials())
        .retry_config(
            aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(attempts),
        )
        .build();
    Client::from_conf(config)
}

pub fn name(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("rs_{what}_{nanos}")
}

/// A fresh on-demand table keyed by `pk` (S) and, with `sk`, a sort key `sk` (N), as `more`
/// finishes its request; waited for until it exists.
pub async fn table(
    c: &Client,
    what: &str,
    sk: bool,
    more: impl FnOnce(CreateTableFluentBuilder) -> CreateTableFluentBuilder,
) -> (String, TableDescription) {
    let table = name(what);
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let definition = |name: &str, ty: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ty)
            .build()
            .unwrap()
    };
    let mut create = c
        .create_table()
        .table_name(&table)
        .key_schema(key("pk", KeyType::Hash))
        .attribute_definitions(definition("pk", ScalarAttributeType::S))
        .billing_mode(BillingMode::PayPerRequest);
    if sk {
        create = create
            .key_schema(key("sk", KeyType::Range))
            .attribute_definitions(definition("sk", ScalarAttributeType::N));
    }
    more(create).send().await.unwrap();
    let waited = c
        .wait_until_table_exists()
        .table_name(&table)
        .wait(Duration::from_secs(30))
        .await
        .unwrap();
    let description = waited.as_result().unwrap().table().unwrap().clone();
    (table, description)
}
