//! DTOs shared by the UI and server functions. Never sea-orm entities.
use serde::{Deserialize, Serialize};

pub mod kinds;
pub mod records;
pub use kinds::{Level, Role, Status};
pub use records::{AuditEntry, ClaimedDomain, Group, Member, Resource, Workspace};

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
    /// Some SAML provider is on and a domain is claimed: offer the email-first SSO form.
    pub sso_by_email: bool,
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
    /// Idle timeout in minutes (0: off) and the choices offered.
    pub session_idle_minutes: i64,
    pub session_idle_choices: Vec<i64>,
    /// Claimed email domains and their DNS verification (only verified ones count for SAML
    /// just-in-time accounts, email-first routing and Office365 allowlist trust).
    pub domains: Vec<DomainClaim>,
    /// Per configured OIDC provider: (key, what the list holds, current list joined by ", ").
    pub allowlists: Vec<(String, String, String)>,
    /// SAML providers with SCIM provisioning on (switching a fallback on warns first).
    pub provisioning: Vec<String>,
}

/// One claimed domain on the Member Authorization page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainClaim {
    pub domain: String,
    /// `pending`, `verified` or `failed`.
    pub status: String,
    /// The TXT record to publish: its name and value.
    pub record_name: String,
    pub record_value: String,
    /// When it was last checked, and what the check found when it wasn't a match.
    pub checked: Option<String>,
    pub last_error: String,
    /// Verified by the server operator, not by DNS.
    pub trusted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRow {
    pub membership_id: i64,
    pub full_name: String,
    pub email: String,
    pub role: Role,
    pub status: Status,
    pub sign_in_methods: Vec<String>,
    /// Linked identities (Google, Slack, Office365, SAML providers).
    pub identities: Vec<String>,
    pub managed_by: Option<String>,
    pub is_self: bool,
    /// The workspace's only active admin: they can be neither demoted nor deactivated, so
    /// the page doesn't offer it.
    pub last_admin: bool,
    /// Live sessions in this workspace.
    pub sessions: u32,
}

/// An API key as its workspace's admins see it (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRow {
    pub id: i64,
    pub name: String,
    /// The part of the key that names it (`ghk_{public_id}_…`).
    pub public_id: String,
    pub scopes: Vec<String>,
    /// `active`, `expired` or `revoked`.
    pub status: String,
    pub created: String,
    pub created_by: String,
    pub expires: Option<String>,
    pub last_used: Option<String>,
    /// After a rotation: until when the previous secret still works.
    pub previous_until: Option<String>,
}

/// The API keys page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeysPage {
    pub keys: Vec<ApiKeyRow>,
    /// Every scope: its name and what it allows.
    pub scopes: Vec<(String, String)>,
    /// Rotation overlap choices: seconds and label.
    pub overlaps: Vec<(i64, String)>,
    /// A key just created or rotated in this browser without JavaScript (shown once).
    pub fresh: Option<ApiKeyShown>,
}

/// A key's secret, the one time it is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyShown {
    pub name: String,
    pub key: String,
}

/// The webhooks page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhooksPage {
    pub endpoints: Vec<WebhookEndpointRow>,
    /// The workspace's newest deliveries, newest first.
    pub deliveries: Vec<WebhookDeliveryRow>,
    /// Every event type: its name and what it reports.
    pub events: Vec<(String, String)>,
    /// Rotation overlap choices: seconds and label.
    pub overlaps: Vec<(i64, String)>,
    /// A secret just made in this browser without JavaScript (shown once).
    pub fresh: Option<WebhookSecretShown>,
}

