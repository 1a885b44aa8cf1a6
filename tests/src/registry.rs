//! The registry suites (organisations, specialists with certifications, support episodes),
//! written once over HTTP and run on every record-store adapter (`tests/tests/registry.rs`
//! on SQLite, `tests/tests/aws_registry.rs` on DynamoDB/moto): every validation rule,
//! `If-Match` 428/412, cursor pagination across pages in a stable order, bad cursors and
//! filters, minimisation and visibility of episodes, legal representatives.

use crate::auth::verifier_and_scoped_token;
use ravis::app::App;
use ravis::domain::{Atvk, Principal, Role};
use ravis::inbound::auth::Authenticator;
use ravis::inbound::http::ApiRequest;
use ravis::inbound::registry_api::RegistryApi;
use ravis::inbound::routes::handle;
use ravis::ports::{RecordStore, SystemClock};
use ravis::services::children::NewChildInput;
use ravis::store::keys;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The service graph the suites use: identity key `[4; 32]`, pseudonym key `[6; 32]`.
fn app<R: RecordStore + Clone>(records: &R) -> App<R> {
    App::new(records.clone(), &[4; 32], &[6; 32]).expect("app")
}

/// A registry API over `records` and tokens for its callers.
pub struct Fixture<R> {
    api: RegistryApi<R>,
    auth: Authenticator,
    records: R,
}

/// One answer: status, body, `ETag`.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
    /// `ETag` header.
    pub etag: Option<String>,
    /// `Location` header.
    pub location: Option<String>,
}

/// A token for `role` at `org`, optionally scoped to a territory.
pub fn token(role: Role, org: &str, territory: Option<&str>) -> String {
    let atvk = territory.map(|t| Atvk::parse(t).expect("atvk"));
    verifier_and_scoped_token(role, org, atvk.as_ref()).1
}

impl<R: RecordStore + Clone> Fixture<R> {
    /// The API over `records`.
    pub fn new(records: R) -> Self {
        let api = RegistryApi(app(&records).registry());
        let (auth, _) = verifier_and_scoped_token(Role::RegistryAdministrator, "x", None);
        Self { api, auth, records }
    }

