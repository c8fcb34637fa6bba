//! Groups and their roles: who may change what, and mesibo's members string. Pure rules; the use cases read a group,
//! apply one of these, and write it back only if nobody else changed it meanwhile.

use std::collections::HashSet;

use super::clock::Timestamp;
use super::secrets::{OtpSecret, keyed_name};
use crate::error::ApiError;

/// How long someone who left a group, or was removed, cannot be added to any group again by whoever added them or
/// removed them: leaving sticks, and nobody is pestered with the same group's notices in a loop.
pub const READD_BAR_SECONDS: i64 = 7 * 86_400;

/// The largest gid drawn here: mesibo's apps read a gid into 32 bits (iOS `unsignedIntValue`), and a signed reader
/// must see it positive too.
pub const MAX_GID: u64 = i32::MAX as u64;

/// A gid for a new group (outside mesibo mode): drawn at random from 1..=[`MAX_GID`], so creating groups writes to
/// no shared item; the store refuses a gid already taken, and the caller draws again (at ten million groups, one
/// draw in 200 collides).
pub fn random_gid() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS random number generator is available");
    u64::from_le_bytes(bytes) % MAX_GID + 1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupRole {
    Owner,
    Admin,
    Member,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub e164: String,
    pub role: GroupRole,
    /// When they joined (or last changed role): the longest-standing admin inherits a group.
    pub since: Timestamp,
    /// Who added them, as [`adder_name`]: barred from adding them again for a while once they leave. `None` for the
    /// creator, and for members of groups stored before this was kept (then the owner answers for them).
    pub added_by: Option<String>,
}

/// A group with its members ordered owner, admins, members (the order of mesibo's members string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub gid: u64,
    pub name: String,
    pub photo: String,
    /// The photo's thumbnail, base64 JPEG (mesibo's `tn`); empty when the photo is no file stored here.
    pub tn: String,
    pub updated_at: Timestamp,
    pub members: Vec<GroupMember>,
    pub deleted: bool,
    /// Optimistic lock: every write of the group names the version it read (0: not stored yet).
    pub version: i64,
}

/// Who added a member, as the group keeps it: a keyed HMAC of their number, never the number, as the group may
/// outlive their account.
pub fn adder_name(secret: &OtpSecret, e164: &str) -> String {
    keyed_name(secret, "adder", e164)
}

/// The name a bar on `adder` ([`adder_name`]) adding `member` again is kept under: a keyed HMAC of the pair.
pub fn readd_bar_name(secret: &OtpSecret, adder: &str, member: &str) -> String {
    keyed_name(secret, "readd", &format!("{adder}\0{member}"))
}

/// A group the user belongs to, or has left (the delta then tells them with a tombstone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    pub gid: u64,
    pub left: bool,
}

/// Who joined and who left in one change of a group.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MemberChange {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

fn rank(role: GroupRole) -> u8 {
    match role {
        GroupRole::Owner => 0,
        GroupRole::Admin => 1,
        GroupRole::Member => 2,
    }
}

impl Group {
    /// A new group with its creator as owner.
    pub fn new(gid: u64, owner: &str, name: String, photo: String, now: Timestamp) -> Self {
        Self {
            gid,
            name,
            photo,
            tn: String::new(),
            updated_at: now,
            members: vec![GroupMember { e164: owner.to_owned(), role: GroupRole::Owner, since: now, added_by: None }],
            deleted: false,
            version: 0,
        }
    }

    /// mesibo's members string: `"<admincount>:<owner>,<admins…>,<others…>"`, numbers as digits without `+`. The
    /// owner counts as an admin.
    pub fn members_string(&self) -> String {
        let mut members: Vec<_> = self.members.iter().collect();
        members.sort_by_key(|m| rank(m.role));
        let admins = members.iter().filter(|m| m.role != GroupRole::Member).count();
        let phones: Vec<&str> = members.iter().map(|m| m.e164.trim_start_matches('+')).collect();
        format!("{admins}:{}", phones.join(","))
    }

    pub fn role_of(&self, e164: &str) -> Option<GroupRole> {
        self.members.iter().find(|m| m.e164 == e164).map(|m| m.role)
    }

    /// The caller's role, if it lets them change the group. Someone not in it is told what a group that does not
    /// exist answers, so that nobody learns which gids exist.
    pub fn require_admin(&self, e164: &str) -> Result<GroupRole, ApiError> {
        match self.role_of(e164) {
            None => Err(ApiError::BadGroup),
            Some(GroupRole::Member) => Err(ApiError::NotAdmin),
            Some(role) => Ok(role),
        }
    }

