use std::sync::Arc;

use app::server::clock::FixedClock;
use app::server::config::RuntimeConfig;
use app::server::password::{Hasher, Password};
use app::server::{db, workspaces};
use app::web::AppState;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use leptos::config::LeptosOptions;
use leptos::server_fn::ServerFn;
use rand::Rng;
use tower::ServiceExt;

pub const ORIGIN: &str = "http://gatehouse.test";
pub const T0: i64 = 1_800_000_000;
pub const ADMIN_EMAIL: &str = "ada@acme.test";
pub const ADMIN_PASSWORD: &str = "correct horse battery";

/// The URL of a new, empty PostgreSQL database when `GATEHOUSE_TEST_POSTGRES_URL` is set.
pub async fn fresh_postgres_url() -> Option<String> {
    let admin_url = std::env::var("GATEHOUSE_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())?;
    let name = format!("gh_test_{:016x}", rand::thread_rng().gen::<u64>());
    let admin = db::connect(&admin_url, 1).await.expect("connect to postgres");
    use sea_orm::ConnectionTrait;
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create database");
    admin.close().await.expect("close");
    let base = admin_url.rsplit_once('/').map(|(b, _)| b).expect("url has a database");
    Some(format!("{base}/{name}"))
}

/// A database for one test: in-memory SQLite, or a fresh PostgreSQL database.
pub async fn test_db() -> sea_orm::DatabaseConnection {
    let conn = match fresh_postgres_url().await {
        Some(url) => db::connect(&url, 5).await.expect("connect to test database"),
        None => db::connect("sqlite::memory:", 1).await.expect("sqlite"),
    };
    db::migrate(&conn).await.expect("migrate");
    conn
}

pub struct TestApp {
    pub state: AppState,
    pub clock: FixedClock,
    pub router: Router,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn cookie(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("gatehouse_session=") && !v.starts_with("gatehouse_session=;"))
            .and_then(|v| v.split(';').next())
            .map(str::to_string)
    }
    /// `name=value` of a cookie this reply sets.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&format!("{name}=")))
            .and_then(|c| c.split(';').next())
            .map(str::to_string)
    }
    pub fn location(&self) -> Option<&str> {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    pub async fn with_config(f: impl FnOnce(&mut RuntimeConfig)) -> Self {
        Self::with_config_and_db(f, test_db().await).await
    }

    /// With a given database (e.g. a file-backed SQLite pool of several connections).
    pub async fn with_config_and_db(f: impl FnOnce(&mut RuntimeConfig), db: sea_orm::DatabaseConnection) -> Self {
        app::server::saml::acs::init_xml();
        let clock = FixedClock::at(T0);
        let mut cfg = RuntimeConfig {
            public_url: ORIGIN.into(),
            login_attempts_per_window: 5,
            scim_requests_per_minute: 6000,
            mailer: None,
            oidc: vec![],
            metrics_token: None,
            ..Default::default()
        };
        f(&mut cfg);
        let events = app::server::events::Events::new();
        events.listen(&db);
        let state = AppState {
            scim_ledger: app::server::scim::ledger::Ledger::start(db.clone()),
            oidc_discovery: Default::default(),
            db,
            config: Arc::new(cfg),
            clock: Arc::new(clock.clone()),
            hasher: Hasher::new(2).expect("hasher"),
            leptos_options: LeptosOptions::builder().output_name("gatehouse").site_root("target/site").build(),
            events,
        };
        let router = server::router::app(state.clone());
        TestApp { state, clock, router }
    }

    /// A SAML provider of workspace `slug`, made by the operator at `now`, whose IdP
    /// (`https://idp.example.test/{name}`) never answers: for tests of what a provider's
    /// existence, token or settings change, without a sign-in.
    pub async fn offline_saml_provider(&self, slug: &str, name: &str, now: i64) -> app::server::saml::Provider {
        let ws = workspaces::by_slug(&self.state.db, slug).await.expect("workspace");
        let cap = crate::common::operator().admin_of(ws.id);
        let (_, cert) = app::server::saml::sp::generate_key_pair("idp").expect("cert");
        let input = app::server::saml::ProviderInput {
            form: app::model::SamlProviderForm {
                name: name.into(),
                idp_entity_id: format!("https://idp.example.test/{name}"),
                sso_url: "https://idp.example.test/sso".into(),
                cert1: cert,
                ..Default::default()
            },
            ..Default::default()
        };
        app::server::saml::create(&self.state.db, &self.state.config, now, &cap, &input).await.expect("provider")
    }

    /// A workspace `acme` whose admin signed up with a password.
    pub async fn with_workspace() -> Self {
        let app = Self::new().await;
        app.create_workspace("acme", ADMIN_EMAIL).await;
        app
    }

    pub async fn create_workspace(&self, slug: &str, admin_email: &str) {
        let new = workspaces::NewWorkspace {
            slug: slug.into(),
            name: format!("{slug} Inc"),
            admin_email: admin_email.into(),
            admin_name: "Ada Admin".into(),
            admin_password: Some(Password::new_secret(ADMIN_PASSWORD.into()).expect("pw")),
        };
        workspaces::create(&self.state.db, &self.state.hasher, T0, new, &app::server::audit::Actor::operator(), None).await.expect("create workspace");
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        let what = format!("{} {}", req.method(), req.uri());
        // The router answers 503 after 30 s; this guard names the request if even that fails.
        let res = tokio::time::timeout(std::time::Duration::from_secs(60), self.router.clone().oneshot(req))
            .await
            .unwrap_or_else(|_| panic!("{what} did not answer within 60 s"))
            .expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        Reply { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut b = Request::get(path).header(header::ACCEPT, "text/html,application/xhtml+xml");
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::empty()).expect("request")).await
    }

    /// Calls a server function the way the hydrated UI does (fetch, JSON back).
    pub async fn call<S: ServerFn>(&self, args: &[(&str, &str)], cookie: Option<&str>) -> Reply {
        self.call_with(S::PATH, args, cookie, "application/json", Some(ORIGIN)).await
    }

    /// Posts a plain HTML form to a server function, as a browser without JS does.
    pub async fn form<S: ServerFn>(&self, args: &[(&str, &str)], cookie: Option<&str>, referer: &str) -> Reply {
        let body = serde_urlencoded::to_string(args).expect("encode");
        let mut b = Request::post(S::PATH)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "text/html,application/xhtml+xml")
            .header(header::ORIGIN, ORIGIN)
            .header(header::HOST, "gatehouse.test")
            .header(header::REFERER, format!("{ORIGIN}{referer}"));
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::from(body)).expect("request")).await
    }

    pub async fn call_with(&self, path: &str, args: &[(&str, &str)], cookie: Option<&str>, accept: &str, origin: Option<&str>) -> Reply {
        let body = serde_urlencoded::to_string(args).expect("encode");
        let mut b = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, accept)
            .header(header::HOST, "gatehouse.test");
        if let Some(o) = origin {
            b = b.header(header::ORIGIN, o);
        }
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::from(body)).expect("request")).await
    }

    /// Signs in with a password; returns the `name=value` session cookie.
    pub async fn login(&self, slug: &str, email: &str, password: &str) -> String {
        let r = self.call::<app::api::auth::Login>(&[("slug", slug), ("email", email), ("password", password)], None).await;
        assert_eq!(r.status, StatusCode::OK, "login failed: {}", r.body);
        r.cookie().expect("session cookie")
    }

    pub async fn admin_cookie(&self) -> String {
        self.login("acme", ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Invites `email` as `role`, accepts the invite, returns the new member's cookie.
    pub async fn add_member(&self, admin_cookie: &str, email: &str, role: &str) -> String {
        let r = self.call::<app::api::members::InviteMember>(&[("slug", "acme"), ("email", email), ("role", role)], Some(admin_cookie)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
        let link = v["link"].as_str().expect("link");
        let token = link.rsplit('/').next().expect("token");
        let r = self.call::<app::api::invites::AcceptInvite>(&[("token", token), ("full_name", "Bob Member"), ("password", "member password 1")], None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.cookie().expect("cookie after accepting")
    }

    /// In acme, as its admin: a collection `resource`, a group `group` with `email` in it,
    /// and the group's `level` grant on the collection. Returns the resource's and the
    /// group's ids.
    pub async fn granted(&self, admin: &str, resource: &str, group: &str, email: &str, level: &str) -> (i64, i64) {
        use app::api::access::{ChangeGroup, ChangeResource, SetGrant};
        use app::server::entities::{group as groups, resource as resources};
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let ok = |r: Reply| assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        ok(self
            .call::<ChangeResource>(&[("slug", "acme"), ("action", "create"), ("kind", "collection"), ("name", resource), ("description", "")], Some(admin))
            .await);
        let r = resources::Entity::find().filter(resources::Column::Name.eq(resource)).one(&self.state.db).await.expect("db").expect("resource").id;
        ok(self.call::<ChangeGroup>(&[("slug", "acme"), ("action", "create"), ("name", group)], Some(admin)).await);
        let g = groups::Entity::find().filter(groups::Column::Name.eq(group)).one(&self.state.db).await.expect("db").expect("group").id;
        ok(self.call::<ChangeGroup>(&[("slug", "acme"), ("action", "add"), ("id", &g.to_string()), ("email", email)], Some(admin)).await);
        ok(self.call::<SetGrant>(&[("slug", "acme"), ("group_id", &g.to_string()), ("resource_id", &r.to_string()), ("level", level)], Some(admin)).await);
        (r, g)
    }

    pub async fn me_status(&self, cookie: &str) -> StatusCode {
        self.call::<app::api::auth::Me>(&[("slug", "acme")], Some(cookie)).await.status
    }
}

/// An open live-update stream (`GET /w/{slug}/events`), read event by event.
pub struct EventStream {
    body: Body,
    buf: String,
}

impl EventStream {
    /// The next event's name, or `None` if the stream ended or nothing came within 5 s.
    pub async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                if let Some(name) = frame.lines().find_map(|l| l.strip_prefix("event:")) {
                    // A browser ignores an event without data (HTML's SSE processing model).
                    assert!(frame.lines().any(|l| l.strip_prefix("data:").is_some_and(|d| !d.trim().is_empty())), "an event without data: {frame:?}");
                    return Some(name.trim().to_string());
                }
                continue; // a keep-alive comment
            }
            let frame = tokio::time::timeout(std::time::Duration::from_secs(5), self.body.frame()).await.ok()??.ok()?;
            if let Ok(data) = frame.into_data() {
                self.buf.push_str(&String::from_utf8_lossy(&data));
            }
        }
    }
}

