//! Devices registered with a push service (SNS platform endpoints).

use std::future::Future;

use super::PublishFailed;

/// Registers devices with a push service.
pub trait PushRegistry: Sync {
    /// The endpoint of a device (created, or the existing one for a token the service already knows).
    fn create_endpoint(
        &self,
        application_arn: &str,
        device_token: &str,
    ) -> impl Future<Output = Result<String, PublishFailed>> + Send;

    /// Deletes an endpoint (a device that was replaced or signed out); gone already counts as deleted.
    fn delete_endpoint(&self, endpoint_arn: &str) -> impl Future<Output = Result<(), PublishFailed>> + Send;
}
