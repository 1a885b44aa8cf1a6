//! Every sample event under `events/` (the ones `sam local invoke` uses) goes through the
//! real handler code: HTTP events through the Lambda request conversion and the routes,
//! the SQS batches through the scoring and intake workers, the S3 events through the S3 plumbing,
//! the exports worker's and the reports function's batch and schedule through their handlers.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{TimeZone, Utc};
use ravis::adapters::embedded::{EmbeddedBackend, QueueOptions};
use ravis::app::App;
use ravis::domain::Role;
use ravis::inbound::auth::Authenticator;
use ravis::inbound::children_api::ChildrenApi;
use ravis::inbound::lambda::{to_api_request, to_lambda_response};
use ravis::inbound::routes::{Api, handle};
use ravis::inbound::sqs::handle_event;
use ravis::ports::{Clock, IdGenerator, ManualClock, RandomIds};
use ravis::services::scoring_worker::ScoringWorker;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Hands out the ids the sample events refer to, in order.
struct PresetIds(Mutex<Vec<Uuid>>);
impl IdGenerator for PresetIds {
    fn new_id(&self) -> Uuid {
        self.0.lock().unwrap().remove(0)
    }
}

fn load(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../events/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("events/{path}: {e}"))
}

fn auth() -> (Authenticator, String) {
    ravis_tests::auth::verifier_and_token(Role::HealthSpecialist, "example-clinic-0001")
}

/// Runs an API Gateway sample event through the Lambda conversion and the routes, with the
/// placeholder bearer token replaced by a valid one.
async fn invoke<A: Api>(
    auth: &Authenticator,
    token: &str,
    api: &A,
    event: &str,
) -> lambda_http::Response<lambda_http::Body> {
    let request =
        lambda_http::request::from_str(&load(event)).unwrap_or_else(|e| panic!("{event}: {e}"));
    let mut request = to_api_request(request);
    request
        .headers
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    to_lambda_response(handle(auth, api, request).await)
}

fn body(response: &lambda_http::Response<lambda_http::Body>) -> serde_json::Value {
    match response.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("unexpected body {other:?}"),
    }
}

