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
use crate::server::entities::Record;

pub use crate::model::Level;

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
///
/// One round trip: the resource, and the strongest grant any of the member's groups holds
/// on it (`group_members` by membership, then the `grants` primary key per group).
pub async fn resource_for<C: ConnectionTrait>(db: &C, viewer: &Viewer, resource_id: i64) -> Result<Option<(crate::model::Resource, Level)>, DomainError> {
    use sea_orm::{FromQueryResult, Statement};
    #[derive(FromQueryResult)]
    struct Row {
        id: i64,
        workspace_id: i64,
        kind: String,
        name: String,
        description: String,
        created_at: i64,
        updated_at: i64,
        /// 2 edit, 1 view, NULL none.
        best: Option<i32>,
    }
    let backend = db.get_database_backend();
    let ph = |i: usize| super::db::param(backend, i);
    let sql = format!(
        "SELECT r.id, r.workspace_id, r.kind, r.name, r.description, r.created_at, r.updated_at, \
           (SELECT MAX(CASE gr.level WHEN 'edit' THEN 2 WHEN 'view' THEN 1 END) \
              FROM group_members gm JOIN grants gr ON gr.group_id = gm.group_id \
             WHERE gm.membership_id = {} AND gr.resource_id = r.id) AS best \
         FROM resources r WHERE r.id = {} AND r.workspace_id = {}",
        ph(1),
        ph(2),
        ph(3)
    );
    let row =
        Row::find_by_statement(Statement::from_sql_and_values(backend, sql, [viewer.membership_id.into(), resource_id.into(), viewer.workspace_id.into()]))
            .one(db)
            .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let grant = match row.best {
        Some(2) => Some(Level::Edit),
        Some(1) => Some(Level::View),
        _ => None,
    };
    let r = crate::model::Resource {
        id: row.id,
        workspace_id: row.workspace_id,
        kind: row.kind,
        name: row.name,
        description: row.description,
        created_at: row.created_at,
        updated_at: row.updated_at,
    };
    // A live session implies an active membership (sessions::resolve checks it).
    Ok(union(viewer.is_admin(), true, grant).map(|l| (r, l)))
}

/// Every resource `viewer` reaches, collections first, then by name.
pub async fn reachable<C: ConnectionTrait>(db: &C, viewer: &Viewer) -> Result<Vec<(crate::model::Resource, Level)>, DomainError> {
    let all = || {
        resource::Entity::find()
            .filter(resource::Column::WorkspaceId.eq(viewer.workspace_id))
            .order_by_asc(resource::Column::Kind)
            .order_by_asc(resource::Column::Name)
    };
    if viewer.is_admin() {
        return Ok(all().all(db).await?.into_iter().map(|r| (r.record(), Level::Edit)).collect());
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
    let mut out: Vec<(crate::model::Resource, Level)> = Vec::new();
    for chunk in ids.chunks(500) {
        for r in all().filter(resource::Column::Id.is_in(chunk.to_vec())).all(db).await? {
            if let Some(l) = best.get(&r.id) {
                out.push((r.record(), *l));
            }
        }
    }
    out.sort_by(|a, b| (a.0.kind.as_str(), a.0.name.to_lowercase()).cmp(&(b.0.kind.as_str(), b.0.name.to_lowercase())));
    Ok(out)
}

/// A change whose effect on access an admin previews before saving it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A group's level on a resource (`None`: the grant goes).
    Grant {
        group: i64,
        resource: i64,
        level: Option<Level>,
    },
    AddMember {
        group: i64,
        membership: i64,
    },
    RemoveMember {
        group: i64,
        membership: i64,
    },
    DeleteGroup {
        group: i64,
    },
    /// What reconciling with an IdP would do: these groups emptied.
    EmptyGroups {
        groups: Vec<i64>,
    },
    /// Members already added to and removed from `group` earlier in the same transaction
    /// (a SCIM request's several operations): the data read is the state after, and the
    /// state before is these moves undone.
    MembersMoved {
        group: i64,
        added: Vec<i64>,
        removed: Vec<i64>,
    },
}

