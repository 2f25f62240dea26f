//! IdP groups at sign-in, for workspaces without SCIM: a provider names the attribute that
//! lists a member's IdP groups, the admin maps IdP groups to Gatehouse groups, and each
//! sign-in with that provider brings the member's mapped groups in line with the list (and
//! the role, when the admin named IdP groups of admins).
//!
//! One source of truth per group: a mapped group is managed by sign-in (admins can't edit
//! it in the UI; SCIM neither sees nor touches it), and neither Everyone nor a
//! SCIM-managed group can be mapped. One source of truth per role too: only one provider
//! of a workspace may set roles, never for members a SCIM client manages, and only for
//! members whose email is in a domain the provider may assert.
use std::collections::BTreeSet;

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;

use crate::server::access::{announce, Change};
use crate::server::audit;
use crate::server::entities::{group, group_member, membership, saml_provider};
use crate::server::permissions::{AdminCap, Role, Status};
use crate::server::webhooks::{self, Kind};
use crate::server::{directory, DomainError};

/// The longest attribute or IdP group name, and the most admin groups.
const MAX_NAME: usize = 200;
const MAX_ADMIN_GROUPS: usize = 20;

fn clean_name(raw: &str, what: &str) -> Result<String, DomainError> {
    let s = raw.trim();
    if s.chars().count() > MAX_NAME || s.chars().any(char::is_control) {
        return Err(DomainError::Invalid(format!("{what} is at most {MAX_NAME} characters, without control characters.")));
    }
    Ok(s.to_string())
}

/// The IdP groups named one per line, trimmed, without repeats (names may hold commas:
/// `CN=Admins,OU=Groups,DC=corp`).
fn names_in(list: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in list.lines().map(str::trim).filter(|n| !n.is_empty()) {
        if !out.iter().any(|o| same(o, n)) {
            out.push(n.to_string());
        }
    }
    out
}

/// IdP group names compare without case (directory groups and GUIDs are case-blind).
fn same(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// Sets the attribute that lists a member's IdP groups (empty: no syncing) and the IdP
/// groups whose members are admins (empty: the role isn't set at sign-in).
pub async fn configure(db: &DatabaseConnection, now: i64, cap: &AdminCap, public_id: &str, attribute: &str, admin_groups: &str) -> Result<(), DomainError> {
    let attribute = clean_name(attribute, "The groups attribute")?;
    let admins = names_in(admin_groups);
    if admins.len() > MAX_ADMIN_GROUPS {
        return Err(DomainError::Invalid(format!("Name at most {MAX_ADMIN_GROUPS} IdP groups of admins.")));
    }
    for a in &admins {
        clean_name(a, "An IdP group name")?;
    }
    if attribute.is_empty() && !admins.is_empty() {
        return Err(DomainError::Invalid("Name the groups attribute first: admins are found by their IdP groups.".into()));
    }
    let txn = crate::server::db::write(db).await?;
    crate::server::db::lock_workspace(&txn, cap.workspace_id()).await?;
    let p = super::row(&txn, cap, public_id).await?;
    if !admins.is_empty() {
        let other = saml_provider::Entity::find()
            .filter(saml_provider::Column::WorkspaceId.eq(cap.workspace_id()))
            .filter(saml_provider::Column::Id.ne(p.id))
            .filter(saml_provider::Column::AdminIdpGroups.ne(""))
            .one(&txn)
            .await?;
        if let Some(o) = other {
            return Err(DomainError::Refused(format!(
                "{} already sets roles at sign-in; one provider may, so two IdPs never disagree on who is admin.",
                o.name
            )));
        }
    }
    let mut am: saml_provider::ActiveModel = p.clone().into();
    am.groups_attribute = Set(attribute.clone());
    am.admin_idp_groups = Set(admins.join("\n"));
    am.updated_at = Set(now);
    am.update(&txn).await?;
    let key = super::method_key(&p.public_id);
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "saml.provider.groups", &key, json!({ "attribute": attribute, "admin_groups": admins }))
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Maps IdP group `idp_group` of the provider to group `group_id`, which from now on is
/// managed by sign-in: each member's next sign-in with this provider adds or removes them.
pub async fn map(db: &DatabaseConnection, now: i64, cap: &AdminCap, public_id: &str, idp_group: &str, group_id: i64) -> Result<String, DomainError> {
    let idp_group = clean_name(idp_group, "The IdP group name")?;
    if idp_group.is_empty() {
        return Err(DomainError::Invalid("Give the IdP group's name as the IdP sends it.".into()));
    }
    let txn = crate::server::db::write(db).await?;
    crate::server::db::lock_workspace(&txn, cap.workspace_id()).await?;
    let p = super::row(&txn, cap, public_id).await?;
    // Not Everyone, not SCIM's, not mapped already (to this or another provider).
    let g = directory::groups::editable_group(&txn, cap, group_id).await?;
    if let Some(t) = mapped(&txn, p.id).await?.into_iter().find(|t| t.idp_group.as_deref().is_some_and(|i| same(i, &idp_group))) {
        return Err(DomainError::Invalid(format!("“{idp_group}” is already mapped to “{}”.", t.name)));
    }
    // Only while nobody else manages it (a SCIM client may link groups concurrently).
    use sea_orm::sea_query::Expr;
    let done = group::Entity::update_many()
        .col_expr(group::Column::SignInProviderId, Expr::value(Some(p.id)))
        .col_expr(group::Column::IdpGroup, Expr::value(Some(idp_group.clone())))
        .col_expr(group::Column::Version, Expr::value(g.version + 1))
        .col_expr(group::Column::UpdatedAt, Expr::value(now))
        .filter(group::Column::Id.eq(g.id))
        .filter(group::Column::ManagedByProviderId.is_null())
        .filter(group::Column::SignInProviderId.is_null())
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(DomainError::Refused("Another source took this group over meanwhile; load the page again.".into()));
    }
    let key = super::method_key(&p.public_id);
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "saml.group.map", &g.name, json!({ "provider": key, "idp_group": idp_group })).await?;
    txn.commit().await?;
    Ok(g.name)
}

