//! Events for other users' devices: `contact_joined`, `profile_updated`, `group_updated`. What is news in a change
//! of the table, who hears of it, and the event each recipient gets. Delivery is the notifier's (usecase::notify).

use serde::{Deserialize, Serialize};

use super::clock::Timestamp;
use super::group::Group;
use super::profile::ProfileRecord;
use super::secrets::fingerprint;

/// SNS PublishBatch takes at most ten entries.
pub const PUBLISH_BATCH: usize = 10;

/// Resume points outlive any stream retry (the stream keeps records 24 h), then go.
pub const PROGRESS_TTL_SECONDS: Timestamp = 2 * 86_400;

/// An event about one person, for one recipient: `contact_joined` or `profile_updated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactEvent {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub event_id: String,
    /// The recipient: digits without `+`, as mesibo writes numbers.
    pub to: String,
    /// Who joined or changed (person events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Which group changed (group events), with its members string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo: Option<String>,
    pub ts: Timestamp,
    /// `"1"` when the group was deleted, or the recipient is no longer in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<&'static str>,
}

pub const CONTACT_JOINED: &str = "contact_joined";

/// A number that signs up again this soon after its account was deleted is not announced as joining ("X is on … now")
/// but as a profile change: its contacts' apps learn it is back, silently. Deleting and signing up again would
/// otherwise put a visible notice on every contact's phone each cycle (two codes a cycle, a dozen notices an hour);
/// a month is longer than such a campaign is worth, and someone who really left and comes back later is news again.
pub const REJOIN_QUIET_SECONDS: i64 = 30 * 86_400;
pub const PROFILE_UPDATED: &str = "profile_updated";
pub const GROUP_UPDATED: &str = "group_updated";

/// What happened to a profile, independent of who is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileNews {
    pub kind: &'static str,
    pub e164: String,
    pub name: String,
    pub status: String,
    pub photo: String,
    /// The photo's thumbnail (base64 JPEG), for mesibo's apps, which show it until the photo is downloaded.
    pub tn: String,
    /// When it happened (created_at or updated_at): part of the event's identity.
    pub ts: Timestamp,
    /// A deleted account made anew: her entries in others' address books are a user's again, as at a join, even when
    /// she is told of as a profile change (within [`REJOIN_QUIET_SECONDS`]).
    pub rejoined: bool,
}

impl ProfileNews {
    pub fn event_for(&self, recipient_e164: &str) -> ContactEvent {
        let updated = self.kind == PROFILE_UPDATED;
        ContactEvent {
            kind: self.kind,
            event_id: event_id(&[self.kind, &self.e164, &self.ts.to_string(), recipient_e164]),
            to: recipient_e164.trim_start_matches('+').to_owned(),
            phone: Some(self.e164.trim_start_matches('+').to_owned()),
            gid: None,
            members: None,
            name: self.name.clone(),
            status: updated.then(|| self.status.clone()),
            photo: updated.then(|| self.photo.clone()),
            ts: self.ts,
            deleted: None,
        }
    }
}

/// A group changed: every member before or after the change is told, with the group as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupNews {
    pub gid: u64,
    pub name: String,
    pub photo: String,
    pub tn: String,
    pub members: String,
    /// Members now; anyone else told was removed (or left).
    pub current: Vec<String>,
    pub deleted: bool,
    pub ts: Timestamp,
}

impl GroupNews {
    pub fn event_for(&self, recipient_e164: &str) -> ContactEvent {
        let gone = self.deleted || !self.current.iter().any(|m| m == recipient_e164);
        ContactEvent {
            kind: GROUP_UPDATED,
            event_id: event_id(&[GROUP_UPDATED, &self.gid.to_string(), &self.ts.to_string(), recipient_e164]),
            to: recipient_e164.trim_start_matches('+').to_owned(),
            phone: None,
            gid: Some(self.gid.to_string()),
            members: Some(if gone { String::new() } else { self.members.clone() }),
            name: self.name.clone(),
            status: None,
            photo: Some(self.photo.clone()),
            ts: self.ts,
            deleted: gone.then_some("1"),
        }
    }
}

