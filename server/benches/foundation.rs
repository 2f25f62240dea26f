//! `make bench` (foundation): password sign-ins per second against the raw Argon2 verify
//! rate, peak RSS under 200 concurrent sign-ins, and session-check latency with 100k
//! sessions. Prints figures; asserts nothing.
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::server::clock::SystemClock;
use app::server::config::RuntimeConfig;
use app::server::password::{Hasher, Password};
use app::server::{crypto::Token, db, sessions, workspaces};
use app::web::AppState;
use argon2::password_hash::PasswordHash;
use axum::body::Body;
use axum::http::{header, Request};
use leptos::server_fn::ServerFn;
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery";

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<f64>().unwrap_or(0.0)))
        .unwrap_or(0.0)
        / 1024.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn state(url: &str) -> AppState {
    let conn = db::connect(url, 10).await.expect("db");
    db::migrate(&conn).await.expect("migrate");
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    AppState {
        scim_ledger: app::server::scim::ledger::Ledger::start(conn.clone()),
        oidc_discovery: Default::default(),
        db: conn,
        config: Arc::new(RuntimeConfig {
            public_url: "http://bench.test".into(),
            login_attempts_per_window: i64::MAX / 8,
            scim_requests_per_minute: i64::MAX / 8,
            mailer: None,
            oidc: vec![],
            metrics_token: None,
            ..Default::default()
        }),
        clock: Arc::new(SystemClock),
        hasher: Hasher::new(cores).expect("hasher"),
        leptos_options: leptos::config::LeptosOptions::builder().output_name("gatehouse").build(),
        events: app::server::events::Events::new(),
    }
}

fn login_request() -> Request<Body> {
    let body = serde_urlencoded::to_string([("slug", "acme"), ("email", "ada@acme.test"), ("password", PASSWORD)]).expect("encode");
    Request::post(app::api::auth::Login::PATH)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .header(header::ORIGIN, "http://bench.test")
        .header(header::HOST, "bench.test")
        .body(Body::from(body))
        .expect("request")
}

/// Raw Argon2id verify rate: one thread per core, each with its memory allocated once
/// (the fastest this CPU verifies; the server does the same plus HTTP and database).
fn raw_verify_rate(phc: &str, cores: usize, run_for: Duration) -> f64 {
    let start = Instant::now();
    let handles: Vec<_> = (0..cores)
        .map(|_| {
            let phc = phc.to_string();
            std::thread::spawn(move || {
                let params = argon2::Params::new(19 * 1024, 2, 1, None).expect("params");
                let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params.clone());
                let parsed = PasswordHash::new(&phc).expect("phc");
                let mut salt = [0u8; 64];
                let salt = parsed.salt.expect("salt").decode_b64(&mut salt).expect("salt").to_vec();
                let expected = parsed.hash.expect("hash");
                let mut memory = vec![argon2::Block::default(); params.block_count()];
                let mut out = [0u8; 32];
                let mut n = 0u64;
                while start.elapsed() < run_for {
                    argon.hash_password_into_with_memory(PASSWORD.as_bytes(), &salt, &mut out, &mut memory).expect("hash");
                    assert_eq!(&out[..], expected.as_bytes());
                    n += 1;
                }
                n
            })
        })
        .collect();
    let n: u64 = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    n as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let run_for = Duration::from_secs(std::env::var("GATEHOUSE_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(8));
    let dir = std::env::temp_dir().join(format!("gatehouse-bench-{}", std::process::id()));
    let url = format!("sqlite://{}/bench.db?mode=rwc", dir.display());
    let st = state(&url).await;
    let new = workspaces::NewWorkspace {
        slug: "acme".into(),
        name: "Acme".into(),
        admin_email: "ada@acme.test".into(),
        admin_name: "Ada".into(),
        admin_password: Some(Password::new_secret(PASSWORD.into()).expect("pw")),
    };
    workspaces::create(&st.db, &st.hasher, st.now(), new, &app::server::audit::Actor::operator(), None).await.expect("workspace");
    println!("# Gatehouse foundation benchmark ({cores} cores, {}s per phase, SQLite)", run_for.as_secs());

    // 1. Raw verify rate, measured before and after the sign-in phase (the mean is the
    //    baseline, so drift in CPU speed doesn't favour either side).
    let phc = st.hasher.hash(&Password::presented(PASSWORD.into()).expect("pw")).await.expect("hash").0;
    let raw_before = raw_verify_rate(&phc, cores, run_for);

    // 2. Full password sign-ins through the HTTP stack (server function, DB, session).
    let router = server::router::app(st.clone());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..(cores * 4) {
        let router = router.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while start.elapsed() < run_for {
                let res = router.clone().oneshot(login_request()).await.expect("infallible");
                assert_eq!(res.status(), 200);
                n += 1;
            }
            n
        }));
    }
    let mut signins = 0;
    for t in tasks {
        signins += t.await.expect("task");
    }
    let rate = signins as f64 / start.elapsed().as_secs_f64();
    let raw_after = raw_verify_rate(&phc, cores, run_for);
    let raw_rate = (raw_before + raw_after) / 2.0;
    println!("argon2id raw verify (m=19456 KiB, t=2, p=1): {raw_before:.1}/s before, {raw_after:.1}/s after");
    println!("password sign-ins through HTTP + SQLite: {rate:.1}/s = {:.1}% of raw verify (goal >= 90%)", 100.0 * rate / raw_rate);

    // 3. Peak RSS while 200 sign-in attempts arrive at once (peak reset first).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = peak_rss_mib();
    let start = Instant::now();
    let burst: Vec<_> = (0..200)
        .map(|_| {
            let router = router.clone();
            tokio::spawn(async move { router.oneshot(login_request()).await.expect("infallible").status() })
        })
        .collect();
    for b in burst {
        assert_eq!(b.await.expect("task"), 200);
    }
    println!("200 concurrent sign-ins: done in {:.2}s, peak RSS {:.1} MiB (just before: {:.1} MiB)", start.elapsed().as_secs_f64(), peak_rss_mib(), rss_before);

    // 4. Session checks with 100k sessions in the table.
    let ws = workspaces::by_slug(&st.db, "acme").await.expect("ws");
    let acct = app::server::testing::account_by_email(&st.db, ws.id, "ada@acme.test").await.expect("db").expect("acct");
    let mut tokens: Vec<Token> = Vec::new();
    let now = st.now();
    use sea_orm::{EntityTrait, Set};
    for chunk in 0..100 {
        let batch: Vec<_> = (0..1000)
            .map(|_| {
                let t = Token::generate();
                let m = app::server::entities::session::ActiveModel {
                    token_hash: Set(t.hash()),
                    account_id: Set(acct.id),
                    workspace_id: Set(ws.id),
                    method: Set("password".into()),
                    created_at: Set(now),
                    last_seen_at: Set(now),
                    ..Default::default()
                };
                if chunk % 10 == 0 {
                    tokens.push(t);
                }
                m
            })
            .collect();
        app::server::entities::session::Entity::insert_many(batch).exec(&st.db).await.expect("insert");
    }
    let mut lat = Vec::new();
    for i in 0..20_000 {
        let t = &tokens[i % tokens.len()];
        let s = Instant::now();
        let v = sessions::resolve(&st.db, now, t, None).await.expect("resolve");
        lat.push(s.elapsed());
        assert!(v.is_some());
    }
    lat.sort();
    println!("session check with 100k sessions: p50 {:?}, p99 {:?} (20000 checks)", percentile(&lat, 0.5), percentile(&lat, 0.99));
    let _ = std::fs::remove_dir_all(&dir);
}
