//! `/w/{slug}/settings/overview` (admins): sign-ins per method per day and SCIM activity
//! over the last 30 days as charts (server-rendered SVG, so they need no JavaScript),
//! and the audit log with filters and CSV export.
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::overview::{load_audit, load_overview};
use crate::model::{urlencode, AuditPage, Series};
use crate::ui::components::{use_slug, Header, CARD};
use crate::ui::pages::failed;

const COLORS: [&str; 6] = ["#4f46e5", "#0d9488", "#d97706", "#db2777", "#2563eb", "#64748b"];
const SMALL_INPUT: &str = "rounded border border-slate-300 px-2 py-1 text-sm";

/// Stacked bars, one per day, with a legend and the same numbers as a table.
#[component]
fn DailyChart(title: &'static str, testid: &'static str, days: Vec<String>, series: Vec<Series>) -> impl IntoView {
    let (w, h, top) = (600.0_f64, 150.0_f64, 10.0_f64);
    let n = days.len().max(1);
    let totals: Vec<u64> = (0..days.len()).map(|i| series.iter().map(|s| s.values.get(i).copied().unwrap_or(0)).sum()).collect();
    let max = totals.iter().copied().max().unwrap_or(0).max(1);
    let sum: u64 = totals.iter().sum();
    let slot = w / n as f64;
    let mut bars = Vec::new();
    for (i, day) in days.iter().enumerate() {
        let mut y = h;
        for (k, s) in series.iter().enumerate() {
            let v = s.values.get(i).copied().unwrap_or(0);
            if v == 0 {
                continue;
            }
            let bh = (v as f64 / max as f64) * (h - top);
            y -= bh;
            bars.push((
                format!("{:.1}", i as f64 * slot + 2.0),
                format!("{y:.1}"),
                format!("{:.1}", (slot - 4.0).max(1.0)),
                format!("{bh:.1}"),
                COLORS[k % COLORS.len()],
                format!("{day} · {}: {v}", s.label),
            ));
        }
    }
    let ticks: Vec<(String, String)> = days
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 7 == 0 || *i + 1 == days.len())
        .map(|(i, d)| (format!("{:.1}", i as f64 * slot + slot / 2.0), d.get(5..).unwrap_or(d).to_string()))
        .collect();
    let legend = series.iter().enumerate().map(|(k, s)| (COLORS[k % COLORS.len()], s.label.clone(), s.values.iter().sum::<u64>())).collect::<Vec<_>>();
    let table_series = series.clone();
    view! {
        <section class=CARD data-testid=testid data-total=sum.to_string()>
            <h2 class="text-lg font-semibold">{title}</h2>
            {if sum == 0 {
                view! { <p class="mt-2 text-sm text-slate-600">"Nothing in the last 30 days."</p> }.into_any()
            } else {
                view! {
                    <svg class="mt-3 w-full" viewBox=format!("0 0 {w} {}", h + 18.0) role="img" aria-label=format!("{title}: {sum} in 30 days")>
                        <line x1="0" y1=h.to_string() x2=w.to_string() y2=h.to_string() stroke="#cbd5e1" />
                        <text x="0" y="9" font-size="9" fill="#64748b">
                            {format!("max {max}/day")}
                        </text>
                        {bars
                            .into_iter()
                            .map(|(x, y, bw, bh, fill, label)| {
                                view! {
                                    <rect x=x y=y width=bw height=bh fill=fill>
                                        <title>{label}</title>
                                    </rect>
                                }
                            })
                            .collect_view()}
                        {ticks
                            .into_iter()
                            .map(|(x, label)| {
                                view! {
                                    <text x=x y=(h + 13.0).to_string() font-size="9" text-anchor="middle" fill="#64748b">
                                        {label}
                                    </text>
                                }
                            })
                            .collect_view()}
                    </svg>
                    <ul class="mt-2 flex flex-wrap gap-4 text-sm">
                        {legend
                            .into_iter()
                            .map(|(color, label, total)| {
                                view! {
                                    <li class="flex items-center gap-1">
                                        <svg width="10" height="10" aria-hidden="true">
                                            <rect width="10" height="10" fill=color />
                                        </svg>
                                        {label}
                                        " "
                                        <span class="text-slate-500">{total}</span>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                    <details class="mt-2 text-sm">
                        <summary class="cursor-pointer text-slate-600">"Show as a table"</summary>
                        <table class="mt-2 text-left text-xs">
                            <thead>
                                <tr>
                                    <th class="pr-3">"Day"</th>
                                    {table_series.iter().map(|s| view! { <th class="pr-3">{s.label.clone()}</th> }).collect_view()}
                                </tr>
                            </thead>
                            <tbody>
                                {days
                                    .iter()
                                    .enumerate()
                                    .rev()
                                    .map(|(i, d)| {
                                        view! {
                                            <tr>
                                                <td class="pr-3">{d.clone()}</td>
                                                {table_series
                                                    .iter()
                                                    .map(|s| view! { <td class="pr-3">{s.values.get(i).copied().unwrap_or(0)}</td> })
                                                    .collect_view()}
                                            </tr>
                                        }
                                    })
                                    .collect_view()}
                            </tbody>
                        </table>
                    </details>
                }
                    .into_any()
            }}
        </section>
    }
}

#[component]
pub fn Overview() -> impl IntoView {
    let slug = use_slug();
    let q = use_query_map();
    let get = move |k: &str| q.read().get(k).unwrap_or_default();
    let filters = Memo::new(move |_| (get("action"), get("actor"), get("days").parse::<i64>().ok(), get("page").parse::<u64>().ok().unwrap_or(1).max(1)));
    let charts = Resource::new(move || slug.get(), load_overview);
    let audit = Resource::new(
        move || (slug.get(), filters.get()),
        |(s, (action, actor, days, page))| load_audit(s, (!action.is_empty()).then_some(action), (!actor.is_empty()).then_some(actor), days, Some(page)),
    );
    view! {
        <Header />
        <main class="mx-auto max-w-5xl space-y-6 px-4 py-8">
            <h1 class="text-2xl font-semibold">"Overview"</h1>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let (c, a) = (charts.await, audit.await);
                    let c = match c {
                        Ok(c) => c,
                        Err(e) => return failed(e),
                    };
                    let (action, actor, days, _) = filters.get_untracked();
                    let days_sel = days.unwrap_or(0);
                    let s = slug.get_untracked();
                    let query = {
                        let mut parts = Vec::new();
                        if !action.is_empty() {
                            parts.push(format!("action={}", urlencode(&action)));
                        }
                        if !actor.is_empty() {
                            parts.push(format!("actor={}", urlencode(&actor)));
                        }
                        if days_sel > 0 {
                            parts.push(format!("days={days_sel}"));
                        }
                        parts.join("&")
                    };
                    let csv = format!("/w/{s}/audit.csv{}", if query.is_empty() { String::new() } else { format!("?{query}") });
                    let page_link = {
                        let (s, query) = (s.clone(), query.clone());
                        move |p: u64| format!("/w/{s}/settings/overview?{}page={p}", if query.is_empty() { String::new() } else { format!("{query}&") })
                    };
                    view! {
                        <DailyChart title="Sign-ins per day" testid="sign-ins-chart" days=c.days.clone() series=c.sign_ins.clone() />
                        <DailyChart title="SCIM requests per day" testid="scim-chart" days=c.days.clone() series=c.scim.clone() />
                        <section class=CARD>
                            <div class="flex flex-wrap items-center justify-between gap-3">
                                <h2 class="text-lg font-semibold">"Audit log"</h2>
                                <a class="text-sm text-indigo-700 hover:underline" href=csv download="audit.csv">
                                    "Download CSV"
                                </a>
                            </div>
                            <form method="get" class="mt-3 flex flex-wrap items-end gap-2 text-sm">
                                <label class="block">
                                    "Action"
                                    <input
                                        class=format!("block {SMALL_INPUT}")
                                        name="action"
                                        list="audit-actions"
                                        value=action.clone()
                                        maxlength="64"
                                        placeholder="e.g. scim."
                                    />
                                </label>
                                <datalist id="audit-actions">
                                    {["signin", "member.", "group.", "resource.", "grant", "scim.", "saml.", "sign_in_methods", "workspace.", "recover."]
                                        .into_iter()
                                        .map(|a| view! { <option value=a /> })
                                        .collect_view()}
                                </datalist>
                                <label class="block">
                                    "Actor"
                                    <input
                                        class=format!("block {SMALL_INPUT}")
                                        name="actor"
                                        value=actor.clone()
                                        maxlength="200"
                                        placeholder="email or operator"
                                    />
                                </label>
                                <label class="block">
                                    "Period" <select class=format!("block {SMALL_INPUT}") name="days">
                                        {[(0, "All time"), (1, "Last day"), (7, "Last 7 days"), (30, "Last 30 days"), (90, "Last 90 days")]
                                            .into_iter()
                                            .map(|(d, l)| {
                                                view! {
                                                    <option value=d.to_string() selected=d == days_sel>
                                                        {l}
                                                    </option>
                                                }
                                            })
                                            .collect_view()}
                                    </select>
                                </label>
                                <button type="submit" class="rounded border border-slate-300 px-3 py-1 hover:bg-slate-100">
                                    "Filter"
                                </button>
                            </form>
                            {match a {
                                Err(e) => failed(e),
                                Ok(AuditPage { rows, total, page, pages }) => {
                                    view! {
                                        <p class="mt-3 text-sm text-slate-600" data-testid="audit-total" data-total=total.to_string()>
                                            {total}
                                            " entries · page "
                                            {page}
                                            " of "
                                            {pages}
                                        </p>
                                        <table class="mt-2 w-full text-left text-xs" data-testid="audit-log">
                                            <thead class="uppercase text-slate-500">
                                                <tr>
                                                    <th class="py-1">"When"</th>
                                                    <th>"Actor"</th>
                                                    <th>"Action"</th>
                                                    <th>"Target"</th>
                                                    <th>"Details"</th>
                                                    <th>"IP"</th>
                                                </tr>
                                            </thead>
                                            <tbody class="divide-y divide-slate-100">
                                                {rows
                                                    .into_iter()
                                                    .map(|r| {
                                                        let (action, details) = (r.action.clone(), r.details.clone());
                                                        view! {
                                                            <tr data-action=action>
                                                                <td class="whitespace-nowrap py-1 pr-2">{r.when}</td>
                                                                <td class="pr-2">{r.actor}</td>
                                                                <td class="pr-2 font-mono">{r.action}</td>
                                                                <td class="pr-2">{r.target}</td>
                                                                <td class="max-w-xs truncate pr-2 font-mono" title=details>
                                                                    {r.details}
                                                                </td>
                                                                <td>{r.ip}</td>
                                                            </tr>
                                                        }
                                                    })
                                                    .collect_view()}
                                            </tbody>
                                        </table>
                                        <nav class="mt-2 flex gap-3 text-sm" aria-label="Audit pages">
                                            {(page > 1)
                                                .then(|| {
                                                    view! {
                                                        <a class="text-indigo-700 hover:underline" href=page_link(page - 1) rel="prev">
                                                            "← Newer"
                                                        </a>
                                                    }
                                                })}
                                            {(page < pages)
                                                .then(|| {
                                                    view! {
                                                        <a class="text-indigo-700 hover:underline" href=page_link(page + 1) rel="next">
                                                            "Older →"
                                                        </a>
                                                    }
                                                })}
                                        </nav>
                                    }
                                        .into_any()
                                }
                            }}
                        </section>
                    }
                        .into_any()
                })}
            </Suspense>
        </main>
    }
}
