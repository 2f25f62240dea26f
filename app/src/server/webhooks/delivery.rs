//! Sending queued deliveries. Every server process runs [`run`]; a delivery is sent by the
//! one that leases it (a compare-and-set on the row, so two processes never send it at the
//! same time), and its outcome is written only under that lease.
//!
//! - **Order:** a delivery waits while an earlier one of the same endpoint and subject
//!   (`member:7`, `group:3`, `access`) is pending, so one member's events arrive in order.
//! - **Retries:** a failure (a non-2xx answer, a timeout, a refused or unreachable
//!   address) is tried again after `retry_secs` × 4ⁿ⁻¹ (at most six hours), [`MAX_ATTEMPTS`]
//!   times in all, then given up (`failed`; later deliveries of its subject go on).
//! - **At least once:** a process that dies after sending but before recording the answer
//!   leaves the lease to expire, and the delivery is sent again with the same `webhook-id`
//!   (receivers drop duplicates by it, as the Standard Webhooks spec says).
//! - **Restarts:** the queue is in the database; nothing is held in memory.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Statement};

use super::super::db::param;
use super::super::entities::{webhook_delivery, webhook_endpoint};
use super::super::DomainError;

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";
/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: i32 = 8;
/// Longest wait between two attempts.
const MAX_BACKOFF_SECS: i64 = 6 * 3600;
/// How long a lease holds: well beyond the longest attempt, so only a process that stopped
/// mid-attempt ever loses one.
const LEASE_SECS: i64 = 120;
/// Attempts in flight at once in one process.
const CONCURRENCY: usize = 16;
/// Attempts in flight at once for one workspace in one process: a workspace whose
/// endpoints hang holds at most these slots for the timeout, and the others go on.
pub const PER_WORKSPACE: usize = 4;
/// Attempts in flight at once to one endpoint in one process (different subjects).
const PER_ENDPOINT: usize = 4;
/// Finished deliveries are kept this long for the log.
const KEEP_SECS: i64 = 7 * 86_400;

/// How the worker sends.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The wait before the first retry; each later one waits four times longer.
    pub retry_secs: i64,
    /// The longest an attempt may take.
    pub timeout: Duration,
    /// Endpoints may be private or loopback addresses (the metadata URL setting).
    pub allow_private: bool,
}

