//! Random tokens and their hashes. Tokens are secrets: their type can't be printed.
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A bearer secret (session, invite, SCIM). 256 bits from the OS CSPRNG, base64url.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        use base64::Engine;
        Token(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }
    pub fn from_presented(s: &str) -> Self {
        Token(s.to_string())
    }
    /// The value to hand to the holder, once.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// What the database stores: SHA-256, hex. A high-entropy token needs no salt.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// A secret that is not a [`Token`] we minted: an OIDC client secret, the metrics token, a
/// SAML SP private key, an OIDC nonce or PKCE verifier. `Debug` and `Display` print
/// `<redacted>`, so no log line, error or panic message can carry one; only
/// [`Secret::expose`] reads it, at the one place that hands it on. It is also a database
/// value (a text column) and deserializes from a configuration string.
#[derive(Clone, PartialEq, Eq, Default, sea_orm::DeriveValueType, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Compares with what a client presented, in time independent of where they differ
    /// (both sides are hashed first, so the length leaks nothing either).
    pub fn matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        let (a, b) = (Sha256::digest(self.0.as_bytes()), Sha256::digest(presented.as_bytes()));
        bool::from(a.as_slice().ct_eq(b.as_slice()))
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `bytes` random bytes from the OS CSPRNG as lowercase hex (request ids: not secrets).
pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// How long a rotated-out secret (an API key's, a SCIM OAuth client's) may keep working,
/// as an admin picks it: so the holder can switch without a gap.
pub const ROTATION_OVERLAPS_SECS: [i64; 4] = [0, 3600, 86_400, 7 * 86_400];

/// The overlap choices with their labels; `none` names the first (the old secret stops).
pub fn overlap_choices(none: &str) -> Vec<(i64, String)> {
    ROTATION_OVERLAPS_SECS
        .iter()
        .map(|s| {
            let label = match *s {
                0 => none.to_string(),
                3600 => "1 hour".to_string(),
                86_400 => "1 day".to_string(),
                s => format!("{} days", s / 86_400),
            };
            (*s, label)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2-client-secret");
        for printed in [format!("{s:?}"), format!("{s}"), format!("{:?}", Some(s.clone())), format!("{:#?}", vec![s.clone()])] {
            assert!(!printed.contains("hunter2"), "{printed}");
        }
        assert_eq!(s.expose(), "hunter2-client-secret");
        assert!(s.matches("hunter2-client-secret"));
        assert!(!s.matches("hunter2-client-secreT") && !s.matches("") && !s.matches("hunter2"));
        let from_config: Secret = serde_json::from_str("\"abc\"").expect("deserializes");
        assert_eq!(from_config.expose(), "abc");
    }

    #[test]
    fn tokens_are_long_unique_and_redacted() {
        let a = Token::generate();
        let b = Token::generate();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 43); // 32 bytes base64url
        assert_eq!(a.hash().len(), 64);
        assert_ne!(a.hash(), b.hash());
        assert!(!format!("{a:?}").contains(a.expose()));
        assert_eq!(Token::from_presented(a.expose()).hash(), a.hash());
    }
}
