//! The contact graph: address-book entries `USER#<owner>/CONTACT#<keyed name>`, indexed the other way round in GSI1
//! (who has a number), the days of the lookup quota (under the quota's own partition, see `keys::lookup_quota`), and
//! the backfill's scan of the entries of the shape before keyed names.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

use futures::{StreamExt, stream};

use super::batch::Write;
use super::item::{Item, get_n, get_s, n, s};
use super::keys::{self, attr};
use super::{DynamoStore, condition_failed, failed_conditions, unavailable};
use crate::model::address_book::{BookEntry, ContactKey, EntryName, NamedNumber, NewEntry};
use crate::model::clock::Timestamp;
use crate::model::lookup_quota::{Charge, LookupDay, LookupTag};
use crate::usecase::ports::{
    AddressBookScan, BackfillProgress, ContactStore, Rewritten, ScannedPage, StoreUnavailable,
};

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

    /// One page of the owners who have `name` (one shape), in index order.
    async fn owners_page(
        &self,
        name: &EntryName,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, bool), StoreUnavailable> {
        let mut values = vec![(":pk", s(keys::has_contact(name)))];
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
}

/// An entry item as written: keyed name, the reverse index, and the number only for a user.
fn entry_item(owner: &str, entry: &NewEntry) -> Item {
    let name = EntryName::Keyed(entry.key.clone());
    let mut item = HashMap::from([
        (keys::PK.into(), keys::user_value(owner)),
        (keys::SK.into(), s(keys::contact(&name))),
        (keys::GSI1PK.into(), s(keys::has_contact(&name))),
        (keys::GSI1SK.into(), keys::user_value(owner)),
        (attr::ADDED_AT.into(), n(entry.added_at)),
    ]);
    item.extend(entry.user.as_ref().map(|e164| (attr::PHONE.into(), s(e164))));
    item.extend(entry.expires_at.map(|at| (keys::TTL.into(), n(at))));
    item
}

/// The one mapping from an entry item to the model (`None`: not an entry).
fn book_entry(item: &Item) -> Option<BookEntry> {
    Some(BookEntry {
        name: keys::parse_contact(&get_s(item, keys::SK))?,
        user: item.contains_key(attr::PHONE).then(|| get_s(item, attr::PHONE)),
        expires_at: item.contains_key(keys::TTL).then(|| get_n(item, keys::TTL)),
        added_at: get_n(item, attr::ADDED_AT),
        joined_at: item.contains_key(attr::JOINED_AT).then(|| get_n(item, attr::JOINED_AT)),
    })
}

/// Two pages of owners in index order, as one: the first `limit` of both, and whether more may follow.
fn merge_owners(pages: [(Vec<String>, bool); 2], limit: usize) -> (Vec<String>, bool) {
    let more = pages.iter().any(|(_, more)| *more);
    let mut owners: Vec<String> = pages.into_iter().flat_map(|(owners, _)| owners).collect();
    owners.sort();
    owners.dedup();
    let cut = owners.len() > limit;
    owners.truncate(limit);
    (owners, more || cut)
}

/// Joins marked at once: each is one conditional update.
const MARKS_AT_ONCE: usize = 16;

impl ContactStore for DynamoStore {
    async fn address_book(&self, owner: &str) -> Result<Vec<BookEntry>, StoreUnavailable> {
        Ok(self.address_book_items(owner).await?.iter().filter_map(book_entry).collect())
    }

    async fn address_book_size(&self, owner: &str) -> Result<(usize, Timestamp), StoreUnavailable> {
        let items = self.address_book_items(owner).await?;
        let newest = items.iter().map(|i| get_n(i, attr::ADDED_AT)).max().unwrap_or(0);
        Ok((items.len(), newest))
    }

    async fn who_has(&self, number: &NamedNumber, after: Option<&str>) -> Result<Vec<String>, StoreUnavailable> {
        Ok(self.who_has_page(number, after, usize::MAX).await?.0)
    }

    /// Both shapes' partitions, side by side: until the backfill is done, a join may be in either (an empty
    /// partition costs half a read unit).
    async fn who_has_page(
        &self,
        number: &NamedNumber,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, bool), StoreUnavailable> {
        let [keyed, plain] = number.names();
        let (keyed, plain) =
            tokio::join!(self.owners_page(&keyed, after, limit), self.owners_page(&plain, after, limit));
        Ok(merge_owners([keyed?, plain?], limit))
    }

