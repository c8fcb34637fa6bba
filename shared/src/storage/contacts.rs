//! The contact graph (address-book edges and their inverted index), groups, the lookup quota and the join
//! notifier's resume points. Key shapes are in the access-pattern table of the parent module.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::batch::Write;
use super::{
    GSI1, GSI1PK, GSI1SK, Item, PK, SK, Store, StoreUnavailable, TTL, get_n, get_s, n, s, unavailable, user_key_e164,
};
use crate::clock::Timestamp;

const CONTACT_PREFIX: &str = "CONTACT#";
const LOOKUPS_PREFIX: &str = "LOOKUPS#";

fn has_contact(number: &str) -> String {
    format!("HASCONTACT#{number}")
}

fn member_of(number: &str) -> String {
    format!("MEMBEROF#{number}")
}

fn group_pk(gid: u64) -> String {
    format!("GROUP#{gid}")
}

/// A profile as contacts see it. Numbers stay E.164 strings here: they came from our own table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactProfile {
    pub e164: String,
    pub name: String,
    pub status: String,
    pub photo: String,
    pub updated_at: Timestamp,
    /// The account was deleted: a tombstone, kept so deltas can say so.
    pub deleted: bool,
    /// SNS endpoints of the person's devices (from /setnotify), for pushing their events.
    pub push_endpoints: Vec<String>,
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
}

/// A group with its members ordered owner, admins, members (the order of mesibo's members string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub gid: u64,
    pub name: String,
    pub photo: String,
    pub updated_at: Timestamp,
    pub members: Vec<GroupMember>,
    pub deleted: bool,
    /// Optimistic lock: every write of the group names the version it read.
    pub version: i64,
}

/// A group the user belongs to, or has left (the delta then tells them with a tombstone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    pub gid: u64,
    pub left: bool,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SaveGroupError {
    #[error("the group changed since it was read")]
    Conflict,
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

/// Where a notification run (one kind of news at one time) got to: recipients up to `last_recipient` (in index order) have their event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotifyProgress {
    pub last_recipient: Option<String>,
}

fn contact_profile(item: &Item) -> ContactProfile {
    ContactProfile {
        e164: get_s(item, "phone"),
        name: get_s(item, "name"),
        status: get_s(item, "status"),
        photo: get_s(item, "photo"),
        updated_at: get_n(item, "updated_at"),
        deleted: item.contains_key("deleted_at"),
        push_endpoints: item.get("push_endpoints").and_then(|v| v.as_ss().ok()).cloned().unwrap_or_default(),
    }
}

fn role_name(role: GroupRole) -> &'static str {
    match role {
        GroupRole::Owner => "owner",
        GroupRole::Admin => "admin",
        GroupRole::Member => "member",
    }
}

fn group_from(item: &Item) -> Group {
    let members = item
        .get("members")
        .and_then(|v| v.as_l().ok())
        .map(|list| {
            list.iter()
                .filter_map(|m| m.as_m().ok())
                .map(|m| GroupMember {
                    e164: get_s(m, "phone"),
                    role: match get_s(m, "role").as_str() {
                        "owner" => GroupRole::Owner,
                        "admin" => GroupRole::Admin,
                        _ => GroupRole::Member,
                    },
                    since: get_n(m, "since"),
                })
                .collect()
        })
        .unwrap_or_default();
    Group {
        gid: get_n(item, "gid") as u64,
        name: get_s(item, "name"),
        photo: get_s(item, "photo"),
        updated_at: get_n(item, "updated_at"),
        members,
        deleted: item.contains_key("deleted_at"),
        version: get_n(item, "version"),
    }
}

impl Store {
    /// The E.164 numbers in `owner`'s stored address book.
    pub async fn address_book(&self, owner: &str) -> Result<Vec<String>, StoreUnavailable> {
        let items = self
            .query_all(
                None,
                "PK = :pk AND begins_with(SK, :prefix)",
                vec![(":pk", user_key_e164(owner)), (":prefix", s(CONTACT_PREFIX))],
            )
            .await?;
        Ok(items.iter().filter_map(|i| get_s(i, SK).strip_prefix(CONTACT_PREFIX).map(str::to_owned)).collect())
    }

