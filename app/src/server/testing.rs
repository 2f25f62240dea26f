//! Builders for tests and benchmarks: a migrated database, a workspace with its first
//! admin, members, a SAML provider, a SCIM client, the operator's capability. They go
//! through the same domain functions the product uses (nothing is written around them),
//! so a rule tested here is the rule a request meets. Compiled for this crate's unit tests
//! and, with the `testing` feature, for the server crate's integration suite and benches.
//! Nothing in the product calls it; `make run` never serves a binary built with it
//! (`scripts/build-release.sh` rebuilds when a bench build replaced the binary).
#![allow(clippy::disallowed_methods)] // the operator's capability is minted for tests here

use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::audit::Actor;
use super::config::RuntimeConfig;
use super::entities::membership;
use super::password::{Hasher, Password};
use super::permissions::{AdminCap, OperatorCap, Role};
use super::{db, directory, methods, saml, scim, workspaces, DomainError};

/// A fixed time (2027-01-15) for tests that don't care which.
pub const T0: i64 = 1_800_000_000;

/// A migrated in-memory SQLite database of one connection (each test its own).
pub async fn database() -> Result<DatabaseConnection, DomainError> {
    let conn = db::connect("sqlite::memory:", 1).await?;
    db::migrate(&conn).await?;
    Ok(conn)
}

/// A hasher with the cheapest settings the server accepts (tests hash many passwords).
pub fn hasher() -> Result<Hasher, DomainError> {
    Hasher::new(1)
}

/// The operator's capability over workspace `workspace_id` (what the CLI holds).
pub fn operator(workspace_id: i64) -> AdminCap {
    OperatorCap::cli().admin_of(workspace_id)
}

/// A workspace to create: slug, first admin's email and password.
pub struct WorkspaceBuilder {
    slug: String,
    admin_email: String,
    admin_password: String,
}

/// The first admin's password unless a test picks another.
pub const PASSWORD: &str = "correct horse battery";

/// Workspace `slug` ("slug Inc"), admin `admin@{slug}.test` with [`PASSWORD`] (an admin
/// without a password would be only an invite, not yet a member).
pub fn workspace(slug: &str) -> WorkspaceBuilder {
    WorkspaceBuilder { slug: slug.to_string(), admin_email: format!("admin@{slug}.test"), admin_password: PASSWORD.to_string() }
}

/// A created workspace with its first admin.
pub struct Workspace {
    pub workspace: crate::model::Workspace,
    pub admin: membership::Model,
    /// The operator's capability over it.
    pub cap: AdminCap,
}

impl WorkspaceBuilder {
    pub fn admin(mut self, email: &str) -> Self {
        self.admin_email = email.to_string();
        self
    }

    pub fn password(mut self, password: &str) -> Self {
        self.admin_password = password.to_string();
        self
    }

    /// Creates it as first-run setup does (Everyone, password sign-in, the admin).
    pub async fn create(self, db: &DatabaseConnection, hasher: &Hasher, now: i64) -> Result<Workspace, DomainError> {
        let new = workspaces::NewWorkspace {
            name: format!("{} Inc", self.slug),
            slug: self.slug,
            admin_email: self.admin_email.clone(),
            admin_name: "Admin".into(),
            admin_password: Some(Password::new_secret(self.admin_password)?),
        };
        let created = workspaces::create(db, hasher, now, new, &Actor::operator(), None).await?;
        let ws = created.workspace;
        let account = directory::account_by_email(db, ws.id, &super::normalize_email(&self.admin_email)?).await?.ok_or(DomainError::NotFound)?;
        let admin = directory::membership_of(db, ws.id, account.id).await?.ok_or(DomainError::NotFound)?;
        Ok(Workspace { cap: operator(ws.id), workspace: ws, admin })
    }
}

/// Adds an active member `email` with `role` (no password), in Everyone, as an accepted
/// invite would.
pub async fn member(db: &DatabaseConnection, now: i64, workspace_id: i64, email: &str, role: Role) -> Result<membership::Model, DomainError> {
    let normalized = super::normalize_email(email)?;
    let account = directory::find_or_create_account(db, now, workspace_id, email, &normalized, "").await?;
    directory::add_membership(db, now, workspace_id, account.id, role, None).await
}

/// A SAML provider named `name` with a fresh signing certificate and the default
/// attribute names.
pub async fn provider(db: &DatabaseConnection, cfg: &RuntimeConfig, now: i64, cap: &AdminCap, name: &str) -> Result<saml::Provider, DomainError> {
    let (_, cert) = saml::sp::generate_key_pair(name)?;
    let slug: String = name.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_lowercase();
    let input = saml::ProviderInput {
        form: crate::model::SamlProviderForm {
            name: name.to_string(),
            idp_entity_id: format!("https://idp.{slug}.test"),
            sso_url: format!("https://idp.{slug}.test/sso"),
            cert1: cert,
            ..Default::default()
        },
        ..Default::default()
    };
    saml::create(db, cfg, now, cap, &input).await
}

