use leptos::prelude::*;

use crate::api::access::my_resources;
use crate::api::auth::me;
use crate::ui::components::{use_slug, Header, CARD};
use crate::ui::live::LiveRefresh;
use crate::ui::pages::failed;

/// `/w/{slug}`: the member's home.
///
/// One level of suspense: the header sits beside it and both resources are awaited in the
/// same `Suspend`. A resource created inside a `Suspend` (the header's own), and later a
/// `Suspense` nested inside one, made async server rendering hang now and then.
#[component]
pub fn Home() -> impl IntoView {
    let slug = use_slug();
    let me_res = Resource::new(move || slug.get(), me);
    let mine = Resource::new(move || slug.get(), my_resources);
    view! {
        <Header />
        // Fetched again when the server says access changed in this workspace.
        <LiveRefresh slug=slug.get_untracked() topics=vec!["access".to_string()] lost=false />
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let (me_r, list) = (me_res.await, mine.await.unwrap_or_default());
                match me_r {
                    Err(e) => failed(e),
                    Ok(m) => {
                        view! {
                            <main class="mx-auto max-w-5xl px-4 py-8">
                                <div class=CARD>
                                    <h1 class="text-xl font-semibold">
                                        "Welcome, " {if m.full_name.is_empty() { m.email.clone() } else { m.full_name.clone() }}
                                    </h1>
                                    <p class="mt-2 text-slate-600">"You are signed in to " {m.workspace_name.clone()} "."</p>
                                </div>
                                <section class=format!("mt-6 {CARD}")>
                                    <h2 class="text-lg font-semibold">"Your collections and connections"</h2>
                                    {if list.is_empty() {
                                        view! { <p class="mt-2 text-sm text-slate-600">"Nothing is shared with your groups yet."</p> }.into_any()
                                    } else {
                                        view! {
                                            <ul class="mt-2 divide-y divide-slate-100" data-testid="my-resources">
                                                {list
                                                    .into_iter()
                                                    .map(|r| {
                                                        view! {
                                                            <li class="py-2">
                                                                <a
                                                                    class="font-medium text-indigo-700 hover:underline"
                                                                    href=format!("/w/{}/r/{}", slug.get_untracked(), r.id)
                                                                >
                                                                    {r.name.clone()}
                                                                </a>
                                                                <span class="ml-2 text-xs text-slate-500">{r.kind_label.clone()} " · " {r.level.clone()}</span>
                                                            </li>
                                                        }
                                                    })
                                                    .collect_view()}
                                            </ul>
                                        }
                                            .into_any()
                                    }}
                                </section>
                            </main>
                        }
                            .into_any()
                    }
                }
            })}
        </Transition>
    }
}
