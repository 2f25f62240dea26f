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
/// Every setting, once: its name here is its key in the TOML file, and upper-cased after
/// `GATEHOUSE_` its environment variable (`GATEHOUSE_<KEY>_FILE` reads the value from a
/// file). Numbers and booleans may be written as text, as environment values always are.
pub struct FileConfig {
    pub database_url: Option<Secret>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub log: Option<String>,
    pub smtp_url: Option<Secret>,
    pub smtp_from: Option<String>,
    #[serde(default, deserialize_with = "number")]
    pub database_max_connections: Option<u32>,
    #[serde(default, deserialize_with = "number")]
    pub login_attempts_per_window: Option<i64>,
    #[serde(default, deserialize_with = "number")]
    pub scim_requests_per_minute: Option<i64>,
    #[serde(default, deserialize_with = "number")]
    pub api_requests_per_minute: Option<i64>,
    #[serde(default, deserialize_with = "number")]
    pub max_resources_per_workspace: Option<u64>,
    pub metrics_token: Option<Secret>,
    pub dns_resolver: Option<String>,
    #[serde(default, deserialize_with = "number")]
    pub domain_recheck_secs: Option<i64>,
    pub trusted_proxies: Option<String>,
    #[serde(default, deserialize_with = "boolean")]
    pub allow_private_metadata_urls: Option<bool>,
    pub forward_auth_rules: Option<String>,
    #[serde(default, deserialize_with = "number")]
    pub webhook_retry_secs: Option<i64>,
    #[serde(default, deserialize_with = "number")]
    pub webhook_timeout_secs: Option<u64>,
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

/// A number from TOML as itself, or from text (`"25"`).
fn number<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr + serde::de::DeserializeOwned,
{
    value_or_text(d, "a whole number", |s| s.parse().ok())
}

/// A boolean from TOML as itself, or from text (`true`/`1`, `false`/`0`/empty).
fn boolean<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    value_or_text(d, "true or false", |s| match s {
        "true" | "1" => Some(true),
        "false" | "0" | "" => Some(false),
        _ => None,
    })
}

fn value_or_text<'de, D, T>(d: D, what: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::Error;
    match toml::Value::deserialize(d)? {
        // The value is not repeated: it may have come from a secret's file by mistake.
        toml::Value::String(s) => parse(s.trim()).map(Some).ok_or_else(|| D::Error::custom(format!("must be {what}"))),
        other => T::deserialize(other).map(Some).map_err(D::Error::custom),
    }
}

