//! The account's small, rare operations: `/profile`, `/logout`, `/deleteaccount`, `/setnotify`.

use serde::Serialize;
use tracing::{info, warn};

use crate::error::ApiError;
use crate::model::address_book::EntryName;
use crate::model::client_address::ClientAddress;
use crate::model::clock::Timestamp;
use crate::model::contact::OwnProfile;
use crate::model::devices::{make_room, registered_with};
use crate::model::group::Group;
use crate::model::secrets::{OtpCode, fingerprint};
use crate::usecase::ports::{
    CodeStore, ContactStore, Device, DeviceStore, GroupStore, Mesibo, MesiboFailed, ProfileStore, PushRegistry,
    TokenStore,
};
use crate::usecase::steps::code_attempt::{Guess, check_code};
use crate::usecase::steps::photos::{self, NewPhoto};
use crate::usecase::steps::session::Session;
use crate::usecase::{App, Ports, steps::device_list, steps::group_edit};

/// Change what contacts see: each field optional, at least one given (checked by the profile rules already).
#[derive(Debug)]
pub struct UpdateProfile {
    pub name: Option<String>,
    /// Empty clears it.
    pub status: Option<String>,
    /// An empty name clears it.
    pub photo: Option<NewPhoto>,
}

/// Revoke the presented token, or every token of the user (`all`: every device).
#[derive(Debug)]
pub struct Logout {
    pub all: bool,
}

/// Delete the account, re-authenticated with a fresh code from `/login`.
#[derive(Debug)]
pub struct DeleteAccount {
    pub code: OtpCode,
    /// Where the request came from: its guesses count against the address's failures as sign-in's do.
    pub address: ClientAddress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushPlatform {
    Apns,
    ApnsSandbox,
    Fcm,
}

impl PushPlatform {
    pub fn name(self) -> &'static str {
        match self {
            Self::Apns => "apns",
            Self::ApnsSandbox => "apns_sandbox",
            Self::Fcm => "fcm",
        }
    }
}

/// Register a device for push.
#[derive(Debug)]
pub struct SetNotify {
    /// The APNs / FCM device token (checked: no whitespace or control characters, at most 4096 characters).
    pub device_token: String,
    pub platform: PushPlatform,
}

#[derive(Debug, Serialize)]
pub struct ProfileReply {
    pub u: OwnProfile,
}

#[derive(Debug, Serialize)]
pub struct LogoutReply {
    pub revoked: usize,
}

#[derive(Debug, Serialize)]
pub struct DeleteAccountReply {}

#[derive(Debug, Serialize)]
pub struct SetNotifyReply {
    /// `"enabled"`: the device has an SNS endpoint and receives this user's events. `"stored"`: no platform
    /// application is configured for this platform (see README, Push), so the registration is only kept.
    pub push: &'static str,
}

/// Contacts see the change in their next delta and as a `profile_updated` event (the notifier reads it from the
/// table's stream).
pub async fn update_profile(
    app: &App<impl Ports>,
    session: &Session,
    command: UpdateProfile,
    now: Timestamp,
) -> Result<ProfileReply, ApiError> {
    let UpdateProfile { name, status, photo } = command;
    let profile = photos::change_profile(app, &session.phone, name.as_deref(), status.as_deref(), photo, now).await?;
    info!(phone = %session.phone, "profile updated");
    Ok(ProfileReply { u: OwnProfile::of(&session.phone, profile) })
}

