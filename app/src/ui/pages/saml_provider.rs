use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_params_map};

use crate::api::saml::{
    load_saml_provider, DeleteSamlProvider, MapSignInGroup, RotateProviderToken, RotateScimClientSecret, SaveOidcConnection, SaveSamlProvider,
    SaveSignInGroups, SetProviderDomains, SetProvisioning, UnmapSignInGroup,
};
use crate::model::{SamlActivityRow, SamlProviderPage, NEW_OIDC_ID};
use crate::ui::components::{use_query, use_slug, ErrorNote, Header, Outcome, BUTTON, CARD, INPUT};
use crate::ui::pages::failed;

/// A value an admin pastes into their IdP, with a copy button (the field itself is
/// selectable without JavaScript).
#[component]
pub fn CopyField(label: &'static str, value: String, testid: &'static str) -> impl IntoView {
    view! {
        <div class="mt-3">
            <label class="block text-sm font-medium">{label}</label>
            <div class="mt-1 flex gap-2">
                <input class="w-full rounded border border-slate-300 bg-slate-50 px-3 py-2 font-mono text-xs" readonly value=value data-testid=testid />
                <CopyButton label=label.to_string() testid=testid.to_string() />
            </div>
        </div>
    }
}

/// Copies the value of the field marked `testid` (read from the page, so a secret isn't
/// written into the page a second time as the island's props).
#[island]
fn CopyButton(label: String, testid: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            use leptos::wasm_bindgen::JsCast;
            let field = document()
                .query_selector(&format!("input[data-testid=\"{testid}\"]"))
                .ok()
                .flatten()
                .and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok());
            if let (Some(w), Some(f)) = (web_sys::window(), field) {
                let _ = w.navigator().clipboard().write_text(&f.value());
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &testid;
        copied.set(true);
    };
    view! {
        <button type="button" class="rounded border border-slate-300 px-3 text-sm hover:bg-slate-100" on:click=copy aria-label=format!("Copy {label}")>
            {move || if copied.get() { "Copied" } else { "Copy" }}
        </button>
    }
}

fn checks_view(row: &SamlActivityRow) -> impl IntoView {
    let checks = row.checks.clone();
    let attributes = row.attributes.clone();
    view! {
        <ul class="mt-3 space-y-1 text-sm" data-testid="test-checks">
            {checks
                .into_iter()
                .map(|c| {
                    view! {
                        <li class=if c.ok { "text-emerald-800" } else { "text-red-800" } data-check=c.name.clone() data-ok=c.ok.to_string()>
                            <span class="font-mono">{if c.ok { "✓ " } else { "✗ " }}{c.name.clone()}</span>
                            ": "
                            {c.detail.clone()}
                        </li>
                    }
                })
                .collect_view()}
        </ul>
        {(!attributes.is_empty())
            .then(|| {
                view! {
                    <h4 class="mt-3 text-sm font-semibold">"Attributes received"</h4>
                    <dl class="mt-1 grid grid-cols-3 gap-x-3 text-xs" data-testid="test-attributes">
                        {attributes
                            .clone()
                            .into_iter()
                            .map(|(k, v)| {
                                view! {
                                    <dt class="col-span-1 truncate font-mono text-slate-600">{k}</dt>
                                    <dd class="col-span-2 font-mono">{v.join(", ")}</dd>
                                }
                            })
                            .collect_view()}
                    </dl>
                }
            })}
    }
}

