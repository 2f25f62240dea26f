//! Collections and datasource connections (standing for the product's content), and the
//! grants that give groups `view` or `edit` on them. Creating, renaming and deleting take
//! a [`ResourceWriter`] (an admin, or an API key with `resources:write`); grants take an
//! [`AdminCap`]. Every change is audited.
use std::collections::HashMap;

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;

use super::access::Level;
use super::audit;
use super::entities::{grant, group, resource};
use super::events::{Events, Topic};
use super::permissions::{AdminCap, ResourceWriter};
use super::DomainError;
use crate::server::entities::Record;

pub const KINDS: [(&str, &str); 2] = [("collection", "Collection"), ("datasource", "Datasource connection")];

fn validate(kind: &str, name: &str, description: &str) -> Result<(String, String, String), DomainError> {
    if !KINDS.iter().any(|(k, _)| *k == kind) {
        return Err(DomainError::Invalid("Choose a collection or a datasource connection.".into()));
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
        return Err(DomainError::Invalid("A name is 1–120 characters.".into()));
    }
    let description = description.trim();
    if description.chars().count() > 500 {
        return Err(DomainError::Invalid("A description is at most 500 characters.".into()));
    }
    Ok((kind.to_string(), name.to_string(), description.to_string()))
}

pub async fn list<C: ConnectionTrait>(db: &C, workspace_id: i64) -> Result<Vec<crate::model::Resource>, DomainError> {
    Ok(resource::Entity::find()
        .filter(resource::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(resource::Column::Kind)
        .order_by_asc(resource::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(Record::record)
        .collect())
}

/// A resource as a page shows it, at `level` (empty on the admins' list).
pub fn view(r: crate::model::Resource, level: &str) -> crate::model::ResourceView {
    let kind_label = KINDS.iter().find(|(k, _)| *k == r.kind).map(|(_, l)| l.to_string()).unwrap_or_default();
    crate::model::ResourceView { id: r.id, kind: r.kind, kind_label, name: r.name, description: r.description, level: level.to_string() }
}

async fn get<C: ConnectionTrait>(db: &C, workspace_id: i64, id: i64) -> Result<resource::Model, DomainError> {
    resource::Entity::find_by_id(id).filter(resource::Column::WorkspaceId.eq(workspace_id)).one(db).await?.ok_or(DomainError::NotFound)
}

/// What a new resource is: its kind (`collection` or `datasource`), name and description.
#[derive(Debug, Clone, Copy)]
pub struct NewResource<'a> {
    pub kind: &'a str,
    pub name: &'a str,
    pub description: &'a str,
}

/// Makes a resource, unless the workspace already holds `max` of them (the operator's
/// `GATEHOUSE_MAX_RESOURCES_PER_WORKSPACE`): one workspace's admin or API key can't
/// fill the database every workspace shares. Counted inside the write transaction, so
/// concurrent creates can't pass the limit together.
pub async fn create(
    db: &DatabaseConnection,
    events: &Events,
    now: i64,
    cap: impl Into<ResourceWriter>,
    max: u64,
    new: NewResource<'_>,
) -> Result<crate::model::Resource, DomainError> {
    let cap: ResourceWriter = cap.into();
    let (kind, name, description) = validate(new.kind, new.name, new.description)?;
    let txn = crate::server::db::write(db).await?;
    crate::server::db::lock_workspace(&txn, cap.workspace_id()).await?;
    let held = resource::Entity::find().filter(resource::Column::WorkspaceId.eq(cap.workspace_id())).count(&txn).await?;
    if held >= max {
        return Err(DomainError::Refused(format!("This workspace holds {held} resources, the most this server allows; delete some first.")));
    }
    let r = resource::ActiveModel {
        workspace_id: Set(cap.workspace_id()),
        kind: Set(kind.clone()),
        name: Set(name.clone()),
        description: Set(description),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "resource.create", &name, json!({ "id": r.id, "kind": kind })).await?;
    txn.commit().await?;
    events.publish(db, cap.workspace_id(), &[Topic::Access]).await;
    Ok(r.record())
}

pub async fn update(
    db: &DatabaseConnection,
    events: &Events,
    now: i64,
    cap: impl Into<ResourceWriter>,
    id: i64,
    name: &str,
    description: &str,
) -> Result<crate::model::Resource, DomainError> {
    let cap: ResourceWriter = cap.into();
    let txn = crate::server::db::write(db).await?;
    let r = get(&txn, cap.workspace_id(), id).await?;
    let (_, name, description) = validate(&r.kind, name, description)?;
    let mut am: resource::ActiveModel = r.clone().into();
    am.name = Set(name.clone());
    am.description = Set(description);
    am.updated_at = Set(now);
    let r = am.update(&txn).await?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "resource.update", &name, json!({ "id": id })).await?;
    txn.commit().await?;
    events.publish(db, cap.workspace_id(), &[Topic::Access]).await;
    Ok(r.record())
}

