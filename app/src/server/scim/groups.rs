//! `/Groups`: workspace groups as SCIM Groups (Okta's and Entra's Group Push).
//!
//! Membership changes touch only the rows they name: adding one member to a group of
//! 20,000 is one insert and one version bump, never a read of the group. Members must be
//! users this token can see; an unknown id fails the whole request with its name. The
//! built-in Everyone group is never listed, created, renamed or linked here. Members'
//! `display` is not stored (it is read-only in our schema), so it is never returned.
use std::collections::{BTreeSet, HashSet};

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::{json, Value};

use super::eval::{self, get_ci};
use super::filter::{CompareOp, Filter, Value as Literal};
use super::patch::OpKind;
use super::projection::project;
use super::schema::{self, URN_GROUP};
use super::scope::{self, parse_id};
use super::{check_if_match, clip, timestamp, Client, Page, Query, ScimError, Writer};
use crate::server::access::Change;
use crate::server::audit;
use crate::server::directory::EVERYONE;
use crate::server::entities::{group, group_member, membership};
use crate::server::events::Topic;
use crate::server::webhooks::{self, Kind};

async fn find<C: ConnectionTrait>(db: &C, client: &Client, id: &str) -> Result<group::Model, ScimError> {
    let n = parse_id(id).ok_or_else(|| ScimError::not_found("Group", id))?;
    group::Entity::find_by_id(n).filter(scope::groups(client)).one(db).await?.ok_or_else(|| ScimError::not_found("Group", id))
}

/// Members of the workspace linked to other providers: invisible to this token.
async fn hidden<C: ConnectionTrait>(db: &C, client: &Client) -> Result<HashSet<i64>, ScimError> {
    let ids: Vec<i64> = membership::Entity::find()
        .select_only()
        .column(membership::Column::Id)
        .filter(membership::Column::WorkspaceId.eq(client.workspace_id))
        .filter(membership::Column::ManagedByProviderId.is_not_null())
        .filter(membership::Column::ManagedByProviderId.ne(client.provider_id))
        .into_tuple()
        .all(db)
        .await?;
    Ok(ids.into_iter().collect())
}

async fn member_ids<C: ConnectionTrait>(db: &C, client: &Client, group_id: i64) -> Result<Vec<i64>, ScimError> {
    let hidden = hidden(db, client).await?;
    member_ids_except(db, &hidden, group_id).await
}