/// The events ticked on the new-endpoint form: a checkbox per event type, named after it
/// with `_` for `.` (ticked when sent, as every checkbox of ours).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct WebhookEventsForm {
    #[serde(deserialize_with = "checkbox")]
    pub member_joined: bool,
    #[serde(deserialize_with = "checkbox")]
    pub member_deactivated: bool,
    #[serde(deserialize_with = "checkbox")]
    pub member_reactivated: bool,
    #[serde(deserialize_with = "checkbox")]
    pub member_role_changed: bool,
    #[serde(deserialize_with = "checkbox")]
    pub group_created: bool,
    #[serde(deserialize_with = "checkbox")]
    pub group_changed: bool,
    #[serde(deserialize_with = "checkbox")]
    pub group_deleted: bool,
    #[serde(deserialize_with = "checkbox")]
    pub access_changed: bool,
    #[serde(deserialize_with = "checkbox")]
    pub session_revoked: bool,
}

impl WebhookEventsForm {
    /// The event types ticked (`member.joined`, …).
    pub fn ticked(&self) -> Vec<&'static str> {
        [
            ("member.joined", self.member_joined),
            ("member.deactivated", self.member_deactivated),
            ("member.reactivated", self.member_reactivated),
            ("member.role_changed", self.member_role_changed),
            ("group.created", self.group_created),
            ("group.changed", self.group_changed),
            ("group.deleted", self.group_deleted),
            ("access.changed", self.access_changed),
            ("session.revoked", self.session_revoked),
        ]
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| name)
        .collect()
    }
}

/// One endpoint as the page lists it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpointRow {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub created: String,
    pub created_by: String,
    /// Until when the previous secret signs too, after a rotation with overlap.
    pub previous_until: Option<String>,
    /// Deliveries waiting (first attempt or a retry) and given up.
    pub pending: u64,
    pub failed: u64,
    /// Events not queued because its queue was full.
    pub dropped: u64,
}

/// One line of the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDeliveryRow {
    pub id: i64,
    pub url: String,
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i64,
    pub created: String,
    pub last_attempt: Option<String>,
    /// The receiver's HTTP status at the last attempt, if it answered.
    pub last_status: Option<i64>,
    /// What went wrong at the last attempt, in words.
    pub last_error: Option<String>,
    /// When it is tried next (pending ones).
    pub next_attempt: Option<String>,
}

/// An endpoint's signing secret, the one time it is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSecretShown {
    pub url: String,
    pub secret: String,
}

/// One of the viewer's own sessions, as their sessions page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: i64,
    /// Browser and system, e.g. "Chrome 120 on Windows 10".
    pub device: String,
    /// The address it signed in from (empty if unknown).
    pub ip: String,
    /// How it signed in: "Password", "Google", a SAML provider's name.
    pub method: String,
    pub started: String,
    pub last_active: String,
    /// The session this page was loaded with.
    pub current: bool,
}

/// What "sign out every member" would end, for its confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SignOutEveryone {
    pub sessions: u64,
    pub members: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteDetails {
    pub workspace_name: String,
    pub workspace_slug: String,
    pub email: String,
    /// Password sign-in is on in that workspace (otherwise the invitee joins through one
    /// of its other methods, from its sign-in page).
    pub password_allowed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingInvite {
    pub id: i64,
    pub email: String,
    pub role: Role,
    /// Days until the link stops working (rounded up).
    pub expires_in_days: i64,
}

/// The Members page's invites: those pending, and the one just made without JavaScript
/// (its link travels once in an HttpOnly cookie, never in a URL).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitesPage {
    pub pending: Vec<PendingInvite>,
    pub fresh: Option<InviteCreated>,
}

/// What an admin gets back after inviting: the link to hand over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteCreated {
    pub email: String,
    pub link: String,
    pub emailed: bool,
}

/// One pinned IdP signing certificate as the provider page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlCert {
    pub subject: String,
    /// `YYYY-MM-DD` (UTC).
    pub expires: String,
    pub days_left: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlCheck {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// One accepted or refused response (or test) in a provider's recent activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlActivityRow {
    pub id: i64,
    pub when: String,
    pub accepted: bool,
    pub test_mode: bool,
    pub reason: String,
    pub detail: String,
    pub subject: Option<String>,
    pub checks: Vec<SamlCheck>,
    pub attributes: Vec<(String, Vec<String>)>,
}

