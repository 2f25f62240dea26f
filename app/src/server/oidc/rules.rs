//! Each provider's rules for a verified ID token: Google's `email_verified` and `hd`,
//! Microsoft's tenant issuers, `tid`/`oid` and `xms_edov`, Slack's team ids, and how far
//! each one's email may be trusted.
use serde_json::Value;

/// Microsoft's tenant for personal accounts (outlook.com, hotmail.com…): refused for work sign-in.
pub const MSA_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// Microsoft's multi-tenant metadata names its issuer `https://login.microsoftonline.com/{tenantid}/v2.0`;
/// a token's `iss` must be that template with the token's own `tid`.
pub fn microsoft_issuer_ok(template: &str, iss: &str, tid: &str) -> bool {
    let tid_ok = !tid.is_empty() && tid.len() <= 64 && tid.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if template.contains("{tenantid}") {
        tid_ok && iss == template.replace("{tenantid}", tid)
    } else {
        iss == template
    }
}

/// Google's tokens name their issuer with or without the scheme; links use one form.
pub fn google_issuer(iss: &str) -> String {
    if iss == "accounts.google.com" {
        "https://accounts.google.com".into()
    } else {
        iss.to_string()
    }
}

/// Claims we act on, from a verified id_token.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub extra: Value,
}

/// The tenant of an office365 allowlist entry (`TENANT` or `TENANT=domain|domain`).
fn tenant_of(entry: &str) -> &str {
    entry.split('=').next().unwrap_or(entry)
}

/// May allowlisted tenant `tid` assert addresses of `domain` (one of the workspace's
/// verified domains) in a workspace whose office365 allowlist is `allow`? The entry's own
/// list (`TENANT=a.com|b.com`) when it has one; otherwise every verified domain while it
/// is the only tenant listed, and none once there are several (one organization never
/// speaks for another's people by default).
pub fn tenant_may_assert(allow: &[String], tid: &str, domain: &str) -> bool {
    let Some(entry) = allow.iter().find(|a| tenant_of(a) == tid) else { return false };
    match entry.split_once('=') {
        Some((_, domains)) => domains.split('|').any(|d| d == domain),
        None => allow.len() == 1,
    }
}

type Refusal = (String, String);

/// How far a provider's email claim can be trusted to match a member or an invite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailTrust {
    /// The provider verified it: it may match, and the identity link it makes is global.
    Verified,
    /// Only for an email in this workspace's claimed domains, and no global link is kept
    /// (Microsoft tenants on the workspace's allowlist without `xms_edov`).
    ClaimedDomainOnly,
    No,
}

