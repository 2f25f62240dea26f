//! The attributes we serve, described once: `/Schemas`, `/ResourceTypes` and
//! `/ServiceProviderConfig` are generated from these tables, and filters, projections and
//! writes are checked against them, so what we advertise is what we do.
use std::sync::OnceLock;

use serde_json::{json, Value};

pub const URN_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const URN_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Our extension: `role` = `admin` makes the member an admin.
pub const URN_ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const URN_GATEHOUSE_USER: &str = "urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User";
pub const URN_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
pub const URN_RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const URN_SPC: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Reference,
    Binary,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

/// One attribute definition (RFC 7643 §7).
#[derive(Debug, Clone)]
pub struct Attr {
    pub name: String,
    pub ty: Type,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub sub: Vec<Attr>,
}

impl Attr {
    pub fn sub_attr(&self, name: &str) -> Option<&Attr> {
        self.sub.iter().find(|s| s.name.eq_ignore_ascii_case(name))
    }

    fn from_json(v: &Value) -> Option<Attr> {
        let text = |k: &str| v.get(k).and_then(Value::as_str);
        let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
        Some(Attr {
            name: text("name")?.to_string(),
            ty: match text("type")? {
                "string" => Type::String,
                "boolean" => Type::Boolean,
                "decimal" => Type::Decimal,
                "integer" => Type::Integer,
                "dateTime" => Type::DateTime,
                "reference" => Type::Reference,
                "binary" => Type::Binary,
                "complex" => Type::Complex,
                _ => return None,
            },
            multi: flag("multiValued"),
            required: flag("required"),
            case_exact: flag("caseExact"),
            mutability: match text("mutability").unwrap_or("readWrite") {
                "readOnly" => Mutability::ReadOnly,
                "immutable" => Mutability::Immutable,
                "writeOnly" => Mutability::WriteOnly,
                _ => Mutability::ReadWrite,
            },
            returned: match text("returned").unwrap_or("default") {
                "always" => Returned::Always,
                "never" => Returned::Never,
                "request" => Returned::Request,
                _ => Returned::Default,
            },
            sub: v.get("subAttributes").and_then(Value::as_array).map(|s| s.iter().filter_map(Attr::from_json).collect()).unwrap_or_default(),
        })
    }

    fn plain(name: &str, ty: Type, case_exact: bool, mutability: Mutability, returned: Returned, sub: Vec<Attr>) -> Attr {
        Attr { name: name.into(), ty, multi: false, required: false, case_exact, mutability, returned, sub }
    }
}

/// The schema documents we serve: RFC 7643 §8.7.1's User, Group and EnterpriseUser
/// definitions (with our semantics in their descriptions; a group member's `display` is
/// read-only and not stored) and our extension carrying `role`.
const SCHEMAS_JSON: &str = include_str!("schemas.json");

struct Loaded {
    documents: Vec<Value>,
    user: Vec<Attr>,
    group: Vec<Attr>,
    enterprise: Vec<Attr>,
    gatehouse: Vec<Attr>,
    common: Vec<Attr>,
    user_resource: Resource,
    group_resource: Resource,
}

