//! PATCH (RFC 7644 §3.5.2) applied to a resource document in memory. The caller then
//! validates the result exactly like a PUT body and writes it in one transaction, so a
//! request applies completely or not at all. Groups' `members` never come through here:
//! their operations touch only the rows they name (see `groups`).
//!
//! What Okta and Entra send is covered: op names in any case, path-less `replace` with
//! nested objects, extension URNs or dotted keys (`"name.givenName"`), value-filtered paths
//! with a sub-attribute (`emails[type eq "work"].value`, created when no element matches
//! an equality filter, as Entra expects), and string booleans (checked later).
use serde_json::{Map, Value};

use super::eval::{element_matches, get_ci, validate_element};
use super::filter::{parse_path_with_schemas, AttrPath, CompareOp, Filter, PatchPath, Value as Literal};
use super::schema::{Attr, Mutability, Resource, Type};
use super::{ScimError, URN_PATCH};

/// Most values one multi-valued attribute may hold, and the largest value one operation
/// may carry: PATCH works on a copy in memory, so its growth is bounded per operation
/// (a sub-attribute set on every element copies the value into each).
pub const MAX_VALUES: usize = 100;
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Remove,
    Replace,
}

#[derive(Debug, Clone)]
pub struct Op {
    pub kind: OpKind,
    pub path: Option<PatchPath>,
    pub path_text: Option<String>,
    pub value: Option<Value>,
}

/// Reads and checks a PatchOp body.
pub fn parse_ops(body: &Value, r: &Resource) -> Result<Vec<Op>, ScimError> {
    let obj = body.as_object().ok_or_else(|| ScimError::invalid_syntax("the body must be a JSON object"))?;
    let schema_ok =
        obj.get("schemas").and_then(Value::as_array).is_some_and(|s| s.iter().any(|v| v.as_str().is_some_and(|u| u.eq_ignore_ascii_case(URN_PATCH))));
    if !schema_ok {
        return Err(ScimError::invalid_syntax(format!("a PATCH body must name the schema {URN_PATCH}")));
    }
    let ops = get_ci(body, "Operations").and_then(Value::as_array).ok_or_else(|| ScimError::invalid_syntax("a PATCH body needs an Operations array"))?;
    if ops.is_empty() {
        return Err(ScimError::invalid_syntax("Operations is empty"));
    }
    if ops.len() > 1000 {
        return Err(ScimError::too_many("at most 1000 operations per request"));
    }
    let urns = r.schema_urns();
    ops.iter()
        .enumerate()
        .map(|(i, o)| {
            let n = i + 1;
            let kind = match get_ci(o, "op").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
                Some("add") => OpKind::Add,
                Some("remove") => OpKind::Remove,
                Some("replace") => OpKind::Replace,
                Some(other) => {
                    return Err(ScimError::invalid_syntax(format!("operation {n}: unknown op “{}” (add, remove or replace)", super::clip(other, 40))))
                }
                None => return Err(ScimError::invalid_syntax(format!("operation {n}: op is missing"))),
            };
            let path_text = match get_ci(o, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.trim().is_empty() => None,
                Some(Value::String(s)) => Some(s.trim().to_string()),
                Some(_) => return Err(ScimError::invalid_path(format!("operation {n}: path must be a string"))),
            };
            let path = match &path_text {
                None => None,
                Some(t) => Some(
                    parse_path_with_schemas(t, &urns)
                        .map_err(|e| ScimError::invalid_path(format!("operation {n}: the path “{}” is not valid: {e}", super::clip(t, 80))))?,
                ),
            };
            let explicit_null = get_ci(o, "value").is_some_and(Value::is_null);
            let value = get_ci(o, "value").cloned().filter(|v| !v.is_null());
            // A null value unassigns (RFC 7643 §2.5: null and unassigned are the same
            // state), so add or replace of null at a path is a remove of that path.
            let kind = if explicit_null && path.is_some() && kind != OpKind::Remove { OpKind::Remove } else { kind };
            if value.as_ref().is_some_and(|v| v.to_string().len() > MAX_VALUE_BYTES) {
                return Err(ScimError::too_many(format!("operation {n}: the value is larger than {} KiB", MAX_VALUE_BYTES / 1024)));
            }
            match (kind, &path, &value) {
                (OpKind::Remove, None, _) => Err(ScimError::no_target(format!("operation {n}: remove needs a path"))),
                (OpKind::Add | OpKind::Replace, _, None) => {
                    Err(ScimError::invalid_value(format!("operation {n}: {} needs a value", if kind == OpKind::Add { "add" } else { "replace" })))
                }
                (_, None, Some(v)) if !v.is_object() => {
                    Err(ScimError::invalid_value(format!("operation {n}: without a path the value must be an object of attributes")))
                }
                _ => Ok(Op { kind, path, path_text, value }),
            }
        })
        .collect()
}

