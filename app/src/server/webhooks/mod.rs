//! Signed webhooks: a workspace's admins register endpoints and choose events; each event
//! is queued for each endpoint that wants it **in the transaction of the change it
//! reports** (an outbox: a change that rolls back sends nothing, one that commits is never
//! lost), then sent by [`delivery`]'s worker in any server process, signed the Standard
//! Webhooks way (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<HMAC-SHA256>`).
//!
//! Isolation: an event is queued only for endpoints of the workspace it happened in, and
//! carries only that workspace's data; endpoint URLs follow the outbound policy of
//! metadata URLs ([`super::outbound`]), checked when saved and again at every attempt.
use base64::Engine;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::json;

use super::audit;
use super::crypto::Secret;
use super::entities::{account, membership, webhook_delivery, webhook_endpoint, workspace};
use super::permissions::AdminCap;
use super::DomainError;
use crate::model::{WebhookDeliveryRow, WebhookEndpointRow, WebhookSecretShown, WebhooksPage};

pub mod delivery;

/// Endpoints one workspace may register.
pub const MAX_ENDPOINTS: u64 = 10;
/// Changed members listed in one `access.changed` event; `total` counts them all.
pub const ACCESS_ROWS: usize = 500;
/// Deliveries one endpoint may have waiting; events beyond it are counted, not queued (a
/// dead endpoint can't grow the shared database without bound).
pub const MAX_PENDING: u64 = 10_000;
/// Test events one endpoint may be sent a minute.
const TESTS_PER_MINUTE: i64 = 10;
const SECRET_PREFIX: &str = "whsec_";

/// What an endpoint can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    MemberJoined,
    MemberDeactivated,
    MemberReactivated,
    MemberRoleChanged,
    GroupCreated,
    GroupChanged,
    GroupDeleted,
    AccessChanged,
    SessionRevoked,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::MemberJoined,
        Kind::MemberDeactivated,
        Kind::MemberReactivated,
        Kind::MemberRoleChanged,
        Kind::GroupCreated,
        Kind::GroupChanged,
        Kind::GroupDeleted,
        Kind::AccessChanged,
        Kind::SessionRevoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::MemberJoined => "member.joined",
            Kind::MemberDeactivated => "member.deactivated",
            Kind::MemberReactivated => "member.reactivated",
            Kind::MemberRoleChanged => "member.role_changed",
            Kind::GroupCreated => "group.created",
            Kind::GroupChanged => "group.changed",
            Kind::GroupDeleted => "group.deleted",
            Kind::AccessChanged => "access.changed",
            Kind::SessionRevoked => "session.revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::MemberJoined => "a member joined (invite, sign-in, SCIM)",
            Kind::MemberDeactivated => "a member was deactivated (their groups and sessions end)",
            Kind::MemberReactivated => "a member was reactivated",
            Kind::MemberRoleChanged => "a member became admin or member",
            Kind::GroupCreated => "a group was created",
            Kind::GroupChanged => "a group was renamed or its members changed",
            Kind::GroupDeleted => "a group was deleted",
            Kind::AccessChanged => "members gained or lost access to resources (a grant or a group's members changed)",
            Kind::SessionRevoked => "sessions ended before their time (sign-out, an admin, deactivation)",
        }
    }
}

/// The endpoints of one workspace that want one kind of event: what a change site asks
/// before building the event, so a workspace without webhooks pays one indexed read.
pub(in crate::server) struct Outbox {
    workspace_id: i64,
    kind: Kind,
    endpoints: Vec<i64>,
}

async fn subscribed<C: ConnectionTrait>(db: &C, workspace_id: i64, kinds: &[Kind]) -> Result<Vec<i64>, DomainError> {
    let rows: Vec<(i64, String)> = webhook_endpoint::Entity::find()
        .select_only()
        .column(webhook_endpoint::Column::Id)
        .column(webhook_endpoint::Column::Events)
        .filter(webhook_endpoint::Column::WorkspaceId.eq(workspace_id))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().filter(|(_, events)| events.split_whitespace().any(|e| kinds.iter().any(|k| k.as_str() == e))).map(|(id, _)| id).collect())
}

/// Whether any endpoint of `workspace_id` wants one of `kinds` (to skip preparing an event
/// nobody will get).
pub(in crate::server) async fn wanted<C: ConnectionTrait>(db: &C, workspace_id: i64, kinds: &[Kind]) -> Result<bool, DomainError> {
    Ok(!subscribed(db, workspace_id, kinds).await?.is_empty())
}

