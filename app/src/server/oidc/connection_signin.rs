//! Signing in through a workspace's own OpenID Connect connection: the authorization code
//! flow with PKCE S256, state and nonce kept server-side and bound to the browser that
//! started; the code exchanged at the issuer's token endpoint with the connection's client
//! secret; the ID token's signature checked against the issuer's keys (asymmetric
//! algorithms only), its issuer, audience, expiry and nonce; then the email, which must be
//! verified by the IdP unless the admin turned that off; then the ending every provider of
//! a workspace shares (`saml::signin::finish`: identity, JIT in the domains it may assert,
//! groups, session, activity).
//!
//! Every check is recorded as it runs, so an admin's Test sign-in (marked on the pending
//! sign-in when it starts, before anything the IdP answers is read) shows the whole list,
//! whichever check fails: discovery, the IdP's error, the token endpoint, the signature…
use base64::Engine;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreIdTokenVerifier, CoreProviderMetadata};
use openidconnect::{AuthorizationCode, ClientId, ClientSecret, CsrfToken, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::Value;

use super::connections::{client_for_url, redirect_uri, signing_algs, BASE_SCOPES};
use super::discovery::Client;
use crate::server::completion::safe_relay;
use crate::server::crypto::{Secret, Token};
use crate::server::entities::{oidc_state, saml_provider, workspace};
use crate::server::saml::acs::{Report, Verified as SamlVerified};
use crate::server::saml::signin::{self, Asserted, Finish, Outcome};
use crate::server::saml::{self, Provider};
use crate::server::{methods, Deps, DomainError};

/// How long a started sign-in may take.
const LIFETIME_SECS: i64 = 600;
/// The most values of one claim read (as for SAML attributes).
const MAX_VALUES: usize = crate::server::saml::acs::MAX_ATTRIBUTE_VALUES;

/// What starting a sign-in does with the browser.
#[derive(Debug)]
pub enum Started {
    /// Off to the IdP.
    Redirect(String),
    /// An admin's test that failed before reaching the IdP (its discovery document):
    /// the result is on the connection's page.
    Tested(String),
}

fn new_report() -> Report {
    // Only the checks are used: the result belongs to SAML's stateless verification.
    Report { checks: Vec::new(), result: Ok(SamlVerified::default()) }
}

fn client_of(deps: &Deps<'_>, p: &saml_provider::Model, md: &CoreProviderMetadata) -> Result<Client, String> {
    let redirect = RedirectUrl::new(redirect_uri(deps.config, &p.public_id)).map_err(|e| e.to_string())?;
    let secret = p.oidc_client_secret.as_ref().map(|s| ClientSecret::new(s.expose().to_string()));
    // Issuers that take the secret only in the body (Auth0 applications by default) say so.
    let post_only = md
        .token_endpoint_auth_methods_supported()
        .is_some_and(|m| !m.is_empty() && m.iter().all(|a| *a == openidconnect::core::CoreClientAuthMethod::ClientSecretPost));
    let c = CoreClient::from_provider_metadata(md.clone(), ClientId::new(p.oidc_client_id.clone()), secret).set_redirect_uri(redirect);
    Ok(if post_only { c.set_auth_type(openidconnect::AuthType::RequestBody) } else { c })
}

async fn metadata(deps: &Deps<'_>, p: &saml_provider::Model, refresh: bool) -> Result<std::sync::Arc<super::connections::Issuer>, String> {
    deps.discovery.connections.metadata(p, deps.config.secure_cookies(), deps.config.allow_private_metadata_urls, refresh).await
}

/// Starts a sign-in (or, with `test_by`, an admin's Test sign-in, which works while the
/// connection is off).
pub async fn start(deps: Deps<'_>, provider: &Provider, next: Option<&str>, test_by: Option<i64>, browser_nonce: &Token) -> Result<Started, DomainError> {
    let (db, now) = (deps.db, deps.now);
    let p = &provider.0;
    let key = saml::key_of(p);
    if test_by.is_none() && !methods::is_enabled(db, p.workspace_id, &key, deps.config).await? {
        return Err(DomainError::Refused(format!("Sign-in with {} is switched off for this workspace.", p.name)));
    }
    let md = match metadata(&deps, p, false).await {
        Ok(md) => md,
        Err(why) if test_by.is_some() => {
            let mut report = new_report();
            report.reject("discovery", why);
            let id = signin::log(db, now, p, &report, true, None, None).await?;
            let ws = workspace::Entity::find_by_id(p.workspace_id).one(db).await?.ok_or(DomainError::NotFound)?;
            return Ok(Started::Tested(format!("{}?test={id}", signin::page_path(&ws.slug, p))));
        }
        Err(why) => {
            tracing::warn!(connection = %p.public_id, reason = %why, "OIDC connection unavailable");
            return Err(DomainError::Internal(format!("{} discovery: {why}", p.name)));
        }
    };
    let client = client_of(&deps, p, &md.md).map_err(DomainError::Internal)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random);
    for s in BASE_SCOPES.iter().filter(|s| **s != "openid").map(|s| s.to_string()).chain(p.oidc_scopes.split_whitespace().map(str::to_string)) {
        request = request.add_scope(Scope::new(s));
    }
    let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
    oidc_state::Entity::delete_many().filter(oidc_state::Column::ExpiresAt.lt(now)).exec(db).await?;
    oidc_state::ActiveModel {
        state_hash: Set(Token::from_presented(state.secret()).hash()),
        provider: Set(key),
        workspace_id: Set(p.workspace_id),
        nonce: Set(Secret::new(nonce.secret().clone())),
        pkce_verifier: Set(Secret::new(verifier.secret().clone())),
        next: Set(next.and_then(safe_relay).unwrap_or_default()),
        expires_at: Set(now + LIFETIME_SECS),
        browser_hash: Set(browser_nonce.hash()),
        test_by: Set(test_by),
    }
    .insert(db)
    .await?;
    Ok(Started::Redirect(url.to_string()))
}

