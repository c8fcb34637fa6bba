//! Who a per-address limit counts: the address API Gateway saw (or, behind the front door, the one CloudFront saw),
//! widened to what one client controls.

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

    /// From CloudFront's `CloudFront-Viewer-Address`: the viewer's address and source port, `198.51.100.10:46532`, an
    /// IPv6 address unbracketed (`2001:db8::1:46532`: the port is what follows the last colon); a bracketed
    /// `[2001:db8::1]:46532` is read too. `None` when it is no address and port.
    pub fn from_viewer_address(value: &str) -> Option<Self> {
        let (ip, port) = value.trim().rsplit_once(':')?;
        let ip = ip.strip_prefix('[').and_then(|ip| ip.strip_suffix(']')).unwrap_or(ip);
        let valid = port.parse::<u16>().is_ok() && ip.parse::<IpAddr>().is_ok();
        valid.then(|| Self::from_source(Some(ip)))
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

    #[test]
    fn cloudfronts_viewer_address_is_an_address_and_a_port() {
        let viewer = |value: &str| ClientAddress::from_viewer_address(value).map(|a| a.bucket().to_owned());
        assert_eq!(viewer("198.51.100.10:46532").as_deref(), Some("198.51.100.10"));
        assert_eq!(viewer("2001:db8:1:2::7:46532").as_deref(), Some("2001:db8:1:2::/64"));
        assert_eq!(viewer("2001:0db8:85a3:0000:0000:8a2e:0370:7334:443").as_deref(), Some("2001:db8:85a3::/64"));
        assert_eq!(viewer("[2001:db8:1:2::7]:46532").as_deref(), Some("2001:db8:1:2::/64"));
        assert_eq!(viewer("::ffff:198.51.100.10:1").as_deref(), Some("198.51.100.10"));
        for bad in ["198.51.100.10", "198.51.100.10:", "198.51.100.10:70000", "example.com:443", "", ":443", "a:b"] {
            assert_eq!(viewer(bad), None, "{bad}");
        }
    }
}
