//! `make bench` (SCIM): the same HTTP load against Gatehouse and the reference server
//! `scim2-server` (PyPI, from `.venv`), on loopback: user creates, `userName eq` lookups
//! and group member PATCHes, with p50/p99, requests per second and the ratio; then one
//! member added to a 20,000-member group; then the three phases on PostgreSQL with two
//! server processes (skipped when no PostgreSQL answers). Prints figures; asserts nothing.
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::server::audit::Actor;
use app::server::clock::SystemClock;
use app::server::config::RuntimeConfig;
use app::server::entities::{account, group, group_member, membership};
use app::server::password::Hasher;
use app::server::{db, scim, testing};
use app::web::AppState;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{json, Value};

mod shared;

const CLIENTS: usize = 8;

struct Target {
    name: &'static str,
    /// One base URL per server process; client `c` talks to `bases[c % len]`.
    bases: Vec<String>,
    token: String,
}

struct Phase {
    rate: f64,
    p50: Duration,
    p99: Duration,
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted.get(((sorted.len().saturating_sub(1)) as f64 * p).round() as usize).copied().unwrap_or_default()
}

/// Creates, lookups, member PATCHes against one server. Returns the three phases.
async fn load(t: &Target, users: usize) -> [Phase; 3] {
    let (bases, token) = (t.bases.clone(), t.token.clone());
    let base = bases[0].clone();
    let http = reqwest::Client::new();
    // A group to add members to.
    let g_bytes = http
        .post(format!("{base}/Groups"))
        .bearer_auth(&token)
        .header("content-type", "application/scim+json")
        .body(json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": format!("bench-{}", t.name) }).to_string())
        .send()
        .await
        .expect("group")
        .bytes()
        .await
        .expect("group body");
    let g: Value = serde_json::from_slice(&g_bytes).expect("group json");
    let gid = g["id"].as_str().expect("group id").to_string();

    let ids = Arc::new(std::sync::Mutex::new(vec![String::new(); users]));
    let created = timed_with_auth(
        &bases,
        &token,
        users,
        |i| {
            let email = format!("user{i}@bench.test");
            (
                reqwest::Method::POST,
                "/Users".to_string(),
                Some(json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": email,
                    "name": { "givenName": "Bench", "familyName": format!("User {i}") },
                    "emails": [{ "primary": true, "type": "work", "value": email }],
                    "active": true,
                })),
            )
        },
        Some(ids.clone()),
    )
    .await;
    let lookups =
        timed_with_auth(&bases, &token, users, |i| (reqwest::Method::GET, format!("/Users?filter=userName%20eq%20%22USER{i}%40bench.test%22"), None), None)
            .await;
    let ids_now = ids.lock().map(|v| v.clone()).unwrap_or_default();
    let gid2 = gid.clone();
    let patches = timed_with_auth(&bases, &token, users, move |i| {
        (
            reqwest::Method::PATCH,
            format!("/Groups/{gid2}"),
            Some(json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{ "op": "add", "path": "members", "value": [{ "value": ids_now[i] }] }] })),
        )
    }, None)
    .await;
    [created, lookups, patches]
}

/// Runs `n` requests from `CLIENTS` keep-alive clients with the bearer token (`make(i)`
/// builds request `i`), optionally collecting the ids of what they create.
async fn timed_with_auth<F>(bases: &[String], token: &str, n: usize, make: F, ids: Option<Arc<std::sync::Mutex<Vec<String>>>>) -> Phase
where
    F: Fn(usize) -> (reqwest::Method, String, Option<Value>) + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (make, next, ids, base, token) = (make.clone(), next.clone(), ids.clone(), bases[c % bases.len()].clone(), token.to_string());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut times = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let (method, path, body) = make(i);
                let mut req = http.request(method, format!("{base}{path}")).bearer_auth(&token).header("content-type", "application/scim+json");
                if let Some(b) = body {
                    req = req.body(b.to_string());
                }
                let t = Instant::now();
                let res = req.send().await.expect("request");
                let status = res.status();
                let bytes = res.bytes().await.unwrap_or_default();
                times.push(t.elapsed());
                assert!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&bytes));
                if let Some(ids) = &ids {
                    if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                        if let (Some(id), Ok(mut list)) = (v["id"].as_str(), ids.lock()) {
                            list[i] = id.to_string();
                        }
                    }
                }
            }
            times
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client"));
    }
    let elapsed = start.elapsed();
    all.sort();
    Phase { rate: n as f64 / elapsed.as_secs_f64(), p50: pct(&all, 0.5), p99: pct(&all, 0.99) }
}

