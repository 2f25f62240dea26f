//! Invite mail, received by aiosmtpd (a real SMTP server) into a Maildir.
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use app::api::members::InviteMember;
use axum::http::StatusCode;

use crate::common::*;

struct Sink(Child);
impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn python() -> std::path::PathBuf {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(p.exists(), "{} missing: run `scripts/setup.sh test` (it installs aiosmtpd)", p.display());
    p
}

async fn start_sink(maildir: &std::path::Path) -> (Sink, u16) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr").port()
    };
    // Waited for by `Sink`'s Drop (it kills and reaps the sink).
    #[allow(clippy::zombie_processes)]
    let child = Command::new(python())
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
        .arg(maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start aiosmtpd");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (Sink(child), port);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("aiosmtpd did not start");
}

/// A workspace whose server mails through 127.0.0.1:`port`; returns it and the answer
/// to its admin inviting bob.
async fn invite_with_smtp(port: u16) -> (TestApp, serde_json::Value) {
    let mailer = app::server::mail::Mailer::new(&format!("smtp://127.0.0.1:{port}"), "Gatehouse <noreply@gatehouse.test>").expect("mailer");
    let app = TestApp::with_config(|c| c.mailer = Some(mailer)).await;
    app.create_workspace("acme", ADMIN_EMAIL).await;
    let admin = app.admin_cookie().await;
    let r = app.call::<InviteMember>(&[("slug", "acme"), ("email", "bob@acme.test"), ("role", "member")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v = serde_json::from_str(&r.body).expect("json");
    (app, v)
}

#[tokio::test]
async fn invites_are_emailed_when_smtp_is_configured() {
    let maildir = std::env::temp_dir().join(format!("gh-mail-{}", rand::random::<u64>()));
    let (_sink, port) = start_sink(&maildir).await;
    let (_app, v) = invite_with_smtp(port).await;
    assert_eq!(v["emailed"], true);
    let link = v["link"].as_str().expect("link");

    let mut mails = Vec::new();
    for _ in 0..50 {
        mails = std::fs::read_dir(maildir.join("new")).map(|d| d.filter_map(Result::ok).collect::<Vec<_>>()).unwrap_or_default();
        if !mails.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(mails.len(), 1);
    let text = std::fs::read_to_string(mails[0].path()).expect("mail");
    assert!(text.contains("To: bob@acme.test"), "{text}");
    assert!(text.contains("Subject: Join acme Inc on Gatehouse"), "{text}");
    assert!(text.contains(link), "the mail carries the same link: {text}");
}

#[tokio::test]
async fn an_unreachable_smtp_server_loses_nothing() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr").port()
    }; // nothing listens there now
    let (_app, v) = invite_with_smtp(port).await;
    assert_eq!(v["emailed"], false);
    assert!(v["link"].as_str().is_some_and(|l| l.contains("/invite/")));
}
