//! The notifier: reads profile and group writes from the table's stream and tells everyone concerned. Everyone who
//! has the number in their address book hears `contact_joined` for a new profile, `profile_updated` when name, status
//! or photo change; every member of a group, before and after the change, hears `group_updated`.
//! Driven by DynamoDB Streams, not by the request path (the stream is the outbox), so an event is not lost if a
//! function dies after writing, and a re-login (no profile write) sends nothing.
//!
//! At least once, with few repeats: events carry deterministic ids, and progress is saved after every batch of ten,
//! so a retried record resumes after the last batch known to be published. Only a batch published just before a
//! crash can arrive twice, with the same ids. (mesibo mode's own reader of the same stream: `mesibo_sync`.)
//!
//! Fan-out that scales: an audience of up to `FANOUT_PAGE_SIZE` (1,000) is told inline; a larger one (a business
//! in a million address books) costs the stream record one query and one SQS message: its pages are told by the
//! fan-out function, one page per invocation, each page queueing the next before it publishes, so pages run side by
//! side, no invocation grows with the audience, and the shard goes on to the next record at once. Where the next
//! page starts is fixed by the first attempt (so every retry queues the same page), one copy of a page works at a
//! time (SQS may deliver a message twice: the second copy finds the page held and is dropped), and a redelivered
//! page resumes after its last saved round: a repeat is at most one round of [`PAGE_PUBLISHES_AT_ONCE`] × 10
//! events, with the same ids. A page of an account deleted since tells nothing and ends the chain. Visible profile
//! changes are rate-limited per person (`PROFILE_FANOUTS_PER_HOUR`): past the limit they are stored and synced as
//! ever, and told once, coalesced, when the hour ends. What is told is also recorded (mesibo mode, with notices), and
//! the mesibo sync tells mesibo's apps from that record: one limit and one coalescing for every channel.

use std::collections::HashMap;
use std::time::Duration;

use futures::{StreamExt, stream};
use tracing::{info, warn};

