//! Requests the server makes to URLs a workspace admin typed (IdP metadata, webhook
//! endpoints), under one policy: public addresses only unless the operator allows private
//! ones (`GATEHOUSE_ALLOW_PRIVATE_METADATA_URLS`, labs); the name resolved once and the
//! connection pinned to that address, so DNS can't swap in an internal one between the
//! check and the request; never through a proxy from the environment (it would undo the
//! pinning); no redirects (a redirect could lead anywhere); a timeout.
use std::time::Duration;

/// Why a URL may not be requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NoHost,
    NotResolved,
    /// Loopback, private, link-local, … (see [`forbidden`]).
    Private,
    /// The HTTP client could not be built (ours, not the URL's fault).
    Client(String),
}

/// Addresses a server-side fetch must never reach: loopback, private, link-local (cloud
/// metadata services), unspecified, multicast, documentation and shared ranges.
pub fn forbidden(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                || o[0] >= 240
                || (o[0] == 100 && (64..128).contains(&o[1]))
                // IETF protocol assignments (192.0.0.0/24) and benchmarking (198.18.0.0/15).
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            let o = v6.octets();
            let embedded = |a: u8, b: u8, c: u8, d: u8| forbidden(std::net::IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)));
            v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80
                // Site-local (deprecated), documentation, Teredo (an IPv4 address inside).
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x2001 && s[1] == 0)
                // IPv4-translated ::ffff:0:a.b.c.d (RFC 2765).
                || (s[0..4] == [0, 0, 0, 0] && s[4] == 0xffff && s[5] == 0 && embedded(o[12], o[13], o[14], o[15]))
                || v6.to_ipv4_mapped().is_some_and(|v4| forbidden(std::net::IpAddr::V4(v4)))
                // NAT64 (RFC 6052 well-known and local-use prefixes): the IPv4 address it reaches.
                || (s[0..6] == [0x64, 0xff9b, 0, 0, 0, 0] && embedded(o[12], o[13], o[14], o[15]))
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
                // 6to4: the IPv4 address in bits 16–47.
                || (s[0] == 0x2002 && embedded(o[2], o[3], o[4], o[5]))
                // IPv4-compatible (deprecated) ::a.b.c.d.
                || (s[0..6] == [0; 6] && embedded(o[12], o[13], o[14], o[15]))
        }
    }
}

/// A client for `url` alone: its host resolved now and pinned, checked against the policy.
pub async fn pinned_client(url: &url::Url, allow_private: bool, timeout: Duration) -> Result<reqwest::Client, Refusal> {
    let host = url.host_str().ok_or(Refusal::NoHost)?.trim_matches(['[', ']']).to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port)).await.map_err(|_| Refusal::NotResolved)?.collect();
    let Some(addr) = addrs.first().copied() else { return Err(Refusal::NotResolved) };
    if !allow_private && addrs.iter().any(|a| forbidden(a.ip())) {
        return Err(Refusal::Private);
    }
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .resolve(&host, addr)
        .build()
        .map_err(|e| Refusal::Client(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn internal_addresses_are_forbidden() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "::127.0.0.1",
            "198.18.0.1",
            "192.0.0.8",
            "240.0.0.1",
            "255.255.255.255",
            "fec0::1",
            "2001:db8::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "::ffff:0:7f00:1",
        ] {
            assert!(forbidden(bad.parse().expect("ip")), "{bad}");
        }
        for good in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "64:ff9b::808:808"] {
            assert!(!forbidden(good.parse().expect("ip")), "{good}");
        }
    }
}