/// What the IdP sent back to the callback.
pub struct Answer<'a> {
    pub code: Option<&'a str>,
    pub state: Option<&'a str>,
    pub iss: Option<&'a str>,
    pub error: Option<&'a str>,
    pub error_description: Option<&'a str>,
    pub browser_nonce: Option<&'a Token>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The pending sign-in an answer belongs to, claimed (deleted) so it is used once: the
/// one its `state` names, from this browser; or, when the state is missing or unknown, a
/// pending Test sign-in of this connection started in this browser (so the admin still
/// gets a diagnosis; `false` with it). `Err`: why none.
async fn claim(
    db: &DatabaseConnection,
    now: i64,
    p: &saml_provider::Model,
    a: &Answer<'_>,
) -> Result<Result<(oidc_state::Model, bool), &'static str>, DomainError> {
    let key = saml::key_of(p);
    let named = match a.state.filter(|s| !s.is_empty() && s.len() <= 256) {
        Some(s) => oidc_state::Entity::find_by_id(Token::from_presented(s).hash()).one(db).await?.filter(|r| r.provider == key && r.expires_at > now),
        None => None,
    };
    let browser = a.browser_nonce.map(Token::hash);
    let (row, by_state) = match named {
        Some(r) if Some(&r.browser_hash) == browser.as_ref() => (r, true),
        Some(_) => return Ok(Err("browser")),
        None => {
            let Some(b) = browser else { return Ok(Err("state")) };
            let test = oidc_state::Entity::find()
                .filter(oidc_state::Column::Provider.eq(key))
                .filter(oidc_state::Column::BrowserHash.eq(b))
                .filter(oidc_state::Column::TestBy.is_not_null())
                .filter(oidc_state::Column::ExpiresAt.gt(now))
                .order_by_desc(oidc_state::Column::ExpiresAt)
                .limit(1)
                .one(db)
                .await?;
            match test {
                Some(t) => (t, false),
                None => return Ok(Err("state")),
            }
        }
    };
    if oidc_state::Entity::delete_many().filter(oidc_state::Column::StateHash.eq(row.state_hash.clone())).exec(db).await?.rows_affected != 1 {
        return Ok(Err("state"));
    }
    Ok(Ok((row, by_state)))
}

