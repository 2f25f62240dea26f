//! SAML Single Logout (SAML profiles §4.4), both ways, HTTP-Redirect and HTTP-POST.
//!
//! - **IdP-initiated**: a `LogoutRequest` at `/saml/{provider}/slo` (or posted to the ACS)
//!   ends every session of that NameID made through that provider — in every process, as
//!   sessions live in the database — and we answer with a signed `LogoutResponse`. The
//!   request must be signed (anyone can send one, and an unsigned one could sign anybody
//!   out) by a pinned certificate, name this provider's IdP as Issuer, be addressed to our
//!   SLO URL, be fresh, and be used once.
//! - **SP-initiated**: signing out of a session that came from a provider with an SLO
//!   endpoint ends it here first, then sends the IdP a signed `LogoutRequest`; its
//!   `LogoutResponse` is matched to our request and to the browser that signed out (a
//!   nonce cookie), once. The local sign-out never waits for the IdP.
//!
//! What is read from a message is what its signature covered (the query of an
//! HTTP-Redirect message, xmlsec's pre-digest bytes of an HTTP-POST one).
use std::io::Read;

use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::sign::Verifier;
use openssl::x509::X509;
use samael::crypto::{CertificateDer, Crypto, CryptoProvider, ReduceMode};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, Set};

use super::acs::{ALGORITHMS, CLOCK_SKEW_SECS};
use super::xml::{inspect_logout, LogoutShape};
use super::{method_key, sp, urls};
use crate::server::audit::{self, Actor};
use crate::server::config::RuntimeConfig;
use crate::server::crypto::Token;
use crate::server::entities::{saml_logout, saml_provider, saml_replay, session};
use crate::server::events::{Events, Topic};
use crate::server::DomainError;

pub const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
/// Largest accepted message after decoding (and inflating): real ones are a few KB.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// How old a message's IssueInstant may be (plus the clock skew).
pub const MAX_AGE_SECS: i64 = 600;
/// How long we wait for the IdP's answer to our LogoutRequest.
const PENDING_SECS: i64 = 600;

/// How a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    Redirect,
    Post,
}

impl Binding {
    /// The stored binding of a provider's SLO endpoint (`redirect` or `post`).
    fn of(stored: &str) -> Binding {
        if stored == "post" {
            Binding::Post
        } else {
            Binding::Redirect
        }
    }
}

/// A message as it arrived.
#[derive(Debug, Clone, Copy)]
pub enum Arrived<'a> {
    /// HTTP-Redirect: the raw query string, byte for byte as sent (the signature covers it).
    Redirect { raw_query: &'a str },
    /// HTTP-POST: the form's `SAMLRequest` or `SAMLResponse` (base64) and `RelayState`.
    Post { message: &'a str, relay_state: &'a str },
}

/// A decoded message whose signature (if any) verified.
#[derive(Debug, Clone)]
pub struct Message {
    pub shape: LogoutShape,
    pub relay_state: String,
    pub binding: Binding,
}

