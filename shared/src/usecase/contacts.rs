//! Contact discovery (`/getcontacts`): which of my address-book numbers use the app, and what changed since my last
//! sync; and `/delcontacts`.
//!
//! Every request takes at most six sequential rounds of DynamoDB calls, whatever the number of phones:
//! 1. the token;
//! 2. the person's request rate (`CONTACT_SYNCS_PER_HOUR`), before anything is read;
//! 3. in parallel: the stored address book (Query pages), the profiles of the uploaded numbers (BatchGet), my own
//!    profile and the window's days of my lookup quota — or, for a delta, my address book, who has me (GSI1), my
//!    groups (GSI1), my profile;
//! 4. the day's write allowance (`CONTACT_WRITES_PER_DAY`), only when there are entries to write or remove — or,
//!    for a delta, the profiles and groups found in round 3 (BatchGet);
//! 5. the quota charge, only when there are numbers new to the book: after the allowance, so a request it refuses
//!    is charged nothing;
//! 6. the new entries, and those rewritten (BatchWrite). After the charges, not beside them: a number in the book is
//!    free from then on, so no entry may be stored before it is paid for, whatever fails (docs/SECURITY.md).
//!
//! Until the backfill has rewritten a table's entries of the shape before keyed names, a sync that names one of
//! them again takes a seventh round: the old entry's removal, after its replacement is stored.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Serialize;
use tracing::{info, warn};

use crate::error::ApiError;
use crate::model::address_book::{BookEntry, ContactKey, EntryName, NamedNumber};
use crate::model::clock::Timestamp;
use crate::model::contact::{ContactEntry, OwnProfile, is_news};
use crate::model::group::Group;
use crate::model::links::Links;
use crate::model::lookup_quota::{LookupQuota, OverQuota};
use crate::model::measured::{self, Measured};
use crate::model::profile::ProfileRecord;
use crate::model::rate_limit::RateLimit;
use crate::usecase::ports::{ContactStore, GroupStore, Metrics, ProfileStore, RateLimitStore};
use crate::usecase::steps::session::Session;
use crate::usecase::{App, Ports};

/// Sync: with `upload`, look those numbers up; without, what changed since `since`.
#[derive(Debug)]
pub struct SyncContacts {
    /// The cursor of the last sync (0: the first).
    pub since: Timestamp,
    /// Replace the stored address book with `upload` (or clear it).
    pub reset: bool,
    pub upload: Upload,
    /// The deployment's URLs, as this request reached it.
    pub links: Links,
}

/// Uploaded numbers: valid ones normalised to E.164 and de-duplicated, the caller's own dropped, invalid ones counted.
#[derive(Debug, Default)]
pub struct Upload {
    pub numbers: BTreeSet<String>,
    pub invalid: usize,
}

