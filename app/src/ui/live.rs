//! Live updates in the browser: one `EventSource` on `/w/{slug}/events` per page, opened
//! by the `LiveRefresh` island. The server only says which topic changed; the page's
//! `<main>` is then fetched again from the server (through the usual checks) and put in
//! place of the old one, without a reload. A fetch that was redirected (signed out,
//! deactivated) loads where it was sent.
//!
//! Fetching again renders the page's forms again, which would drop what the member is
//! typing: while any field differs from what the page rendered (text typed, a box ticked,
//! an option chosen, not yet saved), a change heard waits, and the page is fetched once
//! every field is back as rendered. A form sent in the meantime loads the page itself.
use leptos::prelude::*;

/// Keeps the page's `<main>` in line with the server while it is open: whenever the
/// server says one of `topics` changed in workspace `slug` (or the stream reconnected,
/// after which anything may have changed). `lost`: a page that shows one resource; when
/// fetching it again answers 404 (access was removed), the server-rendered
/// `#access-lost` template takes the content's place and the address stays. Renders
/// nothing; without JS it does nothing.
#[island]
pub fn LiveRefresh(slug: String, topics: Vec<String>, lost: bool) -> impl IntoView {
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(conn) = browser::connect(&slug, &topics, lost) {
            on_cleanup(move || drop(conn));
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (slug, topics, lost);
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

    pub fn connect(slug: &str, topics: &[String], lost: bool) -> Option<SendWrapper<Conn>> {
        if slug.is_empty() || !slug.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return None;
        }
        let source = EventSource::new(&format!("/w/{slug}/events?topics={}", topics.join(","))).ok()?;
        let waiting = std::rc::Rc::new(Cell::new(false));
        let fetching = std::rc::Rc::new(Cell::new(Fetching::Idle));
        let bump = {
            let waiting = waiting.clone();
            move || {
                // One fetch at a time, the newest answer last: a change heard during one
                // fetches again once it is done.
                match fetching.get() {
                    Fetching::Idle => {
                        fetching.set(Fetching::Busy);
                        leptos::task::spawn_local(fetch_main(lost, waiting.clone(), fetching.clone()));
                    }
                    Fetching::Busy | Fetching::Again => fetching.set(Fetching::Again),
                }
            }
        };
        let mut handlers: Vec<(String, Handler)> = Vec::new();
        // "all": the server fell behind or reconnected to the database; fetch again.
        for name in topics.iter().map(String::as_str).chain(["all"]) {
            let (waiting, bump) = (waiting.clone(), bump.clone());
            handlers.push((name.to_string(), Closure::new(move |_: web_sys::Event| refresh(&bump, &waiting))));
        }
        // A reconnect (not the first open) may have missed events: refetch once. The body's
        // `data-live` says the page is listening (end-to-end tests wait for it).
        let opened = Cell::new(false);
        let on_open = bump.clone();
        handlers.push((
            "open".into(),
            Closure::new(move |_: web_sys::Event| {
                if let Some(body) = document().body() {
                    let _ = body.set_attribute("data-live", "open");
                }
                if opened.replace(true) {
                    on_open();
                }
            }),
        ));
        // Reconnecting: not listening until the next open.
        handlers.push((
            "error".into(),
            Closure::new(|_: web_sys::Event| {
                if let Some(body) = document().body() {
                    let _ = body.remove_attribute("data-live");
                }
            }),
        ));
        // Deactivated or signed out: reloading sends the browser to the sign-in page.
        handlers.push((
            "signedout".into(),
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
                bump();
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

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Fetching {
        Idle,
        Busy,
        /// Busy, and a change was heard meanwhile.
        Again,
    }

    /// Fetch again now, or once the member's unsaved input is done with.
    fn refresh(bump: &impl Fn(), waiting: &Cell<bool>) {
        if unsaved() {
            waiting.set(true);
        } else {
            bump();
        }
    }

    /// Fetches the page again and puts its `<main>` in place of this one. Redirected (the
    /// session ended): loads where it leads. `lost` and a 404 while the resource is shown:
    /// the `#access-lost` template replaces the content instead.
    async fn fetch_main(lost: bool, waiting: std::rc::Rc<Cell<bool>>, fetching: std::rc::Rc<Cell<Fetching>>) {
        loop {
            fetch_once(lost, &waiting).await;
            if fetching.get() == Fetching::Again {
                fetching.set(Fetching::Busy);
            } else {
                fetching.set(Fetching::Idle);
                return;
            }
        }
    }

    async fn fetch_once(lost: bool, waiting: &Cell<bool>) {
        let doc = document();
        // A one-time secret on show (a fresh invite link) would not come back: the page
        // stays as it is until the member loads it again. So does a page that already says
        // its access was lost.
        if doc.query_selector("main [data-once], [data-testid=access-lost]").ok().flatten().is_some() {
            return;
        }
        let Some(window) = web_sys::window() else { return };
        let Ok(href) = window.location().href() else { return };
        let init = web_sys::RequestInit::new();
        init.set_method("GET");
        let headers = web_sys::Headers::new().ok();
        if let Some(h) = &headers {
            let _ = h.set("accept", "text/html");
            init.set_headers(h);
        }
        let Ok(answer) = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str_and_init(&href, &init)).await else { return };
        let Ok(resp) = answer.dyn_into::<web_sys::Response>() else { return };
        if resp.redirected() {
            let _ = window.location().assign(&resp.url());
            return;
        }
        let Ok(Some(main)) = doc.query_selector("main") else { return };
        if lost && resp.status() == 404 && doc.query_selector("[data-testid=resource]").ok().flatten().is_some() {
            if let Some(t) = doc.get_element_by_id("access-lost").and_then(|t| t.dyn_into::<web_sys::HtmlTemplateElement>().ok()) {
                if let Ok(node) = t.content().clone_node_with_deep(true) {
                    let _ = main.replace_with_with_node_1(&node);
                }
            }
            return;
        }
        // A page (200) or its refusal (404: an admin page after a demotion); an error or a
        // busy server leaves the page as it is until the next change.
        if !matches!(resp.status(), 200 | 404) {
            return;
        }
        let Ok(text) = resp.text() else { return };
        let Some(html) = wasm_bindgen_futures::JsFuture::from(text).await.ok().and_then(|t| t.as_string()) else { return };
        // The member started typing while the page was being fetched: keep what they
        // typed, and fetch again once they are done.
        if unsaved() {
            waiting.set(true);
            return;
        }
        let Ok(parser) = web_sys::DomParser::new() else { return };
        let Ok(fetched) = parser.parse_from_string(&html, web_sys::SupportedType::TextHtml) else { return };
        if let Ok(Some(fresh)) = fetched.query_selector("main") {
            let _ = main.replace_with_with_node_1(&fresh);
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
