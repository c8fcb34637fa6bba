//! Counters of the abuse limits: one item per subject and window, raised with an atomic conditional ADD so
//! concurrent requests can never overshoot, removed by TTL after their window.
//!
//! A split limit ([`RateLimit::shards`], the SMS limits new numbers share) has one item per shard, each with its
//! own ceiling ([`RateLimit::shard_max`], adding up to the limit), so it never lets more through than one item
//! would. A send counts on a shard drawn at random, which spreads the writes evenly over the shards. When that
//! shard is full, the shards are read (one strongly consistent BatchGetItem) and the send tries one that still has
//! room; it is refused when none has. Counts of SMS limits are never given back, so a shard found full stays full
//! for its window: each failed try fills a shard for good, a send tries at most every shard once, and a split limit
//! admits exactly as many sends as it would in one item.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

use super::item::{Item, get_n, get_s, n};
use super::keys::{self, attr};
use super::{DynamoStore, condition_failed, unavailable};
use crate::model::clock::Timestamp;
use crate::model::rate_limit::RateLimit;
use crate::usecase::ports::{RateLimitStore, StoreUnavailable, TakeAllError};

const INCREMENT: &str = "ADD #count :one SET #ttl = :ttl";
const WITHIN_LIMIT: &str = "attribute_not_exists(#count) OR #count < :max";

fn counter_key(limit: &RateLimit, now: Timestamp) -> Item {
    keys::rate_limit(&limit.subject, limit.window_start(now))
}

fn shard_key(limit: &RateLimit, shard: u32, now: Timestamp) -> Item {
    keys::rate_limit_shard(&limit.subject, shard, limit.window_start(now))
}

/// A shard drawn uniformly, so each takes an equal share of the writes.
pub(super) fn random_shard(limit: &RateLimit) -> u32 {
    random_below(limit.shards)
}

/// Uniform enough below `n` ≤ [`crate::model::rate_limit::MAX_SHARDS`] (the modulo bias of 2^64 is negligible).
pub(super) fn random_below(n: u32) -> u32 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS random number generator is available");
    (u64::from_le_bytes(bytes) % u64::from(n)) as u32
}

fn names() -> HashMap<String, String> {
    HashMap::from([("#count".into(), attr::COUNT.into()), ("#ttl".into(), keys::TTL.into())])
}

/// `:one` and `:ttl`, and with a ceiling `:max`.
fn values(limit: &RateLimit, now: Timestamp, ceiling: Option<i64>) -> Item {
    let mut values = HashMap::from([(":one".into(), n(1)), (":ttl".into(), n(limit.expires_at(now)))]);
    if let Some(max) = ceiling {
        values.insert(":max".into(), n(max));
    }
    values
}

impl DynamoStore {
    async fn count(&self, limit: &RateLimit, now: Timestamp) -> Result<(), StoreUnavailable> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(counter_key(limit, now)))
            .update_expression(INCREMENT)
            .set_expression_attribute_names(Some(names()))
            .set_expression_attribute_values(Some(values(limit, now, None)))
            .send()
            .await
            .map_err(|e| unavailable("count", e))?;
        Ok(())
    }

    /// The conditional increment of one shard, as a step of the transaction that issues a code.
    pub(super) fn rate_limit_increment(&self, limit: &RateLimit, shard: u32, now: Timestamp) -> TransactWriteItem {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(shard_key(limit, shard, now)))
            .update_expression(INCREMENT)
            .condition_expression(WITHIN_LIMIT)
            .set_expression_attribute_names(Some(names()))
            .set_expression_attribute_values(Some(values(limit, now, Some(limit.shard_max(shard)))))
            .build()
            .expect("key, table and expression are set");
        TransactWriteItem::builder().update(update).build()
    }

    /// Counts `amount` more if that stays within the limit.
    async fn take_amount(&self, limit: &RateLimit, amount: i64, now: Timestamp) -> Result<bool, StoreUnavailable> {
        let mut values = values(limit, now, None);
        values.insert(":one".into(), n(amount));
        values.insert(":room".into(), n(limit.max - amount));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(counter_key(limit, now)))
            .update_expression(INCREMENT)
            .condition_expression("attribute_not_exists(#count) OR #count <= :room")
            .set_expression_attribute_names(Some(names()))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable("take from limit", e)),
        }
    }

    /// What each shard of `limit` has counted in the current window (eventually consistent: see the module).
    pub(super) async fn shard_counts(&self, limit: &RateLimit, now: Timestamp) -> Result<Vec<i64>, StoreUnavailable> {
        let keys: Vec<Item> = (0..limit.shards).map(|shard| shard_key(limit, shard, now)).collect();
        let pks: Vec<String> = keys.iter().map(|key| get_s(key, keys::PK)).collect();
        // Strongly consistent: an eventually consistent read could show a shard just filled as having room, again
        // and again.
        let items = self.batch_get(keys, true).await?;
        let mut counts = vec![0; pks.len()];
        for item in items {
            if let Some(shard) = pks.iter().position(|pk| *pk == get_s(&item, keys::PK)) {
                counts[shard] = get_n(&item, attr::COUNT);
            }
        }
        Ok(counts)
    }

    /// Adds `amount` (negative: gives back) to the counter of the window of `at`, never below zero.
    async fn add_to_counter(&self, limit: &RateLimit, amount: i64, at: Timestamp) -> Result<(), StoreUnavailable> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(counter_key(limit, at)))
            .update_expression("ADD #count :amount")
            .condition_expression("#count >= :least")
            .expression_attribute_names("#count", attr::COUNT)
            .expression_attribute_values(":amount", n(amount))
            .expression_attribute_values(":least", n(-amount.min(0)))
            .send()
            .await;
        match result {
            // Nothing left to give back (the counter expired): nothing to do.
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(unavailable("give back to limit", e)),
        }
    }
}

