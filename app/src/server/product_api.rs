//! What the product's API (`/v1`) reads: a workspace's members, groups and resources a page
//! at a time (keyset pagination by id, so a page never skips or repeats a row while others
//! are added), and many access checks in a few queries. Every query is scoped to the
//! caller's workspace; an id from another workspace is simply not there.
use std::collections::{BTreeMap, HashMap};

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::access::{self, Level};
use super::entities::{account, grant, group, group_member, membership, resource};
use super::permissions::{Role, Status};
use super::DomainError;
use crate::server::entities::Record;

/// Largest page; also the most access checks in one call.
pub const MAX_PAGE: u64 = 1000;

pub struct MemberRow {
    pub member: crate::model::Member,
    pub group_ids: Vec<i64>,
}

/// Members with id above `after`, in id order, at most `limit`.
pub async fn members<C: ConnectionTrait>(db: &C, workspace_id: i64, after: i64, limit: u64) -> Result<Vec<MemberRow>, DomainError> {
    let rows = membership::Entity::find()
        .filter(membership::Column::WorkspaceId.eq(workspace_id))
        .filter(membership::Column::Id.gt(after))
        .order_by_asc(membership::Column::Id)
        .limit(limit.min(MAX_PAGE))
        .all(db)
        .await?;
    let account_ids: Vec<i64> = rows.iter().map(|m| m.account_id).collect();
    let accounts: HashMap<i64, account::Model> =
        account::Entity::find().filter(account::Column::Id.is_in(account_ids)).all(db).await?.into_iter().map(|a| (a.id, a)).collect();
    let ids: Vec<i64> = rows.iter().map(|m| m.id).collect();
    let mut groups: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for gm in group_member::Entity::find().filter(group_member::Column::MembershipId.is_in(ids)).order_by_asc(group_member::Column::GroupId).all(db).await? {
        groups.entry(gm.membership_id).or_default().push(gm.group_id);
    }
    Ok(rows
        .into_iter()
        .filter_map(|m| {
            let account = accounts.get(&m.account_id)?;
            Some(MemberRow { group_ids: groups.remove(&m.id).unwrap_or_default(), member: crate::model::Member::of(&m, account) })
        })
        .collect())
}

/// Groups with id above `after`, with their member counts.
pub async fn groups<C: ConnectionTrait>(db: &C, workspace_id: i64, after: i64, limit: u64) -> Result<Vec<(crate::model::Group, u64)>, DomainError> {
    let rows = group::Entity::find()
        .filter(group::Column::WorkspaceId.eq(workspace_id))
        .filter(group::Column::Id.gt(after))
        .order_by_asc(group::Column::Id)
        .limit(limit.min(MAX_PAGE))
        .all(db)
        .await?;
    let ids: Vec<i64> = rows.iter().map(|g| g.id).collect();
    // Counted by the database: Everyone may hold every member.
    let counts: HashMap<i64, u64> = group_member::Entity::find()
        .select_only()
        .column(group_member::Column::GroupId)
        .column_as(group_member::Column::MembershipId.count(), "n")
        .filter(group_member::Column::GroupId.is_in(ids))
        .group_by(group_member::Column::GroupId)
        .into_tuple::<(i64, i64)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(g, n)| (g, u64::try_from(n).unwrap_or(0)))
        .collect();
    Ok(rows.into_iter().map(|g| (counts.get(&g.id).copied().unwrap_or(0), g)).map(|(c, g)| (g.record(), c)).collect())
}

/// Resources with id above `after`.
pub async fn resources<C: ConnectionTrait>(db: &C, workspace_id: i64, after: i64, limit: u64) -> Result<Vec<crate::model::Resource>, DomainError> {
    Ok(resource::Entity::find()
        .filter(resource::Column::WorkspaceId.eq(workspace_id))
        .filter(resource::Column::Id.gt(after))
        .order_by_asc(resource::Column::Id)
        .limit(limit.min(MAX_PAGE))
        .all(db)
        .await?
        .into_iter()
        .map(Record::record)
        .collect())
}

/// One resource of the workspace.
pub async fn resource<C: ConnectionTrait>(db: &C, workspace_id: i64, id: i64) -> Result<crate::model::Resource, DomainError> {
    Ok(resource::Entity::find_by_id(id).filter(resource::Column::WorkspaceId.eq(workspace_id)).one(db).await?.ok_or(DomainError::NotFound)?.record())
}

/// The access level of each (membership id, resource id) pair in the workspace, by the
/// same rule as every page: nothing for an inactive or unknown member or an unknown
/// resource, everything for an admin, else the strongest grant of the member's groups.
/// Four queries whatever the number of pairs (at most [`MAX_PAGE`]); each `IN` list holds
/// distinct ids, at most the workspace's groups.
pub async fn check<C: ConnectionTrait>(db: &C, workspace_id: i64, pairs: &[(i64, i64)]) -> Result<Vec<Option<Level>>, DomainError> {
    if pairs.len() as u64 > MAX_PAGE {
        return Err(DomainError::Invalid(format!("At most {MAX_PAGE} checks in one call.")));
    }
    let member_ids: Vec<i64> = pairs.iter().map(|p| p.0).collect();
    let resource_ids: Vec<i64> = pairs.iter().map(|p| p.1).collect();
    let members: HashMap<i64, (Role, Status)> = membership::Entity::find()
        .filter(membership::Column::WorkspaceId.eq(workspace_id))
        .filter(membership::Column::Id.is_in(member_ids.clone()))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.id, (m.role, m.status)))
        .collect();
    let resources: std::collections::HashSet<i64> = resource::Entity::find()
        .select_only()
        .column(resource::Column::Id)
        .filter(resource::Column::WorkspaceId.eq(workspace_id))
        .filter(resource::Column::Id.is_in(resource_ids.clone()))
        .into_tuple::<i64>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    // Every grant any of these members' groups holds on any of these resources.
    let links: Vec<(i64, i64)> = group_member::Entity::find()
        .select_only()
        .column(group_member::Column::MembershipId)
        .column(group_member::Column::GroupId)
        .filter(group_member::Column::MembershipId.is_in(members.keys().copied().collect::<Vec<_>>()))
        .into_tuple()
        .all(db)
        .await?;
    let group_ids: Vec<i64> = links.iter().map(|l| l.1).collect::<std::collections::BTreeSet<i64>>().into_iter().collect();
    let grants: Vec<grant::Model> = grant::Entity::find()
        .filter(grant::Column::GroupId.is_in(group_ids))
        .filter(grant::Column::ResourceId.is_in(resources.iter().copied().collect::<Vec<_>>()))
        .all(db)
        .await?;
    let mut by_group: HashMap<i64, Vec<(i64, Level)>> = HashMap::new();
    for g in grants {
        if let Some(l) = Level::parse(&g.level) {
            by_group.entry(g.group_id).or_default().push((g.resource_id, l));
        }
    }
    let mut best: HashMap<(i64, i64), Level> = HashMap::new();
    for (m, g) in links {
        for (r, l) in by_group.get(&g).into_iter().flatten() {
            let e = best.entry((m, *r)).or_insert(*l);
            *e = (*e).max(*l);
        }
    }
    Ok(pairs
        .iter()
        .map(|(m, r)| {
            let (role, status) = members.get(m)?;
            if !resources.contains(r) {
                return None;
            }
            access::union(*role == Role::Admin, *status == Status::Active, best.get(&(*m, *r)).copied())
        })
        .collect())
}
