//! DescribeLimits and DescribeEndpoints.

use serde_json::json;

use super::input::Input;
use super::{to_body, Context};
use crate::error::Result;

/// DynamoDB's default account quotas.
pub fn describe_limits(_ctx: &Context<'_>, _input: Input<'_>) -> Result<Vec<u8>> {
    to_body(&json!({
        "AccountMaxReadCapacityUnits": 80000,
        "AccountMaxWriteCapacityUnits": 80000,
        "TableMaxReadCapacityUnits": 40000,
        "TableMaxWriteCapacityUnits": 40000,
    }))
}

/// Endpoint discovery: the address this server was reached at, so discovering SDKs stay here.
pub fn describe_endpoints(ctx: &Context<'_>, _input: Input<'_>) -> Result<Vec<u8>> {
    to_body(&json!({
        "Endpoints": [{"Address": ctx.host, "CachePeriodInMinutes": 1440}]
    }))
}