/// A migrated SQLite file in `dir` with the server's settings, and the state around it.
async fn state(dir: &std::path::Path, file: &str, public_url: String) -> AppState {
    state_at(&format!("sqlite://{}/{file}?mode=rwc", dir.display()), public_url).await
}

/// A migrated database at `url` (SQLite or PostgreSQL) with the server's settings.
async fn state_at(url: &str, public_url: String) -> AppState {
    let conn = db::connect(url, 10).await.expect("db");
    db::migrate(&conn).await.expect("migrate");
    AppState {
        scim_ledger: app::server::scim::ledger::Ledger::start(conn.clone()),
        oidc_discovery: Default::default(),
        db: conn,
        config: Arc::new(RuntimeConfig { public_url, login_attempts_per_window: 5, scim_requests_per_minute: i64::MAX / 8, ..Default::default() }),
        clock: Arc::new(SystemClock),
        hasher: Hasher::new(1).expect("hasher"),
        leptos_options: leptos::config::LeptosOptions::builder().output_name("gatehouse").build(),
        events: app::server::events::Events::new(),
    }
}

/// Workspace `acme` with a SAML provider whose provisioning is on: (workspace id, the
/// provider, its Provider Token).
async fn provisioned_workspace(st: &AppState) -> (i64, app::server::saml::Provider, String) {
    let now = st.now();
    let ws = testing::workspace("acme").admin("ada@acme.test").create(&st.db, &st.hasher, now).await.expect("workspace");
    let p = testing::provider(&st.db, &st.config, now, &ws.cap, "Bench IdP").await.expect("provider");
    let token = testing::scim_client(&st.db, &st.config, now, &ws.cap, &p).await.expect("scim");
    (ws.workspace.id, p, token)
}

async fn gatehouse(dir: &std::path::Path) -> (Target, AppState, i64) {
    app::server::saml::acs::init_xml();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let st = state(dir, "scim.db", format!("http://{addr}")).await;
    let (ws, _, token) = provisioned_workspace(&st).await;
    let router = server::router::app(st.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>()).await;
    });
    (Target { name: "gatehouse", bases: vec![format!("http://{addr}/scim/v2")], token }, st, ws)
}

/// The physical limit for the same work: the rows a SCIM create, `userName eq` lookup and
/// group member add write or read, in the same transactions (the change; then the
/// request's budget, daily count and activity line), by one task straight through the
/// domain's row helpers on a fresh file with the same settings. No HTTP, JSON,
/// authentication, SCIM parsing or concurrency.
async fn bare(st: &AppState, users: usize) -> [Phase; 3] {
    use app::server::testing::{account_by_email, membership_of, rows};
    use app::server::{audit, stats};
    let (ws, p, _) = provisioned_workspace(st).await;
    let (db, now, actor) = (&st.db, st.now(), Actor::operator());
    let pid = p.id();
    let g = rows::insert_group(db, now, ws, "Bare", Some(pid)).await.expect("group");
    let bookkeeping = |what: &'static str| async move {
        let txn = db::write(db).await.expect("begin");
        app::server::ratelimit::hit(&txn, "scim:token:bare", now, 60).await.expect("budget");
        stats::bump(&txn, ws, now, "scim:ok").await.expect("count");
        let a = scim::Activity {
            method: "POST".into(),
            path: "/scim/v2/Users".into(),
            operation: what.into(),
            target: "bare".into(),
            status: 200,
            outcome: "ok".into(),
            duration_us: 0,
        };
        scim::record_activity(&txn, now, pid, &a).await.expect("activity");
        txn.commit().await.expect("commit");
    };
    let mut phases = Vec::new();
    let mut memberships = Vec::new();
    for phase in 0..3 {
        let mut times = Vec::new();
        let start = Instant::now();
        for i in 0..users {
            let email = format!("user{i}@bare.test");
            let t = Instant::now();
            match phase {
                0 => {
                    let txn = db::write(db).await.expect("begin");
                    let a = rows::find_or_create_account(&txn, now, ws, &email, &format!("Bench User {i}")).await.expect("account");
                    let m = rows::add_membership(&txn, now, ws, a.id, app::model::Role::Member).await.expect("membership");
                    audit::record(&txn, now, Some(ws), &actor, "scim.user.create", &email, json!({})).await.expect("audit");
                    txn.commit().await.expect("commit");
                    memberships.push(m.id);
                }
                1 => {
                    let a = account_by_email(db, ws, &email).await.expect("read").expect("account");
                    membership_of(db, ws, a.id).await.expect("read").expect("membership");
                }
                _ => {
                    let txn = db::write(db).await.expect("begin");
                    group_member::ActiveModel { group_id: Set(g.id), membership_id: Set(memberships[i]), created_at: Set(now) }
                        .insert(&txn)
                        .await
                        .expect("member");
                    audit::record(&txn, now, Some(ws), &actor, "scim.group.member.add", "Bare", json!({})).await.expect("audit");
                    txn.commit().await.expect("commit");
                }
            }
            bookkeeping("bare").await;
            times.push(t.elapsed());
        }
        let elapsed = start.elapsed();
        times.sort();
        phases.push(Phase { rate: users as f64 / elapsed.as_secs_f64(), p50: pct(&times, 0.5), p99: pct(&times, 0.99) });
    }
    let [c, l, m] = <[Phase; 3]>::try_from(phases).unwrap_or_else(|_| unreachable!());
    [c, l, m]
}