/// Remove numbers (E.164, de-duplicated) from the caller's stored address book.
#[derive(Debug)]
pub struct DeleteContacts {
    pub numbers: Vec<String>,
    pub invalid: usize,
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

#[derive(Debug, Serialize)]
pub struct DelContactsReply {
    pub removed: usize,
    pub invalid: usize,
}

pub async fn sync(
    app: &App<impl Ports>,
    session: &Session,
    command: SyncContacts,
    now: Timestamp,
) -> Result<ContactsReply, ApiError> {
    let SyncContacts { since, reset, upload, links } = command;
    take_sync(app, session, now).await?;
    let (contacts, own) = if upload.numbers.is_empty() {
        delta(app, session, since, reset, now).await?
    } else {
        lookup(app, session, &upload.numbers, reset, now).await?
    };
    let own = own.filter(|p| !p.deleted).ok_or(ApiError::AuthFail)?;
    let mut contacts = contacts;
    within_thumbnail_budget(&mut contacts);
    info!(phone = %session.phone, uploaded = upload.numbers.len(), invalid = upload.invalid, returned = contacts.len(), "contacts synced");
    Ok(ContactsReply { contacts, u: OwnProfile::of(&session.phone, own), invalid: upload.invalid, links })
}

/// Thumbnails in one reply, in bytes: a reply must fit Lambda's 6 MB, and mesibo's apps ask in batches of 100–200
/// numbers, which stay far below. Past it, entries carry their photo's name only (the app downloads it).
const THUMBNAILS_PER_REPLY_BYTES: usize = 1024 * 1024;

fn within_thumbnail_budget(contacts: &mut [ContactEntry]) {
    let mut spent = 0;
    for entry in contacts {
        spent += entry.tn.len();
        if spent > THUMBNAILS_PER_REPLY_BYTES {
            entry.tn.clear();
        }
    }
}

/// `/delcontacts`: removes numbers from the caller's stored address book.
pub async fn delete_contacts(
    app: &App<impl Ports>,
    session: &Session,
    command: DeleteContacts,
    now: Timestamp,
) -> Result<DelContactsReply, ApiError> {
    take_sync(app, session, now).await?;
    take_writes(app, session, command.numbers.len(), now).await?;
    let secret = &app.config.otp_secret;
    let names: Vec<EntryName> =
        command.numbers.iter().flat_map(|number| NamedNumber::new(secret, number).names()).collect();
    app.store.remove_entries(session.phone.e164(), &names).await?;
    Ok(DelContactsReply { removed: command.numbers.len(), invalid: command.invalid })
}

/// Uploaded numbers: store every one as an entry (under its keyed name), answer with the registered ones in full.
/// The quota charges the numbers that are neither in the stored address book nor charged within its window
/// (`model::lookup_quota`). Entries named again are rewritten only when they must be ([`crate::model::address_book::Retention::resync_rewrites`]):
/// a user joined or left, the expiry is a week behind, or the entry is of the shape before keyed names.
async fn lookup(
    app: &App<impl Ports>,
    session: &Session,
    uploaded: &BTreeSet<String>,
    reset: bool,
    now: Timestamp,
) -> Result<(Vec<ContactEntry>, Option<ProfileRecord>), ApiError> {
    let me = session.phone.e164();
    let store = &app.store;
    let (settings, secret) = (&app.config.contacts, &app.config.otp_secret);
    let quota = LookupQuota::new(secret, me, settings.lookup_budget, settings.lookup_window_days);
    let (first_day, today) = quota.window(now);
    let wanted: Vec<String> = uploaded.iter().cloned().collect();
    let own_number = [me.to_owned()];
    let (book, profiles, own, days) = tokio::join!(
        store.address_book(me),
        store.profile_records(&wanted),
        store.profile_records(&own_number),
        store.lookup_days(quota.name(), first_day, today),
    );
    let (book, profiles, own, days) = (book?, profiles?, own?, days?);

    let users: HashSet<&str> = profiles.iter().filter(|p| !p.deleted).map(|p| p.e164.as_str()).collect();
    let mut stored: HashMap<ContactKey, Vec<&BookEntry>> = HashMap::new();
    for entry in &book {
        stored.entry(entry.key(secret)).or_default().push(entry);
    }
    let keys: Vec<(&String, ContactKey)> =
        wanted.iter().map(|number| (number, ContactKey::of(secret, number))).collect();
    let new_numbers: Vec<String> =
        keys.iter().filter(|(_, key)| !stored.contains_key(key)).map(|(number, _)| (*number).clone()).collect();
    let named: HashSet<&ContactKey> = keys.iter().map(|(_, key)| key).collect();
    let stale: Vec<EntryName> = match reset {
        true => book.iter().filter(|e| !named.contains(&e.key(secret))).map(|e| e.name.clone()).collect(),
        false => vec![],
    };
    let over_quota = |over: OverQuota| {
        warn!(phone = %session.phone, fresh = over.fresh, used = over.used, "contact lookup quota exceeded");
        app.limit_hit(measured::LOOKUP_QUOTA, now);
        ApiError::RateLimited { retry_after: over.retry_after }
    };
    let charge = quota.charge(&days, &new_numbers, now).map_err(over_quota)?;

    // Entries to write: the new ones, and those named again that must be rewritten (with the old shapes they
    // replace, removed once the new ones are stored, so that no entry is ever missing).
    let retention = settings.retention;
    let mut writes = vec![];
    let mut replaced = vec![];
    for (number, key) in keys {
        let user = users.contains(number.as_str()).then_some(number.as_str());
        match stored.get(&key) {
            None => writes.push(retention.entry(key, user, now, now)),
            Some(entries)
                if entries.iter().any(|e| e.named_otherwise(&key) || retention.resync_rewrites(e, user, now)) =>
            {
                let added_at = entries.iter().map(|e| e.added_at).min().unwrap_or(now);
                replaced.extend(entries.iter().filter(|e| e.named_otherwise(&key)).map(|e| e.name.clone()));
                writes.push(retention.entry(key, user, added_at, now));
            }
            Some(_) => {}
        }
    }

    // The day's write allowance, then the quota charge, then the entries. A number in the book is free from then
    // on, so no entry may be stored that was not paid for; a request the allowance refuses is charged nothing. A
    // failure after the charge keeps it, and the repeated request is not charged again for the numbers it already
    // paid for (each is charged once per window). Rewrites of entries already paid for are not counted: each is
    // rewritten at most once a refresh step.
    take_writes(app, session, new_numbers.len() + stale.len(), now).await?;
    if let Some(charge) = &charge {
        if !store.charge_lookups(quota.name(), charge).await? {
            // A concurrent request of this user took the rest of the quota first.
            return Err(over_quota(quota.lost(&days, charge, now)));
        }
        app.metrics.record(Measured::LookupsCharged { numbers: charge.count() as u64 }, now);
    }
    let (added, removed) = tokio::join!(store.put_entries(me, &writes), store.remove_entries(me, &stale));
    added.and(removed)?;
    if !replaced.is_empty() {
        store.remove_entries(me, &replaced).await?;
    }

    let mut contacts: Vec<ContactEntry> = profiles.iter().filter(|p| !p.deleted).map(ContactEntry::user).collect();
    contacts.sort_by(|a, b| a.phone.cmp(&b.phone));
    Ok((contacts, own.into_iter().next()))
}

/// No numbers: what changed since `since` among my contacts, the people who have me, and my groups.
async fn delta(
    app: &App<impl Ports>,
    session: &Session,
    since: Timestamp,
    reset: bool,
    now: Timestamp,
) -> Result<(Vec<ContactEntry>, Option<ProfileRecord>), ApiError> {
    let me = session.phone.e164();
    let store = &app.store;
    let own = NamedNumber::new(&app.config.otp_secret, me);
    let (book, reverse, memberships) =
        tokio::join!(store.address_book(me), store.who_has(&own, None), store.memberships_of(me));
    let (book, reverse, memberships) = (book?, reverse?, memberships?);
    if reset {
        take_writes(app, session, book.len(), now).await?;
    }
    let gids: Vec<u64> = memberships.iter().map(|m| m.gid).collect();
    let left: HashSet<u64> = memberships.iter().filter(|m| m.left).map(|m| m.gid).collect();

    let mut numbers: BTreeSet<String> = reverse.into_iter().collect();
    if !reset {
        // The users among my contacts: a non-user's entry does not say her number, and has no profile to tell.
        numbers.extend(book.iter().filter_map(BookEntry::number).map(str::to_owned));
    }
    numbers.insert(me.to_owned());
    let numbers: Vec<String> = numbers.into_iter().collect();
    let (profiles, groups, cleared) = tokio::join!(store.profile_records(&numbers), store.groups(&gids), async {
        let names: Vec<EntryName> = book.iter().map(|e| e.name.clone()).collect();
        if reset { store.remove_entries(me, &names).await } else { Ok(()) }
    },);
    let (profiles, groups) = (profiles?, groups?);
    cleared?;

    let wanted = |deleted: bool, updated_at: Timestamp| is_news(updated_at, deleted, since);

    // A contact who joined after she was stored is news from when the notifier marked her entry, if that is later.
    let joined: HashMap<&str, Timestamp> = book.iter().filter_map(|e| Some((e.number()?, e.joined_at?))).collect();
    let mut own = None;
    let mut contacts = vec![];
    for profile in profiles {
        let changed = profile.updated_at.max(joined.get(profile.e164.as_str()).copied().unwrap_or(0));
        if profile.e164 == me {
            own = Some(profile);
        } else if wanted(profile.deleted, changed) {
            contacts.push(ContactEntry::user(&profile));
        }
    }
    contacts.sort_by(|a, b| a.phone.cmp(&b.phone));
    // A group I left is, for me, a deleted group.
    let groups: Vec<Group> =
        groups.into_iter().map(|g| Group { deleted: g.deleted || left.contains(&g.gid), ..g }).collect();
    let mut groups: Vec<&Group> = groups.iter().filter(|g| wanted(g.deleted, g.updated_at)).collect();
    groups.sort_by_key(|g| g.gid);
    contacts.extend(groups.into_iter().map(ContactEntry::group));
    Ok((contacts, own))
}

/// Address-book entries about to be written (`CONTACT_WRITES_PER_DAY`), taken before they are. A request larger
/// than the whole allowance passes only on a day nothing else was written (it takes the whole allowance): an address
/// book can always be replaced, once a day.
async fn take_writes(app: &App<impl Ports>, session: &Session, entries: usize, now: Timestamp) -> Result<(), ApiError> {
    let limit = RateLimit::contact_writes(&app.config.abuse, &app.config.otp_secret, &session.phone);
    let amount = (entries as i64).min(limit.max);
    take_limit(app, session, limit, amount, now).await
}

/// Takes `amount` of `limit`: 429 `RATELIMIT` (retry when its window ends) if that would pass it.
async fn take_limit(
    app: &App<impl Ports>,
    session: &Session,
    limit: RateLimit,
    amount: i64,
    now: Timestamp,
) -> Result<(), ApiError> {
    if app.store.take_amounts(&[(limit.clone(), amount)], now).await? {
        return Ok(());
    }
    app.limit_hit(limit.kind(), now);
    warn!(phone = %session.phone, limit = limit.kind(), "address-book limit reached");
    Err(ApiError::RateLimited { retry_after: limit.retry_after(now) })
}

/// A `getcontacts` or `delcontacts` request (`CONTACT_SYNCS_PER_HOUR`), taken before anything is read.
async fn take_sync(app: &App<impl Ports>, session: &Session, now: Timestamp) -> Result<(), ApiError> {
    let limit = RateLimit::contact_syncs(&app.config.abuse, &app.config.otp_secret, &session.phone);
    take_limit(app, session, limit, 1, now).await
}
