//! The backfill: rewrites every address-book entry into the shape it should have now (`model::address_book`), page
//! by page, saving where it stands after each page. An operator invokes it after deploying a version that names
//! entries by keyed hashes (README, "Upgrading: the address-book backfill"); it also gives expiry to the entries of
//! non-users written while retention was off, takes a number that is no user any more out of her entries, and
//! renames users' entries after a change of the deployment secret (docs/PRIVACY.md, "The hashing key").
//!
//! Resumable: a run works until its deadline, then returns; the next run resumes after the last saved page. A page
//! worked twice (a run that died before saving it) is rewritten to the same result. Live syncs go on meanwhile:
//! reads accept both shapes, and a new entry is stored before the old one is removed, so none is ever missing.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Instant;

use futures::{StreamExt, TryStreamExt, stream};
use serde::Serialize;
use tracing::info;

use crate::model::address_book::{BookEntry, ContactKey, EntryName, NewEntry};
use crate::model::clock::Timestamp;
use crate::usecase::ports::{
    AddressBookScan, BackfillProgress, ContactStore, ProfileStore, ScannedPage, StoreUnavailable,
};
use crate::usecase::{App, Ports};

/// Run the backfill until `until` (at least one page), resuming the pass under way.
#[derive(Debug)]
pub struct Backfill {
    pub until: Instant,
    /// Start a new pass over the table even if the last one finished (after a change of the secret or of
    /// `NONUSER_CONTACT_DAYS`).
    pub restart: bool,
    /// Items read per page ([`PAGE_ITEMS`] deployed).
    pub page_items: usize,
}

/// What a run answers: whether the pass is done (the whole table read since it began), and its counts.
#[derive(Debug, Serialize)]
pub struct BackfillReport {
    pub done: bool,
    #[serde(flatten)]
    pub progress: BackfillProgress,
}

/// Items read per page (a Scan page stops at 1 MB before that).
pub const PAGE_ITEMS: usize = 1_000;
/// Owners whose entries are rewritten at once.
const OWNERS_AT_ONCE: usize = 8;

pub async fn backfill(app: &App<impl Ports>, command: Backfill) -> Result<BackfillReport, StoreUnavailable> {
    let store = &app.store;
    let now = app.clock.now();
    let mut progress = match store.backfill_progress().await? {
        Some(progress) if !(command.restart && progress.finished_at.is_some()) => progress,
        _ => BackfillProgress { started_at: now, ..BackfillProgress::default() },
    };
    while progress.finished_at.is_none() {
        let ScannedPage { entries, next } = store.scan_entries(progress.cursor.as_deref(), command.page_items).await?;
        progress.rewritten += rewrite(app, &entries, app.clock.now()).await? as u64;
        progress.scanned += entries.len() as u64;
        progress.cursor = next;
        if progress.cursor.is_none() {
            progress.finished_at = Some(app.clock.now());
        }
        store.save_backfill_progress(&progress).await?;
        info!(
            scanned = progress.scanned,
            rewritten = progress.rewritten,
            done = progress.cursor.is_none(),
            "backfill page"
        );
        if Instant::now() >= command.until {
            break;
        }
    }
    Ok(BackfillReport { done: progress.finished_at.is_some(), progress })
}

/// Rewrites the entries of a page that must be (`Retention::backfill_rewrites`); returns how many.
async fn rewrite(
    app: &App<impl Ports>,
    entries: &[(String, BookEntry)],
    now: Timestamp,
) -> Result<usize, StoreUnavailable> {
    let (secret, retention) = (&app.config.otp_secret, app.config.contacts.retention);
    let named: BTreeSet<String> = entries.iter().filter_map(|(_, e)| e.number()).map(str::to_owned).collect();
    let named: Vec<String> = named.into_iter().collect();
    let profiles = app.store.profile_records(&named).await?;
    let users: HashSet<String> = profiles.into_iter().filter(|p| !p.deleted).map(|p| p.e164).collect();

    // One entry per key: both shapes of a number may be in a page (a sync replacing one meanwhile).
    let mut by_owner: BTreeMap<&str, (BTreeMap<ContactKey, NewEntry>, Vec<EntryName>)> = BTreeMap::new();
    for (owner, entry) in entries {
        let user = entry.number().filter(|number| users.contains(*number));
        if !retention.backfill_rewrites(secret, entry, user) {
            continue;
        }
        let key = entry.number().map_or_else(|| entry.key(secret), |number| ContactKey::of(secret, number));
        let (puts, removals) = by_owner.entry(owner).or_default();
        if entry.name != EntryName::Keyed(key.clone()) {
            removals.push(entry.name.clone());
        }
        puts.insert(key.clone(), retention.entry(key, user, entry.added_at, now));
    }
    let rewritten = by_owner.values().map(|(puts, _)| puts.len()).sum();
    stream::iter(by_owner)
        .map(|(owner, (puts, removals))| async move {
            // The new entry first: the old one goes only once it is stored.
            let puts: Vec<NewEntry> = puts.into_values().collect();
            app.store.put_entries(owner, &puts).await?;
            app.store.remove_entries(owner, &removals).await
        })
        .buffer_unordered(OWNERS_AT_ONCE)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(rewritten)
}
