//! SCIM 2.0 endpoints under `/scim/v2` (RFC 7644). The domain lives in
//! `app::server::scim`; this turns HTTP into calls there, answers in
//! `application/scim+json`, and records every authenticated request as the provider's
//! "Provisioning activity".
use std::collections::HashMap;
use std::time::Instant;

use app::server::scim::{self, groups, projection, schema, users, Activity, Client, Query, ScimError};
use app::web::AppState;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query as UrlQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use serde_json::Value;

/// Largest SCIM body (a group PUT with thousands of members fits).
const SCIM_BODY_LIMIT: usize = 2 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/scim/v2/ServiceProviderConfig", any(service_provider_config))
        .route("/scim/v2/ResourceTypes", any(resource_types))
        .route("/scim/v2/ResourceTypes/{id}", any(resource_type))
        .route("/scim/v2/Schemas", any(schemas))
        .route("/scim/v2/Schemas/{id}", any(schema_one))
        .route("/scim/v2/Users", get(list_users).post(create_user))
        .route("/scim/v2/Users/.search", any(search_users))
        .route("/scim/v2/Users/{id}", get(get_user).put(replace_user).patch(patch_user).delete(delete_user))
        .route("/scim/v2/Groups", get(list_groups).post(create_group))
        .route("/scim/v2/Groups/.search", any(search_groups))
        .route("/scim/v2/Groups/{id}", get(get_group).put(replace_group).patch(patch_group).delete(delete_group))
        .route("/scim/v2/.search", any(search_all))
        .route("/scim/v2", any(not_found))
        .route("/scim/v2/", any(not_found))
        .route("/scim/v2/{*rest}", any(not_found))
        .layer(DefaultBodyLimit::max(SCIM_BODY_LIMIT))
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(scim::CONTENT_TYPE));
    if let Some(v) = body.get("meta").and_then(|m| m.get("version")).and_then(Value::as_str).and_then(|v| HeaderValue::from_str(v).ok()) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

fn error_response(e: &ScimError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = json_response(status, &e.body());
    if e.status == 401 {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"SCIM\""));
    }
    if let Some(secs) = e.retry_after {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    res
}

async fn not_found() -> Response {
    error_response(&ScimError::not_found("resource", "at this path"))
}

fn read_only(method: &Method) -> Option<Response> {
    (method != Method::GET && method != Method::HEAD).then(|| error_response(&ScimError::method_not_allowed("discovery endpoints are read-only")))
}

// --- discovery: static documents, no token needed (RFC 7644 §4) ---

async fn service_provider_config(State(st): State<AppState>, method: Method) -> Response {
    read_only(&method).unwrap_or_else(|| json_response(StatusCode::OK, &schema::service_provider_config(&scim::base_url(&st.config))))
}

async fn resource_types(State(st): State<AppState>, method: Method) -> Response {
    if let Some(r) = read_only(&method) {
        return r;
    }
    let all = schema::resource_types(&scim::base_url(&st.config));
    json_response(StatusCode::OK, &scim::list_response(all.len(), scim::Page::new(None, None), all))
}

async fn resource_type(State(st): State<AppState>, method: Method, Path(id): Path<String>) -> Response {
    if let Some(r) = read_only(&method) {
        return r;
    }
    match schema::resource_types(&scim::base_url(&st.config)).into_iter().find(|t| t["id"].as_str() == Some(id.as_str())) {
        Some(t) => json_response(StatusCode::OK, &t),
        None => error_response(&ScimError::not_found("ResourceType", &id)),
    }
}

async fn schemas(State(st): State<AppState>, method: Method) -> Response {
    if let Some(r) = read_only(&method) {
        return r;
    }
    let all = schema::schemas(&scim::base_url(&st.config));
    json_response(StatusCode::OK, &scim::list_response(all.len(), scim::Page::new(None, None), all))
}

