//! Workspaces (tenants): creation with their admin and the built-in Everyone group,
//! lookup, and workspace-wide settings.
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::json;

use super::audit::{self, Actor};
use super::crypto::Token;
use super::directory::{self, validate_name, validate_slug, EVERYONE};
use super::entities::{group, sign_in_method, workspace};
use super::password::{Hasher, Password};
use super::permissions::{AdminCap, Role};
use super::{normalize_email, DomainError};
use crate::server::entities::Record;

pub const DEFAULT_SESSION_LIFETIME_SECS: i64 = 30 * 86_400;
pub const MAX_SESSION_LIFETIME_DAYS: i64 = 365;
/// Idle timeouts an admin may choose, in minutes (0: off, the default). Last use is
/// written at most once a minute, so nothing shorter than a quarter of an hour is offered.
pub const SESSION_IDLE_CHOICES_MINUTES: &[i64] = &[0, 15, 30, 60, 120, 240, 480, 1440];

pub async fn setup_needed<C: ConnectionTrait>(db: &C) -> Result<bool, DomainError> {
    Ok(workspace::Entity::find().count(db).await? == 0)
}

/// First run: a new one-time setup token (any earlier one stops working), or `None` once a
/// workspace exists. Only its hash is kept. `only_if_none`: keep an existing token and
/// return `None` (a server starting again doesn't invalidate what it printed before).
pub async fn mint_setup_token(db: &DatabaseConnection, now: i64, only_if_none: bool) -> Result<Option<super::crypto::Token>, DomainError> {
    use super::entities::setup_token;
    let txn = crate::server::db::write(db).await?;
    if !setup_needed(&txn).await? {
        return Ok(None);
    }
    if only_if_none && setup_token::Entity::find().count(&txn).await? > 0 {
        return Ok(None);
    }
    setup_token::Entity::delete_many().exec(&txn).await?;
    let token = super::crypto::Token::generate();
    setup_token::ActiveModel { token_hash: Set(token.hash()), created_at: Set(now) }.insert(&txn).await?;
    txn.commit().await?;
    Ok(Some(token))
}

/// Is `presented` the current setup token? (Compared as SHA-256 hashes, in the database.)
async fn setup_token_valid<C: ConnectionTrait>(db: &C, presented: &str) -> Result<bool, DomainError> {
    use super::entities::setup_token;
    let presented = presented.trim();
    if presented.is_empty() || presented.len() > 100 {
        return Ok(false);
    }
    let hash = super::crypto::Token::from_presented(presented).hash();
    Ok(setup_token::Entity::find_by_id(hash).one(db).await?.is_some())
}

pub async fn by_slug<C: ConnectionTrait>(db: &C, slug: &str) -> Result<crate::model::Workspace, DomainError> {
    Ok(row_by_slug(db, slug).await?.record())
}

pub(in crate::server) async fn row_by_slug<C: ConnectionTrait>(db: &C, slug: &str) -> Result<workspace::Model, DomainError> {
    workspace::Entity::find().filter(workspace::Column::Slug.eq(slug.to_lowercase())).one(db).await?.ok_or(DomainError::NotFound)
}

pub struct NewWorkspace {
    pub slug: String,
    pub name: String,
    pub admin_email: String,
    pub admin_name: String,
    /// With a password the admin can sign in at once; without one a one-time
    /// set-password link (an admin invite) is returned.
    pub admin_password: Option<Password>,
}

pub struct CreatedWorkspace {
    pub workspace: crate::model::Workspace,
    /// Set when the admin was created with a password.
    pub admin_account_id: Option<i64>,
    pub admin_invite: Option<Token>,
}

pub const SETUP_TOKEN_REFUSAL: &str = "That setup token is not right. The server printed one when it first started; `gatehouse setup-token` prints a new one.";

/// Key of the PostgreSQL advisory lock that serialises first-run setups.
const SETUP_LOCK: i64 = 0x6761_7465_7365_7475; // "gatesetu"

