//! Sign in with Google, Slack and Office365 (Microsoft identity platform v2): OpenID
//! Connect authorization code flow with PKCE S256, state and nonce kept server-side (bound
//! to the browser that started), id_token verified with the provider's JWKS, then the
//! provider's own rules (Google `email_verified` + `hd`, Microsoft `tid`/`oid` and tenant
//! issuers, Slack team ids). Nobody is created here: only members, or invitees.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreIdTokenVerifier, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, JsonWebKeySet, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{json, Value};

use super::audit::{self, Actor};
use super::config::RuntimeConfig;
use super::crypto::{Secret, Token};
use super::entities::{account, external_identity, invite, oidc_rule, oidc_state, workspace};
use super::{completion, methods, normalize_email, DomainError};

pub const STATE_LIFETIME_SECS: i64 = 600;
/// Microsoft's tenant for personal accounts (outlook.com, hotmail.com…): refused for work sign-in.
pub const MSA_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// The least time between two fetches forced by an ID token signed with a key we do not hold.
const FORCED_REFRESH_EVERY: Duration = Duration::from_secs(60);

pub use super::config::OidcProvider;

/// Microsoft's multi-tenant metadata names its issuer `https://login.microsoftonline.com/{tenantid}/v2.0`;
/// a token's `iss` must be that template with the token's own `tid`.
pub fn microsoft_issuer_ok(template: &str, iss: &str, tid: &str) -> bool {
    let tid_ok = !tid.is_empty() && tid.len() <= 64 && tid.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if template.contains("{tenantid}") {
        tid_ok && iss == template.replace("{tenantid}", tid)
    } else {
        iss == template
    }
}

/// Google's tokens name their issuer with or without the scheme; links use one form.
pub fn google_issuer(iss: &str) -> String {
    if iss == "accounts.google.com" {
        "https://accounts.google.com".into()
    } else {
        iss.to_string()
    }
}

fn http() -> Result<openidconnect::reqwest::Client, DomainError> {
    openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| DomainError::Internal(e.to_string()))
}

/// Per issuer: when it was fetched, whether that fetch was forced by an unknown key, and
/// the document with its keys.
type Cache = Mutex<HashMap<String, (Instant, bool, Arc<CoreProviderMetadata>)>>;