use crate::model::address_book::{ContactKey, NamedNumber};
use crate::model::clock::Timestamp;
use crate::model::events::{
    Channel, ContactEvent, FanoutTask, GroupNews, NotifyRun, PROFILE_UPDATED, PROGRESS_TTL_SECONDS, PUBLISH_BATCH,
    ProfileNews, TableChange,
};
use crate::model::profile::ProfileRecord;
use crate::model::rate_limit::RateLimit;
use crate::usecase::ports::{
    ContactStore, EventSink, FanoutQueue, NotifyProgress, NotifyProgressStore, PROFILES_PER_READ, ProfileStore,
    PublishFailed, QueueFailed, RateLimitStore, StoreUnavailable,
};
use crate::usecase::{App, Ports};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreUnavailable),
    #[error(transparent)]
    Publish(#[from] PublishFailed),
    #[error(transparent)]
    Queue(#[from] QueueFailed),
}

/// Tells everyone concerned of one change, resuming where an earlier attempt at the same change stopped.
pub async fn notify(
    app: &App<impl Ports>,
    sink: &impl EventSink,
    queue: &impl FanoutQueue,
    change: &TableChange,
) -> Result<(), NotifyError> {
    match change {
        TableChange::Profile { inserted, old, new } => match ProfileNews::from_change(*inserted, old.as_ref(), new) {
            Some(news) => notify_person(app, sink, queue, &news).await,
            None => Ok(()),
        },
        TableChange::Group { old, new } => {
            let (news, told) = GroupNews::from_change(old.as_ref(), new);
            notify_group(app, sink, &news, &told).await
        }
        TableChange::Told(_) | TableChange::Other => Ok(()),
    }
}

async fn notify_group(
    app: &App<impl Ports>,
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

/// How long a copy of a fan-out page holds it: longer than the fan-out function may run (60 s), shorter than the
/// queue's visibility timeout (360 s), so a copy that failed is given again after its claim has lapsed.
const PAGE_CLAIM_SECONDS: i64 = 120;

/// How far apart two instances' clocks may be: a change written by one a second after the account was created by
/// another may carry an earlier second.
const CLOCK_SKEW_SECONDS: Timestamp = 1;

/// Each event also goes to its recipient's devices (at most `max_devices` each, whatever a profile from before the
/// limit lists), concurrently and within [`PUSH_TIME_BUDGET`]. A dead device endpoint is logged by the sink and
/// skipped: it must not hold up (or, through stream retries, repeat) everyone else's events.
async fn push_to_devices<'a>(
    sink: &impl EventSink,
    events: &[ContactEvent],
    max_devices: usize,
    profile: impl Fn(&str) -> Option<&'a ProfileRecord>,
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

/// Publish batches sent at once by a fan-out page; its progress is saved after each such round, so a redelivered
/// page repeats at most one round ([`PUBLISH_BATCH`] × this many recipients).
pub const PAGE_PUBLISHES_AT_ONCE: usize = 10;

/// A person's news: rate-limited if it is a visible change, then told to their audience: inline if it fits in one
/// page, else through the fan-out queue, a page per task.
async fn notify_person(
    app: &App<impl Ports>,
    sink: &impl EventSink,
    queue: &impl FanoutQueue,
    news: &ProfileNews,
) -> Result<(), NotifyError> {
    if news.kind == PROFILE_UPDATED && !within_fanout_limit(app, queue, &news.e164).await? {
        return Ok(());
    }
    tell_person(app, sink, queue, news).await
}

/// Takes one of the person's fan-outs this hour. Past the limit, the change is not told now: one coalesced task per
/// window tells the profile as it then is when the window ends, however many changes came in it (a status flipped
/// every second is told about [`crate::config::PROFILE_FANOUTS_PER_HOUR`] + 1 times an hour, not 3,600).
async fn within_fanout_limit(app: &App<impl Ports>, queue: &impl FanoutQueue, e164: &str) -> Result<bool, NotifyError> {
    let store = &app.store;
    let limit = RateLimit::profile_fanouts(app.config.contacts.profile_fanouts_per_hour, &app.config.otp_secret, e164);
    let now = app.clock.now();
    if store.take(&limit, now).await? {
        return Ok(true);
    }
    let due = limit.window_start(now) + limit.window_seconds;
    // A repeat of the task (a crash between queueing and marking) is told once: the second finds the first's
    // progress.
    let marker = NotifyRun::Page { e164: e164.to_owned(), kind: COALESCED, ts: due, after: String::new() };
    let progress = store.notify_progress(&marker).await?;
    let task = FanoutTask::Coalesced { e164: e164.to_owned(), due };
    queue_once(store, queue, &marker, &progress, &task, (due - now) as u32, due + PROGRESS_TTL_SECONDS).await?;
    info!(retry_after = limit.retry_after(now), "profile change over the fan-out limit: coalesced");
    Ok(false)
}

/// What a coalesced task's marker is a run of.
const COALESCED: &str = "coalesced";

/// Tells everyone who has the number: inline when the audience fits in one page (no queue, least latency), else
/// the whole audience through the queue, from its first page, so the stream shard is held up by one query and one
/// message, whatever the audience.
async fn tell_person(
    app: &App<impl Ports>,
    sink: &impl EventSink,
    queue: &impl FanoutQueue,
    news: &ProfileNews,
) -> Result<(), NotifyError> {
    let store = &app.store;
    let run = NotifyRun::Person { e164: news.e164.clone(), kind: news.kind, ts: news.ts, channel: Channel::Events };
    let progress = store.notify_progress(&run).await?;
    if app.config.mesibo_notices() && progress.last_recipient.is_none() {
        // mesibo's apps hear the same news, under the same limit and coalescing, from the mesibo sync.
        store.record_told(news, app.clock.now() + PROGRESS_TTL_SECONDS).await?;
    }
    let page_size = app.config.contacts.fanout_page_size;
    let number = NamedNumber::new(&app.config.otp_secret, &news.e164);
    let (owners, more) = store.who_has_page(&number, progress.last_recipient.as_deref(), page_size).await?;
    if more && progress.last_recipient.is_none() {
        // The stream hands a shard's records to one invocation at a time, so only a crash repeats the first page,
        // and the page's claim drops the repeat.
        let ttl = app.clock.now() + PROGRESS_TTL_SECONDS;
        queue_once(store, queue, &run, &progress, &FanoutTask::page(news, None), 0, ttl).await?;
        info!(kind = news.kind, "audience larger than a page: fan-out queued");
        return Ok(());
    }
    // A record retried after it began inline finishes inline: its audience was one page when it began.
    let owners = match more {
        true => store.who_has(&number, progress.last_recipient.as_deref()).await?,
        false => owners,
    };
    let sent = publish_to(app, sink, &run, news, &owners, 1).await?;
    info!(kind = news.kind, recipients = sent, resumed = progress.last_recipient.is_some(), "events published");
    Ok(())
}

/// Queues `task` for `run`, unless an earlier attempt at the run did (its progress says so). Queued first and marked
/// after: a crash between the two queues the task twice, never not at all.
async fn queue_once(
    store: &impl NotifyProgressStore,
    queue: &impl FanoutQueue,
    run: &NotifyRun,
    progress: &NotifyProgress,
    task: &FanoutTask,
    delay_seconds: u32,
    expires_at: Timestamp,
) -> Result<(), NotifyError> {
    if !progress.next_queued {
        queue.enqueue(task, delay_seconds).await?;
        store.mark_next_queued(run, expires_at).await?;
    }
    Ok(())
}

fn page_run(news: &ProfileNews, after: Option<&str>) -> NotifyRun {
    let after = after.unwrap_or_default().to_owned();
    NotifyRun::Page { e164: news.e164.clone(), kind: news.kind, ts: news.ts, after }
}

/// The fan-out function's work: one task from the queue.
pub async fn fan_out(
    app: &App<impl Ports>,
    sink: &impl EventSink,
    queue: &impl FanoutQueue,
    task: FanoutTask,
) -> Result<(), NotifyError> {
    match task {
        FanoutTask::Page { kind, e164, name, status, photo, ts, after, rejoined } => {
            match ProfileNews::from_page(&kind, &e164, &name, &status, &photo, ts) {
                Some(news) => tell_page(app, sink, queue, &ProfileNews { rejoined, ..news }, after).await,
                None => {
                    warn!(kind, "fan-out page of an unknown kind dropped");
                    Ok(())
                }
            }
        }
        FanoutTask::Coalesced { e164, due } => tell_coalesced(app, sink, queue, &e164, due).await,
    }
}

/// One page: the next page is queued first (so pages run side by side, each in its own invocation, however large
/// the audience), then this one is published, resuming after its saved progress.
///
/// A queued page may be delivered twice, even at once: the copy that claims the page works, another drops out (the
/// holder finishes it, or fails and SQS gives its own message again once the claim has lapsed). Where the next page
/// starts is fixed by the first attempt, as address books change between attempts: every retry queues that page,
/// never a second chain of pages.
async fn tell_page(
    app: &App<impl Ports>,
    sink: &impl EventSink,
    queue: &impl FanoutQueue,
    news: &ProfileNews,
    after: Option<String>,
) -> Result<(), NotifyError> {
    let store = &app.store;
    let run = page_run(news, after.as_deref());
    let now = app.clock.now();
    let Some(progress) = store.claim_run(&run, now, now + PAGE_CLAIM_SECONDS).await? else {
        info!(kind = news.kind, "fan-out page already at work in another copy: dropped");
        return Ok(());
    };
    // Pages can trail the stream by minutes: once the account is deleted (or deleted and made anew), its old name,
    // status and photo are no longer told, and the chain of pages ends here. Read strongly consistent, so that the
    // first page of a profile created a moment ago finds it.
    let profile = store.profile_now(&news.e164).await?;
    if !profile.is_some_and(|p| !p.deleted && p.created_at <= news.ts + CLOCK_SKEW_SECONDS) {
        info!(kind = news.kind, "fan-out page of an account deleted since: dropped");
        return Ok(());
    }
    let ttl = now + PROGRESS_TTL_SECONDS;
    let page_size = app.config.contacts.fanout_page_size;
    let number = NamedNumber::new(&app.config.otp_secret, &news.e164);
    let (mut owners, more) = store.who_has_page(&number, after.as_deref(), page_size).await?;
    let next = match (progress.next_page.clone(), owners.last()) {
        (Some(fixed), _) => Some(fixed),
        (None, Some(last)) if more => Some(store.fix_next_page(&run, last, ttl).await?),
        (None, _) => None,
    };
    if let Some(next) = &next {
        owners.retain(|owner| owner <= next);
        queue_once(store, queue, &run, &progress, &FanoutTask::page(news, Some(next.clone())), 0, ttl).await?;
    }
    owners.retain(|owner| progress.last_recipient.as_ref().is_none_or(|last| owner > last));
    let sent = publish_to(app, sink, &run, news, &owners, PAGE_PUBLISHES_AT_ONCE).await?;
    info!(kind = news.kind, recipients = sent, more = next.is_some(), "fan-out page published");
    Ok(())
}

/// A coalesced profile change, due at the end of its window: the profile as it is then, told like any change
/// (counted against the new window; if that is used up already, the latest change was told or has a coalesced
/// task of its own).
async fn tell_coalesced(
    app: &App<impl Ports>,
    sink: &impl EventSink,
    queue: &impl FanoutQueue,
    e164: &str,
    due: Timestamp,
) -> Result<(), NotifyError> {
    let now = app.clock.now();
    if now < due {
        // Due later than SQS can delay a message: wait on in the queue.
        queue.enqueue(&FanoutTask::Coalesced { e164: e164.to_owned(), due }, (due - now) as u32).await?;
        return Ok(());
    }
    let profile = app.store.profile_record(e164).await?.filter(|p| !p.deleted);
    let Some(profile) = profile else { return Ok(()) };
    let limit = RateLimit::profile_fanouts(app.config.contacts.profile_fanouts_per_hour, &app.config.otp_secret, e164);
    if !app.store.take(&limit, now).await? {
        return Ok(());
    }
    tell_person(app, sink, queue, &ProfileNews::current(&profile)).await
}

/// Publishes `news` to the registered ones among `owners` (in index order), `at_once` batches of ten at a time,
/// saving `run`'s progress after each round. Returns how many were told.
async fn publish_to(
    app: &App<impl Ports>,
    sink: &impl EventSink,
    run: &NotifyRun,
    news: &ProfileNews,
    owners: &[String],
    at_once: usize,
) -> Result<usize, NotifyError> {
    let store = &app.store;
    let ttl = app.clock.now() + PROGRESS_TTL_SECONDS;
    // A join (or a rejoin) makes her entries in everyone's books a user's: her number beside the keyed name for their deltas, and
    // no expiry (`model::address_book`). Marked before she is told of, so a retry marks again.
    let joined = news.marks_entries().then(|| ContactKey::of(&app.config.otp_secret, &news.e164));
    let mut sent = 0;
    for chunk in owners.chunks(PROFILES_PER_READ) {
        let (profiles, marked) = tokio::join!(store.profile_records(chunk), async {
            match &joined {
                Some(key) => store.mark_joined(chunk, key, &news.e164, app.clock.now()).await,
                None => Ok(()),
            }
        });
        marked?;
        let profiles: HashMap<String, ProfileRecord> =
            profiles?.into_iter().filter(|p| !p.deleted).map(|p| (p.e164.clone(), p)).collect();
        let recipients: Vec<&String> = chunk.iter().filter(|o| profiles.contains_key(*o)).collect();
        for round in recipients.chunks(PUBLISH_BATCH * at_once) {
            let batches: Vec<Vec<ContactEvent>> =
                round.chunks(PUBLISH_BATCH).map(|batch| batch.iter().map(|to| news.event_for(to)).collect()).collect();
            let published = futures::future::join_all(batches.iter().map(|events| sink.publish(events))).await;
            published.into_iter().collect::<Result<Vec<()>, _>>()?;
            let events: Vec<ContactEvent> = batches.into_iter().flatten().collect();
            push_to_devices(sink, &events, app.config.contacts.max_devices_per_user, |to| profiles.get(to)).await;
            let last = round.last().expect("chunks are not empty");
            store.save_notify_progress(run, last, ttl).await?;
            sent += events.len();
        }
    }
    Ok(sent)
}
