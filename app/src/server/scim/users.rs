//! `/Users`: workspace members as SCIM Users.
//!
//! A linked member's document is what its provider wrote (every attribute we advertise,
//! verbatim, without the password), plus what Gatehouse owns: `id`, `active`, `groups`,
//! `meta`. An unlinked member's document is derived from its account, with `userName` =
//! email, so Okta's `userName eq` finds it. From the document Gatehouse takes the email
//! (the primary one: the key that links accounts), the names (given + family = full name),
//! the role (`roles[].value` or our extension's `role`) and `active`.
use std::collections::HashMap;

use sea_orm::sea_query::Condition;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::{json, Map, Value};

use super::eval::{self, get_ci};
use super::projection::{project, prune};
use super::schema::{self, Attr, Mutability, Resource, Type, URN_GATEHOUSE_USER, URN_USER};
use super::scope::{self, parse_id};
use super::{check_if_match, clip, etag_of, patch, timestamp, Client, Page, Query, ScimError, Writer};
use crate::server::audit;
use crate::server::crypto::Token;
use crate::server::domains::NO_EMAIL_DOMAIN;
use crate::server::entities::{account, external_identity, group, group_member, membership, session};
use crate::server::events::Topic;
use crate::server::permissions::{Role, Status};
use crate::server::{directory, normalize_email};

/// Largest stored document (the rest of what a provider says about one user).
const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// A member this token can see, with its account.
#[derive(Debug, Clone)]
pub(in crate::server) struct Row {
    pub m: membership::Model,
    pub a: account::Model,
}

async fn with_accounts<C: ConnectionTrait>(db: &C, ms: Vec<membership::Model>) -> Result<Vec<Row>, ScimError> {
    let ids: Vec<i64> = ms.iter().map(|m| m.account_id).collect();
    let mut accounts: HashMap<i64, account::Model> = HashMap::new();
    for chunk in ids.chunks(500) {
        for a in account::Entity::find().filter(account::Column::Id.is_in(chunk.to_vec())).all(db).await? {
            accounts.insert(a.id, a);
        }
    }
    Ok(ms.into_iter().filter_map(|m| accounts.get(&m.account_id).cloned().map(|a| Row { m, a })).collect())
}

/// One visible member by SCIM id.
pub(in crate::server) async fn find<C: ConnectionTrait>(db: &C, client: &Client, id: &str) -> Result<Row, ScimError> {
    let not_found = || ScimError::not_found("User", id);
    let n = parse_id(id).ok_or_else(not_found)?;
    let m = membership::Entity::find_by_id(n).filter(scope::users(client)).one(db).await?.ok_or_else(not_found)?;
    let a = account::Entity::find_by_id(m.account_id).one(db).await?.ok_or_else(not_found)?;
    Ok(Row { m, a })
}

/// Groups (visible to this token; never Everyone) of each membership.
pub async fn groups_of<C: ConnectionTrait>(db: &C, client: &Client, membership_ids: &[i64]) -> Result<HashMap<i64, Vec<(i64, String)>>, ScimError> {
    let mut out: HashMap<i64, Vec<(i64, String)>> = HashMap::new();
    if membership_ids.is_empty() {
        return Ok(out);
    }
    let groups: HashMap<i64, String> = group::Entity::find().filter(scope::groups(client)).all(db).await?.into_iter().map(|g| (g.id, g.name)).collect();
    if groups.is_empty() {
        return Ok(out);
    }
    for chunk in membership_ids.chunks(500) {
        let rows = group_member::Entity::find()
            .filter(group_member::Column::MembershipId.is_in(chunk.to_vec()))
            .order_by_asc(group_member::Column::GroupId)
            .all(db)
            .await?;
        for gm in rows {
            if let Some(name) = groups.get(&gm.group_id) {
                out.entry(gm.membership_id).or_default().push((gm.group_id, name.clone()));
            }
        }
    }
    Ok(out)
}

fn user_name(row: &Row) -> String {
    row.m.scim_user_name.clone().unwrap_or_else(|| row.a.email.clone())
}

/// What the provider said (linked) or what the account says (unlinked), without the
/// attributes Gatehouse owns.
fn stored(row: &Row) -> Map<String, Value> {
    if let Some(Ok(Value::Object(o))) = row.m.scim_data.as_deref().map(serde_json::from_str::<Value>) {
        return o;
    }
    let a = &row.a;
    let mut o = Map::new();
    let mut name = Map::new();
    if !a.given_name.is_empty() {
        name.insert("givenName".into(), json!(a.given_name));
    }
    if !a.family_name.is_empty() {
        name.insert("familyName".into(), json!(a.family_name));
    }
    if !a.full_name.is_empty() {
        name.insert("formatted".into(), json!(a.full_name));
        o.insert("displayName".into(), json!(a.full_name));
    }
    if !name.is_empty() {
        o.insert("name".into(), Value::Object(name));
    }
    o.insert("emails".into(), json!([{ "value": a.email, "type": "work", "primary": true }]));
    if row.m.role == Role::Admin {
        o.insert("roles".into(), json!([{ "value": "admin" }]));
    }
    o
}