fn cache() -> &'static Cache {
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Discovery document and JWKS, cached per issuer for an hour (a per-process cache of
/// public data; nothing shared depends on it).
async fn metadata(p: &OidcProvider) -> Result<Arc<CoreProviderMetadata>, DomainError> {
    metadata_with(p, false).await
}

/// `refresh`: ignore the cache (a token signed with a key we don't know yet: the provider
/// rotated its keys). A forced fetch is made at once, however recent the cached keys are
/// (a rotation right after our last fetch must not refuse sign-ins), but at most once a
/// minute per provider: another unknown key within that minute is refused with the keys
/// of the forced fetch.
async fn metadata_with(p: &OidcProvider, refresh: bool) -> Result<Arc<CoreProviderMetadata>, DomainError> {
    if let Ok(c) = cache().lock() {
        if let Some((at, forced, md)) = c.get(&p.issuer) {
            let fresh_enough = if refresh { *forced && at.elapsed() < FORCED_REFRESH_EVERY } else { at.elapsed() < DISCOVERY_TTL };
            if fresh_enough {
                return Ok(md.clone());
            }
        }
    }
    let unreachable = |what: &str| DomainError::Internal(format!("{} {what} unavailable", p.key));
    let client = http()?;
    let url = format!("{}/.well-known/openid-configuration", p.issuer);
    let body = client.get(&url).send().await.map_err(|_| unreachable("discovery"))?;
    if !body.status().is_success() {
        return Err(unreachable("discovery"));
    }
    let bytes = body.bytes().await.map_err(|_| unreachable("discovery"))?;
    let md: CoreProviderMetadata = serde_json::from_slice(&bytes).map_err(|e| DomainError::Internal(format!("{} discovery document: {e}", p.key)))?;
    let issuer = md.issuer().as_str().trim_end_matches('/').to_string();
    let matches = issuer == p.issuer || (p.key == "office365" && issuer.contains("{tenantid}"));
    if !matches {
        return Err(DomainError::Internal(format!("{} discovery names issuer {issuer}, expected {}", p.key, p.issuer)));
    }
    let jwks = JsonWebKeySet::fetch_async(md.jwks_uri(), &client).await.map_err(|_| unreachable("JWKS"))?;
    let md = Arc::new(md.set_jwks(jwks));
    if let Ok(mut c) = cache().lock() {
        c.insert(p.issuer.clone(), (Instant::now(), refresh, md.clone()));
    }
    Ok(md)
}

pub fn redirect_uri(cfg: &RuntimeConfig, key: &str) -> String {
    format!("{}/auth/{key}/callback", cfg.public_url.trim_end_matches('/'))
}

fn client_for(
    cfg: &RuntimeConfig,
    p: &OidcProvider,
    md: &CoreProviderMetadata,
) -> Result<
    openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    DomainError,
> {
    let redirect = RedirectUrl::new(redirect_uri(cfg, &p.key)).map_err(|e| DomainError::Internal(e.to_string()))?;
    let post_only = md
        .token_endpoint_auth_methods_supported()
        .is_some_and(|m| !m.is_empty() && m.iter().all(|a| *a == openidconnect::core::CoreClientAuthMethod::ClientSecretPost));
    let c = CoreClient::from_provider_metadata(md.clone(), ClientId::new(p.client_id.clone()), Some(ClientSecret::new(p.client_secret.expose().to_string())))
        .set_redirect_uri(redirect);
    // Slack's token endpoint takes the secret in the body only.
    Ok(if post_only { c.set_auth_type(openidconnect::AuthType::RequestBody) } else { c })
}

/// Starts sign-in: stores state/nonce/PKCE verifier (hashed state as key), returns the
/// provider's authorization URL.
pub async fn start(
    db: &DatabaseConnection,
    cfg: &RuntimeConfig,
    now: i64,
    key: &str,
    ws: &workspace::Model,
    next: Option<&str>,
    browser_nonce: &Token,
) -> Result<String, DomainError> {
    let p = cfg.oidc_provider(key).ok_or(DomainError::NotFound)?;
    if !methods::is_enabled(db, ws.id, key, cfg).await? {
        return Err(DomainError::Refused(format!("Sign-in with {} is switched off for {}.", p.label(), ws.name)));
    }
    let md = metadata(p).await?;
    let client = client_for(cfg, p, &md)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    oidc_state::Entity::delete_many().filter(oidc_state::Column::ExpiresAt.lt(now)).exec(db).await?;
    oidc_state::ActiveModel {
        state_hash: Set(Token::from_presented(state.secret()).hash()),
        provider: Set(key.to_string()),
        workspace_id: Set(ws.id),
        nonce: Set(Secret::new(nonce.secret().clone())),
        pkce_verifier: Set(Secret::new(verifier.secret().clone())),
        next: Set(next.and_then(super::completion::safe_relay).unwrap_or_default()),
        expires_at: Set(now + STATE_LIFETIME_SECS),
        browser_hash: Set(browser_nonce.hash()),
    }
    .insert(db)
    .await?;
    Ok(url.to_string())
}

/// The workspace a callback's `state` was issued for, when it names a pending sign-in of
/// provider `key` that hasn't expired. Read before anything else is done with the
/// callback, so its failures are counted in that workspace's scope: a neighbour behind
/// the same address who sends junk callbacks throttles nobody else's sign-ins.
pub async fn pending_workspace(db: &DatabaseConnection, now: i64, key: &str, state: Option<&str>) -> Result<Option<i64>, DomainError> {
    let Some(state) = state.filter(|s| !s.is_empty() && s.len() <= 256) else { return Ok(None) };
    let row = oidc_state::Entity::find_by_id(Token::from_presented(state).hash()).one(db).await?;
    Ok(row.filter(|r| r.provider == key && r.expires_at > now).map(|r| r.workspace_id))
}

/// What the provider sent back to the callback.
pub struct Callback<'a> {
    pub code: Option<&'a str>,
    pub state: Option<&'a str>,
    pub iss: Option<&'a str>,
    pub error: Option<&'a str>,
    pub browser_nonce: Option<&'a Token>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug)]
pub enum Outcome {
    SignedIn { token: Token, redirect: String, max_age: i64 },
    Refused { message: String, back: String },
}

/// Claims we act on, from a verified id_token.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub extra: Value,
}

fn refused(back: &str, message: impl Into<String>) -> Outcome {
    Outcome::Refused { message: message.into(), back: back.to_string() }
}

