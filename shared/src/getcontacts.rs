//! `GET|POST /getcontacts`: which of my address-book numbers use the app, and what changed since my last sync.
//!
//! Every request takes at most three sequential rounds of DynamoDB calls, whatever the number of phones:
//! 1. the token;
//! 2. in parallel: the stored address book (Query pages), the profiles of the uploaded numbers (BatchGet), my own
//!    profile and lookup quota — or, for a delta, my address book, who has me (GSI1), my groups (GSI1), my profile;
//! 3. in parallel: the quota charge and the new edges (BatchWrite) — or, for a delta, the profiles and groups found
//!    in round 2 (BatchGet).
//!
//! Only if a concurrent request of the same user wins the last of the quota, a fourth call takes this request's new
//! edges back out, so an over-quota request never leaves anything stored.

use std::collections::{BTreeSet, HashSet};

use lambda_http::{Body, Request, Response};
use serde::Serialize;
use tracing::{info, warn};

use crate::app::App;
use crate::clock::Timestamp;
use crate::error::ApiError;
use crate::groups::members_string;
use crate::http::{self, Params};
use crate::links::Links;
use crate::phone::PhoneNumber;
use crate::session::{Session, authenticated};
use crate::storage::{ContactProfile, Group};

pub const OP: &str = "getcontacts";
/// 5000 numbers, formatted as people type them, fit in 256 KiB.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// A delta returns changes from this long before the client's cursor. A profile write is stamped by its own
/// instance's clock and may still be retrying (up to the SDK's 15 s operation timeout) when a sync that started
/// later reads: without the overlap it could land behind the cursor and never be seen. Overlap repeats a few
/// changes; a gap would lose them.
pub const DELTA_OVERLAP_SECONDS: i64 = 60;
const DAY: i64 = 86_400;

/// A user or group as mesibo clients list them: every value a string.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ContactEntry {
    pub gid: String,
    pub name: String,
    pub phone: String,
    pub status: String,
    pub photo: String,
    pub ts: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct OwnProfile {
    pub name: String,
    pub phone: String,
    pub status: String,
    pub photo: String,
    pub ts: String,
    /// Present for mesibo clients, which read it; this backend keeps no connection state.
    pub connection_status: String,
}

#[derive(Debug, Serialize)]
pub struct ContactsReply {
    pub contacts: Vec<ContactEntry>,
    pub u: OwnProfile,
    /// Entries of `phones` that are not valid numbers.
    pub invalid: usize,
    #[serde(flatten)]
    pub links: Links,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let now = app.clock.now();
    let outcome = async {
        let (params, session) = authenticated(app, &req, MAX_BODY_BYTES, now).await?;
        sync(app, &session, &params, now).await
    }
    .await;
    http::reply(OP, now, outcome)
}

/// The uploaded numbers: valid ones normalised and de-duplicated, the caller's own dropped, invalid ones counted.
struct Upload {
    numbers: BTreeSet<String>,
    invalid: usize,
}

fn parse_upload(app: &App, session: &Session, params: &Params) -> Result<Upload, ApiError> {
    let raw = params.list("phones")?;
    let max = app.config.contacts.max_phones_per_request;
    if raw.len() > max {
        return Err(ApiError::TooMany(max));
    }
    let region = session.phone.home_region();
    let mut upload = Upload { numbers: BTreeSet::new(), invalid: 0 };
    for entry in &raw {
        match PhoneNumber::parse(entry, region) {
            Some(phone) if phone != session.phone => {
                upload.numbers.insert(phone.e164().to_owned());
            }
            Some(_) => {}
            None => upload.invalid += 1,
        }
    }
    Ok(upload)
}

pub async fn sync(app: &App, session: &Session, params: &Params, now: Timestamp) -> Result<ContactsReply, ApiError> {
    let since: Timestamp = match params.text("ts") {
        None => 0,
        Some(text) => {
            text.parse().ok().filter(|ts| *ts >= 0).ok_or(ApiError::BadRequest("ts: unix seconds of the last sync"))?
        }
    };
    let reset = params.flag("reset");
    let upload = parse_upload(app, session, params)?;
    let (contacts, own) = if upload.numbers.is_empty() {
        delta(app, session, since, reset).await?
    } else {
        lookup(app, session, &upload.numbers, reset, now).await?
    };
    let own = own.filter(|p| !p.deleted).ok_or(ApiError::AuthFail)?;
    info!(phone = %session.phone, uploaded = upload.numbers.len(), invalid = upload.invalid, returned = contacts.len(), "contacts synced");
    Ok(ContactsReply {
        contacts,
        u: OwnProfile {
            name: own.name,
            phone: session.phone.digits().to_owned(),
            status: own.status,
            photo: own.photo,
            ts: own.updated_at.to_string(),
            connection_status: String::new(),
        },
        invalid: upload.invalid,
        links: Links::from_config(&app.config.profile_urls),
    })
}

