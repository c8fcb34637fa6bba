//! Who a per-address limit counts: the address API Gateway saw, widened to what one client controls.

use std::net::IpAddr;

/// The bucket of a caller's source address. An IPv6 client is given a whole /64 (one subscriber's LAN, where it may
/// pick any of 2^64 addresses), an IPv4-mapped IPv6 address is the IPv4 address, and a request without a source
/// address (never one through API Gateway) shares one bucket with every other such request instead of skipping the
/// limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddress(String);

impl ClientAddress {
    pub fn from_source(source_ip: Option<&str>) -> Self {
        let Some(raw) = source_ip.map(str::trim).filter(|raw| !raw.is_empty()) else {
            return Self("unknown".into());
        };
        Self(match raw.parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => v4.to_string(),
            Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    format!("{}/64", std::net::Ipv6Addr::from(prefix))
                }
            },
            Err(_) => format!("unparsed:{raw}"),
        })
    }

    /// The bucket's name, as it is counted (only ever stored as a keyed HMAC).
    pub fn bucket(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_ipv6_subscriber_is_one_bucket_and_nothing_escapes_counting() {
        let bucket = |ip: Option<&str>| ClientAddress::from_source(ip).bucket().to_owned();
        assert_eq!(bucket(Some("2001:db8:1:2::1")), bucket(Some("2001:db8:1:2:ffff:ffff:ffff:fffe")));
        assert_eq!(bucket(Some("2001:db8:1:2::1")), "2001:db8:1:2::/64");
        assert_ne!(bucket(Some("2001:db8:1:2::1")), bucket(Some("2001:db8:1:3::1")));
        assert_eq!(bucket(Some("::ffff:198.51.100.7")), "198.51.100.7");
        assert_eq!(bucket(Some("198.51.100.7")), "198.51.100.7");
        assert_eq!(bucket(None), bucket(Some("")));
        assert_eq!(bucket(None), "unknown");
        assert_ne!(bucket(Some("not-an-ip")), bucket(None));
    }
}
