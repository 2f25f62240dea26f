//! Reading a User document a client sent: checked against the schema, with the email,
//! names, role and `active` Gatehouse acts on.

use serde_json::{json, Map, Value};

use crate::server::domains::NO_EMAIL_DOMAIN;
use crate::server::normalize_email;
use crate::server::permissions::Role;
use crate::server::scim::eval::get_ci;
use crate::server::scim::projection::prune;
use crate::server::scim::schema::{self, Attr, Mutability, Resource, Type, URN_GATEHOUSE_USER, URN_USER};
use crate::server::scim::{clip, ScimError};

/// Largest stored document (the rest of what a provider says about one user).
pub(super) const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

pub(super) fn bool_of(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        // Entra sends "True"/"False".
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Checks a value against its definition and returns what to store: read-only parts
/// dropped, Entra's string booleans made booleans, unknown sub-attributes dropped.
pub(super) fn conform(attr: &Attr, v: &Value, path: &str) -> Result<Option<Value>, ScimError> {
    if v.is_null() {
        return Ok(None);
    }
    if attr.multi {
        let items: Vec<Value> = match v {
            Value::Array(a) => a.clone(),
            // A single value where a list is expected: taken as a list of one.
            other => vec![other.clone()],
        };
        let mut out = Vec::new();
        for item in &items {
            if let Some(x) = conform_one(attr, item, path)? {
                out.push(x);
            }
        }
        if attr.ty == Type::Complex && out.iter().filter(|e| get_ci(e, "primary").and_then(Value::as_bool) == Some(true)).count() > 1 {
            return Err(ScimError::invalid_value(format!("{path}: only one value may be primary")));
        }
        return Ok(Some(Value::Array(out)));
    }
    conform_one(attr, v, path)
}

pub(super) fn conform_one(attr: &Attr, v: &Value, path: &str) -> Result<Option<Value>, ScimError> {
    let wrong = |what: &str| ScimError::invalid_value(format!("{path} must be {what}"));
    Ok(Some(match attr.ty {
        Type::String | Type::Reference | Type::Binary | Type::DateTime => match v {
            Value::String(s) if s.len() <= 4096 => v.clone(),
            Value::String(_) => return Err(ScimError::invalid_value(format!("{path} is too long (4096 bytes at most)"))),
            _ => return Err(wrong("a string")),
        },
        Type::Boolean => Value::Bool(bool_of(v).ok_or_else(|| wrong("true or false"))?),
        Type::Integer => match v.as_i64() {
            Some(n) => json!(n),
            None => return Err(wrong("an integer")),
        },
        Type::Decimal => match v {
            Value::Number(_) => v.clone(),
            _ => return Err(wrong("a number")),
        },
        Type::Complex => {
            let Value::Object(o) = v else { return Err(wrong("an object")) };
            let mut out = Map::new();
            for (k, sv) in o {
                let Some(sub) = attr.sub_attr(k) else { continue };
                if matches!(sub.mutability, Mutability::ReadOnly) {
                    continue;
                }
                if let Some(x) = conform(sub, sv, &format!("{path}.{}", sub.name))? {
                    out.insert(sub.name.clone(), x);
                }
            }
            Value::Object(out)
        }
    }))
}

/// What a full User document (POST, PUT, or a PATCH's result) says.
#[derive(Debug, Clone)]
pub struct Input {
    pub user_name: String,
    pub external_id: Option<String>,
    pub active: bool,
    /// `None`: the document has no email (the account keeps a placeholder until one comes).
    pub email: Option<(String, String)>,
    pub given_name: String,
    pub family_name: String,
    pub full_name: String,
    /// `Some` when the document says anything about roles.
    pub role: Option<Role>,
    /// The stored part (no userName, externalId, password, read-only attributes; `active`
    /// only as a record that the provider set it).
    pub rest: Map<String, Value>,
}

pub(super) fn text_field(v: &Value, name: &str, max: usize) -> Result<String, ScimError> {
    let s = v.as_str().ok_or_else(|| ScimError::invalid_value(format!("{name} must be a string")))?;
    if s.trim().is_empty() {
        return Err(ScimError::invalid_value(format!("{name} must not be empty")));
    }
    if s.len() > max || s.chars().any(char::is_control) {
        return Err(ScimError::invalid_value(format!("{name} must be at most {max} bytes without control characters")));
    }
    Ok(s.to_string())
}

pub fn read(body: &Value, require_schema: bool) -> Result<Input, ScimError> {
    let r: &Resource = schema::user();
    let obj = body.as_object().ok_or_else(|| ScimError::invalid_syntax("the body must be a JSON object"))?;
    if require_schema {
        let ok = obj.get("schemas").and_then(Value::as_array).is_some_and(|s| s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(URN_USER))));
        if !ok {
            return Err(ScimError::invalid_syntax(format!("schemas must include {URN_USER}")));
        }
    }
    let mut user_name = None;
    let mut external_id = None;
    let mut active = true;
    let mut rest = Map::new();
    for (k, v) in obj {
        let key = k.as_str();
        if ["schemas", "id", "meta", "password"].iter().any(|x| x.eq_ignore_ascii_case(key)) {
            continue;
        }
        if key.eq_ignore_ascii_case("userName") {
            user_name = Some(text_field(v, "userName", 256)?);
        } else if key.eq_ignore_ascii_case("externalId") {
            external_id = if v.is_null() { None } else { Some(text_field(v, "externalId", 256)?) };
        } else if key.eq_ignore_ascii_case("active") {
            if !v.is_null() {
                active = bool_of(v).ok_or_else(|| ScimError::invalid_value("active must be true or false"))?;
                rest.insert("active".into(), json!(active));
            }
        } else if let Some((urn, attrs)) = r.extension(key) {
            if v.is_null() {
                continue;
            }
            let Value::Object(inner) = v else { return Err(ScimError::invalid_value(format!("{urn} must be an object"))) };
            let mut out = Map::new();
            for (ik, iv) in inner {
                let Some(attr) = attrs.iter().find(|a| a.name.eq_ignore_ascii_case(ik)) else { continue };
                if matches!(attr.mutability, Mutability::ReadOnly) {
                    continue;
                }
                if let Some(x) = conform(attr, iv, &format!("{urn}:{}", attr.name))? {
                    out.insert(attr.name.clone(), x);
                }
            }
            rest.insert(urn.to_string(), Value::Object(out));
        } else if let Some(res) = r.resolve(None, key) {
            let attr = res.attr;
            // Read-only (groups) and Gatehouse-owned attributes are ignored on input.
            if matches!(attr.mutability, Mutability::ReadOnly) || attr.name == "password" {
                continue;
            }
            if let Some(x) = conform(attr, v, &attr.name)? {
                rest.insert(attr.name.clone(), x);
            }
        }
        // Attributes we don't serve are ignored (Entra sends many by default).
    }
    let mut pruned = Value::Object(rest);
    prune(&mut pruned);
    let rest = match pruned {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    if Value::Object(rest.clone()).to_string().len() > MAX_DOCUMENT_BYTES {
        return Err(ScimError::invalid_value(format!("the user document is larger than {} KiB", MAX_DOCUMENT_BYTES / 1024)));
    }
    let user_name = user_name.ok_or_else(|| ScimError::invalid_value("userName is required"))?;

    // The email: the primary one, else the only one, else a work one, else the first,
    // else userName when it is an email.
    let emails: Vec<&Value> = rest.get("emails").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default();
    let pick = emails
        .iter()
        .find(|e| get_ci(e, "primary").and_then(Value::as_bool) == Some(true))
        .or_else(|| if emails.len() == 1 { emails.first() } else { None })
        .or_else(|| emails.iter().find(|e| get_ci(e, "type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("work"))))
        .or_else(|| emails.first())
        .and_then(|e| get_ci(e, "value"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let email = match pick {
        Some(e) => {
            let n = normalize_email(&e).map_err(|_| ScimError::invalid_value(format!("the primary email “{}” is not a valid email address", clip(&e, 80))))?;
            Some((e.trim().to_string(), n))
        }
        None => normalize_email(&user_name).ok().map(|n| (user_name.trim().to_string(), n)),
    };
    if email.as_ref().is_some_and(|(_, n)| n.ends_with(&format!("@{NO_EMAIL_DOMAIN}"))) {
        return Err(ScimError::invalid_value(format!("{NO_EMAIL_DOMAIN} is reserved")));
    }

    let name = rest.get("name");
    let sub = |k: &str| name.and_then(|n| get_ci(n, k)).and_then(Value::as_str).unwrap_or("").trim().to_string();
    let (given_name, family_name) = (sub("givenName"), sub("familyName"));
    let joined = format!("{given_name} {family_name}").trim().to_string();
    let full_name = if !joined.is_empty() {
        joined
    } else if !sub("formatted").is_empty() {
        sub("formatted")
    } else {
        rest.get("displayName").and_then(Value::as_str).unwrap_or("").trim().to_string()
    };
    let clip_name = |s: String| s.chars().take(200).collect::<String>();

    let ext_role = rest.get(URN_GATEHOUSE_USER).and_then(|e| get_ci(e, "role")).and_then(Value::as_str);
    let role = match (ext_role, rest.get("roles").and_then(Value::as_array)) {
        (Some(r), _) => Some(if r.trim().eq_ignore_ascii_case("admin") { Role::Admin } else { Role::Member }),
        (None, Some(list)) => {
            Some(if list.iter().any(|x| get_ci(x, "value").and_then(Value::as_str).is_some_and(|v| v.trim().eq_ignore_ascii_case("admin"))) {
                Role::Admin
            } else {
                Role::Member
            })
        }
        (None, None) => None,
    };
    Ok(Input {
        user_name,
        external_id,
        active,
        email,
        given_name: clip_name(given_name),
        family_name: clip_name(family_name),
        full_name: clip_name(full_name),
        role,
        rest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_a_document_finds_email_names_and_role() {
        let i = read(
            &json!({
                "schemas": [URN_USER],
                "userName": "ADA@x.com",
                "name": { "givenName": "Ada", "familyName": "Lovelace" },
                "emails": [{ "value": "home@y.com", "type": "home" }, { "value": "Ada@X.com", "type": "work", "primary": true }],
                "password": "hunter2",
                "groups": [{ "value": "1" }],
                "roles": [{ "value": "Admin" }],
                "active": "False",
                "shoeSize": 44,
            }),
            true,
        )
        .expect("valid");
        assert_eq!((i.email.clone(), i.full_name.as_str()), (Some(("Ada@X.com".to_string(), "ada@x.com".to_string())), "Ada Lovelace"));
        assert_eq!((i.role, i.active), (Some(Role::Admin), false));
        assert!(!i.rest.contains_key("password") && !i.rest.contains_key("groups") && !i.rest.contains_key("shoeSize"));
        assert!(!i.rest.contains_key("userName"), "owned by a column");
        assert_eq!(i.rest.get("active"), Some(&json!(false)), "Entra's string boolean, stored as a boolean");

        let ext =
            read(&json!({ "schemas": [URN_USER], "userName": "b@x.com", URN_GATEHOUSE_USER: { "role": "member" }, "roles": [{ "value": "admin" }] }), true)
                .expect("ok");
        assert_eq!(ext.role, Some(Role::Member), "our extension wins over roles");
        assert_eq!(read(&json!({ "schemas": [URN_USER], "userName": "c@x.com" }), true).expect("ok").role, None, "silent on roles: unchanged");
    }

    #[test]
    fn bad_documents_are_refused_with_a_reason() {
        let e = |v: Value| read(&v, true).err().map(|e| (e.status, e.scim_type, e.detail));
        assert!(e(json!({ "userName": "a@x.com" })).is_some_and(|x| x.1 == Some("invalidSyntax")), "schemas");
        assert!(e(json!({ "schemas": [URN_USER] })).is_some_and(|x| x.2.contains("userName")));
        assert!(e(json!({ "schemas": [URN_USER], "userName": "a@x.com", "emails": [{ "value": "not-an-email" }] })).is_some_and(|x| x.2.contains("email")));
        assert_eq!(read(&json!({ "schemas": [URN_USER], "userName": "jdoe" }), true).map(|i| i.email).ok(), Some(None), "no email: allowed, placeholder later");
        assert!(e(json!({ "schemas": [URN_USER], "userName": "a@x.com", "active": "maybe" })).is_some());
        assert!(e(json!({ "schemas": [URN_USER], "userName": "a@x.com", "emails": [{ "value": 5 }] })).is_some());
        assert!(e(json!({ "schemas": [URN_USER], "userName": "a@x.com", "emails": [{ "value": "a@x.com", "primary": true }, { "value": "b@x.com", "primary": true }] })).is_some());
        assert!(e(json!({ "schemas": [URN_USER], "userName": "a@x.com", "name": "Ada" })).is_some());
        assert!(e(json!([1, 2])).is_some());
    }

    #[test]
    fn pruning_drops_what_was_removed() {
        let mut v = json!({ "a": {}, "b": [], "c": null, "d": { "e": {} }, "f": [{}, 1], "g": "x" });
        prune(&mut v);
        assert_eq!(v, json!({ "f": [1], "g": "x" }));
    }
}
