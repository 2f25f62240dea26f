//! Members as admins and invitees see them: the Members page, role changes, deactivation
//! and reactivation, invites accepted and withdrawn. The rows themselves are changed
//! through `directory`, which keeps Everyone equal to the active members in the same
//! transaction.
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;

use super::audit::{self, Actor};
use super::crypto::Token;
use super::directory::{
    account_by_email, active_admin_count, add_membership, deactivate_in, find_or_create_account, membership_of, reactivate_in, validate_name, with_accounts,
};
use super::entities::{account, invite, membership, saml_provider, session, workspace};
use super::events::{Events, Topic};
use super::password::{Hasher, Password};
use super::permissions::{AdminCap, Role, Status};
use super::{normalize_email, sessions, DomainError};
use crate::model::{InviteCreated, InvitesPage, PendingInvite};

pub struct InviteInfo {
    pub workspace_slug: String,
    pub workspace_name: String,
    pub email: String,
}

async fn open_invite<C: ConnectionTrait>(db: &C, now: i64, token: &Token) -> Result<(invite::Model, workspace::Model), DomainError> {
    let inv = invite::Entity::find()
        .filter(invite::Column::TokenHash.eq(token.hash()))
        .one(db)
        .await?
        .filter(|i| i.accepted_at.is_none() && i.expires_at > now)
        .ok_or(DomainError::NotFound)?;
    let ws = workspace::Entity::find_by_id(inv.workspace_id).one(db).await?.ok_or(DomainError::NotFound)?;
    Ok((inv, ws))
}

pub async fn invite_info<C: ConnectionTrait>(db: &C, now: i64, token: &Token) -> Result<InviteInfo, DomainError> {
    let (inv, ws) = open_invite(db, now, token).await?;
    Ok(InviteInfo { workspace_slug: ws.slug, workspace_name: ws.name, email: inv.email })
}

/// Accepts an invite and signs the invitee in; returns (workspace slug, session token).
/// The password chosen here belongs to this workspace's membership only, so an invite
/// link (which its admin can see) never yields a credential for another workspace, and
/// the account's profile is only filled in when the account is new. Open pages hear of
/// the new member once it has committed.
#[allow(clippy::too_many_arguments)]
pub async fn accept_invite(
    db: &DatabaseConnection,
    events: &super::events::Events,
    hasher: &Hasher,
    cfg: &super::config::RuntimeConfig,
    now: i64,
    token: &Token,
    full_name: &str,
    password: String,
    origin: sessions::Origin,
) -> Result<(String, Token), DomainError> {
    let (_, ws) = open_invite(db, now, token).await?;
    // A password is a way in: with password sign-in off here, accepting with one would
    // open a password session the workspace's policy forbids. The invitee joins through
    // one of the workspace's methods instead (OIDC uses the invite; SAML matches them).
    if !super::methods::is_enabled(db, ws.id, super::methods::PASSWORD, cfg).await? {
        return Err(DomainError::Refused(format!(
            "{} doesn't use passwords. Sign in with one of its sign-in methods as the invited address instead.",
            ws.name
        )));
    }
    let password = Password::new_secret(password)?;
    let name = if full_name.trim().is_empty() { String::new() } else { validate_name(full_name, "Your name")? };
    let hash = hasher.hash(&password).await?.0;

    let txn = crate::server::db::write(db).await?;
    // Re-check inside the transaction: an invite is used once.
    let (inv, _) = open_invite(&txn, now, token).await?;
    let acct = find_or_create_account(&txn, now, inv.workspace_id, &inv.email, &inv.email_normalized, &name).await?;
    if membership_of(&txn, inv.workspace_id, acct.id).await?.is_some() {
        return Err(DomainError::Refused("You are already a member of this workspace.".into()));
    }
    add_membership(&txn, now, inv.workspace_id, acct.id, inv.role, Some(hash)).await?;
    let mut iam: invite::ActiveModel = inv.clone().into();
    iam.accepted_at = Set(Some(now));
    iam.update(&txn).await?;
    let actor = Actor { account_id: Some(acct.id), label: inv.email_normalized.clone(), ip: origin.ip.clone() };
    audit::record(&txn, now, Some(inv.workspace_id), &actor, "member.join", &inv.email_normalized, json!({ "role": inv.role })).await?;
    let session = sessions::create(&txn, now, acct.id, inv.workspace_id, "password", &origin).await?;
    txn.commit().await?;
    events.publish(db, ws.id, &super::events::Topic::JOINED).await;
    Ok((ws.slug, session))
}