#[tokio::test]
async fn the_sample_events_run_through_the_handlers() {
    let dir = tempfile::tempdir().unwrap();
    let backend = EmbeddedBackend::open(dir.path()).unwrap();
    let records = backend.records();
    let queue = backend.queue("scoring", QueueOptions::default()).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::at(
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap(),
    ));
    let ids: Arc<dyn IdGenerator> = Arc::new(PresetIds(Mutex::new(vec![
        "0190f3c4-6d1e-7a3b-8c2d-123456789abc".parse().unwrap(),
        // The break-the-glass grant.
        "019ab0c1-2d3e-7f40-8a5b-6c7d8e9f0a1b".parse().unwrap(),
        "019aa0b2-5e4f-7d21-a3c5-6b7c8d9e0f12".parse().unwrap(),
    ])));
    let app = App::new(records.clone(), &[7; 32], &[5; 32])
        .unwrap()
        .with_clock(clock.clone())
        .with_ids(ids);
    let engine = app.engine.clone();
    let (auth, token) = auth();
    let children = ChildrenApi(app.children());
    let screenings = app.screenings_routes(queue).unwrap();

    let r = invoke(&auth, &token, &children, "children-api/post-children.json").await;
    assert_eq!(r.status(), 201, "{:?}", body(&r));
    assert_eq!(body(&r)["id"], "0190f3c4-6d1e-7a3b-8c2d-123456789abc");
    let r = invoke(&auth, &token, &children, "children-api/get-child.json").await;
    assert_eq!(r.status(), 200);
    assert_eq!(body(&r)["personal_code"], "32579461005");

    // The DPO sample (query string parameters): the registration and the read above.
    // Same verifier as `auth` (one test issuer and key), another role.
    let (_, dpo) =
        ravis_tests::auth::verifier_and_token(Role::DataProtectionOfficer, "example-ministry-dpo");
    let r = invoke(&auth, &dpo, &children, "children-api/get-audit.json").await;
    assert_eq!(r.status(), 200, "{:?}", body(&r));
    let trail = body(&r);
    assert_eq!(trail["entries"].as_array().unwrap().len(), 2, "{trail}");
    assert_eq!(trail["verification"]["intact"], true);

    // A specialist of another organisation does not see the child until they break the glass.
    let (_, teacher) =
        ravis_tests::auth::verifier_and_token(Role::EducationSpecialist, "example-school-0002");
    let r = invoke(&auth, &teacher, &children, "children-api/get-child.json").await;
    assert_eq!(r.status(), 404, "{:?}", body(&r));
    let r = invoke(
        &auth,
        &teacher,
        &children,
        "children-api/post-break-the-glass.json",
    )
    .await;
    assert_eq!(r.status(), 201, "{:?}", body(&r));
    // (Reading under the grant is tested in `care_access.rs`: this world's clock is fixed in
    // the past, and the store's TTL works on the real clock.)
    assert_eq!(body(&r)["expires_at"], "2026-11-23T13:00:00Z");
    assert_eq!(body(&r)["grant_id"], "019ab0c1-2d3e-7f40-8a5b-6c7d8e9f0a1b");

    let r = invoke(
        &auth,
        &token,
        &screenings,
        "screenings-api/post-screening.json",
    )
    .await;
    assert_eq!(r.status(), 202, "{:?}", body(&r));
    assert_eq!(
        r.headers()["location"],
        "/screenings/019aa0b2-5e4f-7d21-a3c5-6b7c8d9e0f12"
    );
    let r = invoke(
        &auth,
        &token,
        &screenings,
        "screenings-api/get-screening.json",
    )
    .await;
    assert_eq!(body(&r)["status"], "submitted");

    // The SQS sample: the first message names the submission above and scores it; the
    // second names a submission that was never committed, long ago, and is dropped.
    let event: SqsEvent = serde_json::from_str(&load("scoring-worker/sqs-batch.json")).unwrap();
    let worker = ScoringWorker::new(records.clone(), clock.clone(), Arc::new(RandomIds), engine);
    let response = handle_event(&worker, event).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let r = invoke(
        &auth,
        &token,
        &screenings,
        "screenings-api/get-screening.json",
    )
    .await;
    let scored = body(&r);
    assert_eq!(scored["status"], "scored");
    // All twenty answered "yes": only items 2, 5 and 12 (where "yes" is at risk) count.
    assert_eq!(scored["result"]["scores"]["total"]["value"], 3);
    assert_eq!(scored["result"]["risk_level"], "medium");

    // The catalogue list sample: filtered, one entry per page, an opaque cursor onwards.
    let r = invoke(
        &auth,
        &token,
        &screenings,
        "screenings-api/get-catalogue-entries.json",
    )
    .await;
    assert_eq!(r.status(), 200, "{:?}", body(&r));
    let page = body(&r);
    assert_eq!(page["entries"][0]["id"], "incredible-years-parents");
    assert!(page["next_cursor"].is_string());
}

