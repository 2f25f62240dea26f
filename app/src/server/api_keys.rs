//! API keys: a workspace's service accounts for the product's calls to `/v1`. Not tied to
//! a person, so nobody leaving breaks the integration. Admins create them with scopes and
//! an optional expiry; the key is shown once (`ghk_{public id}_{secret}`) and only SHA-256
//! of its secret is stored (256 random bits need no slow hash). Rotation makes a new secret
//! and keeps the old one valid for an overlap window; revocation is immediate.
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;

use super::audit::{self, Actor};
use super::crypto::{Secret, Token};
use super::entities::api_key;
use super::permissions::{AdminCap, ResourceWriter};
use super::DomainError;
use crate::model::{ApiKeyRow, ApiKeyShown, ApiKeysPage};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// List members and groups; identify the member behind a session token.
    DirectoryRead,
    /// Ask whether members reach resources.
    AccessCheck,
    /// Register, rename and delete resources (every use audited).
    ResourcesWrite,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::DirectoryRead, Scope::AccessCheck, Scope::ResourcesWrite];
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::DirectoryRead => "directory:read",
            Scope::AccessCheck => "access:check",
            Scope::ResourcesWrite => "resources:write",
        }
    }
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Overlap windows an admin may choose when rotating (seconds).
pub use super::crypto::ROTATION_OVERLAPS_SECS as OVERLAP_CHOICES_SECS;
/// Longest expiry an admin may set.
pub const MAX_EXPIRY_DAYS: i64 = 730;
/// A workspace holds at most this many keys that aren't revoked.
pub const MAX_LIVE_KEYS: usize = 50;
/// Last use is written at most this often per key.
const TOUCH_EVERY_SECS: i64 = 60;
const PREFIX: &str = "ghk_";

/// A key as its holder presented it, authenticated: the workspace it acts in and what it
/// may do there.
#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub key_id: i64,
    pub workspace_id: i64,
    pub name: String,
    pub public_id: String,
    pub scopes: Vec<Scope>,
}

impl ApiCaller {
    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
    /// How the audit log names the key.
    pub fn actor(&self, ip: Option<String>) -> Actor {
        Actor { account_id: None, label: format!("api key {} ({})", self.name, self.public_id), ip }
    }
    /// The capability to write this workspace's resources (and nothing else), for a key
    /// with that scope only.
    pub fn resource_writer(&self, ip: Option<String>) -> Option<ResourceWriter> {
        self.may(Scope::ResourcesWrite).then(|| ResourceWriter::for_key(self.workspace_id, self.actor(ip)))
    }
}

/// Which key an admin acted on: its id, the public part that names it, and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName {
    pub id: i64,
    pub public_id: String,
    pub name: String,
}

impl KeyName {
    fn of(k: &api_key::Model) -> Self {
        KeyName { id: k.id, public_id: k.public_id.clone(), name: k.name.clone() }
    }
}

/// A key, as the admin page lists it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::server) struct KeyInfo {
    pub key: api_key::Model,
    pub scopes: Vec<Scope>,
    /// `active`, `expired` or `revoked`.
    pub status: &'static str,
}

fn scopes_of(m: &api_key::Model) -> Vec<Scope> {
    m.scopes.split_whitespace().filter_map(Scope::parse).collect()
}

fn status_of(m: &api_key::Model, now: i64) -> &'static str {
    if m.revoked_at.is_some() {
        "revoked"
    } else if m.expires_at.is_some_and(|e| now >= e) {
        "expired"
    } else {
        "active"
    }
}

/// The workspace's keys, newest first.
pub(in crate::server) async fn list(db: &DatabaseConnection, now: i64, workspace_id: i64) -> Result<Vec<KeyInfo>, DomainError> {
    let keys = api_key::Entity::find().filter(api_key::Column::WorkspaceId.eq(workspace_id)).order_by_desc(api_key::Column::Id).all(db).await?;
    Ok(keys.into_iter().map(|k| KeyInfo { scopes: scopes_of(&k), status: status_of(&k, now), key: k }).collect())
}

fn full_key(public_id: &str, secret: &Token) -> String {
    format!("{PREFIX}{public_id}_{}", secret.expose())
}

