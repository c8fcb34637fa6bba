//! Photos and attachments in one private S3 bucket, under a prefix per area: `photos/`, `attachments/` (expired by
//! the bucket's lifecycle rule) and `pending/` (direct uploads not yet checked; expired after a day).

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use tracing::error;

use crate::usecase::ports::{DirectUpload, FileArea, FileStart, FileStore, FilesUnavailable};

/// S3's answer to a read or copy conditioned on a version the object no longer has.
const PRECONDITION_FAILED: u16 = 412;

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

fn unquoted(etag: &str) -> &str {
    etag.trim_matches('"')
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
        version: Option<&str>,
    ) -> Result<Option<FileStart>, FilesUnavailable> {
        let result = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key(area, name))
            .range(format!("bytes=0-{}", max_bytes.saturating_sub(1)))
            .set_if_match(version.map(str::to_owned))
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == PRECONDITION_FAILED) => return Ok(None),
            // An empty object has no byte 0: S3 answers 416 to the range.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 416) => {
                let version = e.raw_response().and_then(|r| r.headers().get("etag")).unwrap_or_default().to_owned();
                return Ok(Some(FileStart { bytes: vec![], size: 0, version }));
            }
            Err(e) => return Err(unavailable("get", e)),
        };
        let size = out
            .content_range()
            .and_then(|range| range.rsplit('/').next()?.parse().ok())
            .or(out.content_length().and_then(|n| u64::try_from(n).ok()))
            .unwrap_or(0);
        let version = out.e_tag().unwrap_or_default().to_owned();
        let bytes = out.body.collect().await.map_err(|e| unavailable("get body", e))?.into_bytes().to_vec();
        Ok(Some(FileStart { bytes, size, version }))
    }

    async fn copy(
        &self,
        (from, from_name): (FileArea, &str),
        version: &str,
        (to, to_name): (FileArea, &str),
        content_type: &str,
    ) -> Result<bool, FilesUnavailable> {
        let result = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(format!("{}/{}", self.bucket, key(from, from_name)))
            .copy_source_if_match(version)
            .key(key(to, to_name))
            .content_type(content_type)
            .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
            .send()
            .await;
        let copied = match result {
            Ok(out) => out.copy_object_result().and_then(|r| r.e_tag()).map(unquoted).map(str::to_owned),
            Err(e) if e.raw_response().is_some_and(|r| matches!(r.status().as_u16(), PRECONDITION_FAILED | 404)) => {
                return Ok(false);
            }
            Err(e) => return Err(unavailable("copy", e)),
        };
        // The copy's ETag is its content's MD5 (one-part objects, SSE-S3), as the source's was: compared as well, so
        // the guarantee also holds on S3-compatible stores that ignore copy conditions. A copy that is not the
        // version checked is never named to anyone, and the bucket's lifecycle removes it with the attachments.
        Ok(copied.as_deref() == Some(unquoted(version)))
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

    async fn download_url(
        &self,
        area: FileArea,
        name: &str,
        content_type: &str,
        expires_in: u64,
    ) -> Result<String, FilesUnavailable> {
        // S3 sends no X-Content-Type-Options; the type and disposition it is told to answer with are signed here.
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key(area, name))
            .response_content_type(content_type)
            .response_content_disposition(format!("attachment; filename=\"{name}\""))
            .presigned(presigning(expires_in)?)
            .await
            .map_err(|e| unavailable("presign get", e))?;
        Ok(request.uri().to_owned())
    }
}
