//! `/forward-auth`: the reverse proxy in front of the product asks it before each request.
//! The rules and the decision are the domain's (`app::server::forward_auth`); this reads
//! the proxy's headers and writes the answer in the form each proxy understands.
//!
//! - nginx `auth_request` (the default): 200 lets the request through, 401 means "sign in
//!   first" (the sign-in path is in `X-Gatehouse-Sign-In`), 403 means "not for you"
//!   (`X-Gatehouse-Deny`: `not-found` or `level`); nginx treats any other status as an error.
//! - Traefik `ForwardAuth` and Caddy `forward_auth` (`?mode=redirect`): they hand every
//!   non-2xx answer to the browser, so a visitor gets a 302 to sign in and a member the
//!   same 404 as a missing page (403 when they may see the resource but not change it).
//!
//! The proxy passes the request's method and URI and the browser's cookies. Each mode reads
//! only the pair of headers its proxies set, overwriting whatever the client sent: nginx's
//! `X-Original-Method`/`X-Original-URI` (set by our documented `proxy_set_header`s) in
//! status mode, Traefik's and Caddy's `X-Forwarded-Method`/`X-Forwarded-Uri` in redirect
//! mode. (nginx passes the client's headers to the subrequest, so an `X-Forwarded-Uri`
//! the client made up must never be read there.) Every identity header is always sent,
//! empty when it has no value, so a proxy that copies them over the client's own never
//! lets a forged one through.
use app::server::forward_auth::{self, Decision};
use app::web::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;

/// The identity headers, in the order they are written.
pub const IDENTITY_HEADERS: [&str; 9] = [
    "x-gatehouse-member-id",
    "x-gatehouse-email",
    "x-gatehouse-name",
    "x-gatehouse-role",
    "x-gatehouse-workspace",
    "x-gatehouse-groups",
    "x-gatehouse-groups-truncated",
    "x-gatehouse-resource",
    "x-gatehouse-access",
];

/// Group names sent in `X-Gatehouse-Groups` stop before this many bytes (proxies keep
/// answer headers in a 4–8 KB buffer, with every other header); `X-Gatehouse-Groups-Truncated:
/// true` says so.
const GROUPS_HEADER_MAX: usize = 2048;

pub fn routes() -> Router<AppState> {
    // nginx's subrequest keeps the original method, so a POST to the product asks with POST.
    Router::new().route("/forward-auth", any(check))
}

#[derive(serde::Deserialize)]
struct Params {
    #[serde(default)]
    mode: Option<String>,
}

async fn check(State(st): State<AppState>, Query(p): Query<Params>, headers: HeaderMap) -> Response {
    let redirect = match p.mode.as_deref() {
        None | Some("") | Some("status") => false,
        Some("redirect") => true,
        Some(_) => return (StatusCode::BAD_REQUEST, "mode must be status (nginx) or redirect (Traefik, Caddy).").into_response(),
    };
    let (uri_header, method_header) = if redirect { ("x-forwarded-uri", "x-forwarded-method") } else { ("x-original-uri", "x-original-method") };
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let Some(uri) = text(uri_header) else {
        let msg =
            if redirect { "The proxy must pass the request's URI in X-Forwarded-Uri." } else { "The proxy must pass the request's URI in X-Original-URI." };
        return (StatusCode::BAD_REQUEST, msg).into_response();
    };
    // Compared exactly as the client spelled it: only `GET` and `HEAD` are reads.
    let Some(method) = text(method_header) else {
        let msg = if redirect {
            "The proxy must pass the request's method in X-Forwarded-Method."
        } else {
            "The proxy must pass the request's method in X-Original-Method."
        };
        return (StatusCode::BAD_REQUEST, msg).into_response();
    };
    let target = st.config.forward_auth.target(&method, &uri);
    let decided = async {
        let viewer = match &target {
            Some(_) => app::web::cookies::viewer_from_headers(&st.db, st.now(), &headers, st.config.secure_cookies()).await?,
            None => None,
        };
        forward_auth::decide(&st.db, target.as_ref(), &uri, viewer.as_ref()).await
    }
    .await;
    let decision = match decided {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "forward-auth");
            return (StatusCode::INTERNAL_SERVER_ERROR, "Gatehouse could not decide; try again.").into_response();
        }
    };
    app::server::metrics::inc(
        "gatehouse_forward_auth_total",
        &[(
            "decision",
            match &decision {
                Decision::Allow(_) => "allow",
                Decision::SignIn { .. } => "sign_in",
                Decision::NotFound => "not_found",
                Decision::Forbidden => "forbidden",
            },
        )],
    );
    answer(decision, redirect)
}

fn answer(decision: Decision, redirect: bool) -> Response {
    let mut res = match &decision {
        Decision::Allow(_) => StatusCode::OK.into_response(),
        Decision::SignIn { login } if redirect => (StatusCode::FOUND, [(header::LOCATION, login.as_str())]).into_response(),
        Decision::SignIn { login } => (StatusCode::UNAUTHORIZED, [("x-gatehouse-sign-in", login.as_str())]).into_response(),
        Decision::NotFound if redirect => (StatusCode::NOT_FOUND, "Not found.").into_response(),
        Decision::NotFound => (StatusCode::FORBIDDEN, [("x-gatehouse-deny", "not-found")]).into_response(),
        Decision::Forbidden => (StatusCode::FORBIDDEN, [("x-gatehouse-deny", "level")], "You can see this, but not change it.").into_response(),
    };
    let h = res.headers_mut();
    let values: [String; 9] = match decision {
        Decision::Allow(id) => {
            let (groups, truncated) = groups_header(&id.groups);
            [
                id.membership_id.to_string(),
                header_text(&id.email),
                app::model::urlencode(&id.full_name),
                id.role.to_string(),
                id.workspace,
                groups,
                if truncated { "true" } else { "false" }.to_string(),
                id.resource.map(|(r, _)| r.to_string()).unwrap_or_default(),
                id.resource.map(|(_, l)| l.as_str().to_string()).unwrap_or_default(),
            ]
        }
        _ => Default::default(),
    };
    for (name, value) in IDENTITY_HEADERS.iter().zip(values) {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
    res
}

/// Percent-encoded where it must be (`%`, `,`, spaces, controls, anything not ASCII), the
/// rest as it is: percent-decoding always gives the value back, and an ordinary address
/// stays readable.
fn header_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x21..0x7f).contains(&b) && b != b'%' && b != b',' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encoded names joined by commas, cut at a whole name before the cap.
fn groups_header(names: &[String]) -> (String, bool) {
    let mut out = String::new();
    for n in names {
        let enc = app::model::urlencode(n);
        if out.len() + enc.len() + 1 > GROUPS_HEADER_MAX {
            return (out, true);
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&enc);
    }
    (out, false)
}