/// Makes `provider` the workspace's only sign-in method and turns SCIM on; returns the
/// Provider Token a SCIM client presents.
pub async fn scim_client(db: &DatabaseConnection, cfg: &RuntimeConfig, now: i64, cap: &AdminCap, provider: &saml::Provider) -> Result<String, DomainError> {
    methods::change(db, now, cap, cfg, &[saml::method_key(provider.public_id())], &[methods::PASSWORD.to_string()]).await?;
    Ok(scim::enable(db, now, cap, provider.public_id(), None).await?.expose().to_string())
}

#[cfg(test)]
mod tests {
    //! Directory rules on SQLite, without HTTP.
    use sea_orm::{EntityTrait, PaginatorTrait};

    use super::*;
    use crate::server::entities::group_member;
    use crate::server::events::Events;
    use crate::server::permissions::Status;

    #[tokio::test]
    async fn everyone_holds_exactly_the_active_members_through_deactivation_and_back() {
        let db = database().await.expect("db");
        let ws = workspace("acme").create(&db, &hasher().expect("hasher"), T0).await.expect("workspace");
        let everyone = directory::groups::everyone_group(&db, ws.workspace.id).await.expect("everyone");
        let bob = member(&db, T0, ws.workspace.id, "Bob@Acme.test", Role::Member).await.expect("bob");
        assert_eq!(directory::group_size(&db, everyone.id).await.expect("size"), 2);

        let other = directory::insert_group(&db, T0, ws.workspace.id, "Analysts", None, None).await.expect("group");
        crate::server::groups::add_member(&db, &Events::silent(), T0, &ws.cap, other.id, "bob@acme.test").await.expect("add");
        let in_groups = || async { group_member::Entity::find().all(&db).await.expect("rows").into_iter().filter(|r| r.membership_id == bob.id).count() };
        assert_eq!(in_groups().await, 2);

        crate::server::members::deactivate(&db, &Events::silent(), T0 + 1, &ws.cap, bob.id).await.expect("deactivate");
        let after = membership::Entity::find_by_id(bob.id).one(&db).await.expect("read").expect("bob");
        assert_eq!(after.status, Status::Deactivated);
        assert_eq!(in_groups().await, 0, "a deactivated member is in no group, Everyone included");
        assert_eq!(directory::group_size(&db, everyone.id).await.expect("size"), 1);

        crate::server::members::reactivate(&db, &Events::silent(), T0 + 2, &ws.cap, bob.id).await.expect("reactivate");
        assert_eq!(in_groups().await, 1, "reactivation restores Everyone and nothing else");
        assert_eq!(directory::group_size(&db, everyone.id).await.expect("size"), 2);
    }

    #[tokio::test]
    async fn the_last_active_admin_stays_and_another_workspace_is_never_counted() {
        let db = database().await.expect("db");
        let h = hasher().expect("hasher");
        let acme = workspace("acme").create(&db, &h, T0).await.expect("acme");
        let beta = workspace("beta").create(&db, &h, T0).await.expect("beta");
        // Beta's admin does not make acme's admin any less the last one.
        assert_eq!(directory::active_admin_count(&db, acme.workspace.id).await.expect("count"), 1);
        let refused = crate::server::members::set_role(&db, &Events::silent(), T0, &acme.cap, acme.admin.id, Role::Member).await;
        assert!(matches!(refused, Err(DomainError::Refused(_))), "{refused:?}");
        let refused = crate::server::members::deactivate(&db, &Events::silent(), T0, &acme.cap, acme.admin.id).await;
        assert!(matches!(refused, Err(DomainError::Refused(_))), "{refused:?}");
        // Acme's capability can't reach beta's admin at all.
        let across = crate::server::members::deactivate(&db, &Events::silent(), T0, &acme.cap, beta.admin.id).await;
        assert!(matches!(across, Err(DomainError::NotFound)), "{across:?}");
        // With a second admin, the first may step down.
        let second = member(&db, T0, acme.workspace.id, "second@acme.test", Role::Admin).await.expect("second");
        crate::server::members::set_role(&db, &Events::silent(), T0, &acme.cap, acme.admin.id, Role::Member).await.expect("step down");
        assert_eq!(directory::active_admin_count(&db, acme.workspace.id).await.expect("count"), 1);
        let left = membership::Entity::find_by_id(second.id).one(&db).await.expect("read").expect("second");
        assert_eq!(left.role, Role::Admin);
        assert_eq!(membership::Entity::find().count(&db).await.expect("count"), 3);
    }

