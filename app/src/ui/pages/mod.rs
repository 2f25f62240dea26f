mod access;
mod account;
mod api_keys;
mod auth_settings;
mod groups;
mod home;
mod invite;
mod landing;
mod login;
mod members;
mod overview;
mod preview;
mod saml_provider;
mod setup;
mod webhooks;

pub use access::{Access, ResourcePage};
pub use account::Account;
pub use api_keys::ApiKeys;
pub use auth_settings::AuthSettingsPage;
pub use groups::Groups;
pub use home::Home;
pub use invite::AcceptInvite;
pub use landing::Landing;
pub use login::Login;
pub use members::Members;
pub use overview::Overview;
pub use preview::{Preview, Reconcile};
pub use saml_provider::SamlProviderPageView;
pub use setup::Setup;
pub use webhooks::Webhooks;

use leptos::prelude::*;

use crate::error::AppError;

/// The router's fallback: a path no route names. Every navigation is a page load from the
/// server (the router runs there only), so a path of the product behind the proxy never
/// lands here from a link.
#[component]
pub fn Unrouted() -> impl IntoView {
    view! { <NotFound /> }
}

/// The 404 page; on the server it also sets the status.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(r) = use_context::<leptos_axum::ResponseOptions>() {
        r.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <main class="mx-auto max-w-md px-4 py-24 text-center">
            <h1 class="text-2xl font-semibold">"Not found"</h1>
            <p class="mt-2 text-slate-600">"There is nothing here, or you don't have access to it."</p>
        </main>
    }
}

/// The viewer's standing in the workspace of the page being rendered. The server decides
/// it once per page request, before rendering (the router's `page_standing` layer puts it
/// in the request), and writes it into the page's head, so the browser hydrates the same
/// decision without asking again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    SignedOut,
    Member,
    Admin,
}

/// The `<meta name>` that carries the standing to the browser.
pub const STANDING_META: &str = "gatehouse-viewer";

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::SignedOut => "signed-out",
            Standing::Member => "member",
            Standing::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Standing {
        match s {
            "admin" => Standing::Admin,
            "member" => Standing::Member,
            _ => Standing::SignedOut,
        }
    }

    /// For this render: on the server from the request, in the browser from the head the
    /// server wrote.
    pub fn current() -> Standing {
        #[cfg(feature = "ssr")]
        {
            use_context::<http::request::Parts>().and_then(|p| p.extensions.get::<Standing>().copied()).unwrap_or(Standing::SignedOut)
        }
        #[cfg(not(feature = "ssr"))]
        {
            document()
                .query_selector(&format!("meta[name={STANDING_META}]"))
                .ok()
                .flatten()
                .and_then(|m| m.get_attribute("content"))
                .map(|c| Standing::parse(&c))
                .unwrap_or(Standing::SignedOut)
        }
    }
}

/// Who may see a page under `/w/{slug}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The workspace's admins.
    Admins,
    /// Nobody: a path that names no page (the workspace's own 404).
    Nobody,
}

/// Decides once who may see a page, before any of it renders, from the viewer's
/// [`Standing`]: a member who opens an admin page gets the body of a page that doesn't
/// exist, with its 404 — no header, no admin form — and a missing page in a workspace
/// comes through here too, so both are the same bytes. Signed-out visitors get the page,
/// whose data call sends them to the sign-in page.
#[component]
pub fn Gate(audience: Audience, #[prop(optional)] children: Option<ChildrenFn>) -> impl IntoView {
    let shown = match (audience, Standing::current()) {
        (Audience::Nobody, _) | (Audience::Admins, Standing::Member) => false,
        (Audience::Admins, Standing::Admin | Standing::SignedOut) => true,
    };
    match children {
        Some(page) if shown => page().into_any(),
        _ => view! { <NotFound /> }.into_any(),
    }
}

/// What a page shows when its data call failed.
pub fn failed(e: AppError) -> AnyView {
    match e {
        AppError::NotFound => view! { <NotFound /> }.into_any(),
        AppError::Unauthenticated => view! {
            <main class="mx-auto max-w-md px-4 py-24 text-center">
                <p>"Please sign in."</p>
            </main>
        }
        .into_any(),
        other => view! {
            <main class="mx-auto max-w-md px-4 py-24">
                <crate::ui::components::ErrorNote error=other />
            </main>
        }
        .into_any(),
    }
}
