//! The only module that knows the table: key shapes, index names, item ↔ struct mapping, conditional writes.
//!
//! One table, adjacency-list layout (`PK`/`SK` strings), one overloaded GSI (`GSI1PK`/`GSI1SK`, keys only).
//! The table itself is defined in `template.yaml`; the local stack creates it from there.
//!
//! | access pattern                                   | operation                   | key condition                                   | index |
//! |--------------------------------------------------|-----------------------------|-------------------------------------------------|-------|
//! | code and send state of a number                  | GetItem (consistent)        | PK=`USER#<e164>`, SK=`OTP`                       | table |
//! | issue a code (replaces the previous)             | PutItem if version matches  | PK=`USER#<e164>`, SK=`OTP`                       | table |
//! | spend one verify attempt                         | UpdateItem, conditional     | PK=`USER#<e164>`, SK=`OTP`                       | table |
//! | profile of a user                                | GetItem                     | PK=`USER#<e164>`, SK=`PROFILE`                   | table |
//! | profiles of many numbers                         | BatchGetItem (≤ 100 keys)   | PK=`USER#<e164>`, SK=`PROFILE`                   | table |
//! | sign in: consume code, add token, create profile | TransactWriteItems          | the three items above and the token             | table |
//! | who owns a token                                 | GetItem (consistent)        | PK=`TOKEN#<sha256 hex>`, SK=`TOKEN`              | table |
//! | every token of a user                            | Query                       | GSI1PK=`USER#<e164>`, GSI1SK begins `TOKEN#`     | GSI1  |
//! | a user's address book                            | Query (pages)               | PK=`USER#<owner>`, SK begins `CONTACT#`          | table |
//! | add / remove address-book entries                | BatchWriteItem (≤ 25 items) | PK=`USER#<owner>`, SK=`CONTACT#<number>`         | table |
//! | who has number X in their address book           | Query (pages)               | GSI1PK=`HASCONTACT#<number>`, GSI1SK=`USER#<owner>` | GSI1 |
//! | numbers looked up per day (enumeration quota)    | Query / UpdateItem ADD      | PK=`USER#<e164>`, SK between `LOOKUPS#<day>`s    | table |
//! | a group, its members in order                    | BatchGetItem                | PK=`GROUP#<gid>`, SK=`GROUP`                     | table |
//! | a group: read, write if version matches          | GetItem / PutItem (cond.)   | PK=`GROUP#<gid>`, SK=`GROUP`                     | table |
//! | new group id                                     | UpdateItem ADD              | PK=`COUNTER#GROUP`, SK=`COUNTER`                 | table |
//! | groups a user belongs to (or left)               | Query                       | GSI1PK=`MEMBEROF#<e164>`, GSI1SK=`GROUP#`/`LEFT#<gid>` | GSI1 |
//! | abuse-limit counter for one window              | UpdateItem ADD (cond.), in the code's transaction | PK=`LIMIT#<kind>#<subject>`, SK=`WINDOW#<start>` | table |
//! | notifications sent so far (resume point)        | GetItem / PutItem           | PK=`NOTIFY#USER#<e164>`/`NOTIFY#GROUP#<gid>`, SK=`RUN#<kind>#<ts>` | table |
//!
//! Expiring items (codes, tokens) carry `ttl` (unix seconds) so DynamoDB removes them eventually; the code never
//! relies on it and always compares times itself.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use tracing::error;

mod batch;
mod contacts;
mod limits;

pub use batch::GET_BATCH as BATCH_GET_KEYS;
pub use contacts::{ContactProfile, Group, GroupMember, GroupRole, Membership, NotifyProgress, SaveGroupError};
pub use limits::Counter;

use crate::clock::Timestamp;
use crate::phone::PhoneNumber;
use crate::secrets::{CodeDigest, TokenHash};

pub type Item = HashMap<String, AttributeValue>;

pub const GSI1: &str = "GSI1";
const PK: &str = "PK";
const SK: &str = "SK";
const GSI1PK: &str = "GSI1PK";
const GSI1SK: &str = "GSI1SK";
const TTL: &str = "ttl";
const OTP_SK: &str = "OTP";
const PROFILE_SK: &str = "PROFILE";
const TOKEN_SK: &str = "TOKEN";

fn user_pk(phone: &PhoneNumber) -> String {
    format!("USER#{}", phone.e164())
}

/// The same key from a stored E.164 string.
fn user_key_e164(e164: &str) -> AttributeValue {
    AttributeValue::S(format!("USER#{e164}"))
}

