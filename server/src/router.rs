//! The HTTP surface: Leptos pages and server functions, plus plain routes with stable
//! URLs for outside callers (`/healthz`, `/readyz`, `/go`).
use std::net::SocketAddr;

use app::server::{db, AppState};
use app::server::http_security;
use app::{shell, App};
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};

/// Largest request body we read (forms, server functions; SAML gets its own cap).
pub const BODY_LIMIT: usize = 256 * 1024;
/// No request may take longer (outbound calls have 10-second timeouts of their own). A
/// request that somehow never completes is dropped and answered 503 instead of holding its
/// connection forever.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub fn app(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    let ctx_state = state.clone();
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/go", get(go))
        .merge(crate::saml::routes())
        .merge(crate::oidc::routes())
        .merge(crate::scim::routes())
        .merge(crate::events::routes())
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                provide_context(ctx_state.clone());
                http_security::provide_page_csp();
            },
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn_with_state(state.clone(), same_origin_writes))
        .layer(middleware::from_fn(security_headers))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(axum::http::StatusCode::SERVICE_UNAVAILABLE, REQUEST_TIMEOUT))
        .with_state(state)
}

async fn readyz(State(st): State<AppState>) -> Response {
    match db::migrations_current(&st.db).await {
        Ok(true) => (StatusCode::OK, "ready").into_response(),
        Ok(false) => (StatusCode::SERVICE_UNAVAILABLE, "migrations pending").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

#[derive(serde::Deserialize)]
struct GoQuery {
    workspace: String,
}

/// The landing page's "which workspace?" form (a GET form, so it works without JS).
async fn go(Query(q): Query<GoQuery>) -> Response {
    match app::server::workspaces::validate_slug(&q.workspace) {
        Ok(slug) => Redirect::to(&format!("/w/{slug}/login")).into_response(),
        Err(_) => Redirect::to("/").into_response(),
    }
}

/// CSRF defence for cookie-authenticated writes: a state-changing request must come from
/// our own origin (`Origin`, or `Sec-Fetch-Site` when a browser omits it). SameSite=Lax
/// cookies are the second layer. Protocol endpoints called by other systems (SAML ACS,
/// SCIM) authenticate otherwise and are exempt.
async fn same_origin_writes(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let exempt = req.uri().path().starts_with("/scim/") || req.uri().path().starts_with("/saml/") || req.uri().path().starts_with("/auth/");
    if exempt || matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok());
    let origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let fetch_site = req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if http_security::same_origin(origin, fetch_site, host, &st.config.public_url) {
        next.run(req).await
    } else {
        tracing::warn!(origin = ?origin, host = ?host, path = %req.uri().path(), "cross-site write refused");
        (StatusCode::FORBIDDEN, "Cross-site request refused.").into_response()
    }
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        if let Ok(v) = HeaderValue::from_str(&http_security::content_security_policy(None)) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // `same-origin` keeps the Referer our no-JS form redirects rely on, and never leaks
    // URLs (invite links) to other sites.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    res
}

/// Serves until ctrl-c / SIGTERM, finishing in-flight requests.
pub async fn serve(state: AppState, listen: &str) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(listen = %listen, public_url = %state.config.public_url, "gatehouse listening");
    let events = state.events.clone();
    axum::serve(listener, app(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Live-update streams never end on their own; they close now so in-flight
            // requests can finish and the process exits.
            events.shut_down();
        })
        .await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