/// The editable fields of a SAML provider: what its page shows (empty for a new one,
/// defaults filled in), what its form submits, and what the domain validates. Absent
/// fields are empty; a checkbox is ticked when it is sent at all (HTML sends only ticked
/// ones), or when it is `true`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SamlProviderForm {
    pub name: String,
    pub idp_entity_id: String,
    pub sso_url: String,
    pub cert1: String,
    pub cert2: String,
    #[serde(deserialize_with = "checkbox")]
    pub allow_idp_initiated: bool,
    #[serde(deserialize_with = "checkbox")]
    pub sign_requests: bool,
    #[serde(deserialize_with = "checkbox")]
    pub require_encryption: bool,
    pub nameid_format: String,
    pub attr_email: String,
    pub attr_given_name: String,
    pub attr_family_name: String,
}

/// The editable fields of a workspace's own OpenID Connect connection, as its page shows
/// them and its form submits them. The client secret is never shown: empty on the page,
/// and an update that leaves it empty keeps the stored one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct OidcConnectionForm {
    pub name: String,
    /// The issuer (or its discovery URL, `…/.well-known/openid-configuration`).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Scopes asked for besides `openid email profile` (space-separated), such as `groups`.
    pub scopes: String,
    /// Claim names, comma-separated (the first present is used).
    pub claim_email: String,
    pub claim_given_name: String,
    pub claim_family_name: String,
    #[serde(deserialize_with = "checkbox")]
    pub require_email_verified: bool,
}

/// A checkbox's value: a boolean (JSON), or any text but `false`/`off` (a form post,
/// which sends `on` or the input's value only when ticked).
fn checkbox<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct Ticked;
    impl serde::de::Visitor<'_> for Ticked {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a boolean or a checkbox value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_str<E>(self, v: &str) -> Result<bool, E> {
            Ok(!matches!(v.trim().to_ascii_lowercase().as_str(), "false" | "off"))
        }
        fn visit_unit<E>(self) -> Result<bool, E> {
            Ok(false)
        }
    }
    d.deserialize_any(Ticked)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlProviderPage {
    /// `None` while adding a new provider.
    pub public_id: Option<String>,
    /// `saml`, or `oidc` for an OpenID Connect connection (whose page shows `oidc` and
    /// `redirect_uri` instead of the SAML and SCIM parts).
    pub protocol: String,
    pub oidc: OidcConnectionForm,
    /// OIDC: the redirect URI to register at the IdP.
    pub redirect_uri: String,
    /// OIDC: a client secret is stored.
    pub has_client_secret: bool,
    pub form: SamlProviderForm,
    pub nameid_formats: Vec<(String, String)>,
    pub enabled: bool,
    pub acs_url: String,
    pub entity_id: String,
    /// Our Single Logout URL (both bindings).
    pub slo_url: String,
    /// The IdP's Single Logout endpoint from its metadata (`None`: it has none, so signing
    /// out stays local).
    pub idp_slo_url: Option<String>,
    pub metadata_url: String,
    pub login_url: String,
    pub scim_base_url: String,
    /// The current Provider Token's dates (`None`: there is none).
    pub token: Option<ProviderTokenFacts>,
    /// Lifetimes (days) a new token may be given.
    pub token_lifetimes: Vec<i64>,
    /// A token minted just now (shown once, after a no-JS rotation).
    pub fresh_token: Option<String>,
    /// The OAuth 2.0 token endpoint of this provider's SCIM client (client credentials).
    pub oauth_token_url: String,
    /// Its OAuth client (`None`: no secret has been generated).
    pub oauth_client: Option<OAuthClientFacts>,
    /// A client secret generated just now (shown once, after a no-JS rotation).
    pub fresh_oauth_secret: Option<String>,
    /// How long a rotated-out secret may keep working: (seconds, label).
    pub oauth_overlaps: Vec<(i64, String)>,
    pub certs: Vec<SamlCert>,
    pub activity: Vec<SamlActivityRow>,
    /// The "Test sign-in" result asked for in the URL.
    pub test: Option<SamlActivityRow>,
    pub delete_consequences: String,
    /// SCIM provisioning is on for this provider.
    pub provisioning: bool,
    /// Why provisioning can't be turned on now (`None`: it can).
    pub provisioning_blocker: Option<String>,
    /// Sign-in methods other than SAML that are on while provisioning is (fallbacks).
    pub fallback_methods: Vec<String>,
    /// The newest SCIM requests from this provider.
    pub scim_activity: Vec<ScimActivityRow>,
    /// The workspace's claimed domains, and those this provider may assert (match and
    /// create members by email in).
    pub claimed_domains: Vec<String>,
    pub asserted_domains: Vec<String>,
    /// The asserted domains come from the default rule, not an admin's choice.
    pub asserted_by_default: bool,
    /// IdP groups at sign-in.
    pub sign_in_groups: SignInGroups,
}

