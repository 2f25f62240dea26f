//! DTOs shared by the UI and server functions. Never sea-orm entities.
use serde::{Deserialize, Serialize};

/// The signed-in member, for the page header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentMember {
    pub full_name: String,
    pub email: String,
    pub workspace_slug: String,
    pub workspace_name: String,
    pub is_admin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginOptions {
    pub workspace_name: String,
    pub workspace_slug: String,
    pub password_enabled: bool,
    /// Other enabled methods as (key, button label), e.g. ("google", "Sign in with Google").
    pub other_methods: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodSetting {
    pub key: String,
    pub label: String,
    pub enabled: bool,
    pub available: bool,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthenticationSettings {
    pub methods: Vec<MethodSetting>,
    pub session_lifetime_days: i64,
    /// Claimed email domains (SAML just-in-time accounts, email-first routing).
    pub domains: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRow {
    pub membership_id: i64,
    pub full_name: String,
    pub email: String,
    pub role: String,
    pub status: String,
    pub sign_in_methods: Vec<String>,
    pub managed_by: Option<String>,
    pub is_self: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteDetails {
    pub workspace_name: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingInvite {
    pub id: i64,
    pub email: String,
    pub role: String,
    /// Days until the link stops working (rounded up).
    pub expires_in_days: i64,
}

/// What an admin gets back after inviting: the link to hand over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteCreated {
    pub email: String,
    pub link: String,
    pub emailed: bool,
}
