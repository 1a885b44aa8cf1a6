//! The audit trail suites, written once and run on every record-store adapter
//! (`tests/tests/audit.rs` on SQLite, `tests/tests/aws_audit.rs` on DynamoDB/moto):
//! the end-to-end walk (exactly one entry per personal-data read or write), the data
//! protection officer's routes, tamper detection and concurrent appends.

use ravis::app::App;
use ravis::config::{AuthSettings, JwtKey};
use ravis::domain::{ChildId, Principal, Role};
use ravis::inbound::all_routes::AllRoutes;
use ravis::inbound::auth::{Authenticator, DevTokenRequest, mint_dev_token};
use ravis::inbound::http::{ApiRequest, ApiResponse};
use ravis::inbound::routes::{ROUTES, Route, handle};
use ravis::ports::{Clock, Key, Queue, RecordStore, SystemClock, WriteOp};
use ravis::services::audit::{
    AuditAction, AuditEntity, AuditEntry, AuditEvent, AuditOutcome, AuditTrail, ChainBreak,
};
use ravis::store::keys;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;

const SECRET: &[u8] = b"audit-suite-secret-audit-suite-secret";
const PSEUDONYM_KEY: &[u8] = b"audit-suite-pseudonym-key-000001";

fn authenticator() -> Authenticator {
    Authenticator::new(&AuthSettings {
        issuer: "audit-suite".into(),
        audience: vec!["ravis-api".into()],
        algorithms: vec![jsonwebtoken::Algorithm::HS256],
        key: JwtKey::Hs256Secret(SECRET.to_vec()),
        leeway_seconds: 0,
    })
    .expect("authenticator")
}

fn token(subject: &str, roles: &[Role], organisation: &str, purpose: Option<&str>) -> String {
    let now = chrono::Utc::now().timestamp() as u64;
    mint_dev_token(
        SECRET,
        &DevTokenRequest {
            issuer: "audit-suite",
            audience: "ravis-api",
            subject,
            roles,
            organisation,
            territory: None,
            purpose,
            issued_at: now - 5,
            lifetime_seconds: 600,
        },
    )
    .expect("token")
}

fn request(
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    token: &str,
    body: Option<Value>,
    idempotency_key: Option<&str>,
) -> ApiRequest {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    headers.insert("content-type", "application/json".parse().expect("header"));
    if let Some(k) = idempotency_key {
        headers.insert("idempotency-key", k.parse().expect("header"));
    }
    ApiRequest {
        method: method.parse().expect("method"),
        path: path.into(),
        query: query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        headers,
        body: body.map(|b| b.to_string().into()).unwrap_or_default(),
        request_id: uuid::Uuid::now_v7().to_string(),
    }
}

fn json_of(r: &ApiResponse) -> Value {
    serde_json::from_slice(&r.body).expect("JSON body")
}

/// What one call is expected to add to the child's chain.
struct Expect {
    route: Route,
    subject: &'static str,
    organisation: &'static str,
    roles: Vec<Role>,
    outcome: AuditOutcome,
    purpose: Option<&'static str>,
    entity_id: Option<String>,
    /// The break-the-glass reason the entry must carry (`None`: not under a grant).
    break_glass_reason: Option<&'static str>,
}

/// Calls the API and asserts the child's chain grew by exactly the expected entry.
async fn call_audited<R: RecordStore, Q: Queue>(
    auth: &Authenticator,
    api: &AllRoutes<R, Q, ravis::adapters::embedded::DirBlobStore>,
    audit: &AuditTrail<R>,
    child: Option<ChildId>,
    req: ApiRequest,
    expect: &Expect,
) -> (ApiResponse, ChildId) {
    let before = match child {
        Some(c) => audit.entries(c).await.expect("entries").len(),
        None => 0,
    };
    let request_id = req.request_id.clone();
    let response = handle(auth, api, req).await;
    let child = child.unwrap_or_else(|| {
        json_of(&response)["id"]
            .as_str()
            .expect("created child id")
            .parse()
            .expect("child id")
    });
    let entries = audit.entries(child).await.expect("entries");
    assert_eq!(
        entries.len(),
        before + 1,
        "{:?} must add exactly one audit entry",
        expect.route
    );
    let entry = entries.last().expect("an entry");
    let (entity, action) = expect.route.audited().expect("an audited route");
    assert_eq!(entry.body.entity, entity);
    assert_eq!(entry.body.action, action);
    assert_eq!(entry.body.outcome, expect.outcome);
    assert_eq!(entry.body.request_id, request_id);
    assert_eq!(entry.body.actor.subject, expect.subject);
    assert_eq!(entry.body.actor.organisation, expect.organisation);
    assert_eq!(entry.body.actor.roles, expect.roles);
    assert_eq!(entry.body.purpose.as_deref(), expect.purpose);
    assert_eq!(entry.body.fields, vec!["all".to_owned()]);
    assert_eq!(entry.body.entity_id, expect.entity_id);
    assert_eq!(
        entry.body.break_glass_reason.as_deref(),
        expect.break_glass_reason,
        "{:?}",
        expect.route
    );
    assert_eq!(entry.body.child, audit.pseudonym(child));
    assert_eq!(entry.body.seq, entries.len() as u64);
    // The stored entry never carries the child id in clear.
    let stored = serde_json::to_string(entry).expect("json");
    assert!(!stored.contains(&child.to_string()));
    (response, child)
}

/// Asserts the child's chain grew by exactly one entry, a successful create of `entity`
/// with `id`, and returns it.
async fn one_create<R: RecordStore>(
    audit: &AuditTrail<R>,
    child: ChildId,
    before: usize,
    entity: AuditEntity,
    id: &str,
) -> ravis::services::audit::EntryBody {
    let entries = audit.entries(child).await.expect("entries");
    assert_eq!(entries.len(), before + 1);
    let e = entries[before].body.clone();
    assert_eq!(
        (e.entity, e.action, e.outcome, e.entity_id.as_deref()),
        (entity, AuditAction::Create, AuditOutcome::Success, Some(id))
    );
    e
}