/// The document without `meta` (what PATCH applies to and the ETag covers).
fn document(client: &Client, row: &Row, groups: &[(i64, String)]) -> Map<String, Value> {
    let mut doc = Map::new();
    doc.insert("id".into(), json!(row.m.id.to_string()));
    if let Some(x) = &row.m.external_id {
        doc.insert("externalId".into(), json!(x));
    }
    doc.insert("userName".into(), json!(user_name(row)));
    for (k, v) in stored(row) {
        doc.insert(k, v);
    }
    // `active` is shown when the provider set it (or the member is deactivated, or the
    // document is derived); a provider that removed it sees it absent, and absent means
    // active.
    if doc.contains_key("active") || row.m.scim_data.is_none() || row.m.status != Status::Active {
        doc.insert("active".into(), json!(row.m.status == Status::Active));
    }
    if !groups.is_empty() {
        doc.insert(
            "groups".into(),
            Value::Array(
                groups
                    .iter()
                    .map(|(id, name)| json!({ "value": id.to_string(), "$ref": format!("{}/Groups/{id}", client.base_url), "display": name, "type": "direct" }))
                    .collect(),
            ),
        );
    }
    let mut schemas = vec![json!(URN_USER)];
    for ext in schema::user().extensions {
        if doc.contains_key(*ext) {
            schemas.push(json!(ext));
        }
    }
    doc.insert("schemas".into(), Value::Array(schemas));
    doc
}

/// The full resource: document + `meta` (with the ETag as `version`).
pub(in crate::server) fn resource(client: &Client, row: &Row, groups: &[(i64, String)]) -> Value {
    let doc = document(client, row, groups);
    let version = etag_of(&Value::Object(doc.clone()).to_string());
    let mut v = Value::Object(doc);
    v["meta"] = json!({
        "resourceType": "User",
        "created": timestamp(row.m.created_at),
        "lastModified": timestamp(row.m.updated_at),
        "location": format!("{}/Users/{}", client.base_url, row.m.id),
        "version": version,
    });
    v
}

