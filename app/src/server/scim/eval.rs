//! Filters checked against the schema, then evaluated against resource documents.
//!
//! Checking first means an unknown attribute or an operator that makes no sense for a type
//! (`active gt true`, `name eq "x"`) is a 400 `invalidFilter` even when nothing would have
//! matched: a filter is never silently wrong. String comparisons follow each attribute's
//! `caseExact` (so `userName` is case-insensitive, `externalId` is not); a comparison on a
//! multi-valued attribute matches when any value does.
use serde_json::Value;

use super::filter::{AttrPath, CompareOp, Filter, Value as Literal};
use super::schema::{Attr, Resource, Type};
use super::ScimError;

/// Where a path is resolved: a resource's root, or one element of a complex multi-valued
/// attribute (inside `emails[...]`).
#[derive(Clone, Copy)]
enum Scope<'r> {
    Root(&'r Resource),
    Element(&'static Attr),
}

/// A resolved path: the top attribute, where it lives, and the leaf that is compared.
#[derive(Clone, Copy)]
struct Target {
    extension: Option<&'static str>,
    top: &'static Attr,
    leaf: &'static Attr,
    /// The sub-attribute read inside `top` (explicit, or `value` implied).
    sub: Option<&'static Attr>,
}

fn bad(msg: impl Into<String>) -> ScimError {
    ScimError::invalid_filter(msg)
}

fn path_text(p: &AttrPath) -> String {
    let mut s = String::new();
    if let Some(u) = &p.urn {
        s.push_str(u);
        s.push(':');
    }
    s.push_str(&p.name);
    if let Some(sub) = &p.sub {
        s.push('.');
        s.push_str(sub);
    }
    s
}

fn resolve(scope: Scope<'_>, p: &AttrPath) -> Result<Target, ScimError> {
    let (extension, top) = match scope {
        Scope::Root(r) => {
            let res = r.resolve(p.urn.as_deref(), &p.name).ok_or_else(|| bad(format!("unknown attribute “{}” for {}", path_text(p), r.name)))?;
            (res.extension, res.attr)
        }
        Scope::Element(parent) => {
            if p.urn.is_some() || p.sub.is_some() {
                return Err(bad(format!("inside {}[…] name a sub-attribute of {} (got “{}”)", parent.name, parent.name, path_text(p))));
            }
            let sub = parent.sub_attr(&p.name).ok_or_else(|| bad(format!("{} has no sub-attribute “{}”", parent.name, p.name)))?;
            return Ok(Target { extension: None, top: sub, leaf: sub, sub: None });
        }
    };
    match (&p.sub, top.ty) {
        (Some(s), Type::Complex) => {
            let sub = top.sub_attr(s).ok_or_else(|| bad(format!("{} has no sub-attribute “{s}”", top.name)))?;
            Ok(Target { extension, top, leaf: sub, sub: Some(sub) })
        }
        (Some(s), _) => Err(bad(format!("{} has no sub-attributes (got “{}.{s}”)", top.name, top.name))),
        (None, Type::Complex) => match top.sub_attr("value") {
            // RFC 7644 §3.4.2.2: a filter on a multi-valued complex attribute without a
            // sub-attribute compares its `value`.
            Some(v) if top.multi => Ok(Target { extension, top, leaf: v, sub: Some(v) }),
            _ => Err(bad(format!(
                "{} is complex; filter on one of its sub-attributes (e.g. {}.{})",
                top.name,
                top.name,
                top.sub.first().map(|s| s.name.as_str()).unwrap_or("value")
            ))),
        },
        (None, _) => Ok(Target { extension, top, leaf: top, sub: None }),
    }
}

fn check_compare(t: &Target, op: CompareOp, v: &Literal, p: &AttrPath) -> Result<(), ScimError> {
    use CompareOp::*;
    let name = path_text(p);
    if matches!(v, Literal::Null) {
        return if matches!(op, Eq | Ne) { Ok(()) } else { Err(bad(format!("only eq and ne compare with null ({name})"))) };
    }
    match t.leaf.ty {
        Type::String | Type::Reference | Type::Binary => match v {
            Literal::Str(_) => Ok(()),
            _ => Err(bad(format!("{name} is a string; compare it with a quoted value"))),
        },
        Type::Boolean => match (op, v) {
            (Eq | Ne, Literal::Bool(_)) => Ok(()),
            (Eq | Ne, _) => Err(bad(format!("{name} is a boolean; compare it with true or false"))),
            _ => Err(bad(format!("{name} is a boolean; only eq, ne and pr apply"))),
        },
        Type::Integer | Type::Decimal => match (op, v) {
            (Co | Sw | Ew, _) => Err(bad(format!("{name} is a number; co, sw and ew apply to strings"))),
            (_, Literal::Num(_)) => Ok(()),
            _ => Err(bad(format!("{name} is a number; compare it with a number"))),
        },
        Type::DateTime => match (op, v) {
            (Co | Sw | Ew, _) => Err(bad(format!("{name} is a dateTime; co, sw and ew apply to strings"))),
            (_, Literal::Str(s)) if parse_time(s).is_some() => Ok(()),
            _ => Err(bad(format!("{name} is a dateTime; compare it with a quoted RFC 3339 time like \"2026-01-31T12:00:00Z\""))),
        },
        Type::Complex => Err(bad(format!("{name} is complex; filter on a sub-attribute"))),
    }
}

fn validate_in(f: &Filter, scope: Scope<'_>, depth: usize) -> Result<(), ScimError> {
    match f {
        Filter::Compare(p, op, v) => {
            let t = resolve(scope, p)?;
            check_compare(&t, *op, v, p)
        }
        Filter::Present(p) => resolve(scope, p).map(|_| ()),
        Filter::And(a, b) | Filter::Or(a, b) => {
            validate_in(a, scope, depth)?;
            validate_in(b, scope, depth)
        }
        Filter::Not(a) => validate_in(a, scope, depth),
        Filter::ValuePath(p, inner) => {
            if depth > 0 {
                return Err(bad("value filters can't be nested"));
            }
            let Scope::Root(r) = scope else { return Err(bad("value filters can't be nested")) };
            if p.sub.is_some() {
                return Err(bad(format!("“{}[…]” names a sub-attribute before the bracket", path_text(p))));
            }
            let res = r.resolve(p.urn.as_deref(), &p.name).ok_or_else(|| bad(format!("unknown attribute “{}” for {}", path_text(p), r.name)))?;
            if res.attr.ty != Type::Complex || !res.attr.multi {
                let what = if res.attr.ty == Type::Complex { "single-valued complex attribute" } else { type_word(res.attr.ty) };
                return Err(bad(format!("{}[…] needs a multi-valued complex attribute; {} is a {what}", res.attr.name, res.attr.name)));
            }
            validate_in(inner, Scope::Element(res.attr), depth + 1)
        }
    }
}

fn type_word(t: Type) -> &'static str {
    match t {
        Type::String => "string",
        Type::Boolean => "boolean",
        Type::Decimal => "decimal",
        Type::Integer => "integer",
        Type::DateTime => "dateTime",
        Type::Reference => "reference",
        Type::Binary => "binary",
        Type::Complex => "complex attribute",
    }
}

