//! Groups as contacts see them. Creating and editing groups comes with the groups endpoints; until then tests seed
//! them through [`crate::storage::Store::put_group`].

use crate::storage::{Group, GroupRole};

/// mesibo's members string: `"<admincount>:<owner>,<admins…>,<others…>"`, numbers as digits without `+`. The
/// owner counts as an admin.
pub fn members_string(group: &Group) -> String {
    let rank = |role: GroupRole| match role {
        GroupRole::Owner => 0,
        GroupRole::Admin => 1,
        GroupRole::Member => 2,
    };
    let mut members: Vec<_> = group.members.iter().collect();
    members.sort_by_key(|m| rank(m.role));
    let admins = members.iter().filter(|m| m.role != GroupRole::Member).count();
    let phones: Vec<&str> = members.iter().map(|m| m.e164.trim_start_matches('+')).collect();
    format!("{admins}:{}", phones.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::GroupMember;

    #[test]
    fn owner_then_admins_then_members_with_the_admin_count() {
        let member = |e164: &str, role| GroupMember { e164: e164.into(), role };
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
        };
        assert_eq!(members_string(&group), "3:11,12,14,13");
        assert_eq!(members_string(&Group { members: vec![member("+11", GroupRole::Owner)], ..group }), "1:11");
    }
}
