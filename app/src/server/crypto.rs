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

#[cfg(test)]
mod tests {
    use super::*;
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

/// `bytes` random bytes from the OS CSPRNG as lowercase hex (request ids: not secrets).
pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}
