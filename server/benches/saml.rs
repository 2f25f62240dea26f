//! `make bench` (SAML): validating a 5 KB and a 20 KB signed response, side by side with
//! samael's bare signature verification of the same bytes. Three figures per size, one
//! core each: bare verify; our whole stateless ACS pipeline (decode, structure, signature
//! reduction with pinned certificates, parse, every check); and the whole HTTP ACS
//! (router, database: request claim, replay cache, identity, session). Prints; asserts
//! nothing. Responses come from scripts/interop/saml_corpus.py (needs `scripts/setup.sh test`).
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::server::audit::Actor;
use app::server::clock::FixedClock;
use app::server::config::RuntimeConfig;
use app::server::entities::{saml_replay, saml_request};
use app::server::password::Hasher;
use app::server::{crypto::Token, db, domains, methods, saml, workspaces};
use app::web::AppState;
use axum::body::Body;
use axum::http::{header, Request};
use base64::Engine;
use samael::crypto::{CertificateDer, Crypto, CryptoProvider};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use tower::ServiceExt;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(label: &str, mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    let mean = samples.iter().sum::<Duration>().as_secs_f64() / samples.len() as f64;
    println!(
        "  {label:<44} p50 {:>8.1} µs   p99 {:>8.1} µs   {:>7.0} /s per core   (n={})",
        percentile(&samples, 0.5).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        1.0 / mean,
        samples.len()
    );
    mean
}

