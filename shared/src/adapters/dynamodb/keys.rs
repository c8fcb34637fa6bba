//! Every key, index name and attribute name of the table: the only place they are spelled.

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{Item, s};
use crate::model::address_book::{ContactKey, EntryName};
use crate::model::events::{Channel, NotifyRun};

pub const GSI1: &str = "GSI1";
pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const TTL: &str = "ttl";

// The sort key of a number's code record (under `CODE#<keyed name>`).
pub const OTP: &str = "OTP";
// Sort keys of the items kept under a user.
pub const PROFILE: &str = "PROFILE";
pub const CONTACT_PREFIX: &str = "CONTACT#";
pub const DEVICE_PREFIX: &str = "DEVICE#";
pub const TOKEN: &str = "TOKEN";
pub const TOKEN_PREFIX: &str = "TOKEN#";
pub const SESSION_PREFIX: &str = "SESSION#";
pub const GROUP: &str = "GROUP";
// The sort key of a person's news told (`told`), which the mesibo sync reads from the stream.
pub const TOLD: &str = "TOLD";
const USER_PREFIX: &str = "USER#";
const GROUP_PREFIX: &str = "GROUP#";
const LEFT_PREFIX: &str = "LEFT#";
const UPLOAD_PREFIX: &str = "UPLOAD#";
// Sort keys of a lookup quota's days (under `QUOTA#<keyed name>`, not under the user).
pub const LOOKUPS_PREFIX: &str = "LOOKUPS#";

/// Attribute names (beside the keys).
pub mod attr {
    pub const PHONE: &str = "phone";
    pub const NAME: &str = "name";
    pub const STATUS: &str = "status";
    pub const PHOTO: &str = "photo";
    pub const TN: &str = "tn";
    pub const CREATED_AT: &str = "created_at";
    pub const UPDATED_AT: &str = "updated_at";
    pub const DELETED_AT: &str = "deleted_at";
    pub const PUSH_ENDPOINTS: &str = "push_endpoints";
    pub const MESIBO_UID: &str = "mesibo_uid";
    pub const SIGNED_OUT_AT: &str = "signed_out_at";
    pub const MESIBO_DONE_AT: &str = "mesibo_done_at";
    pub const CODE_DIGEST: &str = "code_digest";
    /// The version of the code key the digest was made under; absent for the unversioned key.
    pub const CODE_KEY: &str = "code_key";
    pub const ISSUED_AT: &str = "issued_at";
    pub const EXPIRES_AT: &str = "expires_at";
    pub const ATTEMPTS: &str = "attempts";
    pub const WINDOW_START: &str = "window_start";
    pub const WINDOW_SENDS: &str = "window_sends";
    pub const NEXT_SEND_AT: &str = "next_send_at";
    pub const VERSION: &str = "version";
    pub const ADDED_AT: &str = "added_at";
    pub const DAY: &str = "day";
    pub const COUNT: &str = "count";
    /// A lookup-quota day's charged numbers: a binary set of keyed tags.
    pub const CHARGED: &str = "charged";
    pub const GID: &str = "gid";
    pub const MEMBERS: &str = "members";
    pub const ROLE: &str = "role";
    pub const SINCE: &str = "since";
    /// A group member's adder (barred from adding them again for a while after they leave).
    pub const ADDED_BY: &str = "added_by";
    pub const PLATFORM: &str = "platform";
    pub const NOTIFY_TOKEN: &str = "notify_token";
    pub const ENDPOINT_ARN: &str = "endpoint_arn";
    pub const LAST_RECIPIENT: &str = "last_recipient";
    /// A fan-out page's: where the page after it starts, fixed by the first attempt that found one.
    pub const NEXT_PAGE: &str = "next_page";
    /// A notification run's: the page after it (or its first page) is on the queue.
    pub const NEXT_QUEUED: &str = "next_queued";
    /// A fan-out page's: until when the copy at work holds it.
    pub const LEASE_UNTIL: &str = "lease_until";
    /// A device's: the hash of the access token that registered it.
    pub const REGISTERED_WITH: &str = "registered_with";
    /// A profile's: bumped by every change of the person's devices (their optimistic lock).
    pub const DEVICES_VERSION: &str = "devices_version";
    /// A token's: its mesibo session number.
    pub const SESSION: &str = "session";
    /// A session number's: the claim of the sign-in that took it, and when.
    pub const CLAIM: &str = "claim";
    pub const CLAIMED_AT: &str = "claimed_at";
    /// A session number's: the hash of the token bound to it.
    pub const TOKEN_HASH: &str = "token_hash";
    /// A news told's kind (`contact_joined`, `profile_updated`).
    pub const KIND: &str = "kind";
    /// A pending direct upload's: the account that started it (a `USER#<e164>` key).
    pub const OWNER: &str = "owner";
    /// An address-book entry's: when the notifier marked it a user's.
    pub const JOINED_AT: &str = "joined_at";
    /// The backfill's: where its next page starts, and its counts.
    pub const CURSOR: &str = "cursor";
    pub const STARTED_AT: &str = "started_at";
    pub const FINISHED_AT: &str = "finished_at";
    pub const SCANNED: &str = "scanned";
    pub const REWRITTEN: &str = "rewritten";
}

pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    Item::from([(PK.into(), s(pk)), (SK.into(), s(sk))])
}

/// `USER#<e164>`: the partition of everything a person owns.
pub fn user(e164: &str) -> String {
    format!("{USER_PREFIX}{e164}")
}

pub fn user_value(e164: &str) -> AttributeValue {
    s(user(e164))
}

/// The number in a `USER#<e164>` key.
pub fn user_number(key: &str) -> Option<&str> {
    key.strip_prefix(USER_PREFIX)
}

pub fn token(hash: &str) -> String {
    format!("{TOKEN_PREFIX}{hash}")
}

/// `SESSION#<number>` under the user: one of the person's mesibo session numbers (`model::sessions`).
pub fn session(number: u32) -> String {
    format!("{SESSION_PREFIX}{number}")
}

/// GSI1 sort key of a token under its user: by issue time, then a prefix of the hash for uniqueness.
pub fn token_by_user(issued_at: i64, hash: &str) -> String {
    format!("{TOKEN_PREFIX}{issued_at}#{}", &hash[..16])
}

/// `CONTACT#<keyed name of the number>` under the owner; `CONTACT#<e164>` in entries written before keyed names
/// (`model::address_book`).
pub fn contact(name: &EntryName) -> String {
    format!("{CONTACT_PREFIX}{}", entry_name(name))
}

/// GSI1 partition of the inverted address book: everyone who has the number (by its keyed name, or by the number in
/// entries written before keyed names).
pub fn has_contact(name: &EntryName) -> String {
    format!("HASCONTACT#{}", entry_name(name))
}

fn entry_name(name: &EntryName) -> &str {
    match name {
        EntryName::Keyed(key) => key.as_str(),
        EntryName::Plain(e164) => e164,
    }
}

/// The name in a `CONTACT#…` sort key: a number (the old shape) starts with `+`, a keyed name is hex.
pub fn parse_contact(sk: &str) -> Option<EntryName> {
    let name = sk.strip_prefix(CONTACT_PREFIX)?;
    Some(match name.starts_with('+') {
        true => EntryName::Plain(name.to_owned()),
        false => EntryName::Keyed(ContactKey::from_stored(name.to_owned())),
    })
}

/// `MIGRATION#contact-keys`, `PROGRESS`: where the backfill of keyed address-book names stands.
pub fn backfill_progress() -> Item {
    key("MIGRATION#contact-keys", "PROGRESS")
}

/// `QUOTA#<keyed name of the owner's number>`: a contact-lookup quota, outside the user's partition so that deleting
/// the account leaves it (it expires by TTL).
pub fn lookup_quota(name: &str) -> String {
    format!("QUOTA#{name}")
}

/// One day of a lookup quota, zero-padded so string order is day order for BETWEEN.
pub fn lookups(day: i64) -> String {
    format!("{LOOKUPS_PREFIX}{day:08}")
}

/// `CODE#<keyed name of the number>`: a number's pending code and send state, outside the user's partition so that
/// deleting the account leaves the send state (it expires by TTL).
pub fn code_slot(name: &str) -> String {
    format!("CODE#{name}")
}