/// Completes a sign-in from the IdP's answer at `/oidc/{connection}/callback`.
pub async fn callback(deps: Deps<'_>, provider: &Provider, a: Answer<'_>) -> Result<Outcome, DomainError> {
    let (db, now) = (deps.db, deps.now);
    let p = &provider.0;
    let ws = workspace::Entity::find_by_id(p.workspace_id).one(db).await?.ok_or(DomainError::NotFound)?;
    let back = format!("/w/{}/login", ws.slug);
    let generic = format!(
        "The sign-in answer from {} could not be verified, so you were not signed in. Your workspace admin can see the reason on the connection's page.",
        p.name
    );
    let mut report = new_report();
    let (row, by_state) = match claim(db, now, p, &a).await? {
        Ok(r) => r,
        Err(why) => {
            let (detail, message) = if why == "browser" {
                (
                    "the answer arrived in a different browser from the one that started the sign-in, or cookies are blocked",
                    format!("Start signing in again from {}'s sign-in page, in this browser (cookies must be allowed).", ws.name),
                )
            } else {
                (
                    "the answer names no sign-in this connection started, or it expired or was already used",
                    format!("This sign-in has expired or was already used. Start again from {}'s sign-in page.", ws.name),
                )
            };
            report.reject(why, detail);
            signin::log(db, now, p, &report, false, None, a.ip.clone()).await?;
            return Ok(Outcome::Refused { message, back });
        }
    };
    let test = row.test_by.is_some();
    // Every refusal from here on: a test shows the list on the connection's page.
    let refuse = |report: Report, message: String| {
        let (ip, slug, back) = (a.ip.clone(), ws.slug.clone(), back.clone());
        async move {
            let id = signin::log(db, now, p, &report, test, None, ip).await?;
            Ok::<Outcome, DomainError>(if test {
                Outcome::Tested { redirect: format!("{}?test={id}", signin::page_path(&slug, p)) }
            } else {
                Outcome::Refused { message, back }
            })
        }
    };
    if !by_state {
        // Only a pending test of this browser is found this way.
        report.reject("state", "the answer carries no state, or one this connection didn't issue; the IdP must send back the state it was given");
        return refuse(report, generic).await;
    }
    report.pass("state", "answers a sign-in started here, in this browser");
    if let Some(e) = a.error {
        let clip = |s: &str| s.chars().filter(|c| !c.is_control()).take(200).collect::<String>();
        report.reject("idp_error", format!("the IdP answered error={}{}", clip(e), a.error_description.map(|d| format!(": {}", clip(d))).unwrap_or_default()));
        return refuse(report, format!("{} sign-in was cancelled or failed. Try again.", p.name)).await;
    }
    let issuer = match metadata(&deps, p, false).await {
        Ok(i) => i,
        Err(why) => {
            report.reject("discovery", why);
            return refuse(report, generic).await;
        }
    };
    let md = &issuer.md;
    report.pass("discovery", format!("issuer {}", md.issuer().as_str()));
    // RFC 9207: when the IdP names itself in the answer, it must be this connection's
    // issuer; one that says it always does must have.
    match a.iss {
        Some(iss) if iss != md.issuer().as_str() => {
            report.reject("issuer", format!("the answer's iss is {}, not {}", iss.chars().take(200).collect::<String>(), md.issuer().as_str()));
            return refuse(report, generic).await;
        }
        None if issuer.names_itself => {
            report.reject("issuer", "the answer has no iss, though the issuer says it names itself in every answer (RFC 9207)");
            return refuse(report, generic).await;
        }
        _ => {}
    }
    let Some(code) = a.code.filter(|c| !c.is_empty() && c.len() <= 4096) else {
        report.reject("code", "the answer carries no authorization code");
        return refuse(report, generic).await;
    };
    let claims = match exchange(&deps, p, md, code, &row, &mut report).await {
        Ok(c) => c,
        Err(()) => return refuse(report, generic).await,
    };
    let text = |names: &str| -> Option<String> {
        saml::split_attr_list(names).iter().find_map(|n| claims.get(n.as_str()).and_then(Value::as_str)).map(|s| s.trim().chars().take(320).collect::<String>())
    };
    let Some(sub) = claims.get("sub").and_then(Value::as_str).filter(|s| !s.is_empty() && s.len() <= 255).map(str::to_string) else {
        report.reject("subject", "the ID token has no usable sub claim");
        return refuse(report, generic).await;
    };
    let email = text(&p.attr_email);
    let verified = match claims.get("email_verified") {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) => Some(s == "true"),
        _ => None,
    };
    // An email the IdP doesn't vouch for matches nobody: only a member already linked to
    // this subject signs in then.
    let trusted = match verified {
        Some(true) => true,
        Some(false) => false,
        None => !p.oidc_require_email_verified,
    };
    let email = if trusted {
        if email.is_some() {
            report.pass(
                "email_verified",
                if verified == Some(true) {
                    "the IdP verified the email address"
                } else {
                    "no email_verified claim; this connection accepts emails without it"
                },
            );
        }
        email
    } else if signin::link_of(db, p, &sub).await?.is_some() {
        report.pass("email_verified", "the email isn't verified by the IdP: signed in by this subject's link only");
        None
    } else {
        report.reject(
            "email_verified",
            if verified == Some(false) {
                "the IdP says this email address is not verified, so it can't be matched to a member or create one".to_string()
            } else {
                "the ID token has no email_verified claim; turn off “Require email_verified” for IdPs that never send it (Entra ID)".to_string()
            },
        );
        return refuse(report, format!("{} didn't confirm that this account owns its email address, so it can't sign in to {}.", p.name, ws.name)).await;
    };
    let asserted = Asserted {
        subject: Some(sub.clone()),
        shown: sub,
        email,
        given_name: text(&p.attr_given_name).or_else(|| text("name").and_then(|n| n.split_whitespace().next().map(str::to_string))),
        family_name: text(&p.attr_family_name),
        attributes: claim_attributes(&claims, &p.groups_attribute),
        saml: None,
    };
    signin::finish(
        deps.db,
        deps.events,
        deps.config,
        p,
        asserted,
        report,
        Finish { ws: &ws, now, test, relay: safe_relay(&row.next), ip: a.ip, user_agent: a.user_agent },
    )
    .await
}

