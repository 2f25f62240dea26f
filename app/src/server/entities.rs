//! sea-orm entities. Only the domain modules under `server/` use them; they never
//! cross the wire (the DTOs in `model/` do).
#![allow(missing_docs)]

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod workspace {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "workspaces")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub slug: String,
        pub name: String,
        pub session_lifetime_secs: i64,
        pub created_at: i64,
        /// A session unused for this long ends at its next request; 0: no idle timeout.
        pub session_idle_secs: i64,
    }
    no_relations!();
}

pub mod workspace_domain {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "workspace_domains")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub workspace_id: i64,
        pub domain: String,
        pub created_at: i64,
        /// `pending`, `verified` or `failed` (see `domains`).
        pub status: String,
        /// The challenge published as `_gatehouse-challenge.<domain>` TXT.
        pub token: String,
        pub checked_at: Option<i64>,
        pub verified_at: Option<i64>,
        /// When the record was last found.
        pub last_seen_at: Option<i64>,
        pub last_error: String,
        /// Verified by the operator (`gatehouse domains --trust`), not by DNS.
        pub trusted: bool,
    }
    no_relations!();
}

pub mod setup_token {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "setup_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod account {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The one workspace this account belongs to (issue 12).
        pub workspace_id: i64,
        pub email: String,
        pub email_normalized: String,
        pub full_name: String,
        pub given_name: String,
        pub family_name: String,
        pub created_at: i64,
        pub updated_at: i64,
    }
    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Account").field("id", &self.id).field("email", &self.email).finish_non_exhaustive()
        }
    }
    no_relations!();
}

pub mod membership {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "memberships")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub workspace_id: i64,
        pub account_id: i64,
        pub role: crate::model::Role,
        pub status: crate::model::Status,
        pub managed_by_provider_id: Option<i64>,
        pub external_id: Option<String>,
        /// This workspace's password for the account (Argon2id PHC), if it has one.
        pub password_hash: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
        /// The userName the linked provider's SCIM client gave, verbatim and lower-cased.
        pub scim_user_name: Option<String>,
        pub scim_user_name_normalized: Option<String>,
        /// The rest of that client's User document (JSON), returned on reads.
        pub scim_data: Option<String>,
    }
    // The password hash never reaches a log line.
    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Membership")
                .field("id", &self.id)
                .field("workspace_id", &self.workspace_id)
                .field("account_id", &self.account_id)
                .field("role", &self.role)
                .field("status", &self.status)
                .finish_non_exhaustive()
        }
    }
    no_relations!();
}

pub mod group {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "groups")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub workspace_id: i64,
        pub name: String,
        pub name_normalized: String,
        pub is_everyone: bool,
        pub external_id: Option<String>,
        pub managed_by_provider_id: Option<i64>,
        pub created_at: i64,
        pub updated_at: i64,
        /// Bumped on every change (name, members): the SCIM ETag.
        pub version: i64,
        /// Kept in sync at each sign-in with this SAML provider: its members are those whose
        /// assertion lists `idp_group`.
        pub sign_in_provider_id: Option<i64>,
        pub idp_group: Option<String>,
    }
    no_relations!();
}

pub mod group_member {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "group_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub group_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub membership_id: i64,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod resource {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "resources")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub workspace_id: i64,
        /// `collection` | `datasource`
        pub kind: String,
        pub name: String,
        #[sea_orm(column_type = "Text")]
        pub description: String,
        pub created_at: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod grant {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "grants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub group_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub resource_id: i64,
        /// `view` | `edit`
        pub level: String,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod sign_in_method {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sign_in_methods")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub workspace_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub method: String,
        pub enabled: bool,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod invite {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "invites")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub workspace_id: i64,
        pub email: String,
        pub email_normalized: String,
        pub role: crate::model::Role,
        pub token_hash: String,
        pub invited_by_account_id: Option<i64>,
        pub created_at: i64,
        pub expires_at: i64,
        pub accepted_at: Option<i64>,
    }
    no_relations!();
}

pub mod session {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub token_hash: String,
        pub account_id: i64,
        pub workspace_id: i64,
        pub method: String,
        pub created_at: i64,
        pub last_seen_at: i64,
        /// The User-Agent it signed in with (at most 512 characters; empty if unknown).
        pub user_agent: String,
        /// The address it signed in from (empty if unknown).
        pub ip: String,
        /// For a SAML session: the NameID, its format and the SessionIndex the IdP gave.
        pub saml_name_id: Option<String>,
        pub saml_name_id_format: Option<String>,
        pub saml_session_index: Option<String>,
    }
    no_relations!();
}

