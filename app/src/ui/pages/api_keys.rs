use leptos::prelude::*;

use crate::api::api_keys::{list_api_keys, CreateApiKey, RevokeApiKey, RotateApiKey};
use crate::model::ApiKeyShown;
use crate::ui::components::{use_slug, Checkboxes, ErrorNote, Header, Outcome, BUTTON, CARD, INPUT, SMALL_BUTTON};
use crate::ui::pages::failed;

/// The one time a key's secret is shown.
#[component]
fn Shown(key: ApiKeyShown) -> impl IntoView {
    view! {
        <div class="rounded border border-amber-300 bg-amber-50 p-4 text-sm" role="status" data-testid="api-key-shown">
            <p class="font-medium">"The key for “" {key.name.clone()} "”. Copy it now: it is not shown again."</p>
            <input class=INPUT readonly value=key.key.clone() aria-label="New API key" data-testid="api-key" />
        </div>
    }
}

/// `/w/{slug}/settings/api-keys`: the workspace's API keys (service accounts of the product
/// for `/v1`): create one with scopes and an expiry, see when each was last used, rotate
/// with an overlap window, revoke.
#[component]
pub fn ApiKeys() -> impl IntoView {
    let slug = use_slug();
    let create = ServerAction::<CreateApiKey>::new();
    let rotate = ServerAction::<RotateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let data = Resource::new(move || (slug.get(), create.version().get(), rotate.version().get(), revoke.version().get()), |(s, _, _, _)| list_api_keys(s));
    let made = Signal::derive(move || create.value().get().or_else(|| rotate.value().get()));
    view! {
        <Header />
        <main class="mx-auto max-w-5xl space-y-6 px-4 py-8">
            <h1 class="text-2xl font-semibold">"API keys"</h1>
            <p class="text-sm text-slate-600">
                "Keys let the product call Gatehouse's API (" <code>"/v1"</code> ", described at " <a class="underline" href="/v1/openapi.json">
                    "/v1/openapi.json"
                </a> "). A key belongs to the workspace, not to a person, so nobody leaving breaks it."
            </p>
            <Outcome result=Signal::derive(move || revoke.value().get()) query="saved" />
            {move || match made.get() {
                Some(Ok(k)) => view! { <Shown key=k /> }.into_any(),
                Some(Err(e)) => view! { <ErrorNote error=e /> }.into_any(),
                None => ().into_any(),
            }}
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let page = match data.await {
                        Ok(p) => p,
                        Err(e) => return failed(e),
                    };
                    let overlaps = page.overlaps.clone();
                    view! {
                        {page.fresh.clone().map(|k| view! { <Shown key=k /> })}
                        <section class=CARD>
                            <h2 class="text-lg font-semibold">"New key"</h2>
                            <ActionForm action=create attr:class="mt-4 space-y-4">
                                <input type="hidden" name="slug" value=slug />
                                <label class="block text-sm font-medium">
                                    "Name" <input class=INPUT name="name" required maxlength="100" placeholder="Analytics app (production)" />
                                </label>
                                <Checkboxes legend="Scopes" choices=page.scopes.clone() />
                                <label class="block text-sm font-medium">
                                    "Expires after (days; empty for never)" <input class=INPUT name="expires_days" inputmode="numeric" placeholder="365" />
                                </label>
                                <button type="submit" class=BUTTON>
                                    "Create key"
                                </button>
                            </ActionForm>
                        </section>
                        <section class=CARD>
                            <h2 class="text-lg font-semibold">"Keys"</h2>
                            {page.keys.is_empty().then(|| view! { <p class="mt-2 text-sm text-slate-600">"No keys yet."</p> })}
                            <ul class="mt-2 divide-y divide-slate-100" data-testid="api-keys">
                                {page
                                    .keys
                                    .into_iter()
                                    .map(|k| {
                                        let active = k.status == "active";
                                        let overlaps = overlaps.clone();
                                        let (keeps, rotate_label, revoke_label) = (
                                            format!("Old key of {} keeps working for", k.name),
                                            format!("Rotate {}", k.name),
                                            format!("Revoke {}", k.name),
                                        );
                                        view! {
                                            <li class="space-y-2 py-3 text-sm" data-key=k.name.clone() data-status=k.status.clone()>
                                                <div class="flex items-center justify-between gap-4">
                                                    <div>
                                                        <span class="font-medium">{k.name.clone()}</span>
                                                        <code class="ml-2 text-xs text-slate-500">"ghk_" {k.public_id.clone()} "_…"</code>
                                                        <span class="ml-2 rounded bg-slate-100 px-2 py-0.5 text-xs">{k.status.clone()}</span>
                                                    </div>
                                                    <div class="text-xs text-slate-500" data-testid="last-used">
                                                        {match k.last_used.clone() {
                                                            Some(t) => format!("last used {t}"),
                                                            None => "never used".to_string(),
                                                        }}
                                                    </div>
                                                </div>
                                                <div class="text-xs text-slate-500">
                                                    {k.scopes.join(", ")} " · created " {k.created.clone()} " by " {k.created_by.clone()}
                                                    {k.expires.clone().map(|e| format!(" · expires {e}"))}
                                                    {k.previous_until.clone().map(|u| format!(" · the previous secret works until {u}"))}
                                                </div>
                                                {(k.status != "revoked")
                                                    .then(|| {
                                                        view! {
                                                            <div class="flex flex-wrap items-center gap-3">
                                                                {active
                                                                    .then(|| {
                                                                        view! {
                                                                            <ActionForm action=rotate attr:class="flex items-center gap-2">
                                                                                <input type="hidden" name="slug" value=slug />
                                                                                <input type="hidden" name="id" value=k.id.to_string() />
                                                                                <select
                                                                                    name="overlap_secs"
                                                                                    class="rounded border border-slate-300 px-2 py-1 text-xs"
                                                                                    aria-label=keeps.clone()
                                                                                >
                                                                                    {overlaps
                                                                                        .iter()
                                                                                        .map(|(secs, label)| {
                                                                                            view! {
                                                                                                <option value=secs.to_string() selected=*secs == 86_400>
                                                                                                    {label.clone()}
                                                                                                </option>
                                                                                            }
                                                                                        })
                                                                                        .collect_view()}
                                                                                </select>
                                                                                <button type="submit" class=SMALL_BUTTON aria-label=rotate_label.clone()>
                                                                                    "Rotate"
                                                                                </button>
                                                                            </ActionForm>
                                                                        }
                                                                    })} <ActionForm action=revoke>
                                                                    <input type="hidden" name="slug" value=slug />
                                                                    <input type="hidden" name="id" value=k.id.to_string() />
                                                                    <button
                                                                        type="submit"
                                                                        class="rounded border border-red-300 px-2 py-1 text-xs text-red-800 hover:bg-red-50"
                                                                        aria-label=revoke_label.clone()
                                                                    >
                                                                        "Revoke"
                                                                    </button>
                                                                </ActionForm>
                                                            </div>
                                                        }
                                                    })}
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ul>
                        </section>
                    }
                        .into_any()
                })}
            </Transition>
        </main>
    }
}
