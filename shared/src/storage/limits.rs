//! Counters for abuse limits: fixed windows (an hour, a UTC day), one item per subject and window, raised with an
//! atomic conditional ADD so concurrent requests can never overshoot, removed by TTL after their window.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::{Item, Store, StoreUnavailable, TTL, get_n, n, unavailable};
use crate::clock::Timestamp;

/// One limited thing: who or what is counted, in which window, up to how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// `ip-codes#<hmac>`, `country-sms#91`, …: the subject, already free of personal data in clear.
    pub subject: String,
    pub window_seconds: i64,
    pub max: i64,
}

impl Counter {
    pub fn window_start(&self, now: Timestamp) -> Timestamp {
        now - now.rem_euclid(self.window_seconds)
    }

    /// Seconds until the current window ends.
    pub fn retry_after(&self, now: Timestamp) -> u64 {
        (self.window_start(now) + self.window_seconds - now).max(1) as u64
    }

    pub(super) fn key(&self, now: Timestamp) -> Item {
        Store::key(format!("LIMIT#{}", self.subject), &format!("WINDOW#{}", self.window_start(now)))
    }

    /// The conditional increment, as a transaction step (see [`Store::put_code`]).
    pub(super) fn increment(&self, table: &str, now: Timestamp) -> TransactWriteItem {
        let update = Update::builder()
            .table_name(table)
            .set_key(Some(self.key(now)))
            .update_expression(INCREMENT)
            .condition_expression(WITHIN_LIMIT)
            .set_expression_attribute_names(Some(names()))
            .set_expression_attribute_values(Some(self.values(now)))
            .build()
            .expect("key, table and expression are set");
        TransactWriteItem::builder().update(update).build()
    }

    fn values(&self, now: Timestamp) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (":one".into(), n(1)),
            (":max".into(), n(self.max)),
            (":ttl".into(), n(self.window_start(now) + 2 * self.window_seconds)),
        ])
    }
}

const INCREMENT: &str = "ADD #count :one SET #ttl = :ttl";
const WITHIN_LIMIT: &str = "attribute_not_exists(#count) OR #count < :max";

fn names() -> HashMap<String, String> {
    HashMap::from([("#count".into(), "count".into()), ("#ttl".into(), TTL.into())])
}

impl Store {
    /// Counts one more, if that stays within the limit. False: the limit is reached (nothing was counted).
    pub async fn take(&self, counter: &Counter, now: Timestamp) -> Result<bool, StoreUnavailable> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(counter.key(now)))
            .update_expression(INCREMENT)
            .condition_expression(WITHIN_LIMIT)
            .set_expression_attribute_names(Some(names()))
            .set_expression_attribute_values(Some(counter.values(now)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(unavailable("take from limit", e)),
        }
    }

    /// Counts one more without a ceiling (failures are counted even past the limit; the check is [`Store::used`]).
    pub async fn count(&self, counter: &Counter, now: Timestamp) -> Result<(), StoreUnavailable> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(counter.key(now)))
            .update_expression(INCREMENT)
            .set_expression_attribute_names(Some(names()))
            .set_expression_attribute_values(Some(HashMap::from([
                (":one".into(), n(1)),
                (":ttl".into(), counter.values(now)[":ttl"].clone()),
            ])))
            .send()
            .await
            .map_err(|e| unavailable("count", e))?;
        Ok(())
    }

    /// How many were counted in the current window.
    pub async fn used(&self, counter: &Counter, now: Timestamp) -> Result<i64, StoreUnavailable> {
        Ok(self.get(counter.key(now), true, "read limit").await?.map(|item| get_n(&item, "count")).unwrap_or(0))
    }

    /// True for exactly one caller per window: lets a flood of rejections log one line, not one per request.
    pub async fn first_in_window(&self, counter: &Counter, now: Timestamp) -> Result<bool, StoreUnavailable> {
        let mut item = counter.key(now);
        item.insert(
            TTL.into(),
            AttributeValue::N((counter.window_start(now) + 2 * counter.window_seconds).to_string()),
        );
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(unavailable("first in window", e)),
        }
    }
}
