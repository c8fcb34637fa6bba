//! mesibo's operations, each as mesibo/on-premise's server answers it: users and their session tokens, groups and
//! their members, messages.

use serde_json::{Map, Value, json};

use super::request::*;
use super::*;

/// `useradd {user: {address | uid, name?, flags?, active?, token?: {appid, session?, expiry?}}}` → `{user: {uid,
/// address, token}}`; without `user.token` no token is made and the answer has none ("The access token will not be
/// generated if this object is not present in the request", docs.mesibo.com/api/backend-api/user-management/;
/// mesibo/samples mesibohelper.php (df0b75e) MesiboAddUser).
pub(super) fn useradd(state: &mut State, call: Obj) -> Outcome {
    let user = call.object("user")?.ok_or_else(|| missing(&["user"]))?;
    let who = who(user)?;
    let name = user.string("name")?;
    user.number("flags")?;
    user.flag("active")?;
    user.string("otp")?;
    let token = match user.object("token")? {
        Some(token) => {
            let appid = token.required_string("appid")?;
            if !valid_appid(appid) {
                return Err(bad_appid());
            }
            // One token per (uid, session), the session 0 unless named (`insert into tokens set uid, session, … on
            // duplicate key update`, mesibo/on-premise bin/backend (3e0bd47)).
            let session = token.number("session")?.unwrap_or(0);
            // Minutes (`ets=%u+%u*60`, ibid.); 0: never ("0 for never expires", mesibo/samples mesiboapi.php
            // (07c0836)).
            let expiry = token.number("expiry")?.unwrap_or(0);
            token.flag("v2")?;
            Some((appid, session, expiry))
        }
        None => None,
    };

    let address = match &who {
        Who::Address(address) => address.clone(),
        Who::Uid(_) => existing(state, &who)?,
    };
    if !state.users.contains_key(&address) {
        let uid = state.next_id();
        state
            .users
            .insert(address.clone(), User { uid, address: address.clone(), name: String::new(), tokens: vec![] });
    }
    let user = state.users.get_mut(&address).expect("just ensured");
    if let Some(name) = name {
        user.name = name.to_owned();
    }
    let mut answer = json!({"uid": user.uid, "address": address});
    if let Some((appid, session, expiry)) = token {
        answer["token"] = json!(issue(user, appid, session, expiry));
    }
    Ok(Map::from_iter([("user".to_owned(), answer)]))
}

/// The user's token for `session`: its live one for this app as it is (`select token … where uid, appid, session …
/// and unix_timestamp() < ets limit 1`, mesibo/on-premise bin/backend (3e0bd47)), else a new one in its place.
pub(super) fn issue(user: &mut User, appid: &str, session: u64, expiry: u64) -> String {
    let now = now();
    if let Some(live) = user.tokens.iter().find(|t| t.session == session && t.appid == appid && t.live(now)) {
        return live.token.clone();
    }
    user.tokens.retain(|t| t.session != session);
    let token = crate::harness::random_hex(32);
    user.tokens.push(Token {
        token: token.clone(),
        appid: appid.to_owned(),
        session,
        expires_at: (expiry > 0).then(|| now + expiry * 60),
    });
    // Up to eight devices (docs.mesibo.com/api/messaging/multi-device-login-and-synchronization/); what a ninth does
    // is not documented. The emulator's reading: the least recently issued live session gives way.
    let live: Vec<u64> = user.tokens.iter().filter(|t| t.live(now)).map(|t| t.session).collect();
    if live.len() > MAX_SESSIONS {
        let oldest = live[0];
        user.tokens.retain(|t| t.session != oldest);
    }
    token
}

/// `userset {user: {address | uid, name?, flags?, token?: {remove: true, session?}}}`: `token.remove` ends the
/// named session's token, or every token of the user when no session is named (mesibo/samples mesibohelper.php
/// (df0b75e) MesiboDeleteToken names none and means the user's token; `delete from tokens where uid and session`,
/// mesibo/on-premise bin/backend (3e0bd47)).
pub(super) fn userset(state: &mut State, call: Obj) -> Outcome {
    let user = call.object("user")?.ok_or_else(|| missing(&["user"]))?;
    let who = who(user)?;
    let name = user.string("name")?;
    user.number("flags")?;
    let (remove, session) = match user.object("token")? {
        Some(token) => (token.flag("remove")?.unwrap_or(false), token.number("session")?),
        None => (false, None),
    };
    let address = existing(state, &who)?;
    let user = state.users.get_mut(&address).expect("existing");
    if let Some(name) = name {
        user.name = name.to_owned();
    }
    if remove {
        user.tokens.retain(|t| session.is_some_and(|s| t.session != s));
    }
    Ok(Map::new())
}

/// `userdel {user: {address | uid}}`: the user, every token and every membership go.
pub(super) fn userdel(state: &mut State, call: Obj) -> Outcome {
    let user = call.object("user")?.ok_or_else(|| missing(&["user"]))?;
    let address = existing(state, &who(user)?)?;
    state.users.remove(&address);
    for group in state.groups.values_mut() {
        group.members.remove(&address);
    }
    for permissions in state.permissions.values_mut() {
        permissions.remove(&address);
    }
    Ok(Map::new())
}

