//! SAML endpoints with stable URLs (documented in the README):
//! `GET /saml/{provider}/metadata`, `GET /saml/{provider}/login`, `POST /saml/{provider}/acs`,
//! `GET|POST /saml/{provider}/slo` (Single Logout), and `POST /logout` (signing out, which
//! tells the IdP when the session came from one with Single Logout).

use crate::pages::{esc, internal, message_page, page, peer};
use app::server::crypto::Token;
use app::server::saml::{self, signin, slo};
use app::server::{sessions, DomainError};
use app::web::AppState;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/saml/{provider}/metadata", get(metadata))
        .route("/saml/{provider}/login", get(login))
        .route("/saml/{provider}/acs", post(acs))
        .route("/saml/{provider}/slo", get(slo).post(slo))
        .route("/logout", post(sign_out))
        .route("/sso", get(email_first))
}

/// Binds a pending AuthnRequest to the browser that started it (login CSRF).
const SAML_COOKIE: &str = "gatehouse_saml_browser";

async fn provider(st: &AppState, id: &str) -> Result<saml::Provider, Response> {
    match saml::by_public_id(&st.db, id).await {
        Ok(p) => Ok(p),
        Err(DomainError::NotFound) => Err(page(StatusCode::NOT_FOUND, "There is no such SAML provider.", None)),
        Err(e) => Err(internal(e)),
    }
}

