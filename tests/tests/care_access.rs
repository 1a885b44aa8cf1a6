//! Care relationships and break-the-glass on the embedded backend, through the use cases
//! with a clock the test moves: who sees a child, for how long, and what is recorded.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use chrono::{DateTime, Duration, Utc};
use ravis::adapters::embedded::{EmbeddedBackend, QueueOptions, SqliteQueue, SqliteRecordStore};
use ravis::app::App;
use ravis::domain::{Atvk, ChildId, Principal, Role};
use ravis::inbound::children_api::ChildrenApi;
use ravis::inbound::http::ApiRequest;
use ravis::inbound::routes::handle;
use ravis::ports::Clock;
use ravis::services::ServiceError;
use ravis::services::audit::{AuditEntity, AuditOutcome};
use ravis::services::break_glass::BreakGlassInput;
use ravis::services::care::{self, CareBasis};
use ravis::services::children::{ChildUpdateInput, ChildrenService, NewChildInput, SearchInput};
use ravis::services::registry::RegistryService;
use ravis::services::screenings::{NewScreeningInput, ScreeningsService};
use ravis_tests::auth::verifier_and_token;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// A clock the test moves.
struct TestClock(Mutex<DateTime<Utc>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

impl TestClock {
    fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap();
        *t += by;
    }
}

struct World {
    _dir: tempfile::TempDir,
    records: SqliteRecordStore,
    clock: Arc<TestClock>,
    children: ChildrenService<SqliteRecordStore>,
    screenings: ScreeningsService<SqliteRecordStore, SqliteQueue>,
    registry: RegistryService<SqliteRecordStore>,
}

const REASON: &str = "child brought to the emergency room, no care link";

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let backend = EmbeddedBackend::open(dir.path()).unwrap();
    let records = backend.records();
    let queue = backend.queue("scoring", QueueOptions::default()).unwrap();
    let clock = Arc::new(TestClock(Mutex::new(Utc::now())));
    let app = App::new(records.clone(), &[4; 32], &[6; 32])
        .unwrap()
        .with_clock(clock.clone())
        .with_break_glass_minutes(60);
    World {
        children: app.children(),
        screenings: app.screenings(queue),
        registry: app.registry(),
        records,
        clock,
        _dir: dir,
    }
}

fn person(subject: &str, role: Role, organisation: &str, atvk: Option<&str>) -> Principal {
    Principal {
        subject: subject.into(),
        roles: vec![role],
        organisation: organisation.into(),
        territory: atvk.map(|a| Atvk::parse(a).unwrap()),
        purpose: None,
    }
}

fn new_child(code: &str) -> NewChildInput {
    serde_json::from_value(json!({"given_name": "Anna", "family_name": "Bērziņa",
        "birth_date": "2024-10-01", "sex": "female", "atvk": "0001000",
        "gestational_age_weeks": 34, "personal_code": code}))
    .unwrap()
}

fn screening(child: ChildId) -> NewScreeningInput {
    let answers: serde_json::Map<String, Value> =
        (1..=20).map(|i| (i.to_string(), json!(0))).collect();
    serde_json::from_value(json!({"child_id": child, "instrument": "mchat-r",
        "administered_on": "2026-11-20", "answers": answers}))
    .unwrap()
}

async fn register(w: &World, who: &Principal, code: &str) -> ChildId {
    let reply = w
        .children
        .register(who, "r", new_child(code), None)
        .await
        .unwrap();
    reply.body["id"].as_str().unwrap().parse().unwrap()
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, ServiceError>) -> bool {
    matches!(r, Err(ServiceError::NotFound(_)))
}

async fn sees(w: &World, who: &Principal, child: ChildId) -> bool {
    match w.children.get(who, "r", child).await {
        Ok(_) => true,
        Err(ServiceError::NotFound(_)) => false,
        Err(e) => panic!("{e}"),
    }
}

fn glass(reason: &str) -> BreakGlassInput {
    BreakGlassInput {
        reason: reason.into(),
    }
}

