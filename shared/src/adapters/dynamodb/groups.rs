//! Groups: the group item holds the truth (name, photo, members with roles, version); `GROUP#<gid>/MEMBER#<e164>`
//! items, indexed by member in GSI1, say who belongs where (or has left), and are rewritten by every change.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::batch::Write;
use super::item::{Item, get_n, get_s, n, s};
use super::keys::{self, attr};
use super::{DynamoStore, condition_failed, unavailable};
use crate::model::clock::Timestamp;
use crate::model::group::{Group, GroupMember, GroupRole, MemberChange, Membership};
use crate::model::phone::PhoneNumber;
use crate::usecase::ports::{GroupCursor, GroupStore, GroupsPage, SaveGroupError, StoreUnavailable};

fn role_name(role: GroupRole) -> &'static str {
    match role {
        GroupRole::Owner => "owner",
        GroupRole::Admin => "admin",
        GroupRole::Member => "member",
    }
}

fn role(name: &str) -> GroupRole {
    match name {
        "owner" => GroupRole::Owner,
        "admin" => GroupRole::Admin,
        _ => GroupRole::Member,
    }
}

/// The one mapping from a group item (or a stream image of one) to the model.
pub(super) fn group_from(item: &Item) -> Group {
    let members = item
        .get(attr::MEMBERS)
        .and_then(|v| v.as_l().ok())
        .map(|list| {
            list.iter()
                .filter_map(|m| m.as_m().ok())
                .filter(|m| m.contains_key(attr::PHONE))
                .map(|m| GroupMember {
                    e164: get_s(m, attr::PHONE),
                    role: role(&get_s(m, attr::ROLE)),
                    since: get_n(m, attr::SINCE),
                    added_by: m.contains_key(attr::ADDED_BY).then(|| get_s(m, attr::ADDED_BY)),
                })
                .collect()
        })
        .unwrap_or_default();
    Group {
        gid: get_n(item, attr::GID) as u64,
        name: get_s(item, attr::NAME),
        photo: get_s(item, attr::PHOTO),
        tn: get_s(item, attr::TN),
        updated_at: get_n(item, attr::UPDATED_AT),
        members,
        deleted: item.contains_key(attr::DELETED_AT),
        version: get_n(item, attr::VERSION),
    }
}

fn group_item(group: &Group) -> Item {
    let members = group
        .members
        .iter()
        .map(|m| {
            let mut member = HashMap::from([
                (attr::PHONE.into(), s(&m.e164)),
                (attr::ROLE.into(), s(role_name(m.role))),
                (attr::SINCE.into(), n(m.since)),
            ]);
            if let Some(adder) = &m.added_by {
                member.insert(attr::ADDED_BY.into(), s(adder));
            }
            AttributeValue::M(member)
        })
        .collect();
    let mut item = keys::key(keys::group(group.gid), keys::GROUP);
    item.extend([
        (attr::GID.into(), n(group.gid as i64)),
        (attr::NAME.into(), s(&group.name)),
        (attr::PHOTO.into(), s(&group.photo)),
        (attr::TN.into(), s(&group.tn)),
        (attr::UPDATED_AT.into(), n(group.updated_at)),
        (attr::MEMBERS.into(), AttributeValue::L(members)),
        (attr::VERSION.into(), n(group.version + 1)),
    ]);
    if group.deleted {
        item.insert(attr::DELETED_AT.into(), n(group.updated_at));
    }
    item
}

impl DynamoStore {
    /// Seeds a group as it stands, replacing any stored one (tests, imports): the group item and every member's
    /// membership.
    #[cfg(feature = "test-util")]
    pub async fn put_group(&self, group: &Group) -> Result<(), StoreUnavailable> {
        let request = self.client.delete_item().table_name(&self.table);
        let request = request.set_key(Some(keys::key(keys::group(group.gid), keys::GROUP)));
        request.send().await.map_err(|e| unavailable("reset group", e))?;
        let added = group.members.iter().map(|m| m.e164.clone()).collect();
        let change = MemberChange { added, removed: vec![] };
        match self.save_group(&Group { version: 0, ..group.clone() }, &change).await {
            Ok(()) => Ok(()),
            Err(SaveGroupError::Unavailable(e)) => Err(e),
            Err(SaveGroupError::Conflict) => Err(StoreUnavailable),
        }
    }
}

/// Items a scan for groups reads per page (most are not groups: the page is a budget, not a count of groups).
const GROUP_SCAN_PAGE: i32 = 1000;
/// Between the partition and sort key in a cursor: a character no key contains.
const CURSOR_SEPARATOR: char = '\u{1f}';

impl GroupStore for DynamoStore {
    async fn group(&self, gid: u64) -> Result<Option<Group>, StoreUnavailable> {
        let item = self.get(keys::key(keys::group(gid), keys::GROUP), true, "get group").await?;
        Ok(item.as_ref().map(group_from))
    }