/// Completes a sign-in from the provider's answer. A member who joins through an invite
/// here is announced to open pages once the change has committed.
pub async fn callback(
    db: &DatabaseConnection,
    events: &super::events::Events,
    cfg: &RuntimeConfig,
    now: i64,
    key: &str,
    cb: Callback<'_>,
) -> Result<Outcome, DomainError> {
    let p = cfg.oidc_provider(key).ok_or(DomainError::NotFound)?;
    let generic_back = "/".to_string();
    // State: ours, for this provider, unexpired, from this browser; used once.
    let Some(state) = cb.state.filter(|s| !s.is_empty() && s.len() <= 256) else {
        return Ok(refused(&generic_back, "This sign-in link is incomplete. Start again from your workspace's sign-in page."));
    };
    let hash = Token::from_presented(state).hash();
    let row = oidc_state::Entity::find_by_id(hash.clone()).one(db).await?;
    let Some(row) = row.filter(|r| r.provider == key && r.expires_at > now) else {
        tracing::warn!(provider = key, "OIDC callback with an unknown, used or expired state");
        return Ok(refused(&generic_back, "This sign-in has expired or was already used. Start again from your workspace's sign-in page."));
    };
    let ws = workspace::Entity::find_by_id(row.workspace_id).one(db).await?.ok_or(DomainError::NotFound)?;
    let back = format!("/w/{}/login", ws.slug);
    if cb.browser_nonce.is_none_or(|n| n.hash() != row.browser_hash) {
        return Ok(refused(&back, "Start signing in again from the sign-in page, in this browser (cookies must be allowed)."));
    }
    if oidc_state::Entity::delete_many().filter(oidc_state::Column::StateHash.eq(hash)).exec(db).await?.rows_affected != 1 {
        return Ok(refused(&back, "This sign-in was already used. Start again."));
    }
    let actor = Actor::anonymous(&format!("{key} sign-in"), cb.ip.clone());
    let (ws_id, ws_slug) = (ws.id, ws.slug.clone());
    // A refusal is audited, sampled per (workspace, provider, kind) and hour: callbacks
    // are anyone's to send (audit::count_refusal). Once the provider has vouched for a
    // subject, per subject too (audit::count_subject_refusal).
    let refuse = |kind: &'static str, vouched: Option<&Verified>, why: String, message: String| {
        let (actor, back, slug) = (actor.clone(), back.clone(), ws_slug.clone());
        let subject = vouched.map(|v| v.subject.clone());
        // Who the provider vouched for, so an admin sees who was refused: its email when
        // the provider says it verified it, else its subject (an unverified email could
        // name anyone).
        let who = vouched.map(|v| {
            let verified_email = v.email.clone().filter(|_| v.email_verified == Some(true));
            verified_email.unwrap_or_else(|| format!("subject {}", v.subject)).chars().take(256).collect::<String>()
        });
        async move {
            tracing::warn!(provider = key, workspace = %slug, kind, reason = %why, "OIDC sign-in refused");
            let scope = format!("oidc:{ws_id}:{key}");
            let (logged, n) = match &subject {
                Some(s) => audit::count_subject_refusal(db, now, &scope, kind, s).await?,
                None => audit::count_refusal(db, now, &scope, kind).await?,
            };
            if logged {
                audit::record(db, now, Some(ws_id), &actor, "oidc.refused", key, json!({ "kind": kind, "reason": why, "who": who, "count_this_hour": n }))
                    .await?;
            }
            Ok::<Outcome, DomainError>(Outcome::Refused { message, back })
        }
    };
    if let Some(e) = cb.error {
        return refuse(
            "provider_error",
            None,
            format!("provider error {}", e.chars().take(100).collect::<String>()),
            format!("{} sign-in was cancelled or failed. Try again.", p.label()),
        )
        .await;
    }
    if !methods::is_enabled(db, ws.id, key, cfg).await? {
        return refuse("method_off", None, "method switched off".into(), format!("Sign-in with {} is switched off for {}.", p.label(), ws.name)).await;
    }
    let md = metadata(p).await?;
    // RFC 9207: when the provider names itself in the response, it must be the one we asked.
    if let Some(iss) = cb.iss {
        let expected = md.issuer().as_str();
        let ok = iss == expected || (expected.contains("{tenantid}") && iss.starts_with("https://login.microsoftonline.com/"));
        if !ok {
            return refuse(
                "issuer",
                None,
                format!("authorization response iss {iss} is not {expected}"),
                format!("{} sign-in could not be verified. Try again.", p.label()),
            )
            .await;
        }
    }
    let Some(code) = cb.code.filter(|c| !c.is_empty() && c.len() <= 2048) else {
        return refuse("no_code", None, "no code".into(), format!("{} sign-in could not be completed. Try again.", p.label())).await;
    };
    let verified = match exchange(cfg, p, &md, code, &row, now).await {
        Ok(v) => v,
        Err(why) => return refuse("exchange", None, why, format!("{} sign-in could not be verified. Try again.", p.label())).await,
    };
    let rules = allowed(db, ws.id, key).await?;
    let (ident_key, ident_subject, trust) = match provider_rules(key, &verified, &rules) {
        Ok(x) => x,
        Err((why, message)) => return refuse("rules", Some(&verified), why, message).await,
    };
    // RFC 9207 for Microsoft's multi-tenant issuer: the template with this token's tenant.
    if let (Some(iss), true) = (cb.iss, md.issuer().as_str().contains("{tenantid}")) {
        if !microsoft_issuer_ok(md.issuer().as_str(), iss, &ident_key) {
            return refuse(
                "tenant_issuer",
                Some(&verified),
                format!("authorization response iss {iss} is not this tenant's"),
                format!("{} sign-in could not be verified. Try again.", p.label()),
            )
            .await;
        }
    }
    // Identity: a (provider, key, subject) linked in this workspace first; else the email,
    // when the provider vouches for it, matched only against this workspace's accounts;
    // never a new account without an invite. A link made in another workspace is never
    // read here (docs/design.md, "Identity belongs to a workspace").
    let linked = external_identity::Entity::find()
        .filter(external_identity::Column::WorkspaceId.eq(ws.id))
        .filter(external_identity::Column::ProviderKind.eq(key))
        .filter(external_identity::Column::ProviderKey.eq(ident_key.clone()))
        .filter(external_identity::Column::Subject.eq(ident_subject.clone()))
        .one(db)
        .await?;
    let email = match verified.email.as_deref().map(normalize_email) {
        Some(Ok(e)) => Some(e),
        _ => None,
    };
    let email_trusted = match (trust, &email) {
        (EmailTrust::Verified, Some(_)) => true,
        (EmailTrust::ClaimedDomainOnly, Some(e)) => {
            let domain = e.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
            super::domains::claims_email(db, ws.id, e).await? && tenant_may_assert(&rules, &ident_key, domain)
        }
        _ => false,
    };
    // Only a provider-verified email makes a link (this workspace's only).
    let keep_link = trust == EmailTrust::Verified;
    let who = email.clone().unwrap_or_else(|| "This account".into());
    let not_member = format!("This {} account ({}) isn't a member of {}. Ask an admin for an invite.", p.label(), who, ws.name);
    let txn = crate::server::db::write(db).await?;
    let account_id = match (&linked, &email) {
        (Some(l), _) => Some(l.account_id),
        (None, Some(e)) if email_trusted => super::directory::account_by_email(&txn, ws.id, e).await?.map(|a| a.id),
        _ => None,
    };
    if let (None, Some(a)) = (&linked, account_id) {
        // The account already belongs to another subject of this provider: a second
        // identity with the same email (a recycled mailbox, a rehired name) doesn't take it.
        let other = external_identity::Entity::find()
            .filter(external_identity::Column::WorkspaceId.eq(ws.id))
            .filter(external_identity::Column::ProviderKind.eq(key))
            .filter(external_identity::Column::ProviderKey.eq(ident_key.clone()))
            .filter(external_identity::Column::AccountId.eq(a))
            .one(&txn)
            .await?;
        if other.is_some() {
            txn.rollback().await?;
            return refuse(
                "linked_elsewhere",
                Some(&verified),
                "account linked to another subject".into(),
                format!("{} is already linked to a different {} account. Ask an admin for help.", who, p.label()),
            )
            .await;
        }
    }
    let membership = match account_id {
        Some(a) => super::directory::membership_of(&txn, ws.id, a).await?,
        None => None,
    };
    let (account_id, membership, joined) = match (account_id, membership) {
        (Some(a), Some(m)) => (a, m, false),
        _ => {
            // An invite for this (provider-verified) email joins them now.
            let pending = match (&email, email_trusted) {
                (Some(e), true) => {
                    invite::Entity::find()
                        .filter(invite::Column::WorkspaceId.eq(ws.id))
                        .filter(invite::Column::EmailNormalized.eq(e.clone()))
                        .filter(invite::Column::AcceptedAt.is_null())
                        .filter(invite::Column::ExpiresAt.gt(now))
                        .order_by_desc(invite::Column::Id)
                        .one(&txn)
                        .await?
                }
                _ => None,
            };
            let Some(inv) = pending else {
                txn.rollback().await?;
                return refuse("not_member", Some(&verified), if email_trusted { "not a member".into() } else { "email not verified by the provider".into() }, if email_trusted { not_member } else {
                    format!("{} didn't confirm that this account owns {}, so it can't be matched to a member of {}. (Office365: your IT admin adds the optional claim xms_edov to the app registration, or allows your tenant in Member Authorization.)", p.label(), who, ws.name)
                }).await;
            };
            let e = email.clone().unwrap_or_default();
            let full = verified.name.clone().unwrap_or_default();
            let a = super::directory::find_or_create_account(&txn, now, ws.id, &e, &e, &full).await?;
            let m = match super::directory::membership_of(&txn, ws.id, a.id).await? {
                Some(m) => m,
                None => super::directory::add_membership(&txn, now, ws.id, a.id, inv.role, None).await?,
            };
            // The newest invite decides the role; every pending invite for this email is used.
            invite::Entity::update_many()
                .col_expr(invite::Column::AcceptedAt, sea_orm::sea_query::Expr::value(now))
                .filter(invite::Column::WorkspaceId.eq(ws.id))
                .filter(invite::Column::EmailNormalized.eq(inv.email_normalized.clone()))
                .filter(invite::Column::AcceptedAt.is_null())
                .exec(&txn)
                .await?;
            (a.id, m, true)
        }
    };
    if linked.is_none() && keep_link {
        let inserted = external_identity::ActiveModel {
            account_id: Set(account_id),
            workspace_id: Set(ws.id),
            provider_kind: Set(key.to_string()),
            provider_key: Set(ident_key.clone()),
            subject: Set(ident_subject.clone()),
            created_at: Set(now),
            last_used_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await;
        // Two first sign-ins of one identity at once: the unique index keeps one link;
        // the other browser is asked to try again instead of getting an error page.
        match inserted {
            Ok(_) => {}
            Err(e) if crate::server::db::is_unique_violation(&e) => {
                txn.rollback().await?;
                return Ok(Outcome::Refused { message: format!("{} sign-in crossed another one for the same account. Try again.", p.label()), back });
            }
            Err(e) => return Err(e.into()),
        }
    } else if let Some(l) = linked {
        let mut lm: external_identity::ActiveModel = l.into();
        lm.last_used_at = Set(now);
        lm.update(&txn).await?;
    }
    let label = account::Entity::find_by_id(account_id).one(&txn).await?.map(|a| a.email).unwrap_or_default();
    let done = completion::complete(
        db,
        events,
        txn,
        now,
        completion::Completion {
            workspace: &ws,
            membership: &membership,
            joined,
            method: key,
            actor: Actor { account_id: Some(account_id), label, ip: cb.ip.clone() },
            audit_action: if joined { "oidc.join" } else { "oidc.sign_in" },
            audit_target: key,
            audit_details: json!({ "subject": ident_subject }),
            next: Some(&row.next),
            forward: &cfg.forward_auth,
            user_agent: cb.user_agent.clone(),
            saml: None,
        },
    )
    .await?;
    match done {
        Ok(s) => Ok(Outcome::SignedIn { token: s.token, redirect: s.redirect, max_age: s.max_age }),
        Err(completion::NotSignedIn::Deactivated) => {
            refuse(
                "deactivated",
                Some(&verified),
                "deactivated".into(),
                format!("Your membership of {} is deactivated. Ask an admin to reactivate it.", ws.name),
            )
            .await
        }
    }
}

