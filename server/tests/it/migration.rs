//! Upgrading to identity per workspace (migration m20261206_000006): data written by the
//! earlier schema, where one account could be a member of several workspaces and its
//! links counted everywhere, comes out as one account per membership, each session and
//! SAML link with the account of its own workspace, and no link left that another
//! workspace could honour. On SQLite (the table is rebuilt) and PostgreSQL.
use app::server::crypto::Token;
use app::server::entities::{account, external_identity, membership, session};
use app::server::{db, sessions};
use migrations::{Migrator, MigratorTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use crate::common::{fresh_postgres_url, T0};

async fn legacy_db() -> DatabaseConnection {
    let conn = match fresh_postgres_url().await {
        Some(url) => db::connect(&url, 3).await.expect("connect"),
        None => db::connect("sqlite::memory:", 1).await.expect("sqlite"),
    };
    // The schema as it was before identity per workspace.
    Migrator::up(&conn, Some(5)).await.expect("migrations 1-5");
    conn
}

#[tokio::test]
async fn shared_accounts_are_split_per_workspace_and_foreign_links_dropped() {
    let conn = legacy_db().await;
    let tokens: Vec<Token> = (0..4).map(|_| Token::generate()).collect();
    let rows = [
        "INSERT INTO workspaces (id, slug, name, created_at) VALUES (1, 'acme', 'Acme', 0), (2, 'beta', 'Beta', 0)".to_string(),
        "INSERT INTO saml_providers (id, public_id, workspace_id, name, idp_entity_id, sso_url, certificates, nameid_format, attr_email, attr_given_name, attr_family_name, created_at, updated_at) \
         VALUES (1, 'pa', 1, 'Okta', 'https://idp', 'https://idp/sso', '[]', 'email', 'mail', 'givenName', 'sn', 0, 0)".into(),
        // 1: a member of both workspaces; 2: of acme only; 3: of none.
        "INSERT INTO accounts (id, email, email_normalized, full_name, created_at, updated_at) VALUES \
         (1, 'Sam@Both.test', 'sam@both.test', 'Sam Both', 0, 0), (2, 'solo@acme.test', 'solo@acme.test', 'Solo', 0, 0), (3, 'gone@x.test', 'gone@x.test', 'Gone', 0, 0)".into(),
        "INSERT INTO memberships (id, workspace_id, account_id, role, status, created_at, updated_at) VALUES \
         (10, 1, 1, 'admin', 'active', 0, 0), (11, 2, 1, 'member', 'active', 0, 0), (12, 1, 2, 'member', 'active', 0, 0)".into(),
        format!(
            "INSERT INTO sessions (id, token_hash, account_id, workspace_id, method, created_at, last_seen_at) VALUES \
             (20, '{}', 1, 1, 'password', {T0}, {T0}), (21, '{}', 1, 2, 'google', {T0}, {T0}), (22, '{}', 2, 1, 'google', {T0}, {T0}), (23, '{}', 3, 1, 'password', {T0}, {T0})",
            tokens[0].hash(), tokens[1].hash(), tokens[2].hash(), tokens[3].hash()
        ),
        "INSERT INTO external_identities (id, account_id, provider_kind, provider_key, subject, created_at, last_used_at) VALUES \
         (30, 1, 'google', 'accounts.google.com', 'g-sam', 0, 0), (31, 2, 'google', 'accounts.google.com', 'g-solo', 0, 0), (32, 1, 'saml', 'pa', 'sam-nameid', 0, 0), (33, 3, 'slack', 'T1', 'U-gone', 0, 0)".into(),
        // A claim of the first-come era.
        "INSERT INTO workspace_domains (id, workspace_id, domain, created_at) VALUES (40, 1, 'both.test', 0)".into(),
    ];
    for sql in rows {
        conn.execute_unprepared(&sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    db::migrate(&conn).await.expect("upgrade");

    let accounts = account::Entity::find().order_by_asc(account::Column::Id).all(&conn).await.expect("db");
    let shape: Vec<(i64, &str)> = accounts.iter().map(|a| (a.workspace_id, a.email_normalized.as_str())).collect();
    assert_eq!(shape, [(1, "sam@both.test"), (1, "solo@acme.test"), (2, "sam@both.test")], "one account per membership, the orphan gone");
    let sam_beta = accounts.iter().find(|a| a.workspace_id == 2).expect("beta's sam");
    assert_eq!((sam_beta.email.as_str(), sam_beta.full_name.as_str()), ("Sam@Both.test", "Sam Both"), "a copy of what beta saw");
    let m = |id: i64| membership::Entity::find_by_id(id);
    assert_eq!(m(10).one(&conn).await.expect("db").expect("m10").account_id, 1, "the oldest membership keeps the account");
    assert_eq!(m(11).one(&conn).await.expect("db").expect("m11").account_id, sam_beta.id);
    assert_eq!(m(12).one(&conn).await.expect("db").expect("m12").account_id, 2);

    // Sessions follow their workspace's account; the orphan's is gone, and each still works.
    let s = |id: i64| session::Entity::find_by_id(id);
    assert_eq!(s(21).one(&conn).await.expect("db").expect("s21").account_id, sam_beta.id);
    assert!(s(23).one(&conn).await.expect("db").is_none());
    for (token, slug) in [(&tokens[0], "acme"), (&tokens[1], "beta"), (&tokens[2], "acme")] {
        let v = sessions::resolve(&conn, T0 + 1, token, None).await.expect("resolve").expect("a live session");
        assert_eq!(v.workspace_slug, slug);
    }

    // Links: the shared account's Google link is dropped (no telling which workspace it
    // signed in to), the single-membership one kept in its workspace, the SAML one bound
    // to its provider's workspace, the orphan's gone.
    let links = external_identity::Entity::find().order_by_asc(external_identity::Column::Id).all(&conn).await.expect("db");
    let shape: Vec<(i64, i64, &str)> = links.iter().map(|l| (l.id, l.workspace_id, l.subject.as_str())).collect();
    assert_eq!(shape, [(31, 1, "g-solo"), (32, 1, "sam-nameid")]);
    assert_eq!(links[1].account_id, 1);

    // Migration 7: the old claim is pending with a fresh token (it must be proven), and
    // another workspace may now claim the same domain.
    let claims = app::server::domains::claims(&conn, 1).await.expect("claims");
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].status, "pending");
    assert!(claims[0].token.len() == 32 && claims[0].token.chars().all(|c| c.is_ascii_hexdigit()), "{}", claims[0].token);
    conn.execute_unprepared("INSERT INTO workspace_domains (workspace_id, domain, created_at, token) VALUES (2, 'both.test', 0, 'x')")
        .await
        .expect("a second workspace's claim");
    assert!(
        conn.execute_unprepared("INSERT INTO workspace_domains (workspace_id, domain, created_at, token) VALUES (2, 'both.test', 0, 'y')").await.is_err(),
        "one claim per workspace"
    );

    // Email is unique per workspace now; new accounts get fresh ids (PostgreSQL's sequence
    // was moved past the copies).
    let dup = conn
        .execute_unprepared("INSERT INTO accounts (workspace_id, email, email_normalized, created_at, updated_at) VALUES (1, 'x', 'solo@acme.test', 0, 0)")
        .await;
    assert!(dup.is_err(), "a second solo@acme.test in acme");
    conn.execute_unprepared(
        "INSERT INTO accounts (workspace_id, email, email_normalized, created_at, updated_at) VALUES (2, 'solo@acme.test', 'solo@acme.test', 0, 0)",
    )
    .await
    .expect("the same address in another workspace");
    let ids = account::Entity::find().filter(account::Column::WorkspaceId.eq(2)).all(&conn).await.expect("db").len();
    assert_eq!(ids, 2);
}