/// Checks a parsed filter against a resource type's schema.
pub fn validate(f: &Filter, r: &Resource) -> Result<(), ScimError> {
    validate_in(f, Scope::Root(r), 0)
}

/// Parses and checks a filter in one step.
pub fn compile(text: &str, r: &Resource) -> Result<Filter, ScimError> {
    let urns = r.schema_urns();
    let f = super::filter::parse_filter_with_schemas(text, &urns).map_err(|e| bad(format!("the filter is not valid: {e}")))?;
    validate(&f, r)?;
    Ok(f)
}

/// Case-insensitive key lookup (attribute names are case-insensitive, RFC 7643 §2.1).
pub fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let o = v.as_object()?;
    o.get(key).or_else(|| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// The values a target reads from a document (flattened; nulls dropped).
fn values<'d>(t: &Target, doc: &'d Value) -> Vec<&'d Value> {
    let container = match t.extension {
        None => Some(doc),
        Some(urn) => get_ci(doc, urn),
    };
    let Some(top) = container.and_then(|c| get_ci(c, &t.top.name)) else { return vec![] };
    let mut out = Vec::new();
    let mut push = |v: &'d Value| match v {
        Value::Null => {}
        Value::Array(items) => out.extend(items.iter().filter(|i| !i.is_null())),
        other => out.push(other),
    };
    match (top, t.sub) {
        (Value::Array(items), Some(sub)) => items.iter().filter_map(|i| get_ci(i, &sub.name)).for_each(&mut push),
        (Value::Array(items), None) => items.iter().for_each(&mut push),
        (obj @ Value::Object(_), Some(sub)) => {
            if let Some(v) = get_ci(obj, &sub.name) {
                push(v)
            }
        }
        (other, _) => push(other),
    }
    out
}

fn parse_time(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis())
}

