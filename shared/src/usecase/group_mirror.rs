//! mesibo's copy of a group, kept in line with the table (mesibo mode). The table is the source of truth; the
//! table's stream is the outbox: every write of a group item brings mesibo to the group's *current* state, whatever
//! earlier attempts did or did not get through. Every call is idempotent (add who is in, remove who left, set the
//! name, delete a deleted group), so a retried record, a repeated one, or one processed after a later change all
//! converge on the same state, and the next change of a group repairs anything an earlier, lost record missed.

use std::collections::BTreeSet;

use tracing::info;

use crate::model::group::Group;
use crate::model::phone::mesibo_address as address;
use crate::usecase::ports::{GroupStore, MESIBO_MEMBERS_PER_EDIT, Mesibo, MesiboFailed, StoreUnavailable};
use crate::usecase::{Ports, Services};

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error(transparent)]
    Store(#[from] StoreUnavailable),
    #[error(transparent)]
    Mesibo(#[from] MesiboFailed),
}

/// Makes mesibo's group `written.gid` what the table holds now. `before`: the group as the stream saw it before
/// the write (its members may have left).
pub async fn mirror_group<P: Ports>(
    app: &Services<P>,
    mesibo: &P::Mesibo,
    before: Option<&Group>,
    written: &Group,
) -> Result<(), MirrorError> {
    let gid = written.gid;
    let current = app.store.group(gid).await?;
    let Some(current) = current.filter(|g| !g.deleted && !written.deleted) else {
        mesibo.delete_group(gid).await?;
        info!(gid, "group deleted at mesibo");
        return Ok(());
    };
    if before.is_some() {
        mesibo.set_group(gid, &current.name).await?;
    }
    let members: BTreeSet<String> = current.members.iter().map(|m| address(&m.e164)).collect();
    let mut gone: BTreeSet<String> = app.store.former_members(gid).await?.iter().map(|e164| address(e164)).collect();
    gone.extend(before.into_iter().flat_map(|b| b.members.iter().map(|m| address(&m.e164))));
    let gone: Vec<String> = gone.difference(&members).cloned().collect();
    let members: Vec<String> = members.into_iter().collect();
    for batch in members.chunks(MESIBO_MEMBERS_PER_EDIT) {
        mesibo.edit_members(gid, batch, false).await?;
    }
    for batch in gone.chunks(MESIBO_MEMBERS_PER_EDIT) {
        mesibo.edit_members(gid, batch, true).await?;
    }
    info!(gid, members = members.len(), removed = gone.len(), "group mirrored at mesibo");
    Ok(())
}
