//! SCIM 2.0 provisioning (RFC 7643 / RFC 7644) for one SAML provider at a time.
//!
//! The bearer token is the provider's Provider Token: it scopes every request to that
//! provider's workspace. What a token sees: members and groups linked to its provider,
//! plus unlinked ones of the same workspace (so Okta and Entra can match existing accounts
//! by `userName` / `displayName`); members and groups linked to another provider are
//! invisible, and the Everyone group is never shown. The first write from a provider links
//! an unlinked member or group to it; from then on it is read-only in the UI.
//!
//! This module is framework-free: the axum handlers in the server crate turn HTTP into
//! calls here and [`ScimError`]s into RFC 7644 §3.12 bodies.
pub mod eval;
pub mod filter;
pub mod groups;
pub mod ledger;
pub mod oauth;
pub mod patch;
pub mod projection;
pub mod schema;
pub mod scope;
pub mod users;

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::{json, Value};

use super::audit::{self, Actor};
use super::config::RuntimeConfig;
use super::crypto::Token;
use super::entities::{saml_provider, scim_activity, scim_token};
use super::permissions::AdminCap;
use super::{methods, ratelimit, saml, DomainError};

pub const CONTENT_TYPE: &str = "application/scim+json";
pub const URN_ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const URN_LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const URN_PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const URN_SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// Largest page a list returns, whatever `count` asks for (advertised in
/// ServiceProviderConfig as `filter.maxResults`).
pub const MAX_RESULTS: usize = 1000;
/// Default page size when `count` is absent.
pub const DEFAULT_COUNT: usize = 100;
/// Activity rows kept per provider.
const ACTIVITY_KEPT: i64 = 1000;

/// An RFC 7644 §3.12 error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<&'static str>,
    pub detail: String,
    /// For 429: seconds until the window resets.
    pub retry_after: Option<i64>,
}

impl ScimError {
    fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError { status, scim_type, detail: detail.into(), retry_after: None }
    }
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidValue"), detail)
    }
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidSyntax"), detail)
    }
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidFilter"), detail)
    }
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidPath"), detail)
    }
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::new(400, Some("noTarget"), detail)
    }
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::new(400, Some("mutability"), detail)
    }
    pub fn too_many(detail: impl Into<String>) -> Self {
        Self::new(400, Some("tooMany"), detail)
    }
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(409, Some("uniqueness"), detail)
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(409, None, detail)
    }
    /// RFC 7644 §3.12: "operation is not permitted based on the supplied authorization".
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(403, None, detail)
    }
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(404, None, format!("{what} {} not found", clip(id, 80)))
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(401, None, detail)
    }
    pub fn precondition_failed() -> Self {
        Self::new(412, None, "the resource changed since the version in If-Match")
    }
    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        Self::new(405, None, detail)
    }
    pub fn internal() -> Self {
        Self::new(500, None, "internal error; the request was not applied")
    }

    pub fn body(&self) -> Value {
        let mut b = json!({ "schemas": [URN_ERROR], "status": self.status.to_string(), "detail": self.detail });
        if let Some(t) = self.scim_type {
            b["scimType"] = json!(t);
        }
        b
    }
}

impl From<DomainError> for ScimError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound => ScimError::new(404, None, "not found"),
            DomainError::Invalid(m) => ScimError::invalid_value(m),
            DomainError::Refused(m) => ScimError::conflict(m),
            DomainError::RateLimited { retry_after_secs } => {
                ScimError { retry_after: Some(retry_after_secs), ..ScimError::new(429, None, "too many requests") }
            }
            DomainError::Unauthenticated | DomainError::Forbidden => ScimError::unauthorized("not authorized"),
            other => {
                tracing::error!(error = %other, "SCIM request failed");
                ScimError::internal()
            }
        }
    }
}

/// What a SCIM write needs of the running server: the database, live events (published
/// once the change has committed) and the time.
#[derive(Clone, Copy)]
pub struct Writer<'a> {
    pub db: &'a sea_orm::DatabaseConnection,
    pub events: &'a crate::server::events::Events,
    pub now: i64,
}

impl From<sea_orm::DbErr> for ScimError {
    fn from(e: sea_orm::DbErr) -> Self {
        DomainError::Db(e).into()
    }
}

pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// The caller, resolved from its bearer token.
#[derive(Debug, Clone)]
pub struct Client {
    /// Whose request budget this is: the Provider Token's row id, or, for OAuth access
    /// tokens, the provider's id negated (every token its client is issued shares one).
    pub token_id: i64,
    pub provider_id: i64,
    pub provider_public_id: String,
    pub provider_name: String,
    pub workspace_id: i64,
    /// `{public URL}/scim/v2`, for `meta.location` and `$ref`.
    pub base_url: String,
    pub ip: Option<String>,
}

impl Client {
    pub fn actor(&self) -> Actor {
        Actor { account_id: None, label: format!("scim:{}", self.provider_name), ip: self.ip.clone() }
    }
}

pub fn base_url(cfg: &RuntimeConfig) -> String {
    format!("{}/scim/v2", cfg.public_url)
}

/// Resolves `Authorization: Bearer <Provider Token>`. Tokens are compared by their SHA-256
/// (a unique index), so the secret never sits in the database and lookups don't leak
/// timing about it.
pub async fn authenticate<C: ConnectionTrait>(
    db: &C,
    cfg: &RuntimeConfig,
    now: i64,
    authorization: Option<&str>,
    ip: Option<String>,
) -> Result<Client, ScimError> {
    let presented = authorization
        .and_then(|h| {
            let (scheme, rest) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty() && t.len() <= 256)
        .ok_or_else(|| ScimError::unauthorized("send the provider's Provider Token as `Authorization: Bearer <token>`"))?;
    let hash = Token::from_presented(presented).hash();
    // The Provider Token, or else an access token from the provider's OAuth client.
    let (provider_id, budget_id) = match scim_token::Entity::find().filter(scim_token::Column::TokenHash.eq(hash.clone())).one(db).await? {
        Some(token) => {
            if let Some(at) = token.expires_at.filter(|at| *at <= now) {
                return Err(ScimError::unauthorized(format!(
                    "the token expired on {}; an admin mints a new one on the provider's page in Gatehouse",
                    super::clock::display_time(at)
                )));
            }
            // Remember use at most once a minute: a write per request would serialize SQLite.
            if token.last_used_at.is_none_or(|t| now - t >= 60) {
                let mut am: scim_token::ActiveModel = token.clone().into();
                am.last_used_at = Set(Some(now));
                am.update(db).await?;
            }
            (token.provider_id, token.id)
        }
        None => match oauth::provider_of(db, now, &hash).await? {
            Some(Ok(provider_id)) => (provider_id, -provider_id),
            Some(Err(_)) => return Err(ScimError::unauthorized("the access token expired; ask the token endpoint for a new one")),
            None => return Err(ScimError::unauthorized("the token is not valid (it may have been rotated)")),
        },
    };
    let provider = saml_provider::Entity::find_by_id(provider_id).one(db).await?.ok_or_else(|| ScimError::unauthorized("the token is not valid"))?;
    if !provider.provisioning_enabled {
        return Err(ScimError::unauthorized(format!("provisioning is turned off for {}; an admin turns it on on the provider's page", provider.name)));
    }
    Ok(Client {
        token_id: budget_id,
        provider_id: provider.id,
        provider_public_id: provider.public_id,
        provider_name: provider.name,
        workspace_id: provider.workspace_id,
        base_url: base_url(cfg),
        ip,
    })
}

/// The per-token request budget shared by every process (a row per token and minute):
/// 429 once this minute's count has reached it. The count is read here and raised by
/// [`record`] when the request is done, so a request costs the writer one transaction for
/// all its bookkeeping; a burst of concurrent requests at the edge of the budget may pass
/// it by at most their number.
pub async fn throttle<C: ConnectionTrait>(db: &C, cfg: &RuntimeConfig, now: i64, client: &Client) -> Result<(), ScimError> {
    let n = ratelimit::count(db, &budget_key(client), now, BUDGET_WINDOW_SECS).await?;
    if n >= cfg.scim_requests_per_minute {
        let retry = BUDGET_WINDOW_SECS - now.rem_euclid(BUDGET_WINDOW_SECS);
        return Err(ScimError {
            retry_after: Some(retry.max(1)),
            ..ScimError::new(429, None, format!("more than {} requests this minute; retry after {retry} s", cfg.scim_requests_per_minute))
        });
    }
    Ok(())
}

const BUDGET_WINDOW_SECS: i64 = 60;

fn budget_key(client: &Client) -> String {
    budget_key_of(client.token_id)
}

fn budget_key_of(token_id: i64) -> String {
    format!("scim:token:{token_id}")
}

/// One line of the provider's "Provisioning activity".
#[derive(Debug, Clone)]
pub struct Activity {
    pub method: String,
    pub path: String,
    pub operation: String,
    pub target: String,
    pub status: u16,
    pub outcome: String,
    pub duration_us: i64,
}

/// `s` clipped for an activity column, control characters (NUL, which PostgreSQL refuses
/// in text, CR/LF) shown as U+FFFD: what a client sent is shown, never stored raw.
fn printable(s: &str, n: usize) -> String {
    clip(&s.chars().map(|c| if c.is_control() { '\u{FFFD}' } else { c }).collect::<String>(), n)
}

pub async fn record_activity<C: ConnectionTrait>(db: &C, now: i64, provider_id: i64, a: &Activity) -> Result<(), DomainError> {
    let row = scim_activity::ActiveModel {
        provider_id: Set(provider_id),
        method: Set(printable(&a.method, 10)),
        path: Set(printable(&a.path, 200)),
        operation: Set(printable(&a.operation, 60)),
        target: Set(printable(&a.target, 200)),
        status: Set(i32::from(a.status)),
        outcome: Set(printable(&a.outcome, 300)),
        duration_us: Set(a.duration_us),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    if row.id % 100 == 0 {
        // Keep the newest rows per provider.
        let cutoff: Option<i64> = scim_activity::Entity::find()
            .select_only()
            .column(scim_activity::Column::Id)
            .filter(scim_activity::Column::ProviderId.eq(provider_id))
            .order_by_desc(scim_activity::Column::Id)
            .offset(ACTIVITY_KEPT as u64)
            .limit(1)
            .into_tuple()
            .one(db)
            .await?;
        if let Some(cutoff) = cutoff {
            scim_activity::Entity::delete_many()
                .filter(scim_activity::Column::ProviderId.eq(provider_id))
                .filter(scim_activity::Column::Id.lte(cutoff))
                .exec(db)
                .await?;
        }
    }
    Ok(())
}

pub(in crate::server) async fn activity<C: ConnectionTrait>(db: &C, provider_id: i64, limit: u64) -> Result<Vec<scim_activity::Model>, DomainError> {
    Ok(scim_activity::Entity::find()
        .filter(scim_activity::Column::ProviderId.eq(provider_id))
        .order_by_desc(scim_activity::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Why provisioning can't be turned on now, if it can't: the seed's prerequisite is that
/// SAML is the workspace's sole enabled sign-in method (and this provider is on).
pub(in crate::server) async fn enable_blocker<C: ConnectionTrait>(db: &C, p: &saml_provider::Model) -> Result<Option<String>, DomainError> {
    let enabled = methods::enabled_set(db, p.workspace_id).await?;
    if !enabled.contains(&saml::method_key(&p.public_id)) {
        return Ok(Some(format!("Switch {} on as a sign-in method first.", p.name)));
    }
    let others: Vec<String> = enabled.iter().filter(|m| !m.starts_with("saml:")).map(|m| methods::label(m).to_string()).collect();
    if !others.is_empty() {
        return Ok(Some(format!(
            "Provisioning needs SAML as the only sign-in method; switch off {} first. (You may switch a fallback back on afterwards.)",
            others.join(", ")
        )));
    }
    Ok(None)
}

/// Lifetimes an admin may give a Provider Token, in days (`None` in [`mint_token`]: it
/// never expires). A year at most: a token nobody rotates for longer is a token nobody
/// watches.
pub const TOKEN_LIFETIME_DAYS: &[i64] = &[30, 90, 180, 365];

/// What the provider page shows of its Provider Token (never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFacts {
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
}

pub async fn token_facts<C: ConnectionTrait>(db: &C, provider_id: i64) -> Result<Option<TokenFacts>, DomainError> {
    Ok(scim_token::Entity::find().filter(scim_token::Column::ProviderId.eq(provider_id)).one(db).await?.map(|t| TokenFacts {
        created_at: t.created_at,
        last_used_at: t.last_used_at,
        expires_at: t.expires_at,
    }))
}

fn lifetime_secs(days: Option<i64>) -> Result<Option<i64>, DomainError> {
    match days {
        None => Ok(None),
        Some(d) if TOKEN_LIFETIME_DAYS.contains(&d) => Ok(Some(d * 86_400)),
        Some(_) => Err(DomainError::Invalid(format!(
            "A token expires after {} days, or never.",
            TOKEN_LIFETIME_DAYS.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// The provider's only token becomes a fresh one (the old one stops working at once).
async fn replace_token<C: ConnectionTrait>(db: &C, now: i64, provider_id: i64, lifetime_secs: Option<i64>) -> Result<Token, DomainError> {
    let token = Token::generate();
    scim_token::Entity::delete_many().filter(scim_token::Column::ProviderId.eq(provider_id)).exec(db).await?;
    scim_token::ActiveModel {
        provider_id: Set(provider_id),
        token_hash: Set(token.hash()),
        created_at: Set(now),
        last_used_at: Set(None),
        expires_at: Set(lifetime_secs.map(|s| now + s)),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(token)
}

/// The one way a Provider Token is made, from the UI and the CLI alike: it replaces the
/// provider's token (if any) and is returned once; only its hash is kept. A token may be
/// minted before provisioning is on (to paste into the IdP first); it works only while
/// provisioning is on. It belongs to the provider, not to the admin who minted it.
pub async fn mint_token(db: &DatabaseConnection, now: i64, cap: &AdminCap, public_id: &str, lifetime_days: Option<i64>) -> Result<Token, DomainError> {
    let secs = lifetime_secs(lifetime_days)?;
    let p = saml::saml_row(db, cap, public_id).await?;
    let txn = crate::server::db::write(db).await?;
    let had = token_facts(&txn, p.id).await?.is_some();
    let token = replace_token(&txn, now, p.id, secs).await?;
    let action = if had { "scim.token.rotate" } else { "scim.token.create" };
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), action, &saml::method_key(&p.public_id), json!({ "expires_in_days": lifetime_days }))
        .await?;
    txn.commit().await?;
    Ok(token)
}

/// Turns provisioning on and mints its Provider Token (returned once). When it is on
/// already, this is a rotation.
pub async fn enable(db: &DatabaseConnection, now: i64, cap: &AdminCap, public_id: &str, lifetime_days: Option<i64>) -> Result<Token, DomainError> {
    let secs = lifetime_secs(lifetime_days)?;
    let p = saml::saml_row(db, cap, public_id).await?;
    if p.provisioning_enabled {
        return mint_token(db, now, cap, public_id, lifetime_days).await;
    }
    if let Some(why) = enable_blocker(db, &p).await? {
        return Err(DomainError::Refused(why));
    }
    let txn = crate::server::db::write(db).await?;
    let token = replace_token(&txn, now, p.id, secs).await?;
    let mut am: saml_provider::ActiveModel = p.clone().into();
    am.provisioning_enabled = Set(true);
    am.updated_at = Set(now);
    am.update(&txn).await?;
    audit::record(
        &txn,
        now,
        Some(cap.workspace_id()),
        cap.actor(),
        "scim.enable",
        &saml::method_key(&p.public_id),
        json!({ "expires_in_days": lifetime_days }),
    )
    .await?;
    txn.commit().await?;
    Ok(token)
}

/// Turns provisioning off: the token stops working at once. Linked members and groups stay
/// linked (read-only) until the provider is deleted, so turning it back on resumes.
pub async fn disable(db: &DatabaseConnection, now: i64, cap: &AdminCap, public_id: &str) -> Result<(), DomainError> {
    let p = saml::saml_row(db, cap, public_id).await?;
    let txn = crate::server::db::write(db).await?;
    scim_token::Entity::delete_many().filter(scim_token::Column::ProviderId.eq(p.id)).exec(&txn).await?;
    // The OAuth client and its tokens end too: turned on again, provisioning needs new
    // credentials, as it needs a new Provider Token.
    crate::server::entities::scim_access_token::Entity::delete_many()
        .filter(crate::server::entities::scim_access_token::Column::ProviderId.eq(p.id))
        .exec(&txn)
        .await?;
    crate::server::entities::scim_oauth_client::Entity::delete_many()
        .filter(crate::server::entities::scim_oauth_client::Column::ProviderId.eq(p.id))
        .exec(&txn)
        .await?;
    let mut am: saml_provider::ActiveModel = p.clone().into();
    am.provisioning_enabled = Set(false);
    am.updated_at = Set(now);
    am.update(&txn).await?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "scim.disable", &saml::method_key(&p.public_id), json!({})).await?;
    txn.commit().await?;
    Ok(())
}

/// `startIndex` / `count` as RFC 7644 §3.4.2.4 reads them: 1-based, values below 1 are 1,
/// a negative count is 0, and no page is larger than [`MAX_RESULTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub start_index: usize,
    pub count: usize,
}

impl Page {
    pub fn new(start_index: Option<i64>, count: Option<i64>) -> Self {
        let start_index = start_index.unwrap_or(1).max(1) as usize;
        let count = count.map(|c| c.clamp(0, MAX_RESULTS as i64) as usize).unwrap_or(DEFAULT_COUNT);
        Page { start_index, count }
    }
    pub fn offset(&self) -> usize {
        self.start_index - 1
    }
}

/// What a list or `.search` asked for.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub filter: Option<String>,
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    pub attributes: Vec<String>,
    pub excluded_attributes: Vec<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
}

impl Query {
    /// Reads a `.search` body (RFC 7644 §3.4.3).
    pub fn from_search_body(body: &Value) -> Result<Self, ScimError> {
        let obj = body.as_object().ok_or_else(|| ScimError::invalid_syntax("the body must be a JSON object"))?;
        let has_schema = obj.get("schemas").and_then(Value::as_array).is_some_and(|s| s.iter().any(|v| v.as_str() == Some(URN_SEARCH)));
        if !has_schema {
            return Err(ScimError::invalid_syntax(format!("a search request must name the schema {URN_SEARCH}")));
        }
        let text = |k: &str| -> Result<Option<String>, ScimError> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ScimError::invalid_value(format!("{k} must be a string"))),
            }
        };
        let int = |k: &str| -> Result<Option<i64>, ScimError> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_i64().map(Some).ok_or_else(|| ScimError::invalid_value(format!("{k} must be an integer"))),
            }
        };
        let list = |k: &str| -> Result<Vec<String>, ScimError> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(vec![]),
                Some(Value::Array(a)) => {
                    a.iter().map(|v| v.as_str().map(str::to_string).ok_or_else(|| ScimError::invalid_value(format!("{k} must list strings")))).collect()
                }
                Some(Value::String(s)) => Ok(split_list(s)),
                Some(_) => Err(ScimError::invalid_value(format!("{k} must be a list of strings"))),
            }
        };
        Ok(Query {
            filter: text("filter")?,
            start_index: int("startIndex")?,
            count: int("count")?,
            attributes: list("attributes")?,
            excluded_attributes: list("excludedAttributes")?,
            sort_by: text("sortBy")?,
            sort_order: text("sortOrder")?,
        })
    }
}

