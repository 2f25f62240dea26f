//! Browser-facing security rules: the CSP (with a per-response nonce for Leptos's
//! hydration script) and the same-origin check for writes.
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
    fn csp_carries_the_nonce_only_for_pages() {
        let csp = content_security_policy(Some("abc"));
        assert!(csp.contains("'nonce-abc'"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!content_security_policy(None).contains("nonce"));
    }
}