/// `group.members`: `{m, permissions?: {send, recv, pub, sub, list}}` (mesibo/samples mesibohelper.php (df0b75e)).
/// Permissions left out are granted: mesibo's helper always grants all five, and its sources say nothing of
/// defaults (the emulator's reading).
pub(super) fn members(group: Obj) -> Result<Option<(Vec<String>, Permissions)>, Refusal> {
    let Some(members) = group.object("members")? else { return Ok(None) };
    let list = members.addresses("m")?.filter(|m| !m.is_empty()).ok_or_else(|| missing(&["m"]))?;
    let mut permissions = Permissions { send: true, recv: true, publish: true, sub: true, list: true };
    if let Some(given) = members.object("permissions")? {
        permissions.send = given.flag("send")?.unwrap_or(true);
        permissions.recv = given.flag("recv")?.unwrap_or(true);
        permissions.publish = given.flag("pub")?.unwrap_or(true);
        permissions.sub = given.flag("sub")?.unwrap_or(true);
        permissions.list = given.flag("list")?.unwrap_or(true);
    }
    Ok(Some((list, permissions)))
}

/// Adds those of `list` who are users; the others are skipped without a word (`insert into members … select … from
/// users where address in (…) and active=1 and deleted=0`, mesibo/on-premise bin/backend (3e0bd47)).
pub(super) fn add_members(state: &mut State, gid: u64, list: &[String], permissions: Permissions) {
    let users: Vec<String> = list.iter().filter(|a| state.users.contains_key(*a)).cloned().collect();
    let group = state.groups.get_mut(&gid).expect("existing group");
    let granted = state.permissions.entry(gid).or_default();
    for address in users {
        group.members.insert(address.clone());
        granted.insert(address, permissions);
    }
}

/// A duration in seconds, counted from now; absent or 0: the default year. The emulator's reading of 0: mesibo's
/// groupset renews only when a duration is given (`ets=if(%d, unix_timestamp()+%u, ets)`, mesibo/on-premise
/// bin/backend (3e0bd47)), and a group that expires the moment it is made serves nobody.
pub(super) fn duration(group: Obj) -> Result<Option<u64>, Refusal> {
    Ok(group.number("duration")?.filter(|d| *d > 0))
}

/// `groupadd {group: {name?, flags?, start?, duration?, expiryext?, members?}}` → `{group: {gid}}`
/// (the request: mesibo/samples mesibohelper.php (df0b75e) MesiboCreateGroup; the answer:
/// mesibo.com/documentation/tutorials/get-started/group-messaging-rest-console/).
pub(super) fn groupadd(state: &mut State, call: Obj) -> Outcome {
    let group = call.object("group")?.ok_or_else(|| missing(&["group"]))?;
    let name = group.string("name")?.unwrap_or_default().to_owned();
    let flags = group.number("flags")?.unwrap_or(0);
    group.number("start")?;
    group.number("expiryext")?;
    let duration = duration(group)?.unwrap_or(DEFAULT_GROUP_DURATION);
    let members = members(group)?;
    let gid = state.next_id();
    let expires_at = now() + duration;
    state.groups.insert(gid, Group { gid, name, flags, expires_at, members: BTreeSet::new() });
    state.permissions.insert(gid, BTreeMap::new());
    if let Some((list, permissions)) = members {
        add_members(state, gid, &list, permissions);
    }
    let mut answer = Map::new();
    answer.insert("group".into(), json!({"gid": gid}));
    Ok(answer)
}

/// The gid of an existing group from `group.gid`.
pub(super) fn existing_group(state: &State, group: Obj) -> Result<u64, Refusal> {
    let gid = group.number("gid")?.filter(|g| *g != 0).ok_or_else(|| missing(&["gid"]))?;
    state.groups.contains_key(&gid).then_some(gid).ok_or_else(|| invalid("gid"))
}

/// `groupset {group: {gid, name?, flags?, duration?, members?}}`: what is given changes, a duration renews the
/// expiry from now (mesibo/samples mesibohelper.php (df0b75e) MesiboSetGroup; `update groupstable set … ets=if(%d,
/// unix_timestamp()+%u, ets)`, mesibo/on-premise bin/backend (3e0bd47)).
pub(super) fn groupset(state: &mut State, call: Obj) -> Outcome {
    let group = call.object("group")?.ok_or_else(|| missing(&["group"]))?;
    let name = group.string("name")?;
    let flags = group.number("flags")?;
    group.number("start")?;
    group.number("expiryext")?;
    let duration = duration(group)?;
    let members = members(group)?;
    let gid = existing_group(state, group)?;
    let stored = state.groups.get_mut(&gid).expect("existing");
    if let Some(name) = name {
        stored.name = name.to_owned();
    }
    if let Some(flags) = flags {
        stored.flags = flags;
    }
    if let Some(duration) = duration {
        stored.expires_at = now() + duration;
    }
    if let Some((list, permissions)) = members {
        add_members(state, gid, &list, permissions);
    }
    let mut answer = Map::new();
    answer.insert("group".into(), json!({"gid": gid}));
    Ok(answer)
}

