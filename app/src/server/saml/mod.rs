//! Custom SAML identity providers: configuration (this file), our SP side (`sp`), reading
//! IdP metadata (`idp_metadata`), the ACS checks (`xml`, `decrypt`, `acs`) and signing in
//! (`signin`).
pub mod acs;
pub mod decrypt;
pub mod groups;
pub mod idp_metadata;
pub mod signin;
pub mod slo;
pub mod sp;
pub mod xml;

use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};

use super::audit;
use super::config::RuntimeConfig;
use super::entities::{external_identity, group, membership, saml_provider, saml_replay, session, sign_in_method};
use super::permissions::AdminCap;
use super::DomainError;
use crate::model::SamlProviderForm;

pub const DEFAULT_ATTR_EMAIL: &str =
    "email, mail, emailaddress, http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress, urn:oid:0.9.2342.19200300.100.1.3, User.email";
pub const DEFAULT_ATTR_GIVEN: &str =
    "givenName, firstName, first_name, given_name, http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname, urn:oid:2.5.4.42, User.FirstName";
pub const DEFAULT_ATTR_FAMILY: &str =
    "sn, surname, lastName, last_name, family_name, familyName, http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname, urn:oid:2.5.4.4, User.LastName";
pub const NAMEID_FORMATS: [(&str, &str); 4] = [
    ("", "Unspecified (let the IdP choose)"),
    ("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", "Email address"),
    ("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent", "Persistent"),
    ("urn:oasis:names:tc:SAML:2.0:nameid-format:transient", "Transient"),
];

pub fn method_key(public_id: &str) -> String {
    crate::model::saml_method_key(public_id)
}

/// A SAML provider's row; a customer OpenID Connect connection shares the table.
pub const SAML: &str = "saml";
/// A customer OpenID Connect connection's row (see `oidc::connection`).
pub const OIDC: &str = "oidc";

/// The sign-in method key of a provider row, whichever its protocol: `saml:{id}` or
/// `oidc:{id}`.
pub(in crate::server) fn key_of(p: &saml_provider::Model) -> String {
    p.method_key()
}

/// What an external identity made by this provider is filed under (with its public id).
pub(in crate::server) fn identity_kind(p: &saml_provider::Model) -> &'static str {
    if p.protocol == OIDC {
        OIDC
    } else {
        SAML
    }
}

/// Our URLs for one provider.
pub struct Urls {
    pub entity_id: String,
    pub acs: String,
    pub metadata: String,
    pub login: String,
    /// Single Logout, both bindings (`/saml/{provider}/slo`).
    pub slo: String,
    pub scim_base: String,
}

pub fn urls(cfg: &RuntimeConfig, public_id: &str) -> Urls {
    let base = cfg.public_url.trim_end_matches('/');
    Urls {
        entity_id: format!("{base}/saml/{public_id}/metadata"),
        acs: format!("{base}/saml/{public_id}/acs"),
        metadata: format!("{base}/saml/{public_id}/metadata"),
        login: format!("{base}/saml/{public_id}/login"),
        slo: format!("{base}/saml/{public_id}/slo"),
        scim_base: format!("{base}/scim/v2"),
    }
}

/// What an admin (or the CLI) submits: the provider's fields, or metadata (pasted or at
/// a URL) that fills the IdP fields.
#[derive(Debug, Clone, Default)]
pub struct ProviderInput {
    pub form: SamlProviderForm,
    pub metadata_xml: Option<String>,
    pub metadata_url: Option<String>,
}

fn invalid(msg: impl Into<String>) -> DomainError {
    DomainError::Invalid(msg.into())
}

/// Validated, normalized values ready to store.
struct Clean {
    name: String,
    idp_entity_id: String,
    sso_url: String,
    certificates: Vec<String>,
    nameid_format: String,
    attr_email: String,
    attr_given_name: String,
    attr_family_name: String,
    sign_requests: bool,
    /// The IdP's SingleLogoutService when metadata was given (`None`: entered by hand, so
    /// an update keeps what the provider had).
    slo: Option<(String, String)>,
}

