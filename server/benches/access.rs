//! `make bench` (access): the per-request access check on a large workspace — 100,000
//! accounts, 10,000 groups, 100,000 resources, each member in 0–50 groups (plus
//! Everyone), each resource granted to 1–3 groups — and the server-rendered Members page
//! of a 10,000-member workspace, page by page. Prints p50/p99; asserts nothing.
//!
//! SQLite file by default; `GATEHOUSE_BENCH_DATABASE_URL=postgres://…` runs it on
//! PostgreSQL (the database must be empty or absent; it is migrated here).
//! `GATEHOUSE_BENCH_SCALE=0.1` shrinks every count (a quick run).
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::server::access;
use app::server::audit::Actor;
use app::server::clock::SystemClock;
use app::server::config::RuntimeConfig;
use app::server::password::Hasher;
use app::server::permissions::Viewer;
use app::server::{db, sessions, workspaces};
use app::web::AppState;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tower::ServiceExt;

const T0: i64 = 1_790_000_000;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted.get(((sorted.len().saturating_sub(1)) as f64 * p).round() as usize).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// Inserts `rows` (already-formatted `(…)` tuples) into `table` in one transaction, 500 per
/// statement. The values are generated here, never user input.
async fn bulk(db: &DatabaseConnection, table: &str, cols: &str, rows: impl Iterator<Item = String>) {
    let txn = db::write(db).await.expect("txn");
    let mut batch = Vec::with_capacity(500);
    let flush = |batch: &mut Vec<String>| {
        let sql = format!("INSERT INTO {table} ({cols}) VALUES {}", batch.join(","));
        batch.clear();
        sql
    };
    for r in rows {
        batch.push(r);
        if batch.len() == 500 {
            txn.execute_unprepared(&flush(&mut batch)).await.expect("insert");
        }
    }
    if !batch.is_empty() {
        txn.execute_unprepared(&flush(&mut batch)).await.expect("insert");
    }
    txn.commit().await.expect("commit");
}

async fn ids(db: &DatabaseConnection, sql: &str) -> Vec<i64> {
    use sea_orm::{FromQueryResult, Statement};
    #[derive(FromQueryResult)]
    struct Id {
        id: i64,
    }
    Id::find_by_statement(Statement::from_string(db.get_database_backend(), sql.to_string())).all(db).await.expect("ids").into_iter().map(|r| r.id).collect()
}

async fn workspace(st: &AppState, slug: &str) -> (i64, i64) {
    let new = workspaces::NewWorkspace {
        slug: slug.into(),
        name: slug.into(),
        admin_email: format!("admin@{slug}.test"),
        admin_name: "Admin".into(),
        admin_password: None,
    };
    let c = workspaces::create(&st.db, &st.hasher, T0, new, &Actor::operator(), None).await.expect("workspace");
    let everyone = app::server::testing::everyone_group(&st.db, c.workspace.id).await.expect("everyone").id;
    (c.workspace.id, everyone)
}