/// Exchanges the code (with the PKCE verifier) and verifies the id_token: signature from
/// the JWKS, issuer, audience, expiry (our clock), nonce.
async fn exchange(cfg: &RuntimeConfig, p: &OidcProvider, md: &CoreProviderMetadata, code: &str, row: &oidc_state::Model, now: i64) -> Result<Verified, String> {
    let client = client_for(cfg, p, md).map_err(|e| e.to_string())?;
    let http = http().map_err(|e| e.to_string())?;
    let resp = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| format!("token endpoint: {e}"))?
        .set_pkce_verifier(PkceCodeVerifier::new(row.pkce_verifier.expose().to_string()))
        .request_async(&http)
        .await
        .map_err(|e| format!("code exchange failed: {e}"))?;
    let id_token = resp.id_token().ok_or("the token response has no id_token")?;
    let template = md.issuer().as_str().to_string();
    let multi_tenant = template.contains("{tenantid}");
    let google = p.key == "google";
    let clock = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
    let verify = |md: &CoreProviderMetadata| -> Result<Result<openidconnect::core::CoreIdTokenClaims, openidconnect::ClaimsVerificationError>, String> {
        let client = client_for(cfg, p, md).map_err(|e| e.to_string())?;
        let verifier: CoreIdTokenVerifier = client.id_token_verifier().set_time_fn(move || clock).require_issuer_match(!multi_tenant && !google);
        Ok(id_token.claims(&verifier, &Nonce::new(row.nonce.expose().to_string())).cloned())
    };
    let rejected = |e: openidconnect::ClaimsVerificationError| format!("id_token rejected: {e}");
    let claims = match verify(md)? {
        Ok(c) => c,
        // The signature didn't verify with the keys we hold: the provider may have rotated
        // them; fetch its keys once more (decided on the error's kind, never its text).
        Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
            let fresh = metadata_with(p, true).await.map_err(|e| e.to_string())?;
            verify(&fresh)?.map_err(rejected)?
        }
        Err(e) => return Err(rejected(e)),
    };
    if google && google_issuer(claims.issuer().as_str()) != google_issuer(&template) {
        return Err(format!("issuer {} is not Google's", claims.issuer().as_str()));
    }
    // The verified token's payload, for provider-specific claims (hd, tid, oid, team id).
    let raw = id_token.to_string();
    let payload = raw.split('.').nth(1).ok_or("malformed id_token")?;
    let extra: Value = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("unreadable id_token payload")?;
    let issuer = claims.issuer().as_str().to_string();
    if multi_tenant {
        let tid = extra.get("tid").and_then(Value::as_str).unwrap_or("");
        if !microsoft_issuer_ok(&template, &issuer, tid) {
            return Err(format!("issuer {issuer} does not match the tenant {tid}"));
        }
    }
    Ok(Verified {
        issuer,
        subject: claims.subject().as_str().to_string(),
        email: claims.email().map(|e| e.as_str().to_string()),
        email_verified: claims.email_verified(),
        name: claims.name().and_then(|l| l.get(None)).map(|n| n.as_str().to_string()),
        given_name: claims.given_name().and_then(|l| l.get(None)).map(|n| n.as_str().to_string()),
        family_name: claims.family_name().and_then(|l| l.get(None)).map(|n| n.as_str().to_string()),
        extra,
    })
}

