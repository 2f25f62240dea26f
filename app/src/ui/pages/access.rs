use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api::access::{load_access, load_resource, ChangeResource};
use crate::ui::components::{use_slug, Header, Outcome, BUTTON, CARD, INPUT};
use crate::ui::live::LiveRefresh;
use crate::ui::pages::failed;

/// `/w/{slug}/settings/access` (admins): collections and connections, and who may reach
/// them: a matrix of groups × resources, each cell a level saved in place.
#[component]
pub fn Access() -> impl IntoView {
    let slug = use_slug();
    let change = ServerAction::<ChangeResource>::new();
    let data = Resource::new(move || (slug.get(), change.version().get()), |(s, _)| load_access(s));
    let result = Signal::derive(move || change.value().get());
    view! {
        <Header />
        <main class="mx-auto max-w-6xl space-y-6 px-4 py-8">
            <h1 class="text-2xl font-semibold">"Access"</h1>
            <section class=CARD>
                <Outcome result=result query="saved" />
                <ActionForm action=change attr:class="mt-2 flex flex-wrap items-end gap-3">
                    <input type="hidden" name="slug" value=slug />
                    <input type="hidden" name="action" value="create" />
                    <label class="block text-sm font-medium">
                        "Kind" <select class=INPUT name="kind">
                            <option value="collection">"Collection"</option>
                            <option value="datasource">"Datasource connection"</option>
                        </select>
                    </label>
                    <label class="block text-sm font-medium">"Name" <input class=INPUT name="name" required maxlength="120" /></label>
                    <label class="block text-sm font-medium">"Description" <input class=INPUT name="description" maxlength="500" /></label>
                    <button type="submit" class=BUTTON>
                        "Add"
                    </button>
                </ActionForm>
            </section>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let page = match data.await {
                        Ok(p) => p,
                        Err(e) => return failed(e),
                    };
                    if page.resources.is_empty() {
                        return view! { <p class="text-sm text-slate-600">"No collections or connections yet."</p> }.into_any();
                    }
                    let groups = page.groups.clone();
                    let grants = page.grants.clone();
                    let header = groups.clone();
                    view! {
                        <section class=format!("{CARD} overflow-x-auto")>
                            <h2 class="text-lg font-semibold">"Who may reach what"</h2>
                            <p class="mt-1 text-sm text-slate-600">
                                "A member reaches what any of their groups reaches (Everyone included); admins reach everything."
                            </p>
                            <table class="mt-4 text-left text-sm" data-testid="access-matrix">
                                <thead>
                                    <tr>
                                        <th class="py-2 pr-4">"Resource"</th>
                                        {header
                                            .into_iter()
                                            .map(|(_, name, managed)| {
                                                view! {
                                                    <th
                                                        class="px-2 py-2 text-xs font-medium"
                                                        title=managed.map(|p| format!("Managed by {p}")).unwrap_or_default()
                                                    >
                                                        {name}
                                                    </th>
                                                }
                                            })
                                            .collect_view()}
                                        <th></th>
                                    </tr>
                                </thead>
                                <tbody class="divide-y divide-slate-100">
                                    {page
                                        .resources
                                        .into_iter()
                                        .map(move |r| {
                                            let rid = r.id;
                                            let (row_groups, row_grants) = (groups.clone(), grants.clone());
                                            let delete_label = format!("Delete {}", r.name);
                                            let href = format!("/w/{}/r/{}", slug.get_untracked(), r.id);
                                            view! {
                                                <tr data-resource=r.name.clone()>
                                                    <td class="py-2 pr-4">
                                                        <a class="font-medium text-indigo-700 hover:underline" href=href>
                                                            {r.name.clone()}
                                                        </a>
                                                        <div class="text-xs text-slate-500">{r.kind_label.clone()}</div>
                                                    </td>
                                                    {row_groups
                                                        .into_iter()
                                                        .map(|(gid, gname, _)| {
                                                            let preview = format!("/w/{}/settings/preview", slug.get_untracked());
                                                            let current = row_grants
                                                                .iter()
                                                                .find(|(g, res, _)| *g == gid && *res == rid)
                                                                .map(|(_, _, l)| l.clone())
                                                                .unwrap_or_else(|| "none".into());
                                                            let label = format!("{gname} on {}", r.name);
                                                            view! {
                                                                <td class="px-2 py-1">
                                                                    // A GET form: the preview page shows who gains and who
                                                                    // loses before anything is saved.
                                                                    <form method="get" action=preview.clone() class="flex gap-1">
                                                                        <input type="hidden" name="what" value="grant" />
                                                                        <input type="hidden" name="group_id" value=gid.to_string() />
                                                                        <input type="hidden" name="resource_id" value=rid.to_string() />
                                                                        <select
                                                                            name="level"
                                                                            class="rounded border border-slate-300 px-1 py-0.5 text-xs"
                                                                            aria-label=label.clone()
                                                                            data-level=current.clone()
                                                                        >
                                                                            {["none", "view", "edit"]
                                                                                .into_iter()
                                                                                .map(|l| {
                                                                                    view! {
                                                                                        <option value=l selected=l == current>
                                                                                            {l}
                                                                                        </option>
                                                                                    }
                                                                                })
                                                                                .collect_view()}
                                                                        </select>
                                                                        <button
                                                                            type="submit"
                                                                            class="rounded border border-slate-300 px-1 text-xs"
                                                                            aria-label=format!("Save {label}")
                                                                        >
                                                                            "Save"
                                                                        </button>
                                                                    </form>
                                                                </td>
                                                            }
                                                        })
                                                        .collect_view()}
                                                    <td>
                                                        <ActionForm action=change>
                                                            <input type="hidden" name="slug" value=slug />
                                                            <input type="hidden" name="action" value="delete" />
                                                            <input type="hidden" name="id" value=rid.to_string() />
                                                            <button
                                                                type="submit"
                                                                class="rounded border border-slate-300 px-2 py-1 text-xs"
                                                                aria-label=delete_label
                                                            >
                                                                "Delete"
                                                            </button>
                                                        </ActionForm>
                                                    </td>
                                                </tr>
                                            }
                                        })
                                        .collect_view()}
                                </tbody>
                            </table>
                        </section>
                    }
                        .into_any()
                })}
            </Transition>
        </main>
    }
}

