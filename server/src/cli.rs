//! `gatehouse` commands. Operator commands act with the server's own database
//! credentials and write audit entries as `operator (cli)`.
use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context};
use app::server::password::Password;
use app::server::permissions::OperatorCap;
use app::server::{members, methods, saml, scim, workspaces};
use app::web::AppState;
use clap::{Parser, Subcommand};
use serde_json::json;

use crate::config::Config;

#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about = "Gatehouse: sign-in, SSO and provisioning for workspaces")]
pub struct Cli {
    /// A TOML configuration file (keys: database_url, listen, public_url, log, smtp_url,
    /// database_max_connections, login_attempts_per_window). Environment variables
    /// GATEHOUSE_* override it.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// First run only: print a new one-time setup token (the previous one stops working).
    SetupToken,
    /// Manage workspaces.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Show or change a workspace's sign-in methods (the same rules as the UI: never all
    /// off). Prints the resulting enabled set as JSON.
    SignInMethods {
        #[arg(long)]
        workspace: String,
        /// A method to enable: password, google, slack, office365 or saml:<provider id>.
        #[arg(long)]
        enable: Vec<String>,
        /// A method to disable.
        #[arg(long)]
        disable: Vec<String>,
    },
    /// Show or edit the workspace's claimed email domains (same validation as the UI).
    /// `--verify D` looks up D's TXT record now; `--trust D` marks D verified without DNS
    /// (networks without it; audited). Prints the resulting claims as JSON.
    Domains {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        add: Vec<String>,
        #[arg(long)]
        remove: Vec<String>,
        #[arg(long)]
        verify: Vec<String>,
        #[arg(long)]
        trust: Vec<String>,
    },
    /// Custom SAML identity providers.
    #[command(subcommand)]
    Saml(SamlCommand),
    /// SCIM provisioning for a SAML provider (its Provider Token is the bearer token).
    #[command(subcommand)]
    Scim(ScimCommand),
    /// Break-glass recovery for a locked-out workspace: re-enable a sign-in method and/or
    /// restore an admin. Writes an audit entry and prints what it did.
    Recover {
        #[arg(long)]
        workspace: String,
        /// The sign-in method to re-enable.
        #[arg(long)]
        enable: Option<String>,
        /// Make this member an active admin again.
        #[arg(long)]
        promote: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SamlCommand {
    /// Add a provider from the IdP's metadata (same validation as the UI). Prints its id,
    /// ACS URL, Entity ID and SP metadata URL as JSON. Its sign-in method starts off:
    /// enable it with `sign-in-methods --enable saml:<id>` once tested.
    Add {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        name: String,
        #[arg(long, conflicts_with = "metadata_url", required_unless_present = "metadata_url")]
        metadata_file: Option<PathBuf>,
        #[arg(long)]
        metadata_url: Option<String>,
        #[arg(long)]
        allow_idp_initiated: bool,
    },
    /// List the workspace's providers as JSON.
    List {
        #[arg(long)]
        workspace: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScimCommand {
    /// Turn provisioning on (SAML must be the workspace's only sign-in method) and print
    /// the SCIM base URL and a new token, once, as JSON.
    Enable {
        #[arg(long)]
        workspace: String,
        /// The provider's id (as `saml list` prints it).
        #[arg(long)]
        provider: String,
        /// The token stops working after this many days (30, 90, 180 or 365); default never.
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
    /// Replace the provider's token (the same as Rotate on its page); the old one stops
    /// working at once. It works only while provisioning is on.
    Rotate {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        provider: String,
        /// The token stops working after this many days (30, 90, 180 or 365); default never.
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
    /// Turn provisioning off; the token stops working. Linked members stay read-only.
    Disable {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        provider: String,
    },
    /// Make the provider's OAuth 2.0 client (for IdPs that fetch SCIM tokens from a token
    /// endpoint, as Entra's gallery does), or give it a new secret, as its page does;
    /// prints the token endpoint, client id and secret once, as JSON.
    Oauth {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        provider: String,
        /// How long the old secret keeps working: 0, 3600, 86400 or 604800 seconds.
        #[arg(long, default_value_t = 0)]
        overlap_secs: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace with its first admin. With --password-stdin the admin's password
    /// is read from standard input; otherwise a one-time set-password link is printed.
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin_email: String,
        #[arg(long, default_value = "")]
        admin_name: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg = Config::load(cli.config.as_deref())?;
    let command = cli.command.unwrap_or(Command::Serve);
    let default_log = if matches!(command, Command::Serve) { "info" } else { "warn" };
    init_tracing(cfg.log.as_deref().unwrap_or(default_log));
    // Every command here runs as the operator: this is the one place an OperatorCap is
    // made outside the tests (clippy.toml refuses OperatorCap::cli anywhere else).
    #[allow(clippy::disallowed_methods)]
    let op = OperatorCap::cli();
    match command {
        Command::Serve => {
            let state = crate::build_state(&cfg, crate::system_clock()).await?;
            // First run: nobody may set up the server without proving they run it.
            match app::server::workspaces::mint_setup_token(&state.db, state.now(), true).await {
                Ok(Some(token)) => eprintln!(
                    "\nGatehouse is not set up yet. Open {}/setup and give this one-time setup token:\n\n    {}\n\n(`gatehouse setup-token` prints a new one.)\n",
                    cfg.public_url,
                    token.expose()
                ),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "could not make a setup token"),
            }
            crate::router::serve(state, &cfg.listen).await
        }
        Command::SetupToken => {
            let st = crate::build_state(&cfg, crate::system_clock()).await?;
            match app::server::workspaces::mint_setup_token(&st.db, st.now(), false).await.map_err(user_error)? {
                Some(token) => println!("{}", token.expose()),
                None => bail!("this server is set up already: there is no setup token"),
            }
            Ok(())
        }
        Command::Migrate => {
            crate::build_state(&cfg, crate::system_clock()).await?;
            println!("{}", json!({ "migrations": "applied" }));
            Ok(())
        }
        Command::Workspace(WorkspaceCommand::Create { slug, name, admin_email, admin_name, password_stdin }) => {
            let st = crate::build_state(&cfg, crate::system_clock()).await?;
            let password = if password_stdin {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s).context("reading the password from stdin")?;
                Some(Password::new_secret(s.trim_end_matches(['\r', '\n']).to_string()).map_err(user_error)?)
            } else {
                None
            };
            let new = workspaces::NewWorkspace { slug, name, admin_email: admin_email.clone(), admin_name, admin_password: password };
            let created = workspaces::create(&st.db, &st.hasher, st.now(), new, op.actor(), None).await.map_err(user_error)?;
            let mut out = json!({
                "workspace": created.workspace.slug,
                "name": created.workspace.name,
                "admin_email": admin_email.trim(),
                "login_url": format!("{}/w/{}/login", st.config.public_url, created.workspace.slug),
            });
            if let Some(t) = created.admin_invite {
                out["set_password_link"] = json!(format!("{}/invite/{}", st.config.public_url, t.expose()));
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
        Command::SignInMethods { workspace, enable, disable } => {
            let st = crate::build_state(&cfg, crate::system_clock()).await?;
            let ws = find_workspace(&st, &workspace).await?;
            let cap = op.admin_of(ws.id);
            let enabled = if enable.is_empty() && disable.is_empty() {
                methods::list(&st.db, ws.id, &st.config).await.map_err(user_error)?.into_iter().filter(|m| m.enabled && m.available).map(|m| m.key).collect()
            } else {
                methods::change(&st.db, st.now(), &cap, &st.config, &enable, &disable).await.map_err(user_error)?
            };
            println!("{}", json!({ "workspace": ws.slug, "enabled": enabled }));
            Ok(())
        }
        Command::Domains { workspace, add, remove, verify, trust } => {
            use app::server::domains;
            let st = crate::build_state(&cfg, crate::system_clock()).await?;
            let ws = find_workspace(&st, &workspace).await?;
            let cap = op.admin_of(ws.id);
            if !add.is_empty() || !remove.is_empty() {
                domains::change(&st.db, st.now(), &cap, &add, &remove).await.map_err(user_error)?;
            }
            for d in &trust {
                domains::trust(&st.db, st.now(), &op, ws.id, d).await.map_err(user_error)?;
            }
            for d in &verify {
                domains::verify_now(&st.db, &st.config.dns, st.now(), ws.id, d).await.map_err(user_error)?;
            }
            let claims: Vec<_> = domains::claims(&st.db, ws.id)
                .await
                .map_err(user_error)?
                .into_iter()
                .map(|c| json!({ "domain": c.domain, "status": c.status, "record": { "name": domains::record_name(&c.domain), "value": domains::record_value(&c.token) }, "trusted": c.trusted, "found": c.last_error }))
                .collect();
            println!("{}", json!({ "workspace": ws.slug, "domains": claims }));
            Ok(())
        }
        Command::Saml(SamlCommand::Add { workspace, name, metadata_file, metadata_url, allow_idp_initiated }) => {
            let st = crate::build_state(&cfg, crate::system_clock()).await?;
            let ws = find_workspace(&st, &workspace).await?;
            let cap = op.admin_of(ws.id);
            let metadata_xml = match metadata_file {
                Some(path) => Some(std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?),
                None => None,
            };
            let input =
                saml::ProviderInput { form: app::model::SamlProviderForm { name, allow_idp_initiated, ..Default::default() }, metadata_xml, metadata_url };
            let p = saml::create(&st.db, &st.config, st.now(), &cap, &input).await.map_err(user_error)?;
            println!("{}", serde_json::to_string_pretty(&provider_json(&st, &p))?);
            Ok(())
        }
        Command::Saml(SamlCommand::List { workspace }) => {
            let st = crate::build_state(&cfg, crate::system_clock()).await?;
            let ws = find_workspace(&st, &workspace).await?;
            let enabled = methods::enabled_set(&st.db, ws.id).await.map_err(user_error)?;
            let list: Vec<_> = saml::list(&st.db, ws.id)
                .await
                .map_err(user_error)?
                .iter()
                .map(|p| {
                    let mut j = provider_json(&st, p);
                    j["enabled"] = json!(enabled.contains(&saml::method_key(p.public_id())));
                    j
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&json!({ "workspace": ws.slug, "providers": list }))?);
            Ok(())
        }
        Command::Scim(cmd) => {
            let st = crate::build_state(&cfg, crate::system_clock()).await?;
            let (workspace, provider) = match &cmd {
                ScimCommand::Enable { workspace, provider, .. }
                | ScimCommand::Rotate { workspace, provider, .. }
                | ScimCommand::Disable { workspace, provider }
                | ScimCommand::Oauth { workspace, provider, .. } => (workspace, provider),
            };
            let ws = find_workspace(&st, workspace).await?;
            let cap = op.admin_of(ws.id);
            let not_found = |e| match e {
                app::server::DomainError::NotFound => anyhow::anyhow!("{provider} is not a SAML provider of {}", ws.slug),
                other => user_error(other),
            };
            let out = match cmd {
                ScimCommand::Oauth { overlap_secs, .. } => {
                    let c = scim::oauth::rotate_secret(&st.db, st.now(), &cap, provider, overlap_secs).await.map_err(not_found)?;
                    json!({
                        "workspace": ws.slug,
                        "provider": provider,
                        "token_endpoint": scim::oauth::token_url(&st.config, provider),
                        "client_id": c.client_id,
                        "client_secret": c.client_secret.expose(),
                        "old_secret_works_for_secs": overlap_secs,
                        "note": "The secret is shown once; Gatehouse keeps only its hash. Tokens are issued while provisioning is on.",
                    })
                }
                ScimCommand::Disable { .. } => {
                    scim::disable(&st.db, st.now(), &cap, provider).await.map_err(not_found)?;
                    json!({ "workspace": ws.slug, "provider": provider, "provisioning": false })
                }
                ScimCommand::Enable { expires_in_days, .. } | ScimCommand::Rotate { expires_in_days, .. } => {
                    let token = if matches!(cmd, ScimCommand::Rotate { .. }) {
                        scim::mint_token(&st.db, st.now(), &cap, provider, expires_in_days).await.map_err(not_found)?
                    } else {
                        scim::enable(&st.db, st.now(), &cap, provider, expires_in_days).await.map_err(not_found)?
                    };
                    let on = saml::get(&st.db, &cap, provider).await.map_err(not_found)?.provisioning_enabled();
                    json!({
                        "workspace": ws.slug,
                        "provider": provider,
                        "provisioning": on,
                        "scim_base_url": scim::base_url(&st.config),
                        "token": token.expose(),
                        "expires_in_days": expires_in_days,
                        "note": if on { "The token is shown once; Gatehouse keeps only its hash." } else { "The token is shown once; Gatehouse keeps only its hash. It works once provisioning is on (gatehouse scim enable)." },
                    })
                }
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
        Command::Recover { workspace, enable, promote } => {
            if enable.is_none() && promote.is_none() {
                bail!("nothing to do: give --enable METHOD and/or --promote EMAIL");
            }
            let st = crate::build_state(&cfg, crate::system_clock()).await?;
            let ws = find_workspace(&st, &workspace).await?;
            let mut out = json!({ "workspace": ws.slug });
            if let Some(m) = enable {
                let after = methods::recover(&st.db, st.now(), &op, ws.id, &st.config, &m).await.map_err(user_error)?;
                out["enabled_method"] = json!(m);
                out["enabled"] = json!(after);
            }
            if let Some(email) = promote {
                members::promote(&st.db, &st.events, st.now(), &op, ws.id, &email).await.map_err(|e| match e {
                    app::server::DomainError::NotFound => anyhow::anyhow!("{email} is not a member of {}", ws.slug),
                    other => user_error(other),
                })?;
                out["promoted"] = json!(email.trim().to_lowercase());
            }
            out["audit"] = json!("recorded");
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
    }
}

fn provider_json(st: &AppState, p: &saml::Provider) -> serde_json::Value {
    let u = saml::urls(&st.config, p.public_id());
    json!({
        "id": p.public_id(),
        "method": saml::method_key(p.public_id()),
        "name": p.name(),
        "idp_entity_id": p.idp_entity_id(),
        "sso_url": p.sso_url(),
        "acs_url": u.acs,
        "entity_id": u.entity_id,
        "sp_metadata_url": u.metadata,
        "allow_idp_initiated": p.allow_idp_initiated(),
    })
}

async fn find_workspace(st: &AppState, slug: &str) -> anyhow::Result<app::model::Workspace> {
    workspaces::by_slug(&st.db, slug).await.map_err(|e| match e {
        app::server::DomainError::NotFound => anyhow::anyhow!("no workspace with URL name “{slug}”"),
        other => user_error(other),
    })
}

fn user_error(e: app::server::DomainError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

fn init_tracing(spec: &str) {
    let (level, json) = match spec.split_once(',') {
        Some((l, f)) => (l.to_string(), f.trim() == "json"),
        None => (spec.to_string(), false),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}