pub fn device(token_digest: &str) -> String {
    format!("{DEVICE_PREFIX}{token_digest}")
}

/// `PUSHTOKEN#<token digest>`, `OWNER`: who a device token (and so its platform endpoint) belongs to.
pub fn device_token_owner(token_digest: &str) -> Item {
    key(format!("PUSHTOKEN#{token_digest}"), "OWNER")
}

pub fn group(gid: u64) -> String {
    format!("{GROUP_PREFIX}{gid}")
}

pub fn member(e164: &str) -> String {
    format!("MEMBER#{e164}")
}

/// GSI1 partition of a person's memberships.
pub fn member_of(e164: &str) -> String {
    format!("MEMBEROF#{e164}")
}

/// GSI1 sort key of a membership: `GROUP#<gid>` while a member, `LEFT#<gid>` after.
pub fn membership(gid: u64, left: bool) -> String {
    format!("{}{gid}", if left { LEFT_PREFIX } else { GROUP_PREFIX })
}

/// `(gid, left)` from a membership's GSI1 sort key.
pub fn parse_membership(sk: &str) -> Option<(u64, bool)> {
    let (left, gid) = match sk.strip_prefix(GROUP_PREFIX) {
        Some(gid) => (false, gid),
        None => (true, sk.strip_prefix(LEFT_PREFIX)?),
    };
    Some((gid.parse().ok()?, left))
}

pub fn rate_limit(subject: &str, window_start: i64) -> Item {
    rate_limit_shard(subject, 0, window_start)
}

/// One shard of a split counter: `LIMIT#<subject>#<shard>`, each its own partition key so DynamoDB can place them
/// on different partitions. Shard 0 is the unsplit counter's item.
pub fn rate_limit_shard(subject: &str, shard: u32, window_start: i64) -> Item {
    let pk = match shard {
        0 => format!("LIMIT#{subject}"),
        shard => format!("LIMIT#{subject}#{shard}"),
    };
    key(pk, format!("WINDOW#{window_start}"))
}

/// The partition of a person's notification runs (deleted with the account).
pub fn notify_runs_of(e164: &str) -> String {
    format!("NOTIFY#{}", user(e164))
}

pub fn notify_run(run: &NotifyRun) -> Item {
    let channel = |channel: &Channel| match channel {
        Channel::Events => "",
        Channel::Mesibo => "#MESIBO",
    };
    match run {
        NotifyRun::Person { e164, kind, ts, channel: via } => {
            key(notify_runs_of(e164), format!("RUN#{kind}#{ts}{}", channel(via)))
        }
        NotifyRun::Page { e164, kind, ts, after } => key(notify_runs_of(e164), format!("RUN#{kind}#{ts}#PAGE#{after}")),
        NotifyRun::Group { gid, ts, channel: via } => key(
            format!("NOTIFY#{}", group(*gid)),
            format!("RUN#{}#{ts}{}", crate::model::events::GROUP_UPDATED, channel(via)),
        ),
    }
}

/// `UPLOAD#<fingerprint of the upload id>`, `PENDING`: a direct upload not yet stored.
pub fn pending_upload(fingerprint: &str) -> Item {
    key(format!("{UPLOAD_PREFIX}{fingerprint}"), "PENDING")
}

/// `TOLD#USER#<e164>#<kind>#<ts>`, [`TOLD`]: a person's news the notifier told (within the fan-out limit, or
/// coalesced), for the mesibo sync to tell as well. One partition per news: the stream filter matches the sort key.
pub fn told(e164: &str, kind: &str, ts: i64) -> Item {
    key(format!("TOLD#{}#{kind}#{ts}", user(e164)), TOLD)
}

/// `READD#<keyed name of the pair>`: one person may not add another to a group again until the item's `expires_at`
/// (`model::group::readd_bar_name`).
pub fn readd_bar(name: &str) -> Item {
    key(format!("{READD_PREFIX}{name}"), "BAR")
}

/// The pair's name in a bar's partition key.
pub fn readd_bar_name(pk: &str) -> Option<&str> {
    pk.strip_prefix(READD_PREFIX)
}

const READD_PREFIX: &str = "READD#";
