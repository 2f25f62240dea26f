//! Domains are proven by DNS: against a real DNS server started by this test binary
//! (scripts/interop/dns_server.py, on dnslib), whose TXT records the tests publish and
//! remove as a domain owner would. Also a resolver that never answers and one that isn't
//! there: clear errors, never a hang.
use app::server::dns::Dns;
use app::server::domains::{self, FAILED, PENDING, VERIFIED};
use axum::http::StatusCode;
use sea_orm::EntityTrait;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::common::{TestApp, ADMIN_EMAIL};

struct DnsServer {
    dns: std::net::SocketAddr,
    http: String,
}

fn server() -> &'static DnsServer {
    static SERVER: OnceLock<DnsServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut child = Command::new(repo.join(".venv/bin/python"))
            .arg(repo.join("scripts/interop/dns_server.py"))
            .args(["--dns-port", "0", "--http-port", "0", "--exit-with-parent"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the DNS test server (run `scripts/setup.sh test` first)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("READY");
        let mut parts = line.split_whitespace();
        assert_eq!(parts.next(), Some("READY"), "DNS server did not start: {line}");
        let dns = parts.next().expect("dns address").parse().expect("socket address");
        let http = parts.next().expect("http base").to_string();
        std::mem::forget(child); // exits with us (--exit-with-parent)
        DnsServer { dns, http }
    })
}

/// Publishes (`Some`) or removes (`None`) the TXT record at `name`.
async fn publish(name: &str, value: Option<&str>) {
    let url = format!("{}/txt?name={name}", server().http);
    let c = reqwest::Client::new();
    let r = match value {
        Some(v) => c.put(url).body(v.to_string()).send().await,
        None => c.delete(url).send().await,
    };
    assert_eq!(r.expect("DNS server API").status().as_u16(), 200);
}

async fn app_with(dns: Dns) -> TestApp {
    let app = TestApp::with_config(|c| c.dns = dns).await;
    app.create_workspace("acme", ADMIN_EMAIL).await;
    app
}

async fn claim(app: &TestApp, slug: &str, domain: &str) -> app::model::ClaimedDomain {
    let ws = app::server::workspaces::by_slug(&app.state.db, slug).await.expect("ws");
    let cap = crate::common::operator().admin_of(ws.id);
    domains::change(&app.state.db, app.state.now(), &cap, &[domain.to_string()], &[]).await.expect("claim");
    domains::claims(&app.state.db, ws.id).await.expect("claims").into_iter().find(|c| c.domain == domain).expect("the claim")
}

async fn check(app: &TestApp, slug: &str, domain: &str) -> app::model::ClaimedDomain {
    let ws = app::server::workspaces::by_slug(&app.state.db, slug).await.expect("ws");
    domains::verify_now(&app.state.db, &app.state.config.dns, app.state.now(), ws.id, domain).await.expect("check")
}

