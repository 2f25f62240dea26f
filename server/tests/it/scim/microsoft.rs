//! Microsoft's gallery validation, offline: the tests of its SCIM Validation Logic App
//! (AzureAD/SCIMReferenceCode, "SCIM Validation Test Overview", 25 tests) that talk to
//! the SCIM endpoint directly, one test each, named by Microsoft's number and held to its
//! pass criteria. The other fourteen run Entra's provisioning engine against a tenant;
//! the requests that engine sends are `scim::entra_request_shapes`. Test 22
//! (workload identity federation) has nothing to call here: Microsoft counts the
//! authentication tests with OR, and 21 (client credentials) passes.
use base64::Engine;

use super::*;

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// `/Schemas` flattened as the validator does: `name`, `name.sub`, and for a
/// multi-valued attribute whose `type` has canonical values, `name[type eq "v"].sub`;
/// an extension's attributes prefixed with its URN and `:`.
fn flattened(schemas: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for schema in schemas["Resources"].as_array().into_iter().flatten() {
        let urn = schema["id"].as_str().unwrap_or_default();
        let prefix = if urn.contains(":extension:") { format!("{urn}:") } else { String::new() };
        for a in schema["attributes"].as_array().into_iter().flatten() {
            let name = format!("{prefix}{}", a["name"].as_str().unwrap_or_default());
            let subs: Vec<&Value> = a["subAttributes"].as_array().into_iter().flatten().collect();
            let types: Vec<String> = subs
                .iter()
                .find(|s| s["name"] == "type")
                .and_then(|t| t["canonicalValues"].as_array())
                .map(|v| v.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default();
            for s in &subs {
                let sub = s["name"].as_str().unwrap_or_default();
                out.push(format!("{name}.{sub}"));
                for t in &types {
                    out.push(format!("{name}[type eq \"{t}\"].{sub}"));
                }
            }
            out.push(name);
        }
    }
    out.into_iter().map(|s| s.to_lowercase()).collect()
}

/// 15 Schema_Discoverability_Test: every attribute Entra's default mappings write to
/// users and groups is discoverable in `/Schemas` (case-insensitive); `externalId` is
/// a common attribute, outside every schema (RFC 7643 §3.1).
#[tokio::test]
async fn ms15_schema_discoverability() {
    let s = setup().await;
    let (st, schemas, _) = s.call("GET", "/Schemas", None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(schemas["Resources"].is_array(), "{schemas}");
    let found = flattened(&schemas);
    let mapped = [
        "userName",
        "active",
        "displayName",
        "title",
        "preferredLanguage",
        "emails[type eq \"work\"].value",
        "name.givenName",
        "name.familyName",
        "name.formatted",
        "addresses[type eq \"work\"].formatted",
        "addresses[type eq \"work\"].streetAddress",
        "addresses[type eq \"work\"].locality",
        "addresses[type eq \"work\"].region",
        "addresses[type eq \"work\"].postalCode",
        "addresses[type eq \"work\"].country",
        "phoneNumbers[type eq \"work\"].value",
        "phoneNumbers[type eq \"mobile\"].value",
        "phoneNumbers[type eq \"fax\"].value",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "members",
    ];
    let missing: Vec<&str> = mapped.iter().copied().filter(|m| !found.contains(&m.to_lowercase())).collect();
    assert!(missing.is_empty(), "not discoverable: {missing:?}");
}

/// 16 SCIM_Null_Update_Test: optional attributes patched to `""` read back empty, then
/// patched to `null` stay empty.
#[tokio::test]
async fn ms16_null_update() {
    let s = setup().await;
    let mut body = user("nulls@acme.test", "nulls@acme.test");
    body["title"] = json!("Analyst");
    body["preferredLanguage"] = json!("en-GB");
    body[ENT] = json!({ "department": "Codebreaking", "employeeNumber": "42" });
    let (st, u, _) = s.call("POST", "/Users", Some(body)).await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
    let path = format!("/Users/{}", u["id"].as_str().expect("id"));
    let targets = ["title".to_string(), "preferredLanguage".to_string(), format!("{ENT}:department"), format!("{ENT}:employeeNumber")];
    let read = |u: &Value, t: &str| match t.strip_prefix(&format!("{ENT}:")) {
        Some(a) => u[ENT][a].clone(),
        None => u[t].clone(),
    };
    for (phase, value) in [("empty strings", json!("")), ("nulls", Value::Null)] {
        let ops: Vec<Value> = targets.iter().map(|t| json!({ "op": "Replace", "path": t, "value": value })).collect();
        let (st, body, _) = s.call("PATCH", &path, Some(patch(json!(ops)))).await;
        assert!(st == StatusCode::OK || st == StatusCode::NO_CONTENT, "{phase}: {st} {body}");
        let (st, u, _) = s.call("GET", &path, None).await;
        assert_eq!(st, StatusCode::OK);
        for t in &targets {
            let v = read(&u, t);
            assert!(v.is_null() || v.as_str() == Some(""), "{phase}: {t} is {v} in {u}");
        }
    }
}

/// 17 SCIM_User_Create_Test: 201 with an id, and the userName sent comes back.
#[tokio::test]
async fn ms17_user_create() {
    let s = setup().await;
    let (st, u, _) = s.call("POST", "/Users", Some(user("Create.Me@acme.test", "create.me@acme.test"))).await;
    assert!(st == StatusCode::CREATED || st == StatusCode::OK, "{st} {u}");
    assert!(u["id"].as_str().is_some_and(|i| !i.is_empty()), "{u}");
    assert_eq!(u["userName"], "Create.Me@acme.test");
}

/// 18 SCIM_User_Update_Test: every eligible single-valued attribute patched to a new
/// value reads back as sent.
#[tokio::test]
async fn ms18_user_update() {
    let s = setup().await;
    let (_, u, _) = s.call("POST", "/Users", Some(user("update.me@acme.test", "update.me@acme.test"))).await;
    let path = format!("/Users/{}", u["id"].as_str().expect("id"));
    let updates = [
        ("displayName", "Updated Name"),
        ("title", "Principal"),
        ("nickName", "Upd"),
        ("preferredLanguage", "fr-FR"),
        ("locale", "fr-FR"),
        ("timezone", "Europe/Paris"),
        ("userType", "Employee"),
        ("name.givenName", "Upda"),
        ("name.familyName", "Ted"),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "Research"),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "E-1843"),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter", "CC-7"),
    ];
    let ops: Vec<Value> = updates.iter().map(|(p, v)| json!({ "op": "Replace", "path": p, "value": v })).collect();
    let (st, body, _) = s.call("PATCH", &path, Some(patch(json!(ops)))).await;
    assert!(st == StatusCode::OK || st == StatusCode::NO_CONTENT, "{st} {body}");
    let (st, u, _) = s.call("GET", &path, None).await;
    assert_eq!(st, StatusCode::OK);
    let mismatches: Vec<String> = updates
        .iter()
        .filter_map(|(p, v)| {
            let got = match p.strip_prefix(&format!("{ENT}:")) {
                Some(a) => u[ENT][a].clone(),
                None => p.split('.').fold(u.clone(), |acc, k| acc[k].clone()),
            };
            (got.as_str() != Some(v)).then(|| format!("{p}: {got}"))
        })
        .collect();
    assert!(mismatches.is_empty(), "{mismatches:?} in {u}");
}