    async fn groups(&self, gids: &[u64]) -> Result<Vec<Group>, StoreUnavailable> {
        let keys = gids.iter().map(|gid| keys::key(keys::group(*gid), keys::GROUP)).collect();
        Ok(self.batch_get(keys, false).await?.iter().map(group_from).collect())
    }

    async fn memberships_of(&self, member: &str) -> Result<Vec<Membership>, StoreUnavailable> {
        let condition = (":pk", s(keys::member_of(member)));
        let items = self.query_all(Some(keys::GSI1), "GSI1PK = :pk", vec![condition]).await?;
        Ok(items
            .iter()
            .filter_map(|i| keys::parse_membership(&get_s(i, keys::GSI1SK)))
            .map(|(gid, left)| Membership { gid, left })
            .collect())
    }

    async fn save_group(&self, group: &Group, change: &MemberChange) -> Result<(), SaveGroupError> {
        let request = self.client.put_item().table_name(&self.table).set_item(Some(group_item(group)));
        let request = if group.version == 0 {
            request.condition_expression("attribute_not_exists(PK)")
        } else {
            request.condition_expression("version = :v").expression_attribute_values(":v", n(group.version))
        };
        match request.send().await {
            Ok(_) => {}
            Err(e) if condition_failed(&e) => return Err(SaveGroupError::Conflict),
            Err(e) => return Err(unavailable("save group", e).into()),
        }
        let membership = |member: &str, left: bool| {
            let mut item = keys::key(keys::group(group.gid), keys::member(member));
            item.extend([
                (keys::GSI1PK.into(), s(keys::member_of(member))),
                (keys::GSI1SK.into(), s(keys::membership(group.gid, left))),
                (attr::UPDATED_AT.into(), n(group.updated_at)),
            ]);
            Write::Put(item)
        };
        let joined = change.added.iter().map(|m| membership(m, false));
        let writes = joined.chain(change.removed.iter().map(|m| membership(m, true))).collect();
        Ok(self.batch_write(writes).await?)
    }

    async fn groups_page(&self, from: Option<&GroupCursor>) -> Result<GroupsPage, StoreUnavailable> {
        let start = from.and_then(|cursor| cursor.0.split_once(CURSOR_SEPARATOR)).map(|(pk, sk)| keys::key(pk, sk));
        let page = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("SK = :group")
            .expression_attribute_values(":group", s(keys::GROUP))
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .limit(GROUP_SCAN_PAGE)
            .send()
            .await
            .map_err(|e| unavailable("scan groups", e))?;
        let cursor =
            |key: &Item| GroupCursor(format!("{}{CURSOR_SEPARATOR}{}", get_s(key, keys::PK), get_s(key, keys::SK)));
        let groups = page.items().iter().map(|item| (group_from(item), cursor(item))).collect();
        Ok((groups, page.last_evaluated_key.as_ref().map(cursor)))
    }

    async fn former_members(&self, gid: u64) -> Result<Vec<String>, StoreUnavailable> {
        let values = vec![(":pk", s(keys::group(gid))), (":member", s(keys::member("")))];
        let items = self.query_all(None, "PK = :pk AND begins_with(SK, :member)", values).await?;
        Ok(items
            .iter()
            .filter(|i| keys::parse_membership(&get_s(i, keys::GSI1SK)).is_some_and(|(_, left)| left))
            .filter_map(|i| get_s(i, keys::SK).strip_prefix(&keys::member("")).map(str::to_owned))
            .collect())
    }

    async fn delete_memberships(&self, phone: &PhoneNumber, gids: &[u64]) -> Result<(), StoreUnavailable> {
        let member = keys::member(phone.e164());
        let writes = gids.iter().map(|gid| Write::Delete(keys::key(keys::group(*gid), member.clone()))).collect();
        self.batch_write(writes).await
    }

    async fn bar_readding(&self, bars: &[String], until: Timestamp) -> Result<(), StoreUnavailable> {
        let bar = |name: &String| {
            let mut item = keys::readd_bar(name);
            item.extend([(attr::EXPIRES_AT.into(), n(until)), (keys::TTL.into(), n(until))]);
            Write::Put(item)
        };
        self.batch_write(bars.iter().map(bar).collect()).await
    }

    async fn readding_barred(&self, bars: &[String], now: Timestamp) -> Result<Vec<String>, StoreUnavailable> {
        // Consistent: a bar written as someone leaves must stop an add racing right behind it.
        let found = self.batch_get(bars.iter().map(|name| keys::readd_bar(name)).collect(), true).await?;
        // TTL deletes late: an item past its time no longer bars.
        let holding = found.iter().filter(|i| get_n(i, attr::EXPIRES_AT) > now);
        Ok(holding.filter_map(|i| keys::readd_bar_name(&get_s(i, keys::PK)).map(str::to_owned)).collect())
    }
}
