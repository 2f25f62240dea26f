//! Browser-facing security rules: the CSP (with a per-response nonce for Leptos's
//! hydration script) and the same-origin check for writes.
use rand::RngCore;

/// The nonce of this response's CSP, carried in request extensions to the renderer.
#[derive(Debug, Clone)]
pub struct CspNonce(pub String);

impl CspNonce {
    pub fn generate() -> Self {
        let mut b = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut b);
        use base64::Engine;
        CspNonce(base64::engine::general_purpose::STANDARD.encode(b))
    }
}

pub fn content_security_policy(nonce: &CspNonce) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{}' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        nonce.0
    )
}

fn authority_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// A write is same-origin when `Origin` names our public URL or the requested host; a
/// browser that omits `Origin` must say `Sec-Fetch-Site: same-origin`. Anything else,
/// including no evidence at all, is refused.
pub fn same_origin(origin: Option<&str>, fetch_site: Option<&str>, host: Option<&str>, public_url: &str) -> bool {
    match origin {
        Some("null") => false,
        Some(o) => {
            let Some(auth) = authority_of(o) else { return false };
            authority_of(public_url).is_some_and(|p| p.eq_ignore_ascii_case(auth))
                || host.is_some_and(|h| h.eq_ignore_ascii_case(auth))
        }
        None => matches!(fetch_site, Some("same-origin")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn origin_rules() {
        let p = "https://gh.example.com";
        assert!(same_origin(Some("https://gh.example.com"), None, None, p));
        assert!(same_origin(Some("http://127.0.0.1:3000"), None, Some("127.0.0.1:3000"), p));
        assert!(!same_origin(Some("https://evil.example"), None, Some("gh.example.com"), p));
        assert!(!same_origin(Some("null"), None, Some("gh.example.com"), p));
        assert!(!same_origin(None, None, Some("gh.example.com"), p));
        assert!(!same_origin(None, Some("cross-site"), Some("gh.example.com"), p));
        assert!(same_origin(None, Some("same-origin"), Some("gh.example.com"), p));
    }
    #[test]
    fn csp_carries_the_nonce() {
        let n = CspNonce::generate();
        let csp = content_security_policy(&n);
        assert!(csp.contains(&format!("'nonce-{}'", n.0)));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_ne!(n.0, CspNonce::generate().0);
    }
}
