//! The browser entry point. Pages are rendered on the server; only their islands
//! (the `#[island]` components: live updates, copy buttons) hydrate, each through its own
//! export, which Leptos's island script
//! calls after this.
use app as _;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
    // Lets end-to-end tests tell a hydrated page from a server-rendered one: set once the
    // island script has gone through the page's islands (it hydrates them right after
    // this returns, without waiting on anything but microtasks).
    leptos::prelude::set_timeout(
        || {
            if let Some(body) = leptos::prelude::document().body() {
                let _ = body.set_attribute("data-hydrated", "true");
            }
        },
        std::time::Duration::ZERO,
    );
}
