//! What the domain reads of the server's configuration at run time: a plain value the
//! server builds once at start (from the environment, see the server crate's `config`)
//! and every domain function takes by reference. It depends on no domain module, so any
//! of them can read it.
use super::crypto::Secret;

/// Settings the domain needs at run time (a subset of the server's configuration).
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// External base URL without trailing slash, e.g. `https://gatehouse.example.com`.
    pub public_url: String,
    /// Password sign-in attempts allowed per account and per IP in a 15-minute window.
    pub login_attempts_per_window: i64,
    /// SCIM requests allowed per token per minute; beyond it, 429 with `Retry-After`.
    pub scim_requests_per_minute: i64,
    /// `/v1` requests allowed per API key per minute; beyond it, 429 with `Retry-After`.
    pub api_requests_per_minute: i64,
    /// Resources (collections and connections) one workspace may hold: a bound on what
    /// one workspace's admin or API key can make the shared database carry.
    pub max_resources_per_workspace: u64,
    /// Sends invite mail when SMTP is configured.
    pub mailer: Option<super::mail::Mailer>,
    /// OIDC providers (`google`, `slack`, `office365`) with credentials on this server.
    pub oidc: Vec<OidcProvider>,
    /// Bearer token for `GET /metrics`; without it the endpoint is off.
    pub metrics_token: Option<super::crypto::Secret>,
    /// Where domain verification looks up TXT records.
    pub dns: super::dns::Dns,
    /// How often each claimed domain is checked again (seconds).
    pub domain_recheck_secs: i64,
    /// Proxies whose `X-Forwarded-For`/`Forwarded` are believed (load balancers).
    pub trusted_proxies: Vec<Cidr>,
    /// Metadata URLs may resolve to private and loopback addresses (labs only).
    pub allow_private_metadata_urls: bool,
    /// How `/forward-auth` reads the product's URIs (none: it answers 404 to everything).
    pub forward_auth: super::forward_auth::rules::Rules,
    /// The wait before a failed webhook delivery's first retry (each later one waits four
    /// times longer, at most six hours).
    pub webhook_retry_secs: i64,
    /// The longest a webhook receiver may take to answer.
    pub webhook_timeout_secs: u64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            public_url: "http://127.0.0.1:3000".into(),
            login_attempts_per_window: 10,
            scim_requests_per_minute: 6000,
            api_requests_per_minute: 6000,
            max_resources_per_workspace: 250_000,
            mailer: None,
            oidc: vec![],
            metrics_token: None,
            dns: super::dns::Dns::default(),
            domain_recheck_secs: 3600,
            trusted_proxies: vec![],
            allow_private_metadata_urls: false,
            forward_auth: super::forward_auth::rules::Rules::default(),
            webhook_retry_secs: 30,
            webhook_timeout_secs: 10,
        }
    }
}

impl RuntimeConfig {
    pub fn oidc_provider(&self, key: &str) -> Option<&OidcProvider> {
        self.oidc.iter().find(|p| p.key == key)
    }

    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// One provider configured by the operator.
#[derive(Clone, Debug)]
pub struct OidcProvider {
    /// `google`, `slack` or `office365`.
    pub key: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub issuer: String,
}

impl OidcProvider {
    /// `issuer` defaults to the real provider.
    pub fn new(key: &str, client_id: &str, client_secret: impl Into<Secret>, issuer: Option<&str>) -> Self {
        let default = match key {
            "google" => "https://accounts.google.com",
            "slack" => "https://slack.com",
            _ => "https://login.microsoftonline.com/organizations/v2.0",
        };
        OidcProvider {
            key: key.to_string(),
            client_id: client_id.to_string(),
            client_secret: client_secret.into(),
            issuer: issuer.unwrap_or(default).trim_end_matches('/').to_string(),
        }
    }
    pub fn label(&self) -> &'static str {
        crate::model::method_label(&self.key)
    }
}

/// An IP network (`10.0.0.0/8`, `2001:db8::/32`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: std::net::IpAddr,
    len: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (ip, len) = match s.split_once('/') {
            Some((ip, len)) => (ip, Some(len)),
            None => (s, None),
        };
        let net: std::net::IpAddr = ip.parse().map_err(|_| format!("“{s}” is not an IP network like 10.0.0.0/8"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(l) => l.parse::<u8>().ok().filter(|l| *l <= max).ok_or_else(|| format!("“{s}”: the prefix length must be 0–{max}"))?,
            None => max,
        };
        Ok(Cidr { net, len })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.len == 0 { 0 } else { u32::MAX << (32 - self.len) };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.len == 0 { 0 } else { u128::MAX << (128 - self.len) };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// `GATEHOUSE_TRUSTED_PROXIES`: networks separated by commas or spaces.
pub fn parse_proxies(s: &str) -> Result<Vec<Cidr>, String> {
    s.split([',', ' ']).map(str::trim).filter(|p| !p.is_empty()).map(Cidr::parse).collect()
}