fn token_pk(hash: &TokenHash) -> String {
    format!("TOKEN#{}", hash.as_str())
}

/// The store could not be reached or refused the call (after the SDK's retries). Details are logged where it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the table is unavailable")]
pub struct StoreUnavailable;

impl From<StoreUnavailable> for crate::error::ApiError {
    fn from(_: StoreUnavailable) -> Self {
        Self::Unavailable
    }
}

/// How often a number was sent a code lately, and when it may be sent the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendState {
    pub window_start: Timestamp,
    pub window_sends: u32,
    pub next_send_at: Timestamp,
}

/// The code record as read before issuing a new code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeRecord {
    pub send: SendState,
    /// Optimistic-lock version: a concurrent login for the same number makes the second write fail.
    pub version: i64,
}

#[derive(Debug, Clone)]
pub struct NewCode {
    pub digest: CodeDigest,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    pub send: SendState,
    /// When DynamoDB may drop the record: after the code and the send window have both passed.
    pub ttl: Timestamp,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PutCodeError {
    #[error("another code was issued concurrently")]
    Conflict,
    /// The limit at this index of the ones given is reached.
    #[error("a limit is reached")]
    Limited(usize),
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

/// A verify attempt that has been counted before the guess is compared, so no number of concurrent guesses can test
/// more than the allowed count.
#[derive(Debug, Clone)]
pub struct ReservedAttempt {
    pub digest: CodeDigest,
    pub issued_at: Timestamp,
    pub attempts: u32,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReserveError {
    #[error("no code is pending")]
    NoCode,
    #[error("the code expired")]
    Expired,
    #[error("all attempts are spent")]
    Exhausted { next_send_at: Timestamp },
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub phone: PhoneNumber,
    pub name: String,
    pub status: String,
    pub photo: String,
    pub created_at: Timestamp,
    /// Bumped on every change that contacts should see in their next delta.
    pub updated_at: Timestamp,
}

pub struct SignIn<'a> {
    pub phone: &'a PhoneNumber,
    pub attempt: &'a ReservedAttempt,
    pub token: &'a TokenHash,
    pub token_expires_at: Timestamp,
    pub now: Timestamp,
    /// `Some` for a first sign-in: the profile to create. `None`: the profile must still exist.
    pub new_profile: Option<&'a Profile>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    #[error("the code was used or replaced meanwhile")]
    CodeGone,
    #[error("the profile was created or deleted meanwhile")]
    ProfileChanged,
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub phone: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn key(pk: String, sk: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([(PK.into(), s(pk)), (SK.into(), s(sk))])
    }

    /// One item by key. Consistent reads where a decision rests on the latest write (codes, tokens, versions).
    async fn get(
        &self,
        key: Item,
        consistent: bool,
        operation: &'static str,
    ) -> Result<Option<Item>, StoreUnavailable> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| unavailable(operation, e))?;
        Ok(out.item)
    }

    /// Every page of a query, in key order: address books, the inverted index and token lists have no cap.
    async fn query_all(
        &self,
        index: Option<&str>,
        key_condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Vec<Item>, StoreUnavailable> {
        let mut items = vec![];
        let mut start = None;
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_owned))
                .key_condition_expression(key_condition)
                .set_exclusive_start_key(start);
            for (name, value) in &values {
                request = request.expression_attribute_values(*name, value.clone());
            }
            let page = request.send().await.map_err(|e| unavailable("query", e))?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    pub async fn code_record(&self, phone: &PhoneNumber) -> Result<Option<CodeRecord>, StoreUnavailable> {
        let item = self.get(Self::key(user_pk(phone), OTP_SK), true, "get code record").await?;
        Ok(item.map(|item| CodeRecord {
            send: SendState {
                window_start: get_n(&item, "window_start"),
                window_sends: get_n(&item, "window_sends") as u32,
                next_send_at: get_n(&item, "next_send_at"),
            },
            version: get_n(&item, "version"),
        }))
    }

