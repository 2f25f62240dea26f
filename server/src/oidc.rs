//! OpenID Connect endpoints (documented in the README):
//! `GET /auth/{google|slack|office365}/start?workspace=SLUG[&next=/w/SLUG/…]` and
//! `GET /auth/{provider}/callback` for the operator's providers;
//! `GET /oidc/{connection}/login[?next=…][&test=1]` and `GET /oidc/{connection}/callback`
//! for the workspaces' own connections.
use app::server::crypto::Token;
use app::server::{oidc, DomainError};
use app::web::AppState;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use crate::pages::{internal, page, peer};

const OIDC_COOKIE: &str = "gatehouse_oidc_browser";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/{provider}/start", get(start))
        .route("/auth/{provider}/callback", get(callback))
        .route("/oidc/{connection}/login", get(connection_login))
        .route("/oidc/{connection}/callback", get(connection_callback))
}

/// Binds a workspace connection's pending sign-in to the browser that started it.
const CONNECTION_COOKIE: &str = "gatehouse_oidc_connection_browser";

async fn connection(st: &AppState, id: &str) -> Result<app::server::saml::Provider, Response> {
    match oidc::connections::by_public_id(&st.db, id).await {
        Ok(p) => Ok(p),
        Err(DomainError::NotFound) => Err(page(StatusCode::NOT_FOUND, "There is no such sign-in connection.", None)),
        Err(e) => Err(internal(e)),
    }
}

#[derive(serde::Deserialize)]
struct ConnectionLogin {
    next: Option<String>,
    /// `1`: an admin's "Test sign-in" (no session will be created).
    test: Option<String>,
}

