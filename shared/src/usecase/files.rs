//! Files: mesibo's `upload` (the caller's photo, a group's photo, a chat attachment), direct uploads of large
//! attachments to storage (a presigned URL, then a check of what arrived), and downloads by name.

use serde::Serialize;
use tracing::{info, warn};

use super::ports::{DirectUpload, FileArea, FileStore, PendingUploadStore, RateLimitStore};
use super::steps::group_admission;
use super::steps::photos::{self, NewPhoto, take_upload};
use super::steps::session::Session;
use super::{App, Ports};
use crate::error::ApiError;
use crate::model::clock::Timestamp;
use crate::model::contact::OwnProfile;
use crate::model::links::Links;
use crate::model::media::{FileName, FilePurpose, FileType, clean_attachment};
use crate::model::rate_limit::RateLimit;
use crate::model::secrets::random_name;

/// A presigned upload must start within this many seconds.
const DIRECT_UPLOAD_SECONDS: u64 = 900;
/// A started upload can be stored this long (the bucket's lifecycle empties the pending area after a day).
const PENDING_UPLOAD_SECONDS: i64 = 86_400;
/// A download link (where `/files/<name>` redirects) works this long; clients cache what they fetched.
pub const DOWNLOAD_LINK_SECONDS: u64 = 3600;
/// Pictures uploaded directly are re-encoded here, so they are read whole: at most this large.
const MAX_DIRECT_PICTURE_BYTES: u64 = 25 * 1024 * 1024;
/// What sniffing needs of a file's start.
const SNIFF_BYTES: u64 = 8192;

/// What an `upload` is for (mesibo: `profile=1` with `gid` 0 or a group's, else an attachment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadFor {
    OwnPhoto,
    GroupPhoto(u64),
    Attachment,
}

#[derive(Debug)]
pub struct Upload {
    pub target: UploadFor,
    /// `None` with `delete`: remove the photo.
    pub file: Option<Vec<u8>>,
    pub delete: bool,
    /// The deployment's URLs, as this request reached it (where downloads are).
    pub links: Links,
}

/// mesibo's upload answer: the apps read `file` (an attachment's URL), and for a photo `photo`, `tn` and, when
/// `profile` is 1, the caller's own profile fields. A group's photo answers `profile: 0`: mesibo's Android app
/// takes any `profile` above 0 as the caller's own profile (and crashes without `members`).
#[derive(Debug, Serialize)]
pub struct UploadReply {
    pub file: String,
    pub photo: String,
    pub tn: String,
    pub profile: u8,
    pub gid: u64,
    pub phone: String,
    pub name: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<String>,
    #[serde(flatten)]
    pub links: Links,
}

/// A direct upload to start: the client PUTs the file to `upload.url`, then confirms `uploaded`.
#[derive(Debug, Serialize)]
pub struct DirectUploadReply {
    pub upload: DirectUpload,
    pub uploaded: String,
    pub max_bytes: u64,
    pub expires_in: u64,
}

pub async fn upload(
    app: &App<impl Ports>,
    session: &Session,
    command: Upload,
    now: Timestamp,
) -> Result<UploadReply, ApiError> {
    let Upload { target, file, delete, links } = command;
    let photo = match (file, delete) {
        (_, true) => NewPhoto::Named(String::new()),
        (Some(bytes), false) => NewPhoto::Upload(bytes),
        (None, false) => return Err(ApiError::MissingFile),
    };
    match target {
        UploadFor::Attachment => {
            let NewPhoto::Upload(bytes) = photo else { return Err(ApiError::MissingFile) };
            take_upload(app, &session.phone, now).await?;
            let name = store_attachment(app, bytes, now).await?;
            info!(phone = %session.phone, "attachment stored");
            Ok(attachment_reply(name, links))
        }
        UploadFor::OwnPhoto => {
            let profile = photos::change_profile(app, &session.phone, None, None, Some(photo), now).await?;
            let own = OwnProfile::of(&session.phone, profile);
            info!(phone = %session.phone, "profile photo changed");
            Ok(UploadReply {
                file: if own.photo.is_empty() { String::new() } else { links.download_url(&own.photo) },
                photo: own.photo,
                tn: own.tn,
                profile: 1,
                gid: 0,
                phone: own.phone,
                name: own.name,
                status: own.status,
                members: None,
                links,
            })
        }
        UploadFor::GroupPhoto(gid) => {
            let me = session.phone.e164();
            group_admission::admit_change(app, gid, &session.phone, &[], now).await?;
            let group = photos::change_group(app, gid, &session.phone, Some(photo), now, |group| {
                group.require_admin(me).map(|_| ())
            })
            .await?;
            Ok(UploadReply {
                file: String::new(),
                photo: group.photo.clone(),
                tn: group.tn.clone(),
                profile: 0,
                gid,
                phone: String::new(),
                name: group.name.clone(),
                status: String::new(),
                members: Some(group.members_string()),
                links,
            })
        }
    }
}