    /// Replaces any previous code (and resets its attempts) if nobody else did since `previous` was read, and
    /// counts the send against `limits` — all in one transaction: a send over any limit stores no code and counts
    /// nothing, and a stored code has always been counted.
    pub async fn put_code(
        &self,
        phone: &PhoneNumber,
        code: &NewCode,
        previous: Option<&CodeRecord>,
        limits: &[Counter],
        now: Timestamp,
    ) -> Result<(), PutCodeError> {
        let mut item = Self::key(user_pk(phone), OTP_SK);
        item.extend([
            ("code_digest".into(), AttributeValue::B(code.digest.as_bytes().to_vec().into())),
            ("issued_at".into(), n(code.issued_at)),
            ("expires_at".into(), n(code.expires_at)),
            ("attempts".into(), n(0)),
            ("window_start".into(), n(code.send.window_start)),
            ("window_sends".into(), n(code.send.window_sends.into())),
            ("next_send_at".into(), n(code.send.next_send_at)),
            ("version".into(), n(previous.map_or(1, |p| p.version + 1))),
            (TTL.into(), n(code.ttl)),
        ]);
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        let put = match previous {
            None => put.condition_expression("attribute_not_exists(PK)"),
            Some(p) => put.condition_expression("version = :v").expression_attribute_values(":v", n(p.version)),
        };
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put.build().expect("item and table are set")).build());
        for limit in limits {
            request = request.transact_items(limit.increment(&self.table, now));
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error().and_then(|e| match e {
                TransactWriteItemsError::TransactionCanceledException(canceled) => Some(canceled),
                _ => None,
            }) {
                Some(canceled) => {
                    let reasons = canceled.cancellation_reasons();
                    let failed = |i: usize| reasons.get(i).and_then(|r| r.code()) == Some("ConditionalCheckFailed");
                    if failed(0) {
                        Err(PutCodeError::Conflict)
                    } else if let Some(i) = (1..=limits.len()).find(|i| failed(*i)) {
                        Err(PutCodeError::Limited(i - 1))
                    } else {
                        Err(unavailable("put code", e).into())
                    }
                }
                None => Err(unavailable("put code", e).into()),
            },
        }
    }

    /// Makes the code issued at `issued_at` unusable (its SMS could not be sent). Keeps the send state.
    pub async fn withdraw_code(&self, phone: &PhoneNumber, issued_at: Timestamp) -> Result<(), StoreUnavailable> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(user_pk(phone), OTP_SK)))
            .update_expression("REMOVE code_digest")
            .condition_expression("issued_at = :issued")
            .expression_attribute_values(":issued", n(issued_at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // A newer code replaced it: nothing of ours is left to withdraw.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(unavailable("withdraw code", e)),
        }
    }

    /// Counts one attempt against the pending code, atomically, and returns the code's digest to compare against.
    pub async fn reserve_attempt(
        &self,
        phone: &PhoneNumber,
        now: Timestamp,
        max_attempts: u32,
    ) -> Result<ReservedAttempt, ReserveError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(user_pk(phone), OTP_SK)))
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
                    digest: CodeDigest::from_stored(get_b(&item, "code_digest")),
                    issued_at: get_n(&item, "issued_at"),
                    attempts: get_n(&item, "attempts") as u32,
                })
            }
            Err(e) => match e.as_service_error().and_then(|e| match e {
                UpdateItemError::ConditionalCheckFailedException(failed) => Some(failed),
                _ => None,
            }) {
                Some(failed) => Err(match failed.item() {
                    None => ReserveError::NoCode,
                    Some(old) if !old.contains_key("code_digest") => ReserveError::NoCode,
                    Some(old) if get_n(old, "expires_at") <= now => ReserveError::Expired,
                    Some(old) => ReserveError::Exhausted { next_send_at: get_n(old, "next_send_at") },
                }),
                None => Err(unavailable("reserve attempt", e).into()),
            },
        }
    }

    pub async fn profile(&self, phone: &PhoneNumber) -> Result<Option<Profile>, StoreUnavailable> {
        let item = self.get(Self::key(user_pk(phone), PROFILE_SK), false, "get profile").await?;
        // A deleted account's tombstone is not a profile: signing up again starts afresh.
        Ok(item.filter(|item| !item.contains_key("deleted_at")).map(|item| Profile {
            phone: phone.clone(),
            name: get_s(&item, "name"),
            status: get_s(&item, "status"),
            photo: get_s(&item, "photo"),
            created_at: get_n(&item, "created_at"),
            updated_at: get_n(&item, "updated_at"),
        }))
    }

    /// One transaction: the code is consumed, the token stored and, on a first sign-in, the profile created. Either
    /// all of it happens or none, and a code can be consumed once only however many requests race for it.
    pub async fn sign_in(&self, sign_in: SignIn<'_>) -> Result<(), SignInError> {
        let user = user_pk(sign_in.phone);
        let consume_code = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(user.clone(), OTP_SK)))
            .update_expression(CONSUME_CODE)
            .condition_expression(CODE_STILL_PENDING)
            .set_expression_attribute_values(Some(consume_values(sign_in.attempt, sign_in.now)))
            .build()
            .expect("key, table and expression are set");
        let mut token_item = Self::key(token_pk(sign_in.token), TOKEN_SK);
        token_item.extend([
            ("phone".into(), s(sign_in.phone.e164())),
            ("issued_at".into(), n(sign_in.now)),
            ("expires_at".into(), n(sign_in.token_expires_at)),
            (TTL.into(), n(sign_in.token_expires_at)),
            (GSI1PK.into(), s(user.clone())),
            (GSI1SK.into(), s(format!("TOKEN#{}#{}", sign_in.now, &sign_in.token.as_str()[..16]))),
        ]);
        let store_token = Put::builder()
            .table_name(&self.table)
            .set_item(Some(token_item))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .expect("item and table are set");
        let profile_step = match sign_in.new_profile {
            Some(profile) => TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(profile_item(profile)))
                        .condition_expression("attribute_not_exists(PK) OR attribute_exists(deleted_at)")
                        .build()
                        .expect("item and table are set"),
                )
                .build(),
            None => TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(Self::key(user, PROFILE_SK)))
                        .condition_expression("attribute_exists(PK) AND attribute_not_exists(deleted_at)")
                        .build()
                        .expect("key, table and condition are set"),
                )
                .build(),
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(consume_code).build())
            .transact_items(TransactWriteItem::builder().put(store_token).build())
            .transact_items(profile_step)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error().and_then(|e| match e {
                TransactWriteItemsError::TransactionCanceledException(canceled) => Some(canceled),
                _ => None,
            }) {
                Some(canceled) => {
                    let failed = |i: usize| {
                        canceled.cancellation_reasons().get(i).and_then(|r| r.code()) == Some("ConditionalCheckFailed")
                    };
                    if failed(0) {
                        Err(SignInError::CodeGone)
                    } else if failed(2) {
                        Err(SignInError::ProfileChanged)
                    } else {
                        // Conflicts with another transaction on the same items: retryable, but not by us.
                        Err(unavailable("sign in", e).into())
                    }
                }
                None => Err(unavailable("sign in", e).into()),
            },
        }
    }

    /// Writes a whole profile (a new one, or a change that contacts should see: `updated_at` moves the delta).
    pub async fn put_profile(&self, profile: &Profile) -> Result<(), StoreUnavailable> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(profile_item(profile)))
            .send()
            .await
            .map_err(|e| unavailable("put profile", e))?;
        Ok(())
    }

    /// Spends the pending code (re-authentication for a sensitive operation): it works once.
    pub async fn consume_code(
        &self,
        phone: &PhoneNumber,
        attempt: &ReservedAttempt,
        now: Timestamp,
    ) -> Result<bool, StoreUnavailable> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(user_pk(phone), OTP_SK)))
            .update_expression(CONSUME_CODE)
            .condition_expression(CODE_STILL_PENDING)
            .set_expression_attribute_values(Some(consume_values(attempt, now)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(unavailable("consume code", e)),
        }
    }

    /// Replaces the profile by a tombstone: the number and when it went, nothing else. Contacts' deltas show it.
    pub async fn tombstone_profile(&self, phone: &PhoneNumber, now: Timestamp) -> Result<(), StoreUnavailable> {
        let mut item = Self::key(user_pk(phone), PROFILE_SK);
        item.extend([("phone".into(), s(phone.e164())), ("deleted_at".into(), n(now)), ("updated_at".into(), n(now))]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| unavailable("tombstone", e))?;
        Ok(())
    }

    /// Everything else stored under the person's own key (code and send state, lookup counters, push devices) and
    /// their notification progress records.
    pub async fn delete_personal_items(&self, phone: &PhoneNumber) -> Result<usize, StoreUnavailable> {
        let (own, progress) = tokio::join!(
            self.query_all(None, "PK = :pk", vec![(":pk", s(user_pk(phone)))]),
            self.query_all(None, "PK = :pk", vec![(":pk", s(format!("NOTIFY#{}", user_pk(phone))))]),
        );
        let mut keys: Vec<Item> =
            own?.into_iter().chain(progress?).map(|item| Self::key(get_s(&item, PK), &get_s(&item, SK))).collect();
        keys.retain(|k| get_s(k, SK) != PROFILE_SK && !get_s(k, SK).starts_with("CONTACT#"));
        let count = keys.len();
        self.batch_write(keys.into_iter().map(batch::Write::Delete).collect()).await?;
        Ok(count)
    }

    /// Removes the person's membership index entries (after the groups themselves no longer list them).
    pub async fn delete_memberships(&self, phone: &PhoneNumber, gids: &[u64]) -> Result<(), StoreUnavailable> {
        let writes = gids
            .iter()
            .map(|gid| batch::Write::Delete(Self::key(format!("GROUP#{gid}"), &format!("MEMBER#{}", phone.e164()))))
            .collect();
        self.batch_write(writes).await
    }

    /// Changes what contacts see of a profile and moves its `updated_at`; `None` if there is no live profile.
    pub async fn update_profile(
        &self,
        phone: &PhoneNumber,
        name: Option<&str>,
        status: Option<&str>,
        photo: Option<&str>,
        now: Timestamp,
    ) -> Result<Option<Profile>, StoreUnavailable> {
        let mut sets = vec!["updated_at = :now".to_owned()];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(user_pk(phone), PROFILE_SK)))
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(deleted_at)")
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew);
        for (field, value) in [("name", name), ("status", status), ("photo", photo)] {
            if let Some(value) = value {
                sets.push(format!("#{field} = :{field}"));
                request = request
                    .expression_attribute_names(format!("#{field}"), field)
                    .expression_attribute_values(format!(":{field}"), s(value));
            }
        }
        match request.update_expression(format!("SET {}", sets.join(", "))).send().await {
            Ok(out) => Ok(out.attributes.map(|item| Profile {
                phone: phone.clone(),
                name: get_s(&item, "name"),
                status: get_s(&item, "status"),
                photo: get_s(&item, "photo"),
                created_at: get_n(&item, "created_at"),
                updated_at: get_n(&item, "updated_at"),
            })),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(None),
            Err(e) => Err(unavailable("update profile", e)),
        }
    }

    /// Every token of a user, by hash (the GSI1 entries of the token items).
    pub async fn tokens_of(&self, phone: &PhoneNumber) -> Result<Vec<TokenHash>, StoreUnavailable> {
        let items = self
            .query_all(
                Some(GSI1),
                "GSI1PK = :user AND begins_with(GSI1SK, :tokens)",
                vec![(":user", s(user_pk(phone))), (":tokens", s("TOKEN#"))],
            )
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| get_s(i, PK).strip_prefix("TOKEN#").map(|h| TokenHash::from_stored(h.to_owned())))
            .collect())
    }

    /// Deletes tokens: a revoked token is an unknown token from then on.
    pub async fn revoke_tokens(&self, hashes: &[TokenHash]) -> Result<(), StoreUnavailable> {
        let writes = hashes.iter().map(|h| batch::Write::Delete(Self::key(token_pk(h), TOKEN_SK))).collect();
        self.batch_write(writes).await
    }

    /// The token's record, if it exists. Expiry is for the caller to judge.
    pub async fn token(&self, token: &TokenHash) -> Result<Option<TokenRecord>, StoreUnavailable> {
        let item = self.get(Self::key(token_pk(token), TOKEN_SK), true, "get token").await?;
        Ok(item.map(|item| TokenRecord {
            phone: get_s(&item, "phone"),
            issued_at: get_n(&item, "issued_at"),
            expires_at: get_n(&item, "expires_at"),
        }))
    }
}

