//! mesibo mode's reader of the table's stream (the `mesibo` function, beside the notifier): what mesibo must learn
//! after the request that caused it. The table is the source of truth and its stream the outbox, so nothing is lost
//! if a function dies between its write and a call to mesibo, and a mesibo outage holds up only this reader: the
//! notifier's SNS events go on.
//!
//! - A group written: mesibo's copy is brought to the group's *current* state in the table (name, members in,
//!   everyone who left out, or deleted), then members old and new get the news as a mesibo message.
//! - A person's news the notifier told (a first sign-in, a change of name, status or photo, within the fan-out limit
//!   or coalesced: its `TOLD` record) goes as a mesibo message to the users who have the number.
//! - A profile: an account deleted (a tombstone) deletes the user at mesibo; every token revoked (logout on every
//!   device) ends every token at mesibo.
//!
//! Every mesibo call here is idempotent (adding a member, removing one, setting a name, deleting), or has saved
//! progress (messages), so a retried, repeated or late record converges on the same state, and any later write of a
//! group repairs what an earlier record missed. A call that gets no answer, or whose app token is refused, fails the
//! record, which Lambda retries until mesibo answers (up to the stream's 24 h). A call mesibo refuses
//! (`result:false`) fails the record too, for [`REFUSALS_RETRIED_FOR`] after the write: long enough for a passing
//! refusal to pass, short enough that one mesibo will never take does not hold up the records behind it for a day;
//! then it is logged as an error and passed over. Passed over at once, with a log line: a removal mesibo refuses (it
//! may not count that person as a member at all), a group or user mesibo does not know, a refused notification
//! (notifications are transient: they expire within the hour anyway).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use crate::config::MesiboNotices;
use crate::model::address_book::NamedNumber;
use crate::model::clock::Timestamp;
use crate::model::events::{AppNotice, Channel, GroupNews, NotifyRun, PROGRESS_TTL_SECONDS, ProfileNews, TableChange};
use crate::model::group::{Group, GroupRole};
use crate::model::phone::mesibo_address as address;
use crate::usecase::ports::{
    ContactStore, GroupCursor, GroupStore, MESIBO_MEMBERS_PER_EDIT, MESIBO_RECIPIENTS_PER_MESSAGE, Mesibo,
    MesiboFailed, MesiboMessage, NotifyProgressStore, PROFILES_PER_READ, ProfileStore, StoreUnavailable,
};
use crate::usecase::steps::mesibo_cleanup::tell_cleanup;
use crate::usecase::{App, Ports};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreUnavailable),
    #[error(transparent)]
    Mesibo(#[from] MesiboFailed),
}

/// How long after a write a refusal of its mesibo call is retried before it is passed over.
pub const REFUSALS_RETRIED_FOR: i64 = 3600;

/// Tells mesibo of one change of the table, written at `written_at` (as the stream says).
pub async fn sync<P: Ports>(
    app: &App<P>,
    mesibo: &P::Mesibo,
    change: &TableChange,
    written_at: Option<Timestamp>,
) -> Result<(), SyncError> {
    let settle = |outcome: Result<(), SyncError>| settle(app, outcome, written_at);
    match change {
        TableChange::Profile { old, new, .. } => {
            let cleanup = match old {
                Some(old) => {
                    (new.deleted && !old.deleted)
                        || (new.signed_out_at.is_some() && new.signed_out_at != old.signed_out_at)
                }
                None => false,
            };
            match cleanup {
                true => settle(clean_up(app, mesibo, &new.e164).await),
                false => Ok(()),
            }
        }
        TableChange::Told(news) => message_person(app, mesibo, news).await,
        TableChange::Group { old, new } => {
            settle(mirror_group(app, mesibo, old.as_ref(), new).await)?;
            let (news, told) = GroupNews::from_change(old.as_ref(), new);
            let owner = owner(new).or_else(|| old.as_ref().and_then(owner));
            message_group(app, mesibo, &news, &told, owner).await
        }
        TableChange::Other => Ok(()),
    }
}

/// What a failed mesibo call means for the record: retry it (no answer, the app token refused; or a refusal, within
/// [`REFUSALS_RETRIED_FOR`] of the write), or pass over it.
fn settle<P: Ports>(
    app: &App<P>,
    outcome: Result<(), SyncError>,
    written_at: Option<Timestamp>,
) -> Result<(), SyncError> {
    let failure = match outcome {
        Ok(()) => return Ok(()),
        Err(SyncError::Mesibo(failure)) => failure,
        Err(store) => return Err(store),
    };
    let age = written_at.map_or(0, |at| app.clock.now() - at);
    if failure.may_pass_later() || age < REFUSALS_RETRIED_FOR {
        return Err(failure.into());
    }
    error!(error = %failure, age, "mesibo keeps refusing this change: passed over (README, mesibo)");
    Ok(())
}

