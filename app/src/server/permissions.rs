//! Who may do what. Mutating admin calls take an [`AdminCap`], which only
//! [`Viewer::admin`] (a verified session of an active admin) or [`AdminCap::operator`]
//! (the CLI) can make.
use super::audit::Actor;
use super::DomainError;

pub const ROLE_ADMIN: &str = "admin";
pub const ROLE_MEMBER: &str = "member";
pub const STATUS_ACTIVE: &str = "active";
pub const STATUS_DEACTIVATED: &str = "deactivated";

/// A signed-in member, resolved from a live session on this request.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub session_id: i64,
    pub account_id: i64,
    pub membership_id: i64,
    pub workspace_id: i64,
    pub workspace_slug: String,
    pub workspace_name: String,
    pub role: String,
    pub email: String,
    pub full_name: String,
    pub ip: Option<String>,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.role == ROLE_ADMIN
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
    /// Only the operator CLI (`gatehouse …`, which runs with the server's own
    /// credentials) and the first-run setup call this.
    pub fn operator(workspace_id: i64, actor: Actor) -> Self {
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

#[cfg(test)]
mod tests {
    use super::*;
    fn viewer(role: &str) -> Viewer {
        Viewer {
            session_id: 1,
            account_id: 2,
            membership_id: 3,
            workspace_id: 4,
            workspace_slug: "acme".into(),
            workspace_name: "Acme".into(),
            role: role.into(),
            email: "a@acme.test".into(),
            full_name: "A".into(),
            ip: None,
        }
    }
    #[test]
    fn only_admins_get_the_capability() {
        assert_eq!(viewer(ROLE_ADMIN).admin().map(|c| c.workspace_id()).ok(), Some(4));
        assert!(matches!(viewer(ROLE_MEMBER).admin(), Err(DomainError::NotFound)));
    }
    #[test]
    fn a_session_is_bound_to_its_workspace() {
        assert!(viewer(ROLE_ADMIN).in_workspace("acme").is_ok());
        assert!(viewer(ROLE_ADMIN).in_workspace("other").is_err());
    }
}