#[tokio::test]
async fn a_specialist_sees_only_children_of_its_organisation() {
    let w = world();
    let nurse = person("nurse", Role::HealthSpecialist, "clinic", None);
    let other = person("doctor", Role::HealthSpecialist, "hospital", None);
    let teacher = person("teacher", Role::EducationSpecialist, "school", None);
    let child = register(&w, &nurse, "32579461005").await;

    // Registering made the link, so the registrar keeps seeing the child.
    let link = care::link(&w.records, child, "clinic")
        .await
        .unwrap()
        .unwrap();
    assert!(link.bases.contains_key(&CareBasis::Registered));
    assert!(sees(&w, &nurse, child).await);

    // Registering the same code again: the id of the existing child only to those who see it.
    for (who, shown) in [(&nurse, true), (&other, false)] {
        match w
            .children
            .register(who, "r", new_child("325794-61005"), None)
            .await
        {
            Err(ServiceError::Conflict { existing_id, .. }) => {
                assert_eq!(
                    existing_id,
                    shown.then(|| child.to_string()),
                    "{}",
                    who.subject
                )
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        care::link(&w.records, child, "hospital")
            .await
            .unwrap()
            .is_none(),
        "a refused registration makes no link"
    );

    // Another organisation: every child-scoped use case answers "not found".
    assert!(!sees(&w, &other, child).await);
    assert!(!sees(&w, &teacher, child).await);
    assert!(is_not_found(
        w.children
            .find_by_personal_code(
                &other,
                "r",
                SearchInput {
                    personal_code: "325794-61005".into()
                }
            )
            .await
    ));
    assert!(is_not_found(
        w.screenings.risk_profile(&other, "r", child).await
    ));
    let update: ChildUpdateInput = serde_json::from_value(json!({"given_name": "Anna",
        "family_name": "Bērziņa", "birth_date": "2024-10-01", "sex": "female", "atvk": "0001000"}))
    .unwrap();
    assert!(is_not_found(
        w.children.update(&other, "r", child, 1, update).await
    ));
    match w
        .screenings
        .submit(&other, "r", screening(child), None)
        .await
    {
        Err(ServiceError::Validation(errors)) => assert_eq!(errors[0].field, "child_id"),
        other => panic!("{other:?}"),
    }
    // The nurse's screening is invisible to the other organisation too.
    let submitted = w
        .screenings
        .submit(&nurse, "r", screening(child), None)
        .await
        .unwrap();
    let screening_id = submitted.body["id"].as_str().unwrap().parse().unwrap();
    assert!(w.screenings.get(&nurse, "r", screening_id).await.is_ok());
    assert!(is_not_found(
        w.screenings.get(&other, "r", screening_id).await
    ));
    let link = care::link(&w.records, child, "clinic")
        .await
        .unwrap()
        .unwrap();
    assert!(link.bases.contains_key(&CareBasis::Screened));

    // A support episode (recorded by the registry's use case) links the provider.
    care::record_link(
        &w.records,
        child,
        "school",
        CareBasis::Supports,
        w.clock.now(),
    )
    .await
    .unwrap();
    assert!(sees(&w, &teacher, child).await);

    // Roles that are not specialists keep their rules: national or territorial.
    let admin = person("admin", Role::RegistryAdministrator, "registry", None);
    let social = person(
        "social",
        Role::MunicipalitySocialService,
        "riga",
        Some("0001000"),
    );
    let social_elsewhere = person("s2", Role::MunicipalitySocialService, "x", Some("0056000"));
    assert!(sees(&w, &admin, child).await);
    assert!(sees(&w, &social, child).await);
    assert!(!sees(&w, &social_elsewhere, child).await);
    // A specialist with a link but outside its territory scope still does not see it.
    let scoped_nurse = person("nurse", Role::HealthSpecialist, "clinic", Some("0056000"));
    assert!(!sees(&w, &scoped_nurse, child).await);
}

#[tokio::test]
async fn break_the_glass_grants_time_limited_audited_access_to_one_holder() {
    let w = world();
    let nurse = person("nurse", Role::HealthSpecialist, "clinic", None);
    let doctor = person("doctor", Role::HealthSpecialist, "hospital", None);
    let colleague = person("colleague", Role::HealthSpecialist, "hospital", None);
    let child = register(&w, &nurse, "32579461005").await;
    assert!(!sees(&w, &doctor, child).await);

    // Refusals: a short reason, an unknown child, a child outside the territory, a role
    // that is not a specialist.
    match w
        .children
        .break_glass(&doctor, "r", child, glass(" too short "))
        .await
    {
        Err(ServiceError::Validation(errors)) => assert_eq!(errors[0].field, "reason"),
        other => panic!("{other:?}"),
    }
    let unknown = ChildId::from_uuid(uuid::Uuid::now_v7());
    assert!(is_not_found(
        w.children
            .break_glass(&doctor, "r", unknown, glass(REASON))
            .await
    ));
    let elsewhere = person(
        "doctor",
        Role::HealthSpecialist,
        "hospital",
        Some("0056000"),
    );
    assert!(is_not_found(
        w.children
            .break_glass(&elsewhere, "r", child, glass(REASON))
            .await
    ));
    let social = person("social", Role::MunicipalitySocialService, "riga", None);
    assert!(matches!(
        w.children
            .break_glass(&social, "r", child, glass(REASON))
            .await,
        Err(ServiceError::Forbidden(_))
    ));
    assert!(!sees(&w, &doctor, child).await);

    // The grant: 201 with its expiry (one hour in this world).
    let granted = w
        .children
        .break_glass(&doctor, "req-glass", child, glass(REASON))
        .await
        .unwrap();
    assert_eq!(granted.status, 201);
    let expires: DateTime<Utc> = granted.body["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(expires, w.clock.now() + Duration::minutes(60));

    // The holder sees the child and its risk profile; each access carries the reason.
    let audit = w.children.audit();
    let before = audit.entries(child).await.unwrap().len();
    assert!(sees(&w, &doctor, child).await);
    w.screenings
        .risk_profile(&doctor, "r", child)
        .await
        .unwrap();
    // The registry's use cases too (here: the child's support episodes).
    w.registry
        .list_episodes(&doctor, "r", &[("child".into(), child.to_string())])
        .await
        .unwrap();
    let entries = audit.entries(child).await.unwrap();
    assert_eq!(entries.len(), before + 3);
    assert_eq!(entries[before + 2].body.entity, AuditEntity::SupportEpisode);
    for e in &entries[before..] {
        assert_eq!(e.body.break_glass_reason.as_deref(), Some(REASON));
        assert_eq!(e.body.actor.subject, "doctor");
    }
    let grant_entry = entries
        .iter()
        .find(|e| {
            e.body.entity == AuditEntity::BreakGlass && e.body.outcome == AuditOutcome::Success
        })
        .unwrap();
    // The social worker's refused attempt is recorded as denied, without a reason.
    let denied = entries
        .iter()
        .find(|e| {
            e.body.entity == AuditEntity::BreakGlass && e.body.outcome == AuditOutcome::Denied
        })
        .unwrap();
    assert_eq!(denied.body.actor.subject, "social");
    assert_eq!(denied.body.break_glass_reason, None);
    assert_eq!(grant_entry.body.request_id, "req-glass");
    assert_eq!(grant_entry.body.break_glass_reason.as_deref(), Some(REASON));
    // The nurse's reads (care link) carry no reason.
    w.children.get(&nurse, "r", child).await.unwrap();
    let last = audit.entries(child).await.unwrap().pop().unwrap();
    assert_eq!(last.body.break_glass_reason, None);

    // The grant is the holder's: not a colleague's of the same organisation, nor the same
    // subject acting for another organisation.
    assert!(!sees(&w, &colleague, child).await);
    let moved = person("doctor", Role::HealthSpecialist, "elsewhere", None);
    assert!(!sees(&w, &moved, child).await);

    // It ends at its expiry.
    w.clock.advance(Duration::minutes(59));
    assert!(sees(&w, &doctor, child).await);
    w.clock.advance(Duration::minutes(1));
    assert!(!sees(&w, &doctor, child).await);
    assert!(is_not_found(
        w.screenings.risk_profile(&doctor, "r", child).await
    ));

    // Breaking it again gives a new period; screening under it makes a lasting link.
    w.children
        .break_glass(&doctor, "r", child, glass(REASON))
        .await
        .unwrap();
    w.screenings
        .submit(&doctor, "r", screening(child), None)
        .await
        .unwrap();
    let submitted = audit.entries(child).await.unwrap().pop().unwrap();
    assert_eq!(submitted.body.break_glass_reason.as_deref(), Some(REASON));
    w.clock.advance(Duration::hours(2));
    assert!(sees(&w, &doctor, child).await, "screening made a care link");
    let last = audit.entries(child).await.unwrap().pop().unwrap();
    assert_eq!(last.body.break_glass_reason, None, "read through the link");
    assert!(audit.verify(child).await.unwrap().intact);
}

#[tokio::test]
async fn the_child_record_is_minimised_and_health_data_is_kept_from_education_staff() {
    let w = world();
    let teacher = person("teacher", Role::EducationSpecialist, "school", None);
    let child = register(&w, &teacher, "32579461005").await;
    let read = w.children.get(&teacher, "r", child).await.unwrap();
    assert!(read.body.get("personal_code").is_none());
    assert!(read.body.get("gestational_age_weeks").is_none());
    assert_eq!(read.body["given_name"], "Anna");

    // Changing the record keeps the health datum the teacher cannot see; sending one is refused.
    let update = |extra: Value| -> ChildUpdateInput {
        let mut body = json!({"given_name": "Anna", "family_name": "Ozola",
            "birth_date": "2024-10-01", "sex": "female", "atvk": "0001000"});
        if let Value::Object(m) = extra {
            body.as_object_mut().unwrap().extend(m);
        }
        serde_json::from_value(body).unwrap()
    };
    match w
        .children
        .update(
            &teacher,
            "r",
            child,
            1,
            update(json!({"gestational_age_weeks": 40})),
        )
        .await
    {
        Err(ServiceError::Validation(errors)) => {
            assert_eq!(errors[0].field, "gestational_age_weeks")
        }
        other => panic!("{other:?}"),
    }
    let changed = w
        .children
        .update(&teacher, "r", child, 1, update(json!({})))
        .await
        .unwrap();
    assert_eq!(changed.body["family_name"], "Ozola");
    assert!(changed.body.get("gestational_age_weeks").is_none());
    let admin = person("admin", Role::RegistryAdministrator, "registry", None);
    let full = w.children.get(&admin, "r", child).await.unwrap();
    assert_eq!(full.body["gestational_age_weeks"], 34);
    assert_eq!(full.body["personal_code"], "32579461005");
    let social = person("social", Role::MunicipalitySocialService, "riga", None);
    let seen = w.children.get(&social, "r", child).await.unwrap();
    assert_eq!(seen.body["personal_code"], "32579461005");
    assert!(seen.body.get("gestational_age_weeks").is_none());
}

#[tokio::test]
async fn break_the_glass_over_http_names_the_reason_in_a_problem() {
    let w = world();
    let nurse = person("nurse", Role::HealthSpecialist, "clinic", None);
    let child = register(&w, &nurse, "32579461005").await;
    let (auth, token) = verifier_and_token(Role::HealthSpecialist, "hospital");
    let api = ChildrenApi(w.children);
    let post = |body: &str| {
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        ApiRequest {
            method: http::Method::POST,
            path: format!("/children/{child}/break-the-glass"),
            query: vec![],
            headers,
            body: body.to_owned().into(),
            request_id: "http-1".into(),
        }
    };
    for body in [
        r#"{"reason": "   short  "}"#.to_owned(),
        format!(r#"{{"reason": "{}"}}"#, "x".repeat(501)),
    ] {
        let r = handle(&auth, &api, post(&body)).await;
        assert_eq!(r.status.as_u16(), 422);
        assert_eq!(
            r.headers.get("content-type").unwrap(),
            "application/problem+json"
        );
        let problem: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(problem["errors"][0]["field"], "reason", "{problem}");
    }
    let r = handle(&auth, &api, post(r#"{}"#)).await;
    assert!(matches!(r.status.as_u16(), 400 | 422), "{}", r.status);
    let r = handle(&auth, &api, post(&format!(r#"{{"reason": "{REASON}"}}"#))).await;
    assert_eq!(r.status.as_u16(), 201);
    let grant: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(grant["reason"], REASON);
    assert_eq!(
        r.headers.get("location").unwrap().to_str().unwrap(),
        format!("/children/{child}")
    );
}