fn attachment_reply(name: FileName, links: Links) -> UploadReply {
    UploadReply {
        file: links.download_url(name.as_str()),
        photo: String::new(),
        tn: String::new(),
        profile: 0,
        gid: 0,
        phone: String::new(),
        name: String::new(),
        status: String::new(),
        members: None,
        links,
    }
}

async fn store_attachment(app: &App<impl Ports>, bytes: Vec<u8>, now: Timestamp) -> Result<FileName, ApiError> {
    let files = app.files.as_ref().ok_or(ApiError::BadOp)?;
    let (bytes, file_type) =
        tokio::task::spawn_blocking(move || clean_attachment(bytes)).await.map_err(|_| ApiError::UnsupportedFile)??;
    let name = FileName::generate(FilePurpose::Attachment, file_type, now);
    files.put(FileArea::Attachments, name.as_str(), bytes, file_type.mime).await?;
    Ok(name)
}

/// A direct upload of up to `size` bytes (at most the configured maximum), for files too large for a request. It is
/// charged here, once, and bound to the caller: only she can store it, once.
pub async fn start_direct_upload(
    app: &App<impl Ports>,
    session: &Session,
    size: u64,
    now: Timestamp,
) -> Result<DirectUploadReply, ApiError> {
    let (files, config) = app.files.as_ref().zip(app.config.files.as_ref()).ok_or(ApiError::BadOp)?;
    if size > config.max_upload_bytes {
        return Err(ApiError::TooLarge(config.max_upload_bytes as usize));
    }
    take_upload(app, &session.phone, now).await?;
    let pending = PendingUpload::generate();
    app.store.hold_upload(&pending.0, &session.phone, now + PENDING_UPLOAD_SECONDS).await?;
    let upload = files.upload_url(FileArea::Pending, &pending.0, size, DIRECT_UPLOAD_SECONDS).await?;
    info!(phone = %session.phone, size, "direct upload started");
    Ok(DirectUploadReply {
        upload,
        uploaded: pending.0,
        max_bytes: config.max_upload_bytes,
        expires_in: DIRECT_UPLOAD_SECONDS,
    })
}

/// A direct upload has arrived: what it is decides whether it is kept (pictures are re-encoded like any
/// attachment). Until then it sits in the pending area, which the bucket empties after a day.
///
/// The upload is taken first, atomically and only by the account that started it, so it is stored at most once
/// whatever the concurrency; it is given back when it cannot be finished yet (not arrived, storage failing), so the
/// client can try again. What is stored is the version that was checked: a file replaced meanwhile is refused.
pub async fn finish_direct_upload(
    app: &App<impl Ports>,
    session: &Session,
    uploaded: &str,
    links: Links,
    now: Timestamp,
) -> Result<UploadReply, ApiError> {
    let (files, max_bytes) =
        app.files.as_ref().zip(app.config.files.as_ref().map(|c| c.max_upload_bytes)).ok_or(ApiError::BadOp)?;
    let pending = PendingUpload::parse(uploaded).ok_or(ApiError::NoSuchFile)?;
    let Some(expires_at) = app.store.take_upload_hold(&pending.0, &session.phone, now).await? else {
        return Err(ApiError::NoSuchFile);
    };
    match check_and_store(app, files, max_bytes, &pending, now).await {
        Ok((name, size)) => {
            forget_pending(files, &pending).await;
            info!(phone = %session.phone, size, "direct upload stored");
            Ok(attachment_reply(name, links))
        }
        Err(e @ (ApiError::NoSuchFile | ApiError::FilesUnavailable | ApiError::Unavailable)) => {
            if app.store.hold_upload(&pending.0, &session.phone, expires_at).await.is_err() {
                warn!("could not give back a direct upload that failed for now; it has to be started again");
            }
            Err(e)
        }
        Err(refused) => {
            forget_pending(files, &pending).await;
            Err(refused)
        }
    }
}

