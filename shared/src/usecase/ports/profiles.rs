//! Profiles and tombstones: what a person shows their contacts, and what is left when they go.

use std::future::Future;

use super::Stored;
use crate::model::clock::Timestamp;
use crate::model::phone::PhoneNumber;
use crate::model::profile::{Profile, ProfileRecord, ShownPhoto};

/// Profiles read in bulk are fetched this many at a time (DynamoDB BatchGetItem's limit).
pub const PROFILES_PER_READ: usize = 100;

/// Profiles, tombstones, and whatever else is kept under a person.
pub trait ProfileStore: Sync {
    /// The live profile (a deleted account's tombstone is none: signing up again starts afresh).
    fn profile(&self, phone: &PhoneNumber) -> impl Future<Output = Stored<Option<Profile>>> + Send;

    /// Changes what contacts see and moves `updated_at`; `None` if there is no live profile.
    fn update_profile(
        &self,
        phone: &PhoneNumber,
        name: Option<&str>,
        status: Option<&str>,
        photo: Option<&ShownPhoto>,
        now: Timestamp,
    ) -> impl Future<Output = Stored<Option<ProfileRecord>>> + Send;

    /// Notes that every token of the person was revoked (mesibo mode: the stream then ends them at mesibo too).
    fn mark_signed_out(&self, phone: &PhoneNumber, now: Timestamp) -> impl Future<Output = Stored<()>> + Send;

    /// Notes that mesibo has been told of the person's deletion or sign-out at `at` (see
    /// `ProfileRecord::mesibo_cleanup_due`); never moves the note back.
    fn confirm_mesibo_cleanup(&self, e164: &str, at: Timestamp) -> impl Future<Output = Stored<()>> + Send;

    /// Replaces the profile by a tombstone: the number and when it went, nothing else (mesibo's user deletion names
    /// the user by address).
    fn tombstone_profile(&self, phone: &PhoneNumber, now: Timestamp) -> impl Future<Output = Stored<()>> + Send;

    /// The number's whole record, live or a tombstone, with what is kept beside the profile (push endpoints,
    /// mesibo's id, sign-out notes).
    fn profile_record(&self, e164: &str) -> impl Future<Output = Stored<Option<ProfileRecord>>> + Send;

    /// Records (profiles and tombstones) of whichever of `numbers` have one, read in bulk; any order.
    fn profile_records(&self, numbers: &[String]) -> impl Future<Output = Stored<Vec<ProfileRecord>>> + Send;

    /// The number's profile (or tombstone) as it is now, read strongly consistent: for work that must neither act on
    /// an account deleted a moment ago nor miss one created a moment ago.
    fn profile_now(&self, e164: &str) -> impl Future<Output = Stored<Option<ProfileRecord>>> + Send;

    /// Everything else kept under the person (code and send state, push devices) and their notification progress;
    /// not the profile and address book, and not the lookup quota, which is not the account's (it outlives the
    /// account, so deleting and signing up again does not reset it). How many items went.
    fn delete_personal_items(&self, phone: &PhoneNumber) -> impl Future<Output = Stored<usize>> + Send;
}