async fn member_ids_except<C: ConnectionTrait>(db: &C, hidden: &HashSet<i64>, group_id: i64) -> Result<Vec<i64>, ScimError> {
    let ids: Vec<i64> = group_member::Entity::find()
        .select_only()
        .column(group_member::Column::MembershipId)
        .filter(group_member::Column::GroupId.eq(group_id))
        .order_by_asc(group_member::Column::MembershipId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(ids.into_iter().filter(|id| !hidden.contains(id)).collect())
}

fn etag(g: &group::Model) -> String {
    format!("W/\"g{}-{}\"", g.id, g.version)
}

pub(in crate::server) fn resource(client: &Client, g: &group::Model, members: Option<&[i64]>) -> Value {
    let mut v = json!({
        "schemas": [URN_GROUP],
        "id": g.id.to_string(),
        "displayName": g.name,
        "meta": {
            "resourceType": "Group",
            "created": timestamp(g.created_at),
            "lastModified": timestamp(g.updated_at),
            "location": format!("{}/Groups/{}", client.base_url, g.id),
            "version": etag(g),
        },
    });
    if let Some(x) = &g.external_id {
        v["externalId"] = json!(x);
    }
    if let Some(ms) = members.filter(|m| !m.is_empty()) {
        v["members"] =
            Value::Array(ms.iter().map(|id| json!({ "value": id.to_string(), "$ref": format!("{}/Users/{id}", client.base_url), "type": "User" })).collect());
    }
    v
}

fn wants_members(q: &Query) -> bool {
    let named = |list: &[String]| {
        list.iter().any(|a| {
            a.eq_ignore_ascii_case("members") || a.to_ascii_lowercase().starts_with("members.") || a.eq_ignore_ascii_case(&format!("{URN_GROUP}:members"))
        })
    };
    if !q.attributes.is_empty() {
        return named(&q.attributes);
    }
    !named(&q.excluded_attributes)
}

async fn render<C: ConnectionTrait>(db: &C, client: &Client, g: &group::Model, q: &Query) -> Result<Value, ScimError> {
    let hidden = hidden(db, client).await?;
    render_with(db, client, &hidden, g, q).await
}

async fn render_with<C: ConnectionTrait>(db: &C, client: &Client, hidden: &HashSet<i64>, g: &group::Model, q: &Query) -> Result<Value, ScimError> {
    let members = if wants_members(q) { Some(member_ids_except(db, hidden, g.id).await?) } else { None };
    Ok(project(resource(client, g, members.as_deref()), schema::group(), q))
}

pub async fn get<C: ConnectionTrait>(db: &C, client: &Client, id: &str, q: &Query) -> Result<Value, ScimError> {
    let g = find(db, client, id).await?;
    render(db, client, &g, q).await
}

fn display_name(v: &Value) -> Result<String, ScimError> {
    let s = v.as_str().ok_or_else(|| ScimError::invalid_value("displayName must be a string"))?;
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 200 || s.chars().any(char::is_control) {
        return Err(ScimError::invalid_value("displayName must be 1–200 characters without control characters"));
    }
    if s.eq_ignore_ascii_case(EVERYONE) {
        return Err(ScimError::uniqueness(format!(
            "“{EVERYONE}” is Gatehouse's built-in group of every active member; it can't be provisioned. Rename the group in your identity provider."
        )));
    }
    Ok(s.to_string())
}

fn external_id(v: &Value) -> Result<Option<String>, ScimError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if !s.trim().is_empty() && s.len() <= 256 && !s.chars().any(char::is_control) => Ok(Some(s.clone())),
        _ => Err(ScimError::invalid_value("externalId must be a non-empty string of at most 256 bytes")),
    }
}

/// Member ids from a `members` value (a list of `{value}` objects, or one), each a user
/// this token sees. Unknown ids fail the request, all of them named.
async fn member_values<C: ConnectionTrait>(db: &C, client: &Client, v: &Value) -> Result<Vec<i64>, ScimError> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => vec![],
        other => vec![other],
    };
    if items.len() > 10_000 {
        return Err(ScimError::too_many("at most 10,000 members per request"));
    }
    let mut wanted = Vec::new();
    let mut unknown = Vec::new();
    for item in items {
        let value = get_ci(item, "value").and_then(Value::as_str).ok_or_else(|| ScimError::invalid_value("each member needs a value (the user's id)"))?;
        if let Some(t) = get_ci(item, "type").and_then(Value::as_str) {
            if !t.eq_ignore_ascii_case("User") {
                return Err(ScimError::invalid_value(format!("member {}: Gatehouse groups hold users only (type “{}”)", clip(value, 40), clip(t, 20))));
            }
        }
        match parse_id(value) {
            Some(n) => wanted.push((n, value.to_string())),
            None => unknown.push(value.to_string()),
        }
    }
    let mut found: HashSet<i64> = HashSet::new();
    for chunk in wanted.chunks(500) {
        let ids: Vec<i64> = membership::Entity::find()
            .select_only()
            .column(membership::Column::Id)
            .filter(scope::users(client))
            // Deactivated members belong to no group (reactivation restores Everyone only).
            .filter(membership::Column::Status.eq(crate::server::permissions::Status::Active))
            .filter(membership::Column::Id.is_in(chunk.iter().map(|(n, _)| *n).collect::<Vec<_>>()))
            .into_tuple()
            .all(db)
            .await?;
        found.extend(ids);
    }
    unknown.extend(wanted.iter().filter(|(n, _)| !found.contains(n)).map(|(_, s)| s.clone()));
    if !unknown.is_empty() {
        let shown: Vec<String> = unknown.iter().take(10).map(|s| format!("“{}”", clip(s, 40))).collect();
        let more = if unknown.len() > 10 { format!(" and {} more", unknown.len() - 10) } else { String::new() };
        return Err(ScimError::invalid_value(format!("no such active user: {}{more}; nothing was changed", shown.join(", "))));
    }
    let mut seen = BTreeSet::new();
    Ok(wanted.into_iter().map(|(n, _)| n).filter(|n| seen.insert(*n)).collect())
}