async fn schema_one(State(st): State<AppState>, method: Method, Path(id): Path<String>) -> Response {
    if let Some(r) = read_only(&method) {
        return r;
    }
    match schema::schemas(&scim::base_url(&st.config)).into_iter().find(|s| s["id"].as_str() == Some(id.as_str())) {
        Some(s) => json_response(StatusCode::OK, &s),
        None => error_response(&ScimError::not_found("Schema", &id)),
    }
}

// --- authenticated requests ---

/// One authenticated request: who, the clock, what it sent.
struct Ctx {
    st: AppState,
    client: Client,
    now: i64,
    headers: HeaderMap,
    bytes: Bytes,
    params: HashMap<String, String>,
}

impl Ctx {
    /// The JSON body, or a SCIM error saying what is wrong with it.
    fn body(&self) -> Result<Value, ScimError> {
        if self.bytes.is_empty() {
            return Err(ScimError::invalid_syntax("the request has no body"));
        }
        serde_json::from_slice(&self.bytes).map_err(|e| ScimError::invalid_syntax(format!("the body is not valid JSON: {e}")))
    }
    fn query(&self) -> Result<Query, ScimError> {
        query_of(&self.params)
    }
    fn if_match(&self) -> Option<&str> {
        self.headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok())
    }
    fn db(&self) -> &sea_orm::DatabaseConnection {
        &self.st.db
    }
    fn writer(&self) -> scim::Writer<'_> {
        scim::Writer { db: &self.st.db, events: &self.st.events, now: self.now }
    }
}

type Outcome = Result<(StatusCode, Option<Value>), ScimError>;

/// Authenticates, throttles, runs `f`, answers, and records the request as the provider's
/// activity (operation, target, status, outcome, duration).
async fn handle<F, Fut>(st: AppState, req: Request, operation: &str, id: Option<String>, f: F) -> Response
where
    F: FnOnce(Ctx) -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let started = Instant::now();
    let now = st.now();
    let ip = crate::pages::peer(&req);
    let (method, path) = (req.method().to_string(), req.uri().path().to_string());
    let params = UrlQuery::<HashMap<String, String>>::try_from_uri(req.uri()).map(|q| q.0).unwrap_or_default();
    let headers = req.headers().clone();
    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let client = match scim::authenticate(&st.db, &st.config, now, auth, ip).await {
        Ok(c) => c,
        Err(e) => {
            count(operation, e.status);
            return error_response(&e);
        }
    };
    if let Err(e) = scim::throttle(&st.db, &st.config, now, &client).await {
        // Throttled requests aren't recorded one by one: that would be the flood itself.
        count(operation, e.status);
        return error_response(&e);
    }
    let (outcome, target) = match axum::body::to_bytes(req.into_body(), SCIM_BODY_LIMIT).await {
        Err(_) => (Err(ScimError::too_many(format!("the body is larger than {} MiB", SCIM_BODY_LIMIT / (1024 * 1024)))), id.unwrap_or_default()),
        Ok(bytes) => {
            // What the activity row names: the id, else what is created, else the filter.
            let named = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|b| ["userName", "displayName", "filter"].iter().find_map(|k| b.get(*k).and_then(Value::as_str).map(str::to_string)));
            let target = id.or(named).or_else(|| params.get("filter").cloned()).unwrap_or_default();
            let ctx = Ctx { st: st.clone(), client: client.clone(), now, headers, bytes, params };
            (f(ctx).await, target)
        }
    };
    finish(&st, &client, now, started, (&method, &path, operation, &scim::clip(&target, 120)), outcome).await
}

fn count(operation: &str, status: u16) {
    app::server::metrics::inc("gatehouse_scim_requests_total", &[("operation", operation), ("status", &status.to_string())]);
}

