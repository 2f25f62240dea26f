//! Forward-auth: the question a reverse proxy (nginx `auth_request`, Traefik `ForwardAuth`,
//! Caddy `forward_auth`) asks before every request to the product behind it — who is this,
//! and may they reach what this URI names?
//!
//! The operator describes the product's URIs with rules (`GATEHOUSE_FORWARD_AUTH_RULES`),
//! e.g. `/app/{workspace}/collections/{collection}/**`. The first rule that matches names
//! the workspace and, optionally, the resource; the session cookie names the person. The
//! answer follows the same rule as our own pages, from the database on every call: a
//! member of that workspace, with access to that resource, or nothing.
//!
//! Paths are compared as the proxy received them and must be canonical: a dot segment, an
//! encoded slash, dot or backslash, or a backslash is refused outright, because a proxy or
//! upstream that normalises them would send the request somewhere the rule didn't check.
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

pub use self::rules::{canonical_path, Rules, Target, NEXT_MAX};
use super::access::{self, Level};
use super::entities::{group, group_member};
use super::permissions::Viewer;
use super::DomainError;

pub mod rules;

/// Who may pass, and with what (the proxy hands it to the product as headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub membership_id: i64,
    pub email: String,
    pub full_name: String,
    pub role: &'static str,
    pub workspace: String,
    /// The member's groups' names, in name order.
    pub groups: Vec<String>,
    /// The resource the URI names and the member's level on it.
    pub resource: Option<(i64, Level)>,
}

/// The answer for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow(Identity),
    /// No session for this workspace: sign in at `login` (our path, with the way back).
    SignIn {
        login: String,
    },
    /// Nothing there for this person (no rule, no such workspace or resource, no access):
    /// the same answer as a page that doesn't exist.
    NotFound,
    /// The person reaches the resource, but not at the level the request needs.
    Forbidden,
}

/// Decides `target` for `viewer` (the session's member, if any) from the database.
pub async fn decide<C: ConnectionTrait>(db: &C, target: Option<&Target>, uri: &str, viewer: Option<&Viewer>) -> Result<Decision, DomainError> {
    let Some(t) = target else { return Ok(Decision::NotFound) };
    let viewer = match viewer {
        Some(v) if v.workspace_slug == t.workspace => v,
        // A session of another workspace signs nobody into this one.
        _ => {
            match super::workspaces::by_slug(db, &t.workspace).await {
                Err(DomainError::NotFound) => return Ok(Decision::NotFound),
                Err(e) => return Err(e),
                Ok(_) => {}
            }
            let full = uri.split('#').next().unwrap_or(uri);
            // The query goes when the whole is long; the path alone is at most 2 KB.
            let back = if full.len() <= NEXT_MAX { full } else { full.split('?').next().unwrap_or(full) };
            let login = format!("/w/{}/login", t.workspace);
            return Ok(Decision::SignIn { login: if back.len() <= NEXT_MAX { format!("{login}?next={}", crate::model::urlencode(back)) } else { login } });
        }
    };
    let resource = match t.resource {
        None => None,
        Some((id, kind)) => match access::resource_for(db, viewer, id).await? {
            Some((r, level)) if kind.is_none_or(|k| r.kind == k) => {
                if level < t.need {
                    return Ok(Decision::Forbidden);
                }
                Some((r.id, level))
            }
            _ => return Ok(Decision::NotFound),
        },
    };
    let groups: Vec<String> = group::Entity::find()
        .select_only()
        .column(group::Column::Name)
        .filter(
            group::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(group_member::Column::GroupId)
                    .from(group_member::Entity)
                    .and_where(group_member::Column::MembershipId.eq(viewer.membership_id))
                    .to_owned(),
            ),
        )
        .filter(group::Column::WorkspaceId.eq(viewer.workspace_id))
        .order_by_asc(group::Column::Name)
        .into_tuple()
        .all(db)
        .await?;
    Ok(Decision::Allow(Identity {
        membership_id: viewer.membership_id,
        email: viewer.email.clone(),
        full_name: viewer.full_name.clone(),
        role: if viewer.is_admin() { "admin" } else { "member" },
        workspace: viewer.workspace_slug.clone(),
        groups,
        resource,
    }))
}