impl ProfileNews {
    /// News in a profile write: a first sign-in (`inserted`, or a tombstone becoming a profile again, unless within
    /// [`REJOIN_QUIET_SECONDS`] of the deletion: then a profile change), or a change to what contacts see. A
    /// deletion, and a write that changes nothing visible, is no news.
    pub fn from_change(inserted: bool, old: Option<&ProfileRecord>, new: &ProfileRecord) -> Option<Self> {
        if new.deleted {
            return None;
        }
        let rejoined = !inserted && old.is_some_and(|old| old.deleted);
        let (kind, ts) = match old {
            _ if inserted => (CONTACT_JOINED, new.created_at),
            Some(old) if old.deleted && new.created_at - old.updated_at < REJOIN_QUIET_SECONDS => {
                (PROFILE_UPDATED, new.created_at)
            }
            Some(old) if old.deleted => (CONTACT_JOINED, new.created_at),
            Some(old) if old.visible() != new.visible() => (PROFILE_UPDATED, new.updated_at),
            _ => return None,
        };
        Some(Self {
            kind,
            e164: new.e164.clone(),
            name: new.name.clone(),
            status: new.status.clone(),
            photo: new.photo.clone(),
            tn: new.tn.clone(),
            ts,
            rejoined,
        })
    }

    /// Whether telling this news marks the person's entries in her audience's address books as a user's.
    pub fn marks_entries(&self) -> bool {
        self.kind == CONTACT_JOINED || self.rejoined
    }
}

impl GroupNews {
    /// A group written (created, changed, deleted): the news, and everyone to tell (members before and after).
    pub fn from_change(old: Option<&Group>, new: &Group) -> (Self, Vec<String>) {
        let mut told: Vec<String> = new.members.iter().map(|m| m.e164.clone()).collect();
        told.extend(old.into_iter().flat_map(|before| before.members.iter().map(|m| m.e164.clone())));
        told.sort();
        told.dedup();
        let news = Self {
            gid: new.gid,
            name: new.name.clone(),
            photo: new.photo.clone(),
            tn: new.tn.clone(),
            members: new.members_string(),
            current: new.members.iter().map(|m| m.e164.clone()).collect(),
            deleted: new.deleted,
            ts: new.updated_at,
        };
        (news, told)
    }
}

/// A write to the table, as the stream reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum TableChange {
    /// A profile item was written (`inserted`: it did not exist before; then there is no `old`).
    Profile { inserted: bool, old: Option<ProfileRecord>, new: ProfileRecord },
    /// A group item was written.
    Group { old: Option<Group>, new: Group },
    /// The notifier told a person's news (within the fan-out limit, or coalesced): the mesibo sync tells it too.
    Told(ProfileNews),
    /// Anything else (deletions, other items): nothing to tell.
    Other,
}

/// Work for the fan-out function, one SQS message each: a page of a large audience, or a coalesced profile change
/// due at the end of its rate-limit window. The message carries the news itself, so a page tells what the stream
/// record said even if the profile changed again since (that change is news of its own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum FanoutTask {
    /// Tell the page of `e164`'s audience that starts after owner `after` (`None`: from the start).
    Page {
        kind: String,
        e164: String,
        name: String,
        status: String,
        photo: String,
        ts: Timestamp,
        after: Option<String>,
        /// [`ProfileNews::rejoined`] (absent in tasks queued before it existed).
        #[serde(default)]
        rejoined: bool,
    },
    /// Tell `e164`'s audience of the profile as it is at `due` (its latest changes were over the limit).
    Coalesced { e164: String, due: Timestamp },
}

impl FanoutTask {
    pub fn page(news: &ProfileNews, after: Option<String>) -> Self {
        Self::Page {
            kind: news.kind.to_owned(),
            e164: news.e164.clone(),
            name: news.name.clone(),
            status: news.status.clone(),
            photo: news.photo.clone(),
            ts: news.ts,
            after,
            rejoined: news.rejoined,
        }
    }
}

