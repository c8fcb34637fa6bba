//! Secrets Manager: the code keys (the [`CodeKeys`] port) and the steps of their rotation.
//!
//! The code-key secret is rotated on a schedule by the rotation function (`functions/keyrotation`), which Secrets
//! Manager invokes once per step with the new version's id. A version's value never changes, so a key read by
//! version is kept for the instance's life; only which version is current is read again, every
//! [`CURRENT_KEY_REFRESH_SECONDS`], so an instance starts signing with a new key within minutes of a rotation while
//! every instance still checks codes made under any version they name.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use tracing::{error, info, warn};

use crate::model::clock::Timestamp;
use crate::model::secrets::{CodeKey, OtpSecret};
use crate::usecase::ports::{CodeKeys, KeysUnavailable};

/// How long an instance signs with the key it last read as current before asking again.
pub const CURRENT_KEY_REFRESH_SECONDS: i64 = 300;

const CURRENT: &str = "AWSCURRENT";
const PREVIOUS: &str = "AWSPREVIOUS";
const PENDING: &str = "AWSPENDING";

/// The code keys of one instance: either the one unversioned key (no code-key secret configured), or the versions of
/// the code-key secret read so far.
pub struct CodeKeyring {
    unversioned: CodeKey,
    rotated: Option<RotatedKeys>,
}

/// The versions of the code-key secret read so far, and where to read more.
pub struct RotatedKeys {
    client: Client,
    secret_id: String,
    known: Mutex<Known>,
}

struct Known {
    /// The version last read as current, and when.
    current: (String, Timestamp),
    keys: HashMap<String, OtpSecret>,
}

impl CodeKeyring {
    /// Codes made and checked under `key` alone, as before rotation existed.
    pub fn unversioned(key: OtpSecret) -> Self {
        Self { unversioned: CodeKey::new(None, key), rotated: None }
    }

    /// The code-key secret's versions read at start ([`RotatedKeys::read`]). The unversioned key still checks codes
    /// issued before the secret was introduced.
    pub fn rotated(unversioned: OtpSecret, rotated: RotatedKeys) -> Self {
        Self { unversioned: CodeKey::new(None, unversioned), rotated: Some(rotated) }
    }
}

impl RotatedKeys {
    /// The secret's current and previous versions (the previous one may not exist yet), read together.
    pub async fn read(client: Client, secret_id: String, now: Timestamp) -> Result<Self, String> {
        let (current, previous) = tokio::join!(
            read(&client, &secret_id, Select::Stage(CURRENT)),
            read(&client, &secret_id, Select::Stage(PREVIOUS))
        );
        let (version, key) = current.map_err(|e| format!("the current code key could not be read: {e}"))?;
        let mut keys = HashMap::from([(version.clone(), key)]);
        match previous {
            Ok((version, key)) => drop(keys.insert(version, key)),
            Err(ReadError::NotFound) => {}
            Err(e) => return Err(format!("the previous code key could not be read: {e}")),
        }
        let known = Mutex::new(Known { current: (version, now), keys });
        Ok(Self { client, secret_id, known })
    }
}

impl CodeKeys for CodeKeyring {
    async fn signing_key(&self, now: Timestamp) -> Result<CodeKey, KeysUnavailable> {
        let Some(rotated) = &self.rotated else { return Ok(self.unversioned.clone()) };
        let (version, read_at) = rotated.known.lock().expect("not poisoned").current.clone();
        if now < read_at + CURRENT_KEY_REFRESH_SECONDS {
            return rotated.cached(&version).ok_or(KeysUnavailable);
        }
        match read(&rotated.client, &rotated.secret_id, Select::Stage(CURRENT)).await {
            Ok((fresh, key)) => {
                let mut known = rotated.known.lock().expect("not poisoned");
                if fresh != version {
                    info!("signing codes with the new current code key");
                }
                known.current = (fresh.clone(), now);
                known.keys.insert(fresh.clone(), key.clone());
                Ok(CodeKey::new(Some(fresh), key))
            }
            // Every instance can check a code made under the key this one knows (its version is stored with the code),
            // so signing with it a little longer is safe; failing sign-ins while Secrets Manager is down is not needed.
            Err(e) => {
                warn!(error = %e, "could not read the current code key: signing with the last one read");
                rotated.cached(&version).ok_or(KeysUnavailable)
            }
        }
    }

