//! `make bench` (Entra's load): Microsoft states that an app in the Entra gallery must take
//! at least 25 SCIM requests per second per tenant with no 429 in normal operation. Three
//! workspaces, each with its own SCIM client sending Entra's request mix (a `userName eq`
//! lookup before each create, creates, PATCHes of users, group lookups and member adds) at
//! a steady 25 requests per second — an open loop: each request leaves on its tick whether
//! or not the previous one answered — for `GATEHOUSE_BENCH_ENTRA_SECS` seconds (300 by
//! default), against a real listener with the server's default settings (the default SCIM
//! budget of 6,000 requests per token per minute included). Prints, per workspace, the rate
//! reached, p50/p99 and every status that wasn't 2xx; asserts nothing.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::server::audit::Actor;
use app::server::clock::SystemClock;
use app::server::config::RuntimeConfig;
use app::server::password::Hasher;
use app::server::{db, methods, saml, scim, workspaces};
use app::web::AppState;
use serde_json::json;

const RATE_PER_WORKSPACE: u64 = 25;
const WORKSPACES: [&str; 3] = ["contoso", "fabrikam", "northwind"];

/// A workspace with a SAML provider whose provisioning is on; its Provider Token.
async fn provisioned(st: &AppState, slug: &str) -> String {
    let now = st.now();
    let new = workspaces::NewWorkspace {
        slug: slug.into(),
        name: slug.into(),
        admin_email: format!("admin@{slug}.test"),
        admin_name: "Admin".into(),
        admin_password: None,
    };
    let ws = workspaces::create(&st.db, &st.hasher, now, new, &Actor::operator(), None).await.expect("workspace").workspace.id;
    #[allow(clippy::disallowed_methods)] // the bench sets up as the operator does
    let cap = app::server::permissions::OperatorCap::cli().admin_of(ws);
    let (_, cert) = saml::sp::generate_key_pair(slug).expect("cert");
    let input = saml::ProviderInput {
        form: app::model::SamlProviderForm {
            name: "Entra".into(),
            idp_entity_id: format!("https://sts.windows.net/{slug}/"),
            sso_url: "https://login.microsoftonline.com/sso".into(),
            cert1: cert,
            ..Default::default()
        },
        ..Default::default()
    };
    let p = saml::create(&st.db, &st.config, now, &cap, &input).await.expect("provider");
    methods::change(&st.db, now, &cap, &st.config, &[saml::method_key(p.public_id())], &["password".to_string()]).await.expect("methods");
    scim::enable(&st.db, now, &cap, p.public_id(), None).await.expect("enable").expose().to_string()
}

/// The n-th request of Entra's mix for a workspace: method, path, body.
fn request(n: usize, slug: &str, users: &Mutex<Vec<String>>, group: &str) -> (reqwest::Method, String, Option<serde_json::Value>) {
    let user = format!("user{}@{slug}.test", n / 5);
    let known = users.lock().map(|u| u.get(n % u.len().max(1)).cloned()).ok().flatten();
    match (n % 5, known) {
        (0, _) | (_, None) => (reqwest::Method::GET, format!("/Users?filter={}", urlencode(&format!("userName eq \"{user}\""))), None),
        (1, _) => (
            reqwest::Method::POST,
            "/Users".into(),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user, "active": true,
                "name": { "givenName": "Bench", "familyName": format!("User {n}") },
                "emails": [{ "primary": true, "type": "work", "value": user }], "externalId": format!("ext-{n}")
            })),
        ),
        (2, Some(id)) => (
            reqwest::Method::PATCH,
            format!("/Users/{id}"),
            Some(
                json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{ "op": "Replace", "path": "displayName", "value": format!("Renamed {n}") }] }),
            ),
        ),
        (3, Some(_)) => (reqwest::Method::GET, format!("/Groups?filter={}&excludedAttributes=members", urlencode("displayName eq \"Analysts\"")), None),
        (_, Some(id)) => (
            reqwest::Method::PATCH,
            format!("/Groups/{group}"),
            Some(
                json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{ "op": "Add", "path": "members", "value": [{ "value": id }] }] }),
            ),
        ),
    }
}

fn urlencode(s: &str) -> String {
    app::server::saml::sp::urlencoding(s)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted.get(((sorted.len().saturating_sub(1)) as f64 * p).round() as usize).copied().unwrap_or_default()
}

