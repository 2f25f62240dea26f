//! The HTTP surface: Leptos pages and server functions, plus plain routes with stable
//! URLs for outside callers (`/healthz`, `/readyz`, `/go`).
use std::net::SocketAddr;

use app::server::db;
use app::web::http_security;
use app::web::AppState;
use app::{shell, App};
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};

/// Largest request body we read (forms, server functions; SAML gets its own cap).
pub const BODY_LIMIT: usize = 256 * 1024;
/// No request may take longer (outbound calls have 10-second timeouts of their own). A
/// request that somehow never completes is dropped and answered 503 instead of holding its
/// connection forever.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The Leptos page routes, generated once per process.
///
/// `generate_route_list` renders the app with leptos_server's `SuppressResourceLoad` held,
/// and that flag is one process-wide `AtomicBool` (leptos#4773, open in 0.8.23): while it is
/// set, a `Resource` that any other thread creates never starts loading, so its page waits
/// forever (our 30 s timeout answered 503). A server builds its router once, before it
/// serves, but the test suite builds one per test while other tests render pages: that was
/// the rare SSR hang. Generating once, under a lock every router build goes through, means
/// no render can be in flight while the flag is set.
fn page_routes() -> Vec<AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

pub fn app(state: AppState) -> Router {
    let routes = page_routes();
    let options = state.leptos_options.clone();
    let ctx_state = state.clone();
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/go", get(go))
        .merge(crate::saml::routes())
        .merge(crate::oidc::routes())
        .merge(crate::scim::routes())
        .merge(crate::scim_oauth::routes())
        .merge(crate::events::routes())
        .merge(crate::audit_csv::routes())
        .merge(crate::forward_auth::routes())
        .merge(crate::v1::routes())
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                provide_context(ctx_state.clone());
                http_security::provide_page_csp();
            },
            move || shell(options.clone()),
        )
        // Paths no route matches render the app's 404 here: with the same policy (and
        // nonce) as every page, or the browser blocks its hydration scripts.
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(http_security::provide_page_csp, shell))
        .layer(middleware::from_fn_with_state(state.clone(), page_standing))
        .layer(middleware::from_fn_with_state(state.clone(), same_origin_writes))
        .layer(middleware::from_fn_with_state(state.clone(), security_headers))
        .layer(middleware::from_fn_with_state(state.clone(), client_addr))
        .layer(middleware::from_fn(observe))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(axum::http::StatusCode::SERVICE_UNAVAILABLE, REQUEST_TIMEOUT))
        .with_state(state)
}

/// Prometheus metrics of this process. Off unless `GATEHOUSE_METRICS_TOKEN` is set; then
/// the scraper presents it as a bearer token (compared in constant time).
async fn metrics(State(st): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let Some(expected) = st.config.metrics_token.as_ref() else {
        return (StatusCode::NOT_FOUND, "Not found.").into_response();
    };
    let presented = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
    if !expected.matches(presented) {
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "A bearer token is required.").into_response();
    }
    let (size, idle, max) = db::pool_use(&st.db);
    let streams = st.events.open_streams() as f64;
    let text = app::server::metrics::render(&[
        ("gatehouse_db_pool_connections", &[("state", "in_use")], size.saturating_sub(idle) as f64),
        ("gatehouse_db_pool_connections", &[("state", "idle")], idle as f64),
        ("gatehouse_db_pool_connections", &[("state", "max")], max as f64),
        ("gatehouse_live_streams", &[], streams),
    ]);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Every request: an id (the caller's `X-Request-Id` when it is a short token, else a new
/// one) on a tracing span and on the response, and its latency in the metrics, labelled
/// by the route template (never the raw path, which would make unbounded series).
async fn observe(req: Request, next: Next) -> Response {
    use tracing::Instrument;
    let started = std::time::Instant::now();
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .map(str::to_string)
        .unwrap_or_else(|| app::server::crypto::random_hex(8));
    let method = req.method().clone();
    let route =
        req.extensions().get::<axum::extract::MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| route_group(req.uri().path()).to_string());
    let span = tracing::info_span!("request", id = %id, method = %method, route = %route);
    let mut res = next.run(req).instrument(span.clone()).await;
    let status = res.status();
    let elapsed = started.elapsed();
    let class = format!("{}xx", status.as_u16() / 100);
    app::server::metrics::observe(
        "gatehouse_http_request_duration_seconds",
        &[("method", method.as_str()), ("route", &route), ("status", &class)],
        elapsed.as_secs_f64(),
    );
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), ms = elapsed.as_millis() as u64, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), ms = elapsed.as_millis() as u64, "request");
        }
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