/// Creates a workspace with Everyone, password sign-in enabled, and its first admin.
/// `setup_token` makes this the first-run setup: refused once any workspace exists, and
/// without the current one-time setup token (which it uses up).
pub async fn create(
    db: &DatabaseConnection,
    hasher: &Hasher,
    now: i64,
    new: NewWorkspace,
    actor: &Actor,
    setup_token: Option<&str>,
) -> Result<CreatedWorkspace, DomainError> {
    let slug = validate_slug(&new.slug)?;
    let name = validate_name(&new.name, "The workspace name")?;
    let email = normalize_email(&new.admin_email)?;
    let admin_name = if new.admin_name.trim().is_empty() { String::new() } else { validate_name(&new.admin_name, "Your name")? };
    // Once set up, a setup post is refused before it costs an Argon2 hash (a flood of
    // them would otherwise slow real sign-ins down); so is one without the setup token.
    if let Some(token) = setup_token {
        let valid = setup_token_valid(db, token).await?;
        // Set up already (perhaps by a concurrent setup that used the token up just now)
        // reads the same as any setup after the fact.
        if !setup_needed(db).await? {
            return Err(DomainError::NotFound);
        }
        if !valid {
            return Err(DomainError::Invalid(SETUP_TOKEN_REFUSAL.into()));
        }
    }
    let hash = match &new.admin_password {
        Some(pw) => Some(hasher.hash(pw).await?.0),
        None => None,
    };

    let txn = crate::server::db::write(db).await?;
    if setup_token.is_some() {
        // Two setups at once must end with one workspace: SQLite's write transaction is
        // already exclusive; PostgreSQL takes a transaction-level advisory lock so the
        // check below and the insert happen as one step.
        if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
            txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({SETUP_LOCK})")).await?;
        }
        if !setup_needed(&txn).await? {
            return Err(DomainError::NotFound);
        }
        if !setup_token_valid(&txn, setup_token.unwrap_or("")).await? {
            return Err(DomainError::Invalid(SETUP_TOKEN_REFUSAL.into()));
        }
        super::entities::setup_token::Entity::delete_many().exec(&txn).await?;
    }
    if workspace::Entity::find().filter(workspace::Column::Slug.eq(&slug)).one(&txn).await?.is_some() {
        return Err(DomainError::Invalid(format!("The URL name “{slug}” is taken.")));
    }
    let ws = workspace::ActiveModel {
        slug: Set(slug.clone()),
        name: Set(name.clone()),
        session_lifetime_secs: Set(DEFAULT_SESSION_LIFETIME_SECS),
        session_idle_secs: Set(0),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    group::ActiveModel {
        workspace_id: Set(ws.id),
        name: Set(EVERYONE.into()),
        name_normalized: Set(EVERYONE.to_lowercase()),
        is_everyone: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    sign_in_method::ActiveModel { workspace_id: Set(ws.id), method: Set("password".into()), enabled: Set(true), updated_at: Set(now) }.insert(&txn).await?;

    let mut admin_account_id = None;
    let admin_invite = match hash {
        Some(hash) => {
            let acct = directory::find_or_create_account(&txn, now, ws.id, &new.admin_email, &email, &admin_name).await?;
            directory::add_membership(&txn, now, ws.id, acct.id, Role::Admin, Some(hash)).await?;
            admin_account_id = Some(acct.id);
            None
        }
        None => {
            let cap = AdminCap::founder(ws.id, actor.clone());
            Some(directory::create_invite(&txn, now, &cap, &new.admin_email, Role::Admin).await?)
        }
    };
    audit::record(&txn, now, Some(ws.id), actor, "workspace.create", &slug, json!({ "name": name, "admin": email })).await?;
    txn.commit().await?;
    Ok(CreatedWorkspace { workspace: ws.record(), admin_account_id, admin_invite })
}

/// Sets the session lifetime (1–365 days). Existing sessions follow at once.
pub async fn set_session_lifetime<C: ConnectionTrait>(db: &C, now: i64, cap: &AdminCap, days: i64) -> Result<(), DomainError> {
    if !(1..=MAX_SESSION_LIFETIME_DAYS).contains(&days) {
        return Err(DomainError::Invalid(format!("Session lifetime must be between 1 and {MAX_SESSION_LIFETIME_DAYS} days.")));
    }
    let ws = workspace::Entity::find_by_id(cap.workspace_id()).one(db).await?.ok_or(DomainError::NotFound)?;
    let old = ws.session_lifetime_secs / 86_400;
    let mut am: workspace::ActiveModel = ws.into();
    am.session_lifetime_secs = Set(days * 86_400);
    am.update(db).await?;
    audit::record(db, now, Some(cap.workspace_id()), cap.actor(), "workspace.session_lifetime", "workspace", json!({ "from_days": old, "to_days": days }))
        .await?;
    Ok(())
}

/// Sets the idle timeout (minutes from [`SESSION_IDLE_CHOICES_MINUTES`]; 0 turns it off).
/// Sessions already idle for longer end at their next request.
pub async fn set_session_idle<C: ConnectionTrait>(db: &C, now: i64, cap: &AdminCap, minutes: i64) -> Result<(), DomainError> {
    if !SESSION_IDLE_CHOICES_MINUTES.contains(&minutes) {
        return Err(DomainError::Invalid("Choose the idle timeout from the list.".into()));
    }
    let ws = workspace::Entity::find_by_id(cap.workspace_id()).one(db).await?.ok_or(DomainError::NotFound)?;
    let old = ws.session_idle_secs / 60;
    let mut am: workspace::ActiveModel = ws.into();
    am.session_idle_secs = Set(minutes * 60);
    am.update(db).await?;
    audit::record(db, now, Some(cap.workspace_id()), cap.actor(), "workspace.session_idle", "workspace", json!({ "from_minutes": old, "to_minutes": minutes }))
        .await?;
    Ok(())
}