impl ProfileNews {
    /// The news a page task carries (`None`: a kind this version does not know). Events carry no thumbnail.
    pub fn from_page(kind: &str, e164: &str, name: &str, status: &str, photo: &str, ts: Timestamp) -> Option<Self> {
        let kind = [CONTACT_JOINED, PROFILE_UPDATED].into_iter().find(|k| *k == kind)?;
        let (e164, name, status, photo) = (e164.to_owned(), name.to_owned(), status.to_owned(), photo.to_owned());
        Some(Self { kind, e164, name, status, photo, tn: String::new(), ts, rejoined: false })
    }

    /// `profile_updated` of the profile as it is now (a coalesced change).
    pub fn current(profile: &ProfileRecord) -> Self {
        Self {
            kind: PROFILE_UPDATED,
            e164: profile.e164.clone(),
            name: profile.name.clone(),
            status: profile.status.clone(),
            photo: profile.photo.clone(),
            tn: profile.tn.clone(),
            ts: profile.updated_at,
            rejoined: false,
        }
    }
}

/// One notification run (one piece of news, over one channel), whose progress is saved so a retried stream record
/// resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyRun {
    /// `contact_joined` / `profile_updated` of a user, at `ts`.
    Person { e164: String, kind: &'static str, ts: Timestamp, channel: Channel },
    /// One page of a fan-out through the queue: the audience of `e164` after owner `after` (empty: the first page).
    Page { e164: String, kind: &'static str, ts: Timestamp, after: String },
    /// `group_updated` of a group, at `ts`.
    Group { gid: u64, ts: Timestamp, channel: Channel },
}

/// How news travels: events (the SNS topic and push), or messages through mesibo (mesibo mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Events,
    Mesibo,
}

/// The body of a backend notification as mesibo's apps read it (mesibo's messenger-app-backend `notify()`; Android
/// `MesiboListeners.Mesibo_onMessageFilter` → `SampleAPI.createContact`): `subject` shown as a notification with
/// `%NAME%` replaced by the phone-book name, then the contact or group updated from the rest (`gid` 0: a person).
/// `event` names the news for apps that want it without parsing subjects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppNotice {
    pub subject: String,
    pub msg: String,
    /// Always 0, as mesibo's backend sent (the apps tell notifications apart by the message's type, 1).
    #[serde(rename = "type")]
    pub kind: u8,
    pub action: u8,
    pub event: &'static str,
    pub name: String,
    /// Digits without `+`; empty for a group.
    pub phone: String,
    pub gid: u64,
    pub status: String,
    pub photo: String,
    /// The photo's thumbnail, base64 JPEG (mesibo's backend sends it with a photo).
    pub tn: String,
    pub ts: Timestamp,
    /// A group's members string; empty for a person, and for a deleted group (the apps then drop it).
    pub members: String,
}

impl AppNotice {
    pub fn person(news: &ProfileNews, app_name: &str) -> Self {
        let (subject, msg) = match news.kind {
            CONTACT_JOINED => (
                format!("%NAME% is on {app_name} now"),
                format!("Hey, your contact %NAME% has just joined {app_name}, you may want to say hi!"),
            ),
            _ => (String::new(), String::new()),
        };
        Self {
            subject,
            msg,
            kind: 0,
            action: 0,
            event: news.kind,
            name: news.name.clone(),
            phone: news.e164.trim_start_matches('+').to_owned(),
            gid: 0,
            status: news.status.clone(),
            photo: news.photo.clone(),
            tn: news.tn.clone(),
            ts: news.ts,
            members: String::new(),
        }
    }

    /// One body for everyone told: members see themselves in `members`, removed members do not (and the apps then
    /// show the group as left).
    pub fn group(news: &GroupNews) -> Self {
        Self {
            subject: String::new(),
            msg: String::new(),
            kind: 0,
            action: 0,
            event: GROUP_UPDATED,
            name: news.name.clone(),
            phone: String::new(),
            gid: news.gid,
            status: String::new(),
            photo: news.photo.clone(),
            tn: if news.deleted { String::new() } else { news.tn.clone() },
            ts: news.ts,
            members: if news.deleted { String::new() } else { news.members.clone() },
        }
    }
}