/// 19 SCIM_Group_Create_Test: 201 with an id, and the displayName sent comes back.
#[tokio::test]
async fn ms19_group_create() {
    let s = setup().await;
    let (st, g, _) = s.call("POST", "/Groups", Some(json!({ "schemas": [GROUP], "displayName": "Validators", "externalId": "v-1" }))).await;
    assert!(st == StatusCode::CREATED || st == StatusCode::OK, "{st} {g}");
    assert!(g["id"].as_str().is_some_and(|i| !i.is_empty()), "{g}");
    assert_eq!(g["displayName"], "Validators");
}

/// 20 SCIM_Group_Update_Test: displayName and externalId patched read back as sent.
#[tokio::test]
async fn ms20_group_update() {
    let s = setup().await;
    let (_, g, _) = s.call("POST", "/Groups", Some(json!({ "schemas": [GROUP], "displayName": "Before" }))).await;
    let path = format!("/Groups/{}", g["id"].as_str().expect("id"));
    let ops = json!([{ "op": "Replace", "path": "displayName", "value": "After" }, { "op": "Replace", "path": "externalId", "value": "ext-after" }]);
    let (st, body, _) = s.call("PATCH", &path, Some(patch(ops))).await;
    assert!(st == StatusCode::OK || st == StatusCode::NO_CONTENT, "{st} {body}");
    let (st, g, _) = s.call("GET", &path, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!((g["displayName"].as_str(), g["externalId"].as_str()), (Some("After"), Some("ext-after")), "{g}");
}

/// 21 Validate_Credentials_Test: the token endpoint answers 2xx with an access token
/// valid between 60 and 360 minutes, and SCIM answers 2xx with it.
#[tokio::test]
async fn ms21_validate_credentials() {
    let s = setup().await;
    let ws = app::server::workspaces::by_slug(&s.app.state.db, "acme").await.expect("acme");
    let cap = crate::common::operator().admin_of(ws.id);
    let c = scim::oauth::rotate_secret(&s.app.state.db, T0, &cap, &s.provider, 0).await.expect("client");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.client_id, c.client_secret.expose()));
    let req = Request::post(format!("/scim/oauth/{}/token", s.provider))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .body(Body::from("grant_type=client_credentials"))
        .expect("request");
    let r = s.app.send(req).await;
    assert!(r.status.is_success(), "{} {}", r.status, r.body);
    let t: Value = serde_json::from_str(&r.body).expect("json");
    let minutes = t["expires_in"].as_i64().expect("expires_in") / 60;
    assert!((60..=360).contains(&minutes), "{minutes} minutes");
    let (st, _, _) = call(&s.app, t["access_token"].as_str().expect("token"), "GET", "/Users", None).await;
    assert!(st.is_success(), "{st}");
}