/// Puts the client's address (`ClientIp`) in the request: the TCP peer, or what our
/// trusted proxies say it is (`GATEHOUSE_TRUSTED_PROXIES`). Everything downstream reads
/// this, never the headers.
async fn client_addr(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    use app::web::http_security::{client_ip, ClientIp};
    if let Some(peer) = req.extensions().get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0.ip()) {
        let ip = client_ip(peer, req.headers(), &st.config.trusted_proxies);
        req.extensions_mut().insert(ClientIp(ip));
    }
    next.run(req).await
}

/// Decides, once per page request under `/w/{slug}`, the viewer's standing in that
/// workspace (signed out, member, admin) and puts it in the request, where the page's
/// `Gate` reads it while rendering (and writes it into the head for the browser).
async fn page_standing(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    use app::ui::pages::Standing;
    let slug = match (req.method(), req.uri().path().strip_prefix("/w/")) {
        (&Method::GET | &Method::HEAD, Some(rest)) => rest.split('/').next().unwrap_or("").to_string(),
        _ => return next.run(req).await,
    };
    let standing = match app::web::cookies::viewer_from_headers(&st.db, st.now(), req.headers(), st.config.secure_cookies()).await {
        Ok(Some(v)) if v.workspace_slug == slug && v.is_admin() => Standing::Admin,
        Ok(Some(v)) if v.workspace_slug == slug => Standing::Member,
        Ok(_) => Standing::SignedOut,
        Err(e) => {
            tracing::warn!(error = %e, "page standing");
            Standing::SignedOut
        }
    };
    req.extensions_mut().insert(standing);
    next.run(req).await
}

/// A bounded label for paths no route template matched (static files, 404s).
fn route_group(path: &str) -> &'static str {
    if path.starts_with("/pkg/") {
        "/pkg/*"
    } else if path.starts_with("/api/") {
        "/api/*"
    } else {
        "other"
    }
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
    match app::server::directory::validate_slug(&q.workspace) {
        Ok(slug) => Redirect::to(&format!("/w/{slug}/login")).into_response(),
        Err(_) => Redirect::to("/").into_response(),
    }
}

/// CSRF defence for cookie-authenticated writes: a state-changing request must come from
/// our own origin (`Origin`, or `Sec-Fetch-Site` when a browser omits it). SameSite=Lax
/// cookies are the second layer. Protocol endpoints called by other systems (SAML ACS,
/// SCIM) authenticate otherwise and are exempt.
async fn same_origin_writes(State(st): State<AppState>, req: Request, next: Next) -> Response {
    // `/forward-auth` only answers questions about the caller's own session, and the
    // proxy asks it with the original request's method.
    let path = req.uri().path();
    // `/v1` takes only a bearer API key, never a cookie, so a cross-site page can't use it.
    let exempt = path.starts_with("/scim/") || path.starts_with("/saml/") || path.starts_with("/auth/") || path.starts_with("/v1/") || path == "/forward-auth";
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

async fn security_headers(State(st): State<AppState>, req: Request, next: Next) -> Response {
    // Only the build's static files may be cached: every page and answer may carry a
    // session's data or a secret shown once (tokens, invite links), and a shared or back-
    // button cache must not keep it.
    let path = req.uri().path();
    let cacheable = path.starts_with("/pkg/") || path == "/favicon.svg";
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if !cacheable {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if st.config.secure_cookies() {
        // Served over https: browsers keep to https for two years (RFC 6797).
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    }
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
    tokio::spawn(recheck_domains(state.clone()));
    // Every process sends webhooks; leases keep two from sending one delivery together.
    let (stop_webhooks, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(app::server::webhooks::delivery::run(
        state.db.clone(),
        crate::webhook_settings(&state.config),
        state.clock.clone(),
        std::time::Duration::from_millis(500),
        stopped,
    ));
    axum::serve(listener, app(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            let _ = stop_webhooks.send(true);
            // Live-update streams never end on their own; they close now so in-flight
            // requests can finish and the process exits.
            events.shut_down();
        })
        .await?;
    // A round in flight finishes its attempts and records them (each within the timeout);
    // one cut short is sent again by whichever process leases it after its lease expires.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(70), worker).await;
    Ok(())
}

/// Looks up claimed domains' TXT records again once they are due (every
/// `GATEHOUSE_DOMAIN_RECHECK_SECS`), so pending claims verify or fail and a verified
/// domain whose record disappears is eventually unverified. Every process runs it; a
/// check is idempotent.
async fn recheck_domains(state: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        match app::server::domains::recheck_due(&state.db, &state.config.dns, state.now(), state.config.domain_recheck_secs).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(checked = n, "domain verification: records looked up again"),
            Err(e) => tracing::warn!(error = %e, "domain verification: re-check failed"),
        }
    }
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
