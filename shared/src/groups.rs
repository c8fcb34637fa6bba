//! The groups function: `POST /setgroup`, `/editmembers`, `/setadmin`, `/delgroup`, `GET|POST /getgroup`.
//!
//! Roles live in the group item; every change reads it, applies the rules, and writes it back only if its version
//! is unchanged (retrying on a conflict), so concurrent edits serialise and a group always has exactly one owner.
//! Every change moves the group's `ts` (members see it in their next delta; removed members and members of a
//! deleted group get a tombstone) and reaches members as a `group_updated` event through the table's stream.

use std::collections::HashSet;

use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use tracing::info;

use crate::app::App;
use crate::clock::Timestamp;
use crate::error::ApiError;
use crate::getcontacts::{ContactEntry, group_entry};
use crate::http::{self, Params};
use crate::phone::PhoneNumber;
use crate::profile_text::{profile_name, profile_photo};
use crate::session::{Session, authenticated};
use crate::storage::{Group, GroupMember, GroupRole, SaveGroupError};

/// Conflicting writes are retried this often before the request gives up (503).
const SAVE_ATTEMPTS: usize = 5;

/// mesibo's members string: `"<admincount>:<owner>,<admins…>,<others…>"`, numbers as digits without `+`. The
/// owner counts as an admin.
pub fn members_string(group: &Group) -> String {
    let mut members: Vec<_> = group.members.iter().collect();
    members.sort_by_key(|m| rank(m.role));
    let admins = members.iter().filter(|m| m.role != GroupRole::Member).count();
    let phones: Vec<&str> = members.iter().map(|m| m.e164.trim_start_matches('+')).collect();
    format!("{admins}:{}", phones.join(","))
}

fn rank(role: GroupRole) -> u8 {
    match role {
        GroupRole::Owner => 0,
        GroupRole::Admin => 1,
        GroupRole::Member => 2,
    }
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let now = app.clock.now();
    let op = req.raw_http_path().rsplit('/').next().unwrap_or_default().to_owned();
    let outcome = async {
        let (params, session) = authenticated(app, &req, crate::getcontacts::MAX_BODY_BYTES, now).await?;
        run(app, &op, &session, &params, now).await
    }
    .await;
    http::reply(&op, now, outcome)
}

/// The operation named by `op` (the route's last segment, or mesibo's `op` parameter).
pub async fn run(
    app: &App,
    op: &str,
    session: &Session,
    params: &Params,
    now: Timestamp,
) -> Result<GroupReply, ApiError> {
    let group = match op {
        "setgroup" => set_group(app, session, params, now).await?,
        "getgroup" => get_group(app, session, params).await?,
        "editmembers" | "setadmin" | "delgroup" => change_group(app, op, session, params, now).await?,
        _ => return Err(ApiError::BadRequest("unknown group operation")),
    };
    Ok(GroupReply::from(&group))
}

/// A group as getcontacts lists it: `{gid, name, phone:"", status:"", photo, members}`; its `ts` is the envelope's.
#[derive(Debug, Serialize)]
pub struct GroupReply {
    pub gid: String,
    pub name: String,
    pub phone: String,
    pub status: String,
    pub photo: String,
    pub members: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<&'static str>,
}

impl From<&Group> for GroupReply {
    fn from(group: &Group) -> Self {
        let ContactEntry { gid, name, phone, status, photo, members, deleted, .. } = group_entry(group);
        Self { gid, name, phone, status, photo, members: members.unwrap_or_default(), deleted }
    }
}

fn gid(params: &Params) -> Result<u64, ApiError> {
    params.text("gid").unwrap_or("0").parse().map_err(|_| ApiError::BadGroup)
}

/// `m` (mesibo) or `members`: numbers in the caller's home region, de-duplicated, the caller dropped.
fn member_numbers(app: &App, session: &Session, params: &Params) -> Result<Vec<String>, ApiError> {
    let mut raw = params.list("m")?;
    raw.extend(params.list("members")?);
    let region = session.phone.home_region();
    let mut seen = HashSet::new();
    let mut numbers = vec![];
    for entry in raw {
        let phone = PhoneNumber::parse(&entry, region).ok_or(ApiError::BadPhone)?;
        if phone != session.phone && seen.insert(phone.e164().to_owned()) {
            numbers.push(phone.e164().to_owned());
        }
    }
    if numbers.len() + 1 > app.config.max_group_members {
        return Err(ApiError::TooMany(app.config.max_group_members));
    }
    Ok(numbers)
}