    /// Whoever of `numbers` is not a member yet: the people an add would add.
    pub fn newcomers(&self, numbers: &[String]) -> Vec<String> {
        numbers.iter().filter(|n| self.role_of(n).is_none()).cloned().collect()
    }

    /// Adds whoever of `numbers` is not a member yet, on behalf of `adder` (an [`adder_name`]), within the size
    /// limit.
    pub fn add_members(
        &mut self,
        numbers: &[String],
        adder: &str,
        now: Timestamp,
        max_members: usize,
    ) -> Result<(), ApiError> {
        for number in self.newcomers(numbers) {
            let added_by = Some(adder.to_owned());
            self.members.push(GroupMember { e164: number, role: GroupRole::Member, since: now, added_by });
        }
        if self.members.len() > max_members {
            return Err(ApiError::TooMany(max_members));
        }
        Ok(())
    }

    /// Removes members on behalf of someone with role `by`: nobody removes the owner, only the owner removes admins.
    pub fn remove_members(&mut self, by: GroupRole, numbers: &[String]) -> Result<(), ApiError> {
        for number in numbers {
            match self.role_of(number) {
                Some(GroupRole::Owner) => return Err(ApiError::NotAdmin),
                Some(GroupRole::Admin) if by != GroupRole::Owner => return Err(ApiError::NotAdmin),
                _ => {}
            }
        }
        self.members.retain(|m| !numbers.contains(&m.e164));
        Ok(())
    }

    /// Makes members admins (`admin`) or plain members, on behalf of someone with role `by`. The owner is never
    /// demoted, by anyone; only the owner demotes an admin (so an admin can neither remove another, which needs a
    /// demotion first, nor move who inherits the group by demoting and promoting again).
    pub fn set_admins(
        &mut self,
        by: GroupRole,
        numbers: &[String],
        admin: bool,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        for number in numbers {
            let member = self.members.iter_mut().find(|m| &m.e164 == number).ok_or(ApiError::NotMember)?;
            let demotes_an_admin = !admin && member.role == GroupRole::Admin;
            if member.role == GroupRole::Owner || (demotes_an_admin && by != GroupRole::Owner) {
                return Err(ApiError::NotAdmin);
            }
            let role = if admin { GroupRole::Admin } else { GroupRole::Member };
            if member.role != role {
                member.role = role;
                member.since = now;
            }
        }
        Ok(())
    }

    /// `delgroup`: the owner deletes the group; anyone else leaves it.
    pub fn delete_or_leave(&mut self, e164: &str) -> Result<(), ApiError> {
        match self.role_of(e164).ok_or(ApiError::BadGroup)? {
            GroupRole::Owner => self.deleted = true,
            _ => self.members.retain(|m| m.e164 != e164),
        }
        Ok(())
    }

    /// A departing account: an owner hands the group to the longest-standing admin, or deletes it when there is none;
    /// anyone else just leaves.
    pub fn leave_for_good(&mut self, e164: &str) {
        if self.role_of(e164) == Some(GroupRole::Owner) {
            let heir = self.members.iter_mut().filter(|m| m.role == GroupRole::Admin).min_by_key(|m| m.since);
            match heir {
                Some(heir) => heir.role = GroupRole::Owner,
                None => self.deleted = true,
            }
        }
        self.members.retain(|m| m.e164 != e164);
    }

    /// The bars ([`readd_bar_name`]) that keep each of `departed` (members of `self` who are leaving, or being
    /// removed by `by`) from being added again for [`READD_BAR_SECONDS`] by whoever added them (the owner when that
    /// is not known) and by whoever removed them; nobody is barred from adding themselves.
    pub fn readd_bars(&self, secret: &OtpSecret, departed: &[String], by: &str) -> Vec<String> {
        let owner = self.members.iter().find(|m| m.role == GroupRole::Owner).map(|m| adder_name(secret, &m.e164));
        let remover = adder_name(secret, by);
        let mut bars = vec![];
        for member in self.members.iter().filter(|m| departed.contains(&m.e164)) {
            let adder = member.added_by.clone().or(owner.clone());
            let themselves = adder_name(secret, &member.e164);
            for barred in adder.iter().chain([&remover]).filter(|a| **a != themselves) {
                let bar = readd_bar_name(secret, barred, &member.e164);
                if !bars.contains(&bar) {
                    bars.push(bar);
                }
            }
        }
        bars
    }