/// `groupdel {group: {gid}}`.
pub(super) fn groupdel(state: &mut State, call: Obj) -> Outcome {
    let group = call.object("group")?.ok_or_else(|| missing(&["group"]))?;
    let gid = existing_group(state, group)?;
    state.groups.remove(&gid);
    state.permissions.remove(&gid);
    Ok(Map::new())
}

/// `groupeditmembers {group: {gid, delete?, members: {m, permissions?}}}`: adds the users among `m`, or with
/// `delete` removes those of `m` who are members; nobody else is touched and nobody is refused (`delete m.* from
/// members m, users u where … u.address in (…)`, mesibo/on-premise bin/backend (3e0bd47)).
pub(super) fn groupeditmembers(state: &mut State, call: Obj) -> Outcome {
    let group = call.object("group")?.ok_or_else(|| missing(&["group"]))?;
    let delete = group.flag("delete")?.unwrap_or(false);
    let (list, permissions) = members(group)?.ok_or_else(|| missing(&["members"]))?;
    let gid = existing_group(state, group)?;
    if delete {
        let stored = state.groups.get_mut(&gid).expect("existing");
        let granted = state.permissions.entry(gid).or_default();
        for address in &list {
            stored.members.remove(address);
            granted.remove(address);
        }
    } else {
        add_members(state, gid, &list, permissions);
    }
    Ok(Map::new())
}

/// `groupgetmembers {group: {gid}}` (mesibo/samples mesibohelper.php (df0b75e) MesiboGetMembers) → `{group: {gid},
/// members: [{uid, address, permissions}]}`: no source shows the answer; the emulator's reading takes the columns
/// mesibo selects (`select m.gid, m.uid, address, … cansend, canrecv, canpub, cansub, canlist …`, mesibo/on-premise
/// bin/backend (3e0bd47)) under the request's own names.
pub(super) fn groupgetmembers(state: &State, call: Obj) -> Outcome {
    let group = call.object("group")?.ok_or_else(|| missing(&["group"]))?;
    let gid = existing_group(state, group)?;
    let granted = state.permissions.get(&gid);
    let members: Vec<Value> = state.groups[&gid]
        .members
        .iter()
        .map(|address| {
            let uid = state.users.get(address).map(|u| u.uid).unwrap_or_default();
            let permissions = granted.and_then(|g| g.get(address));
            json!({"uid": uid, "address": address, "permissions": permissions})
        })
        .collect();
    let mut answer = Map::new();
    answer.insert("group".into(), json!({"gid": gid}));
    answer.insert("members".into(), json!(members));
    Ok(answer)
}

/// `message {message: {from, to | gid, type?, expiry?, flags?, forced?, message}}` → `{mid}`
/// (docs.mesibo.com/api/backend-api/messaging/; mesibo/samples mesibohelper.php (df0b75e) MesiboMessage).
pub(super) fn message(state: &mut State, call: Obj) -> Outcome {
    let message = call.object("message")?.ok_or_else(|| missing(&["message"]))?;
    let from = message.required_string("from")?.to_owned();
    let to = message.addresses("to")?.unwrap_or_default();
    let gid = message.number("gid")?.filter(|g| *g != 0);
    let message_type = message.number("type")?.unwrap_or(0);
    // Seconds, a year unless given (docs.mesibo.com/api/backend-api/messaging/, its table).
    let expiry = message.number("expiry")?.unwrap_or(DEFAULT_MESSAGE_EXPIRY);
    let flags = message.number("flags")?.unwrap_or(0);
    let forced = message.flag("forced")?.unwrap_or(false);
    message.number("when")?;
    message.string("url")?;
    message.string("title")?;
    let body = message.string("message")?.ok_or_else(|| missing(&["message"]))?.to_owned();
    if gid.is_none() && to.is_empty() {
        return Err(missing(&["to", "gid"]));
    }
    if let Some(gid) = gid {
        state.groups.contains_key(&gid).then_some(()).ok_or_else(|| invalid("gid"))?;
    }
    if !state.users.contains_key(&from) {
        // "`from` user does not exists: …, try with forced=true"; with it, "creating `from` user"
        // (mesibo/on-premise bin/backend (3e0bd47), its strings).
        if !forced {
            return Err(invalid("from").cause("`from` user does not exists, try with forced=true"));
        }
        let uid = state.next_id();
        state.users.insert(from.clone(), User { uid, address: from.clone(), name: String::new(), tokens: vec![] });
    }
    // A group message reaches the group's members; otherwise the recipients who are users (`… from users u where
    // u.address in (…) and u.active=1 and u.deleted=0`, ibid.).
    let delivered: Vec<String> = match gid {
        Some(gid) => state.groups[&gid].members.iter().cloned().collect(),
        None => to.iter().filter(|a| state.users.contains_key(*a)).cloned().collect(),
    };
    let mid = state.next_id();
    state.messages.push(Message { mid, from, to, gid, delivered, message_type, flags, expiry, body });
    let mut answer = Map::new();
    answer.insert("mid".into(), json!(mid));
    Ok(answer)
}
