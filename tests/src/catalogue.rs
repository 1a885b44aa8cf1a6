//! The catalogue registry end to end, written once and run on both backends: seeding
//! idempotency, every HTTP rule (validation, If-Match, retire, filters, pagination) and the
//! `active_entry` lookup other use cases call.

use crate::auth::verifier_and_token;
use ravis::app::App;
use ravis::domain::Role;
use ravis::domain::catalogue_entry::EntryStatus;
use ravis::inbound::auth::Authenticator;
use ravis::inbound::http::{ApiRequest, ApiResponse};
use ravis::inbound::routes::handle;
use ravis::inbound::screenings_api::ScreeningsApi;
use ravis::ports::{Queue, Record, RecordStore, SortKeyCondition, SystemClock};
use ravis::scoring::Engine;
use ravis::services::catalogue::{CatalogueService, active_entry, entry, seed_catalogue};
use ravis::store::keys;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Built-in programmes in `programmes.json`.
const BUILTIN_PROGRAMMES: usize = 12;

fn seed_count() -> usize {
    BUILTIN_PROGRAMMES + Engine::builtin().expect("engine").instrument_ids().count()
}

/// Every stored catalogue record, in key order.
async fn snapshot<R: RecordStore>(records: &R) -> Vec<Record> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = records
            .query(
                keys::CATALOGUE_PARTITION,
                &SortKeyCondition::All,
                1000,
                false,
                cursor.as_deref(),
            )
            .await
            .expect("query catalogue");
        out.extend(page.records);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    out
}

fn api<R: RecordStore + Clone, Q: Queue>(records: R, queue: Q) -> ScreeningsApi<R, Q> {
    App::new(records, &[4; 32], &[5; 32])
        .expect("app")
        .screenings_routes(queue)
        .expect("catalogue")
}

struct Client<R, Q> {
    api: ScreeningsApi<R, Q>,
    auth: Authenticator,
    admin: String,
    nurse: String,
}

impl<R: RecordStore + Clone, Q: Queue> Client<R, Q> {
    fn new(records: R, queue: Q) -> Self {
        let (auth, admin) = verifier_and_token(Role::RegistryAdministrator, "registry");
        let (_, nurse) = verifier_and_token(Role::HealthSpecialist, "clinic");
        Self {
            api: api(records, queue),
            auth,
            admin,
            nurse,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        if_match: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value, Option<String>) {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        headers.insert("content-type", "application/json".parse().expect("header"));
        if let Some(v) = if_match {
            headers.insert("if-match", v.parse().expect("header"));
        }
        let req = ApiRequest {
            method: method.parse().expect("method"),
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            headers,
            body: body.map(|b| b.to_string().into()).unwrap_or_default(),
            request_id: "catalogue-test".into(),
        };
        let r: ApiResponse = handle(&self.auth, &self.api, req).await;
        let etag = r
            .headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        (r.status.as_u16(), body, etag)
    }

    async fn list(&self, query: &[(&str, &str)]) -> (u16, Value) {
        let (s, b, _) = self
            .call(&self.nurse, "GET", "/catalogue/entries", query, None, None)
            .await;
        (s, b)
    }

    /// Every id over all pages of a filtered list, checking each page's size.
    async fn all_ids(&self, filters: &[(&str, &str)], limit: usize) -> Vec<String> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        let limit_s = limit.to_string();
        loop {
            let mut q: Vec<(&str, &str)> = filters.to_vec();
            q.push(("limit", &limit_s));
            if let Some(c) = &cursor {
                q.push(("cursor", c));
            }
            let (status, body) = self.list(&q).await;
            assert_eq!(status, 200, "{body}");
            let page = body["entries"].as_array().expect("entries");
            assert!(page.len() <= limit);
            ids.extend(
                page.iter()
                    .map(|e| e["id"].as_str().expect("id").to_owned()),
            );
            match body["next_cursor"].as_str() {
                Some(next) => {
                    assert_eq!(page.len(), limit, "a page before the last is full");
                    cursor = Some(next.to_owned());
                }
                None => break,
            }
        }
        ids
    }
}