/// The workspace's allowlist for a provider (empty: any).
pub async fn allowed<C: ConnectionTrait>(db: &C, workspace_id: i64, key: &str) -> Result<Vec<String>, DomainError> {
    Ok(oidc_rule::Entity::find_by_id((workspace_id, key.to_string()))
        .one(db)
        .await?
        .map(|r| r.allowed.split(',').map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default())
}

/// Admins set a provider's allowlist (comma- or space-separated).
pub async fn set_allowed(db: &DatabaseConnection, now: i64, cap: &super::permissions::AdminCap, key: &str, raw: &str) -> Result<Vec<String>, DomainError> {
    if !methods::OIDC_PROVIDERS.contains(&key) {
        return Err(DomainError::Invalid("Allowlists exist for google, slack and office365.".into()));
    }
    let items: Vec<String> = raw.split([',', ' ', '\n']).map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).collect();
    for i in &items {
        let ok = match key {
            "google" => super::domains::validate_domain(i).is_ok(),
            "office365" => {
                let (tenant, domains) = match i.split_once('=') {
                    Some((t, d)) => (t, Some(d)),
                    None => (i.as_str(), None),
                };
                tenant.len() == 36
                    && tenant.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
                    && domains.is_none_or(|d| !d.is_empty() && d.split('|').all(|d| super::domains::validate_domain(d).is_ok_and(|v| v == d)))
            }
            _ => i.len() <= 32 && i.starts_with('t') && i.chars().all(|c| c.is_ascii_alphanumeric()),
        };
        if !ok {
            return Err(DomainError::Invalid(match key {
                "google" => format!("“{i}” is not a domain like example.com."),
                "office365" => format!("“{i}” is not a Microsoft tenant ID (a GUID), optionally followed by =domain|domain."),
                _ => format!("“{i}” is not a Slack team ID (like T0123ABCD)."),
            }));
        }
    }
    if items.len() > 50 {
        return Err(DomainError::Invalid("At most 50 entries.".into()));
    }
    let joined = items.join(",");
    let txn = crate::server::db::write(db).await?;
    // Narrowed (something allowed before isn't now, or any list where there was none): the
    // provider's sessions end, since which organization each came from isn't kept; members
    // sign in again under the new rule.
    let before = allowed(&txn, cap.workspace_id(), key).await?;
    let narrowed = !items.is_empty() && (before.is_empty() || before.iter().any(|b| !items.contains(b)));
    let ended = if narrowed { super::sessions::end_by_method(&txn, cap.workspace_id(), key, cap.session_id()).await? } else { 0 };
    oidc_rule::Entity::delete_many()
        .filter(oidc_rule::Column::WorkspaceId.eq(cap.workspace_id()))
        .filter(oidc_rule::Column::Provider.eq(key))
        .exec(&txn)
        .await?;
    oidc_rule::ActiveModel { workspace_id: Set(cap.workspace_id()), provider: Set(key.to_string()), allowed: Set(joined.clone()), updated_at: Set(now) }
        .insert(&txn)
        .await?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "oidc.allowlist", key, json!({ "allowed": items, "sessions_ended": ended })).await?;
    txn.commit().await?;
    Ok(items)
}

