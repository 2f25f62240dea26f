//! Group commit of what served SCIM requests leave behind: each request's place in its
//! token's budget, the workspace's daily count and its line in the provider's activity.
//!
//! A request hands its entry to one task per process and waits for the commit that holds
//! it, so when it answers, its bookkeeping is as durable as before. The task writes
//! whatever has queued since its last commit in one write transaction: a request alone
//! commits at once, as it did when it wrote its own transaction; under load, many share a
//! commit instead of each waiting its turn for SQLite's single writer (or, on PostgreSQL,
//! for the same counter rows). Sums go in as one row update each: 300 requests of one
//! token in a batch add 300 to its budget row in one statement.
use std::collections::BTreeMap;

use tokio::sync::{mpsc, oneshot};

use super::{record_activity, Activity, Client};
use crate::server::error::DomainError;

/// Entries one commit takes at most (a bound on one transaction's length).
const BATCH: usize = 512;
/// Entries waiting for the task at most; beyond it, requests wait to hand theirs in.
const QUEUE: usize = 4096;

/// What one served request leaves behind, owned so it can wait in the queue.
#[derive(Debug, Clone)]
pub struct Entry {
    pub now: i64,
    pub token_id: i64,
    pub workspace_id: i64,
    pub provider_id: i64,
    pub activity: Activity,
}

impl Entry {
    pub fn new(now: i64, client: &Client, activity: Activity) -> Self {
        Entry { now, token_id: client.token_id, workspace_id: client.workspace_id, provider_id: client.provider_id, activity }
    }
}

type Done = oneshot::Sender<Result<(), String>>;

/// The handle requests record through; clones share the task.
#[derive(Clone)]
pub struct Ledger {
    db: sea_orm::DatabaseConnection,
    tx: mpsc::Sender<(Entry, Done)>,
}

impl Ledger {
    /// Starts the committing task on the current Tokio runtime. It ends when the last
    /// handle is dropped, after committing what was queued. A request waits for its own
    /// entry's commit, so a graceful shutdown (which lets requests finish) loses none.
    pub fn start(db: sea_orm::DatabaseConnection) -> Self {
        let (tx, mut rx) = mpsc::channel::<(Entry, Done)>(QUEUE);
        let task_db = db.clone();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                let (entries, waiting): (Vec<Entry>, Vec<Done>) = batch.drain(..).unzip();
                let results: Vec<Result<(), String>> = match write(&task_db, &entries).await {
                    Ok(()) => vec![Ok(()); entries.len()],
                    // One bad entry (its provider deleted meanwhile) must not cost the others
                    // theirs, which may be other workspaces': each is tried alone.
                    Err(e) => {
                        tracing::warn!(error = %e, entries = entries.len(), "SCIM ledger: a batch failed; writing its entries one by one");
                        let mut one_by_one = Vec::with_capacity(entries.len());
                        for e in &entries {
                            one_by_one.push(write(&task_db, std::slice::from_ref(e)).await.map_err(|e| e.to_string()));
                        }
                        one_by_one
                    }
                };
                for (done, result) in waiting.into_iter().zip(results) {
                    // A request that stopped waiting (its client went away) is no error.
                    let _ = done.send(result);
                }
            }
        });
        Ledger { db, tx }
    }

    /// Records `entry` and returns once it is committed (with whatever else was queued).
    pub async fn record(&self, entry: Entry) -> Result<(), DomainError> {
        let (done, committed) = oneshot::channel();
        match self.tx.send((entry, done)).await {
            Ok(()) => match committed.await {
                Ok(r) => r.map_err(DomainError::Internal),
                Err(_) => Err(DomainError::Internal("the SCIM ledger stopped before committing".into())),
            },
            // The task is gone (its runtime is shutting down): write this one alone.
            Err(mpsc::error::SendError((entry, _))) => write(&self.db, std::slice::from_ref(&entry)).await,
        }
    }
}

/// Budget increments per (token, window start) and daily-count increments per
/// (workspace, day, metric) that `entries` add up to.
type Sums = (BTreeMap<(i64, i64), i64>, BTreeMap<(i64, i64, &'static str), i64>);

fn sums(entries: &[Entry]) -> Sums {
    let (mut budgets, mut counts): Sums = Default::default();
    for e in entries {
        *budgets.entry((e.token_id, e.now - e.now.rem_euclid(super::BUDGET_WINDOW_SECS))).or_default() += 1;
        let metric = if e.activity.status >= 400 { "scim:error" } else { "scim:ok" };
        *counts.entry((e.workspace_id, e.now.div_euclid(crate::server::stats::DAY), metric)).or_default() += 1;
    }
    (budgets, counts)
}

/// Writes `entries` in one write transaction: budget and daily counts summed per row, then
/// the activity lines in order.
pub async fn write(db: &sea_orm::DatabaseConnection, entries: &[Entry]) -> Result<(), DomainError> {
    if entries.is_empty() {
        return Ok(());
    }
    let (budgets, counts) = sums(entries);
    let txn = crate::server::db::write(db).await?;
    for ((token_id, window_start), n) in budgets {
        crate::server::ratelimit::add(&txn, &super::budget_key_of(token_id), window_start, super::BUDGET_WINDOW_SECS, n).await?;
    }
    for ((workspace_id, day, metric), n) in counts {
        crate::server::stats::bump_by(&txn, workspace_id, day * crate::server::stats::DAY, metric, n).await?;
    }
    for e in entries {
        record_activity(&txn, e.now, e.provider_id, &e.activity).await?;
    }
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(now: i64, token_id: i64, workspace_id: i64, status: u16) -> Entry {
        let activity = Activity {
            method: "GET".into(),
            path: "/scim/v2/Users".into(),
            operation: "list".into(),
            target: String::new(),
            status,
            outcome: "ok".into(),
            duration_us: 1,
        };
        Entry { now, token_id, workspace_id, provider_id: 1, activity }
    }

    #[test]
    fn a_batch_adds_up_per_token_window_and_per_workspace_day_and_outcome() {
        let day = crate::server::stats::DAY;
        let t = 20_000 * day + 30; // 30 s into a minute and a day
        let batch = [
            entry(t, 1, 10, 200),
            entry(t + 29, 1, 10, 200), // same minute
            entry(t + 30, 1, 10, 409), // the next minute, an error
            entry(t, 2, 20, 200),      // another token and workspace
            entry(t + day, 1, 10, 200),
        ];
        let (budgets, counts) = sums(&batch);
        let w = t - 30;
        assert_eq!(budgets.into_iter().collect::<Vec<_>>(), [((1, w), 2), ((1, w + 60), 1), ((1, w + day), 1), ((2, w), 1)]);
        assert_eq!(
            counts.into_iter().collect::<Vec<_>>(),
            [((10, 20_000, "scim:error"), 1), ((10, 20_000, "scim:ok"), 2), ((10, 20_001, "scim:ok"), 1), ((20, 20_000, "scim:ok"), 1)]
        );
    }
}