/// `/w/{slug}/settings/authentication/saml/{id}` (admins): add (`id` = new), edit,
/// test and delete a custom SAML identity provider.
#[component]
pub fn SamlProviderPageView() -> impl IntoView {
    let slug = use_slug();
    let params = use_params_map();
    let location = use_location();
    // `/…/authentication/oidc/new` is an OpenID Connect connection's empty form.
    let id = Memo::new(move |_| {
        let id = params.read().get("id").unwrap_or_default();
        if id == "new" && location.pathname.read().contains("/authentication/oidc/") {
            NEW_OIDC_ID.to_string()
        } else {
            id
        }
    });
    let test_q = use_query("test");
    let test = Memo::new(move |_| test_q().and_then(|t| t.parse::<i64>().ok()));
    let save = ServerAction::<SaveSamlProvider>::new();
    let save_oidc = ServerAction::<SaveOidcConnection>::new();
    let delete = ServerAction::<DeleteSamlProvider>::new();
    let rotate = ServerAction::<RotateProviderToken>::new();
    let provision = ServerAction::<SetProvisioning>::new();
    let set_domains = ServerAction::<SetProviderDomains>::new();
    let rotate_client = ServerAction::<RotateScimClientSecret>::new();
    let groups = GroupActions { save: ServerAction::new(), map: ServerAction::new(), unmap: ServerAction::new() };
    let data = Resource::new(
        move || {
            let versions = (
                rotate.version().get(),
                provision.version().get(),
                set_domains.version().get(),
                save.version().get() + save_oidc.version().get(),
                rotate_client.version().get(),
            );
            let group_versions = (groups.save.version().get(), groups.map.version().get(), groups.unmap.version().get());
            (slug.get(), id.get(), test.get(), versions, group_versions)
        },
        |(s, i, t, _, _)| load_saml_provider(s, i, t),
    );
    let domains_result = Signal::derive(move || set_domains.value().get());
    let save_result = Signal::derive(move || save.value().get().or_else(|| save_oidc.value().get()));
    view! {
        <Header />
        <main class="mx-auto max-w-5xl space-y-6 px-4 py-8">
            <a class="text-sm text-indigo-700 hover:underline" href=move || format!("/w/{}/settings/authentication", slug.get())>
                "← Member Authorization"
            </a>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let p: SamlProviderPage = match data.await {
                        Ok(p) => p,
                        Err(e) => return failed(e),
                    };
                    let is_new = p.public_id.is_none();
                    let is_oidc = p.protocol == "oidc";
                    let pid = p.public_id.clone().unwrap_or_else(|| "new".into());
                    let f = p.form.clone();
                    let title = match (is_new, is_oidc) {
                        (true, true) => "Add OpenID Connect connection".to_string(),
                        (true, false) => "Add SAML provider".to_string(),
                        (false, true) => p.oidc.name.clone(),
                        (false, false) => f.name.clone(),
                    };
                    let test_href = format!("/{}/{pid}/login?test=1", if is_oidc { "oidc" } else { "saml" });
                    let p_oidc = p.clone();
                    let fresh = p.fresh_token.clone();
                    let delete_consequences = p.delete_consequences.clone();
                    let (p_top, p_bottom, formats) = (p.clone(), p.clone(), p.nameid_formats.clone());
                    let (pid_top, pid_bottom, pid_form) = (pid.clone(), pid.clone(), pid.clone());
                    view! {
                        <h1 class="text-2xl font-semibold">{title}</h1>
                        <Outcome result=save_result query="saved" />
                        {(!is_new)
                            .then(move || {
                                let p = p_top;
                                let pid = pid_top;
                                let pid_prov = pid.clone();
                                let pid_domains = pid.clone();
                                let pid_oauth = pid.clone();
                                let token_facts = p.token.clone();
                                let has_token = token_facts.is_some();
                                let lifetimes = p.token_lifetimes.clone();
                                let p_saml = p.clone();
                                let saml_parts = (!is_oidc)
                                    .then(move || {
                                        let p = p_saml;
                                        view! {
                                            <section class=CARD data-testid="sp-values">
                                                <h2 class="text-lg font-semibold">"Set up in your identity provider"</h2>
                                                <p class="mt-1 text-sm text-slate-600">
                                                    "Create a SAML app in Okta, Entra ID, Google Workspace or OneLogin with these values. "
                                                    {if p.enabled {
                                                        "Sign-in with this provider is on."
                                                    } else {
                                                        "Sign-in with this provider is off until you switch it on in Member Authorization."
                                                    }}
                                                </p>
                                                <CopyField label="ACS URL (Reply URL, Single sign-on URL)" value=p.acs_url.clone() testid="acs-url" />
                                                <CopyField label="Entity ID (Audience URI, Identifier)" value=p.entity_id.clone() testid="entity-id" />
                                                <CopyField label="Single Logout URL (HTTP-Redirect and HTTP-POST)" value=p.slo_url.clone() testid="slo-url" />
                                                <p class="mt-1 text-xs text-slate-600" data-testid="idp-slo">
                                                    {match p.idp_slo_url.clone() {
                                                        Some(u) => {
                                                            format!(
                                                                "Single Logout is on: signing out of a session from this provider also signs out at the IdP ({u}), and the IdP's sign-outs end sessions here. Its LogoutRequests must be signed.",
                                                            )
                                                        }
                                                        None => {
                                                            "The IdP's metadata names no Single Logout endpoint: signing out here is local. Import metadata that has one to join the IdP's sign-out."
                                                                .to_string()
                                                        }
                                                    }}
                                                </p>
                                                <p class="mt-3 text-sm">
                                                    <a rel="external" class="text-indigo-700 hover:underline" href=p.metadata_url.clone() download>
                                                        "Download our SP metadata"
                                                    </a>
                                                </p>
                                                <CopyField label="SCIM base URL" value=p.scim_base_url.clone() testid="scim-url" />
                                                <div class="mt-3">
                                                    <div class="text-sm font-medium">"Provider Token (SCIM bearer token)"</div>
                                                    {
                                                        let shown = fresh.clone();
                                                        move || {
                                                            let minted = provision.value().get().and_then(|r| r.ok()).filter(|t| !t.is_empty());
                                                            let token = rotate.value().get().and_then(|r| r.ok()).or(minted).or_else(|| shown.clone());
                                                            match token {
                                                                Some(t) => {
                                                                    view! {
                                                                        <p class="mt-1 text-sm text-amber-800">"Copy it now: it is shown only once."</p>
                                                                        <CopyField label="Provider Token" value=t testid="provider-token" />
                                                                    }
                                                                        .into_any()
                                                                }
                                                                None => {
                                                                    match token_facts.clone() {
                                                                        Some(t) => {
                                                                            view! {
                                                                                <dl
                                                                                    class="mt-1 grid grid-cols-[auto_1fr] gap-x-3 text-sm text-slate-600"
                                                                                    data-testid="token-facts"
                                                                                >
                                                                                    <dt>"Created"</dt>
                                                                                    <dd data-testid="token-created">{t.created.clone()}</dd>
                                                                                    <dt>"Last used"</dt>
                                                                                    <dd data-testid="token-last-used">
                                                                                        {t.last_used.clone().unwrap_or_else(|| "never".into())}
                                                                                    </dd>
                                                                                    <dt>"Expires"</dt>
                                                                                    <dd data-testid="token-expires">
                                                                                        {match (t.expires.clone(), t.days_left) {
                                                                                            (Some(d), Some(left)) if left < 0 => {
                                                                                                format!(
                                                                                                    "{d} (expired: provisioning stopped until you rotate it)",
                                                                                                )
                                                                                            }
                                                                                            (Some(d), Some(left)) => format!("{d} (in {left} days)"),
                                                                                            _ => "never".to_string(),
                                                                                        }}
                                                                                    </dd>
                                                                                </dl>
                                                                                {t
                                                                                    .days_left
                                                                                    .filter(|d| (0..14).contains(d))
                                                                                    .map(|d| {
                                                                                        view! {
                                                                                            <p class="mt-1 rounded bg-amber-50 px-2 text-sm text-amber-900">
                                                                                                {format!(
                                                                                                    "Expires in {d} days: rotate it and paste the new one into your IdP.",
                                                                                                )}
                                                                                            </p>
                                                                                        }
                                                                                    })}
                                                                                <p class="mt-1 text-sm text-slate-600">
                                                                                    "Rotating replaces it at once. It belongs to this provider, not to you, so it keeps working if you leave."
                                                                                </p>
                                                                            }
                                                                                .into_any()
                                                                        }
                                                                        None => {
                                                                            view! {
                                                                                <p class="mt-1 text-sm text-slate-600">
                                                                                    "No token yet. It belongs to this provider, not to you, so it keeps working if you leave."
                                                                                </p>
                                                                            }
                                                                                .into_any()
                                                                        }
                                                                    }
                                                                }
                                                            }
                                                        }
                                                    }
                                                    {move || rotate.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorNote error=e /> })}
                                                    <ActionForm action=rotate attr:class="mt-2 flex flex-wrap items-end gap-2">
                                                        <input type="hidden" name="slug" value=slug />
                                                        <input type="hidden" name="id" value=pid.clone() />
                                                        <label class="text-sm">
                                                            "Lasts "
                                                            <select
                                                                name="expires_in_days"
                                                                class="rounded border border-slate-300 px-2 py-1 text-sm"
                                                                aria-label="New token lasts"
                                                            >
                                                                <option value="never">"until rotated"</option>
                                                                {lifetimes
                                                                    .iter()
                                                                    .map(|d| view! { <option value=d.to_string()>{format!("{d} days")}</option> })
                                                                    .collect_view()}
                                                            </select>
                                                        </label>
                                                        <button type="submit" class="rounded border border-slate-300 px-3 py-1 text-sm hover:bg-slate-100">
                                                            {if has_token { "Rotate Provider Token" } else { "Generate Provider Token" }}
                                                        </button>
                                                    </ActionForm>
                                                </div>
                                                <OAuthClient p=p.clone() pid=pid_oauth slug=slug rotate=rotate_client />
                                            </section>
                                            <ProvisioningSection p=p.clone() pid=pid_prov slug=slug provision=provision />
                                        }
                                    });
                                let oidc_values = is_oidc.then(|| view! { <OidcValues p=p.clone() /> });
                                let certs = p.certs.clone();
                                view! {
                                    {oidc_values}
                                    {saml_parts}
                                    <SignInGroupsSection p=p.clone() slug=slug actions=groups />
                                    <section class=CARD>
                                        <h2 class="text-lg font-semibold">"Test sign-in"</h2>
                                        <p class="mt-1 text-sm text-slate-600">
                                            "Runs the real sign-in through your IdP and shows each check, without signing anyone in. Works while the provider is off."
                                        </p>
                                        <a rel="external" class=format!("mt-3 inline-block {BUTTON}") href=test_href.clone()>
                                            "Test sign-in"
                                        </a>
                                        {p
                                            .test
                                            .clone()
                                            .map(|t| {
                                                view! {
                                                    <div
                                                        class="mt-4 rounded border border-slate-200 p-3"
                                                        data-testid="test-result"
                                                        data-accepted=t.accepted.to_string()
                                                    >
                                                        <h3 class="font-semibold">
                                                            {if t.accepted { "Test passed" } else { "Test failed" }}" · "{t.when.clone()}
                                                        </h3>
                                                        {checks_view(&t)}
                                                    </div>
                                                }
                                            })}
                                    </section>
                                    <section class=CARD data-testid="asserted-domains">
                                        <h2 class="text-lg font-semibold">"Domains this provider may assert"</h2>
                                        <p class="mt-1 text-sm text-slate-600">
                                            "Addresses in these domains are matched to members, or create members, when this provider signs them in. Anyone else it can only sign in if it is already linked to them. With several providers, give each the domains it speaks for: a provider never asserts another's people by default."
                                        </p>
                                        <div class="mt-3">
                                            <Outcome result=domains_result query="domains_saved" />
                                        </div>
                                        <p class="mt-2 text-sm">
                                            {if p.asserted_domains.is_empty() { "None.".to_string() } else { p.asserted_domains.join(", ") }}
                                            {p
                                                .asserted_by_default
                                                .then(|| {
                                                    view! {
                                                        <span class="ml-2 text-xs text-slate-500">
                                                            "(default: every verified domain while this is the only provider)"
                                                        </span>
                                                    }
                                                })}
                                        </p>
                                        <ActionForm action=set_domains attr:class="mt-3 flex flex-wrap items-end gap-2">
                                            <input type="hidden" name="slug" value=slug />
                                            <input type="hidden" name="id" value=pid_domains />
                                            <label class="block grow text-sm">
                                                "Domains (of: "
                                                {if p.claimed_domains.is_empty() { "no claimed domains yet".to_string() } else { p.claimed_domains.join(", ") }}
                                                ")"
                                                <input
                                                    class=INPUT
                                                    name="domains"
                                                    value=p.asserted_domains.join(", ")
                                                    aria-label="Domains this provider may assert"
                                                />
                                            </label>
                                            <button type="submit" class=BUTTON>
                                                "Save domains"
                                            </button>
                                        </ActionForm>
                                    </section>
                                    {(!is_oidc)
                                        .then(move || {
                                            view! {
                                                <section class=CARD>
                                                    <h2 class="text-lg font-semibold">"Signing certificates"</h2>
                                                    <ul class="mt-2 space-y-1 text-sm" data-testid="certs">
                                                        {certs
                                                            .into_iter()
                                                            .map(|c| {
                                                                view! {
                                                                    <li>
                                                                        <span class="font-mono">{c.subject.clone()}</span>
                                                                        " — expires "
                                                                        {c.expires.clone()}
                                                                        {(c.days_left < 30)
                                                                            .then(|| {
                                                                                view! {
                                                                                    <span class="ml-2 rounded bg-amber-100 px-2 text-amber-900">
                                                                                        {format!(
                                                                                            "expires in {} days: add the IdP's next certificate",
                                                                                            c.days_left.max(0),
                                                                                        )}
                                                                                    </span>
                                                                                }
                                                                            })}
                                                                    </li>
                                                                }
                                                            })
                                                            .collect_view()}
                                                    </ul>
                                                </section>
                                            }
                                        })}
                                }
                                    .into_any()
                            })}
                        {is_oidc.then(|| view! { <OidcSettings p=p_oidc slug=slug save=save_oidc /> })}
                        {(!is_oidc)
                            .then(move || {
                                view! {
                                    <section class=CARD>
                                        <h2 class="text-lg font-semibold">{if is_new { "Identity provider" } else { "Settings" }}</h2>
                                        <ActionForm action=save attr:class="mt-4 space-y-4">
                                            <input type="hidden" name="slug" value=slug />
                                            <input type="hidden" name="id" value=pid_form />
                                            <label class="block text-sm font-medium">
                                                "Name (members see “Sign in with <name>”)"
                                                <input class=INPUT name="name" required maxlength="80" value=f.name.clone() />
                                            </label>
                                            <fieldset class="rounded border border-slate-200 p-3">
                                                <legend class="px-1 text-sm font-semibold">"From the IdP's metadata (fills the fields below)"</legend>
                                                <label class="block text-sm font-medium">
                                                    "Paste metadata XML"
                                                    <textarea class=format!("{INPUT} h-24 font-mono text-xs") name="metadata_xml"></textarea>
                                                </label>
                                                <label class="mt-2 block text-sm font-medium">
                                                    "or metadata URL"
                                                    <input class=INPUT name="metadata_url" type="url" placeholder="https://idp.example.com/metadata" />
                                                </label>
                                            </fieldset>
                                            <fieldset class="rounded border border-slate-200 p-3">
                                                <legend class="px-1 text-sm font-semibold">"Or by hand"</legend>
                                                <label class="block text-sm font-medium">
                                                    "IdP entity ID (Issuer)" <input class=INPUT name="idp_entity_id" value=f.idp_entity_id.clone() />
                                                </label>
                                                <label class="mt-2 block text-sm font-medium">
                                                    "SSO URL (HTTP-Redirect binding)" <input class=INPUT name="sso_url" type="url" value=f.sso_url.clone() />
                                                </label>
                                                <label class="mt-2 block text-sm font-medium">
                                                    "Signing certificate (PEM or base64)"
                                                    <textarea class=format!("{INPUT} h-24 font-mono text-xs") name="cert1">
                                                        {f.cert1.clone()}
                                                    </textarea>
                                                </label>
                                                <label class="mt-2 block text-sm font-medium">
                                                    "Second signing certificate (optional: for rotation without downtime)"
                                                    <textarea class=format!("{INPUT} h-24 font-mono text-xs") name="cert2">
                                                        {f.cert2.clone()}
                                                    </textarea>
                                                </label>
                                            </fieldset>
                                            <fieldset class="space-y-2 rounded border border-slate-200 p-3 text-sm">
                                                <legend class="px-1 font-semibold">"Options"</legend>
                                                <label class="flex items-center gap-2">
                                                    <input type="checkbox" name="allow_idp_initiated" value="on" checked=f.allow_idp_initiated />
                                                    "Allow IdP-initiated sign-in (from the IdP's app dashboard; weaker against login CSRF)"
                                                </label>
                                                <label class="flex items-center gap-2">
                                                    <input type="checkbox" name="sign_requests" value="on" checked=f.sign_requests />
                                                    "Sign AuthnRequests"
                                                </label>
                                                <label class="flex items-center gap-2">
                                                    <input type="checkbox" name="require_encryption" value="on" checked=f.require_encryption />
                                                    "Require encrypted assertions"
                                                </label>
                                                <label class="block font-medium">
                                                    "NameID format" <select class=INPUT name="nameid_format">
                                                        {formats
                                                            .into_iter()
                                                            .map(|(k, label)| {
                                                                let selected = k == f.nameid_format;
                                                                view! {
                                                                    <option value=k selected=selected>
                                                                        {label}
                                                                    </option>
                                                                }
                                                            })
                                                            .collect_view()}
                                                    </select>
                                                </label>
                                            </fieldset>
                                            <fieldset class="space-y-2 rounded border border-slate-200 p-3 text-sm">
                                                <legend class="px-1 font-semibold">
                                                    "Attribute mapping (accepted names, comma-separated; the defaults fit Okta, Entra, Google and urn:oid names)"
                                                </legend>
                                                <label class="block font-medium">
                                                    "Email"<input class=INPUT name="attr_email" value=f.attr_email.clone() />
                                                </label>
                                                <label class="block font-medium">
                                                    "Given name"<input class=INPUT name="attr_given_name" value=f.attr_given_name.clone() />
                                                </label>
                                                <label class="block font-medium">
                                                    "Family name"<input class=INPUT name="attr_family_name" value=f.attr_family_name.clone() />
                                                </label>
                                            </fieldset>
                                            <button type="submit" class=BUTTON>
                                                {if is_new { "Add provider" } else { "Save" }}
                                            </button>
                                        </ActionForm>
                                    </section>
                                }
                            })}
                        {(!is_new)
                            .then(move || {
                                let p = p_bottom;
                                let pid = pid_bottom;
                                view! {
                                    <section class=CARD>
                                        <h2 class="text-lg font-semibold">"Recent activity"</h2>
                                        <table class="mt-3 w-full text-left text-sm" data-testid="activity">
                                            <thead>
                                                <tr class="text-slate-500">
                                                    <th>"When"</th>
                                                    <th>"Outcome"</th>
                                                    <th>"Subject"</th>
                                                    <th>"Reason"</th>
                                                </tr>
                                            </thead>
                                            <tbody>
                                                {p
                                                    .activity
                                                    .clone()
                                                    .into_iter()
                                                    .map(|a| {
                                                        view! {
                                                            <tr class="border-t border-slate-100 align-top" data-reason=a.reason.clone()>
                                                                <td class="whitespace-nowrap pr-3">{a.when.clone()}</td>
                                                                <td class="pr-3">
                                                                    {match (a.accepted, a.test_mode) {
                                                                        (true, true) => "test passed",
                                                                        (false, true) => "test failed",
                                                                        (true, false) => "signed in",
                                                                        (false, false) => "refused",
                                                                    }}
                                                                </td>
                                                                <td class="pr-3 font-mono text-xs">{a.subject.clone().unwrap_or_default()}</td>
                                                                <td>{if a.accepted { String::new() } else { format!("{}: {}", a.reason, a.detail) }}</td>
                                                            </tr>
                                                        }
                                                    })
                                                    .collect_view()}
                                            </tbody>
                                        </table>
                                    </section>
                                    <section class=CARD>
                                        <details>
                                            <summary class="cursor-pointer text-sm font-semibold text-red-700">"Delete this provider…"</summary>
                                            <p class="mt-2 text-sm">{delete_consequences.clone()}</p>
                                            {move || {
                                                delete
                                                    .value()
                                                    .get()
                                                    .and_then(|r| r.err())
                                                    .map(|e| {
                                                        view! {
                                                            <div class="mt-2">
                                                                <ErrorNote error=e />
                                                            </div>
                                                        }
                                                    })
                                            }}
                                            <ActionForm action=delete attr:class="mt-3">
                                                <input type="hidden" name="slug" value=slug />
                                                <input type="hidden" name="id" value=pid.clone() />
                                                <button type="submit" class="rounded bg-red-600 px-4 py-2 text-sm font-medium text-white hover:bg-red-700">
                                                    "Delete provider"
                                                </button>
                                            </ActionForm>
                                        </details>
                                    </section>
                                }
                                    .into_any()
                            })}
                    }
                        .into_any()
                })}
            </Transition>
        </main>
    }
}