#[test]
fn the_s3_samples_name_a_url_decoded_inbox_key() {
    let via_sqs: SqsEvent = serde_json::from_str(&load("intake/s3-put.json")).unwrap();
    let body = via_sqs.records[0].body.as_deref().unwrap();
    let objects = ravis::inbound::s3::parse_notification(body).unwrap();
    assert_eq!(objects[0].key, "inbox/children/2026-11 kidsā.csv");
    let direct: S3Event = serde_json::from_str(&load("intake/s3-put-direct.json")).unwrap();
    let raw = direct.records[0].s3.object.key.as_deref().unwrap();
    assert!(
        ravis::inbound::s3::decode_key(raw)
            .unwrap()
            .starts_with("inbox/")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_intake_sample_runs_through_the_intake_worker() {
    use ravis::inbound::intake_worker::IntakeWorker;
    use ravis::intake::IntakeService;
    use ravis::ports::BlobStore;
    let dir = tempfile::tempdir().unwrap();
    let backend = EmbeddedBackend::open(dir.path()).unwrap();
    let bucket_name = "ravis-dev-partner-123456789012-eu-north-1";
    let bucket = backend.blobs(bucket_name).unwrap();
    let key = "inbox/children/2026-11 kidsā.csv";
    let meta = bucket
        .put(
            key,
            "personal_code,given_name,family_name,birth_date,sex,gestational_age_weeks,atvk\n\
             32579461005,Anna,Bērziņa,2024-10-01,female,39,0001000\n"
                .into(),
            None,
        )
        .await
        .unwrap();
    // The sample names a partner's object; this test stored its own, so it takes its eTag.
    let mut event: SqsEvent = serde_json::from_str(&load("intake/s3-put.json")).unwrap();
    let body = event.records[0].body.take().unwrap();
    event.records[0].body = Some(body.replace("9b2cf535f27731c974343645a3985328", &meta.etag));
    let worker = IntakeWorker::new(
        IntakeService::new(
            backend.records(),
            Arc::new(ravis::ports::SystemClock),
            Arc::new(RandomIds),
            b"events-test-identity-key-0123456789",
        ),
        bucket.clone(),
        bucket_name,
    );
    let response = handle_event(&worker, event.clone()).await;
    assert!(response.batch_item_failures.is_empty());
    let summary: serde_json::Value = serde_json::from_slice(
        &bucket
            .get("results/children/2026-11 kidsā.csv.summary.json")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(summary["status"], "completed");
    assert_eq!(summary["inserted"], 1);
    // The same delivery again (SQS is at-least-once): handled once, still no failure.
    assert!(
        handle_event(&worker, event)
            .await
            .batch_item_failures
            .is_empty()
    );
}

/// A message on the intake queue that is not an S3 notification can never import: it goes
/// to the dead-letter queue at once (not retried five times), and counts as handled, so
/// the trigger deletes it. A good notification in the same batch is unaffected, and a
/// failure that may pass later is still reported for redelivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_is_not_an_s3_notification_is_dead_lettered_at_once() {
    use ravis::inbound::intake_worker::IntakeWorker;
    use ravis::inbound::sqs::handle_event_with_dead_letters;
    use ravis::intake::IntakeService;
    use ravis::ports::Queue;
    let dir = tempfile::tempdir().unwrap();
    let backend = EmbeddedBackend::open(dir.path()).unwrap();
    let bucket_name = "partner";
    let bucket = backend.blobs(bucket_name).unwrap();
    let queue = backend.queue("intake", QueueOptions::default()).unwrap();
    let worker = IntakeWorker::new(
        IntakeService::new(
            backend.records(),
            Arc::new(ravis::ports::SystemClock),
            Arc::new(RandomIds),
            b"events-test-identity-key-0123456789",
        ),
        bucket,
        bucket_name,
    );
    let minimal = |bucket: &str| {
        format!(
            r#"{{"Records":[{{"eventName":"ObjectCreated:Put","s3":{{"bucket":{{"name":"{bucket}"}},"object":{{"key":"inbox/children/gone.csv"}}}}}}]}}"#
        )
    };
    let mut event = SqsEvent::default();
    for (id, body) in [
        ("garbage", "this is not an S3 event".to_owned()),
        ("other-bucket", minimal("someone-elses-bucket")),
        ("minimal", minimal(bucket_name)),
    ] {
        let mut m = aws_lambda_events::event::sqs::SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body);
        event.records.push(m);
    }
    let response = handle_event_with_dead_letters(&worker, &queue, event).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let mut dead: Vec<String> = queue
        .receive_dead_letters(10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.body)
        .collect();
    dead.sort();
    assert_eq!(
        dead,
        [
            "this is not an S3 event".to_owned(),
            minimal("someone-elses-bucket")
        ]
    );
    // Without a dead-letter queue the same message is reported failed (redelivered).
    let mut event = SqsEvent::default();
    let mut m = aws_lambda_events::event::sqs::SqsMessage::default();
    m.message_id = Some("garbage".into());
    m.body = Some("still not an S3 event".into());
    event.records.push(m);
    assert_eq!(
        handle_event(&worker, event).await.batch_item_failures.len(),
        1
    );
}

/// The worklist sweep's schedule sample: the payload the function receives (an EventBridge
/// scheduled event, whose content the sweep does not need), then one sweep and its metrics line.
#[tokio::test]
async fn the_schedule_sample_runs_one_worklist_sweep() {
    let event: serde_json::Value =
        serde_json::from_str(&load("worklist-sweep/schedule.json")).unwrap();
    assert_eq!(event["detail-type"], "Scheduled Event");
    assert_eq!(event["source"], "aws.events");
    let dir = tempfile::tempdir().unwrap();
    let backend = EmbeddedBackend::open(dir.path()).unwrap();
    let app = App::new(backend.records(), &[4; 32], &[6; 32]).unwrap();
    let (report, line) = ravis::inbound::lambda::sweep_once(&app.worklist(), "dev", 1)
        .await
        .unwrap();
    assert_eq!(report["reconciled"], 0);
    let line: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(line["OverdueWorkItems"], 0);
    assert_eq!(line["Environment"], "dev");
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        ravis::inbound::lambda::METRICS_NAMESPACE
    );
}

