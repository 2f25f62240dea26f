//! Gatehouse: sign-in, SSO and provisioning for multi-tenant workspaces.
//! `shell` and `App` are rendered on the server; the interactive parts of pages are
//! islands (`#[island]`: `ui::live::LiveRefresh`, the provider page's `CopyButton`) that
//! hydrate in the browser.
#![cfg_attr(feature = "ssr", deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![recursion_limit = "256"]
// Outside tests the sea-orm entities are private to the domain (`server::entities`): a
// public function that hands one out is an unnameable type, refused here.
#![cfg_attr(all(feature = "ssr", not(feature = "testing")), deny(unnameable_types))]

pub mod api;
pub mod error;
pub mod model;
#[cfg(feature = "ssr")]
pub mod server;
pub mod ui;
#[cfg(feature = "ssr")]
pub mod web;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

use ui::pages::{self, Audience, Gate};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <AutoReload options=options.clone() />
                <HydrationScripts options islands=true />
                <meta name=pages::STANDING_META content=pages::Standing::current().as_str() />
                <MetaTags />
            </head>
            <body class="min-h-screen bg-slate-50 text-slate-900 antialiased">
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/gatehouse.css" />
        <Title text="Gatehouse" />
        <Router>
            <Routes fallback=pages::Unrouted>
                <Route path=path!("/") view=pages::Landing ssr=SsrMode::Async />
                <Route path=path!("/setup") view=pages::Setup ssr=SsrMode::Async />
                <Route path=path!("/invite/:token") view=pages::AcceptInvite ssr=SsrMode::Async />
                <Route path=path!("/w/:slug/login") view=pages::Login ssr=SsrMode::Async />
                <Route path=path!("/w/:slug") view=pages::Home ssr=SsrMode::Async />
                <Route path=path!("/w/:slug/account") view=pages::Account ssr=SsrMode::Async />
                <Route
                    path=path!("/w/:slug/settings/authentication")
                    view=|| {
                        view! {
                            <Gate audience=Audience::Admins>
                                <pages::AuthSettingsPage />
                            </Gate>
                        }
                    }
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/w/:slug/settings/authentication/saml/:id")
                    view=|| {
                        view! {
                            <Gate audience=Audience::Admins>
                                <pages::SamlProviderPageView />
                            </Gate>
                        }
                    }
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/w/:slug/settings/authentication/oidc/:id")
                    view=|| {
                        view! {
                            <Gate audience=Audience::Admins>
                                <pages::SamlProviderPageView />
                            </Gate>
                        }
                    }
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/w/:slug/settings/authentication/saml/:id/reconcile")
                    view=|| {
                        view! {
                            <Gate audience=Audience::Admins>
                                <pages::Reconcile />
                            </Gate>
                        }
                    }
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/w/:slug/settings/preview")
                    view=|| {
                        view! {
                            <Gate audience=Audience::Admins>
                                <pages::Preview />
                            </Gate>
                        }
                    }
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/w/:slug/settings/overview")
                    view=|| {
                        view! {
                            <Gate audience=Audience::Admins>
                                <pages::Overview />
                            </Gate>
                        }
                    }
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/w/:slug/settings/members")
                    view=|| {
                        view! {
                            <Gate audience=Audience::Admins>
                                <pages::Members />
                            </Gate>
                        }
                    }
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/w/:slug/settings/groups")
                    view=|| {
                        view! {
                            <Gate audience=Audience::Admins>
                                <pages::Groups />
                            </Gate>
                        }
                    }
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/w/:slug/settings/access")
                    view=|| {
                        view! {
                            <Gate audience=Audience::Admins>
                                <pages::Access />
                            </Gate>
                        }
                    }
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/w/:slug/settings/api-keys")
                    view=|| {
                        view! {
                            <Gate audience=Audience::Admins>
                                <pages::ApiKeys />
                            </Gate>
                        }
                    }
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/w/:slug/settings/webhooks")
                    view=|| {
                        view! {
                            <Gate audience=Audience::Admins>
                                <pages::Webhooks />
                            </Gate>
                        }
                    }
                    ssr=SsrMode::Async
                />
                <Route path=path!("/w/:slug/r/:id") view=pages::ResourcePage ssr=SsrMode::Async />
                // Any other path in a workspace: its 404, after the same viewer check.
                <Route path=path!("/w/:slug/*rest") view=|| view! { <Gate audience=Audience::Nobody /> } ssr=SsrMode::Async />
            </Routes>
        </Router>
    }
}
