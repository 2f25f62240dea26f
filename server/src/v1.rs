//! The product's API, `/v1`: JSON over HTTPS with an API key as the bearer token
//! (`Authorization: Bearer ghk_…`). Each endpoint names the scope it needs; a key acts in
//! its own workspace only, where ids of another workspace are simply not found.
//!
//! The OpenAPI document (`GET /v1/openapi.json`) is built from these handlers'
//! annotations and these types by `utoipa`, and the router is built from the same list
//! (`utoipa_axum::routes!`), so a route can't exist without its documentation.
use app::server::access::Level;
use app::server::api_keys::{self, ApiCaller, Scope};
use app::server::{product_api, resources, sessions, DomainError};
use app::web::http_security::ClientIp;
use app::web::AppState;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Default page size.
const PAGE: u64 = 100;

#[derive(OpenApi)]
#[openapi(
    info(title = "Gatehouse API", version = "1", description = "The product's view of a Gatehouse workspace: its members and groups, its resources, and who may reach them."),
    modifiers(&BearerKey),
    tags(
        (name = "directory", description = "Members and groups (scope directory:read)"),
        (name = "access", description = "Access checks and session identification (scope access:check)"),
        (name = "resources", description = "The product's collections and connections (read: directory:read or resources:write; write: resources:write)")
    )
)]
struct ApiDoc;

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some("A workspace's API key, ghk_…")).build()),
        );
    }
}

/// The API's routes and its OpenAPI document, from one list.
pub fn parts() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(list_members))
        .routes(routes!(list_groups))
        .routes(routes!(list_resources, create_resource))
        .routes(routes!(update_resource, delete_resource))
        .routes(routes!(check_access))
        .routes(routes!(identify_session))
        .split_for_parts()
}

pub fn routes() -> Router<AppState> {
    let (router, doc) = parts();
    let json = doc.to_pretty_json().unwrap_or_default();
    router.route(
        "/v1/openapi.json",
        axum::routing::get(move || {
            let json = json.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], json) }
        }),
    )
}

/// An error: its HTTP status and `{"error": code, "message": text}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiErrorBody {
    /// `unauthorized`, `insufficient_scope`, `not_found`, `invalid`, `internal`.
    error: String,
    message: String,
}

pub struct ApiError(StatusCode, &'static str, String);

/// A 429 for a key past its minute's requests.
struct TooMany {
    retry_after: i64,
    limit: i64,
}

impl IntoResponse for TooMany {
    fn into_response(self) -> Response {
        let body = Json(ApiErrorBody {
            error: "rate_limited".into(),
            message: format!("This key may make {} requests a minute; retry after {} s.", self.limit, self.retry_after),
        });
        (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, self.retry_after.to_string())], body).into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ApiErrorBody { error: self.1.to_string(), message: self.2 });
        if self.0 == StatusCode::UNAUTHORIZED {
            return (self.0, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response();
        }
        (self.0, body).into_response()
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound => ApiError(StatusCode::NOT_FOUND, "not_found", "No such thing in this workspace.".into()),
            DomainError::Invalid(m) | DomainError::Refused(m) => ApiError(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m),
            e => {
                tracing::error!(error = %e, "v1 API");
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Something went wrong; try again.".into())
            }
        }
    }
}

fn invalid(m: impl Into<String>) -> ApiError {
    ApiError(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m.into())
}

/// The API key a request presents, authenticated, and the client's address.
pub struct Caller(ApiCaller, Option<String>);

impl Caller {
    fn need(&self, any_of: &[Scope]) -> Result<(), ApiError> {
        if any_of.iter().any(|s| self.0.may(*s)) {
            Ok(())
        } else {
            let names: Vec<&str> = any_of.iter().map(|s| s.as_str()).collect();
            Err(ApiError(StatusCode::FORBIDDEN, "insufficient_scope", format!("This key lacks the scope {}.", names.join(" or "))))
        }
    }
}

impl Caller {
    /// The capability to write resources, for a key with `resources:write`.
    fn writer(&self) -> Result<app::server::permissions::ResourceWriter, ApiError> {
        self.need(&[Scope::ResourcesWrite])?;
        self.0.resource_writer(self.1.clone()).ok_or_else(|| invalid("This key can't write resources."))
    }
}

/// The page asked for, or a 422 that says what is wrong with the query.
fn page(q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>) -> Result<(i64, u64), ApiError> {
    q.map_err(|e| invalid(e.body_text()))?.0.parts()
}

/// A resource id from the path, or a 422.
fn path_id(id: Result<Path<i64>, axum::extract::rejection::PathRejection>) -> Result<i64, ApiError> {
    id.map(|Path(i)| i).map_err(|_| invalid("The resource id must be a number."))
}

