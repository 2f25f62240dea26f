//! XML Encryption of assertions (xmlenc 1.0/1.1): RSA-OAEP key transport, AES-CBC/GCM
//! content. RSA PKCS#1 v1.5 key transport is refused (Bleichenbacher padding oracles).
use libxml::tree::Node;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Padding;
use openssl::symm::{Cipher, Crypter, Mode};

use super::xml::{screen_text, Refusal, NS_ASSERTION};

const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const NS_XENC11: &str = "http://www.w3.org/2009/xmlenc11#";

fn is(node: &Node, namespace: &str, local: &str) -> bool {
    node.get_name() == local && node.get_namespace().map(|n| n.get_href()).as_deref() == Some(namespace)
}

fn find(node: &Node, namespace: &str, local: &str) -> Option<Node> {
    if is(node, namespace, local) {
        return Some(node.clone());
    }
    node.get_child_elements().iter().find_map(|c| find(c, namespace, local))
}

fn child(node: &Node, namespace: &str, local: &str) -> Option<Node> {
    node.get_child_elements().into_iter().find(|c| is(c, namespace, local))
}

fn cipher_value(node: &Node) -> Result<Vec<u8>, Refusal> {
    let text = child(node, NS_XENC, "CipherData")
        .and_then(|cd| child(&cd, NS_XENC, "CipherValue"))
        .map(|cv| cv.get_content())
        .ok_or_else(|| Refusal("encrypted data without a CipherValue".into()))?;
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(compact).map_err(|_| Refusal("the encrypted data is not valid base64".into()))
}

fn algorithm(node: &Node) -> Option<String> {
    child(node, NS_XENC, "EncryptionMethod").and_then(|m| m.get_attribute("Algorithm"))
}

/// Decrypts the `EncryptedAssertion` inside `response_xml` with our key; returns the
/// assertion's XML text (still unverified: the caller checks its signature or relies on
/// the response signature that covered the ciphertext).
pub fn decrypt_assertion(response_xml: &str, key: &PKey<Private>) -> Result<String, Refusal> {
    screen_text(response_xml)?;
    let doc = super::xml::parse_document(response_xml).ok_or_else(|| Refusal("the XML is not well-formed".into()))?;
    let root = doc.get_root_element().ok_or_else(|| Refusal("empty document".into()))?;
    let ea = find(&root, NS_ASSERTION, "EncryptedAssertion").ok_or_else(|| Refusal("no EncryptedAssertion".into()))?;
    let data = child(&ea, NS_XENC, "EncryptedData").ok_or_else(|| Refusal("EncryptedAssertion without EncryptedData".into()))?;
    // The wrapped key sits in EncryptedData/KeyInfo or beside EncryptedData (Okta, Shibboleth).
    let ek = child(&data, NS_DSIG, "KeyInfo")
        .and_then(|ki| child(&ki, NS_XENC, "EncryptedKey"))
        .or_else(|| child(&ea, NS_XENC, "EncryptedKey"))
        .ok_or_else(|| Refusal("no EncryptedKey for the assertion".into()))?;

    let key_alg = algorithm(&ek).unwrap_or_default();
    let method = child(&ek, NS_XENC, "EncryptionMethod");
    let oaep_digest = method.as_ref().and_then(|m| child(m, NS_DSIG, "DigestMethod")).and_then(|d| d.get_attribute("Algorithm"));
    let mgf = method.as_ref().and_then(|m| child(m, NS_XENC11, "MGF")).and_then(|d| d.get_attribute("Algorithm"));
    let wrapped = cipher_value(&ek)?;
    let content_key = match key_alg.as_str() {
        // xmlenc 1.0: the mask function is always MGF1 with SHA-1; the digest defaults to SHA-1.
        "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p" => unwrap_oaep(key, &wrapped, md(oaep_digest.as_deref())?, openssl::md::Md::sha1())?,
        // xmlenc 1.1: digest and mask function are both named, each defaulting to SHA-1.
        "http://www.w3.org/2009/xmlenc11#rsa-oaep" => unwrap_oaep(key, &wrapped, md(oaep_digest.as_deref())?, mgf_md(mgf.as_deref())?)?,
        "http://www.w3.org/2001/04/xmlenc#rsa-1_5" => return Err(Refusal("RSA PKCS#1 v1.5 key transport is refused; configure RSA-OAEP in the IdP".into())),
        other => return Err(Refusal(format!("unsupported key transport algorithm “{}”", clip(other)))),
    };

    let data_alg = algorithm(&data).unwrap_or_default();
    let body = cipher_value(&data)?;
    let plain = match data_alg.as_str() {
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => cbc(Cipher::aes_128_cbc(), &content_key, &body)?,
        "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => cbc(Cipher::aes_192_cbc(), &content_key, &body)?,
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => cbc(Cipher::aes_256_cbc(), &content_key, &body)?,
        "http://www.w3.org/2009/xmlenc11#aes128-gcm" => gcm(Cipher::aes_128_gcm(), &content_key, &body)?,
        "http://www.w3.org/2009/xmlenc11#aes192-gcm" => gcm(Cipher::aes_192_gcm(), &content_key, &body)?,
        "http://www.w3.org/2009/xmlenc11#aes256-gcm" => gcm(Cipher::aes_256_gcm(), &content_key, &body)?,
        other => return Err(Refusal(format!("unsupported content encryption algorithm “{}” (3DES and others are refused)", clip(other)))),
    };
    String::from_utf8(plain).map_err(|_| Refusal("the decrypted assertion is not UTF-8".into()))
}

