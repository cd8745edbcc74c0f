//! A throttled request: which limits it hit, and the exception, message and
//! `ThrottlingReasons` DynamoDB answers with.

use serde_json::{json, Value};

use super::Op;

/// Why a table or index refused a request (the last part of a throttling reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// Provisioned mode: the table's or GSI's read or write capacity units.
    Provisioned,
    /// One partition key value's share (both modes).
    KeyRange,
    /// On-demand mode: the `OnDemandThroughput` maximum the user set.
    MaxOnDemand,
    /// On-demand mode: the per-table account quota.
    AccountLimit,
}

impl Limit {
    fn name(self) -> &'static str {
        match self {
            Limit::Provisioned => "ProvisionedThroughputExceeded",
            Limit::KeyRange => "KeyRangeThroughputExceeded",
            Limit::MaxOnDemand => "MaxOnDemandThroughputExceeded",
            Limit::AccountLimit => "AccountLimitExceeded",
        }
    }
}

/// One `ThrottlingReason`: `<Table|Index><Read|Write><Limit>` and the resource's ARN.
#[derive(Clone, Debug, PartialEq)]
pub struct Reason {
    pub index: bool,
    pub op: Op,
    pub limit: Limit,
    pub resource: String,
}

impl Reason {
    pub fn reason(&self) -> String {
        let resource = if self.index { "Index" } else { "Table" };
        let op = match self.op {
            Op::Read => "Read",
            Op::Write => "Write",
        };
        format!("{resource}{op}{}", self.limit.name())
    }
}

/// A refused request. The first reason picks the exception.
#[derive(Clone, Debug, PartialEq)]
pub struct Throttled {
    pub reasons: Vec<Reason>,
    /// Whether the table is in on-demand mode (its hot keys get `ThrottlingException`).
    pub on_demand: bool,
}

const PROVISIONED_TABLE: &str = "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.";
const PROVISIONED_INDEX: &str = "The level of configured provisioned throughput for one or more global secondary indexes of the table was exceeded. Consider increasing your provisioning level for the under-provisioned global secondary indexes with the UpdateTable API";
const ON_DEMAND: &str = "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly. If exceptions persist, check if you have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html";
const MAX_ON_DEMAND: &str =
    "Throughput exceeds the maximum OnDemandThroughput configured on table or index";
const ACCOUNT: &str = "Throughput exceeds the current throughput limit for your account. Please contact AWS Support at https://aws.amazon.com/support request a limit increase";

impl Throttled {
    fn first(&self) -> Option<&Reason> {
        self.reasons.first()
    }

    /// The exception: provisioned capacity (and a provisioned table's hot key) gives
    /// `ProvisionedThroughputExceededException`, on-demand limits `ThrottlingException`,
    /// the account quota `RequestLimitExceeded`.
    pub fn code(&self) -> &'static str {
        match self.first().map(|r| r.limit) {
            Some(Limit::AccountLimit) => "RequestLimitExceeded",
            Some(Limit::MaxOnDemand) => "ThrottlingException",
            Some(Limit::KeyRange) if self.on_demand => "ThrottlingException",
            _ => "ProvisionedThroughputExceededException",
        }
    }

    pub fn message(&self) -> &'static str {
        match self.first() {
            Some(r) if r.limit == Limit::AccountLimit => ACCOUNT,
            Some(r) if r.limit == Limit::MaxOnDemand => MAX_ON_DEMAND,
            Some(r) if r.limit == Limit::KeyRange && self.on_demand => ON_DEMAND,
            Some(r) if r.index && r.limit == Limit::Provisioned => PROVISIONED_INDEX,
            _ => PROVISIONED_TABLE,
        }
    }

    /// The member holding the reasons: the service model spells it `throttlingReasons` on
    /// `ThrottlingException` and `ThrottlingReasons` on the others.
    pub fn reasons_member(&self) -> &'static str {
        if self.code() == "ThrottlingException" {
            "throttlingReasons"
        } else {
            "ThrottlingReasons"
        }
    }

    pub fn reasons_json(&self) -> Value {
        self.reasons
            .iter()
            .map(|r| json!({"reason": r.reason(), "resource": r.resource}))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttled(limit: Limit, index: bool, on_demand: bool) -> Throttled {
        Throttled {
            reasons: vec![Reason {
                index,
                op: Op::Write,
                limit,
                resource: "arn:aws:dynamodb:us-east-1:000000000000:table/T".into(),
            }],
            on_demand,
        }
    }

    #[test]
    fn each_limit_gets_its_exception_message_and_reason() {
        let t = throttled(Limit::Provisioned, false, false);
        assert_eq!(t.code(), "ProvisionedThroughputExceededException");
        assert_eq!(t.message(), PROVISIONED_TABLE);
        assert_eq!(
            t.reasons_json(),
            json!([{"reason": "TableWriteProvisionedThroughputExceeded",
                    "resource": "arn:aws:dynamodb:us-east-1:000000000000:table/T"}])
        );
        let t = throttled(Limit::Provisioned, true, false);
        assert_eq!(t.message(), PROVISIONED_INDEX);
        assert_eq!(
            t.reasons[0].reason(),
            "IndexWriteProvisionedThroughputExceeded"
        );
        let hot = throttled(Limit::KeyRange, false, true);
        assert_eq!(hot.code(), "ThrottlingException");
        assert_eq!(hot.reasons_member(), "throttlingReasons");
        assert_eq!(
            throttled(Limit::KeyRange, false, false).code(),
            "ProvisionedThroughputExceededException"
        );
        assert_eq!(
            throttled(Limit::AccountLimit, false, true).code(),
            "RequestLimitExceeded"
        );
        assert_eq!(
            throttled(Limit::MaxOnDemand, true, true).reasons[0].reason(),
            "IndexWriteMaxOnDemandThroughputExceeded"
        );
    }
}
