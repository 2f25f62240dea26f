//! `/Users`: workspace members as SCIM Users.
//!
//! A linked member's document is what its provider wrote (every attribute we advertise,
//! verbatim, without the password), plus what Gatehouse owns: `id`, `active`, `groups`,
//! `meta`. An unlinked member's document is derived from its account, with `userName` =
//! email, so Okta's `userName eq` finds it. From the document Gatehouse takes the email
//! (the primary one: the key that links accounts), the names (given + family = full name),
//! the role (`roles[].value` or our extension's `role`) and `active`.
mod document;
mod input;
mod row;
mod rules;

use document::{document, resource};
use input::read;
use row::{find, groups_of, with_accounts, Row};
use rules::{apply, keep_last_admin, user_name_taken};

use sea_orm::sea_query::Condition;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{json, Value};

use super::eval::{self};
use super::projection::project;
use super::schema::{self};
use super::scope::{self, parse_id};
use super::{check_if_match, clip, patch, Client, Page, Query, ScimError, Writer};
use crate::server::audit;
use crate::server::crypto::Token;
use crate::server::directory;
use crate::server::domains::NO_EMAIL_DOMAIN;
use crate::server::entities::{account, group_member, membership, session};
use crate::server::events::Topic;
use crate::server::permissions::Role;

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
    let ended = session::Entity::delete_many()
        .filter(session::Column::AccountId.eq(row.a.id))
        .filter(session::Column::WorkspaceId.eq(client.workspace_id))
        .exec(&txn)
        .await?
        .rows_affected;
    // Told while the rows are there: the member is gone, which the product reads as a
    // deactivation it can't undo.
    let kind = crate::server::webhooks::Kind::MemberDeactivated;
    crate::server::webhooks::member_event(&txn, now, kind, &row.m, json!({ "deleted": true, "sessions_revoked": ended })).await?;
    crate::server::webhooks::sessions_event(&txn, now, client.workspace_id, Some(row.a.id), ended, "deactivated").await?;
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
