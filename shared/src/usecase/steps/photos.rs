//! A new profile or group photo, the step `account`, `groups` and `files` share: a file sent with the request is
//! made safe (re-encoded, thumbnailed) and stored before the change that shows it; the file it replaces goes after.
//! Whatever fails in between, no file is left that nothing shows.

use base64::Engine;
use tracing::warn;

use super::group_edit;
use crate::error::ApiError;
use crate::model::clock::Timestamp;
use crate::model::group::Group;
use crate::model::media::{FileName, FilePurpose, FileType, Photo};
use crate::model::phone::PhoneNumber;
use crate::model::profile::{ProfileRecord, ShownPhoto};
use crate::model::rate_limit::RateLimit;
use crate::usecase::ports::{FileArea, FileStore, GroupStore, ProfileStore, RateLimitStore};
use crate::usecase::{App, Ports};

/// A photo as a request sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewPhoto {
    /// A file name or https URL kept elsewhere (empty clears the photo).
    Named(String),
    /// The picture itself (a multipart file part).
    Upload(Vec<u8>),
}

/// Stores an uploaded picture (nothing to store for a name). `BADOP` where this deployment stores no files. A name
/// of a file stored here is accepted only if it is the photo already shown (`current`): otherwise anyone who saw
/// someone else's photo name could show it as theirs, and have it deleted with their next change.
pub async fn store(
    app: &App<impl Ports>,
    photo: NewPhoto,
    current: &str,
    by: &PhoneNumber,
    now: Timestamp,
) -> Result<ShownPhoto, ApiError> {
    let bytes = match photo {
        NewPhoto::Named(photo) if FileName::parse(&photo).is_some() && photo != current => {
            return Err(ApiError::BadRequest("photo: send the picture itself; stored names are not transferable"));
        }
        NewPhoto::Named(photo) => return Ok(ShownPhoto { photo, tn: String::new() }),
        NewPhoto::Upload(bytes) => bytes,
    };
    let files = app.files.as_ref().ok_or(ApiError::BadOp)?;
    take_upload(app, by, now).await?;
    // Decoding and resizing take a CPU for a while: off the async workers (the dev server serves others meanwhile).
    let photo =
        tokio::task::spawn_blocking(move || Photo::from_upload(&bytes)).await.map_err(|_| ApiError::BadImage)??;
    let name = FileName::generate(FilePurpose::Photo, FileType::JPEG, now);
    files.put(FileArea::Photos, name.as_str(), photo.jpeg, FileType::JPEG.mime).await?;
    let tn = base64::engine::general_purpose::STANDARD.encode(&photo.thumbnail);
    Ok(ShownPhoto { photo: name.as_str().to_owned(), tn })
}

/// One of the person's uploads this hour (`UPLOADS_PER_HOUR`, photos and attachments alike), taken before the work
/// it guards: the decoding and the storing.
pub async fn take_upload(app: &App<impl Ports>, by: &PhoneNumber, now: Timestamp) -> Result<(), ApiError> {
    let limit = RateLimit::uploads(&app.config.abuse, &app.config.otp_secret, by);
    match app.store.take(&limit, now).await? {
        true => Ok(()),
        false => {
            app.limit_hit(limit.kind(), now);
            Err(ApiError::RateLimited { retry_after: limit.retry_after(now) })
        }
    }
}

/// The photo is no longer shown (replaced, cleared, its account or group deleted, or its change refused): its file
/// goes, if it is one of ours. Best effort: a file left behind is only storage, and is logged.
pub async fn discard(app: &App<impl Ports>, photo: &str) {
    let (Some(files), Some(name)) = (app.files.as_ref(), FileName::parse(photo)) else {
        return;
    };
    if files.delete(FileArea::Photos, name.as_str()).await.is_err() {
        warn!(file = name.as_str(), "could not delete a photo no longer shown");
    }
}

/// After a change that may have shown `new` in place of `before`: on success the replaced file goes; on a refusal
/// the new one does. When the store did not answer, the write may have landed: the new file stays (a possible
/// orphan, never a photo pointing at nothing).
pub async fn settle<T>(app: &App<impl Ports>, before: &str, new: &str, outcome: &Result<T, ApiError>) {
    match outcome {
        Ok(_) if before != new => discard(app, before).await,
        Ok(_) | Err(ApiError::Unavailable) => {}
        Err(_) if before != new => discard(app, new).await,
        Err(_) => {}
    }
}

/// A profile change, with a new photo stored first and the one it replaces deleted after.
pub async fn change_profile(
    app: &App<impl Ports>,
    phone: &PhoneNumber,
    name: Option<&str>,
    status: Option<&str>,
    photo: Option<NewPhoto>,
    now: Timestamp,
) -> Result<ProfileRecord, ApiError> {
    let Some(photo) = photo else {
        return app.store.update_profile(phone, name, status, None, now).await?.ok_or(ApiError::AuthFail);
    };
    let before = app.store.profile(phone).await?.ok_or(ApiError::AuthFail)?;
    let shown = store(app, photo, &before.photo, phone, now).await?;
    let changed = match app.store.update_profile(phone, name, status, Some(&shown), now).await {
        Ok(Some(profile)) => Ok(profile),
        Ok(None) => Err(ApiError::AuthFail),
        Err(e) => Err(e.into()),
    };
    settle(app, &before.photo, &shown.photo, &changed).await;
    changed
}

/// A group change (`change`, which checks who may make it) with a new photo: the change is tried on the group as
/// read first, so nobody without the right to change it gets a picture decoded and stored; then as in
/// [`change_profile`].
pub async fn change_group(
    app: &App<impl Ports>,
    gid: u64,
    by: &PhoneNumber,
    photo: Option<NewPhoto>,
    now: Timestamp,
    change: impl Fn(&mut Group) -> Result<(), ApiError>,
) -> Result<Group, ApiError> {
    let Some(photo) = photo else {
        return group_edit::edit(app, gid, by, now, change).await;
    };
    let before = app.store.group(gid).await?.filter(|g| !g.deleted).ok_or(ApiError::BadGroup)?;
    change(&mut before.clone())?;
    let shown = store(app, photo, &before.photo, by, now).await?;
    let changed = group_edit::edit(app, gid, by, now, |group| {
        change(group)?;
        group.photo = shown.photo.clone();
        group.tn = shown.tn.clone();
        Ok(())
    })
    .await;
    settle(app, &before.photo, &shown.photo, &changed).await;
    changed
}
