//! `make bench` (soak): two `gatehouse serve` processes on one PostgreSQL database, as
//! behind a load balancer (requests alternate between them). Three workspaces each get 25
//! SCIM requests a second (Entra's rate: creates, lookups, group member adds,
//! deactivations) while 20 password sign-ins a second run, open loop, for
//! `GATEHOUSE_SOAK_SECS` (default 300). Prints 5xx and other failures, p50/p99 per
//! operation, and each process's resident memory after warm-up and at the end.
//!
//! PostgreSQL: `GATEHOUSE_SOAK_POSTGRES_URL` (default `postgres://postgres:postgres@127.0.0.1:5432/postgres`,
//! the server an admin URL points at); the bench creates and drops its own database.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use app::server::password::Hasher;
use app::server::{db, testing};
use serde_json::{json, Value};

mod shared;
use shared::{free_port, serve};

const SCIM_WORKSPACES: usize = 3;
/// Every sign-in of the soak comes from one address: the throttle must not be what it measures.
const LOGIN_LIMIT: &[(&str, &str)] = &[("GATEHOUSE_LOGIN_ATTEMPTS_PER_WINDOW", "1000000")];
const SCIM_PER_SEC: u64 = 25;
const SIGN_INS_PER_SEC: u64 = 20;
const PASSWORD: &str = "soak password 123456";

// A soak runs against real processes on wall-clock time.
#[allow(clippy::disallowed_methods)]
fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<f64>().ok()))
        .unwrap_or(0.0)
        / 1024.0
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted.get(((sorted.len().saturating_sub(1)) as f64 * p).round() as usize).copied().unwrap_or_default()
}

#[derive(Default)]
struct Results {
    times: BTreeMap<&'static str, Vec<Duration>>,
    server_errors: BTreeMap<&'static str, u64>,
    other_failures: BTreeMap<&'static str, u64>,
}