/// One member's access to one resource, before and after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    pub membership_id: i64,
    pub email: String,
    pub full_name: String,
    pub resource_id: i64,
    pub resource_name: String,
    pub resource_kind: String,
    pub before: Option<Level>,
    pub after: Option<Level>,
}

/// What a change would do: the first rows (by member email, then resource name) and the
/// counts over all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preview {
    pub rows: Vec<Delta>,
    pub total: usize,
    pub gains: usize,
}

/// Who gains and who loses what if `change` were saved, computed from current data with
/// the same rule as every request (`union`). Admins and inactive members are unaffected
/// (everything and nothing), so they never appear. Groups or resources outside the
/// workspace are `NotFound`. At most `limit` rows are kept; the counts cover all.
pub async fn preview<C: ConnectionTrait>(db: &C, workspace_id: i64, change: &Change, limit: usize) -> Result<Preview, DomainError> {
    use super::entities::{group, membership};
    use super::permissions::{Role, Status};
    use std::collections::{BTreeSet, HashMap};
    let changed: Vec<i64> = match change {
        Change::Grant { group, .. }
        | Change::AddMember { group, .. }
        | Change::RemoveMember { group, .. }
        | Change::DeleteGroup { group }
        | Change::MembersMoved { group, .. } => vec![*group],
        Change::EmptyGroups { groups } => groups.clone(),
    };
    let mut known = 0;
    for chunk in changed.chunks(500) {
        known += group::Entity::find().filter(group::Column::Id.is_in(chunk.to_vec())).filter(group::Column::WorkspaceId.eq(workspace_id)).all(db).await?.len();
    }
    if known != changed.iter().collect::<BTreeSet<_>>().len() {
        return Err(DomainError::NotFound);
    }
    // The members whose groups or grants change.
    let candidates: Vec<i64> = match change {
        Change::AddMember { membership, .. } | Change::RemoveMember { membership, .. } => vec![*membership],
        Change::MembersMoved { added, removed, .. } => {
            let mut ids: Vec<i64> = added.iter().chain(removed).copied().collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        }
        _ => {
            let mut ids = Vec::new();
            for chunk in changed.chunks(500) {
                ids.extend(
                    group_member::Entity::find()
                        .select_only()
                        .column(group_member::Column::MembershipId)
                        .filter(group_member::Column::GroupId.is_in(chunk.to_vec()))
                        .into_tuple::<i64>()
                        .all(db)
                        .await?,
                );
            }
            ids.sort_unstable();
            ids.dedup();
            ids
        }
    };
    let mut members = Vec::new();
    for chunk in candidates.chunks(500) {
        let ms = membership::Entity::find()
            .filter(membership::Column::Id.is_in(chunk.to_vec()))
            .filter(membership::Column::WorkspaceId.eq(workspace_id))
            .filter(membership::Column::Status.eq(Status::Active))
            .filter(membership::Column::Role.ne(Role::Admin))
            .all(db)
            .await?;
        members.extend(super::directory::with_accounts(db, ms).await?.into_iter().map(|(m, a)| (m.id, a.email, a.full_name)));
    }
    // The resources whose levels can change.
    let resource_ids: Vec<i64> = match change {
        Change::Grant { resource, .. } => vec![*resource],
        _ => {
            let mut ids = Vec::new();
            for chunk in changed.chunks(500) {
                ids.extend(
                    grant::Entity::find()
                        .select_only()
                        .column(grant::Column::ResourceId)
                        .filter(grant::Column::GroupId.is_in(chunk.to_vec()))
                        .into_tuple::<i64>()
                        .all(db)
                        .await?,
                );
            }
            ids.sort_unstable();
            ids.dedup();
            ids
        }
    };
    let mut resources: Vec<resource::Model> = Vec::new();
    for chunk in resource_ids.chunks(500) {
        resources.extend(
            resource::Entity::find().filter(resource::Column::Id.is_in(chunk.to_vec())).filter(resource::Column::WorkspaceId.eq(workspace_id)).all(db).await?,
        );
    }
    if matches!(change, Change::Grant { .. }) && resources.is_empty() {
        return Err(DomainError::NotFound);
    }
    if members.is_empty() || resources.is_empty() {
        return Ok(Preview::default());
    }
    // Rows come out in display order, so only the first `limit` are ever kept.
    members.sort_by(|a, b| a.1.cmp(&b.1));
    resources.sort_by_key(|r| r.name.to_lowercase());
    // Each member's groups, and the grants of those groups on those resources.
    let mut groups_of: HashMap<i64, BTreeSet<i64>> = HashMap::new();
    let ids: Vec<i64> = members.iter().map(|m| m.0).collect();
    for chunk in ids.chunks(500) {
        for (m, g) in group_member::Entity::find()
            .select_only()
            .column(group_member::Column::MembershipId)
            .column(group_member::Column::GroupId)
            .filter(group_member::Column::MembershipId.is_in(chunk.to_vec()))
            .into_tuple::<(i64, i64)>()
            .all(db)
            .await?
        {
            groups_of.entry(m).or_default().insert(g);
        }
    }
    let mut levels: HashMap<(i64, i64), Level> = HashMap::new();
    let rids: Vec<i64> = resources.iter().map(|r| r.id).collect();
    for chunk in rids.chunks(500) {
        for g in grant::Entity::find().filter(grant::Column::ResourceId.is_in(chunk.to_vec())).all(db).await? {
            if let Some(l) = Level::parse(&g.level) {
                levels.insert((g.group_id, g.resource_id), l);
            }
        }
    }
    let mut after_levels = levels.clone();
    match change {
        Change::Grant { group, resource, level: Some(l) } => {
            after_levels.insert((*group, *resource), *l);
        }
        Change::Grant { group, resource, level: None } => {
            after_levels.remove(&(*group, *resource));
        }
        _ => {}
    }
    let level_of =
        |grants: &HashMap<(i64, i64), Level>, groups: &BTreeSet<i64>, r: i64| union(false, true, groups.iter().filter_map(|g| grants.get(&(*g, r)).copied()));
    let empty = BTreeSet::new();
    let mut out = Preview::default();
    for (mid, email, full_name) in members {
        let current = groups_of.get(&mid).unwrap_or(&empty);
        let (mut before_groups, mut after_groups) = (current.clone(), current.clone());
        match change {
            Change::AddMember { group, .. } => {
                after_groups.insert(*group);
            }
            Change::RemoveMember { group, .. } | Change::DeleteGroup { group } => {
                after_groups.remove(group);
            }
            Change::EmptyGroups { groups } => after_groups.retain(|g| !groups.contains(g)),
            Change::MembersMoved { group, added, removed } => {
                if added.contains(&mid) {
                    before_groups.remove(group);
                }
                if removed.contains(&mid) {
                    before_groups.insert(*group);
                }
            }
            Change::Grant { .. } => {}
        }
        for r in &resources {
            let (before, after) = (level_of(&levels, &before_groups, r.id), level_of(&after_levels, &after_groups, r.id));
            if before != after {
                out.total += 1;
                if after > before {
                    out.gains += 1;
                }
                if out.rows.len() >= limit {
                    continue;
                }
                out.rows.push(Delta {
                    membership_id: mid,
                    email: email.clone(),
                    full_name: full_name.clone(),
                    resource_id: r.id,
                    resource_name: r.name.clone(),
                    resource_kind: r.kind.clone(),
                    before,
                    after,
                });
            }
        }
    }
    Ok(out)
}