/// The tenant of an office365 allowlist entry (`TENANT` or `TENANT=domain|domain`).
fn tenant_of(entry: &str) -> &str {
    entry.split('=').next().unwrap_or(entry)
}

/// May allowlisted tenant `tid` assert addresses of `domain` (one of the workspace's
/// verified domains) in a workspace whose office365 allowlist is `allow`? The entry's own
/// list (`TENANT=a.com|b.com`) when it has one; otherwise every verified domain while it
/// is the only tenant listed, and none once there are several (one organization never
/// speaks for another's people by default).
pub fn tenant_may_assert(allow: &[String], tid: &str, domain: &str) -> bool {
    let Some(entry) = allow.iter().find(|a| tenant_of(a) == tid) else { return false };
    match entry.split_once('=') {
        Some((_, domains)) => domains.split('|').any(|d| d == domain),
        None => allow.len() == 1,
    }
}

type Refusal = (String, String);

/// How far a provider's email claim can be trusted to match a member or an invite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailTrust {
    /// The provider verified it: it may match, and the identity link it makes is global.
    Verified,
    /// Only for an email in this workspace's claimed domains, and no global link is kept
    /// (Microsoft tenants on the workspace's allowlist without `xms_edov`).
    ClaimedDomainOnly,
    No,
}

