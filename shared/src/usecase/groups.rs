//! Groups: `/setgroup`, `/editmembers`, `/setadmin`, `/getgroup`, `/delgroup`.
//!
//! Roles live in the group item; every change goes through [`group_edit::edit`] with a rule of `model::group`. Every
//! change moves the group's `ts` (members see it in their next delta; removed members and members of a deleted group
//! get a tombstone) and reaches members as a `group_updated` event through the table's stream.

use serde::Serialize;
use tracing::{info, warn};

use crate::error::ApiError;
use crate::model::clock::Timestamp;
use crate::model::contact::ContactEntry;
use crate::model::group::{Group, MemberChange, adder_name, random_gid};
use crate::model::phone::mesibo_address as address;
use crate::usecase::ports::{GroupStore, MESIBO_MEMBERS_PER_EDIT, Mesibo, MesiboFailed, SaveGroupError};
use crate::usecase::steps::group_admission::{admit, admit_change};
use crate::usecase::steps::group_edit::{self, edit};
use crate::usecase::steps::photos::{self, NewPhoto};
use crate::usecase::steps::session::Session;
use crate::usecase::{App, Ports};

/// Create a group (`gid` 0) or, as its owner or an admin, rename it, change its photo, add members.
#[derive(Debug)]
pub struct SetGroup {
    pub gid: u64,
    pub name: Option<String>,
    pub photo: Option<NewPhoto>,
    /// E.164, de-duplicated, without the caller.
    pub members: Vec<String>,
}

/// Add members, or remove them (`delete`).
#[derive(Debug)]
pub struct EditMembers {
    pub gid: u64,
    pub members: Vec<String>,
    pub delete: bool,
}

/// Make members admins (`admin`), or plain members again.
#[derive(Debug)]
pub struct SetAdmin {
    pub gid: u64,
    pub members: Vec<String>,
    pub admin: bool,
}

/// A group by id (`getgroup`, `delgroup`).
#[derive(Debug, Clone, Copy)]
pub struct GroupId(pub u64);

/// A group as getcontacts lists it: `{gid, name, phone:"", status:"", photo, tn, members}`; its `ts` is the
/// envelope's.
#[derive(Debug, Serialize)]
pub struct GroupReply {
    pub gid: u64,
    pub name: String,
    pub phone: String,
    pub status: String,
    pub photo: String,
    pub tn: String,
    pub members: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<&'static str>,
}

impl From<&Group> for GroupReply {
    fn from(group: &Group) -> Self {
        let ContactEntry { gid, name, phone, status, photo, tn, members, deleted, .. } = ContactEntry::group(group);
        Self { gid, name, phone, status, photo, tn, members: members.unwrap_or_default(), deleted }
    }
}

pub async fn set_group(
    app: &App<impl Ports>,
    session: &Session,
    command: SetGroup,
    now: Timestamp,
) -> Result<GroupReply, ApiError> {
    let SetGroup { gid, name, photo, members } = command;
    let me = session.phone.e164();
    let (max, adder) = (app.config.max_group_members, adder_name(&app.config.otp_secret, me));
    if gid != 0 {
        let newcomers = admit_change(app, gid, &session.phone, &members, now).await?;
        let group = photos::change_group(app, gid, &session.phone, photo, now, |group| {
            group.require_admin(me)?;
            if let Some(name) = &name {
                group.name = name.clone();
            }
            group.add_members(&newcomers, &adder, now, max)
        })
        .await?;
        return Ok(GroupReply::from(&group));
    }
    let mut group = Group::new(0, me, name.unwrap_or_default(), String::new(), now);
    group.add_members(&members, &adder, now, max)?;
    admit(app, &session.phone, &members, group.members.len(), true, now).await?;
    // The photo is stored once the group is known to be valid, and goes again if the group is not created.
    let shown = match photo {
        Some(photo) => photos::store(app, photo, "", &session.phone, now).await?,
        None => Default::default(),
    };
    (group.photo, group.tn) = (shown.photo.clone(), shown.tn);
    let created = create_group(app, group).await;
    photos::settle(app, "", &shown.photo, &created).await;
    created
}

/// Gids drawn for one new group before giving up (each is taken with a chance of groups / 2^31).
const GID_DRAWS: u32 = 4;