/// The person's deletion, or logout on every device, told to mesibo: the user deleted, or every token ended. The
/// table is read again: the next sign-in of the number tells mesibo first if it comes before this record, and then
/// this record has nothing left to do.
async fn clean_up<P: Ports>(app: &App<P>, mesibo: &P::Mesibo, e164: &str) -> Result<(), SyncError> {
    let current = app.store.profile_record(e164).await?;
    let Some(current) = current else { return Ok(()) };
    let Some(due) = current.mesibo_cleanup_due() else { return Ok(()) };
    tell_cleanup(mesibo, &current).await?;
    info!(deleted = current.deleted, "mesibo told of the deletion or sign-out");
    app.store.confirm_mesibo_cleanup(e164, due).await?;
    Ok(())
}

/// Mirror every group again, from `from` on (an operator's command after an outage longer than the stream keeps
/// records; repeat with `next` until it is `None`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Resync {
    #[serde(default)]
    pub from: Option<GroupCursor>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ResyncReply {
    pub groups: usize,
    /// Where to go on from; `None`: every group is mirrored.
    pub next: Option<GroupCursor>,
}

/// Mirrors groups page by page until every one is done or `budget` is spent (then `next` says where to go on).
pub async fn resync_groups<P: Ports>(
    app: &App<P>,
    mesibo: &P::Mesibo,
    command: Resync,
    budget: Duration,
) -> Result<ResyncReply, SyncError> {
    let started = Instant::now();
    let (mut from, mut groups) = (command.from, 0);
    loop {
        let (page, next) = app.store.groups_page(from.as_ref()).await?;
        for (group, after) in page {
            // As its own predecessor: the name is set again, and the members come from the table.
            mirror_group(app, mesibo, Some(&group), &group).await?;
            groups += 1;
            if started.elapsed() >= budget {
                info!(groups, "groups resynced at mesibo, to be continued");
                return Ok(ResyncReply { groups, next: Some(after) });
            }
        }
        from = next;
        if from.is_none() || started.elapsed() >= budget {
            info!(groups, done = from.is_none(), "groups resynced at mesibo");
            return Ok(ResyncReply { groups, next: from });
        }
    }
}

/// Makes mesibo's group `written.gid` what the table holds now: removals first (who may receive matters most), then
/// additions, then the name. `before`: the group as the stream saw it before the write (its members may have left).
pub async fn mirror_group<P: Ports>(
    app: &App<P>,
    mesibo: &P::Mesibo,
    before: Option<&Group>,
    written: &Group,
) -> Result<(), SyncError> {
    let gid = written.gid;
    let current = app.store.group(gid).await?;
    let Some(current) = current.filter(|g| !g.deleted && !written.deleted) else {
        mesibo.delete_group(gid).await?;
        info!(gid, "group deleted at mesibo");
        return Ok(());
    };
    let members: BTreeSet<String> = current.members.iter().map(|m| address(&m.e164)).collect();
    let mut gone: BTreeSet<String> = app.store.former_members(gid).await?.iter().map(|e164| address(e164)).collect();
    gone.extend(before.into_iter().flat_map(|b| b.members.iter().map(|m| address(&m.e164))));
    let gone: Vec<String> = gone.difference(&members).cloned().collect();
    let members: Vec<String> = members.into_iter().collect();
    for (addresses, delete) in [(&gone, true), (&members, false)] {
        for batch in addresses.chunks(MESIBO_MEMBERS_PER_EDIT) {
            match edit(mesibo, gid, batch, delete).await {
                Err(SyncError::Mesibo(MesiboFailed::UnknownGroup)) => {
                    // A group made before mesibo mode: mesibo has no such group, and nothing to mirror to.
                    warn!(gid, "mesibo does not know this group (made before mesibo mode?): not mirrored");
                    return Ok(());
                }
                other => other?,
            }
        }
    }
    if before.is_some() {
        match mesibo.set_group(gid, &current.name).await {
            Ok(()) | Err(MesiboFailed::UnknownGroup) => {}
            Err(failure) => return Err(failure.into()),
        }
    }
    info!(gid, members = members.len(), removed = gone.len(), "group mirrored at mesibo");
    Ok(())
}

/// One batch of additions or removals. A batch mesibo refuses goes again one address at a time, so that one it will
/// not take holds up no other: a refused removal is passed over (mesibo may not count that person as a member); a
/// refused addition too, unless mesibo takes none of the batch — then the refusal is mesibo's state, not the
/// members', and the record fails.
async fn edit(mesibo: &impl Mesibo, gid: u64, batch: &[String], delete: bool) -> Result<(), SyncError> {
    let refusal = match mesibo.edit_members(gid, batch, delete).await {
        Ok(()) => return Ok(()),
        Err(failure @ (MesiboFailed::Refused(_) | MesiboFailed::UnknownUser)) => failure,
        Err(failure) => return Err(failure.into()),
    };
    let mut taken = 0;
    for one in batch.chunks(1) {
        match mesibo.edit_members(gid, one, delete).await {
            Ok(()) => taken += 1,
            Err(failure @ (MesiboFailed::Refused(_) | MesiboFailed::UnknownUser)) => {
                warn!(gid, delete, error = %failure, "mesibo refused one member")
            }
            Err(failure) => return Err(failure.into()),
        }
    }
    if taken == 0 && !delete {
        return Err(refusal.into());
    }
    Ok(())
}

