use leptos::prelude::*;

use crate::api::settings::{auth_settings, ChangeDomain, CheckDomain, SetMethod, SetOidcAllowlist, SetSessionIdle, SetSessionLifetime};
use crate::ui::components::{use_slug, Header, Outcome, BUTTON, CARD, INPUT};
use crate::ui::pages::failed;

/// `/w/{slug}/settings/authentication` (admins): Member Authorization.
#[component]
pub fn AuthSettingsPage() -> impl IntoView {
    let slug = use_slug();
    let set_method = ServerAction::<SetMethod>::new();
    let set_lifetime = ServerAction::<SetSessionLifetime>::new();
    let set_idle = ServerAction::<SetSessionIdle>::new();
    let change_domain = ServerAction::<ChangeDomain>::new();
    let check_domain = ServerAction::<CheckDomain>::new();
    let set_allow = ServerAction::<SetOidcAllowlist>::new();
    let data = Resource::new(
        move || {
            (
                slug.get(),
                set_method.version().get(),
                (set_lifetime.version().get(), set_idle.version().get()),
                (change_domain.version().get(), check_domain.version().get()),
                set_allow.version().get(),
            )
        },
        |(slug, _, _, _, _)| auth_settings(slug),
    );
    let allow_result = Signal::derive(move || set_allow.value().get());
    let domain_result = Signal::derive(move || check_domain.value().get().or_else(|| change_domain.value().get()));
    let method_result = Signal::derive(move || set_method.value().get());
    let lifetime_result = Signal::derive(move || set_lifetime.value().get());
    let idle_result = Signal::derive(move || set_idle.value().get());
    view! {
        <Header />
        <main class="mx-auto max-w-5xl space-y-6 px-4 py-8">
            <h1 class="text-2xl font-semibold">"Member Authorization"</h1>
            <Transition fallback=|| ()>
                {move || {
                    Suspend::new(async move {
                        let settings = match data.await {
                            Ok(s) => s,
                            Err(e) => return failed(e),
                        };
                        view! {
                            <section class=CARD>
                                <h2 class="text-lg font-semibold">"Sign-in methods"</h2>
                                <p class="mt-1 text-sm text-slate-600">"Choose how members may sign in. At least one method stays on."</p>
                                <div class="mt-4">
                                    <Outcome result=method_result query="method_saved" />
                                </div>
                                <ul class="mt-4 divide-y divide-slate-100">
                                    {settings
                                        .methods
                                        .into_iter()
                                        .map(|m| {
                                            let fallback_warning = (!settings.provisioning.is_empty() && !m.enabled && m.available
                                                && !m.key.starts_with("saml:"))
                                                .then(|| {
                                                    format!(
                                                        "Provisioning is on ({}). Switching this on adds a fallback: people can then sign in without going through your identity provider.",
                                                        settings.provisioning.join(", "),
                                                    )
                                                });
                                            let next = if m.enabled { "false" } else { "true" };
                                            let key = m.key.clone();
                                            let track = if m.enabled { "bg-indigo-600" } else { "bg-slate-300" };
                                            let knob = if m.enabled { "translate-x-5" } else { "translate-x-0" };
                                            // With provisioning on, a fallback method lets people in without the IdP.
                                            view! {
                                                <li class="flex items-center justify-between py-3" data-method=m.key.clone()>
                                                    <div>
                                                        <div class="font-medium">{m.label.clone()}</div>
                                                        {m.note.clone().map(|n| view! { <div class="text-xs text-slate-500">{n}</div> })}
                                                        {fallback_warning
                                                            .map(|w| {
                                                                view! {
                                                                    <div class="text-xs text-amber-800" data-testid="fallback-warning">
                                                                        {w}
                                                                    </div>
                                                                }
                                                            })}
                                                    </div>
                                                    <div class="flex items-center gap-3">
                                                        {m
                                                            .key
                                                            .split_once(':')
                                                            .map(|(kind, id)| {
                                                                let href = format!("/w/{}/settings/authentication/{kind}/{id}", slug.get_untracked());
                                                                view! {
                                                                    <a
                                                                        class="text-sm text-indigo-700 hover:underline"
                                                                        href=href
                                                                        aria-label=format!("Edit {}", m.label)
                                                                    >
                                                                        "Edit"
                                                                    </a>
                                                                }
                                                            })} <ActionForm action=set_method>
                                                            <input type="hidden" name="slug" value=slug />
                                                            <input type="hidden" name="method" value=key />
                                                            <input type="hidden" name="enabled" value=next />
                                                            <button
                                                                type="submit"
                                                                role="switch"
                                                                aria-checked=if m.enabled { "true" } else { "false" }
                                                                aria-label=m.label.clone()
                                                                disabled=!m.available
                                                                class=format!(
                                                                    "relative inline-flex h-6 w-11 items-center rounded-full transition disabled:opacity-40 {track}",
                                                                )
                                                            >
                                                                <span class=format!(
                                                                    "inline-block h-5 w-5 transform rounded-full bg-white shadow transition {knob}",
                                                                )></span>
                                                            </button>
                                                        </ActionForm>
                                                    </div>
                                                </li>
                                            }
                                        })
                                        .collect_view()}
                                </ul>
                                <div class="mt-4 flex flex-wrap gap-2">
                                    <a class=BUTTON href=move || format!("/w/{}/settings/authentication/saml/new", slug.get())>
                                        "+ Add New Provider"
                                    </a>
                                    <a class=BUTTON href=move || format!("/w/{}/settings/authentication/oidc/new", slug.get())>
                                        "+ Add OpenID Connect connection"
                                    </a>
                                </div>
                                <p class="mt-2 text-xs text-slate-500">
                                    "Custom SAML providers and OpenID Connect connections (Okta, Entra ID, Auth0, Keycloak, Google Workspace, OneLogin…): add as many as you need."
                                </p>
                            </section>
                            {(!settings.allowlists.is_empty())
                                .then(|| {
                                    view! {
                                        <section class=CARD>
                                            <h2 class="text-lg font-semibold">"Who may use Google, Slack and Office365"</h2>
                                            <p class="mt-1 text-sm text-slate-600">
                                                "Only members (or people holding an invite) can sign in with these. Narrow it further: empty allows any."
                                            </p>
                                            <div class="mt-4">
                                                <Outcome result=allow_result query="allow_saved" />
                                            </div>
                                            {settings
                                                .allowlists
                                                .clone()
                                                .into_iter()
                                                .map(|(key, what, current)| {
                                                    let save_label = format!("Save the {} allowlist", crate::model::method_label(&key));
                                                    view! {
                                                        <ActionForm action=set_allow attr:class="mt-4 flex items-end gap-3">
                                                            <input type="hidden" name="slug" value=slug />
                                                            <input type="hidden" name="provider" value=key.clone() />
                                                            <label class="block w-full text-sm font-medium">
                                                                {what} <input class=INPUT name="allowed" value=current data-allowlist=key />
                                                            </label>
                                                            <button type="submit" class=BUTTON aria-label=save_label>
                                                                "Save"
                                                            </button>
                                                        </ActionForm>
                                                    }
                                                })
                                                .collect_view()}
                                        </section>
                                    }
                                        .into_any()
                                })}
                            <section class=CARD>
                                <h2 class="text-lg font-semibold">"Sessions"</h2>
                                <div class="mt-4">
                                    <Outcome result=lifetime_result query="lifetime_saved" />
                                </div>
                                <ActionForm action=set_lifetime attr:class="mt-4 flex items-end gap-3">
                                    <input type="hidden" name="slug" value=slug />
                                    <label class="block text-sm font-medium">
                                        "Session lifetime (days)"
                                        <input
                                            class=INPUT
                                            type="number"
                                            name="days"
                                            min="1"
                                            max="365"
                                            required
                                            value=settings.session_lifetime_days.to_string()
                                        />
                                    </label>
                                    <button type="submit" class=BUTTON>
                                        "Save"
                                    </button>
                                </ActionForm>
                                <p class="mt-2 text-xs text-slate-500">"Applies at once to sessions already open."</p>
                                <div class="mt-4">
                                    <Outcome result=idle_result query="idle_saved" />
                                </div>
                                <ActionForm action=set_idle attr:class="mt-4 flex items-end gap-3">
                                    <input type="hidden" name="slug" value=slug />
                                    <label class="block text-sm font-medium">
                                        "Idle timeout" <select class=INPUT name="minutes">
                                            {settings
                                                .session_idle_choices
                                                .iter()
                                                .map(|m| {
                                                    let label = if *m == 0 { "Off".to_string() } else { crate::model::minutes_label(*m) };
                                                    view! {
                                                        <option value=m.to_string() selected=*m == settings.session_idle_minutes>
                                                            {label}
                                                        </option>
                                                    }
                                                })
                                                .collect_view()}
                                        </select>
                                    </label>
                                    <button type="submit" class=BUTTON>
                                        "Save idle timeout"
                                    </button>
                                </ActionForm>
                                <p class="mt-2 text-xs text-slate-500">
                                    "A session unused for longer ends at its next request, next to its lifetime. Off by default."
                                </p>
                            </section>
                            <section class=CARD>
                                <h2 class="text-lg font-semibold">"Claimed domains"</h2>
                                <p class="mt-1 text-sm text-slate-600">
                                    "Prove each domain by publishing the TXT record shown, then check it. Only verified domains count: your SAML providers create accounts for them on first sign-in, and the login page sends their addresses to single sign-on. Records are checked again every hour; a record removed for three days unverifies its domain."
                                </p>
                                <div class="mt-4">
                                    <Outcome result=domain_result query="domains_saved" />
                                </div>
                                <ul class="mt-4 divide-y divide-slate-100" data-testid="domains">
                                    {settings
                                        .domains
                                        .into_iter()
                                        .map(|c| {
                                            let d = c.domain.clone();
                                            let d_check = d.clone();
                                            let (d_li, d_text, d_remove, remove_label) = (d.clone(), d.clone(), d.clone(), format!("Remove {d}"));
                                            let badge = match c.status.as_str() {
                                                "verified" => "bg-emerald-100 text-emerald-900",
                                                "failed" => "bg-red-100 text-red-900",
                                                _ => "bg-amber-100 text-amber-900",
                                            };
                                            view! {
                                                <li class="py-3" data-domain=d_li data-status=c.status.clone()>
                                                    <div class="flex items-center justify-between gap-3">
                                                        <span class="font-mono text-sm">
                                                            {d_text}
                                                            <span class=format!(
                                                                "ml-2 rounded px-2 py-0.5 font-sans text-xs {badge}",
                                                            )>{c.status.clone()}{c.trusted.then_some(" (by the operator)")}</span>
                                                        </span>
                                                        <div class="flex items-center gap-2">
                                                            {(!c.trusted)
                                                                .then(move || {
                                                                    view! {
                                                                        <ActionForm action=check_domain>
                                                                            <input type="hidden" name="slug" value=slug />
                                                                            <input type="hidden" name="domain" value=d_check.clone() />
                                                                            <button
                                                                                type="submit"
                                                                                class="rounded border border-slate-300 px-2 py-1 text-xs hover:bg-slate-100"
                                                                                aria-label=format!("Check {d_check}")
                                                                            >
                                                                                "Check now"
                                                                            </button>
                                                                        </ActionForm>
                                                                    }
                                                                })} <ActionForm action=change_domain>
                                                                <input type="hidden" name="slug" value=slug />
                                                                <input type="hidden" name="domain" value=d_remove />
                                                                <input type="hidden" name="add" value="false" />
                                                                <button
                                                                    type="submit"
                                                                    class="rounded border border-slate-300 px-2 py-1 text-xs hover:bg-slate-100"
                                                                    aria-label=remove_label
                                                                >
                                                                    "Remove"
                                                                </button>
                                                            </ActionForm>
                                                        </div>
                                                    </div>
                                                    {(!c.trusted)
                                                        .then(|| {
                                                            view! {
                                                                <dl class="mt-2 grid grid-cols-[auto_1fr] gap-x-3 text-xs text-slate-600">
                                                                    <dt>"TXT name"</dt>
                                                                    <dd class="font-mono" data-testid="record-name">
                                                                        {c.record_name.clone()}
                                                                    </dd>
                                                                    <dt>"TXT value"</dt>
                                                                    <dd class="font-mono" data-testid="record-value">
                                                                        {c.record_value.clone()}
                                                                    </dd>
                                                                    {c
                                                                        .checked
                                                                        .clone()
                                                                        .map(|t| {
                                                                            view! {
                                                                                <dt>"Last checked"</dt>
                                                                                <dd>{t}</dd>
                                                                            }
                                                                        })}
                                                                    {(!c.last_error.is_empty())
                                                                        .then(|| {
                                                                            view! {
                                                                                <dt>"Found"</dt>
                                                                                <dd>{c.last_error.clone()}</dd>
                                                                            }
                                                                        })}
                                                                </dl>
                                                            }
                                                        })}
                                                </li>
                                            }
                                        })
                                        .collect_view()}
                                </ul>
                                <ActionForm action=change_domain attr:class="mt-4 flex items-end gap-3">
                                    <input type="hidden" name="slug" value=slug />
                                    <input type="hidden" name="add" value="true" />
                                    <label class="block text-sm font-medium">
                                        "Domain" <input class=INPUT name="domain" required placeholder="example.com" />
                                    </label>
                                    <button type="submit" class=BUTTON>
                                        "Add domain"
                                    </button>
                                </ActionForm>
                            </section>
                        }
                            .into_any()
                    })
                }}
            </Transition>
        </main>
    }
}
