use leptos::prelude::*;

use crate::api::access::{list_groups, ChangeGroup};
use crate::ui::components::{use_slug, Header, Outcome, BUTTON, CARD, INPUT, SMALL_BUTTON};
use crate::ui::live::LiveRefresh;
use crate::ui::pages::failed;

/// `/w/{slug}/settings/groups` (admins): groups and their members. Everyone and groups
/// linked by SCIM are shown read-only.
#[component]
pub fn Groups() -> impl IntoView {
    let slug = use_slug();
    let change = ServerAction::<ChangeGroup>::new();
    // SCIM pushes (and other admins) change groups while the page is open.
    let data = Resource::new(move || (slug.get(), change.version().get()), |(s, _)| list_groups(s));
    let result = Signal::derive(move || change.value().get());
    view! {
        <Header />
        <LiveRefresh slug=slug.get_untracked() topics=vec!["groups".to_string()] lost=false />
        <main class="mx-auto max-w-5xl space-y-6 px-4 py-8">
            <h1 class="text-2xl font-semibold">"Groups"</h1>
            <section class=CARD>
                <Outcome result=result query="saved" />
                <ActionForm action=change attr:class="mt-2 flex items-end gap-3">
                    <input type="hidden" name="slug" value=slug />
                    <input type="hidden" name="action" value="create" />
                    <label class="block text-sm font-medium">"New group" <input class=INPUT name="name" required maxlength="200" /></label>
                    <button type="submit" class=BUTTON>
                        "Create group"
                    </button>
                </ActionForm>
            </section>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let groups = match data.await {
                        Ok(g) => g,
                        Err(e) => return failed(e),
                    };
                    let preview = format!("/w/{}/settings/preview", slug.get_untracked());
                    groups
                        .into_iter()
                        .map(|g| {
                            let preview = preview.clone();
                            let editable = !g.is_everyone && g.managed_by.is_none();
                            let id = g.id.to_string();
                            let name = g.name.clone();
                            let (hid, hname, hid2, hname2) = (id.clone(), name.clone(), id.clone(), name.clone());
                            view! {
                                <section class=CARD data-group=g.name.clone()>
                                    <div class="flex items-center justify-between gap-3">
                                        <h2 class="text-lg font-semibold">{g.name.clone()}</h2>
                                        {match (g.is_everyone, g.managed_by.clone()) {
                                            (true, _) => {
                                                view! { <span class="rounded bg-slate-100 px-2 py-1 text-xs">"Built-in: every active member"</span> }.into_any()
                                            }
                                            (false, Some(p)) => {
                                                view! { <span class="rounded bg-slate-100 px-2 py-1 text-xs">"Managed by " {p}</span> }.into_any()
                                            }
                                            (false, None) => {
                                                view! {
                                                    <div class="flex gap-2">
                                                        <ActionForm action=change attr:class="flex gap-2">
                                                            <input type="hidden" name="slug" value=slug />
                                                            <input type="hidden" name="action" value="rename" />
                                                            <input type="hidden" name="id" value=hid />
                                                            <input
                                                                class="rounded border border-slate-300 px-2 py-1 text-xs"
                                                                name="name"
                                                                value=hname.clone()
                                                                aria-label=format!("New name for {hname}")
                                                            />
                                                            <button type="submit" class=SMALL_BUTTON>
                                                                "Rename"
                                                            </button>
                                                        </ActionForm>
                                                        <form method="get" action=preview.clone()>
                                                            <input type="hidden" name="what" value="delete" />
                                                            <input type="hidden" name="group_id" value=hid2 />
                                                            <button type="submit" class=SMALL_BUTTON aria-label=format!("Delete {hname2}")>
                                                                "Delete"
                                                            </button>
                                                        </form>
                                                    </div>
                                                }
                                                    .into_any()
                                            }
                                        }}
                                    </div>
                                    <ul class="mt-2 divide-y divide-slate-100 text-sm">
                                        {g
                                            .members
                                            .iter()
                                            .map(|(mid, email)| {
                                                let (mid, email, id) = (mid.to_string(), email.clone(), id.clone());
                                                view! {
                                                    <li class="flex items-center justify-between py-1">
                                                        <span>{email.clone()}</span>
                                                        {editable
                                                            .then(|| {
                                                                view! {
                                                                    <form method="get" action=preview.clone()>
                                                                        <input type="hidden" name="what" value="remove" />
                                                                        <input type="hidden" name="group_id" value=id />
                                                                        <input type="hidden" name="membership_id" value=mid />
                                                                        <button type="submit" class=SMALL_BUTTON aria-label=format!("Remove {email}")>
                                                                            "Remove"
                                                                        </button>
                                                                    </form>
                                                                }
                                                            })}
                                                    </li>
                                                }
                                            })
                                            .collect_view()}
                                    </ul>
                                    {editable
                                        .then(|| {
                                            view! {
                                                <form method="get" action=preview.clone() class="mt-3 flex items-end gap-2">
                                                    <input type="hidden" name="what" value="add" />
                                                    <input type="hidden" name="group_id" value=id.clone() />
                                                    <input
                                                        class="rounded border border-slate-300 px-2 py-1 text-sm"
                                                        type="email"
                                                        name="email"
                                                        required
                                                        placeholder="member@example.com"
                                                        aria-label=format!("Email to add to {name}")
                                                    />
                                                    <button type="submit" class=SMALL_BUTTON>
                                                        "Add member"
                                                    </button>
                                                </form>
                                            }
                                        })}
                                </section>
                            }
                        })
                        .collect_view()
                        .into_any()
                })}
            </Transition>
        </main>
    }
}