pub(in crate::server) struct MemberRow {
    pub membership: membership::Model,
    pub account: account::Model,
    /// How the member signs in here: `password` if they have one, and methods seen in sessions.
    pub methods: Vec<String>,
    /// Linked external identities: `Google`, `Slack`, `Office365`, `SAML: <provider>`.
    pub identities: Vec<String>,
}

/// Members listed per page on the Members page.
pub const PAGE_SIZE: u64 = 50;

/// One page of the workspace's members: admins first, then by name and email; `search`
/// (case-insensitive) matches email or name. Returns the rows and how many match in all.
/// Two queries on `memberships` alone pick the page: its `sort_name`/`sort_email` copies of
/// the account's name and email (kept by database triggers, migration 14) let the page be
/// read in order from one index, with no join or sort of the whole workspace. The rest is
/// read only for the page's rows.
pub(in crate::server) async fn page<C: ConnectionTrait>(db: &C, workspace_id: i64, page: u64, search: &str) -> Result<(Vec<MemberRow>, u64), DomainError> {
    use sea_orm::{FromQueryResult, Statement, Value};
    #[derive(FromQueryResult)]
    struct Id {
        id: i64,
    }
    #[derive(FromQueryResult)]
    struct Count {
        n: i64,
    }
    let backend = db.get_database_backend();
    let ph = |i: usize| super::db::param(backend, i);
    let mut values: Vec<Value> = vec![workspace_id.into()];
    let mut filter = format!("m.workspace_id = {}", ph(1));
    let search = search.trim().to_lowercase();
    if !search.is_empty() {
        let pattern = format!("%{}%", search.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        filter.push_str(&format!(" AND (m.sort_email LIKE {} ESCAPE '\\' OR m.sort_name LIKE {} ESCAPE '\\')", ph(2), ph(3)));
        values.push(pattern.clone().into());
        values.push(pattern.into());
    }
    let from = format!("FROM memberships m WHERE {filter}");
    let count_sql = format!("SELECT COUNT(*) AS n {from}");
    let total = Count::find_by_statement(Statement::from_sql_and_values(backend, count_sql, values.clone()))
        .one(db)
        .await?
        .map(|c| u64::try_from(c.n).unwrap_or(0))
        .unwrap_or(0);
    let offset = page.saturating_sub(1).saturating_mul(PAGE_SIZE);
    if offset >= total {
        // Past the end: nothing to read (and no offset too large for the database).
        return Ok((Vec::new(), total));
    }
    let sql = format!(
        "SELECT m.id AS id {from} ORDER BY m.workspace_id, CASE WHEN m.role = '{}' THEN 0 ELSE 1 END, m.sort_name, m.sort_email, m.id LIMIT {PAGE_SIZE} OFFSET {offset}",
        Role::Admin.as_str()
    );
    let ids: Vec<i64> = Id::find_by_statement(Statement::from_sql_and_values(backend, sql, values)).all(db).await?.into_iter().map(|r| r.id).collect();
    let mut ms = membership::Entity::find().filter(membership::Column::Id.is_in(ids.clone())).all(db).await?;
    ms.sort_by_key(|m| ids.iter().position(|i| *i == m.id));
    let rows = with_accounts(db, ms).await?;
    let accounts: Vec<i64> = rows.iter().map(|(_, a)| a.id).collect();
    let mut seen = session_methods(db, workspace_id, &accounts).await?;
    let mut linked = identities(db, workspace_id, accounts).await?;
    let mut out = Vec::with_capacity(rows.len());
    for (m, a) in rows {
        let mut methods = seen.remove(&a.id).unwrap_or_default();
        if m.password_hash.is_some() {
            methods.push("password".into());
        }
        methods.sort();
        methods.dedup();
        let identities = linked.remove(&a.id).unwrap_or_default();
        out.push(MemberRow { membership: m, account: a, methods, identities });
    }
    Ok((out, total))
}

/// The Members page of `cap`'s workspace for the admin whose membership is
/// `viewer_membership_id`: page `page` (from 1) of the members matching `search`, each with
/// live sessions, sign-in methods, identities, who manages them, and whether they are the
/// last active admin (whose demotion the page doesn't offer).
pub async fn members_page(
    db: &DatabaseConnection,
    now: i64,
    cap: &AdminCap,
    viewer_membership_id: i64,
    page: u64,
    search: &str,
) -> Result<crate::model::MembersPage, DomainError> {
    if search.len() > 200 {
        return Err(DomainError::Invalid("Search for at most 200 characters.".into()));
    }
    let page = page.max(1);
    let (rows, total) = self::page(db, cap.workspace_id(), page, search).await?;
    let providers: std::collections::HashMap<i64, String> =
        crate::server::saml::rows(db, cap.workspace_id()).await?.into_iter().map(|p| (p.id, p.name)).collect();
    let sole_admin = crate::server::directory::active_admin_count(db, cap.workspace_id()).await? == 1;
    let ws = super::entities::workspace::Entity::find_by_id(cap.workspace_id()).one(db).await?.ok_or(DomainError::NotFound)?;
    let accounts: Vec<i64> = rows.iter().map(|r| r.account.id).collect();
    let counts = crate::server::sessions::live_counts(db, now, &ws, &accounts).await?;
    let rows = rows
        .into_iter()
        .map(|r| crate::model::MemberRow {
            last_admin: sole_admin
                && r.membership.role == crate::server::permissions::Role::Admin
                && r.membership.status == crate::server::permissions::Status::Active,
            membership_id: r.membership.id,
            is_self: r.membership.id == viewer_membership_id,
            sessions: counts.get(&r.account.id).copied().unwrap_or(0),
            full_name: r.account.full_name,
            email: r.account.email,
            role: r.membership.role,
            status: r.membership.status,
            sign_in_methods: r.methods,
            identities: r.identities,
            managed_by: r.membership.managed_by_provider_id.map(|id| providers.get(&id).cloned().unwrap_or_else(|| "your identity provider".into())),
        })
        .collect();
    Ok(crate::model::MembersPage { rows, total, page, pages: total.div_ceil(PAGE_SIZE).max(1) })
}

/// Linked identities per account (two queries): OIDC ones, and SAML ones of this
/// workspace's providers.
async fn identities<C: ConnectionTrait>(db: &C, workspace_id: i64, accounts: Vec<i64>) -> Result<std::collections::HashMap<i64, Vec<String>>, DomainError> {
    use super::entities::{external_identity, saml_provider};
    let providers: std::collections::HashMap<String, String> = saml_provider::Entity::find()
        .filter(saml_provider::Column::WorkspaceId.eq(workspace_id))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.public_id, p.name))
        .collect();
    let mut by_account: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
    for chunk in accounts.chunks(500) {
        for e in external_identity::Entity::find().filter(external_identity::Column::AccountId.is_in(chunk.to_vec())).all(db).await? {
            let label = match e.provider_kind.as_str() {
                kind @ ("saml" | "oidc") => match providers.get(&e.provider_key) {
                    Some(name) => format!("{}: {name}", if kind == "oidc" { "OpenID Connect" } else { "SAML" }),
                    None => continue,
                },
                other => super::methods::label(other).to_string(),
            };
            let list = by_account.entry(e.account_id).or_default();
            if !list.contains(&label) {
                list.push(label);
            }
        }
    }
    Ok(by_account)
}

