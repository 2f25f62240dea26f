//! The operator's description of the product's URIs (`GATEHOUSE_FORWARD_AUTH_RULES`): which
//! path names which workspace and resource, and what level a request needs. Pure: no
//! database, so configuration and the sign-in redirect can use it without the access
//! rules behind it.
use crate::model::Level;

/// What one path segment of a rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Literal(String),
    Workspace,
    /// A resource by its id; `Some(kind)` also requires that kind.
    Resource(Option<&'static str>),
    /// Any one segment.
    Any,
    /// Any rest of the path, including nothing (only last).
    Rest,
}

/// The access level a rule asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// `view` for reading methods (GET, HEAD, exactly so spelled), `edit` for every other.
    ByMethod,
    Fixed(Level),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    segs: Vec<Seg>,
    need: Need,
}

/// The operator's rules, in order; the first match decides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules(Vec<Rule>);

/// Where a request is going, as the rules read its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub workspace: String,
    /// The resource's id and the kind the rule requires (if any).
    pub resource: Option<(i64, Option<&'static str>)>,
    pub need: Level,
}

impl Rules {
    /// Rules separated by `;` or new lines; each is a path pattern, optionally followed by
    /// a space and `view` or `edit` (the level it always needs). Segments: literals,
    /// `{workspace}` (required once), `{collection}`, `{datasource}` or `{resource}` (at
    /// most one), `*` (one segment), `**` (the rest, last only).
    pub fn parse(text: &str) -> Result<Rules, String> {
        let mut rules = Vec::new();
        for raw in text.split([';', '\n']).map(str::trim).filter(|r| !r.is_empty()) {
            let (pattern, need) = match raw.split_once(char::is_whitespace) {
                Some((p, level)) => match level.trim() {
                    "view" => (p, Need::Fixed(Level::View)),
                    "edit" => (p, Need::Fixed(Level::Edit)),
                    other => return Err(format!("rule {raw:?}: the level after the pattern must be view or edit, not {other:?}")),
                },
                None => (raw, Need::ByMethod),
            };
            let Some(path) = pattern.strip_prefix('/') else {
                return Err(format!("rule {raw:?}: a pattern starts with /"));
            };
            let mut segs = Vec::new();
            for (i, s) in path.split('/').enumerate() {
                let seg = match s {
                    "{workspace}" => Seg::Workspace,
                    "{collection}" => Seg::Resource(Some("collection")),
                    "{datasource}" => Seg::Resource(Some("datasource")),
                    "{resource}" => Seg::Resource(None),
                    "*" => Seg::Any,
                    "**" if i + 1 == path.split('/').count() => Seg::Rest,
                    "**" => return Err(format!("rule {raw:?}: ** may only end a pattern")),
                    s if s.is_empty() || s.contains(['{', '}', '*', '%', '\\']) || s == "." || s == ".." => {
                        return Err(format!("rule {raw:?}: {s:?} is not a literal segment or a placeholder"))
                    }
                    s => Seg::Literal(s.to_string()),
                };
                segs.push(seg);
            }
            if segs.iter().filter(|s| **s == Seg::Workspace).count() != 1 {
                return Err(format!("rule {raw:?}: name {{workspace}} exactly once"));
            }
            if segs.iter().filter(|s| matches!(s, Seg::Resource(_))).count() > 1 {
                return Err(format!("rule {raw:?}: name at most one resource"));
            }
            rules.push(Rule { segs, need });
        }
        Ok(Rules(rules))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Where `method` `uri` (path and query, as the client sent it) is going, or `None`
    /// when no rule matches or the path isn't canonical.
    ///
    /// A rule that names a resource claims every path that matches it up to the resource's
    /// segment: if the rest doesn't fit (an id that isn't one, `9.json`, more segments), the
    /// answer is `None`, never a later, wider rule (an app that reads `9.json` as 9 would
    /// otherwise serve collection 9 under a workspace-wide rule). Literals compare without
    /// case, as some frameworks route.
    pub fn target(&self, method: &str, uri: &str) -> Option<Target> {
        let path = canonical_path(uri)?;
        let parts: Vec<&str> = path[1..].split('/').collect();
        for rule in &self.0 {
            match rule.apply(&parts) {
                Fit::Matches { workspace, resource } => {
                    let need = match rule.need {
                        Need::Fixed(l) => l,
                        Need::ByMethod if matches!(method, "GET" | "HEAD") => Level::View,
                        Need::ByMethod => Level::Edit,
                    };
                    return Some(Target { workspace, resource, need });
                }
                Fit::Claimed => return None,
                Fit::No => {}
            }
        }
        None
    }

    /// Whether a sign-in may return to `path`: a path the rules send to `slug`.
    pub fn returns_to(&self, slug: &str, path: &str) -> bool {
        self.target("GET", path).is_some_and(|t| t.workspace == slug)
    }
}

/// How a path fits one rule.
enum Fit {
    Matches {
        workspace: String,
        resource: Option<(i64, Option<&'static str>)>,
    },
    /// It matched up to the rule's resource, then didn't: no other rule may take it.
    Claimed,
    No,
}

impl Rule {
    fn names_resource(&self) -> bool {
        self.segs.iter().any(|s| matches!(s, Seg::Resource(_)))
    }

