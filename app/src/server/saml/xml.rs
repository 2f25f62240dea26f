//! Structural checks on untrusted SAML XML, before and around signature verification.
//!
//! Everything here runs on the raw document with libxml2 (namespace-aware), so that what
//! the signature check and the serde parser later see has a known shape: one Response,
//! exactly one assertion as its direct child, unique IDs, signatures only where SAML puts
//! them, no DTDs, entities, comments or processing instructions, bounded size and depth.
use std::collections::HashSet;

use libxml::tree::{Node, NodeType};

pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
const NS_XENC11: &str = "http://www.w3.org/2009/xmlenc11#";
const NS_DSIG11: &str = "http://www.w3.org/2009/xmldsig11#";
const NS_EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";

/// Limits on what an IdP may send. Real responses are a few KB with tens of elements.
pub const MAX_DEPTH: usize = 32;
pub const MAX_ELEMENTS: usize = 4_000;
pub const MAX_ATTRIBUTES: usize = 100;

/// Why a document was refused, in words an admin can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn refuse<T>(msg: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(msg.into()))
}

/// Cheap textual screen, before any parser runs, so that every parser that later reads
/// the bytes (ours, samael's, xmlsec's) sees one and the same document:
/// - an XML declaration may only name UTF-8 or ASCII (a declared UTF-7 or UTF-16 makes a
///   parser that honours it decode other characters than this screen read, which once hid
///   a DOCTYPE from it);
/// - no NUL characters (what UTF-16 text looks like when read as UTF-8);
/// - no DTD or any other `<!` declaration but CDATA (so no entity can ever be declared,
///   let alone expanded), in any letter case;
/// - no comments (CVE-2017-11427: a comment inside a NameID makes naive readers truncate
///   it);
/// - no processing instruction anywhere, before the root element included (a tree walk
///   from the root never sees those).
pub fn screen_text(xml: &str) -> Result<(), Refusal> {
    let body = xml.strip_prefix('\u{feff}').unwrap_or(xml);
    if body.contains('\0') {
        return refuse("the XML contains NUL characters (UTF-16 or binary data), which Gatehouse refuses");
    }
    let rest = match body.strip_prefix("<?xml") {
        Some(after) if after.starts_with(|c: char| c.is_ascii_whitespace()) => {
            let Some(end) = after.find("?>") else { return refuse("the XML declaration is not closed") };
            let decl = &after[..end];
            if let Some(enc) = declared_encoding(decl) {
                if !matches!(enc.to_ascii_lowercase().as_str(), "utf-8" | "utf8" | "us-ascii" | "ascii") {
                    return refuse(format!("the XML declares the encoding {enc}; Gatehouse accepts SAML messages in UTF-8 only"));
                }
            }
            &after[end + 2..]
        }
        _ => body,
    };
    if rest.contains("<?") {
        return refuse("the XML contains processing instructions, which SAML never needs");
    }
    if rest.contains("<!--") {
        return refuse("the XML contains comments, which Gatehouse refuses in SAML messages");
    }
    let mut from = 0;
    while let Some(i) = rest[from..].find("<!") {
        let at = from + i;
        if !rest[at..].starts_with("<![CDATA[") {
            return refuse("the XML declares a DOCTYPE, entities or other markup declarations, which SAML never needs");
        }
        from = at + 2;
    }
    Ok(())
}

/// The value of `encoding="…"` (or '…') in an XML declaration's text, if any.
fn declared_encoding(decl: &str) -> Option<&str> {
    let i = decl.find("encoding")?;
    let after = decl[i + "encoding".len()..].trim_start().strip_prefix('=')?.trim_start();
    let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &after[1..];
    Some(&value[..value.find(quote)?])
}