async fn set_group(app: &App, session: &Session, params: &Params, now: Timestamp) -> Result<Group, ApiError> {
    let name = params.raw_text("name").map(profile_name).transpose()?;
    let photo = params.raw_text("photo").map(profile_photo).transpose()?;
    let members = member_numbers(app, session, params)?;
    let gid = gid(params)?;
    if gid != 0 {
        return edit(app, gid, session, now, |group| {
            require_admin(group, session)?;
            if let Some(name) = &name {
                group.name = name.clone();
            }
            if let Some(photo) = &photo {
                group.photo = photo.clone();
            }
            add_members(app, group, &members, now)
        })
        .await;
    }
    let gid = app.store.next_group_id().await?;
    let mut group = Group {
        gid,
        name: name.unwrap_or_default(),
        photo: photo.unwrap_or_default(),
        updated_at: now,
        members: vec![GroupMember { e164: session.phone.e164().to_owned(), role: GroupRole::Owner, since: now }],
        deleted: false,
        version: 0,
    };
    add_members(app, &mut group, &members, now)?;
    let added: Vec<String> = group.members.iter().map(|m| m.e164.clone()).collect();
    app.store.save_group(&group, &added, &[]).await.map_err(|e| match e {
        SaveGroupError::Conflict => ApiError::Unavailable,
        SaveGroupError::Unavailable(e) => e.into(),
    })?;
    info!(gid, members = group.members.len(), "group created");
    Ok(Group { version: 1, ..group })
}

async fn get_group(app: &App, session: &Session, params: &Params) -> Result<Group, ApiError> {
    let group = app.store.group(gid(params)?).await?.filter(|g| !g.deleted).ok_or(ApiError::BadGroup)?;
    role_of(&group, session).ok_or(ApiError::NotMember)?;
    Ok(group)
}

async fn change_group(
    app: &App,
    op: &str,
    session: &Session,
    params: &Params,
    now: Timestamp,
) -> Result<Group, ApiError> {
    let gid = gid(params)?;
    match op {
        "editmembers" => {
            let members = member_numbers(app, session, params)?;
            let delete = params.flag("delete");
            edit(app, gid, session, now, |group| {
                let my_role = require_admin(group, session)?;
                if !delete {
                    return add_members(app, group, &members, now);
                }
                for number in &members {
                    match group.members.iter().find(|m| &m.e164 == number).map(|m| m.role) {
                        Some(GroupRole::Owner) => return Err(ApiError::NotAdmin),
                        Some(GroupRole::Admin) if my_role != GroupRole::Owner => return Err(ApiError::NotAdmin),
                        _ => {}
                    }
                }
                group.members.retain(|m| !members.contains(&m.e164));
                Ok(())
            })
            .await
        }
        "setadmin" => {
            let members = member_numbers(app, session, params)?;
            let admin = params.flag("admin");
            edit(app, gid, session, now, |group| {
                require_admin(group, session)?;
                for number in &members {
                    let member = group.members.iter_mut().find(|m| &m.e164 == number).ok_or(ApiError::NotMember)?;
                    match member.role {
                        // The owner is never demoted, by anyone.
                        GroupRole::Owner => return Err(ApiError::NotAdmin),
                        _ => {
                            let role = if admin { GroupRole::Admin } else { GroupRole::Member };
                            if member.role != role {
                                member.role = role;
                                member.since = now;
                            }
                        }
                    }
                }
                Ok(())
            })
            .await
        }
        _ => {
            // delgroup: the owner deletes the group; anyone else leaves it.
            edit(app, gid, session, now, |group| {
                match role_of(group, session).ok_or(ApiError::NotMember)? {
                    GroupRole::Owner => group.deleted = true,
                    _ => group.members.retain(|m| m.e164 != session.phone.e164()),
                }
                Ok(())
            })
            .await
        }
    }
}

/// Takes a departing account out of a group: an owner hands the group to the longest-standing admin, or deletes it
/// when there is none; anyone else just leaves.
pub(crate) async fn leave_for_good(app: &App, gid: u64, session: &Session, now: Timestamp) -> Result<(), ApiError> {
    let outcome = edit(app, gid, session, now, |group| {
        if role_of(group, session) == Some(GroupRole::Owner) {
            let heir = group.members.iter_mut().filter(|m| m.role == GroupRole::Admin).min_by_key(|m| m.since);
            match heir {
                Some(heir) => heir.role = GroupRole::Owner,
                None => group.deleted = true,
            }
        }
        group.members.retain(|m| m.e164 != session.phone.e164());
        Ok(())
    })
    .await;
    match outcome {
        Ok(_) | Err(ApiError::BadGroup) => Ok(()),
        Err(e) => Err(e),
    }
}

fn role_of(group: &Group, session: &Session) -> Option<GroupRole> {
    group.members.iter().find(|m| m.e164 == session.phone.e164()).map(|m| m.role)
}