/// A JSON body, or a 422 that says what is wrong with it.
fn body<T>(b: Result<Json<T>, axum::extract::rejection::JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(t)| t).map_err(|e| invalid(e.body_text()))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        // The scheme name is case-insensitive (RFC 9110 §11.1).
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, k)| k.trim());
        let Some(presented) = presented else {
            return Err(ApiError(StatusCode::UNAUTHORIZED, "unauthorized", "Present an API key: Authorization: Bearer ghk_….".into()).into_response());
        };
        let now = st.now();
        let caller = match api_keys::authenticate(&st.db, now, presented).await.map_err(|e| ApiError::from(e).into_response())? {
            Some(c) => c,
            None => {
                return Err(
                    ApiError(StatusCode::UNAUTHORIZED, "unauthorized", "This API key is not valid (unknown, expired or revoked).".into()).into_response()
                )
            }
        };
        let limit = st.config.api_requests_per_minute;
        if let Some(retry_after) = api_keys::admit(&st.db, now, &caller, limit).await.map_err(|e| ApiError::from(e).into_response())? {
            return Err(TooMany { retry_after, limit }.into_response());
        }
        Ok(Caller(caller, parts.extensions.get::<ClientIp>().map(|c| c.0.to_string())))
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// At most this many items (1–1000, default 100).
    limit: Option<u64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl PageQuery {
    fn parts(&self) -> Result<(i64, u64), ApiError> {
        let after = match self.cursor.as_deref() {
            None | Some("") => 0,
            Some(c) => c.parse::<i64>().ok().filter(|c| *c >= 0).ok_or_else(|| invalid("That cursor is not one this API gave."))?,
        };
        let limit = self.limit.unwrap_or(PAGE);
        if !(1..=product_api::MAX_PAGE).contains(&limit) {
            return Err(invalid(format!("limit must be between 1 and {}.", product_api::MAX_PAGE)));
        }
        Ok((after, limit))
    }
}

/// The cursor of the page after `items` (none when this page wasn't full).
fn next_cursor(last_id: Option<i64>, len: usize, limit: u64) -> Option<String> {
    (len as u64 == limit).then_some(last_id).flatten().map(|id| id.to_string())
}

#[derive(Serialize, ToSchema)]
pub struct Member {
    /// The membership's id (stable within the workspace; X-Gatehouse-Member-Id).
    id: i64,
    email: String,
    name: String,
    /// `admin` or `member`.
    role: String,
    /// `active` or `deactivated`.
    status: String,
    /// Ids of the groups the member is in (Everyone included).
    groups: Vec<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct MembersPage {
    items: Vec<Member>,
    next_cursor: Option<String>,
}

fn member_of(m: app::model::Member, groups: Vec<i64>) -> Member {
    Member { id: m.id, email: m.email, name: m.full_name, role: m.role.as_str().into(), status: m.status.as_str().into(), groups }
}

/// The workspace's members, oldest first.
#[utoipa::path(get, path = "/v1/members", tag = "directory", params(PageQuery), security(("api_key" = [])),
    responses((status = 200, description = "OK", body = MembersPage), (status = 401, description = "No valid API key", body = ApiErrorBody), (status = 403, description = "The key lacks the scope", body = ApiErrorBody), (status = 429, description = "This key has made its requests for this minute; retry after Retry-After seconds", body = ApiErrorBody), (status = 422, description = "Invalid input", body = ApiErrorBody)))]
async fn list_members(
    caller: Caller,
    State(st): State<AppState>,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<MembersPage>, ApiError> {
    caller.need(&[Scope::DirectoryRead])?;
    let (after, limit) = page(q)?;
    let rows = product_api::members(&st.db, caller.0.workspace_id, after, limit).await?;
    let next = next_cursor(rows.last().map(|r| r.member.id), rows.len(), limit);
    Ok(Json(MembersPage { items: rows.into_iter().map(|r| member_of(r.member, r.group_ids)).collect(), next_cursor: next }))
}

#[derive(Serialize, ToSchema)]
pub struct Group {
    id: i64,
    name: String,
    /// The built-in group of every active member.
    everyone: bool,
    members: u64,
}

#[derive(Serialize, ToSchema)]
pub struct GroupsPage {
    items: Vec<Group>,
    next_cursor: Option<String>,
}

/// The workspace's groups.
#[utoipa::path(get, path = "/v1/groups", tag = "directory", params(PageQuery), security(("api_key" = [])),
    responses((status = 200, description = "OK", body = GroupsPage), (status = 401, description = "No valid API key", body = ApiErrorBody), (status = 403, description = "The key lacks the scope", body = ApiErrorBody), (status = 429, description = "This key has made its requests for this minute; retry after Retry-After seconds", body = ApiErrorBody), (status = 422, description = "Invalid input", body = ApiErrorBody)))]
