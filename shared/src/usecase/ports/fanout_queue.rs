//! Where fan-out work waits (SQS).

use std::future::Future;

use crate::model::events::FanoutTask;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the fan-out task could not be queued")]
pub struct QueueFailed;

/// Where fan-out work waits for the fan-out function (SQS).
pub trait FanoutQueue: Sync {
    /// Queues one task, delivered after `delay_seconds` (at most 900, SQS's longest delay).
    fn enqueue(&self, task: &FanoutTask, delay_seconds: u32) -> impl Future<Output = Result<(), QueueFailed>> + Send;
}