    async fn key(&self, version: Option<&str>) -> Result<CodeKey, KeysUnavailable> {
        let (Some(rotated), Some(version)) = (&self.rotated, version) else { return Ok(self.unversioned.clone()) };
        if let Some(key) = rotated.cached(version) {
            return Ok(key);
        }
        match read(&rotated.client, &rotated.secret_id, Select::Version(version)).await {
            Ok((version, key)) => {
                rotated.known.lock().expect("not poisoned").keys.insert(version.clone(), key.clone());
                Ok(CodeKey::new(Some(version), key))
            }
            Err(e) => {
                error!(error = %e, "could not read the code key a pending code names");
                Err(KeysUnavailable)
            }
        }
    }
}

impl RotatedKeys {
    fn cached(&self, version: &str) -> Option<CodeKey> {
        let known = self.known.lock().expect("not poisoned");
        known.keys.get(version).map(|key| CodeKey::new(Some(version.to_owned()), key.clone()))
    }
}

enum Select<'a> {
    Stage(&'a str),
    Version(&'a str),
}

#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("no such version")]
    NotFound,
    #[error("the secret's value is shorter than {} characters", OtpSecret::MIN_LEN)]
    TooShort,
    #[error("{0}")]
    Failed(String),
}

/// One version of the secret: its id and key.
async fn read(client: &Client, secret_id: &str, select: Select<'_>) -> Result<(String, OtpSecret), ReadError> {
    let request = client.get_secret_value().secret_id(secret_id);
    let request = match select {
        Select::Stage(stage) => request.version_stage(stage),
        Select::Version(version) => request.version_id(version),
    };
    match request.send().await {
        Ok(out) => {
            let key = OtpSecret::new(out.secret_string.unwrap_or_default().into_bytes()).ok_or(ReadError::TooShort)?;
            Ok((out.version_id.unwrap_or_default(), key))
        }
        Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => Err(ReadError::NotFound),
        Err(e) => Err(ReadError::Failed(DisplayErrorContext(e).to_string())),
    }
}

/// One step of a rotation, as Secrets Manager invokes the rotation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum RotationStep {
    #[serde(rename = "createSecret")]
    Create,
    #[serde(rename = "setSecret")]
    Set,
    #[serde(rename = "testSecret")]
    Test,
    #[serde(rename = "finishSecret")]
    Finish,
}

/// Runs one rotation step for the version `token` of `secret_id`. Every step may be retried, so each is idempotent:
/// the new key is drawn once (a retried create finds it pending), and finish moves "current" only once.
pub async fn rotate(client: &Client, secret_id: &str, token: &str, step: RotationStep) -> Result<(), String> {
    let failed = |what: &str, e: String| format!("{what}: {e}");
    let described = client.describe_secret().secret_id(secret_id).send().await;
    let described = described.map_err(|e| failed("describe the secret", DisplayErrorContext(e).to_string()))?;
    if described.rotation_enabled != Some(true) {
        return Err("rotation is not enabled on the secret".into());
    }
    let stages = described.version_ids_to_stages.unwrap_or_default();
    let token_stages = stages.get(token).ok_or("the rotation's version is not a version of the secret")?;
    if token_stages.iter().any(|stage| stage == CURRENT) {
        info!(?step, "the rotation's version is already current");
        return Ok(());
    }
    if !token_stages.iter().any(|stage| stage == PENDING) {
        return Err("the rotation's version is not pending".into());
    }
    match step {
        RotationStep::Create => match read(client, secret_id, Select::Version(token)).await {
            Ok(_) => Ok(()),
            Err(ReadError::NotFound) => {
                let put = client.put_secret_value().secret_id(secret_id).client_request_token(token);
                put.secret_string(OtpSecret::generate_text())
                    .version_stages(PENDING)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| failed("store the new key", DisplayErrorContext(e).to_string()))
            }
            Err(e) => Err(failed("read the new key", e.to_string())),
        },
        // The key is ours alone: no other system has to learn it.
        RotationStep::Set => Ok(()),
        RotationStep::Test => read(client, secret_id, Select::Version(token))
            .await
            .map(drop)
            .map_err(|e| failed("read the new key", e.to_string())),
        RotationStep::Finish => {
            let current = stages.iter().find(|(_, stages)| stages.iter().any(|s| s == CURRENT)).map(|(v, _)| v.clone());
            let update = client.update_secret_version_stage().secret_id(secret_id).version_stage(CURRENT);
            let update = update.move_to_version_id(token).set_remove_from_version_id(current);
            update
                .send()
                .await
                .map(drop)
                .map_err(|e| failed("make the new key current", DisplayErrorContext(e).to_string()))
        }
    }
}