/// In mesibo mode the token ends at mesibo too. One device: mesibo ends that device's session first (`userset` with
/// `token.remove` and the session), and if it cannot be reached nothing changes here and the app can log out again;
/// its session number is then free for the next sign-in. Every device:
/// the kill switch must not wait for mesibo, so the tokens end here at once and the profile notes it, and the
/// `mesibo` function ends every token there from the table's stream, retrying until mesibo answers.
pub async fn logout(app: &App<impl Ports>, session: &Session, command: Logout) -> Result<LogoutReply, ApiError> {
    let phone = &session.phone;
    if let Some(mesibo) = &app.mesibo {
        if command.all {
            app.store.mark_signed_out(phone, app.clock.now()).await?;
        } else if ends_a_session_of_its_own(app, session).await? {
            // That device's session; a token from before sessions had mesibo's session 0.
            match mesibo.end_session(phone.digits(), Some(session.mesibo_session.unwrap_or(0))).await {
                Ok(()) | Err(MesiboFailed::UnknownUser) => {}
                Err(failure) if failure.may_pass_later() => return Err(ApiError::MesiboFail),
                // A refusal that will not pass: the number is given back all the same (the next sign-in that takes
                // it ends it at mesibo first).
                Err(failure) => warn!(phone = %phone, error = %failure, "mesibo did not end the session"),
            }
        }
    }
    let tokens = if command.all { app.store.tokens_of(phone).await? } else { vec![session.token.clone()] };
    // The devices first: should revoking fail, the app still holds a token to log out with again.
    let now = app.clock.now();
    let devices = match command.all {
        true => device_list::change(app, phone.e164(), None, now, |list| list.iter().collect()).await?,
        false => {
            let signed_out = [session.token.as_str()];
            device_list::change(app, phone.e164(), None, now, |list| registered_with(list, &signed_out)).await?
        }
    };
    app.store.revoke_tokens(&tokens).await?;
    if app.mesibo.is_some() {
        // The session numbers are free for the next sign-ins (the stream ends every session at mesibo after `all`).
        match (command.all, session.mesibo_session) {
            (true, _) => app.store.release_sessions(phone, None).await?,
            (false, Some(number)) => {
                app.store.release_sessions(phone, Some(&[(number, session.token.clone())])).await?
            }
            (false, None) => {}
        }
    }
    // Again, now that the tokens are gone: a /setnotify with one of them may have added a device between the two
    // steps (none can add one from now on: a device is added only while its token is live).
    let late = [session.token.as_str()];
    let again = match command.all {
        true => device_list::change(app, phone.e164(), None, now, |list| list.iter().collect()).await,
        false => device_list::change(app, phone.e164(), None, now, |list| registered_with(list, &late)).await,
    };
    let devices = devices
        + again.unwrap_or_else(|_| {
            warn!(phone = %phone, "signed out; a device registered during the sign-out may remain until the next one");
            0
        });
    info!(phone = %phone, revoked = tokens.len(), devices, "signed out");
    Ok(LogoutReply { revoked: tokens.len() })
}

/// Whether the device's session number is still its own: a ninth device may have taken it over a moment ago (its
/// token then ends here with the claim), and ending it at mesibo would end the new device's token.
async fn ends_a_session_of_its_own(app: &App<impl Ports>, session: &Session) -> Result<bool, ApiError> {
    let Some(number) = session.mesibo_session else { return Ok(true) };
    let slots = app.store.sessions(&session.phone).await?;
    Ok(slots.iter().any(|slot| slot.number == number && slot.token.as_deref() == Some(session.token.as_str())))
}

/// Removes the profile (leaving a tombstone for contacts' deltas), every token, the address book, group memberships
/// (an owned group passes to the longest-standing admin, else is deleted), push devices and every other item of the
/// person — but not the contact-lookup quota, kept under the number so that signing up again does not reset it. In
/// mesibo mode the `mesibo` function then deletes the user there, from the tombstone in the table's stream (and
/// mirrors the groups), so the deletion never waits for mesibo and never stops halfway because of it.
pub async fn delete_account(
    app: &App<impl Ports>,
    session: &Session,
    command: DeleteAccount,
    now: Timestamp,
) -> Result<DeleteAccountReply, ApiError> {
    let phone = &session.phone;
    let guess = Guess { phone, code: &command.code, address: &command.address };
    let right = check_code(app, guess, now).await?;
    let (consumed, ()) =
        tokio::join!(app.store.consume_code(&right.slot, &right.attempt, now), right.give_back_failures(app));
    if !consumed? {
        return Err(ApiError::CodeExpired);
    }
    let store = &app.store;
    // The tombstone first: from here on the account is gone, and every step below can simply be retried.
    let profile = store.profile_record(phone.e164()).await?;
    store.tombstone_profile(phone, now).await?;
    if let Some(profile) = &profile {
        photos::discard(app, &profile.photo).await;
    }
    let tokens = store.tokens_of(phone).await?;
    store.revoke_tokens(&tokens).await?;
    // Their items go with the other personal items below; their endpoints must go too, or they would keep receiving,
    // and their token owner records, which name the number.
    device_list::release_devices(app, phone.e164(), &store.devices(phone.e164()).await?.devices).await;
    let memberships = store.memberships_of(phone.e164()).await?;
    for membership in memberships.iter().filter(|m| !m.left) {
        let leave = |group: &mut Group| {
            group.leave_for_good(phone.e164());
            Ok(())
        };
        match group_edit::edit(app, membership.gid, phone, now, leave).await {
            Ok(group) if group.deleted => photos::discard(app, &group.photo).await,
            Ok(_) | Err(ApiError::BadGroup) => {}
            Err(e) => return Err(e),
        }
    }
    let gids: Vec<u64> = memberships.iter().map(|m| m.gid).collect();
    store.delete_memberships(phone, &gids).await?;
    let book: Vec<EntryName> = store.address_book(phone.e164()).await?.into_iter().map(|e| e.name).collect();
    store.remove_entries(phone.e164(), &book).await?;
    let other = store.delete_personal_items(phone).await?;
    info!(phone = %phone, tokens = tokens.len(), groups = gids.len(), contacts = book.len(), other, "account deleted");
    Ok(DeleteAccountReply {})
}