/// Creates a key; returns it and the one copy of the key its holder will ever see.
pub async fn create(
    db: &DatabaseConnection,
    now: i64,
    cap: &AdminCap,
    name: &str,
    scopes: &[Scope],
    expires_in_days: Option<i64>,
) -> Result<(KeyName, String), DomainError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(DomainError::Invalid("Give the key a name of 1 to 100 characters.".into()));
    }
    if scopes.is_empty() {
        return Err(DomainError::Invalid("Choose at least one scope.".into()));
    }
    if let Some(d) = expires_in_days {
        if !(1..=MAX_EXPIRY_DAYS).contains(&d) {
            return Err(DomainError::Invalid(format!("Expiry must be between 1 and {MAX_EXPIRY_DAYS} days, or none.")));
        }
    }
    let txn = super::db::write(db).await?;
    super::db::lock_workspace(&txn, cap.workspace_id()).await?;
    // Expired and revoked keys don't count: they can't be used, and expired ones can't
    // be brought back.
    let live = api_key::Entity::find()
        .filter(api_key::Column::WorkspaceId.eq(cap.workspace_id()))
        .filter(api_key::Column::RevokedAt.is_null())
        .all(&txn)
        .await?
        .iter()
        .filter(|k| status_of(k, now) == "active")
        .count();
    if live >= MAX_LIVE_KEYS {
        return Err(DomainError::Invalid(format!("A workspace holds at most {MAX_LIVE_KEYS} keys; revoke one first.")));
    }
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    let public_id = super::crypto::random_hex(8);
    let secret = Token::generate();
    let model = api_key::ActiveModel {
        workspace_id: Set(cap.workspace_id()),
        public_id: Set(public_id.clone()),
        name: Set(name.to_string()),
        scopes: Set(scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")),
        secret_hash: Set(secret.hash()),
        previous_secret_hash: Set(None),
        previous_valid_until: Set(None),
        expires_at: Set(expires_in_days.map(|d| now + d * 86_400)),
        created_at: Set(now),
        created_by: Set(cap.actor().label.clone()),
        last_used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        now,
        Some(cap.workspace_id()),
        cap.actor(),
        "api_key.create",
        &model.name,
        json!({ "key": public_id, "scopes": model.scopes, "expires_at": model.expires_at }),
    )
    .await?;
    txn.commit().await?;
    Ok((KeyName::of(&model), full_key(&model.public_id, &secret)))
}

/// Key `id` of the capability's workspace, if its status is one of `allowed`.
async fn key_of<C: sea_orm::ConnectionTrait>(db: &C, now: i64, cap: &AdminCap, id: i64, allowed: &[&str]) -> Result<api_key::Model, DomainError> {
    let key = api_key::Entity::find_by_id(id).filter(api_key::Column::WorkspaceId.eq(cap.workspace_id())).one(db).await?.ok_or(DomainError::NotFound)?;
    match status_of(&key, now) {
        s if allowed.contains(&s) => Ok(key),
        other => Err(DomainError::Invalid(format!("This key is {other}; create a new one."))),
    }
}

/// A new secret for key `id`; the old one keeps working for `overlap_secs` (one of
/// [`OVERLAP_CHOICES_SECS`]), so the holder can switch without downtime.
pub async fn rotate(db: &DatabaseConnection, now: i64, cap: &AdminCap, id: i64, overlap_secs: i64) -> Result<(KeyName, String), DomainError> {
    if !OVERLAP_CHOICES_SECS.contains(&overlap_secs) {
        return Err(DomainError::Invalid("Choose how long the old key keeps working.".into()));
    }
    let txn = super::db::write(db).await?;
    let key = key_of(&txn, now, cap, id, &["active"]).await?;
    let secret = Token::generate();
    let mut m: api_key::ActiveModel = key.clone().into();
    m.previous_secret_hash = Set((overlap_secs > 0).then(|| key.secret_hash.clone()));
    m.previous_valid_until = Set((overlap_secs > 0).then_some(now + overlap_secs));
    m.secret_hash = Set(secret.hash());
    m.update(&txn).await?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "api_key.rotate", &key.name, json!({ "key": key.public_id, "overlap_secs": overlap_secs }))
        .await?;
    txn.commit().await?;
    Ok((KeyName::of(&key), full_key(&key.public_id, &secret)))
}

/// Revokes key `id` at once (its current and previous secrets); an expired key may be
/// revoked too, to mark it done.
pub async fn revoke(db: &DatabaseConnection, now: i64, cap: &AdminCap, id: i64) -> Result<KeyName, DomainError> {
    let txn = super::db::write(db).await?;
    let key = key_of(&txn, now, cap, id, &["active", "expired"]).await?;
    let mut m: api_key::ActiveModel = key.clone().into();
    m.revoked_at = Set(Some(now));
    m.previous_secret_hash = Set(None);
    m.previous_valid_until = Set(None);
    let key = m.update(&txn).await?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "api_key.revoke", &key.name, json!({ "key": key.public_id })).await?;
    txn.commit().await?;
    Ok(KeyName::of(&key))
}

