//! Plain records of what the domain stores, for adapters (server functions, HTTP
//! handlers, the CLI) that need more than a page's view: the domain converts its rows
//! into these at its edge, so nothing outside it depends on how a table is mapped.
use serde::{Deserialize, Serialize};

use super::{Role, Status};

/// A workspace (tenant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub session_lifetime_secs: i64,
    /// A session unused this long ends at its next request; 0: no idle timeout.
    pub session_idle_secs: i64,
    pub created_at: i64,
}

/// A resource: a collection or a datasource connection of the product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub id: i64,
    pub workspace_id: i64,
    /// `collection` | `datasource`
    pub kind: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A group of a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: i64,
    pub workspace_id: i64,
    pub name: String,
    pub is_everyone: bool,
    /// The SAML provider whose SCIM client manages it (read-only in the UI).
    pub managed_by_provider_id: Option<i64>,
    pub created_at: i64,
}

/// A member: one account's membership of one workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The membership's id (what `/v1` and SCIM call the member's id).
    pub id: i64,
    pub account_id: i64,
    pub workspace_id: i64,
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub status: Status,
    pub managed_by_provider_id: Option<i64>,
    pub created_at: i64,
}

/// One line of a workspace's audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub created_at: i64,
    /// Who, as the log names them (an email, an API key, a SCIM client, the operator).
    pub actor: String,
    pub action: String,
    pub target: String,
    /// JSON.
    pub details: String,
    pub source_ip: Option<String>,
}

/// A domain a workspace claims, and where its DNS proof stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedDomain {
    pub id: i64,
    pub workspace_id: i64,
    pub domain: String,
    /// `pending`, `verified` or `failed`.
    pub status: String,
    /// The challenge published as `_gatehouse-challenge.<domain>` TXT (public by design).
    pub token: String,
    pub checked_at: Option<i64>,
    pub verified_at: Option<i64>,
    /// When the record was last found.
    pub last_seen_at: Option<i64>,
    pub last_error: String,
    /// Verified by the operator, not by DNS.
    pub trusted: bool,
    pub created_at: i64,
}