/// What an admin registers at the IdP for an OpenID Connect connection.
#[component]
fn OidcValues(p: SamlProviderPage) -> impl IntoView {
    view! {
        <section class=CARD data-testid="oidc-values">
            <h2 class="text-lg font-semibold">"Set up in your identity provider"</h2>
            <p class="mt-1 text-sm text-slate-600">
                "Create a web application (OpenID Connect, authorization code flow) in Okta, Auth0, Keycloak or Entra ID with this redirect URI, and give its client ID and secret below. "
                {if p.enabled {
                    "Sign-in with this connection is on."
                } else {
                    "Sign-in with this connection is off until you switch it on in Member Authorization."
                }}
            </p>
            <CopyField
                label="Redirect URI (Sign-in redirect URI, Allowed Callback URL, Valid redirect URI)"
                value=p.redirect_uri.clone()
                testid="redirect-uri"
            />
            <p class="mt-2 text-xs text-slate-600">
                "Gatehouse asks for the scopes openid, email and profile (and any you add), reads the ID token only, and sends PKCE (S256), state and nonce."
            </p>
        </section>
    }
}

/// An OpenID Connect connection's settings form (adds one when `p` is new).
#[component]
fn OidcSettings(p: SamlProviderPage, slug: Memo<String>, save: ServerAction<SaveOidcConnection>) -> impl IntoView {
    let is_new = p.public_id.is_none();
    let pid = p.public_id.clone().unwrap_or_else(|| "new".into());
    let f = p.oidc.clone();
    let secret_hint =
        if p.has_client_secret { "Client secret (leave empty to keep the stored one, unless the issuer or client ID changes)" } else { "Client secret" };
    view! {
        <section class=CARD>
            <h2 class="text-lg font-semibold">{if is_new { "Identity provider" } else { "Settings" }}</h2>
            <ActionForm action=save attr:class="mt-4 space-y-4">
                <input type="hidden" name="slug" value=slug />
                <input type="hidden" name="id" value=pid />
                <label class="block text-sm font-medium">
                    "Name (members see “Sign in with <name>”)" <input class=INPUT name="name" required maxlength="80" value=f.name.clone() />
                </label>
                <label class="block text-sm font-medium">
                    "Issuer (or its discovery URL)"
                    <input class=INPUT name="issuer" required placeholder="https://acme.okta.com/oauth2/default" value=f.issuer.clone() />
                </label>
                <label class="block text-sm font-medium">"Client ID" <input class=INPUT name="client_id" required value=f.client_id.clone() /></label>
                <label class="block text-sm font-medium">
                    {secret_hint} <input class=INPUT name="client_secret" type="password" autocomplete="off" required=!p.has_client_secret />
                </label>
                <label class="block text-sm font-medium">
                    "Extra scopes (space-separated, such as groups)" <input class=INPUT name="scopes" value=f.scopes.clone() />
                </label>
                <fieldset class="space-y-2 rounded border border-slate-200 p-3 text-sm">
                    <legend class="px-1 font-semibold">"Claims (names in the ID token, comma-separated: the first present is used)"</legend>
                    <label class="block font-medium">"Email"<input class=INPUT name="claim_email" value=f.claim_email.clone() /></label>
                    <label class="block font-medium">"Given name"<input class=INPUT name="claim_given_name" value=f.claim_given_name.clone() /></label>
                    <label class="block font-medium">"Family name"<input class=INPUT name="claim_family_name" value=f.claim_family_name.clone() /></label>
                    <label class="flex items-center gap-2">
                        <input type="checkbox" name="require_email_verified" value="on" checked=f.require_email_verified />
                        "Require email_verified: an email counts only when the IdP says it verified it. Turn off only for an IdP that never sends the claim and where only your IT admins can set emails (Entra ID with your tenant's own issuer)"
                    </label>
                </fieldset>
                <button type="submit" class=BUTTON>
                    {if is_new { "Add connection" } else { "Save" }}
                </button>
            </ActionForm>
        </section>
    }
}

