//! The stateful half of SAML sign-in: issuing AuthnRequests, and at the ACS binding the
//! answer to a request we issued, the replay cache, identity (provider, NameID) with JIT
//! for claimed domains, the session, and each outcome in the provider's activity.
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::json;

use super::acs::{self, Check, Report, Verified};
use super::{method_key, sp, trust_of, urls};
use crate::server::audit::Actor;
use crate::server::completion::{self, safe_relay};
use crate::server::config::RuntimeConfig;
use crate::server::crypto::Token;
use crate::server::entities::{account, external_identity, saml_activity, saml_provider, saml_replay, saml_request, workspace};
use crate::server::events::Topic;
use crate::server::permissions::{Role, Status};
use crate::server::{directory, domains, methods, normalize_email, DomainError};

/// How long an AuthnRequest may stay unanswered.
pub const REQUEST_LIFETIME_SECS: i64 = 600;
/// Activity rows kept per provider (the page shows the latest).
const ACTIVITY_KEPT: u64 = 200;

/// Starts SP-initiated sign-in (or an admin's test): stores the request, returns the
/// IdP URL to redirect to.
pub async fn start(
    db: &DatabaseConnection,
    cfg: &RuntimeConfig,
    now: i64,
    provider: &super::Provider,
    next: Option<&str>,
    test_by: Option<i64>,
    browser_nonce: &Token,
) -> Result<String, DomainError> {
    let provider = &provider.0;
    if test_by.is_none() && !methods::is_enabled(db, provider.workspace_id, &method_key(&provider.public_id), cfg).await? {
        return Err(DomainError::Refused(format!("Sign-in with {} is switched off for this workspace.", provider.name)));
    }
    let relay = next.and_then(safe_relay).unwrap_or_default();
    let id = sp::new_request_id();
    saml_request::Entity::delete_many().filter(saml_request::Column::ExpiresAt.lt(now)).exec(db).await?;
    saml_request::ActiveModel {
        request_id: Set(id.clone()),
        provider_id: Set(provider.id),
        relay_state: Set(relay.clone()),
        test_mode: Set(test_by.is_some()),
        expires_at: Set(now + REQUEST_LIFETIME_SECS),
        initiated_by: Set(test_by),
        browser_hash: Set(browser_nonce.hash()),
    }
    .insert(db)
    .await?;
    let u = urls(cfg, &provider.public_id);
    let key = if provider.sign_requests { provider.sp_key_pem.as_ref().map(|k| sp::load_key(k.expose())).transpose()? } else { None };
    sp::redirect_url(&sp::AuthnRequestParams {
        id: &id,
        now,
        sso_url: &provider.sso_url,
        sp: &sp::SpInfo {
            entity_id: &u.entity_id,
            acs_url: &u.acs,
            slo_url: &u.slo,
            cert_pem: provider.sp_cert_pem.as_deref().unwrap_or(""),
            sign_requests: provider.sign_requests,
            nameid_format: &provider.nameid_format,
        },
        relay_state: &relay,
        key: key.as_ref(),
    })
}

/// What the ACS handler does with the browser.
#[derive(Debug)]
pub enum Outcome {
    SignedIn {
        token: Token,
        redirect: String,
        max_age: i64,
    },
    /// An admin's test finished: show the diagnosis.
    Tested {
        redirect: String,
    },
    /// Plain message for the browser; the reason is in the logs and the activity.
    Refused {
        message: String,
        back: String,
    },
}

/// Who the assertion is, in this workspace.
enum Identity {
    Existing { account_id: i64, linked: bool },
    Create { email: String },
}

/// What the browser posted to the ACS.
pub struct Posted<'a> {
    pub saml_response: &'a str,
    pub relay_state: &'a str,
    /// Our nonce cookie, if the browser sent it.
    pub browser_nonce: Option<&'a Token>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

