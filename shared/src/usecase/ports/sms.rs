//! Codes sent by SMS.

use std::future::Future;

use crate::model::phone::PhoneNumber;
use crate::model::secrets::OtpCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the SMS could not be published")]
pub struct SmsFailed;

/// Sends codes by SMS.
pub trait SmsGateway: Sync {
    fn send_code(&self, phone: &PhoneNumber, code: &OtpCode) -> impl Future<Output = Result<(), SmsFailed>> + Send;
}
