//! The contact graph: address books, who has whom, and the lookup quota.

use std::future::Future;

use super::Stored;
use crate::model::address_book::{BookEntry, ContactKey, EntryName, NamedNumber, NewEntry};
use crate::model::clock::Timestamp;
use crate::model::lookup_quota::{Charge, LookupDay};

/// The contact graph: address-book entries (named by keyed hashes, `model::address_book`), who has whom, and the
/// lookup quota.
pub trait ContactStore: Sync {
    /// Every entry of `owner`'s stored address book, of either shape.
    fn address_book(&self, owner: &str) -> impl Future<Output = Stored<Vec<BookEntry>>> + Send;
    /// How many entries `owner`'s address book holds, and when the newest was added (0: none).
    fn address_book_size(&self, owner: &str) -> impl Future<Output = Stored<(usize, Timestamp)>> + Send;

    /// Owners of the address books that hold `number` (under its key, or under the number itself in entries of the
    /// old shape), in index order, after `after` when resuming.
    fn who_has(&self, number: &NamedNumber, after: Option<&str>) -> impl Future<Output = Stored<Vec<String>>> + Send;

    /// One page of [`Self::who_has`]: at most `limit` owners after `after`, and whether more may follow.
    fn who_has_page(
        &self,
        number: &NamedNumber,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Stored<(Vec<String>, bool)>> + Send;

    /// Writes `owner`'s entries (users or not: the entries of numbers that are not users are how a later join finds
    /// its audience), replacing any of the same key.
    fn put_entries(&self, owner: &str, entries: &[NewEntry]) -> impl Future<Output = Stored<()>> + Send;

    /// Removes `owner`'s entries stored under `names` (absent ones are no error).
    fn remove_entries(&self, owner: &str, names: &[EntryName]) -> impl Future<Output = Stored<()>> + Send;

    /// Marks the entries of `key` in the address books of `owners` as a user's, `e164`, at `now`: with her number,
    /// and no expiry. An entry removed meanwhile stays removed.
    fn mark_joined(
        &self,
        owners: &[String],
        key: &ContactKey,
        e164: &str,
        now: Timestamp,
    ) -> impl Future<Output = Stored<()>> + Send;

    /// Which of `numbers` are in `owner`'s stored address book (any order; either shape).
    fn in_address_book(&self, owner: &str, numbers: &[NamedNumber])
    -> impl Future<Output = Stored<Vec<String>>> + Send;

    /// The stored days, from `first_day` to `last_day`, of the lookup quota named `quota`
    /// ([`crate::model::lookup_quota::LookupQuota::name`]): each day's count and charged tags.
    fn lookup_days(
        &self,
        quota: &str,
        first_day: i64,
        last_day: i64,
    ) -> impl Future<Output = Stored<Vec<LookupDay>>> + Send;

    /// Adds the charge's tags and their count to its day, both at once, if the day's count stays within
    /// `charge.day_limit`; false when it would not (nothing changes).
    fn charge_lookups(&self, quota: &str, charge: &Charge) -> impl Future<Output = Stored<bool>> + Send;
}

/// The backfill's view of the table: every address-book entry, page by page, and where the last run stopped.
pub trait AddressBookScan: Sync {
    /// One page of every owner's entries (at most `limit` items read), from `cursor` (`None`: the start); the next
    /// page's cursor, `None` at the end.
    fn scan_entries(&self, cursor: Option<&str>, limit: usize) -> impl Future<Output = Stored<ScannedPage>> + Send;

    /// Rewrites `owner`'s entry stored under `old` as `new`, in one step, only if it is still there (an owner's
    /// deletion, `delcontacts` or reset since the scan must not be undone). Under another name, `new` replaces the old
    /// item; if an entry of `new`'s name exists already, it is kept and the old one only removed.
    fn rewrite_entry(
        &self,
        owner: &str,
        old: &EntryName,
        new: &NewEntry,
    ) -> impl Future<Output = Stored<Rewritten>> + Send;

    fn backfill_progress(&self) -> impl Future<Output = Stored<Option<BackfillProgress>>> + Send;

    /// Saves `progress` if the stored progress is still `seen` (`None`: none stored); false if another run moved it.
    fn save_backfill_progress(
        &self,
        progress: &BackfillProgress,
        seen: Option<&BackfillProgress>,
    ) -> impl Future<Output = Stored<bool>> + Send;
}

/// What became of an entry the backfill rewrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rewritten {
    Done,
    /// Removed since it was read: left removed.
    Gone,
}

/// A page of the scan: each entry with its owner's number, and where the next page starts (`None`: the end).
#[derive(Clone, Debug, Default)]
pub struct ScannedPage {
    pub entries: Vec<(String, BookEntry)>,
    pub next: Option<String>,
}

/// Where the backfill stands: saved after every page, so a run picks up where the last one stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct BackfillProgress {
    /// The next page's start; `None` with `finished_at`: done. Never answered (it names an owner).
    #[serde(skip_serializing)]
    pub cursor: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// Entries read and rewritten, over every run of this pass.
    pub scanned: u64,
    pub rewritten: u64,
}