fn owner(group: &Group) -> Option<String> {
    group.members.iter().find(|m| m.role == GroupRole::Owner).map(|m| m.e164.clone())
}

/// Who a group's news comes from: its owner, or, when the owner's account is gone (a group deleted or handed over
/// with its owner's account), a current member who is still here. mesibo's `forced` message makes a missing sender
/// a user, so a deleted person must never be one: mesibo would hold them again after their `userdel`.
async fn live_sender<P: Ports>(
    app: &App<P>,
    owner: Option<String>,
    current: &[String],
) -> Result<Option<String>, StoreUnavailable> {
    let mut candidates: Vec<String> = vec![];
    for e164 in owner.into_iter().chain(current.iter().cloned()) {
        if !candidates.contains(&e164) && candidates.len() < PROFILES_PER_READ {
            candidates.push(e164);
        }
    }
    if candidates.is_empty() {
        return Ok(None);
    }
    let profiles = app.store.profile_records(&candidates).await?;
    let live = |e164: &String| profiles.iter().any(|p| p.e164 == *e164 && !p.deleted);
    Ok(candidates.into_iter().find(live).map(|e164| address(&e164)))
}

/// A notification is worth retrying only if mesibo may take it later; a refused one is logged and passed over.
fn sent(outcome: Result<(), MesiboFailed>) -> Result<(), SyncError> {
    match outcome {
        Err(failure) if failure.may_pass_later() => Err(failure.into()),
        Err(failure) => {
            warn!(error = %failure, "mesibo refused a notification");
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}

/// The news as one mesibo message per hundred of the registered users who have the number.
async fn message_person<P: Ports>(app: &App<P>, mesibo: &P::Mesibo, news: &ProfileNews) -> Result<(), SyncError> {
    if app.config.mesibo.notices == MesiboNotices::Off {
        return Ok(());
    }
    let store = &app.store;
    let run = NotifyRun::Person { e164: news.e164.clone(), kind: news.kind, ts: news.ts, channel: Channel::Mesibo };
    let progress = store.notify_progress(&run).await?;
    let number = NamedNumber::new(&app.config.otp_secret, &news.e164);
    let owners = store.who_has(&number, progress.last_recipient.as_deref()).await?;
    let body = serde_json::to_string(&AppNotice::person(news, &app.config.app_name)).expect("a notice serialises");
    let from = address(&news.e164);
    let ttl = app.clock.now() + PROGRESS_TTL_SECONDS;
    let mut recipients = 0;
    for chunk in owners.chunks(PROFILES_PER_READ.min(MESIBO_RECIPIENTS_PER_MESSAGE)) {
        let profiles = store.profile_records(chunk).await?;
        let to: Vec<String> =
            profiles.iter().filter(|p| !p.deleted && p.e164 != news.e164).map(|p| address(&p.e164)).collect();
        if !to.is_empty() {
            sent(mesibo.send_message(&MesiboMessage { from: &from, to: &to, body: &body }).await)?;
            recipients += to.len();
        }
        store.save_notify_progress(&run, chunk.last().expect("chunks are not empty"), ttl).await?;
    }
    info!(kind = news.kind, recipients, "mesibo notices sent");
    Ok(())
}

/// The group's news to everyone told, from the group's owner while they are here ([`live_sender`]). mesibo does not
/// deliver a message to its own sender, so the sender's copy comes from another current member.
async fn message_group<P: Ports>(
    app: &App<P>,
    mesibo: &P::Mesibo,
    news: &GroupNews,
    told: &[String],
    owner: Option<String>,
) -> Result<(), SyncError> {
    if app.config.mesibo.notices == MesiboNotices::Off {
        return Ok(());
    }
    let Some(from) = live_sender(app, owner, &news.current).await? else { return Ok(()) };
    let store = &app.store;
    let run = NotifyRun::Group { gid: news.gid, ts: news.ts, channel: Channel::Mesibo };
    let progress = store.notify_progress(&run).await?;
    let pending: Vec<&String> =
        told.iter().filter(|m| progress.last_recipient.as_ref().is_none_or(|last| *m > last)).collect();
    let body = serde_json::to_string(&AppNotice::group(news)).expect("a notice serialises");
    let ttl = app.clock.now() + PROGRESS_TTL_SECONDS;
    let for_sender = news.current.iter().map(|e164| address(e164)).find(|a| *a != from);
    for batch in pending.chunks(MESIBO_RECIPIENTS_PER_MESSAGE) {
        let (sender, to): (Vec<String>, Vec<String>) = batch.iter().map(|e164| address(e164)).partition(|a| *a == from);
        if !to.is_empty() {
            sent(mesibo.send_message(&MesiboMessage { from: &from, to: &to, body: &body }).await)?;
        }
        if let (false, Some(other)) = (sender.is_empty(), &for_sender) {
            sent(mesibo.send_message(&MesiboMessage { from: other, to: &sender, body: &body }).await)?;
        }
        store.save_notify_progress(&run, batch.last().expect("chunks are not empty"), ttl).await?;
    }
    info!(gid = news.gid, recipients = pending.len(), "mesibo group notices sent");
    Ok(())
}