/// A provider's IdP groups at sign-in: the attribute, the admins' IdP groups, the mapped
/// groups, and the groups that could be mapped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SignInGroups {
    /// The attribute listing a member's IdP groups (empty: not synced).
    pub attribute: String,
    /// IdP groups whose members are admins, one per line.
    pub admin_groups: String,
    /// `(group id, group name, IdP group)`, by IdP group.
    pub mappings: Vec<(i64, String, String)>,
    /// `(group id, name)` of groups nobody else manages (not Everyone, SCIM's or mapped).
    pub mappable: Vec<(i64, String)>,
    /// Admins whose last sign-in through the provider listed none of the admins' IdP
    /// groups: members from their next sign-in through it.
    pub would_demote: Vec<String>,
}

/// What the provider page shows of its SCIM client's OAuth credentials (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthClientFacts {
    pub client_id: String,
    /// When its secret was last made, to the minute.
    pub rotated: String,
    /// After a rotation: until when the previous secret still works.
    pub previous_until: Option<String>,
    /// When a token was last asked for with it.
    pub last_used: Option<String>,
}

/// What the provider page shows of its Provider Token (never the value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderTokenFacts {
    /// Day it was made, `YYYY-MM-DD`.
    pub created: String,
    /// When the IdP last used it (to the minute), `None`: never.
    pub last_used: Option<String>,
    /// Day it stops working, `None`: never.
    pub expires: Option<String>,
    /// Whole days until it expires (negative once it has), `None`: never.
    pub days_left: Option<i64>,
}

/// One SCIM request, for the provider's "Provisioning activity".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimActivityRow {
    pub when: String,
    pub method: String,
    pub path: String,
    pub operation: String,
    pub target: String,
    pub status: u16,
    pub outcome: String,
    pub duration_ms: String,
}

/// The sign-in method key of SAML provider `public_id` (`saml:{public_id}`), as sessions and
/// Member Authorization store it.
pub fn saml_method_key(public_id: &str) -> String {
    format!("saml:{public_id}")
}

/// The id an OpenID Connect connection's empty form is loaded with.
pub const NEW_OIDC_ID: &str = "new-oidc";

/// The sign-in method key of a customer OpenID Connect connection (`oidc:{public_id}`).
pub fn oidc_method_key(public_id: &str) -> String {
    format!("oidc:{public_id}")
}

/// A sign-in method's display name, for places the UI only has its key.
pub fn method_label(key: &str) -> &'static str {
    match key {
        "google" => "Google",
        "slack" => "Slack",
        "office365" => "Office365",
        "password" => "Username and password",
        k if k.starts_with("oidc:") => "OpenID Connect",
        _ => "SAML",
    }
}

