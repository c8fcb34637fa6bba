//! Profiles (and the tombstones of deleted accounts), and the other items kept under a person.

use aws_sdk_dynamodb::types::ReturnValue;

use super::batch::Write;
use super::item::{Item, get_n, get_s, n, s};
use super::keys::{self, attr};
use super::{DynamoStore, condition_failed, unavailable};
use crate::model::clock::Timestamp;
use crate::model::phone::PhoneNumber;
use crate::model::profile::{Profile, ProfileRecord, ShownPhoto};
use crate::usecase::ports::{ProfileStore, StoreUnavailable};

pub(super) fn profile_item(profile: &Profile) -> Item {
    let mut item = keys::key(keys::user(profile.phone.e164()), keys::PROFILE);
    item.extend([
        (attr::PHONE.into(), s(profile.phone.e164())),
        (attr::NAME.into(), s(&profile.name)),
        (attr::STATUS.into(), s(&profile.status)),
        (attr::PHOTO.into(), s(&profile.photo)),
        (attr::TN.into(), s(&profile.tn)),
        (attr::CREATED_AT.into(), n(profile.created_at)),
        (attr::UPDATED_AT.into(), n(profile.updated_at)),
    ]);
    item.extend(profile.mesibo_uid.map(|uid| (attr::MESIBO_UID.into(), n(uid as i64))));
    item
}

/// The one mapping from a profile item (or a stream image of one) to the model.
pub(super) fn profile_record_of(item: &Item) -> ProfileRecord {
    ProfileRecord {
        e164: get_s(item, attr::PHONE),
        name: get_s(item, attr::NAME),
        status: get_s(item, attr::STATUS),
        photo: get_s(item, attr::PHOTO),
        tn: get_s(item, attr::TN),
        created_at: get_n(item, attr::CREATED_AT),
        updated_at: get_n(item, attr::UPDATED_AT),
        deleted: item.contains_key(attr::DELETED_AT),
        push_endpoints: item.get(attr::PUSH_ENDPOINTS).and_then(|v| v.as_ss().ok()).cloned().unwrap_or_default(),
        mesibo_uid: item.contains_key(attr::MESIBO_UID).then(|| get_n(item, attr::MESIBO_UID) as u64),
        signed_out_at: item.contains_key(attr::SIGNED_OUT_AT).then(|| get_n(item, attr::SIGNED_OUT_AT)),
        mesibo_done_at: item.contains_key(attr::MESIBO_DONE_AT).then(|| get_n(item, attr::MESIBO_DONE_AT)),
    }
}

impl DynamoStore {
    /// Writes a whole profile as it stands (seeding a test or an import; sign-up goes through the sign-in transaction).
    #[cfg(feature = "test-util")]
    pub async fn put_profile(&self, profile: &Profile) -> Result<(), StoreUnavailable> {
        let request = self.client.put_item().table_name(&self.table).set_item(Some(profile_item(profile)));
        request.send().await.map_err(|e| unavailable("put profile", e))?;
        Ok(())
    }
}

impl ProfileStore for DynamoStore {
    async fn profile(&self, phone: &PhoneNumber) -> Result<Option<Profile>, StoreUnavailable> {
        let item = self.get(keys::key(keys::user(phone.e164()), keys::PROFILE), false, "get profile").await?;
        Ok(item.as_ref().map(profile_record_of).and_then(|p| p.into_own(phone)))
    }

