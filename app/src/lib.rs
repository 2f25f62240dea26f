//! Gatehouse: sign-in, SSO and provisioning for multi-tenant workspaces.
//! `shell` and `App` are rendered on the server and hydrated in the browser.
#![cfg_attr(feature = "ssr", deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![recursion_limit = "256"]

pub mod api;
pub mod error;
pub mod model;
#[cfg(feature = "ssr")]
pub mod server;
pub mod ui;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

use ui::pages;

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body class="min-h-screen bg-slate-50 text-slate-900 antialiased">
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/gatehouse.css"/>
        <Title text="Gatehouse"/>
        <Router>
            <Routes fallback=pages::NotFound>
                <Route path=path!("/") view=pages::Landing ssr=SsrMode::Async/>
                <Route path=path!("/setup") view=pages::Setup ssr=SsrMode::Async/>
                <Route path=path!("/invite/:token") view=pages::AcceptInvite ssr=SsrMode::Async/>
                <Route path=path!("/w/:slug/login") view=pages::Login ssr=SsrMode::Async/>
                <Route path=path!("/w/:slug") view=pages::Home ssr=SsrMode::Async/>
                <Route path=path!("/w/:slug/settings/authentication") view=pages::AuthSettingsPage ssr=SsrMode::Async/>
                <Route path=path!("/w/:slug/settings/authentication/saml/:id") view=pages::SamlProviderPageView ssr=SsrMode::Async/>
                <Route path=path!("/w/:slug/settings/authentication/saml/:id/reconcile") view=pages::Reconcile ssr=SsrMode::Async/>
                <Route path=path!("/w/:slug/settings/preview") view=pages::Preview ssr=SsrMode::Async/>
                <Route path=path!("/w/:slug/settings/overview") view=pages::Overview ssr=SsrMode::Async/>
                <Route path=path!("/w/:slug/settings/members") view=pages::Members ssr=SsrMode::Async/>
                <Route path=path!("/w/:slug/settings/groups") view=pages::Groups ssr=SsrMode::Async/>
                <Route path=path!("/w/:slug/settings/access") view=pages::Access ssr=SsrMode::Async/>
                <Route path=path!("/w/:slug/r/:id") view=pages::ResourcePage ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}
