//! A member as a SCIM User document: what its provider wrote, plus what Gatehouse owns.

use serde_json::{json, Map, Value};

use super::row::Row;
use crate::server::permissions::{Role, Status};
use crate::server::scim::schema::{self, URN_USER};
use crate::server::scim::{etag_of, timestamp, Client};

pub(super) fn user_name(row: &Row) -> String {
    row.m.scim_user_name.clone().unwrap_or_else(|| row.a.email.clone())
}

/// What the provider said (linked) or what the account says (unlinked), without the
/// attributes Gatehouse owns.
pub(super) fn stored(row: &Row) -> Map<String, Value> {
    if let Some(Ok(Value::Object(o))) = row.m.scim_data.as_deref().map(serde_json::from_str::<Value>) {
        return o;
    }
    let a = &row.a;
    let mut o = Map::new();
    let mut name = Map::new();
    if !a.given_name.is_empty() {
        name.insert("givenName".into(), json!(a.given_name));
    }
    if !a.family_name.is_empty() {
        name.insert("familyName".into(), json!(a.family_name));
    }
    if !a.full_name.is_empty() {
        name.insert("formatted".into(), json!(a.full_name));
        o.insert("displayName".into(), json!(a.full_name));
    }
    if !name.is_empty() {
        o.insert("name".into(), Value::Object(name));
    }
    o.insert("emails".into(), json!([{ "value": a.email, "type": "work", "primary": true }]));
    if row.m.role == Role::Admin {
        o.insert("roles".into(), json!([{ "value": "admin" }]));
    }
    o
}

/// The document without `meta` (what PATCH applies to and the ETag covers).
pub(super) fn document(client: &Client, row: &Row, groups: &[(i64, String)]) -> Map<String, Value> {
    let mut doc = Map::new();
    doc.insert("id".into(), json!(row.m.id.to_string()));
    if let Some(x) = &row.m.external_id {
        doc.insert("externalId".into(), json!(x));
    }
    doc.insert("userName".into(), json!(user_name(row)));
    for (k, v) in stored(row) {
        doc.insert(k, v);
    }
    // `active` is shown when the provider set it (or the member is deactivated, or the
    // document is derived); a provider that removed it sees it absent, and absent means
    // active.
    if doc.contains_key("active") || row.m.scim_data.is_none() || row.m.status != Status::Active {
        doc.insert("active".into(), json!(row.m.status == Status::Active));
    }
    if !groups.is_empty() {
        doc.insert(
            "groups".into(),
            Value::Array(
                groups
                    .iter()
                    .map(|(id, name)| json!({ "value": id.to_string(), "$ref": format!("{}/Groups/{id}", client.base_url), "display": name, "type": "direct" }))
                    .collect(),
            ),
        );
    }
    let mut schemas = vec![json!(URN_USER)];
    for ext in schema::user().extensions {
        if doc.contains_key(*ext) {
            schemas.push(json!(ext));
        }
    }
    doc.insert("schemas".into(), Value::Array(schemas));
    doc
}

/// The full resource: document + `meta` (with the ETag as `version`).
pub(in crate::server) fn resource(client: &Client, row: &Row, groups: &[(i64, String)]) -> Value {
    let doc = document(client, row, groups);
    let version = etag_of(&Value::Object(doc.clone()).to_string());
    let mut v = Value::Object(doc);
    v["meta"] = json!({
        "resourceType": "User",
        "created": timestamp(row.m.created_at),
        "lastModified": timestamp(row.m.updated_at),
        "location": format!("{}/Users/{}", client.base_url, row.m.id),
        "version": version,
    });
    v
}