pub mod audit_log {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_log")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub workspace_id: Option<i64>,
        pub actor_account_id: Option<i64>,
        pub actor: String,
        pub action: String,
        pub target: String,
        pub details: String,
        pub source_ip: Option<String>,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod rate_counter {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "rate_counters")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub window_start: i64,
        pub count: i64,
    }
    no_relations!();
}

pub mod saml_provider {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "saml_providers")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub public_id: String,
        pub workspace_id: i64,
        pub name: String,
        pub idp_entity_id: String,
        pub sso_url: String,
        pub certificates: String,
        pub allow_idp_initiated: bool,
        pub sign_requests: bool,
        pub require_encryption: bool,
        pub nameid_format: String,
        pub attr_email: String,
        pub attr_given_name: String,
        pub attr_family_name: String,
        pub sp_key_pem: Option<crate::server::crypto::Secret>,
        pub sp_cert_pem: Option<String>,
        pub provisioning_enabled: bool,
        pub created_at: i64,
        pub updated_at: i64,
        /// Which of the workspace's domains this provider may assert (comma-separated);
        /// `None`: all of them while it is the workspace's only provider, none otherwise.
        pub asserted_domains: Option<String>,
        /// The IdP's SingleLogoutService (empty: none) and its binding (`redirect`/`post`).
        pub slo_url: String,
        pub slo_binding: String,
        /// The attribute listing the member's IdP groups (empty: groups aren't synced).
        pub groups_attribute: String,
        /// IdP groups whose members are admins, comma-separated (empty: the role isn't
        /// set at sign-in).
        pub admin_idp_groups: String,
        /// `saml`, or `oidc` for a customer OpenID Connect connection (whose claim names
        /// are in the `attr_*` and `groups_attribute` columns; the SAML columns are empty).
        pub protocol: String,
        /// OIDC: the issuer (discovery is `{issuer}/.well-known/openid-configuration`).
        pub oidc_issuer: String,
        pub oidc_client_id: String,
        #[sea_orm(column_type = "Text", nullable)]
        pub oidc_client_secret: Option<crate::server::crypto::Secret>,
        /// OIDC: scopes asked for besides `openid email profile`, space-separated.
        pub oidc_scopes: String,
        /// OIDC: refuse an email without `email_verified: true` (off: only an explicit
        /// `false` is refused, for IdPs such as Entra ID that never send the claim).
        pub oidc_require_email_verified: bool,
    }
    no_relations!();

    impl Model {
        /// A customer OpenID Connect connection (else a SAML provider).
        pub fn is_oidc(&self) -> bool {
            self.protocol == "oidc"
        }
        /// Its sign-in method key: `saml:{public id}` or `oidc:{public id}`.
        pub fn method_key(&self) -> String {
            if self.is_oidc() {
                crate::model::oidc_method_key(&self.public_id)
            } else {
                crate::model::saml_method_key(&self.public_id)
            }
        }
    }
}

pub mod api_key {
    use sea_orm::entity::prelude::*;
    /// A workspace's service account for `/v1` (see `api_keys`).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_keys")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub workspace_id: i64,
        pub public_id: String,
        pub name: String,
        /// Space-separated scopes.
        pub scopes: String,
        pub secret_hash: String,
        pub previous_secret_hash: Option<String>,
        pub previous_valid_until: Option<i64>,
        pub expires_at: Option<i64>,
        pub created_at: i64,
        pub created_by: String,
        pub last_used_at: Option<i64>,
        pub revoked_at: Option<i64>,
    }
    no_relations!();
}