/// The audit archiver's schedule sample, then its drain: the entries a deferred trail
/// appended are archived and counted in the metrics line; a run whose time is up stops
/// after one round and says there is more.
#[tokio::test]
async fn the_schedule_sample_runs_one_audit_archive_drain() {
    use ravis::inbound::lambda::drain_archive_once;
    use ravis::services::audit::{AuditAction, AuditEntity, AuditEvent};
    let event: serde_json::Value =
        serde_json::from_str(&load("audit-archiver/schedule.json")).unwrap();
    assert_eq!(event["detail-type"], "Scheduled Event");
    let dir = tempfile::tempdir().unwrap();
    let backend = EmbeddedBackend::open(dir.path()).unwrap();
    let app = App::embedded(&backend, &[4; 32], &[6; 32])
        .unwrap()
        .with_deferred_archive();
    let trail = app.audit();
    let principal =
        ravis_tests::support::principal(ravis::domain::Role::HealthSpecialist, "org-1", None);
    let append = |n: usize| {
        let trail = trail.clone();
        let principal = principal.clone();
        async move {
            for _ in 0..n {
                let child = ravis::domain::ChildId::from_uuid(uuid::Uuid::now_v7());
                let event = AuditEvent::all(child, AuditEntity::Child, AuditAction::Read);
                trail.record(&principal, "req", event).await.unwrap();
            }
        }
    };
    append(3).await;
    let (report, line) = drain_archive_once(&trail, "dev", i64::MAX).await.unwrap();
    assert_eq!(
        report,
        serde_json::json!({"archived": 3, "rounds": 2, "more": false})
    );
    let line: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(line["AuditEntriesArchived"], 3);
    assert_eq!(line["Environment"], "dev");
    append(2).await;
    let (report, _) = drain_archive_once(&trail, "dev", 0).await.unwrap();
    assert_eq!(
        report,
        serde_json::json!({"archived": 2, "rounds": 1, "more": true})
    );
    let (report, _) = drain_archive_once(&trail, "dev", i64::MAX).await.unwrap();
    assert_eq!(report["archived"], 0);
}