/// The caller a presented key (`ghk_…`) authenticates, or `None` for anything else: a
/// malformed, unknown, revoked or expired key, or a secret rotated out of its overlap.
pub async fn authenticate(db: &DatabaseConnection, now: i64, presented: &str) -> Result<Option<ApiCaller>, DomainError> {
    let Some(rest) = presented.strip_prefix(PREFIX) else { return Ok(None) };
    let Some((public_id, secret)) = rest.split_once('_') else { return Ok(None) };
    if public_id.len() != 16 || !public_id.bytes().all(|b| b.is_ascii_hexdigit()) || secret.is_empty() || secret.len() > 128 {
        return Ok(None);
    }
    let Some(key) = api_key::Entity::find().filter(api_key::Column::PublicId.eq(public_id)).one(db).await? else { return Ok(None) };
    if status_of(&key, now) != "active" {
        return Ok(None);
    }
    let hash = Token::from_presented(secret).hash();
    let current = super::crypto::Secret::new(key.secret_hash.clone()).matches(&hash);
    let previous = match (&key.previous_secret_hash, key.previous_valid_until) {
        (Some(p), Some(until)) if now < until => super::crypto::Secret::new(p.clone()).matches(&hash),
        _ => false,
    };
    if !(current || previous) {
        return Ok(None);
    }
    if key.last_used_at.is_none_or(|t| now - t >= TOUCH_EVERY_SECS) {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, sea_orm::sea_query::Expr::value(now))
            .filter(api_key::Column::Id.eq(key.id))
            .exec(db)
            .await?;
    }
    Ok(Some(ApiCaller { key_id: key.id, workspace_id: key.workspace_id, scopes: scopes_of(&key), name: key.name, public_id: key.public_id }))
}

/// Counts one request against the key's budget for this minute (shared by every process,
/// in the database). `None`: go on; `Some(secs)`: the key has made `per_minute` requests
/// this minute, retry after `secs`. A refused request isn't counted, so a key held back
/// gets its whole budget at the next minute; and it is refused by a read, so a client
/// that ignores 429 takes no turn of the database's writer.
pub async fn admit(db: &DatabaseConnection, now: i64, caller: &ApiCaller, per_minute: i64) -> Result<Option<i64>, DomainError> {
    const WINDOW: i64 = 60;
    let key = format!("api:{}", caller.key_id);
    let refuse = Some(WINDOW - now.rem_euclid(WINDOW));
    if super::ratelimit::count(db, &key, now, WINDOW).await? >= per_minute {
        return Ok(refuse);
    }
    // Counted under the counter row's lock, so concurrent requests can't pass the limit
    // together.
    Ok(if super::ratelimit::reserve(db, &[(&key, per_minute)], now, WINDOW).await? { None } else { refuse })
}

/// What a scope lets a key do, as the page explains it.
fn describe(s: Scope) -> &'static str {
    match s {
        Scope::DirectoryRead => "list members and groups, read resources",
        Scope::AccessCheck => "check access; identify the member behind a session token",
        Scope::ResourcesWrite => "register, rename and delete resources (every use audited)",
    }
}

/// The API keys page of `cap`'s workspace: every key with its state, the scopes and overlap
/// choices, and `flash` (`public_id.key`, a key just made without JavaScript) only while it
/// is that active key's current secret.
pub async fn page(db: &DatabaseConnection, now: i64, cap: &AdminCap, flash: Option<&str>) -> Result<ApiKeysPage, DomainError> {
    use crate::server::clock::display_time;
    let keys = list(db, now, cap.workspace_id()).await?;
    // The flash holds `public_id.key`: shown only while it is that key's current secret.
    let fresh = flash.and_then(|v| {
        let (public_id, key) = v.split_once('.')?;
        let k = keys.iter().find(|k| k.key.public_id == public_id && k.status == "active")?;
        let secret = key.strip_prefix(&format!("ghk_{public_id}_"))?;
        let current = Secret::new(k.key.secret_hash.clone());
        current.matches(&Token::from_presented(secret).hash()).then(|| ApiKeyShown { name: k.key.name.clone(), key: key.to_string() })
    });
    Ok(ApiKeysPage {
        keys: keys
            .into_iter()
            .map(|k| ApiKeyRow {
                id: k.key.id,
                scopes: k.scopes.iter().map(|s| s.as_str().to_string()).collect(),
                status: k.status.to_string(),
                created: display_time(k.key.created_at),
                created_by: k.key.created_by.clone(),
                expires: k.key.expires_at.map(display_time),
                last_used: k.key.last_used_at.map(display_time),
                previous_until: k.key.previous_valid_until.filter(|u| *u > now).map(display_time),
                name: k.key.name,
                public_id: k.key.public_id,
            })
            .collect(),
        scopes: Scope::ALL.iter().map(|s| (s.as_str().to_string(), describe(*s).to_string())).collect(),
        overlaps: super::crypto::overlap_choices("none: the old key stops now"),
        fresh,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_and_unknown_ones_are_refused() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        assert_eq!(Scope::parse("admin"), None);
        assert_eq!(Scope::parse("DIRECTORY:READ"), None);
    }
}
