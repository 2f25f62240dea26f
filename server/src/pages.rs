//! The small HTML pages and request facts the sign-in protocol endpoints (SAML, OIDC,
//! SCIM's address) share: one sentence under a title for a browser that can't be signed
//! in, and the client's address as the trusted-proxy layer resolved it.
use app::server::DomainError;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

pub(crate) use app::model::html_escape as esc;

/// A small page for a browser that can't be signed in; the reason stays in our logs.
pub(crate) fn page(status: StatusCode, message: &str, back: Option<&str>) -> Response {
    message_page(status, "Sign-in failed", "saml-error", message, back.map(|b| (b, "Back to sign-in")))
}

/// A page of one sentence under a title, with an optional link (`href`, text).
pub(crate) fn message_page(status: StatusCode, title: &str, id: &str, message: &str, link: Option<(&str, &str)>) -> Response {
    let link = link.map(|(href, text)| format!(r#"<p><a href="{}">{}</a></p>"#, esc(href), esc(text))).unwrap_or_default();
    let body = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{t} · Gatehouse</title><meta name="viewport" content="width=device-width, initial-scale=1"></head><body style="font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem"><h1 style="font-size:1.25rem">{t}</h1><p id="{id}">{m}</p>{link}</body></html>"#,
        t = esc(title),
        m = esc(message),
    );
    (status, Html(body)).into_response()
}

/// The page for a failure on our side; the error goes to the log, not the browser.
pub(crate) fn internal(e: DomainError) -> Response {
    tracing::error!(error = %e, "sign-in endpoint failed");
    page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side. Try again in a moment.", None)
}

/// The client's address, as the trusted-proxy layer resolved it.
pub(crate) fn peer(req: &Request) -> Option<String> {
    req.extensions().get::<app::web::http_security::ClientIp>().map(|c| c.0.to_string())
}