/// Methods seen in the workspace's live sessions, per account (one query).
async fn session_methods<C: ConnectionTrait>(db: &C, workspace_id: i64, accounts: &[i64]) -> Result<std::collections::HashMap<i64, Vec<String>>, DomainError> {
    let mut by_account: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
    for s in session::Entity::find()
        .filter(session::Column::WorkspaceId.eq(workspace_id))
        .filter(session::Column::AccountId.is_in(accounts.to_vec()))
        .all(db)
        .await?
    {
        by_account.entry(s.account_id).or_default().push(s.method);
    }
    Ok(by_account)
}

async fn target<C: ConnectionTrait>(db: &C, cap: &AdminCap, membership_id: i64) -> Result<(membership::Model, account::Model), DomainError> {
    let m = membership::Entity::find_by_id(membership_id).one(db).await?.filter(|m| m.workspace_id == cap.workspace_id()).ok_or(DomainError::NotFound)?;
    if let Some(pid) = m.managed_by_provider_id {
        let name = saml_provider::Entity::find_by_id(pid).one(db).await?.map(|p| p.name).unwrap_or_else(|| "your identity provider".into());
        return Err(DomainError::Refused(format!("This member is managed by {name} through SCIM provisioning; change them there.")));
    }
    let a = account::Entity::find_by_id(m.account_id).one(db).await?.ok_or(DomainError::NotFound)?;
    Ok((m, a))
}