/// Parses text as UTF-8 XML, strictly: no recovery from errors, no network, no DTD
/// loading, no entity substitution.
///
/// This calls libxml2 directly. The libxml crate's `ParserOptions` can't be used: its
/// `encoding` hands libxml2 a pointer to a string it has already freed (so under load,
/// with another thread reusing that memory, documents were now and then read with
/// elements missing), its default turns recovery on, and its `no_def_dtd` sets
/// `XML_PARSE_DTDLOAD` for XML.
pub fn parse_document(xml: &str) -> Option<libxml::tree::Document> {
    use libxml::bindings::{
        xmlParserOption_XML_PARSE_IGNORE_ENC, xmlParserOption_XML_PARSE_NOERROR, xmlParserOption_XML_PARSE_NONET, xmlParserOption_XML_PARSE_NOWARNING,
        xmlReadMemory,
    };
    let len = i32::try_from(xml.len()).ok()?;
    // IGNORE_ENC: the text is UTF-8 (a Rust string); an XML declaration naming another
    // encoding (UTF-7 hiding a DOCTYPE from the text screen) must not switch the decoder.
    let flags =
        (xmlParserOption_XML_PARSE_NONET | xmlParserOption_XML_PARSE_NOERROR | xmlParserOption_XML_PARSE_NOWARNING | xmlParserOption_XML_PARSE_IGNORE_ENC)
            as i32;
    // SAFETY: the buffer and its length come from a live `&str`; URL and encoding are
    // static NUL-terminated strings; libxml2 copies what it keeps and returns a document
    // we own (or null), which `Document::new_ptr` takes over and frees on drop.
    let ptr = unsafe { xmlReadMemory(xml.as_ptr().cast(), len, c"message.xml".as_ptr(), c"UTF-8".as_ptr(), flags) };
    if ptr.is_null() {
        None
    } else {
        Some(libxml::tree::Document::new_ptr(ptr))
    }
}

fn parse(xml: &str) -> Result<libxml::tree::Document, Refusal> {
    screen_text(xml)?;
    parse_document(xml).ok_or_else(|| Refusal("the XML is not well-formed".into()))
}

fn ns(node: &Node) -> String {
    node.get_namespace().map(|n| n.get_href()).unwrap_or_default()
}

fn is(node: &Node, namespace: &str, local: &str) -> bool {
    node.get_name() == local && ns(node) == namespace
}

/// What the raw document looks like; values from here are *unverified* and only ever
/// used to refuse, never to accept.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    pub response_signed: bool,
    pub assertion_signed: bool,
    pub encrypted: bool,
    pub destination: Option<String>,
    pub in_response_to: Option<String>,
    pub issuer: Option<String>,
    pub status: Option<String>,
}

/// Walks the whole tree once: node kinds, namespaces, depth, element count, unique IDs,
/// and where signatures sit. `allow_root` is the expected root (Response, or Assertion for
/// a decrypted assertion).
fn walk(root: &Node) -> Result<(), Refusal> {
    walk_signed_at(root, &[(NS_PROTOCOL, "Response"), (NS_ASSERTION, "Assertion")])
}

/// As [`walk`], with signatures allowed only as children of the given elements.
fn walk_signed_at(root: &Node, signed_parents: &[(&str, &str)]) -> Result<(), Refusal> {
    let allowed_ns = [NS_PROTOCOL, NS_ASSERTION, NS_DSIG, NS_XENC, NS_XENC11, NS_DSIG11, NS_EXC_C14N];
    let mut ids = HashSet::new();
    let mut elements = 0usize;
    let mut attributes = 0usize;
    let mut stack = vec![(root.clone(), 1usize)];
    while let Some((node, depth)) = stack.pop() {
        match node.get_type() {
            Some(NodeType::ElementNode) => {}
            Some(NodeType::TextNode) | Some(NodeType::CDataSectionNode) => continue,
            Some(NodeType::CommentNode) => return refuse("the XML contains comments"),
            Some(NodeType::PiNode) => return refuse("the XML contains processing instructions"),
            _ => return refuse("the XML contains entities or other unexpected node types"),
        }
        elements += 1;
        if elements > MAX_ELEMENTS {
            return refuse(format!("the XML has more than {MAX_ELEMENTS} elements"));
        }
        if depth > MAX_DEPTH {
            return refuse(format!("the XML is nested deeper than {MAX_DEPTH} levels"));
        }
        // Name and namespace once per element (this walk runs on every ACS post).
        let name = node.get_name();
        let namespace = ns(&node);
        if !allowed_ns.contains(&namespace.as_str()) {
            return refuse(format!("unexpected element <{name}> in namespace “{namespace}”"));
        }
        if namespace == NS_ASSERTION && name == "Attribute" {
            attributes += 1;
            if attributes > MAX_ATTRIBUTES {
                return refuse(format!("the assertion carries more than {MAX_ATTRIBUTES} attributes"));
            }
        }
        for id_name in ["ID", "Id", "id"] {
            if let Some(value) = node.get_attribute(id_name) {
                if !ids.insert(value.clone()) {
                    return refuse(format!("the ID “{value}” appears twice (a signature-wrapping attempt)"));
                }
            }
        }
        if namespace == NS_DSIG && name == "Signature" {
            // A signature may only sign its parent Response or Assertion, as SAML places it.
            let parent_ok = node.get_parent().is_some_and(|p| signed_parents.iter().any(|(n, l)| is(&p, n, l)));
            if !parent_ok {
                return refuse("a signature sits somewhere SAML never puts one (a signature-wrapping attempt)");
            }
            // Its content is xmldsig; nothing inside it may be SAML.
            if has_saml_descendant(&node) {
                return refuse("SAML content hidden inside a signature (a signature-wrapping attempt)");
            }
            check_signature_profile(&node)?;
        }
        for child in node.get_child_nodes() {
            stack.push((child, depth + 1));
        }
    }
    Ok(())
}

