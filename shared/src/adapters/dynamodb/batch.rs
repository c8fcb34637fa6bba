//! BatchGetItem (≤ 100 keys) and BatchWriteItem (≤ 25 items), many at once with a bound, unprocessed keys and items
//! retried with exponential backoff and full jitter.

use std::time::Duration;

use aws_sdk_dynamodb::types::{DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest};
use futures::{StreamExt, TryStreamExt, stream};

use super::item::Item;
use super::{DynamoStore, unavailable};
use crate::usecase::ports::{PROFILES_PER_READ, StoreUnavailable};

/// BatchGetItem's limit, which the use cases also page bulk profile reads by.
const GET_BATCH: usize = PROFILES_PER_READ;
pub const WRITE_BATCH: usize = 25;
/// Batches in flight per request: enough to finish 5000 numbers in a few hundred ms, without one request
/// monopolising the connection pool.
pub const CONCURRENCY: usize = 16;
const MAX_RETRIES: u32 = 8;
const BASE_BACKOFF_MS: u64 = 20;

/// Full jitter: a random wait in [0, base·2^attempt], so throttled batches do not retry in lockstep.
async fn backoff(attempt: u32) {
    let cap = BASE_BACKOFF_MS << attempt.min(8);
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS random number generator is available");
    tokio::time::sleep(Duration::from_millis(u64::from_le_bytes(bytes) % (cap + 1))).await;
}

pub enum Write {
    Put(Item),
    Delete(Item),
}

impl DynamoStore {
    /// Every item that exists among `keys` (duplicates removed by the caller). Order is not kept. `consistent`:
    /// strongly consistent reads (twice the cost), for checks that a write just before must already decide.
    pub(super) async fn batch_get(&self, keys: Vec<Item>, consistent: bool) -> Result<Vec<Item>, StoreUnavailable> {
        let chunks: Vec<Vec<Item>> = keys.chunks(GET_BATCH).map(<[Item]>::to_vec).collect();
        let found: Vec<Vec<Item>> = stream::iter(chunks)
            .map(|chunk| self.batch_get_chunk(chunk, consistent))
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn batch_get_chunk(&self, mut keys: Vec<Item>, consistent: bool) -> Result<Vec<Item>, StoreUnavailable> {
        let mut found = vec![];
        for attempt in 0..=MAX_RETRIES {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(consistent)
                .build()
                .expect("keys are set");
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| unavailable("batch get", e))?;
            found.extend(out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default());
            keys = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).map(|k| k.keys).unwrap_or_default();
            if keys.is_empty() {
                return Ok(found);
            }
        }
        tracing::error!(left = keys.len(), "batch get: unprocessed keys after retries");
        Err(StoreUnavailable)
    }

    pub(super) async fn batch_write(&self, writes: Vec<Write>) -> Result<(), StoreUnavailable> {
        let requests: Vec<WriteRequest> = writes
            .into_iter()
            .map(|w| match w {
                Write::Put(item) => WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(item)).build().expect("item"))
                    .build(),
                Write::Delete(key) => WriteRequest::builder()
                    .delete_request(DeleteRequest::builder().set_key(Some(key)).build().expect("key"))
                    .build(),
            })
            .collect();
        let chunks: Vec<Vec<WriteRequest>> = requests.chunks(WRITE_BATCH).map(<[WriteRequest]>::to_vec).collect();
        stream::iter(chunks)
            .map(|chunk| self.batch_write_chunk(chunk))
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn batch_write_chunk(&self, mut requests: Vec<WriteRequest>) -> Result<(), StoreUnavailable> {
        for attempt in 0..=MAX_RETRIES {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(|e| unavailable("batch write", e))?;
            requests = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
        }
        tracing::error!(left = requests.len(), "batch write: unprocessed items after retries");
        Err(StoreUnavailable)
    }
}