/// Where a path's top attribute lives in the document.
struct Located {
    extension: Option<&'static str>,
    attr: &'static Attr,
}

fn locate(r: &Resource, p: &AttrPath, shown: &str) -> Result<Located, ScimError> {
    if p.name.is_empty() {
        return Err(ScimError::invalid_path(format!("“{shown}” names a schema, not an attribute")));
    }
    let res = r.resolve(p.urn.as_deref(), &p.name).ok_or_else(|| ScimError::invalid_path(format!("{} has no attribute “{shown}”", r.name)))?;
    if matches!(res.attr.mutability, Mutability::ReadOnly) {
        return Err(ScimError::mutability(format!("{} is read-only", res.attr.name)));
    }
    Ok(Located { extension: res.extension, attr: res.attr })
}

/// The object an attribute lives in (the document or an extension's object), created for
/// writes.
fn container<'d>(doc: &'d mut Value, extension: Option<&str>, create: bool) -> Option<&'d mut Map<String, Value>> {
    let root = doc.as_object_mut()?;
    match extension {
        None => Some(root),
        Some(urn) => {
            let key = root.keys().find(|k| k.eq_ignore_ascii_case(urn)).cloned();
            let key = match key {
                Some(k) => k,
                None if create => {
                    root.insert(urn.to_string(), Value::Object(Map::new()));
                    urn.to_string()
                }
                None => return None,
            };
            root.get_mut(&key).and_then(Value::as_object_mut)
        }
    }
}

/// Removes a key case-insensitively and returns the value.
fn take_ci(m: &mut Map<String, Value>, key: &str) -> Option<Value> {
    let k = m.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()?;
    m.remove(&k)
}

fn get_mut_ci<'m>(m: &'m mut Map<String, Value>, key: &str) -> Option<&'m mut Value> {
    let k = m.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()?;
    m.get_mut(&k)
}

/// Sets a key, replacing any spelling of it.
fn put_ci(m: &mut Map<String, Value>, key: &str, v: Value) {
    take_ci(m, key);
    m.insert(key.to_string(), v);
}

fn as_list(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        other => vec![other],
    }
}

/// Merges `src`'s keys into `dst` (sub-attributes of a single complex attribute).
fn merge(dst: &mut Value, src: Value) -> Result<(), ScimError> {
    let Value::Object(src) = src else { return Err(ScimError::invalid_value("expected an object of sub-attributes")) };
    if !dst.is_object() {
        *dst = Value::Object(Map::new());
    }
    if let Some(d) = dst.as_object_mut() {
        for (k, v) in src {
            put_ci(d, &k, v);
        }
    }
    Ok(())
}

/// Only one element of a multi-valued attribute may be primary: the newest one wins.
fn one_primary(list: &mut [Value]) {
    let last = list.iter().rposition(|e| get_ci(e, "primary").and_then(Value::as_bool) == Some(true));
    if let Some(keep) = last {
        for (i, e) in list.iter_mut().enumerate() {
            if i != keep {
                if let Some(o) = e.as_object_mut() {
                    if take_ci(o, "primary").is_some() {
                        o.insert("primary".into(), Value::Bool(false));
                    }
                }
            }
        }
    }
}

/// Applies one operation to `doc`, refusing a result with an oversized list or document.
pub fn apply(doc: &mut Value, r: &Resource, op: &Op) -> Result<(), ScimError> {
    apply_unchecked(doc, r, op)?;
    fn longest(v: &Value) -> usize {
        match v {
            Value::Array(a) => a.len().max(a.iter().map(longest).max().unwrap_or(0)),
            Value::Object(o) => o.values().map(longest).max().unwrap_or(0),
            _ => 0,
        }
    }
    if longest(doc) > MAX_VALUES {
        return Err(ScimError::too_many(format!("a multi-valued attribute may hold at most {MAX_VALUES} values")));
    }
    if doc.to_string().len() > 4 * MAX_VALUE_BYTES {
        return Err(ScimError::too_many(format!("the resulting document is larger than {} KiB", 4 * MAX_VALUE_BYTES / 1024)));
    }
    Ok(())
}

