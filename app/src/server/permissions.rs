//! Who may do what. Mutating admin calls take an [`AdminCap`], which only
//! [`Viewer::admin`] (a verified session of an active admin) or [`OperatorCap::admin_of`]
//! (the CLI) can make; break-glass calls take the [`OperatorCap`] itself.
use super::audit::Actor;
use super::DomainError;

pub use crate::model::{Role, Status};

/// A signed-in member, resolved from a live session on this request.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub session_id: i64,
    pub account_id: i64,
    pub membership_id: i64,
    pub workspace_id: i64,
    pub workspace_slug: String,
    pub workspace_name: String,
    pub role: Role,
    pub email: String,
    pub full_name: String,
    pub ip: Option<String>,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
    pub fn actor(&self) -> Actor {
        Actor { account_id: Some(self.account_id), label: self.email.clone(), ip: self.ip.clone() }
    }
    /// The capability for admin-only calls in this viewer's workspace. Non-admins get
    /// `NotFound`, so settings pages don't confirm they exist.
    pub fn admin(&self) -> Result<AdminCap, DomainError> {
        if self.is_admin() {
            Ok(AdminCap { workspace_id: self.workspace_id, actor: self.actor(), session_id: Some(self.session_id) })
        } else {
            Err(DomainError::NotFound)
        }
    }
    /// Checks that a slug in a URL names this viewer's workspace.
    pub fn in_workspace(self, slug: &str) -> Result<Self, DomainError> {
        if self.workspace_slug == slug {
            Ok(self)
        } else {
            Err(DomainError::Unauthenticated)
        }
    }
}

/// Proof that the caller may administer `workspace_id`.
#[derive(Debug, Clone)]
pub struct AdminCap {
    workspace_id: i64,
    actor: Actor,
    /// The session the admin acts through (none for the operator).
    session_id: Option<i64>,
}

impl AdminCap {
    /// The admin of a workspace being created, acting as whoever creates it (the operator
    /// or first-run setup), inside that creation only.
    pub(in crate::server) fn founder(workspace_id: i64, actor: Actor) -> Self {
        AdminCap { workspace_id, actor, session_id: None }
    }
    /// The session this admin acts through, if any.
    pub fn session_id(&self) -> Option<i64> {
        self.session_id
    }
    pub fn workspace_id(&self) -> i64 {
        self.workspace_id
    }
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
}

/// Proof that the caller may create, rename and delete its workspace's resources, and
/// nothing more: a workspace admin (every [`AdminCap`] converts), or an API key with the
/// `resources:write` scope (only [`super::api_keys::ApiCaller::resource_writer`] makes
/// one). The resource calls take it; grants, members and settings need an `AdminCap`,
/// which a key never holds.
#[derive(Debug, Clone)]
pub struct ResourceWriter {
    workspace_id: i64,
    actor: Actor,
}

impl ResourceWriter {
    pub(in crate::server) fn for_key(workspace_id: i64, actor: Actor) -> Self {
        ResourceWriter { workspace_id, actor }
    }
    pub fn workspace_id(&self) -> i64 {
        self.workspace_id
    }
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
}

impl From<&AdminCap> for ResourceWriter {
    fn from(cap: &AdminCap) -> Self {
        ResourceWriter { workspace_id: cap.workspace_id, actor: cap.actor.clone() }
    }
}

impl From<&ResourceWriter> for ResourceWriter {
    fn from(w: &ResourceWriter) -> Self {
        w.clone()
    }
}

/// Proof that the caller is the server's operator: the `gatehouse` command run on the
/// server with its configuration and database credentials. The break-glass calls
/// (`methods::recover`, `members::promote`, `domains::trust`) take it, and it makes the
/// admin capability of any workspace. No request path can hold one: [`OperatorCap::cli`]
/// is the only way to make it, and clippy (clippy.toml, `disallowed-methods`) refuses
/// that call everywhere but the CLI, the integration tests' one helper and
/// `server::testing` (test builders, compiled only for tests and benches).
#[derive(Debug)]
pub struct OperatorCap {
    actor: Actor,
}

impl OperatorCap {
    /// For the CLI only (enforced by clippy, see the type's documentation).
    pub fn cli() -> Self {
        OperatorCap { actor: Actor::operator() }
    }
    /// The admin capability of `workspace_id`, acting as the operator.
    pub fn admin_of(&self, workspace_id: i64) -> AdminCap {
        AdminCap { workspace_id, actor: self.actor.clone(), session_id: None }
    }
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn viewer(role: Role) -> Viewer {
        Viewer {
            session_id: 1,
            account_id: 2,
            membership_id: 3,
            workspace_id: 4,
            workspace_slug: "acme".into(),
            workspace_name: "Acme".into(),
            role,
            email: "a@acme.test".into(),
            full_name: "A".into(),
            ip: None,
        }
    }
    #[test]
    fn only_admins_get_the_capability() {
        assert_eq!(viewer(Role::Admin).admin().map(|c| c.workspace_id()).ok(), Some(4));
        assert!(matches!(viewer(Role::Member).admin(), Err(DomainError::NotFound)));
    }
    #[test]
    fn a_session_is_bound_to_its_workspace() {
        assert!(viewer(Role::Admin).in_workspace("acme").is_ok());
        assert!(viewer(Role::Admin).in_workspace("other").is_err());
    }
}
