//! Events for other users' devices (contact joined, …), published to the SNS topic `ContactEventsTopic` with
//! message attributes `type` and `to`, so subscribers (push service, chat server, SQS) can filter.

use std::future::Future;

use aws_sdk_sns::Client;
use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::error;

use crate::clock::Timestamp;

/// SNS PublishBatch takes at most ten entries.
pub const PUBLISH_BATCH: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactJoined {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub event_id: String,
    /// The recipient: digits without `+`, as mesibo writes numbers.
    pub to: String,
    /// Who joined.
    pub phone: String,
    pub name: String,
    pub ts: Timestamp,
}

impl ContactJoined {
    pub fn new(joined_e164: &str, name: &str, created_at: Timestamp, recipient_e164: &str) -> Self {
        Self {
            kind: "contact_joined",
            event_id: event_id(&["contact_joined", joined_e164, &created_at.to_string(), recipient_e164]),
            to: recipient_e164.trim_start_matches('+').to_owned(),
            phone: joined_e164.trim_start_matches('+').to_owned(),
            name: name.to_owned(),
            ts: created_at,
        }
    }
}

/// Deterministic: the same event computed twice (a retried batch) has the same id, so consumers can de-duplicate.
fn event_id(parts: &[&str]) -> String {
    let digest = Sha256::digest(parts.join("|").as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("events could not be published")]
pub struct PublishFailed;

/// Where events go. The notifier is generic over it so a test can wrap the real publisher.
pub trait EventSink: Sync {
    /// Publishes up to [`PUBLISH_BATCH`] events; succeeds only if every one was accepted.
    fn publish(&self, events: &[ContactJoined]) -> impl Future<Output = Result<(), PublishFailed>> + Send;
}

#[derive(Clone)]
pub struct SnsEvents {
    client: Client,
    topic_arn: String,
    echo_to_console: bool,
}

impl SnsEvents {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self { client, topic_arn: topic_arn.into(), echo_to_console: false }
    }

    /// Local development only: also print each event on stdout.
    pub fn with_console_echo(mut self) -> Self {
        self.echo_to_console = true;
        self
    }
}

impl EventSink for SnsEvents {
    async fn publish(&self, events: &[ContactJoined]) -> Result<(), PublishFailed> {
        let string = |value: &str| {
            MessageAttributeValue::builder().data_type("String").string_value(value).build().expect("data type is set")
        };
        let entries = events
            .iter()
            .enumerate()
            .map(|(i, event)| {
                PublishBatchRequestEntry::builder()
                    .id(format!("e{i}"))
                    .message(serde_json::to_string(event).expect("events serialise"))
                    .message_attributes("type", string(event.kind))
                    .message_attributes("to", string(&event.to))
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
                if self.echo_to_console {
                    for event in events {
                        println!(
                            "[dev event] {} to +{}: +{} ({}) joined",
                            event.kind, event.to, event.phone, event.name
                        );
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_deterministic_and_per_recipient() {
        let a = ContactJoined::new("+12015550123", "Ada", 100, "+12015550124");
        assert_eq!(a, ContactJoined::new("+12015550123", "Ada", 100, "+12015550124"));
        assert_ne!(a.event_id, ContactJoined::new("+12015550123", "Ada", 100, "+12015550125").event_id);
        assert_ne!(
            a.event_id,
            ContactJoined::new("+12015550123", "Ada", 101, "+12015550124").event_id,
            "a re-registration is a new join"
        );
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["type"], "contact_joined");
        assert_eq!(json["to"], "12015550124");
        assert_eq!(json["phone"], "12015550123");
        assert_eq!(a.event_id.len(), 32);
    }
}
