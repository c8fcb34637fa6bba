//! Access tokens, stored by hash, listed per user through GSI1; and (mesibo mode) the person's mesibo session
//! numbers, one item each under the user (`SESSION#<number>`), each naming the token bound to it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};

use super::batch::Write;
use super::item::{Item, get_n, get_s, n, s};
use super::keys::{self, attr};
use super::{DynamoStore, condition_failed, failed_conditions, unavailable};
use crate::model::clock::Timestamp;
use crate::model::phone::PhoneNumber;
use crate::model::secrets::TokenHash;
use crate::model::sessions::SessionSlot;
use crate::usecase::ports::{SessionClaim, StoreUnavailable, TokenRecord, TokenStore};

/// An unfinished claim's item stays this long at most (TTL; its number is free again after
/// `model::sessions::UNFINISHED_CLAIM_SECONDS`).
const CLAIM_TTL_SECONDS: i64 = 86_400;

impl TokenStore for DynamoStore {
    async fn token(&self, token: &TokenHash) -> Result<Option<TokenRecord>, StoreUnavailable> {
        let item = self.get(keys::key(keys::token(token.as_str()), keys::TOKEN), true, "get token").await?;
        Ok(item.map(|item| TokenRecord {
            phone: get_s(&item, attr::PHONE),
            issued_at: get_n(&item, attr::ISSUED_AT),
            expires_at: get_n(&item, attr::EXPIRES_AT),
            session: item.contains_key(attr::SESSION).then(|| get_n(&item, attr::SESSION) as u32),
        }))
    }

    async fn tokens_of(&self, phone: &PhoneNumber) -> Result<Vec<TokenHash>, StoreUnavailable> {
        let items = self
            .query_all(
                Some(keys::GSI1),
                "GSI1PK = :user AND begins_with(GSI1SK, :tokens)",
                vec![(":user", keys::user_value(phone.e164())), (":tokens", s(keys::TOKEN_PREFIX))],
            )
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| {
                let hash = get_s(i, keys::PK).strip_prefix(keys::TOKEN_PREFIX)?.to_owned();
                Some(TokenHash::from_stored(hash))
            })
            .collect())
    }

    async fn revoke_tokens(&self, hashes: &[TokenHash]) -> Result<(), StoreUnavailable> {
        let writes = hashes.iter().map(|h| Write::Delete(keys::key(keys::token(h.as_str()), keys::TOKEN))).collect();
        self.batch_write(writes).await
    }

    async fn sessions(&self, phone: &PhoneNumber) -> Result<Vec<SessionSlot>, StoreUnavailable> {
        Ok(self.session_items(phone).await?.iter().filter_map(slot).collect())
    }

    async fn claim_session(
        &self,
        phone: &PhoneNumber,
        claim: &SessionClaim<'_>,
        now: Timestamp,
    ) -> Result<bool, StoreUnavailable> {
        let mut item = keys::key(keys::user(phone.e164()), keys::session(claim.number));
        item.extend([
            (attr::CLAIM.into(), s(claim.claim)),
            (attr::CLAIMED_AT.into(), n(now)),
            (keys::TTL.into(), n(now + CLAIM_TTL_SECONDS)),
        ]);
        // Taken only as it was read: never taken; or under the claim that was read, with the token that was read
        // (a sign-in binding its token meanwhile makes the number live, and its device must not be passed over).
        let (condition, names, values) = match claim.replacing {
            None => ("attribute_not_exists(PK)", None, None),
            Some(seen) => {
                let mut names = HashMap::from([("#claim".to_owned(), attr::CLAIM.to_owned())]);
                names.insert("#token".to_owned(), attr::TOKEN_HASH.to_owned());
                let mut values = HashMap::from([(":seen".to_owned(), s(&seen.claim))]);
                let condition = match &seen.token {
                    Some(token) => {
                        values.insert(":token".to_owned(), s(token));
                        "#claim = :seen AND #token = :token"
                    }
                    None => "#claim = :seen AND attribute_not_exists(#token)",
                };
                (condition, Some(names), Some(values))
            }
        };
        let Some(evicted) = &claim.evicted else {
            let request = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(condition)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values);
            return match request.send().await {
                Ok(_) => Ok(true),
                Err(e) if condition_failed(&e) => Ok(false),
                Err(e) => Err(unavailable("claim session", e)),
            };
        };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build()
            .expect("item and table are set");
        // The device that makes room is signed out in the same write: never a number taken with its old token live.
        let revoke = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::token(evicted.as_str()), keys::TOKEN)))
            .build()
            .expect("key and table are set");
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().delete(revoke).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if failed_conditions(&e).is_some_and(|failed| failed[0]) => Ok(false),
            Err(e) => Err(unavailable("claim session", e)),
        }
    }

    async fn abandon_claim(&self, phone: &PhoneNumber, number: u32, claim: &str) -> Result<bool, StoreUnavailable> {
        // Stale from now on, not deleted: mesibo may have issued the session's token before the sign-in failed.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::user(phone.e164()), keys::session(number))))
            .update_expression("SET #at = :stale REMOVE #token")
            .condition_expression("#claim = :claim")
            .expression_attribute_names("#at", attr::CLAIMED_AT)
            .expression_attribute_names("#token", attr::TOKEN_HASH)
            .expression_attribute_names("#claim", attr::CLAIM)
            .expression_attribute_values(":stale", n(0))
            .expression_attribute_values(":claim", s(claim))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            // Another sign-in holds the number by now: it is not this one's to give back.
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable("give back session", e)),
        }
    }

    async fn release_sessions(
        &self,
        phone: &PhoneNumber,
        sessions: Option<&[(u32, TokenHash)]>,
    ) -> Result<(), StoreUnavailable> {
        let Some(sessions) = sessions else {
            let items = self.session_items(phone).await?;
            let keys = items.iter().map(|i| Write::Delete(keys::key(get_s(i, keys::PK), get_s(i, keys::SK))));
            return self.batch_write(keys.collect()).await;
        };
        for (number, token) in sessions {
            let result = self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(keys::key(keys::user(phone.e164()), keys::session(*number))))
                .condition_expression("#token = :token")
                .expression_attribute_names("#token", attr::TOKEN_HASH)
                .expression_attribute_values(":token", s(token.as_str()))
                .send()
                .await;
            match result {
                // Another sign-in holds the number by now: it is not this token's to give back.
                Ok(_) => {}
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(unavailable("give back session", e)),
            }
        }
        Ok(())
    }
}

impl DynamoStore {
    async fn session_items(&self, phone: &PhoneNumber) -> Result<Vec<Item>, StoreUnavailable> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("PK = :user AND begins_with(SK, :sessions)")
            .expression_attribute_values(":user", keys::user_value(phone.e164()))
            .expression_attribute_values(":sessions", s(keys::SESSION_PREFIX))
            .send()
            .await
            .map_err(|e| unavailable("query sessions", e))?;
        // At most eight small items: one page.
        Ok(out.items.unwrap_or_default())
    }
}

fn slot(item: &Item) -> Option<SessionSlot> {
    let number = get_s(item, keys::SK).strip_prefix(keys::SESSION_PREFIX)?.parse().ok()?;
    let token = Some(get_s(item, attr::TOKEN_HASH)).filter(|t| !t.is_empty());
    Some(SessionSlot {
        number,
        claim: get_s(item, attr::CLAIM),
        claimed_at: get_n(item, attr::CLAIMED_AT),
        expires_at: token.as_ref().map(|_| get_n(item, attr::EXPIRES_AT)),
        token,
    })
}