/// Percent-decodes one raw query value (`+` is a space, as forms encode it).
fn query_value(raw: &str) -> String {
    url::form_urlencoded::parse(format!("v={raw}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

fn base64_bytes(b64: &str) -> Result<Vec<u8>, String> {
    let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.len() > MAX_MESSAGE_BYTES * 4 / 3 + 4 {
        return Err(format!("the message is larger than {} KiB", MAX_MESSAGE_BYTES / 1024));
    }
    base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()).map_err(|_| "the message is not valid base64".to_string())
}

/// Inflates an HTTP-Redirect message, refusing more than [`MAX_MESSAGE_BYTES`] (a small
/// deflated message can inflate to gigabytes).
fn inflate(deflated: &[u8]) -> Result<String, String> {
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(deflated)
        .take(MAX_MESSAGE_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| "the message is not DEFLATE-compressed as the HTTP-Redirect binding requires".to_string())?;
    if out.len() > MAX_MESSAGE_BYTES {
        return Err(format!("the message inflates to more than {} KiB", MAX_MESSAGE_BYTES / 1024));
    }
    String::from_utf8(out).map_err(|_| "the message is not UTF-8 text".to_string())
}

/// Checks an HTTP-Redirect signature (SAML bindings §3.4.4.1) over the exact query bytes
/// with a pinned certificate. RSA with SHA-2 only; SHA-1 is refused.
fn verify_query_signature(signed: &str, sig_alg: &str, signature_b64: &str, certs_der: &[Vec<u8>]) -> Result<(), String> {
    let digest = match sig_alg {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => MessageDigest::sha256(),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => MessageDigest::sha384(),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => MessageDigest::sha512(),
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1" => return Err("the message is signed with SHA-1, which Gatehouse refuses".into()),
        other => return Err(format!("the signature algorithm {other} is not one Gatehouse accepts (RSA with SHA-256, -384 or -512)")),
    };
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature_b64.chars().filter(|c| !c.is_ascii_whitespace()).collect::<String>())
        .map_err(|_| "the Signature is not valid base64".to_string())?;
    let verified = certs_der.iter().any(|der| {
        let Ok(key) = X509::from_der(der).and_then(|c| c.public_key()) else { return false };
        let Ok(mut v) = Verifier::new(digest, &key) else { return false };
        v.update(signed.as_bytes()).is_ok() && v.verify(&signature).unwrap_or(false)
    });
    if verified {
        Ok(())
    } else {
        Err("the signature is invalid or was not made by a pinned certificate".into())
    }
}

/// Decodes a message and verifies its signature, if it has one, with the provider's pinned
/// certificates. Whether an unsigned message is acceptable is [`check`]'s decision.
pub fn decode(arrived: Arrived<'_>, certs_der: &[Vec<u8>]) -> Result<Message, String> {
    if certs_der.is_empty() {
        return Err("this provider has no pinned certificate".into());
    }
    match arrived {
        Arrived::Redirect { raw_query } => {
            let (mut message, mut relay, mut sig_alg, mut signature) = (None, None, None, None);
            for piece in raw_query.split('&') {
                let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
                let slot = match name {
                    "SAMLRequest" | "SAMLResponse" => &mut message,
                    "RelayState" => &mut relay,
                    "SigAlg" => &mut sig_alg,
                    "Signature" => &mut signature,
                    _ => continue,
                };
                if slot.is_some() {
                    return Err(format!("{name} appears twice in the query"));
                }
                *slot = Some((name, value));
            }
            let Some((param, raw_message)) = message else { return Err("the query carries no SAMLRequest or SAMLResponse".into()) };
            let xml = inflate(&base64_bytes(&query_value(raw_message))?)?;
            let signed = match (sig_alg, signature) {
                (Some((_, alg)), Some((_, sig))) => {
                    let mut bytes = format!("{param}={raw_message}");
                    if let Some((_, r)) = relay {
                        bytes.push_str(&format!("&RelayState={r}"));
                    }
                    bytes.push_str(&format!("&SigAlg={alg}"));
                    verify_query_signature(&bytes, &query_value(alg), &query_value(sig), certs_der)?;
                    true
                }
                (None, None) => false,
                _ => return Err("the query has a SigAlg without a Signature, or a Signature without a SigAlg".into()),
            };
            let mut shape = inspect_logout(&xml).map_err(|r| r.0)?;
            if (param == "SAMLRequest") != (shape.kind == "LogoutRequest") {
                return Err(format!("{param} carries a <{}>", shape.kind));
            }
            // The HTTP-Redirect binding signs the query; an XML signature inside is not
            // what was verified.
            shape.signed = signed;
            Ok(Message { shape, relay_state: relay.map(|(_, r)| query_value(r).chars().take(1024).collect()).unwrap_or_default(), binding: Binding::Redirect })
        }
        Arrived::Post { message, relay_state } => {
            let xml = String::from_utf8(base64_bytes(message)?).map_err(|_| "the message is not UTF-8 text".to_string())?;
            let shape = inspect_logout(&xml).map_err(|r| r.0)?;
            let shape = if shape.signed {
                // Each pinned certificate on its own (as the ACS does), then what the
                // signature covered is what is read.
                let reduced = certs_der
                    .iter()
                    .find_map(|der| {
                        let cert = CertificateDer::from(der.clone());
                        std::panic::catch_unwind(|| {
                            Crypto::reduce_xml_to_signed_with_allowed_algorithms(&xml, std::slice::from_ref(&cert), ReduceMode::PreDigest, Some(&ALGORITHMS))
                        })
                        .ok()
                        .and_then(Result::ok)
                    })
                    .ok_or("the signature is invalid, uses an algorithm outside the allowlist (SHA-1 is refused), or was not made by a pinned certificate")?;
                let mut covered = inspect_logout(&reduced).map_err(|r| format!("the signed part: {}", r.0))?;
                if covered.kind != shape.kind || covered.id != shape.id {
                    return Err("the signature does not cover the message".into());
                }
                covered.signed = true;
                covered
            } else {
                shape
            };
            Ok(Message { shape, relay_state: relay_state.chars().take(1024).collect(), binding: Binding::Post })
        }
    }
}

fn timestamp(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s.trim()).ok().map(|t| t.timestamp())
}

