//! The closed sets of values the UI and the server share: a member's role and status, a
//! domain claim's status, a grant's level. Stored as the same lower-case words as before (no migration);
//! one definition, so a typo is a compile error, not a member who is neither.
use serde::{Deserialize, Serialize};

/// What a member may do in their workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(sea_orm::EnumIter, sea_orm::DeriveActiveEnum))]
#[cfg_attr(feature = "ssr", sea_orm(rs_type = "String", db_type = "Text"))]
pub enum Role {
    #[cfg_attr(feature = "ssr", sea_orm(string_value = "admin"))]
    Admin,
    #[cfg_attr(feature = "ssr", sea_orm(string_value = "member"))]
    Member,
}

impl Role {
    pub const ALL: [Role; 2] = [Role::Admin, Role::Member];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    /// The word as forms, the CLI and SCIM send it (any case, surrounding spaces).
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a membership may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(sea_orm::EnumIter, sea_orm::DeriveActiveEnum))]
#[cfg_attr(feature = "ssr", sea_orm(rs_type = "String", db_type = "Text"))]
pub enum Status {
    #[cfg_attr(feature = "ssr", sea_orm(string_value = "active"))]
    Active,
    /// Removed from every group, sessions ended; reactivation restores no group.
    #[cfg_attr(feature = "ssr", sea_orm(string_value = "deactivated"))]
    Deactivated,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Deactivated => "deactivated",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How far a grant reaches: `View` below `Edit` (a member's access is the strongest of
/// their groups' grants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    View,
    Edit,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "view" => Some(Level::View),
            "edit" => Some(Level::Edit),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Level::View => "view",
            Level::Edit => "edit",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_nothing_else_parses() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_string(&r).ok(), Some(format!("\"{r}\"")));
        }
        assert_eq!(Role::parse(" Admin "), Some(Role::Admin));
        for bad in ["", "owner", "admins", "adm in"] {
            assert_eq!(Role::parse(bad), None, "{bad}");
        }
        assert_eq!(serde_json::to_string(&Status::Deactivated).ok().as_deref(), Some("\"deactivated\""));
    }
}