fn literal_number(v: &Literal) -> Option<f64> {
    match v {
        Literal::Num(n) => n.to_string().parse().ok(),
        _ => None,
    }
}

fn compare_one(leaf: &Attr, op: CompareOp, lit: &Literal, actual: &Value) -> bool {
    use std::cmp::Ordering;
    use CompareOp::*;
    let ord_ok = |o: Ordering| match op {
        Eq => o == Ordering::Equal,
        Ne => o != Ordering::Equal,
        Gt => o == Ordering::Greater,
        Ge => o != Ordering::Less,
        Lt => o == Ordering::Less,
        Le => o != Ordering::Greater,
        Co | Sw | Ew => false,
    };
    match leaf.ty {
        Type::String | Type::Reference | Type::Binary => {
            let (Some(a), Literal::Str(b)) = (actual.as_str(), lit) else { return false };
            let (a, b) = if leaf.case_exact { (a.to_string(), b.clone()) } else { (a.to_lowercase(), b.to_lowercase()) };
            match op {
                Co => a.contains(&b),
                Sw => a.starts_with(&b),
                Ew => a.ends_with(&b),
                _ => ord_ok(a.cmp(&b)),
            }
        }
        Type::Boolean => match (actual.as_bool(), lit) {
            (Some(a), Literal::Bool(b)) => ord_ok(a.cmp(b)),
            _ => false,
        },
        Type::Integer | Type::Decimal => match (actual.as_f64(), literal_number(lit)) {
            (Some(a), Some(b)) => a.partial_cmp(&b).is_some_and(ord_ok),
            _ => false,
        },
        Type::DateTime => match (actual.as_str().and_then(parse_time), lit) {
            (Some(a), Literal::Str(b)) => parse_time(b).is_some_and(|b| ord_ok(a.cmp(&b))),
            _ => false,
        },
        Type::Complex => false,
    }
}

fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn eval(f: &Filter, scope: Scope<'_>, doc: &Value) -> bool {
    match f {
        Filter::Compare(p, op, lit) => {
            let Ok(t) = resolve(scope, p) else { return false };
            let vals = values(&t, doc);
            match (op, lit) {
                (CompareOp::Eq, Literal::Null) => !vals.iter().any(|v| present(v)),
                (CompareOp::Ne, Literal::Null) => vals.iter().any(|v| present(v)),
                // ne is "not eq": true when no value equals (absent included).
                (CompareOp::Ne, _) => !vals.iter().any(|v| compare_one(t.leaf, CompareOp::Eq, lit, v)),
                _ => vals.iter().any(|v| compare_one(t.leaf, *op, lit, v)),
            }
        }
        Filter::Present(p) => resolve(scope, p).map(|t| values(&t, doc).iter().any(|v| present(v))).unwrap_or(false),
        Filter::And(a, b) => eval(a, scope, doc) && eval(b, scope, doc),
        Filter::Or(a, b) => eval(a, scope, doc) || eval(b, scope, doc),
        Filter::Not(a) => !eval(a, scope, doc),
        Filter::ValuePath(p, inner) => {
            let Scope::Root(r) = scope else { return false };
            let Some(res) = r.resolve(p.urn.as_deref(), &p.name) else { return false };
            let container = match res.extension {
                None => Some(doc),
                Some(urn) => get_ci(doc, urn),
            };
            match container.and_then(|c| get_ci(c, &res.attr.name)) {
                Some(Value::Array(items)) => items.iter().any(|item| eval(inner, Scope::Element(res.attr), item)),
                Some(obj @ Value::Object(_)) => eval(inner, Scope::Element(res.attr), obj),
                _ => false,
            }
        }
    }
}

/// Does `doc` match? (`f` must have passed [`validate`] for `r`.)
pub fn matches(f: &Filter, r: &Resource, doc: &Value) -> bool {
    eval(f, Scope::Root(r), doc)
}

/// Does one element of a multi-valued complex attribute match a value filter (PATCH
/// paths such as `members[value eq "7"]`)? The filter must have passed
/// [`validate_element`].
pub fn element_matches(f: &Filter, parent: &'static Attr, element: &Value) -> bool {
    eval(f, Scope::Element(parent), element)
}

pub fn validate_element(f: &Filter, parent: &'static Attr) -> Result<(), ScimError> {
    validate_in(f, Scope::Element(parent), 1)
}