    /// After a change to `self` (read as `before`): moves `ts` past the version read (members see the change in
    /// their next delta), puts members in mesibo's order, and says who joined and who left.
    pub fn settle_change(&mut self, before: &Group, now: Timestamp) -> MemberChange {
        self.updated_at = now.max(before.updated_at + 1);
        self.members.sort_by_key(|m| (rank(m.role), m.since));
        let old: HashSet<&String> = before.members.iter().map(|m| &m.e164).collect();
        let new: HashSet<&String> = self.members.iter().map(|m| &m.e164).collect();
        MemberChange {
            added: new.difference(&old).map(|s| (*s).clone()).collect(),
            removed: old.difference(&new).map(|s| (*s).clone()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_then_admins_then_members_with_the_admin_count() {
        let member = |e164: &str, role| GroupMember { e164: e164.into(), role, since: 0, added_by: None };
        let group = Group {
            gid: 7,
            name: "g".into(),
            photo: String::new(),
            tn: String::new(),
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
        assert_eq!(group.members_string(), "3:11,12,14,13");
        assert_eq!(Group { members: vec![member("+11", GroupRole::Owner)], ..group }.members_string(), "1:11");
    }

    fn secret() -> OtpSecret {
        OtpSecret::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap()
    }

    fn group_of(owner: &str, admin: &str, member: &str) -> Group {
        let mut group = Group::new(1, owner, "g".into(), String::new(), 10);
        group.add_members(&[admin.to_owned()], &adder_name(&secret(), owner), 11, 10).unwrap();
        group.add_members(&[member.to_owned()], &adder_name(&secret(), admin), 12, 10).unwrap();
        group.set_admins(GroupRole::Owner, &[admin.to_owned()], true, 13).unwrap();
        group
    }

    #[test]
    fn only_the_owner_demotes_an_admin_and_promoting_one_again_keeps_their_standing() {
        let mut group = group_of("+11", "+12", "+13");
        group.set_admins(GroupRole::Owner, &["+13".into()], true, 20).unwrap();
        let before = group.clone();
        assert_eq!(group.set_admins(GroupRole::Admin, &["+12".into()], false, 30), Err(ApiError::NotAdmin));
        group.set_admins(GroupRole::Admin, &["+12".into()], true, 30).unwrap();
        assert_eq!(group, before, "an admin named again keeps the time they became one (who inherits)");
        assert_eq!(group.set_admins(GroupRole::Admin, &["+11".into()], false, 30), Err(ApiError::NotAdmin));
        group.set_admins(GroupRole::Owner, &["+12".into()], false, 30).unwrap();
        assert_eq!(group.role_of("+12"), Some(GroupRole::Member));
    }

    #[test]
    fn a_departure_bars_whoever_added_and_whoever_removed() {
        let (secret, group) = (secret(), group_of("+11", "+12", "+13"));
        let bar = |adder: &str, member: &str| readd_bar_name(&secret, &adder_name(&secret, adder), member);
        let bars = |departed: &str, by: &str| group.readd_bars(&secret, &[departed.to_owned()], by);
        assert_eq!(bars("+13", "+13"), vec![bar("+12", "+13")], "left: the adder");
        assert_eq!(bars("+13", "+11"), vec![bar("+12", "+13"), bar("+11", "+13")], "removed: the remover too");
        assert_eq!(bars("+12", "+11"), vec![bar("+11", "+12")], "adder and remover alike");
        assert!(bars("+19", "+11").is_empty(), "not a member: nothing");
        let mut old = group.clone();
        old.members.iter_mut().for_each(|m| m.added_by = None);
        assert_eq!(old.readd_bars(&secret, &["+13".into()], "+13"), vec![bar("+11", "+13")], "unknown: the owner");
        let added_by = group.members.iter().find(|m| m.e164 == "+13").unwrap().added_by.clone();
        assert_eq!(added_by, Some(adder_name(&secret, "+12")), "the adder is kept as a keyed name");
    }

    use proptest::prelude::*;

    proptest! {
        /// `"<admincount>:<owner>,<admins…>,<others…>"` for any group, whatever order the members are stored in.
        #[test]
        fn members_string_is_owner_admins_others(roles in proptest::collection::vec(0u8..2, 0..40), seed: u64) {
            let mut members: Vec<GroupMember> = roles
                .iter()
                .enumerate()
                .map(|(i, r)| GroupMember { e164: format!("+1{i:03}"), role: if *r == 0 { GroupRole::Admin } else { GroupRole::Member }, since: 0, added_by: None })
                .collect();
            members.push(GroupMember { e164: "+1999".into(), role: GroupRole::Owner, since: 0, added_by: None });
            let len = members.len();
            members.rotate_left((seed % len as u64) as usize);
            let group = Group { gid: 1, name: String::new(), photo: String::new(), tn: String::new(), updated_at: 0, members, deleted: false, version: 1 };
            let text = group.members_string();
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
