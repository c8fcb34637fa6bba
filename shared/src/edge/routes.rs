//! The one route table: path → operation → use case. The Lambda functions, mesibo's `api.php` and the local dev
//! server all dispatch through it; `template.yaml` says which function API Gateway sends each path to (a test
//! checks that both list the same paths).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use super::caller::{client_address, presented_token, public_base};
use super::params::{BodyLimits, Params};
use super::reply::{redirect, reply};
use super::{commands, compat};
use crate::config::Config;
use crate::error::ApiError;
use crate::model::client_address::ClientAddress;
use crate::model::clock::Timestamp;
use crate::model::links::Links;
use crate::usecase::session::{Session, authenticate};
use crate::usecase::{Ports, Services};
use crate::usecase::{account, contacts, files, groups, sign_in};

/// Requests carrying one value or a few: larger bodies are refused before parsing.
pub const SMALL_BODY_BYTES: usize = 64 * 1024;
/// Requests that may carry 5000 phone numbers, formatted as people type them.
pub const LIST_BODY_BYTES: usize = 256 * 1024;
/// The largest file a request may carry. Lambda takes events of at most 6 MB and API Gateway base64-encodes a binary
/// body (4/3), so 4 MiB plus the parameters fits; larger files go to S3 directly (presigned URLs), never through a
/// function.
pub const MAX_FILE_BYTES_IN_REQUEST: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Login,
    Verify,
    GetContacts,
    Profile,
    Logout,
    DelContacts,
    DeleteAccount,
    SetNotify,
    SetGroup,
    EditMembers,
    SetAdmin,
    GetGroup,
    DelGroup,
    Upload,
    /// `GET /files/<name>`: a stored file (a redirect to it).
    Download,
    /// mesibo's `api.php`: the operation is the `op` parameter (see [`compat`]).
    MesiboApi,
}

/// Every path API Gateway serves, and what it does.
pub const ROUTES: &[(&str, Operation)] = &[
    ("/login", Operation::Login),
    ("/verify", Operation::Verify),
    ("/getcontacts", Operation::GetContacts),
    ("/profile", Operation::Profile),
    ("/logout", Operation::Logout),
    ("/delcontacts", Operation::DelContacts),
    ("/deleteaccount", Operation::DeleteAccount),
    ("/setnotify", Operation::SetNotify),
    ("/setgroup", Operation::SetGroup),
    ("/editmembers", Operation::EditMembers),
    ("/setadmin", Operation::SetAdmin),
    ("/getgroup", Operation::GetGroup),
    ("/delgroup", Operation::DelGroup),
    ("/upload", Operation::Upload),
    ("/files/{name}", Operation::Download),
    ("/api.php", Operation::MesiboApi),
    ("/conf/api.php", Operation::MesiboApi),
    ("/messenger/api.php", Operation::MesiboApi),
];

impl Operation {
    /// The operation of a path, also behind a prefix (a named stage, or a custom domain's API mapping, stays in
    /// the path Lambda sees): the longest route the path ends with.
    pub fn for_path(path: &str) -> Option<Self> {
        if let Some((_, name)) = path.rsplit_once(FILES_PATH)
            && !name.is_empty()
            && !name.contains('/')
        {
            return Some(Self::Download);
        }
        let matching = ROUTES.iter().filter(|(route, _)| path.ends_with(route));
        matching.max_by_key(|(route, _)| route.len()).map(|(_, op)| *op)
    }

    /// The `op` of its replies, and its name in mesibo's `api.php`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Verify => "verify",
            Self::GetContacts => "getcontacts",
            Self::Profile => "profile",
            Self::Logout => "logout",
            Self::DelContacts => "delcontacts",
            Self::DeleteAccount => "deleteaccount",
            Self::SetNotify => "setnotify",
            Self::SetGroup => "setgroup",
            Self::EditMembers => "editmembers",
            Self::SetAdmin => "setadmin",
            Self::GetGroup => "getgroup",
            Self::DelGroup => "delgroup",
            Self::Upload => "upload",
            Self::Download => "files",
            Self::MesiboApi => "",
        }
    }

    /// The operation an `api.php` `op` names. mesibo signs in with `op=login` and a code (see [`compat`]), so
    /// `verify` is no `api.php` operation.
    pub fn for_mesibo_op(op: &str) -> Option<Self> {
        ROUTES
            .iter()
            .map(|(_, operation)| *operation)
            .find(|o| o.name() == op && !matches!(o, Self::Verify | Self::MesiboApi | Self::Download))
    }

    /// How large a request may be: operations that may carry a photo or an attachment take one file.
    pub fn body_limits(self, config: &Config) -> BodyLimits {
        let file_bytes = if config.files.is_some() { MAX_FILE_BYTES_IN_REQUEST } else { 0 };
        match self {
            Self::Login | Self::Verify => BodyLimits::params_only(SMALL_BODY_BYTES),
            Self::Profile | Self::SetGroup | Self::Upload | Self::MesiboApi => {
                BodyLimits { params_bytes: LIST_BODY_BYTES, file_bytes }
            }
            _ => BodyLimits::params_only(LIST_BODY_BYTES),
        }
    }

    /// The deployment's URLs as this request reached it: where files are stored here, uploads and downloads
    /// default to this deployment's own address.
    pub fn links(self, config: &Config, req: &Request) -> Links {
        let path = req.raw_http_path();
        let route_len = ROUTES
            .iter()
            .filter(|(route, o)| *o == self && path.ends_with(route))
            .map(|(route, _)| route.len())
            .max()
            .unwrap_or(0);
        let here = config.files.as_ref().and_then(|_| public_base(req, route_len, config.front_door.is_some()));
        Links::new(&config.profile_urls, here.as_deref())
    }
}