/// Uploaded numbers: store every one as an edge, answer with the registered ones in full.
async fn lookup(
    app: &App,
    session: &Session,
    uploaded: &BTreeSet<String>,
    reset: bool,
    now: Timestamp,
) -> Result<(Vec<ContactEntry>, Option<ContactProfile>), ApiError> {
    let me = session.phone.e164();
    let store = &app.store;
    let quota = &app.config.contacts;
    let today = now.div_euclid(DAY);
    let first_day = today - quota.lookup_window_days + 1;
    let wanted: Vec<String> = uploaded.iter().cloned().collect();
    let own_number = [me.to_owned()];
    let (book, profiles, own, lookups) = tokio::join!(
        store.address_book(me),
        store.contact_profiles(&wanted),
        store.contact_profiles(&own_number),
        store.lookups(me, first_day, today),
    );
    let (book, profiles, own, lookups) = (book?, profiles?, own?, lookups?);

    let known: HashSet<&String> = book.iter().collect();
    let new_numbers: Vec<String> = wanted.iter().filter(|n| !known.contains(n)).cloned().collect();
    let stale: Vec<String> =
        if reset { book.iter().filter(|n| !uploaded.contains(*n)).cloned().collect() } else { vec![] };
    let used_today = lookups.iter().filter(|(day, _)| *day == today).map(|(_, c)| c).sum::<i64>();
    let used_before = lookups.iter().filter(|(day, _)| *day != today).map(|(_, c)| c).sum::<i64>();
    let fresh = new_numbers.len() as i64;
    let over_quota = || {
        let oldest = lookups.iter().filter(|(_, c)| *c > 0).map(|(day, _)| *day).min().unwrap_or(today);
        ApiError::RateLimited { retry_after: ((oldest + quota.lookup_window_days) * DAY - now).max(1) as u64 }
    };
    if fresh > 0 && used_before + used_today + fresh > quota.lookup_budget {
        warn!(phone = %session.phone, fresh, used = used_before + used_today, "contact lookup quota exceeded");
        return Err(over_quota());
    }

    let ttl = (today + quota.lookup_window_days + 1) * DAY;
    let (charged, added, removed) = tokio::join!(
        async {
            if fresh > 0 {
                store.charge_lookups(me, today, fresh, quota.lookup_budget - used_before, ttl).await
            } else {
                Ok(true)
            }
        },
        store.add_contacts(me, &new_numbers, now),
        store.remove_contacts(me, &stale),
    );
    if !charged? {
        // A concurrent request of this user took the rest of the quota first: take our new edges back out.
        store.remove_contacts(me, &new_numbers).await?;
        return Err(over_quota());
    }
    if let Err(e) = added.and(removed) {
        // Some edges may be stored, some not: the request is safely repeatable (edges are idempotent puts), and
        // giving the charge back means the repeat pays once for the numbers that are new to it.
        if fresh > 0 && store.refund_lookups(me, today, fresh).await.is_err() {
            warn!(phone = %session.phone, "could not refund the lookup quota of a failed request");
        }
        return Err(e.into());
    }

    let mut contacts: Vec<ContactEntry> = profiles.iter().filter(|p| !p.deleted).map(user_entry).collect();
    contacts.sort_by(|a, b| a.phone.cmp(&b.phone));
    Ok((contacts, own.into_iter().next()))
}

