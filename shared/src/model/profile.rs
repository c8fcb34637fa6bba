//! A person's profile: what their contacts see of them, and the rules for what may go in it (the same wherever a
//! name, status or photo comes in).

use super::clock::Timestamp;
use super::phone::PhoneNumber;
use super::text::{TextProblem, shown_text};
use crate::error::ApiError;

/// A signed-in user's own profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub phone: PhoneNumber,
    pub name: String,
    pub status: String,
    pub photo: String,
    /// The photo's 100×100 thumbnail, base64 JPEG (mesibo's `tn`); empty when the photo is no file stored here.
    pub tn: String,
    pub created_at: Timestamp,
    /// Bumped on every change that contacts should see in their next delta.
    pub updated_at: Timestamp,
    /// mesibo's id of the user (mesibo mode): how mesibo's user operations name them.
    pub mesibo_uid: Option<u64>,
}

impl Profile {
    /// A new user's profile, made when they first sign in: a name, no status or photo yet.
    pub fn new(phone: PhoneNumber, name: String, now: Timestamp, mesibo_uid: Option<u64>) -> Self {
        let (status, photo, tn) = (String::new(), String::new(), String::new());
        Self { phone, name, status, photo, tn, created_at: now, updated_at: now, mesibo_uid }
    }
}

/// A profile as stored, live or a tombstone, with what is kept beside it (push endpoints, mesibo's id, sign-out
/// notes): what contacts are shown is read from it in bulk. The number stays an E.164 string: it came from our own
/// table, and re-validating thousands of them per sync would cost more than the sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRecord {
    pub e164: String,
    pub name: String,
    pub status: String,
    pub photo: String,
    pub tn: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The account was deleted: a tombstone, kept so deltas can say so.
    pub deleted: bool,
    /// SNS endpoints of the person's devices (from /setnotify), for pushing their events.
    pub push_endpoints: Vec<String>,
    pub mesibo_uid: Option<u64>,
    /// When every token of the person was last revoked (logout on every device).
    pub signed_out_at: Option<Timestamp>,
    /// mesibo mode: up to when mesibo has been told of the deletion or sign-out.
    pub mesibo_done_at: Option<Timestamp>,
}

impl ProfileRecord {
    /// The person's own profile, if it is a live one (not a tombstone).
    pub fn into_own(self, phone: &PhoneNumber) -> Option<Profile> {
        (!self.deleted).then(|| Profile {
            phone: phone.clone(),
            name: self.name,
            status: self.status,
            photo: self.photo,
            tn: self.tn,
            created_at: self.created_at,
            updated_at: self.updated_at,
            mesibo_uid: self.mesibo_uid,
        })
    }

    /// mesibo mode: when the account was deleted (a tombstone), or every token revoked, and mesibo has not been told
    /// yet: that moment. Whoever tells mesibo first (the stream, or the next sign-in of the number) notes it done.
    pub fn mesibo_cleanup_due(&self) -> Option<Timestamp> {
        let due = if self.deleted { Some(self.updated_at) } else { self.signed_out_at };
        due.filter(|due| self.mesibo_done_at.is_none_or(|done| done < *due))
    }

    /// What contacts see: a change to any of these is news for them.
    pub fn visible(&self) -> [&str; 3] {
        [&self.name, &self.status, &self.photo]
    }
}

/// A photo as a profile or group shows it: a file name (stored here, or elsewhere) or an https URL, and the
/// thumbnail mesibo's apps show until the photo is downloaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShownPhoto {
    pub photo: String,
    /// Base64 JPEG, 100×100; empty when the photo is not a file stored here.
    pub tn: String,
}

pub const MAX_NAME_CHARS: usize = 64;
pub const MAX_STATUS_CHARS: usize = 140;
pub const MAX_PHOTO_CHARS: usize = 512;

/// A display name (a person's or a group's): at most 64 characters, nothing hidden, not blank (see
/// [`super::text`]).
pub fn profile_name(input: &str) -> Result<String, ApiError> {
    shown_text(input, MAX_NAME_CHARS).map_err(|problem| {
        ApiError::BadRequest(match problem {
            TextProblem::TooLong => "name: at most 64 characters, no control characters",
            TextProblem::Hidden => "name: no control, invisible, direction-changing or private-use characters",
            TextProblem::TooManyMarks => "name: at most 4 combining marks on one character",
            TextProblem::Blank => "name: shows nothing (only spaces, fillers or marks)",
        })
    })
}

/// A status line: at most 140 characters, nothing hidden, not blank unless empty (see [`super::text`]).
pub fn profile_status(input: &str) -> Result<String, ApiError> {
    shown_text(input, MAX_STATUS_CHARS).map_err(|problem| {
        ApiError::BadRequest(match problem {
            TextProblem::TooLong => "status: at most 140 characters, no control characters",
            TextProblem::Hidden => "status: no control, invisible, direction-changing or private-use characters",
            TextProblem::TooManyMarks => "status: at most 4 combining marks on one character",
            TextProblem::Blank => "status: shows nothing (only spaces, fillers or marks); send it empty to clear it",
        })
    })
}

