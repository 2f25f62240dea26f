//! The `gatehouse` binary's library: configuration, CLI, HTTP router.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod audit_csv;
pub mod browser;
pub mod cli;
pub mod config;
pub mod events;
pub mod forward_auth;
pub mod oidc;
pub mod pages;
pub mod router;
pub mod saml;
pub mod scim;
pub mod scim_oauth;
pub mod v1;

use std::sync::Arc;

use app::server::clock::{Clock, SystemClock};
use app::server::config::RuntimeConfig;
use app::server::db;
use app::server::password::Hasher;
use app::web::AppState;
use leptos::config::LeptosOptions;

use config::Config;

/// The Leptos options: what cargo-leptos baked in (output name, site root), falling
/// back to our defaults when the binary was built by plain cargo.
pub fn leptos_options() -> LeptosOptions {
    let mut opts =
        leptos::config::get_configuration(None).map(|c| c.leptos_options).unwrap_or_else(|_| LeptosOptions::builder().output_name("gatehouse").build());
    // A binary built by plain cargo (cargo test builds it too) knows no output name unless
    // LEPTOS_OUTPUT_NAME is set when it runs: its pages then asked for /pkg/.js and never
    // hydrated.
    if opts.output_name.is_empty() {
        opts.output_name = "gatehouse".into();
    }
    if std::env::var("LEPTOS_SITE_ROOT").is_err() && opts.site_root.as_ref() == "/" {
        opts.site_root = "target/site".into();
    }
    opts
}

pub fn runtime_config(cfg: &Config) -> anyhow::Result<RuntimeConfig> {
    let mailer = match &cfg.smtp_url {
        Some(url) => Some(app::server::mail::Mailer::new(url.expose(), &cfg.smtp_from)?),
        None => None,
    };
    Ok(RuntimeConfig {
        public_url: cfg.public_url.clone(),
        login_attempts_per_window: cfg.login_attempts_per_window,
        scim_requests_per_minute: cfg.scim_requests_per_minute,
        api_requests_per_minute: cfg.api_requests_per_minute,
        max_resources_per_workspace: cfg.max_resources_per_workspace,
        mailer,
        metrics_token: cfg.metrics_token.clone(),
        dns: app::server::dns::Dns::new(cfg.dns_resolver),
        domain_recheck_secs: cfg.domain_recheck_secs,
        trusted_proxies: cfg.trusted_proxies.clone(),
        allow_private_metadata_urls: cfg.allow_private_metadata_urls,
        forward_auth: cfg.forward_auth.clone(),
        webhook_retry_secs: cfg.webhook_retry_secs,
        webhook_timeout_secs: cfg.webhook_timeout_secs,
        oidc: cfg.oidc.iter().map(|o| app::server::oidc::OidcProvider::new(&o.key, &o.client_id, o.client_secret.clone(), o.issuer.as_deref())).collect(),
    })
}

/// How this server's webhook worker sends.
pub fn webhook_settings(cfg: &RuntimeConfig) -> app::server::webhooks::delivery::Settings {
    app::server::webhooks::delivery::Settings {
        retry_secs: cfg.webhook_retry_secs,
        timeout: std::time::Duration::from_secs(cfg.webhook_timeout_secs.max(1)),
        allow_private: cfg.allow_private_metadata_urls,
    }
}

/// Connects, migrates, and assembles the state every request shares.
pub async fn build_state(cfg: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    app::server::saml::acs::init_xml();
    let conn = db::connect(cfg.database_url.expose(), cfg.database_max_connections).await?;
    db::migrate(&conn).await?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let events = app::server::events::Events::new();
    events.listen(&conn);
    Ok(AppState {
        scim_ledger: app::server::scim::ledger::Ledger::start(conn.clone()),
        oidc_discovery: Default::default(),
        db: conn,
        config: Arc::new(runtime_config(cfg)?),
        clock,
        hasher: Hasher::new(cores)?,
        leptos_options: leptos_options(),
        events,
    })
}

pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}
