//! Small shared pieces of UI.
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::auth::me;
use crate::error::AppError;

/// The `:slug` route parameter.
pub fn use_slug() -> Memo<String> {
    let params = use_params_map();
    Memo::new(move |_| params.read().get("slug").unwrap_or_default())
}

/// A query parameter, e.g. the `saved` confirmation after a no-JS form post.
pub fn use_query(name: &'static str) -> impl Fn() -> Option<String> + Clone + Send + Sync + 'static {
    let q = use_query_map();
    move || q.read().get(name)
}

#[component]
pub fn ErrorNote(error: AppError) -> impl IntoView {
    view! {
        <p role="alert" class="rounded border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-800">
            {error.to_string()}
        </p>
    }
}

#[component]
pub fn SavedNote(text: String) -> impl IntoView {
    view! {
        <p role="status" class="rounded border border-emerald-300 bg-emerald-50 px-3 py-2 text-sm text-emerald-800">
            {text}
        </p>
    }
}

/// Shows an action's latest outcome, or, after a no-JS post, the confirmation its server
/// function put in the query parameter `query`.
#[component]
pub fn Outcome(#[prop(into)] result: Signal<Option<Result<String, AppError>>>, query: &'static str) -> impl IntoView {
    let saved = use_query(query);
    move || match result.get() {
        Some(Ok(msg)) => view! { <SavedNote text=msg /> }.into_any(),
        Some(Err(e)) => view! { <ErrorNote error=e /> }.into_any(),
        // The query names a notice by code: only our own sentences are shown.
        None => {
            saved().and_then(|code| crate::model::notice(&code)).map(|m| view! { <SavedNote text=m.to_string() /> }.into_any()).unwrap_or_else(|| ().into_any())
        }
    }
}

/// Header of every signed-in page: workspace, the member's name and email, sign out.
#[component]
pub fn Header() -> impl IntoView {
    let slug = use_slug();
    let me_res = Resource::new(move || slug.get(), me);
    view! {
        <header class="border-b border-slate-200 bg-white">
            <div class="mx-auto flex max-w-5xl items-center justify-between gap-4 px-4 py-3">
                <Suspense fallback=|| {
                    view! { <span>"…"</span> }
                }>
                    {move || Suspend::new(async move {
                        match me_res.await {
                            Ok(m) => {
                                let home = format!("/w/{}", m.workspace_slug);
                                let auth = format!("/w/{}/settings/authentication", m.workspace_slug);
                                let members = format!("/w/{}/settings/members", m.workspace_slug);
                                let groups = format!("/w/{}/settings/groups", m.workspace_slug);
                                let access = format!("/w/{}/settings/access", m.workspace_slug);
                                let overview = format!("/w/{}/settings/overview", m.workspace_slug);
                                let keys = format!("/w/{}/settings/api-keys", m.workspace_slug);
                                let hooks = format!("/w/{}/settings/webhooks", m.workspace_slug);
                                let account = format!("/w/{}/account", m.workspace_slug);
                                view! {
                                    <nav class="flex items-center gap-4 text-sm">
                                        <a href=home class="font-semibold">
                                            {m.workspace_name.clone()}
                                        </a>
                                        <Show when=move || m.is_admin>
                                            <a href=overview.clone() class="text-slate-600 hover:text-slate-900">
                                                "Overview"
                                            </a>
                                            <a href=auth.clone() class="text-slate-600 hover:text-slate-900">
                                                "Member Authorization"
                                            </a>
                                            <a href=members.clone() class="text-slate-600 hover:text-slate-900">
                                                "Members"
                                            </a>
                                            <a href=groups.clone() class="text-slate-600 hover:text-slate-900">
                                                "Groups"
                                            </a>
                                            <a href=access.clone() class="text-slate-600 hover:text-slate-900">
                                                "Access"
                                            </a>
                                            <a href=keys.clone() class="text-slate-600 hover:text-slate-900">
                                                "API keys"
                                            </a>
                                            <a href=hooks.clone() class="text-slate-600 hover:text-slate-900">
                                                "Webhooks"
                                            </a>
                                        </Show>
                                    </nav>
                                    <div class="flex items-center gap-3 text-sm">
                                        <span data-testid="me">
                                            <span class="font-medium">{m.full_name.clone()}</span>
                                            " "
                                            <span class="text-slate-500">{m.email.clone()}</span>
                                        </span>
                                        <a href=account class="text-slate-600 hover:text-slate-900">
                                            "Your sessions"
                                        </a>
                                        // A plain form to `POST /logout`, with or without JavaScript: signing
                                        // out of a SAML session may continue at the IdP (Single Logout).
                                        <form method="post" action="/logout">
                                            <input type="hidden" name="slug" value=m.workspace_slug.clone() />
                                            <button type="submit" class="rounded border border-slate-300 px-2 py-1 hover:bg-slate-100">
                                                "Sign out"
                                            </button>
                                        </form>
                                    </div>
                                }
                                    .into_any()
                            }
                            Err(_) => view! { <a href=format!("/w/{}/login", slug.get_untracked())>"Sign in"</a> }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
        </header>
    }
}

pub const INPUT: &str = "mt-1 block w-full rounded border border-slate-300 px-3 py-2 focus:border-indigo-500 focus:outline-none";
pub const BUTTON: &str = "rounded bg-indigo-600 px-4 py-2 font-medium text-white hover:bg-indigo-700";
pub const CARD: &str = "rounded-lg border border-slate-200 bg-white p-6 shadow-sm";
pub const SMALL_BUTTON: &str = "rounded border border-slate-300 px-2 py-1 text-xs hover:bg-slate-100";

/// A set of checkboxes, one per choice (its name in code, and what it means), each posted
/// as the name with `_` for `:` and `.` (`directory_read`, `member_joined`).
#[component]
pub fn Checkboxes(legend: &'static str, choices: Vec<(String, String)>) -> impl IntoView {
    view! {
        <fieldset class="space-y-2 text-sm">
            <legend class="font-medium">{legend}</legend>
            {choices
                .into_iter()
                .map(|(name, what)| {
                    let field = name.replace([':', '.'], "_");
                    view! {
                        <label class="flex items-start gap-2">
                            <input type="checkbox" name=field value="true" />
                            <span>
                                <code>{name}</code>
                                " — "
                                {what}
                            </span>
                        </label>
                    }
                })
                .collect_view()}
        </fieldset>
    }
}