    fn apply(&self, parts: &[&str]) -> Fit {
        let mut workspace = None;
        let mut resource = None;
        let mut i = 0;
        // Past the resource's segment, a mismatch is the rule's refusal, not a miss.
        let miss = |resource: &Option<(i64, Option<&'static str>)>| if resource.is_some() { Fit::Claimed } else { Fit::No };
        for seg in &self.segs {
            if *seg == Seg::Rest {
                i = parts.len();
                break;
            }
            let Some(part) = parts.get(i) else { return miss(&resource) };
            match seg {
                Seg::Literal(l) if part.eq_ignore_ascii_case(l) => {}
                // A look-alike of a literal in a rule that names a resource (escapes,
                // non-ASCII, a trailing dot or space, as long as the literal once decoded):
                // some frameworks fold it to the literal (Unicode case, NFKC, Windows), so it
                // is refused here rather than left to a wider rule.
                Seg::Literal(l) if self.names_resource() && looks_like(part, l) => return Fit::Claimed,
                Seg::Workspace => match crate::server::directory::validate_slug(part).ok().filter(|s| s == part) {
                    Some(s) => workspace = Some(s),
                    None => return miss(&resource),
                },
                // A trailing slash where the id would be is the list, not a resource: a miss.
                Seg::Resource(_) if part.is_empty() && i + 1 == parts.len() => return Fit::No,
                Seg::Resource(kind) => match part.parse::<i64>().ok().filter(|id| *id > 0 && part.bytes().all(|b| b.is_ascii_digit())) {
                    Some(id) => resource = Some((id, *kind)),
                    None => return Fit::Claimed,
                },
                Seg::Any => {}
                _ => return miss(&resource),
            }
            i += 1;
        }
        match workspace {
            Some(workspace) if i == parts.len() => Fit::Matches { workspace, resource },
            _ => miss(&resource),
        }
    }
}

/// Whether `part`, not plainly the literal `l`, could be folded into it by someone: it has
/// escapes, non-ASCII or a trailing dot or space, and decoded and trimmed it is as long as
/// `l` (`collectionſ`, `%EF%BD%83ollections`, `collections.`; not `Sales%20Dashboards`).
fn looks_like(part: &str, l: &str) -> bool {
    if !(part.contains('%') || !part.is_ascii() || part.ends_with(['.', ' '])) {
        return false;
    }
    let mut bytes = Vec::with_capacity(part.len());
    let raw = part.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        match (raw[i], raw.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                bytes.push(b);
                i += 3;
            }
            (b, _) => {
                bytes.push(b);
                i += 1;
            }
        }
    }
    let decoded = String::from_utf8_lossy(&bytes);
    decoded.trim_end_matches(['.', ' ']).chars().count() == l.chars().count()
}

/// The path of `uri` when it is canonical, so that every proxy and framework reads it as
/// we do: starts with `/` (not `//`), at most 2 KB, no dot segments, no empty segment but
/// a trailing one, no `;` (matrix parameters, `..;`), no backslash or control character,
/// and no percent-escape of a character that needs none or of `/`, `\`, `;`, `%` or a
/// control character (`%63ollections`, `%39`, `%2e%2e`, `%2F`).
pub fn canonical_path(uri: &str) -> Option<&str> {
    // Browsers never send a fragment; a raw `#` in a request target is an attempt to hide
    // the rest of the path from us (some servers keep it in the path they route).
    if uri.contains('#') {
        return None;
    }
    let path = uri.split('?').next().unwrap_or("");
    if !path.starts_with('/') || path.starts_with("//") || path.len() > 2048 {
        return None;
    }
    if path.contains(['\\', ';']) || path.chars().any(|c| c.is_control()) {
        return None;
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len() - 1;
    if segments.iter().enumerate().any(|(i, s)| *s == "." || *s == ".." || (s.is_empty() && i != last)) {
        return None;
    }
    let bytes = path.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok())?;
            let needless = hex.is_ascii_alphanumeric() || b"-._~".contains(&hex);
            if needless || b"/\\;%".contains(&hex) || hex < 0x20 || hex == 0x7f {
                return None;
            }
        }
    }
    Some(path)
}