pub async fn acs(
    db: &DatabaseConnection,
    events: &crate::server::events::Events,
    cfg: &RuntimeConfig,
    now: i64,
    provider: &super::Provider,
    posted: Posted<'_>,
) -> Result<Outcome, DomainError> {
    let provider = &provider.0;
    let Posted { saml_response, relay_state: posted_relay, browser_nonce, ip, user_agent } = posted;
    let t = trust_of(cfg, provider)?;
    let input = saml_response.to_string();
    let mut report = tokio::task::spawn_blocking(move || acs::verify(&input, &t, now)).await.map_err(|e| DomainError::Internal(format!("ACS worker: {e}")))?;
    let ws = workspace::Entity::find_by_id(provider.workspace_id).one(db).await?.ok_or(DomainError::NotFound)?;
    let back = format!("/w/{}/login", ws.slug);
    let generic = format!(
        "The sign-in response from {} could not be verified, so you were not signed in. Your workspace admin can see the reason on the provider's page.",
        provider.name
    );

    let verified = match report.result.clone() {
        Ok(v) => v,
        Err(_) => {
            // An admin's Test sign-in whose answer failed before it could be matched to our
            // request (signature, issuer, audience, time, encryption…): the diagnosis is
            // what the test is for, so it goes to the provider's page, not the end-user
            // refusal.
            if pending_test(db, now, provider, saml_response, browser_nonce).await? {
                let id = log(db, now, provider, &report, true, None, ip.clone()).await?;
                return Ok(Outcome::Tested { redirect: format!("/w/{}/settings/authentication/saml/{}?test={id}", ws.slug, provider.public_id) });
            }
            log(db, now, provider, &report, false, None, ip.clone()).await?;
            return Ok(Outcome::Refused { message: generic, back: back.clone() });
        }
    };

    // InResponseTo: a request we issued for this provider, unexpired, used once — the
    // delete is the claim, so two processes can't both accept it.
    let mut request: Option<saml_request::Model> = None;
    match verified.in_response_to.as_deref() {
        Some(id) => {
            let row = saml_request::Entity::find_by_id(id.to_string()).one(db).await?;
            // Login CSRF: the answer must come back to the browser that asked.
            let same_browser = row.as_ref().is_some_and(|r| browser_nonce.is_some_and(|n| n.hash() == r.browser_hash));
            if row.is_some() && !same_browser {
                report.reject("browser", "the response arrived in a different browser from the one that started the sign-in, or cookies are blocked");
                log(db, now, provider, &report, false, Some(&asserted_of(&verified)), ip.clone()).await?;
                return Ok(Outcome::Refused {
                    message: format!("Start signing in again from {}'s sign-in page, in this browser (cookies must be allowed).", ws.name),
                    back: back.clone(),
                });
            }
            let claimed = match &row {
                Some(r) if r.provider_id == provider.id && r.expires_at > now => {
                    saml_request::Entity::delete_many().filter(saml_request::Column::RequestId.eq(id)).exec(db).await?.rows_affected == 1
                }
                _ => false,
            };
            if !claimed {
                report.reject("in_response_to", "the response answers a request this provider did not issue, that expired, or that was already answered");
                log(db, now, provider, &report, false, Some(&asserted_of(&verified)), ip.clone()).await?;
                return Ok(Outcome::Refused { message: generic, back: back.clone() });
            }
            report.pass("in_response_to", "answers a request we issued");
            request = row;
        }
        None if provider.allow_idp_initiated => report.pass("in_response_to", "unsolicited (IdP-initiated sign-in is allowed for this provider)"),
        None => {
            report.reject("idp_initiated", "unsolicited response, and IdP-initiated sign-in is off for this provider");
            log(db, now, provider, &report, false, Some(&asserted_of(&verified)), ip.clone()).await?;
            return Ok(Outcome::Refused {
                message: format!(
                    "Start signing in from {}'s sign-in page: sign-in started at the identity provider is switched off for {}.",
                    ws.name, provider.name
                ),
                back: back.clone(),
            });
        }
    }

    // Replay cache: the primary key (provider, assertion ID) makes a second use fail in
    // every process.
    saml_replay::Entity::delete_many().filter(saml_replay::Column::ProviderId.eq(provider.id)).filter(saml_replay::Column::ExpiresAt.lt(now)).exec(db).await?;
    let inserted =
        saml_replay::ActiveModel { provider_id: Set(provider.id), assertion_id: Set(verified.assertion_id.clone()), expires_at: Set(verified.keep_until) }
            .insert(db)
            .await;
    match inserted {
        Ok(_) => report.pass("replay", "assertion not seen before"),
        Err(e) if crate::server::db::is_unique_violation(&e) => {
            report.reject("replay", format!("assertion {} was already used", verified.assertion_id));
            log(db, now, provider, &report, false, Some(&asserted_of(&verified)), ip.clone()).await?;
            return Ok(Outcome::Refused { message: generic, back: back.clone() });
        }
        Err(e) => return Err(e.into()),
    }

    let test = request.as_ref().is_some_and(|r| r.test_mode);
    let relay = match &request {
        Some(r) => safe_relay(&r.relay_state),
        None => safe_relay(posted_relay),
    };
    let saml = crate::server::sessions::SamlSubject {
        name_id: verified.name_id.clone(),
        name_id_format: verified.name_id_format.clone(),
        session_index: verified.session_index.clone(),
    };
    let asserted = Asserted { saml: Some(saml), ..asserted_of(&verified) };
    finish(db, events, cfg, provider, asserted, report, Finish { ws: &ws, now, test, relay, ip, user_agent }).await
}

