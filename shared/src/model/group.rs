//! Groups and their roles: who may change what, and mesibo's members string. Pure rules; the use cases read a group,
//! apply one of these, and write it back only if nobody else changed it meanwhile.

use std::collections::HashSet;

use super::clock::Timestamp;
use crate::error::ApiError;

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
            members: vec![GroupMember { e164: owner.to_owned(), role: GroupRole::Owner, since: now }],
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

    /// The caller's role, if it lets them change the group.
    pub fn require_admin(&self, e164: &str) -> Result<GroupRole, ApiError> {
        match self.role_of(e164) {
            None => Err(ApiError::NotMember),
            Some(GroupRole::Member) => Err(ApiError::NotAdmin),
            Some(role) => Ok(role),
        }
    }

    /// Adds whoever of `numbers` is not a member yet, within the size limit.
    pub fn add_members(&mut self, numbers: &[String], now: Timestamp, max_members: usize) -> Result<(), ApiError> {
        for number in numbers {
            if !self.members.iter().any(|m| &m.e164 == number) {
                self.members.push(GroupMember { e164: number.clone(), role: GroupRole::Member, since: now });
            }
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

    /// Makes members admins (`admin`) or plain members. The owner is never demoted, by anyone.
    pub fn set_admins(&mut self, numbers: &[String], admin: bool, now: Timestamp) -> Result<(), ApiError> {
        for number in numbers {
            let member = self.members.iter_mut().find(|m| &m.e164 == number).ok_or(ApiError::NotMember)?;
            if member.role == GroupRole::Owner {
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
        match self.role_of(e164).ok_or(ApiError::NotMember)? {
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
        let member = |e164: &str, role| GroupMember { e164: e164.into(), role, since: 0 };
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
