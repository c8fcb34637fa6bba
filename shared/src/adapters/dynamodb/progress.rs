//! The notifier's resume points: how far one notification run got.

use super::item::{get_s, n, s};
use super::keys::{self, attr};
use super::{DynamoStore, unavailable};
use crate::model::clock::Timestamp;
use crate::model::events::NotifyRun;
use crate::usecase::ports::{NotifyProgress, NotifyProgressStore, StoreUnavailable};

impl NotifyProgressStore for DynamoStore {
    async fn notify_progress(&self, run: &NotifyRun) -> Result<NotifyProgress, StoreUnavailable> {
        let item = self.get(keys::notify_run(run), true, "get notify progress").await?;
        let last_recipient = item.map(|i| get_s(&i, attr::LAST_RECIPIENT)).filter(|r| !r.is_empty());
        Ok(NotifyProgress { last_recipient })
    }

    async fn save_notify_progress(
        &self,
        run: &NotifyRun,
        last_recipient: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreUnavailable> {
        let mut item = keys::notify_run(run);
        item.extend([(attr::LAST_RECIPIENT.into(), s(last_recipient)), (keys::TTL.into(), n(expires_at))]);
        let request = self.client.put_item().table_name(&self.table).set_item(Some(item));
        request.send().await.map_err(|e| unavailable("save notify progress", e))?;
        Ok(())
    }
}
