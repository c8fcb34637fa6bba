//! The stack's SMS protect configuration as the account default: SNS's SMS (the codes) then go only to the
//! countries the stack serves. One account default exists per account and region, so the stack takes the place only
//! when it is free or already its own, and gives it back on deletion only while it still holds it.

use crate::model::sms_protect::{CountryAllowList, country_rules};
use crate::usecase::ports::{ProtectUnavailable, SmsProtection};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtectError {
    #[error(
        "the account already has a default protect configuration ({0}) that this stack did not set: it is left as it is; remove it as the account default, or deploy with SmsProtect=Disabled"
    )]
    TakenBy(String),
    #[error(transparent)]
    Unavailable(#[from] ProtectUnavailable),
}

/// Create or update: a rule for every country (the allowed ones allowed, all others blocked), then the account
/// default. `previous` is the configuration this stack made the default before (an update), which may be replaced.
pub async fn apply(
    aws: &impl SmsProtection,
    id: &str,
    previous: Option<&str>,
    allowed: &CountryAllowList,
) -> Result<(), ProtectError> {
    let current = aws.account_default().await?;
    if let Some(current) = current.as_deref().filter(|current| *current != id && Some(*current) != previous) {
        return Err(ProtectError::TakenBy(current.to_owned()));
    }
    let rules = country_rules(aws.countries(id).await?, allowed);
    aws.set_countries(id, &rules).await?;
    if current.as_deref() != Some(id) {
        aws.set_account_default(id).await?;
    }
    Ok(())
}

/// Delete: no account default any more, if it is still this configuration; someone else's is left alone.
pub async fn release(aws: &impl SmsProtection, id: &str) -> Result<(), ProtectError> {
    if aws.account_default().await?.as_deref() == Some(id) {
        aws.clear_account_default().await?;
    }
    Ok(())
}