/// The rules every message meets: from this provider's IdP, to our SLO URL, fresh; a
/// request signed and naming someone; a response answering something.
pub fn check(m: &Message, idp_entity_id: &str, slo_url: &str, now: i64) -> Result<(), String> {
    let s = &m.shape;
    match s.issuer.as_deref() {
        Some(i) if i == idp_entity_id => {}
        Some(i) => return Err(format!("the message was issued by “{i}”, not by “{idp_entity_id}”")),
        None => return Err("the message names no Issuer".into()),
    }
    match s.destination.as_deref() {
        Some(d) if d == slo_url => {}
        Some(d) => return Err(format!("the message is addressed to “{d}”, not to this provider's SLO URL {slo_url}")),
        // SAML bindings §3.4.5.2 and §3.5.5.2: a signed message names its Destination, so
        // one the IdP signed for another SP (a shared IdP key) is not replayed here.
        None if s.signed => return Err("a signed message must name its Destination".into()),
        None => {}
    }
    let issued = s.issue_instant.as_deref().and_then(timestamp).ok_or("the message has no valid IssueInstant")?;
    if issued > now + CLOCK_SKEW_SECS {
        return Err("the message was issued in the future (check the IdP's clock)".into());
    }
    if issued + MAX_AGE_SECS + CLOCK_SKEW_SECS < now {
        return Err(format!("the message was issued {}s ago; Gatehouse takes logout messages up to {MAX_AGE_SECS}s old", now - issued));
    }
    if let Some(t) = s.not_on_or_after.as_deref() {
        let t = timestamp(t).ok_or("the message's NotOnOrAfter is not a valid time")?;
        if t + CLOCK_SKEW_SECS <= now {
            return Err("the message has expired (NotOnOrAfter)".into());
        }
    }
    if s.kind == "LogoutRequest" {
        if !s.signed {
            return Err("the LogoutRequest is not signed; an unsigned one could sign anybody out, so Gatehouse requires a signature".into());
        }
        let name_id = s.name_id.as_deref().unwrap_or("");
        if name_id.is_empty() || name_id.len() > 512 || name_id.chars().any(char::is_control) {
            return Err("the NameID is missing, too long or contains control characters".into());
        }
    } else if s.in_response_to.as_deref().is_none_or(str::is_empty) {
        return Err("the LogoutResponse answers no request (no InResponseTo)".into());
    }
    Ok(())
}

/// What to do with the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Send it here (HTTP-Redirect binding).
    Redirect(String),
    /// Make it post `field` = `value` (and RelayState) to `url` (HTTP-POST binding).
    Post { url: String, field: &'static str, value: String, relay_state: String },
    /// Nothing more to send: tell the person and offer `back`.
    Done { message: String, back: String },
    /// The message was refused: why (for the log) and what the person reads.
    Refused { reason: String, message: String },
}