fn require_admin(group: &Group, session: &Session) -> Result<GroupRole, ApiError> {
    match role_of(group, session) {
        None => Err(ApiError::NotMember),
        Some(GroupRole::Member) => Err(ApiError::NotAdmin),
        Some(role) => Ok(role),
    }
}

fn add_members(app: &App, group: &mut Group, numbers: &[String], now: Timestamp) -> Result<(), ApiError> {
    for number in numbers {
        if !group.members.iter().any(|m| &m.e164 == number) {
            group.members.push(GroupMember { e164: number.clone(), role: GroupRole::Member, since: now });
        }
    }
    if group.members.len() > app.config.max_group_members {
        return Err(ApiError::TooMany(app.config.max_group_members));
    }
    Ok(())
}

/// Read, apply `change`, write back if nobody else wrote meanwhile; on a conflict, again from the new state.
async fn edit(
    app: &App,
    gid: u64,
    session: &Session,
    now: Timestamp,
    change: impl Fn(&mut Group) -> Result<(), ApiError>,
) -> Result<Group, ApiError> {
    for _ in 0..SAVE_ATTEMPTS {
        let before = app.store.group(gid).await?.filter(|g| !g.deleted).ok_or(ApiError::BadGroup)?;
        let mut group = before.clone();
        change(&mut group)?;
        group.updated_at = now.max(before.updated_at + 1);
        group.members.sort_by_key(|m| (rank(m.role), m.since));
        let old: HashSet<&String> = before.members.iter().map(|m| &m.e164).collect();
        let new: HashSet<&String> = group.members.iter().map(|m| &m.e164).collect();
        let added: Vec<String> = new.difference(&old).map(|s| (*s).clone()).collect();
        let removed: Vec<String> = old.difference(&new).map(|s| (*s).clone()).collect();
        match app.store.save_group(&group, &added, &removed).await {
            Ok(()) => {
                info!(gid, phone = %session.phone, added = added.len(), removed = removed.len(), deleted = group.deleted, "group changed");
                return Ok(Group { version: group.version + 1, ..group });
            }
            Err(SaveGroupError::Conflict) => continue,
            Err(SaveGroupError::Unavailable(e)) => return Err(e.into()),
        }
    }
    Err(ApiError::Unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_then_admins_then_members_with_the_admin_count() {
        let member = |e164: &str, role| GroupMember { e164: e164.into(), role, since: 0 };
        let group = Group {
            gid: 7,
            name: "g".into(),
            photo: String::new(),
            updated_at: 1,
            members: vec![
                member("+13", GroupRole::Member),
                member("+12", GroupRole::Admin),
                member("+11", GroupRole::Owner),
                member("+14", GroupRole::Admin),
            ],
            deleted: false,
            version: 1,
        };
        assert_eq!(members_string(&group), "3:11,12,14,13");
        assert_eq!(members_string(&Group { members: vec![member("+11", GroupRole::Owner)], ..group }), "1:11");
    }

    use proptest::prelude::*;

    proptest! {
        /// `"<admincount>:<owner>,<admins…>,<others…>"` for any group, whatever order the members are stored in.
        #[test]
        fn members_string_is_owner_admins_others(roles in proptest::collection::vec(0u8..2, 0..40), seed: u64) {
            let mut members: Vec<GroupMember> = roles
                .iter()
                .enumerate()
                .map(|(i, r)| GroupMember { e164: format!("+1{i:03}"), role: if *r == 0 { GroupRole::Admin } else { GroupRole::Member }, since: 0 })
                .collect();
            members.push(GroupMember { e164: "+1999".into(), role: GroupRole::Owner, since: 0 });
            let len = members.len();
            members.rotate_left((seed % len as u64) as usize);
            let group = Group { gid: 1, name: String::new(), photo: String::new(), updated_at: 0, members, deleted: false, version: 1 };
            let text = members_string(&group);
            let (count, list) = text.split_once(':').unwrap();
            let phones: Vec<&str> = list.split(',').collect();
            let admins = roles.iter().filter(|r| **r == 0).count();
            prop_assert_eq!(count.parse::<usize>().unwrap(), admins + 1);
            prop_assert_eq!(phones.len(), roles.len() + 1);
            prop_assert_eq!(phones[0], "1999");
            let role_of = |p: &str| group.members.iter().find(|m| m.e164.trim_start_matches('+') == p).unwrap().role;
            prop_assert!(phones[1..=admins].iter().all(|p| role_of(p) == GroupRole::Admin));
            prop_assert!(phones[admins + 1..].iter().all(|p| role_of(p) == GroupRole::Member));
        }
    }
}
