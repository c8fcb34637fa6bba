//! The notifier: reads profile and group writes from the table's stream and tells everyone concerned. Everyone who
//! has the number in their address book hears `contact_joined` for a new profile, `profile_updated` when name, status
//! or photo change; every member of a group, before and after the change, hears `group_updated`.
//! Driven by DynamoDB Streams, not by the request path (the stream is the outbox), so an event is not lost if a
//! function dies after writing, and a re-login (no profile write) sends nothing.
//!
//! At least once, with few repeats: events carry deterministic ids, and progress is saved after every batch of ten,
//! so a retried record resumes after the last batch known to be published. Only a batch published just before a
//! crash can arrive twice, with the same ids.
//!
//! In mesibo mode the notifier also mirrors groups at mesibo ([`group_mirror`], first: who may receive matters
//! most) and sends the same news to the same people as transient mesibo messages, up to a hundred recipients a
//! message, with progress of its own. A call mesibo refuses for good (a sender it no longer knows) is logged and
//! skipped; one that may succeed later (no answer, a rejected app token) fails the record, which the stream retries.

use std::collections::HashMap;

use tracing::info;

use crate::model::events::{AppNotice, Channel, ContactEvent, GroupNews, NotifyRun, PUBLISH_BATCH, ProfileNews};
use crate::model::group::{Group, GroupRole};
use crate::model::phone::mesibo_address as address;
use crate::model::profile::ContactProfile;
use crate::usecase::group_mirror::{MirrorError, mirror_group};
use crate::usecase::ports::{
    ContactStore, EventSink, MESIBO_RECIPIENTS_PER_MESSAGE, Mesibo, MesiboFailed, MesiboMessage, NotifyProgressStore,
    PROFILES_PER_READ, ProfileStore, PublishFailed, StoreUnavailable,
};
use crate::usecase::{Ports, Services};

