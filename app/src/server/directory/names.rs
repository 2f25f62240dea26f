//! The names people give things: workspace slugs and display names.
use crate::server::DomainError;

pub fn validate_slug(raw: &str) -> Result<String, DomainError> {
    let slug = raw.trim().to_lowercase();
    let ok = (2..=40).contains(&slug.len())
        && slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if !ok {
        return Err(DomainError::Invalid(
            "The workspace URL name is 2–40 characters: lowercase letters, digits and dashes, not starting or ending with a dash.".into(),
        ));
    }
    if RESERVED_SLUGS.contains(&slug.as_str()) {
        return Err(DomainError::Invalid(format!("“{slug}” is reserved; choose another URL name.")));
    }
    Ok(slug)
}

pub fn validate_name(raw: &str, what: &str) -> Result<String, DomainError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(DomainError::Invalid(format!("{what} must be 1–100 characters.")));
    }
    Ok(name.to_string())
}

const RESERVED_SLUGS: &[&str] = &["api", "admin", "setup", "login", "invite", "saml", "scim", "auth", "pkg", "static"];

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn slugs() {
        assert_eq!(validate_slug(" Acme-2 ").ok().as_deref(), Some("acme-2"));
        for bad in ["a", "-acme", "acme-", "ac me", "acmé", "api", &"x".repeat(41)] {
            assert!(validate_slug(bad).is_err(), "{bad} accepted");
        }
    }
}
