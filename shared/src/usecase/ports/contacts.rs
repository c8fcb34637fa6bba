//! The contact graph: address books, who has whom, and the lookup quota.

use std::future::Future;

use super::Stored;
use crate::model::clock::Timestamp;
use crate::model::lookup_quota::{Charge, LookupDay};

/// The contact graph: address-book edges, who has whom, and the lookup quota.
pub trait ContactStore: Sync {
    /// The E.164 numbers in `owner`'s stored address book.
    fn address_book(&self, owner: &str) -> impl Future<Output = Stored<Vec<String>>> + Send;
    /// How many entries `owner`'s address book holds, and when the newest was added (0: none).
    fn address_book_size(&self, owner: &str) -> impl Future<Output = Stored<(usize, Timestamp)>> + Send;

    /// Owners of the address books that hold `number`, in index order, after `after` when resuming.
    fn who_has(&self, number: &str, after: Option<&str>) -> impl Future<Output = Stored<Vec<String>>> + Send;

    /// One page of [`Self::who_has`]: at most `limit` owners after `after`, and whether more may follow.
    fn who_has_page(
        &self,
        number: &str,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Stored<(Vec<String>, bool)>> + Send;

    /// Adds edges owner → number (registered or not: they are how a later join finds its audience).
    fn add_contacts(&self, owner: &str, numbers: &[String], now: Timestamp) -> impl Future<Output = Stored<()>> + Send;

    fn remove_contacts(&self, owner: &str, numbers: &[String]) -> impl Future<Output = Stored<()>> + Send;

    /// Which of `numbers` are in `owner`'s stored address book (any order).
    fn in_address_book(&self, owner: &str, numbers: &[String]) -> impl Future<Output = Stored<Vec<String>>> + Send;

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