async fn add_members<C: ConnectionTrait>(db: &C, now: i64, group_id: i64, ids: &[i64]) -> Result<(), DbErr> {
    for chunk in ids.chunks(200) {
        let rows: Vec<group_member::ActiveModel> =
            chunk.iter().map(|m| group_member::ActiveModel { group_id: Set(group_id), membership_id: Set(*m), created_at: Set(now) }).collect();
        group_member::Entity::insert_many(rows)
            .on_conflict(OnConflict::columns([group_member::Column::GroupId, group_member::Column::MembershipId]).do_nothing().to_owned())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

async fn remove_members<C: ConnectionTrait>(db: &C, group_id: i64, ids: &[i64]) -> Result<(), DbErr> {
    for chunk in ids.chunks(500) {
        group_member::Entity::delete_many()
            .filter(group_member::Column::GroupId.eq(group_id))
            .filter(group_member::Column::MembershipId.is_in(chunk.to_vec()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Makes the visible members exactly `ids` (members hidden from this token stay).
async fn set_members<C: ConnectionTrait>(db: &C, client: &Client, now: i64, group_id: i64, ids: &[i64]) -> Result<(), ScimError> {
    let current: HashSet<i64> = member_ids(db, client, group_id).await?.into_iter().collect();
    let want: HashSet<i64> = ids.iter().copied().collect();
    let gone: Vec<i64> = current.difference(&want).copied().collect();
    let new: Vec<i64> = ids.iter().copied().filter(|i| !current.contains(i)).collect();
    remove_members(db, group_id, &gone).await?;
    add_members(db, now, group_id, &new).await?;
    Ok(())
}

fn name_taken(name: &str) -> ScimError {
    ScimError::uniqueness(format!("a group named “{}” already exists in this workspace", clip(name, 80)))
}

/// Bumps the version and links the group to this provider, optionally renaming it.
async fn touch<C: ConnectionTrait>(
    db: &C,
    now: i64,
    client: &Client,
    g: &group::Model,
    name: Option<&str>,
    external: Option<Option<String>>,
) -> Result<group::Model, ScimError> {
    let mut am: group::ActiveModel = g.clone().into();
    if let Some(n) = name {
        am.name = Set(n.to_string());
        am.name_normalized = Set(n.to_lowercase());
    }
    if let Some(x) = external {
        am.external_id = Set(x);
    }
    am.managed_by_provider_id = Set(Some(client.provider_id));
    am.version = Set(g.version + 1);
    am.updated_at = Set(now);
    am.update(db).await.map_err(|e| if crate::server::db::is_unique_violation(&e) { name_taken(name.unwrap_or(&g.name)) } else { e.into() })
}

struct GroupInput {
    name: String,
    external_id: Option<String>,
    members: Vec<i64>,
}

async fn read<C: ConnectionTrait>(db: &C, client: &Client, body: &Value) -> Result<GroupInput, ScimError> {
    let obj = body.as_object().ok_or_else(|| ScimError::invalid_syntax("the body must be a JSON object"))?;
    let ok = obj.get("schemas").and_then(Value::as_array).is_some_and(|s| s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(URN_GROUP))));
    if !ok {
        return Err(ScimError::invalid_syntax(format!("schemas must include {URN_GROUP}")));
    }
    let name = display_name(get_ci(body, "displayName").ok_or_else(|| ScimError::invalid_value("displayName is required"))?)?;
    let external_id = external_id(get_ci(body, "externalId").unwrap_or(&Value::Null))?;
    let members = member_values(db, client, get_ci(body, "members").unwrap_or(&Value::Null)).await?;
    Ok(GroupInput { name, external_id, members })
}

/// POST /Groups.
pub async fn create(w: Writer<'_>, client: &Client, body: &Value) -> Result<Value, ScimError> {
    let (db, events, now) = (w.db, w.events, w.now);
    let txn = crate::server::db::write(db).await?;
    let input = read(&txn, client, body).await?;
    let g = crate::server::directory::insert_group(&txn, now, client.workspace_id, &input.name, input.external_id.clone(), Some(client.provider_id))
        .await
        .map_err(|e| if crate::server::db::is_unique_violation(&e) { name_taken(&input.name) } else { ScimError::from(e) })?;
    add_members(&txn, now, g.id, &input.members).await?;
    audit::record(&txn, now, Some(client.workspace_id), &client.actor(), "scim.group.create", &g.name, json!({ "members": input.members.len() })).await?;
    webhooks::group_event(&txn, now, client.workspace_id, Kind::GroupCreated, g.id, &g.name, json!({ "members": capped(&input.members) })).await?;
    let out = resource(client, &g, Some(&input.members));
    txn.commit().await?;
    // Members, Groups, who reaches what and (on removal) sessions may all have changed.
    events.publish(db, client.workspace_id, &Topic::ALL).await;
    Ok(out)
}

/// PUT /Groups/{id}.
pub async fn replace(w: Writer<'_>, client: &Client, id: &str, body: &Value, if_match: Option<&str>) -> Result<Value, ScimError> {
    let (db, events, now) = (w.db, w.events, w.now);
    let txn = crate::server::db::write(db).await?;
    let g = find(&txn, client, id).await?;
    check_if_match(if_match, &etag(&g))?;
    let input = read(&txn, client, body).await?;
    let before = Moves::start(&txn, &g).await?;
    set_members(&txn, client, now, g.id, &input.members).await?;
    let g = touch(&txn, now, client, &g, Some(&input.name), Some(input.external_id.clone())).await?;
    Moves::finish(before, &txn, now, client, &g).await?;
    audit::record(&txn, now, Some(client.workspace_id), &client.actor(), "scim.group.replace", &g.name, json!({ "members": input.members.len() })).await?;
    let members = member_ids(&txn, client, g.id).await?;
    let out = resource(client, &g, Some(&members));
    txn.commit().await?;
    // Members, Groups, who reaches what and (on removal) sessions may all have changed.
    events.publish(db, client.workspace_id, &Topic::ALL).await;
    Ok(out)
}

/// Of `ids`, the members this token may see (removals never touch the others).
async fn visible_only<C: ConnectionTrait>(db: &C, client: &Client, ids: &[i64]) -> Result<Vec<i64>, ScimError> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let found: Vec<i64> = membership::Entity::find()
            .select_only()
            .column(membership::Column::Id)
            .filter(scope::users(client))
            .filter(membership::Column::Id.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db)
            .await?;
        out.extend(found);
    }
    Ok(out)
}

/// The ids a `members[...]` filter selects among the current members.
async fn filtered_members<C: ConnectionTrait>(db: &C, client: &Client, group_id: i64, f: &Filter) -> Result<Vec<i64>, ScimError> {
    let members_attr = schema::group().resolve(None, "members").map(|r| r.attr).ok_or_else(ScimError::internal)?;
    eval::validate_element(f, members_attr).map_err(|e| ScimError::invalid_path(e.detail))?;
    // The common case (Okta): `value eq "id"` needs no read of the group.
    if let Filter::Compare(p, CompareOp::Eq, Literal::Str(v)) = f {
        if p.name.eq_ignore_ascii_case("value") {
            let ids: Vec<i64> = parse_id(v).into_iter().collect();
            return visible_only(db, client, &ids).await;
        }
    }
    let current = member_ids(db, client, group_id).await?;
    Ok(current
        .into_iter()
        .filter(|id| {
            let el = json!({ "value": id.to_string(), "$ref": format!("{}/Users/{id}", client.base_url), "type": "User" });
            eval::element_matches(f, members_attr, &el)
        })
        .collect())
}

/// PATCH /Groups/{id}: every operation in one transaction; `None` = 204 No Content.
pub async fn modify(w: Writer<'_>, client: &Client, id: &str, body: &Value, if_match: Option<&str>, q: &Query) -> Result<Option<Value>, ScimError> {
    let (db, events, now) = (w.db, w.events, w.now);
    let r = schema::group();
    let ops = super::patch::parse_ops(body, r)?;
    let txn = crate::server::db::write(db).await?;
    let g = find(&txn, client, id).await?;
    check_if_match(if_match, &etag(&g))?;
    let before = Moves::start(&txn, &g).await?;
    let mut name: Option<String> = None;
    let mut external: Option<Option<String>> = None;
    let (mut added, mut removed) = (0usize, 0usize);
    for (i, op) in ops.iter().enumerate() {
        let n = i + 1;
        // Path-less operations name attributes in the value; split them into pathed ones.
        let targets: Vec<(String, Option<Filter>, Option<Value>)> = match &op.path {
            None => {
                let Some(Value::Object(o)) = &op.value else { return Err(ScimError::invalid_value(format!("operation {n}: value must be an object"))) };
                let mut t = Vec::new();
                for (k, v) in o {
                    let key = k.rsplit_once(&format!("{URN_GROUP}:")).map(|(_, a)| a.to_string()).unwrap_or_else(|| k.clone());
                    if key.eq_ignore_ascii_case("schemas") || key.eq_ignore_ascii_case("meta") {
                        continue;
                    }
                    if key.eq_ignore_ascii_case("id") {
                        if v.as_str() != Some(id) {
                            return Err(ScimError::mutability("id can't be changed"));
                        }
                        continue;
                    }
                    t.push((key, None, Some(v.clone())));
                }
                t
            }
            Some(p) => {
                if p.attr.urn.as_deref().is_some_and(|u| !u.eq_ignore_ascii_case(URN_GROUP)) || p.attr.sub.is_some() || p.sub_after_filter.is_some() {
                    return Err(ScimError::invalid_path(format!("operation {n}: Group has no attribute “{}”", op.path_text.as_deref().unwrap_or(""))));
                }
                vec![(p.attr.name.clone(), p.filter.clone(), op.value.clone())]
            }
        };
        for (attr, filter, value) in targets {
            match (attr.to_ascii_lowercase().as_str(), op.kind, filter) {
                ("displayname", OpKind::Add | OpKind::Replace, None) => name = Some(display_name(value.as_ref().unwrap_or(&Value::Null))?),
                ("displayname", OpKind::Remove, _) => return Err(ScimError::invalid_value(format!("operation {n}: displayName is required"))),
                ("externalid", OpKind::Add | OpKind::Replace, None) => external = Some(external_id(value.as_ref().unwrap_or(&Value::Null))?),
                ("externalid", OpKind::Remove, None) => external = Some(None),
                ("members", OpKind::Add, None) => {
                    let ids = member_values(&txn, client, value.as_ref().unwrap_or(&Value::Null)).await?;
                    added += ids.len();
                    add_members(&txn, now, g.id, &ids).await?;
                }
                ("members", OpKind::Replace, None) => {
                    let ids = member_values(&txn, client, value.as_ref().unwrap_or(&Value::Null)).await?;
                    added += ids.len();
                    set_members(&txn, client, now, g.id, &ids).await?;
                }
                ("members", OpKind::Remove, None) => match value {
                    // Entra: remove only the members listed in value.
                    Some(v) => {
                        let ids = visible_only(&txn, client, &member_ids_in(&v)).await?;
                        removed += ids.len();
                        remove_members(&txn, g.id, &ids).await?;
                    }
                    None => {
                        let all = member_ids(&txn, client, g.id).await?;
                        removed += all.len();
                        remove_members(&txn, g.id, &all).await?;
                    }
                },
                ("members", OpKind::Remove, Some(f)) => {
                    let ids = filtered_members(&txn, client, g.id, &f).await?;
                    removed += ids.len();
                    remove_members(&txn, g.id, &ids).await?;
                }
                ("members", _, Some(_)) => {
                    return Err(ScimError::invalid_path(format!("operation {n}: add members with path “members”; a filter only selects members to remove")));
                }
                ("id" | "meta", _, _) => return Err(ScimError::mutability(format!("operation {n}: {attr} is read-only"))),
                _ => return Err(ScimError::invalid_path(format!("operation {n}: Group has no attribute “{}”", clip(&attr, 80)))),
            }
        }
    }
    let g = touch(&txn, now, client, &g, name.as_deref(), external).await?;
    Moves::finish(before, &txn, now, client, &g).await?;
    audit::record(
        &txn,
        now,
        Some(client.workspace_id),
        &client.actor(),
        "scim.group.patch",
        &g.name,
        json!({ "operations": ops.len(), "members_added": added, "members_removed": removed }),
    )
    .await?;
    let out = if q.attributes.is_empty() && q.excluded_attributes.is_empty() { None } else { Some(render(&txn, client, &g, q).await?) };
    txn.commit().await?;
    // Members, Groups, who reaches what and (on removal) sessions may all have changed.
    events.publish(db, client.workspace_id, &Topic::ALL).await;
    Ok(out)
}

/// At most [`webhooks::ACCESS_ROWS`] ids, for an event.
fn capped(ids: &[i64]) -> &[i64] {
    &ids[..ids.len().min(webhooks::ACCESS_ROWS)]
}

/// A group's members and name when a request began, to report what it changed: whom it
/// added and removed (and who gained or lost access by it), and a rename.
struct Moves {
    name: String,
    members: std::collections::BTreeSet<i64>,
}

impl Moves {
    async fn all_members<C: ConnectionTrait>(db: &C, group_id: i64) -> Result<std::collections::BTreeSet<i64>, ScimError> {
        let ids: Vec<i64> = group_member::Entity::find()
            .select_only()
            .column(group_member::Column::MembershipId)
            .filter(group_member::Column::GroupId.eq(group_id))
            .into_tuple()
            .all(db)
            .await?;
        Ok(ids.into_iter().collect())
    }

    /// `None` when no endpoint of the workspace wants to hear of it (nothing is read).
    async fn start<C: ConnectionTrait>(db: &C, g: &group::Model) -> Result<Option<Moves>, ScimError> {
        if !webhooks::wanted(db, g.workspace_id, &[Kind::GroupChanged, Kind::AccessChanged]).await? {
            return Ok(None);
        }
        Ok(Some(Moves { name: g.name.clone(), members: Self::all_members(db, g.id).await? }))
    }

    /// Queues `access.changed` and `group.changed` for what the request did to `g`.
    async fn finish<C: ConnectionTrait>(this: Option<Self>, db: &C, now: i64, client: &Client, g: &group::Model) -> Result<(), ScimError> {
        let Some(this) = this else { return Ok(()) };
        let after = Self::all_members(db, g.id).await?;
        let added: Vec<i64> = after.difference(&this.members).copied().collect();
        let removed: Vec<i64> = this.members.difference(&after).copied().collect();
        if !added.is_empty() || !removed.is_empty() {
            let change = Change::MembersMoved { group: g.id, added: added.clone(), removed: removed.clone() };
            crate::server::access::announce(db, now, client.workspace_id, &change, "group_members_changed").await?;
        }
        let mut data = serde_json::Map::new();
        if !added.is_empty() {
            data.insert("members_added".into(), json!(capped(&added)));
        }
        if !removed.is_empty() {
            data.insert("members_removed".into(), json!(capped(&removed)));
        }
        if this.name != g.name {
            data.insert("renamed_from".into(), json!(this.name));
        }
        if !data.is_empty() {
            webhooks::group_event(db, now, client.workspace_id, Kind::GroupChanged, g.id, &g.name, Value::Object(data)).await?;
        }
        Ok(())
    }
}

/// Ids named in an Entra-style `members` value; values that aren't ids match nobody.
fn member_ids_in(v: &Value) -> Vec<i64> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    items.into_iter().filter_map(|i| get_ci(i, "value").and_then(Value::as_str)).filter_map(parse_id).collect()
}

/// DELETE /Groups/{id}: the group, its memberships and its grants.
pub async fn delete(w: Writer<'_>, client: &Client, id: &str, if_match: Option<&str>) -> Result<(), ScimError> {
    let (db, events, now) = (w.db, w.events, w.now);
    let txn = crate::server::db::write(db).await?;
    let g = find(&txn, client, id).await?;
    check_if_match(if_match, &etag(&g))?;
    crate::server::access::announce(&txn, now, client.workspace_id, &Change::DeleteGroup { group: g.id }, "group_deleted").await?;
    group_member::Entity::delete_many().filter(group_member::Column::GroupId.eq(g.id)).exec(&txn).await?;
    group::Entity::delete_by_id(g.id).exec(&txn).await?;
    audit::record(&txn, now, Some(client.workspace_id), &client.actor(), "scim.group.delete", &g.name, json!({})).await?;
    webhooks::group_event(&txn, now, client.workspace_id, Kind::GroupDeleted, g.id, &g.name, json!({})).await?;
    txn.commit().await?;
    // Members, Groups, who reaches what and (on removal) sessions may all have changed.
    events.publish(db, client.workspace_id, &Topic::ALL).await;
    Ok(())
}

/// GET /Groups and POST /Groups/.search.
pub async fn list<C: ConnectionTrait>(db: &C, client: &Client, q: &Query) -> Result<(usize, Vec<Value>), ScimError> {
    let r = schema::group();
    let page = Page::new(q.start_index, q.count);
    let filter = q.filter.as_deref().map(|f| eval::compile(f, r)).transpose()?;
    let mut query = group::Entity::find().filter(scope::groups(client)).order_by_asc(group::Column::Id);
    let hidden = hidden(db, client).await?;
    let Some(filter) = filter else {
        let total = group::Entity::find().filter(scope::groups(client)).count(db).await? as usize;
        let gs = query.offset(page.offset() as u64).limit(page.count as u64).all(db).await?;
        let mut out = Vec::with_capacity(gs.len());
        for g in &gs {
            out.push(render_with(db, client, &hidden, g, q).await?);
        }
        return Ok((total, out));
    };
    match eval::indexed_eq(&filter, &["displayName", "externalId", "id"]) {
        Some(("displayName", v)) => query = query.filter(group::Column::NameNormalized.eq(v.trim().to_lowercase())),
        Some(("externalId", v)) => query = query.filter(group::Column::ExternalId.eq(v)),
        Some(("id", v)) => query = query.filter(group::Column::Id.eq(parse_id(v).unwrap_or(-1))),
        _ => {}
    }
    let gs = query.all(db).await?;
    // Members are read only when the filter looks at them.
    let needs_members = filter_mentions_members(&filter);
    let mut matched = Vec::new();
    for g in &gs {
        let members = if needs_members { Some(member_ids_except(db, &hidden, g.id).await?) } else { None };
        if eval::matches(&filter, r, &resource(client, g, members.as_deref())) {
            matched.push(g);
        }
    }
    let total = matched.len();
    let mut out = Vec::new();
    for g in matched.into_iter().skip(page.offset()).take(page.count) {
        out.push(render_with(db, client, &hidden, g, q).await?);
    }
    Ok((total, out))
}

fn filter_mentions_members(f: &Filter) -> bool {
    match f {
        Filter::Compare(p, _, _) | Filter::Present(p) | Filter::ValuePath(p, _) => p.name.eq_ignore_ascii_case("members"),
        Filter::And(a, b) | Filter::Or(a, b) => filter_mentions_members(a) || filter_mentions_members(b),
        Filter::Not(a) => filter_mentions_members(a),
    }
}