#[tokio::test]
async fn a_claim_is_verified_by_its_txt_record_and_unverified_when_it_goes() {
    let app = app_with(Dns::new(Some(server().dns))).await;
    let c = claim(&app, "acme", "verify-one.test").await;
    assert_eq!(c.status, PENDING);
    let name = domains::record_name("verify-one.test");
    let value = domains::record_value(&c.token);
    let acme = c.workspace_id;

    // Absent, then wrong: still pending, and the admin is told what was found.
    publish(&name, None).await;
    let c = check(&app, "acme", "verify-one.test").await;
    assert_eq!(c.status, PENDING);
    assert!(c.last_error.contains("No TXT record"), "{}", c.last_error);
    publish(&name, Some("gatehouse-verification=someone-elses-token")).await;
    let c = check(&app, "acme", "verify-one.test").await;
    assert_eq!(c.status, PENDING);
    assert!(c.last_error.contains("don't include"), "{}", c.last_error);
    assert!(!domains::claims_email(&app.state.db, acme, "ann@verify-one.test").await.expect("db"), "pending counts for nothing");

    // Right: verified, and now it counts.
    publish(&name, Some(&value)).await;
    let c = check(&app, "acme", "verify-one.test").await;
    assert_eq!((c.status.as_str(), c.last_error.as_str()), (VERIFIED, ""));
    assert!(domains::claims_email(&app.state.db, acme, "ann@verify-one.test").await.expect("db"));

    // Removed: still verified within the grace period, then unverified (by the periodic
    // re-check as much as by hand).
    publish(&name, None).await;
    app.clock.advance(3600);
    let c = check(&app, "acme", "verify-one.test").await;
    assert_eq!(c.status, VERIFIED);
    assert!(c.last_error.contains("No TXT record"), "{}", c.last_error);
    app.clock.advance(domains::LOST_GRACE_SECS);
    let n = domains::recheck_due(&app.state.db, &app.state.config.dns, app.state.now(), 3600).await.expect("recheck");
    assert!(n >= 1);
    let c = domains::claims(&app.state.db, acme).await.expect("claims").into_iter().find(|c| c.domain == "verify-one.test").expect("claim");
    assert_eq!(c.status, FAILED);
    assert!(!domains::claims_email(&app.state.db, acme, "ann@verify-one.test").await.expect("db"));
    let audit = app::server::entities::audit_log::Entity::find().all(&app.state.db).await.expect("db");
    assert!(audit.iter().any(|a| a.action == "domains.status" && a.details.contains(r#""to":"verified""#)));
    assert!(audit.iter().any(|a| a.action == "domains.status" && a.details.contains(r#""to":"failed""#)));
    // Published again, a check verifies it again.
    publish(&name, Some(&value)).await;
    assert_eq!(check(&app, "acme", "verify-one.test").await.status, VERIFIED);
}

#[tokio::test]
async fn an_unproven_claim_fails_after_its_grace_period() {
    let app = app_with(Dns::new(Some(server().dns))).await;
    claim(&app, "acme", "never-proven.test").await;
    app.clock.advance(domains::PENDING_GRACE_SECS - 60);
    assert_eq!(check(&app, "acme", "never-proven.test").await.status, PENDING);
    app.clock.advance(120);
    assert_eq!(check(&app, "acme", "never-proven.test").await.status, FAILED);
}

/// Two workspaces claim one domain: nobody blocks anybody, each proves its own claim with
/// its own token, and one's record never verifies the other.
#[tokio::test]
async fn several_workspaces_prove_the_same_domain_each_with_its_own_record() {
    let app = app_with(Dns::new(Some(server().dns))).await;
    app.create_workspace("beta", "bo@beta.test").await;
    let a = claim(&app, "acme", "shared-co.test").await;
    let b = claim(&app, "beta", "shared-co.test").await;
    assert_ne!(a.token, b.token);
    let name = domains::record_name("shared-co.test");
    publish(&name, Some(&domains::record_value(&a.token))).await;
    assert_eq!(check(&app, "acme", "shared-co.test").await.status, VERIFIED);
    assert_eq!(check(&app, "beta", "shared-co.test").await.status, PENDING, "acme's record doesn't verify beta");
    // The domain owner publishes both (several TXT records at one name).
    let c = reqwest::Client::new();
    let r = c.post(format!("{}/txt?name={name}", server().http)).body(domains::record_value(&b.token)).send().await.expect("add");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(check(&app, "beta", "shared-co.test").await.status, VERIFIED);
    assert_eq!(check(&app, "acme", "shared-co.test").await.status, VERIFIED);
}

/// A resolver that never answers, and one that isn't there: each check ends with a clear
/// error in seconds and changes nothing.
#[tokio::test]
async fn a_silent_or_missing_resolver_is_a_clear_error_not_a_hang() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    let gone = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        s.local_addr().expect("addr")
    }; // closed: nothing listens there now
    for (what, addr) in [("silent", silent_addr), ("gone", gone)] {
        let app = app_with(Dns::new(Some(addr))).await;
        claim(&app, "acme", "resolver-test.test").await;
        let started = Instant::now();
        let c = check(&app, "acme", "resolver-test.test").await;
        assert!(started.elapsed() < Duration::from_secs(15), "{what}: took {:?}", started.elapsed());
        assert_eq!(c.status, PENDING, "{what}");
        assert!(c.last_error.starts_with("The DNS lookup failed"), "{what}: {}", c.last_error);
        // The resolver's own words (its address, its internals) stay in the operator's log.
        assert!(!c.last_error.contains(&addr.to_string()) && !c.last_error.contains(&addr.port().to_string()), "{what}: {}", c.last_error);
    }
    drop(silent);
}

/// The admin's page shows the record to publish and checks it; the operator can vouch for
/// a domain on a network without DNS.
#[tokio::test]
async fn admins_see_the_record_and_check_it_and_the_operator_can_trust() {
    use app::api::settings::{ChangeDomain, CheckDomain};
    let app = app_with(Dns::new(Some(server().dns))).await;
    let admin = app.admin_cookie().await;
    let r = app.form::<ChangeDomain>(&[("slug", "acme"), ("domain", "page-flow.test"), ("add", "true")], Some(&admin), "/w/acme/settings/authentication").await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
    let page = app.get("/w/acme/settings/authentication", Some(&admin)).await;
    assert!(page.body.contains(r#"data-domain="page-flow.test" data-status="pending""#), "{}", page.body);
    let value = page
        .body
        .split(r#"data-testid="record-value""#)
        .nth(1)
        .and_then(|s| s.split("gatehouse-verification=").nth(1))
        .and_then(|s| s.split('<').next())
        .map(|t| format!("gatehouse-verification={t}"))
        .expect("record value");
    publish("_gatehouse-challenge.page-flow.test", Some(&value)).await;
    let r = app.form::<CheckDomain>(&[("slug", "acme"), ("domain", "page-flow.test")], Some(&admin), "/w/acme/settings/authentication").await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.location(), Some("/w/acme/settings/authentication?domains_saved=domain_verified"));
    let page = app.get("/w/acme/settings/authentication", Some(&admin)).await;
    assert!(page.body.contains(r#"data-domain="page-flow.test" data-status="verified""#), "{}", page.body);

    let ws = app::server::workspaces::by_slug(&app.state.db, "acme").await.expect("ws");
    domains::trust(&app.state.db, app.state.now(), &crate::common::operator(), ws.id, "no-dns.test").await.expect("trust");
    assert!(domains::claims_email(&app.state.db, ws.id, "x@no-dns.test").await.expect("db"));
    let last =
        app::server::entities::audit_log::Entity::find().all(&app.state.db).await.expect("db").into_iter().filter(|a| a.action == "domains.trust").count();
    assert_eq!(last, 1);
    // A member can't check anything (the same 404 as a missing page).
    let bob = app.add_member(&admin, "bob@acme.test", "member").await;
    assert_eq!(app.call::<CheckDomain>(&[("slug", "acme"), ("domain", "page-flow.test")], Some(&bob)).await.status, StatusCode::NOT_FOUND);
}

/// One workspace can't grow its list without bound into everyone's re-check time: the
/// 51st claim is refused and nothing of that change is kept; removing still works.
#[tokio::test]
async fn a_workspace_holds_at_most_fifty_claims() {
    let app = app_with(Dns::new(Some(server().dns))).await;
    let ws = app::server::workspaces::by_slug(&app.state.db, "acme").await.expect("ws");
    let cap = crate::common::operator().admin_of(ws.id);
    let fifty: Vec<String> = (0..domains::MAX_CLAIMS_PER_WORKSPACE).map(|i| format!("cap{i}.test")).collect();
    domains::change(&app.state.db, app.state.now(), &cap, &fifty, &[]).await.expect("fifty");
    let more = domains::change(&app.state.db, app.state.now(), &cap, &["one-more.test".to_string(), "cap0.test".to_string()], &[]).await;
    assert!(matches!(&more, Err(app::server::DomainError::Invalid(m)) if m.contains("at most 50")), "{more:?}");
    let now = domains::claims(&app.state.db, ws.id).await.expect("claims");
    assert_eq!(now.len(), 50);
    assert!(!now.iter().any(|c| c.domain == "one-more.test"));
    // Adding one already held is no change; swapping one for another fits.
    domains::change(&app.state.db, app.state.now(), &cap, &["cap1.test".to_string()], &[]).await.expect("already held");
    let swapped = domains::change(&app.state.db, app.state.now(), &cap, &["one-more.test".to_string()], &["cap0.test".to_string()]).await.expect("swap");
    assert_eq!(swapped.len(), 50);
}

/// The periodic re-check takes the claims checked longest ago first. With more claims due
/// than one pass takes, a claim added last used to wait for ever behind the same first
/// 500 (they were taken by id): now the second pass starts with it.
#[tokio::test]
async fn the_recheck_takes_the_least_recently_checked_claims_first() {
    let app = app_with(Dns::new(Some(server().dns))).await;
    let per = domains::MAX_CLAIMS_PER_WORKSPACE;
    let workspaces = (domains::RECHECK_BATCH as usize).div_ceil(per);
    for w in 0..workspaces {
        let slug = format!("busy{w}");
        app.create_workspace(&slug, &format!("admin@{slug}.test")).await;
        let ws = app::server::workspaces::by_slug(&app.state.db, &slug).await.expect("ws");
        let names: Vec<String> = (0..per).map(|i| format!("d{i}.{slug}.test")).collect();
        domains::change(&app.state.db, app.state.now(), &crate::common::operator().admin_of(ws.id), &names, &[]).await.expect("claims");
    }
    let last = claim(&app, "acme", "added-last.test").await;
    let every = 3600;
    let first = domains::recheck_due(&app.state.db, &app.state.config.dns, app.state.now(), every).await.expect("first pass");
    assert_eq!(first, domains::RECHECK_BATCH as usize);
    let seen = |app: &TestApp| {
        let db = app.state.db.clone();
        async move { app::server::entities::workspace_domain::Entity::find_by_id(last.id).one(&db).await.expect("db").expect("claim").checked_at }
    };
    assert_eq!(seen(&app).await, None, "the first pass was full before it");
    app.clock.advance(every);
    domains::recheck_due(&app.state.db, &app.state.config.dns, app.state.now(), every).await.expect("second pass");
    assert_eq!(seen(&app).await, Some(app.state.now()), "checked in the second pass");
}