fn bool_of(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        // Entra sends "True"/"False".
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Checks a value against its definition and returns what to store: read-only parts
/// dropped, Entra's string booleans made booleans, unknown sub-attributes dropped.
fn conform(attr: &Attr, v: &Value, path: &str) -> Result<Option<Value>, ScimError> {
    if v.is_null() {
        return Ok(None);
    }
    if attr.multi {
        let items: Vec<Value> = match v {
            Value::Array(a) => a.clone(),
            // A single value where a list is expected: taken as a list of one.
            other => vec![other.clone()],
        };
        let mut out = Vec::new();
        for item in &items {
            if let Some(x) = conform_one(attr, item, path)? {
                out.push(x);
            }
        }
        if attr.ty == Type::Complex && out.iter().filter(|e| get_ci(e, "primary").and_then(Value::as_bool) == Some(true)).count() > 1 {
            return Err(ScimError::invalid_value(format!("{path}: only one value may be primary")));
        }
        return Ok(Some(Value::Array(out)));
    }
    conform_one(attr, v, path)
}

fn conform_one(attr: &Attr, v: &Value, path: &str) -> Result<Option<Value>, ScimError> {
    let wrong = |what: &str| ScimError::invalid_value(format!("{path} must be {what}"));
    Ok(Some(match attr.ty {
        Type::String | Type::Reference | Type::Binary | Type::DateTime => match v {
            Value::String(s) if s.len() <= 4096 => v.clone(),
            Value::String(_) => return Err(ScimError::invalid_value(format!("{path} is too long (4096 bytes at most)"))),
            _ => return Err(wrong("a string")),
        },
        Type::Boolean => Value::Bool(bool_of(v).ok_or_else(|| wrong("true or false"))?),
        Type::Integer => match v.as_i64() {
            Some(n) => json!(n),
            None => return Err(wrong("an integer")),
        },
        Type::Decimal => match v {
            Value::Number(_) => v.clone(),
            _ => return Err(wrong("a number")),
        },
        Type::Complex => {
            let Value::Object(o) = v else { return Err(wrong("an object")) };
            let mut out = Map::new();
            for (k, sv) in o {
                let Some(sub) = attr.sub_attr(k) else { continue };
                if matches!(sub.mutability, Mutability::ReadOnly) {
                    continue;
                }
                if let Some(x) = conform(sub, sv, &format!("{path}.{}", sub.name))? {
                    out.insert(sub.name.clone(), x);
                }
            }
            Value::Object(out)
        }
    }))
}

/// What a full User document (POST, PUT, or a PATCH's result) says.
#[derive(Debug, Clone)]
pub struct Input {
    pub user_name: String,
    pub external_id: Option<String>,
    pub active: bool,
    /// `None`: the document has no email (the account keeps a placeholder until one comes).
    pub email: Option<(String, String)>,
    pub given_name: String,
    pub family_name: String,
    pub full_name: String,
    /// `Some` when the document says anything about roles.
    pub role: Option<Role>,
    /// The stored part (no userName, externalId, password, read-only attributes; `active`
    /// only as a record that the provider set it).
    pub rest: Map<String, Value>,
}

fn text_field(v: &Value, name: &str, max: usize) -> Result<String, ScimError> {
    let s = v.as_str().ok_or_else(|| ScimError::invalid_value(format!("{name} must be a string")))?;
    if s.trim().is_empty() {
        return Err(ScimError::invalid_value(format!("{name} must not be empty")));
    }
    if s.len() > max || s.chars().any(char::is_control) {
        return Err(ScimError::invalid_value(format!("{name} must be at most {max} bytes without control characters")));
    }
    Ok(s.to_string())
}

pub fn read(body: &Value, require_schema: bool) -> Result<Input, ScimError> {
    let r: &Resource = schema::user();
    let obj = body.as_object().ok_or_else(|| ScimError::invalid_syntax("the body must be a JSON object"))?;
    if require_schema {
        let ok = obj.get("schemas").and_then(Value::as_array).is_some_and(|s| s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(URN_USER))));
        if !ok {
            return Err(ScimError::invalid_syntax(format!("schemas must include {URN_USER}")));
        }
    }
    let mut user_name = None;
    let mut external_id = None;
    let mut active = true;
    let mut rest = Map::new();
    for (k, v) in obj {
        let key = k.as_str();
        if ["schemas", "id", "meta", "password"].iter().any(|x| x.eq_ignore_ascii_case(key)) {
            continue;
        }
        if key.eq_ignore_ascii_case("userName") {
            user_name = Some(text_field(v, "userName", 256)?);
        } else if key.eq_ignore_ascii_case("externalId") {
            external_id = if v.is_null() { None } else { Some(text_field(v, "externalId", 256)?) };
        } else if key.eq_ignore_ascii_case("active") {
            if !v.is_null() {
                active = bool_of(v).ok_or_else(|| ScimError::invalid_value("active must be true or false"))?;
                rest.insert("active".into(), json!(active));
            }
        } else if let Some((urn, attrs)) = r.extension(key) {
            if v.is_null() {
                continue;
            }
            let Value::Object(inner) = v else { return Err(ScimError::invalid_value(format!("{urn} must be an object"))) };
            let mut out = Map::new();
            for (ik, iv) in inner {
                let Some(attr) = attrs.iter().find(|a| a.name.eq_ignore_ascii_case(ik)) else { continue };
                if matches!(attr.mutability, Mutability::ReadOnly) {
                    continue;
                }
                if let Some(x) = conform(attr, iv, &format!("{urn}:{}", attr.name))? {
                    out.insert(attr.name.clone(), x);
                }
            }
            rest.insert(urn.to_string(), Value::Object(out));
        } else if let Some(res) = r.resolve(None, key) {
            let attr = res.attr;
            // Read-only (groups) and Gatehouse-owned attributes are ignored on input.
            if matches!(attr.mutability, Mutability::ReadOnly) || attr.name == "password" {
                continue;
            }
            if let Some(x) = conform(attr, v, &attr.name)? {
                rest.insert(attr.name.clone(), x);
            }
        }
        // Attributes we don't serve are ignored (Entra sends many by default).
    }
    let mut pruned = Value::Object(rest);
    prune(&mut pruned);
    let rest = match pruned {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    if Value::Object(rest.clone()).to_string().len() > MAX_DOCUMENT_BYTES {
        return Err(ScimError::invalid_value(format!("the user document is larger than {} KiB", MAX_DOCUMENT_BYTES / 1024)));
    }
    let user_name = user_name.ok_or_else(|| ScimError::invalid_value("userName is required"))?;

    // The email: the primary one, else the only one, else a work one, else the first,
    // else userName when it is an email.
    let emails: Vec<&Value> = rest.get("emails").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default();
    let pick = emails
        .iter()
        .find(|e| get_ci(e, "primary").and_then(Value::as_bool) == Some(true))
        .or_else(|| if emails.len() == 1 { emails.first() } else { None })
        .or_else(|| emails.iter().find(|e| get_ci(e, "type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("work"))))
        .or_else(|| emails.first())
        .and_then(|e| get_ci(e, "value"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let email = match pick {
        Some(e) => {
            let n = normalize_email(&e).map_err(|_| ScimError::invalid_value(format!("the primary email “{}” is not a valid email address", clip(&e, 80))))?;
            Some((e.trim().to_string(), n))
        }
        None => normalize_email(&user_name).ok().map(|n| (user_name.trim().to_string(), n)),
    };
    if email.as_ref().is_some_and(|(_, n)| n.ends_with(&format!("@{NO_EMAIL_DOMAIN}"))) {
        return Err(ScimError::invalid_value(format!("{NO_EMAIL_DOMAIN} is reserved")));
    }

    let name = rest.get("name");
    let sub = |k: &str| name.and_then(|n| get_ci(n, k)).and_then(Value::as_str).unwrap_or("").trim().to_string();
    let (given_name, family_name) = (sub("givenName"), sub("familyName"));
    let joined = format!("{given_name} {family_name}").trim().to_string();
    let full_name = if !joined.is_empty() {
        joined
    } else if !sub("formatted").is_empty() {
        sub("formatted")
    } else {
        rest.get("displayName").and_then(Value::as_str).unwrap_or("").trim().to_string()
    };
    let clip_name = |s: String| s.chars().take(200).collect::<String>();

    let ext_role = rest.get(URN_GATEHOUSE_USER).and_then(|e| get_ci(e, "role")).and_then(Value::as_str);
    let role = match (ext_role, rest.get("roles").and_then(Value::as_array)) {
        (Some(r), _) => Some(if r.trim().eq_ignore_ascii_case("admin") { Role::Admin } else { Role::Member }),
        (None, Some(list)) => {
            Some(if list.iter().any(|x| get_ci(x, "value").and_then(Value::as_str).is_some_and(|v| v.trim().eq_ignore_ascii_case("admin"))) {
                Role::Admin
            } else {
                Role::Member
            })
        }
        (None, None) => None,
    };
    Ok(Input {
        user_name,
        external_id,
        active,
        email,
        given_name: clip_name(given_name),
        family_name: clip_name(family_name),
        full_name: clip_name(full_name),
        role,
        rest,
    })
}

/// Is `user_name` taken by another member this token sees?
async fn user_name_taken<C: ConnectionTrait>(db: &C, client: &Client, user_name: &str, except: Option<i64>) -> Result<bool, ScimError> {
    let n = user_name.trim().to_lowercase();
    let mut linked = membership::Entity::find()
        .filter(membership::Column::WorkspaceId.eq(client.workspace_id))
        .filter(membership::Column::ManagedByProviderId.eq(client.provider_id))
        .filter(membership::Column::ScimUserNameNormalized.eq(n.clone()));
    if let Some(id) = except {
        linked = linked.filter(membership::Column::Id.ne(id));
    }
    if linked.count(db).await? > 0 {
        return Ok(true);
    }
    // An unlinked member's userName is its email.
    let Some(acct) = directory::account_by_email(db, client.workspace_id, &n).await? else { return Ok(false) };
    let m = directory::membership_of(db, client.workspace_id, acct.id).await?;
    Ok(m.is_some_and(|m| m.managed_by_provider_id.is_none() && Some(m.id) != except))
}

/// Did this provider's stored document say anything about roles? Once it has, a document
/// without roles means the role was lost (member); a provider that never sends roles
/// leaves roles to the workspace's admins.
fn sent_roles(m: &membership::Model) -> bool {
    m.scim_data
        .as_deref()
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
        .is_some_and(|d| d.get("roles").is_some() || d.get(URN_GATEHOUSE_USER).and_then(|e| get_ci(e, "role")).is_some())
}

/// The workspace's last active admin is not the SCIM client's to deactivate, demote or
/// delete, unless the IdP already decides whether they can sign in: they sign in through
/// this provider (an identity link of it). Otherwise a provider — whose own admin need not
/// be the workspace's — could lock the workspace's owners out. Takes the admin-change lock
/// first, so two concurrent requests can't each remove "the other" admin.
async fn keep_last_admin<C: ConnectionTrait>(db: &C, client: &Client, row: &Row, change: &str) -> Result<(), ScimError> {
    if row.m.role != Role::Admin || row.m.status != Status::Active {
        return Ok(());
    }
    directory::lock_for_admin_change(db, client.workspace_id).await?;
    if directory::active_admin_count(db, client.workspace_id).await? > 1 {
        return Ok(());
    }
    let signs_in_here = external_identity::Entity::find()
        .filter(external_identity::Column::WorkspaceId.eq(client.workspace_id))
        .filter(external_identity::Column::AccountId.eq(row.a.id))
        .filter(external_identity::Column::ProviderKind.eq("saml"))
        .filter(external_identity::Column::ProviderKey.eq(client.provider_public_id.clone()))
        .one(db)
        .await?
        .is_some();
    if signs_in_here {
        return Ok(());
    }
    Err(ScimError::forbidden(format!(
        "{} is the workspace's last active admin and does not sign in through {}, so {change} is refused; make another member an admin in Gatehouse first",
        row.a.email, client.provider_name
    )))
}

/// Applies a document to a membership (linking it to this provider) in `txn`.
async fn apply<C: ConnectionTrait>(txn: &C, now: i64, client: &Client, row: Row, input: &Input) -> Result<Row, ScimError> {
    let role = input.role.or_else(|| sent_roles(&row.m).then_some(Role::Member));
    if !input.active {
        keep_last_admin(txn, client, &row, "deactivating them").await?;
    } else if role.is_some_and(|r| r != Role::Admin) {
        keep_last_admin(txn, client, &row, "demoting them").await?;
    }
    let Row { m, a } = row;
    // The account belongs to this workspace only (docs/design.md), so its email and names
    // are this workspace's to change; no other workspace sees them.
    let mut a = a;
    if let Some((email, normalized)) = input.email.as_ref().filter(|(_, n)| *n != a.email_normalized) {
        if directory::account_by_email(txn, client.workspace_id, normalized).await?.is_some() {
            return Err(ScimError::uniqueness(format!("a member with the email {email} already exists in this workspace")));
        }
        let mut am: account::ActiveModel = a.clone().into();
        am.email = Set(email.clone());
        am.email_normalized = Set(normalized.clone());
        am.updated_at = Set(now);
        a = am.update(txn).await?;
        // Links were made for the old address: a sign-in must match the new one afresh.
        let dropped = directory::drop_identity_links(txn, a.id).await?;
        audit::record(txn, now, Some(client.workspace_id), &client.actor(), "scim.user.email", &a.email_normalized, json!({ "links_dropped": dropped }))
            .await?;
    }
    let names_changed = (a.given_name.as_str(), a.family_name.as_str(), a.full_name.as_str())
        != (input.given_name.as_str(), input.family_name.as_str(), input.full_name.as_str());
    if names_changed {
        let mut am: account::ActiveModel = a.clone().into();
        am.given_name = Set(input.given_name.clone());
        am.family_name = Set(input.family_name.clone());
        am.full_name = Set(input.full_name.clone());
        am.updated_at = Set(now);
        a = am.update(txn).await?;
    }

    // Status first (it maintains Everyone and ends sessions), then the SCIM columns.
    let was_active = m.status == Status::Active;
    let mut m = m;
    if was_active && !input.active {
        let revoked = directory::deactivate_in(txn, now, &m).await?;
        audit::record(
            txn,
            now,
            Some(client.workspace_id),
            &client.actor(),
            "scim.user.deactivate",
            &a.email_normalized,
            json!({ "sessions_revoked": revoked }),
        )
        .await?;
        m = membership::Entity::find_by_id(m.id).one(txn).await?.ok_or_else(ScimError::internal)?;
    } else if !was_active && input.active {
        directory::reactivate_in(txn, now, &m).await?;
        audit::record(txn, now, Some(client.workspace_id), &client.actor(), "scim.user.reactivate", &a.email_normalized, json!({})).await?;
        m = membership::Entity::find_by_id(m.id).one(txn).await?.ok_or_else(ScimError::internal)?;
    }
    let linking = m.managed_by_provider_id != Some(client.provider_id);
    let mut am: membership::ActiveModel = m.clone().into();
    if let Some(role) = role {
        if role != m.role {
            audit::record(txn, now, Some(client.workspace_id), &client.actor(), "scim.user.role", &a.email_normalized, json!({ "role": role })).await?;
            am.role = Set(role);
        }
    }
    am.managed_by_provider_id = Set(Some(client.provider_id));
    am.external_id = Set(input.external_id.clone());
    am.scim_user_name = Set(Some(input.user_name.clone()));
    am.scim_user_name_normalized = Set(Some(input.user_name.trim().to_lowercase()));
    am.scim_data = Set(Some(Value::Object(input.rest.clone()).to_string()));
    am.updated_at = Set(now);
    let m = am.update(txn).await.map_err(|e| {
        if crate::server::db::is_unique_violation(&e) {
            ScimError::uniqueness(format!("userName “{}” is already taken", clip(&input.user_name, 80)))
        } else {
            e.into()
        }
    })?;
    if linking {
        audit::record(txn, now, Some(client.workspace_id), &client.actor(), "scim.user.link", &a.email_normalized, json!({ "membership": m.id })).await?;
    }
    Ok(Row { m, a })
}

async fn respond<C: ConnectionTrait>(db: &C, client: &Client, row: &Row) -> Result<Value, ScimError> {
    let groups = groups_of(db, client, &[row.m.id]).await?;
    Ok(resource(client, row, groups.get(&row.m.id).map(Vec::as_slice).unwrap_or(&[])))
}

/// POST /Users. An existing unlinked member of this workspace with the same email is
/// linked (email is the key). Anybody else is a new account of this workspace, whether or
/// not the same address is known in another one (nothing of that is read or revealed).
pub async fn create(w: Writer<'_>, client: &Client, body: &Value) -> Result<Value, ScimError> {
    let (db, events, now) = (w.db, w.events, w.now);
    let input = read(body, true)?;
    let txn = crate::server::db::write(db).await?;
    let existing = match &input.email {
        Some((_, n)) => directory::account_by_email(&txn, client.workspace_id, n).await?,
        None => None,
    };
    if user_name_taken(&txn, client, &input.user_name, None).await? {
        // Linking an unlinked member whose email is this userName is not a conflict.
        let linkable = match existing.as_ref().filter(|a| a.email_normalized == input.user_name.trim().to_lowercase()) {
            Some(a) => directory::membership_of(&txn, client.workspace_id, a.id).await?.is_some_and(|m| m.managed_by_provider_id.is_none()),
            None => false,
        };
        if !linkable {
            return Err(ScimError::uniqueness(format!("a user with userName “{}” already exists", clip(&input.user_name, 80))));
        }
    }
    let row = match existing {
        Some(a) => match directory::membership_of(&txn, client.workspace_id, a.id).await? {
            Some(m) if m.managed_by_provider_id == Some(client.provider_id) => {
                return Err(ScimError::uniqueness(format!("{} is already provisioned (id {})", a.email, m.id)));
            }
            Some(m) if m.managed_by_provider_id.is_some() => {
                return Err(ScimError::uniqueness(format!("a member with the email {} already exists in this workspace", a.email)));
            }
            Some(m) => Row { m, a },
            None => {
                let m = directory::add_membership(&txn, now, client.workspace_id, a.id, input.role.unwrap_or(Role::Member), None).await?;
                audit::record(&txn, now, Some(client.workspace_id), &client.actor(), "scim.user.create", &a.email_normalized, json!({})).await?;
                Row { m, a }
            }
        },
        None => {
            // No email: a placeholder that can't receive mail or be claimed.
            let (email, normalized) = match &input.email {
                Some(e) => e.clone(),
                None => {
                    let p = format!("{}@{NO_EMAIL_DOMAIN}", &Token::generate().hash()[..20]);
                    (p.clone(), p)
                }
            };
            let a = directory::find_or_create_account(&txn, now, client.workspace_id, &email, &normalized, &input.full_name).await?;
            let m = directory::add_membership(&txn, now, client.workspace_id, a.id, input.role.unwrap_or(Role::Member), None).await?;
            audit::record(&txn, now, Some(client.workspace_id), &client.actor(), "scim.user.create", &a.email_normalized, json!({})).await?;
            Row { m, a }
        }
    };
    let row = apply(&txn, now, client, row, &input).await?;
    let out = respond(&txn, client, &row).await?;
    txn.commit().await?;
    // Members, Groups, who reaches what and (on removal) sessions may all have changed.
    events.publish(db, client.workspace_id, &Topic::ALL).await;
    Ok(out)
}

/// PUT /Users/{id}: the whole document is replaced.
pub async fn replace(w: Writer<'_>, client: &Client, id: &str, body: &Value, if_match: Option<&str>) -> Result<Value, ScimError> {
    let (db, events, now) = (w.db, w.events, w.now);
    let input = read(body, true)?;
    let txn = crate::server::db::write(db).await?;
    let row = find(&txn, client, id).await?;
    check_if_match(if_match, respond(&txn, client, &row).await?["meta"]["version"].as_str().unwrap_or(""))?;
    if let Some(given) = body.get("id").and_then(Value::as_str) {
        if given != id {
            return Err(ScimError::mutability("id can't be changed"));
        }
    }
    if user_name_taken(&txn, client, &input.user_name, Some(row.m.id)).await? {
        return Err(ScimError::uniqueness(format!("a user with userName “{}” already exists", clip(&input.user_name, 80))));
    }
    let row = apply(&txn, now, client, row, &input).await?;
    audit::record(&txn, now, Some(client.workspace_id), &client.actor(), "scim.user.replace", &row.a.email_normalized, json!({})).await?;
    let out = respond(&txn, client, &row).await?;
    txn.commit().await?;
    // Members, Groups, who reaches what and (on removal) sessions may all have changed.
    events.publish(db, client.workspace_id, &Topic::ALL).await;
    Ok(out)
}

/// PATCH /Users/{id}: the operations apply to the current document in memory; the result
/// is checked like a PUT and written in one transaction.
pub async fn modify(w: Writer<'_>, client: &Client, id: &str, body: &Value, if_match: Option<&str>) -> Result<Value, ScimError> {
    let (db, events, now) = (w.db, w.events, w.now);
    let r = schema::user();
    let ops = patch::parse_ops(body, r)?;
    let txn = crate::server::db::write(db).await?;
    let row = find(&txn, client, id).await?;
    let groups = groups_of(&txn, client, &[row.m.id]).await?;
    let current = resource(client, &row, groups.get(&row.m.id).map(Vec::as_slice).unwrap_or(&[]));
    check_if_match(if_match, current["meta"]["version"].as_str().unwrap_or(""))?;
    let mut doc = Value::Object(document(client, &row, &[]));
    for op in &ops {
        patch::apply(&mut doc, r, op)?;
    }
    let input = read(&doc, false)?;
    if user_name_taken(&txn, client, &input.user_name, Some(row.m.id)).await? {
        return Err(ScimError::uniqueness(format!("a user with userName “{}” already exists", clip(&input.user_name, 80))));
    }
    let row = apply(&txn, now, client, row, &input).await?;
    audit::record(&txn, now, Some(client.workspace_id), &client.actor(), "scim.user.patch", &row.a.email_normalized, json!({ "operations": ops.len() }))
        .await?;
    let out = respond(&txn, client, &row).await?;
    txn.commit().await?;
    // Members, Groups, who reaches what and (on removal) sessions may all have changed.
    events.publish(db, client.workspace_id, &Topic::ALL).await;
    Ok(out)
}

/// DELETE /Users/{id}: the membership goes (groups, sessions with it); the account goes
/// too unless another workspace has it.
pub async fn delete(w: Writer<'_>, client: &Client, id: &str, if_match: Option<&str>) -> Result<(), ScimError> {
    let (db, events, now) = (w.db, w.events, w.now);
    let txn = crate::server::db::write(db).await?;
    let row = find(&txn, client, id).await?;
    if if_match.is_some() {
        check_if_match(if_match, respond(&txn, client, &row).await?["meta"]["version"].as_str().unwrap_or(""))?;
    }
    keep_last_admin(&txn, client, &row, "deleting them").await?;
    group_member::Entity::delete_many().filter(group_member::Column::MembershipId.eq(row.m.id)).exec(&txn).await?;
    session::Entity::delete_many()
        .filter(session::Column::AccountId.eq(row.a.id))
        .filter(session::Column::WorkspaceId.eq(client.workspace_id))
        .exec(&txn)
        .await?;
    membership::Entity::delete_by_id(row.m.id).exec(&txn).await?;
    // The account is this workspace's alone; its links go with it (cascade).
    account::Entity::delete_by_id(row.a.id).exec(&txn).await?;
    audit::record(&txn, now, Some(client.workspace_id), &client.actor(), "scim.user.delete", &row.a.email_normalized, json!({})).await?;
    txn.commit().await?;
    // Members, Groups, who reaches what and (on removal) sessions may all have changed.
    events.publish(db, client.workspace_id, &Topic::ALL).await;
    Ok(())
}

/// GET /Users/{id}.
pub async fn get<C: ConnectionTrait>(db: &C, client: &Client, id: &str) -> Result<Value, ScimError> {
    let row = find(db, client, id).await?;
    respond(db, client, &row).await
}

/// GET /Users and POST /Users/.search: `(totalResults, page of resources)`.
pub async fn list<C: ConnectionTrait>(db: &C, client: &Client, q: &Query) -> Result<(usize, Vec<Value>), ScimError> {
    let r = schema::user();
    let page = Page::new(q.start_index, q.count);
    let filter = q.filter.as_deref().map(|f| eval::compile(f, r)).transpose()?;
    let Some(filter) = filter else {
        // No filter: the database pages.
        let total = membership::Entity::find().filter(scope::users(client)).count(db).await? as usize;
        let ms = membership::Entity::find()
            .filter(scope::users(client))
            .order_by_asc(membership::Column::Id)
            .offset(page.offset() as u64)
            .limit(page.count as u64)
            .all(db)
            .await?;
        let rows = with_accounts(db, ms).await?;
        return Ok((total, render(db, client, &rows, q).await?));
    };
    // A filter: narrow by an indexed equality if there is one, then evaluate exactly.
    let mut query = membership::Entity::find().filter(scope::users(client)).order_by_asc(membership::Column::Id);
    match eval::indexed_eq(&filter, &["userName", "externalId", "id"]) {
        Some(("userName", v)) => {
            let v = v.trim().to_lowercase();
            let by_email = directory::account_by_email(db, client.workspace_id, &v).await?.map(|a| a.id).unwrap_or(-1);
            query = query.filter(
                Condition::any()
                    .add(membership::Column::ScimUserNameNormalized.eq(v))
                    .add(Condition::all().add(membership::Column::ScimUserNameNormalized.is_null()).add(membership::Column::AccountId.eq(by_email))),
            );
        }
        Some(("externalId", v)) => query = query.filter(membership::Column::ExternalId.eq(v)),
        Some(("id", v)) => query = query.filter(membership::Column::Id.eq(parse_id(v).unwrap_or(-1))),
        _ => {}
    }
    let rows = with_accounts(db, query.all(db).await?).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.m.id).collect();
    let groups = groups_of(db, client, &ids).await?;
    let matched: Vec<Value> = rows
        .iter()
        .map(|row| resource(client, row, groups.get(&row.m.id).map(Vec::as_slice).unwrap_or(&[])))
        .filter(|doc| eval::matches(&filter, r, doc))
        .collect();
    let total = matched.len();
    let out = matched.into_iter().skip(page.offset()).take(page.count).map(|d| project(d, r, q)).collect();
    Ok((total, out))
}

async fn render<C: ConnectionTrait>(db: &C, client: &Client, rows: &[Row], q: &Query) -> Result<Vec<Value>, ScimError> {
    let ids: Vec<i64> = rows.iter().map(|r| r.m.id).collect();
    let groups = groups_of(db, client, &ids).await?;
    Ok(rows.iter().map(|row| project(resource(client, row, groups.get(&row.m.id).map(Vec::as_slice).unwrap_or(&[])), schema::user(), q)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_a_document_finds_email_names_and_role() {
        let i = read(
            &json!({
                "schemas": [URN_USER],
                "userName": "ADA@x.com",
                "name": { "givenName": "Ada", "familyName": "Lovelace" },
                "emails": [{ "value": "home@y.com", "type": "home" }, { "value": "Ada@X.com", "type": "work", "primary": true }],
                "password": "hunter2",
                "groups": [{ "value": "1" }],
                "roles": [{ "value": "Admin" }],
                "active": "False",
                "shoeSize": 44,
            }),
            true,
        )
        .expect("valid");
        assert_eq!((i.email.clone(), i.full_name.as_str()), (Some(("Ada@X.com".to_string(), "ada@x.com".to_string())), "Ada Lovelace"));
        assert_eq!((i.role, i.active), (Some(Role::Admin), false));
        assert!(!i.rest.contains_key("password") && !i.rest.contains_key("groups") && !i.rest.contains_key("shoeSize"));
        assert!(!i.rest.contains_key("userName"), "owned by a column");
        assert_eq!(i.rest.get("active"), Some(&json!(false)), "Entra's string boolean, stored as a boolean");

        let ext =
            read(&json!({ "schemas": [URN_USER], "userName": "b@x.com", URN_GATEHOUSE_USER: { "role": "member" }, "roles": [{ "value": "admin" }] }), true)
                .expect("ok");
        assert_eq!(ext.role, Some(Role::Member), "our extension wins over roles");
        assert_eq!(read(&json!({ "schemas": [URN_USER], "userName": "c@x.com" }), true).expect("ok").role, None, "silent on roles: unchanged");
    }

    #[test]
    fn bad_documents_are_refused_with_a_reason() {
        let e = |v: Value| read(&v, true).err().map(|e| (e.status, e.scim_type, e.detail));
        assert!(e(json!({ "userName": "a@x.com" })).is_some_and(|x| x.1 == Some("invalidSyntax")), "schemas");
        assert!(e(json!({ "schemas": [URN_USER] })).is_some_and(|x| x.2.contains("userName")));
        assert!(e(json!({ "schemas": [URN_USER], "userName": "a@x.com", "emails": [{ "value": "not-an-email" }] })).is_some_and(|x| x.2.contains("email")));
        assert_eq!(read(&json!({ "schemas": [URN_USER], "userName": "jdoe" }), true).map(|i| i.email).ok(), Some(None), "no email: allowed, placeholder later");
        assert!(e(json!({ "schemas": [URN_USER], "userName": "a@x.com", "active": "maybe" })).is_some());
        assert!(e(json!({ "schemas": [URN_USER], "userName": "a@x.com", "emails": [{ "value": 5 }] })).is_some());
        assert!(e(json!({ "schemas": [URN_USER], "userName": "a@x.com", "emails": [{ "value": "a@x.com", "primary": true }, { "value": "b@x.com", "primary": true }] })).is_some());
        assert!(e(json!({ "schemas": [URN_USER], "userName": "a@x.com", "name": "Ada" })).is_some());
        assert!(e(json!([1, 2])).is_some());
    }

    #[test]
    fn pruning_drops_what_was_removed() {
        let mut v = json!({ "a": {}, "b": [], "c": null, "d": { "e": {} }, "f": [{}, 1], "g": "x" });
        prune(&mut v);
        assert_eq!(v, json!({ "f": [1], "g": "x" }));
    }
}
