//! The notifier Lambda: reads new users from the table's stream and tells everyone who has them in their address
//! book. Driven by DynamoDB Streams, not by /verify, so an event is not lost if verify dies after writing the user,
//! and a re-login (no new profile item) sends nothing.
//!
//! At least once, with few repeats: events carry deterministic ids, and progress is saved after every batch of ten,
//! so a retried record resumes after the last batch known to be published. Only a batch published just before a
//! crash can arrive twice, with the same ids.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{error, info};

use crate::app::App;
use crate::clock::Timestamp;
use crate::events::{ContactJoined, EventSink, PUBLISH_BATCH};
use crate::storage::StoreUnavailable;

/// The part of a DynamoDB Streams Lambda event the notifier reads.
#[derive(Debug, Deserialize)]
pub struct StreamEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

#[derive(Debug, Deserialize)]
pub struct StreamRecord {
    #[serde(rename = "eventName", default)]
    pub event_name: String,
    pub dynamodb: StreamChange,
}

#[derive(Debug, Deserialize)]
pub struct StreamChange {
    #[serde(rename = "Keys", default)]
    pub keys: HashMap<String, Value>,
    #[serde(rename = "NewImage", default)]
    pub new_image: HashMap<String, Value>,
    #[serde(rename = "SequenceNumber", default)]
    pub sequence_number: String,
}

/// `ReportBatchItemFailures`: the stream is retried from the first failed record.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct BatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

struct Joined {
    e164: String,
    name: String,
    created_at: Timestamp,
}

fn attribute<'a>(image: &'a HashMap<String, Value>, name: &str, kind: &str) -> Option<&'a str> {
    image.get(name)?.get(kind)?.as_str()
}

/// A first sign-in: a profile item inserted (the template's filter already passes only these).
fn new_user(record: &StreamRecord) -> Option<Joined> {
    let change = &record.dynamodb;
    if record.event_name != "INSERT"
        || attribute(&change.keys, "SK", "S") != Some("PROFILE")
        || change.new_image.contains_key("deleted_at")
    {
        return None;
    }
    Some(Joined {
        e164: attribute(&change.new_image, "phone", "S")?.to_owned(),
        name: attribute(&change.new_image, "name", "S").unwrap_or_default().to_owned(),
        created_at: attribute(&change.new_image, "created_at", "N")?.parse().ok()?,
    })
}

pub async fn handle(app: &App, sink: &impl EventSink, event: StreamEvent) -> BatchResponse {
    for record in &event.records {
        let Some(joined) = new_user(record) else { continue };
        if let Err(e) = notify_joined(app, sink, &joined).await {
            error!(error = %e, "contact_joined notification failed; the stream will retry from this record");
            return BatchResponse {
                batch_item_failures: vec![ItemFailure { item_identifier: record.dynamodb.sequence_number.clone() }],
            };
        }
    }
    BatchResponse::default()
}

#[derive(Debug, thiserror::Error)]
enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreUnavailable),
    #[error(transparent)]
    Publish(#[from] crate::events::PublishFailed),
}

/// Pages through everyone who has the new number (no cap), keeps the registered ones, publishes in batches of ten.
async fn notify_joined(app: &App, sink: &impl EventSink, joined: &Joined) -> Result<(), NotifyError> {
    let store = &app.store;
    let progress = store.notify_progress(&joined.e164, joined.created_at).await?;
    let owners = store.who_has(&joined.e164, progress.last_recipient.as_deref()).await?;
    // Progress records outlive any stream retry (24 h retention), then go.
    let ttl = app.clock.now() + 2 * 86_400;
    let mut sent = 0;
    for chunk in owners.chunks(crate::storage::BATCH_GET_KEYS) {
        let registered: HashMap<String, bool> =
            store.contact_profiles(chunk).await?.into_iter().map(|p| (p.e164, !p.deleted)).collect();
        let recipients: Vec<&String> = chunk.iter().filter(|o| registered.get(*o).copied().unwrap_or(false)).collect();
        for batch in recipients.chunks(PUBLISH_BATCH) {
            let events: Vec<ContactJoined> =
                batch.iter().map(|to| ContactJoined::new(&joined.e164, &joined.name, joined.created_at, to)).collect();
            sink.publish(&events).await?;
            let last = batch.last().expect("chunks are not empty");
            store.save_notify_progress(&joined.e164, joined.created_at, last, ttl).await?;
            sent += events.len();
        }
    }
    info!(recipients = sent, resumed = progress.last_recipient.is_some(), "contact_joined published");
    Ok(())
}
