//! The notifier's resume points: how far one notification run got, where a paged run's next page starts, whether
//! it is queued, and which copy of a page is at work. Every write updates its own attributes only, so a mark never
//! undoes another writer's progress.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::item::{get_s, n, s};
use super::keys::{self, attr};
use super::{DynamoStore, condition_failed, unavailable};
use crate::model::clock::Timestamp;
use crate::model::events::{NotifyRun, ProfileNews};
use crate::usecase::ports::{NotifyProgress, NotifyProgressStore, StoreUnavailable};

impl DynamoStore {
    /// An update of the run's item, which the caller completes: each touches its own attributes only.
    fn update_run(&self, run: &NotifyRun) -> UpdateItemFluentBuilder {
        self.client.update_item().table_name(&self.table).set_key(Some(keys::notify_run(run)))
    }
}

impl NotifyProgressStore for DynamoStore {
    async fn notify_progress(&self, run: &NotifyRun) -> Result<NotifyProgress, StoreUnavailable> {
        let item = self.get(keys::notify_run(run), true, "get notify progress").await?;
        Ok(item.map(|item| progress_in(&item)).unwrap_or_default())
    }

    async fn save_notify_progress(
        &self,
        run: &NotifyRun,
        last_recipient: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreUnavailable> {
        let request = self
            .update_run(run)
            .update_expression("SET #last = :last, #ttl = :ttl")
            .expression_attribute_names("#last", attr::LAST_RECIPIENT)
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":last", s(last_recipient))
            .expression_attribute_values(":ttl", n(expires_at));
        request.send().await.map_err(|e| unavailable("save notify progress", e))?;
        Ok(())
    }

    async fn claim_run(
        &self,
        run: &NotifyRun,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Option<NotifyProgress>, StoreUnavailable> {
        let request = self
            .update_run(run)
            .update_expression("SET #lease = :until, #ttl = if_not_exists(#ttl, :until)")
            .condition_expression("attribute_not_exists(#lease) OR #lease < :now")
            .expression_attribute_names("#lease", attr::LEASE_UNTIL)
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew);
        match request.send().await {
            Ok(out) => Ok(Some(out.attributes.map(|item| progress_in(&item)).unwrap_or_default())),
            Err(e) if condition_failed(&e) => Ok(None),
            Err(e) => Err(unavailable("claim notify run", e)),
        }
    }

    async fn fix_next_page(
        &self,
        run: &NotifyRun,
        next: &str,
        expires_at: Timestamp,
    ) -> Result<String, StoreUnavailable> {
        let request = self
            .update_run(run)
            .update_expression("SET #next = if_not_exists(#next, :next), #ttl = :ttl")
            .expression_attribute_names("#next", attr::NEXT_PAGE)
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":next", s(next))
            .expression_attribute_values(":ttl", n(expires_at))
            .return_values(ReturnValue::UpdatedNew);
        let out = request.send().await.map_err(|e| unavailable("fix next fan-out page", e))?;
        let stored = out.attributes.map(|item| get_s(&item, attr::NEXT_PAGE)).filter(|next| !next.is_empty());
        Ok(stored.unwrap_or_else(|| next.to_owned()))
    }

    async fn mark_next_queued(&self, run: &NotifyRun, expires_at: Timestamp) -> Result<(), StoreUnavailable> {
        let request = self
            .update_run(run)
            .update_expression("SET #queued = :yes, #ttl = if_not_exists(#ttl, :ttl)")
            .expression_attribute_names("#queued", attr::NEXT_QUEUED)
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":ttl", n(expires_at));
        request.send().await.map_err(|e| unavailable("mark next fan-out page queued", e))?;
        Ok(())
    }

    async fn record_told(&self, news: &ProfileNews, expires_at: Timestamp) -> Result<(), StoreUnavailable> {
        let mut item = keys::told(&news.e164, news.kind, news.ts);
        for (name, value) in [
            (attr::PHONE, &news.e164),
            (attr::NAME, &news.name),
            (attr::STATUS, &news.status),
            (attr::PHOTO, &news.photo),
            (attr::TN, &news.tn),
        ] {
            item.insert(name.into(), s(value));
        }
        item.insert(attr::KIND.into(), s(news.kind));
        item.insert(attr::UPDATED_AT.into(), n(news.ts));
        item.insert(keys::TTL.into(), n(expires_at));
        let request = self.client.put_item().table_name(&self.table).set_item(Some(item));
        request.send().await.map_err(|e| unavailable("record news told", e))?;
        Ok(())
    }
}

/// A run's progress as its item holds it.
fn progress_in(item: &HashMap<String, AttributeValue>) -> NotifyProgress {
    let text = |name: &str| Some(get_s(item, name)).filter(|value| !value.is_empty());
    NotifyProgress {
        last_recipient: text(attr::LAST_RECIPIENT),
        next_page: text(attr::NEXT_PAGE),
        next_queued: item.get(attr::NEXT_QUEUED).and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
    }
}