/// For the database: if the filter is (or is a conjunction containing) `attr eq "v"` on one
/// of `indexed`, return that attribute's name and value. The full filter is still evaluated
/// on what the narrowed query returns, so this only ever speeds things up.
pub fn indexed_eq<'f>(f: &'f Filter, indexed: &[&str]) -> Option<(&'static str, &'f str)> {
    match f {
        Filter::Compare(p, CompareOp::Eq, Literal::Str(v)) if p.sub.is_none() => {
            indexed.iter().find(|n| n.eq_ignore_ascii_case(&p.name)).map(|n| (canonical_name(n), v.as_str()))
        }
        Filter::And(a, b) => indexed_eq(a, indexed).or_else(|| indexed_eq(b, indexed)),
        _ => None,
    }
}

fn canonical_name(n: &str) -> &'static str {
    ["userName", "externalId", "displayName", "id"].into_iter().find(|c| c.eq_ignore_ascii_case(n)).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::super::schema::{group, user};
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "42",
            "externalId": "Ext-1",
            "userName": "Bjensen@Example.com",
            "name": { "givenName": "Barbara", "familyName": "Jensen" },
            "active": true,
            "emails": [
                { "value": "bjensen@example.com", "type": "work", "primary": true },
                { "value": "babs@home.example", "type": "home" }
            ],
            "urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User": { "role": "admin" },
            "meta": { "created": "2026-01-02T03:04:05Z", "lastModified": "2026-02-01T00:00:00Z" }
        })
    }

    fn m(text: &str) -> bool {
        let f = compile(text, user()).unwrap_or_else(|e| panic!("{text}: {}", e.detail));
        matches(&f, user(), &doc())
    }

    #[test]
    fn case_rules_follow_the_schema() {
        assert!(m(r#"userName eq "bjensen@example.com""#), "userName is caseExact false");
        assert!(m(r#"USERNAME Eq "BJENSEN@EXAMPLE.COM""#));
        assert!(m(r#"externalId eq "Ext-1""#));
        assert!(!m(r#"externalId eq "ext-1""#), "externalId is caseExact");
        assert!(m(r#"id eq "42""#));
    }

    #[test]
    fn operators_and_logic() {
        assert!(m(r#"userName sw "bjen" and userName ew ".COM" and userName co "@ex""#));
        assert!(m(r#"name.familyName eq "jensen" or userName eq "nobody""#));
        assert!(!m(r#"not (userName pr)"#));
        assert!(m(r#"active eq true and not (active eq false)"#));
        assert!(m(r#"meta.created lt "2026-01-03T00:00:00Z" and meta.lastModified ge "2026-02-01T00:00:00+00:00""#));
        assert!(m(r#"userName ne "someone""#));
        assert!(m(r#"displayName ne "x""#), "ne matches an absent attribute");
        assert!(m(r#"displayName eq null"#) && !m(r#"displayName pr"#));
    }

    #[test]
    fn multi_valued_and_value_paths() {
        assert!(m(r#"emails eq "babs@home.example""#), "implied .value");
        assert!(m(r#"emails.value co "@home""#));
        assert!(m(r#"emails[type eq "work" and value co "@example.com"]"#));
        assert!(!m(r#"emails[type eq "home" and value co "@example.com"]"#), "both conditions on the same element");
        assert!(m(r#"emails[primary eq true]"#));
        assert!(m(r#"urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User:role eq "ADMIN""#));
        assert!(m(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "b""#));
    }

    #[test]
    fn nonsense_is_invalid_filter_not_a_silent_miss() {
        for text in [
            r#"shoeSize eq "x""#,
            r#"name eq "x""#,
            r#"active gt true"#,
            r#"active eq "true""#,
            r#"userName eq 5"#,
            r#"meta.created co "2026""#,
            r#"meta.created gt "yesterday""#,
            r#"emails[nope eq "x"]"#,
            r#"userName.value eq "x""#,
            r#"name[givenName eq "x"]"#,
            r#"userName gt null"#,
        ] {
            let e = compile(text, user()).err().unwrap_or_else(|| panic!("{text} accepted"));
            assert_eq!((e.status, e.scim_type), (400, Some("invalidFilter")), "{text}");
        }
        assert!(compile(r#"members[value eq "1"]"#, group()).is_ok());
        assert!(compile(r#"userName eq "x""#, group()).is_err());
    }

    #[test]
    fn indexed_equality_is_found_only_where_it_narrows() {
        let f = compile(r#"userName eq "A" and active eq true"#, user()).expect("valid");
        assert_eq!(indexed_eq(&f, &["userName", "externalId"]), Some(("userName", "A")));
        let f = compile(r#"userName eq "A" or active eq true"#, user()).expect("valid");
        assert_eq!(indexed_eq(&f, &["userName"]), None, "an or can't narrow");
    }
}
