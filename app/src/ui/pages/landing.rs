use leptos::prelude::*;
use leptos_router::components::Redirect;

use crate::api::auth::setup_needed;
use crate::ui::components::{BUTTON, CARD, INPUT};

/// `/`: sends a new installation to setup; otherwise asks which workspace.
#[component]
pub fn Landing() -> impl IntoView {
    let needed = Resource::new(|| (), |_| setup_needed());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match needed.await {
                    Ok(true) => view! { <Redirect path="/setup" /> }.into_any(),
                    _ => {
                        view! {
                            <main class="mx-auto max-w-md px-4 py-24">
                                <div class=CARD>
                                    <h1 class="text-xl font-semibold">"Sign in to your workspace"</h1>
                                    <form method="get" action="/go" class="mt-4 space-y-4">
                                        <label class="block text-sm font-medium">
                                            "Workspace URL name" <input class=INPUT name="workspace" required autocomplete="organization" />
                                        </label>
                                        <button type="submit" class=BUTTON>
                                            "Continue"
                                        </button>
                                    </form>
                                </div>
                            </main>
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}
