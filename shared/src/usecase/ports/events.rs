//! Where contact events go (SNS): the topic, and a device's push endpoint.

use std::future::Future;

use crate::model::events::ContactEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("events could not be published")]
pub struct PublishFailed;

/// Where events go.
pub trait EventSink: Sync {
    /// Publishes up to [`crate::model::events::PUBLISH_BATCH`] events; succeeds only if every one was accepted.
    fn publish(&self, events: &[ContactEvent]) -> impl Future<Output = Result<(), PublishFailed>> + Send;

    /// Pushes one event to one device's platform endpoint.
    fn push(&self, endpoint_arn: &str, event: &ContactEvent) -> impl Future<Output = Result<(), PublishFailed>> + Send;
}