fn apply_unchecked(doc: &mut Value, r: &Resource, op: &Op) -> Result<(), ScimError> {
    match &op.path {
        None => apply_pathless(doc, r, op.kind, op.value.clone().unwrap_or(Value::Null)),
        // The path is an extension's URN: the value holds its attributes.
        Some(p) if p.attr.name.is_empty() && p.filter.is_none() => {
            let urn = p.attr.urn.as_deref().unwrap_or("");
            let (ext, _) = r.extension(urn).ok_or_else(|| ScimError::invalid_path(format!("{} has no extension “{}”", r.name, super::clip(urn, 100))))?;
            match op.kind {
                OpKind::Remove => {
                    if let Some(root) = doc.as_object_mut() {
                        take_ci(root, ext);
                    }
                    Ok(())
                }
                _ => {
                    if op.kind == OpKind::Replace {
                        if let Some(root) = doc.as_object_mut() {
                            take_ci(root, ext);
                        }
                    }
                    let mut wrapped = Map::new();
                    wrapped.insert(ext.to_string(), op.value.clone().unwrap_or(Value::Null));
                    apply_pathless(doc, r, OpKind::Add, Value::Object(wrapped))
                }
            }
        }
        Some(p) => apply_path(doc, r, op.kind, p, op.path_text.as_deref().unwrap_or(""), op.value.clone()),
    }
}

fn apply_pathless(doc: &mut Value, r: &Resource, kind: OpKind, value: Value) -> Result<(), ScimError> {
    let Value::Object(attrs) = value else { return Err(ScimError::invalid_value("without a path the value must be an object")) };
    let urns = r.schema_urns();
    for (key, v) in attrs {
        if key.eq_ignore_ascii_case("schemas") || key.eq_ignore_ascii_case("meta") {
            continue;
        }
        if key.eq_ignore_ascii_case("id") {
            // Okta repeats the id in rename requests: fine when unchanged, refused otherwise.
            if get_ci(doc, "id").and_then(Value::as_str) != v.as_str() {
                return Err(ScimError::mutability("id can't be changed"));
            }
            continue;
        }
        // An extension's object: each of its attributes in turn.
        if let Some((urn, _)) = r.extension(&key) {
            let Value::Object(inner) = v else { return Err(ScimError::invalid_value(format!("{urn} must be an object"))) };
            for (k, iv) in inner {
                if k.eq_ignore_ascii_case("schemas") {
                    continue;
                }
                let p = PatchPath { attr: AttrPath { urn: Some(urn.to_string()), name: k.clone(), sub: None }, filter: None, sub_after_filter: None };
                apply_path(doc, r, kind, &p, &k, Some(iv))?;
            }
            continue;
        }
        let p = parse_path_with_schemas(&key, &urns).map_err(|e| ScimError::invalid_path(format!("“{}” is not an attribute: {e}", super::clip(&key, 80))))?;
        if p.filter.is_some() {
            return Err(ScimError::invalid_path(format!("“{}”: value filters belong in path", super::clip(&key, 80))));
        }
        apply_path(doc, r, kind, &p, &key, Some(v))?;
    }
    Ok(())
}

