//! The authorization code flow with PKCE S256, state and nonce kept server-side (bound to
//! the browser that started), and the account a verified identity signs in to. Nobody is
//! created here: only members, or invitees.
use base64::Engine;
use openidconnect::core::{CoreAuthenticationFlow, CoreIdTokenVerifier, CoreProviderMetadata};
use openidconnect::{AuthorizationCode, CsrfToken, Nonce, PkceCodeChallenge, PkceCodeVerifier, Scope, TokenResponse};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{json, Value};

use super::discovery::{client_for, http};
use super::rules::{google_issuer, microsoft_issuer_ok, provider_rules, tenant_may_assert, EmailTrust, Verified};
use super::{allowed, OidcProvider};
use crate::server::audit::{self, Actor};
use crate::server::crypto::{Secret, Token};
use crate::server::entities::{account, external_identity, invite, oidc_state, workspace};
use crate::server::{completion, methods, normalize_email, Deps, DomainError};

pub const STATE_LIFETIME_SECS: i64 = 600;

/// Starts sign-in: stores state/nonce/PKCE verifier (hashed state as key), returns the
/// provider's authorization URL.
/// `NotFound`: no such provider on this server, or no such workspace.
pub async fn start(deps: Deps<'_>, key: &str, slug: &str, next: Option<&str>, browser_nonce: &Token) -> Result<String, DomainError> {
    let (db, cfg, now) = (deps.db, deps.config, deps.now);
    let p = cfg.oidc_provider(key).ok_or(DomainError::NotFound)?;
    let ws = workspace::Entity::find().filter(workspace::Column::Slug.eq(slug)).one(db).await?.ok_or(DomainError::NotFound)?;
    if !methods::is_enabled(db, ws.id, key, cfg).await? {
        return Err(DomainError::Refused(format!("Sign-in with {} is switched off for {}.", p.label(), ws.name)));
    }
    let md = deps.discovery.metadata(p).await?;
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
        next: Set(next.and_then(completion::safe_relay).unwrap_or_default()),
        expires_at: Set(now + STATE_LIFETIME_SECS),
        browser_hash: Set(browser_nonce.hash()),
        test_by: Set(None),
    }
    .insert(db)
    .await?;
    Ok(url.to_string())
}

/// The workspace a callback's `state` was issued for, when it names a pending sign-in of
/// provider `key` that hasn't expired. Read before anything else is done with the
/// callback, so its failures are counted in that workspace's scope: a neighbour behind
/// the same address who sends junk callbacks throttles nobody else's sign-ins.
pub async fn pending_workspace(db: &sea_orm::DatabaseConnection, now: i64, key: &str, state: Option<&str>) -> Result<Option<i64>, DomainError> {
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

fn refused(back: &str, message: impl Into<String>) -> Outcome {
    Outcome::Refused { message: message.into(), back: back.to_string() }
}

/// Completes a sign-in from the provider's answer. A member who joins through an invite
/// here is announced to open pages once the change has committed.
pub async fn callback(deps: Deps<'_>, key: &str, cb: Callback<'_>) -> Result<Outcome, DomainError> {
    let (db, events, cfg, now) = (deps.db, deps.events, deps.config, deps.now);
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
    let md = deps.discovery.metadata(p).await?;
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
    let verified = match exchange(deps, p, &md, code, &row).await {
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
            crate::server::domains::claims_email(db, ws.id, e).await? && tenant_may_assert(&rules, &ident_key, domain)
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
        (None, Some(e)) if email_trusted => crate::server::directory::account_by_email(&txn, ws.id, e).await?.map(|a| a.id),
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
        Some(a) => crate::server::directory::membership_of(&txn, ws.id, a).await?,
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
            let a = crate::server::directory::find_or_create_account(&txn, now, ws.id, &e, &e, &full).await?;
            let m = match crate::server::directory::membership_of(&txn, ws.id, a.id).await? {
                Some(m) => m,
                None => crate::server::directory::add_membership(&txn, now, ws.id, a.id, inv.role, None).await?,
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
async fn exchange(deps: Deps<'_>, p: &OidcProvider, md: &CoreProviderMetadata, code: &str, row: &oidc_state::Model) -> Result<Verified, String> {
    let (cfg, now) = (deps.config, deps.now);
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
            let fresh = deps.discovery.metadata_with(p, true).await.map_err(|e| e.to_string())?;
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
