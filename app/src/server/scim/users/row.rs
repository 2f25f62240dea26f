//! The members a SCIM token can see, read with their accounts and groups.
use std::collections::HashMap;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::server::entities::{account, group, group_member, membership};
use crate::server::scim::scope::{self, parse_id};
use crate::server::scim::{Client, ScimError};

/// A member this token can see, with its account.
#[derive(Debug, Clone)]
pub(in crate::server) struct Row {
    pub m: membership::Model,
    pub a: account::Model,
}

pub(super) async fn with_accounts<C: ConnectionTrait>(db: &C, ms: Vec<membership::Model>) -> Result<Vec<Row>, ScimError> {
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