    #[tokio::test]
    async fn a_scim_client_is_made_only_with_saml_as_the_sole_method() {
        let db = database().await.expect("db");
        let ws = workspace("acme").create(&db, &hasher().expect("hasher"), T0).await.expect("workspace");
        let cfg = RuntimeConfig::default();
        let p = provider(&db, &cfg, T0, &ws.cap, "Okta").await.expect("provider");
        // Password sign-in is still on: provisioning is refused.
        let refused = scim::enable(&db, T0, &ws.cap, p.public_id(), None).await;
        assert!(matches!(refused, Err(DomainError::Refused(_))), "{refused:?}");
        let token = scim_client(&db, &cfg, T0, &ws.cap, &p).await.expect("scim");
        assert!(scim::is_current_token(&db, p.id(), &token).await.expect("check"));
        let enabled = methods::enabled_set(&db, ws.workspace.id).await.expect("methods");
        assert_eq!(enabled.into_iter().collect::<Vec<_>>(), vec![saml::method_key(p.public_id())]);
    }
}

/// The latest SCIM requests recorded for a provider, newest first (what its page lists).
pub async fn scim_activity<C: ConnectionTrait>(
    db: &C,
    provider_id: i64,
    limit: u64,
) -> Result<Vec<crate::server::entities::scim_activity::Model>, DomainError> {
    crate::server::scim::activity(db, provider_id, limit).await
}

/// The latest SAML sign-ins and refusals recorded for a provider (what its page lists).
pub async fn saml_activity<C: ConnectionTrait>(
    db: &C,
    provider_id: i64,
    limit: u64,
) -> Result<Vec<crate::server::entities::saml_activity::Model>, DomainError> {
    crate::server::saml::signin::activity(db, provider_id, limit).await
}

/// One page of the Members list as the domain reads it: `(email, name)` per row, and the
/// number of members matching `search`.
pub async fn members_page_rows<C: ConnectionTrait>(db: &C, workspace_id: i64, page: u64, search: &str) -> Result<(Vec<(String, String)>, u64), DomainError> {
    let (rows, total) = crate::server::members::page(db, workspace_id, page, search).await?;
    Ok((rows.into_iter().map(|r| (r.account.email, r.account.full_name)).collect(), total))
}

/// The account of `email` (normalized) in a workspace, as the directory finds it.
pub async fn account_by_email<C: ConnectionTrait>(
    db: &C,
    workspace_id: i64,
    email_normalized: &str,
) -> Result<Option<crate::server::entities::account::Model>, DomainError> {
    directory::account_by_email(db, workspace_id, email_normalized).await
}

/// An account's membership of a workspace.
pub async fn membership_of<C: ConnectionTrait>(db: &C, workspace_id: i64, account_id: i64) -> Result<Option<membership::Model>, DomainError> {
    directory::membership_of(db, workspace_id, account_id).await
}

/// The workspace's built-in Everyone group.
pub async fn everyone_group<C: ConnectionTrait>(db: &C, workspace_id: i64) -> Result<crate::server::entities::group::Model, DomainError> {
    directory::groups::everyone_group(db, workspace_id).await
}

/// The directory's row helpers, for benchmarks that measure the bare database work of a
/// request next to the request itself.
pub mod rows {
    use sea_orm::ConnectionTrait;

    use crate::model::Role;
    use crate::server::directory;
    use crate::server::entities::{account, group, membership};
    use crate::server::DomainError;

    pub async fn insert_group<C: ConnectionTrait>(
        db: &C,
        now: i64,
        workspace_id: i64,
        name: &str,
        provider_id: Option<i64>,
    ) -> Result<group::Model, sea_orm::DbErr> {
        directory::insert_group(db, now, workspace_id, name, None, provider_id).await
    }

    pub async fn find_or_create_account<C: ConnectionTrait>(
        db: &C,
        now: i64,
        workspace_id: i64,
        email: &str,
        full_name: &str,
    ) -> Result<account::Model, DomainError> {
        directory::find_or_create_account(db, now, workspace_id, email, email, full_name).await
    }

    pub async fn add_membership<C: ConnectionTrait>(
        db: &C,
        now: i64,
        workspace_id: i64,
        account_id: i64,
        role: Role,
    ) -> Result<membership::Model, DomainError> {
        directory::add_membership(db, now, workspace_id, account_id, role, None).await
    }
}
