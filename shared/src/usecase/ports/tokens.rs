//! Access tokens and mesibo session numbers.

use std::future::Future;

use super::Stored;
use crate::model::clock::Timestamp;
use crate::model::phone::PhoneNumber;
use crate::model::secrets::TokenHash;
use crate::model::sessions::SessionSlot;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub phone: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    /// mesibo mode: the device's session number at mesibo (none on tokens of standalone mode, or from before).
    pub session: Option<u32>,
}

/// A sign-in's claim on a session number (`model::sessions`).
#[derive(Debug, Clone)]
pub struct SessionClaim<'a> {
    pub number: u32,
    /// Random, the sign-in's own: the token is bound to the number only while it holds it.
    pub claim: &'a str,
    /// The slot as read, when the number was taken before: taken only if it is unchanged since.
    pub replacing: Option<&'a SessionSlot>,
    /// The token of a device signed out to make room: revoked with the claim.
    pub evicted: Option<TokenHash>,
}

/// Access tokens, by hash.
pub trait TokenStore: Sync {
    /// The token's record, if it exists. Expiry is for the caller to judge.
    fn token(&self, token: &TokenHash) -> impl Future<Output = Stored<Option<TokenRecord>>> + Send;

    fn tokens_of(&self, phone: &PhoneNumber) -> impl Future<Output = Stored<Vec<TokenHash>>> + Send;

    /// A revoked token is an unknown token from then on.
    fn revoke_tokens(&self, hashes: &[TokenHash]) -> impl Future<Output = Stored<()>> + Send;

    /// The person's mesibo session numbers as taken now (read consistently).
    fn sessions(&self, phone: &PhoneNumber) -> impl Future<Output = Stored<Vec<SessionSlot>>> + Send;

    /// Takes a session number for a sign-in, with the evicted device's token if any; `false`: another sign-in took
    /// it since it was read.
    fn claim_session(
        &self,
        phone: &PhoneNumber,
        claim: &SessionClaim<'_>,
        now: Timestamp,
    ) -> impl Future<Output = Stored<bool>> + Send;

    /// Gives back a number this sign-in claimed but did not bind a token to (it failed), as stale (mesibo may hold a
    /// token for it): only while the claim is still the one named. `false`: another sign-in holds it by now.
    fn abandon_claim(&self, phone: &PhoneNumber, number: u32, claim: &str)
    -> impl Future<Output = Stored<bool>> + Send;

    /// Gives session numbers back (logout): each only while the token bound to it is the one named; `None`: every
    /// number of the person.
    fn release_sessions(
        &self,
        phone: &PhoneNumber,
        sessions: Option<&[(u32, TokenHash)]>,
    ) -> impl Future<Output = Stored<()>> + Send;
}