/// Who a verified answer says signed in, whichever the protocol.
pub(in crate::server) struct Asserted {
    /// The IdP's lasting id for them (a NameID or an OIDC `sub`); `None`: a transient
    /// NameID, which identifies nobody and is never stored.
    pub subject: Option<String>,
    /// The subject as the activity shows it (a transient one too).
    pub shown: String,
    pub email: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// Attributes (SAML) or claims (OIDC), for groups at sign-in and the activity.
    pub attributes: Vec<(String, Vec<String>)>,
    /// SAML's NameID and SessionIndex, for Single Logout.
    pub saml: Option<crate::server::sessions::SamlSubject>,
}

pub(in crate::server) fn asserted_of(v: &Verified) -> Asserted {
    Asserted {
        subject: (!transient(v)).then(|| v.name_id.clone()),
        shown: v.name_id.clone(),
        email: v.email.clone(),
        given_name: v.given_name.clone(),
        family_name: v.family_name.clone(),
        attributes: v.attributes.clone(),
        saml: None,
    }
}

/// Where the answer goes once it is verified.
pub(in crate::server) struct Finish<'a> {
    pub ws: &'a workspace::Model,
    pub now: i64,
    /// An admin's Test sign-in: report what a real one would do, sign nobody in.
    pub test: bool,
    pub relay: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The provider's page, where a test result is shown.
pub(in crate::server) fn page_path(ws_slug: &str, provider: &saml_provider::Model) -> String {
    let kind = if provider.protocol == super::OIDC { "oidc" } else { "saml" };
    format!("/w/{ws_slug}/settings/authentication/{kind}/{}", provider.public_id)
}

