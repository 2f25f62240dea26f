//! OAuth 2.0 client credentials for SCIM (RFC 6749 §4.4): the token endpoint, the short
//! tokens it issues, rotation with an overlap, and which provider a client may reach.
use app::api::saml::RotateScimClientSecret;
use base64::Engine;

use super::*;

/// Acme's admin makes (or rotates) provider `id`'s client: `(client id, secret)`.
async fn client_of(app: &TestApp, id: &str, overlap: &str) -> (String, String) {
    client_in(app, "acme", ADMIN_EMAIL, id, overlap).await
}

/// As `client_of`, as admin `email` of workspace `slug` (a session made directly:
/// password sign-in is off while provisioning is on).
async fn client_in(app: &TestApp, slug: &str, email: &str, id: &str, overlap: &str) -> (String, String) {
    let ws = app::server::workspaces::by_slug(&app.state.db, slug).await.expect("ws");
    let a = app::server::testing::account_by_email(&app.state.db, ws.id, email).await.expect("db").expect("admin");
    let admin =
        format!("gatehouse_session={}", sessions::create(&app.state.db, T0, a.id, ws.id, "saml:x", &Default::default()).await.expect("session").expose());
    let r = app.call::<RotateScimClientSecret>(&[("slug", slug), ("id", id), ("overlap_secs", overlap)], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    serde_json::from_str(&r.body).expect("client id and secret")
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
}

/// POSTs a form to provider `id`'s token endpoint.
async fn token_call(app: &TestApp, id: &str, authorization: Option<&str>, form: &str) -> (StatusCode, Value, Reply) {
    let mut b = Request::post(format!("/scim/oauth/{id}/token")).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(a) = authorization {
        b = b.header(header::AUTHORIZATION, a);
    }
    let r = app.send(b.body(Body::from(form.to_string())).expect("request")).await;
    (r.status, serde_json::from_str(&r.body).unwrap_or(Value::Null), r)
}

#[tokio::test]
async fn client_credentials_open_the_providers_scim_for_an_hour() {
    let s = setup().await;
    let (id, secret) = client_of(&s.app, &s.provider, "0").await;
    assert!(id.starts_with("ghs_") && secret.len() >= 43, "{id}");

    // HTTP Basic (RFC 6749 §2.3.1): a bearer token for an hour, never cached.
    let (st, body, r) = token_call(&s.app, &s.provider, Some(&basic(&id, &secret)), "grant_type=client_credentials").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!((body["token_type"].as_str(), body["expires_in"].as_i64()), (Some("Bearer"), Some(3600)));
    assert_eq!(r.headers.get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()), Some("no-store"));
    let access = body["access_token"].as_str().expect("token").to_string();
    let (st, list, _) = call(&s.app, &access, "GET", "/Users", None).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    // The secret in the form body works too; both ways at once is refused.
    let form = format!("grant_type=client_credentials&client_id={id}&client_secret={}", enc(&secret));
    assert_eq!(token_call(&s.app, &s.provider, None, &form).await.0, StatusCode::OK);
    let (st, body, _) = token_call(&s.app, &s.provider, Some(&basic(&id, &secret)), &form).await;
    assert_eq!((st, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));

    // Refusals, as §5.2 names them.
    let (st, body, r) = token_call(&s.app, &s.provider, Some(&basic(&id, "wrong")), "grant_type=client_credentials").await;
    assert_eq!((st, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    assert!(r.headers.get(header::WWW_AUTHENTICATE).is_some(), "a Basic challenge");
    let (st, body, _) = token_call(&s.app, &s.provider, Some(&basic(&id, &secret)), "grant_type=password&username=a&password=b").await;
    assert_eq!((st, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unsupported_grant_type")));
    let (st, body, _) = token_call(&s.app, &s.provider, Some(&basic(&id, &secret)), "grant_type=client_credentials&grant_type=client_credentials").await;
    assert_eq!((st, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "a parameter twice");
    let (st, body, _) = token_call(&s.app, &s.provider, None, "grant_type=client_credentials").await;
    assert_eq!((st, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")), "no client at all");

    // An hour later the token is refused, and says why; a new one works.
    s.app.clock.advance(3601);
    let (st, body, _) = call(&s.app, &access, "GET", "/Users", None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["detail"].as_str().unwrap_or("").contains("expired"), "{body}");
    let (_, body, _) = token_call(&s.app, &s.provider, Some(&basic(&id, &secret)), "grant_type=client_credentials").await;
    assert_eq!(call(&s.app, body["access_token"].as_str().expect("token"), "GET", "/Users", None).await.0, StatusCode::OK);
    // The Provider Token works alongside.
    assert_eq!(s.call("GET", "/Users", None).await.0, StatusCode::OK);

    // Only the secret's SHA-256 is stored.
    let rows = app::server::entities::scim_oauth_client::Entity::find().all(&s.app.state.db).await.expect("clients");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].secret_hash, app::server::crypto::Token::from_presented(&secret).hash());

    // Basic may be joined by the same client id in the body (§3.2.1), not by another or
    // by a secret; a request without Basic gets no Basic challenge.
    let same = format!("grant_type=client_credentials&client_id={id}");
    assert_eq!(token_call(&s.app, &s.provider, Some(&basic(&id, &secret)), &same).await.0, StatusCode::OK);
    let other = "grant_type=client_credentials&client_id=ghs_someone_else";
    assert_eq!(token_call(&s.app, &s.provider, Some(&basic(&id, &secret)), other).await.1["error"], "invalid_request");
    let (st, _, r) = token_call(&s.app, &s.provider, None, &format!("grant_type=client_credentials&client_id={id}&client_secret=wrong")).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(r.headers.get(header::WWW_AUTHENTICATE).is_none(), "no Basic challenge without Basic");
}

#[tokio::test]
async fn a_rotated_secret_works_for_its_overlap_then_stops() {
    let s = setup().await;
    let (id, old) = client_of(&s.app, &s.provider, "0").await;
    let (same_id, new) = client_of(&s.app, &s.provider, "3600").await;
    assert_eq!(same_id, id, "rotation keeps the client id");
    let grant = |secret: String| {
        let (app, provider, id) = (&s.app, s.provider.clone(), id.clone());
        async move { token_call(app, &provider, Some(&basic(&id, &secret)), "grant_type=client_credentials").await.0 }
    };
    assert_eq!(grant(old.clone()).await, StatusCode::OK, "the old secret, within the overlap");
    assert_eq!(grant(new.clone()).await, StatusCode::OK);
    s.app.clock.advance(3601);
    assert_eq!(grant(old.clone()).await, StatusCode::UNAUTHORIZED, "the overlap is over");
    assert_eq!(grant(new.clone()).await, StatusCode::OK);
    // Without an overlap the old secret stops at once, and so do the tokens it was given.
    let (_, body, _) = token_call(&s.app, &s.provider, Some(&basic(&id, &new)), "grant_type=client_credentials").await;
    let given = body["access_token"].as_str().expect("token").to_string();
    assert_eq!(call(&s.app, &given, "GET", "/Users", None).await.0, StatusCode::OK);
    let (_, newest) = client_of(&s.app, &s.provider, "0").await;
    assert_eq!(grant(new).await, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&s.app, &given, "GET", "/Users", None).await.0, StatusCode::UNAUTHORIZED, "its tokens ended with it");
    assert_eq!(grant(newest).await, StatusCode::OK);
    // An overlap that isn't offered is refused with a reason.
    let admin = admin_session(&s.app).await;
    let r = s.app.call::<RotateScimClientSecret>(&[("slug", "acme"), ("id", &s.provider), ("overlap_secs", "5")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    // Audited, both ways.
    let actions: Vec<String> = app::server::entities::audit_log::Entity::find()
        .all(&s.app.state.db)
        .await
        .expect("audit")
        .into_iter()
        .map(|a| a.action)
        .filter(|a| a.starts_with("scim.oauth"))
        .collect();
    assert_eq!(actions, ["scim.oauth.create", "scim.oauth.rotate", "scim.oauth.rotate"]);
}

#[tokio::test]
async fn a_client_opens_only_its_own_provider_and_only_while_provisioning_is_on() {
    let s = setup().await;
    let (id, secret) = client_of(&s.app, &s.provider, "0").await;
    // A second provider of the same workspace: acme's client can't get a token there.
    let other = provider(&s.app, "acme", "Entra").await;
    let (st, body, _) = token_call(&s.app, &other, Some(&basic(&id, &secret)), "grant_type=client_credentials").await;
    assert_eq!((st, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    let (st, _, _) = token_call(&s.app, "no-such-provider", Some(&basic(&id, &secret)), "grant_type=client_credentials").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);

    // Another workspace with its own provider and client: its client is refused at
    // acme's endpoint, and its tokens see its own members only.
    s.app.create_workspace("beta", "bea@beta.test").await;
    let beta_provider = provider(&s.app, "beta", "Okta").await;
    enable(&s.app, "beta", &beta_provider).await;
    let (beta_id, beta_secret) = client_in(&s.app, "beta", "bea@beta.test", &beta_provider, "0").await;
    let (st, body, _) = token_call(&s.app, &s.provider, Some(&basic(&beta_id, &beta_secret)), "grant_type=client_credentials").await;
    assert_eq!((st, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    let (_, body, _) = token_call(&s.app, &beta_provider, Some(&basic(&beta_id, &beta_secret)), "grant_type=client_credentials").await;
    let beta_token = body["access_token"].as_str().expect("beta's token").to_string();
    let (st, users, _) = call(&s.app, &beta_token, "GET", "/Users", None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(users.to_string().contains("bea@beta.test") && !users.to_string().contains(ADMIN_EMAIL), "beta's token sees beta only: {users}");
    // Beta's admin can't make or rotate acme's client.
    let beta = app::server::workspaces::by_slug(&s.app.state.db, "beta").await.expect("beta");
    let bea_account = app::server::testing::account_by_email(&s.app.state.db, beta.id, "bea@beta.test").await.expect("db").expect("bea");
    let bea = format!(
        "gatehouse_session={}",
        sessions::create(&s.app.state.db, T0, bea_account.id, beta.id, "saml:x", &Default::default()).await.expect("session").expose()
    );
    let r = s.app.call::<RotateScimClientSecret>(&[("slug", "beta"), ("id", &s.provider), ("overlap_secs", "0")], Some(&bea)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = s.app.call::<RotateScimClientSecret>(&[("slug", "acme"), ("id", &s.provider), ("overlap_secs", "0")], Some(&bea)).await;
    assert!(r.status == StatusCode::NOT_FOUND || r.status == StatusCode::UNAUTHORIZED, "{}", r.status);
    // A member of acme can't either.
    let acme = app::server::workspaces::by_slug(&s.app.state.db, "acme").await.expect("acme");
    let m = app::server::testing::member(&s.app.state.db, T0, acme.id, "bob@acme.test", app::model::Role::Member).await.expect("bob");
    let bob = format!(
        "gatehouse_session={}",
        sessions::create(&s.app.state.db, T0, m.account_id, acme.id, "saml:x", &Default::default()).await.expect("session").expose()
    );
    let r = s.app.call::<RotateScimClientSecret>(&[("slug", "acme"), ("id", &s.provider), ("overlap_secs", "0")], Some(&bob)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Provisioning off: issued tokens stop, and no new one is issued.
    let (_, body, _) = token_call(&s.app, &s.provider, Some(&basic(&id, &secret)), "grant_type=client_credentials").await;
    let access = body["access_token"].as_str().expect("token").to_string();
    let ws = app::server::workspaces::by_slug(&s.app.state.db, "acme").await.expect("acme");
    scim::disable(&s.app.state.db, T0, &crate::common::operator().admin_of(ws.id), &s.provider).await.expect("off");
    assert_eq!(call(&s.app, &access, "GET", "/Users", None).await.0, StatusCode::UNAUTHORIZED);
    // The client went with it; turned on again, provisioning needs new credentials.
    let (st, body, _) = token_call(&s.app, &s.provider, Some(&basic(&id, &secret)), "grant_type=client_credentials").await;
    assert_eq!((st, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")), "{body}");
    let token = enable_again(&s).await;
    assert!(!token.is_empty());
    let (st, body, _) = token_call(&s.app, &s.provider, Some(&basic(&id, &secret)), "grant_type=client_credentials").await;
    assert_eq!((st, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    // A client made before provisioning is on is told why it gets nothing yet.
    let (other_id, other_secret) = client_of(&s.app, &other, "0").await;
    let (st, body, _) = token_call(&s.app, &other, Some(&basic(&other_id, &other_secret)), "grant_type=client_credentials").await;
    assert_eq!((st, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unauthorized_client")), "{body}");
    assert!(body["error_description"].as_str().unwrap_or("").contains("provisioning is turned off"), "{body}");
}

/// Turns acme's provisioning on again (SAML is still the only method).
async fn enable_again(s: &Scim) -> String {
    let ws = app::server::workspaces::by_slug(&s.app.state.db, "acme").await.expect("acme");
    scim::enable(&s.app.state.db, T0, &crate::common::operator().admin_of(ws.id), &s.provider, None).await.expect("on").expose().to_string()
}

#[tokio::test]
async fn failed_token_requests_are_throttled_per_address() {
    let s = setup().await;
    let (id, secret) = client_of(&s.app, &s.provider, "0").await;
    let from = |auth: String, peer: &str| {
        let mut req = Request::post(format!("/scim/oauth/{}/token", s.provider))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, auth)
            .body(Body::from("grant_type=client_credentials"))
            .expect("request");
        req.extensions_mut().insert(axum::extract::ConnectInfo::<std::net::SocketAddr>(peer.parse().expect("peer")));
        s.app.send(req)
    };
    for _ in 0..20 {
        assert_eq!(from(basic(&id, "guess"), "203.0.113.7:5000").await.status, StatusCode::UNAUTHORIZED);
    }
    let r = from(basic(&id, &secret), "203.0.113.7:5000").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "even the right secret waits: {}", r.body);
    // Another address is not slowed by this one's guesses.
    assert_eq!(from(basic(&id, &secret), "198.51.100.2:5000").await.status, StatusCode::OK);
    s.app.clock.advance(61);
    assert_eq!(from(basic(&id, &secret), "203.0.113.7:5000").await.status, StatusCode::OK);
    // Successes don't count against the address, but a client gets at most 60 tokens a
    // minute.
    for n in 0..59 {
        assert_eq!(from(basic(&id, &secret), "198.51.100.2:5000").await.status, StatusCode::OK, "grant {n}");
    }
    assert_eq!(from(basic(&id, &secret), "198.51.100.2:5000").await.status, StatusCode::TOO_MANY_REQUESTS, "the 61st token this minute");
}

/// An independent client (oauthlib's client credentials flow, through requests-oauthlib)
/// gets tokens from a real listener, with HTTP Basic and with the secret in the body, and
/// reads `/Users` with each.
#[tokio::test]
async fn oauthlib_fetches_tokens_and_reads_users() {
    let s = setup().await;
    let (id, secret) = client_of(&s.app, &s.provider, "0").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = s.app.router.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>()).await;
    });
    // The secret goes by file, not on a command line other processes can read.
    let secret_file = std::env::temp_dir().join(format!("gh-oauth-secret-{}-{addr}", std::process::id()).replace(':', "_"));
    std::fs::write(&secret_file, &secret).expect("write");
    let file_arg = format!("--client-secret-file={}", secret_file.display());
    let provider = s.provider.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(repo().join(".venv/bin/python"))
            .arg(repo().join("scripts/interop/oauth_client.py"))
            .args(["--token-url", &format!("http://{addr}/scim/oauth/{provider}/token"), "--scim-url", &format!("http://{addr}/scim/v2")])
            .arg(format!("--client-id={id}"))
            .arg(file_arg)
            .output()
            .expect("run oauth_client.py (scripts/setup.sh test installs requests-oauthlib)")
    })
    .await
    .expect("join");
    let _ = std::fs::remove_file(&secret_file);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (l, mode) in lines.iter().zip(["basic", "body"]) {
        assert_eq!(l["mode"], mode);
        assert_eq!((l["token_type"].as_str(), l["expires_in"].as_i64(), l["users_status"].as_i64()), (Some("Bearer"), Some(3600), Some(200)), "{l}");
        assert!(l["total"].as_i64().is_some_and(|n| n >= 1), "{l}");
    }
}

/// The provider page gives the IdP the token endpoint and client id; without JavaScript
/// a new secret travels once in the page's one-time cookie, shown only while it is the
/// current secret (a planted one shows nothing).
#[tokio::test]
async fn the_provider_page_shows_the_endpoint_and_a_new_secret_once() {
    let s = setup().await;
    let admin = admin_session(&s.app).await;
    let page = format!("/w/acme/settings/authentication/saml/{}", s.provider);
    let r = s.app.get(&page, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    let endpoint = format!("/scim/oauth/{}/token", s.provider);
    assert!(r.body.contains(&endpoint) && r.body.contains("Generate client credentials"), "endpoint and button");
    // No JS: a form post, answered with a redirect and the secret in a page-scoped cookie.
    let r = s.app.form::<RotateScimClientSecret>(&[("slug", "acme"), ("id", &s.provider), ("overlap_secs", "0")], Some(&admin), &page).await;
    assert!(r.status.is_redirection(), "{} {}", r.status, r.body);
    let flash = r.set_cookie("gatehouse_fresh_token").expect("the one-time cookie");
    let value = flash.split(';').next().and_then(|kv| kv.split_once('=')).map(|(_, v)| v.to_string()).expect("value");
    let secret = value.strip_prefix("oauth.").expect("marked as a client secret").to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Max-Age=120", &format!("Path={page}")] {
        assert!(
            r.headers.get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).any(|c| c.starts_with("gatehouse_fresh_token=") && c.contains(attr)),
            "{attr}"
        );
    }
    let r = s.app.get(&page, Some(&format!("{admin}; gatehouse_fresh_token={value}"))).await;
    assert!(r.body.contains(&secret) && r.body.contains("data-testid=\"oauth-client-secret\""), "shown once");
    assert!(
        r.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|c| c.starts_with("gatehouse_fresh_token=;") && c.contains("Max-Age=0")),
        "and cleared as it is shown"
    );
    // A real secret that has since been replaced isn't shown either.
    let (_, _newer) = client_of(&s.app, &s.provider, "0").await;
    let r = s.app.get(&page, Some(&format!("{admin}; gatehouse_fresh_token={value}"))).await;
    assert!(!r.body.contains(&secret), "a replaced secret is not shown");
    assert!(r.body.contains("Rotate client secret"));
    let planted = "oauth.PlantedSecretPlantedSecretPlantedSecret01";
    let r = s.app.get(&page, Some(&format!("{admin}; gatehouse_fresh_token={planted}"))).await;
    assert!(!r.body.contains("PlantedSecret") && !r.body.contains("data-testid=\"oauth-client-secret\""), "a planted secret is not shown");
}