/// Deterministic: the same event computed twice (a retried batch) has the same id, so consumers can de-duplicate.
fn event_id(parts: &[&str]) -> String {
    fingerprint(parts.join("|").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn news(kind: &'static str, ts: Timestamp) -> ProfileNews {
        ProfileNews {
            kind,
            e164: "+12015550123".into(),
            name: "Ada".into(),
            status: "hi".into(),
            photo: "a.jpg".into(),
            tn: String::new(),
            ts,
            rejoined: false,
        }
    }

    #[test]
    fn event_ids_are_deterministic_and_per_recipient() {
        let a = news(CONTACT_JOINED, 100).event_for("+12015550124");
        assert_eq!(a, news(CONTACT_JOINED, 100).event_for("+12015550124"));
        assert_ne!(a.event_id, news(CONTACT_JOINED, 100).event_for("+12015550125").event_id);
        assert_ne!(
            a.event_id,
            news(CONTACT_JOINED, 101).event_for("+12015550124").event_id,
            "a re-registration is a new join"
        );
        assert_ne!(a.event_id, news(PROFILE_UPDATED, 100).event_for("+12015550124").event_id);
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "contact_joined", "event_id": a.event_id, "to": "12015550124", "phone": "12015550123", "name": "Ada", "ts": 100})
        );
        let updated = serde_json::to_value(news(PROFILE_UPDATED, 7).event_for("+12015550124")).unwrap();
        assert_eq!((updated["status"].as_str(), updated["photo"].as_str()), (Some("hi"), Some("a.jpg")));
        assert_eq!(a.event_id.len(), 32);
    }

    #[test]
    fn group_events_tell_removed_members_they_are_out() {
        let news = GroupNews {
            gid: 9,
            name: "G".into(),
            photo: String::new(),
            tn: String::new(),
            members: "1:1201,1202".into(),
            current: vec!["+1201".into(), "+1202".into()],
            deleted: false,
            ts: 5,
        };
        let member = serde_json::to_value(news.event_for("+1202")).unwrap();
        assert_eq!((member["gid"].as_str(), member["members"].as_str()), (Some("9"), Some("1:1201,1202")));
        assert!(member.get("deleted").is_none() && member.get("phone").is_none());
        assert_eq!(serde_json::to_value(news.event_for("+1203")).unwrap()["deleted"], "1");
        let notice = serde_json::to_value(AppNotice::group(&news)).unwrap();
        assert_eq!(
            (notice["gid"].as_u64(), notice["members"].as_str(), notice["phone"].as_str()),
            (Some(9), Some("1:1201,1202"), Some(""))
        );
        let deleted = AppNotice::group(&GroupNews { deleted: true, ..news });
        assert_eq!(deleted.members, "");
    }

    #[test]
    fn app_notices_have_the_fields_mesibo_apps_read() {
        let joined = serde_json::to_value(AppNotice::person(&news(CONTACT_JOINED, 100), "Chat")).unwrap();
        assert_eq!(joined["subject"], "%NAME% is on Chat now");
        assert!(joined["msg"].as_str().unwrap().contains("%NAME%"));
        assert_eq!(
            (joined["type"].as_u64(), joined["gid"].as_u64(), joined["ts"].as_i64()),
            (Some(0), Some(0), Some(100))
        );
        assert_eq!(
            (joined["phone"].as_str(), joined["name"].as_str(), joined["event"].as_str()),
            (Some("12015550123"), Some("Ada"), Some(CONTACT_JOINED))
        );
        let updated = AppNotice::person(&news(PROFILE_UPDATED, 7), "Chat");
        assert_eq!((updated.subject.as_str(), updated.msg.as_str(), updated.status.as_str()), ("", "", "hi"));
    }
}
