//! A person's profile: what their contacts see of them, and the rules for what may go in it (the same wherever a
//! name, status or photo comes in).

use super::clock::Timestamp;
use super::phone::PhoneNumber;
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

/// A profile as contacts see it, read in bulk. The number stays an E.164 string: it came from our own table, and
/// re-validating thousands of them per sync would cost more than the sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactProfile {
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

impl ContactProfile {
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

/// A display name: at most 64 characters, no control characters.
pub fn profile_name(input: &str) -> Result<String, ApiError> {
    bounded_text(input, MAX_NAME_CHARS)
        .ok_or(ApiError::BadRequest("name: at most 64 characters, no control characters"))
}

/// A status line: at most 140 characters, no control characters.
pub fn profile_status(input: &str) -> Result<String, ApiError> {
    bounded_text(input, MAX_STATUS_CHARS)
        .ok_or(ApiError::BadRequest("status: at most 140 characters, no control characters"))
}

/// A photo: a file name (`1587123154-3c74.jpg`) or an https URL, at most 512 characters. Empty clears it.
pub fn profile_photo(input: &str) -> Result<String, ApiError> {
    const PROBLEM: ApiError = ApiError::BadRequest("photo: a file name or an https URL, at most 512 characters");
    let photo = bounded_text(input, MAX_PHOTO_CHARS).ok_or(PROBLEM)?;
    let file_name = photo.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) && !photo.starts_with('.');
    let https_url =
        photo.strip_prefix("https://").is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace));
    if photo.is_empty() || file_name || https_url { Ok(photo) } else { Err(PROBLEM) }
}

fn bounded_text(input: &str, max_chars: usize) -> Option<String> {
    let text = input.trim();
    (text.chars().count() <= max_chars && !text.chars().any(char::is_control)).then(|| text.to_owned())
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
}
