//! What one SCIM token may see: the members and groups of its workspace that are
//! unlinked or linked to its own provider (never another provider's, never Everyone), and
//! the ids it may name.
use sea_orm::sea_query::Condition;
use sea_orm::ColumnTrait;

use super::Client;
use crate::server::entities::{group, membership};

/// Members of the token's workspace that are unlinked or linked to its provider.
pub fn users(client: &Client) -> Condition {
    Condition::all()
        .add(membership::Column::WorkspaceId.eq(client.workspace_id))
        .add(Condition::any().add(membership::Column::ManagedByProviderId.is_null()).add(membership::Column::ManagedByProviderId.eq(client.provider_id)))
}

/// A resource id as we issue them: a positive decimal number, no sign, no padding
/// beyond what fits an `i64`.
pub fn parse_id(id: &str) -> Option<i64> {
    id.parse::<i64>().ok().filter(|n| *n > 0 && id.len() <= 19 && !id.starts_with('+'))
}

/// Groups of the token's workspace that are unlinked or linked to its provider, never
/// Everyone, never one kept in sync at sign-in (its source of truth is the assertion).
pub fn groups(client: &Client) -> Condition {
    Condition::all()
        .add(group::Column::WorkspaceId.eq(client.workspace_id))
        .add(group::Column::IsEveryone.eq(false))
        .add(group::Column::SignInProviderId.is_null())
        .add(Condition::any().add(group::Column::ManagedByProviderId.is_null()).add(group::Column::ManagedByProviderId.eq(client.provider_id)))
}