    async fn update_profile(
        &self,
        phone: &PhoneNumber,
        name: Option<&str>,
        status: Option<&str>,
        photo: Option<&ShownPhoto>,
        now: Timestamp,
    ) -> Result<Option<ProfileRecord>, StoreUnavailable> {
        let mut sets = vec!["updated_at = :now".to_owned()];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::user(phone.e164()), keys::PROFILE)))
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(deleted_at)")
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew);
        let (photo, tn) = (photo.map(|p| p.photo.as_str()), photo.map(|p| p.tn.as_str()));
        for (field, value) in [(attr::NAME, name), (attr::STATUS, status), (attr::PHOTO, photo), (attr::TN, tn)] {
            if let Some(value) = value {
                sets.push(format!("#{field} = :{field}"));
                request = request
                    .expression_attribute_names(format!("#{field}"), field)
                    .expression_attribute_values(format!(":{field}"), s(value));
            }
        }
        match request.update_expression(format!("SET {}", sets.join(", "))).send().await {
            Ok(out) => Ok(out.attributes.as_ref().map(profile_record_of)),
            Err(e) if condition_failed(&e) => Ok(None),
            Err(e) => Err(unavailable("update profile", e)),
        }
    }

    async fn mark_signed_out(&self, phone: &PhoneNumber, now: Timestamp) -> Result<(), StoreUnavailable> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::user(phone.e164()), keys::PROFILE)))
            .update_expression("SET #out = :now")
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(deleted_at)")
            .expression_attribute_names("#out", attr::SIGNED_OUT_AT)
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // No live profile: nothing of the person is left to sign out.
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(unavailable("mark signed out", e)),
        }
    }

    async fn confirm_mesibo_cleanup(&self, e164: &str, at: Timestamp) -> Result<(), StoreUnavailable> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::user(e164), keys::PROFILE)))
            .update_expression("SET #done = :at")
            .condition_expression("attribute_exists(PK) AND (attribute_not_exists(#done) OR #done < :at)")
            .expression_attribute_names("#done", attr::MESIBO_DONE_AT)
            .expression_attribute_values(":at", n(at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already noted (as late or later), or the item is gone: nothing to note.
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(unavailable("confirm mesibo cleanup", e)),
        }
    }

    async fn tombstone_profile(&self, phone: &PhoneNumber, now: Timestamp) -> Result<(), StoreUnavailable> {
        let mut item = keys::key(keys::user(phone.e164()), keys::PROFILE);
        item.extend([
            (attr::PHONE.into(), s(phone.e164())),
            (attr::DELETED_AT.into(), n(now)),
            (attr::UPDATED_AT.into(), n(now)),
        ]);
        let request = self.client.put_item().table_name(&self.table).set_item(Some(item));
        request.send().await.map_err(|e| unavailable("tombstone", e))?;
        Ok(())
    }

    async fn profile_record(&self, e164: &str) -> Result<Option<ProfileRecord>, StoreUnavailable> {
        let item = self.get(keys::key(keys::user(e164), keys::PROFILE), false, "get profile record").await?;
        Ok(item.as_ref().map(profile_record_of))
    }

    async fn profile_records(&self, numbers: &[String]) -> Result<Vec<ProfileRecord>, StoreUnavailable> {
        let keys = numbers.iter().map(|number| keys::key(keys::user(number), keys::PROFILE)).collect();
        Ok(self.batch_get(keys, false).await?.iter().map(profile_record_of).collect())
    }

    async fn profile_now(&self, e164: &str) -> Result<Option<ProfileRecord>, StoreUnavailable> {
        let item = self.get(keys::key(keys::user(e164), keys::PROFILE), true, "get profile now").await?;
        Ok(item.as_ref().map(profile_record_of))
    }

    async fn delete_personal_items(&self, phone: &PhoneNumber) -> Result<usize, StoreUnavailable> {
        let (own, progress) = tokio::join!(
            self.query_all(None, "PK = :pk", vec![(":pk", keys::user_value(phone.e164()))]),
            self.query_all(None, "PK = :pk", vec![(":pk", s(keys::notify_runs_of(phone.e164())))]),
        );
        let mut keys: Vec<Item> = own?
            .into_iter()
            .chain(progress?)
            .map(|item| keys::key(get_s(&item, keys::PK), get_s(&item, keys::SK)))
            .collect();
        keys.retain(|k| {
            let sk = get_s(k, keys::SK);
            sk != keys::PROFILE && !sk.starts_with(keys::CONTACT_PREFIX)
        });
        let count = keys.len();
        self.batch_write(keys.into_iter().map(Write::Delete).collect()).await?;
        Ok(count)
    }
}