/// A write to the table, as the stream reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum TableChange {
    /// A profile item was written (`inserted`: it did not exist before; then there is no `old`).
    Profile { inserted: bool, old: Option<ContactProfile>, new: ContactProfile },
    /// A group item was written.
    Group { old: Option<Group>, new: Group },
    /// Anything else (deletions, other items): nothing to tell.
    Other,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreUnavailable),
    #[error(transparent)]
    Publish(#[from] PublishFailed),
    #[error(transparent)]
    Mesibo(#[from] MesiboFailed),
}

impl From<MirrorError> for NotifyError {
    fn from(error: MirrorError) -> Self {
        match error {
            MirrorError::Store(e) => e.into(),
            MirrorError::Mesibo(e) => e.into(),
        }
    }
}

/// Tells everyone concerned of one change, resuming where an earlier attempt at the same change stopped.
pub async fn notify(
    app: &Services<impl Ports>,
    sink: &impl EventSink,
    change: &TableChange,
) -> Result<(), NotifyError> {
    match change {
        TableChange::Profile { inserted, old, new } => {
            let Some(news) = ProfileNews::from_change(*inserted, old.as_ref(), new) else { return Ok(()) };
            notify_person(app, sink, &news).await?;
            if let Some(mesibo) = &app.mesibo {
                message_person(app, mesibo, &news).await?;
            }
            Ok(())
        }
        TableChange::Group { old, new } => {
            if let Some(mesibo) = &app.mesibo {
                ignore_refusal(mirror_group(app, mesibo, old.as_ref(), new).await.map_err(NotifyError::from))?;
            }
            let (news, told) = GroupNews::from_change(old.as_ref(), new);
            notify_group(app, sink, &news, &told).await?;
            if let Some(mesibo) = &app.mesibo {
                let sender = owner(new).or_else(|| old.as_ref().and_then(owner));
                message_group(app, mesibo, &news, &told, sender).await?;
            }
            Ok(())
        }
        TableChange::Other => Ok(()),
    }
}

/// Refusals that retrying cannot change are logged (by the adapter) and passed over; no answer, or a rejected app
/// token (the operator fixes it; the stream keeps the record meanwhile), fails the record.
fn ignore_refusal(outcome: Result<(), NotifyError>) -> Result<(), NotifyError> {
    match outcome {
        Err(NotifyError::Mesibo(MesiboFailed::Refused(code)))
            if !matches!(code.as_str(), "AUTHFAIL" | "TOKENBREACH") =>
        {
            Ok(())
        }
        other => other,
    }
}

fn owner(group: &Group) -> Option<String> {
    group.members.iter().find(|m| m.role == GroupRole::Owner).map(|m| address(&m.e164))
}

/// Progress records outlive any stream retry (24 h retention), then go.
fn progress_ttl(app: &Services<impl Ports>) -> crate::model::clock::Timestamp {
    app.clock.now() + 2 * 86_400
}

/// The news as one mesibo message per hundred of the users who have the number (registered, not the person).
async fn message_person<P: Ports>(
    app: &Services<P>,
    mesibo: &P::Mesibo,
    news: &ProfileNews,
) -> Result<(), NotifyError> {
    let store = &app.store;
    let run = NotifyRun::Person { e164: news.e164.clone(), kind: news.kind, ts: news.ts, channel: Channel::Mesibo };
    let progress = store.notify_progress(&run).await?;
    let owners = store.who_has(&news.e164, progress.last_recipient.as_deref()).await?;
    let body = serde_json::to_string(&AppNotice::person(news, &app.config.app_name)).expect("a notice serialises");
    let from = address(&news.e164);
    let mut sent = 0;
    for chunk in owners.chunks(PROFILES_PER_READ.min(MESIBO_RECIPIENTS_PER_MESSAGE)) {
        let profiles = store.contact_profiles(chunk).await?;
        let to: Vec<String> =
            profiles.iter().filter(|p| !p.deleted && p.e164 != news.e164).map(|p| address(&p.e164)).collect();
        if !to.is_empty() {
            ignore_refusal(
                mesibo.send_message(&MesiboMessage { from: &from, to: &to, body: &body }).await.map_err(Into::into),
            )?;
            sent += to.len();
        }
        store.save_notify_progress(&run, chunk.last().expect("chunks are not empty"), progress_ttl(app)).await?;
    }
    info!(kind = news.kind, recipients = sent, "mesibo notices sent");
    Ok(())
}

/// The group's news to everyone told, from the group's owner (mesibo sends only from a user it knows, and does not
/// echo a message to its sender).
async fn message_group<P: Ports>(
    app: &Services<P>,
    mesibo: &P::Mesibo,
    news: &GroupNews,
    told: &[String],
    sender: Option<String>,
) -> Result<(), NotifyError> {
    let Some(from) = sender else { return Ok(()) };
    let store = &app.store;
    let run = NotifyRun::Group { gid: news.gid, ts: news.ts, channel: Channel::Mesibo };
    let progress = store.notify_progress(&run).await?;
    let pending: Vec<&String> =
        told.iter().filter(|m| progress.last_recipient.as_ref().is_none_or(|last| *m > last)).collect();
    let body = serde_json::to_string(&AppNotice::group(news)).expect("a notice serialises");
    for batch in pending.chunks(MESIBO_RECIPIENTS_PER_MESSAGE) {
        let to: Vec<String> = batch.iter().map(|e164| address(e164)).filter(|a| *a != from).collect();
        if !to.is_empty() {
            ignore_refusal(
                mesibo.send_message(&MesiboMessage { from: &from, to: &to, body: &body }).await.map_err(Into::into),
            )?;
        }
        store.save_notify_progress(&run, batch.last().expect("chunks are not empty"), progress_ttl(app)).await?;
    }
    info!(gid = news.gid, recipients = pending.len(), "mesibo group notices sent");
    Ok(())
}

async fn notify_group(
    app: &Services<impl Ports>,
    sink: &impl EventSink,
    news: &GroupNews,
    told: &[String],
) -> Result<(), NotifyError> {
    let store = &app.store;
    let run = NotifyRun::Group { gid: news.gid, ts: news.ts, channel: Channel::Events };
    let progress = store.notify_progress(&run).await?;
    let ttl = progress_ttl(app);
    let pending: Vec<&String> =
        told.iter().filter(|m| progress.last_recipient.as_ref().is_none_or(|last| *m > last)).collect();
    for batch in pending.chunks(PUBLISH_BATCH) {
        let events: Vec<ContactEvent> = batch.iter().map(|to| news.event_for(to)).collect();
        sink.publish(&events).await?;
        store.save_notify_progress(&run, batch.last().expect("chunks are not empty"), ttl).await?;
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
async fn notify_person(
    app: &Services<impl Ports>,
    sink: &impl EventSink,
    news: &ProfileNews,
) -> Result<(), NotifyError> {
    let store = &app.store;
    let run = NotifyRun::Person { e164: news.e164.clone(), kind: news.kind, ts: news.ts, channel: Channel::Events };
    let progress = store.notify_progress(&run).await?;
    let owners = store.who_has(&news.e164, progress.last_recipient.as_deref()).await?;
    let ttl = progress_ttl(app);
    let mut sent = 0;
    for chunk in owners.chunks(PROFILES_PER_READ) {
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
            store.save_notify_progress(&run, last, ttl).await?;
            sent += events.len();
        }
    }
    info!(kind = news.kind, recipients = sent, resumed = progress.last_recipient.is_some(), "events published");
    Ok(())
}
