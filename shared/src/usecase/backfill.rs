//! The backfill: rewrites every address-book entry into the shape it should have now (`model::address_book`), page
//! by page, saving where it stands after each page. An operator invokes it after deploying a version that names
//! entries by keyed hashes (README, "Upgrading: the address-book backfill"); it also gives expiry to the entries of
//! non-users written while retention was off, takes a number that is no user any more out of her entries, and
//! renames users' entries after a change of the deployment secret (docs/PRIVACY.md, "The hashing key").
//!
//! Resumable: a run works until its deadline, then returns; the next run resumes after the last saved page. A page
//! worked twice (a run that died before saving it) is rewritten to the same result; two runs at once are told apart
//! by the progress they saved, and the later stops. Live syncs go on meanwhile: reads accept both shapes, each entry
//! is rewritten in one conditional step (a new name replaces the old in one transaction), and an entry removed since
//! the scan read it (a deletion, `delcontacts`, a reset) stays removed.

use std::collections::{BTreeSet, HashSet};
use std::time::Instant;

use futures::{StreamExt, TryStreamExt, stream};
use serde::Serialize;
use tracing::info;

use crate::model::address_book::{BookEntry, EntryName, NewEntry};
use crate::model::clock::Timestamp;
use crate::usecase::ports::{
    AddressBookScan, BackfillProgress, ProfileStore, Rewritten, ScannedPage, StoreUnavailable,
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
    /// Another run saved a page while this one worked: it stopped, and the other goes on.
    pub busy: bool,
    #[serde(flatten)]
    pub progress: BackfillProgress,
}

/// Items read per page (a Scan page stops at 1 MB before that).
pub const PAGE_ITEMS: usize = 1_000;
/// Entries rewritten at once (each one conditional write or transaction).
const REWRITES_AT_ONCE: usize = 16;

pub async fn backfill(app: &App<impl Ports>, command: Backfill) -> Result<BackfillReport, StoreUnavailable> {
    let store = &app.store;
    let now = app.clock.now();
    let mut seen = store.backfill_progress().await?;
    let mut progress = match &seen {
        Some(progress) if !(command.restart && progress.finished_at.is_some()) => progress.clone(),
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
        if !store.save_backfill_progress(&progress, seen.as_ref()).await? {
            // Another run saved a page since this one read where things stood: it goes on, this one stops (its
            // page was rewritten to the same result, so nothing is lost).
            info!("another backfill run is at work: this one stops");
            return Ok(BackfillReport { done: false, busy: true, progress });
        }
        seen = Some(progress.clone());
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
    Ok(BackfillReport { done: progress.finished_at.is_some(), busy: false, progress })
}

/// Rewrites the entries of a page that must be (`Retention::backfill_rewrites`), each in one conditional step;
/// returns how many were.
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

    let rewrites: Vec<(&str, &EntryName, NewEntry)> = entries
        .iter()
        .filter_map(|(owner, entry)| {
            let user = entry.number().filter(|number| users.contains(*number));
            retention
                .backfill_rewrites(secret, entry, user)
                .then(|| (owner.as_str(), &entry.name, retention.entry(entry.key(secret), user, entry.added_at, now)))
        })
        .collect();
    let done: Vec<Rewritten> = stream::iter(rewrites)
        .map(|(owner, old, new)| async move { app.store.rewrite_entry(owner, old, &new).await })
        .buffer_unordered(REWRITES_AT_ONCE)
        .try_collect()
        .await?;
    Ok(done.iter().filter(|r| **r == Rewritten::Done).count())
}
