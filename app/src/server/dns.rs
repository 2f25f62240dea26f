//! TXT lookups for domain verification, through hickory-resolver: the system's resolvers
//! (`/etc/resolv.conf`) by default, or the one server `GATEHOUSE_DNS_RESOLVER` names (air-
//! gapped sites, tests). Every lookup is fresh (no cache: a record just published or just
//! removed must count at once) and bounded in time, so an unreachable or silent server is
//! a clear error, never a hang.
use std::net::SocketAddr;
use std::time::Duration;

/// Time allowed per attempt; two attempts per lookup.
pub const TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone, Debug, Default)]
pub struct Dns {
    /// `None`: the system's resolvers.
    server: Option<SocketAddr>,
}

/// `ip` or `ip:port` (port 53 by default).
pub fn parse_server(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    s.parse::<std::net::IpAddr>().map(|ip| SocketAddr::new(ip, 53)).map_err(|_| format!("“{s}” is not an IP address or IP:port (or “system”)"))
}

impl Dns {
    pub fn new(server: Option<SocketAddr>) -> Self {
        Dns { server }
    }

    /// The TXT strings at `name` (each record's character-strings joined, as RFC 7208
    /// reads them); empty when the name or its TXT records don't exist. Err: the lookup
    /// itself failed (timeout, unreachable, SERVFAIL), so nothing can be concluded.
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, String> {
        use hickory_resolver::config::{NameServerConfig, ResolverConfig};
        use hickory_resolver::net::runtime::TokioRuntimeProvider;
        use hickory_resolver::proto::rr::RData;
        use hickory_resolver::Resolver;

        let mut builder = match self.server {
            Some(addr) => {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for c in &mut ns.connections {
                    c.port = addr.port();
                }
                Resolver::builder_with_config(ResolverConfig::from_parts(None, vec![], vec![ns]), TokioRuntimeProvider::default())
            }
            None => Resolver::builder_tokio().map_err(|e| {
                tracing::error!(error = %e, "the system's DNS configuration can't be read");
                "this server's DNS configuration can't be read (the operator's log says why)".to_string()
            })?,
        };
        let opts = builder.options_mut();
        opts.timeout = TIMEOUT;
        opts.attempts = 2;
        opts.cache_size = 0;
        let resolver = builder.build().map_err(|e| {
            tracing::error!(error = %e, "the DNS resolver can't start");
            "this server's DNS resolver can't start (the operator's log says why)".to_string()
        })?;
        // A fully qualified name: no search domains appended.
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        // The resolver's own timeouts should end it; this bounds it whatever happens.
        let limit = TIMEOUT * 3;
        let looked = match tokio::time::timeout(limit, resolver.txt_lookup(fqdn.as_str())).await {
            Ok(r) => r,
            Err(_) => return Err(format!("no answer from the DNS server within {} s", limit.as_secs())),
        };
        match looked {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(txt) => Some(txt.txt_data.iter().map(|part| String::from_utf8_lossy(part)).collect::<String>()),
                    _ => None,
                })
                .collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(vec![]),
            // The resolver's own text can name internal servers and addresses: it goes to
            // the operator's log, the admin who asked reads what happened in our words.
            Err(e) => {
                tracing::warn!(name, error = %e, "TXT lookup failed");
                Err("the DNS server could not answer (it failed or refused the query)".to_string())
            }
        }
    }
}
