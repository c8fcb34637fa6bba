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

/// An event about one person, for one recipient: `contact_joined` or `profile_updated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactEvent {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub event_id: String,
    /// The recipient: digits without `+`, as mesibo writes numbers.
    pub to: String,
    /// Who joined or changed (person events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Which group changed (group events), with its members string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo: Option<String>,
    pub ts: Timestamp,
    /// `"1"` when the group was deleted, or the recipient is no longer in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<&'static str>,
}

pub const CONTACT_JOINED: &str = "contact_joined";
pub const PROFILE_UPDATED: &str = "profile_updated";
pub const GROUP_UPDATED: &str = "group_updated";

/// What happened to a profile, independent of who is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileNews {
    pub kind: &'static str,
    pub e164: String,
    pub name: String,
    pub status: String,
    pub photo: String,
    /// When it happened (created_at or updated_at): part of the event's identity.
    pub ts: Timestamp,
}

impl ProfileNews {
    pub fn event_for(&self, recipient_e164: &str) -> ContactEvent {
        let updated = self.kind == PROFILE_UPDATED;
        ContactEvent {
            kind: self.kind,
            event_id: event_id(&[self.kind, &self.e164, &self.ts.to_string(), recipient_e164]),
            to: recipient_e164.trim_start_matches('+').to_owned(),
            phone: Some(self.e164.trim_start_matches('+').to_owned()),
            gid: None,
            members: None,
            name: self.name.clone(),
            status: updated.then(|| self.status.clone()),
            photo: updated.then(|| self.photo.clone()),
            ts: self.ts,
            deleted: None,
        }
    }
}

/// A group changed: every member before or after the change is told, with the group as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupNews {
    pub gid: u64,
    pub name: String,
    pub photo: String,
    pub members: String,
    /// Members now; anyone else told was removed (or left).
    pub current: Vec<String>,
    pub deleted: bool,
    pub ts: Timestamp,
}

impl GroupNews {
    pub fn event_for(&self, recipient_e164: &str) -> ContactEvent {
        let gone = self.deleted || !self.current.iter().any(|m| m == recipient_e164);
        ContactEvent {
            kind: GROUP_UPDATED,
            event_id: event_id(&[GROUP_UPDATED, &self.gid.to_string(), &self.ts.to_string(), recipient_e164]),
            to: recipient_e164.trim_start_matches('+').to_owned(),
            phone: None,
            gid: Some(self.gid.to_string()),
            members: Some(if gone { String::new() } else { self.members.clone() }),
            name: self.name.clone(),
            status: None,
            photo: Some(self.photo.clone()),
            ts: self.ts,
            deleted: gone.then_some("1"),
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
    fn publish(&self, events: &[ContactEvent]) -> impl Future<Output = Result<(), PublishFailed>> + Send;

    /// Pushes one event to one device's SNS platform endpoint.
    fn push(&self, endpoint_arn: &str, event: &ContactEvent) -> impl Future<Output = Result<(), PublishFailed>> + Send;
}

/// Creates (or, for a token SNS already knows, returns) the platform endpoint of a device.
pub async fn create_push_endpoint(
    client: &Client,
    application_arn: &str,
    device_token: &str,
) -> Result<String, PublishFailed> {
    match client.create_platform_endpoint().platform_application_arn(application_arn).token(device_token).send().await {
        Ok(out) => out.endpoint_arn.ok_or(PublishFailed),
        Err(e) => {
            error!(error = %DisplayErrorContext(&e), "create platform endpoint failed");
            Err(PublishFailed)
        }
    }
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
    async fn publish(&self, events: &[ContactEvent]) -> Result<(), PublishFailed> {
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
                        let json = serde_json::to_string(event).unwrap_or_default();
                        println!("[dev event] {} to +{}: {json}", event.kind, event.to);
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
                tracing::warn!(error = %DisplayErrorContext(&e), "push to a device endpoint failed");
                Err(PublishFailed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn news(kind: &'static str, ts: Timestamp) -> ProfileNews {
        ProfileNews {
            kind,
            e164: "+12015550123".into(),
            name: "Ada".into(),
            status: "hi".into(),
            photo: "a.jpg".into(),
            ts,
        }
    }

    #[test]
    fn event_ids_are_deterministic_and_per_recipient() {
        let a = news(CONTACT_JOINED, 100).event_for("+12015550124");
        assert_eq!(a, news(CONTACT_JOINED, 100).event_for("+12015550124"));
        assert_ne!(a.event_id, news(CONTACT_JOINED, 100).event_for("+12015550125").event_id);
        assert_ne!(
            a.event_id,
            news(CONTACT_JOINED, 101).event_for("+12015550124").event_id,
            "a re-registration is a new join"
        );
        assert_ne!(a.event_id, news(PROFILE_UPDATED, 100).event_for("+12015550124").event_id);
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "contact_joined", "event_id": a.event_id, "to": "12015550124", "phone": "12015550123", "name": "Ada", "ts": 100})
        );
        let updated = serde_json::to_value(news(PROFILE_UPDATED, 7).event_for("+12015550124")).unwrap();
        assert_eq!((updated["status"].as_str(), updated["photo"].as_str()), (Some("hi"), Some("a.jpg")));
        assert_eq!(a.event_id.len(), 32);
    }

    #[test]
    fn group_events_tell_removed_members_they_are_out() {
        let news = GroupNews {
            gid: 9,
            name: "G".into(),
            photo: String::new(),
            members: "1:1201,1202".into(),
            current: vec!["+1201".into(), "+1202".into()],
            deleted: false,
            ts: 5,
        };
        let member = serde_json::to_value(news.event_for("+1202")).unwrap();
        assert_eq!((member["gid"].as_str(), member["members"].as_str()), (Some("9"), Some("1:1201,1202")));
        assert!(member.get("deleted").is_none() && member.get("phone").is_none());
        assert_eq!(serde_json::to_value(news.event_for("+1203")).unwrap()["deleted"], "1");
    }
}
