mod access;
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

pub use access::{Access, ResourcePage};
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

use leptos::prelude::*;

use crate::error::AppError;

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

/// What a page shows when its data call failed.
pub fn failed(e: AppError) -> AnyView {
    match e {
        AppError::NotFound => view! { <NotFound/> }.into_any(),
        AppError::Unauthenticated => view! {
            <main class="mx-auto max-w-md px-4 py-24 text-center"><p>"Please sign in."</p></main>
        }
        .into_any(),
        other => view! {
            <main class="mx-auto max-w-md px-4 py-24"><crate::ui::components::ErrorNote error=other/></main>
        }
        .into_any(),
    }
}
