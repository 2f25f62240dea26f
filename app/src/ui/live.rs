//! Live updates in the browser: one `EventSource` on `/w/{slug}/events` per page. The
//! server only says which topic changed; the page refetches through the usual checks.
use leptos::prelude::*;

/// A counter that goes up whenever the server says one of `topics` changed in workspace
/// `slug` (or the stream reconnected, after which anything may have changed). Pages put it
/// in their resources' sources, so they refetch. On the server and without JS it stays 0.
pub fn live(slug: Memo<String>, topics: &'static [&'static str]) -> ReadSignal<u64> {
    let (version, bump) = signal(0u64);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(conn) = browser::connect(&slug.get(), topics, bump) {
            on_cleanup(move || drop(conn));
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (slug, topics, bump);
    version
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::cell::Cell;

    use leptos::prelude::*;
    use leptos::wasm_bindgen::closure::Closure;
    use leptos::wasm_bindgen::JsCast;
    use send_wrapper::SendWrapper;
    use web_sys::EventSource;

    type Handler = Closure<dyn FnMut(web_sys::Event)>;

    pub struct Conn {
        source: EventSource,
        _handlers: Vec<Handler>,
    }

    impl Drop for Conn {
        fn drop(&mut self) {
            self.source.close();
            if let Some(body) = document().body() {
                let _ = body.remove_attribute("data-live");
            }
        }
    }

    pub fn connect(slug: &str, topics: &'static [&'static str], bump: WriteSignal<u64>) -> Option<SendWrapper<Conn>> {
        if slug.is_empty() {
            return None;
        }
        let source = EventSource::new(&format!("/w/{slug}/events?topics={}", topics.join(","))).ok()?;
        let mut handlers: Vec<(&str, Handler)> = Vec::new();
        // "all": the server fell behind or reconnected to the database; refetch.
        for &name in topics.iter().chain(&["all"]) {
            handlers.push((name, Closure::new(move |_: web_sys::Event| bump.update(|n| *n += 1))));
        }
        // A reconnect (not the first open) may have missed events: refetch once. The body's
        // `data-live` says the page is listening (end-to-end tests wait for it).
        let opened = Cell::new(false);
        handlers.push((
            "open",
            Closure::new(move |_: web_sys::Event| {
                if let Some(body) = document().body() {
                    let _ = body.set_attribute("data-live", "open");
                }
                if opened.replace(true) {
                    bump.update(|n| *n += 1);
                }
            }),
        ));
        // Reconnecting: not listening until the next open.
        handlers.push((
            "error",
            Closure::new(|_: web_sys::Event| {
                if let Some(body) = document().body() {
                    let _ = body.remove_attribute("data-live");
                }
            }),
        ));
        // Deactivated or signed out: reloading sends the browser to the sign-in page.
        handlers.push((
            "signedout",
            Closure::new(|_: web_sys::Event| {
                if let Some(w) = web_sys::window() {
                    let _ = w.location().reload();
                }
            }),
        ));
        for (name, h) in &handlers {
            source.add_event_listener_with_callback(name, h.as_ref().unchecked_ref()).ok()?;
        }
        Some(SendWrapper::new(Conn { source, _handlers: handlers.into_iter().map(|(_, h)| h).collect() }))
    }
}