    /// Calls the API.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        token: &str,
        body: Option<Value>,
        headers: &[(&'static str, &str)],
    ) -> Answer {
        let mut h = http::HeaderMap::new();
        h.insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        h.insert("content-type", "application/json".parse().expect("header"));
        for (name, value) in headers {
            h.insert(*name, value.parse().expect("header"));
        }
        let req = ApiRequest {
            method: method.parse().expect("method"),
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            headers: h,
            body: body.map(|b| b.to_string().into()).unwrap_or_default(),
            request_id: uuid::Uuid::now_v7().to_string(),
        };
        let r = handle(&self.auth, &self.api, req).await;
        let header = |n: &str| {
            r.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Answer {
            status: r.status.as_u16(),
            body: serde_json::from_slice(&r.body).unwrap_or(Value::Null),
            etag: header("etag"),
            location: header("location"),
        }
    }

    /// Registers a child directly (children are not served by this API).
    pub async fn child(&self, atvk: &str, name: &str) -> String {
        let children = app(&self.records).children();
        let nurse = Principal {
            subject: "n".into(),
            roles: vec![Role::HealthSpecialist],
            organisation: "o".into(),
            territory: None,
            purpose: None,
        };
        let input: NewChildInput = serde_json::from_value(json!({"given_name": name,
            "family_name": "B", "birth_date": "2024-10-01", "sex": "female", "atvk": atvk}))
        .expect("child input");
        children
            .register(&nurse, "r", input, None)
            .await
            .expect("child registered")
            .body["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    /// Records that each organisation cares for each child (as if it had screened them), so
    /// that their specialists may see the children (`services/care.rs`).
    pub async fn cared_for_by(&self, children: &[&str], organisations: &[&str]) {
        for child in children {
            for org in organisations {
                ravis::services::care::record_link(
                    &self.records,
                    child.parse().expect("child id"),
                    org,
                    ravis::services::care::CareBasis::Screened,
                    chrono::Utc::now(),
                )
                .await
                .expect("care link");
            }
        }
    }

    /// Follows `next` from the first page to the end; returns the ids in order and the pages.
    pub async fn all_pages(
        &self,
        path: &str,
        query: &[(&str, &str)],
        token: &str,
    ) -> (Vec<String>, usize) {
        let mut ids = Vec::new();
        let mut pages = 0;
        let mut cursor: Option<String> = None;
        loop {
            let mut q: Vec<(&str, &str)> = query.to_vec();
            if let Some(c) = &cursor {
                q.push(("cursor", c.as_str()));
            }
            let r = self.call("GET", path, &q, token, None, &[]).await;
            assert_eq!(r.status, 200, "{}", r.body);
            pages += 1;
            for item in r.body["items"].as_array().expect("items") {
                ids.push(item["id"].as_str().expect("id").to_owned());
            }
            match r.body["next"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return (ids, pages),
            }
        }
    }
}

/// The fields a 422 names, in order.
pub fn fields(a: &Answer) -> Vec<String> {
    assert_eq!(a.status, 422, "expected a validation problem: {}", a.body);
    a.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field").to_owned())
        .collect()
}

fn org(id: &str, kind: &str, atvk: &str) -> Value {
    json!({"id": id, "kind": kind, "name": format!("Org {id}"), "atvk": atvk,
           "registration_number": "90000012345"})
}

/// Organisations: validation, uniqueness, roles, `If-Match`, pagination and filters.
pub async fn organisations<R: RecordStore + Clone>(records: R) {
    let f = Fixture::new(records);
    let admin = token(Role::RegistryAdministrator, "registry", None);
    let nurse = token(Role::HealthSpecialist, "clinic", None);

    // Every rule at once, each field named.
    let r = f
        .call(
            "POST",
            "/organisations",
            &[],
            &admin,
            Some(
                json!({"id": "Bad Code", "kind": "school", "name": " ", "atvk": "12",
                        "registration_number": "4000301234"}),
            ),
            &[],
        )
        .await;
    assert_eq!(
        fields(&r),
        ["id", "name", "atvk", "registration_number"],
        "{}",
        r.body
    );
    let r = f
        .call(
            "POST",
            "/organisations",
            &[],
            &admin,
            Some(json!({"id": "ab", "kind": "bank", "name": "x", "atvk": "0001000"})),
            &[],
        )
        .await;
    assert!(
        [400, 422].contains(&r.status),
        "unknown kind: {} {}",
        r.status,
        r.body
    );
    // Other roles read but may not write.
    let r = f
        .call(
            "POST",
            "/organisations",
            &[],
            &nurse,
            Some(org("riga-school-1", "school", "0001000")),
            &[],
        )
        .await;
    assert_eq!(r.status, 403);

    let r = f
        .call(
            "POST",
            "/organisations",
            &[],
            &admin,
            Some(org("riga-school-1", "school", "0001000")),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.etag.as_deref(), Some("\"1\""));
    assert_eq!(r.location.as_deref(), Some("/organisations/riga-school-1"));
    assert_eq!(r.body["status"], "active");
    assert_eq!(r.body["version"], 1);
    // A code is registered once.
    let r = f
        .call(
            "POST",
            "/organisations",
            &[],
            &admin,
            Some(org("riga-school-1", "ngo", "0001000")),
            &[],
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["existing_id"], "riga-school-1");

    let r = f
        .call(
            "GET",
            "/organisations/riga-school-1",
            &[],
            &nurse,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["kind"], "school");
    for missing in ["/organisations/nope-nope", "/organisations/NOT%20A%20CODE"] {
        let r = f.call("GET", missing, &[], &nurse, None, &[]).await;
        assert_eq!(r.status, 404, "{missing}");
    }

    // Optimistic concurrency.
    let update = json!({"kind": "school", "name": "Renamed", "atvk": "0001000",
                        "status": "inactive"});
    let path = "/organisations/riga-school-1";
    let r = f
        .call("PUT", path, &[], &admin, Some(update.clone()), &[])
        .await;
    assert_eq!(r.status, 428);
    let r = f
        .call(
            "PUT",
            path,
            &[],
            &admin,
            Some(update.clone()),
            &[("if-match", "\"7\"")],
        )
        .await;
    assert_eq!(r.status, 412);
    let r = f
        .call(
            "PUT",
            path,
            &[],
            &admin,
            Some(update.clone()),
            &[("if-match", "seven")],
        )
        .await;
    assert_eq!(fields(&r), ["If-Match"]);
    let r = f
        .call(
            "PUT",
            path,
            &[],
            &nurse,
            Some(update.clone()),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 403);
    let mut bad = update.clone();
    bad["registration_number"] = json!("abc");
    let r = f
        .call(
            "PUT",
            path,
            &[],
            &admin,
            Some(bad),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(fields(&r), ["registration_number"]);
    let r = f
        .call(
            "PUT",
            path,
            &[],
            &admin,
            Some(update.clone()),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.etag.as_deref(), Some("\"2\""));
    assert_eq!(r.body["name"], "Renamed");
    assert_eq!(r.body["registration_number"], Value::Null);
    // The version read before is stale now.
    let r = f
        .call(
            "PUT",
            path,
            &[],
            &admin,
            Some(update),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 412);

    // Pagination: 11 more organisations; pages of 4 in code order, each exactly once.
    let mut expected = vec!["riga-school-1".to_owned()];
    for i in 0..11 {
        let (kind, atvk) = if i % 2 == 0 {
            ("preschool", "0001000")
        } else {
            ("ngo", "0056000")
        };
        let id = format!("org-{i:02}");
        let r = f
            .call(
                "POST",
                "/organisations",
                &[],
                &admin,
                Some(org(&id, kind, atvk)),
                &[],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        expected.push(id);
    }
    expected.sort();
    let (ids, pages) = f
        .all_pages("/organisations", &[("limit", "4")], &nurse)
        .await;
    assert_eq!(ids, expected);
    assert!(pages >= 3, "{pages}");
    let (ids, _) = f.all_pages("/organisations", &[], &nurse).await;
    assert_eq!(ids, expected, "default limit holds them all");

    // Filters, also across pages.
    let (ids, _) = f
        .all_pages(
            "/organisations",
            &[("kind", "preschool"), ("limit", "2")],
            &nurse,
        )
        .await;
    assert_eq!(
        ids,
        ["org-00", "org-02", "org-04", "org-06", "org-08", "org-10"]
    );
    let (ids, _) = f
        .all_pages("/organisations", &[("atvk", "0056000")], &nurse)
        .await;
    assert_eq!(ids, ["org-01", "org-03", "org-05", "org-07", "org-09"]);
    let (ids, _) = f
        .all_pages("/organisations", &[("status", "inactive")], &nurse)
        .await;
    assert_eq!(ids, ["riga-school-1"]);
    let (ids, _) = f
        .all_pages(
            "/organisations",
            &[("status", "active"), ("kind", "school")],
            &nurse,
        )
        .await;
    assert!(ids.is_empty());

    // Bad parameters are named.
    for (query, field) in [
        (vec![("colour", "red")], "colour"),
        (vec![("kind", "bank")], "kind"),
        (vec![("atvk", "12")], "atvk"),
        (vec![("status", "gone")], "status"),
        (vec![("limit", "0")], "limit"),
        (vec![("limit", "101")], "limit"),
        (vec![("limit", "many")], "limit"),
        (vec![("cursor", "not-a-cursor")], "cursor"),
        (vec![("cursor", "eyJxIjoiYSIsInMiOiJiIn0")], "cursor"),
        (vec![("kind", "ngo"), ("kind", "school")], "kind"),
    ] {
        let r = f
            .call("GET", "/organisations", &query, &nurse, None, &[])
            .await;
        assert_eq!(fields(&r), [field], "{query:?}");
    }
    // A cursor is bound to its filters.
    let r = f
        .call(
            "GET",
            "/organisations",
            &[("limit", "2")],
            &nurse,
            None,
            &[],
        )
        .await;
    let next = r.body["next"].as_str().expect("next").to_owned();
    let r = f
        .call(
            "GET",
            "/organisations",
            &[("limit", "2"), ("kind", "ngo"), ("cursor", &next)],
            &nurse,
            None,
            &[],
        )
        .await;
    assert_eq!(fields(&r), ["cursor"]);
}

/// Specialists and certifications: organisations must exist, catalogue ids are checked,
/// expired certifications stay visible but stop counting.
pub async fn specialists<R: RecordStore + Clone>(records: R) {
    let f = Fixture::new(records);
    let admin = token(Role::RegistryAdministrator, "registry", None);
    let partner = token(Role::PartnerSystem, "hr-system", None);
    let teacher = token(Role::EducationSpecialist, "school", None);
    for id in ["clinic-a", "clinic-b"] {
        let r = f
            .call(
                "POST",
                "/organisations",
                &[],
                &admin,
                Some(org(id, "health_practice", "0001000")),
                &[],
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let person = |family: &str, profession: &str, orgs: Value| {
        json!({"given_name": "Ilze", "family_name": family, "profession": profession,
               "organisations": orgs})
    };
    let r = f
        .call(
            "POST",
            "/specialists",
            &[],
            &admin,
            Some(
                json!({"given_name": "", "family_name": " ", "profession": "nurse",
                        "organisations": ["clinic-a", "nowhere"]}),
            ),
            &[],
        )
        .await;
    assert_eq!(
        fields(&r),
        ["given_name", "family_name", "organisations[1]"]
    );
    let r = f
        .call(
            "POST",
            "/specialists",
            &[],
            &admin,
            Some(person("K", "nurse", json!([]))),
            &[],
        )
        .await;
    assert_eq!(fields(&r), ["organisations"]);
    let r = f
        .call(
            "POST",
            "/specialists",
            &[],
            &teacher,
            Some(person("K", "nurse", json!(["clinic-a"]))),
            &[],
        )
        .await;
    assert_eq!(r.status, 403);

    let mut ids = Vec::new();
    for (i, (profession, orgs)) in [
        ("nurse", json!(["clinic-a"])),
        ("psychologist", json!(["clinic-a", "clinic-b", "clinic-a"])),
        ("nurse", json!(["clinic-b"])),
    ]
    .into_iter()
    .enumerate()
    {
        let r = f
            .call(
                "POST",
                "/specialists",
                &[],
                &partner,
                Some(person(&format!("K{i}"), profession, orgs)),
                &[],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["certifications"], json!([]));
        ids.push(r.body["id"].as_str().expect("id").to_owned());
    }
    let (first, second, third) = (&ids[0], &ids[1], &ids[2]);
    let r = f
        .call(
            "GET",
            &format!("/specialists/{second}"),
            &[],
            &teacher,
            None,
            &[],
        )
        .await;
    assert_eq!(
        r.body["organisations"],
        json!(["clinic-a", "clinic-b"]),
        "duplicates dropped"
    );

    // Certifications: every rule.
    let certs = format!("/specialists/{first}/certifications");
    for (body, field) in [
        (
            json!({"instrument": "no-such-test", "issued_by": "RSU", "valid_from": "2025-01-01"}),
            "instrument",
        ),
        (
            json!({"programme": "no-such-programme", "issued_by": "RSU", "valid_from": "2025-01-01"}),
            "programme",
        ),
        (
            json!({"instrument": "mchat-r", "programme": "cool-kids", "issued_by": "RSU", "valid_from": "2025-01-01"}),
            "instrument",
        ),
        (
            json!({"issued_by": "RSU", "valid_from": "2025-01-01"}),
            "instrument",
        ),
        (
            json!({"instrument": "mchat-r", "issued_by": "", "valid_from": "2025-01-01"}),
            "issued_by",
        ),
        (
            json!({"instrument": "mchat-r", "issued_by": "RSU", "valid_from": "2025-01-01", "valid_to": "2024-12-31"}),
            "valid_to",
        ),
    ] {
        let r = f
            .call("POST", &certs, &[], &admin, Some(body.clone()), &[])
            .await;
        assert_eq!(fields(&r), [field], "{body}");
    }
    let r = f
        .call(
            "POST",
            &certs,
            &[],
            &teacher,
            Some(json!({"instrument": "mchat-r", "issued_by": "RSU", "valid_from": "2025-01-01"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 403);
    let r = f
        .call(
            "POST",
            "/specialists/0190f3c4-6d1e-7a3b-8c2d-123456789abc/certifications",
            &[],
            &admin,
            Some(json!({"instrument": "mchat-r", "issued_by": "RSU", "valid_from": "2025-01-01"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 404);
    // The first specialist: M-CHAT-R expired, EPDS open-ended; the second: M-CHAT-R not yet valid.
    let tomorrow = (chrono::Utc::now().date_naive() + chrono::Days::new(1)).to_string();
    for (path, body) in [
        (
            certs.clone(),
            json!({"instrument": "mchat-r", "issued_by": "RSU", "valid_from": "2024-01-01", "valid_to": "2024-12-31"}),
        ),
        (
            certs.clone(),
            json!({"instrument": "epds", "issued_by": "RSU", "valid_from": "2025-01-01"}),
        ),
        (
            format!("/specialists/{second}/certifications"),
            json!({"instrument": "mchat-r", "issued_by": "RSU", "valid_from": tomorrow}),
        ),
        (
            format!("/specialists/{third}/certifications"),
            json!({"programme": "cool-kids", "issued_by": "Provider", "valid_from": "2025-01-01", "valid_to": "2099-12-31"}),
        ),
    ] {
        let r = f.call("POST", &path, &[], &admin, Some(body), &[]).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = f.call("GET", &certs, &[], &teacher, None, &[]).await;
    assert_eq!(r.status, 200);
    let valid: Vec<(&str, bool)> = r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| {
            (
                c["instrument"].as_str().expect("instrument"),
                c["valid"].as_bool().expect("valid"),
            )
        })
        .collect();
    assert_eq!(valid, [("mchat-r", false), ("epds", true)]);
    let r = f
        .call(
            "GET",
            &format!("/specialists/{second}"),
            &[],
            &teacher,
            None,
            &[],
        )
        .await;
    assert_eq!(r.body["certifications"][0]["valid"], false, "not yet valid");
    // `is_certified` of the stored specialist agrees.
    let stored: ravis::domain::registry::Specialist = serde_json::from_value(
        f.records
            .get(&keys::specialist(first.parse().expect("id")))
            .await
            .expect("get")
            .expect("stored")
            .data,
    )
    .expect("specialist");
    let today = chrono::Utc::now().date_naive();
    assert!(!stored.is_certified("mchat-r", today));
    assert!(stored.is_certified("mchat-r", "2024-06-01".parse().expect("date")));
    assert!(stored.is_certified("epds", today));

    // Filters: only valid certifications count.
    let list = |q: Vec<(&'static str, &'static str)>| {
        let f = &f;
        let teacher = teacher.clone();
        async move { f.all_pages("/specialists", &q, &teacher).await.0 }
    };
    assert_eq!(
        list(vec![("certified_for", "mchat-r")]).await,
        Vec::<String>::new()
    );
    assert_eq!(
        list(vec![("certified_for", "epds")]).await,
        std::slice::from_ref(first)
    );
    assert_eq!(
        list(vec![("certified_for", "cool-kids")]).await,
        std::slice::from_ref(third)
    );
    assert_eq!(
        list(vec![("organisation", "clinic-b")]).await,
        [second.clone(), third.clone()]
    );
    assert_eq!(
        list(vec![("profession", "nurse"), ("limit", "1")]).await,
        [first.clone(), third.clone()]
    );
    assert_eq!(list(vec![("limit", "1")]).await, ids, "registration order");
    assert_eq!(
        list(vec![("status", "inactive")]).await,
        Vec::<String>::new()
    );
    for (query, field) in [
        (vec![("certified_for", "nothing-like-it")], "certified_for"),
        (vec![("profession", "wizard")], "profession"),
        (vec![("organisation", "")], "organisation"),
        (vec![("team", "a")], "team"),
    ] {
        let r = f
            .call("GET", "/specialists", &query, &teacher, None, &[])
            .await;
        assert_eq!(fields(&r), [field], "{query:?}");
    }

    // Update: If-Match; the certifications are kept.
    let path = format!("/specialists/{first}");
    let body = person("Renamed", "psychologist", json!(["clinic-b"]));
    let r = f
        .call("PUT", &path, &[], &admin, Some(body.clone()), &[])
        .await;
    assert_eq!(r.status, 428);
    let r = f
        .call(
            "PUT",
            &path,
            &[],
            &admin,
            Some(body.clone()),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 412, "certifications moved the version on");
    let r = f
        .call(
            "PUT",
            &path,
            &[],
            &admin,
            Some(person("R", "nurse", json!(["nowhere"]))),
            &[("if-match", "\"3\"")],
        )
        .await;
    assert_eq!(fields(&r), ["organisations[0]"]);
    let r = f
        .call(
            "PUT",
            &path,
            &[],
            &admin,
            Some(body),
            &[("if-match", "\"3\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.etag.as_deref(), Some("\"4\""));
    assert_eq!(r.body["certifications"].as_array().expect("certs").len(), 2);
    assert_eq!(r.body["family_name"], "Renamed");
    let r = f
        .call("GET", "/specialists/not-a-uuid", &[], &teacher, None, &[])
        .await;
    assert_eq!(r.status, 404);
}

/// Support episodes: the child must exist and be visible, references are checked, the state
/// rules hold, lists page under the child, education staff see the summary.
pub async fn episodes<R: RecordStore + Clone>(records: R) {
    let f = Fixture::new(records);
    let admin = token(Role::RegistryAdministrator, "registry", None);
    for (id, kind) in [
        ("provider-a", "programme_provider"),
        ("provider-b", "programme_provider"),
        ("clinic-a", "health_practice"),
    ] {
        let r = f
            .call(
                "POST",
                "/organisations",
                &[],
                &admin,
                Some(org(id, kind, "0001000")),
                &[],
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let r = f
        .call(
            "POST",
            "/specialists",
            &[],
            &admin,
            Some(
                json!({"given_name": "A", "family_name": "B", "profession": "psychologist",
                        "organisations": ["provider-a"]}),
            ),
            &[],
        )
        .await;
    let specialist = r.body["id"].as_str().expect("id").to_owned();
    let riga = f.child("0001000", "Anna").await;
    let other = f.child("0056000", "Ieva").await;
    let provider_a = token(Role::ProgrammeProvider, "provider-a", None);
    let provider_b = token(Role::ProgrammeProvider, "provider-b", None);
    let nurse = token(Role::HealthSpecialist, "clinic-a", None);
    let teacher = token(Role::EducationSpecialist, "school", None);
    let riga_social = token(Role::MunicipalitySocialService, "riga-sd", Some("0001000"));
    let analyst = token(Role::MinistryAnalyst, "ministry", None);
    // The specialists' organisations care for both children (the territory rules are
    // what this suite varies; care links and break-the-glass are in `care_access.rs`).
    f.cared_for_by(
        &[&riga, &other],
        &["provider-a", "provider-b", "clinic-a", "school"],
    )
    .await;
    let episode = |child: &str| {
        json!({"child_id": child, "programme": "cool-kids", "provider_org": "provider-a",
               "specialist_id": specialist, "referring_org": "clinic-a",
               "referral_date": "2026-01-05", "referral_source": {"text": "family doctor"},
               "start_date": "2026-01-10"})
    };

    // References and rules, each named.
    let tomorrow = (chrono::Utc::now().date_naive() + chrono::Days::new(1)).to_string();
    let unknown = "0190f3c4-6d1e-7a3b-8c2d-123456789abc";
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"child_id": unknown}), vec!["child_id"]),
        (json!({"programme": "no-such"}), vec!["programme"]),
        (
            json!({"provider_org": "nowhere"}),
            vec!["provider_org", "specialist_id"],
        ),
        (json!({"provider_org": "provider-b"}), vec!["specialist_id"]),
        (json!({"specialist_id": unknown}), vec!["specialist_id"]),
        (json!({"referring_org": "nowhere"}), vec!["referring_org"]),
        (
            json!({"referral_source": {"screening_id": unknown}}),
            vec!["referral_source.screening_id"],
        ),
        (
            json!({"referral_source": {"text": " "}}),
            vec!["referral_source.text"],
        ),
        (
            json!({"referral_date": tomorrow}),
            vec!["referral_date", "start_date"],
        ),
        (json!({"start_date": "2026-01-04"}), vec!["start_date"]),
        (
            json!({"end_date": "2026-01-20"}),
            vec!["outcome", "end_reason"],
        ),
        (
            json!({"end_date": "2026-01-09", "outcome": "goals_met", "end_reason": "completed"}),
            vec!["end_date"],
        ),
        (
            json!({"start_date": null, "end_date": "2026-01-20", "outcome": "goals_met", "end_reason": "completed"}),
            vec!["end_date"],
        ),
        (json!({"outcome": "goals_met"}), vec!["outcome"]),
        (json!({"end_reason": "moved"}), vec!["end_reason"]),
    ];
    for (change, expected) in cases {
        let mut body = episode(&riga);
        for (k, v) in change.as_object().expect("object") {
            body[k] = v.clone();
        }
        let r = f
            .call("POST", "/support-episodes", &[], &nurse, Some(body), &[])
            .await;
        assert_eq!(fields(&r), expected, "{change}");
    }
    // A scoped caller cannot record an episode of a child outside its territory.
    let r = f
        .call(
            "POST",
            "/support-episodes",
            &[],
            &riga_social,
            Some(episode(&other)),
            &[],
        )
        .await;
    assert_eq!(fields(&r), ["child_id"]);
    // A programme provider records only its own episodes; other roles may not record.
    let r = f
        .call(
            "POST",
            "/support-episodes",
            &[],
            &provider_b,
            Some(episode(&riga)),
            &[],
        )
        .await;
    assert_eq!(fields(&r), ["provider_org"]);
    for who in [&teacher, &analyst] {
        let r = f
            .call(
                "POST",
                "/support-episodes",
                &[],
                who,
                Some(episode(&riga)),
                &[],
            )
            .await;
        assert_eq!(r.status, 403);
    }

    // Recorded, with an Idempotency-Key replay, and indexed under the child.
    let r = f
        .call(
            "POST",
            "/support-episodes",
            &[],
            &provider_a,
            Some(episode(&riga)),
            &[("idempotency-key", "ep-1")],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["open"], true);
    let first = r.body["id"].as_str().expect("id").to_owned();
    assert_eq!(
        r.location.as_deref(),
        Some(format!("/support-episodes/{first}").as_str())
    );
    let again = f
        .call(
            "POST",
            "/support-episodes",
            &[],
            &provider_a,
            Some(episode(&riga)),
            &[("idempotency-key", "ep-1")],
        )
        .await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body["id"], json!(first), "replayed, not duplicated");
    // The episode's provider supports the child and its referrer referred it: care links
    // that let their specialists see the child (`services/care.rs`).
    let child_id = riga.parse().expect("child id");
    for (org, basis) in [
        ("provider-a", ravis::services::care::CareBasis::Supports),
        ("clinic-a", ravis::services::care::CareBasis::Referred),
    ] {
        let link = ravis::services::care::link(&f.records, child_id, org)
            .await
            .expect("read link")
            .expect("link");
        assert!(link.bases.contains_key(&basis), "{org}: {link:?}");
    }
    let stored = f
        .records
        .get(&keys::episode(first.parse().expect("id")))
        .await
        .expect("get")
        .expect("stored");
    let index = stored.index.expect("indexed under the child");
    assert_eq!(index.pk, keys::child_index(riga.parse().expect("id")));
    assert!(index.sk.starts_with("EPISODE#"));
    let mut ids = vec![first.clone()];
    for child in [&riga, &riga, &other] {
        let r = f
            .call(
                "POST",
                "/support-episodes",
                &[],
                &nurse,
                Some(episode(child)),
                &[],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(r.body["id"].as_str().expect("id").to_owned());
    }

    // Reads: full for the provider and health staff, minimised for education staff.
    let path = format!("/support-episodes/{first}");
    let r = f.call("GET", &path, &[], &provider_a, None, &[]).await;
    assert_eq!(r.body["referral_source"], json!({"text": "family doctor"}));
    let r = f.call("GET", &path, &[], &teacher, None, &[]).await;
    assert_eq!(r.status, 200);
    let keys_seen: BTreeSet<&str> = r
        .body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys_seen,
        ravis::services::registry::EPISODE_SUMMARY_FIELDS
            .iter()
            .copied()
            .collect()
    );
    let r = f.call("GET", &path, &[], &provider_b, None, &[]).await;
    assert!(
        r.body.get("referral_source").is_none(),
        "another provider's episode"
    );
    let r = f.call("GET", &path, &[], &analyst, None, &[]).await;
    assert_eq!(r.status, 403);
    let elsewhere = token(Role::MunicipalitySocialService, "x", Some("0056000"));
    let r = f.call("GET", &path, &[], &elsewhere, None, &[]).await;
    assert_eq!(r.status, 404, "invisible looks like missing");

    // Lists: under the child, in creation order, across pages; filters; visibility.
    let (by_child, pages) = f
        .all_pages(
            "/support-episodes",
            &[("child", &riga), ("limit", "1")],
            &nurse,
        )
        .await;
    assert_eq!(by_child, ids[..3]);
    assert!(pages >= 3, "one episode per page: {pages}");
    let (all, _) = f
        .all_pages("/support-episodes", &[("limit", "2")], &nurse)
        .await;
    assert_eq!(all, ids);
    let (scoped, _) = f
        .all_pages("/support-episodes", &[("limit", "2")], &riga_social)
        .await;
    assert_eq!(scoped, ids[..3], "only children in the caller's territory");
    let r = f
        .call(
            "GET",
            "/support-episodes",
            &[("child", &other)],
            &riga_social,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 404);
    for (query, field) in [
        (vec![("child", "not-a-uuid")], "child"),
        (vec![("state", "pending")], "state"),
        (vec![("provider", "x")], "provider"),
        (vec![("cursor", "garbage")], "cursor"),
    ] {
        let r = f
            .call("GET", "/support-episodes", &query, &nurse, None, &[])
            .await;
        assert_eq!(fields(&r), [field], "{query:?}");
    }

    // Close the first episode: If-Match, state rules, provider ownership.
    let close = json!({"programme": "cool-kids", "provider_org": "provider-a",
        "specialist_id": specialist, "referring_org": "clinic-a",
        "referral_date": "2026-01-05", "referral_source": {"text": "family doctor"},
        "start_date": "2026-01-10", "end_date": "2026-03-01", "outcome": "goals_met",
        "end_reason": "completed"});
    let r = f
        .call("PUT", &path, &[], &provider_a, Some(close.clone()), &[])
        .await;
    assert_eq!(r.status, 428);
    let r = f
        .call(
            "PUT",
            &path,
            &[],
            &provider_a,
            Some(close.clone()),
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(r.status, 412);
    let r = f
        .call(
            "PUT",
            &path,
            &[],
            &provider_b,
            Some(close.clone()),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 403);
    let mut incomplete = close.clone();
    incomplete["outcome"] = Value::Null;
    let r = f
        .call(
            "PUT",
            &path,
            &[],
            &provider_a,
            Some(incomplete),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(fields(&r), ["outcome"]);
    let r = f
        .call(
            "PUT",
            &path,
            &[],
            &provider_a,
            Some(close),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["open"], false);
    assert_eq!(r.etag.as_deref(), Some("\"2\""));

    let (closed, _) = f
        .all_pages("/support-episodes", &[("state", "closed")], &nurse)
        .await;
    assert_eq!(closed, std::slice::from_ref(&first));
    let (open, _) = f
        .all_pages(
            "/support-episodes",
            &[("state", "open"), ("child", &riga)],
            &nurse,
        )
        .await;
    assert_eq!(open, ids[1..3]);
    let (by_provider, _) = f
        .all_pages(
            "/support-episodes",
            &[("provider_org", "provider-a"), ("programme", "cool-kids")],
            &nurse,
        )
        .await;
    assert_eq!(by_provider, ids);
    let (none, _) = f
        .all_pages("/support-episodes", &[("programme", "marte-meo")], &nurse)
        .await;
    assert!(none.is_empty());
}

/// Legal representatives: every rule, one registration per personal code, links listed
/// under each child, minimisation, links to children the caller cannot see are kept.
pub async fn representatives<R: RecordStore + Clone>(records: R) {
    let f = Fixture::new(records);
    let riga = f.child("0001000", "Anna").await;
    let brother = f.child("0001000", "Jānis").await;
    let other = f.child("0056000", "Ieva").await;
    let admin = token(Role::RegistryAdministrator, "registry", None);
    let nurse = token(Role::HealthSpecialist, "clinic", None);
    let teacher = token(Role::EducationSpecialist, "school", None);
    let analyst = token(Role::MinistryAnalyst, "ministry", None);
    let provider = token(Role::ProgrammeProvider, "provider", None);
    let riga_social = token(Role::MunicipalitySocialService, "riga-sd", Some("0001000"));
    let elsewhere = token(Role::MunicipalitySocialService, "x", Some("0056000"));
    f.cared_for_by(
        &[&riga, &brother, &other],
        &["clinic", "school", "provider"],
    )
    .await;
    let mother = |children: Value| {
        json!({"given_name": "Līga", "family_name": "Bērziņa", "personal_code": "120394-12343",
               "phone": "+371 2612 3456", "email": "liga@example.lv", "children": children})
    };
    let link = |child: &str, relation: &str| json!({"child_id": child, "relation": relation});

    // Every rule, each field named.
    let r = f
        .call(
            "POST",
            "/representatives",
            &[],
            &nurse,
            Some(
                json!({"given_name": " ", "family_name": "", "personal_code": "120394-12344",
                        "phone": "12", "email": "nobody", "children": [
                            link(&riga, "mother"), link(&riga, "mother"),
                            link("0190f3c4-6d1e-7a3b-8c2d-123456789abc", "mother")]}),
            ),
            &[],
        )
        .await;
    assert_eq!(
        fields(&r),
        [
            "personal_code",
            "given_name",
            "family_name",
            "phone",
            "email",
            "children[1].child_id",
            "children[2].child_id"
        ]
    );
    let r = f
        .call(
            "POST",
            "/representatives",
            &[],
            &nurse,
            Some(mother(json!([]))),
            &[],
        )
        .await;
    assert_eq!(fields(&r), ["children"]);
    let r = f
        .call(
            "POST",
            "/representatives",
            &[],
            &nurse,
            Some(mother(json!([{"child_id": riga, "relation": "aunt"}]))),
            &[],
        )
        .await;
    assert!(
        [400, 422].contains(&r.status),
        "unknown relation: {}",
        r.body
    );
    let r = f
        .call(
            "POST",
            "/representatives",
            &[],
            &riga_social,
            Some(mother(json!([link(&other, "mother")]))),
            &[],
        )
        .await;
    assert_eq!(
        fields(&r),
        ["children[0].child_id"],
        "outside the caller's territory"
    );
    for who in [&analyst, &provider] {
        let r = f
            .call(
                "POST",
                "/representatives",
                &[],
                who,
                Some(mother(json!([link(&riga, "mother")]))),
                &[],
            )
            .await;
        assert_eq!(r.status, 403);
    }

    // Registered once per personal code (either spelling).
    let r = f
        .call(
            "POST",
            "/representatives",
            &[],
            &nurse,
            Some(mother(json!([
                link(&riga, "mother"),
                link(&other, "mother")
            ]))),
            &[("idempotency-key", "rep-1")],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["personal_code"], "12039412343");
    let rep = r.body["id"].as_str().expect("id").to_owned();
    let replay = f
        .call(
            "POST",
            "/representatives",
            &[],
            &nurse,
            Some(mother(json!([
                link(&riga, "mother"),
                link(&other, "mother")
            ]))),
            &[("idempotency-key", "rep-1")],
        )
        .await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.body["id"], json!(rep));
    let mut again = mother(json!([link(&brother, "mother")]));
    again["personal_code"] = json!("12039412343");
    let r = f
        .call("POST", "/representatives", &[], &admin, Some(again), &[])
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.body["existing_id"], json!(rep));
    let r = f
        .call(
            "POST",
            "/representatives",
            &[],
            &admin,
            Some(json!({"given_name": "Pēteris", "family_name": "Bērziņš",
                        "children": [link(&riga, "father")]})),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "without a personal code: {}", r.body);
    let father = r.body["id"].as_str().expect("id").to_owned();

    // Reads: minimised for education staff; links to invisible children hidden.
    let path = format!("/representatives/{rep}");
    let r = f.call("GET", &path, &[], &teacher, None, &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("personal_code").is_none());
    assert_eq!(r.body["children"].as_array().expect("children").len(), 2);
    let r = f.call("GET", &path, &[], &riga_social, None, &[]).await;
    assert_eq!(r.body["children"], json!([link(&riga, "mother")]));
    assert_eq!(r.body["personal_code"], "12039412343");
    let r = f.call("GET", &path, &[], &analyst, None, &[]).await;
    assert_eq!(r.status, 403);
    let r = f
        .call(
            "GET",
            &format!("/representatives/{father}"),
            &[],
            &elsewhere,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 404, "represents no child the caller sees");

    // A child's representatives, paged.
    let list = format!("/children/{riga}/representatives");
    let (ids, pages) = f.all_pages(&list, &[("limit", "1")], &nurse).await;
    let mut expected = vec![rep.clone(), father.clone()];
    expected.sort();
    let mut got = ids.clone();
    got.sort();
    assert_eq!(got, expected);
    assert!(pages >= 2);
    let r = f
        .call(
            "GET",
            &format!("/children/{other}/representatives"),
            &[],
            &riga_social,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 404);
    let r = f
        .call("GET", &list, &[("relation", "mother")], &nurse, None, &[])
        .await;
    assert_eq!(fields(&r), ["relation"]);

    // Update: If-Match; a scoped caller's change keeps the link it cannot see.
    let change = json!({"given_name": "Līga", "family_name": "Kalniņa",
        "children": [link(&riga, "mother"), link(&brother, "mother")]});
    let r = f
        .call("PUT", &path, &[], &riga_social, Some(change.clone()), &[])
        .await;
    assert_eq!(r.status, 428);
    let r = f
        .call(
            "PUT",
            &path,
            &[],
            &riga_social,
            Some(change.clone()),
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(r.status, 412);
    let mut bad = change.clone();
    bad["email"] = json!("a@b");
    let r = f
        .call(
            "PUT",
            &path,
            &[],
            &riga_social,
            Some(bad),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(fields(&r), ["email"]);
    let r = f
        .call(
            "PUT",
            &path,
            &[],
            &riga_social,
            Some(change),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.etag.as_deref(), Some("\"2\""));
    assert_eq!(r.body["family_name"], "Kalniņa");
    assert_eq!(r.body["phone"], Value::Null);
    let r = f.call("GET", &path, &[], &nurse, None, &[]).await;
    let linked: BTreeSet<String> = r.body["children"]
        .as_array()
        .expect("children")
        .iter()
        .map(|l| l["child_id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(
        linked,
        [riga.clone(), brother.clone(), other.clone()]
            .into_iter()
            .collect(),
        "the link to the child outside the scope is kept"
    );
    let (of_brother, _) = f
        .all_pages(&format!("/children/{brother}/representatives"), &[], &nurse)
        .await;
    assert_eq!(of_brother, std::slice::from_ref(&rep));

    // Unlinking a child removes the representative from that child's list.
    let r = f
        .call(
            "PUT",
            &path,
            &[],
            &nurse,
            Some(json!({"given_name": "Līga", "family_name": "Kalniņa",
                        "children": [link(&brother, "mother"), link(&other, "mother")]})),
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (of_riga, _) = f.all_pages(&list, &[], &nurse).await;
    assert_eq!(of_riga, std::slice::from_ref(&father));
}

/// A retired catalogue programme takes no new support episodes, while an existing episode of
/// it can still be updated (closed) without changing its programme.
pub async fn retired_programmes<R: RecordStore + Clone>(records: R) {
    let f = Fixture::new(records.clone());
    let admin = token(Role::RegistryAdministrator, "registry", None);
    let r = f
        .call(
            "POST",
            "/organisations",
            &[],
            &admin,
            Some(org("provider-a", "programme_provider", "0001000")),
            &[],
        )
        .await;
    assert_eq!(r.status, 201);
    let child = f.child("0001000", "Anna").await;
    f.cared_for_by(&[&child], &["provider-a"]).await;
    let provider = token(Role::ProgrammeProvider, "provider-a", None);
    let episode = |programme: &str, end: Option<&str>| {
        let mut body = json!({"child_id": child, "programme": programme,
            "provider_org": "provider-a", "referral_date": "2026-01-05",
            "referral_source": {"text": "school nurse"}, "start_date": "2026-01-10"});
        if let Some(end) = end {
            body.as_object_mut().expect("object").remove("child_id");
            body["end_date"] = json!(end);
            body["outcome"] = json!("goals_met");
            body["end_reason"] = json!("completed");
        }
        body
    };
    let r = f
        .call(
            "POST",
            "/support-episodes",
            &[],
            &provider,
            Some(episode("kiva", None)),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let path = r.location.clone().expect("location");
    let etag = r.etag.clone().expect("etag");

    // Retire the programme in the catalogue (the registry administrator's edit).
    let catalogue = ravis::services::catalogue::CatalogueService::new(
        records.clone(),
        Arc::new(ravis::scoring::Engine::builtin().expect("engine")),
        Arc::new(SystemClock),
    )
    .expect("catalogue");
    let registrar = Principal {
        subject: "r".into(),
        roles: vec![Role::RegistryAdministrator],
        organisation: "registry".into(),
        territory: None,
        purpose: None,
    };
    let (_, version) = ravis::services::catalogue::entry(&records, "kiva")
        .await
        .expect("read")
        .expect("kiva is in the catalogue");
    catalogue
        .retire(&registrar, "kiva", version)
        .await
        .expect("kiva retired");

    // No new episode of a retired programme, with the field named.
    let r = f
        .call(
            "POST",
            "/support-episodes",
            &[],
            &provider,
            Some(episode("kiva", None)),
            &[],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(fields(&r), ["programme"]);

    // The open episode can still be closed under its (now retired) programme…
    let r = f
        .call(
            "PUT",
            &path,
            &[],
            &provider,
            Some(episode("kiva", Some("2026-03-01"))),
            &[("if-match", etag.as_str())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["programme"], "kiva");
    assert_eq!(r.body["open"], false);
    // …but not moved to a programme that does not exist.
    let etag = r.etag.clone().expect("etag");
    let r = f
        .call(
            "PUT",
            &path,
            &[],
            &provider,
            Some(episode("no-such-programme", Some("2026-03-01"))),
            &[("if-match", etag.as_str())],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(fields(&r), ["programme"]);
}
