//! The DynamoDB adapter: the only code that knows the table. Key shapes ([`keys`]), item ↔ model mapping, batching
//! and conditional writes; one file per aggregate, each implementing its port of `crate::usecase::ports`.
//!
//! One table, adjacency-list layout (`PK`/`SK` strings), one overloaded GSI (`GSI1PK`/`GSI1SK`, keys only). The
//! table itself is defined in `template.yaml`; the local stack creates it from there.
//!
//! | item / access pattern                            | operation                   | key condition                                   | index |
//! |--------------------------------------------------|-----------------------------|-------------------------------------------------|-------|
//! | code and send state of a number                  | GetItem (consistent)        | PK=`CODE#<keyed name of e164>`, SK=`OTP`         | table |
//! | issue a code (replaces the previous)             | PutItem if version matches, in a transaction with the limits | PK=`CODE#<keyed name of e164>`, SK=`OTP` | table |
//! | spend one verify attempt (or give it back)       | UpdateItem, conditional     | PK=`CODE#<keyed name of e164>`, SK=`OTP`         | table |
//! | profile of a user (or its tombstone)             | GetItem                     | PK=`USER#<e164>`, SK=`PROFILE`                   | table |
//! | profiles of many numbers                         | BatchGetItem (≤ 100 keys)   | PK=`USER#<e164>`, SK=`PROFILE`                   | table |
//! | sign in: consume code, add token, create profile | TransactWriteItems          | the code, the token and the profile             | table |
//! | who owns a token                                 | GetItem (consistent)        | PK=`TOKEN#<sha256 hex>`, SK=`TOKEN`              | table |
//! | every token of a user                            | Query                       | GSI1PK=`USER#<e164>`, GSI1SK begins `TOKEN#`     | GSI1  |
//! | a user's mesibo session numbers (mesibo mode)    | Query (consistent)          | PK=`USER#<e164>`, SK begins `SESSION#`           | table |
//! | claim a session number (a ninth device: its token revoked with it) | PutItem if absent or its claim unchanged (TransactWriteItems with the token's Delete) | PK=`USER#<e164>`, SK=`SESSION#<n>` | table |
//! | bind the token to it (in the sign-in transaction), give it back (logout) | Update / DeleteItem on its claim or token | PK=`USER#<e164>`, SK=`SESSION#<n>` | table |
//! | a user's address book (its numbers, or its size for `/export`) | Query (pages) | PK=`USER#<owner>`, SK begins `CONTACT#` | table |
//! | add / remove address-book entries                | BatchWriteItem (≤ 25 items) | PK=`USER#<owner>`, SK=`CONTACT#<number>`         | table |
//! | who has number X in their address book           | Query (pages)               | GSI1PK=`HASCONTACT#<number>`, GSI1SK=`USER#<owner>` | GSI1 |
//! | numbers charged per day (lookup quota)           | Query / UpdateItem ADD (cond.) | PK=`QUOTA#<keyed name of e164>`, SK between `LOOKUPS#<day>`s | table |
//! | give a failed request's charge back              | UpdateItem ADD + DELETE     | PK=`QUOTA#<keyed name of e164>`, SK=`LOOKUPS#<day>` | table |
//! | a user's push devices (deleted with the account) | Query (consistent)          | PK=`USER#<e164>`, SK begins `DEVICE#`            | table |
//! | add / remove devices, within the limit           | TransactWriteItems: the profile's `devices_version` (cond.) and `push_endpoints`, the devices | PK=`USER#<e164>`, SK=`PROFILE` / `DEVICE#<token digest>` | table |
//! | who owns a device token (one owner: registering it elsewhere moves it) | PutItem (old image) / DeleteItem if owner matches | PK=`PUSHTOKEN#<token digest>`, SK=`OWNER` | table |
//! | a group and its members, in order                | GetItem / BatchGetItem      | PK=`GROUP#<gid>`, SK=`GROUP`                     | table |
//! | change a group                                   | PutItem if version matches  | PK=`GROUP#<gid>`, SK=`GROUP`                     | table |
//! | who belongs to a group (or left it)              | BatchWriteItem              | PK=`GROUP#<gid>`, SK=`MEMBER#<e164>`             | table |
//! | who left a group (mesibo mirror)                 | Query (pages)               | PK=`GROUP#<gid>`, SK begins `MEMBER#`            | table |
//! | every group (mesibo resync, an operator's command) | Scan (pages), filter SK=`GROUP` | PK=`GROUP#<gid>`, SK=`GROUP`                 | table |
//! | groups a user belongs to (or left)               | Query                       | GSI1PK=`MEMBEROF#<e164>`, GSI1SK=`GROUP#`/`LEFT#<gid>` | GSI1 |
//! | new group (gid drawn at random; taken: draw again) | PutItem if absent         | PK=`GROUP#<gid>`, SK=`GROUP`                     | table |
//! | abuse-limit counter for one window               | UpdateItem ADD (cond.), or in the code's transaction | PK=`LIMIT#<kind>#<subject>`, SK=`WINDOW#<start>` | table |
//! | one shard of a split SMS limit (its other shards, when the drawn one is full) | in the code's transaction (BatchGetItem) | PK=`LIMIT#<kind>#<subject>[#<shard>]`, SK=`WINDOW#<start>` | table |
//! | notifications sent so far (resume point)         | GetItem / PutItem           | PK=`NOTIFY#USER#<e164>`/`NOTIFY#GROUP#<gid>`, SK=`RUN#<kind>#<ts>[#MESIBO]` | table |
//! | are these numbers in the adder's address book    | BatchGetItem (≤ 100 keys)   | PK=`USER#<owner>`, SK=`CONTACT#<number>`         | table |
//! | bar on re-adding someone who left (7 days)       | BatchWriteItem / BatchGetItem | PK=`READD#<keyed name of adder and member>`, SK=`BAR` | table |
//! | take a day's group and member-add allowance      | TransactWriteItems of conditional ADDs | PK=`LIMIT#…`, SK=`WINDOW#<start>` | table |
//! | a direct upload started (its owner)              | PutItem                     | PK=`UPLOAD#<fingerprint of its id>`, SK=`PENDING` | table |
//! | take it to store it (once, by its owner only)    | DeleteItem if owner matches | PK=`UPLOAD#<fingerprint of its id>`, SK=`PENDING` | table |
//!
//! A lookup-quota day holds `count` and `charged`, a binary set of 8-byte keyed tags of the numbers charged that day
//! (never more than the budget: ≤ 30,000 × 9 bytes, see `model::lookup_quota`). Its partition is not the user's, so
//! account deletion leaves it and deleting and signing up again does not reset the quota.
//!
//! A group member's `added_by` is a keyed name of the adder's number, never the number (the group may outlive them).
//!
//! Expiring items (codes, tokens, counters, quota days, resume points, re-add bars, pending uploads) carry `ttl` (unix seconds) so DynamoDB removes
//! them eventually; the code never relies on it and always compares times itself.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::AttributeValue;
use tracing::error;