/// A root `.search` (RFC 7644 §3.4.3): users, then groups, paged across both. A filter
/// that doesn't apply to one type (an attribute it lacks) matches nothing there; one that
/// applies to neither is an error.
pub async fn search_all<C: ConnectionTrait>(db: &C, client: &Client, q: &Query) -> Result<(usize, Vec<Value>), ScimError> {
    let page = Page::new(q.start_index, q.count);
    let tolerate = |r: Result<(usize, Vec<Value>), ScimError>| match r {
        Err(e) if e.scim_type == Some("invalidFilter") => Ok(None),
        Err(e) => Err(e),
        Ok(v) => Ok(Some(v)),
    };
    let sized = |start: usize, count: usize| Query { start_index: Some(start as i64), count: Some(count as i64), ..q.clone() };
    // The part of the page that falls among the users, then groups from where they end.
    let users_part = tolerate(users::list(db, client, &sized(page.start_index, page.count)).await)?;
    let user_total = users_part.as_ref().map(|u| u.0).unwrap_or(0);
    let taken = users_part.as_ref().map(|u| u.1.len()).unwrap_or(0);
    let group_start = page.offset().saturating_sub(user_total) + 1;
    let groups_part = tolerate(groups::list(db, client, &sized(group_start, page.count - taken)).await)?;
    if users_part.is_none() && groups_part.is_none() {
        return Err(ScimError::invalid_filter("the filter names attributes neither Users nor Groups have"));
    }
    let (u_total, mut items) = users_part.unwrap_or((0, vec![]));
    let (g_total, g_items) = groups_part.unwrap_or((0, vec![]));
    items.extend(g_items);
    Ok((u_total + g_total, items))
}