fn apply_path(doc: &mut Value, r: &Resource, kind: OpKind, p: &PatchPath, shown: &str, value: Option<Value>) -> Result<(), ScimError> {
    let loc = locate(r, &p.attr, shown)?;
    let attr = loc.attr;
    let sub_name = p.attr.sub.clone().or_else(|| p.sub_after_filter.clone());
    let sub = match &sub_name {
        None => None,
        Some(s) if attr.ty == Type::Complex => {
            let sa = attr.sub_attr(s).ok_or_else(|| ScimError::invalid_path(format!("{} has no sub-attribute “{s}”", attr.name)))?;
            if matches!(sa.mutability, Mutability::ReadOnly) {
                return Err(ScimError::mutability(format!("{}.{} is read-only", attr.name, sa.name)));
            }
            Some(sa)
        }
        Some(s) => return Err(ScimError::invalid_path(format!("{} has no sub-attributes (got “{s}”)", attr.name))),
    };
    if let Some(f) = &p.filter {
        if !(attr.ty == Type::Complex && attr.multi) {
            return Err(ScimError::invalid_path(format!("{}[…] needs a multi-valued complex attribute", attr.name)));
        }
        validate_element(f, attr).map_err(|e| ScimError::invalid_path(e.detail))?;
        return apply_filtered(doc, loc.extension, attr, f, sub, kind, value);
    }
    let Some(obj) = container(doc, loc.extension, kind != OpKind::Remove) else { return Ok(()) };
    match (kind, sub) {
        (OpKind::Remove, None) => {
            match (value, attr.multi) {
                // Entra: {"op":"Remove","path":"emails","value":[{"value":"x"}]} removes those.
                (Some(v), true) => {
                    let gone: Vec<Value> = as_list(v);
                    if let Some(Value::Array(list)) = get_mut_ci(obj, &attr.name) {
                        list.retain(|e| !gone.iter().any(|g| same_element(e, g)));
                    }
                }
                _ => {
                    take_ci(obj, &attr.name);
                }
            }
        }
        (OpKind::Remove, Some(sa)) => match get_mut_ci(obj, &attr.name) {
            Some(Value::Array(list)) => list.iter_mut().filter_map(Value::as_object_mut).for_each(|e| {
                take_ci(e, &sa.name);
            }),
            Some(Value::Object(o)) => {
                take_ci(o, &sa.name);
            }
            _ => {}
        },
        (OpKind::Add | OpKind::Replace, None) => {
            let v = value.unwrap_or(Value::Null);
            if attr.multi {
                let mut items = as_list(v);
                if items.len() > MAX_VALUES {
                    return Err(ScimError::too_many(format!("{} may hold at most {MAX_VALUES} values", attr.name)));
                }
                if kind == OpKind::Add {
                    let mut list = match take_ci(obj, &attr.name) {
                        Some(Value::Array(l)) => l,
                        _ => vec![],
                    };
                    if list.len() + items.len() > MAX_VALUES {
                        return Err(ScimError::too_many(format!("{} may hold at most {MAX_VALUES} values", attr.name)));
                    }
                    for item in items.drain(..) {
                        if !list.iter().any(|e| e == &item) {
                            list.push(item);
                        }
                    }
                    items = list;
                }
                one_primary(&mut items);
                obj.insert(attr.name.clone(), Value::Array(items));
            } else if attr.ty == Type::Complex {
                // Entra sends a reference (`manager`) as the bare id:
                // {"op":"Add","path":"…:manager","value":"<id>"}; an empty one unassigns it.
                let v = match v {
                    Value::String(id) if attr.sub_attr("value").is_some() => {
                        if id.is_empty() {
                            take_ci(obj, &attr.name);
                            return Ok(());
                        }
                        let mut m = Map::new();
                        m.insert("value".into(), Value::String(id));
                        Value::Object(m)
                    }
                    other => other,
                };
                if kind == OpKind::Replace && !v.is_object() {
                    return Err(ScimError::invalid_value(format!("{} must be an object", attr.name)));
                }
                let mut cur = take_ci(obj, &attr.name).unwrap_or(Value::Object(Map::new()));
                merge(&mut cur, v)?;
                obj.insert(attr.name.clone(), cur);
            } else {
                put_ci(obj, &attr.name, v);
            }
        }
        (OpKind::Add | OpKind::Replace, Some(sa)) => {
            let v = value.unwrap_or(Value::Null);
            match get_mut_ci(obj, &attr.name) {
                Some(Value::Array(list)) if attr.multi => {
                    if list.len() > MAX_VALUES {
                        return Err(ScimError::too_many(format!("{} holds more than {MAX_VALUES} values", attr.name)));
                    }
                    if list.is_empty() {
                        list.push(Value::Object(Map::new()));
                    }
                    for e in list.iter_mut() {
                        if let Some(o) = e.as_object_mut() {
                            put_ci(o, &sa.name, v.clone());
                        }
                    }
                }
                Some(Value::Object(o)) => put_ci(o, &sa.name, v),
                _ => {
                    let mut inner = Map::new();
                    inner.insert(sa.name.clone(), v);
                    let fresh = if attr.multi { Value::Array(vec![Value::Object(inner)]) } else { Value::Object(inner) };
                    put_ci(obj, &attr.name, fresh);
                }
            }
        }
    }
    Ok(())
}