mod batch;
mod codes;
mod conflicts;
mod contacts;
mod devices;
mod groups;
mod item;
pub mod keys;
mod profiles;
mod progress;
mod rate_limits;
mod sign_in;
pub mod stream;
mod tokens;
mod uploads;

use crate::usecase::ports::StoreUnavailable;
use item::Item;

/// The table, through one SDK client.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let config = client.config().to_builder().retry_classifier(conflicts::TransactionConflicts).build();
        Self { client: Client::from_conf(config), table: table.into() }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// One item by key. Consistent reads where a decision rests on the latest write (codes, tokens, versions).
    async fn get(
        &self,
        key: Item,
        consistent: bool,
        operation: &'static str,
    ) -> Result<Option<Item>, StoreUnavailable> {
        let request = self.client.get_item().table_name(&self.table).set_key(Some(key));
        let out = request.consistent_read(consistent).send().await.map_err(|e| unavailable(operation, e))?;
        Ok(out.item)
    }

    /// Every page of a query, in key order: address books, the inverted index and token lists have no cap.
    async fn query_all(
        &self,
        index: Option<&str>,
        key_condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Vec<Item>, StoreUnavailable> {
        Ok(self.query_page(index, key_condition, values, usize::MAX).await?.0)
    }
}

impl DynamoStore {
    /// Up to `limit` items in key order (however many requests that takes: a request stops at 1 MB), and whether
    /// more may follow.
    async fn query_page(
        &self,
        index: Option<&str>,
        key_condition: &str,
        values: Vec<(&str, AttributeValue)>,
        limit: usize,
    ) -> Result<(Vec<Item>, bool), StoreUnavailable> {
        let mut items = vec![];
        let mut start = None;
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_owned))
                .key_condition_expression(key_condition)
                .set_limit(i32::try_from(limit - items.len()).ok())
                .set_exclusive_start_key(start);
            for (name, value) in &values {
                request = request.expression_attribute_values(*name, value.clone());
            }
            let page = request.send().await.map_err(|e| unavailable("query", e))?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() || items.len() >= limit {
                return Ok((items, start.is_some()));
            }
        }
    }
}

/// Logs what failed (the SDK's error chain names the operation and cause, never our item values) and reports the
/// store as unavailable.
fn unavailable<E: std::error::Error + 'static, R: std::fmt::Debug>(
    operation: &'static str,
    error: SdkError<E, R>,
) -> StoreUnavailable {
    error!(operation, error = %DisplayErrorContext(&error), "dynamodb call failed");
    StoreUnavailable
}

/// Which steps of a cancelled transaction failed their condition (by index); `None` if it was not cancelled, or no
/// step failed a condition (a conflict with another transaction: retryable, but not by us).
fn failed_conditions<R>(error: &SdkError<TransactWriteItemsError, R>) -> Option<Vec<bool>> {
    let Some(TransactWriteItemsError::TransactionCanceledException(canceled)) = error.as_service_error() else {
        return None;
    };
    let failed: Vec<bool> =
        canceled.cancellation_reasons().iter().map(|r| r.code() == Some("ConditionalCheckFailed")).collect();
    failed.contains(&true).then_some(failed)
}

/// Whether a single conditional write failed its condition (the expected outcome of a lost race, not a fault).
fn condition_failed<E: ConditionalError, R>(error: &SdkError<E, R>) -> bool {
    error.as_service_error().is_some_and(ConditionalError::is_condition_failed)
}

trait ConditionalError {
    fn is_condition_failed(&self) -> bool;
}

macro_rules! conditional_errors {
    ($($operation:ident :: $error:ident),*) => {$(
        impl ConditionalError for aws_sdk_dynamodb::operation::$operation::$error {
            fn is_condition_failed(&self) -> bool {
                self.is_conditional_check_failed_exception()
            }
        }
    )*};
}
conditional_errors!(put_item::PutItemError, update_item::UpdateItemError, delete_item::DeleteItemError);