fn attr_list(raw: &str, default: &str, what: &str) -> Result<String, DomainError> {
    let names: Vec<&str> = raw.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if names.is_empty() {
        return Ok(default.to_string());
    }
    if names.len() > 20 || names.iter().any(|n| n.len() > 200 || n.chars().any(char::is_control)) {
        return Err(invalid(format!("The {what} attribute names are too long or too many (at most 20, comma-separated).")));
    }
    Ok(names.join(", "))
}

pub fn split_attr_list(stored: &str) -> Vec<String> {
    stored.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// The origin (`scheme://host:port`) of a URL, for comparing.
fn origin_of(url: &str) -> Option<String> {
    url::Url::parse(url).ok().map(|u| u.origin().ascii_serialization())
}

async fn clean(given: &ProviderInput, now: i64, cfg: &RuntimeConfig) -> Result<Clean, DomainError> {
    let input = &given.form;
    let (strict, allow_private) = (cfg.secure_cookies(), cfg.allow_private_metadata_urls);
    let name = input.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(invalid("Give the provider a name of 1 to 80 characters (members see “Sign in with <name>”)."));
    }
    let metadata_xml = match (&given.metadata_xml, &given.metadata_url) {
        (Some(x), _) if !x.trim().is_empty() => Some(x.clone()),
        (_, Some(u)) if !u.trim().is_empty() => Some(idp_metadata::fetch(u, strict, allow_private).await?),
        _ => None,
    };
    let mut sign_requests = input.sign_requests;
    let mut slo = None;
    let (entity_id, sso_url, certs) = if let Some(xml) = metadata_xml {
        let md = idp_metadata::parse(&xml)?;
        sign_requests |= md.want_signed_requests;
        let slo_url = if md.slo_url.is_empty() { String::new() } else { idp_metadata::validate_sso_url(&md.slo_url, strict)? };
        slo = Some((slo_url, md.slo_binding));
        (md.entity_id, idp_metadata::validate_sso_url(&md.sso_url, strict)?, md.certificates)
    } else {
        let certs = [&input.cert1, &input.cert2]
            .into_iter()
            .filter(|c| !c.trim().is_empty())
            .map(|c| idp_metadata::normalize_certificate(c))
            .collect::<Result<Vec<_>, _>>()?;
        (input.idp_entity_id.trim().to_string(), idp_metadata::validate_sso_url(&input.sso_url, strict)?, certs)
    };
    // The IdP's endpoints are elsewhere: a browser sent to our own origin by them (a
    // signed-out browser's auto-posted form, say) would pass our same-origin checks.
    let ours = origin_of(&cfg.public_url);
    let slo_url = slo.as_ref().map(|(u, _)| u.as_str()).unwrap_or("");
    if [sso_url.as_str(), slo_url].iter().any(|u| !u.is_empty() && origin_of(u) == ours) {
        return Err(invalid("The IdP's SSO or Single Logout URL points at Gatehouse itself; give the identity provider's own URLs."));
    }
    if entity_id.is_empty() || entity_id.len() > 1024 || entity_id.chars().any(char::is_control) {
        return Err(invalid("Enter the IdP's entity ID (its Issuer), up to 1024 characters."));
    }
    if certs.is_empty() {
        return Err(invalid("Add the IdP's signing certificate: without one no response could be trusted."));
    }
    if certs.len() > 2 {
        return Err(invalid("At most two signing certificates (the current one and the next, for rotation)."));
    }
    if certs.len() == 2 && certs[0] == certs[1] {
        return Err(invalid("The two certificates are the same."));
    }
    for c in &certs {
        let (_, not_after, _) = idp_metadata::certificate_facts(c)?;
        if not_after <= now {
            return Err(invalid("A signing certificate has already expired; ask the IdP for its current certificate."));
        }
    }
    let nameid_format = input.nameid_format.trim().to_string();
    if !NAMEID_FORMATS.iter().any(|(f, _)| *f == nameid_format) {
        return Err(invalid("Choose a NameID format from the list."));
    }
    Ok(Clean {
        name,
        idp_entity_id: entity_id,
        sso_url,
        certificates: certs,
        nameid_format,
        attr_email: attr_list(&input.attr_email, DEFAULT_ATTR_EMAIL, "email")?,
        attr_given_name: attr_list(&input.attr_given_name, DEFAULT_ATTR_GIVEN, "given name")?,
        attr_family_name: attr_list(&input.attr_family_name, DEFAULT_ATTR_FAMILY, "family name")?,
        sign_requests,
        slo,
    })
}

