//! The keys one-time codes are digested under (Secrets Manager).

use std::future::Future;

use crate::error::ApiError;
use crate::model::clock::Timestamp;
use crate::model::secrets::CodeKey;

/// The code keys could not be read (Secrets Manager unreachable, after the SDK's retries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the code keys are unavailable")]
pub struct KeysUnavailable;

impl From<KeysUnavailable> for ApiError {
    fn from(_: KeysUnavailable) -> Self {
        Self::Unavailable
    }
}

/// The keys one-time codes are digested under. New codes are made under the current key; a pending code is checked
/// under the key it names, so codes issued before a rotation (or by an instance that has not seen it yet) stay valid
/// through the overlap.
pub trait CodeKeys: Sync {
    fn signing_key(&self, now: Timestamp) -> impl Future<Output = Result<CodeKey, KeysUnavailable>> + Send;
    fn key(&self, version: Option<&str>) -> impl Future<Output = Result<CodeKey, KeysUnavailable>> + Send;
}