/// A group on the Groups page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupView {
    pub id: i64,
    pub name: String,
    pub is_everyone: bool,
    /// The SCIM provider's name when the group is linked (read-only here).
    pub managed_by: Option<String>,
    /// `(membership id, email)`, by email.
    pub members: Vec<(i64, String)>,
}

/// A collection or datasource connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceView {
    pub id: i64,
    /// `collection` | `datasource`
    pub kind: String,
    pub kind_label: String,
    pub name: String,
    pub description: String,
    /// The viewer's level (`view` | `edit`), where it matters.
    pub level: String,
}

/// The Access page: resources, groups, and the grants between them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessPage {
    pub resources: Vec<ResourceView>,
    /// `(id, name, managed_by)`
    pub groups: Vec<(i64, String, Option<String>)>,
    /// `(group id, resource id, level)`
    pub grants: Vec<(i64, i64, String)>,
}

/// One member's access to one resource before and after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessDeltaView {
    pub email: String,
    pub full_name: String,
    pub resource: String,
    pub kind_label: String,
    /// `none`, `view` or `edit`.
    pub before: String,
    pub after: String,
}

/// What a change would do, shown before it is saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessPreview {
    /// The change in words, e.g. "Remove “Finance”'s access to “Revenue”".
    pub summary: String,
    /// At most the first 500 rows; `total` counts them all.
    pub deltas: Vec<AccessDeltaView>,
    pub total: usize,
    pub gains: usize,
    pub losses: usize,
}

/// A group in the reconcile view: `(id, name, members, grants)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileGroup {
    pub id: i64,
    pub name: String,
    pub members: u64,
    pub grants: u64,
}

/// The reconcile view of one SAML provider with provisioning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileView {
    pub provider_name: String,
    pub provisioning: bool,
    pub linked: Vec<ReconcileGroup>,
    pub unlinked: Vec<ReconcileGroup>,
    /// Who would lose (or gain) what if the unlinked groups were emptied.
    pub if_emptied: AccessPreview,
}

/// Percent-encodes everything but unreserved characters (a query value or path segment).
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// As [`urlencode`], but keeps `/`, which a query value may hold as it is (RFC 3986
/// §3.4): a path handed on in `?next=` stays readable.
pub fn query_value(s: &str) -> String {
    urlencode(s).replace("%2F", "/")
}

/// Escapes text for HTML and XML element content and double-quoted attribute values (every
/// attribute the server writes by hand is double-quoted, so `'` stays as it is). The
/// server's hand-written pages and the SAML messages and metadata use it.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// One page of the Members page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembersPage {
    pub rows: Vec<MemberRow>,
    /// Members matching the search, on every page.
    pub total: u64,
    pub page: u64,
    pub pages: u64,
}

/// One stacked series of a daily chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Series {
    pub label: String,
    /// One value per day of `Overview::days`.
    pub values: Vec<u64>,
}

/// The admin Overview page: the last 30 days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    /// `YYYY-MM-DD`, oldest first, ending today (UTC).
    pub days: Vec<String>,
    /// Sign-ins per method (only methods with any).
    pub sign_ins: Vec<Series>,
    /// SCIM requests: answered (2xx/3xx) and refused or failed.
    pub scim: Vec<Series>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub when: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub details: String,
    pub ip: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub rows: Vec<AuditRow>,
    pub total: u64,
    pub page: u64,
    pub pages: u64,
}