    /// Owners of the address books that hold `number`, in index order, after `after` when resuming.
    pub async fn who_has(&self, number: &str, after: Option<&str>) -> Result<Vec<String>, StoreUnavailable> {
        let items = match after {
            None => self.query_all(Some(GSI1), "GSI1PK = :pk", vec![(":pk", s(has_contact(number)))]).await?,
            Some(after) => {
                self.query_all(
                    Some(GSI1),
                    "GSI1PK = :pk AND GSI1SK > :after",
                    vec![(":pk", s(has_contact(number))), (":after", s(format!("USER#{after}")))],
                )
                .await?
            }
        };
        Ok(items.iter().filter_map(|i| get_s(i, GSI1SK).strip_prefix("USER#").map(str::to_owned)).collect())
    }

    /// Adds edges owner → number (registered or not: they are how a later join finds its audience).
    pub async fn add_contacts(&self, owner: &str, numbers: &[String], now: Timestamp) -> Result<(), StoreUnavailable> {
        let writes = numbers
            .iter()
            .map(|number| {
                Write::Put(HashMap::from([
                    (PK.into(), user_key_e164(owner)),
                    (SK.into(), s(format!("{CONTACT_PREFIX}{number}"))),
                    (GSI1PK.into(), s(has_contact(number))),
                    (GSI1SK.into(), s(format!("USER#{owner}"))),
                    ("added_at".into(), n(now)),
                ]))
            })
            .collect();
        self.batch_write(writes).await
    }

    pub async fn remove_contacts(&self, owner: &str, numbers: &[String]) -> Result<(), StoreUnavailable> {
        let writes = numbers
            .iter()
            .map(|number| {
                Write::Delete(HashMap::from([
                    (PK.into(), user_key_e164(owner)),
                    (SK.into(), s(format!("{CONTACT_PREFIX}{number}"))),
                ]))
            })
            .collect();
        self.batch_write(writes).await
    }

    /// Profiles (and tombstones) of whichever of `numbers` have one.
    pub async fn contact_profiles(&self, numbers: &[String]) -> Result<Vec<ContactProfile>, StoreUnavailable> {
        let keys = numbers
            .iter()
            .map(|number| HashMap::from([(PK.into(), user_key_e164(number)), (SK.into(), s("PROFILE"))]))
            .collect();
        Ok(self.batch_get(keys).await?.iter().map(contact_profile).collect())
    }

    /// Numbers looked up per UTC day, for the days from `first_day` to `last_day`.
    pub async fn lookups(
        &self,
        owner: &str,
        first_day: i64,
        last_day: i64,
    ) -> Result<Vec<(i64, i64)>, StoreUnavailable> {
        let items = self
            .query_all(
                None,
                "PK = :pk AND SK BETWEEN :from AND :to",
                vec![
                    (":pk", user_key_e164(owner)),
                    (":from", s(lookup_sk(first_day))),
                    (":to", s(lookup_sk(last_day))),
                ],
            )
            .await?;
        Ok(items.iter().map(|i| (get_n(i, "day"), get_n(i, "count"))).collect())
    }