/// The endpoints of `workspace_id` subscribed to `kind`, or `None` when there are none.
/// When there are, the transaction takes the workspace's lock (PostgreSQL) before reading
/// them again: the workspace's changes that queue events then commit one after another,
/// so their deliveries' ids are in commit order (the order subjects are sent in), and an
/// endpoint can't be deleted under the event being queued for it.
pub(in crate::server) async fn outbox<C: ConnectionTrait>(db: &C, workspace_id: i64, kind: Kind) -> Result<Option<Outbox>, DomainError> {
    if subscribed(db, workspace_id, &[kind]).await?.is_empty() {
        return Ok(None);
    }
    super::db::lock_workspace(db, workspace_id).await?;
    let endpoints = subscribed(db, workspace_id, &[kind]).await?;
    Ok((!endpoints.is_empty()).then_some(Outbox { workspace_id, kind, endpoints }))
}

/// One event as every endpoint is sent it: its id and its body.
struct Event {
    id: String,
    kind: &'static str,
    workspace_id: i64,
    payload: String,
}

impl Event {
    async fn new<C: ConnectionTrait>(db: &C, now: i64, workspace_id: i64, kind: &'static str, data: serde_json::Value) -> Result<Event, DomainError> {
        let slug = workspace::Entity::find_by_id(workspace_id).one(db).await?.map(|w| w.slug).unwrap_or_default();
        let id = format!("msg_{}", super::crypto::random_hex(16));
        let timestamp = chrono::DateTime::<chrono::Utc>::from_timestamp(now, 0).map(|t| t.to_rfc3339()).unwrap_or_default();
        let payload = json!({ "id": id, "type": kind, "timestamp": timestamp, "workspace": slug, "data": data }).to_string();
        Ok(Event { id, kind, workspace_id, payload })
    }