    async fn put_entries(&self, owner: &str, entries: &[NewEntry]) -> Result<(), StoreUnavailable> {
        self.batch_write(entries.iter().map(|entry| Write::Put(entry_item(owner, entry))).collect()).await
    }

    async fn remove_entries(&self, owner: &str, names: &[EntryName]) -> Result<(), StoreUnavailable> {
        let writes = names.iter().map(|name| Write::Delete(keys::key(keys::user(owner), keys::contact(name))));
        self.batch_write(writes.collect()).await
    }

    async fn mark_joined(
        &self,
        owners: &[String],
        key: &ContactKey,
        e164: &str,
        now: Timestamp,
    ) -> Result<(), StoreUnavailable> {
        let sk = keys::contact(&EntryName::Keyed(key.clone()));
        let marks: Vec<_> = owners
            .iter()
            .map(|owner| {
                let request = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(keys::key(keys::user(owner), sk.clone())))
                    .update_expression("SET #phone = :phone, #joined = :now REMOVE #ttl")
                    .condition_expression("attribute_exists(#pk)")
                    .expression_attribute_names("#phone", attr::PHONE)
                    .expression_attribute_names("#ttl", keys::TTL)
                    .expression_attribute_names("#pk", keys::PK)
                    .expression_attribute_names("#joined", attr::JOINED_AT)
                    .expression_attribute_values(":phone", s(e164))
                    .expression_attribute_values(":now", n(now));
                async move {
                    match request.send().await {
                        // An entry of the old shape (the backfill rewrites it), or one removed meanwhile.
                        Err(e) if condition_failed(&e) => Ok(()),
                        done => done.map(|_| ()).map_err(|e| unavailable("mark joined", e)),
                    }
                }
            })
            .collect();
        let results: Vec<_> = stream::iter(marks).buffer_unordered(MARKS_AT_ONCE).collect().await;
        results.into_iter().collect()
    }

    async fn in_address_book(&self, owner: &str, numbers: &[NamedNumber]) -> Result<Vec<String>, StoreUnavailable> {
        let names: HashMap<EntryName, &str> =
            numbers.iter().flat_map(|number| number.names().map(|name| (name, number.e164.as_str()))).collect();
        let edges = names.keys().map(|name| keys::key(keys::user(owner), keys::contact(name))).collect();
        // Consistent: a book synced just before creating a group must already count.
        let found = self.batch_get(edges, true).await?;
        let mut known: Vec<String> = found
            .iter()
            .filter_map(|i| keys::parse_contact(&get_s(i, keys::SK)))
            .filter_map(|name| names.get(&name).map(|e164| (*e164).to_owned()))
            .collect();
        known.sort();
        known.dedup();
        Ok(known)
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

impl AddressBookScan for DynamoStore {
    async fn scan_entries(&self, cursor: Option<&str>, limit: usize) -> Result<ScannedPage, StoreUnavailable> {
        let start = cursor.and_then(|cursor| serde_json::from_str::<HashMap<String, String>>(cursor).ok());
        let start = start.map(|key| key.into_iter().map(|(name, value)| (name, s(value))).collect());
        let page = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(#sk, :prefix)")
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":prefix", s(keys::CONTACT_PREFIX))
            .set_limit(i32::try_from(limit).ok())
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| unavailable("scan address books", e))?;
        let entries: Vec<(String, BookEntry)> = page
            .items()
            .iter()
            .filter_map(|item| Some((keys::user_number(&get_s(item, keys::PK))?.to_owned(), book_entry(item)?)))
            .collect();
        let next = page.last_evaluated_key.map(|key| {
            let mut key: HashMap<String, String> =
                key.into_iter().filter_map(|(name, value)| Some((name, value.as_s().ok()?.clone()))).collect();
            // An entry of the old shape names its number: the cursor (saved, shown) keeps only its owner, and the
            // next page starts over at the owner's first entry (rewriting is idempotent).
            if key
                .get(keys::SK)
                .is_some_and(|sk| keys::parse_contact(sk).is_some_and(|n| matches!(n, EntryName::Plain(_))))
            {
                key.insert(keys::SK.to_owned(), keys::CONTACT_PREFIX.to_owned());
            }
            serde_json::to_string(&key).expect("a map of strings is JSON")
        });
        Ok(ScannedPage { entries, next })
    }

    async fn rewrite_entry(&self, owner: &str, old: &EntryName, new: &NewEntry) -> Result<Rewritten, StoreUnavailable> {
        let old_key = keys::key(keys::user(owner), keys::contact(old));
        if *old == EntryName::Keyed(new.key.clone()) {
            // A user's entry: her number, no expiry. A non-user's: no number, the expiry retention asks for.
            let (expression, value) = match (&new.user, new.expires_at) {
                (Some(e164), _) => ("SET #phone = :v REMOVE #ttl, #joined", Some(s(e164))),
                (None, Some(at)) => ("SET #ttl = :v REMOVE #phone, #joined", Some(n(at))),
                (None, None) => ("REMOVE #phone, #joined, #ttl", None),
            };
            let request = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(old_key))
                .update_expression(expression)
                .condition_expression("attribute_exists(#pk)")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_names("#ttl", keys::TTL)
                .expression_attribute_names("#phone", attr::PHONE)
                .expression_attribute_names("#joined", attr::JOINED_AT)
                .set_expression_attribute_values(value.map(|v| HashMap::from([(":v".to_owned(), v)])));
            return match request.send().await {
                Ok(_) => Ok(Rewritten::Done),
                Err(e) if condition_failed(&e) => Ok(Rewritten::Gone),
                Err(e) => Err(unavailable("rewrite entry", e)),
            };
        }
        let remove = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(old_key.clone()))
            .condition_expression("attribute_exists(PK)")
            .build()
            .expect("table, key and condition are set");
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(entry_item(owner, new)))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .expect("table, item and condition are set");
        let steps =
            vec![TransactWriteItem::builder().delete(remove).build(), TransactWriteItem::builder().put(put).build()];
        let error = match self.client.transact_write_items().set_transact_items(Some(steps)).send().await {
            Ok(_) => return Ok(Rewritten::Done),
            Err(error) => error,
        };
        match failed_conditions(&error) {
            Some(failed) if failed[0] => Ok(Rewritten::Gone),
            // The entry of the new name is there already (a sync replaced the old one meanwhile): it stays as it is.
            Some(_) => {
                let request = self.client.delete_item().table_name(&self.table).set_key(Some(old_key));
                request.send().await.map_err(|e| unavailable("remove replaced entry", e))?;
                Ok(Rewritten::Done)
            }
            None => Err(unavailable("rename entry", error)),
        }
    }

    async fn backfill_progress(&self) -> Result<Option<BackfillProgress>, StoreUnavailable> {
        let item = self.get(keys::backfill_progress(), true, "get backfill progress").await?;
        Ok(item.map(|item| BackfillProgress {
            cursor: item.contains_key(attr::CURSOR).then(|| get_s(&item, attr::CURSOR)),
            started_at: get_n(&item, attr::STARTED_AT),
            finished_at: item.contains_key(attr::FINISHED_AT).then(|| get_n(&item, attr::FINISHED_AT)),
            scanned: get_n(&item, attr::SCANNED) as u64,
            rewritten: get_n(&item, attr::REWRITTEN) as u64,
        }))
    }

    async fn save_backfill_progress(
        &self,
        progress: &BackfillProgress,
        seen: Option<&BackfillProgress>,
    ) -> Result<bool, StoreUnavailable> {
        let mut item = keys::backfill_progress();
        item.extend([
            (attr::STARTED_AT.into(), n(progress.started_at)),
            (attr::SCANNED.into(), n(progress.scanned as i64)),
            (attr::REWRITTEN.into(), n(progress.rewritten as i64)),
        ]);
        item.extend(progress.cursor.as_ref().map(|cursor| (attr::CURSOR.into(), s(cursor))));
        item.extend(progress.finished_at.map(|at| (attr::FINISHED_AT.into(), n(at))));
        let request = self.client.put_item().table_name(&self.table).set_item(Some(item));
        let request = match seen {
            None => request.condition_expression("attribute_not_exists(PK)"),
            Some(seen) => request
                .condition_expression("#started = :started AND #scanned = :scanned")
                .expression_attribute_names("#started", attr::STARTED_AT)
                .expression_attribute_names("#scanned", attr::SCANNED)
                .expression_attribute_values(":started", n(seen.started_at))
                .expression_attribute_values(":scanned", n(seen.scanned as i64)),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable("save backfill progress", e)),
        }
    }
}
