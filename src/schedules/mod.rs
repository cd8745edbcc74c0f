//! Schedules: AWS's schedule-expression language (`expression`), EventBridge rules that fire
//! functions on cron and rate schedules (`rules`, served by `events_api`), and EventBridge
//! Scheduler's schedules (`scheduler`, served by `scheduler_api`), all on one kind of `timer`.

pub mod events_api;
pub mod expression;
pub mod rules;
pub mod scheduler;
pub mod scheduler_api;
pub mod timer;
