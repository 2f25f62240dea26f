use leptos::prelude::*;

use crate::api::auth::{setup_needed, Setup as SetupFn};
use crate::ui::components::{ErrorNote, BUTTON, CARD, INPUT};
use crate::ui::pages::NotFound;

/// `/setup`: first run only. Creates the first workspace and its admin.
#[component]
pub fn Setup() -> impl IntoView {
    let needed = Resource::new(|| (), |_| setup_needed());
    let action = ServerAction::<SetupFn>::new();
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                if needed.await != Ok(true) {
                    return view! { <NotFound /> }.into_any();
                }
                view! {
                    <main class="mx-auto max-w-md px-4 py-16">
                        <div class=CARD>
                            <h1 class="text-xl font-semibold">"Set up Gatehouse"</h1>
                            <p class="mt-1 text-sm text-slate-600">"Create your workspace and its first admin. This page disappears afterwards."</p>
                            <ActionForm action attr:class="mt-6 space-y-4">
                                <label class="block text-sm font-medium">
                                    "Setup token" <input class=INPUT name="setup_token" required autocomplete="off" spellcheck="false" />
                                </label>
                                <p class="text-xs text-slate-500">
                                    "The server printed it when it first started; "<code>"gatehouse setup-token"</code>
                                    " prints a new one. It proves you run this server."
                                </p>
                                <label class="block text-sm font-medium">"Workspace name" <input class=INPUT name="name" required maxlength="100" /></label>
                                <label class="block text-sm font-medium">
                                    "Workspace URL name" <input class=INPUT name="slug" required pattern="[a-z0-9][a-z0-9\\-]*[a-z0-9]" maxlength="40" />
                                </label>
                                <label class="block text-sm font-medium">
                                    "Your name" <input class=INPUT name="admin_name" required maxlength="100" autocomplete="name" />
                                </label>
                                <label class="block text-sm font-medium">
                                    "Email" <input class=INPUT name="email" type="email" required autocomplete="email" />
                                </label>
                                <label class="block text-sm font-medium">
                                    "Password" <input class=INPUT name="password" type="password" required minlength="10" autocomplete="new-password" />
                                </label>
                                {move || action.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorNote error=e /> })}
                                <button type="submit" class=BUTTON>
                                    "Create workspace"
                                </button>
                            </ActionForm>
                        </div>
                    </main>
                }
                    .into_any()
            })}
        </Suspense>
    }
}
