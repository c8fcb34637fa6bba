//! Direct uploads started and not yet stored.

use std::future::Future;

use super::Stored;
use crate::model::clock::Timestamp;
use crate::model::phone::PhoneNumber;

/// Direct uploads started and not yet stored, each bound to the account that was charged for it.
pub trait PendingUploadStore: Sync {
    /// Records an upload `owner` started (and was charged for), until `expires_at`.
    fn hold_upload(
        &self,
        upload: &str,
        owner: &PhoneNumber,
        expires_at: Timestamp,
    ) -> impl Future<Output = Stored<()>> + Send;

    /// Takes the upload for `owner`, atomically, and tells until when it was held: `None` if there is none (or it
    /// expired), it is someone else's, or another request took it first. Whoever took it either stores it or gives
    /// it back with [`Self::hold_upload`].
    fn take_upload_hold(
        &self,
        upload: &str,
        owner: &PhoneNumber,
        now: Timestamp,
    ) -> impl Future<Output = Stored<Option<Timestamp>>> + Send;
}