/// No numbers: what changed since `since` among my contacts, the people who have me, and my groups.
async fn delta(
    app: &App,
    session: &Session,
    since: Timestamp,
    reset: bool,
) -> Result<(Vec<ContactEntry>, Option<ContactProfile>), ApiError> {
    let me = session.phone.e164();
    let store = &app.store;
    let (book, reverse, memberships) =
        tokio::join!(store.address_book(me), store.who_has(me, None), store.memberships_of(me));
    let (book, reverse, memberships) = (book?, reverse?, memberships?);
    let gids: Vec<u64> = memberships.iter().map(|m| m.gid).collect();
    let left: HashSet<u64> = memberships.iter().filter(|m| m.left).map(|m| m.gid).collect();

    let mut numbers: BTreeSet<String> = reverse.into_iter().collect();
    if !reset {
        numbers.extend(book.iter().cloned());
    }
    numbers.insert(me.to_owned());
    let numbers: Vec<String> = numbers.into_iter().collect();
    let (profiles, groups, cleared) = tokio::join!(store.contact_profiles(&numbers), store.groups(&gids), async {
        if reset { store.remove_contacts(me, &book).await } else { Ok(()) }
    },);
    let (profiles, groups) = (profiles?, groups?);
    cleared?;

    let wanted = |deleted: bool, updated_at: Timestamp| is_news(updated_at, deleted, since);

    let mut own = None;
    let mut contacts = vec![];
    for profile in profiles {
        if profile.e164 == me {
            own = Some(profile);
        } else if wanted(profile.deleted, profile.updated_at) {
            contacts.push(user_entry(&profile));
        }
    }
    contacts.sort_by(|a, b| a.phone.cmp(&b.phone));
    // A group I left is, for me, a deleted group.
    let groups: Vec<Group> =
        groups.into_iter().map(|g| Group { deleted: g.deleted || left.contains(&g.gid), ..g }).collect();
    let mut groups: Vec<&Group> = groups.iter().filter(|g| wanted(g.deleted, g.updated_at)).collect();
    groups.sort_by_key(|g| g.gid);
    contacts.extend(groups.into_iter().map(group_entry));
    Ok((contacts, own))
}

/// Whether a change stamped `updated_at` belongs in a delta since the cursor `since`: anything stamped after the
/// cursor less the overlap. A first sync (`since` 0) lists everything alive and has no tombstones to hear about.
pub fn is_news(updated_at: Timestamp, deleted: bool, since: Timestamp) -> bool {
    if since == 0 {
        return !deleted;
    }
    updated_at > since - DELTA_OVERLAP_SECONDS
}

fn user_entry(profile: &ContactProfile) -> ContactEntry {
    ContactEntry {
        gid: "0".into(),
        name: if profile.deleted { String::new() } else { profile.name.clone() },
        phone: profile.e164.trim_start_matches('+').to_owned(),
        status: if profile.deleted { String::new() } else { profile.status.clone() },
        photo: if profile.deleted { String::new() } else { profile.photo.clone() },
        ts: profile.updated_at.to_string(),
        members: None,
        deleted: profile.deleted.then_some("1"),
    }
}

pub(crate) fn group_entry(group: &Group) -> ContactEntry {
    ContactEntry {
        gid: group.gid.to_string(),
        name: if group.deleted { String::new() } else { group.name.clone() },
        phone: String::new(),
        status: String::new(),
        photo: if group.deleted { String::new() } else { group.photo.clone() },
        ts: group.updated_at.to_string(),
        members: Some(if group.deleted { String::new() } else { members_string(group) }),
        deleted: group.deleted.then_some("1"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// No change is ever missed: a write whose stamp lags the real time of its commit by at most the overlap
        /// (another instance's clock, SDK retries) and that commits after a sync read at `cursor` is news for the
        /// delta that starts from that cursor — and a change long before the cursor is not.
        #[test]
        fn a_change_committed_after_a_sync_is_in_the_next_delta(
            cursor in 1i64..4_000_000_000,
            committed_after in 0i64..1_000_000,
            lag in 0i64..DELTA_OVERLAP_SECONDS,
            deleted: bool,
        ) {
            let stamp = cursor + committed_after - lag;
            prop_assert!(is_news(stamp, deleted, cursor));
            prop_assert!(!is_news(cursor - DELTA_OVERLAP_SECONDS - committed_after, deleted, cursor));
        }

        #[test]
        fn a_first_sync_lists_the_living_only(updated_at in 0i64..4_000_000_000, deleted: bool) {
            prop_assert_eq!(is_news(updated_at, deleted, 0), !deleted);
        }
    }
}