/// Queues `access.changed` for `change` **before** it is applied: who gains or loses what,
/// computed by the preview's rule from the data as it is now. `cause` names the change.
pub(in crate::server) async fn announce<C: ConnectionTrait>(db: &C, now: i64, workspace_id: i64, change: &Change, cause: &str) -> Result<(), DomainError> {
    let Some(out) = super::webhooks::outbox(db, workspace_id, super::webhooks::Kind::AccessChanged).await? else { return Ok(()) };
    let p = preview(db, workspace_id, change, super::webhooks::ACCESS_ROWS).await?;
    if p.total == 0 {
        return Ok(());
    }
    let level = |l: Option<Level>| l.map(|l| l.as_str());
    let changes: Vec<serde_json::Value> = p
        .rows
        .iter()
        .map(|d| {
            serde_json::json!({
                "member": { "id": d.membership_id, "email": d.email },
                "resource": { "id": d.resource_id, "name": d.resource_name, "kind": d.resource_kind },
                "before": level(d.before),
                "after": level(d.after),
            })
        })
        .collect();
    out.queue(db, now, "access", serde_json::json!({ "cause": cause, "changes": changes, "total": p.total, "truncated": p.total > p.rows.len() })).await
}

/// A change as the preview page's form names it: `what` is `grant` (resource, level),
/// `add` (email), `remove` (membership) or `delete`, always on `group_id`.
#[derive(Debug, Clone, Copy)]
pub struct ChangeForm<'a> {
    pub what: &'a str,
    pub group_id: i64,
    pub resource_id: Option<i64>,
    pub level: Option<&'a str>,
    pub email: Option<&'a str>,
    pub membership_id: Option<i64>,
}

