//! Server functions: adapters that read the session, authorize, make one domain call and
//! map the error. Their URLs are private to our UI; outside systems use the plain routes
//! in the `server` crate.
pub mod access;
pub mod account;
pub mod api_keys;
pub mod auth;
pub mod invites;
pub mod members;
pub mod overview;
pub mod saml;
pub mod settings;
pub mod webhooks;

#[cfg(feature = "ssr")]
pub(crate) mod ctx {

    use http::header::{ACCEPT, SET_COOKIE};
    use http::{HeaderValue, StatusCode};
    use leptos::prelude::*;
    use leptos_axum::ResponseOptions;

    use crate::error::AppError;
    use crate::server::permissions::{AdminCap, Viewer};
    use crate::server::{sessions, DomainError};
    use crate::web::AppState;

    pub fn state() -> Result<AppState, AppError> {
        use_context::<AppState>().ok_or_else(|| {
            tracing::error!("AppState missing from context");
            AppError::Internal
        })
    }

    fn parts() -> Option<http::request::Parts> {
        use_context::<http::request::Parts>()
    }

    /// The client's address as the router resolved it: the TCP peer, or what a trusted
    /// proxy says (`GATEHOUSE_TRUSTED_PROXIES`).
    pub fn client_ip() -> Option<String> {
        parts()?.extensions.get::<crate::web::http_security::ClientIp>().map(|c| c.0.to_string())
    }

    /// Where this request comes from (address and User-Agent), for a session it starts.
    pub fn origin() -> crate::server::sessions::Origin {
        let user_agent = parts().and_then(|p| p.headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string));
        crate::server::sessions::Origin { ip: client_ip(), user_agent, saml: None }
    }

    /// The request asks for HTML: a page navigation, or a form post without JavaScript.
    fn accepts_html() -> bool {
        parts().and_then(|p| p.headers.get(ACCEPT).and_then(|v| v.to_str().ok()).map(|v| v.contains("text/html"))).unwrap_or(false)
    }

    /// A plain form post from a browser without JavaScript. Its answer is a redirect (back
    /// to the form with the error in the URL, or onward), so no status is set for it.
    pub fn is_no_js_post() -> bool {
        parts().is_some_and(|p| p.method == http::Method::POST) && accepts_html()
    }

    /// Redirects a browser's form post to `path` (e.g. with a `?saved=` confirmation); a
    /// caller that isn't a browser form (tests, scripts) gets the answer itself.
    pub fn redirect_no_js(path: &str) {
        if is_no_js_post() {
            leptos_axum::redirect(path);
        }
    }

    pub fn set_status(code: StatusCode) {
        if let Some(res) = use_context::<ResponseOptions>() {
            res.set_status(code);
        }
    }

    pub fn set_cookie(value: String) {
        if let (Some(res), Ok(v)) = (use_context::<ResponseOptions>(), HeaderValue::from_str(&value)) {
            res.append_header(SET_COOKIE, v);
        }
    }

    /// A cookie the browser sent with this request.
    pub fn request_cookie(name: &str) -> Option<String> {
        crate::web::cookies::values(&parts()?.headers, name).find(|v| !v.is_empty()).map(str::to_string)
    }

    /// Maps a domain error to the wire, setting the HTTP status for server renders.
    pub fn fail(e: DomainError) -> AppError {
        let status = match &e {
            DomainError::NotFound | DomainError::Forbidden => StatusCode::NOT_FOUND,
            DomainError::Unauthenticated => StatusCode::UNAUTHORIZED,
            DomainError::Invalid(_) | DomainError::Refused(_) => StatusCode::BAD_REQUEST,
            DomainError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            DomainError::Db(_) | DomainError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if !is_no_js_post() {
            set_status(status);
        }
        e.into()
    }

    /// The session's viewer, if any, whatever workspace it belongs to.
    pub async fn session_viewer(st: &AppState) -> Result<Option<Viewer>, DomainError> {
        let secure = st.config.secure_cookies();
        let tokens = parts().map(|p| crate::web::cookies::tokens_from_headers(&p.headers, secure)).unwrap_or_default();
        sessions::first_live(&st.db, st.now(), &tokens, client_ip(), true).await
    }

    /// The signed-in member of workspace `slug`. Without a valid session the browser is
    /// sent to that workspace's sign-in page.
    pub async fn viewer(st: &AppState, slug: &str) -> Result<Viewer, AppError> {
        match session_viewer(st).await.map_err(fail)? {
            Some(v) if v.workspace_slug == slug => Ok(v),
            _ => {
                // A browser is sent to the sign-in page (302); API callers get a 401 and a
                // redirect hint.
                leptos_axum::redirect(&format!("/w/{}/login", urlencode(slug)));
                if !accepts_html() {
                    set_status(StatusCode::UNAUTHORIZED);
                }
                Err(DomainError::Unauthenticated.into())
            }
        }
    }

    /// Carries `value` (a token, an invite link) once to the page at `path` after a no-JS
    /// form: an HttpOnly, SameSite=Strict cookie scoped to that page, for two minutes —
    /// never a URL, so never in history or proxy logs.
    pub fn set_flash(st: &AppState, name: &str, value: &str, path: &str) {
        set_cookie(flash_cookie(st, name, value, path, 120));
    }

    /// Reads the one-time value `name` this request carries for the page at `path`, hands
    /// it to `read` (the page's one domain call), and clears it only once that read has
    /// succeeded: a read that fails (a database hiccup) leaves it for the retry, so a
    /// secret shown once is not lost to an error page.
    pub async fn with_flash<T, Fut>(st: &AppState, name: &str, path: &str, read: impl FnOnce(Option<String>) -> Fut) -> Result<T, AppError>
    where
        Fut: std::future::Future<Output = Result<T, AppError>>,
    {
        let value = request_cookie(name);
        let carried = value.is_some();
        let out = read(value).await?;
        if carried {
            set_cookie(flash_cookie(st, name, "", path, 0));
        }
        Ok(out)
    }

    fn flash_cookie(st: &AppState, name: &str, value: &str, path: &str, max_age: i64) -> String {
        let secure = st.config.secure_cookies();
        crate::web::cookies::SetCookie { name, value, path, same_site: crate::web::cookies::SameSite::Strict, max_age, secure }.header()
    }

    /// The prologue of every admin server function: the app's state and an admin
    /// capability for `slug` (a member gets 404, a visitor is sent to sign in).
    pub async fn admin(slug: &str) -> Result<(AppState, AdminCap), AppError> {
        let st = state()?;
        let cap = viewer(&st, slug).await?.admin().map_err(fail)?;
        Ok((st, cap))
    }

    pub use crate::model::urlencode;
}