/// The claims the activity shows and groups at sign-in read, as SAML-style attributes:
/// strings, numbers and booleans as one value, arrays of them as many (at most 200). A
/// groups claim left out for overage (Entra's `_claim_names`) is marked as such, so the
/// groups aren't synced from a partial list.
fn claim_attributes(claims: &serde_json::Map<String, Value>, groups_claim: &str) -> Vec<(String, Vec<String>)> {
    const SKIP: [&str; 8] = ["aud", "exp", "iat", "nbf", "nonce", "at_hash", "c_hash", "auth_time"];
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.chars().take(1024).collect::<String>()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let mut out: Vec<(String, Vec<String>)> = claims
        .iter()
        .filter(|(k, _)| !SKIP.contains(&k.as_str()) && k.len() <= 200)
        .take(100)
        .filter_map(|(k, v)| {
            let values: Vec<String> = match v {
                Value::Array(items) => items.iter().filter_map(one).take(MAX_VALUES).collect(),
                other => one(other).into_iter().collect(),
            };
            (!values.is_empty() || matches!(v, Value::Array(_))).then(|| (k.clone(), values))
        })
        .collect();
    // What the activity stores is bounded too: claims past 64 KiB in all are left out.
    let mut room = 64 * 1024;
    out.retain(|(k, v)| {
        let size = k.len() + v.iter().map(String::len).sum::<usize>();
        let keep = size <= room || k.eq_ignore_ascii_case(groups_claim);
        room = room.saturating_sub(size);
        keep
    });
    let overage = !groups_claim.is_empty()
        && claims.get("_claim_names").and_then(Value::as_object).is_some_and(|m| m.keys().any(|k| k.eq_ignore_ascii_case(groups_claim)));
    if overage {
        out.push(("http://schemas.microsoft.com/claims/groups.link".into(), vec!["_claim_names".into()]));
    }
    out
}