/// The exports function's two samples through its one handler: the SQS batch (a job that is
/// not in the store: nothing to do, no failure) and the schedule (one exports sweep and its
/// metrics line); the function tells them apart by the `Records` array.
#[tokio::test]
async fn the_exports_samples_run_through_the_exports_function() {
    use ravis::adapters::embedded::DirBlobStore;
    use ravis::adapters::outbox::BlobOutbox;
    use ravis::adapters::signing::KeyFileSigner;
    use ravis::inbound::lambda::exports_event;
    use ravis::services::exports::QueueNotify;

    let dir = tempfile::tempdir().unwrap();
    let backend = EmbeddedBackend::open(dir.path()).unwrap();
    let queue = backend.queue("exports", QueueOptions::default()).unwrap();
    let app = App::new(backend.records(), &[4; 32], &[6; 32])
        .unwrap()
        .with_export_queue(queue.clone());
    let outbox = || {
        BlobOutbox::new(
            DirBlobStore::open(dir.path().join("outbox"), "outbox").unwrap(),
            "",
        )
    };
    let signer = KeyFileSigner::generate(&dir.path().join("keys").join("fhir.pem")).unwrap();
    let worker = app
        .exports_worker(
            outbox(),
            outbox(),
            signer,
            Arc::new(ravis::fhir::FhirSettings::default()),
        )
        .unwrap();
    let notify = QueueNotify(queue.clone());
    let records = backend.records();

    let sqs: serde_json::Value = serde_json::from_str(&load("exports-worker/sqs.json")).unwrap();
    let (answer, line) = exports_event(&worker, &queue, &records, &notify, "dev", sqs, Utc::now())
        .await
        .unwrap();
    assert_eq!(answer, serde_json::json!({"batchItemFailures": []}));
    assert!(line.is_none(), "a batch prints no metrics");

    let schedule: serde_json::Value =
        serde_json::from_str(&load("exports-worker/schedule.json")).unwrap();
    assert_eq!(schedule["detail-type"], "Scheduled Event");
    let (answer, line) = exports_event(
        &worker,
        &queue,
        &records,
        &notify,
        "dev",
        schedule,
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(
        answer,
        serde_json::json!({"queued": 0, "unqueued": 0, "failed": 0})
    );
    let line: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
    assert_eq!(
        (
            line["ExportsQueued"].as_u64(),
            line["ExportsFailed"].as_u64()
        ),
        (Some(0), Some(0))
    );
    assert_eq!(line["Environment"], "dev");
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        ravis::inbound::lambda::METRICS_NAMESPACE
    );
}

/// The reports function's two samples through its one handler: the SQS batch (a report that
/// is not in the store: dropped, no failure) and the monthly schedule (the lake written, last
/// month's open-data report queued once); the function tells them apart by the `Records`
/// array.
#[tokio::test]
async fn the_reports_samples_run_through_the_reports_function() {
    use ravis::inbound::lambda::reports_event;
    use ravis::ports::Queue;
    use ravis::services::reports::worker::WorkerSettings;

    let dir = tempfile::tempdir().unwrap();
    let backend = EmbeddedBackend::open(dir.path()).unwrap();
    let queue = backend.queue("reports", QueueOptions::default()).unwrap();
    let app = App::new(backend.records(), &[4; 32], &[6; 32]).unwrap();
    let (lake, reports, open_data) = (
        backend.blobs("analytics").unwrap(),
        backend.blobs("reports").unwrap(),
        backend.blobs("open-data").unwrap(),
    );
    let worker = app.report_worker(
        lake.clone(),
        reports.clone(),
        open_data,
        WorkerSettings {
            threshold: 3,
            open_data_base_url: None,
            publisher: "RAVIS".into(),
            contact_email: "dati@example.invalid".into(),
            lake_max_age: chrono::Duration::days(1),
        },
    );
    let writer = app.lake_writer(lake);
    let use_cases = app.reports(queue.clone(), reports);

    let sqs: serde_json::Value = serde_json::from_str(&load("reports/sqs.json")).unwrap();
    let answer = reports_event(&worker, &queue, &writer, &use_cases, sqs)
        .await
        .unwrap();
    assert_eq!(answer, serde_json::json!({"batchItemFailures": []}));

    let schedule: serde_json::Value = serde_json::from_str(&load("reports/schedule.json")).unwrap();
    assert_eq!(schedule["detail-type"], "Scheduled Event");
    let answer = reports_event(&worker, &queue, &writer, &use_cases, schedule.clone())
        .await
        .unwrap();
    assert_eq!(answer["lake"]["children"], 0, "{answer}");
    let queued = answer["queued"].as_array().unwrap();
    assert!(!queued.is_empty(), "{answer}");
    let message = queue
        .receive(
            10,
            std::time::Duration::from_secs(30),
            std::time::Duration::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(message.len(), queued.len());
    // Each period once.
    let again = reports_event(&worker, &queue, &writer, &use_cases, schedule)
        .await
        .unwrap();
    assert_eq!(again["queued"], serde_json::json!([]), "{again}");
}
