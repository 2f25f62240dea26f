use leptos::prelude::*;

use crate::api::auth::{login_page, Login as LoginFn};
use crate::ui::components::{use_query, use_slug, ErrorNote, BUTTON, CARD, INPUT};
use crate::ui::pages::failed;

/// `/w/{slug}/login`: exactly the methods the workspace allows.
#[component]
pub fn Login() -> impl IntoView {
    let slug = use_slug();
    let page = Resource::new(move || slug.get(), login_page);
    let action = ServerAction::<LoginFn>::new();
    // Where to go after signing in (the product behind forward-auth sends people here with
    // it); the server follows it only within this workspace.
    let next = StoredValue::new(use_query("next")().filter(|n| n.starts_with('/')).unwrap_or_default());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let p = match page.await {
                    Ok(p) => p,
                    Err(e) => return failed(e),
                };
                let others = p.other_methods.clone();
                view! {
                    <main class="mx-auto max-w-md px-4 py-16">
                        <div class=CARD>
                            <h1 class="text-xl font-semibold">"Sign in to " {p.workspace_name.clone()}</h1>
                            {move || {
                                action
                                    .value()
                                    .get()
                                    .and_then(|r| r.err())
                                    .map(|e| {
                                        view! {
                                            <div class="mt-4">
                                                <ErrorNote error=e />
                                            </div>
                                        }
                                    })
                            }}
                            <Show when=move || p.password_enabled>
                                <ActionForm action attr:class="mt-6 space-y-4">
                                    <input type="hidden" name="slug" value=slug />
                                    <input type="hidden" name="next" value=next.get_value() />
                                    <label class="block text-sm font-medium">
                                        "Email" <input class=INPUT name="email" type="email" required autocomplete="username" />
                                    </label>
                                    <label class="block text-sm font-medium">
                                        "Password" <input class=INPUT name="password" type="password" required autocomplete="current-password" />
                                    </label>
                                    <button type="submit" class=BUTTON>
                                        "Sign in"
                                    </button>
                                </ActionForm>
                            </Show>
                            <div class="mt-6 space-y-2">
                                {others
                                    .into_iter()
                                    .map(|(key, label)| {
                                        let back = Some(next.get_value()).filter(|n| !n.is_empty()).unwrap_or_else(|| format!("/w/{}", p.workspace_slug));
                                        let href = match (key.strip_prefix("saml:"), key.strip_prefix("oidc:")) {
                                            (Some(id), _) => format!("/saml/{id}/login?next={}", crate::model::query_value(&back)),
                                            (_, Some(id)) => format!("/oidc/{id}/login?next={}", crate::model::query_value(&back)),
                                            _ => format!("/auth/{}/start?workspace={}&next={}", key, p.workspace_slug, crate::model::query_value(&back)),
                                        };
                                        view! {
                                            <a
                                                rel="external"
                                                class="block rounded border border-slate-300 px-4 py-2 text-center hover:bg-slate-100"
                                                href=href
                                                data-method=key
                                            >
                                                {label}
                                            </a>
                                        }
                                    })
                                    .collect_view()}
                            </div>
                            {p
                                .sso_by_email
                                .then(|| {
                                    view! {
                                        <form method="get" action="/sso" class="mt-6 border-t border-slate-200 pt-4" data-testid="email-first">
                                            <input type="hidden" name="workspace" value=p.workspace_slug.clone() />
                                            <input type="hidden" name="next" value=next.get_value() />
                                            <label class="block text-sm font-medium">
                                                "Work email (single sign-on)" <input class=INPUT name="email" type="email" required autocomplete="username" />
                                            </label>
                                            <button type="submit" class=format!("mt-3 {BUTTON}")>
                                                "Continue with SSO"
                                            </button>
                                        </form>
                                    }
                                })}
                            {use_query("sso")()
                                .and_then(|code| crate::model::notice(&code))
                                .map(|m| {
                                    view! {
                                        <p role="alert" class="mt-3 text-sm text-red-800">
                                            {m}
                                        </p>
                                    }
                                })}
                            {use_query("saved")()
                                .filter(|c| c.starts_with("signed_out"))
                                .and_then(|code| crate::model::notice(&code))
                                .map(|m| {
                                    view! {
                                        <p role="status" class="mt-3 text-sm text-emerald-800">
                                            {m}
                                        </p>
                                    }
                                })}
                        </div>
                    </main>
                }
                    .into_any()
            })}
        </Suspense>
    }
}