#[tokio::main]
async fn main() {
    app::server::saml::acs::init_xml();
    let scale: f64 = std::env::var("GATEHOUSE_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let n = |x: usize| ((x as f64 * scale) as usize).max(10);
    let (accounts, groups, resources, team) = (n(100_000), n(10_000), n(100_000), n(10_000));
    let dir = tempfile_dir();
    let url = std::env::var("GATEHOUSE_BENCH_DATABASE_URL").unwrap_or_else(|_| format!("sqlite://{}/access.db?mode=rwc", dir.display()));
    let conn = db::connect(&url, 10).await.expect("db");
    db::migrate(&conn).await.expect("migrate");
    let st = AppState {
        scim_ledger: app::server::scim::ledger::Ledger::start(conn.clone()),
        oidc_discovery: Default::default(),
        db: conn,
        config: Arc::new(RuntimeConfig {
            public_url: "http://bench.test".into(),
            login_attempts_per_window: 5,
            scim_requests_per_minute: 6000,
            mailer: None,
            oidc: vec![],
            metrics_token: None,
            ..Default::default()
        }),
        clock: Arc::new(SystemClock),
        hasher: Hasher::new(1).expect("hasher"),
        leptos_options: leptos::config::LeptosOptions::builder().output_name("gatehouse").build(),
        events: app::server::events::Events::new(),
    };
    let backend = if url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);

    // Seed.
    let started = Instant::now();
    let (ws, everyone) = workspace(&st, "big").await;
    bulk(
        &st.db,
        "accounts",
        "workspace_id, email, email_normalized, full_name, given_name, family_name, created_at, updated_at",
        (0..accounts).map(|i| format!("({ws}, 'user{i}@big.test', 'user{i}@big.test', 'User {i:06}', 'User', '{i:06}', {T0}, {T0})")),
    )
    .await;
    let account_ids = ids(&st.db, "SELECT id FROM accounts WHERE email_normalized LIKE 'user%@big.test' ORDER BY id").await;
    bulk(
        &st.db,
        "memberships",
        "workspace_id, account_id, role, status, created_at, updated_at",
        account_ids.iter().map(|a| format!("({ws}, {a}, 'member', 'active', {T0}, {T0})")),
    )
    .await;
    let members = ids(&st.db, &format!("SELECT id FROM memberships WHERE workspace_id = {ws} AND role = 'member' ORDER BY id")).await;
    bulk(
        &st.db,
        "groups",
        "workspace_id, name, name_normalized, is_everyone, created_at, updated_at",
        (0..groups).map(|i| format!("({ws}, 'Group {i}', 'group {i}', false, {T0}, {T0})")),
    )
    .await;
    let group_ids = ids(&st.db, &format!("SELECT id FROM groups WHERE workspace_id = {ws} AND is_everyone = false ORDER BY id")).await;
    let mut memberships_rows = 0usize;
    let mut gm = Vec::new();
    for m in &members {
        gm.push(format!("({everyone}, {m}, {T0})"));
        let k = rng.gen_range(0..=50);
        let mut chosen = std::collections::BTreeSet::new();
        while chosen.len() < k {
            chosen.insert(group_ids[rng.gen_range(0..group_ids.len())]);
        }
        for g in chosen {
            gm.push(format!("({g}, {m}, {T0})"));
        }
    }
    memberships_rows += gm.len();
    bulk(&st.db, "group_members", "group_id, membership_id, created_at", gm.into_iter()).await;
    bulk(
        &st.db,
        "resources",
        "workspace_id, kind, name, description, created_at, updated_at",
        (0..resources).map(|i| {
            let kind = if i % 4 == 0 { "datasource" } else { "collection" };
            format!("({ws}, '{kind}', 'Resource {i}', '', {T0}, {T0})")
        }),
    )
    .await;
    let resource_ids = ids(&st.db, &format!("SELECT id FROM resources WHERE workspace_id = {ws} ORDER BY id")).await;
    let mut grants = Vec::new();
    for r in &resource_ids {
        let mut gs = std::collections::BTreeSet::new();
        for _ in 0..rng.gen_range(1..=3) {
            gs.insert(group_ids[rng.gen_range(0..group_ids.len())]);
        }
        for g in gs {
            grants.push(format!("({g}, {r}, '{}', {T0})", if rng.gen_bool(0.3) { "edit" } else { "view" }));
        }
    }
    let grant_rows = grants.len();
    bulk(&st.db, "grants", "group_id, resource_id, level, created_at", grants.into_iter()).await;
    // Fresh statistics, as a long-lived database has them.
    st.db.execute_unprepared("ANALYZE").await.expect("analyze");
    println!(
        "access bench on {backend}: {accounts} accounts, {groups} groups, {resources} resources, {memberships_rows} group memberships, {grant_rows} grants (seeded in {:.1} s)",
        started.elapsed().as_secs_f64()
    );

    // The access check: one resource for one member, as every detail request does it.
    let viewer = |membership_id: i64| Viewer {
        session_id: 0,
        account_id: 0,
        membership_id,
        workspace_id: ws,
        workspace_slug: "big".into(),
        workspace_name: "big".into(),
        role: app::model::Role::Member,
        email: String::new(),
        full_name: String::new(),
        ip: None,
    };
    let checks = 20_000;
    let mut times = Vec::with_capacity(checks);
    let mut granted = 0;
    for _ in 0..checks {
        let v = viewer(members[rng.gen_range(0..members.len())]);
        let r = resource_ids[rng.gen_range(0..resource_ids.len())];
        let t = Instant::now();
        if access::resource_for(&st.db, &v, r).await.expect("check").is_some() {
            granted += 1;
        }
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "  access check (resource_for, database included): {checks} random member × resource pairs, {granted} granted: p50 {}, p99 {}  (goal p99 ≤ 1 ms)",
        ms(pct(&times, 0.5)),
        ms(pct(&times, 0.99))
    );
    // Random pairs are mostly refusals; the same check on pairs that are granted.
    let pairs = {
        use sea_orm::{FromQueryResult, Statement};
        #[derive(FromQueryResult)]
        struct Pair {
            m: i64,
            r: i64,
        }
        let sql =
            "SELECT gm.membership_id AS m, gr.resource_id AS r FROM grants gr JOIN group_members gm ON gm.group_id = gr.group_id ORDER BY random() LIMIT 5000";
        Pair::find_by_statement(Statement::from_string(st.db.get_database_backend(), sql.to_string())).all(&st.db).await.expect("pairs")
    };
    let mut times = Vec::with_capacity(pairs.len());
    for p in &pairs {
        let v = viewer(p.m);
        let t = Instant::now();
        let found = access::resource_for(&st.db, &v, p.r).await.expect("check");
        times.push(t.elapsed());
        assert!(found.is_some(), "a granted pair is reached");
    }
    times.sort();
    println!("  access check on {} granted pairs: p50 {}, p99 {}", pairs.len(), ms(pct(&times, 0.5)), ms(pct(&times, 0.99)));

    // The member's home list: everything their groups reach.
    let mut times = Vec::new();
    let mut reached = 0usize;
    for _ in 0..500 {
        let v = viewer(members[rng.gen_range(0..members.len())]);
        let t = Instant::now();
        reached += access::reachable(&st.db, &v).await.expect("reachable").len();
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "  home list (reachable): 500 random members, {:.0} resources each on average: p50 {}, p99 {}",
        reached as f64 / 500.0,
        ms(pct(&times, 0.5)),
        ms(pct(&times, 0.99))
    );

    // The Members page of a 10,000-member workspace, rendered by the server.
    // Accounts belong to one workspace (identity per workspace): the team's own.
    let (team_ws, _) = workspace(&st, "team").await;
    bulk(
        &st.db,
        "accounts",
        "workspace_id, email, email_normalized, full_name, given_name, family_name, created_at, updated_at",
        (0..team).map(|i| format!("({team_ws}, 'member{i}@team.test', 'member{i}@team.test', 'Member {i:06}', 'Member', '{i:06}', {T0}, {T0})")),
    )
    .await;
    let team_accounts =
        ids(&st.db, &format!("SELECT id FROM accounts WHERE workspace_id = {team_ws} AND email_normalized LIKE 'member%@team.test' ORDER BY id")).await;
    bulk(
        &st.db,
        "memberships",
        "workspace_id, account_id, role, status, created_at, updated_at",
        team_accounts.iter().enumerate().map(|(i, a)| {
            let role = if i % 500 == 0 { "admin" } else { "member" };
            format!("({team_ws}, {a}, '{role}', 'active', {T0}, {T0})")
        }),
    )
    .await;
    let admin =
        ids(&st.db, &format!("SELECT account_id AS id FROM memberships WHERE workspace_id = {team_ws} AND role = 'admin' ORDER BY id LIMIT 1")).await[0];
    let now = st.now();
    let token = sessions::create(&st.db, now, admin, team_ws, "password", &Default::default()).await.expect("session");
    let cookie = format!("{}={}", app::web::cookies::cookie_name(false), token.expose());
    let router = server::router::app(st.clone());
    let pages = team.div_ceil(50) as u64;
    let mut times = Vec::new();
    for i in 0..300 {
        let page = if i % 3 == 0 { 1 } else { rng.gen_range(1..=pages) };
        let req = Request::get(format!("/w/team/settings/members?page={page}"))
            .header(header::ACCEPT, "text/html")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .expect("request");
        let t = Instant::now();
        let res = router.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let body = res.into_body().collect().await.expect("body").to_bytes();
        times.push(t.elapsed());
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    }
    times.sort();
    println!(
        "  Members page, server-rendered: {team} members, 50 per page, 300 requests over {pages} pages: p50 {}, p99 {}  (goal p50 ≤ 20 ms on PostgreSQL)",
        ms(pct(&times, 0.5)),
        ms(pct(&times, 0.99))
    );
    // The anchor: the query that picks a page, alone, as members::page runs it (read in
    // order from the sort-key index, migration 14) and as it was before (joining accounts
    // and sorting the whole workspace by name), on the same pages.
    let ph = if st.db.get_database_backend() == sea_orm::DbBackend::Postgres { "$1" } else { "?" };
    let indexed = format!(
        "SELECT m.id AS id FROM memberships m WHERE m.workspace_id = {ph} ORDER BY m.workspace_id, CASE WHEN m.role = 'admin' THEN 0 ELSE 1 END, m.sort_name, m.sort_email, m.id"
    );
    let joined = format!(
        "SELECT m.id AS id FROM memberships m JOIN accounts a ON a.id = m.account_id WHERE m.workspace_id = {ph} ORDER BY CASE WHEN m.role = 'admin' THEN 0 ELSE 1 END, lower(a.full_name), a.email_normalized, m.id"
    );
    let mut firsts = Vec::new();
    for (label, sql) in [("sort-key index (now)", &indexed), ("join and sort (before)", &joined)] {
        let mut times = Vec::new();
        let mut first = Vec::new();
        for i in 0..300 {
            let page = if i % 3 == 0 { 1 } else { rng.gen_range(1..=pages) };
            let stmt =
                sea_orm::Statement::from_sql_and_values(st.db.get_database_backend(), format!("{sql} LIMIT 50 OFFSET {}", (page - 1) * 50), [team_ws.into()]);
            let t = Instant::now();
            let rows = st.db.query_all_raw(stmt).await.expect("page query");
            times.push(t.elapsed());
            if page == 1 && first.is_empty() {
                first = rows.iter().map(|r| r.try_get::<i64>("", "id").expect("id")).collect();
            }
        }
        times.sort();
        println!("    page query alone, {label}: p50 {}, p99 {}", ms(pct(&times, 0.5)), ms(pct(&times, 0.99)));
        firsts.push(first);
    }
    println!("    both queries give the same first page: {}", firsts.windows(2).all(|w| w[0] == w[1]));

    forward_auth(&st, ws, &members, &resource_ids).await;
    admin_pages(&st, &cookie, pages).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `/forward-auth` as a reverse proxy calls it, over real HTTP: 100 concurrent clients
/// (keep-alive connections), each request a random one of 1,000 members' sessions and a
/// random resource of the big workspace. The anchor, in the same run: `/healthz` through
/// the same server and clients (HTTP, routing and middleware, no database).
async fn forward_auth(st: &AppState, ws: i64, members: &[i64], resources: &[i64]) {
    const CLIENTS: usize = 100;
    let secs: u64 = std::env::var("GATEHOUSE_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let mut st = st.clone();
    let mut cfg = (*st.config).clone();
    cfg.forward_auth = app::server::forward_auth::Rules::parse("/app/{workspace}/items/{resource}/**").expect("rules");
    st.config = Arc::new(cfg);
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let now = st.now();
    let mut cookies = Vec::new();
    for _ in 0..1000 {
        let m = members[rng.gen_range(0..members.len())];
        let account = ids(&st.db, &format!("SELECT account_id AS id FROM memberships WHERE id = {m}")).await[0];
        let token = sessions::create(&st.db, now, account, ws, "password", &Default::default()).await.expect("session");
        cookies.push(format!("{}={}", app::web::cookies::cookie_name(false), token.expose()));
    }
    let addr = listen(&st).await;
    let cookies = Arc::new(cookies);
    let resources = Arc::new(resources.to_vec());
    over_http(CLIENTS, secs, "healthz", "  (anchor: the same server without the database)", Arc::new(move |c, _| c.get(format!("http://{addr}/healthz"))))
        .await;
    over_http(
        CLIENTS,
        secs,
        "forward-auth",
        "  (200 granted, 403 not reached)",
        Arc::new(move |c, rng| {
            let r = resources[rng.gen_range(0..resources.len())];
            c.get(format!("http://{addr}/forward-auth"))
                .header("x-original-uri", format!("/app/big/items/{r}/view"))
                .header("x-original-method", "GET")
                .header("cookie", &cookies[rng.gen_range(0..cookies.len())])
        }),
    )
    .await;
}

/// A request one load client makes, given its client and random numbers.
type MakeRequest = Arc<dyn Fn(&reqwest::Client, &mut rand::rngs::StdRng) -> reqwest::RequestBuilder + Send + Sync>;

/// Serves `st` on a real listener; its address.
async fn listen(st: &AppState) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = server::router::app(st.clone());
    tokio::spawn(async move { axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>()).await });
    addr
}