/// Our `LogoutRequest` for a session's subject.
fn logout_request_xml(id: &str, now: i64, destination: &str, issuer: &str, subject: &session::Model) -> String {
    let format = subject.saml_name_id_format.as_deref().map(|f| format!(r#" Format="{}""#, sp::esc(f))).unwrap_or_default();
    let index = subject.saml_session_index.as_deref().map(|i| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", sp::esc(i))).unwrap_or_default();
    format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{t}" Destination="{dest}" NotOnOrAfter="{until}"><saml:Issuer>{issuer}</saml:Issuer><saml:NameID{format}>{name}</saml:NameID>{index}</samlp:LogoutRequest>"#,
        t = sp::rfc3339(now),
        until = sp::rfc3339(now + 300),
        dest = sp::esc(destination),
        issuer = sp::esc(issuer),
        name = sp::esc(subject.saml_name_id.as_deref().unwrap_or("")),
    )
}

/// Our `LogoutResponse` to the IdP's request `in_response_to`.
fn logout_response_xml(id: &str, now: i64, destination: &str, issuer: &str, in_response_to: &str, status: &str) -> String {
    format!(
        r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{t}" Destination="{dest}" InResponseTo="{irt}"><saml:Issuer>{issuer}</saml:Issuer><samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status></samlp:LogoutResponse>"#,
        t = sp::rfc3339(now),
        dest = sp::esc(destination),
        irt = sp::esc(in_response_to),
        issuer = sp::esc(issuer),
    )
}

/// An enveloped XML signature (RSA-SHA256, exclusive c14n) over the message's root, placed
/// after its Issuer as the schema wants, for the HTTP-POST binding.
fn sign_xml(xml: &str, id: &str, key: &openssl::pkey::PKey<openssl::pkey::Private>) -> Result<String, DomainError> {
    let template = format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{alg}"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature>"##,
        alg = sp::RSA_SHA256,
    );
    let at = xml.find("</saml:Issuer>").map(|i| i + "</saml:Issuer>".len()).ok_or_else(|| DomainError::Internal("logout message without Issuer".into()))?;
    let with_template = format!("{}{template}{}", &xml[..at], &xml[at..]);
    let der = key.private_key_to_der().map_err(|e| DomainError::Internal(format!("SP key: {e}")))?;
    std::panic::catch_unwind(|| Crypto::sign_xml(with_template.as_bytes(), &der))
        .map_err(|_| DomainError::Internal("signing the logout message panicked".into()))?
        .map_err(|e| DomainError::Internal(format!("signing the logout message: {e}")))
}

/// Sends `xml` (whose root has ID `id`) to the IdP's SLO endpoint with its binding, signed.
fn send(p: &saml_provider::Model, param: &'static str, xml: &str, id: &str, relay_state: &str) -> Result<Answer, DomainError> {
    let key = p.sp_key_pem.as_ref().map(|k| sp::load_key(k.expose())).transpose()?.ok_or_else(|| DomainError::Internal("provider has no SP key".into()))?;
    match Binding::of(&p.slo_binding) {
        Binding::Redirect => Ok(Answer::Redirect(sp::redirect_binding(&p.slo_url, param, xml, relay_state, Some(&key))?)),
        Binding::Post => {
            let signed = sign_xml(xml, id, &key)?;
            Ok(Answer::Post {
                url: p.slo_url.clone(),
                field: param,
                value: base64::engine::general_purpose::STANDARD.encode(signed.as_bytes()),
                relay_state: relay_state.to_string(),
            })
        }
    }
}

/// Signing out of `session` (already ended here): when it came from a SAML provider with an
/// SLO endpoint, our signed LogoutRequest for the IdP, bound to this browser's `nonce`;
/// `None` when there is nobody to tell.
pub async fn start(
    db: &DatabaseConnection,
    cfg: &RuntimeConfig,
    now: i64,
    ended: &crate::server::sessions::Ended,
    nonce: &Token,
) -> Result<Option<Answer>, DomainError> {
    let (session, slug) = (&ended.session, ended.workspace_slug.as_str());
    let Some(public_id) = session.method.strip_prefix("saml:") else { return Ok(None) };
    let Some(p) = saml_provider::Entity::find().filter(saml_provider::Column::PublicId.eq(public_id)).one(db).await? else { return Ok(None) };
    if p.slo_url.is_empty() || p.workspace_id != session.workspace_id || session.saml_name_id.as_deref().is_none_or(str::is_empty) {
        return Ok(None);
    }
    let id = sp::new_request_id();
    let xml = logout_request_xml(&id, now, &p.slo_url, &urls(cfg, &p.public_id).entity_id, session);
    saml_logout::Entity::delete_many().filter(saml_logout::Column::ExpiresAt.lt(now)).exec(db).await?;
    saml_logout::ActiveModel {
        request_id: Set(id.clone()),
        provider_id: Set(p.id),
        browser_hash: Set(nonce.hash()),
        workspace_slug: Set(slug.to_string()),
        expires_at: Set(now + PENDING_SECS),
    }
    .insert(db)
    .await?;
    tracing::info!(provider = %p.public_id, "SAML logout request sent to the IdP");
    send(&p, "SAMLRequest", &xml, &id, "").map(Some)
}

/// Whether a posted `SAMLResponse` is a LogoutResponse (an IdP that posts it to the ACS).
pub fn is_logout_response(b64: &str) -> bool {
    base64_bytes(b64).ok().and_then(|b| String::from_utf8(b).ok()).is_some_and(|xml| super::xml::root_local_name(&xml).as_deref() == Some("LogoutResponse"))
}

/// A message as the browser delivered it: the message, the browser's nonce cookie (if
/// any), and the client's address.
#[derive(Debug, Clone, Copy)]
pub struct Delivered<'a> {
    pub arrived: Arrived<'a>,
    pub nonce: Option<&'a Token>,
    pub ip: Option<&'a str>,
}

