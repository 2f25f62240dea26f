use leptos::prelude::*;

use crate::api::auth::me;
use crate::ui::components::{use_slug, Header, CARD};
use crate::ui::pages::failed;

/// `/w/{slug}`: the member's home.
///
/// The header sits beside the suspense, not inside it: a resource created inside a
/// `Suspend` (the header's own) made async server rendering hang now and then.
#[component]
pub fn Home() -> impl IntoView {
    let slug = use_slug();
    let me_res = Resource::new(move || slug.get(), me);
    view! {
        <Header/>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match me_res.await {
                    Err(e) => failed(e),
                    Ok(m) => view! {
                        <main class="mx-auto max-w-5xl px-4 py-8">
                            <div class=CARD>
                                <h1 class="text-xl font-semibold">"Welcome, " {if m.full_name.is_empty() { m.email.clone() } else { m.full_name.clone() }}</h1>
                                <p class="mt-2 text-slate-600">"You are signed in to " {m.workspace_name.clone()} "."</p>
                            </div>
                        </main>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}
