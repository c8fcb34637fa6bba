//! What the use cases need from the outside world, one port per file: the table (one trait per aggregate, and
//! the sign-in transaction), the code keys, SMS, events, push, files, mesibo and metrics. The adapters
//! (`crate::adapters`) implement them; the use cases see only these, so the arrows point inward.
//!
//! Every store call either does all it says or, failing, reports [`StoreUnavailable`] (details are logged where it
//! happens); conditional writes report their condition as a typed error.

use crate::error::ApiError;

mod code_keys;
mod codes;
mod contacts;
mod devices;
mod events;
mod fanout_queue;
mod files;
mod groups;
mod mesibo;
mod metrics;
mod notify_progress;
mod profiles;
mod push;
mod rate_limits;
mod sign_in;
mod sms;
mod sms_protect;
mod tokens;
mod uploads;

pub use code_keys::*;
pub use codes::*;
pub use contacts::*;
pub use devices::*;
pub use events::*;
pub use fanout_queue::*;
pub use files::*;
pub use groups::*;
pub use mesibo::*;
pub use metrics::*;
pub use notify_progress::*;
pub use profiles::*;
pub use push::*;
pub use rate_limits::*;
pub use sign_in::*;
pub use sms::*;
pub use sms_protect::*;
pub use tokens::*;
pub use uploads::*;

/// The store could not be reached or refused the call (after the SDK's retries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the table is unavailable")]
pub struct StoreUnavailable;

impl From<StoreUnavailable> for ApiError {
    fn from(_: StoreUnavailable) -> Self {
        Self::Unavailable
    }
}

type Stored<T> = Result<T, StoreUnavailable>;

/// The adapters a deployment runs on, one per port.
pub trait Ports: 'static {
    /// The whole table: one adapter serves every aggregate's port.
    type Store: CodeStore
        + SignInStore
        + ProfileStore
        + TokenStore
        + ContactStore
        + AddressBookScan
        + GroupStore
        + RateLimitStore
        + DeviceStore
        + NotifyProgressStore
        + PendingUploadStore;
    type CodeKeys: CodeKeys;
    type Sms: SmsGateway;
    type Push: PushRegistry;
    type Mesibo: Mesibo;
    type Files: FileStore;
    type Metrics: Metrics;
}
