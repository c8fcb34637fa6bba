//! Events published to the SNS topic `ContactEventsTopic` with message attributes `type` and `to`, so subscribers
//! (push service, chat server, SQS) can filter; and pushed to single devices' platform endpoints.

use super::string_attribute;
use crate::adapters::DevEcho;
use aws_sdk_sns::Client;
use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::PublishBatchRequestEntry;
use tracing::{error, warn};

use crate::model::events::ContactEvent;
use crate::usecase::ports::{EventSink, PublishFailed};

#[derive(Clone)]
pub struct SnsEvents {
    client: Client,
    topic_arn: String,
    echo: Option<DevEcho>,
}

impl SnsEvents {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self { client, topic_arn: topic_arn.into(), echo: None }
    }

    /// Local development only: also show each event published.
    pub fn with_echo(mut self, echo: DevEcho) -> Self {
        self.echo = Some(echo);
        self
    }
}

impl EventSink for SnsEvents {
    async fn publish(&self, events: &[ContactEvent]) -> Result<(), PublishFailed> {
        let entries = events
            .iter()
            .enumerate()
            .map(|(i, event)| {
                PublishBatchRequestEntry::builder()
                    .id(format!("e{i}"))
                    .message(serde_json::to_string(event).expect("events serialise"))
                    .message_attributes("type", string_attribute(event.kind))
                    .message_attributes("to", string_attribute(&event.to))
                    .build()
                    .expect("id and message are set")
            })
            .collect();
        let out = self
            .client
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await;
        match out {
            Ok(out) if out.failed.as_ref().is_none_or(Vec::is_empty) => {
                if let Some(echo) = &self.echo {
                    for event in events {
                        let json = serde_json::to_string(event).unwrap_or_default();
                        echo(format!("[dev event] {} to +{}: {json}", event.kind, event.to));
                    }
                }
                Ok(())
            }
            Ok(out) => {
                error!(failed = out.failed.map_or(0, |f| f.len()), "publish batch: some entries failed");
                Err(PublishFailed)
            }
            Err(e) => {
                error!(error = %DisplayErrorContext(&e), "publish batch failed");
                Err(PublishFailed)
            }
        }
    }

    async fn push(&self, endpoint_arn: &str, event: &ContactEvent) -> Result<(), PublishFailed> {
        let message = serde_json::to_string(event).expect("events serialise");
        match self.client.publish().target_arn(endpoint_arn).message(message).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                // Devices go away (app uninstalled, token rotated): their endpoints fail, nobody else's delivery.
                warn!(error = %DisplayErrorContext(&e), "push to a device endpoint failed");
                Err(PublishFailed)
            }
        }
    }
}
