use leptos::prelude::*;

use crate::api::account::{my_sessions, EndMyOtherSessions, EndMySession};
use crate::ui::components::{use_slug, Header, Outcome, CARD, SMALL_BUTTON};
use crate::ui::live::LiveRefresh;
use crate::ui::pages::failed;

/// `/w/{slug}/account`: the member's own sessions in this workspace — each device, where
/// and how it signed in, when it was last used — with sign-out per session and everywhere
/// else.
#[component]
pub fn Account() -> impl IntoView {
    let slug = use_slug();
    let end_one = ServerAction::<EndMySession>::new();
    let end_others = ServerAction::<EndMyOtherSessions>::new();
    // A session ended elsewhere (another device, an admin) refreshes the list.
    let data = Resource::new(move || (slug.get(), end_one.version().get(), end_others.version().get()), |(s, _, _)| my_sessions(s));
    let result = Signal::derive(move || end_one.value().get().or_else(|| end_others.value().get()));
    view! {
        <Header />
        <LiveRefresh slug=slug.get_untracked() topics=vec!["sessions".to_string()] lost=false />
        <main class="mx-auto max-w-5xl space-y-6 px-4 py-8">
            <h1 class="text-2xl font-semibold">"Your sessions"</h1>
            <Outcome result=result query="saved" />
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let list = match data.await {
                        Ok(l) => l,
                        Err(e) => return failed(e),
                    };
                    let others = list.iter().filter(|s| !s.current).count();
                    view! {
                        <section class=CARD>
                            <p class="text-sm text-slate-600">"Every browser signed in to this workspace as you. Sign out any you don't recognise."</p>
                            <ul class="mt-4 divide-y divide-slate-100" data-testid="sessions">
                                {list
                                    .into_iter()
                                    .map(|s| {
                                        let label = format!("Sign out {} ({})", s.device, s.last_active);
                                        view! {
                                            <li class="flex items-center justify-between gap-4 py-3 text-sm" data-current=s.current.to_string()>
                                                <div>
                                                    <div class="font-medium">
                                                        {s.device.clone()}
                                                        {s
                                                            .current
                                                            .then(|| {
                                                                view! {
                                                                    <span class="ml-2 rounded bg-emerald-100 px-2 py-0.5 text-xs text-emerald-800">
                                                                        "This browser"
                                                                    </span>
                                                                }
                                                            })}
                                                    </div>
                                                    <div class="text-xs text-slate-500">
                                                        {s.method.clone()} {(!s.ip.is_empty()).then(|| format!(" · from {}", s.ip))} " · signed in "
                                                        {s.started.clone()} " · last active " {s.last_active.clone()}
                                                    </div>
                                                </div>
                                                <ActionForm action=end_one>
                                                    <input type="hidden" name="slug" value=slug />
                                                    <input type="hidden" name="session_id" value=s.id.to_string() />
                                                    <button type="submit" class=SMALL_BUTTON aria-label=label>
                                                        "Sign out"
                                                    </button>
                                                </ActionForm>
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ul>
                            {(others > 0)
                                .then(|| {
                                    view! {
                                        <ActionForm action=end_others attr:class="mt-4">
                                            <input type="hidden" name="slug" value=slug />
                                            <button type="submit" class="rounded border border-red-300 px-3 py-2 text-sm text-red-800 hover:bg-red-50">
                                                "Sign out everywhere else"
                                            </button>
                                        </ActionForm>
                                    }
                                })}
                        </section>
                    }
                        .into_any()
                })}
            </Transition>
        </main>
    }
}
