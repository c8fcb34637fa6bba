//! Push devices, kept under their owner (so account deletion removes them); their endpoints also on the profile,
//! whose `devices_version` every change of the list bumps, so concurrent changes cannot exceed the limit.

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, ReturnValue, TransactWriteItem, Update};

use super::item::{Item, get_n, get_s, n, s};
use super::keys::{self, attr};
use super::{DynamoStore, condition_failed, failed_conditions, unavailable};
use crate::model::devices::RegisteredDevice;
use crate::usecase::ports::{ChangeDevicesError, DeviceChange, DeviceList, DeviceStore, StoreUnavailable};

impl DeviceStore for DynamoStore {
    async fn devices(&self, owner: &str) -> Result<DeviceList, StoreUnavailable> {
        let profile = self.get(keys::key(keys::user(owner), keys::PROFILE), true, "get devices version").await?;
        let live = profile.as_ref().is_some_and(|p| !p.contains_key(attr::DELETED_AT));
        let version = profile.as_ref().map_or(0, |p| get_n(p, attr::DEVICES_VERSION));
        let devices = self.device_items(owner).await?.iter().map(device).collect();
        Ok(DeviceList { devices, version, live })
    }

    async fn change_devices(&self, owner: &str, change: DeviceChange<'_>) -> Result<(), ChangeDevicesError> {
        let mut steps = vec![TransactWriteItem::builder().update(self.bump_devices_version(owner, &change)).build()];
        if let Some(device) = &change.add {
            let mut item = keys::key(keys::user(owner), keys::device(device.token_digest));
            item.extend([
                (attr::PLATFORM.into(), s(device.platform)),
                (attr::NOTIFY_TOKEN.into(), s(device.notify_token)),
                (attr::REGISTERED_WITH.into(), s(device.registered_with)),
                (attr::UPDATED_AT.into(), n(change.now)),
            ]);
            if let Some(endpoint) = device.endpoint {
                item.insert(attr::ENDPOINT_ARN.into(), s(endpoint));
            }
            let put = Put::builder().table_name(&self.table).set_item(Some(item)).build();
            steps.push(TransactWriteItem::builder().put(put.expect("item and table are set")).build());
            let token_live = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(keys::key(keys::token(device.registered_with), keys::TOKEN)))
                .condition_expression("attribute_exists(PK)")
                .build();
            steps.push(
                TransactWriteItem::builder().condition_check(token_live.expect("key and condition are set")).build(),
            );
        }
        for digest in &change.remove {
            let key = keys::key(keys::user(owner), keys::device(digest));
            let delete = Delete::builder().table_name(&self.table).set_key(Some(key)).build();
            steps.push(TransactWriteItem::builder().delete(delete.expect("key and table are set")).build());
        }
        match self.client.transact_write_items().set_transact_items(Some(steps)).send().await {
            Ok(_) => Ok(()),
            Err(error) if change.add.is_some() && failed_conditions(&error).is_some_and(|failed| failed[2]) => {
                Err(ChangeDevicesError::SignedOut)
            }
            Err(error) if failed_conditions(&error).is_some() || is_transaction_conflict(&error) => {
                Err(ChangeDevicesError::Conflict)
            }
            Err(error) => Err(unavailable("change devices", error).into()),
        }
    }

    async fn own_device_token(&self, digest: &str, owner: &str) -> Result<Option<String>, StoreUnavailable> {
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(token_owner(digest, owner)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| unavailable("own device token", e))?;
        let previous = out.attributes.map(|old| get_s(&old, attr::OWNER));
        Ok(previous.and_then(|key| keys::user_number(&key).map(str::to_owned)).filter(|previous| previous != owner))
    }

    async fn return_device_token(&self, digest: &str, owner: &str, previous: &str) -> Result<(), StoreUnavailable> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(token_owner(digest, previous)))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", attr::OWNER)
            .expression_attribute_values(":owner", keys::user_value(owner))
            .send()
            .await;
        match result {
            // Moved on since, by a later registration: that one's to finish.
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(unavailable("return device token", e)),
        }
    }

    async fn disown_device_token(&self, digest: &str, owner: &str) -> Result<bool, StoreUnavailable> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(keys::device_token_owner(digest)))
            // No owner item: a device registered before owners were kept, its endpoint nobody else's.
            .condition_expression("attribute_not_exists(#owner) OR #owner = :owner")
            .expression_attribute_names("#owner", attr::OWNER)
            .expression_attribute_values(":owner", keys::user_value(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable("disown device token", e)),
        }
    }
}

impl DynamoStore {
    /// Every device item of the owner, read consistently (the version read before it then vouches for it).
    async fn device_items(&self, owner: &str) -> Result<Vec<Item>, StoreUnavailable> {
        let mut items = vec![];
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("PK = :pk AND begins_with(SK, :devices)")
                .expression_attribute_values(":pk", keys::user_value(owner))
                .expression_attribute_values(":devices", s(keys::DEVICE_PREFIX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable("query devices", e))?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// The profile's side of a change: the new endpoints and the next version, if the profile is live and still at
    /// the version read (a profile from before the limit has none: version 0).
    fn bump_devices_version(&self, owner: &str, change: &DeviceChange<'_>) -> Update {
        let version_held = if change.version == 0 { "attribute_not_exists(#version)" } else { "#version = :read" };
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::user(owner), keys::PROFILE)))
            .condition_expression(format!(
                "attribute_exists(PK) AND attribute_not_exists({}) AND {version_held}",
                attr::DELETED_AT
            ))
            .expression_attribute_names("#version", attr::DEVICES_VERSION)
            .expression_attribute_names("#endpoints", attr::PUSH_ENDPOINTS)
            .expression_attribute_values(":next", n(change.version + 1));
        if change.version != 0 {
            update = update.expression_attribute_values(":read", n(change.version));
        }
        update = if change.endpoints.is_empty() {
            update.update_expression("SET #version = :next REMOVE #endpoints")
        } else {
            update
                .update_expression("SET #version = :next, #endpoints = :endpoints")
                .expression_attribute_values(":endpoints", AttributeValue::Ss(change.endpoints.clone()))
        };
        update.build().expect("key, table and expression are set")
    }
}

/// The item saying who owns a device token.
fn token_owner(digest: &str, owner: &str) -> Item {
    let mut item = keys::device_token_owner(digest);
    item.insert(attr::OWNER.into(), keys::user_value(owner));
    item
}

fn device(item: &Item) -> RegisteredDevice {
    let text = |name| Some(get_s(item, name)).filter(|v| !v.is_empty());
    RegisteredDevice {
        token_digest: get_s(item, keys::SK).strip_prefix(keys::DEVICE_PREFIX).unwrap_or_default().to_owned(),
        endpoint: text(attr::ENDPOINT_ARN),
        registered_with: text(attr::REGISTERED_WITH),
        updated_at: get_n(item, attr::UPDATED_AT),
    }
}

/// Another transaction on the same items was under way: the change lost a race, as a failed condition would.
fn is_transaction_conflict<R>(
    error: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        R,
    >,
) -> bool {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(canceled)) => {
            canceled.cancellation_reasons().iter().any(|r| r.code() == Some("TransactionConflict"))
        }
        Some(TransactWriteItemsError::TransactionInProgressException(_)) => true,
        _ => false,
    }
}
