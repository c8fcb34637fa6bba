//! The notifier Lambda: reads profile changes from the table's stream and tells everyone who has that number in
//! their address book: `contact_joined` for a new profile item, `profile_updated` when name, status or photo change.
//! Driven by DynamoDB Streams, not by the request path (the stream is the outbox), so an event is not lost if a
//! function dies after writing, and a re-login (no profile write) sends nothing.
//!
//! At least once, with few repeats: events carry deterministic ids, and progress is saved after every batch of ten,
//! so a retried record resumes after the last batch known to be published. Only a batch published just before a
//! crash can arrive twice, with the same ids.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{error, info};

use crate::app::App;
use crate::events::{CONTACT_JOINED, ContactEvent, EventSink, GroupNews, PROFILE_UPDATED, PUBLISH_BATCH, ProfileNews};
use crate::groups::members_string;
use crate::storage::StoreUnavailable;
use crate::storage::{ContactProfile, Group, GroupMember, GroupRole};

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
    #[serde(rename = "OldImage", default)]
    pub old_image: HashMap<String, Value>,
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

fn attribute<'a>(image: &'a HashMap<String, Value>, name: &str, kind: &str) -> Option<&'a str> {
    image.get(name)?.get(kind)?.as_str()
}

/// News in a profile record: a first sign-in (INSERT), or a MODIFY that changed what contacts see. Deletions and
/// writes that change nothing visible are no news.
fn profile_news(record: &StreamRecord) -> Option<ProfileNews> {
    let change = &record.dynamodb;
    let new = &change.new_image;
    if attribute(&change.keys, "SK", "S") != Some("PROFILE") || new.contains_key("deleted_at") {
        return None;
    }
    let visible = |image: &HashMap<String, Value>| {
        ["name", "status", "photo"].map(|field| attribute(image, field, "S").unwrap_or_default().to_owned())
    };
    let kind = match record.event_name.as_str() {
        "INSERT" => CONTACT_JOINED,
        // Signing up again after deleting the account: the tombstone becomes a profile.
        "MODIFY" if change.old_image.contains_key("deleted_at") => CONTACT_JOINED,
        "MODIFY" if visible(new) != visible(&change.old_image) => PROFILE_UPDATED,
        _ => return None,
    };
    let when = if kind == CONTACT_JOINED { "created_at" } else { "updated_at" };
    let [name, status, photo] = visible(new);
    Some(ProfileNews {
        kind,
        e164: attribute(new, "phone", "S")?.to_owned(),
        name,
        status,
        photo,
        ts: attribute(new, when, "N")?.parse().ok()?,
    })
}

