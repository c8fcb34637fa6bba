//! Push registration: an SNS platform endpoint per device (APNs, APNs sandbox, FCM).

use aws_sdk_sns::Client;
use aws_sdk_sns::error::DisplayErrorContext;
use tracing::error;

use crate::usecase::ports::{PublishFailed, PushRegistry};

#[derive(Clone)]
pub struct SnsPush {
    client: Client,
}

impl SnsPush {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl PushRegistry for SnsPush {
    /// Creates (or, for a token SNS already knows, returns) the platform endpoint of a device.
    async fn create_endpoint(&self, application_arn: &str, device_token: &str) -> Result<String, PublishFailed> {
        let request = self.client.create_platform_endpoint().platform_application_arn(application_arn);
        match request.token(device_token).send().await {
            Ok(out) => out.endpoint_arn.ok_or(PublishFailed),
            Err(e) => {
                error!(error = %DisplayErrorContext(&e), "create platform endpoint failed");
                Err(PublishFailed)
            }
        }
    }

    /// SNS answers success for an endpoint that does not exist, so a repeated deletion is no failure.
    async fn delete_endpoint(&self, endpoint_arn: &str) -> Result<(), PublishFailed> {
        match self.client.delete_endpoint().endpoint_arn(endpoint_arn).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                error!(error = %DisplayErrorContext(&e), "delete platform endpoint failed");
                Err(PublishFailed)
            }
        }
    }
}
