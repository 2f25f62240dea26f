//! Configuration in layers: defaults → optional TOML file (`--config`) → environment
//! (`GATEHOUSE_*`, with `*_FILE` for secrets). Unknown keys are errors.
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use app::server::crypto::Secret;
use serde::Deserialize;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/gatehouse.db?mode=rwc";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub database_url: Option<Secret>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub log: Option<String>,
    pub smtp_url: Option<Secret>,
    pub smtp_from: Option<String>,
    pub database_max_connections: Option<u32>,
    pub login_attempts_per_window: Option<i64>,
    pub scim_requests_per_minute: Option<i64>,
    pub api_requests_per_minute: Option<i64>,
    pub max_resources_per_workspace: Option<u64>,
    pub metrics_token: Option<Secret>,
    pub dns_resolver: Option<String>,
    pub domain_recheck_secs: Option<i64>,
    pub trusted_proxies: Option<String>,
    pub allow_private_metadata_urls: Option<bool>,
    pub forward_auth_rules: Option<String>,
    pub google_client_id: Option<String>,
    pub google_client_secret: Option<Secret>,
    pub google_issuer: Option<String>,
    pub slack_client_id: Option<String>,
    pub slack_client_secret: Option<Secret>,
    pub slack_issuer: Option<String>,
    pub office365_client_id: Option<String>,
    pub office365_client_secret: Option<Secret>,
    pub office365_issuer: Option<String>,
}

/// An OIDC provider the operator configured (client id and secret present).
#[derive(Clone)]
pub struct OidcConfig {
    pub key: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// `None`: the real provider.
    pub issuer: Option<String>,
}

