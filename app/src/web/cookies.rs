//! Cookies at the web edge: the one `Set-Cookie` builder (session, one-time flash and
//! sign-in nonce cookies all use it), the session cookie's name, and the tokens a request
//! presents. The domain (`server::sessions`) sees only tokens.
use http::{header, HeaderMap};
use sea_orm::ConnectionTrait;

use crate::server::crypto::Token;
use crate::server::permissions::Viewer;
use crate::server::{sessions, DomainError};

pub const COOKIE_NAME: &str = "gatehouse_session";

/// With https the `__Host-` prefix pins the cookie to our origin, path `/`, Secure.
pub const SECURE_COOKIE_NAME: &str = "__Host-gatehouse_session";

pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}

/// When a browser sends a cookie along with a request from another site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Never (one-time values for one of our own pages).
    Strict,
    /// With top-level navigations (the session; an OIDC provider's redirect back).
    Lax,
    /// Always; browsers require `Secure` with it (a SAML IdP's cross-site POST).
    None,
}

/// An HttpOnly cookie: `name=value` for `path`, kept `max_age` seconds (0 clears it),
/// `Secure` when the server is on https (always with `SameSite::None`).
#[derive(Debug, Clone, Copy)]
pub struct SetCookie<'a> {
    pub name: &'a str,
    pub value: &'a str,
    pub path: &'a str,
    pub same_site: SameSite,
    pub max_age: i64,
    pub secure: bool,
}

impl SetCookie<'_> {
    /// The `Set-Cookie` header value.
    pub fn header(&self) -> String {
        let same_site = match self.same_site {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        };
        let secure = if self.secure || self.same_site == SameSite::None { "; Secure" } else { "" };
        format!("{}={}; Path={}; HttpOnly; SameSite={same_site}; Max-Age={}{secure}", self.name, self.value, self.path, self.max_age.max(0))
    }
}

pub fn set_cookie_header(token: &Token, secure: bool, max_age: i64) -> String {
    SetCookie { name: cookie_name(secure), value: token.expose(), path: "/", same_site: SameSite::Lax, max_age, secure }.header()
}

pub fn clear_cookie_header(secure: bool) -> String {
    SetCookie { name: cookie_name(secure), value: "", path: "/", same_site: SameSite::Lax, max_age: 0, secure }.header()
}

/// Every value of cookie `name` in one `Cookie` header value, in the order sent.
pub fn in_header<'a>(header: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    header.split(';').filter_map(move |pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// Every value of cookie `name` in a request's `Cookie` headers, in the order sent: a
/// browser sends several of one name when one was set for a narrower path. The one cookie
/// reader of the server (sessions, sign-in nonces, one-time flashes).
pub fn values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(move |h| in_header(h, name))
}

fn session_token(v: &str) -> Option<Token> {
    (!v.is_empty() && v.len() <= 128).then(|| Token::from_presented(v))
}

/// Every session cookie in a `Cookie` header, in order (at most [`MAX_PRESENTED`]). A
/// sibling subdomain can set one of the same name for a narrower path without the
/// `__Host-` prefix: each is tried, so a planted junk cookie doesn't shadow the real
/// session.
pub fn tokens_from_cookie_header(header: &str, secure: bool) -> impl Iterator<Item = Token> + '_ {
    in_header(header, cookie_name(secure)).filter_map(session_token).take(MAX_PRESENTED)
}

/// Session cookies looked up per request at most.
pub const MAX_PRESENTED: usize = 3;

/// The viewer of a request's session cookie (for plain axum handlers; server functions
/// use `api::ctx::viewer`), or `None` without a valid session.
pub async fn viewer_from_headers<C: ConnectionTrait>(db: &C, now: i64, headers: &HeaderMap, secure: bool) -> Result<Option<Viewer>, DomainError> {
    sessions::first_live(db, now, &tokens_from_headers(headers, secure), None, true).await
}

/// As [`viewer_from_headers`], without counting as use of the session: an open page's live
/// stream re-checks its session every minute, and that must not keep an unattended
/// session from its idle timeout.
pub async fn check_from_headers<C: ConnectionTrait>(db: &C, now: i64, headers: &HeaderMap, secure: bool) -> Result<Option<Viewer>, DomainError> {
    sessions::first_live(db, now, &tokens_from_headers(headers, secure), None, false).await
}

/// Every session cookie the request presents, in order (at most [`MAX_PRESENTED`]).
pub fn tokens_from_headers(headers: &HeaderMap, secure: bool) -> Vec<Token> {
    values(headers, cookie_name(secure)).filter_map(session_token).take(MAX_PRESENTED).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn cookie_round_trip_and_attributes() {
        let t = Token::generate();
        let h = set_cookie_header(&t, true, 100);
        assert!(h.starts_with("__Host-gatehouse_session="));
        for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age=100"] {
            assert!(h.contains(attr), "{attr} missing in {h}");
        }
        assert!(!set_cookie_header(&t, false, 1).contains("Secure"));
        let header = format!("a=b; {}={}; c=d", COOKIE_NAME, t.expose());
        let hashes = |h: &str, secure| tokens_from_cookie_header(h, secure).map(|x| x.hash()).collect::<Vec<_>>();
        assert_eq!(hashes(&header, false), [t.hash()]);
        assert!(hashes(&header, true).is_empty());
        assert!(hashes("gatehouse_session=", false).is_empty());
        // Several (one planted for a narrower path comes first): each, in order, at most 3.
        let many = format!("{COOKIE_NAME}=junk; {COOKIE_NAME}={}; {COOKIE_NAME}=b; {COOKIE_NAME}=c", t.expose());
        let got = hashes(&many, false);
        assert_eq!(got.len(), MAX_PRESENTED);
        assert_eq!(got[1], t.hash());
    }

    #[test]
    fn one_builder_for_every_cookie() {
        let c = |same_site, secure, max_age| SetCookie { name: "n", value: "v", path: "/p/", same_site, max_age, secure }.header();
        assert_eq!(c(SameSite::Strict, false, 120), "n=v; Path=/p/; HttpOnly; SameSite=Strict; Max-Age=120");
        assert_eq!(c(SameSite::Lax, true, 0), "n=v; Path=/p/; HttpOnly; SameSite=Lax; Max-Age=0; Secure");
        // Browsers drop `SameSite=None` without `Secure`: it is never sent without.
        assert_eq!(c(SameSite::None, false, 900), "n=v; Path=/p/; HttpOnly; SameSite=None; Max-Age=900; Secure");
        assert!(c(SameSite::Lax, false, -5).ends_with("Max-Age=0"), "a negative lifetime clears");
        assert_eq!(clear_cookie_header(false), "gatehouse_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    }

    #[test]
    fn every_value_of_one_name_in_every_cookie_header() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, http::HeaderValue::from_static("a=1; b=2; a=3"));
        h.append(header::COOKIE, http::HeaderValue::from_static("ab=9;a=4; a"));
        assert_eq!(values(&h, "a").collect::<Vec<_>>(), ["1", "3", "4"]);
        assert_eq!(values(&h, "c").count(), 0);
    }
}
