//! `/export`: everything stored about the signed-in person, as they may ask for it (GDPR Art. 15 and 20). Secrets
//! are never part of it: not the tokens (stored only as hashes), nor the push devices' tokens or endpoints.

use serde::Serialize;
use tracing::{info, warn};

use crate::error::ApiError;
use crate::model::clock::Timestamp;
use crate::model::group::GroupRole;
use crate::model::rate_limit::RateLimit;
use crate::usecase::ports::{ContactStore, DeviceStore, GroupStore, ProfileStore, RateLimitStore, TokenStore};
use crate::usecase::steps::session::Session;
use crate::usecase::{App, Ports};

#[derive(Debug, Serialize)]
pub struct ExportReply {
    pub profile: ExportedProfile,
    pub devices: Vec<ExportedDevice>,
    pub groups: Vec<ExportedGroup>,
    pub address_book: ExportedAddressBook,
    pub sign_ins: Vec<ExportedSignIn>,
    pub limits: Vec<ExportedLimit>,
}

#[derive(Debug, Serialize)]
pub struct ExportedProfile {
    pub phone: String,
    pub name: String,
    pub status: String,
    pub photo: String,
    pub tn: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// mesibo's id of the user (mesibo mode), 0 without.
    pub mesibo_uid: u64,
}

/// A device registered for push: when, and whether push reaches it; never its token or endpoint.
#[derive(Debug, Serialize)]
pub struct ExportedDevice {
    pub registered_at: Timestamp,
    /// "enabled": it has a push endpoint; "stored": kept, with no platform application to push through.
    pub push: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ExportedGroup {
    pub gid: u64,
    pub name: String,
    pub role: &'static str,
    /// When they joined it (or last changed role).
    pub since: Timestamp,
    pub members: usize,
}

/// The address book's size, not its numbers: most of them are other people's (many never signed up), and the app
/// that uploaded them has them already.
#[derive(Debug, Serialize)]
pub struct ExportedAddressBook {
    pub entries: usize,
    /// When the newest entry was added (0: none).
    pub last_added_at: Timestamp,
}

/// A signed-in device: when its sign-in was made and ends. The token itself is stored only as its hash; when a
/// token was last used is not recorded at all.
#[derive(Debug, Serialize)]
pub struct ExportedSignIn {
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    /// This request's own sign-in.
    pub current: bool,
}

/// One of the person's limits in its current window.
#[derive(Debug, Serialize)]
pub struct ExportedLimit {
    pub kind: String,
    pub used: i64,
    pub max: i64,
    pub window_seconds: i64,
    pub resets_at: Timestamp,
}

pub async fn export(app: &App<impl Ports>, session: &Session, now: Timestamp) -> Result<ExportReply, ApiError> {
    let exports = RateLimit::exports(&app.config.otp_secret, &session.phone);
    if !app.store.take(&exports, now).await? {
        app.limit_hit(exports.kind(), now);
        warn!(phone = %session.phone, "export limit reached");
        return Err(ApiError::RateLimited { retry_after: exports.retry_after(now) });
    }
    let e164 = session.phone.e164();
    let profile = app.store.profile(&session.phone).await?.ok_or(ApiError::AuthFail)?;
    let devices = app.store.devices(e164).await?;
    let mut groups = vec![];
    for membership in app.store.memberships_of(e164).await?.into_iter().filter(|m| !m.left) {
        let Some(group) = app.store.group(membership.gid).await?.filter(|g| !g.deleted) else { continue };
        let Some(member) = group.members.iter().find(|m| m.e164 == e164) else { continue };
        groups.push(ExportedGroup {
            gid: group.gid,
            name: group.name.clone(),
            role: role_name(member.role),
            since: member.since,
            members: group.members.len(),
        });
    }
    let (entries, last_added_at) = app.store.address_book_size(e164).await?;
    let mut sign_ins = vec![];
    for hash in app.store.tokens_of(&session.phone).await? {
        if let Some(token) = app.store.token(&hash).await?.filter(|t| t.expires_at > now) {
            let current = hash == session.token;
            sign_ins.push(ExportedSignIn { issued_at: token.issued_at, expires_at: token.expires_at, current });
        }
    }
    sign_ins.sort_by_key(|s| s.issued_at);
    let (abuse, secret, phone) = (&app.config.abuse, &app.config.otp_secret, &session.phone);
    let mut limits = vec![];
    for limit in [
        RateLimit::contact_syncs(abuse, secret, phone),
        RateLimit::contact_writes(abuse, secret, phone),
        RateLimit::uploads(abuse, secret, phone),
        RateLimit::groups_created(abuse, secret, phone),
        RateLimit::group_member_adds(abuse, secret, phone),
        RateLimit::group_notices(abuse, secret, phone),
        exports,
    ] {
        limits.push(ExportedLimit {
            kind: limit.kind().to_owned(),
            used: app.store.used(&limit, now).await?,
            max: limit.max,
            window_seconds: limit.window_seconds,
            resets_at: limit.window_start(now) + limit.window_seconds,
        });
    }
    info!(phone = %session.phone, groups = groups.len(), sign_ins = sign_ins.len(), "data exported");
    Ok(ExportReply {
        profile: ExportedProfile {
            phone: profile.phone.e164().trim_start_matches('+').to_owned(),
            name: profile.name,
            status: profile.status,
            photo: profile.photo,
            tn: profile.tn,
            created_at: profile.created_at,
            updated_at: profile.updated_at,
            mesibo_uid: profile.mesibo_uid.unwrap_or(0),
        },
        devices: devices
            .devices
            .iter()
            .map(|d| ExportedDevice {
                registered_at: d.updated_at,
                push: if d.endpoint.is_some() { "enabled" } else { "stored" },
            })
            .collect(),
        groups,
        address_book: ExportedAddressBook { entries, last_added_at },
        sign_ins,
        limits,
    })
}

fn role_name(role: GroupRole) -> &'static str {
    match role {
        GroupRole::Owner => "owner",
        GroupRole::Admin => "admin",
        GroupRole::Member => "member",
    }
}