/// Per provider: the identity key and subject, how far its email can be trusted, and its
/// allowlist.
pub fn provider_rules(key: &str, v: &Verified, allow: &[String]) -> Result<(String, String, EmailTrust), Refusal> {
    let s = |k: &str| v.extra.get(k).and_then(Value::as_str).map(str::to_string);
    match key {
        "google" => {
            if v.email_verified != Some(true) {
                return Err((
                    "email_verified is not true".into(),
                    "Google hasn't verified this account's email address, so it can't be used to sign in.".into(),
                ));
            }
            let hd = s("hd").unwrap_or_default().to_lowercase();
            if !allow.is_empty() && !allow.contains(&hd) {
                return Err((format!("hd {hd:?} not allowed"), "This Google account isn't part of a Google Workspace domain this workspace allows.".into()));
            }
            Ok((google_issuer(&v.issuer), v.subject.clone(), EmailTrust::Verified))
        }
        "office365" => {
            let tid = s("tid").unwrap_or_default().to_lowercase();
            let oid = s("oid").unwrap_or_default();
            if tid.is_empty() || oid.is_empty() {
                return Err(("no tid/oid".into(), "Microsoft sent an incomplete identity. Try again.".into()));
            }
            if tid == MSA_TENANT {
                return Err((
                    "personal Microsoft account".into(),
                    "Personal Microsoft accounts can't be used here; sign in with your work or school account.".into(),
                ));
            }
            if !allow.is_empty() && !allow.iter().any(|a| tenant_of(a) == tid) {
                return Err((format!("tenant {tid} not allowed"), "This Microsoft organization isn't one this workspace allows.".into()));
            }
            // nOAuth: an email in Entra is mutable and unverified. Trust it when Microsoft
            // says the domain owner verified it (the optional claim `xms_edov`); a tenant
            // on the workspace's allowlist is trusted only for the workspace's own claimed
            // domains, and never for a global link.
            let edov = v.extra.get("xms_edov").is_some_and(|x| x.as_bool() == Some(true) || x.as_str() == Some("true") || x.as_i64() == Some(1));
            let trust = if edov {
                EmailTrust::Verified
            } else if !allow.is_empty() {
                EmailTrust::ClaimedDomainOnly
            } else {
                EmailTrust::No
            };
            Ok((tid, oid, trust))
        }
        _ => {
            let team = s("https://slack.com/team_id").unwrap_or_default().to_lowercase();
            if !allow.is_empty() && !allow.contains(&team) {
                return Err((format!("team {team} not allowed"), "This Slack workspace isn't one this workspace allows.".into()));
            }
            if v.email_verified == Some(false) {
                return Err(("email_verified is false".into(), "Slack hasn't verified this account's email address.".into()));
            }
            Ok((v.issuer.clone(), v.subject.clone(), if v.email_verified == Some(true) { EmailTrust::Verified } else { EmailTrust::No }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
    const TID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    #[test]
    fn microsoft_multi_tenant_issuer_is_the_template_with_the_tokens_tenant() {
        assert!(microsoft_issuer_ok(TEMPLATE, &format!("https://login.microsoftonline.com/{TID}/v2.0"), TID));
        // Another tenant's issuer with this token's tid, or the reverse: refused.
        assert!(!microsoft_issuer_ok(TEMPLATE, "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0", TID));
        assert!(!microsoft_issuer_ok(TEMPLATE, &format!("https://evil.example/{TID}/v2.0"), TID));
        assert!(!microsoft_issuer_ok(TEMPLATE, "https://login.microsoftonline.com//v2.0", ""));
        assert!(!microsoft_issuer_ok(TEMPLATE, "https://login.microsoftonline.com/a/b/v2.0", "a/b"));
        // A single-tenant configuration compares exactly.
        let single = format!("https://login.microsoftonline.com/{TID}/v2.0");
        assert!(microsoft_issuer_ok(&single, &single, TID));
        assert!(!microsoft_issuer_ok(&single, "https://login.microsoftonline.com/other/v2.0", "other"));
    }

    fn v(extra: Value, verified: Option<bool>) -> Verified {
        Verified {
            issuer: "https://iss".into(),
            subject: "sub".into(),
            email: Some("a@acme.test".into()),
            email_verified: verified,
            extra,
            ..Default::default()
        }
    }

    #[test]
    fn provider_rules_apply() {
        assert!(provider_rules("google", &v(json!({"hd": "acme.test"}), Some(false)), &[]).is_err());
        assert!(provider_rules("google", &v(json!({"hd": "acme.test"}), Some(true)), &["other.test".into()]).is_err());
        assert!(provider_rules("google", &v(json!({"hd": "acme.test"}), Some(true)), &["acme.test".into()]).is_ok());
        let ms = |extra| provider_rules("office365", &v(extra, None), &[]);
        assert!(ms(json!({"tid": MSA_TENANT, "oid": "x"})).is_err(), "personal accounts refused");
        assert_eq!(
            ms(json!({"tid": TID, "oid": "o1", "xms_edov": true})).ok().map(|r| (r.0, r.1, r.2)),
            Some((TID.to_string(), "o1".to_string(), EmailTrust::Verified))
        );
        assert_eq!(ms(json!({"tid": TID, "oid": "o1"})).ok().map(|r| r.2), Some(EmailTrust::No), "unverified email never matches a member");
        let listed = provider_rules("office365", &v(json!({"tid": TID, "oid": "o1"}), None), &[TID.to_string()]);
        assert_eq!(listed.ok().map(|r| r.2), Some(EmailTrust::ClaimedDomainOnly), "an allowlisted tenant is not a verified email");
        assert_eq!(google_issuer("accounts.google.com"), "https://accounts.google.com");
        assert!(provider_rules("office365", &v(json!({"tid": TID, "oid": "o1"}), None), &["00000000-0000-0000-0000-000000000001".into()]).is_err());
        assert!(provider_rules("slack", &v(json!({"https://slack.com/team_id": "T1"}), Some(true)), &["t2".into()]).is_err());
        assert!(provider_rules("slack", &v(json!({"https://slack.com/team_id": "T1"}), Some(true)), &["t1".into()]).is_ok());
        let with_domains = provider_rules("office365", &v(json!({"tid": TID, "oid": "o1"}), None), &[format!("{TID}=acme.test|acme.io")]);
        assert_eq!(with_domains.ok().map(|r| r.2), Some(EmailTrust::ClaimedDomainOnly), "an entry with domains still allows its tenant");
    }

    #[test]
    fn each_allowlisted_tenant_asserts_only_its_domains() {
        const OTHER: &str = "00000000-0000-0000-0000-000000000001";
        // The only tenant listed, without a list: every verified domain.
        assert!(tenant_may_assert(&[TID.into()], TID, "acme.test"));
        // Several tenants without lists: none asserts anything.
        assert!(!tenant_may_assert(&[TID.into(), OTHER.into()], TID, "acme.test"));
        // Its own list, whatever the others.
        let allow = [format!("{TID}=acme.test|acme.io"), OTHER.to_string()];
        assert!(tenant_may_assert(&allow, TID, "acme.io"));
        assert!(!tenant_may_assert(&allow, TID, "contractor.test"));
        assert!(!tenant_may_assert(&allow, OTHER, "acme.test"));
        assert!(!tenant_may_assert(&allow, "11111111-1111-1111-1111-111111111111", "acme.test"));
    }
}