/// Walks every personal-data route end to end and checks that each call records exactly
/// one audit entry with the right fields, that refusals are recorded, that the data
/// protection officer's views page, summarise and verify the chain, and that no other
/// role may use them.
pub async fn end_to_end_walk<R: RecordStore + Clone, Q: Queue + Clone>(records: R, queue: Q) {
    let app = App::new(records.clone(), &[3; 32], PSEUDONYM_KEY).expect("app");
    let reports_dir = tempfile::tempdir().expect("reports dir");
    let reports = ravis::adapters::embedded::DirBlobStore::open(reports_dir.path(), "reports")
        .expect("reports bucket");
    let partner = ravis::adapters::embedded::DirBlobStore::open(reports_dir.path(), "partner")
        .expect("partner bucket");
    let api = app
        .all_routes(queue.clone(), queue, reports, partner)
        .expect("routes");
    let audit = app.audit();
    let auth = authenticator();
    let nurse_roles = vec![Role::HealthSpecialist];
    let nurse = token("nurse-1", &nurse_roles, "clinic-1", Some("screening"));
    let teacher = token("teacher-2", &[Role::EducationSpecialist], "school-2", None);
    let analyst = token("analyst-3", &[Role::MinistryAnalyst], "ministry", None);
    let dpo = token("dpo-4", &[Role::DataProtectionOfficer], "ministry", None);
    let mut covered = HashSet::new();
    let nurse_expect = |route: Route, outcome: AuditOutcome, entity_id: Option<String>| Expect {
        route,
        subject: "nurse-1",
        organisation: "clinic-1",
        roles: nurse_roles.clone(),
        outcome,
        purpose: Some("screening"),
        entity_id,
        break_glass_reason: None,
    };

    // POST /children, then the same request again (a replay is recorded as such).
    let child_body = json!({"given_name": "Anna", "family_name": "Bērziņa",
        "birth_date": "2024-10-01", "sex": "female", "personal_code": "32579461005"});
    let (r, child) = call_audited(
        &auth,
        &api,
        &audit,
        None,
        request(
            "POST",
            "/children",
            &[],
            &nurse,
            Some(child_body.clone()),
            Some("k-1"),
        ),
        &nurse_expect(Route::CreateChild, AuditOutcome::Success, None),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", json_of(&r));
    covered.insert(Route::CreateChild);
    let (r, _) = call_audited(
        &auth,
        &api,
        &audit,
        Some(child),
        request(
            "POST",
            "/children",
            &[],
            &nurse,
            Some(child_body),
            Some("k-1"),
        ),
        &nurse_expect(Route::CreateChild, AuditOutcome::Replayed, None),
    )
    .await;
    assert_eq!(r.status, 201);

    // A specialist of another organisation (no care link) does not see the child: the
    // answer is "not found", as for an unknown child.
    let before = audit.entries(child).await.expect("entries").len();
    let r = handle(
        &auth,
        &api,
        request(
            "GET",
            &format!("/children/{child}"),
            &[],
            &teacher,
            None,
            None,
        ),
    )
    .await;
    assert_eq!(r.status, 404, "{:?}", json_of(&r));
    assert_eq!(audit.entries(child).await.expect("entries").len(), before);

    // They break the glass with a reason: the grant is one entry carrying the reason.
    const REASON: &str = "child at risk reported by the class teacher today";
    let (r, _) = call_audited(
        &auth,
        &api,
        &audit,
        Some(child),
        request(
            "POST",
            &format!("/children/{child}/break-the-glass"),
            &[],
            &teacher,
            Some(json!({"reason": format!("  {REASON} ")})),
            None,
        ),
        &Expect {
            route: Route::BreakGlass,
            subject: "teacher-2",
            organisation: "school-2",
            roles: vec![Role::EducationSpecialist],
            outcome: AuditOutcome::Success,
            purpose: None,
            entity_id: None,
            break_glass_reason: Some(REASON),
        },
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", json_of(&r));
    assert_eq!(json_of(&r)["reason"], REASON);
    assert!(json_of(&r)["expires_at"].is_string());
    covered.insert(Route::BreakGlass);

    // GET /children/{id} by that colleague under the grant: the read carries the reason,
    // and the record is minimised for an education specialist.
    let (r, _) = call_audited(
        &auth,
        &api,
        &audit,
        Some(child),
        request(
            "GET",
            &format!("/children/{child}"),
            &[],
            &teacher,
            None,
            None,
        ),
        &Expect {
            route: Route::GetChild,
            subject: "teacher-2",
            organisation: "school-2",
            roles: vec![Role::EducationSpecialist],
            outcome: AuditOutcome::Success,
            purpose: None,
            entity_id: None,
            break_glass_reason: Some(REASON),
        },
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(json_of(&r).get("personal_code").is_none());
    assert!(json_of(&r).get("gestational_age_weeks").is_none());
    covered.insert(Route::GetChild);

    // A role that may not see a person: refused, and the attempt is recorded.
    let (r, _) = call_audited(
        &auth,
        &api,
        &audit,
        Some(child),
        request(
            "GET",
            &format!("/children/{child}"),
            &[],
            &analyst,
            None,
            None,
        ),
        &Expect {
            route: Route::GetChild,
            subject: "analyst-3",
            organisation: "ministry",
            roles: vec![Role::MinistryAnalyst],
            outcome: AuditOutcome::Denied,
            purpose: None,
            entity_id: None,
            break_glass_reason: None,
        },
    )
    .await;
    assert_eq!(r.status, 403);

    // POST /screenings.
    let answers: serde_json::Map<String, Value> =
        (1..=20).map(|i| (i.to_string(), json!(0))).collect();
    let submission = json!({"child_id": child, "instrument": "mchat-r",
        "administered_on": "2026-11-20", "answers": answers});
    let before = audit.entries(child).await.expect("entries").len();
    let r = handle(
        &auth,
        &api,
        request("POST", "/screenings", &[], &nurse, Some(submission), None),
    )
    .await;
    assert_eq!(r.status, 202, "{:?}", json_of(&r));
    let screening = json_of(&r)["id"].as_str().expect("id").to_owned();
    let entries = audit.entries(child).await.expect("entries");
    assert_eq!(entries.len(), before + 1);
    let e = &entries[before].body;
    assert_eq!(
        (e.entity, e.action, e.outcome),
        (
            AuditEntity::Screening,
            AuditAction::Create,
            AuditOutcome::Success
        )
    );
    assert_eq!(e.entity_id.as_deref(), Some(screening.as_str()));
    covered.insert(Route::CreateScreening);

    // GET /screenings/{id}.
    let (r, _) = call_audited(
        &auth,
        &api,
        &audit,
        Some(child),
        request(
            "GET",
            &format!("/screenings/{screening}"),
            &[],
            &nurse,
            None,
            None,
        ),
        &nurse_expect(
            Route::GetScreening,
            AuditOutcome::Success,
            Some(screening.clone()),
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    covered.insert(Route::GetScreening);

    // GET /children/{id}/risk-profile.
    let (r, _) = call_audited(
        &auth,
        &api,
        &audit,
        Some(child),
        request(
            "GET",
            &format!("/children/{child}/risk-profile"),
            &[],
            &nurse,
            None,
            None,
        ),
        &nurse_expect(Route::ChildRiskProfile, AuditOutcome::Success, None),
    )
    .await;
    assert_eq!(r.status, 200);
    covered.insert(Route::ChildRiskProfile);

    // POST /children/search: the found child's read is one entry.
    let child_text = child.to_string();
    let (r, _) = call_audited(
        &auth,
        &api,
        &audit,
        Some(child),
        request(
            "POST",
            "/children/search",
            &[],
            &nurse,
            Some(json!({"personal_code": "32579461005"})),
            None,
        ),
        &nurse_expect(Route::SearchChildren, AuditOutcome::Success, None),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", json_of(&r));
    assert_eq!(json_of(&r)["id"], child_text.as_str());
    covered.insert(Route::SearchChildren);

    // PUT /children/{id}: one entry for the change.
    let version = records
        .get(&ravis::store::keys::child(child))
        .await
        .expect("read")
        .expect("child")
        .version;
    let mut update = request(
        "PUT",
        &format!("/children/{child}"),
        &[],
        &nurse,
        Some(
            json!({"given_name": "Anna", "family_name": "Bērziņa", "birth_date": "2024-10-01",
                    "sex": "female", "atvk": "0001000"}),
        ),
        None,
    );
    update.headers.insert(
        "if-match",
        format!("\"{version}\"").parse().expect("header"),
    );
    let (r, _) = call_audited(
        &auth,
        &api,
        &audit,
        Some(child),
        update,
        &nurse_expect(Route::UpdateChild, AuditOutcome::Success, None),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", json_of(&r));
    covered.insert(Route::UpdateChild);

    // POST /screenings/{id}/rescore by a registry administrator: one entry.
    let admin_roles = vec![Role::RegistryAdministrator];
    let admin = token("admin-5", &admin_roles, "registry", None);
    let (r, _) = call_audited(
        &auth,
        &api,
        &audit,
        Some(child),
        request(
            "POST",
            &format!("/screenings/{screening}/rescore"),
            &[],
            &admin,
            None,
            None,
        ),
        &Expect {
            route: Route::RescoreScreening,
            subject: "admin-5",
            organisation: "registry",
            roles: admin_roles.clone(),
            outcome: AuditOutcome::Success,
            purpose: None,
            entity_id: Some(screening.clone()),
            break_glass_reason: None,
        },
    )
    .await;
    assert_eq!(r.status, 202, "{:?}", json_of(&r));
    covered.insert(Route::RescoreScreening);

    // Support episodes: the provider organisation is registered (not audited: no child
    // data), then the nurse's clinic records an episode referred by the screening.
    let r = handle(
        &auth,
        &api,
        request(
            "POST",
            "/organisations",
            &[],
            &admin,
            Some(json!({"id": "clinic-1", "kind": "health_practice", "name": "Clinic", "atvk": "0001000"})),
            None,
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", json_of(&r));
    let before = audit.entries(child).await.expect("entries").len();
    let episode_body = json!({"programme": "cool-kids", "provider_org": "clinic-1",
        "referral_date": "2026-11-20", "referral_source": {"screening_id": screening}});
    let mut new_episode = episode_body.clone();
    new_episode["child_id"] = json!(child);
    let r = handle(
        &auth,
        &api,
        request(
            "POST",
            "/support-episodes",
            &[],
            &nurse,
            Some(new_episode),
            None,
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", json_of(&r));
    let episode = json_of(&r)["id"].as_str().expect("id").to_owned();
    let e = one_create(&audit, child, before, AuditEntity::SupportEpisode, &episode).await;
    assert_eq!(e.actor.subject, "nurse-1");
    covered.insert(Route::CreateEpisode);
    let (r, _) = call_audited(
        &auth,
        &api,
        &audit,
        Some(child),
        request(
            "GET",
            &format!("/support-episodes/{episode}"),
            &[],
            &nurse,
            None,
            None,
        ),
        &nurse_expect(
            Route::GetEpisode,
            AuditOutcome::Success,
            Some(episode.clone()),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", json_of(&r));
    covered.insert(Route::GetEpisode);
    let (r, _) = call_audited(
        &auth,
        &api,
        &audit,
        Some(child),
        request(
            "GET",
            "/support-episodes",
            &[("child", child_text.as_str())],
            &nurse,
            None,
            None,
        ),
        &nurse_expect(Route::ListEpisodes, AuditOutcome::Success, None),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", json_of(&r));
    assert_eq!(json_of(&r)["items"][0]["id"], json!(episode));
    covered.insert(Route::ListEpisodes);
    let mut update = request(
        "PUT",
        &format!("/support-episodes/{episode}"),
        &[],
        &nurse,
        Some(episode_body),
        None,
    );
    update
        .headers
        .insert("if-match", "\"1\"".parse().expect("header"));
    let (r, _) = call_audited(
        &auth,
        &api,
        &audit,
        Some(child),
        update,
        &nurse_expect(Route::UpdateEpisode, AuditOutcome::Success, Some(episode)),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", json_of(&r));
    covered.insert(Route::UpdateEpisode);

    // Referrals and the worklist: one entry per call in the child's trail.
    let r = handle(
        &auth,
        &api,
        request(
            "POST",
            "/organisations",
            &[],
            &admin,
            Some(json!({"id": "provider-1", "kind": "programme_provider", "name": "Provider", "atvk": "0001000"})),
            None,
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", json_of(&r));
    let before = audit.entries(child).await.expect("entries").len();
    let r = handle(
        &auth,
        &api,
        request(
            "POST",
            "/referrals",
            &[],
            &nurse,
            Some(json!({"child_id": child, "basis": {"reason": {"text": "parents ask for support"}},
                        "programme": "early-intervention-psychomotor", "provider_org": "provider-1"})),
            None,
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", json_of(&r));
    let referral = json_of(&r)["id"].as_str().expect("id").to_owned();
    one_create(&audit, child, before, AuditEntity::Referral, &referral).await;
    covered.insert(Route::CreateReferral);
    // The proposed referral is on the nurse's worklist, naming the child.
    let (r, _) = call_audited(
        &auth,
        &api,
        &audit,
        Some(child),
        request(
            "GET",
            "/worklist",
            &[("kind", "referral_to_send")],
            &nurse,
            None,
            None,
        ),
        &nurse_expect(Route::Worklist, AuditOutcome::Success, None),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", json_of(&r));
    assert_eq!(json_of(&r)["items"][0]["child"]["id"], json!(child));
    covered.insert(Route::Worklist);
    // The children in the clinic's care: this child, read once.
    let (r, _) = call_audited(
        &auth,
        &api,
        &audit,
        Some(child),
        request("GET", "/children", &[("name", "ann")], &nurse, None, None),
        &nurse_expect(Route::ListChildren, AuditOutcome::Success, None),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", json_of(&r));
    assert_eq!(json_of(&r)["items"][0]["id"], json!(child));
    covered.insert(Route::ListChildren);
    let (r, _) = call_audited(
        &auth,
        &api,
        &audit,
        Some(child),
        request(
            "GET",
            &format!("/referrals/{referral}"),
            &[],
            &nurse,
            None,
            None,
        ),
        &nurse_expect(
            Route::GetReferral,
            AuditOutcome::Success,
            Some(referral.clone()),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", json_of(&r));
    covered.insert(Route::GetReferral);
    let (r, _) = call_audited(
        &auth,
        &api,
        &audit,
        Some(child),
        request(
            "GET",
            "/referrals",
            &[("child", child_text.as_str())],
            &nurse,
            None,
            None,
        ),
        &nurse_expect(Route::ListReferrals, AuditOutcome::Success, None),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", json_of(&r));
    covered.insert(Route::ListReferrals);

    // An export job of the child's screening (recorded as the scoring worker records it with
    // the result): an integration operator lists it, reads it and retries it once it failed;
    // one entry each.
    let jobs = app
        .outbox()
        .for_result(
            child,
            screening.parse().expect("screening id"),
            "RESULT#1.1.0#1.0.0",
            ravis::domain::export::ExportCause::Result,
            false,
        )
        .expect("jobs");
    records.transact(jobs.writes).await.expect("recorded");
    let operator = token("ops-6", &[Role::IntegrationOperator], "ravis-ops", None);
    let operator_expect = |route: Route, entity_id: &str| Expect {
        route,
        subject: "ops-6",
        organisation: "ravis-ops",
        roles: vec![Role::IntegrationOperator],
        outcome: AuditOutcome::Success,
        purpose: None,
        entity_id: Some(entity_id.to_owned()),
        break_glass_reason: None,
    };
    let (r, _) = call_audited(
        &auth,
        &api,
        &audit,
        Some(child),
        request(
            "GET",
            "/exports",
            &[("child", child_text.as_str()), ("target", "health")],
            &operator,
            None,
            None,
        ),
        &operator_expect(Route::ListExports, "list"),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", json_of(&r));
    covered.insert(Route::ListExports);
    let export: ravis::domain::ExportId = json_of(&r)["items"][0]["id"]
        .as_str()
        .expect("an export of the scored screening")
        .parse()
        .expect("export id");
    let (r, _) = call_audited(
        &auth,
        &api,
        &audit,
        Some(child),
        request(
            "GET",
            &format!("/exports/{export}"),
            &[],
            &operator,
            None,
            None,
        ),
        &operator_expect(Route::GetExport, &export.to_string()),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", json_of(&r));
    covered.insert(Route::GetExport);
    let (mut job, version) = ravis::store::exports::load(&records, export)
        .await
        .expect("load")
        .expect("job");
    job.state = ravis::domain::export::ExportState::Failed;
    let version = ravis::store::exports::save(&records, &job, version)
        .await
        .expect("save");
    let mut retry = request(
        "POST",
        &format!("/exports/{export}/retry"),
        &[],
        &operator,
        None,
        None,
    );
    retry.headers.insert(
        "if-match",
        format!("\"{version}\"").parse().expect("header"),
    );
    let (r, _) = call_audited(
        &auth,
        &api,
        &audit,
        Some(child),
        retry,
        &operator_expect(Route::RetryExport, &export.to_string()),
    )
    .await;
    assert_eq!(r.status, 202, "{:?}", json_of(&r));
    covered.insert(Route::RetryExport);
    for (route, method, path, body, version) in [
        (
            Route::SetFamilyAgreement,
            "PUT",
            format!("/referrals/{referral}/family-agreement"),
            json!({"status": "agreed"}),
            "\"1\"",
        ),
        (
            Route::TransitionReferral,
            "POST",
            format!("/referrals/{referral}/transitions"),
            json!({"to": "sent"}),
            "\"2\"",
        ),
    ] {
        let mut req = request(method, &path, &[], &nurse, Some(body), None);
        req.headers
            .insert("if-match", version.parse().expect("header"));
        let (r, _) = call_audited(
            &auth,
            &api,
            &audit,
            Some(child),
            req,
            &nurse_expect(route, AuditOutcome::Success, Some(referral.clone())),
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", json_of(&r));
        covered.insert(route);
    }

    // Legal representatives: one entry per call in the (only) linked child's trail.
    let before = audit.entries(child).await.expect("entries").len();
    let rep_body = json!({"given_name": "Līga", "family_name": "Bērziņa",
        "children": [{"child_id": child, "relation": "mother"}]});
    let r = handle(
        &auth,
        &api,
        request(
            "POST",
            "/representatives",
            &[],
            &nurse,
            Some(rep_body.clone()),
            None,
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", json_of(&r));
    let rep = json_of(&r)["id"].as_str().expect("id").to_owned();
    one_create(
        &audit,
        child,
        before,
        AuditEntity::LegalRepresentative,
        &rep,
    )
    .await;
    covered.insert(Route::CreateRepresentative);
    let (r, _) = call_audited(
        &auth,
        &api,
        &audit,
        Some(child),
        request(
            "GET",
            &format!("/representatives/{rep}"),
            &[],
            &nurse,
            None,
            None,
        ),
        &nurse_expect(
            Route::GetRepresentative,
            AuditOutcome::Success,
            Some(rep.clone()),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", json_of(&r));
    covered.insert(Route::GetRepresentative);
    let (r, _) = call_audited(
        &auth,
        &api,
        &audit,
        Some(child),
        request(
            "GET",
            &format!("/children/{child}/representatives"),
            &[],
            &nurse,
            None,
            None,
        ),
        &nurse_expect(Route::ChildRepresentatives, AuditOutcome::Success, None),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", json_of(&r));
    assert_eq!(json_of(&r)["items"][0]["id"], json!(rep));
    covered.insert(Route::ChildRepresentatives);
    let mut update = request(
        "PUT",
        &format!("/representatives/{rep}"),
        &[],
        &nurse,
        Some(rep_body),
        None,
    );
    update
        .headers
        .insert("if-match", "\"1\"".parse().expect("header"));
    let (r, _) = call_audited(
        &auth,
        &api,
        &audit,
        Some(child),
        update,
        &nurse_expect(
            Route::UpdateRepresentative,
            AuditOutcome::Success,
            Some(rep),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", json_of(&r));
    covered.insert(Route::UpdateRepresentative);

    // (Boxed: the walk's future is large enough to overflow a test thread's stack.)
    Box::pin(async {
        // POST /children/{id}/merge and /unmerge by a registry administrator: one entry in the
        // survivor's chain (and one in the duplicate's) naming the other child by pseudonym and
        // carrying the reason. Two children of their own, so the walked child's chain stays as is.
        let mut pair = Vec::new();
        for given in ["Ilze", "Ilze"] {
            let r = handle(
                &auth,
                &api,
                request(
                    "POST",
                    "/children",
                    &[],
                    &admin,
                    Some(json!({"given_name": given, "family_name": "Kalna", "birth_date": "2025-03-01", "sex": "female"})),
                    None,
                ),
            )
            .await;
            assert_eq!(r.status, 201, "{:?}", json_of(&r));
            let id: ChildId = json_of(&r)["id"]
                .as_str()
                .expect("id")
                .parse()
                .expect("child id");
            pair.push(id);
        }
        let (survivor, duplicate) = (pair[0], pair[1]);
        let merge_expect = |route| Expect {
            route,
            subject: "admin-5",
            organisation: "registry",
            roles: admin_roles.clone(),
            outcome: AuditOutcome::Success,
            purpose: None,
            entity_id: Some(audit.pseudonym(duplicate).as_str().to_owned()),
            break_glass_reason: None,
        };
        // GET /children/duplicates lists the second (flagged) child: a read in its chain.
        let (r, _) = call_audited(
            &auth,
            &api,
            &audit,
            Some(duplicate),
            request("GET", "/children/duplicates", &[], &admin, None, None),
            &Expect {
                entity_id: None,
                ..merge_expect(Route::ListDuplicates)
            },
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", json_of(&r));
        assert_eq!(
            json_of(&r)["items"],
            json!([{"child_id": duplicate, "possible_duplicate_of": [survivor]}])
        );
        let body = json!({"duplicate": duplicate, "reason": "registered twice"});
        let mut merge = request(
            "POST",
            &format!("/children/{survivor}/merge"),
            &[],
            &admin,
            Some(body.clone()),
            None,
        );
        merge
            .headers
            .insert("if-match", "\"1\"".parse().expect("header"));
        let (r, _) = call_audited(
            &auth,
            &api,
            &audit,
            Some(survivor),
            merge,
            &merge_expect(Route::MergeChild),
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", json_of(&r));
        // GET /children/merges lists the merge: a read in both children's chains.
        let (r, _) = call_audited(
            &auth,
            &api,
            &audit,
            Some(survivor),
            request("GET", "/children/merges", &[], &admin, None, None),
            &Expect {
                entity_id: None,
                ..merge_expect(Route::ListMerges)
            },
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", json_of(&r));
        assert_eq!(json_of(&r)["items"][0]["duplicate"], json!(duplicate));
        assert_eq!(json_of(&r)["items"][0]["reason"], "registered twice");
        let (r, _) = call_audited(
            &auth,
            &api,
            &audit,
            Some(survivor),
            request(
                "POST",
                &format!("/children/{survivor}/unmerge"),
                &[],
                &admin,
                Some(body),
                None,
            ),
            &merge_expect(Route::UnmergeChild),
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", json_of(&r));
        for (child, reads) in [(survivor, 0), (duplicate, 1)] {
            let entries = audit.entries(child).await.expect("entries");
            let reasons: Vec<Option<&str>> = entries.iter().map(|e| e.body.reason.as_deref()).collect();
            // Registered, (listed as a duplicate,) merged, listed among the merges, un-merged.
            let mut expected = vec![None; 1 + reads];
            expected.extend([Some("registered twice"), None, Some("registered twice")]);
            assert_eq!(reasons, expected);
        }
    })
    .await;
    covered.extend([
        Route::ListDuplicates,
        Route::ListMerges,
        Route::MergeChild,
        Route::UnmergeChild,
    ]);

    // Every route that touches personal data was walked (a new one must be added here).
    let audited: HashSet<Route> = ROUTES
        .iter()
        .map(|s| s.route)
        .filter(|r| r.audited().is_some())
        .collect();
    assert_eq!(covered, audited);

    // The data protection officer pages through the chain with a cursor.
    let total = audit.entries(child).await.expect("entries").len();
    assert_eq!(total, 29);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("child", child_text.as_str()), ("limit", "3")];
        if let Some(c) = &cursor {
            query.push(("cursor", c.as_str()));
        }
        let r = handle(
            &auth,
            &api,
            request("GET", "/audit", &query, &dpo, None, None),
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", json_of(&r));
        let page = json_of(&r);
        assert_eq!(page["verification"]["intact"], true, "{page}");
        assert_eq!(page["child"], audit.pseudonym(child).as_str());
        let entries = page["entries"].as_array().expect("entries").clone();
        assert!(entries.len() <= 3);
        seen.extend(entries);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let seqs: Vec<u64> = seen.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=total as u64).collect::<Vec<_>>());

    // The data-subject access report: who has seen the child's data.
    let r = handle(
        &auth,
        &api,
        request(
            "GET",
            "/audit/report",
            &[("child", &child_text)],
            &dpo,
            None,
            None,
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    let report = json_of(&r);
    assert_eq!(report["verification"]["intact"], true);
    let accesses = report["accesses"].as_array().expect("accesses");
    let of = |org: &str| {
        accesses
            .iter()
            .find(|a| a["organisation"] == org)
            .unwrap_or_else(|| panic!("no line for {org}: {report}"))
    };
    assert_eq!(of("clinic-1")["roles"], json!(["health_specialist"]));
    // Children, screenings, two episode, three referral (create, agreement, send) and two
    // representative writes; three reads before, two of episodes, three of the referral
    // (worklist, read, list), one of the children list and two of representatives.
    assert_eq!(of("clinic-1")["writes"], 11);
    assert_eq!(of("clinic-1")["reads"], 11);
    assert_eq!(of("registry")["writes"], 1);
    assert_eq!(of("school-2")["reads"], 1);
    assert_eq!(of("school-2")["writes"], 1);
    assert_eq!(of("school-2")["break_glass"], 2);
    assert_eq!(of("clinic-1")["break_glass"], 0);
    assert_eq!(of("ministry")["denied"], 1);
    assert_eq!(of("ministry")["reads"], 0);
    // The integration operator: two reads of the export and its retry.
    assert_eq!(of("ravis-ops")["reads"], 2);
    assert_eq!(of("ravis-ops")["writes"], 1);
    assert_eq!(of("ravis-ops")["roles"], json!(["integration_operator"]));
    assert_eq!(accesses.len(), 5);

    // The break-the-glass report lists who broke the glass, when, for which child and why.
    let today = chrono::Utc::now().date_naive();
    let (from, to) = (
        today.to_string(),
        (today + chrono::Days::new(1)).to_string(),
    );
    let r = handle(
        &auth,
        &api,
        request(
            "GET",
            "/audit/break-the-glass",
            &[("from", &from), ("to", &to)],
            &dpo,
            None,
            None,
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", json_of(&r));
    // The DPO's read of the report is recorded in the DPO-access chain.
    let dpo_log = audit
        .entries(ravis::services::audit::dpo_access_chain())
        .await
        .expect("DPO-access chain");
    let last = dpo_log.last().expect("the report read is recorded");
    assert_eq!(last.body.fields, ["break_glass_report"]);
    assert_eq!(last.body.actor.subject, "dpo-4");
    let report = json_of(&r);
    let grants: Vec<&Value> = report["grants"]
        .as_array()
        .expect("grants")
        .iter()
        .filter(|g| g["child"] == audit.pseudonym(child).as_str())
        .collect();
    assert_eq!(grants.len(), 1, "{report}");
    assert_eq!(grants[0]["subject"], "teacher-2");
    assert_eq!(grants[0]["organisation"], "school-2");
    assert_eq!(grants[0]["roles"], json!(["education_specialist"]));
    assert_eq!(grants[0]["reason"], REASON);
    assert_eq!(grants[0]["child_id"], child_text.as_str());
    assert!(grants[0]["granted_at"].is_string() && grants[0]["expires_at"].is_string());
    for (query, field) in [
        (vec![("to", to.as_str())], "from"),
        (vec![("from", to.as_str()), ("to", from.as_str())], "to"),
        (vec![("from", "2020-01-01"), ("to", to.as_str())], "to"),
    ] {
        let r = handle(
            &auth,
            &api,
            request("GET", "/audit/break-the-glass", &query, &dpo, None, None),
        )
        .await;
        assert_eq!(r.status, 422, "{query:?}");
        assert_eq!(json_of(&r)["errors"][0]["field"], field, "{query:?}");
    }

    // The audit views are not themselves entries in the child's chain.
    assert_eq!(audit.entries(child).await.expect("entries").len(), total);

    // Only the data protection officer may read the trail; bad parameters are named.
    for other in [&nurse, &teacher, &analyst] {
        let r = handle(
            &auth,
            &api,
            request(
                "GET",
                "/audit/break-the-glass",
                &[("from", &from), ("to", &to)],
                other,
                None,
                None,
            ),
        )
        .await;
        assert_eq!(r.status, 403);
        let r = handle(
            &auth,
            &api,
            request(
                "GET",
                "/audit",
                &[("child", &child_text)],
                other,
                None,
                None,
            ),
        )
        .await;
        assert_eq!(r.status, 403);
        let r = handle(
            &auth,
            &api,
            request(
                "GET",
                "/audit/report",
                &[("child", &child_text)],
                other,
                None,
                None,
            ),
        )
        .await;
        assert_eq!(r.status, 403);
    }
    for (query, field) in [
        (vec![], "child"),
        (vec![("child", "not-an-id")], "child"),
        (
            vec![("child", child_text.as_str()), ("limit", "0")],
            "limit",
        ),
        (
            vec![("child", child_text.as_str()), ("limit", "x")],
            "limit",
        ),
        (
            vec![("child", child_text.as_str()), ("cursor", "%%%")],
            "cursor",
        ),
    ] {
        let r = handle(
            &auth,
            &api,
            request("GET", "/audit", &query, &dpo, None, None),
        )
        .await;
        assert_eq!(r.status, 422, "{query:?}: {:?}", json_of(&r));
        assert_eq!(json_of(&r)["errors"][0]["field"], field, "{query:?}");
    }
}

fn principal(subject: &str) -> Principal {
    Principal {
        subject: subject.into(),
        roles: vec![Role::HealthSpecialist],
        organisation: "clinic-1".into(),
        territory: None,
        purpose: Some("care".into()),
    }
}

async fn chain_of<R: RecordStore>(audit: &AuditTrail<R>, n: usize) -> ChildId {
    let child = ChildId::from_uuid(uuid::Uuid::now_v7());
    for i in 0..n {
        audit
            .record(
                &principal(&format!("user-{i}")),
                &format!("req-{i}"),
                AuditEvent::all(child, AuditEntity::Child, AuditAction::Read),
            )
            .await
            .expect("append");
    }
    child
}

async fn stored<R: RecordStore>(
    records: &R,
    audit: &AuditTrail<R>,
    child: ChildId,
    seq: u64,
) -> (Key, ravis::ports::Record) {
    let key = keys::audit_entry(&audit.pseudonym(child), seq);
    let record = records.get(&key).await.expect("get").expect("entry exists");
    (key, record)
}

fn breaks(v: &ravis::services::audit::Verification) -> Vec<u64> {
    v.breaks.iter().map(|b: &ChainBreak| b.seq).collect()
}

/// Modifying, removing or reordering stored entries directly in the store is detected,
/// and verification names exactly the entries concerned.
pub async fn tamper_detection<R: RecordStore + Clone>(records: R) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let audit = AuditTrail::new(records.clone(), PSEUDONYM_KEY, clock, None);

    // An untouched chain verifies.
    let child = chain_of(&audit, 5).await;
    let v = audit.verify(child).await.expect("verify");
    assert!(v.intact, "{v:?}");
    assert_eq!(v.entries, 5);

    // Modify entry 3 (the organisation), leaving its hash as it was.
    let (_, mut record) = stored(&records, &audit, child, 3).await;
    record.data["actor"]["organisation"] = json!("somewhere-else");
    let version = record.version;
    records.put_versioned(record, version).await.expect("put");
    let v = audit.verify(child).await.expect("verify");
    assert!(!v.intact);
    assert_eq!(breaks(&v), vec![3], "{v:?}");
    assert!(v.breaks[0].problem.contains("modified"), "{v:?}");

    // Modify entry 2 AND recompute its own hash: entry 3 no longer links to it.
    let child = chain_of(&audit, 4).await;
    let (_, mut record) = stored(&records, &audit, child, 2).await;
    let mut entry: AuditEntry = serde_json::from_value(record.data.clone()).expect("entry");
    entry.body.outcome = AuditOutcome::Denied;
    entry.hash = entry.body.hash();
    record.data = serde_json::to_value(&entry).expect("json");
    let version = record.version;
    records.put_versioned(record, version).await.expect("put");
    let v = audit.verify(child).await.expect("verify");
    assert_eq!(breaks(&v), vec![3], "{v:?}");
    assert!(v.breaks[0].problem.contains("entry 2"), "{v:?}");

    // Remove entry 2 of 4.
    let child = chain_of(&audit, 4).await;
    let (key, record) = stored(&records, &audit, child, 2).await;
    records
        .transact(vec![WriteOp::Delete {
            key,
            expected: record.version,
        }])
        .await
        .expect("delete");
    let v = audit.verify(child).await.expect("verify");
    assert_eq!(breaks(&v), vec![2], "{v:?}");
    assert!(v.breaks[0].problem.contains("missing"), "{v:?}");
    assert_eq!(v.entries, 3);

    // Remove the last entry: the head still says 4.
    let child = chain_of(&audit, 4).await;
    let (key, record) = stored(&records, &audit, child, 4).await;
    records
        .transact(vec![WriteOp::Delete {
            key,
            expected: record.version,
        }])
        .await
        .expect("delete");
    let v = audit.verify(child).await.expect("verify");
    assert_eq!(breaks(&v), vec![4], "{v:?}");

    // Remove the first entry.
    let child = chain_of(&audit, 3).await;
    let (key, record) = stored(&records, &audit, child, 1).await;
    records
        .transact(vec![WriteOp::Delete {
            key,
            expected: record.version,
        }])
        .await
        .expect("delete");
    let v = audit.verify(child).await.expect("verify");
    assert_eq!(breaks(&v), vec![1], "{v:?}");

    // Reorder: swap the contents of entries 2 and 3.
    let child = chain_of(&audit, 4).await;
    let (_, mut two) = stored(&records, &audit, child, 2).await;
    let (_, mut three) = stored(&records, &audit, child, 3).await;
    std::mem::swap(&mut two.data, &mut three.data);
    let (v2, v3) = (two.version, three.version);
    records.put_versioned(two, v2).await.expect("put");
    records.put_versioned(three, v3).await.expect("put");
    let v = audit.verify(child).await.expect("verify");
    let mut broken = breaks(&v);
    broken.dedup();
    assert_eq!(broken, vec![2, 3, 4], "{v:?}");
    assert!(
        v.breaks
            .iter()
            .any(|b| b.seq == 2 && b.problem.contains("reordered")),
        "{v:?}"
    );

    // Another child's chain is unaffected by all of this.
    let clean = chain_of(&audit, 2).await;
    assert!(audit.verify(clean).await.expect("verify").intact);
}

/// Concurrent appends to one chain never fork it: every append gets its own sequence
/// number and the chain verifies.
pub async fn concurrent_appends<R: RecordStore + Clone>(records: R) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let audit = Arc::new(AuditTrail::new(records, PSEUDONYM_KEY, clock, None));
    let child = ChildId::from_uuid(uuid::Uuid::now_v7());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let audit = Arc::clone(&audit);
        tasks.spawn(async move {
            audit
                .record(
                    &principal(&format!("user-{i}")),
                    &format!("req-{i}"),
                    AuditEvent::all(child, AuditEntity::Screening, AuditAction::Read),
                )
                .await
                .map(|e| e.body.seq)
        });
    }
    let mut seqs = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        seqs.push(joined.expect("task").expect("append"));
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=8).collect::<Vec<u64>>());
    let v = audit.verify(child).await.expect("verify");
    assert!(v.intact, "{v:?}");
    assert_eq!(v.entries, 8);
    let subjects: HashSet<String> = audit
        .entries(child)
        .await
        .expect("entries")
        .into_iter()
        .map(|e| e.body.actor.subject)
        .collect();
    assert_eq!(subjects.len(), 8);
}

/// Concurrent single appends through the group commit (`GroupCommit`, as `ravis serve` runs
/// them): 40 requests for 30 children (ten children twice) share a few atomic writes instead
/// of one each; every request gets its own entry in its child's chain, every chain verifies
/// against the archive, and a child's second request is the next entry of its chain. Run on
/// a current-thread runtime, so all 40 are queued before the committing task runs.
pub async fn group_commit_shares_writes<
    R: RecordStore + Clone,
    B: ravis::ports::BlobStore + Clone,
>(
    records: R,
    blobs: B,
) {
    let counting = crate::intake::CrashingStore::new(records, 0);
    let archive = Arc::new(ravis::services::audit_archive::AuditArchive::new(blobs));
    let app = App::new(counting.clone(), &[7; 32], PSEUDONYM_KEY)
        .expect("app")
        .with_archive(archive)
        .with_group_commit();
    let audit = app.audit();
    let children: Vec<ChildId> = (0..30)
        .map(|_| ChildId::from_uuid(uuid::Uuid::now_v7()))
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let audit = audit.clone();
        let child = children[i % 30];
        tasks.spawn(async move {
            let entry = audit
                .record(
                    &principal(&format!("user-{i}")),
                    &format!("req-{i}"),
                    AuditEvent::all(child, AuditEntity::Child, AuditAction::Read),
                )
                .await
                .expect("append");
            (i, child, entry)
        });
    }
    let mut answers = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        answers.push(joined.expect("task"));
    }
    assert_eq!(answers.len(), 40);
    for (i, child, entry) in &answers {
        assert_eq!(entry.body.child, audit.pseudonym(*child), "request {i}");
        assert_eq!(entry.body.actor.subject, format!("user-{i}"));
        assert_eq!(entry.body.seq, if *i < 30 { 1 } else { 2 }, "request {i}");
    }
    for (n, child) in children.iter().enumerate() {
        let v = audit.verify_with_archive(*child).await.expect("verify");
        assert!(v.intact, "child {n}: {v:?}");
        assert_eq!(v.entries, if n < 10 { 2 } else { 1 }, "child {n}");
    }
    let writes = counting.writes();
    assert!(
        writes <= 4,
        "40 appends in {writes} atomic writes: the group commit shares them"
    );
}

/// A new submission, its idempotency record and its audit entry are ONE atomic write (the
/// request path's only durable write after the scoring message is queued): a submission is
/// never stored unaudited, and when that write fails neither is stored. Concurrent
/// submissions and reads of one child race for its chain; every one gets its own entry and
/// the chain stays whole.
pub async fn submission_and_its_audit_entry_share_one_write<
    R: RecordStore + Clone,
    Q: Queue + Clone,
>(
    records: R,
    queue: Q,
) {
    let counting = crate::intake::CrashingStore::new(records, 0);
    let app = App::new(counting.clone(), &[5; 32], PSEUDONYM_KEY).expect("app");
    let dir = tempfile::tempdir().expect("dir");
    let bucket = |name: &str| {
        ravis::adapters::embedded::DirBlobStore::open(dir.path().join(name), name).expect("bucket")
    };
    let api = Arc::new(
        app.all_routes(queue.clone(), queue, bucket("reports"), bucket("partner"))
            .expect("routes"),
    );
    let audit = app.audit();
    let auth = authenticator();
    let nurse = token("nurse-1", &[Role::HealthSpecialist], "clinic-1", None);
    let child_body = json!({"given_name": "Ilze", "family_name": "Kalniņa",
        "birth_date": "2024-10-01", "sex": "female"});
    let r = handle(
        &auth,
        &*api,
        request("POST", "/children", &[], &nurse, Some(child_body), None),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", json_of(&r));
    let child: ChildId = json_of(&r)["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("child id");
    let answers: serde_json::Map<String, Value> =
        (1..=20).map(|i| (i.to_string(), json!(0))).collect();
    let submission = json!({"child_id": child, "instrument": "mchat-r",
        "administered_on": "2026-11-20", "answers": answers});
    let submit = |key: Option<&str>| {
        request(
            "POST",
            "/screenings",
            &[],
            &nurse,
            Some(submission.clone()),
            key,
        )
    };
    // The first submission also links the clinic to the child (a write of its own).
    let r = handle(&auth, &*api, submit(None)).await;
    assert_eq!(r.status, 202, "{:?}", json_of(&r));

    let before = (
        counting.writes(),
        audit.entries(child).await.expect("entries").len(),
    );
    let r = handle(&auth, &*api, submit(Some("one-write"))).await;
    assert_eq!(r.status, 202, "{:?}", json_of(&r));
    assert_eq!(
        counting.writes() - before.0,
        1,
        "the submission, its idempotency record and its audit entry in one atomic write"
    );
    let id = json_of(&r)["id"].as_str().expect("id").to_owned();
    one_create(&audit, child, before.1, AuditEntity::Screening, &id).await;

    // The one write fails: no submission, no entry; the client is told to retry.
    let screenings = |records: crate::intake::CrashingStore<R>| async move {
        records
            .query_index(
                &keys::child_index(child),
                &ravis::ports::SortKeyCondition::Prefix("SCREENING#".into()),
                100,
                false,
                None,
            )
            .await
            .expect("screenings")
            .records
            .len()
    };
    let stored = screenings(counting.clone()).await;
    let entries = audit.entries(child).await.expect("entries").len();
    counting.fail_next_write();
    let r = handle(&auth, &*api, submit(None)).await;
    assert_eq!(r.status, 503, "{:?}", json_of(&r));
    assert_eq!(
        screenings(counting.clone()).await,
        stored,
        "no submission stored"
    );
    assert_eq!(
        audit.entries(child).await.expect("entries").len(),
        entries,
        "no entry appended"
    );

    // Submissions and reads of the same child at once: each its own entry, one chain.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let req = if i % 2 == 0 {
            submit(None)
        } else {
            request(
                "GET",
                &format!("/children/{child}"),
                &[],
                &nurse,
                None,
                None,
            )
        };
        let (auth, api) = (auth.clone(), Arc::clone(&api));
        tasks.spawn(async move { handle(&auth, &*api, req).await.status.as_u16() });
    }
    while let Some(status) = tasks.join_next().await {
        assert!(matches!(status.expect("task"), 200 | 202));
    }
    let v = audit.verify(child).await.expect("verify");
    assert!(v.intact, "{v:?}");
    assert_eq!(v.entries as usize, entries + 12);
    assert_eq!(screenings(counting.clone()).await, stored + 6);
}

/// With a retention setting, entries carry an expiry; expired (absent) leading entries are
/// reported as expired, not as a break.
pub async fn retention<R: RecordStore + Clone>(records: R) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let audit = AuditTrail::new(records.clone(), PSEUDONYM_KEY, clock.clone(), Some(30));
    let child = chain_of(&audit, 3).await;
    let (key, record) = stored(&records, &audit, child, 1).await;
    let expires = record.expires_at.expect("an expiry");
    let expected = clock.now().timestamp() + 30 * 86_400;
    assert!((expected - 60..=expected).contains(&expires), "{expires}");
    // The store's TTL removes the oldest entry.
    records
        .transact(vec![WriteOp::Delete {
            key,
            expected: record.version,
        }])
        .await
        .expect("delete");
    let v = audit.verify(child).await.expect("verify");
    assert!(v.intact, "{v:?}");
    assert_eq!(v.expired_before, Some(2));
    // Removing from the middle is still a break.
    let child = chain_of(&audit, 4).await;
    let (key, record) = stored(&records, &audit, child, 3).await;
    records
        .transact(vec![WriteOp::Delete {
            key,
            expected: record.version,
        }])
        .await
        .expect("delete");
    let v = audit.verify(child).await.expect("verify");
    assert_eq!(breaks(&v), vec![3], "{v:?}");
    // Without retention the same expired-looking prefix is a removal.
    let strict = AuditTrail::new(records.clone(), PSEUDONYM_KEY, clock, None);
    let child = chain_of(&strict, 2).await;
    let (key, record) = stored(&records, &strict, child, 1).await;
    assert_eq!(record.expires_at, None);
    records
        .transact(vec![WriteOp::Delete {
            key,
            expected: record.version,
        }])
        .await
        .expect("delete");
    assert_eq!(
        breaks(&strict.verify(child).await.expect("verify")),
        vec![1]
    );
}