/// Pages through `path` five at a time: each page 200, `startIndex` as asked, at least
/// two pages, every resource seen once.
async fn paginate(s: &Scim, path: &str) {
    let (mut start, mut seen, mut pages) = (1, std::collections::BTreeSet::new(), 0);
    loop {
        let (st, page, _) = s.call("GET", &format!("{path}?startIndex={start}&count=5"), None).await;
        assert_eq!(st, StatusCode::OK, "{page}");
        assert_eq!(page["startIndex"].as_i64(), Some(start), "{page}");
        let items = page["Resources"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            break;
        }
        assert!(items.len() <= 5, "{page}");
        for i in items {
            assert!(seen.insert(i["id"].as_str().expect("id").to_string()), "{} twice", i["id"]);
        }
        pages += 1;
        start += 5;
        if start > page["totalResults"].as_i64().unwrap_or(0) {
            break;
        }
    }
    assert!(pages >= 2, "{pages} pages");
}

/// 23 SCIM_User_Pagination_Test: at least 11 users, `startIndex`/`count=5` pages.
#[tokio::test]
async fn ms23_user_pagination() {
    let s = setup().await;
    for n in 0..11 {
        let email = format!("page{n}@acme.test");
        assert_eq!(s.call("POST", "/Users", Some(user(&email, &email))).await.0, StatusCode::CREATED);
    }
    paginate(&s, "/Users").await;
}

/// 24 SCIM_Group_Pagination_Test: the same for groups.
#[tokio::test]
async fn ms24_group_pagination() {
    let s = setup().await;
    for n in 0..11 {
        let (st, g, _) = s.call("POST", "/Groups", Some(json!({ "schemas": [GROUP], "displayName": format!("Page group {n}") }))).await;
        assert_eq!(st, StatusCode::CREATED, "{g}");
    }
    paginate(&s, "/Groups").await;
}

/// 25 SCIM_Update_Manager_Test: the manager set (Add), changed (Replace), removed
/// (Replace with an empty value), each confirmed by a GET.
#[tokio::test]
async fn ms25_update_manager() {
    let s = setup().await;
    let mut ids = Vec::new();
    for email in ["m1@acme.test", "m2@acme.test", "report@acme.test"] {
        let (_, u, _) = s.call("POST", "/Users", Some(user(email, email))).await;
        ids.push(u["id"].as_str().expect("id").to_string());
    }
    let path = format!("/Users/{}", ids[2]);
    let manager = format!("{ENT}:manager");
    for (op, value, expected) in [("Add", json!(ids[0]), Some(ids[0].clone())), ("Replace", json!(ids[1]), Some(ids[1].clone())), ("Replace", json!(""), None)]
    {
        let (st, body, _) = s.call("PATCH", &path, Some(patch(json!([{ "op": op, "path": manager, "value": value }])))).await;
        assert!(st == StatusCode::OK || st == StatusCode::NO_CONTENT, "{op} {value}: {st} {body}");
        let (_, u, _) = s.call("GET", &path, None).await;
        assert_eq!(u[ENT]["manager"]["value"].as_str().map(str::to_string), expected, "{op} {value}: {u}");
    }
}