/// Exchanges the code (with the PKCE verifier and the client secret) at the token
/// endpoint under the outbound policy, and checks the ID token: signature (the issuer's
/// keys, fetched again once if it names one we don't hold), issuer, audience, expiry (our
/// clock), nonce. Each step is a check in `report`; `Err` once one is refused. Answers the
/// verified token's claims.
async fn exchange(
    deps: &Deps<'_>,
    p: &saml_provider::Model,
    md: &CoreProviderMetadata,
    code: &str,
    row: &oidc_state::Model,
    report: &mut Report,
) -> Result<serde_json::Map<String, Value>, ()> {
    let client = match client_of(deps, p, md) {
        Ok(c) => c,
        Err(why) => {
            report.reject("token", why);
            return Err(());
        }
    };
    let token_url = md.token_endpoint().map(|u| u.url().to_string()).unwrap_or_default();
    let http = match client_for_url(&token_url, "token endpoint", deps.config.secure_cookies(), deps.config.allow_private_metadata_urls).await {
        Ok(h) => h,
        Err(why) => {
            report.reject("token", why);
            return Err(());
        }
    };
    let request = match client.exchange_code(AuthorizationCode::new(code.to_string())) {
        Ok(r) => r,
        Err(e) => {
            report.reject("token", format!("no token endpoint: {e}"));
            return Err(());
        }
    };
    let send = |req: openidconnect::HttpRequest| capped(http.clone(), req);
    let resp = match request.set_pkce_verifier(PkceCodeVerifier::new(row.pkce_verifier.expose().to_string())).request_async(&send).await {
        Ok(r) => r,
        Err(e) => {
            use openidconnect::RequestTokenError as E;
            let why = match e {
                E::ServerResponse(r) => {
                    let hint =
                        if matches!(r.error(), openidconnect::core::CoreErrorResponseType::InvalidClient) { " (check the client ID and secret)" } else { "" };
                    format!(
                        "the token endpoint refused the code: {}{}{hint}",
                        r.error().as_ref(),
                        r.error_description().map(|d| format!(": {}", d.chars().take(200).collect::<String>())).unwrap_or_default()
                    )
                }
                E::Request(e) if e.kind() == std::io::ErrorKind::FileTooLarge => {
                    format!("the token endpoint's answer is larger than {} KiB", MAX_TOKEN_RESPONSE / 1024)
                }
                E::Request(_) => format!("the token endpoint {token_url} could not be reached"),
                E::Parse(_, _) => "the token endpoint's answer is not a token response".to_string(),
                E::Other(_) => "the token endpoint's answer could not be used".to_string(),
            };
            report.reject("token", why);
            return Err(());
        }
    };
    report.pass("token", "the code was exchanged at the token endpoint");
    let Some(id_token) = resp.id_token() else {
        report.reject("id_token", "the token response has no id_token (is the openid scope allowed for this app?)");
        return Err(());
    };
    let clock = chrono::DateTime::from_timestamp(deps.now, 0).unwrap_or_default();
    let nonce = Nonce::new(row.nonce.expose().to_string());
    let verify = |md: &CoreProviderMetadata| -> Result<(), openidconnect::ClaimsVerificationError> {
        let client = client_of(deps, p, md).map_err(openidconnect::ClaimsVerificationError::Other)?;
        let verifier: CoreIdTokenVerifier = client.id_token_verifier().set_allowed_algs(signing_algs(md)).set_time_fn(move || clock);
        id_token.claims(&verifier, &nonce).map(|_| ())
    };
    let mut outcome = verify(md);
    if matches!(outcome, Err(openidconnect::ClaimsVerificationError::SignatureVerification(_))) {
        // Signed with a key we don't hold: the IdP may have rotated; fetch its keys again.
        if let Ok(fresh) = metadata(deps, p, true).await {
            outcome = verify(&fresh.md);
        }
    }
    if let Err(e) = outcome {
        use openidconnect::ClaimsVerificationError as C;
        let (check, why) = match &e {
            C::SignatureVerification(s) => ("signature", format!("the ID token's signature doesn't verify with the issuer's keys: {s}")),
            C::InvalidIssuer(d) => ("issuer", format!("the ID token's issuer is wrong: {d}")),
            C::InvalidAudience(_) => ("audience", "the ID token is for another client ID".to_string()),
            C::Expired(d) => ("time", format!("the ID token has expired (check the clocks): {d}")),
            C::InvalidNonce(_) => ("nonce", "the ID token's nonce isn't the one this sign-in sent".to_string()),
            other => ("id_token", format!("the ID token was refused: {other}")),
        };
        report.reject(check, why);
        return Err(());
    }
    report.pass("signature", "signed with one of the issuer's keys");
    report.pass("issuer", format!("issued by {}", md.issuer().as_str()));
    report.pass("audience", "issued to this connection's client ID");
    report.pass("time", "not expired");
    report.pass("nonce", "answers this sign-in");
    // The verified token's payload, for the configured claim names.
    let raw = id_token.to_string();
    let payload = raw.split('.').nth(1).unwrap_or_default();
    match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok()) {
        Some(Value::Object(m)) => Ok(m),
        _ => {
            report.reject("id_token", "the ID token's claims could not be read");
            Err(())
        }
    }
}