fn loaded() -> &'static Loaded {
    static LOADED: OnceLock<Loaded> = OnceLock::new();
    LOADED.get_or_init(|| {
        // A build-time constant; the unit tests prove it parses, so an empty set can't ship.
        let documents: Vec<Value> = serde_json::from_str(SCHEMAS_JSON).unwrap_or_default();
        let attrs = |id: &str| -> Vec<Attr> {
            documents
                .iter()
                .find(|d| d.get("id").and_then(Value::as_str) == Some(id))
                .and_then(|d| d.get("attributes"))
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Attr::from_json).collect())
                .unwrap_or_default()
        };
        let meta = vec![
            Attr::plain("resourceType", Type::String, true, Mutability::ReadOnly, Returned::Default, vec![]),
            Attr::plain("created", Type::DateTime, false, Mutability::ReadOnly, Returned::Default, vec![]),
            Attr::plain("lastModified", Type::DateTime, false, Mutability::ReadOnly, Returned::Default, vec![]),
            Attr::plain("location", Type::Reference, true, Mutability::ReadOnly, Returned::Default, vec![]),
            Attr::plain("version", Type::String, true, Mutability::ReadOnly, Returned::Default, vec![]),
        ];
        Loaded {
            user: attrs(URN_USER),
            group: attrs(URN_GROUP),
            enterprise: attrs(URN_ENTERPRISE_USER),
            gatehouse: attrs(URN_GATEHOUSE_USER),
            common: vec![
                Attr::plain("id", Type::String, true, Mutability::ReadOnly, Returned::Always, vec![]),
                Attr::plain("externalId", Type::String, true, Mutability::ReadWrite, Returned::Default, vec![]),
                Attr::plain("meta", Type::Complex, false, Mutability::ReadOnly, Returned::Default, meta),
            ],
            user_resource: Resource { name: "User", endpoint: "/Users", schema: URN_USER, extensions: &[URN_ENTERPRISE_USER, URN_GATEHOUSE_USER] },
            group_resource: Resource { name: "Group", endpoint: "/Groups", schema: URN_GROUP, extensions: &[] },
            documents,
        }
    })
}

fn attrs_of(urn: &str) -> &'static [Attr] {
    let l = loaded();
    match urn {
        URN_USER => &l.user,
        URN_GROUP => &l.group,
        URN_ENTERPRISE_USER => &l.enterprise,
        URN_GATEHOUSE_USER => &l.gatehouse,
        _ => &[],
    }
}

pub fn common_attrs() -> &'static [Attr] {
    &loaded().common
}

/// A resource type: its core schema and extensions.
#[derive(Debug, Clone, Copy)]
pub struct Resource {
    pub name: &'static str,
    pub endpoint: &'static str,
    pub schema: &'static str,
    pub extensions: &'static [&'static str],
}

pub fn user() -> &'static Resource {
    &loaded().user_resource
}

pub fn group() -> &'static Resource {
    &loaded().group_resource
}

/// Where an attribute path lands.
#[derive(Debug, Clone, Copy)]
pub struct Resolved {
    /// `None`: the core schema or a common attribute; `Some(urn)`: that extension's object.
    pub extension: Option<&'static str>,
    pub attr: &'static Attr,
}

impl Resource {
    pub fn attrs(&self) -> &'static [Attr] {
        attrs_of(self.schema)
    }

    /// Every schema URN a document of this type may name.
    pub fn schema_urns(&self) -> Vec<&'static str> {
        std::iter::once(self.schema).chain(self.extensions.iter().copied()).collect()
    }

    /// Resolves `[urn:]name` case-insensitively.
    pub fn resolve(&self, urn: Option<&str>, name: &str) -> Option<Resolved> {
        let find = |list: &'static [Attr]| list.iter().find(|a| a.name.eq_ignore_ascii_case(name));
        let core = || find(self.attrs()).or_else(|| find(common_attrs())).map(|attr| Resolved { extension: None, attr });
        match urn {
            None => core(),
            Some(u) if u.eq_ignore_ascii_case(self.schema) => core(),
            Some(u) => {
                self.extensions.iter().find(|e| e.eq_ignore_ascii_case(u)).and_then(|e| find(attrs_of(e)).map(|attr| Resolved { extension: Some(*e), attr }))
            }
        }
    }

    /// The extension whose URN is `key` (a document key), if any, with its attributes.
    pub fn extension(&self, key: &str) -> Option<(&'static str, &'static [Attr])> {
        self.extensions.iter().find(|e| e.eq_ignore_ascii_case(key)).map(|e| (*e, attrs_of(e)))
    }

    pub fn resource_type_json(&self, base: &str) -> Value {
        let mut v = json!({
            "schemas": [URN_RESOURCE_TYPE],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": if self.name == "User" { "Workspace members" } else { "Workspace groups (the built-in Everyone group is not provisioned)" },
            "schema": self.schema,
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", self.name) },
        });
        if !self.extensions.is_empty() {
            v["schemaExtensions"] = Value::Array(self.extensions.iter().map(|u| json!({ "schema": u, "required": false })).collect());
        }
        v
    }
}