    /// Its delivery to `endpoint_id`, pending from `now`.
    async fn deliver_to<C: ConnectionTrait>(&self, db: &C, now: i64, endpoint_id: i64, subject: &str) -> Result<(), DomainError> {
        webhook_delivery::ActiveModel {
            endpoint_id: Set(endpoint_id),
            workspace_id: Set(self.workspace_id),
            event_id: Set(self.id.clone()),
            event_type: Set(self.kind.to_string()),
            subject: Set(subject.to_string()),
            payload: Set(self.payload.clone()),
            state: Set(delivery::PENDING.to_string()),
            attempts: Set(0),
            next_attempt_at: Set(now),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await?;
        Ok(())
    }
}

impl Outbox {
    /// Queues the event (`data` is its `data` object) for every endpoint, in `db`'s
    /// transaction. Deliveries with the same `subject` reach an endpoint in order.
    pub(in crate::server) async fn queue<C: ConnectionTrait>(self, db: &C, now: i64, subject: &str, data: serde_json::Value) -> Result<(), DomainError> {
        let event = Event::new(db, now, self.workspace_id, self.kind.as_str(), data).await?;
        for endpoint_id in self.endpoints {
            let waiting = webhook_delivery::Entity::find()
                .filter(webhook_delivery::Column::EndpointId.eq(endpoint_id))
                .filter(webhook_delivery::Column::State.eq(delivery::PENDING))
                .count(db)
                .await?;
            if waiting >= MAX_PENDING {
                use sea_orm::sea_query::{Expr, ExprTrait};
                webhook_endpoint::Entity::update_many()
                    .col_expr(webhook_endpoint::Column::Dropped, Expr::col(webhook_endpoint::Column::Dropped).add(1))
                    .filter(webhook_endpoint::Column::Id.eq(endpoint_id))
                    .exec(db)
                    .await?;
                continue;
            }
            event.deliver_to(db, now, endpoint_id, subject).await?;
        }
        Ok(())
    }
}

/// A member as events show them.
pub(in crate::server) fn member_json(m: &membership::Model, a: &account::Model) -> serde_json::Value {
    json!({ "id": m.id, "email": a.email, "name": a.full_name, "role": m.role.as_str(), "status": m.status.as_str() })
}

/// Queues a `member.*` event about membership `m` (its account read only when some
/// endpoint wants it); `extra` is merged into `data` next to `member`.
pub(in crate::server) async fn member_event<C: ConnectionTrait>(
    db: &C,
    now: i64,
    kind: Kind,
    m: &membership::Model,
    extra: serde_json::Value,
) -> Result<(), DomainError> {
    let Some(out) = outbox(db, m.workspace_id, kind).await? else { return Ok(()) };
    let Some(a) = account::Entity::find_by_id(m.account_id).one(db).await? else { return Ok(()) };
    let mut data = json!({ "member": member_json(m, &a) });
    if let (Some(d), serde_json::Value::Object(more)) = (data.as_object_mut(), extra) {
        d.extend(more);
    }
    out.queue(db, now, &format!("member:{}", m.id), data).await
}

/// Queues a `group.*` event about group `id` named `name`; `extra` is merged into `data`.
pub(in crate::server) async fn group_event<C: ConnectionTrait>(
    db: &C,
    now: i64,
    workspace_id: i64,
    kind: Kind,
    id: i64,
    name: &str,
    extra: serde_json::Value,
) -> Result<(), DomainError> {
    let Some(out) = outbox(db, workspace_id, kind).await? else { return Ok(()) };
    let mut data = json!({ "group": { "id": id, "name": name } });
    if let (Some(d), serde_json::Value::Object(more)) = (data.as_object_mut(), extra) {
        d.extend(more);
    }
    out.queue(db, now, &format!("group:{id}"), data).await
}

/// Sessions that ended before their time: `member` (membership id and email) when they
/// were one member's, `reason` a fixed word (`signed_out`, `admin`, `deactivated`,
/// `other_devices`, `everyone`, `sign_in_method_disabled`, `idp_logout`).
pub(in crate::server) async fn sessions_event<C: ConnectionTrait>(
    db: &C,
    now: i64,
    workspace_id: i64,
    account_id: Option<i64>,
    sessions: u64,
    reason: &str,
) -> Result<(), DomainError> {
    if sessions == 0 {
        return Ok(());
    }
    let Some(out) = outbox(db, workspace_id, Kind::SessionRevoked).await? else { return Ok(()) };
    let (member, subject) = match account_id {
        Some(account_id) => {
            let m = membership::Entity::find()
                .filter(membership::Column::WorkspaceId.eq(workspace_id))
                .filter(membership::Column::AccountId.eq(account_id))
                .one(db)
                .await?;
            let a = account::Entity::find_by_id(account_id).one(db).await?;
            match (m, a) {
                (Some(m), Some(a)) => (json!({ "id": m.id, "email": a.email }), format!("member:{}", m.id)),
                _ => (serde_json::Value::Null, "sessions".to_string()),
            }
        }
        None => (serde_json::Value::Null, "sessions".to_string()),
    };
    out.queue(db, now, &subject, json!({ "member": member, "sessions": sessions, "reason": reason })).await
}

fn invalid(m: impl Into<String>) -> DomainError {
    DomainError::Invalid(m.into())
}

fn new_secret() -> Secret {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    Secret::new(format!("{SECRET_PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(b)))
}

/// The key bytes of a `whsec_…` secret.
pub(in crate::server) fn secret_key(s: &Secret) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s.expose().strip_prefix(SECRET_PREFIX)?).ok()
}

/// Checks an endpoint URL as typed: absolute http(s) (https only on an https server), no
/// credentials or fragment, at most 2,000 characters, and its host public (the outbound
/// policy) now; every attempt checks it again.
async fn check_url(raw: &str, strict: bool, allow_private: bool) -> Result<String, DomainError> {
    let raw = raw.trim();
    if raw.len() > 2000 {
        return Err(invalid("The URL is longer than 2,000 characters."));
    }
    let url = url::Url::parse(raw).map_err(|_| invalid("The URL is not a valid absolute URL, e.g. https://app.example.com/hooks/gatehouse."))?;
    if url.scheme() != "https" && (strict || url.scheme() != "http") {
        return Err(invalid("The URL must start with https://."));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("The URL may not carry a user name or password; the signature proves the sender."));
    }
    if url.fragment().is_some() {
        return Err(invalid("The URL may not have a #fragment."));
    }
    use super::outbound::{pinned_client, Refusal};
    match pinned_client(&url, allow_private, std::time::Duration::from_secs(5)).await {
        Ok(_) => Ok(url.to_string()),
        Err(Refusal::NoHost) => Err(invalid("The URL has no host.")),
        Err(Refusal::NotResolved) => Err(invalid("The URL's host name could not be resolved.")),
        Err(Refusal::Private) => Err(invalid("The URL points to a private or local address; webhooks go to public addresses only.")),
        Err(Refusal::Client(e)) => Err(DomainError::Internal(e)),
    }
}