impl TestApp {
    /// Opens the live-update stream as the browser's `EventSource` does (`topics` as the
    /// page asks, "" for all). Err: the status.
    pub async fn events(&self, slug: &str, topics: &str, cookie: Option<&str>) -> Result<EventStream, StatusCode> {
        self.state.events.until_listening().await;
        let query = if topics.is_empty() { String::new() } else { format!("?topics={topics}") };
        let mut b = Request::get(format!("/w/{slug}/events{query}")).header(header::ACCEPT, "text/event-stream");
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        let res = self.router.clone().oneshot(b.body(Body::empty()).expect("request")).await.expect("infallible");
        if res.status() != StatusCode::OK {
            return Err(res.status());
        }
        assert_eq!(res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()), Some("text/event-stream"));
        Ok(EventStream { body: res.into_body(), buf: String::new() })
    }
}

/// The operator's capability, for tests that set up as the CLI does (the one place
/// outside the CLI allowed to make it).
#[allow(clippy::disallowed_methods)]
pub fn operator() -> app::server::permissions::OperatorCap {
    app::server::permissions::OperatorCap::cli()
}

/// The wall clock, for tests against real peers (IdPs, other processes) that sign and
/// check with real time; everything else uses the app's clock.
#[allow(clippy::disallowed_methods)]
pub fn wall_clock() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The audit log's actions starting with `prefix`, oldest first.
pub async fn audit_actions(db: &sea_orm::DatabaseConnection, prefix: &str) -> Vec<String> {
    use app::server::entities::audit_log;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    audit_log::Entity::find()
        .filter(audit_log::Column::Action.starts_with(prefix))
        .order_by_asc(audit_log::Column::Id)
        .all(db)
        .await
        .expect("db")
        .into_iter()
        .map(|a| a.action)
        .collect()
}

/// A port nobody listens on now (for a child process to bind).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

/// A child process (a test peer) killed when the test ends, however it ends.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until something accepts connections on `port` (a peer starting up), at most 20 s.
pub async fn wait_for_port(port: u16, what: &str) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{what} didn't start listening on port {port}");
}
