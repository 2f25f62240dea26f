//! Reading an IdP's metadata (pasted, from a file or from a URL) and its certificates.
use base64::Engine;
use libxml::tree::Node;
use openssl::x509::X509;

use super::xml::NS_DSIG;
use crate::server::DomainError;

const NS_MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub const REDIRECT_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const POST_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
/// Metadata documents bigger than this are refused (Entra's are ~10 KB).
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    pub entity_id: String,
    pub sso_url: String,
    /// PEM, at most two.
    pub certificates: Vec<String>,
    pub want_signed_requests: bool,
    /// The IdP's SingleLogoutService (HTTP-Redirect preferred, else HTTP-POST): its
    /// location and `redirect` or `post`; empty when it has none.
    pub slo_url: String,
    pub slo_binding: String,
}

fn invalid(msg: impl Into<String>) -> DomainError {
    DomainError::Invalid(msg.into())
}

fn is(node: &Node, namespace: &str, local: &str) -> bool {
    node.get_name() == local && node.get_namespace().map(|n| n.get_href()).as_deref() == Some(namespace)
}

fn descendants(node: &Node, namespace: &str, local: &str, out: &mut Vec<Node>) {
    for c in node.get_child_elements() {
        if is(&c, namespace, local) {
            out.push(c.clone());
        }
        descendants(&c, namespace, local, out);
    }
}

/// Parses IdP metadata: the first EntityDescriptor with an IDPSSODescriptor (also inside
/// an EntitiesDescriptor), its HTTP-Redirect SSO endpoint and its signing certificates.
pub fn parse(xml: &str) -> Result<IdpMetadata, DomainError> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err(invalid("The metadata is larger than 1 MiB."));
    }
    if xml.contains("<!DOCTYPE") || xml.contains("<!ENTITY") {
        return Err(invalid("The metadata declares a DOCTYPE or entities; Gatehouse refuses those."));
    }
    let doc = super::xml::parse_document(xml.trim()).ok_or_else(|| invalid("The metadata is not well-formed XML."))?;
    let root = doc.get_root_element().ok_or_else(|| invalid("The metadata is not well-formed XML (no root element)."))?;
    let mut entities = Vec::new();
    if is(&root, NS_MD, "EntityDescriptor") {
        entities.push(root.clone());
    }
    descendants(&root, NS_MD, "EntityDescriptor", &mut entities);
    let (entity, idp) = entities
        .iter()
        .find_map(|e| e.get_child_elements().into_iter().find(|c| is(c, NS_MD, "IDPSSODescriptor")).map(|i| (e.clone(), i)))
        .ok_or_else(|| invalid("This is not IdP metadata: no EntityDescriptor with an IDPSSODescriptor was found."))?;
    let entity_id = entity.get_attribute("entityID").map(|s| s.trim().to_string()).unwrap_or_default();
    if entity_id.is_empty() {
        return Err(invalid("The metadata's EntityDescriptor has no entityID."));
    }
    let sso_url = idp
        .get_child_elements()
        .into_iter()
        .filter(|c| is(c, NS_MD, "SingleSignOnService"))
        .find(|c| c.get_attribute("Binding").as_deref() == Some(REDIRECT_BINDING))
        .and_then(|c| c.get_attribute("Location"))
        .map(|s| s.trim().to_string())
        .ok_or_else(|| invalid("The metadata has no SingleSignOnService with the HTTP-Redirect binding, which Gatehouse uses."))?;
    let mut certs = Vec::new();
    let key_descriptors: Vec<Node> = idp.get_child_elements().into_iter().filter(|c| is(c, NS_MD, "KeyDescriptor")).collect();
    let signing: Vec<&Node> = key_descriptors.iter().filter(|k| k.get_attribute("use").as_deref() == Some("signing")).collect();
    let chosen: Vec<&Node> =
        if signing.is_empty() { key_descriptors.iter().filter(|k| k.get_attribute("use").is_none_or(|u| u.is_empty())).collect() } else { signing };
    for kd in chosen {
        let mut found = Vec::new();
        descendants(kd, NS_DSIG, "X509Certificate", &mut found);
        for c in found {
            let pem = normalize_certificate(&c.get_content())?;
            if !certs.contains(&pem) {
                certs.push(pem);
            }
        }
    }
    if certs.is_empty() {
        return Err(invalid("The metadata lists no signing certificate; a provider without one can't be trusted."));
    }
    if certs.len() > 2 {
        return Err(invalid(format!(
            "The metadata lists {} signing certificates; Gatehouse pins at most two (current and next). Remove the retired ones from the IdP or enter the certificates by hand.",
            certs.len()
        )));
    }
    let slo_services: Vec<Node> = idp.get_child_elements().into_iter().filter(|c| is(c, NS_MD, "SingleLogoutService")).collect();
    let slo = [(REDIRECT_BINDING, "redirect"), (POST_BINDING, "post")].into_iter().find_map(|(binding, name)| {
        let s = slo_services.iter().find(|c| c.get_attribute("Binding").as_deref() == Some(binding))?;
        let url = s.get_attribute("Location").map(|l| l.trim().to_string()).filter(|l| !l.is_empty())?;
        Some((url, name.to_string()))
    });
    let (slo_url, slo_binding) = match slo {
        Some((url, binding)) => {
            (validate_sso_url(&url, false).map_err(|_| invalid("The metadata's SingleLogoutService location is not an http(s) URL."))?, binding)
        }
        None => (String::new(), String::new()),
    };
    Ok(IdpMetadata {
        slo_url,
        slo_binding,
        entity_id,
        sso_url: validate_sso_url(&sso_url, false)?,
        certificates: certs,
        want_signed_requests: idp.get_attribute("WantAuthnRequestsSigned").is_some_and(|v| v == "true" || v == "1"),
    })
}

