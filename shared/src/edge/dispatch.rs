//! An operation to its use case: the typed command built from the parameters, the use case run, its reply. The
//! REST routes ([`super::http`]) and mesibo's `api.php` ([`super::compat`]) both come through here.

use lambda_http::Request;
use serde::Serialize;

use super::caller::presented_token;
use super::commands;
use super::params::Params;
use super::routes::Operation;
use crate::error::ApiError;
use crate::model::client_address::ClientAddress;
use crate::model::clock::Timestamp;
use crate::model::links::Links;
use crate::usecase::steps::session::{Session, authenticate};
use crate::usecase::{App, Ports};
use crate::usecase::{account, contacts, files, groups, sign_in};

/// What every operation starts from.
pub struct Input<'a> {
    pub req: &'a Request,
    pub params: Params,
    pub now: Timestamp,
    /// The deployment's URLs as this request reached it.
    pub links: Links,
    /// Who per-address limits count this request against.
    pub client: ClientAddress,
}

impl Input<'_> {
    async fn session(&self, app: &App<impl Ports>) -> Result<Session, ApiError> {
        authenticate(app, presented_token(self.req, &self.params).as_deref(), self.now).await
    }
}

/// The sign-in answer as mesibo's backend gives it: the verify profile (with `tn`) plus `google`.
#[derive(Debug, Serialize)]
pub struct MesiboSignIn {
    #[serde(flatten)]
    pub verify: sign_in::VerifyReply,
    pub google: String,
}

/// What an operation answers (beside the envelope), serialised as the use case's own reply.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    Login(sign_in::LoginReply),
    Verify(sign_in::VerifyReply),
    Contacts(contacts::ContactsReply),
    DelContacts(contacts::DelContactsReply),
    Profile(account::ProfileReply),
    Logout(account::LogoutReply),
    DeleteAccount(account::DeleteAccountReply),
    SetNotify(account::SetNotifyReply),
    Group(groups::GroupReply),
    Upload(files::UploadReply),
    DirectUpload(files::DirectUploadReply),
    /// mesibo's sign-in through `api.php` (see [`super::compat`]).
    MesiboSignIn(MesiboSignIn),
}

/// The operation's use case, with its command built from the parameters (after the caller is known, for the
/// operations of a signed-in user: a bad token is reported before bad parameters).
pub async fn run(app: &App<impl Ports>, operation: Operation, input: &Input<'_>) -> Result<Outcome, ApiError> {
    let (config, params, now) = (&app.config, &input.params, input.now);
    let ip = || input.client.clone();
    match operation {
        Operation::Login => {
            Ok(Outcome::Login(sign_in::request_code(app, commands::request_code(config, params, ip())?, now).await?))
        }
        Operation::Verify => {
            let command = commands::verify_code(config, params, ip(), input.links.clone())?;
            Ok(Outcome::Verify(sign_in::verify_code(app, command, now).await?))
        }
        Operation::MesiboApi | Operation::Download => Err(ApiError::BadOp),
        signed_in => {
            let session = input.session(app).await?;
            let me = &session;
            match signed_in {
                Operation::GetContacts => Ok(Outcome::Contacts(
                    contacts::sync(app, me, commands::sync_contacts(config, me, params, input.links.clone())?, now)
                        .await?,
                )),
                Operation::DelContacts => Ok(Outcome::DelContacts(
                    contacts::delete_contacts(app, me, commands::delete_contacts(config, me, params)?, now).await?,
                )),
                Operation::Profile => Ok(Outcome::Profile(
                    account::update_profile(app, me, commands::update_profile(params)?, now).await?,
                )),
                Operation::Logout => Ok(Outcome::Logout(account::logout(app, me, commands::logout(params)).await?)),
                Operation::DeleteAccount => Ok(Outcome::DeleteAccount(
                    account::delete_account(app, me, commands::delete_account(config, params, ip())?, now).await?,
                )),
                Operation::SetNotify => {
                    Ok(Outcome::SetNotify(account::set_notify(app, me, commands::set_notify(params)?, now).await?))
                }
                Operation::SetGroup => {
                    Ok(Outcome::Group(groups::set_group(app, me, commands::set_group(config, me, params)?, now).await?))
                }
                Operation::EditMembers => Ok(Outcome::Group(
                    groups::edit_members(app, me, commands::edit_members(config, me, params)?, now).await?,
                )),
                Operation::SetAdmin => {
                    Ok(Outcome::Group(groups::set_admin(app, me, commands::set_admin(config, me, params)?, now).await?))
                }
                Operation::GetGroup => {
                    Ok(Outcome::Group(groups::get_group(app, me, commands::group_id(params)?).await?))
                }
                Operation::DelGroup => {
                    Ok(Outcome::Group(groups::del_group(app, me, commands::group_id(params)?, now).await?))
                }
                Operation::Upload => match commands::upload(params, input.links.clone())? {
                    commands::UploadRequest::File(upload) => {
                        Ok(Outcome::Upload(files::upload(app, me, *upload, now).await?))
                    }
                    commands::UploadRequest::StartDirect { size } => {
                        Ok(Outcome::DirectUpload(files::start_direct_upload(app, me, size, now).await?))
                    }
                    commands::UploadRequest::FinishDirect { uploaded } => Ok(Outcome::Upload(
                        files::finish_direct_upload(app, me, &uploaded, input.links.clone(), now).await?,
                    )),
                },
                Operation::Login | Operation::Verify | Operation::MesiboApi | Operation::Download => {
                    Err(ApiError::BadOp)
                }
            }
        }
    }
}
