//! The one way a person's push devices change: read the list at its version, decide who goes (a rule of
//! `model::devices`), write the change only if the version is unchanged, and on a conflict start again from the new
//! list. Concurrent registrations serialise, so the limit holds however many race. The platform endpoints of the
//! devices that went are deleted afterwards, so nothing more reaches them, unless their token has moved to another
//! account (a device token has one owner: registering it moves it).

use std::collections::HashSet;
use std::time::Duration;

use futures::{StreamExt, stream};
use tracing::warn;

use crate::error::ApiError;
use crate::model::clock::Timestamp;
use crate::model::devices::RegisteredDevice;
use crate::usecase::ports::{
    ChangeDevicesError, DEVICE_REMOVALS_PER_CHANGE, Device, DeviceChange, DeviceStore, PushRegistry,
};
use crate::usecase::{App, Ports};

/// Conflicting changes are retried this often (after a short random wait, so racers fall out of step) before the
/// request gives up (503). A conflict means another change of the same list went through, so this many changes of
/// one person's devices at once are all served; eight was met by twelve at once on a loaded machine.
const CHANGE_ATTEMPTS: u32 = 16;

/// Removed devices let go of at once (each an owner record, and an endpoint if it has one).
const RELEASES_AT_ONCE: usize = 8;

/// Adds `add` (if any) and removes the devices `leaving` picks from the current list; then deletes the endpoints of
/// those removed. `AUTHFAIL` when adding to an account that is gone; removing from one is already done.
pub async fn change(
    app: &App<impl Ports>,
    owner: &str,
    add: Option<Device<'_>>,
    now: Timestamp,
    leaving: impl Fn(&[RegisteredDevice]) -> Vec<&RegisteredDevice>,
) -> Result<usize, ApiError> {
    let mut removed: Vec<RegisteredDevice> = vec![];
    let mut conflicts = 0;
    loop {
        let list = app.store.devices(owner).await?;
        if !list.live {
            return if add.is_some() { Err(ApiError::AuthFail) } else { Ok(removed.len()) };
        }
        let mut going = leaving(&list.devices);
        // A list longer than one transaction holds (from before the limit) shrinks first; the device comes last.
        let last_step = going.len() <= DEVICE_REMOVALS_PER_CHANGE;
        going.truncate(DEVICE_REMOVALS_PER_CHANGE);
        let add_now = add.clone().filter(|_| last_step);
        if going.is_empty() && add_now.is_none() {
            break;
        }
        let gone: HashSet<&str> = going.iter().map(|d| d.token_digest.as_str()).collect();
        let added = add_now.as_ref().map(|d| d.token_digest);
        let mut endpoints: Vec<String> = list
            .devices
            .iter()
            .filter(|d| !gone.contains(d.token_digest.as_str()) && Some(d.token_digest.as_str()) != added)
            .filter_map(|d| d.endpoint.clone())
            .chain(add_now.as_ref().and_then(|d| d.endpoint).map(str::to_owned))
            .collect();
        endpoints.sort();
        endpoints.dedup();
        let change = DeviceChange {
            version: list.version,
            add: add_now,
            remove: going.iter().map(|d| d.token_digest.as_str()).collect(),
            endpoints,
            now,
        };
        match app.store.change_devices(owner, change).await {
            Ok(()) => {
                removed.extend(going.into_iter().cloned());
                conflicts = 0;
                if last_step {
                    break;
                }
            }
            Err(ChangeDevicesError::Conflict) => {
                conflicts += 1;
                if conflicts >= CHANGE_ATTEMPTS {
                    return Err(ApiError::Unavailable);
                }
                tokio::time::sleep(random_wait(conflicts)).await;
            }
            Err(ChangeDevicesError::SignedOut) => return Err(ApiError::AuthFail),
            Err(ChangeDevicesError::Unavailable(e)) => return Err(e.into()),
        }
    }
    release_devices(app, owner, &removed).await;
    Ok(removed.len())
}

/// Lets go of `owner`'s devices that are gone: each device token's owner record (which names the owner), and its
/// platform endpoint if it has one; unless the token has moved to another account since (SNS gives one endpoint
/// per token, so both are theirs now). A device kept without an endpoint (no push application) has an owner record
/// too, and it goes as well: it would otherwise keep the number after the account is deleted. A failure leaves an
/// endpoint nobody pushes to any more (the profile no longer lists it): logged, not the request's failure.
pub async fn release_devices(app: &App<impl Ports>, owner: &str, devices: &[RegisteredDevice]) {
    let releases: Vec<_> = devices
        .iter()
        .map(|device| async move {
            match app.store.disown_device_token(&device.token_digest, owner).await {
                Ok(true) => match device.endpoint.as_deref() {
                    Some(endpoint) => app.push.delete_endpoint(endpoint).await.is_ok(),
                    None => true,
                },
                Ok(false) => true,
                Err(_) => false,
            }
        })
        .collect();
    let results: Vec<bool> = stream::iter(releases).buffer_unordered(RELEASES_AT_ONCE).collect().await;
    let failed = results.iter().filter(|released| !**released).count();
    if failed > 0 {
        warn!(failed, "removed devices' owner records or platform endpoints could not be deleted");
    }
}

/// Up to 20 ms × the attempt, at random.
fn random_wait(attempt: u32) -> Duration {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS random number generator is available");
    Duration::from_millis(u64::from_le_bytes(bytes) % (20 * u64::from(attempt) + 1))
}