/// Confirmations and notices a redirect names by code (`?saved=role_changed`,
/// `?sso=no_provider`): a page shows our sentence for a code it knows and nothing for any
/// other, so no link can put its own words on a trusted page. (With JavaScript a form
/// shows the server's answer in place; without it the browser follows the redirect.)
pub const NOTICES: &[(&str, &str)] = &[
    ("role_changed", "Role changed."),
    ("member_reactivated", "Member reactivated."),
    ("member_deactivated", "Member deactivated; their sessions were ended."),
    ("invite_withdrawn", "Invite withdrawn; its link no longer works."),
    ("group_created", "Group created."),
    ("group_renamed", "Group renamed."),
    ("group_deleted", "Group deleted; its members lost what only it granted."),
    ("group_member_added", "Member added."),
    ("group_member_removed", "Member removed."),
    ("resource_created", "Resource created."),
    ("resource_saved", "Saved."),
    ("resource_deleted", "Deleted, with every grant on it."),
    ("access_saved", "Access saved."),
    ("provider_added", "Provider added. Set it up in your IdP with the values below, run Test sign-in, then switch it on."),
    ("connection_added", "Connection added. Register the redirect URI below at your IdP, run Test sign-in, then switch it on in Member Authorization."),
    ("provider_saved", "Provider saved."),
    ("provider_deleted", "Provider deleted."),
    ("domains_saved", "Domains saved."),
    ("method_on", "Sign-in method turned on."),
    ("method_off", "Sign-in method turned off. Sessions it started have ended (yours stays until you sign out)."),
    ("lifetime_saved", "Session lifetime saved."),
    ("idle_saved", "Idle timeout saved."),
    ("domain_added", "Domain added: publish its TXT record, then check it."),
    ("domain_removed", "Domain removed."),
    ("domain_verified", "Domain verified."),
    ("domain_not_verified", "The domain is not verified: its status below says what the check found."),
    ("allowlist_saved", "Allowlist saved."),
    ("session_ended", "Signed out of that session."),
    ("api_key_revoked", "Key revoked; it stopped working at once."),
    ("webhook_deleted", "Endpoint deleted; nothing more is sent to it."),
    ("sign_in_groups_saved", "Groups at sign-in saved; they apply from each member's next sign-in."),
    ("sign_in_group_mapped", "Group mapped; each member's next sign-in adds or removes them."),
    ("sign_in_group_unmapped", "Mapping ended; the group is the admins' again, with its members."),
    ("webhook_test_queued", "Test event queued; it shows in the delivery log once sent."),
    ("signed_out_idp", "You are signed out here and at your identity provider."),
    ("signed_out_here", "You are signed out here; your identity provider did not confirm signing you out there."),
    ("other_sessions_ended", "Signed out everywhere else."),
    ("member_signed_out", "Member signed out everywhere."),
    ("everyone_signed_out", "Every member was signed out (your session stays)."),
    ("sso_no_provider", "Single sign-on is not set up for that email's domain. Use another way to sign in."),
    ("sso_bad_email", "Enter a valid email address."),
];

/// The sentence for a notice code, if it is one of ours.
/// "15 minutes", "1 hour", "8 hours", "1 day" (idle timeouts on the settings page).
pub fn minutes_label(minutes: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match minutes {
        m if m >= 1440 && m % 1440 == 0 => plural(m / 1440, "day"),
        m if m >= 60 && m % 60 == 0 => plural(m / 60, "hour"),
        m => plural(m, "minute"),
    }
}

pub fn notice(code: &str) -> Option<&'static str> {
    NOTICES.iter().find(|(c, _)| *c == code).map(|(_, text)| *text)
}

#[cfg(test)]
mod notice_tests {
    use super::*;
    #[test]
    fn only_our_codes_have_words() {
        assert_eq!(notice("role_changed"), Some("Role changed."));
        for forged in ["", "Your account is locked: call +1 555 0100", "role_changed ", "ROLE_CHANGED", "%72ole_changed"] {
            assert_eq!(notice(forged), None, "{forged:?}");
        }
        let mut codes: Vec<&str> = NOTICES.iter().map(|(c, _)| *c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), NOTICES.len(), "a code is listed twice");
        assert!(codes.iter().all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')), "codes need no URL encoding");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn escaped_text_can_neither_open_a_tag_nor_close_an_attribute() {
        assert_eq!(super::html_escape(r#"<a href="x">Tom & Jerry's</a>"#), "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry's&lt;/a&gt;");
        assert_eq!(super::html_escape("&amp;"), "&amp;amp;");
    }
}
