//! Who may reach what. A member's access to a resource is the strongest grant held by any
//! of their groups (Everyone included); admins reach everything; a member who isn't
//! active reaches nothing. Decided from the database on every request, with nothing
//! cached, so a revoked grant, a removal from a group (UI or SCIM), a deleted group or a
//! deactivation shows on the member's very next request.
use std::collections::BTreeMap;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entities::{grant, group_member, resource};
use super::permissions::Viewer;
use super::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    View,
    Edit,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "view" => Some(Level::View),
            "edit" => Some(Level::Edit),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Level::View => "view",
            Level::Edit => "edit",
        }
    }
}

/// The rule itself: nothing for an inactive member, everything for an admin, otherwise
/// the strongest of the member's groups' grants.
pub fn union(is_admin: bool, active: bool, grants: impl IntoIterator<Item = Level>) -> Option<Level> {
    if !active {
        return None;
    }
    if is_admin {
        return Some(Level::Edit);
    }
    grants.into_iter().max()
}

async fn groups_of<C: ConnectionTrait>(db: &C, membership_id: i64) -> Result<Vec<i64>, DomainError> {
    Ok(group_member::Entity::find()
        .select_only()
        .column(group_member::Column::GroupId)
        .filter(group_member::Column::MembershipId.eq(membership_id))
        .into_tuple()
        .all(db)
        .await?)
}

/// One resource as `viewer` may reach it; `None` means "no such resource" to them (the
/// caller answers 404 either way, so a forbidden resource looks like a missing one).
pub async fn resource_for<C: ConnectionTrait>(db: &C, viewer: &Viewer, resource_id: i64) -> Result<Option<(resource::Model, Level)>, DomainError> {
    let Some(r) = resource::Entity::find_by_id(resource_id).filter(resource::Column::WorkspaceId.eq(viewer.workspace_id)).one(db).await? else {
        return Ok(None);
    };
    let levels = if viewer.is_admin() {
        vec![]
    } else {
        let groups = groups_of(db, viewer.membership_id).await?;
        grant::Entity::find()
            .filter(grant::Column::ResourceId.eq(r.id))
            .filter(grant::Column::GroupId.is_in(groups))
            .all(db)
            .await?
            .iter()
            .filter_map(|g| Level::parse(&g.level))
            .collect()
    };
    // A live session implies an active membership (sessions::resolve checks it).
    Ok(union(viewer.is_admin(), true, levels).map(|l| (r, l)))
}

/// Every resource `viewer` reaches, collections first, then by name.
pub async fn reachable<C: ConnectionTrait>(db: &C, viewer: &Viewer) -> Result<Vec<(resource::Model, Level)>, DomainError> {
    let all = || resource::Entity::find().filter(resource::Column::WorkspaceId.eq(viewer.workspace_id)).order_by_asc(resource::Column::Kind).order_by_asc(resource::Column::Name);
    if viewer.is_admin() {
        return Ok(all().all(db).await?.into_iter().map(|r| (r, Level::Edit)).collect());
    }
    let groups = groups_of(db, viewer.membership_id).await?;
    if groups.is_empty() {
        return Ok(vec![]);
    }
    let mut best: BTreeMap<i64, Level> = BTreeMap::new();
    for chunk in groups.chunks(500) {
        for g in grant::Entity::find().filter(grant::Column::GroupId.is_in(chunk.to_vec())).all(db).await? {
            if let Some(l) = Level::parse(&g.level) {
                let e = best.entry(g.resource_id).or_insert(l);
                *e = (*e).max(l);
            }
        }
    }
    if best.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<i64> = best.keys().copied().collect();
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        for r in all().filter(resource::Column::Id.is_in(chunk.to_vec())).all(db).await? {
            if let Some(l) = best.get(&r.id) {
                out.push((r, *l));
            }
        }
    }
    out.sort_by(|a, b| (a.0.kind.as_str(), a.0.name.to_lowercase()).cmp(&(b.0.kind.as_str(), b.0.name.to_lowercase())));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_is_the_union_of_grants_admins_see_all_inactive_see_nothing() {
        assert_eq!(union(false, true, []), None, "no group grants: nothing");
        assert_eq!(union(false, true, [Level::View]), Some(Level::View));
        assert_eq!(union(false, true, [Level::View, Level::Edit, Level::View]), Some(Level::Edit), "the strongest wins");
        assert_eq!(union(true, true, []), Some(Level::Edit), "admins reach everything");
        assert_eq!(union(true, false, [Level::Edit]), None, "deactivated: nothing, admin or not");
        assert_eq!(union(false, false, [Level::View]), None);
        assert_eq!(Level::parse("edit").map(Level::as_str), Some("edit"));
        assert_eq!(Level::parse("admin"), None);
    }
}