impl RateLimitStore for DynamoStore {
    async fn take(&self, limit: &RateLimit, now: Timestamp) -> Result<bool, StoreUnavailable> {
        self.take_amount(limit, 1, now).await
    }

    async fn take_all(
        &self,
        enforced: &[RateLimit],
        counted: &[RateLimit],
        now: Timestamp,
    ) -> Result<(), TakeAllError> {
        // One conditional update per counter, not a transaction: concurrent transactions on one hot counter (an
        // address's failures) cancel each other, where single-item updates are serialised by DynamoDB.
        let (taken, counted_all) = tokio::join!(
            futures::future::join_all(enforced.iter().map(|limit| self.take(limit, now))),
            futures::future::join_all(counted.iter().map(|limit| self.count(limit, now))),
        );
        let (mut took, mut refused, mut fault) = (vec![], None, None);
        for (i, (limit, result)) in enforced.iter().zip(taken).enumerate() {
            match result {
                Ok(true) => took.push(limit.clone()),
                Ok(false) => {
                    refused.get_or_insert(i);
                }
                Err(e) => {
                    fault.get_or_insert(e);
                }
            }
        }
        for (limit, result) in counted.iter().zip(counted_all) {
            match result {
                Ok(()) => took.push(limit.clone()),
                Err(e) => {
                    fault.get_or_insert(e);
                }
            }
        }
        if refused.is_none() && fault.is_none() {
            return Ok(());
        }
        // A request that does not go on keeps nothing counted.
        self.give_back(&took, now).await?;
        match (fault, refused) {
            (Some(fault), _) => Err(fault.into()),
            (None, reached) => Err(TakeAllError::Reached(reached.expect("refused or failed"))),
        }
    }

    async fn give_back(&self, limits: &[RateLimit], taken_at: Timestamp) -> Result<(), StoreUnavailable> {
        let give_back = limits.iter().map(|limit| self.add_to_counter(limit, -1, taken_at));
        futures::future::join_all(give_back).await.into_iter().collect()
    }

    async fn used(&self, limit: &RateLimit, now: Timestamp) -> Result<i64, StoreUnavailable> {
        if limit.shards > 1 {
            return Ok(self.shard_counts(limit, now).await?.iter().sum());
        }
        let item = self.get(counter_key(limit, now), true, "read limit").await?;
        Ok(item.map(|item| get_n(&item, attr::COUNT)).unwrap_or(0))
    }

    async fn take_amounts(&self, takes: &[(RateLimit, i64)], now: Timestamp) -> Result<bool, StoreUnavailable> {
        let takes: Vec<&(RateLimit, i64)> = takes.iter().filter(|(_, amount)| *amount > 0).collect();
        if takes.iter().any(|(limit, amount)| *amount > limit.max) {
            return Ok(false);
        }
        // One conditional update per counter, given back if another is refused: a person's counters are hot items
        // when their requests run side by side, and concurrent transactions on one item cancel each other.
        let taken =
            futures::future::join_all(takes.iter().map(|(limit, amount)| self.take_amount(limit, *amount, now)));
        let taken = taken.await;
        if taken.iter().all(|t| matches!(t, Ok(true))) {
            return Ok(true);
        }
        let took = takes.iter().zip(&taken).filter(|(_, t)| matches!(t, Ok(true))).map(|(take, _)| *take);
        let give_back = took.map(|(limit, amount)| self.add_to_counter(limit, -amount, now));
        for result in futures::future::join_all(give_back).await {
            result?;
        }
        match taken.into_iter().find_map(Result::err) {
            Some(fault) => Err(fault),
            None => Ok(false),
        }
    }

    async fn first_in_window(&self, limit: &RateLimit, now: Timestamp) -> Result<bool, StoreUnavailable> {
        let mut item = counter_key(limit, now);
        item.insert(keys::TTL.into(), n(limit.expires_at(now)));
        let request = self.client.put_item().table_name(&self.table).set_item(Some(item));
        match request.condition_expression("attribute_not_exists(PK)").send().await {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable("first in window", e)),
        }
    }
}