/// A new, valid group: its gid (from mesibo, or drawn at random), then stored.
async fn create_group(app: &App<impl Ports>, mut group: Group) -> Result<GroupReply, ApiError> {
    let mut draws = 0;
    loop {
        draws += 1;
        group.gid = match &app.mesibo {
            Some(mesibo) => create_at_mesibo(mesibo, &group).await?,
            None => random_gid(),
        };
        let gid = group.gid;
        let change = MemberChange { added: group.members.iter().map(|m| m.e164.clone()).collect(), removed: vec![] };
        let Err(e) = app.store.save_group(&group, &change).await else {
            info!(gid, members = group.members.len(), "group created");
            return Ok(GroupReply::from(&Group { version: 1, ..group }));
        };
        // Not stored here, so it must not exist at mesibo either. "Not stored" is checked: the write may have gone
        // through with only its answer lost, or only the membership items after it failed; then the group stays,
        // and its stream record mirrors it. (Another group under that gid — one from before mesibo mode — is not
        // this one: mesibo's new group goes.)
        let stored = app.store.group(gid).await;
        let ours = matches!(&stored, Ok(Some(g)) if g.updated_at == group.updated_at && g.members == group.members);
        if let Some(mesibo) = &app.mesibo
            && stored.is_ok()
            && !ours
            && mesibo.delete_group(gid).await.is_err()
        {
            warn!(gid, "could not delete at mesibo a group that was not stored; it stays empty there");
        }
        // A drawn gid another group holds: draw again.
        let taken = matches!(e, SaveGroupError::Conflict) && matches!(stored, Ok(Some(_))) && !ours;
        if app.mesibo.is_none() && taken && draws < GID_DRAWS {
            continue;
        }
        return Err(match e {
            SaveGroupError::Conflict => ApiError::Unavailable,
            SaveGroupError::Unavailable(e) => e.into(),
        });
    }
}

/// mesibo's gid for a new group, with its members already there, so they can message it before the stream's mirror
/// (which repeats this idempotently) gets to it. All or nothing: a failure deletes the half-made group. The members
/// get one time budget however many batches they take, so the request, compensation included, ends well inside
/// the function's timeout.
async fn create_at_mesibo(mesibo: &impl Mesibo, group: &Group) -> Result<u64, ApiError> {
    let gid = mesibo.add_group(&group.name).await.map_err(|_| ApiError::MesiboFail)?;
    let members: Vec<String> = group.members.iter().map(|m| address(&m.e164)).collect();
    let add_all = async {
        for batch in members.chunks(MESIBO_MEMBERS_PER_EDIT) {
            mesibo.edit_members(gid, batch, false).await?;
        }
        Ok::<_, MesiboFailed>(())
    };
    if !matches!(tokio::time::timeout(MEMBERS_BUDGET, add_all).await, Ok(Ok(()))) {
        if mesibo.delete_group(gid).await.is_err() {
            warn!(gid, "could not delete a half-made group at mesibo; it stays there unused");
        }
        return Err(ApiError::MesiboFail);
    }
    Ok(gid)
}

/// Adding a new group's members at mesibo, all batches together (creating it and undoing it take ≤ 5 s each).
const MEMBERS_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

pub async fn get_group(
    app: &App<impl Ports>,
    session: &Session,
    GroupId(gid): GroupId,
) -> Result<GroupReply, ApiError> {
    let group = app.store.group(gid).await?.filter(|g| !g.deleted).ok_or(ApiError::BadGroup)?;
    // Someone not in it gets what a missing group answers: nobody learns which gids exist.
    group.role_of(session.phone.e164()).ok_or(ApiError::BadGroup)?;
    Ok(GroupReply::from(&group))
}

pub async fn edit_members(
    app: &App<impl Ports>,
    session: &Session,
    command: EditMembers,
    now: Timestamp,
) -> Result<GroupReply, ApiError> {
    let EditMembers { gid, members, delete } = command;
    let me = session.phone.e164();
    let (max, adder) = (app.config.max_group_members, adder_name(&app.config.otp_secret, me));
    let newcomers = admit_change(app, gid, &session.phone, if delete { &[] } else { &members }, now).await?;
    let group = edit(app, gid, &session.phone, now, |group| {
        let my_role = group.require_admin(me)?;
        if delete { group.remove_members(my_role, &members) } else { group.add_members(&newcomers, &adder, now, max) }
    })
    .await?;
    Ok(GroupReply::from(&group))
}

pub async fn set_admin(
    app: &App<impl Ports>,
    session: &Session,
    command: SetAdmin,
    now: Timestamp,
) -> Result<GroupReply, ApiError> {
    let SetAdmin { gid, members, admin } = command;
    let me = session.phone.e164();
    admit_change(app, gid, &session.phone, &[], now).await?;
    let group = edit(app, gid, &session.phone, now, |group| {
        let my_role = group.require_admin(me)?;
        group.set_admins(my_role, &members, admin, now)
    })
    .await?;
    Ok(GroupReply::from(&group))
}

/// The owner deletes the group; anyone else leaves it.
pub async fn del_group(
    app: &App<impl Ports>,
    session: &Session,
    GroupId(gid): GroupId,
    now: Timestamp,
) -> Result<GroupReply, ApiError> {
    let me = session.phone.e164();
    let group = group_edit::edit(app, gid, &session.phone, now, |group| group.delete_or_leave(me)).await?;
    if group.deleted {
        photos::discard(app, &group.photo).await;
    }
    Ok(GroupReply::from(&group))
}
