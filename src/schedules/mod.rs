//! Schedules: AWS's schedule-expression language (`expression`), for EventBridge rules and
//! EventBridge Scheduler.

pub mod expression;