/// `/w/{slug}/r/{id}`: one collection or connection. Without access the answer is the
/// same 404 as for one that doesn't exist. While open, the page follows access changes:
/// when the member loses access it says so and stops showing the content.
#[component]
pub fn ResourcePage() -> impl IntoView {
    let slug = use_slug();
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").and_then(|i| i.parse::<i64>().ok()).unwrap_or(0));
    let data = Resource::new(move || (slug.get(), id.get()), |(s, i)| load_resource(s, i));
    view! {
        <Header />
        // Fetched again when access changes; a 404 then means access was lost while the
        // page was open: the template below takes the content's place.
        <LiveRefresh slug=slug.get_untracked() topics=vec!["access".to_string()] lost=true />
        <template id="access-lost">
            <main class="mx-auto max-w-5xl px-4 py-8">
                <div class=CARD data-testid="access-lost" role="alert">
                    <h1 class="text-xl font-semibold">"You no longer have access"</h1>
                    <p class="mt-2 text-slate-600">"Your access to this page was removed while you had it open, so its content is no longer shown."</p>
                    <a class="mt-4 inline-block text-indigo-700 hover:underline" href=format!("/w/{}", slug.get_untracked())>
                        "Back to your workspace"
                    </a>
                </div>
            </main>
        </template>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => failed(e),
                    Ok(r) => {
                        view! {
                            <main class="mx-auto max-w-5xl px-4 py-8">
                                <div class=CARD data-testid="resource" data-level=r.level.clone()>
                                    <div class="text-xs uppercase text-slate-500">{r.kind_label.clone()}</div>
                                    <h1 class="text-2xl font-semibold">{r.name.clone()}</h1>
                                    <p class="mt-2 text-slate-700">{r.description.clone()}</p>
                                    <p class="mt-4 text-sm text-slate-500">{if r.level == "edit" { "You can edit this." } else { "You can view this." }}</p>
                                </div>
                            </main>
                        }
                            .into_any()
                    }
                }
            })}
        </Transition>
    }
}
