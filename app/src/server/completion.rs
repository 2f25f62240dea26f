//! The end of every sign-in, whatever proved who the person is (a password, a SAML
//! assertion, an OIDC id_token): the membership must be active; then a session, the audit
//! entry, the commit, the live-page event for a new member, and a redirect that stays in
//! the workspace. One place, so no protocol can skip a step or order them differently.
//! What comes before (matching or linking an identity, joining by invite, creating a
//! member in a claimed domain) is each protocol's own and happens in the same transaction.
use sea_orm::DatabaseConnection;
use serde_json::Value;

use super::audit::{self, Actor};
use super::crypto::Token;
use super::entities::{membership, workspace};
use super::events::{Events, Topic};
use super::permissions::Status;
use super::{sessions, DomainError};

/// Who is signing in where, and how to record it.
pub(in crate::server) struct Completion<'a> {
    pub workspace: &'a workspace::Model,
    pub membership: &'a membership::Model,
    /// The membership was made in this transaction (an invite used, a member created).
    pub joined: bool,
    /// The sign-in method's key (`password`, `google`, `saml:{id}`): the session keeps it.
    pub method: &'a str,
    /// The person, as the audit log names them.
    pub actor: Actor,
    pub audit_action: &'a str,
    pub audit_target: &'a str,
    pub audit_details: Value,
    /// Where the person asked to go; only a path inside this workspace (or one the
    /// forward-auth rules give it, in the product behind the proxy) is followed.
    pub next: Option<&'a str>,
    /// The server's forward-auth rules.
    pub forward: &'a super::forward_auth::rules::Rules,
    /// The browser's User-Agent, kept with the session (its address is the actor's).
    pub user_agent: Option<String>,
    /// A SAML sign-in's subject (for Single Logout).
    pub saml: Option<sessions::SamlSubject>,
}

/// A finished sign-in: the session's token (for the cookie), where to go, and how long
/// the cookie lives.
#[derive(Debug)]
pub struct SignedIn {
    pub token: Token,
    pub redirect: String,
    pub max_age: i64,
}

/// Why a proven person was not signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotSignedIn {
    /// The membership is deactivated (by an admin or SCIM): nothing was written.
    Deactivated,
}

/// `next` when it is this workspace's home or a path under it, or a path the forward-auth
/// rules send to this workspace (the product behind the proxy); otherwise the home.
///
/// Whatever its path, it must be a plain relative path a `Location` header can carry: at
/// most 1 KB, no control character or backslash, not `//` (another host), and canonical
/// as forward-auth reads paths (no dot segments, `;`, `#` or needless escapes).
pub fn redirect_within(slug: &str, next: Option<&str>, forward: &super::forward_auth::rules::Rules) -> String {
    let home = format!("/w/{slug}");
    let plain = |n: &&str| {
        n.len() <= super::forward_auth::rules::NEXT_MAX
            && super::forward_auth::rules::canonical_path(n).is_some()
            && !n.chars().any(|c| c.is_control() || c == '\\')
    };
    next.filter(plain).filter(|n| *n == home || n.starts_with(&format!("{home}/")) || forward.returns_to(slug, n)).map(str::to_string).unwrap_or(home)
}

/// Ends a sign-in in `txn` (which holds whatever the protocol wrote before) and commits
/// it. A deactivated membership rolls everything back.
pub(in crate::server) async fn complete(
    db: &DatabaseConnection,
    events: &Events,
    txn: super::db::WriteTxn,
    now: i64,
    c: Completion<'_>,
) -> Result<Result<SignedIn, NotSignedIn>, DomainError> {
    if c.membership.status != Status::Active {
        txn.rollback().await?;
        return Ok(Err(NotSignedIn::Deactivated));
    }
    let ws = c.workspace;
    let origin = sessions::Origin { ip: c.actor.ip.clone(), user_agent: c.user_agent, saml: c.saml };
    let token = sessions::create(&txn, now, c.membership.account_id, ws.id, c.method, &origin).await?;
    audit::record(&txn, now, Some(ws.id), &c.actor, c.audit_action, c.audit_target, c.audit_details).await?;
    txn.commit().await?;
    if c.joined {
        events.publish(db, ws.id, &Topic::JOINED).await;
    }
    Ok(Ok(SignedIn { token, redirect: redirect_within(&ws.slug, c.next, c.forward), max_age: ws.session_lifetime_secs }))
}

/// A relative path on our origin, or nothing (no open redirects: no scheme, no `//`).
pub fn safe_relay(raw: &str) -> Option<String> {
    let s = raw.trim();
    let ok = s.starts_with('/') && !s.starts_with("//") && !s.starts_with("/\\") && s.len() <= 512 && !s.chars().any(|c| c.is_control() || c == '\\');
    ok.then(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_in_the_workspace() {
        let none = crate::server::forward_auth::rules::Rules::default();
        assert_eq!(redirect_within("acme", None, &none), "/w/acme");
        assert_eq!(redirect_within("acme", Some("/w/acme"), &none), "/w/acme");
        assert_eq!(redirect_within("acme", Some("/w/acme/settings/members"), &none), "/w/acme/settings/members");
        for elsewhere in ["/w/acme-evil", "/w/acmex/settings", "/w/beta", "https://evil.test/w/acme/", "//evil.test", "", "/app/acme/collections/7"] {
            assert_eq!(redirect_within("acme", Some(elsewhere), &none), "/w/acme", "{elsewhere}");
        }
        // The product's paths, when the forward-auth rules give them to this workspace.
        let rules = crate::server::forward_auth::rules::Rules::parse("/app/{workspace}/**").expect("rules");
        assert_eq!(redirect_within("acme", Some("/app/acme/collections/7?tab=1"), &rules), "/app/acme/collections/7?tab=1");
        for elsewhere in [
            "/app/beta/collections/7",
            "//evil.test/app/acme",
            "/app/acme/../../x",
            "https://evil.test/app/acme",
            "/app/acme/x?\n",
            "/w/acme/x?\r\nSet-Cookie: a=b",
            "/w/acme/../../app/beta/home",
            "/w/acme/x#frag",
        ] {
            assert_eq!(redirect_within("acme", Some(elsewhere), &rules), "/w/acme", "{elsewhere}");
        }
    }

    #[test]
    fn relay_state_is_a_local_path_only() {
        assert_eq!(safe_relay("/w/acme/settings").as_deref(), Some("/w/acme/settings"));
        for bad in ["https://evil.test/", "//evil.test", "/\\evil.test", "javascript:alert(1)", "w/acme", "/w/a\nb", ""] {
            assert!(safe_relay(bad).is_none(), "{bad:?} accepted");
        }
    }
}
