//! Devices registered for push, and who owns each device token.

use std::future::Future;

use super::{StoreUnavailable, Stored};
use crate::model::clock::Timestamp;
use crate::model::devices::RegisteredDevice;

/// A device registered for push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device<'a> {
    pub platform: &'a str,
    /// The device token's fingerprint: its identity in the store.
    pub token_digest: &'a str,
    pub notify_token: &'a str,
    /// The SNS platform endpoint, when a platform application is configured.
    pub endpoint: Option<&'a str>,
    /// The hash of the access token it was registered with.
    pub registered_with: &'a str,
}

/// A person's devices, and the version of the list they were read at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceList {
    pub devices: Vec<RegisteredDevice>,
    pub version: i64,
    /// The person has a live profile (not none, not a tombstone): only then can the list change.
    pub live: bool,
}

/// One change of a person's devices, written only if the list is still at `version`.
#[derive(Debug, Clone)]
pub struct DeviceChange<'a> {
    pub version: i64,
    pub add: Option<Device<'a>>,
    /// Token digests of the devices that go.
    pub remove: Vec<&'a str>,
    /// The endpoints of every device there afterwards: the profile's copy, which the notifier reads.
    pub endpoints: Vec<String>,
    pub now: Timestamp,
}

/// Devices removed in one change at most (a DynamoDB transaction holds 100 writes; a longer list from before the
/// limit is shortened over several changes).
pub const DEVICE_REMOVALS_PER_CHANGE: usize = 50;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChangeDevicesError {
    #[error("the devices changed since they were read, or the profile is gone")]
    Conflict,
    /// A device is added only while the token registering it is live: a logout that revoked it meanwhile wins.
    #[error("the token registering the device was revoked")]
    SignedOut,
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

/// Devices registered for push.
pub trait DeviceStore: Sync {
    /// The person's devices, read consistently after the version, so a change written against that version
    /// cannot be based on a list older than it.
    fn devices(&self, owner: &str) -> impl Future<Output = Stored<DeviceList>> + Send;

    /// Adds and removes devices and rewrites the profile's endpoints (where the notifier finds them with the
    /// profile it reads anyway), all at once, if the list is still at `change.version` and the profile live.
    fn change_devices(
        &self,
        owner: &str,
        change: DeviceChange<'_>,
    ) -> impl Future<Output = Result<(), ChangeDevicesError>> + Send;

    /// Makes `owner` the one owner of a device token (by its digest): the previous owner, if another.
    fn own_device_token(&self, digest: &str, owner: &str) -> impl Future<Output = Stored<Option<String>>> + Send;

    /// Makes `previous` the owner of a device token again, if `owner` still is (a move that could not be finished).
    fn return_device_token(&self, digest: &str, owner: &str, previous: &str)
    -> impl Future<Output = Stored<()>> + Send;

    /// Gives up `owner`'s ownership of a device token: `false` if someone else owns it now (then its endpoint is
    /// theirs, not to be deleted).
    fn disown_device_token(&self, digest: &str, owner: &str) -> impl Future<Output = Stored<bool>> + Send;
}
