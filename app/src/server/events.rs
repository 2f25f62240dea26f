//! Live page updates: "something changed in workspace W". Events carry no data, only a
//! topic; an open page refetches what it shows, through the same access checks as any
//! request. So a lost or duplicated event costs a refetch, never a leak.
//!
//! On SQLite (one process) an in-process broadcast channel carries them. On PostgreSQL
//! every process may hold a member's page open, so a publish is a `pg_notify` and each
//! process listens on the channel and forwards what it hears to its own subscribers
//! (itself included, so there is one path).
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tokio::sync::{broadcast, watch};

const CHANNEL: &str = "gatehouse_events";
/// Events a slow subscriber may fall behind by before it is told to refetch everything.
const BUFFER: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Grants, group membership, roles or status changed: resource lists may differ.
    Access,
    /// Members were added, changed or removed (the Members page).
    Members,
    /// Groups or their members changed (the Groups page).
    Groups,
    /// Sessions were ended (a member's own sign-out elsewhere, an admin's sign-out): every
    /// open page of the workspace checks its session at once, whatever it follows, and a
    /// page of an ended one hears `signedout`. Sent on only to pages that follow it (a
    /// member's sessions list).
    Sessions,
}

impl Topic {
    pub const ALL: [Topic; 4] = [Topic::Access, Topic::Members, Topic::Groups, Topic::Sessions];
    /// What a new member changes: the Members page, Everyone's count on the Groups page,
    /// and who can reach what.
    pub const JOINED: [Topic; 3] = [Topic::Access, Topic::Members, Topic::Groups];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Access => "access",
            Topic::Members => "members",
            Topic::Groups => "groups",
            Topic::Sessions => "sessions",
        }
    }

    pub fn parse(s: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// `None`: every workspace (after the listener lost its connection, events may have
    /// been missed, so every page refetches).
    pub workspace_id: Option<i64>,
    pub topic: Topic,
}

impl Event {
    fn encode(self) -> String {
        format!("{}:{}", self.workspace_id.unwrap_or(0), self.topic.as_str())
    }

    fn decode(s: &str) -> Option<Event> {
        let (ws, topic) = s.split_once(':')?;
        let ws: i64 = ws.parse().ok()?;
        Some(Event { workspace_id: (ws != 0).then_some(ws), topic: Topic::parse(topic)? })
    }

    pub fn concerns(&self, workspace_id: i64) -> bool {
        self.workspace_id.is_none_or(|w| w == workspace_id)
    }
}

#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<Event>,
    shutdown: Arc<watch::Sender<bool>>,
    /// True once events published anywhere reach this process (at once in-process; after
    /// the first successful `LISTEN` on PostgreSQL).
    listening: Arc<watch::Sender<bool>>,
    /// Open streams per session in this process (a resource limit, not shared state).
    streams: Arc<std::sync::Mutex<std::collections::HashMap<i64, usize>>>,
    /// Publishes nothing (see [`Events::silent`]).
    silent: bool,
}

/// A place among a session's open streams; released when dropped.
pub struct StreamSlot {
    streams: Arc<std::sync::Mutex<std::collections::HashMap<i64, usize>>>,
    session_id: i64,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Ok(mut m) = self.streams.lock() {
            if let Some(n) = m.get_mut(&self.session_id) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(&self.session_id);
                }
            }
        }
    }
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

