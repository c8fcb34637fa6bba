//! Telling mesibo that a person's account was deleted or every token of theirs revoked: the step the `mesibo`
//! function's stream reader and the next sign-in of the number share (whichever comes first does it, and notes it
//! done on the profile).

use futures::future::join_all;
use tracing::error;

use crate::model::phone::mesibo_address;
use crate::model::profile::ProfileRecord;
use crate::model::sessions::MAX_SESSIONS;
use crate::usecase::ports::{Mesibo, MesiboFailed};

/// `userdel` for a deleted account; for a logout everywhere, `userset` ending every session: each of the numbers a
/// device may hold, and once without a session as mesibo's helper ends a user's tokens (which also ends a token from
/// before sessions). A refusal that will not pass by waiting (mesibo never answers it otherwise) is logged and taken
/// as done, so that it never holds up the stream nor a later sign-in of the number; no answer, or a refusal about the
/// app's account, is the caller's to retry.
pub async fn tell_cleanup(mesibo: &impl Mesibo, profile: &ProfileRecord) -> Result<(), MesiboFailed> {
    let address = mesibo_address(&profile.e164);
    let outcome = if profile.deleted {
        mesibo.delete_user(&address).await
    } else {
        let sessions = std::iter::once(None).chain((1..=MAX_SESSIONS).map(Some));
        let ended = join_all(sessions.map(|session| mesibo.end_session(&address, session))).await;
        // One that may pass later is the one to report: the clean-up is then retried, not taken as done.
        let failures: Vec<MesiboFailed> = ended.into_iter().filter_map(Result::err).collect();
        let reported = failures.iter().find(|failure| failure.may_pass_later()).or(failures.first());
        reported.map_or(Ok(()), |failure| Err(failure.clone()))
    };
    match outcome {
        Err(failure @ MesiboFailed::Refused(_)) if !failure.may_pass_later() => {
            error!(error = %failure, deleted = profile.deleted, "mesibo refused the clean-up: taken as done (README, mesibo)");
            Ok(())
        }
        other => other,
    }
}