/// Two elements of a multi-valued attribute are the same when their `value`s are (or,
/// without values, when they are equal).
fn same_element(a: &Value, b: &Value) -> bool {
    match (get_ci(a, "value"), get_ci(b, "value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// `attr eq "v"` conjunctions, to create the element a filter describes.
fn equalities(f: &Filter, out: &mut Map<String, Value>) -> bool {
    match f {
        Filter::Compare(p, CompareOp::Eq, lit) if p.urn.is_none() && p.sub.is_none() => {
            let v = match lit {
                Literal::Str(s) => Value::String(s.clone()),
                Literal::Bool(b) => Value::Bool(*b),
                _ => return false,
            };
            out.insert(p.name.clone(), v);
            true
        }
        Filter::And(a, b) => equalities(a, out) && equalities(b, out),
        _ => false,
    }
}

fn apply_filtered(
    doc: &mut Value,
    extension: Option<&str>,
    attr: &'static Attr,
    f: &Filter,
    sub: Option<&'static Attr>,
    kind: OpKind,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let Some(obj) = container(doc, extension, kind != OpKind::Remove) else {
        return if kind == OpKind::Remove { Ok(()) } else { Err(ScimError::no_target(format!("no {} element matches", attr.name))) };
    };
    let mut list = match take_ci(obj, &attr.name) {
        Some(Value::Array(l)) => l,
        Some(other) => vec![other],
        None => vec![],
    };
    let hits: Vec<usize> = list.iter().enumerate().filter(|(_, e)| element_matches(f, attr, e)).map(|(i, _)| i).collect();
    let result = (|| {
        match kind {
            OpKind::Remove => {
                match sub {
                    None => {
                        let mut i = 0;
                        list.retain(|_| {
                            let keep = !hits.contains(&i);
                            i += 1;
                            keep
                        });
                    }
                    Some(sa) => {
                        for &i in &hits {
                            if let Some(o) = list[i].as_object_mut() {
                                take_ci(o, &sa.name);
                            }
                        }
                    }
                }
                Ok(())
            }
            OpKind::Add | OpKind::Replace => {
                let v = value.clone().unwrap_or(Value::Null);
                if hits.is_empty() {
                    // Entra replaces emails[type eq "work"].value on a user without one:
                    // create the element the filter describes.
                    let mut fresh = Map::new();
                    if !equalities(f, &mut fresh) {
                        return Err(ScimError::no_target(format!("no {} element matches the filter", attr.name)));
                    }
                    let mut e = Value::Object(fresh);
                    match sub {
                        Some(sa) => {
                            if let Some(o) = e.as_object_mut() {
                                put_ci(o, &sa.name, v);
                            }
                        }
                        None => merge(&mut e, v)?,
                    }
                    list.push(e);
                } else {
                    for &i in &hits {
                        match sub {
                            Some(sa) => {
                                if let Some(o) = list[i].as_object_mut() {
                                    put_ci(o, &sa.name, v.clone());
                                }
                            }
                            None if kind == OpKind::Replace && v.is_object() => {
                                let mut fresh = Value::Object(Map::new());
                                merge(&mut fresh, v.clone())?;
                                list[i] = fresh;
                            }
                            None => merge(&mut list[i], v.clone())?,
                        }
                    }
                }
                one_primary(&mut list);
                Ok(())
            }
        }
    })();
    obj.insert(attr.name.clone(), Value::Array(list));
    result
}

#[cfg(test)]
mod tests {
    use super::super::schema;
    use super::*;
    use serde_json::json;

    fn run(doc: Value, ops: Value) -> Result<Value, ScimError> {
        let body = json!({ "schemas": [URN_PATCH], "Operations": ops });
        let ops = parse_ops(&body, schema::user())?;
        let mut d = doc;
        for op in &ops {
            apply(&mut d, schema::user(), op)?;
        }
        Ok(d)
    }

    fn user() -> Value {
        json!({ "id": "7", "userName": "a@x.com", "active": true, "name": { "givenName": "A", "familyName": "B" },
                "emails": [{ "value": "a@x.com", "type": "work", "primary": true }] })
    }

    #[test]
    fn okta_deactivation_and_entra_string_booleans_reach_active() {
        let d = run(user(), json!([{ "op": "replace", "value": { "active": false } }])).expect("okta");
        assert_eq!(d["active"], json!(false));
        let d = run(user(), json!([{ "op": "Replace", "path": "active", "value": "False" }])).expect("entra");
        assert_eq!(d["active"], json!("False"), "kept as sent; the user validator reads it");
    }

    #[test]
    fn entra_paths_with_filters_and_dotted_keys() {
        let d = run(
            user(),
            json!([
                { "op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@x.com" },
                { "op": "Add", "path": "emails[type eq \"home\"].value", "value": "home@y.com" },
                { "op": "replace", "value": { "name.givenName": "Ann", "urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User:role": "admin" } },
            ]),
        )
        .expect("entra");
        assert_eq!(d["emails"][0]["value"], "new@x.com");
        assert_eq!(d["emails"][1], json!({ "type": "home", "value": "home@y.com" }));
        assert_eq!(d["name"], json!({ "givenName": "Ann", "familyName": "B" }));
        assert_eq!(d["urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User"]["role"], "admin");
    }

    #[test]
    fn add_remove_replace_on_multi_valued_attributes() {
        let d = run(user(), json!([{ "op": "add", "path": "roles", "value": [{ "value": "admin" }] }])).expect("add");
        assert_eq!(d["roles"], json!([{ "value": "admin" }]));
        let d = run(d, json!([{ "op": "remove", "path": "roles[value eq \"admin\"]" }])).expect("remove");
        assert_eq!(d["roles"], json!([]));
        let d = run(d, json!([{ "op": "add", "path": "emails", "value": [{ "value": "z@x.com", "primary": true }] }])).expect("primary");
        assert_eq!(d["emails"][0]["primary"], json!(false), "one primary: the newest");
        let d = run(d, json!([{ "op": "remove", "path": "emails", "value": [{ "value": "a@x.com" }] }])).expect("entra remove");
        assert_eq!(d["emails"].as_array().map(Vec::len), Some(1));
        let d = run(d, json!([{ "op": "remove", "path": "name.familyName" }])).expect("sub remove");
        assert_eq!(d["name"], json!({ "givenName": "A" }));
    }

    #[test]
    fn bad_operations_get_the_right_scim_type() {
        let t = |ops: Value| run(user(), ops).err().map(|e| (e.status, e.scim_type));
        assert_eq!(t(json!([{ "op": "remove" }])), Some((400, Some("noTarget"))));
        assert_eq!(t(json!([{ "op": "move", "path": "x" }])), Some((400, Some("invalidSyntax"))));
        assert_eq!(t(json!([{ "op": "add", "path": "shoeSize", "value": "x" }])), Some((400, Some("invalidPath"))));
        assert_eq!(t(json!([{ "op": "add", "path": "emails[type eq", "value": "x" }])), Some((400, Some("invalidPath"))));
        assert_eq!(t(json!([{ "op": "replace", "path": "groups", "value": [] }])), Some((400, Some("mutability"))));
        assert_eq!(t(json!([{ "op": "replace", "path": "emails[type pr or value pr].value", "value": "x" }])), None, "matches existing");
        assert_eq!(t(json!([{ "op": "replace", "path": "emails[value co \"nope\"].value", "value": "x" }])), Some((400, Some("noTarget"))));
        assert_eq!(t(json!([{ "op": "add", "path": "userName" }])), Some((400, Some("invalidValue"))));
        assert!(parse_ops(&json!({ "Operations": [] }), schema::user()).is_err(), "schema required");
        // Growth is bounded: no list over MAX_VALUES, no value over MAX_VALUE_BYTES.
        let many: Vec<Value> = (0..=MAX_VALUES).map(|i| json!({ "value": format!("{i}@x.com") })).collect();
        assert_eq!(t(json!([{ "op": "replace", "path": "emails", "value": many }])), Some((400, Some("tooMany"))));
        let big = "x".repeat(MAX_VALUE_BYTES + 1);
        assert_eq!(t(json!([{ "op": "add", "path": "emails.display", "value": big }])), Some((400, Some("tooMany"))));
        let fifty: Vec<Value> = (0..50).map(|i| json!({ "value": format!("{i}@x.com") })).collect();
        let wide = "y".repeat(MAX_VALUE_BYTES - 100);
        assert_eq!(
            t(json!([{ "op": "replace", "path": "emails", "value": fifty }, { "op": "add", "path": "emails.display", "value": wide }])),
            Some((400, Some("tooMany"))),
            "50 copies of 64 KiB"
        );
    }
}
