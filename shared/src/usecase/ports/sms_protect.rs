//! The account's SMS protect configurations (AWS End User Messaging SMS).

use std::future::Future;

/// AWS End User Messaging SMS could not be reached or refused the call (after the SDK's retries): what it said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AWS End User Messaging SMS: {0}")]
pub struct ProtectUnavailable(pub String);

/// The account's SMS protect configurations (AWS End User Messaging SMS), for the custom resource that makes the
/// stack's one the account default.
pub trait SmsProtection: Sync {
    /// Every country the configuration has an SMS rule for: every country AWS sends SMS to.
    fn countries(&self, id: &str) -> impl Future<Output = Result<Vec<String>, ProtectUnavailable>> + Send;

    /// Sets these SMS rules of the configuration (the others stay as they are).
    fn set_countries(
        &self,
        id: &str,
        rules: &std::collections::BTreeMap<String, crate::model::sms_protect::ProtectStatus>,
    ) -> impl Future<Output = Result<(), ProtectUnavailable>> + Send;

    /// The account default protect configuration's id, if there is one.
    fn account_default(&self) -> impl Future<Output = Result<Option<String>, ProtectUnavailable>> + Send;

    fn set_account_default(&self, id: &str) -> impl Future<Output = Result<(), ProtectUnavailable>> + Send;

    /// Removes the account default (the configuration itself stays).
    fn clear_account_default(&self) -> impl Future<Output = Result<(), ProtectUnavailable>> + Send;
}