async fn metadata(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    let p = match provider(&st, &id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let xml = saml::sp_metadata(&st.config, &p);
    (
        [
            (header::CONTENT_TYPE, "application/samlmetadata+xml".to_string()),
            (header::CONTENT_DISPOSITION, format!("inline; filename=\"gatehouse-sp-{}.xml\"", p.public_id())),
        ],
        xml,
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct LoginQuery {
    next: Option<String>,
    /// `1`: an admin's "Test sign-in" (no session will be created).
    test: Option<String>,
}

async fn login(State(st): State<AppState>, Path(id): Path<String>, Query(q): Query<LoginQuery>, headers: HeaderMap, req: Request) -> Response {
    let ip = peer(&req);
    if let Some(r) = crate::browser::throttled(&st, &format!("saml:{id}"), ip.as_deref()).await {
        return r;
    }
    let p = match provider(&st, &id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(r) = crate::browser::start_throttled(&st, &format!("saml:{}", p.public_id()), ip.as_deref()).await {
        return r;
    }
    let now = st.now();
    let test_by = if q.test.as_deref() == Some("1") {
        // Only an admin of the provider's workspace may run a test.
        match crate::browser::tester(&st, &headers, p.workspace_id()).await {
            Some(a) => Some(a),
            None => return page(StatusCode::NOT_FOUND, "There is no such SAML provider.", None),
        }
    } else {
        None
    };
    // Reuse the browser's nonce, so two tabs signing in at once both succeed.
    let nonce = crate::browser::nonce(&headers, SAML_COOKIE).unwrap_or_else(Token::generate);
    match signin::start(&st.db, &st.config, now, &p, q.next.as_deref(), test_by, &nonce).await {
        Ok(url) => {
            let mut r = Redirect::to(&url).into_response();
            r.headers_mut().append(header::SET_COOKIE, crate::browser::set_nonce(SAML_COOKIE, "/saml/", &nonce, st.config.secure_cookies(), true));
            r
        }
        Err(DomainError::Refused(msg)) => page(StatusCode::FORBIDDEN, &msg, None),
        Err(e) => internal(e),
    }
}

#[derive(serde::Deserialize)]
struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: Option<String>,
    #[serde(rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

async fn acs(State(st): State<AppState>, Path(id): Path<String>, req: Request) -> Response {
    let ip = peer(&req);
    let found = saml::by_public_id(&st.db, &id).await;
    // Failures of unknown providers share one scope (no counter per made-up id).
    let scope = if found.is_ok() { format!("saml:{id}") } else { "saml:unknown".to_string() };
    if let Some(r) = crate::browser::throttled(&st, &scope, ip.as_deref()).await {
        return r;
    }
    let res = match found {
        Ok(p) => acs_answer(&st, &p, ip.clone(), req).await,
        Err(DomainError::NotFound) => page(StatusCode::NOT_FOUND, "There is no such SAML provider.", None),
        Err(e) => internal(e),
    };
    if res.status().is_client_error() {
        crate::browser::failed(&st, &scope, ip.as_deref()).await;
    }
    res
}

async fn acs_answer(st: &AppState, p: &saml::Provider, ip: Option<String>, req: Request) -> Response {
    let nonce = crate::browser::nonce(req.headers(), SAML_COOKIE);
    let user_agent = crate::browser::user_agent(req.headers());
    let form = match Form::<AcsForm>::from_request(req, st).await {
        Ok(Form(f)) => f,
        Err(rej) => {
            let status = rej.status();
            let msg = if status == StatusCode::PAYLOAD_TOO_LARGE { "The sign-in response is too large." } else { "The sign-in response could not be read." };
            return page(if status.is_client_error() { status } else { StatusCode::BAD_REQUEST }, msg, None);
        }
    };
    let relay = form.relay_state.unwrap_or_default();
    // An IdP that posts its Single Logout messages to the ACS (Keycloak does) is answered
    // as at the SLO endpoint, not refused as a bad sign-in.
    if let Some(request) = form.saml_request.filter(|r| !r.trim().is_empty()) {
        return slo_answer(st, p, slo::Arrived::Post { message: &request, relay_state: &relay }, nonce.as_ref(), ip, true).await;
    }
    let Some(response) = form.saml_response.filter(|r| !r.trim().is_empty()) else {
        return page(StatusCode::BAD_REQUEST, "The request carries no SAMLResponse.", None);
    };
    if slo::is_logout_response(&response) {
        return slo_answer(st, p, slo::Arrived::Post { message: &response, relay_state: &relay }, nonce.as_ref(), ip, true).await;
    }
    let posted = signin::Posted { saml_response: &response, relay_state: &relay, browser_nonce: nonce.as_ref(), ip, user_agent };
    match signin::acs(&st.db, &st.events, &st.config, st.now(), p, posted).await {
        Ok(signin::Outcome::SignedIn { token, redirect, max_age }) => {
            let cookie = app::web::cookies::set_cookie_header(&token, st.config.secure_cookies(), max_age);
            (StatusCode::SEE_OTHER, [(header::LOCATION, redirect), (header::SET_COOKIE, cookie)]).into_response()
        }
        Ok(signin::Outcome::Tested { redirect }) => Redirect::to(&redirect).into_response(),
        Ok(signin::Outcome::Refused { message, back }) => page(StatusCode::FORBIDDEN, &message, Some(&back)),
        Err(e) => internal(e),
    }
}

/// Single Logout, both bindings: the IdP's LogoutRequest, or its LogoutResponse to ours,
/// in the query (HTTP-Redirect, GET) or a form (HTTP-POST). Failures count against the
/// provider's failure throttle, as at the ACS: anyone can send these.
async fn slo(State(st): State<AppState>, Path(id): Path<String>, req: Request) -> Response {
    let ip = peer(&req);
    let found = saml::by_public_id(&st.db, &id).await;
    let scope = if found.is_ok() { format!("saml:{id}") } else { "saml:unknown".to_string() };
    if let Some(r) = crate::browser::throttled(&st, &scope, ip.as_deref()).await {
        return r;
    }
    let nonce = crate::browser::nonce(req.headers(), SAML_COOKIE);
    let res = match found {
        Ok(p) if req.method() == axum::http::Method::GET => {
            let raw = req.uri().query().unwrap_or("").to_string();
            slo_answer(&st, &p, slo::Arrived::Redirect { raw_query: &raw }, nonce.as_ref(), ip.clone(), false).await
        }
        Ok(p) => match Form::<AcsForm>::from_request(req, &st).await {
            Ok(Form(form)) => {
                let relay = form.relay_state.unwrap_or_default();
                match form.saml_request.or(form.saml_response).filter(|m| !m.trim().is_empty()) {
                    Some(message) => slo_answer(&st, &p, slo::Arrived::Post { message: &message, relay_state: &relay }, nonce.as_ref(), ip.clone(), true).await,
                    None => page(StatusCode::BAD_REQUEST, "The request carries no SAMLRequest or SAMLResponse.", None),
                }
            }
            Err(_) => page(StatusCode::BAD_REQUEST, "The sign-out message could not be read.", None),
        },
        Err(DomainError::NotFound) => page(StatusCode::NOT_FOUND, "There is no such SAML provider.", None),
        Err(e) => internal(e),
    };
    if res.status().is_client_error() {
        crate::browser::failed(&st, &scope, ip.as_deref()).await;
    }
    res
}

/// Runs a Single Logout message and turns the answer into a response. `after_post`: the
/// browser arrived with a form submission, so a redirect to the IdP goes through a page
/// (see [`continue_to`]).
async fn slo_answer(st: &AppState, p: &saml::Provider, arrived: slo::Arrived<'_>, nonce: Option<&Token>, ip: Option<String>, after_post: bool) -> Response {
    let delivered = slo::Delivered { arrived, nonce, ip: ip.as_deref() };
    match slo::receive(&st.db, &st.events, &st.config, st.now(), p, delivered).await {
        Ok(slo::Answer::Refused { reason, message }) => {
            tracing::warn!(provider = %p.public_id(), reason = %reason, "SAML logout message refused");
            signed_out_page(StatusCode::FORBIDDEN, "Sign-out failed", &message, None)
        }
        Ok(answer) => slo_response(answer, after_post, None),
        Err(e) => internal(e),
    }
}

/// An answer for the browser: a redirect, an auto-posting form, or a page. `cookie`: a
/// Set-Cookie to add (the nonce that binds the IdP's answer to this browser).
fn slo_response(answer: slo::Answer, after_post: bool, cookie: Option<header::HeaderValue>) -> Response {
    let mut res = match answer {
        slo::Answer::Redirect(url) if after_post => continue_to(&url, "your identity provider"),
        slo::Answer::Redirect(url) => Redirect::to(&url).into_response(),
        slo::Answer::Post { url, field, value, relay_state } => auto_post(&url, field, &value, &relay_state),
        slo::Answer::Done { message, back } => signed_out_page(StatusCode::OK, "Signed out", &message, Some(&back)),
        slo::Answer::Refused { message, .. } => signed_out_page(StatusCode::FORBIDDEN, "Sign-out failed", &message, None),
    };
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

fn signed_out_page(status: StatusCode, title: &str, message: &str, back: Option<&str>) -> Response {
    message_page(status, title, "slo-message", message, back.map(|b| (b, "Sign in again")))
}

/// The HTTP-POST binding's page: a form to the IdP with the message, sent by a script
/// (allowed by this response's own CSP nonce) or, without JavaScript, by its button. The
/// CSP's `form-action` names the IdP's origin for this page only.
fn auto_post(url: &str, field: &str, value: &str, relay_state: &str) -> Response {
    let nonce = Token::generate();
    // `scheme://host[:port]` of an absolute http(s) URL (the IdP's, from its metadata).
    let origin = url
        .split_once("://")
        .filter(|(scheme, _)| matches!(*scheme, "https" | "http"))
        .map(|(scheme, rest)| format!("{scheme}://{}", rest.split(['/', '?', '#']).next().unwrap_or("")))
        .filter(|o| !o.ends_with("://") && !o.contains(|c: char| c.is_whitespace() || c == ';' || c == ','))
        .unwrap_or_default();
    let relay = if relay_state.is_empty() { String::new() } else { format!(r#"<input type="hidden" name="RelayState" value="{}">"#, esc(relay_state)) };
    let body = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signing out · Gatehouse</title></head><body><form id="slo" method="post" action="{action}"><input type="hidden" name="{field}" value="{value}">{relay}<p>Signing you out at your identity provider…</p><button type="submit">Continue</button></form><script nonce="{n}">document.getElementById('slo').submit();</script></body></html>"#,
        action = esc(url),
        field = esc(field),
        value = esc(value),
        n = nonce.expose(),
    );
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{}'; form-action {}; frame-ancestors 'none'; base-uri 'none'",
        nonce.expose(),
        if origin.is_empty() { "'none'".to_string() } else { origin }
    );
    let mut res = Html(body).into_response();
    if let Ok(v) = header::HeaderValue::from_str(&csp) {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    res
}

#[derive(serde::Deserialize)]
struct SignOutForm {
    slug: String,
}

/// `POST /logout` (the header's Sign out, a plain form, same-origin only): ends this
/// session here at once; when it came from a SAML provider with Single Logout, the browser
/// then carries our signed LogoutRequest to the IdP (bound to it by a nonce cookie), and
/// the IdP's answer lands on `/saml/{provider}/slo`. Otherwise, the sign-in page.
async fn sign_out(State(st): State<AppState>, headers: HeaderMap, Form(f): Form<SignOutForm>) -> Response {
    let secure = st.config.secure_cookies();
    let now = st.now();
    // Every session cookie presented ends: pages use the first live one, so a junk cookie
    // planted ahead of the real one must not leave the real session alive after Sign out.
    let mut ended = None;
    for t in app::web::cookies::tokens_from_headers(&headers, secure) {
        match sessions::end_by_token(&st.db, now, &t).await {
            Ok(Some(e)) if ended.is_none() => ended = Some(e),
            Ok(_) => {}
            Err(e) => return internal(e),
        }
    }
    let slug = match &ended {
        Some(e) => e.workspace_slug.clone(),
        None => app::server::directory::validate_slug(&f.slug).unwrap_or_default(),
    };
    let clear = header::HeaderValue::from_str(&app::web::cookies::clear_cookie_header(secure)).ok();
    let nonce = crate::browser::nonce(&headers, SAML_COOKIE).unwrap_or_else(Token::generate);
    let told = match &ended {
        Some(e) => match slo::start(&st.db, &st.config, now, e, &nonce).await {
            Ok(a) => a,
            Err(e) => {
                // The session is already over; only the IdP isn't told.
                tracing::warn!(error = %e, "SAML logout request not sent");
                None
            }
        },
        None => None,
    };
    let mut res = match told {
        Some(answer) => slo_response(answer, true, Some(crate::browser::set_nonce(SAML_COOKIE, "/saml/", &nonce, secure, true))),
        None if slug.is_empty() => Redirect::to("/").into_response(),
        None => Redirect::to(&format!("/w/{slug}/login")).into_response(),
    };
    if let Some(c) = clear {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

#[derive(serde::Deserialize)]
struct EmailFirst {
    workspace: String,
    email: String,
    /// Where to go after signing in (checked again when the sign-in completes).
    #[serde(default)]
    next: Option<String>,
}

/// The login page's email-first form: an email in one of the workspace's claimed domains
/// goes straight to its (first enabled) SAML provider; anything else goes back to the
/// sign-in page with a note.
/// A page that moves the browser on to `href` (our own SAML login, which redirects to the
/// IdP). Email-first routing answers with this instead of a redirect: a redirect chain that
/// starts with a form submission is held to the login page's CSP `form-action 'self'` all
/// the way, so the last hop, to the IdP's origin, was blocked in browsers. A meta refresh
/// (and the link, without it) is a new navigation that `form-action` doesn't govern, so
/// the policy stays as strict for every form.
fn continue_to(href: &str, provider_name: &str) -> Response {
    let (href, name) = (esc(href), esc(provider_name));
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url={href}\">\
         <title>Continuing to sign-in</title></head><body><p>Continuing to <a href=\"{href}\">{name}</a>…</p></body></html>"
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], body).into_response()
}

async fn email_first(State(st): State<AppState>, Query(q): Query<EmailFirst>) -> Response {
    let Ok(slug) = app::server::directory::validate_slug(&q.workspace) else {
        return Redirect::to("/").into_response();
    };
    let back = |code: &str| Redirect::to(&format!("/w/{slug}/login?sso={code}")).into_response();
    let ws = match app::server::workspaces::by_slug(&st.db, &slug).await {
        Ok(ws) => ws,
        Err(DomainError::NotFound) => return Redirect::to("/").into_response(),
        Err(e) => return internal(e),
    };
    match saml::provider_for_email(&st.db, ws.id, &q.email).await {
        Ok(Some(p)) => {
            let next = q.next.filter(|n| n.starts_with('/')).unwrap_or_else(|| format!("/w/{slug}"));
            continue_to(&format!("{}?next={}", p.login_path(), app::model::query_value(&next)), p.name())
        }
        Ok(None) => back("sso_no_provider"),
        Err(DomainError::Invalid(_)) => back("sso_bad_email"),
        Err(e) => internal(e),
    }
}
