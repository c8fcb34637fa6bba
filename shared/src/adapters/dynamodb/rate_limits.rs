//! Counters of the abuse limits: one item per subject and window, raised with an atomic conditional ADD so
//! concurrent requests can never overshoot, removed by TTL after their window.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

use super::item::{Item, get_n, n};
use super::keys::{self, attr};
use super::{DynamoStore, condition_failed, failed_conditions, unavailable};
use crate::model::clock::Timestamp;
use crate::model::rate_limit::RateLimit;
use crate::usecase::ports::{RateLimitStore, StoreUnavailable};

const INCREMENT: &str = "ADD #count :one SET #ttl = :ttl";
const WITHIN_LIMIT: &str = "attribute_not_exists(#count) OR #count < :max";

fn counter_key(limit: &RateLimit, now: Timestamp) -> Item {
    keys::rate_limit(&limit.subject, limit.window_start(now))
}

fn names() -> HashMap<String, String> {
    HashMap::from([("#count".into(), attr::COUNT.into()), ("#ttl".into(), keys::TTL.into())])
}

/// `:one` and `:ttl`, and with a ceiling `:max`.
fn values(limit: &RateLimit, now: Timestamp, ceiling: bool) -> Item {
    let mut values = HashMap::from([(":one".into(), n(1)), (":ttl".into(), n(limit.expires_at(now)))]);
    if ceiling {
        values.insert(":max".into(), n(limit.max));
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
            .set_expression_attribute_values(Some(values(limit, now, false)))
            .send()
            .await
            .map_err(|e| unavailable("count", e))?;
        Ok(())
    }

    /// The conditional increment, as a step of the transaction that issues a code.
    pub(super) fn rate_limit_increment(&self, limit: &RateLimit, now: Timestamp) -> TransactWriteItem {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(counter_key(limit, now)))
            .update_expression(INCREMENT)
            .condition_expression(WITHIN_LIMIT)
            .set_expression_attribute_names(Some(names()))
            .set_expression_attribute_values(Some(values(limit, now, true)))
            .build()
            .expect("key, table and expression are set");
        TransactWriteItem::builder().update(update).build()
    }
}

impl RateLimitStore for DynamoStore {
    async fn take(&self, limit: &RateLimit, now: Timestamp) -> Result<bool, StoreUnavailable> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(counter_key(limit, now)))
            .update_expression(INCREMENT)
            .condition_expression(WITHIN_LIMIT)
            .set_expression_attribute_names(Some(names()))
            .set_expression_attribute_values(Some(values(limit, now, true)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable("take from limit", e)),
        }
    }

    async fn take_all(
        &self,
        enforced: &[RateLimit],
        counted: &[RateLimit],
        now: Timestamp,
    ) -> Result<Result<(), usize>, StoreUnavailable> {
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
            return Ok(Ok(()));
        }
        // A request that does not go on keeps nothing counted.
        self.give_back(&took, now).await?;
        match (fault, refused) {
            (Some(fault), _) => Err(fault),
            (None, reached) => Ok(Err(reached.expect("refused or failed"))),
        }
    }

    async fn give_back(&self, limits: &[RateLimit], taken_at: Timestamp) -> Result<(), StoreUnavailable> {
        let give_back = limits.iter().map(|limit| {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(counter_key(limit, taken_at)))
                .update_expression("ADD #count :minus_one")
                .condition_expression("#count > :zero")
                .expression_attribute_names("#count", attr::COUNT)
                .expression_attribute_values(":minus_one", n(-1))
                .expression_attribute_values(":zero", n(0))
                .send()
        });
        for result in futures::future::join_all(give_back).await {
            match result {
                // Nothing left to give back (the counter expired): nothing to do.
                Ok(_) => {}
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(unavailable("give back limits", e)),
            }
        }
        Ok(())
    }

    async fn used(&self, limit: &RateLimit, now: Timestamp) -> Result<i64, StoreUnavailable> {
        let item = self.get(counter_key(limit, now), true, "read limit").await?;
        Ok(item.map(|item| get_n(&item, attr::COUNT)).unwrap_or(0))
    }

    async fn take_amounts(&self, takes: &[(RateLimit, i64)], now: Timestamp) -> Result<bool, StoreUnavailable> {
        let takes: Vec<&(RateLimit, i64)> = takes.iter().filter(|(_, amount)| *amount > 0).collect();
        if takes.iter().any(|(limit, amount)| *amount > limit.max) {
            return Ok(false);
        }
        if takes.is_empty() {
            return Ok(true);
        }
        let mut request = self.client.transact_write_items();
        for (limit, amount) in takes {
            let mut values = values(limit, now, false);
            values.insert(":one".into(), n(*amount));
            values.insert(":room".into(), n(limit.max - amount));
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(counter_key(limit, now)))
                .update_expression(INCREMENT)
                .condition_expression("attribute_not_exists(#count) OR #count <= :room")
                .set_expression_attribute_names(Some(names()))
                .set_expression_attribute_values(Some(values))
                .build()
                .expect("key, table and expression are set");
            request = request.transact_items(TransactWriteItem::builder().update(update).build());
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if failed_conditions(&e).is_some_and(|failed| failed.contains(&true)) => Ok(false),
            Err(e) => Err(unavailable("take from limits", e)),
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
