//! The abuse limits' counters.

use std::future::Future;

use super::{StoreUnavailable, Stored};
use crate::model::clock::Timestamp;
use crate::model::rate_limit::RateLimit;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TakeAllError {
    /// The enforced limit at this index is reached.
    #[error("a limit is reached")]
    Reached(usize),
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

/// Counters of the abuse limits. A split limit (`shards` > 1: the SMS limits) is counted only where a code is
/// stored ([`CodeStore::put_code`]) and read by [`RateLimitStore::used`]; the others here take limits of one item.
pub trait RateLimitStore: Sync {
    /// Counts one more, if that stays within the limit. False: the limit is reached (nothing was counted).
    fn take(&self, limit: &RateLimit, now: Timestamp) -> impl Future<Output = Stored<bool>> + Send;

    /// Counts one more against every limit at once, before the work they guard: `enforced` ones only if that stays
    /// within each, `counted` ones without a ceiling. Refused or failed, nothing stays counted.
    fn take_all(
        &self,
        enforced: &[RateLimit],
        counted: &[RateLimit],
        now: Timestamp,
    ) -> impl Future<Output = Result<(), TakeAllError>> + Send;

    /// Gives back what a request took at `taken_at` whose outcome turned out legitimate (a right code).
    fn give_back(&self, limits: &[RateLimit], taken_at: Timestamp) -> impl Future<Output = Stored<()>> + Send;

    /// How many were counted in the current window.
    fn used(&self, limit: &RateLimit, now: Timestamp) -> impl Future<Output = Stored<i64>> + Send;

    /// Counts each limit's amount, all or none at once: only if every one stays within its limit. False: some limit
    /// would be passed (nothing was counted).
    fn take_amounts(&self, takes: &[(RateLimit, i64)], now: Timestamp) -> impl Future<Output = Stored<bool>> + Send;

    /// True for exactly one caller per window: lets a flood of rejections log one line, not one per request.
    fn first_in_window(&self, limit: &RateLimit, now: Timestamp) -> impl Future<Output = Stored<bool>> + Send;
}