/// The settings' names, read off `FileConfig`'s own field list (so nothing else lists them).
fn setting_names() -> &'static [&'static str] {
    struct Names;
    #[derive(Debug)]
    struct Found(&'static [&'static str]);
    impl std::fmt::Display for Found {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("field names")
        }
    }
    impl std::error::Error for Found {}
    impl serde::de::Error for Found {
        fn custom<T: std::fmt::Display>(_: T) -> Self {
            Found(&[])
        }
    }
    impl<'de> serde::Deserializer<'de> for Names {
        type Error = Found;
        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
            Err(Found(&[]))
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(self, _: &'static str, fields: &'static [&'static str], _: V) -> Result<V::Value, Found> {
            Err(Found(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit unit_struct
            newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    match FileConfig::deserialize(Names) {
        Err(Found(fields)) => fields,
        Ok(_) => &[],
    }
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
    /// The wait before a failed webhook delivery's first retry.
    pub webhook_retry_secs: i64,
    /// The longest a webhook receiver may take to answer.
    pub webhook_timeout_secs: u64,
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

/// Prefixes of `GATEHOUSE_*` variables that belong to other parts (tests, benchmarks).
const OTHER_PREFIXES: &[&str] = &["TEST_", "BENCH_", "E2E_", "SOAK_"];

impl Config {
    /// Loads from `file` (if given) and the process environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Self::load_from(file, &env)
    }

    pub fn load_from(file: Option<&Path>, env: &BTreeMap<String, String>) -> anyhow::Result<Self> {
        let mut table = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("reading config file {}", p.display()))?;
                // Checked on its own first, so a mistake is reported in the file's terms.
                toml::from_str::<FileConfig>(&text).with_context(|| format!("in config file {}", p.display()))?;
                toml::from_str::<toml::Table>(&text).with_context(|| format!("in config file {}", p.display()))?
            }
            None => toml::Table::new(),
        };
        let names = setting_names();
        let known = || names.iter().map(|n| format!("GATEHOUSE_{}", n.to_uppercase())).collect::<Vec<_>>().join(", ");
        for (k, v) in env {
            let Some(key) = k.strip_prefix("GATEHOUSE_") else { continue };
            if OTHER_PREFIXES.iter().any(|p| key.starts_with(p)) {
                continue;
            }
            // Variables are upper case, as documented (`GATEHOUSE_listen` is not a setting).
            if key != key.to_uppercase() {
                bail!("unknown setting {k}: known are {}", known());
            }
            let name = key.to_lowercase();
            let (name, from_file) = match name.strip_suffix("_file") {
                Some(base) if names.contains(&base) => (base.to_string(), true),
                _ => (name, false),
            };
            if !names.contains(&name.as_str()) {
                bail!("unknown setting {k}: known are {}", known());
            }
            let value = if from_file { std::fs::read_to_string(v).with_context(|| format!("reading {k}={v}"))?.trim().to_string() } else { v.clone() };
            // Checked alone, so a bad value is reported under its variable's name.
            let alone = toml::Table::from_iter([(name.clone(), toml::Value::String(value))]);
            FileConfig::deserialize(toml::Value::Table(alone.clone())).map_err(|e| anyhow::anyhow!("{k}: {}", e.message().trim()))?;
            // The environment wins over the file.
            table.extend(alone);
        }
        let fc = FileConfig::deserialize(toml::Value::Table(table)).context("in the settings")?;
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
            webhook_retry_secs: fc.webhook_retry_secs.unwrap_or(30).clamp(1, 3600),
            webhook_timeout_secs: fc.webhook_timeout_secs.unwrap_or(10).clamp(1, 60),
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
    fn every_setting_is_read_from_the_environment_and_documented() {
        let names = setting_names();
        assert!(names.len() >= 25 && names.contains(&"api_requests_per_minute"), "{names:?}");
        // Each variable is accepted (two once were only in the file: the list drifted).
        let c = Config::load_from(None, &env(&[("GATEHOUSE_API_REQUESTS_PER_MINUTE", "7"), ("GATEHOUSE_MAX_RESOURCES_PER_WORKSPACE", "9")])).expect("config");
        assert_eq!((c.api_requests_per_minute, c.max_resources_per_workspace), (7, 9));
        let c =
            Config::load_from(None, &env(&[("GATEHOUSE_ALLOW_PRIVATE_METADATA_URLS", "1"), ("GATEHOUSE_DATABASE_MAX_CONNECTIONS", " 3 ")])).expect("config");
        assert!(c.allow_private_metadata_urls);
        assert_eq!(c.database_max_connections, 3);
        // A bad value names its variable and says what it should be.
        let err = Config::load_from(None, &env(&[("GATEHOUSE_SCIM_REQUESTS_PER_MINUTE", "lots")])).expect_err("not a number");
        assert!(err.to_string().contains("GATEHOUSE_SCIM_REQUESTS_PER_MINUTE") && err.to_string().contains("whole number"), "{err}");
        let err = Config::load_from(None, &env(&[("GATEHOUSE_ALLOW_PRIVATE_METADATA_URLS", "yes")])).expect_err("not a boolean");
        assert!(err.to_string().contains("true or false"), "{err}");
        // A mistaken value is not echoed (it may be a secret read from the wrong file).
        let err = Config::load_from(None, &env(&[("GATEHOUSE_DATABASE_MAX_CONNECTIONS", "postgres://u:hunter2@db")])).expect_err("not a number");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(Config::load_from(None, &env(&[("GATEHOUSE_listen", "127.0.0.1:9")])).is_err(), "names are upper case");
        // The README's table names every setting.
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README");
        for n in names {
            let var = format!("GATEHOUSE_{}", n.to_uppercase());
            assert!(readme.contains(&format!("`{var}`")), "README doesn't document {var}");
        }
    }

    #[test]
    fn file_numbers_may_be_numbers_or_text() {
        let dir = std::env::temp_dir().join(format!("gh-cfg-n-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("c.toml");
        std::fs::write(&f, "scim_requests_per_minute = 100\napi_requests_per_minute = \"200\"\nallow_private_metadata_urls = true\n").expect("write");
        let c = Config::load_from(Some(&f), &env(&[("GATEHOUSE_API_REQUESTS_PER_MINUTE", "300")])).expect("config");
        assert_eq!((c.scim_requests_per_minute, c.api_requests_per_minute, c.allow_private_metadata_urls), (100, 300, true));
        std::fs::write(&f, "scim_requests_per_minute = \"x\"\n").expect("write");
        let err = Config::load_from(Some(&f), &env(&[])).expect_err("bad");
        assert!(format!("{err:#}").contains("in config file"), "{err:#}");
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
