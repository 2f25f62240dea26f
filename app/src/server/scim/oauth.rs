//! OAuth 2.0 client credentials for a provider's SCIM client (RFC 6749 §4.4), next to the
//! static Provider Token. Microsoft's gallery validation wants short-lived tokens from a
//! token endpoint; Okta keeps using the Provider Token.
//!
//! Each SAML provider may have one OAuth client: a public `client_id` and a secret shown
//! once (only its SHA-256 is kept). Rotating the secret keeps the previous one working
//! for an overlap the admin picks, so the IdP can be updated without a gap. The token
//! endpoint, `POST /scim/oauth/{provider}/token`, exchanges the client's credentials
//! for an access token that lasts [`ACCESS_TOKEN_SECS`] and opens that provider's SCIM
//! endpoint only, while its provisioning is on.
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde_json::json;

use crate::server::audit;
use crate::server::config::RuntimeConfig;
use crate::server::crypto::{Secret, Token};
use crate::server::entities::{scim_access_token, scim_oauth_client};
use crate::server::permissions::AdminCap;
use crate::server::{saml, DomainError};

/// An access token's lifetime: an hour (Microsoft asks for 60 to 360 minutes).
pub const ACCESS_TOKEN_SECS: i64 = 3600;
/// Tokens one client may be issued a minute (an IdP needs one an hour): a leaked secret
/// can't flood the database every workspace shares with grants.
pub const GRANTS_PER_MINUTE: i64 = 60;
pub use crate::server::crypto::ROTATION_OVERLAPS_SECS as OVERLAP_CHOICES_SECS;
const CLIENT_PREFIX: &str = "ghs_";

pub(in crate::server) async fn client_row<C: ConnectionTrait>(db: &C, provider_id: i64) -> Result<Option<scim_oauth_client::Model>, DomainError> {
    Ok(scim_oauth_client::Entity::find().filter(scim_oauth_client::Column::ProviderId.eq(provider_id)).one(db).await?)
}

/// Whether `secret` is the client's current secret (a value shown once is shown only
/// while it is).
pub(in crate::server) fn is_current_secret(c: &scim_oauth_client::Model, secret: &str) -> bool {
    same_hash(&c.secret_hash, &Token::from_presented(secret).hash())
}

/// A stored secret hash against a presented secret's, in constant time.
fn same_hash(stored: &str, presented: &str) -> bool {
    Secret::new(stored.to_string()).matches(presented)
}

/// The provider's token endpoint, to give the IdP.
pub fn token_url(cfg: &RuntimeConfig, public_id: &str) -> String {
    format!("{}/scim/oauth/{public_id}/token", cfg.public_url.trim_end_matches('/'))
}

/// Credentials to give the IdP, shown once.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: Token,
}