/// Every schema we serve, for `/Schemas` and `/Schemas/{id}`.
pub fn schemas(base: &str) -> Vec<Value> {
    loaded()
        .documents
        .iter()
        .map(|d| {
            let mut d = d.clone();
            let id = d.get("id").and_then(Value::as_str).unwrap_or("").to_string();
            if let Some(o) = d.as_object_mut() {
                o.insert("schemas".into(), json!([URN_SCHEMA]));
                o.insert("meta".into(), json!({ "resourceType": "Schema", "location": format!("{base}/Schemas/{id}") }));
            }
            d
        })
        .collect()
}

pub fn resource_types(base: &str) -> Vec<Value> {
    vec![user().resource_type_json(base), group().resource_type_json(base)]
}

pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [URN_SPC],
        "documentationUri": "https://github.com/gatehouse/gatehouse#scim-20-provisioning",
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": super::MAX_RESULTS },
        "changePassword": { "supported": false },
        "sort": { "supported": false },
        "etag": { "supported": true },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Provider Token",
            "description": "The SAML provider's Provider Token, sent as `Authorization: Bearer <token>`; an admin turns provisioning on (and rotates the token) on the provider's page.",
            "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
            "primary": true,
        }],
        "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig") },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_case_insensitively_with_and_without_urns() {
        assert_eq!(user().resolve(None, "USERNAME").map(|r| r.attr.name.as_str()), Some("userName"));
        assert_eq!(user().resolve(Some(URN_USER), "emails").map(|r| r.attr.multi), Some(true));
        let role = user().resolve(Some(&URN_GATEHOUSE_USER.to_uppercase()), "role").expect("role");
        assert_eq!(role.extension, Some(URN_GATEHOUSE_USER));
        let mgr = user().resolve(Some(URN_ENTERPRISE_USER), "manager").expect("manager");
        assert_eq!(mgr.attr.sub_attr("displayname").map(|a| a.mutability), Some(Mutability::ReadOnly));
        assert!(user().resolve(None, "shoeSize").is_none(), "not served, so not resolvable");
        assert!(group().resolve(None, "userName").is_none());
        assert_eq!(group().resolve(None, "externalId").map(|r| r.attr.case_exact), Some(true));
    }

    #[test]
    fn discovery_documents_are_complete() {
        let s = schemas("http://x/scim/v2");
        let ids: Vec<&str> = s.iter().filter_map(|d| d["id"].as_str()).collect();
        assert_eq!(ids, [URN_USER, URN_GROUP, URN_ENTERPRISE_USER, URN_GATEHOUSE_USER]);
        assert_eq!(user().attrs().len(), 21, "RFC 7643 User");
        assert_eq!(attrs_of(URN_ENTERPRISE_USER).len(), 6);
        let password = user().resolve(None, "password").expect("password").attr;
        assert_eq!((password.mutability, password.returned), (Mutability::WriteOnly, Returned::Never));
        let display = group().resolve(None, "members").and_then(|m| m.attr.sub_attr("display")).expect("display");
        assert_eq!(display.mutability, Mutability::ReadOnly, "not stored, so not writable");
        assert_eq!(resource_types("b")[0]["schemaExtensions"][1]["schema"], URN_GATEHOUSE_USER);
        assert!(resource_types("b")[1].get("schemaExtensions").is_none());
        assert_eq!(service_provider_config("b")["filter"]["maxResults"], 1000);
    }
}