async fn list_groups(
    caller: Caller,
    State(st): State<AppState>,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<GroupsPage>, ApiError> {
    caller.need(&[Scope::DirectoryRead])?;
    let (after, limit) = page(q)?;
    let rows = product_api::groups(&st.db, caller.0.workspace_id, after, limit).await?;
    let next = next_cursor(rows.last().map(|r| r.0.id), rows.len(), limit);
    Ok(Json(GroupsPage {
        items: rows.into_iter().map(|(g, n)| Group { id: g.id, name: g.name, everyone: g.is_everyone, members: n }).collect(),
        next_cursor: next,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Resource {
    /// The id forward-auth rules and access checks name.
    id: i64,
    /// `collection` or `datasource`.
    kind: String,
    name: String,
    description: String,
}

impl From<app::model::Resource> for Resource {
    fn from(r: app::model::Resource) -> Self {
        Resource { id: r.id, kind: r.kind, name: r.name, description: r.description }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ResourcesPage {
    items: Vec<Resource>,
    next_cursor: Option<String>,
}

/// The workspace's resources.
#[utoipa::path(get, path = "/v1/resources", tag = "resources", params(PageQuery), security(("api_key" = [])),
    responses((status = 200, description = "OK", body = ResourcesPage), (status = 401, description = "No valid API key", body = ApiErrorBody), (status = 403, description = "The key lacks the scope", body = ApiErrorBody), (status = 429, description = "This key has made its requests for this minute; retry after Retry-After seconds", body = ApiErrorBody), (status = 422, description = "Invalid input", body = ApiErrorBody)))]
async fn list_resources(
    caller: Caller,
    State(st): State<AppState>,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ResourcesPage>, ApiError> {
    caller.need(&[Scope::DirectoryRead, Scope::ResourcesWrite])?;
    let (after, limit) = page(q)?;
    let rows = product_api::resources(&st.db, caller.0.workspace_id, after, limit).await?;
    let next = next_cursor(rows.last().map(|r| r.id), rows.len(), limit);
    Ok(Json(ResourcesPage { items: rows.into_iter().map(Resource::from).collect(), next_cursor: next }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewResource {
    /// `collection` or `datasource`.
    kind: String,
    name: String,
    #[serde(default)]
    description: String,
}

/// Registers a resource (audited as the key).
#[utoipa::path(post, path = "/v1/resources", tag = "resources", request_body = NewResource, security(("api_key" = [])),
    responses((status = 201, description = "Created", body = Resource), (status = 401, description = "No valid API key", body = ApiErrorBody), (status = 403, description = "The key lacks the scope", body = ApiErrorBody), (status = 429, description = "This key has made its requests for this minute; retry after Retry-After seconds", body = ApiErrorBody), (status = 422, description = "Invalid input", body = ApiErrorBody)))]
async fn create_resource(
    caller: Caller,
    State(st): State<AppState>,
    b: Result<Json<NewResource>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Resource>), ApiError> {
    let cap = caller.writer()?;
    let b = body(b)?;
    let r = resources::create(
        &st.db,
        &st.events,
        st.now(),
        &cap,
        st.config.max_resources_per_workspace,
        resources::NewResource { kind: &b.kind, name: &b.name, description: &b.description },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(r.into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceChange {
    name: Option<String>,
    description: Option<String>,
}

/// Renames a resource or changes its description (audited as the key).
#[utoipa::path(patch, path = "/v1/resources/{id}", tag = "resources", request_body = ResourceChange, params(("id" = i64, Path, description = "The resource's id")),
    security(("api_key" = [])),
    responses((status = 200, description = "OK", body = Resource), (status = 401, description = "No valid API key", body = ApiErrorBody), (status = 403, description = "The key lacks the scope", body = ApiErrorBody), (status = 429, description = "This key has made its requests for this minute; retry after Retry-After seconds", body = ApiErrorBody), (status = 404, description = "Not in this workspace", body = ApiErrorBody), (status = 422, description = "Invalid input", body = ApiErrorBody)))]
async fn update_resource(
    caller: Caller,
    State(st): State<AppState>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
    b: Result<Json<ResourceChange>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Resource>, ApiError> {
    let cap = caller.writer()?;
    let id = path_id(id)?;
    let b = body(b)?;
    let current = product_api::resource(&st.db, caller.0.workspace_id, id).await?;
    let r = resources::update(
        &st.db,
        &st.events,
        st.now(),
        &cap,
        id,
        b.name.as_deref().unwrap_or(&current.name),
        b.description.as_deref().unwrap_or(&current.description),
    )
    .await?;
    Ok(Json(r.into()))
}

/// Deletes a resource and every grant on it (audited as the key).
#[utoipa::path(delete, path = "/v1/resources/{id}", tag = "resources", params(("id" = i64, Path, description = "The resource's id")), security(("api_key" = [])),
    responses((status = 204, description = "Deleted"), (status = 401, description = "No valid API key", body = ApiErrorBody), (status = 403, description = "The key lacks the scope", body = ApiErrorBody), (status = 429, description = "This key has made its requests for this minute; retry after Retry-After seconds", body = ApiErrorBody), (status = 404, description = "Not in this workspace", body = ApiErrorBody)))]
async fn delete_resource(
    caller: Caller,
    State(st): State<AppState>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> Result<StatusCode, ApiError> {
    let cap = caller.writer()?;
    resources::delete(&st.db, &st.events, st.now(), &cap, path_id(id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Serialize, ToSchema, Clone, Copy)]
pub struct Pair {
    member_id: i64,
    resource_id: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// 1 to 1000 (member, resource) pairs.
    checks: Vec<Pair>,
}

#[derive(Serialize, ToSchema)]
pub struct CheckResult {
    member_id: i64,
    resource_id: i64,
    /// `view`, `edit`, or null for no access (or no such member or resource here).
    access: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CheckResponse {
    /// In the order asked.
    results: Vec<CheckResult>,
}

/// Whether members reach resources, by the rule every page uses, decided now.
#[utoipa::path(post, path = "/v1/access/check", tag = "access", request_body = CheckRequest, security(("api_key" = [])),
    responses((status = 200, description = "OK", body = CheckResponse), (status = 401, description = "No valid API key", body = ApiErrorBody), (status = 403, description = "The key lacks the scope", body = ApiErrorBody), (status = 429, description = "This key has made its requests for this minute; retry after Retry-After seconds", body = ApiErrorBody), (status = 422, description = "Invalid input", body = ApiErrorBody)))]
async fn check_access(
    caller: Caller,
    State(st): State<AppState>,
    b: Result<Json<CheckRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<CheckResponse>, ApiError> {
    caller.need(&[Scope::AccessCheck])?;
    let b = body(b)?;
    if b.checks.is_empty() {
        return Err(invalid("checks must hold at least one pair."));
    }
    let pairs: Vec<(i64, i64)> = b.checks.iter().map(|p| (p.member_id, p.resource_id)).collect();
    let levels = product_api::check(&st.db, caller.0.workspace_id, &pairs).await?;
    Ok(Json(CheckResponse {
        results: b
            .checks
            .iter()
            .zip(levels)
            .map(|(p, l)| CheckResult { member_id: p.member_id, resource_id: p.resource_id, access: l.map(|l: Level| l.as_str().to_string()) })
            .collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifyRequest {
    /// The value of the Gatehouse session cookie the product received.
    token: String,
}

/// The member behind a session token, if the session is live and of this key's workspace
/// (404 otherwise). Counts as use of the session.
#[utoipa::path(post, path = "/v1/sessions/identify", tag = "access", request_body = IdentifyRequest, security(("api_key" = [])),
    responses((status = 200, description = "OK", body = Member), (status = 401, description = "No valid API key", body = ApiErrorBody), (status = 403, description = "The key lacks the scope", body = ApiErrorBody), (status = 429, description = "This key has made its requests for this minute; retry after Retry-After seconds", body = ApiErrorBody), (status = 404, description = "Not in this workspace", body = ApiErrorBody)))]
async fn identify_session(
    caller: Caller,
    State(st): State<AppState>,
    b: Result<Json<IdentifyRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Member>, ApiError> {
    caller.need(&[Scope::AccessCheck])?;
    let b = body(b)?;
    let token = app::server::crypto::Token::from_presented(b.token.trim());
    // Another workspace's session is not looked at further, nor counted as used.
    let now = st.now();
    sessions::peek(&st.db, now, &token).await?.filter(|v| v.workspace_id == caller.0.workspace_id).ok_or(DomainError::NotFound)?;
    let viewer = sessions::resolve(&st.db, now, &token, None).await?.ok_or(DomainError::NotFound)?;
    let rows = product_api::members(&st.db, caller.0.workspace_id, viewer.membership_id - 1, 1).await?;
    let row = rows.into_iter().find(|r| r.member.id == viewer.membership_id).ok_or(DomainError::NotFound)?;
    Ok(Json(member_of(row.member, row.group_ids)))
}
