//! Sign in with Google, Slack and Office365 (Microsoft identity platform v2): OpenID
//! Connect authorization code flow with PKCE S256, state and nonce kept server-side (bound
//! to the browser that started), id_token verified with the provider's JWKS, then the
//! provider's own rules (Google `email_verified` + `hd`, Microsoft `tid`/`oid` and tenant
//! issuers, Slack team ids). Nobody is created here: only members, or invitees.
//!
//! - `discovery`: each provider's discovery document and keys, cached by the running
//!   server (not by the process: each `AppState` holds its own).
//! - `flow`: start, callback, code exchange and the account a verified identity signs in.
//! - `rules`: each provider's claims rules (issuers, tenants, teams, email trust).
//! - `allowlist`: the workspace admin's per-provider allowlist.
//! - `connections`: a workspace's own OIDC connections (any IdP), their settings and
//!   discovery under the outbound address policy.
//! - `connection_signin`: signing in through one, every check recorded for Test sign-in.
mod allowlist;
pub mod connection_signin;
pub mod connections;
mod discovery;
mod flow;
mod rules;

pub use super::config::OidcProvider;
pub use allowlist::{allowed, set_allowed};
pub use discovery::{redirect_uri, Discovery};
pub use flow::{callback, pending_workspace, start, Callback, Outcome, STATE_LIFETIME_SECS};
pub use rules::{google_issuer, microsoft_issuer_ok, provider_rules, tenant_may_assert, EmailTrust, Verified, MSA_TENANT};