/// The OAuth 2.0 client credentials of this provider's SCIM client: the token endpoint,
/// the client id, and a secret shown once (rotated with an overlap).
#[component]
fn OAuthClient(p: SamlProviderPage, pid: String, slug: Memo<String>, rotate: ServerAction<RotateScimClientSecret>) -> AnyView {
    let facts = p.oauth_client.clone();
    let has_client = facts.is_some();
    let fresh = p.fresh_oauth_secret.clone();
    let overlaps = p.oauth_overlaps.clone();
    view! {
        <div class="mt-4 border-t border-slate-200 pt-3" data-testid="oauth-client">
            <div class="text-sm font-medium">"Or OAuth 2.0 client credentials (Microsoft Entra)"</div>
            <p class="mt-1 text-sm text-slate-600">
                "For IdPs that fetch short-lived SCIM tokens: give them the token endpoint, client ID and client secret instead of the Provider Token. Each token lasts an hour and works only while provisioning is on."
            </p>
            <CopyField label="Token endpoint" value=p.oauth_token_url.clone() testid="oauth-token-url" />
            {move || {
                let made = rotate.value().get().and_then(|r| r.ok());
                let client_id = made.as_ref().map(|(c, _)| c.clone()).or_else(|| facts.as_ref().map(|f| f.client_id.clone()));
                let secret = made.map(|(_, s)| s).or_else(|| fresh.clone());
                view! {
                    {client_id.map(|c| view! { <CopyField label="Client ID" value=c testid="oauth-client-id" /> })}
                    {match secret {
                        Some(s) => {
                            view! {
                                <p class="mt-1 text-sm text-amber-800">"Copy the secret now: it is shown only once."</p>
                                <CopyField label="Client secret" value=s testid="oauth-client-secret" />
                            }
                                .into_any()
                        }
                        None => {
                            match facts.clone() {
                                Some(f) => {
                                    view! {
                                        <dl class="mt-1 grid grid-cols-[auto_1fr] gap-x-3 text-sm text-slate-600" data-testid="oauth-facts">
                                            <dt>"Secret made"</dt>
                                            <dd>{f.rotated.clone()}</dd>
                                            <dt>"Last token"</dt>
                                            <dd>{f.last_used.clone().unwrap_or_else(|| "never".into())}</dd>
                                            {f
                                                .previous_until
                                                .clone()
                                                .map(|u| {
                                                    view! {
                                                        <dt>"Old secret"</dt>
                                                        <dd>{format!("works until {u}")}</dd>
                                                    }
                                                })}
                                        </dl>
                                    }
                                        .into_any()
                                }
                                None => view! { <p class="mt-1 text-sm text-slate-600">"No client yet."</p> }.into_any(),
                            }
                        }
                    }}
                }
            }}
            {move || rotate.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorNote error=e /> })}
            <ActionForm action=rotate attr:class="mt-2 flex flex-wrap items-end gap-2">
                <input type="hidden" name="slug" value=slug />
                <input type="hidden" name="id" value=pid />
                {if has_client {
                    view! {
                        <label class="text-sm">
                            "The old secret keeps working "
                            <select name="overlap_secs" class="rounded border border-slate-300 px-2 py-1 text-sm" aria-label="The old secret keeps working">
                                {overlaps.iter().map(|(secs, label)| view! { <option value=secs.to_string()>{label.clone()}</option> }).collect_view()}
                            </select>
                        </label>
                    }
                        .into_any()
                } else {
                    view! { <input type="hidden" name="overlap_secs" value="0" /> }.into_any()
                }}
                <button type="submit" class="rounded border border-slate-300 px-3 py-1 text-sm hover:bg-slate-100">
                    {if has_client { "Rotate client secret" } else { "Generate client credentials" }}
                </button>
            </ActionForm>
        </div>
    }
    // Type-erased: the provider page's view type is deep enough already.
    .into_any()
}

