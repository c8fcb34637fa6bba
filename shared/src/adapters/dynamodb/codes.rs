//! One-time codes: issue (with the abuse limits, in one transaction), spend attempts, consume. The sign-in that
//! consumes a code is [`super::sign_in`].

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem};

use super::item::{Item, b, get_b, get_n, n, s};
use super::keys::{self, attr};
use super::rate_limits::{random_below, random_shard};
use super::{DynamoStore, condition_failed, failed_conditions, unavailable};
use crate::model::clock::Timestamp;
use crate::model::code::{CodeRecord, CodeSlot, NewCode, ReservedAttempt, SendState};
use crate::model::rate_limit::RateLimit;
use crate::model::secrets::CodeDigest;
use crate::usecase::ports::{CodeStore, PutCodeError, ReserveError, StoreUnavailable};

pub(super) fn code_key(slot: &CodeSlot) -> Item {
    keys::key(keys::code_slot(slot.name()), keys::OTP)
}

/// Spending a code: it can happen once, and only to the code the attempt was reserved on.
pub(super) const CONSUME_CODE: &str = "SET used_at = :now REMOVE code_digest, code_key";
pub(super) const CODE_STILL_PENDING: &str = "code_digest = :digest AND issued_at = :issued";

pub(super) fn consume_values(attempt: &ReservedAttempt, now: Timestamp) -> Item {
    HashMap::from([
        (":now".into(), n(now)),
        (":digest".into(), b(attempt.digest.as_bytes())),
        (":issued".into(), n(attempt.issued_at)),
    ])
}

impl CodeStore for DynamoStore {
    async fn code_record(&self, slot: &CodeSlot) -> Result<Option<CodeRecord>, StoreUnavailable> {
        let item = self.get(code_key(slot), true, "get code record").await?;
        Ok(item.map(|item| CodeRecord {
            send: SendState {
                window_start: get_n(&item, attr::WINDOW_START),
                window_sends: get_n(&item, attr::WINDOW_SENDS) as u32,
                next_send_at: get_n(&item, attr::NEXT_SEND_AT),
            },
            version: get_n(&item, attr::VERSION),
        }))
    }

    async fn put_code(
        &self,
        slot: &CodeSlot,
        code: &NewCode,
        previous: Option<&CodeRecord>,
        limits: &[RateLimit],
        now: Timestamp,
    ) -> Result<(), PutCodeError> {
        let mut item = code_key(slot);
        item.extend([
            (attr::CODE_DIGEST.into(), b(code.digest.as_bytes())),
            (attr::ISSUED_AT.into(), n(code.issued_at)),
            (attr::EXPIRES_AT.into(), n(code.expires_at)),
            (attr::ATTEMPTS.into(), n(0)),
            (attr::WINDOW_START.into(), n(code.send.window_start)),
            (attr::WINDOW_SENDS.into(), n(code.send.window_sends.into())),
            (attr::NEXT_SEND_AT.into(), n(code.send.next_send_at)),
            (attr::VERSION.into(), n(previous.map_or(1, |p| p.version + 1))),
            (keys::TTL.into(), n(code.ttl)),
        ]);
        if let Some(version) = code.digest.key_version() {
            item.insert(attr::CODE_KEY.into(), s(version));
        }
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        let put = match previous {
            None => put.condition_expression("attribute_not_exists(PK)"),
            Some(p) => put.condition_expression("version = :v").expression_attribute_values(":v", n(p.version)),
        };
        let put = put.build().expect("item and table are set");
        let mut shards: Vec<u32> = limits.iter().map(random_shard).collect();
        let mut tried = 0;
        loop {
            tried += 1;
            let mut request = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put.clone()).build());
            for (limit, shard) in limits.iter().zip(&shards) {
                request = request.transact_items(self.rate_limit_increment(limit, *shard, now));
            }
            let error = match request.send().await {
                Ok(_) => return Ok(()),
                Err(error) => error,
            };
            let reached = match failed_conditions(&error) {
                Some(failed) if failed[0] => return Err(PutCodeError::Conflict),
                Some(failed) => match (1..=limits.len()).find(|i| failed.get(*i) == Some(&true)) {
                    Some(i) => i - 1,
                    None => return Err(unavailable("put code", error).into()),
                },
                None => return Err(unavailable("put code", error).into()),
            };
            // The drawn shard is full: another with room, if the limit has one.
            let limit = &limits[reached];
            // Each failed try found a shard full for good: past every shard of every limit, a read finds no room.
            if limit.shards == 1 || tried > limits.iter().map(|l| l.shards as usize).sum::<usize>() {
                return Err(PutCodeError::Limited(reached));
            }
            let counts = self.shard_counts(limit, now).await?;
            let room: Vec<u32> =
                (0..limit.shards).filter(|shard| counts[*shard as usize] < limit.shard_max(*shard)).collect();
            if room.is_empty() {
                return Err(PutCodeError::Limited(reached));
            }
            shards[reached] = room[random_below(room.len() as u32) as usize];
        }
    }

    async fn withdraw_code(&self, slot: &CodeSlot, issued_at: Timestamp) -> Result<(), StoreUnavailable> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(code_key(slot)))
            .update_expression("REMOVE code_digest, code_key")
            .condition_expression("issued_at = :issued")
            .expression_attribute_values(":issued", n(issued_at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // A newer code replaced it: nothing of ours is left to withdraw.
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(unavailable("withdraw code", e)),
        }
    }

    async fn reserve_attempt(
        &self,
        slot: &CodeSlot,
        now: Timestamp,
        max_attempts: u32,
    ) -> Result<ReservedAttempt, ReserveError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(code_key(slot)))
            .update_expression("SET attempts = attempts + :one")
            .condition_expression("attribute_exists(code_digest) AND expires_at > :now AND attempts < :max")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":max", n(max_attempts.into()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                Ok(ReservedAttempt {
                    digest: CodeDigest::from_stored(
                        get_b(&item, attr::CODE_DIGEST),
                        item.get(attr::CODE_KEY).and_then(|v| v.as_s().ok()).cloned(),
                    ),
                    issued_at: get_n(&item, attr::ISSUED_AT),
                    attempts: get_n(&item, attr::ATTEMPTS) as u32,
                })
            }
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => Err(match failed.item() {
                    None => ReserveError::NoCode,
                    Some(old) if !old.contains_key(attr::CODE_DIGEST) => ReserveError::NoCode,
                    Some(old) if get_n(old, attr::EXPIRES_AT) <= now => ReserveError::Expired,
                    Some(old) => ReserveError::Exhausted { next_send_at: get_n(old, attr::NEXT_SEND_AT) },
                }),
                _ => Err(unavailable("reserve attempt", e).into()),
            },
        }
    }

    async fn release_attempt(&self, slot: &CodeSlot, attempt: &ReservedAttempt) -> Result<(), StoreUnavailable> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(code_key(slot)))
            .update_expression("SET attempts = attempts - :one")
            .condition_expression("attribute_exists(code_digest) AND issued_at = :issued AND attempts > :zero")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":issued", n(attempt.issued_at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // The code was used or replaced meanwhile: there is no attempt of this code left to give back.
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(unavailable("release attempt", e)),
        }
    }

    async fn consume_code(
        &self,
        slot: &CodeSlot,
        attempt: &ReservedAttempt,
        now: Timestamp,
    ) -> Result<bool, StoreUnavailable> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(code_key(slot)))
            .update_expression(CONSUME_CODE)
            .condition_expression(CODE_STILL_PENDING)
            .set_expression_attribute_values(Some(consume_values(attempt, now)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable("consume code", e)),
        }
    }
}
