use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api::invites::{invite_page, AcceptInvite as AcceptFn};
use crate::ui::components::{ErrorNote, BUTTON, CARD, INPUT};
use crate::ui::pages::failed;

/// `/invite/{token}`: the invitee chooses this workspace's password and joins.
#[component]
pub fn AcceptInvite() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let page = Resource::new(token, invite_page);
    let action = ServerAction::<AcceptFn>::new();
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let p = match page.await {
                    Ok(p) => p,
                    Err(e) => return failed(e),
                };
                view! {
                    <main class="mx-auto max-w-md px-4 py-16">
                        <div class=CARD>
                            <h1 class="text-xl font-semibold">"Join " {p.workspace_name.clone()}</h1>
                            <p class="mt-1 text-sm text-slate-600">"Invited as " {p.email.clone()}</p>
                            {(!p.password_allowed)
                                .then(|| {
                                    view! {
                                        <p class="mt-6 text-sm" data-testid="no-password">
                                            {p.workspace_name.clone()}
                                            " doesn't use passwords. "
                                            <a class="text-indigo-700 hover:underline" href=format!("/w/{}/login", p.workspace_slug)>
                                                "Sign in with one of its methods"
                                            </a>
                                            " as "
                                            {p.email.clone()}
                                            " to join."
                                        </p>
                                    }
                                })}
                            <Show when=move || p.password_allowed>
                                <ActionForm action attr:class="mt-6 space-y-4">
                                    <input type="hidden" name="token" value=token() />
                                    <label class="block text-sm font-medium">
                                        "Your name" <input class=INPUT name="full_name" required maxlength="100" autocomplete="name" />
                                    </label>
                                    <label class="block text-sm font-medium">
                                        "Choose a password"
                                        <input class=INPUT name="password" type="password" required minlength="10" autocomplete="new-password" />
                                    </label>
                                    <p class="text-xs text-slate-500">"At least 10 characters. It is used for this workspace only."</p>
                                    {move || action.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorNote error=e /> })}
                                    <button type="submit" class=BUTTON>
                                        "Join workspace"
                                    </button>
                                </ActionForm>
                            </Show>
                        </div>
                    </main>
                }
                    .into_any()
            })}
        </Suspense>
    }
}
