//! The one route table: every path API Gateway serves and the operation it names. `template.yaml` says which
//! function each path goes to, and each function's `main` names the operations it serves (a test checks all three).

use lambda_http::{Request, RequestExt};

use super::caller::public_base;
use super::params::BodyLimits;
use crate::config::Config;
use crate::model::links::Links;

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
    /// Everything stored about the signed-in person.
    Export,
    SetGroup,
    EditMembers,
    SetAdmin,
    GetGroup,
    DelGroup,
    Upload,
    /// `GET /files/<name>`: a stored file (a redirect to it).
    Download,
    /// mesibo's `api.php`: the operation is the `op` parameter (see [`super::compat`]).
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
    ("/export", Operation::Export),
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
    /// Every operation: the whole API in one process, as `make dev` serves it.
    pub const ALL: &[Self] = &[
        Self::Login,
        Self::Verify,
        Self::GetContacts,
        Self::Profile,
        Self::Logout,
        Self::DelContacts,
        Self::DeleteAccount,
        Self::SetNotify,
        Self::Export,
        Self::SetGroup,
        Self::EditMembers,
        Self::SetAdmin,
        Self::GetGroup,
        Self::DelGroup,
        Self::Upload,
        Self::Download,
        Self::MesiboApi,
    ];

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
            Self::Export => "export",
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

    /// The operation an `api.php` `op` names. mesibo signs in with `op=login` and a code (see [`super::compat`]), so
    /// `verify` is no `api.php` operation.
    pub fn for_mesibo_op(op: &str) -> Option<Self> {
        ROUTES
            .iter()
            .map(|(_, operation)| *operation)
            .find(|o| o.name() == op && !matches!(o, Self::Verify | Self::MesiboApi | Self::Download))
    }

    /// The name of a stored file a download path asks for (empty when it names none).
    pub fn file_name(path: &str) -> &str {
        path.rsplit_once(FILES_PATH).map_or("", |(_, name)| name)
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
pub const FILES_PATH: &str = "/files/";

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
    fn every_operation_has_a_route_and_is_in_the_whole_api() {
        let routed: Vec<Operation> = ROUTES.iter().map(|(_, o)| *o).collect();
        assert!(Operation::ALL.iter().all(|o| routed.contains(o)), "an operation without a route");
        assert!(routed.iter().all(|o| Operation::ALL.contains(o)), "a route whose operation ALL leaves out");
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