/// `clients` keep-alive clients send `make`'s requests for `secs` seconds; prints the rate,
/// p50, p99 and the statuses under `label`.
async fn over_http(clients: usize, secs: u64, label: &str, note: &str, make: MakeRequest) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().expect("client");
            let mut rng = rand::rngs::StdRng::seed_from_u64(c as u64);
            let mut times = Vec::new();
            let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
            while Instant::now() < deadline {
                let req = make(&client, &mut rng);
                let t = Instant::now();
                let res = req.send().await.expect("request");
                let status = res.status().as_u16();
                let _ = res.bytes().await;
                times.push(t.elapsed());
                *statuses.entry(status).or_default() += 1;
            }
            (times, statuses)
        }));
    }
    let mut times = Vec::new();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for t in tasks {
        let (ts, ss) = t.await.expect("client");
        times.extend(ts);
        for (k, v) in ss {
            *statuses.entry(k).or_default() += v;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    times.sort();
    println!(
        "  {label} over HTTP, {clients} concurrent clients, {secs} s: {:.0} req/s, p50 {}, p99 {}, statuses {statuses:?}{note}",
        times.len() as f64 / elapsed,
        ms(pct(&times, 0.5)),
        ms(pct(&times, 0.99)),
    );
}

/// Server-rendered admin pages as an admin's browsers load them, over real HTTP: 20
/// concurrent clients on each admin page of the 10,000-member workspace in turn (a
/// Members page, Groups, Access, Member Authorization, the Overview, the admin's own
/// sessions, home), next to `/healthz` through the same server and clients.
async fn admin_pages(st: &AppState, cookie: &str, member_pages: u64) {
    const CLIENTS: usize = 20;
    let secs: u64 = std::env::var("GATEHOUSE_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let addr = listen(st).await;
    over_http(CLIENTS, secs, "healthz", "  (anchor: the same server without the database)", Arc::new(move |c, _| c.get(format!("http://{addr}/healthz"))))
        .await;
    // Each page on its own: they differ by what they list (the Groups page lists every
    // group's members, Everyone's 10,000 included).
    let per_page = (secs / 2).max(2);
    let members = format!("/w/team/settings/members?page={}", member_pages / 2);
    for path in [
        members.as_str(),
        "/w/team/settings/groups",
        "/w/team/settings/access",
        "/w/team/settings/authentication",
        "/w/team/settings/overview",
        "/w/team/account",
        "/w/team",
    ] {
        let (cookie, url) = (cookie.to_string(), format!("http://{addr}{path}"));
        over_http(CLIENTS, per_page, path, "", Arc::new(move |c, _| c.get(&url).header("accept", "text/html").header("cookie", &cookie))).await;
    }
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gatehouse-bench-access-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}