/// Makes the provider's OAuth client, or gives it a new secret; the previous secret keeps
/// working for `overlap_secs` (one of [`OVERLAP_CHOICES_SECS`]). Audited as
/// `scim.oauth.create` or `scim.oauth.rotate`.
pub async fn rotate_secret(db: &DatabaseConnection, now: i64, cap: &AdminCap, public_id: &str, overlap_secs: i64) -> Result<Credentials, DomainError> {
    if !OVERLAP_CHOICES_SECS.contains(&overlap_secs) {
        return Err(DomainError::Invalid("Choose how long the old secret keeps working.".into()));
    }
    let p = saml::saml_row(db, cap, public_id).await?;
    let secret = Token::generate();
    let txn = crate::server::db::write(db).await?;
    // Two rotations at once (PostgreSQL) take turns: each admin is shown a secret that works.
    crate::server::db::lock_workspace(&txn, cap.workspace_id()).await?;
    let existing = scim_oauth_client::Entity::find().filter(scim_oauth_client::Column::ProviderId.eq(p.id)).one(&txn).await?;
    let (client_id, action) = match existing {
        Some(c) => {
            let client_id = c.client_id.clone();
            let mut am: scim_oauth_client::ActiveModel = c.clone().into();
            am.previous_secret_hash = Set((overlap_secs > 0).then(|| c.secret_hash.clone()));
            am.previous_valid_until = Set((overlap_secs > 0).then_some(now + overlap_secs));
            am.secret_hash = Set(secret.hash());
            am.rotated_at = Set(now);
            am.update(&txn).await?;
            // Without an overlap the old secret is done, and so are the tokens it was
            // given (a rotation after a leak must stop the leak now, not in an hour).
            if overlap_secs == 0 {
                scim_access_token::Entity::delete_many().filter(scim_access_token::Column::ProviderId.eq(p.id)).exec(&txn).await?;
            }
            (client_id, "scim.oauth.rotate")
        }
        None => {
            let mut b = [0u8; 12];
            rand::rngs::OsRng.fill_bytes(&mut b);
            let client_id = format!("{CLIENT_PREFIX}{}", hex::encode(b));
            scim_oauth_client::ActiveModel {
                provider_id: Set(p.id),
                client_id: Set(client_id.clone()),
                secret_hash: Set(secret.hash()),
                previous_secret_hash: Set(None),
                previous_valid_until: Set(None),
                created_at: Set(now),
                rotated_at: Set(now),
                last_used_at: Set(None),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            (client_id, "scim.oauth.create")
        }
    };
    audit::record(
        &txn,
        now,
        Some(cap.workspace_id()),
        cap.actor(),
        action,
        &saml::method_key(&p.public_id),
        json!({ "client_id": client_id, "overlap_secs": overlap_secs }),
    )
    .await?;
    txn.commit().await?;
    Ok(Credentials { client_id, client_secret: secret })
}

/// Why the token endpoint refuses, as RFC 6749 §5.2 names it.
#[derive(Debug)]
pub enum Refusal {
    /// Unknown client, wrong secret, or a client of another provider: 401.
    InvalidClient,
    /// The client is right but may not have a token now (provisioning is off): 400.
    UnauthorizedClient(String),
    /// More than [`GRANTS_PER_MINUTE`] tokens this minute: 429.
    TooMany,
}

/// An access token, shown once to the client that asked.
#[derive(Debug)]
pub struct Issued {
    pub access_token: Token,
    pub expires_in: i64,
}

/// The client credentials grant for provider `public_id`: the client must be this
/// provider's, its secret current (or the previous one within its overlap), and the
/// provider's provisioning on. Expired tokens of the provider are removed as a new one is
/// made.
pub async fn issue(db: &DatabaseConnection, now: i64, public_id: &str, client_id: &str, client_secret: &str) -> Result<Result<Issued, Refusal>, DomainError> {
    if client_id.len() > 64 || client_secret.is_empty() || client_secret.len() > 256 {
        return Ok(Err(Refusal::InvalidClient));
    }
    // Read and decided inside the write: a grant can't land after a rotation or after
    // provisioning was turned off.
    let txn = crate::server::db::write(db).await?;
    let p = match saml::row_by_public_id(&txn, public_id).await {
        Ok(p) => p,
        Err(DomainError::NotFound) => return Ok(Err(Refusal::InvalidClient)),
        Err(e) => return Err(e),
    };
    let Some(c) = scim_oauth_client::Entity::find().filter(scim_oauth_client::Column::ClientId.eq(client_id)).one(&txn).await? else {
        return Ok(Err(Refusal::InvalidClient));
    };
    let presented = Token::from_presented(client_secret).hash();
    let current = same_hash(&c.secret_hash, &presented);
    let previous = c.previous_valid_until.is_some_and(|u| u > now) && c.previous_secret_hash.as_deref().is_some_and(|h| same_hash(h, &presented));
    // A client of another provider is refused like an unknown one: nothing says it exists.
    if c.provider_id != p.id || !(current || previous) {
        return Ok(Err(Refusal::InvalidClient));
    }
    if !p.provisioning_enabled {
        return Ok(Err(Refusal::UnauthorizedClient(format!("provisioning is turned off for {}; an admin turns it on on the provider's page", p.name))));
    }
    if crate::server::ratelimit::hit(&txn, &format!("scim:oauth:grant:{}", p.id), now, 60).await? > GRANTS_PER_MINUTE {
        txn.rollback().await?;
        return Ok(Err(Refusal::TooMany));
    }
    let token = Token::generate();
    scim_access_token::Entity::delete_many()
        .filter(scim_access_token::Column::ProviderId.eq(p.id))
        .filter(scim_access_token::Column::ExpiresAt.lte(now))
        .exec(&txn)
        .await?;
    scim_access_token::ActiveModel {
        provider_id: Set(p.id),
        token_hash: Set(token.hash()),
        created_at: Set(now),
        expires_at: Set(now + ACCESS_TOKEN_SECS),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    if c.last_used_at.is_none_or(|t| now - t >= 60) {
        let mut am: scim_oauth_client::ActiveModel = c.into();
        am.last_used_at = Set(Some(now));
        am.update(&txn).await?;
    }
    txn.commit().await?;
    Ok(Ok(Issued { access_token: token, expires_in: ACCESS_TOKEN_SECS }))
}

/// The provider an unexpired access token opens, by the token's hash.
pub(in crate::server) async fn provider_of<C: ConnectionTrait>(db: &C, now: i64, token_hash: &str) -> Result<Option<Result<i64, i64>>, DomainError> {
    Ok(scim_access_token::Entity::find().filter(scim_access_token::Column::TokenHash.eq(token_hash)).one(db).await?.map(|t| {
        if t.expires_at > now {
            Ok(t.provider_id)
        } else {
            Err(t.expires_at)
        }
    }))
}
