//! Access tokens, stored by hash, listed per user through GSI1.

use super::DynamoStore;
use super::batch::Write;
use super::item::{get_n, get_s, s};
use super::keys::{self, attr};
use crate::model::phone::PhoneNumber;
use crate::model::secrets::TokenHash;
use crate::usecase::ports::{StoreUnavailable, TokenRecord, TokenStore};

impl TokenStore for DynamoStore {
    async fn token(&self, token: &TokenHash) -> Result<Option<TokenRecord>, StoreUnavailable> {
        let item = self.get(keys::key(keys::token(token.as_str()), keys::TOKEN), true, "get token").await?;
        Ok(item.map(|item| TokenRecord {
            phone: get_s(&item, attr::PHONE),
            issued_at: get_n(&item, attr::ISSUED_AT),
            expires_at: get_n(&item, attr::EXPIRES_AT),
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
}
