//! The one way a stored group changes: read it, apply a rule of `model::group`, write it back only if its version is
//! unchanged, and on a conflict start again from the new state. Concurrent edits serialise, so a group always has
//! exactly one owner. Shared by the group operations and account deletion.

use tracing::info;

use crate::error::ApiError;
use crate::model::clock::Timestamp;
use crate::model::group::{Group, READD_BAR_SECONDS};
use crate::model::phone::PhoneNumber;
use crate::usecase::ports::{GroupStore, SaveGroupError};
use crate::usecase::{App, Ports};

/// Conflicting writes are retried this often before the request gives up (503).
const SAVE_ATTEMPTS: usize = 5;

/// The group after `change`, as stored. `BADGROUP` if there is no such (live) group.
pub async fn edit(
    app: &App<impl Ports>,
    gid: u64,
    by: &PhoneNumber,
    now: Timestamp,
    change: impl Fn(&mut Group) -> Result<(), ApiError>,
) -> Result<Group, ApiError> {
    for _ in 0..SAVE_ATTEMPTS {
        let before = app.store.group(gid).await?.filter(|g| !g.deleted).ok_or(ApiError::BadGroup)?;
        let mut group = before.clone();
        change(&mut group)?;
        let members = group.settle_change(&before, now);
        bar_readding(app, &before, &members.removed, by, now).await?;
        match app.store.save_group(&group, &members).await {
            Ok(()) => {
                let (added, removed) = (members.added.len(), members.removed.len());
                info!(gid, phone = %by, added, removed, deleted = group.deleted, "group changed");
                return Ok(Group { version: group.version + 1, ..group });
            }
            Err(SaveGroupError::Conflict) => continue,
            Err(SaveGroupError::Unavailable(e)) => return Err(e.into()),
        }
    }
    Err(ApiError::Unavailable)
}

/// Whoever added or removed someone who departs may not add them again for a while. Written before the departure is
/// stored, so every departure has its bars (one that then fails to be stored leaves bars that only concern people
/// still in the group).
async fn bar_readding(
    app: &App<impl Ports>,
    before: &Group,
    departed: &[String],
    by: &PhoneNumber,
    now: Timestamp,
) -> Result<(), ApiError> {
    let bars = before.readd_bars(&app.config.otp_secret, departed, by.e164());
    if !bars.is_empty() {
        app.store.bar_readding(&bars, now + READD_BAR_SECONDS).await?;
    }
    Ok(())
}
