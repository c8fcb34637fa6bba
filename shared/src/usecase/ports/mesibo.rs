//! mesibo's backend API: users, groups and messages at the real-time service.

use std::future::Future;

use crate::model::secrets::AccessToken;

/// Why a call to mesibo did not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MesiboFailed {
    /// No answer in time, no connection, an HTTP error or an answer that is not mesibo's JSON.
    #[error("mesibo could not be reached or gave no usable answer")]
    Unreachable,
    /// The user named does not exist at mesibo.
    #[error("mesibo does not know that user")]
    UnknownUser,
    /// The group named does not exist at mesibo.
    #[error("mesibo does not know that group")]
    UnknownGroup,
    /// mesibo answered `result: false` with this error code (`AUTHFAIL`, `BADOP`, …).
    #[error("mesibo refused: {0}")]
    Refused(String),
}

/// mesibo's codes for a refusal about the app's account, not the call: a wrong or breached app token, a quota, the
/// credits or the trial spent (mesibo/on-premise's error codes). Nothing works until the operator acts, so each is
/// logged as an error and counted (`MesiboAccountRefused`, with an alarm), and the call may pass once they have.
pub const MESIBO_ACCOUNT_REFUSALS: &[&str] =
    &["AUTHFAIL", "TOKENBREACH", "QUOTAEXCEEDED", "CREDITSEXCEEDED", "UNUSEDTRIALUSERS"];

impl MesiboFailed {
    /// Trying again later may help: no answer, a refusal about the app's account (the operator fixes it), or
    /// mesibo's rate limit.
    pub fn may_pass_later(&self) -> bool {
        match self {
            Self::Unreachable => true,
            Self::UnknownUser | Self::UnknownGroup => false,
            Self::Refused(code) => self.is_the_accounts() || code == "RATELIMITED",
        }
    }

    /// A refusal about the app's account ([`MESIBO_ACCOUNT_REFUSALS`]).
    pub fn is_the_accounts(&self) -> bool {
        matches!(self, Self::Refused(code) if MESIBO_ACCOUNT_REFUSALS.contains(&code.as_str()))
    }
}

/// A user as mesibo knows them, with a new access token for one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MesiboUser {
    pub uid: u64,
    pub token: AccessToken,
}

/// Who to add (or whose session to renew) at mesibo.
#[derive(Debug, Clone, Copy)]
pub struct NewMesiboUser<'a> {
    /// E.164 digits without `+`: the address mesibo apps use for a person.
    pub address: &'a str,
    pub name: &'a str,
    pub app_id: &'a str,
    pub expiry_minutes: i64,
    /// The device's session (`model::sessions`): mesibo keeps one token per user session.
    pub session: u32,
}

/// A transient backend notification (mesibo's `message`): `body` is JSON the apps parse.
#[derive(Debug, Clone)]
pub struct MesiboMessage<'a> {
    /// A mesibo user address.
    pub from: &'a str,
    /// Addresses, at most [`MESIBO_RECIPIENTS_PER_MESSAGE`].
    pub to: &'a [String],
    pub body: &'a str,
}

/// Recipients named in one `message` call (mesibo takes a comma-separated list).
pub const MESIBO_RECIPIENTS_PER_MESSAGE: usize = 100;

/// Members named in one `groupeditmembers` call.
pub const MESIBO_MEMBERS_PER_EDIT: usize = 200;

/// mesibo's backend API: users, groups and messages at the real-time service. Only in mesibo mode. Users are named by
/// address (E.164 digits without `+`), as mesibo's helper names them.
pub trait Mesibo: Sync {
    /// Creates the user if new and issues the token of one session (replacing that session's earlier token, or
    /// handing it back while it lives).
    fn add_user(&self, user: NewMesiboUser<'_>) -> impl Future<Output = Result<MesiboUser, MesiboFailed>> + Send;

    /// Deletes the user and every token of theirs; an unknown user is already deleted.
    fn delete_user(&self, address: &str) -> impl Future<Output = Result<(), MesiboFailed>> + Send;

    /// Ends the token of one session (`Some`) or, as mesibo's helper does, the user's tokens (`None`) at mesibo; the
    /// user stays. An unknown user has none left.
    fn end_session(&self, address: &str, session: Option<u32>)
    -> impl Future<Output = Result<(), MesiboFailed>> + Send;

    /// A new group; mesibo's gid is the group's id everywhere.
    fn add_group(&self, name: &str) -> impl Future<Output = Result<u64, MesiboFailed>> + Send;

    fn set_group(&self, gid: u64, name: &str) -> impl Future<Output = Result<(), MesiboFailed>> + Send;

    /// An unknown group is already deleted.
    fn delete_group(&self, gid: u64) -> impl Future<Output = Result<(), MesiboFailed>> + Send;

    /// Adds (or, `delete`, removes) up to [`MESIBO_MEMBERS_PER_EDIT`] addresses; both are idempotent.
    fn edit_members(
        &self,
        gid: u64,
        addresses: &[String],
        delete: bool,
    ) -> impl Future<Output = Result<(), MesiboFailed>> + Send;

    fn send_message(&self, message: &MesiboMessage<'_>) -> impl Future<Output = Result<(), MesiboFailed>> + Send;
}