/// The shared end of a sign-in through a workspace's own provider (SAML or OpenID
/// Connect), once its answer is verified and matched to our request: identity (linked
/// subject, else an email in a domain the provider may assert, else JIT creation), the
/// member's groups and role from the IdP's groups, the session, and each outcome in the
/// provider's activity. An admin's test reports all of it and changes nothing.
pub(in crate::server) async fn finish(
    db: &DatabaseConnection,
    events: &crate::server::events::Events,
    cfg: &RuntimeConfig,
    provider: &saml_provider::Model,
    asserted: Asserted,
    mut report: Report,
    f: Finish<'_>,
) -> Result<Outcome, DomainError> {
    let Finish { ws, now, test, relay, ip, user_agent } = f;
    let back = format!("/w/{}/login", ws.slug);
    let identity = identify(db, provider, &asserted).await;
    if test {
        match &identity {
            Ok((Identity::Existing { account_id, linked }, email)) => {
                let m = directory::membership_of(db, provider.workspace_id, *account_id).await?;
                let status = m.as_ref().map(|m| m.status);
                report.pass(
                    "identity",
                    format!(
                        "{email}: {} member{} (status {}); a real sign-in would succeed{}",
                        if *linked { "linked" } else { "existing" },
                        if *linked { "" } else { ", would be linked to this identity" },
                        status.map_or("none", Status::as_str),
                        if status == Some(Status::Active) { "" } else { " only once reactivated" }
                    ),
                );
                if let Some(m) = m.filter(|_| !provider.groups_attribute.is_empty()) {
                    let would = super::groups::sync(db, now, provider, &m, &asserted.attributes, false).await?;
                    report.pass("groups", format!("{} (a real sign-in would make these changes)", would.describe()));
                }
            }
            Ok((Identity::Create { email }, _)) => {
                report.pass("identity", format!("{email} is in a claimed domain: a real sign-in would create this member"));
                if let Some(listed) = super::groups::listed_names(provider, &asserted.attributes) {
                    report.pass("groups", format!("IdP groups listed: {}; the new member would join the groups mapped to them", listed.join(", ")));
                }
            }
            Err(msg) => report.reject("identity", msg.clone()),
        }
        let id = log(db, now, provider, &report, true, Some(&asserted), ip.clone()).await?;
        return Ok(Outcome::Tested { redirect: format!("{}?test={id}", page_path(&ws.slug, provider)) });
    }

    let method = super::key_of(provider);
    if !methods::is_enabled(db, provider.workspace_id, &method, cfg).await? {
        report.reject("disabled", "this provider's sign-in method is switched off");
        log(db, now, provider, &report, false, Some(&asserted), ip.clone()).await?;
        return Ok(Outcome::Refused { message: format!("Sign-in with {} is switched off for {}.", provider.name, ws.name), back: back.clone() });
    }
    let (identity, email) = match identity {
        Ok(i) => i,
        Err(msg) => {
            report.reject("identity", msg.clone());
            log(db, now, provider, &report, false, Some(&asserted), ip.clone()).await?;
            return Ok(Outcome::Refused { message: msg, back: back.clone() });
        }
    };

    let txn = crate::server::db::write(db).await?;
    let (account_id, created) = match identity {
        Identity::Existing { account_id, .. } => (account_id, false),
        Identity::Create { email } => {
            let full = full_name(&asserted).unwrap_or_default();
            let a = directory::find_or_create_account(&txn, now, provider.workspace_id, &email, &email, &full).await?;
            (a.id, true)
        }
    };
    let (membership, joined) = match directory::membership_of(&txn, provider.workspace_id, account_id).await? {
        Some(m) => (m, false),
        None => (directory::add_membership(&txn, now, provider.workspace_id, account_id, Role::Member, None).await?, true),
    };
    if let Some(subject) = &asserted.subject {
        link(&txn, now, provider, subject, account_id).await?;
    }
    update_names(&txn, now, account_id, &asserted).await?;
    let synced = super::groups::sync(&txn, now, provider, &membership, &asserted.attributes, true).await?;
    let oidc = provider.protocol == super::OIDC;
    let done = completion::complete(
        db,
        events,
        txn,
        now,
        completion::Completion {
            workspace: ws,
            membership: &membership,
            joined,
            method: &method,
            actor: Actor { account_id: Some(account_id), label: email.clone(), ip: ip.clone() },
            audit_action: match (oidc, created) {
                (false, true) => "saml.jit_create",
                (false, false) => "saml.sign_in",
                (true, true) => "oidc.jit_create",
                (true, false) => "oidc.sign_in",
            },
            audit_target: &method,
            audit_details: if oidc { json!({ "subject": asserted.shown }) } else { json!({ "name_id": asserted.shown }) },
            next: relay.as_deref(),
            forward: &cfg.forward_auth,
            user_agent,
            saml: asserted.saml.clone(),
        },
    )
    .await?;
    match done {
        Ok(s) => {
            report.pass("identity", format!("{email} signed in{}", if created { " (account created: claimed domain)" } else { "" }));
            if synced.listed.is_some() {
                report.pass("groups", synced.describe());
            }
            if synced.changed() {
                events.publish(db, provider.workspace_id, &[Topic::Groups, Topic::Access, Topic::Members]).await;
            }
            log(db, now, provider, &report, false, Some(&asserted), ip).await?;
            Ok(Outcome::SignedIn { token: s.token, redirect: s.redirect, max_age: s.max_age })
        }
        Err(completion::NotSignedIn::Deactivated) => {
            report.reject("deactivated", format!("{email} is deactivated in this workspace"));
            log(db, now, provider, &report, false, Some(&asserted), ip).await?;
            Ok(Outcome::Refused { message: format!("Your membership of {} is deactivated. Ask an admin to reactivate it.", ws.name), back: back.clone() })
        }
    }
}

