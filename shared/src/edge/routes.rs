//! The one route table: path → operation → use case. The Lambda functions, mesibo's `api.php` and the local dev
//! server all dispatch through it; `template.yaml` says which function API Gateway sends each path to (a test
//! checks that both list the same paths).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use super::caller::{presented_token, source_ip};
use super::params::Params;
use super::reply::reply;
use super::{commands, compat};
use crate::error::ApiError;
use crate::model::clock::Timestamp;
use crate::usecase::session::{Session, authenticate};
use crate::usecase::{Ports, Services};
use crate::usecase::{account, contacts, groups, sign_in};

/// Requests carrying one value or a few: larger bodies are refused before parsing.
pub const SMALL_BODY_BYTES: usize = 64 * 1024;
/// Requests that may carry 5000 phone numbers, formatted as people type them.
pub const LIST_BODY_BYTES: usize = 256 * 1024;

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
    ("/api.php", Operation::MesiboApi),
    ("/conf/api.php", Operation::MesiboApi),
    ("/messenger/api.php", Operation::MesiboApi),
];

impl Operation {
    /// The operation of a path, also behind a prefix (a named stage, or a custom domain's API mapping, stays in
    /// the path Lambda sees): the longest route the path ends with.
    pub fn for_path(path: &str) -> Option<Self> {
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
            Self::MesiboApi => "",
        }
    }

    /// The operation an `api.php` `op` names. mesibo signs in with `op=login` and a code (see [`compat`]), so
    /// `verify` is no `api.php` operation.
    pub fn for_mesibo_op(op: &str) -> Option<Self> {
        ROUTES
            .iter()
            .map(|(_, operation)| *operation)
            .find(|o| o.name() == op && !matches!(o, Self::Verify | Self::MesiboApi))
    }

    pub fn max_body_bytes(self) -> usize {
        match self {
            Self::Login | Self::Verify => SMALL_BODY_BYTES,
            _ => LIST_BODY_BYTES,
        }
    }
}

/// What every operation starts from.
pub struct Input<'a> {
    pub req: &'a Request,
    pub params: Params,
    pub now: Timestamp,
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
    if operation == Operation::MesiboApi {
        let mut response = compat::handle(app, &req, now).await;
        // mesibo clients treat any status but 200 as a network failure.
        *response.status_mut() = StatusCode::OK;
        return response;
    }
    let outcome = match Params::from_request(&req, operation.max_body_bytes()) {
        Ok(params) => run(app, operation, &Input { req: &req, params, now }).await,
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
    /// mesibo's sign-in through `api.php` (see [`compat`]).
    MesiboSignIn(compat::MesiboSignIn),
}

/// The operation's use case, with its command built from the parameters (after the caller is known, for the
/// operations of a signed-in user: a bad token is reported before bad parameters).
pub async fn run(app: &Services<impl Ports>, operation: Operation, input: &Input<'_>) -> Result<Outcome, ApiError> {
    let (config, params, now) = (&app.config, &input.params, input.now);
    let ip = || source_ip(input.req);
    match operation {
        Operation::Login => {
            Ok(Outcome::Login(sign_in::request_code(app, commands::request_code(config, params, ip())?, now).await?))
        }
        Operation::Verify => {
            Ok(Outcome::Verify(sign_in::verify_code(app, commands::verify_code(config, params, ip())?, now).await?))
        }
        Operation::MesiboApi => Err(ApiError::BadOp),
        signed_in => {
            let session = input.session(app).await?;
            let me = &session;
            match signed_in {
                Operation::GetContacts => Ok(Outcome::Contacts(
                    contacts::sync(app, me, commands::sync_contacts(config, me, params)?, now).await?,
                )),
                Operation::DelContacts => Ok(Outcome::DelContacts(
                    contacts::delete_contacts(app, me, commands::delete_contacts(config, me, params)?).await?,
                )),
                Operation::Profile => Ok(Outcome::Profile(
                    account::update_profile(app, me, commands::update_profile(params)?, now).await?,
                )),
                Operation::Logout => Ok(Outcome::Logout(account::logout(app, me, commands::logout(params)).await?)),
                Operation::DeleteAccount => Ok(Outcome::DeleteAccount(
                    account::delete_account(app, me, commands::delete_account(config, params)?, now).await?,
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
                Operation::Login | Operation::Verify | Operation::MesiboApi => Err(ApiError::BadOp),
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
        assert_eq!(Operation::for_path(""), None);
    }

    #[test]
    fn mesibo_ops_are_the_rest_operations_but_verify() {
        assert_eq!(Operation::for_mesibo_op("getcontacts"), Some(Operation::GetContacts));
        assert_eq!(Operation::for_mesibo_op("delgroup"), Some(Operation::DelGroup));
        assert_eq!(Operation::for_mesibo_op("verify"), None);
        assert_eq!(Operation::for_mesibo_op("upload"), None);
        assert_eq!(Operation::for_mesibo_op(""), None);
        for (path, operation) in ROUTES.iter().filter(|(_, o)| *o != Operation::MesiboApi) {
            assert_eq!(format!("/{}", operation.name()), *path, "the reply's op is the path's name");
        }
    }
}