pub mod saml_logout {
    use sea_orm::entity::prelude::*;
    /// A LogoutRequest we sent, awaiting the IdP's answer in the browser that signed out.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "saml_logouts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub request_id: String,
        pub provider_id: i64,
        pub browser_hash: String,
        pub workspace_slug: String,
        pub expires_at: i64,
    }
    no_relations!();
}

pub mod saml_request {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "saml_requests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub request_id: String,
        pub provider_id: i64,
        pub relay_state: String,
        pub test_mode: bool,
        pub expires_at: i64,
        pub initiated_by: Option<i64>,
        pub browser_hash: String,
    }
    no_relations!();
}

pub mod saml_replay {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "saml_replay")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub provider_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub assertion_id: String,
        pub expires_at: i64,
    }
    no_relations!();
}

pub mod saml_activity {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "saml_activity")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub provider_id: i64,
        pub test_mode: bool,
        pub accepted: bool,
        pub reason: String,
        #[sea_orm(column_type = "Text")]
        pub details: String,
        pub subject: Option<String>,
        pub source_ip: Option<String>,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod external_identity {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "external_identities")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub account_id: i64,
        /// The workspace the link was made in; it signs in nowhere else.
        pub workspace_id: i64,
        pub provider_kind: String,
        pub provider_key: String,
        pub subject: String,
        pub created_at: i64,
        pub last_used_at: i64,
    }
    no_relations!();
}

pub mod scim_token {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "scim_tokens")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub provider_id: i64,
        pub token_hash: String,
        pub created_at: i64,
        pub last_used_at: Option<i64>,
        /// `None`: never expires.
        pub expires_at: Option<i64>,
    }
    no_relations!();
}

pub mod scim_oauth_client {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "scim_oauth_clients")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub provider_id: i64,
        /// Public: what the IdP sends as `client_id`.
        pub client_id: String,
        /// SHA-256 of the secret; after a rotation the previous one's, until `previous_valid_until`.
        pub secret_hash: String,
        pub previous_secret_hash: Option<String>,
        pub previous_valid_until: Option<i64>,
        pub created_at: i64,
        pub rotated_at: i64,
        pub last_used_at: Option<i64>,
    }
    no_relations!();
}
pub mod scim_access_token {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "scim_access_tokens")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub provider_id: i64,
        pub token_hash: String,
        pub created_at: i64,
        pub expires_at: i64,
    }
    no_relations!();
}
pub mod scim_activity {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "scim_activity")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub provider_id: i64,
        pub method: String,
        pub path: String,
        pub operation: String,
        pub target: String,
        pub status: i32,
        pub outcome: String,
        pub duration_us: i64,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod oidc_state {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "oidc_states")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub state_hash: String,
        pub provider: String,
        pub workspace_id: i64,
        #[sea_orm(column_type = "Text")]
        pub nonce: crate::server::crypto::Secret,
        #[sea_orm(column_type = "Text")]
        pub pkce_verifier: crate::server::crypto::Secret,
        #[sea_orm(column_type = "Text")]
        pub next: String,
        pub expires_at: i64,
        pub browser_hash: String,
        /// An admin's Test sign-in of a customer connection: the admin's account.
        pub test_by: Option<i64>,
    }
    no_relations!();
}

pub mod oidc_rule {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "oidc_rules")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub workspace_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub provider: String,
        #[sea_orm(column_type = "Text")]
        pub allowed: String,
        pub updated_at: i64,
    }
    no_relations!();
}

/// Rows become the plain records adapters get (`model::records`) at the domain's edge.
/// A trait of the domain's own (not `From`), so no public impl names an entity.
pub(in crate::server) trait Record {
    type Out;
    fn record(self) -> Self::Out;
}

