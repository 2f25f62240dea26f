//! How a SCIM document is cut to what the client asked for: `attributes` and
//! `excludedAttributes` (RFC 7644 §3.4.2.5), and absent values dropped.
use serde_json::{json, Map, Value};

use super::schema::{self, Resource};
use super::Query;

/// `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5). `id` and `schemas` always stay;
/// names that don't exist for this type are ignored (a root search spans types).
pub fn project(doc: Value, r: &Resource, q: &Query) -> Value {
    if q.attributes.is_empty() && q.excluded_attributes.is_empty() {
        return doc;
    }
    let urns = r.schema_urns();
    let paths = |list: &[String]| -> Vec<(Option<&'static str>, String, Option<String>)> {
        list.iter()
            .filter_map(|t| super::filter::parse_path_with_schemas(t, &urns).ok())
            .filter(|p| p.filter.is_none())
            .filter_map(|p| {
                if p.attr.name.is_empty() {
                    // A whole extension.
                    return r.extension(p.attr.urn.as_deref().unwrap_or("")).map(|(u, _)| (Some(u), String::new(), None));
                }
                let res = r.resolve(p.attr.urn.as_deref(), &p.attr.name)?;
                if matches!(res.attr.returned, schema::Returned::Always) {
                    return None;
                }
                Some((res.extension, res.attr.name.clone(), p.attr.sub.clone()))
            })
            .collect()
    };
    let Value::Object(src) = doc else { return doc };
    let container = |o: &Map<String, Value>, ext: Option<&str>| -> Option<Map<String, Value>> {
        match ext {
            None => Some(o.clone()),
            Some(u) => o.iter().find(|(k, _)| k.eq_ignore_ascii_case(u)).and_then(|(_, v)| v.as_object().cloned()),
        }
    };
    let mut out;
    if !q.attributes.is_empty() {
        out = Map::new();
        for key in ["schemas", "id", "meta"] {
            if let Some(v) = src.get(key) {
                out.insert(key.to_string(), v.clone());
            }
        }
        for (ext, name, sub) in paths(&q.attributes) {
            let Some(from) = container(&src, ext) else { continue };
            let picked: Option<Value> = if name.is_empty() {
                Some(Value::Object(from.clone()))
            } else {
                let Some(v) = from.iter().find(|(k, _)| k.eq_ignore_ascii_case(&name)).map(|(_, v)| v.clone()) else { continue };
                match (&sub, v) {
                    (None, v) => Some(v),
                    (Some(s), Value::Object(o)) => o.iter().find(|(k, _)| k.eq_ignore_ascii_case(s)).map(|(k, v)| json!({ k.clone(): v.clone() })),
                    (Some(s), Value::Array(items)) => Some(Value::Array(
                        items
                            .iter()
                            .filter_map(|i| i.as_object())
                            .filter_map(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(s)).map(|(k, v)| json!({ k.clone(): v.clone() })))
                            .collect(),
                    )),
                    (Some(_), _) => None,
                }
            };
            let Some(picked) = picked else { continue };
            let target = match ext {
                None => &mut out,
                Some(u) => match out.entry(u.to_string()).or_insert_with(|| Value::Object(Map::new())).as_object_mut() {
                    Some(m) => m,
                    None => continue,
                },
            };
            if name.is_empty() {
                if let (Some(ext_name), Value::Object(o)) = (ext, picked) {
                    let _ = ext_name;
                    target.extend(o);
                }
            } else {
                match (target.get_mut(&name), picked) {
                    (Some(Value::Object(existing)), Value::Object(add)) => existing.extend(add),
                    (_, picked) => {
                        target.insert(name.clone(), picked);
                    }
                }
            }
        }
    } else {
        out = src.clone();
    }
    for (ext, name, sub) in paths(&q.excluded_attributes) {
        let target = match ext {
            None => Some(&mut out),
            Some(u) => {
                if name.is_empty() {
                    out.retain(|k, _| !k.eq_ignore_ascii_case(u));
                    continue;
                }
                out.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(u)).and_then(|(_, v)| v.as_object_mut())
            }
        };
        let Some(target) = target else { continue };
        match sub {
            None => target.retain(|k, _| !k.eq_ignore_ascii_case(&name)),
            Some(s) => match target.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(&name)).map(|(_, v)| v) {
                Some(Value::Object(o)) => o.retain(|k, _| !k.eq_ignore_ascii_case(&s)),
                Some(Value::Array(items)) => items.iter_mut().filter_map(Value::as_object_mut).for_each(|o| o.retain(|k, _| !k.eq_ignore_ascii_case(&s))),
                _ => {}
            },
        }
    }
    let mut v = Value::Object(out);
    prune(&mut v);
    // `schemas` names only the extensions still present.
    if let Some(o) = v.as_object_mut() {
        let present: Vec<Value> = std::iter::once(json!(r.schema)).chain(r.extensions.iter().filter(|u| o.contains_key(**u)).map(|u| json!(u))).collect();
        o.insert("schemas".into(), Value::Array(present));
    }
    v
}

/// Drops nulls and empty objects/arrays: "removed" reads as absent, never as `{}`.
pub fn prune(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for child in o.values_mut() {
                prune(child);
            }
            o.retain(|_, c| !(c.is_null() || c.as_object().is_some_and(Map::is_empty) || c.as_array().is_some_and(Vec::is_empty)));
        }
        Value::Array(a) => {
            for child in a.iter_mut() {
                prune(child);
            }
            a.retain(|c| !(c.is_null() || c.as_object().is_some_and(Map::is_empty)));
        }
        _ => {}
    }
}