/// Ends the mapping of group `group_id` to the provider: it is the admins' again, with the
/// members it has now.
pub async fn unmap(db: &DatabaseConnection, now: i64, cap: &AdminCap, public_id: &str, group_id: i64) -> Result<String, DomainError> {
    let txn = crate::server::db::write(db).await?;
    let p = super::row(&txn, cap, public_id).await?;
    let g = group::Entity::find_by_id(group_id)
        .filter(group::Column::WorkspaceId.eq(cap.workspace_id()))
        .filter(group::Column::SignInProviderId.eq(p.id))
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound)?;
    let mut am: group::ActiveModel = g.clone().into();
    am.sign_in_provider_id = Set(None);
    am.idp_group = Set(None);
    am.version = Set(g.version + 1);
    am.updated_at = Set(now);
    am.update(&txn).await?;
    let key = super::method_key(&p.public_id);
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "saml.group.unmap", &g.name, json!({ "provider": key, "idp_group": g.idp_group })).await?;
    txn.commit().await?;
    Ok(g.name)
}

/// The provider's mapped groups, by IdP group name.
pub(in crate::server) async fn mapped<C: ConnectionTrait>(db: &C, provider_id: i64) -> Result<Vec<group::Model>, DomainError> {
    Ok(group::Entity::find().filter(group::Column::SignInProviderId.eq(provider_id)).order_by_asc(group::Column::IdpGroup).all(db).await?)
}

/// What a sign-in changed (or, in a test sign-in, would change).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Synced {
    /// The IdP groups the assertion listed (`None`: the provider syncs no groups).
    pub listed: Option<Vec<String>>,
    /// Why nothing was synced although the provider syncs groups (the list is incomplete).
    pub skipped: Option<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// The role set (`None`: unchanged).
    pub role: Option<Role>,
    /// The role the groups asked for but the last-admin rule kept.
    pub kept_admin: bool,
}

impl Synced {
    pub fn changed(&self) -> bool {
        !self.added.is_empty() || !self.removed.is_empty() || self.role.is_some()
    }

    /// In words, for the sign-in report.
    pub fn describe(&self) -> String {
        if let Some(why) = &self.skipped {
            return format!("groups not synced: {why}");
        }
        let Some(listed) = &self.listed else { return "this provider syncs no groups".into() };
        let list = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join(", ") };
        let mut s = format!("IdP groups listed: {}; added to: {}; removed from: {}", list(listed), list(&self.added), list(&self.removed));
        if let Some(r) = self.role {
            s.push_str(&format!("; role: {}", r.as_str()));
        }
        if self.kept_admin {
            s.push_str("; kept admin (the last active admin)");
        }
        s
    }
}

/// The IdP groups the provider's attribute lists in `attributes`, lower-cased (none when
/// it is absent: a member the IdP lists in no group is in none of the mapped groups).
fn listed(p: &saml_provider::Model, attributes: &[(String, Vec<String>)]) -> Option<BTreeSet<String>> {
    if p.groups_attribute.is_empty() {
        return None;
    }
    Some(attributes.iter().filter(|(n, _)| n.eq_ignore_ascii_case(&p.groups_attribute)).flat_map(|(_, v)| v.iter().map(|g| g.trim().to_lowercase())).collect())
}

