//! Password sign-in. Failures never tell whether an account exists: unknown accounts
//! cost the same Argon2 work, and every refusal before the password is proven reads
//! the same. Attempts are throttled per account and per IP in shared counters.
use serde_json::json;

use super::audit::Actor;
use super::completion::{self, Completion, NotSignedIn, SignedIn};
use super::directory::{account_by_email, membership_of};
use super::methods::{self, PASSWORD};
use super::password::Password;
use super::{normalize_email, ratelimit, workspaces, DomainError};

pub const BAD_CREDENTIALS: &str = "Email or password is incorrect.";
pub const THROTTLE_WINDOW_SECS: i64 = 15 * 60;
/// Failures one address may make across the whole instance in a window, as a multiple of
/// the per-account limit (200 by default). The per-workspace count (5× the limit) is the
/// first line and never lets one workspace lock out another; this ceiling caps what one
/// address can spray over every workspace on the instance (one password against every
/// workspace's admin), and the Argon2 work it can make the server do.
pub const INSTANCE_IP_FACTOR: i64 = 20;

pub async fn password_login(
    deps: super::Deps<'_>,
    slug: &str,
    email: &str,
    password: String,
    next: Option<&str>,
    origin: super::sessions::Origin,
) -> Result<SignedIn, DomainError> {
    let ip = origin.ip;
    let (db, now) = (deps.db, deps.now);
    let ws = workspaces::row_by_slug(db, slug).await?;
    if !methods::is_enabled(db, ws.id, PASSWORD, deps.config).await? {
        return Err(DomainError::Refused("Password sign-in is turned off for this workspace.".into()));
    }
    let password = Password::presented(password)?;
    let email = normalize_email(email).map_err(|_| DomainError::Invalid(BAD_CREDENTIALS.into()))?;

    let acct_key = format!("login:acct:{}:{}", ws.id, email);
    // Per workspace: failures in one workspace never lock out another behind the same NAT.
    let ip_key = format!("login:ip:{}:{}", ws.id, ip.as_deref().unwrap_or("unknown"));
    let instance_ip_key = format!("login:ip:*:{}", ip.as_deref().unwrap_or("unknown"));
    let limit = deps.config.login_attempts_per_window;
    // The attempt is counted before Argon2 runs (reserved atomically), so a burst of
    // concurrent guesses gets at most `limit` evaluated and the rest 429; a success gives
    // its slot back, so only failures count.
    if !ratelimit::reserve(
        db,
        &[(&acct_key, limit), (&ip_key, limit.saturating_mul(5)), (&instance_ip_key, limit.saturating_mul(INSTANCE_IP_FACTOR))],
        now,
        THROTTLE_WINDOW_SECS,
    )
    .await?
    {
        tracing::warn!(workspace = %ws.slug, "password sign-in throttled");
        return Err(DomainError::RateLimited { retry_after_secs: THROTTLE_WINDOW_SECS - now.rem_euclid(THROTTLE_WINDOW_SECS) });
    }

    let account = account_by_email(db, ws.id, &email).await?;
    let membership = match &account {
        Some(a) => membership_of(db, ws.id, a.id).await?,
        None => None,
    };
    // Unknown account, no membership, or no password here: the dummy hash, same work.
    let verified = deps.hasher.verify(&password, membership.as_ref().and_then(|m| m.password_hash.as_deref())).await?;
    let membership = membership.filter(|_| verified);
    let (Some(account), Some(membership)) = (account, membership) else {
        // Already counted by the reservation.
        if now % 97 == 0 {
            ratelimit::prune(db, now).await?;
        }
        tracing::info!(workspace = %ws.slug, "password sign-in refused: bad credentials");
        return Err(DomainError::Invalid(BAD_CREDENTIALS.into()));
    };
    ratelimit::release(db, &[&acct_key, &ip_key, &instance_ip_key], now, THROTTLE_WINDOW_SECS).await?;
    let actor = Actor { account_id: Some(account.id), label: account.email_normalized.clone(), ip };
    let txn = super::db::write(db).await?;
    let completion = Completion {
        workspace: &ws,
        membership: &membership,
        joined: false,
        method: PASSWORD,
        actor,
        audit_action: "signin",
        audit_target: &account.email_normalized,
        audit_details: json!({ "method": PASSWORD }),
        next,
        forward: &deps.config.forward_auth,
        user_agent: origin.user_agent,
        saml: None,
    };
    match completion::complete(db, deps.events, txn, now, completion).await? {
        Ok(signed) => Ok(signed),
        Err(NotSignedIn::Deactivated) => {
            Err(DomainError::Refused("Your access to this workspace has been deactivated. Ask an admin to reactivate you.".into()))
        }
    }
}