/// The longest way back (`?next=`) a sign-in is sent with.
pub const NEXT_MAX: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules::parse("/app/{workspace}/collections/{collection}/**; /app/{workspace}/connections/{datasource}/query view\n/app/{workspace}/**").expect("rules")
    }

    #[test]
    fn the_first_matching_rule_names_workspace_resource_and_level() {
        let r = rules();
        let t = r.target("GET", "/app/acme/collections/7/charts?x=1").expect("match");
        assert_eq!(t, Target { workspace: "acme".into(), resource: Some((7, Some("collection"))), need: Level::View });
        assert_eq!(r.target("POST", "/app/acme/collections/7").expect("match").need, Level::Edit);
        assert_eq!(r.target("POST", "/app/acme/connections/3/query").expect("match").need, Level::View, "fixed level");
        assert_eq!(r.target("GET", "/app/acme").expect("match").resource, None);
        for none in ["/other/acme", "/app", "/app/", "/app/Not_A_Slug/x", "/app/ACME/x", "app/acme", "", "/app/acme/collections/0", "/app/acme/collections/+7"]
        {
            assert_eq!(r.target("GET", none), None, "{none}");
        }
        assert!(r.target("GET", "/other/acme").is_none());
    }

    #[test]
    fn paths_that_a_proxy_could_read_differently_match_nothing() {
        let r = rules();
        for bad in [
            "/app/acme/collections/7/../../beta/collections/9",
            "/app/acme/./collections/7",
            "/app/acme/collections/7%2F..%2F9",
            "/app/acme/collections/%2e%2e/9",
            "/app/acme/collections/7\\..\\9",
            "/app/acme/collections/7%5c9",
            "/app/acme/collections/7%00",
            "/app/acme/%63ollections/7",
            "/app/acme/collections/%37",
            "/app/acme/collections/7;x=1",
            "/app/acme/collections/7/..;/..;/..;/beta/collections/9",
            "/app/acme//collections/7",
            "/app/acme/collections//7",
            "//app/acme/collections/7",
            "/app/acme/collections/7%",
            "/app/acme/collections/7%zz",
            "/app/acme/collections/7.json",
            "/app/acme/collections/99999999999999999999",
            "/app/acme/collections/7/x/../../9",
            "/app/acme/collections/7#/../../../beta/collections/9",
            "/app/acme/collection%C5%BF/7",
            "/app/acme/%EF%BD%83ollections/7",
            "/app/acme/collections./7",
        ] {
            assert_eq!(r.target("GET", bad), None, "{bad}");
        }
    }

    #[test]
    fn a_resource_rule_keeps_what_it_claims_and_case_doesnt_dodge_it() {
        let r = rules();
        // Not a number where the collection's id goes: refused, not the workspace-wide rule.
        assert_eq!(r.target("GET", "/app/acme/collections/x7"), None);
        assert_eq!(r.target("GET", "/app/acme/connections/3/query/more"), None);
        // Literals compare without case, so the resource is still checked.
        assert_eq!(r.target("GET", "/app/acme/Collections/7").expect("match").resource, Some((7, Some("collection"))));
        // Encoded characters that need no encoding elsewhere in the path are fine.
        assert!(r.target("GET", "/app/acme/collections/7/My%20Chart%C3%A9").is_some());
        // ...and a product page whose segment merely has escapes goes to the wider rule.
        assert!(r.target("GET", "/app/acme/Sales%20Dashboards/q3").is_some());
        assert!(r.target("GET", "/app/acme/collections/7/").is_some(), "a trailing slash");
        // The list of collections (no id) is the workspace-wide rule's, with or without a
        // trailing slash.
        assert_eq!(r.target("GET", "/app/acme/collections/").expect("list").resource, None);
        assert_eq!(r.target("GET", "/app/acme/collections").expect("list").resource, None);
        // Only GET and HEAD, so spelled, are reads.
        for write in ["OPTIONS", "get", "POST", "PATCH"] {
            assert_eq!(r.target(write, "/app/acme/collections/7").expect("match").need, Level::Edit, "{write}");
        }
    }

    #[test]
    fn bad_rules_are_refused_with_the_reason() {
        for (bad, why) in [
            ("app/{workspace}", "starts with /"),
            ("/app/**/x/{workspace}", "may only end"),
            ("/app/{collection}", "{workspace} exactly once"),
            ("/{workspace}/{collection}/{datasource}", "at most one resource"),
            ("/app/{workspace} admin", "view or edit"),
            ("/app/{workspace}/../x", "not a literal"),
            ("/app/{workspace}/{other}", "not a literal"),
        ] {
            let e = Rules::parse(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(Rules::parse("").expect("empty").is_empty());
    }

    #[test]
    fn sign_in_returns_only_to_paths_the_rules_give_that_workspace() {
        let r = rules();
        assert!(r.returns_to("acme", "/app/acme/collections/7"));
        assert!(!r.returns_to("beta", "/app/acme/collections/7"));
        assert!(!r.returns_to("acme", "/elsewhere"));
        assert!(!r.returns_to("acme", "//evil.test/app/acme"));
        assert!(!r.returns_to("acme", "https://evil.test/app/acme"));
    }
}