/// Why the list can't be trusted as complete: Entra's overage (more groups than a token
/// carries: the claim is left out and a link sent instead), or more values than are read.
fn incomplete(p: &saml_provider::Model, attributes: &[(String, Vec<String>)]) -> Option<String> {
    const OVERAGE: &str = "http://schemas.microsoft.com/claims/groups.link";
    if attributes.iter().any(|(n, _)| n.eq_ignore_ascii_case(OVERAGE)) {
        return Some("the IdP sent a link instead of the groups (Entra's group overage: the member is in too many groups; emit only the groups assigned to the application)".into());
    }
    let values = attributes.iter().filter(|(n, _)| n.eq_ignore_ascii_case(&p.groups_attribute)).map(|(_, v)| v.len()).max().unwrap_or(0);
    (values >= super::acs::MAX_ATTRIBUTE_VALUES).then(|| format!("the assertion lists {values} or more groups, more than are read"))
}

/// The IdP groups the assertion lists, sorted (`None`: the provider syncs no groups).
pub(in crate::server) fn listed_names(p: &saml_provider::Model, attributes: &[(String, Vec<String>)]) -> Option<Vec<String>> {
    listed(p, attributes).map(|l| l.into_iter().collect())
}

/// Brings membership `m`'s mapped groups and role in line with what the assertion lists,
/// in the sign-in's transaction; `apply: false` only says what it would do (test sign-in).
/// A deactivated member is left alone (the sign-in is refused anyway).
pub(in crate::server) async fn sync<C: ConnectionTrait>(
    db: &C,
    now: i64,
    p: &saml_provider::Model,
    m: &membership::Model,
    attributes: &[(String, Vec<String>)],
    apply: bool,
) -> Result<Synced, DomainError> {
    let Some(listed) = listed(p, attributes) else { return Ok(Synced::default()) };
    let mut out = Synced { listed: Some(listed.iter().cloned().collect()), ..Default::default() };
    if let Some(why) = incomplete(p, attributes) {
        // Keep what the member has rather than act on a partial list.
        out.skipped = Some(why);
        return Ok(out);
    }
    // The workspace's lock first, then the membership as it is now: group rows and the
    // admin count are then read and written in one order by every sign-in.
    if apply {
        crate::server::db::lock_workspace(db, m.workspace_id).await?;
    }
    let Some(m) = membership::Entity::find_by_id(m.id).one(db).await? else { return Ok(out) };
    let m = &m;
    if m.status != Status::Active {
        return Ok(out);
    }
    let current: BTreeSet<i64> =
        group_member::Entity::find().filter(group_member::Column::MembershipId.eq(m.id)).all(db).await?.into_iter().map(|gm| gm.group_id).collect();
    for g in mapped(db, p.id).await? {
        let wanted = g.idp_group.as_ref().is_some_and(|i| listed.contains(&i.to_lowercase()));
        let has = current.contains(&g.id);
        if wanted == has {
            continue;
        }
        if wanted {
            out.added.push(g.name.clone())
        } else {
            out.removed.push(g.name.clone())
        }
        if !apply {
            continue;
        }
        if wanted {
            announce(db, now, m.workspace_id, &Change::AddMember { group: g.id, membership: m.id }, "sign_in_groups").await?;
            // Two sign-ins of one member at once both add: the second finds it done.
            group_member::Entity::insert(group_member::ActiveModel { group_id: Set(g.id), membership_id: Set(m.id), created_at: Set(now) })
                .on_conflict(OnConflict::columns([group_member::Column::GroupId, group_member::Column::MembershipId]).do_nothing().to_owned())
                .exec_without_returning(db)
                .await?;
        } else {
            announce(db, now, m.workspace_id, &Change::RemoveMember { group: g.id, membership: m.id }, "sign_in_groups").await?;
            group_member::Entity::delete_many()
                .filter(group_member::Column::GroupId.eq(g.id))
                .filter(group_member::Column::MembershipId.eq(m.id))
                .exec(db)
                .await?;
        }
        let mut am: group::ActiveModel = g.clone().into();
        am.version = Set(g.version + 1);
        am.updated_at = Set(now);
        am.update(db).await?;
        let moved = if wanted { json!({ "members_added": [m.id] }) } else { json!({ "members_removed": [m.id] }) };
        webhooks::group_event(db, now, m.workspace_id, Kind::GroupChanged, g.id, &g.name, moved).await?;
    }
    let admins = names_in(&p.admin_idp_groups);
    // Roles: not for members a SCIM client manages (it sets theirs), and only for members
    // in a domain this provider may assert (a provider limited to other domains can't
    // make or unmake the workspace's own admins).
    let asserts = match crate::server::entities::account::Entity::find_by_id(m.account_id).one(db).await? {
        Some(a) => super::may_assert(db, p, &a.email_normalized).await?,
        None => false,
    };
    if !admins.is_empty() && m.managed_by_provider_id.is_none() && asserts {
        let role = if admins.iter().any(|a| listed.contains(&a.to_lowercase())) { Role::Admin } else { Role::Member };
        if role != m.role {
            let last = if role == Role::Member {
                if apply {
                    directory::lock_for_admin_change(db, m.workspace_id).await?;
                }
                directory::active_admin_count(db, m.workspace_id).await? <= 1
            } else {
                false
            };
            if last {
                out.kept_admin = true;
            } else {
                out.role = Some(role);
                if apply {
                    let mut am: membership::ActiveModel = m.clone().into();
                    am.role = Set(role);
                    am.updated_at = Set(now);
                    let updated = am.update(db).await?;
                    webhooks::member_event(db, now, Kind::MemberRoleChanged, &updated, json!({ "from": m.role.as_str() })).await?;
                }
            }
        }
    }
    if apply && out.changed() {
        let actor = audit::Actor::anonymous(&format!("{} (sign-in groups)", p.name), None);
        let details = json!({ "member": m.id, "added": out.added, "removed": out.removed, "role": out.role.map(Role::as_str) });
        audit::record(db, now, Some(m.workspace_id), &actor, "saml.groups.sync", &super::key_of(p), details).await?;
    }
    Ok(out)
}

