//! Push devices: how many one person may have, and which go when another comes or a sign-in ends.

use super::clock::Timestamp;

/// A device as stored under its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredDevice {
    /// The device token's fingerprint: its identity in the store.
    pub token_digest: String,
    /// The SNS platform endpoint, when one was created.
    pub endpoint: Option<String>,
    /// The hash of the access token that registered it (absent on devices registered before it was kept): signing
    /// that token out removes the device.
    pub registered_with: Option<String>,
    pub updated_at: Timestamp,
}

/// The devices that must go for the device `new_digest` to fit within `max`: the least recently registered. The
/// device itself, when already registered, is refreshed, not counted twice.
pub fn make_room<'a>(devices: &'a [RegisteredDevice], new_digest: &str, max: usize) -> Vec<&'a RegisteredDevice> {
    let mut others: Vec<&RegisteredDevice> = devices.iter().filter(|d| d.token_digest != new_digest).collect();
    others.sort_by(|a, b| (a.updated_at, &a.token_digest).cmp(&(b.updated_at, &b.token_digest)));
    let excess = (others.len() + 1).saturating_sub(max);
    others.truncate(excess);
    others
}

/// The devices registered with one of `tokens` (the access-token hashes being signed out).
pub fn registered_with<'a>(devices: &'a [RegisteredDevice], tokens: &[&str]) -> Vec<&'a RegisteredDevice> {
    devices.iter().filter(|d| d.registered_with.as_deref().is_some_and(|t| tokens.contains(&t))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(digest: &str, at: Timestamp, token: &str) -> RegisteredDevice {
        RegisteredDevice {
            token_digest: digest.into(),
            endpoint: None,
            registered_with: Some(token.into()),
            updated_at: at,
        }
    }

    fn digests(devices: Vec<&RegisteredDevice>) -> Vec<&str> {
        devices.iter().map(|d| d.token_digest.as_str()).collect()
    }

    #[test]
    fn the_least_recently_registered_make_room() {
        let devices = [device("c", 30, "t"), device("a", 10, "t"), device("b", 20, "t")];
        assert_eq!(digests(make_room(&devices, "new", 4)), Vec::<&str>::new());
        assert_eq!(digests(make_room(&devices, "new", 3)), ["a"]);
        assert_eq!(digests(make_room(&devices, "new", 1)), ["a", "b", "c"]);
        assert_eq!(digests(make_room(&devices, "b", 3)), Vec::<&str>::new(), "re-registering is no new device");
        assert_eq!(digests(make_room(&devices, "b", 2)), ["a"]);
    }

    #[test]
    fn signing_a_token_out_finds_its_devices() {
        let mut legacy = device("old", 1, "");
        legacy.registered_with = None;
        let devices = [device("a", 10, "t1"), device("b", 20, "t2"), legacy];
        assert_eq!(digests(registered_with(&devices, &["t2"])), ["b"]);
        assert_eq!(digests(registered_with(&devices, &["t1", "t2"])), ["a", "b"]);
    }
}