/// (provider, subject) first; otherwise the email, only within the domains this provider
/// may assert (a claimed domain of its workspace, and one the admin gave this provider, or
/// any while it is the only provider): an email outside them links nothing and creates
/// nothing, so a second IdP of the workspace can't sign in as the members of the first.
async fn identify(db: &DatabaseConnection, provider: &saml_provider::Model, v: &Asserted) -> Result<(Identity, String), String> {
    let fail = |_: DomainError| "The sign-in could not be completed; try again.".to_string();
    let kind = super::identity_kind(provider);
    let linked = match &v.subject {
        None => None,
        Some(subject) => link_of(db, provider, subject).await.map_err(fail)?,
    };
    if let Some(l) = linked {
        let email = account::Entity::find_by_id(l.account_id).one(db).await.map_err(|e| fail(e.into()))?.map(|a| a.email).unwrap_or_default();
        return Ok((Identity::Existing { account_id: l.account_id, linked: true }, email));
    }
    let Some(raw) = v.email.as_deref() else {
        return Err("The identity provider sent no email address, so Gatehouse can't tell who you are. Your admin should map an email attribute.".into());
    };
    let email = normalize_email(raw).map_err(|_| format!("The identity provider sent “{raw}”, which is not an email address."))?;
    if !domains::claims_email(db, provider.workspace_id, &email).await.map_err(fail)? {
        return Err(format!(
            "{email} is not in one of this workspace's claimed domains, so {} can't sign it in. Ask an admin to claim the domain or to use another sign-in method.",
            provider.name
        ));
    }
    if !super::may_assert(db, provider, &email).await.map_err(fail)? {
        return Err(format!(
            "{} may not assert addresses of {email}'s domain in this workspace, so it can only sign in the members it is already linked to. An admin chooses each provider's domains on its settings page.",
            provider.name
        ));
    }
    match directory::account_by_email(db, provider.workspace_id, &email).await.map_err(fail)? {
        Some(a) => {
            // An account already linked to another subject of this provider is not taken
            // over by a second IdP user who merely carries the same email.
            let other = external_identity::Entity::find()
                .filter(external_identity::Column::WorkspaceId.eq(provider.workspace_id))
                .filter(external_identity::Column::ProviderKind.eq(kind))
                .filter(external_identity::Column::ProviderKey.eq(provider.public_id.clone()))
                .filter(external_identity::Column::AccountId.eq(a.id))
                .one(db)
                .await
                .map_err(|e| fail(e.into()))?;
            if other.is_some() && v.subject.is_some() {
                return Err(format!("{email} is already linked to another {} user. Ask your IdP admin to check for duplicate accounts.", provider.name));
            }
            Ok((Identity::Existing { account_id: a.id, linked: false }, email))
        }
        None => Ok((Identity::Create { email: email.clone() }, email)),
    }
}

/// Transient NameIDs change at every sign-in: they identify nobody and are never stored.
fn transient(v: &Verified) -> bool {
    v.name_id_format.as_deref() == Some(acs::NAMEID_TRANSIENT)
}

/// The link `provider` made for `subject` in its workspace, if any.
pub(in crate::server) async fn link_of<C: ConnectionTrait>(
    db: &C,
    provider: &saml_provider::Model,
    subject: &str,
) -> Result<Option<external_identity::Model>, DomainError> {
    Ok(external_identity::Entity::find()
        .filter(external_identity::Column::WorkspaceId.eq(provider.workspace_id))
        .filter(external_identity::Column::ProviderKind.eq(super::identity_kind(provider)))
        .filter(external_identity::Column::ProviderKey.eq(provider.public_id.clone()))
        .filter(external_identity::Column::Subject.eq(subject))
        .one(db)
        .await?)
}

async fn link<C: ConnectionTrait>(db: &C, now: i64, provider: &saml_provider::Model, name_id: &str, account_id: i64) -> Result<(), DomainError> {
    match link_of(db, provider, name_id).await? {
        Some(e) => {
            let mut m: external_identity::ActiveModel = e.into();
            m.last_used_at = Set(now);
            m.update(db).await?;
        }
        None => {
            external_identity::ActiveModel {
                account_id: Set(account_id),
                workspace_id: Set(provider.workspace_id),
                provider_kind: Set(super::identity_kind(provider).into()),
                provider_key: Set(provider.public_id.clone()),
                subject: Set(name_id.to_string()),
                created_at: Set(now),
                last_used_at: Set(now),
                ..Default::default()
            }
            .insert(db)
            .await?;
        }
    }
    Ok(())
}

fn clip(s: &str) -> String {
    s.trim().chars().filter(|c| !c.is_control()).take(100).collect()
}