/// Per provider: the identity key and subject, how far its email can be trusted, and its
/// allowlist.
pub fn provider_rules(key: &str, v: &Verified, allow: &[String]) -> Result<(String, String, EmailTrust), Refusal> {
    let s = |k: &str| v.extra.get(k).and_then(Value::as_str).map(str::to_string);
    match key {
        "google" => {
            if v.email_verified != Some(true) {
                return Err((
                    "email_verified is not true".into(),
                    "Google hasn't verified this account's email address, so it can't be used to sign in.".into(),
                ));
            }
            let hd = s("hd").unwrap_or_default().to_lowercase();
            if !allow.is_empty() && !allow.contains(&hd) {
                return Err((format!("hd {hd:?} not allowed"), "This Google account isn't part of a Google Workspace domain this workspace allows.".into()));
            }
            Ok((google_issuer(&v.issuer), v.subject.clone(), EmailTrust::Verified))
        }
        "office365" => {
            let tid = s("tid").unwrap_or_default().to_lowercase();
            let oid = s("oid").unwrap_or_default();
            if tid.is_empty() || oid.is_empty() {
                return Err(("no tid/oid".into(), "Microsoft sent an incomplete identity. Try again.".into()));
            }
            if tid == MSA_TENANT {
                return Err((
                    "personal Microsoft account".into(),
                    "Personal Microsoft accounts can't be used here; sign in with your work or school account.".into(),
                ));
            }
            if !allow.is_empty() && !allow.iter().any(|a| tenant_of(a) == tid) {
                return Err((format!("tenant {tid} not allowed"), "This Microsoft organization isn't one this workspace allows.".into()));
            }
            // nOAuth: an email in Entra is mutable and unverified. Trust it when Microsoft
            // says the domain owner verified it (the optional claim `xms_edov`); a tenant
            // on the workspace's allowlist is trusted only for the workspace's own claimed
            // domains, and never for a global link.
            let edov = v.extra.get("xms_edov").is_some_and(|x| x.as_bool() == Some(true) || x.as_str() == Some("true") || x.as_i64() == Some(1));
            let trust = if edov {
                EmailTrust::Verified
            } else if !allow.is_empty() {
                EmailTrust::ClaimedDomainOnly
            } else {
                EmailTrust::No
            };
            Ok((tid, oid, trust))
        }
        _ => {
            let team = s("https://slack.com/team_id").unwrap_or_default().to_lowercase();
            if !allow.is_empty() && !allow.contains(&team) {
                return Err((format!("team {team} not allowed"), "This Slack workspace isn't one this workspace allows.".into()));
            }
            if v.email_verified == Some(false) {
                return Err(("email_verified is false".into(), "Slack hasn't verified this account's email address.".into()));
            }
            Ok((v.issuer.clone(), v.subject.clone(), if v.email_verified == Some(true) { EmailTrust::Verified } else { EmailTrust::No }))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TEMPLATE: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
    const TID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    #[test]
    fn microsoft_multi_tenant_issuer_is_the_template_with_the_tokens_tenant() {
        assert!(microsoft_issuer_ok(TEMPLATE, &format!("https://login.microsoftonline.com/{TID}/v2.0"), TID));
        // Another tenant's issuer with this token's tid, or the reverse: refused.
        assert!(!microsoft_issuer_ok(TEMPLATE, "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0", TID));
        assert!(!microsoft_issuer_ok(TEMPLATE, &format!("https://evil.example/{TID}/v2.0"), TID));
        assert!(!microsoft_issuer_ok(TEMPLATE, "https://login.microsoftonline.com//v2.0", ""));
        assert!(!microsoft_issuer_ok(TEMPLATE, "https://login.microsoftonline.com/a/b/v2.0", "a/b"));
        // A single-tenant configuration compares exactly.
        let single = format!("https://login.microsoftonline.com/{TID}/v2.0");
        assert!(microsoft_issuer_ok(&single, &single, TID));
        assert!(!microsoft_issuer_ok(&single, "https://login.microsoftonline.com/other/v2.0", "other"));
    }

    fn v(extra: Value, verified: Option<bool>) -> Verified {
        Verified {
            issuer: "https://iss".into(),
            subject: "sub".into(),
            email: Some("a@acme.test".into()),
            email_verified: verified,
            extra,
            ..Default::default()
        }
    }

    #[test]
    fn provider_rules_apply() {
        assert!(provider_rules("google", &v(json!({"hd": "acme.test"}), Some(false)), &[]).is_err());
        assert!(provider_rules("google", &v(json!({"hd": "acme.test"}), Some(true)), &["other.test".into()]).is_err());
        assert!(provider_rules("google", &v(json!({"hd": "acme.test"}), Some(true)), &["acme.test".into()]).is_ok());
        let ms = |extra| provider_rules("office365", &v(extra, None), &[]);
        assert!(ms(json!({"tid": MSA_TENANT, "oid": "x"})).is_err(), "personal accounts refused");
        assert_eq!(
            ms(json!({"tid": TID, "oid": "o1", "xms_edov": true})).ok().map(|r| (r.0, r.1, r.2)),
            Some((TID.to_string(), "o1".to_string(), EmailTrust::Verified))
        );
        assert_eq!(ms(json!({"tid": TID, "oid": "o1"})).ok().map(|r| r.2), Some(EmailTrust::No), "unverified email never matches a member");
        let listed = provider_rules("office365", &v(json!({"tid": TID, "oid": "o1"}), None), &[TID.to_string()]);
        assert_eq!(listed.ok().map(|r| r.2), Some(EmailTrust::ClaimedDomainOnly), "an allowlisted tenant is not a verified email");
        assert_eq!(google_issuer("accounts.google.com"), "https://accounts.google.com");
        assert!(provider_rules("office365", &v(json!({"tid": TID, "oid": "o1"}), None), &["00000000-0000-0000-0000-000000000001".into()]).is_err());
        assert!(provider_rules("slack", &v(json!({"https://slack.com/team_id": "T1"}), Some(true)), &["t2".into()]).is_err());
        assert!(provider_rules("slack", &v(json!({"https://slack.com/team_id": "T1"}), Some(true)), &["t1".into()]).is_ok());
        let with_domains = provider_rules("office365", &v(json!({"tid": TID, "oid": "o1"}), None), &[format!("{TID}=acme.test|acme.io")]);
        assert_eq!(with_domains.ok().map(|r| r.2), Some(EmailTrust::ClaimedDomainOnly), "an entry with domains still allows its tenant");
    }

    #[test]
    fn each_allowlisted_tenant_asserts_only_its_domains() {
        const OTHER: &str = "00000000-0000-0000-0000-000000000001";
        // The only tenant listed, without a list: every verified domain.
        assert!(tenant_may_assert(&[TID.into()], TID, "acme.test"));
        // Several tenants without lists: none asserts anything.
        assert!(!tenant_may_assert(&[TID.into(), OTHER.into()], TID, "acme.test"));
        // Its own list, whatever the others.
        let allow = [format!("{TID}=acme.test|acme.io"), OTHER.to_string()];
        assert!(tenant_may_assert(&allow, TID, "acme.io"));
        assert!(!tenant_may_assert(&allow, TID, "contractor.test"));
        assert!(!tenant_may_assert(&allow, OTHER, "acme.test"));
        assert!(!tenant_may_assert(&allow, "11111111-1111-1111-1111-111111111111", "acme.test"));
    }
}