/// `attributes=a,b` → `["a", "b"]`.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// A ListResponse around already-projected resources.
pub fn list_response(total: usize, page: Page, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [URN_LIST],
        "totalResults": total,
        "startIndex": page.start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// RFC 3339 UTC time for `meta.created` / `meta.lastModified`.
pub use super::clock::rfc3339 as timestamp;

/// Whether `presented` is the provider's current Provider Token (a value shown once must
/// be the one minted, not whatever a cookie says).
pub async fn is_current_token<C: ConnectionTrait>(db: &C, provider_id: i64, presented: &str) -> Result<bool, DomainError> {
    Ok(scim_token::Entity::find()
        .filter(scim_token::Column::ProviderId.eq(provider_id))
        .filter(scim_token::Column::TokenHash.eq(Token::from_presented(presented).hash()))
        .one(db)
        .await?
        .is_some())
}

/// A weak ETag from a resource's JSON (users) or version counter (groups).
pub fn etag_of(seed: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(seed.as_bytes());
    let hex: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
    format!("W/\"{hex}\"")
}

/// Checks `If-Match` against the current version (`*` matches anything).
pub fn check_if_match(if_match: Option<&str>, current: &str) -> Result<(), ScimError> {
    match if_match.map(str::trim) {
        None => Ok(()),
        Some("*") => Ok(()),
        Some(list) => {
            let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
            if list.split(',').any(|t| strip(t) == strip(current)) {
                Ok(())
            } else {
                Err(ScimError::precondition_failed())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_the_rfc() {
        assert_eq!(Page::new(None, None), Page { start_index: 1, count: DEFAULT_COUNT });
        assert_eq!(Page::new(Some(0), Some(-5)), Page { start_index: 1, count: 0 });
        assert_eq!(Page::new(Some(7), Some(1_000_000)), Page { start_index: 7, count: MAX_RESULTS });
        assert_eq!(Page::new(Some(7), Some(3)).offset(), 6);
    }

    #[test]
    fn if_match_compares_weak_and_strong_forms() {
        let tag = etag_of("x");
        assert!(check_if_match(None, &tag).is_ok());
        assert!(check_if_match(Some("*"), &tag).is_ok());
        assert!(check_if_match(Some(&tag), &tag).is_ok());
        assert!(check_if_match(Some(tag.trim_start_matches("W/")), &tag).is_ok());
        assert_eq!(check_if_match(Some("W/\"nope\""), &tag).map_err(|e| e.status), Err(412));
    }

    #[test]
    fn errors_have_the_rfc_shape() {
        let b = ScimError::invalid_filter("bad").body();
        assert_eq!(b["schemas"][0], URN_ERROR);
        assert_eq!(b["status"], "400");
        assert_eq!(b["scimType"], "invalidFilter");
        assert!(ScimError::not_found("User", "9").body().get("scimType").is_none());
    }

    #[test]
    fn search_bodies_are_read_strictly() {
        let q =
            Query::from_search_body(&json!({"schemas": [URN_SEARCH], "filter": "userName eq \"a\"", "startIndex": 2, "count": 5, "attributes": ["userName"]}))
                .expect("valid");
        assert_eq!((q.filter.as_deref(), q.start_index, q.count, q.attributes.len()), (Some("userName eq \"a\""), Some(2), Some(5), 1));
        assert!(Query::from_search_body(&json!({"filter": "x"})).is_err(), "schema required");
        assert!(Query::from_search_body(&json!({"schemas": [URN_SEARCH], "count": "five"})).is_err());
    }
}
