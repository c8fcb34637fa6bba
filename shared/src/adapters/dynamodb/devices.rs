//! Push devices, kept under their owner (so account deletion removes them); their endpoints also on the profile.

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{n, s};
use super::keys::{self, attr};
use super::{DynamoStore, unavailable};
use crate::model::clock::Timestamp;
use crate::usecase::ports::{Device, DeviceStore, StoreUnavailable};

impl DeviceStore for DynamoStore {
    async fn register_device(&self, owner: &str, device: Device<'_>, now: Timestamp) -> Result<(), StoreUnavailable> {
        let mut item = keys::key(keys::user(owner), keys::device(device.token_digest));
        item.extend([
            (attr::PLATFORM.into(), s(device.platform)),
            (attr::NOTIFY_TOKEN.into(), s(device.notify_token)),
            (attr::UPDATED_AT.into(), n(now)),
        ]);
        if let Some(endpoint) = device.endpoint {
            item.insert(attr::ENDPOINT_ARN.into(), s(endpoint));
        }
        let put = self.client.put_item().table_name(&self.table).set_item(Some(item)).send();
        let link = async {
            let Some(endpoint) = device.endpoint else { return Ok(()) };
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(keys::key(keys::user(owner), keys::PROFILE)))
                .update_expression("ADD push_endpoints :endpoint")
                .condition_expression("attribute_exists(PK) AND attribute_not_exists(deleted_at)")
                .expression_attribute_values(":endpoint", AttributeValue::Ss(vec![endpoint.to_owned()]))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| unavailable("link push endpoint", e))
        };
        let (put, link) = tokio::join!(put, link);
        put.map_err(|e| unavailable("register device", e))?;
        link
    }
}
