//! The sign-in transaction: a right code consumed, the token stored and, on a first sign-in, the profile created.

use std::future::Future;

use super::StoreUnavailable;
use crate::model::clock::Timestamp;
use crate::model::code::{CodeSlot, ReservedAttempt};
use crate::model::phone::PhoneNumber;
use crate::model::profile::Profile;
use crate::model::secrets::TokenHash;

/// A sign-in, written at once: the code consumed, the token stored, on a first sign-in the profile created.
pub struct SignIn<'a> {
    pub phone: &'a PhoneNumber,
    pub code: &'a CodeSlot,
    pub attempt: &'a ReservedAttempt,
    pub token: &'a TokenHash,
    pub token_expires_at: Timestamp,
    pub now: Timestamp,
    /// `Some` for a first sign-in: the profile to create. `None`: the profile must still exist.
    pub new_profile: Option<&'a Profile>,
    /// mesibo mode: the session number this sign-in claimed (`TokenStore::claim_session`) and its claim, which the
    /// token is bound to only if the claim still holds it.
    pub session: Option<(u32, &'a str)>,
    /// mesibo's id of the user, to keep on an existing profile that lacks it (a new profile carries its own).
    pub set_mesibo_uid: Option<u64>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    #[error("the code was used or replaced meanwhile")]
    CodeGone,
    #[error("the profile was created or deleted meanwhile")]
    ProfileChanged,
    #[error("another sign-in took the session number meanwhile")]
    SessionTaken,
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

/// Where a sign-in is written.
pub trait SignInStore: Sync {
    /// Code consumed, token stored and, on a first sign-in, profile created: all of it or none, and a code can be
    /// consumed once only however many requests race for it.
    fn sign_in(&self, sign_in: SignIn<'_>) -> impl Future<Output = Result<(), SignInError>> + Send;
}