fn full_name(v: &Asserted) -> Option<String> {
    let parts: Vec<String> = [v.given_name.as_deref(), v.family_name.as_deref()].into_iter().flatten().map(clip).filter(|s| !s.is_empty()).collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

async fn update_names<C: ConnectionTrait>(db: &C, now: i64, account_id: i64, v: &Asserted) -> Result<(), DomainError> {
    let Some(full) = full_name(v) else { return Ok(()) };
    let Some(a) = account::Entity::find_by_id(account_id).one(db).await? else { return Ok(()) };
    let given = v.given_name.as_deref().map(clip).unwrap_or_default();
    let family = v.family_name.as_deref().map(clip).unwrap_or_default();
    if a.full_name == full && a.given_name == given && a.family_name == family {
        return Ok(());
    }
    let mut m: account::ActiveModel = a.into();
    m.full_name = Set(full);
    m.given_name = Set(given);
    m.family_name = Set(family);
    m.updated_at = Set(now);
    m.update(db).await?;
    Ok(())
}

/// Whether an answer that failed verification belongs to an admin's Test sign-in: a
/// pending test request of this provider started in this browser (the nonce cookie) —
/// the one the answer's unverified InResponseTo names if it names one of them, else the
/// newest. That request is used up, as any answered request is. Nothing else is read from
/// the unverified answer, and only the browser that started the test gets a diagnosis.
async fn pending_test(
    db: &DatabaseConnection,
    now: i64,
    provider: &saml_provider::Model,
    saml_response: &str,
    browser_nonce: Option<&Token>,
) -> Result<bool, DomainError> {
    let Some(nonce) = browser_nonce else { return Ok(false) };
    let tests = saml_request::Entity::find()
        .filter(saml_request::Column::ProviderId.eq(provider.id))
        .filter(saml_request::Column::TestMode.eq(true))
        .filter(saml_request::Column::BrowserHash.eq(nonce.hash()))
        .filter(saml_request::Column::ExpiresAt.gt(now))
        .order_by_desc(saml_request::Column::ExpiresAt)
        .limit(20)
        .all(db)
        .await?;
    let named = unverified_in_response_to(saml_response);
    let Some(row) = tests.iter().find(|r| Some(&r.request_id) == named.as_ref()).or(tests.first()) else { return Ok(false) };
    Ok(saml_request::Entity::delete_many().filter(saml_request::Column::RequestId.eq(row.request_id.clone())).exec(db).await?.rows_affected == 1)
}

/// The InResponseTo a posted response claims, read without trusting it (to pick which
/// pending test it answers).
fn unverified_in_response_to(saml_response: &str) -> Option<String> {
    let compact: String = saml_response.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.len() > acs::MAX_RESPONSE_BYTES * 4 / 3 + 4 {
        return None;
    }
    use base64::Engine;
    let xml = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()).ok()?).ok()?;
    super::xml::inspect_response(&xml).ok()?.in_response_to
}