async fn finish(st: &AppState, client: &Client, now: i64, started: Instant, what: (&str, &str, &str, &str), outcome: Outcome) -> Response {
    let (method, path, operation, target) = what;
    let (res, error) = match outcome {
        Ok((status, Some(body))) => {
            let mut res = json_response(status, &body);
            if status == StatusCode::CREATED {
                if let Some(loc) = body.get("meta").and_then(|m| m.get("location")).and_then(Value::as_str).and_then(|l| HeaderValue::from_str(l).ok()) {
                    res.headers_mut().insert(header::LOCATION, loc);
                }
            }
            (res, None)
        }
        Ok((status, None)) => (status.into_response(), None),
        Err(e) => (error_response(&e), Some(e)),
    };
    count(operation, res.status().as_u16());
    let outcome_text = error.as_ref().map(|e| e.detail.clone()).unwrap_or_else(|| "ok".into());
    let a = Activity {
        method: method.to_string(),
        path: path.to_string(),
        operation: operation.to_string(),
        target: target.to_string(),
        status: res.status().as_u16(),
        outcome: outcome_text,
        duration_us: i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX),
    };
    if let Err(e) = st.scim_ledger.record(scim::ledger::Entry::new(now, client, a)).await {
        tracing::warn!(error = %e, "could not record a SCIM request (budget, daily count, activity)");
    }
    if let Some(e) = error.filter(|e| e.status >= 500) {
        tracing::error!(detail = %e.detail, path = %path, "SCIM request failed");
    }
    res
}

fn query_of(params: &HashMap<String, String>) -> Result<Query, ScimError> {
    let get = |k: &str| params.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone());
    let int = |k: &str| -> Result<Option<i64>, ScimError> {
        match get(k) {
            None => Ok(None),
            Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| ScimError::invalid_value(format!("{k} must be an integer"))),
        }
    };
    Ok(Query {
        filter: get("filter"),
        start_index: int("startIndex")?,
        count: int("count")?,
        attributes: get("attributes").map(|s| scim::split_list(&s)).unwrap_or_default(),
        excluded_attributes: get("excludedAttributes").map(|s| scim::split_list(&s)).unwrap_or_default(),
        sort_by: get("sortBy"),
        sort_order: get("sortOrder"),
    })
}

fn listed((total, items): (usize, Vec<Value>), q: &Query) -> Outcome {
    Ok((StatusCode::OK, Some(scim::list_response(total, scim::Page::new(q.start_index, q.count), items))))
}

async fn search(st: AppState, req: Request, what: &'static str) -> Response {
    let post = req.method() == Method::POST;
    handle(st, req, what, None, |c| async move {
        if !post {
            return Err(ScimError::method_not_allowed(".search takes POST"));
        }
        let q = Query::from_search_body(&c.body()?)?;
        let found = match what {
            "search users" => users::list(c.db(), &c.client, &q).await?,
            "search groups" => groups::list(c.db(), &c.client, &q).await?,
            _ => scim::search_all(c.db(), &c.client, &q).await?,
        };
        listed(found, &q)
    })
    .await
}

async fn search_users(State(st): State<AppState>, req: Request) -> Response {
    search(st, req, "search users").await
}

async fn search_groups(State(st): State<AppState>, req: Request) -> Response {
    search(st, req, "search groups").await
}

async fn search_all(State(st): State<AppState>, req: Request) -> Response {
    search(st, req, "search").await
}

async fn list_users(State(st): State<AppState>, req: Request) -> Response {
    handle(st, req, "list users", None, |c| async move {
        let q = c.query()?;
        listed(users::list(c.db(), &c.client, &q).await?, &q)
    })
    .await
}

async fn create_user(State(st): State<AppState>, req: Request) -> Response {
    handle(st, req, "create user", None, |c| async move { Ok((StatusCode::CREATED, Some(users::create(c.writer(), &c.client, &c.body()?).await?))) }).await
}

async fn get_user(State(st): State<AppState>, Path(id): Path<String>, req: Request) -> Response {
    handle(st, req, "get user", Some(id.clone()), |c| async move {
        let q = c.query()?;
        Ok((StatusCode::OK, Some(projection::project(users::get(c.db(), &c.client, &id).await?, schema::user(), &q))))
    })
    .await
}