fn reference(port: u16) -> Option<(Target, Child)> {
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin = repo.join(".venv/bin/scim2-server");
    let child = Command::new(&bin)
        .args(["--hostname", "127.0.0.1", "--port", &port.to_string(), "--bearer-token", "bench-token"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some((Target { name: "scim2-server", bases: vec![format!("http://127.0.0.1:{port}/v2")], token: "bench-token".into() }, child));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Puts `n` members straight into the database and one group holding them all.
async fn big_group(st: &AppState, ws: i64, provider_id: i64, n: usize) -> (i64, Vec<i64>) {
    let now = st.now();
    let g = group::ActiveModel {
        workspace_id: Set(ws),
        name: Set("All Hands".into()),
        name_normalized: Set("all hands".into()),
        is_everyone: Set(false),
        managed_by_provider_id: Set(Some(provider_id)),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    }
    .insert(&st.db)
    .await
    .expect("group");
    let mut extra = Vec::new();
    for chunk in 0..(n + 50).div_ceil(500) {
        let accounts: Vec<account::ActiveModel> = (chunk * 500..((chunk + 1) * 500).min(n + 50))
            .map(|i| account::ActiveModel {
                workspace_id: Set(ws),
                email: Set(format!("big{i}@bench.test")),
                email_normalized: Set(format!("big{i}@bench.test")),
                full_name: Set(format!("Big {i}")),
                given_name: Set(String::new()),
                family_name: Set(String::new()),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            })
            .collect();
        let emails: Vec<String> = (chunk * 500..((chunk + 1) * 500).min(n + 50)).map(|i| format!("big{i}@bench.test")).collect();
        account::Entity::insert_many(accounts).exec(&st.db).await.expect("accounts");
        let ids: Vec<i64> =
            account::Entity::find().filter(account::Column::EmailNormalized.is_in(emails)).all(&st.db).await.expect("ids").into_iter().map(|a| a.id).collect();
        let ms: Vec<membership::ActiveModel> = ids
            .into_iter()
            .map(|account_id| membership::ActiveModel {
                workspace_id: Set(ws),
                account_id: Set(account_id),
                role: Set(app::model::Role::Member),
                status: Set(app::model::Status::Active),
                managed_by_provider_id: Set(Some(provider_id)),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            })
            .collect();
        membership::Entity::insert_many(ms).exec(&st.db).await.expect("memberships");
    }
    let all: Vec<membership::Model> = membership::Entity::find().all(&st.db).await.expect("all");
    let big: Vec<i64> = all.iter().filter(|m| m.managed_by_provider_id == Some(provider_id)).map(|m| m.id).collect();
    let (inside, outside) = big.split_at(big.len().saturating_sub(50));
    for chunk in inside.chunks(500) {
        let rows: Vec<group_member::ActiveModel> =
            chunk.iter().map(|m| group_member::ActiveModel { group_id: Set(g.id), membership_id: Set(*m), created_at: Set(now) }).collect();
        group_member::Entity::insert_many(rows).exec(&st.db).await.expect("members");
    }
    extra.extend_from_slice(outside);
    (g.id, extra)
}

fn show(name: &str, p: &Phase) -> String {
    format!("{name:<12} {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms", p.rate, p.p50.as_secs_f64() * 1e3, p.p99.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() {
    let users: usize = std::env::var("GATEHOUSE_BENCH_SCIM_USERS").ok().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let dir = std::env::temp_dir().join(format!("gatehouse-bench-scim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    println!("# SCIM benchmark ({cores} cores, loopback HTTP, {CLIENTS} keep-alive clients, {users} users per phase, SQLite)");
    println!("# each phase: Gatehouse; the same rows written or read by one task without HTTP (the limit); scim2-server (the reference)");
    let (ours, st, ws) = gatehouse(&dir).await;
    let mine = load(&ours, users).await;
    let theirs = match reference(18_000 + (std::process::id() % 1000) as u16) {
        Some((t, mut child)) => {
            let r = load(&t, users).await;
            let _ = child.kill();
            Some(r)
        }
        None => {
            println!("(scim2-server not found in .venv: run `scripts/setup.sh test` for the comparison)");
            None
        }
    };
    let limit = bare(&state(&dir, "bare.db", "http://127.0.0.1:1".into()).await, users).await;
    for (i, name) in ["creates", "lookups", "member adds"].iter().enumerate() {
        println!("{}", show(name, &mine[i]));
        println!("  same rows, one task, no HTTP {}  => Gatehouse at {:.0}% of it", show("", &limit[i]).trim_start(), 100.0 * mine[i].rate / limit[i].rate);
        if let Some(r) = &theirs {
            println!("  scim2-server {}  => Gatehouse {:.1}x the throughput (goal >= 20x)", show("", &r[i]).trim_start(), mine[i].rate / r[i].rate);
        }
    }

    // One member added to a group of 20,000: work in proportion to the change.
    let provider = app::server::entities::saml_provider::Entity::find().one(&st.db).await.expect("db").expect("provider");
    let (gid, extra) = big_group(&st, ws, provider.id, 20_000).await;
    let http = reqwest::Client::new();
    let mut times = Vec::new();
    for m in &extra {
        let t = Instant::now();
        let res = http
            .patch(format!("{}/Groups/{gid}", ours.bases[0]))
            .bearer_auth(&ours.token)
            .header("content-type", "application/scim+json")
            .body(json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{ "op": "add", "path": "members", "value": [{ "value": m.to_string() }] }] }).to_string())
            .send()
            .await
            .expect("patch");
        times.push(t.elapsed());
        assert_eq!(res.status().as_u16(), 204);
    }
    times.sort();
    println!(
        "add 1 member to a 20,000-member group: p50 {:.2} ms, p99 {:.2} ms over {} adds (goal <= 20 ms)",
        pct(&times, 0.5).as_secs_f64() * 1e3,
        pct(&times, 0.99).as_secs_f64() * 1e3,
        times.len()
    );
    let _ = std::fs::remove_dir_all(&dir);

    postgres(users).await;
}

/// The same three phases on PostgreSQL: two `gatehouse serve` processes on one database,
/// the clients split between them, next to the same rows written by one task on a second
/// fresh database of the same server. Skipped, with the reason, when no server answers.
async fn postgres(users: usize) {
    let admin_url = std::env::var("GATEHOUSE_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("GATEHOUSE_SOAK_POSTGRES_URL"))
        .unwrap_or_else(|_| shared::LOCAL_POSTGRES.into());
    let names = [format!("gh_bench_scim_{}", std::process::id()), format!("gh_bench_scim_bare_{}", std::process::id())];
    let (url, admin) = match shared::fresh_database(&admin_url, &names[0]).await {
        Ok(made) => made,
        Err(e) => {
            println!("# PostgreSQL: skipped ({e}); set GATEHOUSE_BENCH_POSTGRES_URL or run scripts/bench.sh, which starts the local cluster");
            return;
        }
    };
    let (pa, pb) = (shared::free_port(), shared::free_port());
    let public = format!("http://127.0.0.1:{pa}");
    let st = state_at(&url, public.clone()).await;
    let (_, _, token) = provisioned_workspace(&st).await;
    let unlimited = [("GATEHOUSE_SCIM_REQUESTS_PER_MINUTE", "1000000000")];
    let procs = [shared::serve(&url, pa, &public, &unlimited), shared::serve(&url, pb, &public, &unlimited)];
    let http = reqwest::Client::new();
    let bases: Vec<String> = [pa, pb].iter().map(|p| format!("http://127.0.0.1:{p}")).collect();
    for b in &bases {
        shared::ready(&http, b).await;
    }
    println!("# PostgreSQL ({admin_url} server): two gatehouse processes on one database, {CLIENTS} clients split between them; the same rows by one task on another database");
    let mine = load(&Target { name: "gatehouse-pg", bases: bases.iter().map(|b| format!("{b}/scim/v2")).collect(), token }, users).await;
    drop(procs);
    let limit = match shared::fresh_database(&admin_url, &names[1]).await {
        Ok((bare_url, _)) => Some(bare(&state_at(&bare_url, "http://127.0.0.1:1".into()).await, users).await),
        Err(e) => {
            println!("(the one-task comparison was skipped: {e})");
            None
        }
    };
    for (i, name) in ["creates", "lookups", "member adds"].iter().enumerate() {
        println!("{}", show(name, &mine[i]));
        if let Some(l) = &limit {
            println!("  same rows, one task, no HTTP {}  => Gatehouse at {:.0}% of it", show("", &l[i]).trim_start(), 100.0 * mine[i].rate / l[i].rate);
        }
    }
    drop(st);
    for n in &names {
        shared::drop_database(&admin, n).await;
    }
}