fn md(uri: Option<&str>) -> Result<&'static openssl::md::MdRef, Refusal> {
    Ok(match uri {
        None | Some("http://www.w3.org/2000/09/xmldsig#sha1") => openssl::md::Md::sha1(),
        Some("http://www.w3.org/2001/04/xmlenc#sha256") => openssl::md::Md::sha256(),
        Some("http://www.w3.org/2001/04/xmldsig-more#sha384") => openssl::md::Md::sha384(),
        Some("http://www.w3.org/2001/04/xmlenc#sha512") => openssl::md::Md::sha512(),
        Some(other) => return Err(Refusal(format!("unsupported RSA-OAEP digest “{}”", clip(other)))),
    })
}

fn mgf_md(uri: Option<&str>) -> Result<&'static openssl::md::MdRef, Refusal> {
    Ok(match uri {
        None | Some("http://www.w3.org/2009/xmlenc11#mgf1sha1") => openssl::md::Md::sha1(),
        Some("http://www.w3.org/2009/xmlenc11#mgf1sha256") => openssl::md::Md::sha256(),
        Some("http://www.w3.org/2009/xmlenc11#mgf1sha384") => openssl::md::Md::sha384(),
        Some("http://www.w3.org/2009/xmlenc11#mgf1sha512") => openssl::md::Md::sha512(),
        Some(other) => return Err(Refusal(format!("unsupported RSA-OAEP mask function “{}”", clip(other)))),
    })
}

fn clip(s: &str) -> String {
    s.chars().take(120).collect()
}

fn unwrap_oaep(key: &PKey<Private>, wrapped: &[u8], digest: &openssl::md::MdRef, mgf: &openssl::md::MdRef) -> Result<Vec<u8>, Refusal> {
    let fail = |_| Refusal("the assertion's key could not be decrypted with this provider's key (was it encrypted for our current certificate?)".into());
    let mut ctx = openssl::pkey_ctx::PkeyCtx::new(key).map_err(fail)?;
    ctx.decrypt_init().map_err(fail)?;
    ctx.set_rsa_padding(Padding::PKCS1_OAEP).map_err(fail)?;
    ctx.set_rsa_oaep_md(digest).map_err(fail)?;
    ctx.set_rsa_mgf1_md(mgf).map_err(fail)?;
    let mut out = Vec::new();
    ctx.decrypt_to_vec(wrapped, &mut out).map_err(fail)?;
    Ok(out)
}

fn cbc(cipher: Cipher, key: &[u8], body: &[u8]) -> Result<Vec<u8>, Refusal> {
    let iv_len = cipher.iv_len().unwrap_or(16);
    if key.len() != cipher.key_len() || body.len() < iv_len + cipher.block_size() || !(body.len() - iv_len).is_multiple_of(cipher.block_size()) {
        return Err(Refusal("the encrypted assertion has the wrong length".into()));
    }
    let (iv, data) = body.split_at(iv_len);
    let mut c = Crypter::new(cipher, Mode::Decrypt, key, Some(iv)).map_err(|_| Refusal("decryption failed".into()))?;
    c.pad(false);
    let mut out = vec![0u8; data.len() + cipher.block_size()];
    let mut n = c.update(data, &mut out).map_err(|_| Refusal("decryption failed".into()))?;
    n += c.finalize(&mut out[n..]).map_err(|_| Refusal("decryption failed".into()))?;
    out.truncate(n);
    // xmlenc padding: the last byte says how many bytes to drop (1..=block size).
    let pad = out.last().copied().unwrap_or(0) as usize;
    if pad == 0 || pad > cipher.block_size() || pad > out.len() {
        return Err(Refusal("decryption failed (bad padding)".into()));
    }
    out.truncate(out.len() - pad);
    Ok(out)
}

fn gcm(cipher: Cipher, key: &[u8], body: &[u8]) -> Result<Vec<u8>, Refusal> {
    const IV: usize = 12;
    const TAG: usize = 16;
    if key.len() != cipher.key_len() || body.len() < IV + TAG {
        return Err(Refusal("the encrypted assertion has the wrong length".into()));
    }
    let (iv, rest) = body.split_at(IV);
    let (data, tag) = rest.split_at(rest.len() - TAG);
    openssl::symm::decrypt_aead(cipher, key, Some(iv), &[], data, tag).map_err(|_| Refusal("decryption failed (authentication tag mismatch)".into()))
}