/// The most a token endpoint's answer may hold (an ID token of a few KiB is usual).
const MAX_TOKEN_RESPONSE: usize = 128 * 1024;

/// Sends the token request through the connection's pinned client and reads at most
/// `MAX_TOKEN_RESPONSE` of the answer (an IdP an admin runs must not fill our memory).
async fn capped(http: reqwest::Client, req: openidconnect::HttpRequest) -> Result<openidconnect::HttpResponse, std::io::Error> {
    let io = |e: reqwest::Error| std::io::Error::other(e.to_string());
    let req = reqwest::Request::try_from(req).map_err(io)?;
    let mut resp = http.execute(req).await.map_err(io)?;
    let mut out = openidconnect::http::Response::builder().status(resp.status().as_u16());
    for (k, v) in resp.headers() {
        out = out.header(k.as_str(), v.as_bytes());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(io)? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_TOKEN_RESPONSE {
            return Err(std::io::Error::from(std::io::ErrorKind::FileTooLarge));
        }
    }
    out.body(body).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn claims_become_attributes_and_overage_is_marked() {
        let claims = json!({
            "sub": "u1", "aud": "c", "email": "a@acme.test", "email_verified": true,
            "groups": ["Eng", "Admins"], "nested": {"x": 1}, "_claim_names": {"groups": "src1"}
        });
        let Value::Object(m) = claims else { panic!("object") };
        let attrs = claim_attributes(&m, "groups");
        assert!(attrs.contains(&("groups".into(), vec!["Eng".into(), "Admins".into()])));
        assert!(attrs.contains(&("email_verified".into(), vec!["true".into()])));
        assert!(!attrs.iter().any(|(k, _)| k == "aud" || k == "nested"));
        assert!(attrs.iter().any(|(k, _)| k == "http://schemas.microsoft.com/claims/groups.link"), "Entra's overage keeps the groups as they are");
        let many: Vec<Value> = (0..500).map(|i| Value::String(format!("g{i}"))).collect();
        let Value::Object(m) = json!({ "groups": many }) else { panic!("object") };
        assert_eq!(claim_attributes(&m, "groups")[0].1.len(), MAX_VALUES);
    }
}
