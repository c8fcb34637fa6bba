//! Every way a request can fail, with its stable code and HTTP status. Mapped to a response in one place
//! ([`crate::edge::reply`]).

use thiserror::Error;

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ApiError {
    #[error("missing parameter: {0}")]
    MissingParam(&'static str),
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("the JSON body could not be parsed")]
    BadJson,
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("not a valid phone number")]
    BadPhone,
    #[error("this app id is not allowed (mesibo mode: it must be dotted and not a number, such as com.example.app)")]
    BadAppId,
    #[error("sign-in from this country is not enabled")]
    CountryBlocked,
    #[error("wrong code")]
    BadCode { attempts_left: u32 },
    #[error("no valid code for this number: it expired or was used; request a new one")]
    CodeExpired,
    #[error("too many wrong codes: request a new one")]
    TooManyAttempts { retry_after: u64 },
    #[error("too many requests: try again later")]
    RateLimited { retry_after: u64 },
    #[error("the SMS could not be sent: try again")]
    SmsFailed,
    #[error("today's SMS budget is spent: try again tomorrow")]
    SmsBudget { retry_after: u64 },
    #[error("the service is temporarily unavailable: try again")]
    Unavailable,
    #[error("missing, unknown, expired or revoked token: sign in again")]
    AuthFail,
    #[error("too many phone numbers (at most {0})")]
    TooMany(usize),
    #[error("no such group")]
    BadGroup,
    #[error("no operation given: send op")]
    NoOp,
    #[error("unknown or unsupported operation")]
    BadOp,
    #[error("that number is not a member of this group")]
    NotMember,
    #[error("only the group's owner and admins may do that, and nobody may demote or remove the owner")]
    NotAdmin,
    #[error("missing parameter: appid (the app id mesibo issues the token for)")]
    MissingAppId,
    #[error("the messaging service (mesibo) did not respond as expected: try again")]
    MesiboFail,
    #[error("missing file: attach it as a multipart/form-data file part")]
    MissingFile,
    #[error("not a picture this service reads (JPEG, PNG, WebP or GIF, at most 40 megapixels)")]
    BadImage,
    #[error("this type of file is not accepted (judged by its content, not its name)")]
    UnsupportedFile,
    #[error("no such file")]
    NoSuchFile,
    #[error("file storage is temporarily unavailable: try again")]
    FilesUnavailable,
    #[error("only contacts who use the app can be added to a group: sync your contacts (getcontacts) first")]
    NotInContacts,
    #[error(
        "someone named left, or was removed from, a group you added them to or removed them from within the last 7 days: they cannot be added by you again until then"
    )]
    RecentlyLeft,
    #[error("this number cannot receive sign-in codes: sign in with a mobile number")]
    NotMobile,
    #[error("this API is served through its front door (CloudFront) only: use the address the app was given")]
    NotThroughFrontDoor,
    #[error("this function does not serve this route: the deployment sends it to the wrong function")]
    NotServedHere,
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingParam(_) => "MISSINGPARA",
            Self::BadRequest(_) => "BADREQUEST",
            Self::BadJson => "BADJSON",
            Self::TooLarge(_) => "TOOLARGE",
            Self::BadPhone => "BADPHONE",
            Self::BadAppId => "BADAPPID",
            Self::CountryBlocked => "COUNTRYBLOCKED",
            Self::BadCode { .. } => "BADCODE",
            Self::CodeExpired => "CODEEXPIRED",
            Self::TooManyAttempts { .. } => "TOOMANYATTEMPTS",
            Self::RateLimited { .. } => "RATELIMIT",
            Self::SmsFailed => "SMSFAIL",
            Self::SmsBudget { .. } => "SMSBUDGET",
            Self::Unavailable => "UNAVAILABLE",
            Self::AuthFail => "AUTHFAIL",
            Self::TooMany(_) => "TOOMANY",
            Self::BadGroup => "BADGROUP",
            Self::NoOp => "NOOP",
            Self::BadOp => "BADOP",
            Self::NotMember => "NOTMEMBER",
            Self::NotAdmin => "NOTADMIN",
            Self::MissingAppId => "MISSINGAPPID",
            Self::MesiboFail => "MESIBOFAIL",
            Self::MissingFile => "MISSINGFILE",
            Self::BadImage => "BADIMAGE",
            Self::UnsupportedFile => "BADFILETYPE",
            Self::NoSuchFile => "NOTFOUND",
            Self::FilesUnavailable => "UNAVAILABLE",
            Self::NotInContacts => "NOTCONTACT",
            Self::RecentlyLeft => "RECENTLYLEFT",
            Self::NotMobile => "NOTMOBILE",
            Self::NotThroughFrontDoor => "DIRECTACCESS",
            Self::NotServedHere => "NOROUTE",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::MissingParam(_)
            | Self::BadRequest(_)
            | Self::BadJson
            | Self::BadPhone
            | Self::BadAppId
            | Self::TooMany(_)
            | Self::BadGroup
            | Self::NoOp
            | Self::BadOp
            | Self::MissingAppId
            | Self::MissingFile
            | Self::BadImage
            | Self::NotMobile => 400,
            Self::UnsupportedFile => 415,
            Self::NoSuchFile | Self::NotServedHere => 404,
            Self::TooLarge(_) => 413,
            Self::CountryBlocked | Self::NotMember | Self::NotAdmin => 403,
            Self::NotInContacts | Self::RecentlyLeft | Self::NotThroughFrontDoor => 403,
            Self::BadCode { .. } | Self::CodeExpired | Self::AuthFail => 401,
            Self::TooManyAttempts { .. } | Self::RateLimited { .. } => 429,
            Self::SmsFailed | Self::MesiboFail => 502,
            Self::Unavailable | Self::SmsBudget { .. } | Self::FilesUnavailable => 503,
        }
    }

    /// Seconds the client should wait, for errors that are about waiting.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::TooManyAttempts { retry_after }
            | Self::RateLimited { retry_after }
            | Self::SmsBudget { retry_after } => Some((*retry_after).max(1)),
            _ => None,
        }
    }
}
