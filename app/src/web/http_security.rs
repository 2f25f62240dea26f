//! Browser-facing security rules: the CSP (with a per-response nonce for Leptos's
//! hydration script), the same-origin check for writes, and the client's address behind
//! trusted proxies.
use crate::server::config::Cidr;

/// The CSP. Pages get the nonce Leptos put on its hydration scripts; other responses
/// (server functions, files, errors) get none, so no inline script runs there.
pub fn content_security_policy(nonce: Option<&str>) -> String {
    let scripts = match nonce {
        Some(n) => format!("'self' 'nonce-{n}' 'wasm-unsafe-eval'"),
        None => "'self' 'wasm-unsafe-eval'".to_string(),
    };
    format!(
        "default-src 'self'; script-src {scripts}; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )
}

/// Called while a page renders: sets this response's CSP with the page's nonce.
pub fn provide_page_csp() {
    use leptos::prelude::use_context;
    if let (Some(nonce), Some(res)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>()) {
        if let Ok(v) = http::HeaderValue::from_str(&content_security_policy(Some(nonce.as_ref()))) {
            res.insert_header(http::header::CONTENT_SECURITY_POLICY, v);
        }
    }
}

fn authority_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// A write is same-origin when `Origin` names our public URL or the requested host; a
/// browser that omits `Origin` must say `Sec-Fetch-Site: same-origin`. Anything else,
/// including no evidence at all, is refused.
///
/// And the request must be addressed to our public URL's host: a `Host` we don't serve is
/// refused whatever `Origin` says (DNS rebinding: a page on `evil.example`, whose name
/// now resolves to this server, posts with a matching `Origin` and `Host`).
pub fn same_origin(origin: Option<&str>, fetch_site: Option<&str>, host: Option<&str>, public_url: &str) -> bool {
    let Some(public) = authority_of(public_url) else { return false };
    if !host.is_some_and(|h| h.eq_ignore_ascii_case(public)) {
        return false;
    }
    match origin {
        Some("null") => false,
        Some(o) => authority_of(o).is_some_and(|auth| auth.eq_ignore_ascii_case(public)),
        None => matches!(fetch_site, Some("same-origin")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn origin_rules() {
        let p = "https://gh.example.com";
        assert!(same_origin(Some("https://gh.example.com"), None, Some("gh.example.com"), p));
        assert!(!same_origin(Some("https://gh.example.com"), None, None, p), "no Host");
        // DNS rebinding: Origin and Host agree, but it isn't our host.
        assert!(!same_origin(Some("http://evil.example"), None, Some("evil.example"), p));
        assert!(!same_origin(Some("http://127.0.0.1:3000"), None, Some("127.0.0.1:3000"), p));
        assert!(!same_origin(Some("https://evil.example"), None, Some("gh.example.com"), p));
        assert!(!same_origin(Some("null"), None, Some("gh.example.com"), p));
        assert!(!same_origin(None, None, Some("gh.example.com"), p));
        assert!(!same_origin(None, Some("cross-site"), Some("gh.example.com"), p));
        assert!(same_origin(None, Some("same-origin"), Some("gh.example.com"), p));
    }
    #[test]
    fn csp_carries_the_nonce_only_for_pages() {
        let csp = content_security_policy(Some("abc"));
        assert!(csp.contains("'nonce-abc'"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!content_security_policy(None).contains("nonce"));
    }
}

/// The client's address as this request carries it, put in the request's extensions by
/// the router for everything downstream (throttles, audit, sessions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub std::net::IpAddr);

/// The client's address: the TCP peer, unless the peer is one of our `trusted` proxies;
/// then `X-Forwarded-For` (or, without it, `Forwarded`'s `for=`) is read from right to
/// left, skipping trusted hops, and the first address that isn't ours is the client.
/// Anything a client put further left is never believed; an entry that isn't an address
/// stops the walk at the last trusted hop.
pub fn client_ip(peer: std::net::IpAddr, headers: &http::HeaderMap, trusted: &[Cidr]) -> std::net::IpAddr {
    let is_trusted = |ip: std::net::IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let values = |name: &str| headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
    let xff = values("x-forwarded-for");
    let hops: Vec<String> = if !xff.trim().is_empty() {
        xff.split(',').map(|h| h.trim().to_string()).collect()
    } else {
        values("forwarded")
            .split(',')
            .filter_map(|el| el.split(';').find_map(|p| p.trim().strip_prefix("for=").or_else(|| p.trim().strip_prefix("For=")).map(str::to_string)))
            .collect()
    };
    let mut client = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) if is_trusted(ip) => client = ip,
            Some(ip) => return ip,
            None => return client,
        }
    }
    client
}

/// One hop of a forwarding header: `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:443`,
/// `"[2001:db8::1]"`, `2001:db8::1`.
fn parse_hop(hop: &str) -> Option<std::net::IpAddr> {
    let h = hop.trim().trim_matches('"');
    if let Ok(ip) = h.parse() {
        return Some(ip);
    }
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    let (ip, port) = h.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    ip.parse().ok()
}

#[cfg(test)]
mod proxy_tests {
    use super::*;
    use crate::server::config::{parse_proxies, Cidr};

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, http::HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn the_client_is_the_first_untrusted_hop_from_the_right() {
        let trusted = parse_proxies("10.0.0.0/8, 192.168.1.1").expect("cidrs");
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        let lb = ip("10.0.0.5");
        // Behind the balancer: the address it appended.
        assert_eq!(client_ip(lb, &headers(&[("x-forwarded-for", "203.0.113.7")]), &trusted), ip("203.0.113.7"));
        // The client's own (spoofed) entries further left are ignored.
        assert_eq!(client_ip(lb, &headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7")]), &trusted), ip("203.0.113.7"));
        // Two trusted hops, and a header split over two lines.
        assert_eq!(client_ip(lb, &headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7"), ("x-forwarded-for", "192.168.1.1")]), &trusted), ip("203.0.113.7"));
        // An untrusted peer's headers mean nothing.
        assert_eq!(client_ip(ip("198.51.100.1"), &headers(&[("x-forwarded-for", "1.2.3.4")]), &trusted), ip("198.51.100.1"));
        // No header: the balancer itself.
        assert_eq!(client_ip(lb, &headers(&[]), &trusted), lb);
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(client_ip(lb, &headers(&[("x-forwarded-for", "203.0.113.7, nonsense")]), &trusted), lb);
        // RFC 7239 Forwarded, with ports and IPv6.
        assert_eq!(client_ip(lb, &headers(&[("forwarded", "for=6.6.6.6, for=\"[2001:db8::7]:443\";proto=https")]), &trusted), ip("2001:db8::7"));
        assert_eq!(client_ip(lb, &headers(&[("x-forwarded-for", "203.0.113.7:5000")]), &trusted), ip("203.0.113.7"));
        // IPv4-mapped IPv6 peers match IPv4 networks.
        assert_eq!(client_ip(ip("::ffff:10.0.0.5"), &headers(&[("x-forwarded-for", "203.0.113.7")]), &trusted), ip("203.0.113.7"));
        // Without trusted proxies nothing is believed.
        assert_eq!(client_ip(lb, &headers(&[("x-forwarded-for", "203.0.113.7")]), &[]), lb);
    }

    #[test]
    fn networks_parse_strictly() {
        assert!(Cidr::parse("10.0.0.0/8").is_ok() && Cidr::parse("::1").is_ok() && Cidr::parse("2001:db8::/32").is_ok());
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/", "::/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        let c = Cidr::parse("0.0.0.0/0").expect("all");
        assert!(c.contains("8.8.8.8".parse().expect("ip")));
    }
}