/// Checks a previewed change against the workspace and says it in words. Membership
/// changes are previewed only where they could be saved (not Everyone, not a group the
/// IdP manages, only active members); grants may be set on any group of the workspace.
pub async fn describe<C: ConnectionTrait>(db: &C, cap: &super::permissions::AdminCap, f: &ChangeForm<'_>) -> Result<(Change, String), DomainError> {
    use super::entities::{group, membership};
    let ws = cap.workspace_id();
    let missing = || DomainError::Invalid("Something is missing from the form.".into());
    let g = if f.what == "grant" {
        group::Entity::find_by_id(f.group_id).one(db).await?.filter(|g| g.workspace_id == ws).ok_or(DomainError::NotFound)?
    } else {
        super::directory::editable_group(db, cap, f.group_id).await?
    };
    Ok(match f.what {
        "grant" => {
            let r = resource::Entity::find_by_id(f.resource_id.ok_or_else(missing)?)
                .one(db)
                .await?
                .filter(|r| r.workspace_id == ws)
                .ok_or(DomainError::NotFound)?;
            let level = match f.level.unwrap_or("") {
                "none" => None,
                other => Some(Level::parse(other).ok_or_else(|| DomainError::Invalid("The level is view, edit or none.".into()))?),
            };
            let summary = match level {
                Some(l) => format!("Give “{}” {} access to “{}”", g.name, l.as_str(), r.name),
                None => format!("Remove “{}”'s access to “{}”", g.name, r.name),
            };
            (Change::Grant { group: g.id, resource: r.id, level }, summary)
        }
        "add" => {
            let email = super::normalize_email(f.email.unwrap_or(""))?;
            let not_member = || DomainError::Invalid(format!("{email} is not an active member of this workspace."));
            let a = super::directory::account_by_email(db, ws, &email).await?.ok_or_else(not_member)?;
            let m = super::directory::membership_of(db, ws, a.id).await?.filter(|m| m.status == super::permissions::Status::Active).ok_or_else(not_member)?;
            (Change::AddMember { group: g.id, membership: m.id }, format!("Add {email} to “{}”", g.name))
        }
        "remove" => {
            let mid = f.membership_id.ok_or_else(missing)?;
            let m = membership::Entity::find_by_id(mid).one(db).await?.filter(|m| m.workspace_id == ws).ok_or(DomainError::NotFound)?;
            let who = super::directory::with_accounts(db, vec![m]).await?.into_iter().next().map(|(_, a)| a.email).unwrap_or_default();
            (Change::RemoveMember { group: g.id, membership: mid }, format!("Remove {who} from “{}”", g.name))
        }
        "delete" => (Change::DeleteGroup { group: g.id }, format!("Delete the group “{}”", g.name)),
        _ => return Err(missing()),
    })
}