/// Changes a member's role. The last active admin can't be demoted.
pub async fn set_role(db: &DatabaseConnection, events: &Events, now: i64, cap: &AdminCap, membership_id: i64, role: Role) -> Result<(), DomainError> {
    let txn = crate::server::db::write(db).await?;
    let (m, a) = target(&txn, cap, membership_id).await?;
    if m.role == role {
        return Ok(());
    }
    crate::server::directory::lock_for_admin_change(&txn, cap.workspace_id()).await?;
    if m.role == Role::Admin && m.status == Status::Active && active_admin_count(&txn, cap.workspace_id()).await? <= 1 {
        return Err(DomainError::Refused("This is the last active admin; make someone else an admin first.".into()));
    }
    let old = m.role;
    let mut am: membership::ActiveModel = m.into();
    am.role = Set(role);
    am.updated_at = Set(now);
    let m = am.update(&txn).await?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "member.role", &a.email_normalized, json!({ "from": old, "to": role })).await?;
    crate::server::webhooks::member_event(&txn, now, crate::server::webhooks::Kind::MemberRoleChanged, &m, json!({ "from": old.as_str() })).await?;
    txn.commit().await?;
    events.publish(db, cap.workspace_id(), &[Topic::Members, Topic::Access]).await;
    Ok(())
}

/// Deactivates a member: out of every group (Everyone included) and every session
/// revoked, in one transaction. The last active admin can't be deactivated.
pub async fn deactivate(db: &DatabaseConnection, events: &Events, now: i64, cap: &AdminCap, membership_id: i64) -> Result<(), DomainError> {
    let txn = crate::server::db::write(db).await?;
    let (m, a) = target(&txn, cap, membership_id).await?;
    if m.status == Status::Deactivated {
        return Ok(());
    }
    crate::server::directory::lock_for_admin_change(&txn, cap.workspace_id()).await?;
    if m.role == Role::Admin && active_admin_count(&txn, cap.workspace_id()).await? <= 1 {
        return Err(DomainError::Refused("This is the last active admin; make someone else an admin first.".into()));
    }
    let revoked = deactivate_in(&txn, now, &m).await?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "member.deactivate", &a.email_normalized, json!({ "sessions_revoked": revoked })).await?;
    txn.commit().await?;
    events.publish(db, cap.workspace_id(), &[Topic::Members, Topic::Groups, Topic::Access]).await;
    Ok(())
}

/// Reactivates a member: active again and in Everyone; no other group is restored.
pub async fn reactivate(db: &DatabaseConnection, events: &Events, now: i64, cap: &AdminCap, membership_id: i64) -> Result<(), DomainError> {
    let txn = crate::server::db::write(db).await?;
    let (m, a) = target(&txn, cap, membership_id).await?;
    if m.status == Status::Active {
        return Ok(());
    }
    reactivate_in(&txn, now, &m).await?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "member.reactivate", &a.email_normalized, json!({})).await?;
    txn.commit().await?;
    events.publish(db, cap.workspace_id(), &[Topic::Members, Topic::Groups, Topic::Access]).await;
    Ok(())
}