/// Where stored files are downloaded: `<deployment>/files/<name>`.
const FILES_PATH: &str = "/files/";

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
    async fn session(&self, app: &Services<impl Ports>) -> Result<Session, ApiError> {
        authenticate(app, presented_token(self.req, &self.params).as_deref(), self.now).await
    }
}

/// Serves one request of any route (an unknown path is a client error; API Gateway never sends one).
pub async fn handle(app: &Services<impl Ports>, req: Request) -> Response<Body> {
    let now = app.clock.now();
    let Some(operation) = Operation::for_path(req.raw_http_path()) else {
        return reply::<()>("", now, Err(ApiError::BadRequest("unknown operation")));
    };
    // Before anything else: with the front door on, a request around it is refused whatever its route (api.php's
    // always-200 included: no mesibo app was given this address).
    let client = match client_address(&app.config, &req) {
        Ok(client) => client,
        Err(refused) => return reply::<()>(operation.name(), now, Err(refused)),
    };
    if operation == Operation::MesiboApi {
        let mut response = compat::handle(app, &req, client, now).await;
        // mesibo clients treat any status but 200 as a network failure.
        *response.status_mut() = StatusCode::OK;
        return response;
    }
    if operation == Operation::Download {
        let name = req.raw_http_path().rsplit_once(FILES_PATH).map_or("", |(_, name)| name).to_owned();
        return match files::download_link(app, &name).await {
            Ok(link) => redirect(&link, files::DOWNLOAD_LINK_SECONDS - 600),
            Err(e) => reply::<()>(operation.name(), now, Err(e)),
        };
    }
    let outcome = match Params::from_request(&req, operation.body_limits(&app.config)).await {
        Ok(params) => {
            let links = operation.links(&app.config, &req);
            run(app, operation, &Input { req: &req, params, now, links, client }).await
        }
        Err(e) => Err(e),
    };
    reply(operation.name(), now, outcome)
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
    /// mesibo's sign-in through `api.php` (see [`compat`]).
    MesiboSignIn(compat::MesiboSignIn),
}

/// The operation's use case, with its command built from the parameters (after the caller is known, for the
/// operations of a signed-in user: a bad token is reported before bad parameters).
pub async fn run(app: &Services<impl Ports>, operation: Operation, input: &Input<'_>) -> Result<Outcome, ApiError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_operations_also_behind_a_stage_or_mapping_prefix() {
        assert_eq!(Operation::for_path("/login"), Some(Operation::Login));
        assert_eq!(Operation::for_path("/prod/getcontacts"), Some(Operation::GetContacts));
        assert_eq!(Operation::for_path("/v1/messenger/api.php"), Some(Operation::MesiboApi));
        assert_eq!(Operation::for_path("/xlogin"), None);
        assert_eq!(Operation::for_path("/login/x"), None);
        assert_eq!(Operation::for_path("/prod/files/p1-ab.jpg"), Some(Operation::Download));
        assert_eq!(Operation::for_path("/files/"), None);
        assert_eq!(Operation::for_path("/files/a/b"), None);
        assert_eq!(Operation::for_path(""), None);
    }

    #[test]
    fn mesibo_ops_are_the_rest_operations_but_verify() {
        assert_eq!(Operation::for_mesibo_op("getcontacts"), Some(Operation::GetContacts));
        assert_eq!(Operation::for_mesibo_op("delgroup"), Some(Operation::DelGroup));
        assert_eq!(Operation::for_mesibo_op("verify"), None);
        assert_eq!(Operation::for_mesibo_op("upload"), Some(Operation::Upload));
        assert_eq!(Operation::for_mesibo_op("files"), None);
        assert_eq!(Operation::for_mesibo_op(""), None);
        for (path, operation) in ROUTES.iter().filter(|(_, o)| !matches!(o, Operation::MesiboApi | Operation::Download))
        {
            assert_eq!(format!("/{}", operation.name()), *path, "the reply's op is the path's name");
        }
    }
}
