//! The notifier: reads profile and group writes from the table's stream and tells everyone concerned. Everyone who
//! has the number in their address book hears `contact_joined` for a new profile, `profile_updated` when name, status
//! or photo change; every member of a group, before and after the change, hears `group_updated`.
//! Driven by DynamoDB Streams, not by the request path (the stream is the outbox), so an event is not lost if a
//! function dies after writing, and a re-login (no profile write) sends nothing.
//!
//! At least once, with few repeats: events carry deterministic ids, and progress is saved after every batch of ten,
//! so a retried record resumes after the last batch known to be published. Only a batch published just before a
//! crash can arrive twice, with the same ids. (mesibo mode's own reader of the same stream: `mesibo_sync`.)

use std::collections::HashMap;
use std::time::Duration;

use futures::{StreamExt, stream};
use tracing::{info, warn};

use crate::model::events::{
    Channel, ContactEvent, GroupNews, NotifyRun, PROGRESS_TTL_SECONDS, PUBLISH_BATCH, ProfileNews, TableChange,
};
use crate::model::profile::ContactProfile;
use crate::usecase::ports::{
    ContactStore, EventSink, NotifyProgressStore, PROFILES_PER_READ, ProfileStore, PublishFailed, StoreUnavailable,
};
use crate::usecase::{Ports, Services};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreUnavailable),
    #[error(transparent)]
    Publish(#[from] PublishFailed),
}

/// Tells everyone concerned of one change, resuming where an earlier attempt at the same change stopped.
pub async fn notify(
    app: &Services<impl Ports>,
    sink: &impl EventSink,
    change: &TableChange,
) -> Result<(), NotifyError> {
    match change {
        TableChange::Profile { inserted, old, new } => match ProfileNews::from_change(*inserted, old.as_ref(), new) {
            Some(news) => notify_person(app, sink, &news).await,
            None => Ok(()),
        },
        TableChange::Group { old, new } => {
            let (news, told) = GroupNews::from_change(old.as_ref(), new);
            notify_group(app, sink, &news, &told).await
        }
        TableChange::Other => Ok(()),
    }
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
    let ttl = app.clock.now() + PROGRESS_TTL_SECONDS;
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

/// Pushes of one batch of events sent at once.
const PUSHES_AT_ONCE: usize = 16;

/// How long one batch's pushes may take: slow or hanging platform endpoints hold up the run (and everyone else's
/// events after it) at most this long per batch of [`PUBLISH_BATCH`] recipients.
const PUSH_TIME_BUDGET: Duration = Duration::from_secs(2);

/// Each event also goes to its recipient's devices (at most `max_devices` each, whatever a profile from before the
/// limit lists), concurrently and within [`PUSH_TIME_BUDGET`]. A dead device endpoint is logged by the sink and
/// skipped: it must not hold up (or, through stream retries, repeat) everyone else's events.
async fn push_to_devices<'a>(
    sink: &impl EventSink,
    events: &[ContactEvent],
    max_devices: usize,
    profile: impl Fn(&str) -> Option<&'a ContactProfile>,
) {
    let pushes: Vec<_> = events
        .iter()
        .filter_map(|event| Some((event, profile(&format!("+{}", event.to))?)))
        .flat_map(|(event, recipient)| {
            recipient.push_endpoints.iter().take(max_devices).map(move |endpoint| sink.push(endpoint, event))
        })
        .collect();
    let count = pushes.len();
    let all = stream::iter(pushes).buffer_unordered(PUSHES_AT_ONCE).for_each(|_| std::future::ready(()));
    if tokio::time::timeout(PUSH_TIME_BUDGET, all).await.is_err() {
        warn!(pushes = count, "pushes to devices stopped at the time budget; the rest of this batch is skipped");
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
    let ttl = app.clock.now() + PROGRESS_TTL_SECONDS;
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
            push_to_devices(sink, &events, app.config.contacts.max_devices_per_user, |to| profiles.get(to)).await;
            let last = batch.last().expect("chunks are not empty");
            store.save_notify_progress(&run, last, ttl).await?;
            sent += events.len();
        }
    }
    info!(kind = news.kind, recipients = sent, resumed = progress.last_recipient.is_some(), "events published");
    Ok(())
}