/// Deletes a resource and every grant on it.
pub async fn delete(db: &DatabaseConnection, events: &Events, now: i64, cap: impl Into<ResourceWriter>, id: i64) -> Result<(), DomainError> {
    let cap: ResourceWriter = cap.into();
    let txn = crate::server::db::write(db).await?;
    let r = get(&txn, cap.workspace_id(), id).await?;
    grant::Entity::delete_many().filter(grant::Column::ResourceId.eq(r.id)).exec(&txn).await?;
    resource::Entity::delete_by_id(r.id).exec(&txn).await?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "resource.delete", &r.name, json!({ "id": id })).await?;
    txn.commit().await?;
    events.publish(db, cap.workspace_id(), &[Topic::Access]).await;
    Ok(())
}

/// Sets (or with `None` removes) a group's grant on a resource. SCIM-linked groups take
/// grants too: grants are the app's side of the mapping.
pub async fn set_grant(
    db: &DatabaseConnection,
    events: &Events,
    now: i64,
    cap: &AdminCap,
    group_id: i64,
    resource_id: i64,
    level: Option<Level>,
) -> Result<(), DomainError> {
    let txn = crate::server::db::write(db).await?;
    let r = get(&txn, cap.workspace_id(), resource_id).await?;
    let g = group::Entity::find_by_id(group_id).filter(group::Column::WorkspaceId.eq(cap.workspace_id())).one(&txn).await?.ok_or(DomainError::NotFound)?;
    let change = super::access::Change::Grant { group: g.id, resource: r.id, level };
    super::access::announce(&txn, now, cap.workspace_id(), &change, "grant").await?;
    grant::Entity::delete_many().filter(grant::Column::GroupId.eq(g.id)).filter(grant::Column::ResourceId.eq(r.id)).exec(&txn).await?;
    if let Some(l) = level {
        grant::ActiveModel { group_id: Set(g.id), resource_id: Set(r.id), level: Set(l.as_str().into()), created_at: Set(now) }.insert(&txn).await?;
    }
    audit::record(
        &txn,
        now,
        Some(cap.workspace_id()),
        cap.actor(),
        "grant.set",
        &format!("{} → {}", g.name, r.name),
        json!({ "group": g.id, "resource": r.id, "level": level.map(Level::as_str) }),
    )
    .await?;
    txn.commit().await?;
    events.publish(db, cap.workspace_id(), &[Topic::Access]).await;
    Ok(())
}

/// Every grant of the workspace: `(group, resource) → level`.
pub async fn grants<C: ConnectionTrait>(db: &C, workspace_id: i64) -> Result<HashMap<(i64, i64), Level>, DomainError> {
    let ids: Vec<i64> = list(db, workspace_id).await?.iter().map(|r| r.id).collect();
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        for g in grant::Entity::find().filter(grant::Column::ResourceId.is_in(chunk.to_vec())).all(db).await? {
            if let Some(l) = Level::parse(&g.level) {
                out.insert((g.group_id, g.resource_id), l);
            }
        }
    }
    Ok(out)
}
