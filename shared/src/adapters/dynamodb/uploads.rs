//! Direct uploads started and not yet stored: one item each, keyed by a fingerprint of the upload's id (the id
//! itself, which the presigned PUT is named by, is not kept), holding the account that was charged for it.

use aws_sdk_dynamodb::types::ReturnValue;

use super::item::{get_n, n, s};
use super::keys::{self, attr};
use super::{DynamoStore, condition_failed, unavailable};
use crate::model::clock::Timestamp;
use crate::model::phone::PhoneNumber;
use crate::model::secrets::fingerprint;
use crate::usecase::ports::{PendingUploadStore, StoreUnavailable};

impl PendingUploadStore for DynamoStore {
    async fn hold_upload(
        &self,
        upload: &str,
        owner: &PhoneNumber,
        expires_at: Timestamp,
    ) -> Result<(), StoreUnavailable> {
        let mut item = keys::pending_upload(&fingerprint(upload.as_bytes()));
        item.insert(attr::OWNER.into(), keys::user_value(owner.e164()));
        item.insert(keys::TTL.into(), n(expires_at));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| unavailable("hold upload", e))?;
        Ok(())
    }

    async fn take_upload_hold(
        &self,
        upload: &str,
        owner: &PhoneNumber,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreUnavailable> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(keys::pending_upload(&fingerprint(upload.as_bytes()))))
            .condition_expression("#owner = :owner AND #ttl > :now")
            .expression_attribute_names("#owner", attr::OWNER)
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":owner", s(keys::user(owner.e164())))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Some(out.attributes.as_ref().map(|old| get_n(old, keys::TTL)).unwrap_or(now))),
            // None, expired, someone else's, or taken by a concurrent request.
            Err(e) if condition_failed(&e) => Ok(None),
            Err(e) => Err(unavailable("take upload", e)),
        }
    }
}
