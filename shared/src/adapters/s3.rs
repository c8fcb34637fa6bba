//! Photos and attachments in one private S3 bucket, under a prefix per area: `photos/`, `attachments/` (expired by
//! the bucket's lifecycle rule) and `pending/` (direct uploads not yet checked; expired after a day).

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use tracing::error;

use crate::usecase::ports::{DirectUpload, FileArea, FileStore, FilesUnavailable};

#[derive(Clone)]
pub struct S3Files {
    client: Client,
    bucket: String,
}

impl S3Files {
    pub fn new(client: Client, bucket: String) -> Self {
        Self { client, bucket }
    }
}

/// The object key of a file: its area's prefix and its name (names are checked where they come in).
pub fn key(area: FileArea, name: &str) -> String {
    let prefix = match area {
        FileArea::Photos => "photos",
        FileArea::Attachments => "attachments",
        FileArea::Pending => "pending",
    };
    format!("{prefix}/{name}")
}

fn unavailable(operation: &'static str, e: impl std::error::Error) -> FilesUnavailable {
    error!(operation, error = %DisplayErrorContext(e), "S3 call failed");
    FilesUnavailable
}

fn presigning(expires_in: u64) -> Result<PresigningConfig, FilesUnavailable> {
    PresigningConfig::expires_in(Duration::from_secs(expires_in)).map_err(|e| unavailable("presign", e))
}

impl FileStore for S3Files {
    async fn put(
        &self,
        area: FileArea,
        name: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), FilesUnavailable> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key(area, name))
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| unavailable("put", e))?;
        Ok(())
    }

    async fn delete(&self, area: FileArea, name: &str) -> Result<(), FilesUnavailable> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key(area, name))
            .send()
            .await
            .map_err(|e| unavailable("delete", e))?;
        Ok(())
    }

    async fn read_start(
        &self,
        area: FileArea,
        name: &str,
        max_bytes: u64,
    ) -> Result<Option<(Vec<u8>, u64)>, FilesUnavailable> {
        let result = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key(area, name))
            .range(format!("bytes=0-{}", max_bytes.saturating_sub(1)))
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            // An empty object has no byte 0: S3 answers 416 to the range.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 416) => return Ok(Some((vec![], 0))),
            Err(e) => return Err(unavailable("get", e)),
        };
        let total = out
            .content_range()
            .and_then(|range| range.rsplit('/').next()?.parse().ok())
            .or(out.content_length().and_then(|n| u64::try_from(n).ok()))
            .unwrap_or(0);
        let bytes = out.body.collect().await.map_err(|e| unavailable("get body", e))?.into_bytes().to_vec();
        Ok(Some((bytes, total)))
    }

    async fn copy(
        &self,
        (from, from_name): (FileArea, &str),
        (to, to_name): (FileArea, &str),
        content_type: &str,
    ) -> Result<(), FilesUnavailable> {
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(format!("{}/{}", self.bucket, key(from, from_name)))
            .key(key(to, to_name))
            .content_type(content_type)
            .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
            .send()
            .await
            .map_err(|e| unavailable("copy", e))?;
        Ok(())
    }

    async fn upload_url(
        &self,
        area: FileArea,
        name: &str,
        size: u64,
        expires_in: u64,
    ) -> Result<DirectUpload, FilesUnavailable> {
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key(area, name))
            .content_length(i64::try_from(size).unwrap_or(i64::MAX))
            .presigned(presigning(expires_in)?)
            .await
            .map_err(|e| unavailable("presign put", e))?;
        let headers = request.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        Ok(DirectUpload { url: request.uri().to_owned(), method: "PUT", headers })
    }

    async fn download_url(&self, area: FileArea, name: &str, expires_in: u64) -> Result<String, FilesUnavailable> {
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key(area, name))
            .presigned(presigning(expires_in)?)
            .await
            .map_err(|e| unavailable("presign get", e))?;
        Ok(request.uri().to_owned())
    }
}
