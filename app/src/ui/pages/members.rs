use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::members::{
    list_invites, list_members, sign_out_everyone_preview, InviteMember, RevokeInvite, SetMemberRole, SetMemberStatus, SignOutEveryone, SignOutMember,
};
use crate::model::{urlencode, InviteCreated, InvitesPage, MembersPage};
use crate::ui::components::{use_slug, ErrorNote, Header, Outcome, BUTTON, CARD, INPUT, SMALL_BUTTON};
use crate::ui::live::LiveRefresh;
use crate::ui::pages::failed;

/// `/w/{slug}/settings/members` (admins): members, roles, invites.
#[component]
pub fn Members() -> impl IntoView {
    let slug = use_slug();
    let invite = ServerAction::<InviteMember>::new();
    let set_role = ServerAction::<SetMemberRole>::new();
    let set_status = ServerAction::<SetMemberStatus>::new();
    let sign_out = ServerAction::<SignOutMember>::new();
    let sign_out_all = ServerAction::<SignOutEveryone>::new();
    // SCIM pushes (and other admins) change members while the page is open.
    // `?page=` and `?q=` (a GET form and plain links, so paging works without JS).
    let query = use_query_map();
    let page_no = Memo::new(move |_| query.read().get("page").and_then(|p| p.parse::<u64>().ok()).unwrap_or(1).max(1));
    let search = Memo::new(move |_| query.read().get("q").unwrap_or_default());
    let data = Resource::new(
        move || {
            (
                slug.get(),
                page_no.get(),
                search.get(),
                (invite.version().get(), set_role.version().get(), set_status.version().get(), sign_out.version().get(), sign_out_all.version().get()),
            )
        },
        |(slug, page, q, _)| list_members(slug, Some(page), (!q.is_empty()).then_some(q)),
    );
    let revoke = ServerAction::<RevokeInvite>::new();
    let invites = Resource::new(move || (slug.get(), invite.version().get(), revoke.version().get()), |(slug, _, _)| list_invites(slug));
    let row_result = Signal::derive(move || {
        set_role
            .value()
            .get()
            .or_else(|| set_status.value().get())
            .or_else(|| revoke.value().get())
            .or_else(|| sign_out.value().get())
            .or_else(|| sign_out_all.value().get())
    });
    // `?confirm=sign-out-everyone` (a plain link, so it works without JS): what signing
    // every member out would end, and the button that does it.
    let confirming = Memo::new(move |_| query.read().get("confirm").as_deref() == Some("sign-out-everyone"));
    let preview = Resource::new(
        move || (slug.get(), confirming.get()),
        |(s, on)| async move {
            if on {
                sign_out_everyone_preview(s).await.map(Some)
            } else {
                Ok(None)
            }
        },
    );
    view! {
        <Header />
        <LiveRefresh slug=slug.get_untracked() topics=vec!["members".to_string()] lost=false />
        <main class="mx-auto max-w-5xl space-y-6 px-4 py-8">
            <h1 class="text-2xl font-semibold">"Members"</h1>
            <section class=CARD>
                <h2 class="text-lg font-semibold">"Invite a member"</h2>
                <ActionForm action=invite attr:class="mt-4 flex flex-wrap items-end gap-3">
                    <input type="hidden" name="slug" value=slug />
                    <label class="block text-sm font-medium">"Email" <input class=INPUT type="email" name="email" required /></label>
                    <label class="block text-sm font-medium">
                        "Role" <select class=INPUT name="role">
                            <option value="member" selected>
                                "Member"
                            </option>
                            <option value="admin">"Admin"</option>
                        </select>
                    </label>
                    <button type="submit" class=BUTTON>
                        "Invite"
                    </button>
                </ActionForm>
                {move || match invite.value().get() {
                    Some(Ok(c)) => view! { <InviteLink created=c /> }.into_any(),
                    Some(Err(e)) => {
                        view! {
                            <div class="mt-4">
                                <ErrorNote error=e />
                            </div>
                        }
                            .into_any()
                    }
                    None => ().into_any(),
                }}
            </section>
            <Outcome result=row_result query="saved" />
            // One suspense boundary for both lists (awaited in one Suspend): sibling and
            // nested boundaries made async server rendering hang now and then.
            <Transition fallback=|| ()>
                {move || {
                    Suspend::new(async move {
                        let InvitesPage { pending, fresh } = invites.await.unwrap_or_default();
                        let listed = data.await;
                        let everyone = preview.await;
                        let fresh_view = fresh
                            .filter(|_| invite.value().get_untracked().is_none())
                            .map(|c| {
                                // An invite's link, shown once: `data-once` keeps live updates
                                // from fetching the page (and this link) away.
                                view! {
                                    <section class=CARD data-once="invite-link">
                                        <InviteLink created=c />
                                    </section>
                                }
                            });
                        let pending_view = (!pending.is_empty())
                            .then(|| {
                                view! {
                                    <section class=CARD>
                                        <h2 class="text-lg font-semibold">"Pending invites"</h2>
                                        <ul class="mt-2 divide-y divide-slate-100" data-testid="pending-invites">
                                            {pending
                                                .into_iter()
                                                .map(|i| {
                                                    view! {
                                                        <li class="flex items-center justify-between py-2 text-sm">
                                                            <span>
                                                                {i.email.clone()} " · " {i.role.as_str()} " · expires in " {i.expires_in_days} " days"
                                                            </span>
                                                            <ActionForm action=revoke>
                                                                <input type="hidden" name="slug" value=slug />
                                                                <input type="hidden" name="invite_id" value=i.id.to_string() />
                                                                <button type="submit" class=SMALL_BUTTON aria-label=format!("Withdraw invite for {}", i.email)>
                                                                    "Withdraw"
                                                                </button>
                                                            </ActionForm>
                                                        </li>
                                                    }
                                                })
                                                .collect_view()}
                                        </ul>
                                    </section>
                                }
                            });
                        let MembersPage { rows, total, page, pages } = match listed {
                            Ok(r) => r,
                            Err(e) => return failed(e),
                        };
                        let q = search.get_untracked();
                        let link = move |p: u64| {
                            let mut href = format!("/w/{}/settings/members?page={p}", slug.get_untracked());
                            if !q.is_empty() {
                                href.push_str(&format!("&q={}", urlencode(&q)));
                            }
                            href
                        };
                        let (prev, next) = ((page > 1).then(|| link(page - 1)), (page < pages).then(|| link(page + 1)));
                        view! {
                            {fresh_view}
                            {pending_view}
                            <section class=CARD>
                                <div class="flex flex-wrap items-center justify-between gap-3">
                                    <form method="get" class="flex gap-2">
                                        <input
                                            class="rounded border border-slate-300 px-2 py-1 text-sm"
                                            type="search"
                                            name="q"
                                            value=search.get_untracked()
                                            maxlength="200"
                                            aria-label="Search members"
                                            placeholder="Search by name or email"
                                        />
                                        <button type="submit" class=SMALL_BUTTON>
                                            "Search"
                                        </button>
                                    </form>
                                    <nav class="flex items-center gap-3 text-sm" aria-label="Pages" data-testid="members-pages" data-total=total.to_string()>
                                        <span>{total} " members · page " {page} " of " {pages}</span>
                                        {prev
                                            .map(|h| {
                                                view! {
                                                    <a class="text-indigo-700 hover:underline" href=h rel="prev">
                                                        "← Previous"
                                                    </a>
                                                }
                                            })}
                                        {next
                                            .map(|h| {
                                                view! {
                                                    <a class="text-indigo-700 hover:underline" href=h rel="next">
                                                        "Next →"
                                                    </a>
                                                }
                                            })}
                                    </nav>
                                </div>
                                <table class="mt-2 w-full text-left text-sm">
                                    <thead class="text-xs uppercase text-slate-500">
                                        <tr>
                                            <th class="py-2">"Name"</th>
                                            <th>"Email"</th>
                                            <th>"Role"</th>
                                            <th>"Status"</th>
                                            <th>"Signs in with"</th>
                                            <th>"Sessions"</th>
                                            <th></th>
                                        </tr>
                                    </thead>
                                    <tbody class="divide-y divide-slate-100">
                                        {rows
                                            .into_iter()
                                            .map(|r| {
                                                let active = r.status == crate::model::Status::Active;
                                                let is_admin = r.role == crate::model::Role::Admin;
                                                let managed = r.managed_by.clone();
                                                let email = r.email.clone();
                                                view! {
                                                    <tr data-email=r.email.clone()>
                                                        <td class="py-2">{r.full_name.clone()}</td>
                                                        <td>{r.email.clone()}</td>
                                                        <td>{if is_admin { "Admin" } else { "Member" }}</td>
                                                        <td>{if active { "Active" } else { "Deactivated" }}</td>
                                                        <td>
                                                            {r.sign_in_methods.join(", ")}
                                                            {(!r.identities.is_empty())
                                                                .then(|| {
                                                                    view! {
                                                                        <div class="text-xs text-slate-500" data-testid="identities">
                                                                            "Linked: "
                                                                            {r.identities.join(", ")}
                                                                        </div>
                                                                    }
                                                                })}
                                                        </td>
                                                        <td data-testid="session-count">{r.sessions}</td>
                                                        <td class="flex gap-2 py-2">
                                                            {(r.sessions > 0)
                                                                .then(|| {
                                                                    view! {
                                                                        <ActionForm action=sign_out>
                                                                            <input type="hidden" name="slug" value=slug />
                                                                            <input type="hidden" name="membership_id" value=r.membership_id.to_string() />
                                                                            <button
                                                                                type="submit"
                                                                                class=SMALL_BUTTON
                                                                                aria-label=format!("Sign {} out everywhere", email)
                                                                            >
                                                                                "Sign out everywhere"
                                                                            </button>
                                                                        </ActionForm>
                                                                    }
                                                                })}
                                                            {match managed {
                                                                Some(p) => {
                                                                    view! { <span class="rounded bg-slate-100 px-2 py-1 text-xs">"Managed by " {p}</span> }
                                                                        .into_any()
                                                                }
                                                                None if r.last_admin => {
                                                                    view! {
                                                                        <span class="rounded bg-slate-100 px-2 py-1 text-xs" data-testid="last-admin">
                                                                            "The only admin: make someone else an admin to change this member"
                                                                        </span>
                                                                    }
                                                                        .into_any()
                                                                }
                                                                None => {
                                                                    view! {
                                                                        <ActionForm action=set_role>
                                                                            <input type="hidden" name="slug" value=slug />
                                                                            <input type="hidden" name="membership_id" value=r.membership_id.to_string() />
                                                                            <input type="hidden" name="role" value=if is_admin { "member" } else { "admin" } />
                                                                            <button type="submit" class=SMALL_BUTTON>
                                                                                {if is_admin { "Make member" } else { "Make admin" }}
                                                                            </button>
                                                                        </ActionForm>
                                                                        <ActionForm action=set_status>
                                                                            <input type="hidden" name="slug" value=slug />
                                                                            <input type="hidden" name="membership_id" value=r.membership_id.to_string() />
                                                                            <input type="hidden" name="active" value=if active { "false" } else { "true" } />
                                                                            <button type="submit" class=SMALL_BUTTON>
                                                                                {if active { "Deactivate" } else { "Reactivate" }}
                                                                            </button>
                                                                        </ActionForm>
                                                                    }
                                                                        .into_any()
                                                                }
                                                            }}
                                                        </td>
                                                    </tr>
                                                }
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                            </section>
                            <SignOutEveryoneCard preview=everyone action=sign_out_all />
                        }
                            .into_any()
                    })
                }}
            </Transition>
        </main>
    }
}

/// Break-glass after an incident: a link to the confirmation, which says how many sessions
/// of how many members would end (the admin's own stays) before anything happens.
#[component]
fn SignOutEveryoneCard(preview: Result<Option<crate::model::SignOutEveryone>, crate::error::AppError>, action: ServerAction<SignOutEveryone>) -> impl IntoView {
    let slug = use_slug();
    view! {
        <section class=CARD data-testid="sign-out-everyone">
            <h2 class="text-lg font-semibold">"Sign out every member"</h2>
            <p class="mt-1 text-sm text-slate-600">"After an incident: ends every session in this workspace but yours. Members sign in again as usual."</p>
            {match preview {
                Ok(Some(p)) => {
                    view! {
                        <div class="mt-4 rounded border border-amber-300 bg-amber-50 p-3 text-sm" role="status">
                            <p>
                                {format!(
                                    "This ends {} session{} of {} member{}.",
                                    p.sessions,
                                    if p.sessions == 1 { "" } else { "s" },
                                    p.members,
                                    if p.members == 1 { "" } else { "s" },
                                )}
                            </p>
                            <div class="mt-3 flex gap-3">
                                <ActionForm action=action>
                                    <input type="hidden" name="slug" value=slug />
                                    <input type="hidden" name="confirm" value="sign-out-everyone" />
                                    <button type="submit" class="rounded bg-red-700 px-3 py-2 text-white hover:bg-red-800">
                                        "Confirm: sign every member out"
                                    </button>
                                </ActionForm>
                                <a class="px-3 py-2 text-slate-700 hover:underline" href=format!("/w/{}/settings/members", slug.get_untracked())>
                                    "Cancel"
                                </a>
                            </div>
                        </div>
                    }
                        .into_any()
                }
                Ok(None) => {
                    view! {
                        <a
                            class="mt-4 inline-block rounded border border-red-300 px-3 py-2 text-sm text-red-800 hover:bg-red-50"
                            href=format!("/w/{}/settings/members?confirm=sign-out-everyone", slug.get_untracked())
                        >
                            "Sign out every member…"
                        </a>
                    }
                        .into_any()
                }
                Err(e) => view! { <ErrorNote error=e /> }.into_any(),
            }}
        </section>
    }
}

/// The link an invite made, to hand over (shown once).
#[component]
fn InviteLink(created: InviteCreated) -> impl IntoView {
    let InviteCreated { email, link, emailed } = created;
    view! {
        <div class="mt-4 rounded border border-emerald-300 bg-emerald-50 p-3 text-sm" role="status">
            <p>
                "Invite created for " {email} "." {if emailed { " We emailed it to them; you can also send them this link" } else { " Send them this link" }}
                " (valid for 7 days):"
            </p>
            <input readonly data-testid="invite-link" class="mt-2 w-full rounded border border-slate-300 bg-white px-2 py-1 font-mono text-xs" value=link />
        </div>
    }
}
