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
use crate::usecase::{account, contacts, export, files, groups, sign_in};

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
    Export(export::ExportReply),
    Group(groups::GroupReply),
    Upload(files::UploadReply),
    DirectUpload(files::DirectUploadReply),
    /// mesibo's sign-in through `api.php` (see [`super::compat`]).
    MesiboSignIn(MesiboSignIn),
}

/// A future answering one request, boxed so that each operation's code is a plain function pointer.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// One operation's use case: its command built from the parameters, the use case run, its reply.
pub type Run<P> = for<'a> fn(&'a App<P>, &'a Input<'a>) -> BoxFuture<'a, Result<Outcome, ApiError>>;

/// The operation's use case (see [`runner`]).
pub async fn run<P: Ports>(app: &App<P>, operation: Operation, input: &Input<'_>) -> Result<Outcome, ApiError> {
    match runner::<P>(operation) {
        Some(run) => run(app, input).await,
        None => Err(ApiError::BadOp),
    }
}

/// The code of an operation that takes parameters (`None`: api.php and downloads, which answer the whole request).
/// A function chooses its operations' code at compile time ([`super::http::Served::of`] in a constant), so it links
/// only the use cases of its own routes. The operations of a signed-in user authenticate first: a bad token is
/// reported before bad parameters.
pub const fn runner<P: Ports>(operation: Operation) -> Option<Run<P>> {
    let run: Run<P> = match operation {
        Operation::Login => |app, input| Box::pin(login(app, input)),
        Operation::Verify => |app, input| Box::pin(verify(app, input)),
        Operation::GetContacts => |app, input| Box::pin(get_contacts(app, input)),
        Operation::DelContacts => |app, input| Box::pin(del_contacts(app, input)),
        Operation::Profile => |app, input| Box::pin(profile(app, input)),
        Operation::Logout => |app, input| Box::pin(logout(app, input)),
        Operation::DeleteAccount => |app, input| Box::pin(delete_account(app, input)),
        Operation::SetNotify => |app, input| Box::pin(set_notify(app, input)),
        Operation::Export => |app, input| Box::pin(export_data(app, input)),
        Operation::SetGroup => |app, input| Box::pin(set_group(app, input)),
        Operation::EditMembers => |app, input| Box::pin(edit_members(app, input)),
        Operation::SetAdmin => |app, input| Box::pin(set_admin(app, input)),
        Operation::GetGroup => |app, input| Box::pin(get_group(app, input)),
        Operation::DelGroup => |app, input| Box::pin(del_group(app, input)),
        Operation::Upload => |app, input| Box::pin(upload(app, input)),
        Operation::MesiboApi | Operation::Download => return None,
    };
    Some(run)
}

async fn login<P: Ports>(app: &App<P>, input: &Input<'_>) -> Result<Outcome, ApiError> {
    let command = commands::request_code(&app.config, &input.params, input.client.clone())?;
    Ok(Outcome::Login(sign_in::request_code(app, command, input.now).await?))
}

async fn verify<P: Ports>(app: &App<P>, input: &Input<'_>) -> Result<Outcome, ApiError> {
    let command = commands::verify_code(&app.config, &input.params, input.client.clone(), input.links.clone())?;
    Ok(Outcome::Verify(sign_in::verify_code(app, command, input.now).await?))
}

async fn get_contacts<P: Ports>(app: &App<P>, input: &Input<'_>) -> Result<Outcome, ApiError> {
    let me = &input.session(app).await?;
    let command = commands::sync_contacts(&app.config, me, &input.params, input.links.clone())?;
    Ok(Outcome::Contacts(contacts::sync(app, me, command, input.now).await?))
}

async fn del_contacts<P: Ports>(app: &App<P>, input: &Input<'_>) -> Result<Outcome, ApiError> {
    let me = &input.session(app).await?;
    let command = commands::delete_contacts(&app.config, me, &input.params)?;
    Ok(Outcome::DelContacts(contacts::delete_contacts(app, me, command, input.now).await?))
}

async fn profile<P: Ports>(app: &App<P>, input: &Input<'_>) -> Result<Outcome, ApiError> {
    let me = &input.session(app).await?;
    let command = commands::update_profile(&input.params)?;
    Ok(Outcome::Profile(account::update_profile(app, me, command, input.now).await?))
}

async fn logout<P: Ports>(app: &App<P>, input: &Input<'_>) -> Result<Outcome, ApiError> {
    let me = &input.session(app).await?;
    Ok(Outcome::Logout(account::logout(app, me, commands::logout(&input.params)).await?))
}

async fn export_data<P: Ports>(app: &App<P>, input: &Input<'_>) -> Result<Outcome, ApiError> {
    let me = &input.session(app).await?;
    Ok(Outcome::Export(export::export(app, me, input.now).await?))
}

async fn delete_account<P: Ports>(app: &App<P>, input: &Input<'_>) -> Result<Outcome, ApiError> {
    let me = &input.session(app).await?;
    let command = commands::delete_account(&app.config, &input.params, input.client.clone())?;
    Ok(Outcome::DeleteAccount(account::delete_account(app, me, command, input.now).await?))
}

async fn set_notify<P: Ports>(app: &App<P>, input: &Input<'_>) -> Result<Outcome, ApiError> {
    let me = &input.session(app).await?;
    Ok(Outcome::SetNotify(account::set_notify(app, me, commands::set_notify(&input.params)?, input.now).await?))
}

async fn set_group<P: Ports>(app: &App<P>, input: &Input<'_>) -> Result<Outcome, ApiError> {
    let me = &input.session(app).await?;
    let command = commands::set_group(&app.config, me, &input.params)?;
    Ok(Outcome::Group(groups::set_group(app, me, command, input.now).await?))
}

async fn edit_members<P: Ports>(app: &App<P>, input: &Input<'_>) -> Result<Outcome, ApiError> {
    let me = &input.session(app).await?;
    let command = commands::edit_members(&app.config, me, &input.params)?;
    Ok(Outcome::Group(groups::edit_members(app, me, command, input.now).await?))
}

async fn set_admin<P: Ports>(app: &App<P>, input: &Input<'_>) -> Result<Outcome, ApiError> {
    let me = &input.session(app).await?;
    let command = commands::set_admin(&app.config, me, &input.params)?;
    Ok(Outcome::Group(groups::set_admin(app, me, command, input.now).await?))
}

async fn get_group<P: Ports>(app: &App<P>, input: &Input<'_>) -> Result<Outcome, ApiError> {
    let me = &input.session(app).await?;
    Ok(Outcome::Group(groups::get_group(app, me, commands::group_id(&input.params)?).await?))
}

async fn del_group<P: Ports>(app: &App<P>, input: &Input<'_>) -> Result<Outcome, ApiError> {
    let me = &input.session(app).await?;
    Ok(Outcome::Group(groups::del_group(app, me, commands::group_id(&input.params)?, input.now).await?))
}

async fn upload<P: Ports>(app: &App<P>, input: &Input<'_>) -> Result<Outcome, ApiError> {
    let me = &input.session(app).await?;
    match commands::upload(&input.params, input.links.clone())? {
        commands::UploadRequest::File(upload) => Ok(Outcome::Upload(files::upload(app, me, *upload, input.now).await?)),
        commands::UploadRequest::StartDirect { size } => {
            Ok(Outcome::DirectUpload(files::start_direct_upload(app, me, size, input.now).await?))
        }
        commands::UploadRequest::FinishDirect { uploaded } => {
            let links = input.links.clone();
            Ok(Outcome::Upload(files::finish_direct_upload(app, me, &uploaded, links, input.now).await?))
        }
    }
}
