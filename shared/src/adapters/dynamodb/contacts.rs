//! The contact graph: address-book edges `USER#<owner>/CONTACT#<number>`, indexed the other way round in GSI1 (who
//! has a number), and the days of the lookup quota (under the quota's own partition, see `keys::lookup_quota`).

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use super::batch::Write;
use super::item::{Item, get_n, get_s, n, s};
use super::keys::{self, attr};
use super::{DynamoStore, condition_failed, unavailable};
use crate::model::clock::Timestamp;
use crate::model::lookup_quota::{Charge, LookupDay, LookupTag};
use crate::usecase::ports::{ContactStore, StoreUnavailable};

impl DynamoStore {
    /// Every entry of `owner`'s address book, as stored.
    async fn address_book_items(&self, owner: &str) -> Result<Vec<Item>, StoreUnavailable> {
        self.query_all(
            None,
            "PK = :pk AND begins_with(SK, :prefix)",
            vec![(":pk", keys::user_value(owner)), (":prefix", s(keys::CONTACT_PREFIX))],
        )
        .await
    }
}

impl ContactStore for DynamoStore {
    async fn address_book(&self, owner: &str) -> Result<Vec<String>, StoreUnavailable> {
        let items = self.address_book_items(owner).await?;
        Ok(items
            .iter()
            .filter_map(|i| get_s(i, keys::SK).strip_prefix(keys::CONTACT_PREFIX).map(str::to_owned))
            .collect())
    }

    async fn address_book_size(&self, owner: &str) -> Result<(usize, Timestamp), StoreUnavailable> {
        let items = self.address_book_items(owner).await?;
        let newest = items.iter().map(|i| get_n(i, attr::ADDED_AT)).max().unwrap_or(0);
        Ok((items.len(), newest))
    }

    async fn who_has(&self, number: &str, after: Option<&str>) -> Result<Vec<String>, StoreUnavailable> {
        let audience = (":pk", s(keys::has_contact(number)));
        let items = match after {
            None => self.query_all(Some(keys::GSI1), "GSI1PK = :pk", vec![audience]).await?,
            Some(after) => {
                let condition = "GSI1PK = :pk AND GSI1SK > :after";
                self.query_all(Some(keys::GSI1), condition, vec![audience, (":after", keys::user_value(after))]).await?
            }
        };
        Ok(items.iter().filter_map(|i| keys::user_number(&get_s(i, keys::GSI1SK)).map(str::to_owned)).collect())
    }

    async fn who_has_page(
        &self,
        number: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, bool), StoreUnavailable> {
        let mut values = vec![(":pk", s(keys::has_contact(number)))];
        let condition = match after {
            None => "GSI1PK = :pk",
            Some(after) => {
                values.push((":after", keys::user_value(after)));
                "GSI1PK = :pk AND GSI1SK > :after"
            }
        };
        let (items, more) = self.query_page(Some(keys::GSI1), condition, values, limit).await?;
        let owners = items.iter().filter_map(|i| keys::user_number(&get_s(i, keys::GSI1SK)).map(str::to_owned));
        Ok((owners.collect(), more))
    }

    async fn add_contacts(&self, owner: &str, numbers: &[String], now: Timestamp) -> Result<(), StoreUnavailable> {
        let writes = numbers
            .iter()
            .map(|number| {
                Write::Put(HashMap::from([
                    (keys::PK.into(), keys::user_value(owner)),
                    (keys::SK.into(), s(keys::contact(number))),
                    (keys::GSI1PK.into(), s(keys::has_contact(number))),
                    (keys::GSI1SK.into(), keys::user_value(owner)),
                    (attr::ADDED_AT.into(), n(now)),
                ]))
            })
            .collect();
        self.batch_write(writes).await
    }

    async fn remove_contacts(&self, owner: &str, numbers: &[String]) -> Result<(), StoreUnavailable> {
        let writes = numbers.iter().map(|number| Write::Delete(keys::key(keys::user(owner), keys::contact(number))));
        self.batch_write(writes.collect()).await
    }

    async fn in_address_book(&self, owner: &str, numbers: &[String]) -> Result<Vec<String>, StoreUnavailable> {
        let edges = numbers.iter().map(|number| keys::key(keys::user(owner), keys::contact(number))).collect();
        // Consistent: a book synced just before creating a group must already count.
        let found = self.batch_get(edges, true).await?;
        Ok(found
            .iter()
            .filter_map(|i| get_s(i, keys::SK).strip_prefix(keys::CONTACT_PREFIX).map(str::to_owned))
            .collect())
    }

    async fn lookup_days(
        &self,
        quota: &str,
        first_day: i64,
        last_day: i64,
    ) -> Result<Vec<LookupDay>, StoreUnavailable> {
        let items = self
            .query_all(
                None,
                "PK = :pk AND SK BETWEEN :from AND :to",
                vec![
                    (":pk", s(keys::lookup_quota(quota))),
                    (":from", s(keys::lookups(first_day))),
                    (":to", s(keys::lookups(last_day))),
                ],
            )
            .await?;
        Ok(items.iter().map(lookup_day).collect())
    }

    async fn charge_lookups(&self, quota: &str, charge: &Charge) -> Result<bool, StoreUnavailable> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::lookup_quota(quota), keys::lookups(charge.day))))
            .update_expression("ADD #count :n, #charged :tags SET #day = :day, #ttl = :ttl")
            .condition_expression("attribute_not_exists(#count) OR #count <= :max")
            .expression_attribute_names("#count", attr::COUNT)
            .expression_attribute_names("#charged", attr::CHARGED)
            .expression_attribute_names("#day", attr::DAY)
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":n", n(charge.count()))
            .expression_attribute_values(":tags", tags(&charge.tags))
            .expression_attribute_values(":day", n(charge.day))
            .expression_attribute_values(":ttl", n(charge.expires_at))
            .expression_attribute_values(":max", n(charge.day_limit - charge.count()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable("charge lookups", e)),
        }
    }
}

/// A binary set of tags (DynamoDB refuses an empty set: a charge always has a tag).
fn tags(tags: &[LookupTag]) -> AttributeValue {
    AttributeValue::Bs(tags.iter().map(|t| Blob::new(t.to_vec())).collect())
}

fn lookup_day(item: &Item) -> LookupDay {
    let charged = item.get(attr::CHARGED).and_then(|v| v.as_bs().ok()).map(Vec::as_slice).unwrap_or_default();
    LookupDay {
        day: get_n(item, attr::DAY),
        count: get_n(item, attr::COUNT),
        tags: charged.iter().filter_map(|b| LookupTag::try_from(b.as_ref()).ok()).collect(),
    }
}