const TRANSFORMS: [&str; 3] =
    ["http://www.w3.org/2000/09/xmldsig#enveloped-signature", "http://www.w3.org/2001/10/xml-exc-c14n#", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"];

/// SAML core §5.4: one Reference, to the ID of the element the signature sits in, with
/// only the enveloped-signature and canonicalization transforms. (xmlsec alone would also
/// accept `URI=""` or an XPath transform that makes a signature cover nothing.)
fn check_signature_profile(sig: &Node) -> Result<(), Refusal> {
    let parent_id = sig.get_parent().and_then(|p| p.get_attribute("ID")).unwrap_or_default();
    let Some(signed_info) = sig.get_child_elements().into_iter().find(|c| is(c, NS_DSIG, "SignedInfo")) else {
        return refuse("a signature without SignedInfo");
    };
    let c14n = signed_info
        .get_child_elements()
        .into_iter()
        .find(|c| is(c, NS_DSIG, "CanonicalizationMethod"))
        .and_then(|c| c.get_attribute("Algorithm"))
        .unwrap_or_default();
    if !TRANSFORMS[1..].contains(&c14n.as_str()) {
        return refuse(format!("canonicalization “{c14n}” is not allowed in SAML signatures"));
    }
    let refs: Vec<Node> = signed_info.get_child_elements().into_iter().filter(|c| is(c, NS_DSIG, "Reference")).collect();
    let [reference] = refs.as_slice() else {
        return refuse("a SAML signature must hold exactly one Reference");
    };
    let uri = reference.get_attribute("URI").unwrap_or_default();
    if parent_id.is_empty() || uri != format!("#{parent_id}") {
        return refuse(format!("the signature references “{uri}”, not the ID of the element it signs"));
    }
    if let Some(transforms) = reference.get_child_elements().into_iter().find(|c| is(c, NS_DSIG, "Transforms")) {
        for t in transforms.get_child_elements() {
            let alg = t.get_attribute("Algorithm").unwrap_or_default();
            if !is(&t, NS_DSIG, "Transform")
                || !TRANSFORMS.contains(&alg.as_str())
                || !t.get_child_elements().iter().all(|c| is(c, NS_EXC_C14N, "InclusiveNamespaces"))
            {
                return refuse(format!("the signature uses a transform SAML does not allow (“{alg}”)"));
            }
        }
    }
    Ok(())
}

fn has_saml_descendant(node: &Node) -> bool {
    node.get_child_elements().iter().any(|c| {
        let n = ns(c);
        n == NS_PROTOCOL || n == NS_ASSERTION || has_saml_descendant(c)
    })
}

fn count_assertions(node: &Node) -> usize {
    let own = usize::from(is(node, NS_ASSERTION, "Assertion") || is(node, NS_ASSERTION, "EncryptedAssertion"));
    own + node.get_child_elements().iter().map(count_assertions).sum::<usize>()
}

fn signature_child(node: &Node) -> Result<bool, Refusal> {
    let n = node.get_child_elements().iter().filter(|c| is(c, NS_DSIG, "Signature")).count();
    match n {
        0 => Ok(false),
        1 => Ok(true),
        _ => refuse(format!("<{}> carries more than one signature", node.get_name())),
    }
}

fn text_of(node: &Node, namespace: &str, local: &str) -> Option<String> {
    node.get_child_elements().into_iter().find(|c| is(c, namespace, local)).map(|c| c.get_content().trim().to_string())
}

/// Inspects a `samlp:Response` as posted to the ACS.
pub fn inspect_response(xml: &str) -> Result<Shape, Refusal> {
    let doc = parse(xml)?;
    let Some(root) = doc.get_root_element() else { return refuse("the XML has no root element") };
    if !is(&root, NS_PROTOCOL, "Response") {
        return refuse(format!("expected a SAML <Response>, got <{}>", root.get_name()));
    }
    walk(&root)?;
    if count_assertions(&root) != 1 {
        return refuse("the response must hold exactly one assertion");
    }
    let children = root.get_child_elements();
    let assertion = children.iter().find(|c| is(c, NS_ASSERTION, "Assertion") || is(c, NS_ASSERTION, "EncryptedAssertion"));
    let Some(assertion) = assertion else {
        return refuse("the assertion is not a direct child of the response (hidden in Extensions or elsewhere)");
    };
    let encrypted = is(assertion, NS_ASSERTION, "EncryptedAssertion");
    let status = children
        .iter()
        .find(|c| is(c, NS_PROTOCOL, "Status"))
        .and_then(|s| s.get_child_elements().into_iter().find(|c| is(c, NS_PROTOCOL, "StatusCode")))
        .and_then(|c| c.get_attribute("Value"));
    Ok(Shape {
        response_signed: signature_child(&root)?,
        assertion_signed: !encrypted && signature_child(assertion)?,
        encrypted,
        destination: root.get_attribute("Destination"),
        in_response_to: root.get_attribute("InResponseTo"),
        issuer: text_of(&root, NS_ASSERTION, "Issuer"),
        status,
    })
}

/// What a Single Logout message (`LogoutRequest` or `LogoutResponse`) says. Read from the
/// bytes the signature covered when it is signed; *unverified* otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogoutShape {
    /// `LogoutRequest` or `LogoutResponse`.
    pub kind: &'static str,
    pub signed: bool,
    pub id: String,
    pub issue_instant: Option<String>,
    pub not_on_or_after: Option<String>,
    pub destination: Option<String>,
    pub in_response_to: Option<String>,
    pub issuer: Option<String>,
    pub name_id: Option<String>,
    pub name_id_format: Option<String>,
    pub session_indexes: Vec<String>,
    pub status: Option<String>,
}