/// The wait after the `attempts`-th failed attempt.
pub fn backoff(retry_secs: i64, attempts: i32) -> i64 {
    let n = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(20);
    retry_secs.max(1).saturating_mul(4_i64.saturating_pow(n)).min(MAX_BACKOFF_SECS)
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>` (Standard Webhooks).
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &str) -> Result<String, DomainError> {
    use base64::Engine;
    use openssl::{hash::MessageDigest, pkey::PKey, sign::Signer};
    let internal = |e: openssl::error::ErrorStack| DomainError::Internal(e.to_string());
    let pkey = PKey::hmac(key).map_err(internal)?;
    let mut signer = Signer::new(MessageDigest::sha256(), &pkey).map_err(internal)?;
    signer.update(format!("{id}.{timestamp}.").as_bytes()).map_err(internal)?;
    signer.update(body.as_bytes()).map_err(internal)?;
    Ok(format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(signer.sign_to_vec().map_err(internal)?)))
}

/// Which deliveries are in flight in this process: per workspace and per endpoint (the
/// caps that keep one workspace's slow or dead endpoints from taking every slot).
#[derive(Debug, Default, Clone)]
pub struct InFlight {
    workspaces: HashMap<i64, usize>,
    endpoints: HashMap<i64, usize>,
}

impl InFlight {
    fn add(&mut self, d: &webhook_delivery::Model) {
        *self.workspaces.entry(d.workspace_id).or_default() += 1;
        *self.endpoints.entry(d.endpoint_id).or_default() += 1;
    }
    fn remove(&mut self, d: &webhook_delivery::Model) {
        for (map, key) in [(&mut self.workspaces, d.workspace_id), (&mut self.endpoints, d.endpoint_id)] {
            if let Some(n) = map.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    map.remove(&key);
                }
            }
        }
    }
    fn workspace(&self, id: i64) -> usize {
        self.workspaces.get(&id).copied().unwrap_or(0)
    }
    fn endpoint(&self, id: i64) -> usize {
        self.endpoints.get(&id).copied().unwrap_or(0)
    }
}

/// Due and not leased (a live lease: another attempt is under way), for table alias `t`.
fn due(t: &str, now: i64) -> String {
    format!("{t}.state = '{PENDING}' AND {t}.next_attempt_at <= {now} AND ({t}.lease_until IS NULL OR {t}.lease_until < {now})")
}

/// The oldest pending delivery of its endpoint and subject (`t`: the row's table or alias).
fn head(t: &str) -> String {
    format!("NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.endpoint_id = {t}.endpoint_id AND e.subject = {t}.subject AND e.state = '{PENDING}' AND e.id < {t}.id)")
}

/// Leases up to `limit` due deliveries for `token`, each the oldest pending one of its
/// endpoint and subject. Fair between workspaces: they are visited in turn from `start`,
/// and none gets more than [`PER_WORKSPACE`] in flight here (`busy`: what already is), nor
/// one endpoint more than [`PER_ENDPOINT`]. The lease is a conditional update that checks
/// it all again, so of two processes that pick the same row only one gets it.
pub(in crate::server) async fn lease(
    db: &DatabaseConnection,
    now: i64,
    token: &str,
    limit: usize,
    busy: &InFlight,
    start: usize,
) -> Result<Vec<webhook_delivery::Model>, DomainError> {
    let backend = db.get_database_backend();
    if limit == 0 {
        return Ok(vec![]);
    }
    let sql = format!("SELECT DISTINCT d.workspace_id FROM webhook_deliveries d WHERE {} ORDER BY d.workspace_id", due("d", now));
    let mut workspaces: Vec<i64> =
        db.query_all_raw(Statement::from_string(backend, sql)).await?.iter().filter_map(|r| r.try_get_by_index::<i64>(0).ok()).collect();
    if workspaces.is_empty() {
        return Ok(vec![]);
    }
    let at = start % workspaces.len();
    workspaces.rotate_left(at);
    let mut picked = Vec::new();
    let mut mine = busy.clone();
    for ws in workspaces {
        if picked.len() >= limit {
            break;
        }
        let room = PER_WORKSPACE.saturating_sub(mine.workspace(ws)).min(limit - picked.len());
        if room == 0 {
            continue;
        }
        let sql = format!(
            "SELECT d.id, d.endpoint_id FROM webhook_deliveries d WHERE d.workspace_id = {} AND {} AND {} ORDER BY d.id LIMIT {}",
            param(backend, 1),
            due("d", now),
            head("d"),
            PER_WORKSPACE * 4
        );
        let heads: Vec<(i64, i64)> = db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, [ws.into()]))
            .await?
            .iter()
            .filter_map(|r| Some((r.try_get_by_index::<i64>(0).ok()?, r.try_get_by_index::<i64>(1).ok()?)))
            .collect();
        let mut taken = 0;
        for (id, endpoint) in heads {
            if taken >= room {
                break;
            }
            if mine.endpoint(endpoint) >= PER_ENDPOINT {
                continue;
            }
            *mine.endpoints.entry(endpoint).or_default() += 1;
            *mine.workspaces.entry(ws).or_default() += 1;
            picked.push(id);
            taken += 1;
        }
    }
    if picked.is_empty() {
        return Ok(vec![]);
    }
    let mut leased = Vec::new();
    let txn = super::super::db::write(db).await?;
    for id in picked {
        // Everything the choice rested on, checked again under the row's lock: still due,
        // not leased, still the head of its subject.
        let sql = format!(
            "UPDATE webhook_deliveries SET lease_token = {}, lease_until = {}, attempts = attempts + 1, last_attempt_at = {} WHERE id = {} AND {} AND {}",
            param(backend, 1),
            param(backend, 2),
            param(backend, 3),
            param(backend, 4),
            due("webhook_deliveries", now),
            head("webhook_deliveries"),
        );
        let r = txn.execute_raw(Statement::from_sql_and_values(backend, sql, [token.into(), (now + LEASE_SECS).into(), now.into(), id.into()])).await?;
        if r.rows_affected() == 1 {
            leased.push(id);
        }
    }
    let rows = if leased.is_empty() { vec![] } else { webhook_delivery::Entity::find().filter(webhook_delivery::Column::Id.is_in(leased)).all(&txn).await? };
    txn.commit().await?;
    Ok(rows)
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Delivered(u16),
    /// Anything else: the status if there was an answer, and what went wrong in words
    /// (never the receiver's body).
    Failed(Option<u16>, String),
}

/// Sends delivery `d` to its endpoint once: signed with the endpoint's secret, and with
/// the previous one too while a rotation's overlap lasts.
pub(in crate::server) async fn attempt(db: &DatabaseConnection, settings: &Settings, now: i64, d: &webhook_delivery::Model) -> Result<Outcome, DomainError> {
    let Some(e) = webhook_endpoint::Entity::find_by_id(d.endpoint_id).one(db).await? else {
        return Ok(Outcome::Failed(None, "the endpoint was deleted".into()));
    };
    let mut signatures = Vec::new();
    for secret in
        std::iter::once(Some(&e.secret)).chain(std::iter::once(e.previous_secret.as_ref().filter(|_| e.previous_valid_until.is_some_and(|u| now < u))))
    {
        if let Some(key) = secret.and_then(super::secret_key) {
            signatures.push(signature(&key, &d.event_id, now, &d.payload)?);
        }
    }
    let Ok(url) = url::Url::parse(&e.url) else { return Ok(Outcome::Failed(None, "the endpoint URL is not valid".into())) };
    use super::super::outbound::{pinned_client, Refusal};
    let client = match pinned_client(&url, settings.allow_private, settings.timeout).await {
        Ok(c) => c,
        Err(Refusal::Private) => return Ok(Outcome::Failed(None, "refused: the host resolves to a private or local address".into())),
        Err(Refusal::NotResolved | Refusal::NoHost) => return Ok(Outcome::Failed(None, "the host name could not be resolved".into())),
        Err(Refusal::Client(e)) => return Err(DomainError::Internal(e)),
    };
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .header("user-agent", "Gatehouse-Webhooks/1")
        .header("webhook-id", &d.event_id)
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signatures.join(" "))
        .body(d.payload.clone())
        .send()
        .await;
    Ok(match sent {
        Ok(resp) if resp.status().is_success() => Outcome::Delivered(resp.status().as_u16()),
        Ok(resp) => Outcome::Failed(Some(resp.status().as_u16()), format!("answered HTTP {}", resp.status().as_u16())),
        Err(e) if e.is_timeout() => Outcome::Failed(None, format!("no answer within {} s", settings.timeout.as_secs_f64())),
        Err(e) if e.is_connect() => Outcome::Failed(None, "the connection failed".into()),
        Err(_) => Outcome::Failed(None, "the request failed".into()),
    })
}

/// Records an attempt's outcome, if `token` still holds the lease.
pub(in crate::server) async fn settle(
    db: &DatabaseConnection,
    settings: &Settings,
    now: i64,
    d: &webhook_delivery::Model,
    token: &str,
    outcome: &Outcome,
) -> Result<(), DomainError> {
    use sea_orm::sea_query::Expr;
    let q = webhook_delivery::Entity::update_many()
        .col_expr(webhook_delivery::Column::LeaseToken, Expr::value(Option::<String>::None))
        .col_expr(webhook_delivery::Column::LeaseUntil, Expr::value(Option::<i64>::None))
        .filter(webhook_delivery::Column::Id.eq(d.id))
        .filter(webhook_delivery::Column::LeaseToken.eq(token));
    let q = match outcome {
        Outcome::Delivered(status) => q
            .col_expr(webhook_delivery::Column::State, Expr::value(DELIVERED))
            .col_expr(webhook_delivery::Column::DeliveredAt, Expr::value(now))
            .col_expr(webhook_delivery::Column::LastStatus, Expr::value(i32::from(*status)))
            .col_expr(webhook_delivery::Column::LastError, Expr::value(Option::<String>::None)),
        Outcome::Failed(status, why) => {
            let state = if d.attempts >= MAX_ATTEMPTS { FAILED } else { PENDING };
            q.col_expr(webhook_delivery::Column::State, Expr::value(state))
                .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(now + backoff(settings.retry_secs, d.attempts)))
                .col_expr(webhook_delivery::Column::LastStatus, Expr::value(status.map(i32::from)))
                .col_expr(webhook_delivery::Column::LastError, Expr::value(why.clone()))
        }
    };
    let txn = super::super::db::write(db).await?;
    q.exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// Drops finished deliveries older than the log keeps.
async fn prune(db: &DatabaseConnection, now: i64) -> Result<u64, DomainError> {
    let txn = super::super::db::write(db).await?;
    let n = webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::State.ne(PENDING))
        .filter(webhook_delivery::Column::CreatedAt.lt(now - KEEP_SECS))
        .exec(&txn)
        .await?
        .rows_affected;
    txn.commit().await?;
    Ok(n)
}

/// One attempt of a leased delivery, bounded as a whole (name lookup included) so it ends
/// well within its lease, and its outcome recorded.
async fn attempt_and_settle(db: &DatabaseConnection, settings: &Settings, clock: &dyn super::super::clock::Clock, token: &str, d: &webhook_delivery::Model) {
    let bound = settings.timeout + Duration::from_secs(5);
    let outcome = match tokio::time::timeout(bound, attempt(db, settings, clock.now(), d)).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, delivery = d.id, "webhook attempt failed on our side");
            Outcome::Failed(None, "Gatehouse could not send it".into())
        }
        Err(_) => Outcome::Failed(None, format!("no answer within {} s", settings.timeout.as_secs_f64())),
    };
    if let Err(e) = settle(db, settings, clock.now(), d, token, &outcome).await {
        tracing::warn!(error = %e, delivery = d.id, "webhook outcome not recorded; the lease will expire and it is sent again");
    }
}

/// One round, run to its end (tests and tools): lease what is due as a fresh process
/// would, send it all concurrently, record each outcome. Returns how many were attempted.
pub async fn round(db: &DatabaseConnection, settings: &Settings, clock: &dyn super::super::clock::Clock, token: &str) -> Result<usize, DomainError> {
    let batch = lease(db, clock.now(), token, CONCURRENCY, &InFlight::default(), 0).await?;
    let n = batch.len();
    futures::future::join_all(batch.iter().map(|d| attempt_and_settle(db, settings, clock, token, d))).await;
    Ok(n)
}

/// The worker every server process runs until `stop` turns true. Attempts run as their own
/// tasks, at most [`CONCURRENCY`] at once; whenever one ends or `poll` passes, what is due
/// is leased into the free slots. A prune now and then.
pub async fn run(
    db: DatabaseConnection,
    settings: Settings,
    clock: Arc<dyn super::super::clock::Clock>,
    poll: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let token: Arc<str> = super::super::crypto::random_hex(16).into();
    let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let busy = Arc::new(Mutex::new(InFlight::default()));
    let (ended, mut ended_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (mut last_prune, mut turn) = (0, 0usize);
    loop {
        let free = slots.available_permits();
        let snapshot = busy.lock().map(|b| b.clone()).unwrap_or_default();
        turn = turn.wrapping_add(1);
        let batch = match lease(&db, clock.now(), &token, free, &snapshot, turn).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "webhook worker: leasing failed");
                vec![]
            }
        };
        let started = batch.len();
        for d in batch {
            let Ok(permit) = slots.clone().try_acquire_owned() else { break };
            if let Ok(mut b) = busy.lock() {
                b.add(&d);
            }
            let (db, settings, clock, token, busy, ended) = (db.clone(), settings.clone(), clock.clone(), token.clone(), busy.clone(), ended.clone());
            tokio::spawn(async move {
                attempt_and_settle(&db, &settings, clock.as_ref(), &token, &d).await;
                if let Ok(mut b) = busy.lock() {
                    b.remove(&d);
                }
                drop(permit);
                let _ = ended.send(());
            });
        }
        let now = clock.now();
        if now - last_prune >= 3600 {
            last_prune = now;
            if let Err(e) = prune(&db, now).await {
                tracing::warn!(error = %e, "webhook worker: pruning failed");
            }
        }
        if started > 0 && slots.available_permits() > 0 {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = ended_rx.recv() => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
    }
    // Attempts under way finish and record their outcome (each within its bound).
    let _ = tokio::time::timeout(settings.timeout + Duration::from_secs(10), slots.acquire_many(CONCURRENCY as u32)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_four_times_longer_each_time_up_to_six_hours() {
        let waits: Vec<i64> = (1..=MAX_ATTEMPTS).map(|n| backoff(30, n)).collect();
        assert_eq!(waits, vec![30, 120, 480, 1920, 7680, 21_600, 21_600, 21_600]);
        assert_eq!(backoff(0, 1), 1, "never a zero wait");
    }

    /// The Standard Webhooks example (its spec's test vector): secret
    /// `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`, id `msg_p5jXN8AQM9LWM0D4loKWxJek`,
    /// timestamp 1614265330, body `{"test": 2432232314}`.
    #[test]
    fn signatures_match_the_standard_webhooks_test_vector() {
        let key = super::super::secret_key(&crate::server::crypto::Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")).expect("key");
        let sig = signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, r#"{"test": 2432232314}"#).expect("sign");
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