/// Spending a code: it can happen once, and only to the code the attempt was reserved on.
const CONSUME_CODE: &str = "SET used_at = :now REMOVE code_digest";
const CODE_STILL_PENDING: &str = "code_digest = :digest AND issued_at = :issued";

fn consume_values(attempt: &ReservedAttempt, now: Timestamp) -> Item {
    HashMap::from([
        (":now".into(), n(now)),
        (":digest".into(), AttributeValue::B(attempt.digest.as_bytes().to_vec().into())),
        (":issued".into(), n(attempt.issued_at)),
    ])
}

fn profile_item(profile: &Profile) -> HashMap<String, AttributeValue> {
    let mut item = Store::key(user_pk(&profile.phone), PROFILE_SK);
    item.extend([
        ("phone".into(), s(profile.phone.e164())),
        ("name".into(), s(&profile.name)),
        ("status".into(), s(&profile.status)),
        ("photo".into(), s(&profile.photo)),
        ("created_at".into(), n(profile.created_at)),
        ("updated_at".into(), n(profile.updated_at)),
    ]);
    item
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

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn get_s(item: &HashMap<String, AttributeValue>, name: &str) -> String {
    item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
}

fn get_n(item: &HashMap<String, AttributeValue>, name: &str) -> i64 {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn get_b(item: &HashMap<String, AttributeValue>, name: &str) -> Vec<u8> {
    item.get(name).and_then(|v| v.as_b().ok()).map(|b| b.as_ref().to_vec()).unwrap_or_default()
}