async fn connection_login(State(st): State<AppState>, Path(id): Path<String>, Query(q): Query<ConnectionLogin>, headers: HeaderMap, req: Request) -> Response {
    let ip = peer(&req);
    let p = match connection(&st, &id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(r) = crate::browser::start_throttled(&st, &format!("oidc:{}", p.public_id()), ip.as_deref()).await {
        return r;
    }
    let test_by = if q.test.as_deref() == Some("1") {
        // Only an admin of the connection's workspace may run a test.
        match crate::browser::tester(&st, &headers, p.workspace_id()).await {
            Some(a) => Some(a),
            None => return page(StatusCode::NOT_FOUND, "There is no such sign-in connection.", None),
        }
    } else {
        None
    };
    let nonce = crate::browser::nonce(&headers, CONNECTION_COOKIE).unwrap_or_else(Token::generate);
    match oidc::connection_signin::start(st.deps(), &p, q.next.as_deref(), test_by, &nonce).await {
        Ok(oidc::connection_signin::Started::Redirect(url)) => {
            let mut r = Redirect::to(&url).into_response();
            r.headers_mut().append(header::SET_COOKIE, crate::browser::set_nonce(CONNECTION_COOKIE, "/oidc/", &nonce, st.config.secure_cookies(), false));
            r
        }
        Ok(oidc::connection_signin::Started::Tested(to)) => Redirect::to(&to).into_response(),
        Err(DomainError::Refused(msg)) => page(StatusCode::FORBIDDEN, &msg, None),
        Err(DomainError::Internal(e)) => {
            tracing::error!(connection = %id, error = %e, "OIDC connection start failed");
            page(StatusCode::BAD_GATEWAY, "The sign-in provider can't be reached right now. Try again in a moment.", None)
        }
        Err(e) => internal(e),
    }
}

#[derive(serde::Deserialize)]
struct ConnectionAnswer {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn connection_callback(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ConnectionAnswer>,
    headers: HeaderMap,
    req: Request,
) -> Response {
    let ip = peer(&req);
    // Failures are counted per connection and client address (no counter per made-up id).
    let found = oidc::connections::by_public_id(&st.db, &id).await;
    let scope = if found.is_ok() { format!("oidc:{id}") } else { "oidc:unknown".to_string() };
    if let Some(r) = crate::browser::throttled(&st, &scope, ip.as_deref()).await {
        return r;
    }
    let p = match found {
        Ok(p) => p,
        Err(DomainError::NotFound) => {
            crate::browser::failed(&st, &scope, ip.as_deref()).await;
            return page(StatusCode::NOT_FOUND, "There is no such sign-in connection.", None);
        }
        Err(e) => return internal(e),
    };
    let nonce = crate::browser::nonce(&headers, CONNECTION_COOKIE);
    let answer = oidc::connection_signin::Answer {
        code: q.code.as_deref(),
        state: q.state.as_deref(),
        iss: q.iss.as_deref(),
        error: q.error.as_deref(),
        error_description: q.error_description.as_deref(),
        browser_nonce: nonce.as_ref(),
        ip: ip.clone(),
        user_agent: crate::browser::user_agent(&headers),
    };
    let res = match oidc::connection_signin::callback(st.deps(), &p, answer).await {
        Ok(app::server::saml::signin::Outcome::SignedIn { token, redirect, max_age }) => {
            let cookie = app::web::cookies::set_cookie_header(&token, st.config.secure_cookies(), max_age);
            (StatusCode::SEE_OTHER, [(header::LOCATION, redirect), (header::SET_COOKIE, cookie)]).into_response()
        }
        Ok(app::server::saml::signin::Outcome::Tested { redirect }) => Redirect::to(&redirect).into_response(),
        Ok(app::server::saml::signin::Outcome::Refused { message, back }) => page(StatusCode::FORBIDDEN, &message, Some(&back)),
        Err(e) => internal(e),
    };
    if res.status().is_client_error() {
        crate::browser::failed(&st, &scope, ip.as_deref()).await;
    }
    res
}

#[derive(serde::Deserialize)]
struct StartQuery {
    workspace: String,
    next: Option<String>,
}

async fn start(State(st): State<AppState>, Path(key): Path<String>, Query(q): Query<StartQuery>, headers: HeaderMap, req: Request) -> Response {
    if st.config.oidc_provider(&key).is_none() {
        return page(StatusCode::NOT_FOUND, "That sign-in method is not available on this server.", None);
    }
    let Ok(slug) = app::server::directory::validate_slug(&q.workspace) else {
        return page(StatusCode::NOT_FOUND, "There is no such workspace.", None);
    };
    // Only a workspace that exists gets a start counter: random names make no rows.
    match app::server::workspaces::by_slug(&st.db, &slug).await {
        Ok(_) => {}
        Err(DomainError::NotFound) => return page(StatusCode::NOT_FOUND, "There is no such workspace.", None),
        Err(e) => return internal(e),
    }
    if let Some(r) = crate::browser::start_throttled(&st, &format!("{key}:{slug}"), peer(&req).as_deref()).await {
        return r;
    }
    let nonce = crate::browser::nonce(&headers, OIDC_COOKIE).unwrap_or_else(Token::generate);
    match oidc::start(st.deps(), &key, &slug, q.next.as_deref(), &nonce).await {
        Ok(url) => {
            let mut r = Redirect::to(&url).into_response();
            r.headers_mut().append(header::SET_COOKIE, crate::browser::set_nonce(OIDC_COOKIE, "/auth/", &nonce, st.config.secure_cookies(), false));
            r
        }
        Err(DomainError::NotFound) => page(StatusCode::NOT_FOUND, "There is no such workspace.", None),
        Err(DomainError::Refused(msg)) => page(StatusCode::FORBIDDEN, &msg, Some(&format!("/w/{slug}/login"))),
        Err(e) => {
            tracing::error!(provider = %key, error = %e, "OIDC start failed");
            page(StatusCode::BAD_GATEWAY, "The sign-in provider can't be reached right now. Try again in a moment.", Some(&format!("/w/{slug}/login")))
        }
    }
}

#[derive(serde::Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

async fn callback(State(st): State<AppState>, Path(key): Path<String>, Query(q): Query<CallbackQuery>, headers: HeaderMap, req: Request) -> Response {
    let ip = peer(&req);
    // Failures are counted per client address in the scope of the workspace whose pending
    // sign-in the state names, so junk from a neighbour behind the same address (a NAT, a
    // balancer without trusted-proxy settings) can't block another workspace's sign-ins.
    // Callbacks naming no pending sign-in share one scope per configured provider (and one
    // for any other path segment, so made-up ones add no counters).
    let scope = if st.config.oidc_provider(&key).is_none() {
        "oidc:unknown".to_string()
    } else {
        match oidc::pending_workspace(&st.db, st.now(), &key, q.state.as_deref()).await {
            Ok(Some(ws)) => format!("{key}:callback:{ws}"),
            Ok(None) => format!("{key}:callback"),
            Err(e) => return internal(e),
        }
    };
    if let Some(r) = crate::browser::throttled(&st, &scope, ip.as_deref()).await {
        return r;
    }
    let res = callback_answer(&st, &key, q, &headers, ip.clone()).await;
    if res.status().is_client_error() {
        crate::browser::failed(&st, &scope, ip.as_deref()).await;
    }
    res
}

async fn callback_answer(st: &AppState, key: &str, q: CallbackQuery, headers: &HeaderMap, ip: Option<String>) -> Response {
    if st.config.oidc_provider(key).is_none() {
        return page(StatusCode::NOT_FOUND, "That sign-in method is not available on this server.", None);
    }
    let nonce = crate::browser::nonce(headers, OIDC_COOKIE);
    let cb = oidc::Callback {
        code: q.code.as_deref(),
        state: q.state.as_deref(),
        iss: q.iss.as_deref(),
        error: q.error.as_deref(),
        browser_nonce: nonce.as_ref(),
        ip,
        user_agent: crate::browser::user_agent(headers),
    };
    let outcome = oidc::callback(st.deps(), key, cb).await;
    // Only configured providers get a series (the path segment is the caller's).
    if st.config.oidc_provider(key).is_some() {
        let o = match &outcome {
            Ok(oidc::Outcome::SignedIn { .. }) => "ok",
            Ok(oidc::Outcome::Refused { .. }) => "refused",
            Err(_) => "error",
        };
        app::server::metrics::sign_in(key, o);
    }
    match outcome {
        Ok(oidc::Outcome::SignedIn { token, redirect, max_age }) => {
            let cookie = app::web::cookies::set_cookie_header(&token, st.config.secure_cookies(), max_age);
            (StatusCode::SEE_OTHER, [(header::LOCATION, redirect), (header::SET_COOKIE, cookie)]).into_response()
        }
        Ok(oidc::Outcome::Refused { message, back }) => page(StatusCode::FORBIDDEN, &message, Some(&back)),
        Err(DomainError::Internal(e)) => {
            tracing::error!(provider = %key, error = %e, "OIDC callback failed");
            page(StatusCode::BAD_GATEWAY, "The sign-in provider can't be reached right now. Try again in a moment.", None)
        }
        Err(e) => internal(e),
    }
}
