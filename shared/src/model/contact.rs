//! Entries of a contact list as mesibo clients read them (users and groups alike, every value a string), the
//! caller's own profile beside them, and which changes a delta sync reports.

use serde::Serialize;

use super::clock::Timestamp;
use super::group::Group;
use super::phone::PhoneNumber;
use super::profile::ProfileRecord;

/// A delta returns changes from this long before the client's cursor. A profile write is stamped by its own
/// instance's clock and may still be retrying (up to the SDK's 15 s operation timeout) when a sync that started
/// later reads: without the overlap it could land behind the cursor and never be seen. Overlap repeats a few
/// changes; a gap would lose them.
pub const DELTA_OVERLAP_SECONDS: i64 = 60;

/// A user or group as mesibo clients list them: every value a string but `gid`, a number: mesibo's iOS app reads it
/// with `unsignedIntValue`, which a JSON string (NSString) does not have (Android's Gson reads either).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ContactEntry {
    pub gid: u64,
    pub name: String,
    pub phone: String,
    pub status: String,
    pub photo: String,
    /// The photo's thumbnail, base64 JPEG; empty when there is none (or the reply's thumbnail budget is spent).
    pub tn: String,
    pub ts: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<&'static str>,
}

impl ContactEntry {
    /// A user (`gid` "0"); a deleted account shows only its number and `deleted: "1"`.
    pub fn user(profile: &ProfileRecord) -> Self {
        let shown = |value: &String| if profile.deleted { String::new() } else { value.clone() };
        Self {
            gid: 0,
            name: shown(&profile.name),
            phone: profile.e164.trim_start_matches('+').to_owned(),
            status: shown(&profile.status),
            photo: shown(&profile.photo),
            tn: shown(&profile.tn),
            ts: profile.updated_at.to_string(),
            members: None,
            deleted: profile.deleted.then_some("1"),
        }
    }

    /// A group (`phone` and `status` empty, `members` in mesibo's form); a deleted group is a tombstone.
    pub fn group(group: &Group) -> Self {
        let shown = |value: &String| if group.deleted { String::new() } else { value.clone() };
        Self {
            gid: group.gid,
            name: shown(&group.name),
            phone: String::new(),
            status: String::new(),
            photo: shown(&group.photo),
            tn: shown(&group.tn),
            ts: group.updated_at.to_string(),
            members: Some(if group.deleted { String::new() } else { group.members_string() }),
            deleted: group.deleted.then_some("1"),
        }
    }
}

/// The caller's own profile (`u`), beside contact lists and after a profile change.
#[derive(Debug, Serialize)]
pub struct OwnProfile {
    pub name: String,
    pub phone: String,
    pub status: String,
    pub photo: String,
    pub tn: String,
    pub ts: String,
    /// Present for mesibo clients, which read it; this backend keeps no connection state.
    pub connection_status: String,
}

impl OwnProfile {
    pub fn of(phone: &PhoneNumber, profile: ProfileRecord) -> Self {
        Self {
            name: profile.name,
            phone: phone.digits().to_owned(),
            status: profile.status,
            photo: profile.photo,
            tn: profile.tn,
            ts: profile.updated_at.to_string(),
            connection_status: String::new(),
        }
    }
}

/// Whether a change stamped `updated_at` belongs in a delta since the cursor `since`: anything stamped after the
/// cursor less the overlap. A first sync (`since` 0) lists everything alive and has no tombstones to hear about.
pub fn is_news(updated_at: Timestamp, deleted: bool, since: Timestamp) -> bool {
    if since == 0 {
        return !deleted;
    }
    updated_at > since - DELTA_OVERLAP_SECONDS
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// No change is ever missed: a write whose stamp lags the real time of its commit by at most the overlap
        /// (another instance's clock, SDK retries) and that commits after a sync read at `cursor` is news for the
        /// delta that starts from that cursor — and a change long before the cursor is not.
        #[test]
        fn a_change_committed_after_a_sync_is_in_the_next_delta(
            cursor in 1i64..4_000_000_000,
            committed_after in 0i64..1_000_000,
            lag in 0i64..DELTA_OVERLAP_SECONDS,
            deleted: bool,
        ) {
            let stamp = cursor + committed_after - lag;
            prop_assert!(is_news(stamp, deleted, cursor));
            prop_assert!(!is_news(cursor - DELTA_OVERLAP_SECONDS - committed_after, deleted, cursor));
        }

        #[test]
        fn a_first_sync_lists_the_living_only(updated_at in 0i64..4_000_000_000, deleted: bool) {
            prop_assert_eq!(is_news(updated_at, deleted, 0), !deleted);
        }
    }
}