impl Events {
    /// An in-process hub. `listen` connects it to PostgreSQL when the database is one.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(BUFFER);
        let (shutdown, _) = watch::channel(false);
        let (listening, _) = watch::channel(true);
        Events { tx, shutdown: Arc::new(shutdown), listening: Arc::new(listening), streams: Arc::default(), silent: false }
    }

    /// A hub whose `publish` does nothing, not even `pg_notify`: for setup that no open
    /// page should hear (tests arranging their data, benchmarks seeding theirs).
    pub fn silent() -> Self {
        Events { silent: true, ..Self::new() }
    }

    /// On PostgreSQL, starts the task that forwards `NOTIFY`s to this process's
    /// subscribers, reconnecting after errors. Nothing to do on SQLite.
    pub fn listen(&self, db: &DatabaseConnection) {
        if db.get_database_backend() != DbBackend::Postgres {
            return;
        }
        let pool = db.get_postgres_connection_pool().clone();
        let tx = self.tx.clone();
        let listening = self.listening.clone();
        listening.send_replace(false);
        let mut stop = self.shutdown.subscribe();
        tokio::spawn(async move {
            let mut first = true;
            loop {
                match sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(mut listener) => match listener.listen(CHANNEL).await {
                        Ok(()) => {
                            if !first {
                                // Whatever was published while we were away: refetch all.
                                for topic in Topic::ALL {
                                    let _ = tx.send(Event { workspace_id: None, topic });
                                }
                            }
                            first = false;
                            listening.send_replace(true);
                            loop {
                                tokio::select! {
                                    n = listener.try_recv() => match n {
                                        Ok(Some(n)) => {
                                            if let Some(ev) = Event::decode(n.payload()) {
                                                let _ = tx.send(ev);
                                            }
                                        }
                                        // The connection dropped; the listener reconnects on the
                                        // next call, and whatever was published meanwhile is lost:
                                        // every page refetches.
                                        Ok(None) => {
                                            tracing::warn!("event listener reconnecting; open pages refetch");
                                            for topic in Topic::ALL {
                                                let _ = tx.send(Event { workspace_id: None, topic });
                                            }
                                        }
                                        Err(e) => {
                                            tracing::warn!(error = %e, "event listener lost its connection");
                                            listening.send_replace(false);
                                            break;
                                        }
                                    },
                                    _ = stop.changed() => return,
                                }
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "could not LISTEN for events"),
                    },
                    Err(e) => tracing::warn!(error = %e, "could not connect the event listener"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
            }
        });
    }

    /// Waits until events published by any process reach this one (readiness, tests).
    pub async fn until_listening(&self) {
        let mut rx = self.listening.subscribe();
        let _ = rx.wait_for(|l| *l).await;
    }

    /// Takes one of `session_id`'s at most `limit` stream places, or `None` when all are taken.
    pub fn open_stream(&self, session_id: i64, limit: usize) -> Option<StreamSlot> {
        let mut m = self.streams.lock().ok()?;
        let n = m.entry(session_id).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(StreamSlot { streams: self.streams.clone(), session_id })
    }

    /// Open live-update streams in this process (a gauge for `/metrics`).
    pub fn open_streams(&self) -> usize {
        self.streams.lock().map(|m| m.values().sum()).unwrap_or(0)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// Resolves when the server begins shutting down (open streams end then, so graceful
    /// shutdown isn't held up by pages that never close).
    pub fn shutting_down(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub fn shut_down(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Tells every open page of `workspace_id` interested in `topics` to refetch. Call it
    /// after the change has committed. Failures are logged, never returned: the change
    /// itself has happened, and pages catch up on their next load.
    pub async fn publish(&self, db: &DatabaseConnection, workspace_id: i64, topics: &[Topic]) {
        if self.silent {
            return;
        }
        for &topic in topics {
            let ev = Event { workspace_id: Some(workspace_id), topic };
            if db.get_database_backend() == DbBackend::Postgres {
                let stmt = Statement::from_sql_and_values(DbBackend::Postgres, "SELECT pg_notify($1, $2)", [CHANNEL.into(), ev.encode().into()]);
                if let Err(e) = db.execute_raw(stmt).await {
                    tracing::warn!(error = %e, "could not publish a live update");
                }
            } else {
                let _ = self.tx.send(ev);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_scope() {
        let e = Event { workspace_id: Some(42), topic: Topic::Groups };
        assert_eq!(Event::decode(&e.encode()), Some(e));
        let all = Event { workspace_id: None, topic: Topic::Access };
        assert_eq!(Event::decode(&all.encode()), Some(all));
        assert!(all.concerns(7) && e.concerns(42) && !e.concerns(7));
        for bad in ["", "x:access", "1:nope", "1", ":access"] {
            assert_eq!(Event::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn stream_places_are_limited_per_session_and_released_on_drop() {
        let ev = Events::new();
        let a = ev.open_stream(1, 2).expect("first");
        let _b = ev.open_stream(1, 2).expect("second");
        assert!(ev.open_stream(1, 2).is_none(), "a third is refused");
        assert!(ev.open_stream(2, 2).is_some(), "other sessions are unaffected");
        drop(a);
        assert!(ev.open_stream(1, 2).is_some(), "a closed stream frees its place");
    }

    #[tokio::test]
    async fn in_process_subscribers_hear_published_events() {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        let ev = Events::new();
        let mut rx = ev.subscribe();
        ev.publish(&db, 3, &[Topic::Access, Topic::Members]).await;
        assert_eq!(rx.recv().await.unwrap(), Event { workspace_id: Some(3), topic: Topic::Access });
        assert_eq!(rx.recv().await.unwrap(), Event { workspace_id: Some(3), topic: Topic::Members });
    }
}