pub(in crate::server) fn new_public_id() -> String {
    let mut b = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// A SAML provider as adapters hold it: they read it through these accessors and hand it
/// back to the domain (sign-in, logout, metadata); its row stays inside the domain.
#[derive(Debug, Clone)]
pub struct Provider(pub(in crate::server) saml_provider::Model);

impl Provider {
    pub fn id(&self) -> i64 {
        self.0.id
    }
    pub fn public_id(&self) -> &str {
        &self.0.public_id
    }
    pub fn workspace_id(&self) -> i64 {
        self.0.workspace_id
    }
    pub fn name(&self) -> &str {
        &self.0.name
    }
    pub fn provisioning_enabled(&self) -> bool {
        self.0.provisioning_enabled
    }
    pub fn idp_entity_id(&self) -> &str {
        &self.0.idp_entity_id
    }
    pub fn sso_url(&self) -> &str {
        &self.0.sso_url
    }
    pub fn allow_idp_initiated(&self) -> bool {
        self.0.allow_idp_initiated
    }
    /// Where a member's browser starts signing in with it (`next` is added by the caller).
    pub fn login_path(&self) -> String {
        format!("/{}/{}/login", if self.0.protocol == OIDC { OIDC } else { SAML }, self.0.public_id)
    }
    /// The stored row, for tests that check what was written.
    #[cfg(any(test, feature = "testing"))]
    pub fn row(&self) -> &saml_provider::Model {
        &self.0
    }
}

/// The workspace's SAML providers, oldest first (its OpenID Connect connections aren't).
pub async fn list<C: ConnectionTrait>(db: &C, workspace_id: i64) -> Result<Vec<Provider>, DomainError> {
    Ok(rows(db, workspace_id).await?.into_iter().filter(|p| p.protocol == SAML).map(Provider).collect())
}

pub(in crate::server) async fn rows<C: ConnectionTrait>(db: &C, workspace_id: i64) -> Result<Vec<saml_provider::Model>, DomainError> {
    Ok(saml_provider::Entity::find().filter(saml_provider::Column::WorkspaceId.eq(workspace_id)).order_by_asc(saml_provider::Column::Id).all(db).await?)
}

/// A SAML provider by its public id, whichever workspace it belongs to (the ACS entry
/// point); an OpenID Connect connection's id is "not found" here.
pub async fn by_public_id<C: ConnectionTrait>(db: &C, public_id: &str) -> Result<Provider, DomainError> {
    row_by_public_id(db, public_id).await.map(Provider)
}

pub(in crate::server) async fn row_by_public_id<C: ConnectionTrait>(db: &C, public_id: &str) -> Result<saml_provider::Model, DomainError> {
    any_by_public_id(db, public_id).await?.filter(|p| p.protocol == SAML).ok_or(DomainError::NotFound)
}

/// A provider row of either protocol by its public id.
pub(in crate::server) async fn any_by_public_id<C: ConnectionTrait>(db: &C, public_id: &str) -> Result<Option<saml_provider::Model>, DomainError> {
    if public_id.len() > 64 {
        return Ok(None);
    }
    Ok(saml_provider::Entity::find().filter(saml_provider::Column::PublicId.eq(public_id)).one(db).await?)
}

/// A provider of the admin's workspace; another workspace's provider is "not found".
pub async fn get<C: ConnectionTrait>(db: &C, cap: &AdminCap, public_id: &str) -> Result<Provider, DomainError> {
    row(db, cap, public_id).await.map(Provider)
}

/// A provider of the admin's workspace, of either protocol (what both share: domains,
/// groups at sign-in, the page, deletion).
pub(in crate::server) async fn row<C: ConnectionTrait>(db: &C, cap: &AdminCap, public_id: &str) -> Result<saml_provider::Model, DomainError> {
    match any_by_public_id(db, public_id).await? {
        Some(p) if p.workspace_id == cap.workspace_id() => Ok(p),
        _ => Err(DomainError::NotFound),
    }
}

/// A SAML provider of the admin's workspace (SAML settings, SCIM): an OpenID Connect
/// connection is refused with why.
pub(in crate::server) async fn saml_row<C: ConnectionTrait>(db: &C, cap: &AdminCap, public_id: &str) -> Result<saml_provider::Model, DomainError> {
    row_of(db, cap, public_id, SAML).await
}

/// A provider of the admin's workspace of `protocol`; one of the other is refused with why.
pub(in crate::server) async fn row_of<C: ConnectionTrait>(
    db: &C,
    cap: &AdminCap,
    public_id: &str,
    protocol: &str,
) -> Result<saml_provider::Model, DomainError> {
    let p = row(db, cap, public_id).await?;
    if p.protocol != protocol {
        let (is, wanted) = if p.is_oidc() { ("an OpenID Connect connection", "SAML providers") } else { ("a SAML provider", "OpenID Connect connections") };
        return Err(DomainError::Refused(format!("{} is {is}: this is for {wanted}.", p.name)));
    }
    Ok(p)
}

/// Before a workspace gets another provider (SAML or OpenID Connect): one that asserted
/// every domain as the only one keeps asserting what it did; the new one asserts nothing
/// until an admin gives it domains.
pub(in crate::server) async fn before_another<C: ConnectionTrait>(txn: &C, workspace_id: i64) -> Result<(), DomainError> {
    let claimed = super::domains::list(txn, workspace_id).await?.join(",");
    saml_provider::Entity::update_many()
        .col_expr(saml_provider::Column::AssertedDomains, Expr::value(claimed))
        .filter(saml_provider::Column::WorkspaceId.eq(workspace_id))
        .filter(saml_provider::Column::AssertedDomains.is_null())
        .exec(txn)
        .await?;
    Ok(())
}

/// Creates a provider (its sign-in method starts off: test it, then switch it on). A
/// server reached over https only accepts https IdP URLs.
pub async fn create(db: &DatabaseConnection, cfg: &RuntimeConfig, now: i64, cap: &AdminCap, input: &ProviderInput) -> Result<Provider, DomainError> {
    let c = clean(input, now, cfg).await?;
    let public_id = new_public_id();
    let (key_pem, cert_pem) = tokio::task::spawn_blocking({
        let id = public_id.clone();
        move || sp::generate_key_pair(&id)
    })
    .await
    .map_err(|e| DomainError::Internal(e.to_string()))??;
    let txn = crate::server::db::write(db).await?;
    before_another(&txn, cap.workspace_id()).await?;
    let model = saml_provider::ActiveModel {
        protocol: Set(SAML.into()),
        public_id: Set(public_id.clone()),
        workspace_id: Set(cap.workspace_id()),
        asserted_domains: Set(None),
        name: Set(c.name.clone()),
        idp_entity_id: Set(c.idp_entity_id),
        sso_url: Set(c.sso_url),
        certificates: Set(serde_json::to_string(&c.certificates).map_err(|e| DomainError::Internal(e.to_string()))?),
        allow_idp_initiated: Set(input.form.allow_idp_initiated),
        sign_requests: Set(c.sign_requests),
        require_encryption: Set(input.form.require_encryption),
        nameid_format: Set(c.nameid_format),
        attr_email: Set(c.attr_email),
        attr_given_name: Set(c.attr_given_name),
        attr_family_name: Set(c.attr_family_name),
        sp_key_pem: Set(Some(crate::server::crypto::Secret::new(key_pem))),
        sp_cert_pem: Set(Some(cert_pem)),
        provisioning_enabled: Set(false),
        slo_url: Set(c.slo.as_ref().map(|s| s.0.clone()).unwrap_or_default()),
        slo_binding: Set(c.slo.as_ref().map(|s| s.1.clone()).unwrap_or_default()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "saml.provider.create", &method_key(&public_id), serde_json::json!({ "name": c.name }))
        .await?;
    txn.commit().await?;
    Ok(Provider(model))
}

pub async fn update(
    db: &DatabaseConnection,
    cfg: &RuntimeConfig,
    now: i64,
    cap: &AdminCap,
    public_id: &str,
    input: &ProviderInput,
) -> Result<Provider, DomainError> {
    let existing = saml_row(db, cap, public_id).await?;
    let c = clean(input, now, cfg).await?;
    let txn = crate::server::db::write(db).await?;
    let mut m: saml_provider::ActiveModel = existing.into();
    m.name = Set(c.name.clone());
    m.idp_entity_id = Set(c.idp_entity_id);
    m.sso_url = Set(c.sso_url);
    m.certificates = Set(serde_json::to_string(&c.certificates).map_err(|e| DomainError::Internal(e.to_string()))?);
    m.allow_idp_initiated = Set(input.form.allow_idp_initiated);
    m.sign_requests = Set(c.sign_requests);
    m.require_encryption = Set(input.form.require_encryption);
    m.nameid_format = Set(c.nameid_format);
    m.attr_email = Set(c.attr_email);
    m.attr_given_name = Set(c.attr_given_name);
    m.attr_family_name = Set(c.attr_family_name);
    if let Some((url, binding)) = c.slo {
        m.slo_url = Set(url);
        m.slo_binding = Set(binding);
    }
    m.updated_at = Set(now);
    let model = m.update(&txn).await?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "saml.provider.update", &method_key(public_id), serde_json::json!({ "name": c.name }))
        .await?;
    txn.commit().await?;
    Ok(Provider(model))
}

pub const DELETE_CONSEQUENCES: &str = "Members who signed in with this provider stay members of the workspace, but their sessions through it end now and they will need another enabled sign-in method. Accounts it created are kept.";

/// Deletes a provider: its sign-in method, linked identities, pending requests, replay
/// entries and Provider Token go with it; sessions made through it end. Refused when its
/// method is the last one enabled.
pub async fn delete(db: &DatabaseConnection, events: &crate::server::events::Events, now: i64, cap: &AdminCap, public_id: &str) -> Result<(), DomainError> {
    let p = row(db, cap, public_id).await?;
    let key = key_of(&p);
    let txn = crate::server::db::write(db).await?;
    let enabled: Vec<String> = sign_in_method::Entity::find()
        .filter(sign_in_method::Column::WorkspaceId.eq(p.workspace_id))
        .filter(sign_in_method::Column::Enabled.eq(true))
        .all(&txn)
        .await?
        .into_iter()
        .map(|m| m.method)
        .collect();
    if enabled.iter().all(|m| *m == key) && enabled.contains(&key) {
        return Err(DomainError::Refused(format!("{} is the only sign-in method switched on; turn another one on first, or nobody could sign in.", p.name)));
    }
    sign_in_method::Entity::delete_many()
        .filter(sign_in_method::Column::WorkspaceId.eq(p.workspace_id))
        .filter(sign_in_method::Column::Method.eq(key.clone()))
        .exec(&txn)
        .await?;
    external_identity::Entity::delete_many()
        .filter(external_identity::Column::ProviderKind.eq(identity_kind(&p)))
        .filter(external_identity::Column::ProviderKey.eq(p.public_id.clone()))
        .exec(&txn)
        .await?;
    saml_replay::Entity::delete_many().filter(saml_replay::Column::ProviderId.eq(p.id)).exec(&txn).await?;
    let ended = session::Entity::delete_many()
        .filter(session::Column::WorkspaceId.eq(p.workspace_id))
        .filter(session::Column::Method.eq(key.clone()))
        .exec(&txn)
        .await?
        .rows_affected;
    crate::server::webhooks::sessions_event(&txn, now, p.workspace_id, None, ended, "sign_in_method_deleted").await?;
    // What SCIM linked becomes the workspace's own again (editable in the UI).
    membership::Entity::update_many()
        .col_expr(membership::Column::ManagedByProviderId, Expr::value(Option::<i64>::None))
        .col_expr(membership::Column::ScimUserName, Expr::value(Option::<String>::None))
        .col_expr(membership::Column::ScimUserNameNormalized, Expr::value(Option::<String>::None))
        .col_expr(membership::Column::ScimData, Expr::value(Option::<String>::None))
        .col_expr(membership::Column::ExternalId, Expr::value(Option::<String>::None))
        .filter(membership::Column::ManagedByProviderId.eq(p.id))
        .exec(&txn)
        .await?;
    group::Entity::update_many()
        .col_expr(group::Column::ManagedByProviderId, Expr::value(Option::<i64>::None))
        .col_expr(group::Column::ExternalId, Expr::value(Option::<String>::None))
        .filter(group::Column::ManagedByProviderId.eq(p.id))
        .exec(&txn)
        .await?;
    // Groups kept in sync at its sign-ins are the admins' again, with their members.
    group::Entity::update_many()
        .col_expr(group::Column::SignInProviderId, Expr::value(Option::<i64>::None))
        .col_expr(group::Column::IdpGroup, Expr::value(Option::<String>::None))
        .filter(group::Column::SignInProviderId.eq(p.id))
        .exec(&txn)
        .await?;
    saml_provider::Entity::delete_by_id(p.id).exec(&txn).await?;
    audit::record(
        &txn,
        now,
        Some(cap.workspace_id()),
        cap.actor(),
        if p.protocol == OIDC { "oidc.connection.delete" } else { "saml.provider.delete" },
        &key,
        serde_json::json!({ "name": p.name, "sessions_ended": ended }),
    )
    .await?;
    txn.commit().await?;
    // Its members and groups are handed back, and sessions through it ended.
    events.publish(db, cap.workspace_id(), &crate::server::events::Topic::ALL).await;
    Ok(())
}

/// The IdP signing certificates a provider trusts (PEM).
pub fn certificates(p: &Provider) -> Vec<String> {
    certificates_of(&p.0)
}

pub(in crate::server) fn certificates_of(p: &saml_provider::Model) -> Vec<String> {
    serde_json::from_str(&p.certificates).unwrap_or_default()
}

/// What the ACS needs to trust this provider.
pub fn trust(cfg: &RuntimeConfig, p: &Provider) -> Result<acs::Trust, DomainError> {
    trust_of(cfg, &p.0)
}

pub(in crate::server) fn trust_of(cfg: &RuntimeConfig, p: &saml_provider::Model) -> Result<acs::Trust, DomainError> {
    let u = urls(cfg, &p.public_id);
    let certs_der = certificates_of(p).iter().map(|pem| idp_metadata::certificate_facts(pem).map(|(der, _, _)| der)).collect::<Result<Vec<_>, _>>()?;
    Ok(acs::Trust {
        idp_entity_id: p.idp_entity_id.clone(),
        certs_der,
        sp_entity_id: u.entity_id,
        acs_url: u.acs,
        require_encryption: p.require_encryption,
        sp_key: p.sp_key_pem.as_ref().map(|k| sp::load_key(k.expose())).transpose()?,
        attr_email: split_attr_list(&p.attr_email),
        attr_given_name: split_attr_list(&p.attr_given_name),
        attr_family_name: split_attr_list(&p.attr_family_name),
    })
}

/// Our SP metadata for this provider, for its IdP.
pub fn sp_metadata(cfg: &RuntimeConfig, p: &Provider) -> String {
    let p = &p.0;
    let u = urls(cfg, &p.public_id);
    sp::metadata_xml(&sp::SpInfo {
        entity_id: &u.entity_id,
        acs_url: &u.acs,
        slo_url: &u.slo,
        cert_pem: p.sp_cert_pem.as_deref().unwrap_or(""),
        sign_requests: p.sign_requests,
        nameid_format: &p.nameid_format,
    })
}

/// Email-first routing: the workspace's first enabled provider (SAML or OpenID Connect)
/// that may assert `email`'s domain.
pub async fn provider_for_email<C: ConnectionTrait>(db: &C, workspace_id: i64, email_raw: &str) -> Result<Option<Provider>, DomainError> {
    let email = super::normalize_email(email_raw)?;
    if !super::domains::claims_email(db, workspace_id, &email).await? {
        return Ok(None);
    }
    let enabled = super::methods::enabled_set(db, workspace_id).await?;
    for p in rows(db, workspace_id).await? {
        if enabled.contains(&key_of(&p)) && may_assert(db, &p, &email).await? {
            return Ok(Some(Provider(p)));
        }
    }
    Ok(None)
}

/// The claimed domains of its workspace that provider `p` may assert, i.e. match existing
/// members by email in and create members in. An admin's explicit list; without one, all
/// of them while `p` is the workspace's only provider and none once there are several (a
/// second IdP, say a contractor's, never speaks for the first one's people by default).
pub(in crate::server) async fn asserted_domains<C: ConnectionTrait>(db: &C, p: &saml_provider::Model) -> Result<Vec<String>, DomainError> {
    let claimed = super::domains::list(db, p.workspace_id).await?;
    Ok(match p.asserted_domains.as_deref() {
        Some(stored) => split_domains(stored).into_iter().filter(|d| claimed.contains(d)).collect(),
        None if provider_count(db, p.workspace_id).await? <= 1 => claimed,
        None => Vec::new(),
    })
}

async fn provider_count<C: ConnectionTrait>(db: &C, workspace_id: i64) -> Result<u64, DomainError> {
    Ok(saml_provider::Entity::find().filter(saml_provider::Column::WorkspaceId.eq(workspace_id)).count(db).await?)
}

fn split_domains(stored: &str) -> Vec<String> {
    stored.split(',').map(str::trim).filter(|d| !d.is_empty()).map(str::to_string).collect()
}

/// May provider `p` assert `email_normalized` (match or create a member by it)?
pub(in crate::server) async fn may_assert<C: ConnectionTrait>(db: &C, p: &saml_provider::Model, email_normalized: &str) -> Result<bool, DomainError> {
    let Some((_, domain)) = email_normalized.rsplit_once('@') else { return Ok(false) };
    Ok(asserted_domains(db, p).await?.iter().any(|d| d == domain))
}

/// Sets which claimed domains provider `public_id` may assert (`None`: the default rule).
pub async fn set_asserted_domains(db: &DatabaseConnection, now: i64, cap: &AdminCap, public_id: &str, domains: Option<Vec<String>>) -> Result<(), DomainError> {
    let p = row(db, cap, public_id).await?;
    let claimed = super::domains::list(db, p.workspace_id).await?;
    let stored = match domains {
        Some(list) => {
            let mut clean = Vec::new();
            for d in list {
                let d = super::domains::validate_domain(&d)?;
                if !claimed.contains(&d) {
                    return Err(DomainError::Invalid(format!("{d} is not one of this workspace's claimed domains.")));
                }
                if !clean.contains(&d) {
                    clean.push(d);
                }
            }
            Some(clean.join(","))
        }
        None => None,
    };
    let key = key_of(&p);
    let txn = crate::server::db::write(db).await?;
    let mut m: saml_provider::ActiveModel = p.into();
    m.asserted_domains = Set(stored.clone());
    m.updated_at = Set(now);
    m.update(&txn).await?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "saml.provider.domains", &key, serde_json::json!({ "domains": stored })).await?;
    txn.commit().await?;
    Ok(())
}
