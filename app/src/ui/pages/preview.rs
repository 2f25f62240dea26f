//! The access-change preview (who gains and who loses what, before a change is saved) and
//! the reconcile view of a provider with provisioning.
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::access::{load_reconcile, preview_access, ChangeGroup, SetGrant};
use crate::api::saml::SetProvisioning;
use crate::model::{AccessPreview, ReconcileGroup};
use crate::ui::components::{use_slug, ErrorNote, Header, BUTTON, CARD};
use crate::ui::pages::failed;

const LINK_BUTTON: &str = "rounded border border-slate-300 px-4 py-2 hover:bg-slate-100";

/// The rows of a preview: each member, each resource, the level now and after.
#[component]
fn DeltaTable(p: AccessPreview) -> impl IntoView {
    if p.total == 0 {
        return view! {
            <p class="mt-3 text-sm text-slate-700" data-testid="no-change">
                "No member's access changes."
            </p>
        }
        .into_any();
    }
    let more = p.total.saturating_sub(p.deltas.len());
    view! {
        <p class="mt-2 text-sm text-slate-700">
            <span class="font-medium text-emerald-800">{p.gains} " gain"</span>
            " · "
            <span class="font-medium text-red-800">{p.losses} " lose"</span>
            " (member and resource pairs; admins reach everything and aren't listed)"
        </p>
        <table class="mt-3 w-full text-left text-sm" data-testid="access-changes">
            <thead class="text-xs uppercase text-slate-500">
                <tr>
                    <th class="py-1">"Member"</th>
                    <th>"Resource"</th>
                    <th>"Now"</th>
                    <th>"After"</th>
                </tr>
            </thead>
            <tbody class="divide-y divide-slate-100">
                {p
                    .deltas
                    .into_iter()
                    .map(|d| {
                        let gain = level_rank(&d.after) > level_rank(&d.before);
                        view! {
                            <tr data-member=d.email.clone() data-resource=d.resource.clone() data-change=if gain { "gain" } else { "loss" }>
                                <td class="py-1">{d.email.clone()} <span class="text-xs text-slate-500">{d.full_name.clone()}</span></td>
                                <td>{d.resource.clone()} <span class="text-xs text-slate-500">{d.kind_label.clone()}</span></td>
                                <td>{d.before.clone()}</td>
                                <td class=if gain { "font-medium text-emerald-800" } else { "font-medium text-red-800" }>{d.after.clone()}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
        {(more > 0).then(|| view! { <p class="mt-2 text-sm text-slate-600">"…and " {more} " more."</p> })}
    }
    .into_any()
}

fn level_rank(l: &str) -> u8 {
    match l {
        "edit" => 2,
        "view" => 1,
        _ => 0,
    }
}

/// What the preview page was asked about, from its query string.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Asked {
    what: String,
    group_id: i64,
    resource_id: Option<i64>,
    level: Option<String>,
    email: Option<String>,
    membership_id: Option<i64>,
}

/// `/w/{slug}/settings/preview?what=…`: before a grant change, a member added to or
/// removed from a group, or a group deleted, who gains and who loses access to what; the
/// change is saved only on confirmation. The forms that lead here are plain GET forms, so
/// it works the same without JavaScript.
#[component]
pub fn Preview() -> impl IntoView {
    let slug = use_slug();
    let q = use_query_map();
    let asked = Memo::new(move |_| {
        let q = q.read();
        let num = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok());
        Asked {
            what: q.get("what").unwrap_or_default(),
            group_id: num("group_id").unwrap_or(0),
            resource_id: num("resource_id"),
            level: q.get("level"),
            email: q.get("email"),
            membership_id: num("membership_id"),
        }
    });
    let data =
        Resource::new(move || (slug.get(), asked.get()), |(s, a)| preview_access(s, a.what, a.group_id, a.resource_id, a.level, a.email, a.membership_id));
    let grant = ServerAction::<SetGrant>::new();
    let change = ServerAction::<ChangeGroup>::new();
    let back = move || {
        let page = if asked.get_untracked().what == "grant" { "access" } else { "groups" };
        format!("/w/{}/settings/{page}", slug.get_untracked())
    };
    let failure = move || grant.value().get().or_else(|| change.value().get()).and_then(|r| r.err()).map(|e| view! { <ErrorNote error=e /> });
    view! {
        <Header />
        <main class="mx-auto max-w-4xl space-y-6 px-4 py-8">
            <h1 class="text-2xl font-semibold">"Check before saving"</h1>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let p = match data.await {
                        Ok(p) => p,
                        Err(e) => return failed(e),
                    };
                    let a = asked.get_untracked();
                    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
                    let confirm = if a.what == "grant" {
                        view! {
                            <ActionForm action=grant attr:class="inline">
                                <input type="hidden" name="slug" value=slug />
                                <input type="hidden" name="group_id" value=a.group_id.to_string() />
                                <input type="hidden" name="resource_id" value=opt(a.resource_id) />
                                <input type="hidden" name="level" value=a.level.clone().unwrap_or_default() />
                                <button type="submit" class=BUTTON>
                                    "Confirm and save"
                                </button>
                            </ActionForm>
                        }
                            .into_any()
                    } else {
                        view! {
                            <ActionForm action=change attr:class="inline">
                                <input type="hidden" name="slug" value=slug />
                                <input type="hidden" name="action" value=a.what.clone() />
                                <input type="hidden" name="id" value=a.group_id.to_string() />
                                {a.email.clone().map(|e| view! { <input type="hidden" name="email" value=e /> })}
                                {a.membership_id.map(|m| view! { <input type="hidden" name="membership_id" value=m.to_string() /> })}
                                <button type="submit" class=BUTTON>
                                    "Confirm and save"
                                </button>
                            </ActionForm>
                        }
                            .into_any()
                    };
                    let (total, summary) = (p.total.to_string(), p.summary.clone());
                    view! {
                        <section class=CARD data-testid="access-preview" data-total=total>
                            <h2 class="text-lg font-semibold">{summary}</h2>
                            <DeltaTable p=p />
                            <div class="mt-6 flex items-center gap-3">
                                {confirm} <a class=LINK_BUTTON href=back()>
                                    "Cancel"
                                </a>
                            </div>
                            {failure}
                        </section>
                    }
                        .into_any()
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn GroupTable(groups: Vec<ReconcileGroup>, grants: bool, testid: &'static str) -> impl IntoView {
    view! {
        <table class="mt-3 w-full text-left text-sm" data-testid=testid>
            <thead class="text-xs uppercase text-slate-500">
                <tr>
                    <th class="py-1">"Group"</th>
                    <th>"Members"</th>
                    {grants.then(|| view! { <th>"Grants"</th> })}
                </tr>
            </thead>
            <tbody class="divide-y divide-slate-100">
                {groups
                    .into_iter()
                    .map(|g| {
                        view! {
                            <tr data-group=g.name.clone()>
                                <td class="py-1">{g.name.clone()}</td>
                                <td>{g.members}</td>
                                {grants.then(|| view! { <td>{g.grants}</td> })}
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

/// `/w/{slug}/settings/authentication/saml/{id}/reconcile`: the groups the provider
/// manages, the ones it doesn't, and who would lose what if the unmanaged groups were
/// emptied, so an admin can mirror the IdP 1:1. While provisioning is off, this is also
/// where it is turned on, after reading what it means.
#[component]
pub fn Reconcile() -> impl IntoView {
    let slug = use_slug();
    let params = use_params_map();
    let pid = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    let data = Resource::new(move || (slug.get(), pid.get()), |(s, p)| load_reconcile(s, p));
    let provision = ServerAction::<SetProvisioning>::new();
    let provider_page = move || format!("/w/{}/settings/authentication/saml/{}", slug.get_untracked(), pid.get_untracked());
    view! {
        <Header />
        <main class="mx-auto max-w-4xl space-y-6 px-4 py-8">
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let r = match data.await {
                        Ok(r) => r,
                        Err(e) => return failed(e),
                    };
                    let name = r.provider_name.clone();
                    view! {
                        <h1 class="text-2xl font-semibold">"Reconcile with " {name.clone()}</h1>
                        <p class="text-sm text-slate-600">
                            "Access comes from groups. Groups your IdP pushes are managed there; groups it doesn't push keep the members and grants they have here. To mirror "
                            {name.clone()} " 1:1, push every group that grants access, or empty the ones below."
                        </p>
                        <section class=CARD>
                            <h2 class="text-lg font-semibold">"Groups managed by " {name.clone()}</h2>
                            {if r.linked.is_empty() {
                                view! { <p class="mt-2 text-sm text-slate-600">"None yet: push groups from your IdP."</p> }.into_any()
                            } else {
                                view! { <GroupTable groups=r.linked.clone() grants=false testid="linked-groups" /> }.into_any()
                            }}
                        </section>
                        <section class=CARD>
                            <h2 class="text-lg font-semibold">"Groups not managed by your IdP"</h2>
                            {if r.unlinked.is_empty() {
                                view! { <p class="mt-2 text-sm text-slate-600">"None: every group (besides Everyone) is managed by your IdP."</p> }.into_any()
                            } else {
                                view! { <GroupTable groups=r.unlinked.clone() grants=true testid="unlinked-groups" /> }.into_any()
                            }}
                        </section>
                        <section class=CARD data-testid="if-emptied">
                            <h2 class="text-lg font-semibold">"If those groups were emptied"</h2>
                            <DeltaTable p=r.if_emptied.clone() />
                        </section>
                        {(!r.provisioning)
                            .then(|| {
                                view! {
                                    <section class=CARD data-testid="turn-on">
                                        <h2 class="text-lg font-semibold">"Turn provisioning on"</h2>
                                        <p class="mt-2 text-sm text-slate-700">
                                            "Turning provisioning on changes no one's access by itself. From then on " {name.clone()}
                                            " creates, updates and deactivates members, and the groups it pushes replace their members here. Groups it doesn't push keep granting what they grant today (above). A new Provider Token is minted and shown once."
                                        </p>
                                        {move || provision.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorNote error=e /> })}
                                        <div class="mt-4 flex items-center gap-3">
                                            <ActionForm action=provision attr:class="inline">
                                                <input type="hidden" name="slug" value=slug />
                                                <input type="hidden" name="id" value=pid />
                                                <input type="hidden" name="on" value="true" />
                                                <button type="submit" class=BUTTON>
                                                    "Confirm: turn provisioning on"
                                                </button>
                                            </ActionForm>
                                            <a class=LINK_BUTTON href=provider_page()>
                                                "Cancel"
                                            </a>
                                        </div>
                                    </section>
                                }
                            })}
                    }
                        .into_any()
                })}
            </Suspense>
        </main>
    }
}
