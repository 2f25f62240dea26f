use leptos::prelude::*;

use crate::api::webhooks::{list_webhooks, CreateWebhook, DeleteWebhook, RotateWebhookSecret, TestWebhook};
use crate::model::{WebhookDeliveryRow, WebhookEndpointRow, WebhookSecretShown};
use crate::ui::components::{use_slug, Checkboxes, ErrorNote, Header, Outcome, BUTTON, CARD, INPUT, SMALL_BUTTON};
use crate::ui::pages::failed;

/// The one time an endpoint's signing secret is shown.
#[component]
fn Shown(secret: WebhookSecretShown) -> impl IntoView {
    view! {
        <div class="rounded border border-amber-300 bg-amber-50 p-4 text-sm" role="status" data-testid="webhook-secret-shown">
            <p class="font-medium">"The signing secret for " {secret.url.clone()} ". Copy it now: it is not shown again."</p>
            <input class=INPUT readonly value=secret.secret.clone() aria-label="Signing secret" data-testid="webhook-secret" />
        </div>
    }
}

/// One endpoint with its actions.
#[component]
fn Endpoint(
    endpoint: WebhookEndpointRow,
    #[prop(into)] slug: Signal<String>,
    overlaps: Vec<(i64, String)>,
    rotate: ServerAction<RotateWebhookSecret>,
    test: ServerAction<TestWebhook>,
    delete: ServerAction<DeleteWebhook>,
) -> impl IntoView {
    let e = endpoint;
    let (keeps, rotate_label, test_label, delete_label) = (
        format!("Old secret of {} keeps signing for", e.url),
        format!("Rotate the secret of {}", e.url),
        format!("Send a test event to {}", e.url),
        format!("Delete {}", e.url),
    );
    view! {
        <li class="space-y-2 py-3 text-sm" data-endpoint=e.url.clone()>
            <div class="flex items-center justify-between gap-4">
                <code class="break-all font-medium">{e.url.clone()}</code>
                <span class="text-xs text-slate-500" data-testid="queue">
                    {format!("{} waiting · {} given up", e.pending, e.failed)}
                    {(e.dropped > 0).then(|| format!(" · {} not queued (the queue was full)", e.dropped))}
                </span>
            </div>
            <div class="text-xs text-slate-500">
                {e.events.join(", ")} " · added " {e.created.clone()} " by " {e.created_by.clone()}
                {e.previous_until.clone().map(|u| format!(" · the previous secret signs too until {u}"))}
            </div>
            <div class="flex flex-wrap items-center gap-3">
                <ActionForm action=rotate attr:class="flex items-center gap-2">
                    <input type="hidden" name="slug" value=slug />
                    <input type="hidden" name="id" value=e.id.to_string() />
                    <select name="overlap_secs" class="rounded border border-slate-300 px-2 py-1 text-xs" aria-label=keeps>
                        {overlaps
                            .into_iter()
                            .map(|(secs, label)| {
                                view! {
                                    <option value=secs.to_string() selected=secs == 86_400>
                                        {label}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                    <button type="submit" class=SMALL_BUTTON aria-label=rotate_label>
                        "Rotate secret"
                    </button>
                </ActionForm>
                <ActionForm action=test>
                    <input type="hidden" name="slug" value=slug />
                    <input type="hidden" name="id" value=e.id.to_string() />
                    <button type="submit" class=SMALL_BUTTON aria-label=test_label>
                        "Send test event"
                    </button>
                </ActionForm>
                <ActionForm action=delete>
                    <input type="hidden" name="slug" value=slug />
                    <input type="hidden" name="id" value=e.id.to_string() />
                    <button type="submit" class="rounded border border-red-300 px-2 py-1 text-xs text-red-800 hover:bg-red-50" aria-label=delete_label>
                        "Delete"
                    </button>
                </ActionForm>
            </div>
        </li>
    }
    .into_any()
}

/// One line of the delivery log.
#[component]
fn Delivery(d: WebhookDeliveryRow) -> impl IntoView {
    let outcome = match (&d.last_status, &d.last_error) {
        (_, Some(e)) => e.clone(),
        (Some(s), None) => format!("HTTP {s}"),
        (None, None) => "not tried yet".to_string(),
    };
    view! {
        <tr class="border-t border-slate-100 align-top" data-event=d.event_type.clone() data-state=d.state.clone()>
            <td class="py-2 pr-3">
                <div class="font-medium">{d.event_type.clone()}</div>
                <code class="text-xs text-slate-500">{d.event_id.clone()}</code>
            </td>
            <td class="py-2 pr-3 break-all text-xs">{d.url.clone()}</td>
            <td class="py-2 pr-3">
                <span class="rounded bg-slate-100 px-2 py-0.5 text-xs">{d.state.clone()}</span>
            </td>
            <td class="py-2 pr-3 text-xs" data-testid="outcome">
                {outcome}
                {format!(" · {} attempt{}", d.attempts, if d.attempts == 1 { "" } else { "s" })}
            </td>
            <td class="py-2 text-xs text-slate-500">
                {d.last_attempt.clone().unwrap_or_else(|| d.created.clone())} {d.next_attempt.clone().map(|n| format!(" · next try {n}"))}
            </td>
        </tr>
    }
}

/// `/w/{slug}/settings/webhooks`: the workspace's webhook endpoints (where the product
/// hears what changed), their signing secrets, and the delivery log.
#[component]
pub fn Webhooks() -> impl IntoView {
    let slug = use_slug();
    let create = ServerAction::<CreateWebhook>::new();
    let rotate = ServerAction::<RotateWebhookSecret>::new();
    let test = ServerAction::<TestWebhook>::new();
    let delete = ServerAction::<DeleteWebhook>::new();
    let data = Resource::new(
        move || (slug.get(), create.version().get(), rotate.version().get(), test.version().get(), delete.version().get()),
        |(s, _, _, _, _)| list_webhooks(s),
    );
    let made = Signal::derive(move || create.value().get().or_else(|| rotate.value().get()));
    let done = Signal::derive(move || test.value().get().or_else(|| delete.value().get()));
    view! {
        <Header />
        <main class="mx-auto max-w-5xl space-y-6 px-4 py-8">
            <h1 class="text-2xl font-semibold">"Webhooks"</h1>
            <p class="text-sm text-slate-600">
                "Gatehouse POSTs a JSON event to each endpoint when something it subscribed to happens, signed as Standard Webhooks specifies: "
                <code>"webhook-id"</code> ", " <code>"webhook-timestamp"</code> " and " <code>"webhook-signature"</code>
                " (HMAC-SHA256 of id.timestamp.body with the endpoint's secret). Refuse timestamps more than 5 minutes away from your clock, and drop ids you have seen: a failed delivery is retried with the same id."
            </p>
            <Outcome result=done query="saved" />
            {move || match made.get() {
                Some(Ok(s)) => view! { <Shown secret=s /> }.into_any(),
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
                        {page.fresh.clone().map(|s| view! { <Shown secret=s /> })}
                        <section class=CARD>
                            <h2 class="text-lg font-semibold">"New endpoint"</h2>
                            <ActionForm action=create attr:class="mt-4 space-y-4">
                                <input type="hidden" name="slug" value=slug />
                                <label class="block text-sm font-medium">
                                    "URL"
                                    <input class=INPUT name="url" type="url" required maxlength="2000" placeholder="https://app.example.com/hooks/gatehouse" />
                                </label>
                                <Checkboxes legend="Events" choices=page.events.clone() />
                                <button type="submit" class=BUTTON>
                                    "Add endpoint"
                                </button>
                            </ActionForm>
                        </section>
                        <section class=CARD>
                            <h2 class="text-lg font-semibold">"Endpoints"</h2>
                            {page.endpoints.is_empty().then(|| view! { <p class="mt-2 text-sm text-slate-600">"No endpoints yet."</p> })}
                            <ul class="mt-2 divide-y divide-slate-100" data-testid="webhook-endpoints">
                                {page
                                    .endpoints
                                    .into_iter()
                                    .map(|e| view! { <Endpoint endpoint=e slug=slug overlaps=overlaps.clone() rotate=rotate test=test delete=delete /> })
                                    .collect_view()}
                            </ul>
                        </section>
                        <section class=CARD>
                            <h2 class="text-lg font-semibold">"Delivery log"</h2>
                            <p class="mt-1 text-xs text-slate-500">"The newest 50 deliveries; finished ones are kept for 7 days."</p>
                            {page.deliveries.is_empty().then(|| view! { <p class="mt-2 text-sm text-slate-600">"Nothing sent yet."</p> })}
                            <table class="mt-2 w-full text-left text-sm" data-testid="webhook-deliveries">
                                <tbody>{page.deliveries.into_iter().map(|d| view! { <Delivery d=d /> }).collect_view()}</tbody>
                            </table>
                        </section>
                    }
                        .into_any()
                })}
            </Transition>
        </main>
    }
}
