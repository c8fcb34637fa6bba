//! One-time codes: the pending code of a number, its attempts and its sends.

use std::future::Future;

use super::{StoreUnavailable, Stored};
use crate::model::clock::Timestamp;
use crate::model::code::{CodeRecord, CodeSlot, NewCode, ReservedAttempt};
use crate::model::rate_limit::RateLimit;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PutCodeError {
    #[error("another code was issued concurrently")]
    Conflict,
    /// The limit at this index of the ones given is reached.
    #[error("a limit is reached")]
    Limited(usize),
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReserveError {
    #[error("no code is pending")]
    NoCode,
    #[error("the code expired")]
    Expired,
    #[error("all attempts are spent")]
    Exhausted { next_send_at: Timestamp },
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

/// One-time codes: issued, guessed, withdrawn, spent.
pub trait CodeStore: Sync {
    fn code_record(&self, slot: &CodeSlot) -> impl Future<Output = Stored<Option<CodeRecord>>> + Send;

    /// Replaces any previous code (and resets its attempts) if nobody else did since `previous` was read, and counts
    /// the send against `limits` — all at once: a send over any limit stores no code and counts nothing, and a
    /// stored code has always been counted.
    fn put_code(
        &self,
        slot: &CodeSlot,
        code: &NewCode,
        previous: Option<&CodeRecord>,
        limits: &[RateLimit],
        now: Timestamp,
    ) -> impl Future<Output = Result<(), PutCodeError>> + Send;

    /// Makes the code issued at `issued_at` unusable (its SMS could not be sent). Keeps the send state.
    fn withdraw_code(&self, slot: &CodeSlot, issued_at: Timestamp) -> impl Future<Output = Stored<()>> + Send;

    /// Counts one attempt against the pending code, atomically, and returns the code's digest to compare against.
    fn reserve_attempt(
        &self,
        slot: &CodeSlot,
        now: Timestamp,
        max_attempts: u32,
    ) -> impl Future<Output = Result<ReservedAttempt, ReserveError>> + Send;

    /// Gives back an attempt whose code was right but whose sign-in could not finish (mesibo failed): the person
    /// retries with the same code, as many times as the outage lasts. Only while that code is still pending.
    fn release_attempt(&self, slot: &CodeSlot, attempt: &ReservedAttempt) -> impl Future<Output = Stored<()>> + Send;

    /// Spends the pending code (re-authentication for a sensitive operation): it works once.
    fn consume_code(
        &self,
        slot: &CodeSlot,
        attempt: &ReservedAttempt,
        now: Timestamp,
    ) -> impl Future<Output = Stored<bool>> + Send;
}
