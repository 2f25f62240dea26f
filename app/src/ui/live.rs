//! Live updates in the browser: one `EventSource` on `/w/{slug}/events` per page. The
//! server only says which topic changed; the page refetches through the usual checks.
//!
//! A refetch renders the page's forms again, which would drop what the member is typing:
//! while any field differs from what the page rendered (text typed, a box ticked, an
//! option chosen, not yet saved), a change heard waits, and the page refetches once every
//! field is back as rendered. A form sent in the meantime refetches the page itself.
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
        /// The stream's handlers.
        _handlers: Vec<Handler>,
        /// The document's `input`/`change` and `submit` handlers.
        on_input: Handler,
        on_submit: Handler,
    }

    impl Conn {
        fn document_listeners(&self) -> [(&'static str, &Handler); 3] {
            [("input", &self.on_input), ("change", &self.on_input), ("submit", &self.on_submit)]
        }
    }

    impl Drop for Conn {
        fn drop(&mut self) {
            self.source.close();
            let doc = document();
            for (name, h) in self.document_listeners() {
                let _ = doc.remove_event_listener_with_callback(name, h.as_ref().unchecked_ref());
            }
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
        let waiting = std::rc::Rc::new(Cell::new(false));
        for &name in topics.iter().chain(&["all"]) {
            let waiting = waiting.clone();
            handlers.push((name, Closure::new(move |_: web_sys::Event| refresh(bump, &waiting))));
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
        // A change that waited: once no field is left unsaved, refetch; a form sent clears
        // the wait (its own answer refetches the page).
        let (for_input, for_submit) = (waiting.clone(), waiting);
        let on_input: Handler = Closure::new(move |_: web_sys::Event| {
            if for_input.get() && !unsaved() {
                for_input.set(false);
                bump.update(|n| *n += 1);
            }
        });
        let on_submit: Handler = Closure::new(move |_: web_sys::Event| for_submit.set(false));
        // Made before the document's listeners are added, so a failure part-way removes
        // them (on drop) instead of leaving handlers registered that no longer exist.
        let conn = Conn { source, _handlers: handlers.into_iter().map(|(_, h)| h).collect(), on_input, on_submit };
        let doc = document();
        for (name, h) in conn.document_listeners() {
            doc.add_event_listener_with_callback(name, h.as_ref().unchecked_ref()).ok()?;
        }
        Some(SendWrapper::new(conn))
    }

    /// Refetch now, or once the member's unsaved input is done with.
    fn refresh(bump: WriteSignal<u64>, waiting: &Cell<bool>) {
        if unsaved() {
            waiting.set(true);
        } else {
            bump.update(|n| *n += 1);
        }
    }

    /// Whether a field of the page differs from what was rendered (typed into, ticked,
    /// chosen) and has not been sent.
    fn unsaved() -> bool {
        use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
        let Ok(fields) = document().query_selector_all("input, textarea, select") else { return false };
        (0..fields.length()).filter_map(|i| fields.item(i)).any(|node| {
            if let Some(i) = node.dyn_ref::<HtmlInputElement>() {
                match i.type_().as_str() {
                    "hidden" | "submit" | "button" | "reset" => false,
                    "checkbox" | "radio" => i.checked() != i.default_checked(),
                    _ => i.value() != i.default_value(),
                }
            } else if let Some(t) = node.dyn_ref::<HtmlTextAreaElement>() {
                t.default_value().is_ok_and(|d| t.value() != d)
            } else if let Some(s) = node.dyn_ref::<HtmlSelectElement>() {
                let options = s.options();
                (0..options.length())
                    .filter_map(|i| options.item(i))
                    .filter_map(|o| o.dyn_into::<web_sys::HtmlOptionElement>().ok())
                    .any(|o| o.selected() != o.default_selected())
            } else {
                false
            }
        })
    }
}