fn problem_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Seeding twice (and twice at once) leaves one clean seed; an edited entry is never
/// overwritten; `active_entry` seeds the id it is asked about on an empty store.
pub async fn seeding_is_idempotent<R: RecordStore + Clone, Q: Queue>(records: R, queue: Q) {
    let clock = SystemClock;
    // The lookup works before anything seeded the store.
    let cool = active_entry(&records, "cool-kids")
        .await
        .expect("lookup")
        .expect("built-in id resolves");
    assert_eq!(cool.annual_target, Some(700));
    assert_eq!(snapshot(&records).await.len(), 1);

    let (a, b) = tokio::join!(
        seed_catalogue(&records, &clock),
        seed_catalogue(&records, &clock)
    );
    assert_eq!(
        a.expect("seed") + b.expect("seed"),
        seed_count() - 1,
        "each missing entry is created exactly once"
    );
    let first = snapshot(&records).await;
    assert_eq!(first.len(), seed_count());
    assert!(first.iter().all(|r| r.version == 1));
    assert_eq!(seed_catalogue(&records, &clock).await.expect("seed"), 0);
    assert_eq!(
        snapshot(&records).await,
        first,
        "seeding again changes nothing"
    );
    // Every programme scoring can recommend resolves as an active entry of the store.
    let service = CatalogueService::new(
        records.clone(),
        Arc::new(Engine::builtin().expect("engine")),
        Arc::new(SystemClock),
    )
    .expect("catalogue");
    assert!(!service.recommended().is_empty());
    for id in service.recommended() {
        let found = active_entry(&records, id).await.expect("lookup");
        assert!(
            found.is_some(),
            "scoring recommends '{id}', which the store lacks"
        );
    }
    assert_eq!(
        snapshot(&records).await,
        first,
        "lookups write nothing once seeded"
    );

    // An administrator edits a built-in entry; seeding again keeps the edit.
    let client = Client::new(records.clone(), queue);
    let (s, body, _) = client
        .call(
            &client.admin,
            "PUT",
            "/catalogue/entries/kiva",
            &[],
            Some("\"1\""),
            Some(json!({"kind": "programme", "name": "KiVa (Latvia)", "participants": "schools",
                        "target_needs": ["bullying", "peer"], "evidence_level": "promising", "capacity_per_year": 800})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(seed_catalogue(&records, &clock).await.expect("seed"), 0);
    let (kiva, version) = entry(&records, "kiva").await.expect("read").expect("kiva");
    assert_eq!(version, 2);
    assert_eq!(kiva.name, "KiVa (Latvia)");
    assert_eq!(kiva.capacity_per_year, Some(800));
    assert_eq!(kiva.annual_target, None, "PUT replaces the content");
    // The service's own first-use seeding also leaves it alone.
    let (s, body, _) = client
        .call(
            &client.nurse,
            "GET",
            "/catalogue/entries/kiva",
            &[],
            None,
            None,
        )
        .await;
    assert_eq!((s, body["name"].as_str()), (200, Some("KiVa (Latvia)")));
    assert_eq!(snapshot(&records).await.len(), seed_count());
}

/// Pagination and every filter, with every bad parameter refused by name.
pub async fn lists_filter_and_paginate<R: RecordStore + Clone, Q: Queue>(records: R, queue: Q) {
    let client = Client::new(records, queue);
    // First use seeds: the default page holds every entry (fewer than 50).
    let (s, body) = client.list(&[]).await;
    assert_eq!(s, 200);
    assert_eq!(
        body["entries"].as_array().expect("entries").len(),
        seed_count()
    );
    assert_eq!(body["next_cursor"], Value::Null);

    let all = client.all_ids(&[], 5).await;
    let mut sorted = all.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(all, sorted, "id order, no repeats");
    assert_eq!(all.len(), seed_count());
    assert_eq!(client.all_ids(&[], 1).await, all);
    assert_eq!(client.all_ids(&[], 100).await, all);

    let instruments = client.all_ids(&[("kind", "instrument")], 2).await;
    assert!(instruments.contains(&"mchat-r".to_owned()));
    assert!(instruments.contains(&"epds".to_owned()));
    assert_eq!(instruments.len(), seed_count() - BUILTIN_PROGRAMMES);
    let services = client.all_ids(&[("kind", "service")], 50).await;
    assert_eq!(
        services,
        vec!["bereaved-children-support", "preschool-psychologists"]
    );
    assert_eq!(
        client.all_ids(&[("target_need", "bullying")], 50).await,
        vec!["kiva"]
    );
    // 60 months: inside stop-4-7 (48..=95), incredible-years-parents (36..=107),
    // early-intervention-psychomotor (0..=71) and the SDQ 4-17 forms, not cool-kids
    // (84..=215); entries without a target age never match an age filter.
    let at_60 = client.all_ids(&[("age_months", "60")], 3).await;
    assert!(at_60.contains(&"stop-4-7".to_owned()));
    assert!(at_60.contains(&"sdq-parent-4-17".to_owned()));
    assert!(!at_60.contains(&"mchat-r".to_owned()));
    assert!(!at_60.contains(&"kiva".to_owned()));
    assert!(!at_60.contains(&"cool-kids".to_owned()));
    assert_eq!(
        client
            .all_ids(&[("age_months", "60"), ("kind", "programme")], 50)
            .await,
        vec![
            "early-intervention-psychomotor",
            "incredible-years-parents",
            "stop-4-7"
        ]
    );
    assert_eq!(
        client
            .all_ids(&[("evidence_level", "unrated")], 4)
            .await
            .len(),
        BUILTIN_PROGRAMMES
    );
    assert!(
        client
            .all_ids(&[("evidence_level", "established")], 4)
            .await
            .is_empty()
    );
    assert_eq!(client.all_ids(&[("status", "active")], 7).await, all);
    assert!(client.all_ids(&[("status", "retired")], 7).await.is_empty());

    // Bad parameters: 422 problem+json naming each.
    for (query, field) in [
        (vec![("limit", "0")], "limit"),
        (vec![("limit", "101")], "limit"),
        (vec![("limit", "ten")], "limit"),
        (vec![("cursor", "not-a-cursor")], "cursor"),
        (vec![("cursor", "Y2F0YWxvZ3VlOkJBRA")], "cursor"),
        (vec![("kind", "party")], "kind"),
        (vec![("target_need", "magic")], "target_need"),
        (vec![("age_months", "five")], "age_months"),
        (vec![("evidence_level", "great")], "evidence_level"),
        (vec![("status", "asleep")], "status"),
        (vec![("colour", "red")], "colour"),
        (vec![("kind", "service"), ("kind", "therapy")], "kind"),
    ] {
        let (s, body) = client.list(&query).await;
        assert_eq!(s, 422, "{query:?}: {body}");
        assert_eq!(body["type"], "urn:ravis:problem:validation-failed");
        assert_eq!(problem_fields(&body), vec![field.to_owned()], "{query:?}");
    }
}

/// Create, read, update with If-Match, retire and reactivate, and the lookup's answers.
pub async fn edits_follow_every_rule<R: RecordStore + Clone, Q: Queue>(records: R, queue: Q) {
    let client = Client::new(records.clone(), queue);
    let therapy = json!({"id": "play-therapy", "kind": "therapy", "name": "Play therapy",
                         "participants": "children", "target_needs": ["emotional", "attachment"],
                         "target_age_months": {"min": 36, "max": 144}, "evidence_level": "emerging",
                         "capacity_per_year": 60, "source": "Provider manual"});
    // Only the registry administrator writes.
    let (s, _, _) = client
        .call(
            &client.nurse,
            "POST",
            "/catalogue/entries",
            &[],
            None,
            Some(therapy.clone()),
        )
        .await;
    assert_eq!(s, 403);
    let (s, body, etag) = client
        .call(
            &client.admin,
            "POST",
            "/catalogue/entries",
            &[],
            None,
            Some(therapy.clone()),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(etag.as_deref(), Some("\"1\""));
    assert_eq!(body["status"], "active");
    assert_eq!(body["origin"], "registry");
    assert_eq!(body["version"], 1);
    // A retried create never makes a second entry.
    let (s, body, _) = client
        .call(
            &client.admin,
            "POST",
            "/catalogue/entries",
            &[],
            None,
            Some(therapy.clone()),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(body["existing_id"], "play-therapy");
    // Instruments exist through the engine; their id is the definition's.
    let (s, _, _) = client
        .call(&client.admin, "POST", "/catalogue/entries", &[], None,
              Some(json!({"id": "mchat-r", "kind": "instrument", "name": "M-CHAT-R", "scoring_definition": "mchat-r"})))
        .await;
    assert_eq!(s, 409);
    let (s, body, _) = client
        .call(&client.admin, "POST", "/catalogue/entries", &[], None,
              Some(json!({"id": "my-mchat", "kind": "instrument", "name": "M-CHAT-R", "scoring_definition": "mchat-r"})))
        .await;
    assert_eq!((s, problem_fields(&body)), (422, vec!["id".to_owned()]));
    // Create-only rules.
    let (s, body, _) = client
        .call(&client.admin, "POST", "/catalogue/entries", &[], None,
              Some(json!({"kind": "therapy", "name": "x", "participants": "children", "status": "retired"})))
        .await;
    assert_eq!(
        (s, problem_fields(&body)),
        (422, vec!["id".to_owned(), "status".to_owned()])
    );
    let (s, body, _) = client
        .call(
            &client.admin,
            "POST",
            "/catalogue/entries",
            &[],
            None,
            Some(
                json!({"id": "Bad Id", "kind": "service", "name": "x", "participants": "children"}),
            ),
        )
        .await;
    assert_eq!(
        (s, problem_fields(&body)),
        (422, vec!["id".to_owned(), "provider_kind".to_owned()])
    );
    let (s, _, _) = client
        .call(
            &client.admin,
            "POST",
            "/catalogue/entries",
            &[],
            None,
            Some(json!({"id": "x", "colour": "red"})),
        )
        .await;
    assert_eq!(s, 400, "unknown fields are refused");

    // Read.
    let (s, body, etag) = client
        .call(
            &client.nurse,
            "GET",
            "/catalogue/entries/play-therapy",
            &[],
            None,
            None,
        )
        .await;
    assert_eq!((s, etag.as_deref()), (200, Some("\"1\"")));
    assert_eq!(body["target_age_months"], json!({"min": 36, "max": 144}));
    let (s, body, _) = client
        .call(
            &client.nurse,
            "GET",
            "/catalogue/entries/mchat-r",
            &[],
            None,
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["kind"], "instrument");
    assert_eq!(body["scoring_definition"], "mchat-r");
    assert_eq!(body["target_age_months"], json!({"min": 16, "max": 30}));
    for missing in ["nope", "NOPE", "a--b"] {
        let (s, _, _) = client
            .call(
                &client.nurse,
                "GET",
                &format!("/catalogue/entries/{missing}"),
                &[],
                None,
                None,
            )
            .await;
        assert_eq!(s, 404, "{missing}");
    }

    // Update: If-Match required, checked, and the kind fixed.
    let path = "/catalogue/entries/play-therapy";
    let mut change = therapy.clone();
    change["name"] = json!("Child-centred play therapy");
    let (s, body, _) = client
        .call(&client.admin, "PUT", path, &[], None, Some(change.clone()))
        .await;
    assert_eq!(
        (s, body["type"].as_str()),
        (428, Some("urn:ravis:problem:precondition-required"))
    );
    let (s, _, _) = client
        .call(
            &client.admin,
            "PUT",
            path,
            &[],
            Some("\"7\""),
            Some(change.clone()),
        )
        .await;
    assert_eq!(s, 412);
    let (s, body, _) = client
        .call(
            &client.admin,
            "PUT",
            path,
            &[],
            Some("seven"),
            Some(change.clone()),
        )
        .await;
    assert_eq!(
        (s, problem_fields(&body)),
        (422, vec!["If-Match".to_owned()])
    );
    let (s, _, _) = client
        .call(
            &client.nurse,
            "PUT",
            path,
            &[],
            Some("\"1\""),
            Some(change.clone()),
        )
        .await;
    assert_eq!(s, 403);
    let mut bad = change.clone();
    bad["kind"] = json!("programme");
    bad["id"] = json!("other");
    let (s, body, _) = client
        .call(&client.admin, "PUT", path, &[], Some("\"1\""), Some(bad))
        .await;
    assert_eq!(
        (s, problem_fields(&body)),
        (422, vec!["id".to_owned(), "kind".to_owned()])
    );
    let (s, _, _) = client
        .call(
            &client.admin,
            "PUT",
            "/catalogue/entries/nope",
            &[],
            Some("\"1\""),
            Some(change.clone()),
        )
        .await;
    assert_eq!(s, 404);
    let (s, body, etag) = client
        .call(
            &client.admin,
            "PUT",
            path,
            &[],
            Some("\"1\""),
            Some(change.clone()),
        )
        .await;
    assert_eq!((s, etag.as_deref()), (200, Some("\"2\"")), "{body}");
    assert_eq!(body["name"], "Child-centred play therapy");
    // The same stale version again: 412, nothing lost.
    let (s, _, _) = client
        .call(
            &client.admin,
            "PUT",
            path,
            &[],
            Some("\"1\""),
            Some(therapy.clone()),
        )
        .await;
    assert_eq!(s, 412);
    let instrument_change =
        json!({"kind": "instrument", "name": "M-CHAT-R", "scoring_definition": "mchat-rf"});
    let (s, body, _) = client
        .call(
            &client.admin,
            "PUT",
            "/catalogue/entries/mchat-r",
            &[],
            Some("\"1\""),
            Some(instrument_change),
        )
        .await;
    assert_eq!(
        (s, problem_fields(&body)),
        (422, vec!["scoring_definition".to_owned()])
    );
    let (s, body, _) = client
        .call(&client.admin, "PUT", "/catalogue/entries/mchat-r", &[], Some("\"1\""),
              Some(json!({"kind": "instrument", "name": "M-CHAT-R", "scoring_definition": "mchat-r", "administered_by": ["nurse", "paediatrician"]})))
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["administered_by"], json!(["nurse", "paediatrician"]));

    // Retire: If-Match, resolvable afterwards, idempotent, reactivatable.
    let retire = "/catalogue/entries/play-therapy/retire";
    let (s, _, _) = client
        .call(&client.admin, "POST", retire, &[], None, None)
        .await;
    assert_eq!(s, 428);
    let (s, _, _) = client
        .call(&client.admin, "POST", retire, &[], Some("\"1\""), None)
        .await;
    assert_eq!(s, 412);
    let (s, _, _) = client
        .call(&client.nurse, "POST", retire, &[], Some("\"2\""), None)
        .await;
    assert_eq!(s, 403);
    let (s, body, etag) = client
        .call(&client.admin, "POST", retire, &[], Some("\"2\""), None)
        .await;
    assert_eq!(
        (s, etag.as_deref(), body["status"].as_str()),
        (200, Some("\"3\""), Some("retired"))
    );
    let (s, _, etag) = client
        .call(&client.admin, "POST", retire, &[], Some("\"3\""), None)
        .await;
    assert_eq!(
        (s, etag.as_deref()),
        (200, Some("\"3\"")),
        "retiring again changes nothing"
    );
    assert!(
        active_entry(&records, "play-therapy")
            .await
            .expect("lookup")
            .is_none()
    );
    let (old, _) = entry(&records, "play-therapy")
        .await
        .expect("lookup")
        .expect("still there");
    assert_eq!(old.status, EntryStatus::Retired);
    let (s, _, _) = client
        .call(&client.nurse, "GET", path, &[], None, None)
        .await;
    assert_eq!(s, 200, "retired entries stay readable");
    assert_eq!(
        client.all_ids(&[("status", "retired")], 10).await,
        vec!["play-therapy"]
    );
    let mut reactivate = change.clone();
    reactivate["status"] = json!("active");
    let (s, body, _) = client
        .call(
            &client.admin,
            "PUT",
            path,
            &[],
            Some("\"3\""),
            Some(reactivate),
        )
        .await;
    assert_eq!((s, body["status"].as_str()), (200, Some("active")));
    assert!(
        active_entry(&records, "play-therapy")
            .await
            .expect("lookup")
            .is_some()
    );
    assert!(
        active_entry(&records, "unknown-id")
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(
        active_entry(&records, "Not An Id")
            .await
            .expect("lookup")
            .is_none()
    );

    // Programmes scoring recommends cannot be retired, by either route.
    let (s, body, _) = client
        .call(
            &client.admin,
            "POST",
            "/catalogue/entries/cool-kids/retire",
            &[],
            Some("\"1\""),
            None,
        )
        .await;
    assert_eq!(
        (s, body["type"].as_str()),
        (409, Some("urn:ravis:problem:recommended-by-scoring"))
    );
    let (s, _, _) = client
        .call(&client.admin, "PUT", "/catalogue/entries/cool-kids", &[], Some("\"1\""),
              Some(json!({"kind": "programme", "name": "Cool Kids", "participants": "children", "status": "retired"})))
        .await;
    assert_eq!(s, 409);
    assert!(
        active_entry(&records, "cool-kids")
            .await
            .expect("lookup")
            .is_some()
    );

    // The older read routes show the stored entries.
    let (s, body, _) = client
        .call(
            &client.nurse,
            "GET",
            "/catalogue/programmes",
            &[],
            None,
            None,
        )
        .await;
    assert_eq!(s, 200);
    let ids: BTreeSet<&str> = body["programmes"]
        .as_array()
        .expect("programmes")
        .iter()
        .map(|p| p["id"].as_str().expect("id"))
        .collect();
    assert!(ids.contains("play-therapy") && ids.contains("cool-kids"));
    assert!(!ids.contains("mchat-r"));
    let (s, body, _) = client
        .call(
            &client.nurse,
            "GET",
            "/catalogue/programmes/play-therapy",
            &[],
            None,
            None,
        )
        .await;
    assert_eq!(
        (s, body["name"].as_str()),
        (200, Some("Child-centred play therapy"))
    );
    let (s, _, _) = client
        .call(
            &client.nurse,
            "GET",
            "/catalogue/programmes/mchat-r",
            &[],
            None,
            None,
        )
        .await;
    assert_eq!(s, 404, "instruments are not programmes");
}
