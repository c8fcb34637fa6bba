//! The sign-in transaction: the right code consumed, the token stored (mesibo mode: bound to the session number
//! the sign-in claimed) and, on a first sign-in, the profile created; all of it or none.

use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem, Update};

use super::codes::{CODE_STILL_PENDING, CONSUME_CODE, code_key, consume_values};
use super::item::{n, s};
use super::keys::{self, attr};
use super::profiles::profile_item;
use super::{DynamoStore, failed_conditions, unavailable};
use crate::usecase::ports::{SignIn, SignInError, SignInStore};

impl SignInStore for DynamoStore {
    async fn sign_in(&self, sign_in: SignIn<'_>) -> Result<(), SignInError> {
        let user = keys::user(sign_in.phone.e164());
        let consume_code = Update::builder()
            .table_name(&self.table)
            .set_key(Some(code_key(sign_in.code)))
            .update_expression(CONSUME_CODE)
            .condition_expression(CODE_STILL_PENDING)
            .set_expression_attribute_values(Some(consume_values(sign_in.attempt, sign_in.now)))
            .build()
            .expect("key, table and expression are set");
        let hash = sign_in.token.as_str();
        let mut token_item = keys::key(keys::token(hash), keys::TOKEN);
        token_item.extend([
            (attr::PHONE.into(), s(sign_in.phone.e164())),
            (attr::ISSUED_AT.into(), n(sign_in.now)),
            (attr::EXPIRES_AT.into(), n(sign_in.token_expires_at)),
            (keys::TTL.into(), n(sign_in.token_expires_at)),
            (keys::GSI1PK.into(), s(user.clone())),
            (keys::GSI1SK.into(), s(keys::token_by_user(sign_in.now, hash))),
        ]);
        if let Some((number, _)) = sign_in.session {
            token_item.insert(attr::SESSION.into(), n(i64::from(number)));
        }
        // A token is new, or (mesibo mode: mesibo may hand out a user's live token again) already this person's.
        let store_token = Put::builder()
            .table_name(&self.table)
            .set_item(Some(token_item))
            .condition_expression("attribute_not_exists(PK) OR #phone = :phone")
            .expression_attribute_names("#phone", attr::PHONE)
            .expression_attribute_values(":phone", s(sign_in.phone.e164()))
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
            None if sign_in.set_mesibo_uid.is_some() => TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(keys::key(user, keys::PROFILE)))
                        .update_expression("SET #uid = :uid")
                        .condition_expression("attribute_exists(PK) AND attribute_not_exists(deleted_at)")
                        .expression_attribute_names("#uid", attr::MESIBO_UID)
                        .expression_attribute_values(":uid", n(sign_in.set_mesibo_uid.unwrap_or_default() as i64))
                        .build()
                        .expect("key, table and expression are set"),
                )
                .build(),
            None => TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(keys::key(user, keys::PROFILE)))
                        .condition_expression("attribute_exists(PK) AND attribute_not_exists(deleted_at)")
                        .build()
                        .expect("key, table and condition are set"),
                )
                .build(),
        };
        // mesibo mode: the token is bound to the session number this sign-in claimed, while the claim holds it.
        let bind_session = sign_in.session.map(|(number, claim)| {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(keys::key(keys::user(sign_in.phone.e164()), keys::session(number))))
                .update_expression("SET #token = :token, #expires = :expires, #ttl = :expires")
                .condition_expression("#claim = :claim")
                .expression_attribute_names("#token", attr::TOKEN_HASH)
                .expression_attribute_names("#expires", attr::EXPIRES_AT)
                .expression_attribute_names("#ttl", keys::TTL)
                .expression_attribute_names("#claim", attr::CLAIM)
                .expression_attribute_values(":token", s(hash))
                .expression_attribute_values(":expires", n(sign_in.token_expires_at))
                .expression_attribute_values(":claim", s(claim))
                .build()
                .expect("key, table and expression are set");
            TransactWriteItem::builder().update(update).build()
        });
        let mut steps = vec![
            TransactWriteItem::builder().update(consume_code).build(),
            TransactWriteItem::builder().put(store_token).build(),
            profile_step,
        ];
        steps.extend(bind_session);
        let result = self.client.transact_write_items().set_transact_items(Some(steps)).send().await;
        let error = match result {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        match failed_conditions(&error) {
            Some(failed) if failed[0] => Err(SignInError::CodeGone),
            Some(failed) if failed.get(2) == Some(&true) => Err(SignInError::ProfileChanged),
            Some(failed) if failed.get(3) == Some(&true) => Err(SignInError::SessionTaken),
            _ => Err(unavailable("sign in", error).into()),
        }
    }
}