/// The reconcile view of one provider: which groups it manages, which it doesn't, and who
/// would lose what if the groups it doesn't manage were emptied (the IdP as the only
/// source of group membership).
#[derive(Debug, Clone)]
pub struct Reconcile {
    /// The provider's name, and whether its SCIM provisioning is on.
    pub provider_name: String,
    pub provisioning: bool,
    /// `(group, members)` linked to this provider.
    pub linked: Vec<(crate::model::Group, u64)>,
    /// `(group, members, grants)` linked to no provider (Everyone excluded: it is never linked).
    pub unlinked: Vec<(crate::model::Group, u64, u64)>,
    pub if_emptied: Preview,
}

/// `limit`: rows of the "if emptied" preview to keep.
pub async fn reconcile<C: ConnectionTrait>(db: &C, workspace_id: i64, provider_public_id: &str, limit: usize) -> Result<Reconcile, DomainError> {
    use super::entities::group;
    use super::entities::saml_provider;
    use std::collections::HashMap;
    // Found within the workspace, so another workspace's provider is simply not there.
    let provider = saml_provider::Entity::find()
        .filter(saml_provider::Column::WorkspaceId.eq(workspace_id))
        .filter(saml_provider::Column::PublicId.eq(provider_public_id))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound)?;
    let groups = group::Entity::find()
        .filter(group::Column::WorkspaceId.eq(workspace_id))
        .filter(group::Column::IsEveryone.eq(false))
        .order_by_asc(group::Column::NameNormalized)
        .all(db)
        .await?;
    let ids: Vec<i64> = groups.iter().map(|g| g.id).collect();
    let count = |rows: Vec<(i64, i64)>| rows.into_iter().map(|(g, n)| (g, u64::try_from(n).unwrap_or(0))).collect::<HashMap<i64, u64>>();
    let mut members = HashMap::new();
    let mut grants = HashMap::new();
    for chunk in ids.chunks(500) {
        members.extend(count(
            group_member::Entity::find()
                .select_only()
                .column(group_member::Column::GroupId)
                .column_as(group_member::Column::MembershipId.count(), "n")
                .filter(group_member::Column::GroupId.is_in(chunk.to_vec()))
                .group_by(group_member::Column::GroupId)
                .into_tuple()
                .all(db)
                .await?,
        ));
        grants.extend(count(
            grant::Entity::find()
                .select_only()
                .column(grant::Column::GroupId)
                .column_as(grant::Column::ResourceId.count(), "n")
                .filter(grant::Column::GroupId.is_in(chunk.to_vec()))
                .group_by(grant::Column::GroupId)
                .into_tuple()
                .all(db)
                .await?,
        ));
    }
    let (mut linked, mut unlinked) = (Vec::new(), Vec::new());
    for g in groups {
        let n = members.get(&g.id).copied().unwrap_or(0);
        match g.managed_by_provider_id {
            Some(p) if p == provider.id => linked.push((g, n)),
            Some(_) => {}
            // Kept in sync at sign-in: neither SCIM's to link nor the admins' to empty.
            None if g.sign_in_provider_id.is_some() => {}
            None => {
                let k = grants.get(&g.id).copied().unwrap_or(0);
                unlinked.push((g, n, k));
            }
        }
    }
    let if_emptied = preview(db, workspace_id, &Change::EmptyGroups { groups: unlinked.iter().map(|(g, _, _)| g.id).collect() }, limit).await?;
    Ok(Reconcile {
        provider_name: provider.name,
        provisioning: provider.provisioning_enabled,
        linked: linked.into_iter().map(|(g, n)| (g.record(), n)).collect(),
        unlinked: unlinked.into_iter().map(|(g, n, k)| (g.record(), n, k)).collect(),
        if_emptied,
    })
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