fn run_for<F: FnMut() -> Duration>(secs: Duration, mut f: F) -> Vec<Duration> {
    let start = Instant::now();
    let mut v = Vec::new();
    while start.elapsed() < secs || v.len() < 50 {
        v.push(f());
    }
    v
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    app::server::saml::acs::init_xml();
    let secs = Duration::from_secs(std::env::var("GATEHOUSE_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(4));
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("gh-bench-saml-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (idp_key, idp_cert) = app::server::saml::sp::generate_key_pair("bench-idp").expect("idp keys");
    std::fs::write(dir.join("idp.key"), &idp_key).expect("write");
    std::fs::write(dir.join("idp.crt"), &idp_cert).expect("write");

    // The bench signs with a real IdP's key on wall-clock time.
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs() as i64;
    let conn = db::connect(&format!("sqlite://{}/bench.db?mode=rwc", dir.display()), 4).await.expect("db");
    db::migrate(&conn).await.expect("migrate");
    let clock = FixedClock::at(now);
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
        clock: Arc::new(clock.clone()),
        hasher: Hasher::new(1).expect("hasher"),
        leptos_options: leptos::config::LeptosOptions::builder().output_name("gatehouse").build(),
        events: app::server::events::Events::new(),
    };
    let new = workspaces::NewWorkspace {
        slug: "acme".into(),
        name: "Acme".into(),
        admin_email: "ada@acme.test".into(),
        admin_name: "Ada".into(),
        admin_password: None,
    };
    let ws = workspaces::create(&st.db, &st.hasher, now, new, &Actor::operator(), None).await.expect("workspace").workspace;
    #[allow(clippy::disallowed_methods)] // the bench sets up as the operator does
    let cap = app::server::permissions::OperatorCap::cli().admin_of(ws.id);
    domains::change(&st.db, now, &cap, &["acme.test".into()], &[]).await.expect("domain");
    let input = saml::ProviderInput {
        form: app::model::SamlProviderForm {
            name: "Bench IdP".into(),
            idp_entity_id: "https://idp.bench.test".into(),
            sso_url: "https://idp.bench.test/sso".into(),
            cert1: idp_cert.clone(),
            ..Default::default()
        },
        ..Default::default()
    };
    let p = saml::create(&st.db, &st.config, now, &cap, &input).await.expect("provider");
    methods::change(&st.db, now, &cap, &st.config, &[saml::method_key(p.public_id())], &[]).await.expect("enable");
    let urls = saml::urls(&st.config, p.public_id());
    let trust = saml::trust(&st.config, &p).expect("trust");
    let router = server::router::app(st.clone());
    let cert_der = CertificateDer::from(app::server::saml::idp_metadata::certificate_facts(&idp_cert).expect("cert").0);
    let request_id = "_bench000000000000000000000000000001";
    let nonce = Token::generate();

    println!("SAML ACS (one core; the response signed once, at Response level, RSA-SHA256)");
    for (label, pad) in [("5 KB", 4_000), ("20 KB", 19_000)] {
        let out = std::process::Command::new(repo.join(".venv/bin/python"))
            .arg(repo.join("scripts/interop/saml_corpus.py"))
            .arg("--idp-key")
            .arg(dir.join("idp.key"))
            .arg("--idp-cert")
            .arg(dir.join("idp.crt"))
            .args(["--idp-entity-id", "https://idp.bench.test", "--sp-entity-id", &urls.entity_id, "--acs-url", &urls.acs])
            .args(["--request-id", request_id, "--now", &now.to_string(), "--only", "expired", "--valid-sign", "response", "--pad-bytes", &pad.to_string()])
            .output()
            .expect("run scripts/interop/saml_corpus.py (scripts/setup.sh test installs its venv)");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let b64 = v["valid"]["saml_response"].as_str().expect("response").to_string();
        let xml = base64::engine::general_purpose::STANDARD.decode(&b64).expect("b64");
        println!("{label} response: {} bytes", xml.len());

        // Interleaved, so the machine's noise hits both sides alike.
        let (mut bare_s, mut whole_s) = (Vec::new(), Vec::new());
        let start = Instant::now();
        while start.elapsed() < secs * 2 || bare_s.len() < 50 {
            let t = Instant::now();
            Crypto::verify_signed_xml(&xml, &cert_der, Some("ID")).expect("bare verify");
            bare_s.push(t.elapsed());
            let t = Instant::now();
            let r = app::server::saml::acs::verify(&b64, &trust, now);
            whole_s.push(t.elapsed());
            assert!(r.result.is_ok(), "{:?}", r.checks.last());
        }
        let bare = report("samael bare signature verify", bare_s);
        let whole = report("whole stateless ACS pipeline", whole_s);
        println!("  ratio whole pipeline / bare verify: {:.2}x (goal <= 1.5x)", whole / bare);
        // Where the pipeline's time goes.
        let text = String::from_utf8(xml.clone()).expect("utf8");
        report(
            "  of which: structure check (libxml2)",
            run_for(secs / 4, || {
                let t = Instant::now();
                app::server::saml::xml::inspect_response(&text).expect("shape");
                t.elapsed()
            }),
        );
        let mut reduced = String::new();
        report(
            "  of which: signature, signed bytes (samael)",
            run_for(secs / 4, || {
                let t = Instant::now();
                reduced =
                    Crypto::reduce_xml_to_signed_with_allowed_algorithms(&text, std::slice::from_ref(&cert_der), samael::crypto::ReduceMode::PreDigest, None)
                        .expect("reduce");
                t.elapsed()
            }),
        );
        report(
            "  of which: parse to structs (quick-xml)",
            run_for(secs / 4, || {
                let t = Instant::now();
                let _: samael::schema::Response = reduced.parse().expect("parse");
                t.elapsed()
            }),
        );

        // Through HTTP and the database; the request row and replay entry are reset
        // (untimed) before each post so the same response can be accepted again.
        let form = serde_urlencoded::to_string([("SAMLResponse", b64.as_str()), ("RelayState", "")]).expect("form");
        let mut samples = Vec::new();
        let start = Instant::now();
        while start.elapsed() < secs || samples.len() < 50 {
            saml_replay::Entity::delete_many().exec(&st.db).await.expect("db");
            saml_request::ActiveModel {
                request_id: Set(request_id.into()),
                provider_id: Set(p.id()),
                relay_state: Set(String::new()),
                test_mode: Set(false),
                expires_at: Set(now + 600),
                initiated_by: Set(None),
                browser_hash: Set(nonce.hash()),
            }
            .insert(&st.db)
            .await
            .expect("request");
            let req = Request::post(format!("/saml/{}/acs", p.public_id()))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::COOKIE, format!("gatehouse_saml_browser={}", nonce.expose()))
                .body(Body::from(form.clone()))
                .expect("request");
            let t = Instant::now();
            let res = router.clone().oneshot(req).await.expect("infallible");
            samples.push(t.elapsed());
            assert_eq!(res.status().as_u16(), 303);
        }
        let http = report("whole HTTP ACS (SQLite, session created)", samples);
        println!("  ratio HTTP ACS / bare verify: {:.2}x", http / bare);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