#[tokio::main]
async fn main() {
    let secs: u64 = std::env::var("GATEHOUSE_BENCH_ENTRA_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    let dir = std::env::temp_dir().join(format!("gatehouse-bench-entra-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    app::server::saml::acs::init_xml();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let conn = db::connect(&format!("sqlite://{}/entra.db?mode=rwc", dir.display()), 10).await.expect("db");
    db::migrate(&conn).await.expect("migrate");
    // The server's defaults (the SCIM budget included), as an operator runs it.
    let st = AppState {
        scim_ledger: app::server::scim::ledger::Ledger::start(conn.clone()),
        oidc_discovery: Default::default(),
        db: conn,
        config: Arc::new(RuntimeConfig { public_url: format!("http://{addr}"), ..Default::default() }),
        clock: Arc::new(SystemClock),
        hasher: Hasher::new(1).expect("hasher"),
        leptos_options: leptos::config::LeptosOptions::builder().output_name("gatehouse").build(),
        events: app::server::events::Events::new(),
    };
    let budget = st.config.scim_requests_per_minute;
    let mut tokens = Vec::new();
    for slug in WORKSPACES {
        tokens.push((slug, provisioned(&st, slug).await));
    }
    let router = server::router::app(st.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>()).await;
    });
    let base = format!("http://{addr}/scim/v2");
    println!(
        "# Entra's load ({} cores, {} build): {} workspaces x {RATE_PER_WORKSPACE} SCIM requests/s each for {secs} s, open loop, SQLite, default SCIM budget {budget}/min per token",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
        if cfg!(debug_assertions) { "debug" } else { "release" },
        WORKSPACES.len()
    );
    let http = reqwest::Client::new();
    let mut runs = Vec::new();
    for (slug, token) in tokens {
        let (http, base) = (http.clone(), base.clone());
        runs.push(tokio::spawn(async move {
            let group = http
                .post(format!("{base}/Groups"))
                .bearer_auth(&token)
                .header("content-type", "application/scim+json")
                .body(json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Analysts" }).to_string())
                .send()
                .await
                .expect("group")
                .text()
                .await
                .expect("group body");
            let group = serde_json::from_str::<serde_json::Value>(&group).expect("group json")["id"].as_str().expect("group id").to_string();
            let users = Arc::new(Mutex::new(Vec::<String>::new()));
            let times = Arc::new(Mutex::new(Vec::new()));
            let statuses = Arc::new(Mutex::new(BTreeMap::<u16, usize>::new()));
            let sent = Arc::new(AtomicUsize::new(0));
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE_PER_WORKSPACE));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let start = Instant::now();
            let mut inflight = Vec::new();
            let total = (secs * RATE_PER_WORKSPACE) as usize;
            for n in 0..total {
                tick.tick().await;
                let (method, path, body) = request(n, slug, &users, &group);
                let (http, base, token) = (http.clone(), base.clone(), token.clone());
                let (users, times, statuses, sent) = (users.clone(), times.clone(), statuses.clone(), sent.clone());
                inflight.push(tokio::spawn(async move {
                    let t = Instant::now();
                    let mut req = http.request(method.clone(), format!("{base}{path}")).bearer_auth(&token);
                    if let Some(b) = body {
                        req = req.header("content-type", "application/scim+json").body(b.to_string());
                    }
                    let Ok(res) = req.send().await else {
                        *statuses.lock().expect("statuses").entry(0).or_insert(0) += 1;
                        return;
                    };
                    let status = res.status().as_u16();
                    let text = res.text().await.unwrap_or_default();
                    times.lock().expect("times").push(t.elapsed());
                    sent.fetch_add(1, Ordering::Relaxed);
                    if !(200..300).contains(&status) {
                        *statuses.lock().expect("statuses").entry(status).or_insert(0) += 1;
                    } else if method == reqwest::Method::POST {
                        if let Some(id) = serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| v["id"].as_str().map(str::to_string)) {
                            users.lock().expect("users").push(id);
                        }
                    }
                }));
            }
            for h in inflight {
                let _ = h.await;
            }
            let elapsed = start.elapsed();
            let mut all = times.lock().expect("times").clone();
            all.sort();
            let statuses = statuses.lock().expect("statuses").clone();
            (slug, all.len() as f64 / elapsed.as_secs_f64(), pct(&all, 0.5), pct(&all, 0.99), all.len(), statuses)
        }));
    }
    for r in runs {
        let (slug, rate, p50, p99, n, statuses) = r.await.expect("run");
        let bad: Vec<String> = statuses.iter().map(|(s, c)| format!("{c}x {}", if *s == 0 { "no answer".to_string() } else { s.to_string() })).collect();
        println!(
            "{slug:<10} {n} answers, {rate:.1} req/s, p50 {:.1} ms, p99 {:.1} ms, 429s: {}, not 2xx: {}",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            statuses.get(&429).copied().unwrap_or(0),
            if bad.is_empty() { "none".to_string() } else { bad.join(", ") }
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