    /// Adds `count` to today's lookups if today's total stays within `limit_today`; false when it would not.
    pub async fn charge_lookups(
        &self,
        owner: &str,
        day: i64,
        count: i64,
        limit_today: i64,
        ttl: Timestamp,
    ) -> Result<bool, StoreUnavailable> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, user_key_e164(owner))
            .key(SK, s(lookup_sk(day)))
            .update_expression("ADD #count :n SET #day = :day, #ttl = :ttl")
            .condition_expression("attribute_not_exists(#count) OR #count <= :max")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#day", "day")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":n", n(count))
            .expression_attribute_values(":day", n(day))
            .expression_attribute_values(":ttl", n(ttl))
            .expression_attribute_values(":max", n(limit_today - count))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(unavailable("charge lookups", e)),
        }
    }

    /// Gives back a charge whose request failed, so the retried request is charged once.
    pub async fn refund_lookups(&self, owner: &str, day: i64, count: i64) -> Result<(), StoreUnavailable> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, user_key_e164(owner))
            .key(SK, s(lookup_sk(day)))
            .update_expression("ADD #count :n")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":n", n(-count))
            .send()
            .await
            .map_err(|e| unavailable("refund lookups", e))?;
        Ok(())
    }

    /// The groups `member` belongs to, and those they left (kept so a delta can send the tombstone).
    pub async fn memberships_of(&self, member: &str) -> Result<Vec<Membership>, StoreUnavailable> {
        let items = self.query_all(Some(GSI1), "GSI1PK = :pk", vec![(":pk", s(member_of(member)))]).await?;
        Ok(items
            .iter()
            .filter_map(|i| {
                let sk = get_s(i, GSI1SK);
                let (left, gid) = match sk.split_once('#')? {
                    ("GROUP", gid) => (false, gid),
                    ("LEFT", gid) => (true, gid),
                    _ => return None,
                };
                Some(Membership { gid: gid.parse().ok()?, left })
            })
            .collect())
    }

    pub async fn groups(&self, gids: &[u64]) -> Result<Vec<Group>, StoreUnavailable> {
        let keys =
            gids.iter().map(|gid| HashMap::from([(PK.into(), s(group_pk(*gid))), (SK.into(), s("GROUP"))])).collect();
        Ok(self.batch_get(keys).await?.iter().map(group_from).collect())
    }

    pub async fn group(&self, gid: u64) -> Result<Option<Group>, StoreUnavailable> {
        let item = self.get(Store::key(group_pk(gid), "GROUP"), true, "get group").await?;
        Ok(item.as_ref().map(group_from))
    }

    /// A new, unique group id (an atomic counter: ids stay short and numeric, as mesibo clients expect).
    pub async fn next_group_id(&self) -> Result<u64, StoreUnavailable> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s("COUNTER#GROUP"))
            .key(SK, s("COUNTER"))
            .update_expression("ADD next_id :one")
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| unavailable("next group id", e))?;
        Ok(out.attributes.map(|a| get_n(&a, "next_id")).unwrap_or(0) as u64)
    }

    /// Writes the group if nobody else did since `group.version` was read (a new group: if the id is unused), then
    /// brings the membership index in line: `added` become members, `removed` are marked as having left. The group
    /// item is the truth for roles; the index is rewritten by every later change too.
    pub async fn save_group(&self, group: &Group, added: &[String], removed: &[String]) -> Result<(), SaveGroupError> {
        let mut item = group_item(group);
        item.insert("version".into(), n(group.version + 1));
        let request = self.client.put_item().table_name(&self.table).set_item(Some(item));
        let request = if group.version == 0 {
            request.condition_expression("attribute_not_exists(PK)")
        } else {
            request.condition_expression("version = :v").expression_attribute_values(":v", n(group.version))
        };
        match request.send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                return Err(SaveGroupError::Conflict);
            }
            Err(e) => return Err(unavailable("save group", e).into()),
        }
        let membership = |member: &str, state: &str| {
            Write::Put(HashMap::from([
                (PK.into(), s(group_pk(group.gid))),
                (SK.into(), s(format!("MEMBER#{member}"))),
                (GSI1PK.into(), s(member_of(member))),
                (GSI1SK.into(), s(format!("{state}#{}", group.gid))),
                ("updated_at".into(), n(group.updated_at)),
            ]))
        };
        let writes =
            added.iter().map(|m| membership(m, "GROUP")).chain(removed.iter().map(|m| membership(m, "LEFT"))).collect();
        Ok(self.batch_write(writes).await?)
    }

    /// Seeds a group as it stands (tests, imports): the group item and every member's index entry.
    pub async fn put_group(&self, group: &Group) -> Result<(), StoreUnavailable> {
        let members: Vec<String> = group.members.iter().map(|m| m.e164.clone()).collect();
        let fresh = Group { version: 0, ..group.clone() };
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(group_pk(group.gid)))
            .key(SK, s("GROUP"))
            .send()
            .await
            .map_err(|e| unavailable("reset group", e))?;
        match self.save_group(&fresh, &members, &[]).await {
            Ok(()) => Ok(()),
            Err(SaveGroupError::Unavailable(e)) => Err(e),
            Err(SaveGroupError::Conflict) => Err(StoreUnavailable),
        }
    }

    /// Records a device for push (kept under the person's key, so account deletion removes it) and, when it has an
    /// SNS endpoint, adds that to the profile where the notifier finds it with the profile it reads anyway.
    pub async fn register_device(
        &self,
        owner: &str,
        platform: &str,
        token_digest: &str,
        notify_token: &str,
        endpoint: Option<&str>,
        now: Timestamp,
    ) -> Result<(), StoreUnavailable> {
        let mut item = HashMap::from([
            (PK.into(), user_key_e164(owner)),
            (SK.into(), s(format!("DEVICE#{token_digest}"))),
            ("platform".into(), s(platform)),
            ("notify_token".into(), s(notify_token)),
            ("updated_at".into(), n(now)),
        ]);
        if let Some(endpoint) = endpoint {
            item.insert("endpoint_arn".into(), s(endpoint));
        }
        let put = self.client.put_item().table_name(&self.table).set_item(Some(item)).send();
        let link = async {
            let Some(endpoint) = endpoint else { return Ok(()) };
            self.client
                .update_item()
                .table_name(&self.table)
                .key(PK, user_key_e164(owner))
                .key(SK, s("PROFILE"))
                .update_expression("ADD push_endpoints :endpoint")
                .condition_expression("attribute_exists(PK) AND attribute_not_exists(deleted_at)")
                .expression_attribute_values(":endpoint", AttributeValue::Ss(vec![endpoint.to_owned()]))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| unavailable("link push endpoint", e))
        };
        let (put, link) = tokio::join!(put, link);
        put.map_err(|e| unavailable("register device", e))?;
        link
    }

    pub async fn notify_progress(&self, about: &str, run: &str) -> Result<NotifyProgress, StoreUnavailable> {
        let item =
            self.get(Store::key(format!("NOTIFY#{about}"), &format!("RUN#{run}")), true, "get notify progress").await?;
        Ok(NotifyProgress { last_recipient: item.map(|i| get_s(&i, "last_recipient")).filter(|r| !r.is_empty()) })
    }

    pub async fn save_notify_progress(
        &self,
        about: &str,
        run: &str,
        last_recipient: &str,
        ttl: Timestamp,
    ) -> Result<(), StoreUnavailable> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(format!("NOTIFY#{about}")))
            .item(SK, s(format!("RUN#{run}")))
            .item("last_recipient", s(last_recipient))
            .item(TTL, n(ttl))
            .send()
            .await
            .map_err(|e| unavailable("save notify progress", e))?;
        Ok(())
    }
}

fn group_item(group: &Group) -> Item {
    let members = group
        .members
        .iter()
        .map(|m| {
            AttributeValue::M(HashMap::from([
                ("phone".into(), s(&m.e164)),
                ("role".into(), s(role_name(m.role))),
                ("since".into(), n(m.since)),
            ]))
        })
        .collect();
    let mut item = HashMap::from([
        (PK.into(), s(group_pk(group.gid))),
        (SK.into(), s("GROUP")),
        ("gid".into(), n(group.gid as i64)),
        ("name".into(), s(&group.name)),
        ("photo".into(), s(&group.photo)),
        ("updated_at".into(), n(group.updated_at)),
        ("members".into(), AttributeValue::L(members)),
    ]);
    if group.deleted {
        item.insert("deleted_at".into(), n(group.updated_at));
    }
    item
}

fn lookup_sk(day: i64) -> String {
    // Zero-padded so string order is day order for BETWEEN.
    format!("{LOOKUPS_PREFIX}{day:08}")
}
