//! Telling mesibo that a person's account was deleted or every token of theirs revoked: the step the `mesibo`
//! function's stream reader and the next sign-in of the number share (whichever comes first does it, and notes it
//! done on the profile).

use tracing::error;

use crate::model::profile::ContactProfile;
use crate::usecase::ports::{Mesibo, MesiboFailed, MesiboUserRef};

/// `userdel` for a deleted account, `deltoken` (every token) for a logout everywhere. A user mesibo does not know
/// has nothing left to end; a server without token deletion is said once per call.
pub async fn tell_cleanup(mesibo: &impl Mesibo, profile: &ContactProfile) -> Result<(), MesiboFailed> {
    let user = MesiboUserRef::of(profile.mesibo_uid, &profile.e164);
    let outcome = if profile.deleted { mesibo.delete_user(user).await } else { mesibo.delete_tokens(user, None).await };
    match outcome {
        Ok(()) | Err(MesiboFailed::UnknownUser) => Ok(()),
        Err(MesiboFailed::Refused(code)) if code == "BADOP" => {
            error!("this mesibo server cannot end tokens (README, mesibo): they lapse at their expiry");
            Ok(())
        }
        Err(failure) => Err(failure),
    }
}