/// The stored attachment's name and the upload's size, or why it is not kept.
async fn check_and_store(
    app: &App<impl Ports>,
    files: &impl FileStore,
    max_bytes: u64,
    pending: &PendingUpload,
    now: Timestamp,
) -> Result<(FileName, u64), ApiError> {
    let start =
        files.read_start(FileArea::Pending, &pending.0, SNIFF_BYTES, None).await?.ok_or(ApiError::NoSuchFile)?;
    if start.size > max_bytes {
        return Err(ApiError::TooLarge(max_bytes as usize));
    }
    let file_type = FileType::sniff(&start.bytes).ok_or(ApiError::UnsupportedFile)?;
    let changed = ApiError::BadRequest("the file changed while it was being checked: upload it again");
    if file_type.is_recoded() {
        if start.size > MAX_DIRECT_PICTURE_BYTES {
            return Err(ApiError::TooLarge(MAX_DIRECT_PICTURE_BYTES as usize));
        }
        let whole = files.read_start(FileArea::Pending, &pending.0, start.size, Some(&start.version)).await?;
        let name = store_attachment(app, whole.ok_or(changed)?.bytes, now).await?;
        return Ok((name, start.size));
    }
    let name = FileName::generate(FilePurpose::Attachment, file_type, now);
    let from = (FileArea::Pending, pending.0.as_str());
    match files.copy(from, &start.version, (FileArea::Attachments, name.as_str()), file_type.mime).await? {
        true => Ok((name, start.size)),
        false => Err(changed),
    }
}

/// A direct upload's pending copy, once stored or refused: its deletion is no longer the request's business (the
/// bucket's lifecycle removes what is left after a day).
async fn forget_pending(files: &impl FileStore, pending: &PendingUpload) {
    if files.delete(FileArea::Pending, &pending.0).await.is_err() {
        warn!("could not delete a direct upload's pending copy; the bucket's lifecycle will");
    }
}

/// Where `/files/<name>` sends a client: a link to the file in storage, valid for [`DOWNLOAD_LINK_SECONDS`]. Each
/// file is sent at most `DOWNLOADS_PER_FILE_PER_HOUR` times an hour (429 `RATELIMIT` beyond, counted before the link
/// is made): anyone with its name may ask, so that bounds the egress one file can cost.
pub async fn download_link(app: &App<impl Ports>, name: &str, now: Timestamp) -> Result<String, ApiError> {
    let files = app.files.as_ref().ok_or(ApiError::NoSuchFile)?;
    let name = FileName::parse(name).ok_or(ApiError::NoSuchFile)?;
    let limit = RateLimit::downloads(&app.config.abuse, name.as_str());
    if !app.store.take(&limit, now).await? {
        app.limit_hit(limit.kind(), now);
        warn!("downloads of one file over the hour's limit");
        return Err(ApiError::RateLimited { retry_after: limit.retry_after(now) });
    }
    let area = match name.purpose() {
        FilePurpose::Photo => FileArea::Photos,
        FilePurpose::Attachment => FileArea::Attachments,
    };
    let file_type = FileType::of_name(name.as_str()).ok_or(ApiError::NoSuchFile)?;
    Ok(files.download_url(area, name.as_str(), file_type.mime, DOWNLOAD_LINK_SECONDS).await?)
}

/// The id of a direct upload not yet checked: 128 random bits in hex.
struct PendingUpload(String);

impl PendingUpload {
    fn generate() -> Self {
        Self(random_name())
    }

    fn parse(input: &str) -> Option<Self> {
        let valid = input.len() == 32 && input.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        valid.then(|| Self(input.to_owned()))
    }
}
