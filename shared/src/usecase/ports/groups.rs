//! Groups, their members, and the bars on adding someone again.

use std::future::Future;

use super::{StoreUnavailable, Stored};
use crate::model::clock::Timestamp;
use crate::model::group::{Group, MemberChange, Membership};
use crate::model::phone::PhoneNumber;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SaveGroupError {
    #[error("the group changed since it was read")]
    Conflict,
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

/// A position in a walk over every group; opaque to everyone but the store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct GroupCursor(pub String);

/// Groups, each with the cursor after it, and where the next page starts (`None`: the walk is done).
pub type GroupsPage = (Vec<(Group, GroupCursor)>, Option<GroupCursor>);

/// Groups and who belongs to them.
pub trait GroupStore: Sync {
    fn group(&self, gid: u64) -> impl Future<Output = Stored<Option<Group>>> + Send;

    fn groups(&self, gids: &[u64]) -> impl Future<Output = Stored<Vec<Group>>> + Send;

    /// The groups `member` belongs to, and those they left (kept so a delta can send the tombstone).
    fn memberships_of(&self, member: &str) -> impl Future<Output = Stored<Vec<Membership>>> + Send;

    /// Writes the group if nobody else did since `group.version` was read (a new group: if the id is unused), then
    /// brings who-belongs-where in line with `change`.
    fn save_group(
        &self,
        group: &Group,
        change: &MemberChange,
    ) -> impl Future<Output = Result<(), SaveGroupError>> + Send;

    /// One page of a walk over every group (deleted ones too), each with the cursor that goes on after it, and where
    /// the next page starts (`None`: done).
    fn groups_page(&self, from: Option<&GroupCursor>) -> impl Future<Output = Stored<GroupsPage>> + Send;

    /// Everyone who left (or was removed from) the group and has not come back.
    fn former_members(&self, gid: u64) -> impl Future<Output = Stored<Vec<String>>> + Send;

    /// Forgets the person's memberships (after the groups themselves no longer list them).
    fn delete_memberships(&self, phone: &PhoneNumber, gids: &[u64]) -> impl Future<Output = Stored<()>> + Send;

    /// Bars each pair named (`model::group::readd_bar_name`) until `until`: its adder may not add its member again.
    fn bar_readding(&self, bars: &[String], until: Timestamp) -> impl Future<Output = Stored<()>> + Send;

    /// Which of the pairs named still hold a bar at `now`.
    fn readding_barred(&self, bars: &[String], now: Timestamp) -> impl Future<Output = Stored<Vec<String>>> + Send;
}