/// Records an outcome in the provider's activity (and the log). Refusals outside test mode
/// are anyone's to cause (the ACS takes posts from the whole internet), so they are
/// sampled per provider, reason and hour (`audit::count_refusal`) — per subject too once
/// the signature holds (`audit::count_subject_refusal`) — and they are pruned
/// apart from the rest: junk posts can't push accepted sign-ins and test results out of
/// the list. Returns the row's id (0 when a refusal was only counted).
pub(in crate::server) async fn log(
    db: &DatabaseConnection,
    now: i64,
    provider: &saml_provider::Model,
    report: &Report,
    test_mode: bool,
    verified: Option<&Asserted>,
    ip: Option<String>,
) -> Result<i64, DomainError> {
    let (accepted, reason) = match report.checks.iter().find(|c| !c.ok) {
        Some(c) => (false, c.name.clone()),
        None => (true, "ok".to_string()),
    };
    let detail = report.checks.iter().find(|c| !c.ok).map(|c| c.detail.clone()).unwrap_or_default();
    if !test_mode {
        super::super::metrics::sign_in(&provider.protocol, if accepted { "ok" } else { "refused" });
    }
    if !accepted {
        // Check names are ours (a fixed set), so they make bounded label values.
        let series = if provider.protocol == super::OIDC { "gatehouse_oidc_rejections_total" } else { "gatehouse_saml_rejections_total" };
        super::super::metrics::inc(series, &[("reason", &reason)]);
    }
    if accepted {
        if provider.is_oidc() {
            tracing::info!(provider = %provider.public_id, test_mode, "OIDC sign-in accepted");
        } else {
            tracing::info!(provider = %provider.public_id, test_mode, "SAML response accepted");
        }
    } else {
        if provider.is_oidc() {
            tracing::warn!(provider = %provider.public_id, reason = %reason, detail = %detail, test_mode, "OIDC sign-in refused");
        } else {
            tracing::warn!(provider = %provider.public_id, reason = %reason, detail = %detail, test_mode, "SAML response refused");
        }
    }
    let mut checks = report.checks.clone();
    let junk = !accepted && !test_mode;
    if junk {
        // Past the signature, the answer is the IdP's: sampled per subject too
        // (audit::count_subject_refusal).
        let scope = format!("saml:{}", provider.id);
        let (logged, n) = match verified {
            Some(v) => crate::server::audit::count_subject_refusal(db, now, &scope, &reason, &v.shown).await?,
            None => crate::server::audit::count_refusal(db, now, &scope, &reason).await?,
        };
        if !logged {
            return Ok(0);
        }
        if n > crate::server::audit::REFUSALS_LOGGED_PER_HOUR {
            if let Some(c) = checks.iter_mut().find(|c| !c.ok) {
                c.detail = format!(
                    "{} (refusal {n} of this kind this hour; past the first {} (per person, for signed answers), only samples are listed)",
                    c.detail,
                    crate::server::audit::REFUSALS_LOGGED_PER_HOUR
                );
            }
        }
    }
    let details = json!({
        "checks": checks,
        "attributes": verified.map(|v| v.attributes.clone()).unwrap_or_default(),
    });
    let row = saml_activity::ActiveModel {
        provider_id: Set(provider.id),
        test_mode: Set(test_mode),
        accepted: Set(accepted),
        reason: Set(reason),
        details: Set(details.to_string()),
        subject: Set(verified.map(|v| v.shown.chars().take(256).collect())),
        source_ip: Set(ip),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    // Keep the newest rows of each pool: refusals (outside test mode), and the rest.
    let pool = if junk { real_entries().not() } else { real_entries() };
    let cutoff = saml_activity::Entity::find()
        .filter(saml_activity::Column::ProviderId.eq(provider.id))
        .filter(pool.clone())
        .order_by_desc(saml_activity::Column::Id)
        .offset(ACTIVITY_KEPT)
        .limit(1)
        .one(db)
        .await?;
    if let Some(c) = cutoff {
        saml_activity::Entity::delete_many()
            .filter(saml_activity::Column::ProviderId.eq(provider.id))
            .filter(saml_activity::Column::Id.lte(c.id))
            .filter(pool)
            .exec(db)
            .await?;
    }
    Ok(row.id)
}

/// Accepted sign-ins and test results: the activity rows that only the IdP or an admin can
/// cause (the rest are refusals, which anyone can).
fn real_entries() -> sea_orm::Condition {
    sea_orm::Condition::any().add(saml_activity::Column::Accepted.eq(true)).add(saml_activity::Column::TestMode.eq(true))
}

/// The provider's latest activity, newest first: up to `limit` accepted sign-ins and test
/// results, and up to `limit` refusals, so a flood of junk posts never hides the former.
pub(in crate::server) async fn activity<C: ConnectionTrait>(db: &C, provider_id: i64, limit: u64) -> Result<Vec<saml_activity::Model>, DomainError> {
    let mut rows = Vec::new();
    for pool in [real_entries(), real_entries().not()] {
        rows.extend(
            saml_activity::Entity::find()
                .filter(saml_activity::Column::ProviderId.eq(provider_id))
                .filter(pool)
                .order_by_desc(saml_activity::Column::Id)
                .limit(limit)
                .all(db)
                .await?,
        );
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.id));
    Ok(rows)
}

pub(in crate::server) fn checks_of(row: &saml_activity::Model) -> (Vec<Check>, Vec<(String, Vec<String>)>) {
    let v: serde_json::Value = serde_json::from_str(&row.details).unwrap_or_default();
    let checks = serde_json::from_value(v.get("checks").cloned().unwrap_or_default()).unwrap_or_default();
    let attrs = serde_json::from_value(v.get("attributes").cloned().unwrap_or_default()).unwrap_or_default();
    (checks, attrs)
}
