//! Our side of SAML: the per-provider key pair, SP metadata, and AuthnRequests over the
//! HTTP-Redirect binding.
use std::io::Write;

use base64::Engine;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use openssl::x509::{X509NameBuilder, X509};
use rand::RngCore;

use crate::server::DomainError;

pub const POST_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
pub const REDIRECT_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

fn internal(e: impl std::fmt::Display) -> DomainError {
    DomainError::Internal(e.to_string())
}

/// A fresh RSA-2048 key and a self-signed certificate (10 years) for one provider:
/// it signs our AuthnRequests and receives encrypted assertions.
pub fn generate_key_pair(public_id: &str) -> Result<(String, String), DomainError> {
    let rsa = Rsa::generate(2048).map_err(internal)?;
    let key = PKey::from_rsa(rsa).map_err(internal)?;
    let mut name = X509NameBuilder::new().map_err(internal)?;
    name.append_entry_by_text("CN", &format!("Gatehouse SP {public_id}")).map_err(internal)?;
    let name = name.build();
    let mut b = X509::builder().map_err(internal)?;
    b.set_version(2).map_err(internal)?;
    let mut serial = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut serial);
    serial[0] &= 0x7f;
    let serial = BigNum::from_slice(&serial).and_then(|b| b.to_asn1_integer()).map_err(internal)?;
    b.set_serial_number(&serial).map_err(internal)?;
    b.set_subject_name(&name).map_err(internal)?;
    b.set_issuer_name(&name).map_err(internal)?;
    b.set_pubkey(&key).map_err(internal)?;
    let not_before = Asn1Time::days_from_now(0).map_err(internal)?;
    let not_after = Asn1Time::days_from_now(3650).map_err(internal)?;
    b.set_not_before(&not_before).map_err(internal)?;
    b.set_not_after(&not_after).map_err(internal)?;
    b.sign(&key, MessageDigest::sha256()).map_err(internal)?;
    let cert = b.build();
    let key_pem = String::from_utf8(key.private_key_to_pem_pkcs8().map_err(internal)?).map_err(internal)?;
    let cert_pem = String::from_utf8(cert.to_pem().map_err(internal)?).map_err(internal)?;
    Ok((key_pem, cert_pem))
}

pub fn load_key(pem: &str) -> Result<PKey<Private>, DomainError> {
    PKey::private_key_from_pem(pem.as_bytes()).map_err(|_| DomainError::Internal("stored SP key unreadable".into()))
}

fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect::<String>()
}

/// XML-escapes text for element content and double-quoted attribute values (every
/// attribute written here is double-quoted).
pub use crate::model::html_escape as esc;

pub struct SpInfo<'a> {
    pub entity_id: &'a str,
    pub acs_url: &'a str,
    pub slo_url: &'a str,
    pub cert_pem: &'a str,
    pub sign_requests: bool,
    pub nameid_format: &'a str,
}

/// SP metadata: entity ID, Single Logout (HTTP-Redirect and HTTP-POST), ACS (HTTP-POST),
/// our certificate for signing and encryption.
pub fn metadata_xml(sp: &SpInfo<'_>) -> String {
    let cert = pem_body(sp.cert_pem);
    let key = |usage: &str| {
        format!(
            r#"<md:KeyDescriptor use="{usage}"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#
        )
    };
    let nameid = if sp.nameid_format.is_empty() { String::new() } else { format!("<md:NameIDFormat>{}</md:NameIDFormat>", esc(sp.nameid_format)) };
    // WantAssertionsSigned="false" says what the ACS accepts: a signed Response *or* a
    // signed Assertion (a Response signature covers its one assertion), never neither.
    // Advertising "true" while accepting a Response-only signature told IdPs one thing and
    // did another.
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{eid}"><md:SPSSODescriptor AuthnRequestsSigned="{signed}" WantAssertionsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{signing}{encryption}<md:SingleLogoutService Binding="{REDIRECT_BINDING}" Location="{slo}"/><md:SingleLogoutService Binding="{POST_BINDING}" Location="{slo}"/>{nameid}<md:AssertionConsumerService Binding="{POST_BINDING}" Location="{acs}" index="0" isDefault="true"/></md:SPSSODescriptor></md:EntityDescriptor>
"#,
        eid = esc(sp.entity_id),
        signed = sp.sign_requests,
        signing = key("signing"),
        encryption = key("encryption"),
        acs = esc(sp.acs_url),
        slo = esc(sp.slo_url),
    )
}

/// A request ID: `_` + 128 random bits in hex (IDs must not start with a digit).
pub fn new_request_id() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("_{}", hex::encode(b))
}

pub use crate::server::clock::rfc3339;

pub struct AuthnRequestParams<'a> {
    pub id: &'a str,
    pub now: i64,
    pub sso_url: &'a str,
    pub sp: &'a SpInfo<'a>,
    pub relay_state: &'a str,
    /// Present when requests are signed.
    pub key: Option<&'a PKey<Private>>,
}