/// What an endpoint form names (the URL and the events ticked) and the server's policy for
/// it: https only (a server reached over https), private addresses allowed (labs).
pub struct EndpointInput<'a> {
    pub url: &'a str,
    pub events: &'a [Kind],
    pub https_only: bool,
    pub allow_private: bool,
}

/// Registers an endpoint; returns its id and the one copy of its signing secret.
pub async fn create(db: &DatabaseConnection, now: i64, cap: &AdminCap, input: EndpointInput<'_>) -> Result<(i64, String), DomainError> {
    if input.events.is_empty() {
        return Err(invalid("Choose at least one event."));
    }
    let url = check_url(input.url, input.https_only, input.allow_private).await?;
    let mut events = input.events.to_vec();
    events.sort();
    events.dedup();
    let events = events.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(" ");
    let secret = new_secret();
    let txn = super::db::write(db).await?;
    super::db::lock_workspace(&txn, cap.workspace_id()).await?;
    if webhook_endpoint::Entity::find().filter(webhook_endpoint::Column::WorkspaceId.eq(cap.workspace_id())).count(&txn).await? >= MAX_ENDPOINTS {
        return Err(invalid(format!("A workspace has at most {MAX_ENDPOINTS} webhook endpoints; delete one first.")));
    }
    let e = webhook_endpoint::ActiveModel {
        workspace_id: Set(cap.workspace_id()),
        url: Set(url.clone()),
        events: Set(events.clone()),
        secret: Set(secret.clone()),
        previous_secret: Set(None),
        previous_valid_until: Set(None),
        created_at: Set(now),
        created_by: Set(cap.actor().label.clone()),
        dropped: Set(0),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "webhook.create", &url, json!({ "id": e.id, "events": events })).await?;
    txn.commit().await?;
    Ok((e.id, secret.expose().to_string()))
}

async fn endpoint_of<C: ConnectionTrait>(db: &C, cap: &AdminCap, id: i64) -> Result<webhook_endpoint::Model, DomainError> {
    webhook_endpoint::Entity::find_by_id(id).filter(webhook_endpoint::Column::WorkspaceId.eq(cap.workspace_id())).one(db).await?.ok_or(DomainError::NotFound)
}

/// A new signing secret for endpoint `id`. For `overlap_secs` (one of the rotation
/// choices) deliveries carry a signature by the old secret too, so the receiver can switch
/// without dropping any.
pub async fn rotate(db: &DatabaseConnection, now: i64, cap: &AdminCap, id: i64, overlap_secs: i64) -> Result<(String, String), DomainError> {
    if !super::crypto::ROTATION_OVERLAPS_SECS.contains(&overlap_secs) {
        return Err(invalid("Choose how long the old secret keeps signing."));
    }
    let txn = super::db::write(db).await?;
    super::db::lock_workspace(&txn, cap.workspace_id()).await?;
    let e = endpoint_of(&txn, cap, id).await?;
    let secret = new_secret();
    let mut m: webhook_endpoint::ActiveModel = e.clone().into();
    m.previous_secret = Set((overlap_secs > 0).then(|| e.secret.clone()));
    m.previous_valid_until = Set((overlap_secs > 0).then_some(now + overlap_secs));
    m.secret = Set(secret.clone());
    m.update(&txn).await?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "webhook.rotate", &e.url, json!({ "id": e.id, "overlap_secs": overlap_secs })).await?;
    txn.commit().await?;
    Ok((e.url, secret.expose().to_string()))
}

/// Deletes endpoint `id` and its queue: nothing more is sent to it.
pub async fn delete(db: &DatabaseConnection, now: i64, cap: &AdminCap, id: i64) -> Result<String, DomainError> {
    let txn = super::db::write(db).await?;
    super::db::lock_workspace(&txn, cap.workspace_id()).await?;
    let e = endpoint_of(&txn, cap, id).await?;
    webhook_delivery::Entity::delete_many().filter(webhook_delivery::Column::EndpointId.eq(e.id)).exec(&txn).await?;
    webhook_endpoint::Entity::delete_by_id(e.id).exec(&txn).await?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "webhook.delete", &e.url, json!({ "id": e.id })).await?;
    txn.commit().await?;
    Ok(e.url)
}