/// Operator break-glass: makes an existing member an active admin again.
/// Open pages hear of it once it has committed (on SQLite only those served by the process
/// that ran it: the CLI's change shows in the server's pages at their next load).
pub async fn promote(
    db: &DatabaseConnection,
    events: &super::events::Events,
    now: i64,
    op: &super::permissions::OperatorCap,
    workspace_id: i64,
    email: &str,
) -> Result<(), DomainError> {
    let actor = op.actor();
    let email = normalize_email(email)?;
    let txn = crate::server::db::write(db).await?;
    let acct = account_by_email(&txn, workspace_id, &email).await?.ok_or(DomainError::NotFound)?;
    let m = membership_of(&txn, workspace_id, acct.id).await?.ok_or(DomainError::NotFound)?;
    if m.status != Status::Active {
        reactivate_in(&txn, now, &m).await?;
    }
    let old = m.role;
    let mut am: membership::ActiveModel = m.into();
    am.role = Set(Role::Admin);
    am.status = Set(Status::Active);
    am.updated_at = Set(now);
    let m = am.update(&txn).await?;
    audit::record(&txn, now, Some(workspace_id), actor, "recover.promote", &email, json!({})).await?;
    if old != Role::Admin {
        crate::server::webhooks::member_event(&txn, now, crate::server::webhooks::Kind::MemberRoleChanged, &m, json!({ "from": old.as_str() })).await?;
    }
    txn.commit().await?;
    events.publish(db, workspace_id, &super::events::Topic::ALL).await;
    Ok(())
}

/// Invites not yet accepted and not expired, newest first.
async fn pending_invites<C: ConnectionTrait>(db: &C, now: i64, workspace_id: i64) -> Result<Vec<invite::Model>, DomainError> {
    Ok(invite::Entity::find()
        .filter(invite::Column::WorkspaceId.eq(workspace_id))
        .filter(invite::Column::AcceptedAt.is_null())
        .filter(invite::Column::ExpiresAt.gt(now))
        .order_by_desc(invite::Column::Id)
        .all(db)
        .await?)
}

/// The Members page's invites: those pending, and the one a no-JS invite just made when
/// `flash` (`{token}.{emailed}`, from the one-time cookie) names a pending invite of this
/// workspace; anything else in it shows nothing.
pub async fn invites_page<C: ConnectionTrait>(db: &C, public_url: &str, now: i64, cap: &AdminCap, flash: Option<&str>) -> Result<InvitesPage, DomainError> {
    let pending = pending_invites(db, now, cap.workspace_id()).await?;
    let fresh = flash.and_then(|v| v.split_once('.')).and_then(|(token, emailed)| {
        let hash = crate::server::crypto::Token::from_presented(token).hash();
        pending.iter().find(|i| i.token_hash == hash).map(|i| InviteCreated {
            email: i.email.clone(),
            link: format!("{public_url}/invite/{token}"),
            emailed: emailed == "1",
        })
    });
    let pending = pending
        .into_iter()
        .map(|i| PendingInvite { id: i.id, email: i.email, role: i.role, expires_in_days: (i.expires_at - now + 86_399) / 86_400 })
        .collect();
    Ok(InvitesPage { pending, fresh })
}

/// Withdraws a pending invite: its link stops working at once.
pub async fn revoke_invite<C: ConnectionTrait>(db: &C, now: i64, cap: &AdminCap, invite_id: i64) -> Result<(), DomainError> {
    let inv = invite::Entity::find_by_id(invite_id)
        .one(db)
        .await?
        .filter(|i| i.workspace_id == cap.workspace_id() && i.accepted_at.is_none())
        .ok_or(DomainError::NotFound)?;
    invite::Entity::delete_by_id(inv.id).exec(db).await?;
    audit::record(db, now, Some(cap.workspace_id()), cap.actor(), "member.invite_revoke", &inv.email_normalized, json!({})).await?;
    Ok(())
}
