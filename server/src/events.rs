//! `GET /w/{slug}/events`: the live-update stream of a signed-in page (server-sent
//! events). Each event is only a topic name; the page refetches through the usual checks.
//! The session is checked when the stream opens and again before every event, so a
//! member who was deactivated or signed out gets `signedout` and the stream ends.
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use app::server::events::{Event, Topic};
use app::server::permissions::Viewer;
use app::web::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::broadcast::error::RecvError;

pub fn routes() -> Router<AppState> {
    Router::new().route("/w/{slug}/events", get(stream))
}

/// The stream's viewer; `Err` when the database couldn't say (that is not "signed out": a
/// page told `signedout` reloads, and an outage must not reload every open page).
async fn viewer_of(st: &AppState, headers: &HeaderMap) -> Result<Option<Viewer>, ()> {
    // Checking isn't using: an unattended open page must not hold off the idle timeout.
    app::web::cookies::check_from_headers(&st.db, st.now(), headers, st.config.secure_cookies()).await.map_err(|e| {
        tracing::warn!(error = %e, "live updates: session check failed");
    })
}

/// Changes arriving within this window after the first are sent together, once each: a
/// SCIM burst of 25 requests a second makes an open page refetch a few times, not 25.
const COALESCE: Duration = Duration::from_millis(300);
/// How often an idle stream re-checks its session (sign-out, expiry, a shortened
/// lifetime end the stream within this time even if nothing happens in the workspace).
const RECHECK: Duration = Duration::from_secs(60);
/// Streams close after this long; the browser's `EventSource` reconnects by itself (and
/// refetches, in case something was missed in between).
const MAX_LIFETIME: Duration = Duration::from_secs(3600);
/// Open streams per session in one process: a few tabs, not a flood.
const PER_SESSION: usize = 8;

struct Open {
    st: AppState,
    headers: HeaderMap,
    workspace_id: i64,
    /// The topics this page follows (`?topics=access,members`; all when absent).
    topics: Vec<Topic>,
    rx: tokio::sync::broadcast::Receiver<Event>,
    stop: tokio::sync::watch::Receiver<bool>,
    /// Event names checked and ready to send.
    pending: VecDeque<&'static str>,
    done: bool,
    recheck: tokio::time::Interval,
    deadline: tokio::time::Instant,
    _slot: app::server::events::StreamSlot,
}

enum Next {
    /// `None`: events were missed, so everything may have changed.
    Event(Option<Topic>),
    Recheck,
    Close,
}

impl Open {
    /// Waits for the next relevant event, a session re-check, or the end.
    async fn next(&mut self) -> Next {
        loop {
            tokio::select! {
                r = self.rx.recv() => match r {
                    Ok(ev) if ev.concerns(self.workspace_id) && self.topics.contains(&ev.topic) => return Next::Event(Some(ev.topic)),
                    // Sessions ended in this workspace: is this page's one of them?
                    Ok(ev) if ev.concerns(self.workspace_id) && ev.topic == Topic::Sessions => return Next::Recheck,
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => return Next::Event(None),
                    Err(RecvError::Closed) => return Next::Close,
                },
                _ = self.recheck.tick() => return Next::Recheck,
                _ = tokio::time::sleep_until(self.deadline) => return Next::Close,
                _ = self.stop.changed() => return Next::Close,
            }
        }
    }

    /// True only when the database says the session is gone (a failed check waits for the
    /// next one).
    async fn session_ended(&self) -> bool {
        match viewer_of(&self.st, &self.headers).await {
            Ok(v) => v.is_none_or(|v| v.workspace_id != self.workspace_id),
            Err(()) => false,
        }
    }
}

#[derive(serde::Deserialize)]
struct Params {
    topics: Option<String>,
}

async fn stream(State(st): State<AppState>, Path(slug): Path<String>, Query(p): Query<Params>, headers: HeaderMap) -> Response {
    // No session here (never signed in, ended, or another workspace's): the stream's one
    // event is `signedout`, which the page answers by reloading into the sign-in page. A
    // 401 instead fails the browser's EventSource for good, with no event: a page whose
    // session ended while it loaded stayed open, deaf, as if still signed in.
    // Subscribed before the session is checked, so a sign-out committed between the two
    // still reaches this stream.
    let rx = st.events.subscribe();
    let viewer = match viewer_of(&st, &headers).await {
        Ok(v) => v,
        Err(()) => return (StatusCode::SERVICE_UNAVAILABLE, "Live updates are unavailable; reload the page later.").into_response(),
    };
    let Some(v) = viewer.filter(|v| v.workspace_slug == slug) else {
        let once = futures::stream::iter([Ok::<_, Infallible>(SseEvent::default().event("signedout").data("signedout"))]);
        let mut res = Sse::new(once).into_response();
        res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
        return res;
    };
    let mut topics: Vec<Topic> = match p.topics {
        Some(t) => t.split(',').filter_map(Topic::parse).collect(),
        None => Topic::ALL.to_vec(),
    };
    // Members and Groups are admin pages: members hear only about their own access.
    if !v.is_admin() {
        topics.retain(|t| matches!(t, Topic::Access | Topic::Sessions));
    }
    let Some(slot) = st.events.open_stream(v.session_id, PER_SESSION) else {
        return (StatusCode::TOO_MANY_REQUESTS, "Too many open pages for this session.").into_response();
    };
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.reset(); // the first tick after RECHECK, not at once
    let open = Open {
        recheck,
        deadline: tokio::time::Instant::now() + MAX_LIFETIME,
        _slot: slot,
        rx,
        stop: st.events.shutting_down(),
        workspace_id: v.workspace_id,
        topics,
        st,
        headers,
        pending: VecDeque::new(),
        done: false,
    };
    let events = futures::stream::unfold(open, |mut o| async move {
        if o.done || *o.stop.borrow() {
            return None;
        }
        while o.pending.is_empty() {
            let mut seen: Vec<Option<Topic>> = match o.next().await {
                Next::Close => return None,
                Next::Recheck => {
                    if o.session_ended().await {
                        o.done = true;
                        return Some((Ok::<_, Infallible>(SseEvent::default().event("signedout").data("signedout")), o));
                    }
                    continue;
                }
                Next::Event(t) => vec![t],
            };
            let window = tokio::time::sleep(COALESCE);
            tokio::pin!(window);
            loop {
                tokio::select! {
                    next = o.next() => match next {
                        Next::Event(t) => if !seen.contains(&t) { seen.push(t) },
                        Next::Recheck => {}
                        Next::Close => return None,
                    },
                    _ = &mut window => break,
                }
            }
            // The session may have ended since the stream opened (deactivation, sign-out,
            // expiry): then the page hears `signedout` and the stream closes.
            if o.session_ended().await {
                o.done = true;
                return Some((Ok(SseEvent::default().event("signedout").data("signedout")), o));
            }
            // Missed events: one "all" covers everything.
            if seen.contains(&None) {
                o.pending.push_back("all");
            } else {
                o.pending.extend(seen.into_iter().flatten().map(Topic::as_str));
            }
        }
        let name = o.pending.pop_front()?;
        // Browsers drop events whose data is empty, so the data repeats the name.
        Some((Ok(SseEvent::default().event(name).data(name)), o))
    });
    let mut res = Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(20))).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    // Tell reverse proxies (nginx) not to buffer the stream.
    res.headers_mut().insert("x-accel-buffering", header::HeaderValue::from_static("no"));
    res
}