/// The provider page's actions on IdP groups at sign-in.
#[derive(Clone, Copy)]
struct GroupActions {
    save: ServerAction<SaveSignInGroups>,
    map: ServerAction<MapSignInGroup>,
    unmap: ServerAction<UnmapSignInGroup>,
}

/// IdP groups at sign-in: the attribute and the admins' IdP groups, the mapped groups
/// (each with its end), and a form mapping an IdP group to a group nobody else manages.
#[component]
fn SignInGroupsSection(p: SamlProviderPage, slug: Memo<String>, actions: GroupActions) -> impl IntoView {
    let g = p.sign_in_groups.clone();
    let pid = p.public_id.clone().unwrap_or_default();
    let (pid_save, pid_map) = (pid.clone(), pid.clone());
    let result = Signal::derive(move || actions.save.value().get().or_else(|| actions.map.value().get()).or_else(|| actions.unmap.value().get()));
    let on = !g.attribute.is_empty();
    view! {
        <section class=CARD data-testid="sign-in-groups" data-on=on.to_string()>
            <h2 class="text-lg font-semibold">"Groups from sign-in"</h2>
            <p class="mt-1 text-sm text-slate-600">
                "For workspaces without SCIM: at each sign-in with this provider, a member's mapped groups follow the IdP groups its assertion lists (an attribute absent from the assertion lists none). A mapped group is managed by sign-in: its members can't be changed here. Members who don't sign in with this provider keep what they have until they do."
            </p>
            // Its own notice key: the page's `saved` notices show at the top.
            <Outcome result=result query="groups" />
            <ActionForm action=actions.save attr:class="mt-4 grid gap-3 sm:grid-cols-2">
                <input type="hidden" name="slug" value=slug />
                <input type="hidden" name="id" value=pid_save />
                <label class="block text-sm font-medium">
                    "Groups attribute (empty: off)" <input class=INPUT name="groups_attribute" value=g.attribute.clone() placeholder="groups" maxlength="200" />
                </label>
                <label class="block text-sm font-medium">
                    "IdP groups of admins (one per line; empty: roles aren't set at sign-in)"
                    <textarea class=INPUT name="admin_groups" rows="2" placeholder="Gatehouse Admins">
                        {g.admin_groups.clone()}
                    </textarea>
                </label>
                <div>
                    <button type="submit" class=BUTTON>
                        "Save groups from sign-in"
                    </button>
                </div>
            </ActionForm>
            {(!g.would_demote.is_empty())
                .then(|| {
                    view! {
                        <p class="mt-3 rounded bg-amber-50 px-3 py-2 text-sm text-amber-900" role="alert" data-testid="would-demote">
                            {format!(
                                "At their next sign-in through {}, these admins become members: their last sign-in listed none of the IdP groups of admins above: {}. (The last active admin is never demoted.)",
                                p.form.name,
                                g.would_demote.join(", "),
                            )}
                        </p>
                    }
                })}
            <h3 class="mt-5 font-semibold">"Mapped groups"</h3>
            {g.mappings.is_empty().then(|| view! { <p class="mt-1 text-sm text-slate-600">"None yet."</p> })}
            <ul class="mt-2 divide-y divide-slate-100 text-sm" data-testid="sign-in-group-mappings">
                {g
                    .mappings
                    .into_iter()
                    .map(|(id, name, idp)| {
                        let label = format!("End the mapping of {name}");
                        let pid = pid.clone();
                        view! {
                            <li class="flex items-center justify-between gap-3 py-2" data-group=name.clone() data-idp-group=idp.clone()>
                                <span>
                                    <code>{idp.clone()}</code>
                                    " → "
                                    <span class="font-medium">{name.clone()}</span>
                                </span>
                                <ActionForm action=actions.unmap>
                                    <input type="hidden" name="slug" value=slug />
                                    <input type="hidden" name="id" value=pid />
                                    <input type="hidden" name="group_id" value=id.to_string() />
                                    <button type="submit" class="rounded border border-slate-300 px-2 py-1 text-xs hover:bg-slate-100" aria-label=label>
                                        "End mapping"
                                    </button>
                                </ActionForm>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
            {(!g.mappable.is_empty())
                .then(|| {
                    view! {
                        <ActionForm action=actions.map attr:class="mt-3 flex flex-wrap items-end gap-3">
                            <input type="hidden" name="slug" value=slug />
                            <input type="hidden" name="id" value=pid_map.clone() />
                            <label class="block text-sm font-medium">
                                "IdP group" <input class=INPUT name="idp_group" required maxlength="200" placeholder="Analysts" />
                            </label>
                            <label class="block text-sm font-medium">
                                "Gatehouse group" <select name="group_id" class="mt-1 block rounded border border-slate-300 px-2 py-2 text-sm">
                                    {g.mappable.iter().map(|(id, name)| view! { <option value=id.to_string()>{name.clone()}</option> }).collect_view()}
                                </select>
                            </label>
                            <button type="submit" class=BUTTON>
                                "Map group"
                            </button>
                        </ActionForm>
                    }
                })}
        </section>
    }
    .into_any()
}

/// SCIM provisioning: on/off (only while SAML is the sole method), the fallback warning,
/// and the provider's recent SCIM requests.
#[component]
fn ProvisioningSection(p: SamlProviderPage, pid: String, slug: Memo<String>, provision: ServerAction<SetProvisioning>) -> impl IntoView {
    let on = p.provisioning;
    let blocker = p.provisioning_blocker.clone();
    let fallbacks = p.fallback_methods.clone();
    let rows = p.scim_activity.clone();
    let reconcile = format!("/w/{}/settings/authentication/saml/{pid}/reconcile", slug.get_untracked());
    view! {
        <section class=CARD data-testid="provisioning" data-on=on.to_string()>
            <h2 class="text-lg font-semibold">"Provisioning (SCIM 2.0)"</h2>
            <p class="mt-1 text-sm text-slate-600">
                {if on {
                    "On: your IdP creates, updates and deactivates members and pushes groups with the SCIM base URL and Provider Token above. What it manages is read-only here. It can't deactivate, demote or delete the workspace's last active admin unless that admin signs in through this provider (then it is your IdP's call)."
                } else {
                    "Off. Turning it on lets Okta or Entra ID manage members and groups; it needs SAML as the workspace's only sign-in method, and mints a new Provider Token."
                }}
            </p>
            {(!fallbacks.is_empty())
                .then(|| {
                    view! {
                        <p class="mt-2 rounded bg-amber-50 px-3 py-2 text-sm text-amber-900" data-testid="fallback-warning">
                            "Fallback sign-in is on ("
                            {fallbacks.join(", ")}
                            "): members deactivated by your IdP can't use it, but people your IdP doesn't know about still can."
                        </p>
                    }
                })}
            {move || provision.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorNote error=e /> })}
            {match (on, blocker) {
                (false, Some(why)) => {
                    view! {
                        <p class="mt-3 text-sm text-slate-700" data-testid="provisioning-blocker">
                            {why}
                        </p>
                    }
                        .into_any()
                }
                (false, None) => {
                    // Turning it on goes through the reconcile view first: what it means for
                    // the groups that grant access today, then a confirmation.
                    view! {
                        <a class=format!("mt-3 inline-block {BUTTON}") href=reconcile.clone()>
                            "Turn provisioning on…"
                        </a>
                    }
                        .into_any()
                }
                (true, _) => {
                    view! {
                        <div class="mt-3 flex items-center gap-3">
                            <ActionForm action=provision>
                                <input type="hidden" name="slug" value=slug />
                                <input type="hidden" name="id" value=pid.clone() />
                                <input type="hidden" name="on" value="false" />
                                <button type="submit" class="rounded border border-slate-300 px-3 py-1 text-sm hover:bg-slate-100">
                                    "Turn provisioning off"
                                </button>
                            </ActionForm>
                            <a class="text-sm text-indigo-700 hover:underline" href=reconcile.clone()>
                                "Reconcile groups with your IdP"
                            </a>
                        </div>
                    }
                        .into_any()
                }
            }}
            <h3 class="mt-5 font-semibold">"Provisioning activity"</h3>
            {if rows.is_empty() {
                view! { <p class="mt-1 text-sm text-slate-500">"No SCIM requests yet."</p> }.into_any()
            } else {
                view! {
                    <table class="mt-2 w-full text-left text-xs" data-testid="scim-activity">
                        <thead class="uppercase text-slate-500">
                            <tr>
                                <th class="py-1">"When"</th>
                                <th>"Operation"</th>
                                <th>"Target"</th>
                                <th>"Status"</th>
                                <th>"Outcome"</th>
                                <th>"ms"</th>
                            </tr>
                        </thead>
                        <tbody class="divide-y divide-slate-100">
                            {rows
                                .into_iter()
                                .map(|r| {
                                    let status_class = if r.status >= 400 { "text-red-700" } else { "" };
                                    view! {
                                        <tr title=format!("{} {}", r.method, r.path)>
                                            <td class="py-1 whitespace-nowrap">{r.when}</td>
                                            <td>{r.operation}</td>
                                            <td class="font-mono">{r.target}</td>
                                            <td class=status_class>{r.status}</td>
                                            <td>{r.outcome}</td>
                                            <td>{r.duration_ms}</td>
                                        </tr>
                                    }
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                }
                    .into_any()
            }}
        </section>
    }
}