/// A message at the SLO endpoint (or a logout message posted to the ACS): the IdP's
/// LogoutRequest, or its LogoutResponse to ours.
pub async fn receive(
    db: &DatabaseConnection,
    events: &Events,
    cfg: &RuntimeConfig,
    now: i64,
    p: &super::Provider,
    d: Delivered<'_>,
) -> Result<Answer, DomainError> {
    let p = &p.0;
    let ws = crate::server::entities::workspace::Entity::find_by_id(p.workspace_id).one(db).await?.ok_or(DomainError::NotFound)?;
    let back = format!("/w/{}/login", ws.slug);
    let trust = super::trust_of(cfg, p)?;
    let u = urls(cfg, &p.public_id);
    let refused = |reason: String| Answer::Refused { reason, message: format!("The sign-out message from {} could not be verified.", p.name) };
    let Delivered { arrived, nonce, ip } = d;
    // Parsing, canonicalization and signature checks of anyone's input run on the blocking
    // pool, as the ACS's do.
    let owned = match arrived {
        Arrived::Redirect { raw_query } => (true, raw_query.to_string(), String::new()),
        Arrived::Post { message, relay_state } => (false, message.to_string(), relay_state.to_string()),
    };
    let certs = trust.certs_der.clone();
    let decoded = tokio::task::spawn_blocking(move || {
        let (redirect, first, second) = owned;
        let arrived = if redirect { Arrived::Redirect { raw_query: &first } } else { Arrived::Post { message: &first, relay_state: &second } };
        decode(arrived, &certs)
    })
    .await
    .map_err(|e| DomainError::Internal(format!("SLO worker: {e}")))?;
    let m = match decoded {
        Ok(m) => m,
        Err(reason) => return Ok(refused(reason)),
    };
    if let Err(reason) = check(&m, &p.idp_entity_id, &u.slo, now) {
        return Ok(refused(reason));
    }
    if m.shape.kind == "LogoutResponse" {
        // Ours, for this provider, unexpired, from this browser; used once.
        let irt = m.shape.in_response_to.clone().unwrap_or_default();
        let row = saml_logout::Entity::find_by_id(irt.clone()).one(db).await?;
        let Some(row) = row.filter(|r| r.provider_id == p.id && r.expires_at > now) else {
            return Ok(refused("the response answers no logout request of ours for this provider (unknown, expired or already answered)".into()));
        };
        if nonce.is_none_or(|n| n.hash() != row.browser_hash) {
            return Ok(refused("the response arrived in a different browser from the one that signed out".into()));
        }
        if saml_logout::Entity::delete_many().filter(saml_logout::Column::RequestId.eq(irt)).exec(db).await?.rows_affected != 1 {
            return Ok(refused("the response was already used".into()));
        }
        let confirmed = m.shape.status.as_deref() == Some(SUCCESS);
        let back = format!("/w/{}/login?saved={}", row.workspace_slug, if confirmed { "signed_out_idp" } else { "signed_out_here" });
        let message = if confirmed {
            format!("You are signed out here and at {}.", p.name)
        } else {
            format!("You are signed out here; {} did not confirm signing you out there.", p.name)
        };
        return Ok(Answer::Done { message, back });
    }

    // The IdP's LogoutRequest: used once in every process (the replay table's key).
    saml_replay::Entity::delete_many().filter(saml_replay::Column::ProviderId.eq(p.id)).filter(saml_replay::Column::ExpiresAt.lt(now)).exec(db).await?;
    let inserted = saml_replay::ActiveModel {
        provider_id: Set(p.id),
        assertion_id: Set(format!("logout:{}", m.shape.id)),
        expires_at: Set(now + MAX_AGE_SECS + 2 * CLOCK_SKEW_SECS),
    }
    .insert(db)
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if crate::server::db::is_unique_violation(&e) => return Ok(refused(format!("the LogoutRequest {} was already used", m.shape.id))),
        Err(e) => return Err(e.into()),
    }
    let name_id = m.shape.name_id.clone().unwrap_or_default();
    let txn = crate::server::db::write(db).await?;
    let mut q = session::Entity::delete_many()
        .filter(session::Column::WorkspaceId.eq(p.workspace_id))
        .filter(session::Column::Method.eq(method_key(&p.public_id)))
        .filter(session::Column::SamlNameId.eq(name_id.clone()));
    if !m.shape.session_indexes.is_empty() {
        q = q.filter(
            Condition::any().add(session::Column::SamlSessionIndex.is_in(m.shape.session_indexes.clone())).add(session::Column::SamlSessionIndex.is_null()),
        );
    }
    let ended = q.exec(&txn).await?.rows_affected;
    let actor = Actor::anonymous(&format!("{} (identity provider)", p.name), ip.map(str::to_string));
    audit::record(
        &txn,
        now,
        Some(p.workspace_id),
        &actor,
        "saml.logout",
        &method_key(&p.public_id),
        serde_json::json!({ "name_id": name_id, "sessions_ended": ended }),
    )
    .await?;
    crate::server::webhooks::sessions_event(&txn, now, p.workspace_id, None, ended, "idp_logout").await?;
    txn.commit().await?;
    if ended > 0 {
        events.publish(db, p.workspace_id, &[Topic::Sessions]).await;
    }
    tracing::info!(provider = %p.public_id, ended, "SAML logout request from the IdP");
    if p.slo_url.is_empty() {
        return Ok(Answer::Done { message: format!("You are signed out of {}.", ws.name), back });
    }
    let id = sp::new_request_id();
    let xml = logout_response_xml(&id, now, &p.slo_url, &u.entity_id, &m.shape.id, SUCCESS);
    send(p, "SAMLResponse", &xml, &id, &m.relay_state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: &'static str, signed: bool) -> Message {
        Message {
            shape: LogoutShape {
                kind,
                signed,
                id: "_m".into(),
                issue_instant: Some(sp::rfc3339(1_800_000_000)),
                destination: Some("https://gh/saml/p/slo".into()),
                issuer: Some("https://idp".into()),
                name_id: Some("ada@acme.test".into()),
                in_response_to: Some("_r".into()),
                ..Default::default()
            },
            relay_state: String::new(),
            binding: Binding::Post,
        }
    }

    #[test]
    fn messages_must_come_from_the_idp_to_us_fresh_and_requests_signed() {
        let now = 1_800_000_000;
        let ok = |m: &Message| check(m, "https://idp", "https://gh/saml/p/slo", now);
        assert_eq!(ok(&message("LogoutRequest", true)), Ok(()));
        assert_eq!(ok(&message("LogoutResponse", false)), Ok(()), "an unsigned response can only confirm a sign-out that already happened");
        assert!(ok(&message("LogoutRequest", false)).is_err_and(|e| e.contains("not signed")));
        let mut m = message("LogoutRequest", true);
        m.shape.issuer = Some("https://other-idp".into());
        assert!(ok(&m).is_err_and(|e| e.contains("issued by")));
        let mut m = message("LogoutRequest", true);
        m.shape.destination = Some("https://gh/saml/other/slo".into());
        assert!(ok(&m).is_err_and(|e| e.contains("addressed to")));
        let mut m = message("LogoutRequest", true);
        m.shape.destination = None;
        assert!(ok(&m).is_err_and(|e| e.contains("Destination")), "signed POST messages name their destination");
        let mut m = message("LogoutRequest", true);
        m.shape.issue_instant = Some(sp::rfc3339(now - MAX_AGE_SECS - CLOCK_SKEW_SECS - 1));
        assert!(ok(&m).is_err_and(|e| e.contains("ago")));
        let mut m = message("LogoutRequest", true);
        m.shape.not_on_or_after = Some(sp::rfc3339(now - CLOCK_SKEW_SECS));
        assert!(ok(&m).is_err_and(|e| e.contains("expired")));
        let mut m = message("LogoutResponse", true);
        m.shape.in_response_to = None;
        assert!(ok(&m).is_err_and(|e| e.contains("InResponseTo")));
    }

    #[test]
    fn a_logout_response_is_told_from_a_sign_in_response() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert!(is_logout_response(&b64(r#"<?xml version="1.0"?><samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>"#)));
        assert!(is_logout_response(&b64(r#"<LogoutResponse xmlns="urn:oasis:names:tc:SAML:2.0:protocol"/>"#)));
        assert!(!is_logout_response(&b64(r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>"#)));
        assert!(!is_logout_response("not base64 at all!"));
    }

    #[test]
    fn an_inflation_bomb_is_refused() {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut enc, &vec![b'a'; 10 * MAX_MESSAGE_BYTES]).expect("deflate");
        let bomb = enc.finish().expect("deflate");
        assert!(inflate(&bomb).is_err_and(|e| e.contains("inflates to more than")));
    }
}