#[derive(Clone)]
pub struct Config {
    pub database_url: Secret,
    pub listen: String,
    pub public_url: String,
    /// `info`, `debug`, … optionally followed by `,json` for JSON lines. Unset: `info`
    /// for `serve`, `warn` for the other commands (their output is their answer).
    pub log: Option<String>,
    pub smtp_url: Option<Secret>,
    /// Sender of invite mail.
    pub smtp_from: String,
    pub database_max_connections: u32,
    pub login_attempts_per_window: i64,
    /// SCIM requests allowed per token per minute (then 429 with Retry-After).
    pub scim_requests_per_minute: i64,
    /// `/v1` requests allowed per API key per minute (then 429 with Retry-After).
    pub api_requests_per_minute: i64,
    /// Resources (collections and connections) a workspace may hold.
    pub max_resources_per_workspace: u64,
    /// Bearer token Prometheus presents on `GET /metrics` (off when unset).
    pub metrics_token: Option<Secret>,
    /// The DNS server domain verification asks (`None`: the system's resolvers).
    pub dns_resolver: Option<std::net::SocketAddr>,
    /// How often each claimed domain's TXT record is looked up again.
    pub domain_recheck_secs: i64,
    /// Load balancers and proxies whose forwarding headers name the client.
    pub trusted_proxies: Vec<app::server::config::Cidr>,
    /// SAML metadata URLs may point at private or loopback addresses (labs).
    pub allow_private_metadata_urls: bool,
    /// How `/forward-auth` reads the product's URIs.
    pub forward_auth: app::server::forward_auth::Rules,
    pub oidc: Vec<OidcConfig>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // URLs may carry passwords: print only their scheme.
        let scheme = |u: &str| u.split(':').next().unwrap_or("").to_string();
        f.debug_struct("Config")
            .field("database", &scheme(self.database_url.expose()))
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("log", &self.log)
            .field("smtp", &self.smtp_url.as_ref().map(|u| scheme(u.expose())))
            .field("oidc", &self.oidc.iter().map(|o| o.key.as_str()).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

const ENV_KEYS: &[&str] = &[
    "DATABASE_URL",
    "LISTEN",
    "PUBLIC_URL",
    "LOG",
    "SMTP_URL",
    "SMTP_FROM",
    "DATABASE_MAX_CONNECTIONS",
    "LOGIN_ATTEMPTS_PER_WINDOW",
    "SCIM_REQUESTS_PER_MINUTE",
    "METRICS_TOKEN",
    "DNS_RESOLVER",
    "DOMAIN_RECHECK_SECS",
    "TRUSTED_PROXIES",
    "ALLOW_PRIVATE_METADATA_URLS",
    "FORWARD_AUTH_RULES",
    "GOOGLE_CLIENT_ID",
    "GOOGLE_CLIENT_SECRET",
    "GOOGLE_ISSUER",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "SLACK_ISSUER",
    "OFFICE365_CLIENT_ID",
    "OFFICE365_CLIENT_SECRET",
    "OFFICE365_ISSUER",
];
/// Secrets that may come from a file named by `<KEY>_FILE`.
const FILE_KEYS: &[&str] = &["DATABASE_URL", "SMTP_URL", "METRICS_TOKEN", "GOOGLE_CLIENT_SECRET", "SLACK_CLIENT_SECRET", "OFFICE365_CLIENT_SECRET"];
/// Prefixes of `GATEHOUSE_*` variables that belong to other parts (tests, benchmarks).
const OTHER_PREFIXES: &[&str] = &["TEST_", "BENCH_", "E2E_"];

impl Config {
    /// Loads from `file` (if given) and the process environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Self::load_from(file, &env)
    }

    pub fn load_from(file: Option<&Path>, env: &BTreeMap<String, String>) -> anyhow::Result<Self> {
        let mut fc = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("reading config file {}", p.display()))?;
                toml::from_str::<FileConfig>(&text).with_context(|| format!("in config file {}", p.display()))?
            }
            None => FileConfig::default(),
        };
        for (k, v) in env {
            let Some(key) = k.strip_prefix("GATEHOUSE_") else { continue };
            if OTHER_PREFIXES.iter().any(|p| key.starts_with(p)) {
                continue;
            }
            let (base, from_file) = match key.strip_suffix("_FILE") {
                Some(b) if FILE_KEYS.contains(&b) => (b, true),
                _ => (key, false),
            };
            if !ENV_KEYS.contains(&base) {
                bail!("unknown setting {k}: known are {}", ENV_KEYS.iter().map(|k| format!("GATEHOUSE_{k}")).collect::<Vec<_>>().join(", "));
            }
            let value = if from_file { std::fs::read_to_string(v).with_context(|| format!("reading {k}={v}"))?.trim().to_string() } else { v.clone() };
            match base {
                "DATABASE_URL" => fc.database_url = Some(Secret::new(value)),
                "LISTEN" => fc.listen = Some(value),
                "PUBLIC_URL" => fc.public_url = Some(value),
                "LOG" => fc.log = Some(value),
                "SMTP_URL" => fc.smtp_url = Some(Secret::new(value)),
                "SMTP_FROM" => fc.smtp_from = Some(value),
                "DATABASE_MAX_CONNECTIONS" => fc.database_max_connections = Some(value.parse().with_context(|| format!("{k} must be a number"))?),
                "LOGIN_ATTEMPTS_PER_WINDOW" => fc.login_attempts_per_window = Some(value.parse().with_context(|| format!("{k} must be a number"))?),
                "SCIM_REQUESTS_PER_MINUTE" => fc.scim_requests_per_minute = Some(value.parse().with_context(|| format!("{k} must be a number"))?),
                "API_REQUESTS_PER_MINUTE" => fc.api_requests_per_minute = Some(value.parse().with_context(|| format!("{k} must be a number"))?),
                "MAX_RESOURCES_PER_WORKSPACE" => fc.max_resources_per_workspace = Some(value.parse().with_context(|| format!("{k} must be a number"))?),
                "METRICS_TOKEN" => fc.metrics_token = Some(Secret::new(value)),
                "DNS_RESOLVER" => fc.dns_resolver = Some(value),
                "TRUSTED_PROXIES" => fc.trusted_proxies = Some(value),
                "FORWARD_AUTH_RULES" => fc.forward_auth_rules = Some(value),
                "ALLOW_PRIVATE_METADATA_URLS" => {
                    fc.allow_private_metadata_urls = Some(match value.as_str() {
                        "true" | "1" => true,
                        "false" | "0" | "" => false,
                        _ => bail!("{k} must be true or false"),
                    })
                }
                "DOMAIN_RECHECK_SECS" => fc.domain_recheck_secs = Some(value.parse().with_context(|| format!("{k} must be a number of seconds"))?),
                "GOOGLE_CLIENT_ID" => fc.google_client_id = Some(value),
                "GOOGLE_CLIENT_SECRET" => fc.google_client_secret = Some(Secret::new(value)),
                "GOOGLE_ISSUER" => fc.google_issuer = Some(value),
                "SLACK_CLIENT_ID" => fc.slack_client_id = Some(value),
                "SLACK_CLIENT_SECRET" => fc.slack_client_secret = Some(Secret::new(value)),
                "SLACK_ISSUER" => fc.slack_issuer = Some(value),
                "OFFICE365_CLIENT_ID" => fc.office365_client_id = Some(value),
                "OFFICE365_CLIENT_SECRET" => fc.office365_client_secret = Some(Secret::new(value)),
                "OFFICE365_ISSUER" => fc.office365_issuer = Some(value),
                _ => {}
            }
        }
        let listen = fc.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let public_url = fc.public_url.unwrap_or_else(|| format!("http://{listen}")).trim_end_matches('/').to_string();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            bail!("GATEHOUSE_PUBLIC_URL must start with http:// or https:// (got {public_url})");
        }
        let mut oidc = Vec::new();
        for (key, id, secret, issuer) in [
            ("google", fc.google_client_id, fc.google_client_secret, fc.google_issuer),
            ("slack", fc.slack_client_id, fc.slack_client_secret, fc.slack_issuer),
            ("office365", fc.office365_client_id, fc.office365_client_secret, fc.office365_issuer),
        ] {
            match (id.filter(|s| !s.is_empty()), secret.filter(|s| !s.is_empty())) {
                (Some(client_id), Some(client_secret)) => {
                    if let Some(i) = &issuer {
                        if !(i.starts_with("https://") || i.starts_with("http://127.0.0.1") || i.starts_with("http://localhost")) {
                            bail!("the {key} issuer must be an https:// URL (got {i})");
                        }
                    }
                    oidc.push(OidcConfig { key: key.into(), client_id, client_secret, issuer })
                }
                (None, None) => {}
                _ => bail!("{key}: set both GATEHOUSE_{}_CLIENT_ID and GATEHOUSE_{}_CLIENT_SECRET (or _FILE)", key.to_uppercase(), key.to_uppercase()),
            }
        }
        Ok(Config {
            oidc,
            database_url: fc.database_url.unwrap_or_else(|| Secret::new(DEFAULT_DATABASE_URL)),
            listen,
            public_url,
            log: fc.log.filter(|l| !l.trim().is_empty()),
            smtp_url: fc.smtp_url,
            smtp_from: fc.smtp_from.unwrap_or_else(|| "Gatehouse <gatehouse@localhost>".to_string()),
            database_max_connections: fc.database_max_connections.unwrap_or(10).max(1),
            login_attempts_per_window: fc.login_attempts_per_window.unwrap_or(10).max(1),
            // Entra asks for at least 25 requests a second per tenant; this allows 100.
            scim_requests_per_minute: fc.scim_requests_per_minute.unwrap_or(6000).max(1),
            api_requests_per_minute: fc.api_requests_per_minute.unwrap_or(6000).max(1),
            max_resources_per_workspace: fc.max_resources_per_workspace.unwrap_or(250_000).max(1),
            dns_resolver: match fc.dns_resolver.as_deref().map(str::trim).filter(|s| !s.is_empty() && *s != "system") {
                None => None,
                Some(s) => Some(app::server::dns::parse_server(s).map_err(|e| anyhow::anyhow!("GATEHOUSE_DNS_RESOLVER: {e}"))?),
            },
            domain_recheck_secs: fc.domain_recheck_secs.unwrap_or(3600).max(60),
            allow_private_metadata_urls: fc.allow_private_metadata_urls.unwrap_or(false),
            forward_auth: app::server::forward_auth::Rules::parse(fc.forward_auth_rules.as_deref().unwrap_or(""))
                .map_err(|e| anyhow::anyhow!("GATEHOUSE_FORWARD_AUTH_RULES: {e}"))?,
            trusted_proxies: app::server::config::parse_proxies(fc.trusted_proxies.as_deref().unwrap_or(""))
                .map_err(|e| anyhow::anyhow!("GATEHOUSE_TRUSTED_PROXIES: {e}"))?,
            metrics_token: match fc.metrics_token.filter(|t| !t.is_empty()) {
                Some(t) if t.expose().len() < 16 => bail!("GATEHOUSE_METRICS_TOKEN must be at least 16 characters"),
                t => t,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults() {
        let c = Config::load_from(None, &env(&[])).expect("config");
        assert_eq!(c.listen, "127.0.0.1:3000");
        assert_eq!(c.public_url, "http://127.0.0.1:3000");
        assert_eq!(c.database_url.expose(), DEFAULT_DATABASE_URL);
    }

    #[test]
    fn env_overrides_file_and_unknown_keys_fail() {
        let dir = std::env::temp_dir().join(format!("gh-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("c.toml");
        std::fs::write(&f, "listen = \"0.0.0.0:8080\"\npublic_url = \"https://gh.example.com/\"\n").expect("write");
        let c = Config::load_from(Some(&f), &env(&[("GATEHOUSE_LISTEN", "127.0.0.1:9"), ("GATEHOUSE_TEST_POSTGRES_URL", "x")])).expect("config");
        assert_eq!(c.listen, "127.0.0.1:9");
        assert_eq!(c.public_url, "https://gh.example.com");

        let err = Config::load_from(None, &env(&[("GATEHOUSE_LISTN", "x")])).expect_err("must fail");
        assert!(err.to_string().contains("unknown setting GATEHOUSE_LISTN"), "{err}");

        std::fs::write(&f, "lisen = \"x\"\n").expect("write");
        let err = Config::load_from(Some(&f), &env(&[])).expect_err("must fail");
        assert!(format!("{err:#}").contains("unknown field `lisen`"), "{err:#}");

        let secret = dir.join("db");
        std::fs::write(&secret, "postgres://u:p@h/db\n").expect("write");
        let c = Config::load_from(None, &env(&[("GATEHOUSE_DATABASE_URL_FILE", secret.to_str().expect("utf8"))])).expect("config");
        assert_eq!(c.database_url.expose(), "postgres://u:p@h/db");
        assert!(!format!("{c:?}").contains("u:p"));

        // OIDC: both halves or nothing; secrets from files; never printed.
        std::fs::write(&secret, "s3cret\n").expect("write");
        let c =
            Config::load_from(None, &env(&[("GATEHOUSE_GOOGLE_CLIENT_ID", "gid"), ("GATEHOUSE_GOOGLE_CLIENT_SECRET_FILE", secret.to_str().expect("utf8"))]))
                .expect("config");
        assert_eq!(c.oidc.len(), 1);
        assert_eq!((c.oidc[0].key.as_str(), c.oidc[0].client_secret.expose(), c.oidc[0].issuer.as_deref()), ("google", "s3cret", None));
        assert!(!format!("{c:?}").contains("s3cret"));
        let err = Config::load_from(None, &env(&[("GATEHOUSE_SLACK_CLIENT_ID", "x")])).expect_err("half configured");
        assert!(err.to_string().contains("GATEHOUSE_SLACK_CLIENT_SECRET"), "{err}");
        let err = Config::load_from(
            None,
            &env(&[("GATEHOUSE_OFFICE365_CLIENT_ID", "x"), ("GATEHOUSE_OFFICE365_CLIENT_SECRET", "y"), ("GATEHOUSE_OFFICE365_ISSUER", "http://evil.example")]),
        )
        .expect_err("http issuer");
        assert!(err.to_string().contains("https"), "{err}");
    }
}