async fn replace_user(State(st): State<AppState>, Path(id): Path<String>, req: Request) -> Response {
    handle(st, req, "replace user", Some(id.clone()), |c| async move {
        Ok((StatusCode::OK, Some(users::replace(c.writer(), &c.client, &id, &c.body()?, c.if_match()).await?)))
    })
    .await
}

async fn patch_user(State(st): State<AppState>, Path(id): Path<String>, req: Request) -> Response {
    handle(st, req, "patch user", Some(id.clone()), |c| async move {
        let q = c.query()?;
        let v = users::modify(c.writer(), &c.client, &id, &c.body()?, c.if_match()).await?;
        Ok((StatusCode::OK, Some(projection::project(v, schema::user(), &q))))
    })
    .await
}

async fn delete_user(State(st): State<AppState>, Path(id): Path<String>, req: Request) -> Response {
    handle(st, req, "delete user", Some(id.clone()), |c| async move {
        users::delete(c.writer(), &c.client, &id, c.if_match()).await?;
        Ok((StatusCode::NO_CONTENT, None))
    })
    .await
}

async fn list_groups(State(st): State<AppState>, req: Request) -> Response {
    handle(st, req, "list groups", None, |c| async move {
        let q = c.query()?;
        listed(groups::list(c.db(), &c.client, &q).await?, &q)
    })
    .await
}

async fn create_group(State(st): State<AppState>, req: Request) -> Response {
    handle(st, req, "create group", None, |c| async move { Ok((StatusCode::CREATED, Some(groups::create(c.writer(), &c.client, &c.body()?).await?))) }).await
}

async fn get_group(State(st): State<AppState>, Path(id): Path<String>, req: Request) -> Response {
    handle(st, req, "get group", Some(id.clone()), |c| async move { Ok((StatusCode::OK, Some(groups::get(c.db(), &c.client, &id, &c.query()?).await?))) }).await
}

async fn replace_group(State(st): State<AppState>, Path(id): Path<String>, req: Request) -> Response {
    handle(st, req, "replace group", Some(id.clone()), |c| async move {
        Ok((StatusCode::OK, Some(groups::replace(c.writer(), &c.client, &id, &c.body()?, c.if_match()).await?)))
    })
    .await
}

async fn patch_group(State(st): State<AppState>, Path(id): Path<String>, req: Request) -> Response {
    handle(st, req, "patch group", Some(id.clone()), |c| async move {
        let q = c.query()?;
        match groups::modify(c.writer(), &c.client, &id, &c.body()?, c.if_match(), &q).await? {
            Some(v) => Ok((StatusCode::OK, Some(v))),
            None => Ok((StatusCode::NO_CONTENT, None)),
        }
    })
    .await
}

async fn delete_group(State(st): State<AppState>, Path(id): Path<String>, req: Request) -> Response {
    handle(st, req, "delete group", Some(id.clone()), |c| async move {
        groups::delete(c.writer(), &c.client, &id, c.if_match()).await?;
        Ok((StatusCode::NO_CONTENT, None))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_read_case_insensitively_and_checked() {
        let p: HashMap<String, String> = [("Filter", "userName eq \"a\""), ("startIndex", "2"), ("count", "5"), ("attributes", "userName, emails")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let q = query_of(&p).expect("valid");
        assert_eq!((q.filter.as_deref(), q.start_index, q.count, q.attributes.len()), (Some("userName eq \"a\""), Some(2), Some(5), 2));
        let bad: HashMap<String, String> = [("count".to_string(), "ten".to_string())].into_iter().collect();
        assert_eq!(query_of(&bad).err().map(|e| e.scim_type), Some(Some("invalidValue")));
    }

    #[test]
    fn errors_carry_their_headers() {
        let r = error_response(&ScimError::unauthorized("no"));
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_some());
        assert_eq!(r.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()), Some(scim::CONTENT_TYPE));
    }
}