pub mod webhook_endpoint {
    use sea_orm::entity::prelude::*;
    /// A workspace's webhook receiver (see `webhooks`).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_endpoints")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub workspace_id: i64,
        pub url: String,
        /// Space-separated event types.
        pub events: String,
        /// `whsec_…`: HMAC needs the secret itself.
        pub secret: crate::server::crypto::Secret,
        pub previous_secret: Option<crate::server::crypto::Secret>,
        pub previous_valid_until: Option<i64>,
        pub created_at: i64,
        pub created_by: String,
        /// Events not queued because the queue was full.
        pub dropped: i64,
    }
    no_relations!();
}

pub mod webhook_delivery {
    use sea_orm::entity::prelude::*;
    /// One event for one endpoint: queued with the change, sent by a worker holding its
    /// lease, and its last attempt's outcome.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub endpoint_id: i64,
        pub workspace_id: i64,
        pub event_id: String,
        pub event_type: String,
        /// Deliveries of one subject (`member:7`, `group:3`, `access`) go out in order.
        pub subject: String,
        pub payload: String,
        /// `pending`, `delivered` or `failed` (given up).
        pub state: String,
        pub attempts: i32,
        pub next_attempt_at: i64,
        pub lease_token: Option<String>,
        pub lease_until: Option<i64>,
        pub last_attempt_at: Option<i64>,
        pub last_status: Option<i32>,
        pub last_error: Option<String>,
        pub created_at: i64,
        pub delivered_at: Option<i64>,
    }
    no_relations!();
}

mod records {
    use super::{account, audit_log, group, membership, resource, workspace, workspace_domain, Record};
    use crate::model;

    impl Record for workspace::Model {
        type Out = model::Workspace;
        fn record(self) -> model::Workspace {
            model::Workspace {
                id: self.id,
                slug: self.slug,
                name: self.name,
                session_lifetime_secs: self.session_lifetime_secs,
                session_idle_secs: self.session_idle_secs,
                created_at: self.created_at,
            }
        }
    }

    impl Record for audit_log::Model {
        type Out = model::AuditEntry;
        fn record(self) -> model::AuditEntry {
            model::AuditEntry {
                id: self.id,
                created_at: self.created_at,
                actor: self.actor,
                action: self.action,
                target: self.target,
                details: self.details,
                source_ip: self.source_ip,
            }
        }
    }

    impl Record for workspace_domain::Model {
        type Out = model::ClaimedDomain;
        fn record(self) -> model::ClaimedDomain {
            model::ClaimedDomain {
                id: self.id,
                workspace_id: self.workspace_id,
                domain: self.domain,
                status: self.status,
                token: self.token,
                checked_at: self.checked_at,
                verified_at: self.verified_at,
                last_seen_at: self.last_seen_at,
                last_error: self.last_error,
                trusted: self.trusted,
                created_at: self.created_at,
            }
        }
    }

    impl Record for resource::Model {
        type Out = model::Resource;
        fn record(self) -> model::Resource {
            model::Resource {
                id: self.id,
                workspace_id: self.workspace_id,
                kind: self.kind,
                name: self.name,
                description: self.description,
                created_at: self.created_at,
                updated_at: self.updated_at,
            }
        }
    }

    impl Record for group::Model {
        type Out = model::Group;
        fn record(self) -> model::Group {
            model::Group {
                id: self.id,
                workspace_id: self.workspace_id,
                name: self.name,
                is_everyone: self.is_everyone,
                managed_by_provider_id: self.managed_by_provider_id,
                created_at: self.created_at,
            }
        }
    }

    impl model::Member {
        pub(in crate::server) fn of(m: &membership::Model, a: &account::Model) -> Self {
            model::Member {
                id: m.id,
                account_id: a.id,
                workspace_id: m.workspace_id,
                email: a.email.clone(),
                full_name: a.full_name.clone(),
                role: m.role,
                status: m.status,
                managed_by_provider_id: m.managed_by_provider_id,
                created_at: m.created_at,
            }
        }
    }
}