/// The IdP URL to redirect the browser to: deflated, base64'd AuthnRequest, RelayState,
/// and (when signing) SigAlg + Signature over the exact encoded query (SAML bindings §3.4.4.1).
pub fn redirect_url(p: &AuthnRequestParams<'_>) -> Result<String, DomainError> {
    let policy = if p.sp.nameid_format.is_empty() {
        r#"<samlp:NameIDPolicy AllowCreate="true"/>"#.to_string()
    } else {
        format!(r#"<samlp:NameIDPolicy Format="{}" AllowCreate="true"/>"#, esc(p.sp.nameid_format))
    };
    let xml = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{t}" Destination="{dest}" AssertionConsumerServiceURL="{acs}" ProtocolBinding="{POST_BINDING}"><saml:Issuer>{eid}</saml:Issuer>{policy}</samlp:AuthnRequest>"#,
        id = p.id,
        t = rfc3339(p.now),
        dest = esc(p.sso_url),
        acs = esc(p.sp.acs_url),
        eid = esc(p.sp.entity_id),
    );
    redirect_binding(p.sso_url, "SAMLRequest", &xml, p.relay_state, p.key)
}

/// A message sent with the HTTP-Redirect binding (SAML bindings §3.4.4): `param`
/// (`SAMLRequest` or `SAMLResponse`) carries the deflated, base64'd XML, then RelayState,
/// and when `key` is given SigAlg + Signature over the exact encoded query (§3.4.4.1).
pub fn redirect_binding(destination: &str, param: &str, xml: &str, relay_state: &str, key: Option<&PKey<Private>>) -> Result<String, DomainError> {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(xml.as_bytes()).map_err(internal)?;
    let deflated = enc.finish().map_err(internal)?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(deflated);
    let mut query = format!("{param}={}", urlencoding(&b64));
    if !relay_state.is_empty() {
        query.push_str(&format!("&RelayState={}", urlencoding(relay_state)));
    }
    if let Some(key) = key {
        query.push_str(&format!("&SigAlg={}", urlencoding(RSA_SHA256)));
        let mut signer = Signer::new(MessageDigest::sha256(), key).map_err(internal)?;
        signer.update(query.as_bytes()).map_err(internal)?;
        let sig = signer.sign_to_vec().map_err(internal)?;
        query.push_str(&format!("&Signature={}", urlencoding(&base64::engine::general_purpose::STANDARD.encode(sig))));
    }
    let sep = if destination.contains('?') { '&' } else { '?' };
    Ok(format!("{destination}{sep}{query}"))
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn urlencoding(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn signed_redirect_verifies_with_our_certificate() {
        let (key_pem, cert_pem) = generate_key_pair("t").expect("keys");
        let key = load_key(&key_pem).expect("key");
        let sp = SpInfo {
            entity_id: "https://gh/saml/t/metadata",
            acs_url: "https://gh/saml/t/acs",
            slo_url: "https://gh/saml/t/slo",
            cert_pem: &cert_pem,
            sign_requests: true,
            nameid_format: "",
        };
        let url = redirect_url(&AuthnRequestParams {
            id: "_abc",
            now: 1_800_000_000,
            sso_url: "https://idp/sso?x=1",
            sp: &sp,
            relay_state: "/w/acme",
            key: Some(&key),
        })
        .expect("url");
        let (base, query) = url.split_once('?').expect("query");
        assert_eq!(base, "https://idp/sso");
        let query = query.strip_prefix("x=1&").expect("keeps the IdP's own query");
        let (signed, sig) = query.rsplit_once("&Signature=").expect("signature");
        let sig = base64::engine::general_purpose::STANDARD
            .decode(url::form_urlencoded::parse(format!("s={sig}").as_bytes()).next().expect("s").1.as_bytes())
            .expect("b64");
        let cert = X509::from_pem(cert_pem.as_bytes()).expect("cert");
        let public_key = cert.public_key().expect("pk");
        let mut v = openssl::sign::Verifier::new(MessageDigest::sha256(), &public_key).expect("verifier");
        v.update(signed.as_bytes()).expect("update");
        assert!(v.verify(&sig).expect("verify"));
        // The request inflates to our AuthnRequest.
        let req = url::form_urlencoded::parse(signed.as_bytes()).find(|(k, _)| k == "SAMLRequest").expect("req").1.to_string();
        let raw = base64::engine::general_purpose::STANDARD.decode(req).expect("b64");
        let mut xml = String::new();
        flate2::read::DeflateDecoder::new(&raw[..]).read_to_string(&mut xml).expect("inflate");
        assert!(xml.contains(r#"ID="_abc""#) && xml.contains("https://gh/saml/t/acs") && xml.contains("2027-01-15T08:00:00Z"));
    }

    #[test]
    fn metadata_escapes_and_lists_both_uses() {
        let (_, cert_pem) = generate_key_pair("t").expect("keys");
        let xml = metadata_xml(&SpInfo {
            entity_id: "https://gh/a?b&c",
            acs_url: "https://gh/acs",
            slo_url: "https://gh/slo",
            cert_pem: &cert_pem,
            sign_requests: false,
            nameid_format: "",
        });
        assert!(xml.contains(r#"entityID="https://gh/a?b&amp;c""#));
        assert!(xml.contains(r#"use="signing""#) && xml.contains(r#"use="encryption""#));
        assert!(xml.contains(r#"AuthnRequestsSigned="false""#));
    }
}