/// Queues a `webhook.test` event for endpoint `id` alone (the page's "Send test event"),
/// at most [`TESTS_PER_MINUTE`] a minute.
pub async fn send_test(db: &DatabaseConnection, now: i64, cap: &AdminCap, id: i64) -> Result<String, DomainError> {
    endpoint_of(db, cap, id).await?;
    if !super::ratelimit::reserve(db, &[(&format!("webhook-test:{id}"), TESTS_PER_MINUTE)], now, 60).await? {
        return Err(DomainError::RateLimited { retry_after_secs: 60 - now.rem_euclid(60) });
    }
    let txn = super::db::write(db).await?;
    let e = endpoint_of(&txn, cap, id).await?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "webhook.test", &e.url, json!({ "id": e.id })).await?;
    let event = Event::new(&txn, now, e.workspace_id, "webhook.test", json!({ "sent_by": cap.actor().label })).await?;
    event.deliver_to(&txn, now, e.id, "test").await?;
    txn.commit().await?;
    Ok(e.url)
}

/// Deliveries the page lists (the newest of the workspace).
const LOG_ROWS: u64 = 50;

/// The webhooks page: endpoints with their queues, the newest deliveries, the events and
/// overlap choices, and `flash` (`id.secret`, a secret just made without JavaScript) only
/// while it is that endpoint's current secret.
pub async fn page(db: &DatabaseConnection, cap: &AdminCap, flash: Option<&str>) -> Result<WebhooksPage, DomainError> {
    use super::clock::display_time;
    let endpoints = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::WorkspaceId.eq(cap.workspace_id()))
        .order_by_asc(webhook_endpoint::Column::Id)
        .all(db)
        .await?;
    let fresh = flash.and_then(|v| {
        let (id, secret) = v.split_once('.')?;
        let e = endpoints.iter().find(|e| e.id.to_string() == id)?;
        e.secret.matches(secret).then(|| WebhookSecretShown { url: e.url.clone(), secret: secret.to_string() })
    });
    let mut rows = Vec::new();
    for e in &endpoints {
        let count = |state: &'static str| {
            webhook_delivery::Entity::find().filter(webhook_delivery::Column::EndpointId.eq(e.id)).filter(webhook_delivery::Column::State.eq(state)).count(db)
        };
        rows.push(WebhookEndpointRow {
            id: e.id,
            url: e.url.clone(),
            events: e.events.split_whitespace().map(str::to_string).collect(),
            created: display_time(e.created_at),
            created_by: e.created_by.clone(),
            previous_until: e.previous_valid_until.map(display_time),
            pending: count(delivery::PENDING).await?,
            failed: count(delivery::FAILED).await?,
            dropped: u64::try_from(e.dropped).unwrap_or(0),
        });
    }
    let urls: std::collections::HashMap<i64, String> = endpoints.iter().map(|e| (e.id, e.url.clone())).collect();
    let deliveries = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::WorkspaceId.eq(cap.workspace_id()))
        .order_by_desc(webhook_delivery::Column::Id)
        .limit(LOG_ROWS)
        .all(db)
        .await?
        .into_iter()
        .map(|d| WebhookDeliveryRow {
            id: d.id,
            url: urls.get(&d.endpoint_id).cloned().unwrap_or_default(),
            event_id: d.event_id,
            event_type: d.event_type,
            next_attempt: (d.state == delivery::PENDING).then(|| display_time(d.next_attempt_at)),
            state: d.state,
            attempts: i64::from(d.attempts),
            created: display_time(d.created_at),
            last_attempt: d.last_attempt_at.map(display_time),
            last_status: d.last_status.map(i64::from),
            last_error: d.last_error,
        })
        .collect();
    Ok(WebhooksPage {
        endpoints: rows,
        deliveries,
        events: Kind::ALL.iter().map(|k| (k.as_str().to_string(), k.describe().to_string())).collect(),
        overlaps: super::crypto::overlap_choices("none: the old secret stops now"),
        fresh,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_checkboxes_name_every_event_once() {
        let all = crate::model::WebhookEventsForm {
            member_joined: true,
            member_deactivated: true,
            member_reactivated: true,
            member_role_changed: true,
            group_created: true,
            group_changed: true,
            group_deleted: true,
            access_changed: true,
            session_revoked: true,
        };
        let kinds: Vec<Kind> = all.ticked().into_iter().filter_map(Kind::parse).collect();
        assert_eq!(kinds, Kind::ALL.to_vec());
        assert!(crate::model::WebhookEventsForm::default().ticked().is_empty());
    }
}