pub async fn set_notify(
    app: &App<impl Ports>,
    session: &Session,
    command: SetNotify,
    now: Timestamp,
) -> Result<SetNotifyReply, ApiError> {
    let SetNotify { device_token, platform } = command;
    let apps = &app.config.contacts.push_apps;
    let application = match platform {
        PushPlatform::Apns => &apps.apns,
        PushPlatform::ApnsSandbox => &apps.apns_sandbox,
        PushPlatform::Fcm => &apps.fcm,
    };
    let endpoint = match application {
        Some(arn) => Some(app.push.create_endpoint(arn, &device_token).await.map_err(|_| ApiError::Unavailable)?),
        None => None,
    };
    let device = Device {
        platform: platform.name(),
        token_digest: &fingerprint(device_token.as_bytes()),
        notify_token: &device_token,
        endpoint: endpoint.as_deref(),
        registered_with: session.token.as_str(),
    };
    let max = app.config.contacts.max_devices_per_user;
    let digest = device.token_digest;
    let changed =
        device_list::change(app, session.phone.e164(), Some(device.clone()), now, |list| make_room(list, digest, max))
            .await;
    let replaced = match changed {
        Ok(replaced) => replaced,
        Err(refusal) => {
            // Signed out meanwhile: an endpoint no stored device points at would receive nothing, forever.
            // The endpoint may be another account's, if the token is theirs: then it stays.
            if let (ApiError::AuthFail, Some(endpoint)) = (&refusal, &endpoint)
                && let Ok(list) = app.store.devices(session.phone.e164()).await
                && list.devices.iter().all(|d| d.endpoint.as_ref() != Some(endpoint))
                && let Ok(true) = app.store.disown_device_token(digest, session.phone.e164()).await
                && app.push.delete_endpoint(endpoint).await.is_err()
            {
                warn!(phone = %session.phone, "the endpoint of a device registered during sign-out remains");
            }
            return Err(refusal);
        }
    };
    // One owner per device token: registered here, it leaves the account that had it (whose events would otherwise
    // reach this device, and whose logout would delete the endpoint both share).
    let me = session.phone.e164();
    if let Some(previous) = app.store.own_device_token(digest, me).await? {
        let left = device_list::change(app, &previous, None, now, |list| {
            list.iter().filter(|d| d.token_digest == digest).collect()
        });
        if let Err(failure) = left.await {
            // The previous account still lists the device: it stays theirs, so a retry of this request moves it.
            if app.store.return_device_token(digest, me, &previous).await.is_err() {
                warn!(phone = %session.phone, "a device token's move failed halfway: the other account keeps it listed");
            }
            return Err(failure);
        }
        info!(phone = %session.phone, "device token moved from another account");
    }
    info!(
        phone = %session.phone, platform = platform.name(), endpoint = endpoint.is_some(), replaced,
        "device registered"
    );
    Ok(SetNotifyReply { push: if endpoint.is_some() { "enabled" } else { "stored" } })
}