pub async fn handle(app: &App, sink: &impl EventSink, event: StreamEvent) -> BatchResponse {
    for record in &event.records {
        let outcome = if let Some(news) = profile_news(record) {
            notify(app, sink, &news).await
        } else if let Some((news, told)) = group_news(record) {
            notify_group(app, sink, &news, &told).await
        } else {
            continue;
        };
        if let Err(e) = outcome {
            error!(error = %e, "notification failed; the stream will retry from this record");
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

fn group_from_image(image: &HashMap<String, Value>) -> Option<Group> {
    let members = image.get("members")?.get("L")?.as_array()?;
    let members = members
        .iter()
        .filter_map(|m| {
            let m: HashMap<String, Value> = serde_json::from_value(m.get("M")?.clone()).ok()?;
            Some(GroupMember {
                e164: attribute(&m, "phone", "S")?.to_owned(),
                role: match attribute(&m, "role", "S") {
                    Some("owner") => GroupRole::Owner,
                    Some("admin") => GroupRole::Admin,
                    _ => GroupRole::Member,
                },
                since: attribute(&m, "since", "N").and_then(|n| n.parse().ok()).unwrap_or(0),
            })
        })
        .collect();
    Some(Group {
        gid: attribute(image, "gid", "N")?.parse().ok()?,
        name: attribute(image, "name", "S").unwrap_or_default().to_owned(),
        photo: attribute(image, "photo", "S").unwrap_or_default().to_owned(),
        updated_at: attribute(image, "updated_at", "N")?.parse().ok()?,
        members,
        deleted: image.contains_key("deleted_at"),
        version: 0,
    })
}

/// A group written (created, changed, deleted): the news, and everyone to tell (members before and after).
fn group_news(record: &StreamRecord) -> Option<(GroupNews, Vec<String>)> {
    let change = &record.dynamodb;
    if attribute(&change.keys, "SK", "S") != Some("GROUP") || !matches!(record.event_name.as_str(), "INSERT" | "MODIFY")
    {
        return None;
    }
    let group = group_from_image(&change.new_image)?;
    let mut told: Vec<String> = group.members.iter().map(|m| m.e164.clone()).collect();
    if let Some(before) = group_from_image(&change.old_image) {
        told.extend(before.members.into_iter().map(|m| m.e164));
    }
    told.sort();
    told.dedup();
    let news = GroupNews {
        gid: group.gid,
        name: group.name.clone(),
        photo: group.photo.clone(),
        members: members_string(&group),
        current: group.members.iter().map(|m| m.e164.clone()).collect(),
        deleted: group.deleted,
        ts: group.updated_at,
    };
    Some((news, told))
}

async fn notify_group(app: &App, sink: &impl EventSink, news: &GroupNews, told: &[String]) -> Result<(), NotifyError> {
    let store = &app.store;
    let about = format!("GROUP#{}", news.gid);
    let run = format!("group_updated#{}", news.ts);
    let progress = store.notify_progress(&about, &run).await?;
    let ttl = app.clock.now() + 2 * 86_400;
    let pending: Vec<&String> =
        told.iter().filter(|m| progress.last_recipient.as_ref().is_none_or(|last| *m > last)).collect();
    for batch in pending.chunks(PUBLISH_BATCH) {
        let events: Vec<ContactEvent> = batch.iter().map(|to| news.event_for(to)).collect();
        sink.publish(&events).await?;
        store.save_notify_progress(&about, &run, batch.last().expect("chunks are not empty"), ttl).await?;
    }
    info!(gid = news.gid, recipients = pending.len(), "group_updated published");
    Ok(())
}

/// Each event also goes to its recipient's devices. A dead device endpoint is logged by the sink and skipped: it
/// must not hold up (or, through stream retries, repeat) everyone else's events.
async fn push_to_devices<'a>(
    sink: &impl EventSink,
    events: &[ContactEvent],
    profile: impl Fn(&str) -> Option<&'a ContactProfile>,
) {
    for event in events {
        let Some(recipient) = profile(&format!("+{}", event.to)) else { continue };
        for endpoint in &recipient.push_endpoints {
            let _ = sink.push(endpoint, event).await;
        }
    }
}

/// Pages through everyone who has the number (no cap), keeps the registered ones, publishes in batches of ten.
async fn notify(app: &App, sink: &impl EventSink, news: &ProfileNews) -> Result<(), NotifyError> {
    let store = &app.store;
    let run = format!("{}#{}", news.kind, news.ts);
    let about = format!("USER#{}", news.e164);
    let progress = store.notify_progress(&about, &run).await?;
    let owners = store.who_has(&news.e164, progress.last_recipient.as_deref()).await?;
    // Progress records outlive any stream retry (24 h retention), then go.
    let ttl = app.clock.now() + 2 * 86_400;
    let mut sent = 0;
    for chunk in owners.chunks(crate::storage::BATCH_GET_KEYS) {
        let profiles: HashMap<String, ContactProfile> = store
            .contact_profiles(chunk)
            .await?
            .into_iter()
            .filter(|p| !p.deleted)
            .map(|p| (p.e164.clone(), p))
            .collect();
        let recipients: Vec<&String> = chunk.iter().filter(|o| profiles.contains_key(*o)).collect();
        for batch in recipients.chunks(PUBLISH_BATCH) {
            let events: Vec<ContactEvent> = batch.iter().map(|to| news.event_for(to)).collect();
            sink.publish(&events).await?;
            push_to_devices(sink, &events, |to| profiles.get(to)).await;
            let last = batch.last().expect("chunks are not empty");
            store.save_notify_progress(&about, &run, last, ttl).await?;
            sent += events.len();
        }
    }
    info!(kind = news.kind, recipients = sent, resumed = progress.last_recipient.is_some(), "events published");
    Ok(())
}