/// A photo: a file name (`1587123154-3c74.jpg`, `p1587123154-<32 hex>.jpg`) or an https URL that any app may
/// fetch and any page may embed as it is, at most 512 characters. Empty clears it. A URL must be plain printable
/// ASCII with nothing that needs escaping (no quotes, `<`, `>`, backslash or space), name a public host by its DNS
/// name (no IP address, no `localhost`, no single-label or local-only name such as `.local` or `.internal`), on
/// the default port, with no user name or password.
pub fn profile_photo(input: &str) -> Result<String, ApiError> {
    const PROBLEM: ApiError = ApiError::BadRequest("photo: a file name or an https URL, at most 512 characters");
    let photo = input.trim();
    if photo.chars().count() > MAX_PHOTO_CHARS || photo.chars().any(char::is_control) {
        return Err(PROBLEM);
    }
    let file_name = photo.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) && !photo.starts_with('.');
    if photo.is_empty() || file_name {
        return Ok(photo.to_owned());
    }
    if !photo.starts_with("https://") {
        return Err(PROBLEM);
    }
    photo_url(photo).map(|()| photo.to_owned()).map_err(ApiError::BadRequest)
}

/// Host names that only mean something inside a network (RFC 6762 `.local`, RFC 6761 `localhost`, RFC 8375
/// `home.arpa`, ICANN's `.internal`) and the common private-network suffixes.
const LOCAL_NAME_SUFFIXES: [&str; 7] =
    ["localhost", "local", "internal", "home.arpa", "localdomain", "lan", "intranet"];

fn photo_url(photo: &str) -> Result<(), &'static str> {
    let needs_escaping = |c: char| !c.is_ascii_graphic() || matches!(c, '"' | '\'' | '<' | '>' | '\\' | '`');
    if photo.chars().any(needs_escaping) {
        return Err("photo: a URL of printable ASCII only, with no quotes, <, >, backslash or spaces (percent-encode)");
    }
    let url = url::Url::parse(photo).map_err(|_| "photo: not a valid https URL")?;
    let authority = &photo["https://".len()..];
    let authority = &authority[..authority.find(['/', '?', '#']).unwrap_or(authority.len())];
    if authority.contains('@') || !url.username().is_empty() || url.password().is_some() {
        return Err("photo: a URL without a user name or password");
    }
    if url.port().is_some() {
        return Err("photo: a URL on the default https port");
    }
    let host = match url.host() {
        Some(url::Host::Domain(host)) => host.trim_end_matches('.'),
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => return Err("photo: a URL naming its host, not an IP address"),
        None => return Err("photo: not a valid https URL"),
    };
    let local = LOCAL_NAME_SUFFIXES
        .iter()
        .any(|suffix| host == *suffix || host.strip_suffix(suffix).is_some_and(|rest| rest.ends_with('.')));
    if local || !host.contains('.') {
        return Err("photo: a URL on a public host name (not localhost or a local-network name)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_clean() {
        assert_eq!(profile_name("  Ada Lovelace "), Ok("Ada Lovelace".into()));
        assert_eq!(profile_name(&"é".repeat(64)).map(|n| n.chars().count()), Ok(64));
        assert!(profile_name(&"é".repeat(65)).is_err());
        assert!(profile_name("a\u{0}b").is_err());
        assert!(profile_name("a\nb").is_err());
    }

    #[test]
    fn statuses_and_photos_are_bounded_and_safe() {
        assert!(profile_status(&"s".repeat(140)).is_ok() && profile_status(&"s".repeat(141)).is_err());
        for ok in ["", "1587123154-3c7462a54cfb2ded.jpg", "https://cdn.example.com/a/b.png?x=1"] {
            assert_eq!(profile_photo(ok).as_deref(), Ok(ok), "{ok}");
        }
        for bad in
            ["http://example.com/a.png", "javascript:alert(1)", "../etc/passwd", "a b.jpg", "https://", ".hidden"]
        {
            assert!(profile_photo(bad).is_err(), "{bad}");
        }
        assert!(profile_photo(&format!("https://x/{}", "a".repeat(510))).is_err());
    }

    #[test]
    fn photo_urls_name_a_public_host_and_need_no_escaping() {
        for ok in [
            "p1764100000-0123456789abcdef0123456789abcdef.jpg",
            "https://cdn.example.com/a/b.png?x=1&y=%22#frag",
            "https://xn--bcher-kva.example/a.jpg",
            "https://example.com./a.jpg",
        ] {
            assert_eq!(profile_photo(ok).as_deref(), Ok(ok), "{ok}");
        }
        for bad in [
            "https://169.254.169.254/latest/meta-data/",
            "https://2852039166/latest/meta-data/",
            "https://0xa9.0xfe.0xa9.0xfe/",
            "https://127.1/a.jpg",
            "https://[::1]/a.jpg",
            "https://[fd00::1]/a.jpg",
            "https://user:pass@example.com/a.jpg",
            "https://@example.com/a.jpg",
            "https://example.com@evil.example/a.jpg",
            "https://a\"onerror=alert(1)//",
            "https://example.com/<script>",
            "https://example.com/a b.jpg",
            "https://example.com\\a.jpg",
            "https://example.com/a'.jpg",
            "https://localhost/a.jpg",
            "https://api.localhost/a.jpg",
            "https://printer.local/a.jpg",
            "https://metadata.google.internal/a.jpg",
            "https://router.home.arpa/a.jpg",
            "https://intranet/a.jpg",
            "https://example.com:8443/a.jpg",
            "https://exämple.com/a.jpg",
            "https:example.com/a.jpg",
            "HTTPS://example.com/a.jpg",
        ] {
            assert!(profile_photo(bad).is_err(), "{bad}");
        }
    }
}
