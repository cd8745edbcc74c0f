//! Schedules: AWS's schedule-expression language (`expression`), and EventBridge rules that
//! fire functions on cron and rate schedules (`rules`, served by `events_api`).

pub mod events_api;
pub mod expression;
pub mod rules;
pub mod timer;