#[tokio::main]
async fn main() {
    let secs: u64 = std::env::var("GATEHOUSE_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    let admin_url = std::env::var("GATEHOUSE_SOAK_POSTGRES_URL").unwrap_or_else(|_| shared::LOCAL_POSTGRES.into());
    let name = format!("gh_soak_{}", std::process::id());
    let (url, admin) = shared::fresh_database(&admin_url, &name).await.expect("PostgreSQL (GATEHOUSE_SOAK_POSTGRES_URL)");

    let (pa, pb) = (free_port(), free_port());
    let public = format!("http://127.0.0.1:{pa}");
    let procs = [serve(&url, pa, &public, LOGIN_LIMIT), serve(&url, pb, &public, LOGIN_LIMIT)];
    let bases = [format!("http://127.0.0.1:{pa}"), format!("http://127.0.0.1:{pb}")];
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).pool_max_idle_per_host(64).build().expect("client");
    for b in &bases {
        shared::ready(&http, b).await;
    }

    // Setup, as the UI would: three SCIM workspaces and one for password sign-ins.
    let conn = db::connect(&url, 2).await.expect("connect");
    let hasher = Hasher::new(1).expect("hasher");
    let cfg = app::server::config::RuntimeConfig {
        public_url: public.clone(),
        login_attempts_per_window: 5,
        scim_requests_per_minute: 6000,
        mailer: None,
        oidc: vec![],
        metrics_token: None,
        ..Default::default()
    };
    let mut tokens = Vec::new();
    for i in 0..SCIM_WORKSPACES {
        let ws = testing::workspace(&format!("tenant{i}")).create(&conn, &hasher, now()).await.expect("workspace");
        let p = testing::provider(&conn, &cfg, now(), &ws.cap, "Entra").await.expect("provider");
        tokens.push(testing::scim_client(&conn, &cfg, now(), &ws.cap, &p).await.expect("scim"));
    }
    testing::workspace("logins").admin("ada@logins.test").password(PASSWORD).create(&conn, &hasher, now()).await.expect("login workspace");
    let login_path = {
        use leptos::server_fn::ServerFn;
        app::api::auth::Login::PATH.to_string()
    };

    let results = Arc::new(Mutex::new(Results::default()));
    let record = {
        let results = results.clone();
        move |op: &'static str, started: Instant, status: Option<u16>| {
            let elapsed = started.elapsed();
            if let Ok(mut r) = results.lock() {
                r.times.entry(op).or_default().push(elapsed);
                match status {
                    Some(s) if s >= 500 => *r.server_errors.entry(op).or_default() += 1,
                    Some(s) if s < 400 => {}
                    _ => *r.other_failures.entry(op).or_default() += 1,
                }
            }
        }
    };

    println!("soak on PostgreSQL, two processes: {SCIM_WORKSPACES} workspaces × {SCIM_PER_SEC} SCIM req/s + {SIGN_INS_PER_SEC} sign-ins/s for {secs} s");
    let started = Instant::now();
    let warm = Duration::from_secs(10.min(secs / 4));
    let mut rss_start: Option<[f64; 2]> = None;
    let mut handles = Vec::new();
    // SCIM: one ticker per workspace; each tick sends one request without waiting for the last.
    for (w, token) in tokens.iter().enumerate() {
        let (http, token, bases, record) = (http.clone(), token.clone(), bases.clone(), record.clone());
        handles.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / SCIM_PER_SEC));
            let users = Arc::new(Mutex::new(Vec::<String>::new()));
            let group = Arc::new(Mutex::new(None::<String>));
            let mut n: u64 = 0;
            let end = Instant::now() + Duration::from_secs(secs);
            while Instant::now() < end {
                tick.tick().await;
                n += 1;
                let base = format!("{}/scim/v2", bases[(n % 2) as usize]);
                let (http, token, users, group, record) = (http.clone(), token.clone(), users.clone(), group.clone(), record.clone());
                tokio::spawn(async move {
                    let send = |method: reqwest::Method, path: String, body: Option<Value>| {
                        let mut b = http.request(method, format!("{base}{path}")).bearer_auth(&token);
                        if let Some(body) = body {
                            b = b.header("content-type", "application/scim+json").body(body.to_string());
                        }
                        b.send()
                    };
                    let t = Instant::now();
                    let g = group.lock().ok().and_then(|g| g.clone());
                    let some_user = users.lock().ok().and_then(|u| if u.is_empty() { None } else { u.get((n as usize * 7919) % u.len()).cloned() });
                    let (op, r) = match (n % 10, g, some_user) {
                        (0, None, _) => ("create group", send(reqwest::Method::POST, "/Groups".into(), Some(json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": format!("Soak {w} {n}") }))).await),
                        (1..=2, Some(g), Some(u)) => ("add member", send(reqwest::Method::PATCH, format!("/Groups/{g}"), Some(json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{ "op": "add", "path": "members", "value": [{ "value": u }] }] }))).await),
                        (3..=5, _, Some(_)) => ("lookup", send(reqwest::Method::GET, format!("/Users?filter=userName%20eq%20%22u{w}-{}%40soak.test%22", n / 2), None).await),
                        (6, _, Some(u)) => ("deactivate", send(reqwest::Method::PATCH, format!("/Users/{u}"), Some(json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{ "op": "replace", "path": "active", "value": n.is_multiple_of(4) }] }))).await),
                        _ => {
                            let email = format!("u{w}-{n}@soak.test");
                            ("create user", send(reqwest::Method::POST, "/Users".into(), Some(json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": email, "name": { "givenName": "Soak", "familyName": format!("{n}") }, "emails": [{ "primary": true, "value": email }], "active": true }))).await)
                        }
                    };
                    match r {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let body = r.text().await.unwrap_or_default();
                            record(op, t, Some(status));
                            if status == 201 {
                                if let Some(id) = serde_json::from_str::<Value>(&body).ok().and_then(|v| v["id"].as_str().map(str::to_string)) {
                                    if op == "create group" {
                                        if let Ok(mut g) = group.lock() {
                                            *g = Some(id);
                                        }
                                    } else if let Ok(mut u) = users.lock() {
                                        u.push(id);
                                    }
                                }
                            }
                        }
                        Err(_) => record(op, t, None),
                    }
                });
            }
        }));
    }
    // Password sign-ins.
    {
        let (http, bases, record, login_path) = (http.clone(), bases.clone(), record.clone(), login_path.clone());
        let public = public.clone();
        handles.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / SIGN_INS_PER_SEC));
            let mut n: u64 = 0;
            let end = Instant::now() + Duration::from_secs(secs);
            while Instant::now() < end {
                tick.tick().await;
                n += 1;
                let url = format!("{}{login_path}", bases[(n % 2) as usize]);
                let (http, record, public) = (http.clone(), record.clone(), public.clone());
                tokio::spawn(async move {
                    let t = Instant::now();
                    let host = public.split_once("://").map(|(_, h)| h.to_string()).unwrap_or_default();
                    let r = http
                        .post(url)
                        .header("origin", public)
                        .header("host", host)
                        .header("accept", "application/json")
                        .form(&[("slug", "logins"), ("email", "ada@logins.test"), ("password", PASSWORD)])
                        .send()
                        .await;
                    match r {
                        Ok(r) => record("password sign-in", t, Some(r.status().as_u16())),
                        Err(_) => record("password sign-in", t, None),
                    }
                });
            }
        }));
    }
    tokio::time::sleep(warm).await;
    rss_start.get_or_insert([rss_mib(procs[0].0.id()), rss_mib(procs[1].0.id())]);
    for h in handles {
        let _ = h.await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // the last requests answer
    let rss_end = [rss_mib(procs[0].0.id()), rss_mib(procs[1].0.id())];
    let elapsed = started.elapsed().as_secs_f64();

    // Everything is joined: take the results out, so no guard is held across an await.
    let r = std::mem::take(&mut *results.lock().expect("results"));
    let total: usize = r.times.values().map(Vec::len).sum();
    let server_errors: u64 = r.server_errors.values().sum();
    println!(
        "  {total} requests in {elapsed:.0} s ({:.1}/s); 5xx: {server_errors}; other failures (4xx, connection): {:?}",
        total as f64 / elapsed,
        r.other_failures
    );
    for (op, times) in &r.times {
        let mut t = times.clone();
        t.sort();
        println!(
            "  {op:<17} {:>6} requests  p50 {:>7.2} ms  p99 {:>7.2} ms",
            t.len(),
            pct(&t, 0.5).as_secs_f64() * 1000.0,
            pct(&t, 0.99).as_secs_f64() * 1000.0
        );
    }
    let start = rss_start.unwrap_or_default();
    for i in 0..2 {
        let growth = if start[i] > 0.0 { (rss_end[i] - start[i]) / start[i] * 100.0 } else { 0.0 };
        println!(
            "  process {}: RSS {:.1} MiB after {} s warm-up → {:.1} MiB at the end ({growth:+.1}%; goal < 10%)",
            ["A", "B"][i],
            start[i],
            warm.as_secs(),
            rss_end[i]
        );
    }
    drop(procs);
    drop(conn);
    shared::drop_database(&admin, &name).await;
}