/// Inspects a Single Logout message: one `LogoutRequest` or `LogoutResponse` root, the same
/// limits and node rules as a Response, a signature only as the root's child, an ID, and
/// for a request one plain NameID (an EncryptedID is refused: we never ask for one).
pub fn inspect_logout(xml: &str) -> Result<LogoutShape, Refusal> {
    let doc = parse(xml)?;
    let Some(root) = doc.get_root_element() else { return refuse("the XML has no root element") };
    let kind = if is(&root, NS_PROTOCOL, "LogoutRequest") {
        "LogoutRequest"
    } else if is(&root, NS_PROTOCOL, "LogoutResponse") {
        "LogoutResponse"
    } else {
        return refuse(format!("expected a SAML <LogoutRequest> or <LogoutResponse>, got <{}>", root.get_name()));
    };
    walk_signed_at(&root, &[(NS_PROTOCOL, "LogoutRequest"), (NS_PROTOCOL, "LogoutResponse")])?;
    if count_assertions(&root) != 0 {
        return refuse("a logout message carries an assertion");
    }
    let id = root.get_attribute("ID").unwrap_or_default();
    if id.is_empty() || id.len() > 256 {
        return refuse("the message has no ID (or one longer than 256 characters)");
    }
    let children = root.get_child_elements();
    let name_id = children.iter().find(|c| is(c, NS_ASSERTION, "NameID"));
    if kind == "LogoutRequest" {
        if children.iter().any(|c| is(c, NS_ASSERTION, "EncryptedID") || is(c, NS_ASSERTION, "BaseID")) {
            return refuse("the request names its subject with an EncryptedID or BaseID; Gatehouse reads a plain NameID");
        }
        if name_id.is_none() {
            return refuse("the request names no NameID");
        }
    }
    let status = children
        .iter()
        .find(|c| is(c, NS_PROTOCOL, "Status"))
        .and_then(|s| s.get_child_elements().into_iter().find(|c| is(c, NS_PROTOCOL, "StatusCode")))
        .and_then(|c| c.get_attribute("Value"));
    Ok(LogoutShape {
        kind,
        signed: signature_child(&root)?,
        id,
        issue_instant: root.get_attribute("IssueInstant"),
        not_on_or_after: root.get_attribute("NotOnOrAfter"),
        destination: root.get_attribute("Destination"),
        in_response_to: root.get_attribute("InResponseTo"),
        issuer: text_of(&root, NS_ASSERTION, "Issuer"),
        name_id: name_id.map(|n| n.get_content().trim().to_string()),
        name_id_format: name_id.and_then(|n| n.get_attribute("Format")),
        session_indexes: children.iter().filter(|c| is(c, NS_PROTOCOL, "SessionIndex")).map(|c| c.get_content().trim().to_string()).take(20).collect(),
        status,
    })
}