/// Whether `attributes` (a sign-in's) list one of `p`'s admins' IdP groups: `None` when
/// the provider sets no roles, or the list isn't there or can't be complete.
pub(in crate::server) fn lists_an_admin_group(p: &saml_provider::Model, attributes: &[(String, Vec<String>)]) -> Option<bool> {
    let admins = names_in(&p.admin_idp_groups);
    if admins.is_empty() || incomplete(p, attributes).is_some() {
        return None;
    }
    let listed = listed(p, attributes)?;
    Some(admins.iter().any(|g| listed.contains(&g.to_lowercase())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(attribute: &str) -> saml_provider::Model {
        saml_provider::Model {
            id: 1,
            public_id: "p".into(),
            workspace_id: 1,
            name: "IdP".into(),
            idp_entity_id: String::new(),
            sso_url: String::new(),
            certificates: String::new(),
            allow_idp_initiated: false,
            sign_requests: false,
            require_encryption: false,
            nameid_format: String::new(),
            attr_email: String::new(),
            attr_given_name: String::new(),
            attr_family_name: String::new(),
            sp_key_pem: None,
            sp_cert_pem: None,
            provisioning_enabled: false,
            created_at: 0,
            updated_at: 0,
            asserted_domains: None,
            slo_url: String::new(),
            slo_binding: String::new(),
            groups_attribute: attribute.into(),
            admin_idp_groups: String::new(),
            protocol: "saml".into(),
            oidc_issuer: String::new(),
            oidc_client_id: String::new(),
            oidc_client_secret: None,
            oidc_scopes: String::new(),
            oidc_require_email_verified: true,
        }
    }

    #[test]
    fn a_list_that_cannot_be_complete_is_not_acted_on() {
        let p = provider("groups");
        let some = vec![("groups".to_string(), vec!["A".to_string(), " b ".to_string()])];
        assert_eq!(listed(&p, &some), Some(["a".to_string(), "b".to_string()].into_iter().collect()), "trimmed, without case");
        assert_eq!(incomplete(&p, &some), None);
        let overage = vec![("http://schemas.microsoft.com/claims/groups.link".to_string(), vec!["https://graph.microsoft.com/…".to_string()])];
        assert!(incomplete(&p, &overage).is_some_and(|w| w.contains("overage")));
        let full = vec![("Groups".to_string(), (0..crate::server::saml::acs::MAX_ATTRIBUTE_VALUES).map(|n| n.to_string()).collect())];
        assert!(incomplete(&p, &full).is_some_and(|w| w.contains("more than are read")));
        assert_eq!(listed(&provider(""), &some), None, "no attribute named: no syncing");
    }

    #[test]
    fn admin_groups_are_one_per_line_and_may_hold_commas() {
        assert_eq!(names_in("CN=Admins,OU=Groups,DC=corp\n  ops \n\nOPS\n"), ["CN=Admins,OU=Groups,DC=corp", "ops"]);
    }
}
