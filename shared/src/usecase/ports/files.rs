//! Photos and attachments (S3).

use std::future::Future;

use crate::error::ApiError;

/// File storage could not be reached or refused the call (after the SDK's retries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("file storage is unavailable")]
pub struct FilesUnavailable;

impl From<FilesUnavailable> for ApiError {
    fn from(_: FilesUnavailable) -> Self {
        Self::FilesUnavailable
    }
}

/// Where a stored file is, by what it is for: photos, attachments, and attachments uploaded directly whose content
/// has not been checked yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileArea {
    Photos,
    Attachments,
    Pending,
}

/// A request the client makes itself, straight to storage (a presigned upload).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DirectUpload {
    pub url: String,
    pub method: &'static str,
    /// Headers the request must carry exactly as given (they are part of the signature).
    pub headers: std::collections::BTreeMap<String, String>,
}

/// The start of a stored file, and what identifies the whole of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStart {
    pub bytes: Vec<u8>,
    pub size: u64,
    /// Changes whenever the file is written again (S3's ETag).
    pub version: String,
}

/// Photos and attachments (S3). Names are [`crate::model::media::FileName`]s; an area is a prefix.
pub trait FileStore: Sync {
    fn put(
        &self,
        area: FileArea,
        name: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = Result<(), FilesUnavailable>> + Send;

    /// Gone already counts as deleted.
    fn delete(&self, area: FileArea, name: &str) -> impl Future<Output = Result<(), FilesUnavailable>> + Send;

    /// Up to `max_bytes` from the start of the file, its whole size and its version; `None` if there is no such
    /// file, or (with `version`) if it is no longer that version.
    fn read_start(
        &self,
        area: FileArea,
        name: &str,
        max_bytes: u64,
        version: Option<&str>,
    ) -> impl Future<Output = Result<Option<FileStart>, FilesUnavailable>> + Send;

    /// Copies a file to another area and name, as `content_type`, if it is still `version`: `false` if it is not
    /// (or is gone).
    fn copy(
        &self,
        from: (FileArea, &str),
        version: &str,
        to: (FileArea, &str),
        content_type: &str,
    ) -> impl Future<Output = Result<bool, FilesUnavailable>> + Send;

    /// A PUT the client sends itself, of exactly `size` bytes, valid for `expires_in` seconds.
    fn upload_url(
        &self,
        area: FileArea,
        name: &str,
        size: u64,
        expires_in: u64,
    ) -> impl Future<Output = Result<DirectUpload, FilesUnavailable>> + Send;

    /// A GET anyone holding it may send, valid for `expires_in` seconds, answered as `content_type` and as an
    /// attachment (a browser saves it, never renders it in the link's origin).
    fn download_url(
        &self,
        area: FileArea,
        name: &str,
        content_type: &str,
        expires_in: u64,
    ) -> impl Future<Output = Result<String, FilesUnavailable>> + Send;
}
