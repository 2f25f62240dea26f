//! Prometheus metrics of this process (each process exposes its own; Prometheus adds them
//! up). Counters and histograms live in one registry behind a mutex: a few increments per
//! request, never on a hot loop. Label values come from our own code (method names,
//! check names, status codes, route templates), never from request input, so the number
//! of series stays bounded.
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, OnceLock};

/// What each metric is, for `# HELP` / `# TYPE`.
const METRICS: &[(&str, &str, &str)] = &[
    ("gatehouse_sign_ins_total", "counter", "Sign-in attempts by method (password, saml, oidc, google, slack, office365) and outcome."),
    ("gatehouse_saml_rejections_total", "counter", "SAML responses refused, by the check that failed."),
    ("gatehouse_oidc_rejections_total", "counter", "Answers of workspaces' OpenID Connect connections refused, by the check that failed."),
    ("gatehouse_scim_requests_total", "counter", "SCIM requests by operation and HTTP status."),
    ("gatehouse_http_request_duration_seconds", "histogram", "HTTP request latency by method, route template and status class."),
    ("gatehouse_db_pool_connections", "gauge", "Database pool connections by state (in_use, idle, max)."),
    ("gatehouse_live_streams", "gauge", "Open live-update streams in this process."),
];

/// Histogram buckets, seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

type Labels = Vec<(&'static str, String)>;

/// A gauge computed at scrape time: name, labels, value.
pub type Gauge<'a> = (&'static str, &'a [(&'static str, &'a str)], f64);

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Registry {
    counters: BTreeMap<(&'static str, Labels), u64>,
    histograms: BTreeMap<(&'static str, Labels), Histogram>,
}

fn registry() -> &'static Mutex<Registry> {
    static R: OnceLock<Mutex<Registry>> = OnceLock::new();
    R.get_or_init(Mutex::default)
}

fn labels(l: &[(&'static str, &str)]) -> Labels {
    l.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

pub fn inc(name: &'static str, l: &[(&'static str, &str)]) {
    if let Ok(mut r) = registry().lock() {
        *r.counters.entry((name, labels(l))).or_insert(0) += 1;
    }
}

pub fn observe(name: &'static str, l: &[(&'static str, &str)], seconds: f64) {
    if let Ok(mut r) = registry().lock() {
        let h = r.histograms.entry((name, labels(l))).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }
}

/// A sign-in attempt's outcome (`ok`, `refused`, `throttled`, …).
pub fn sign_in(method: &str, outcome: &str) {
    // One series per protocol, not per provider (ids are the workspaces').
    let method = if method.starts_with("saml") {
        "saml"
    } else if method.starts_with("oidc:") {
        "oidc"
    } else {
        method
    };
    inc("gatehouse_sign_ins_total", &[("method", method), ("outcome", outcome)]);
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn label_text(l: &[(&'static str, String)], extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = l.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// The text exposition format (version 0.0.4). `gauges` are computed by the caller at
/// scrape time (pool use, open streams).
pub fn render(gauges: &[Gauge<'_>]) -> String {
    let mut out = String::new();
    let Ok(r) = registry().lock() else {
        return out;
    };
    for (name, kind, help) in METRICS {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        match *kind {
            "counter" => {
                for ((n, l), v) in r.counters.iter().filter(|((n, _), _)| n == name) {
                    let _ = writeln!(out, "{n}{} {v}", label_text(l, None));
                }
            }
            "histogram" => {
                for ((n, l), h) in r.histograms.iter().filter(|((n, _), _)| n == name) {
                    for (i, b) in BUCKETS.iter().enumerate() {
                        let _ = writeln!(out, "{n}_bucket{} {}", label_text(l, Some(("le", b.to_string()))), h.counts[i]);
                    }
                    let _ = writeln!(out, "{n}_bucket{} {}", label_text(l, Some(("le", "+Inf".into()))), h.count);
                    let _ = writeln!(out, "{n}_sum{} {}", label_text(l, None), h.sum);
                    let _ = writeln!(out, "{n}_count{} {}", label_text(l, None), h.count);
                }
            }
            _ => {
                for (n, l, v) in gauges.iter().filter(|(n, _, _)| n == name) {
                    let _ = writeln!(out, "{n}{} {v}", label_text(&labels(l), None));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_histograms_and_gauges_render_in_the_text_format() {
        inc("gatehouse_scim_requests_total", &[("operation", "test-op"), ("status", "201")]);
        inc("gatehouse_scim_requests_total", &[("operation", "test-op"), ("status", "201")]);
        observe("gatehouse_http_request_duration_seconds", &[("method", "TEST"), ("route", "/x"), ("status", "2xx")], 0.003);
        let text = render(&[("gatehouse_db_pool_connections", &[("state", "max")], 10.0)]);
        assert!(text.contains("gatehouse_scim_requests_total{operation=\"test-op\",status=\"201\"} 2"), "{text}");
        assert!(text.contains("gatehouse_http_request_duration_seconds_bucket{method=\"TEST\",route=\"/x\",status=\"2xx\",le=\"0.0025\"} 0"), "{text}");
        assert!(text.contains("gatehouse_http_request_duration_seconds_bucket{method=\"TEST\",route=\"/x\",status=\"2xx\",le=\"0.005\"} 1"), "{text}");
        assert!(text.contains("gatehouse_http_request_duration_seconds_count{method=\"TEST\",route=\"/x\",status=\"2xx\"} 1"), "{text}");
        assert!(text.contains("gatehouse_db_pool_connections{state=\"max\"} 10"), "{text}");
        assert!(text.contains("# TYPE gatehouse_sign_ins_total counter"));
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