/// Inspects a decrypted assertion; returns whether it carries its own signature.
pub fn inspect_assertion(xml: &str) -> Result<bool, Refusal> {
    let doc = parse(xml)?;
    let Some(root) = doc.get_root_element() else { return refuse("the decrypted assertion is empty") };
    if !is(&root, NS_ASSERTION, "Assertion") {
        return refuse(format!("the encrypted data held <{}>, not an assertion", root.get_name()));
    }
    walk(&root)?;
    if count_assertions(&root) != 1 {
        return refuse("the decrypted assertion nests another assertion");
    }
    signature_child(&root)
}

/// Which element a signature's pre-digest bytes are: `Response` or `Assertion`. Only used
/// on xmlsec's output for a document `inspect_response`/`inspect_assertion` accepted, where
/// every signature references its parent and only Responses and Assertions (SAML
/// namespaces checked) carry signatures, so the root's local name is decisive.
pub fn root_kind(xml: &str) -> Result<&'static str, Refusal> {
    match root_local_name(xml).as_deref() {
        Some("Response") => Ok("Response"),
        Some("Assertion") => Ok("Assertion"),
        Some(_) => refuse("the signature covers neither the response nor the assertion"),
        None => refuse("nothing in the message is covered by a valid signature"),
    }
}

/// The local name of the first element's tag, read as text after a byte-order mark and an
/// XML declaration (no parser: for telling kinds of message apart, never for trusting one).
pub fn root_local_name(xml: &str) -> Option<String> {
    let body = xml.trim_start_matches('\u{feff}').trim_start();
    let body = match body.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>")?.1.trim_start(),
        None => body,
    };
    let start = body.find('<')?;
    let tag: String = body[start + 1..].chars().take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/').collect();
    tag.rsplit(':').next().filter(|n| !n.is_empty()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r" Destination="https://sp/acs"><saml:Issuer>idp</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion ID="_a"><saml:Issuer>idp</saml:Issuer></saml:Assertion></samlp:Response>"#;

    #[test]
    fn root_kind_reads_the_signed_element() {
        assert_eq!(root_kind("<ns0:Response xmlns:ns0=\"x\">").ok(), Some("Response"));
        assert_eq!(root_kind("<saml2:Assertion ID=\"a\">").ok(), Some("Assertion"));
        assert!(root_kind("<ds:Object>").is_err() && root_kind("").is_err());
    }

    #[test]
    fn reads_the_shape_of_a_plain_response() {
        let s = inspect_response(OK).expect("shape");
        assert_eq!(s.destination.as_deref(), Some("https://sp/acs"));
        assert_eq!(s.issuer.as_deref(), Some("idp"));
        assert_eq!(s.status.as_deref(), Some("urn:oasis:names:tc:SAML:2.0:status:Success"));
        assert!(!s.response_signed && !s.assertion_signed && !s.encrypted);
    }

    #[test]
    fn refuses_hostile_shapes() {
        let cases = [
            OK.replace("<saml:Issuer>idp</saml:Issuer><samlp:Status>", "<!DOCTYPE x [<!ENTITY e \"x\">]><saml:Issuer>idp</saml:Issuer><samlp:Status>"),
            OK.replace("ID=\"_a\"", "ID=\"_r\""),
            OK.replace("</samlp:Response>", "<saml:Assertion ID=\"_b\"/></samlp:Response>"),
            OK.replace("<samlp:Status>", "<samlp:Extensions><saml:Assertion ID=\"_x\"/></samlp:Extensions><samlp:Status>"),
            OK.replace("<saml:Issuer>idp</saml:Issuer></saml:Assertion>", "<saml:Issuer>a<!---->b</saml:Issuer></saml:Assertion>"),
            OK.replace("<saml:Assertion ID=\"_a\">", "<saml:Assertion ID=\"_a\"><?pi x?>"),
            OK.replace("<saml:Assertion ID=\"_a\">", "<saml:Assertion ID=\"_a\"><evil xmlns=\"urn:evil\"/>"),
            OK.replace("<saml:Issuer>idp</saml:Issuer></saml:Assertion>", "<saml:Issuer>idp</saml:Issuer><saml:Subject><ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"/></saml:Subject></saml:Assertion>"),
            OK.replace("<saml:Assertion ID=\"_a\">", "<saml:Assertion ID=\"_a\"><ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:Object><saml:Assertion ID=\"_z\"/></ds:Object></ds:Signature>"),
            "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"".to_string(),
            format!("<samlp:Response xmlns:samlp=\"{NS_PROTOCOL}\">{}{}</samlp:Response>", "<samlp:Extensions>".repeat(40), "</samlp:Extensions>".repeat(40)),
            OK.replace("samlp:Response", "samlp:AuthnRequest"),
        ];
        for (i, c) in cases.iter().enumerate() {
            assert!(inspect_response(c).is_err(), "case {i} accepted: {c}");
        }
    }

    /// Every reading of the bytes must be the same document: encodings other than UTF-8,
    /// processing instructions (also before the root) and markup declarations in any case
    /// are refused before a parser runs; a UTF-8 declaration and a BOM are fine.
    #[test]
    fn one_meaning_for_every_parser() {
        for ok in [
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{OK}"),
            format!("<?xml version='1.0' encoding='us-ascii'?>\n{OK}"),
            format!("<?xml version=\"1.0\"?>{OK}"),
            format!("\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>{OK}"),
            OK.replace("<saml:Issuer>idp</saml:Issuer></saml:Assertion>", "<saml:Issuer><![CDATA[idp]]></saml:Issuer></saml:Assertion>"),
        ] {
            assert!(screen_text(&ok).is_ok(), "refused: {ok}");
        }
        for (why, bad) in [
            ("UTF-7", format!("<?xml version=\"1.0\" encoding=\"UTF-7\"?>{OK}")),
            ("UTF-7 hiding a DOCTYPE", format!("<?xml version=\"1.0\" encoding=\"UTF-7\"?>+ADw-!DOCTYPE x+AD4-{OK}")),
            ("UTF-16", format!("<?xml version=\"1.0\" encoding=\"UTF-16\"?>{OK}")),
            ("latin1", format!("<?xml version=\"1.0\" encoding = 'ISO-8859-1'?>{OK}")),
            ("NUL", OK.replace("idp", "i\0d\0p")),
            ("PI before the root", format!("<?xml version=\"1.0\"?><?xml-stylesheet href=\"x\"?>{OK}")),
            ("PI first", format!("<?pi x?>{OK}")),
            ("a second declaration", format!("<?xml version=\"1.0\"?><?xml version=\"1.0\" encoding=\"UTF-7\"?>{OK}")),
            ("doctype in mixed case", format!("<!DocType x>{OK}")),
            ("element declaration", OK.replace("<samlp:Status>", "<!ELEMENT x ANY><samlp:Status>")),
            ("unclosed declaration", format!("<?xml version=\"1.0\" {OK}")),
        ] {
            assert!(screen_text(&bad).is_err(), "{why} accepted: {bad}");
            assert!(inspect_response(&bad).is_err(), "{why} accepted by inspect_response");
        }
    }
}