/// Accepts a certificate as PEM or as the bare base64 that metadata and IdP consoles
/// show; returns canonical PEM. Refuses anything that isn't one X.509 certificate.
pub fn normalize_certificate(raw: &str) -> Result<String, DomainError> {
    let body: String = raw.lines().filter(|l| !l.trim_start().starts_with("-----")).flat_map(|l| l.chars()).filter(|c| !c.is_whitespace()).collect();
    if body.is_empty() {
        return Err(invalid("The certificate is empty."));
    }
    let der = base64::engine::general_purpose::STANDARD.decode(body.as_bytes()).map_err(|_| invalid("The certificate is not valid PEM or base64."))?;
    let cert = X509::from_der(&der).map_err(|_| invalid("The certificate could not be read as X.509."))?;
    let pem = cert.to_pem().map_err(|_| invalid("The certificate could not be encoded."))?;
    String::from_utf8(pem).map_err(|_| invalid("The certificate could not be encoded."))
}

/// DER bytes and the expiry (Unix seconds) of a stored PEM certificate.
pub fn certificate_facts(pem: &str) -> Result<(Vec<u8>, i64, String), DomainError> {
    let cert = X509::from_pem(pem.as_bytes()).map_err(|_| DomainError::Internal("stored certificate unreadable".into()))?;
    let der = cert.to_der().map_err(|_| DomainError::Internal("stored certificate unreadable".into()))?;
    let epoch = openssl::asn1::Asn1Time::from_unix(0).map_err(|e| DomainError::Internal(e.to_string()))?;
    let diff = epoch.diff(cert.not_after()).map_err(|e| DomainError::Internal(e.to_string()))?;
    let not_after = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    let subject = cert.subject_name().entries().filter_map(|e| e.data().to_string().ok()).collect::<Vec<_>>().join(", ");
    Ok((der, not_after, subject))
}

/// `strict` (a server reached over https): only https URLs.
pub fn validate_sso_url(raw: &str, strict: bool) -> Result<String, DomainError> {
    let url = url::Url::parse(raw.trim()).map_err(|_| invalid("The SSO URL is not a valid URL."))?;
    if url.scheme() != "https" && (strict || url.scheme() != "http") {
        return Err(invalid("The SSO URL must be an https:// URL."));
    }
    if url.fragment().is_some() || url.host_str().is_none() {
        return Err(invalid("The SSO URL must be an absolute URL without a fragment."));
    }
    Ok(url.to_string())
}

/// Fetches metadata from the IdP with a timeout and a size cap. Errors never echo what
/// the remote answered (the URL is admin input: no server-side content disclosure). One
/// policy in every mode: public addresses only (resolved once and pinned, so DNS can't
/// swap in an internal one) unless the operator allows private ones
/// (`GATEHOUSE_ALLOW_PRIVATE_METADATA_URLS`, for labs); never through a proxy from the
/// environment (it would undo the pinning); no redirects (the admin gives the final URL);
/// 10 seconds and 1 MiB at most. `strict` (an https server) also requires https.
pub async fn fetch(url_raw: &str, strict: bool, allow_private: bool) -> Result<String, DomainError> {
    let url = url::Url::parse(url_raw.trim()).map_err(|_| invalid("The metadata URL is not a valid URL."))?;
    if url.scheme() != "https" && (strict || url.scheme() != "http") {
        return Err(invalid("The metadata URL must start with https://."));
    }
    let client = crate::server::outbound::pinned_client(&url, allow_private, std::time::Duration::from_secs(10)).await.map_err(|r| match r {
        crate::server::outbound::Refusal::NoHost => invalid("The metadata URL has no host."),
        crate::server::outbound::Refusal::NotResolved => invalid("The metadata URL's host name could not be resolved."),
        crate::server::outbound::Refusal::Private => invalid("The metadata URL points to a private or local address; give the IdP's public metadata URL."),
        crate::server::outbound::Refusal::Client(e) => DomainError::Internal(e),
    })?;
    let mut resp =
        client.get(url).send().await.map_err(|_| invalid("The metadata URL could not be fetched (no answer within 10 seconds, or the connection failed)."))?;
    if resp.status().is_redirection() {
        return Err(invalid("The metadata URL redirects elsewhere; give the final URL."));
    }
    if !resp.status().is_success() {
        return Err(invalid(format!("The metadata URL answered HTTP {}.", resp.status().as_u16())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|_| invalid("The metadata download was interrupted."))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_METADATA_BYTES {
            return Err(invalid("The metadata at that URL is larger than 1 MiB."));
        }
    }
    String::from_utf8(body).map_err(|_| invalid("The metadata at that URL is not UTF-8 text."))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn strict_servers_take_https_only() {
        assert!(validate_sso_url("http://idp.example.com/sso", true).is_err());
        assert!(validate_sso_url("https://idp.example.com/sso", true).is_ok());
        assert!(validate_sso_url("http://127.0.0.1:9/sso", false).is_ok());
        assert!(validate_sso_url("ftp://idp/sso", false).is_err());
    }
}
