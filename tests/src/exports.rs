//! Exports (issue #12), written once over HTTP and the worker, and run on every adapter
//! (`tests/tests/exports.rs` on SQLite and the durable local queue, `tests/tests/aws_exports.rs`
//! on DynamoDB, SQS and S3 under moto), against the loopback FHIR test receiver
//! ([`crate::fhir_receiver`]) and the VIIS outbox in a bucket.

use crate::fhir_receiver::{Fault, FhirReceiver};
use crate::pathway::{World, token};
use crate::viis_receiver::{CLIENT, ViisFault, ViisReceiver};
use ravis::adapters::delivery::Delivery;
use ravis::adapters::fhir_http::FhirHttpReceiver;
use ravis::adapters::http_client::ClientCredentials;
use ravis::adapters::outbox::BlobOutbox;
use ravis::adapters::signing::KeyFileSigner;
use ravis::adapters::viis_http::ViisHttpReceiver;
use ravis::domain::Role;
use ravis::domain::export::{RetryPolicy, VIIS_FIELDS};
use ravis::fhir::FhirSettings;
use ravis::ports::{BlobStore, Clock, Queue, RecordStore};
use ravis::services::audit::{ArchiveFuture, ArchiveSink, AuditAction, AuditEntry};
use ravis::services::exports::QueueNotify;
use ravis::services::exports::sweep::sweep;
use ravis::services::exports::worker::{ExportsWorker, Handled};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// A personal code of the new format (no birth date in it).
const CODE: &str = "32579461005";

/// The world of the exports suite: the API, the worker, the receiver and the outbox.
pub struct Exports<R, Q, B: BlobStore + Clone> {
    world: World<R, Q>,
    exports: Q,
    worker: ExportsWorker<
        R,
        FhirHttpReceiver,
        Delivery<BlobOutbox<B>, ViisHttpReceiver>,
        KeyFileSigner,
    >,
    /// The FHIR test receiver.
    pub receiver: FhirReceiver,
    /// The VIIS test receiver, when VIIS is reached over HTTP ([`Setup::viis_http`]).
    pub viis: Option<ViisReceiver>,
    blobs: B,
    _key_dir: tempfile::TempDir,
}

/// How the exports world differs from the default.
#[derive(Default)]
pub struct Setup {
    /// VIIS over HTTP (the loopback [`ViisReceiver`], with OAuth2 client credentials) instead
    /// of the outbox.
    pub viis_http: bool,
    /// The audit archive every entry is copied to.
    pub archive: Option<Arc<dyn ArchiveSink>>,
}

impl<R: RecordStore + Clone, Q: Queue + Clone, B: BlobStore + Clone> Exports<R, Q, B> {
    /// Everything over `records`, scoring on `scoring`, exporting through `exports` (a queue
    /// whose dead letters the suite reads), the VIIS outbox under `outbox/` of `blobs`.
    pub async fn new(records: R, scoring: Q, exports: Q, blobs: B) -> Self {
        Self::build(records, scoring, exports, blobs, Setup::default()).await
    }

    /// [`Self::new`], set up as `setup` says.
    pub async fn build(records: R, scoring: Q, exports: Q, blobs: B, setup: Setup) -> Self {
        let q = exports.clone();
        let archive = setup.archive.clone();
        let world = World::with(records, scoring, move |app| {
            let app = app.with_export_queue(q);
            match archive {
                Some(sink) => app.with_archive(sink),
                None => app,
            }
        });
        let receiver = FhirReceiver::start().await;
        let viis = match setup.viis_http {
            true => Some(ViisReceiver::start().await),
            false => None,
        };
        let education = match &viis {
            Some(v) => Delivery::Http(
                ViisHttpReceiver::new(
                    &v.base,
                    Duration::from_secs(2),
                    Some(ClientCredentials {
                        token_url: v.token_url.clone(),
                        client_id: CLIENT.0.into(),
                        client_secret: CLIENT.1.into(),
                        scope: Some("support-needs:write".into()),
                    }),
                )
                .expect("url"),
            ),
            None => Delivery::Outbox(BlobOutbox::new(blobs.clone(), "outbox/")),
        };
        let key_dir = tempfile::tempdir().expect("tempdir");
        let signer = KeyFileSigner::generate(&key_dir.path().join("k.pem")).expect("key");
        receiver.trust(signer.point());
        let worker = world
            .app
            .exports_worker(
                FhirHttpReceiver::new(&receiver.base, Duration::from_secs(2), None).expect("url"),
                education,
                signer,
                Arc::new(FhirSettings::default()),
            )
            .expect("worker")
            .with_policy(RetryPolicy {
                max_attempts: 3,
                base: Duration::from_secs(10),
                cap: Duration::from_secs(600),
                poll_every: Duration::from_secs(10),
                lease: Duration::from_secs(120),
            });
        Self {
            world,
            exports,
            worker,
            receiver,
            viis,
            blobs,
            _key_dir: key_dir,
        }
    }

    /// Handles every queued export message (the exports worker's trigger).
    pub async fn drain(&self) {
        for _ in 0..50 {
            let messages = self
                .exports
                .receive(10, Duration::from_secs(60), Duration::from_millis(50))
                .await
                .expect("receive");
            if messages.is_empty() {
                return;
            }
            for m in messages {
                self.worker.handle(&m.body).await.expect("handled");
                self.exports.ack(&m.receipt).await.expect("ack");
            }
        }
        panic!("the export queue did not drain");
    }

    /// Lets the receiver answer what was submitted: the job's first poll (10 s later) finds
    /// it not started (`x-progress: new`), the second its answer.
    pub async fn answered(&self) {
        self.later(chrono::Duration::seconds(11)).await;
        self.later(chrono::Duration::seconds(11)).await;
    }

    /// Moves time on, sweeps (queues what is due) and drains.
    pub async fn later(&self, by: chrono::Duration) {
        self.world.clock.advance(by);
        let notify = QueueNotify(self.exports.clone());
        sweep(&self.world.app.records, &notify, self.world.clock.now())
            .await
            .expect("sweep");
        self.drain().await;
    }

    async fn get(&self, path: &str, query: &[(&str, &str)], tok: &str) -> Value {
        let a = self.world.call("GET", path, query, tok, None, None).await;
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        a.body
    }

    /// The jobs an operator sees, filtered.
    pub async fn jobs(&self, query: &[(&str, &str)]) -> Vec<Value> {
        let op = token(Role::IntegrationOperator, "ops");
        self.get("/exports", query, &op).await["items"]
            .as_array()
            .expect("items")
            .clone()
    }

    /// Registers the organisations and a child of 8 known to the school; returns its id.
    async fn setup(&self, code: Option<&str>) -> String {
        let admin = token(Role::RegistryAdministrator, "admin");
        for (id, kind, reg) in [
            ("clinic", "health_practice", "40000000001"),
            ("school", "school", "90000000002"),
        ] {
            let a = self
                .world
                .call(
                    "POST",
                    "/organisations",
                    &[],
                    &admin,
                    Some(json!({"id": id, "kind": kind, "name": format!("The {id}"),
                                "atvk": "0001000", "registration_number": reg})),
                    None,
                )
                .await;
            assert!(matches!(a.status, 201 | 409), "{}", a.body);
        }
        self.child("school", code).await
    }

    async fn child(&self, org: &str, code: Option<&str>) -> String {
        let birth = self
            .world
            .clock
            .now()
            .date_naive()
            .checked_sub_months(chrono::Months::new(8 * 12))
            .expect("date");
        let mut body = json!({"given_name": "Anna", "family_name": "Ozola", "birth_date": birth,
                              "sex": "female", "atvk": "0001000"});
        if let Some(code) = code {
            body["personal_code"] = json!(code);
        }
        let registrar = token(Role::EducationSpecialist, org);
        let a = self
            .world
            .call("POST", "/children", &[], &registrar, Some(body), None)
            .await;
        assert_eq!(a.status, 201, "{}", a.body);
        a.body["id"].as_str().expect("id").to_owned()
    }

    /// A parent SDQ with very high emotional symptoms (Cool Kids recommended), given by the
    /// school's psychologist; scored.
    async fn sdq(&self, child: &str) -> String {
        let nurse = token(Role::EducationSpecialist, "school");
        let answers = sdq_answers();
        let a = self
            .world
            .call(
                "POST",
                "/screenings",
                &[],
                &nurse,
                Some(json!({"child_id": child, "instrument": "sdq-parent-4-17",
                            "administered_on": self.world.clock.now().date_naive(),
                            "answers": answers})),
                None,
            )
            .await;
        assert_eq!(a.status, 202, "{}", a.body);
        self.world.score_queued().await;
        a.body["id"].as_str().expect("id").to_owned()
    }

    async fn viis_lines(&self) -> Vec<Value> {
        let page = self
            .blobs
            .list("outbox/viis/", 100, None)
            .await
            .expect("list");
        let mut out = Vec::new();
        for meta in page.objects.iter().filter(|m| m.key.ends_with(".jsonl")) {
            let bytes = self.blobs.get(&meta.key).await.expect("get");
            let manifest: Value = serde_json::from_slice(
                &self
                    .blobs
                    .get(&meta.key.replace(".jsonl", ".manifest.json"))
                    .await
                    .expect("manifest"),
            )
            .expect("manifest json");
            let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
            assert_eq!(manifest["rows"], text.lines().count(), "{manifest}");
            use sha2::Digest;
            assert_eq!(
                manifest["sha256"],
                hex::encode(sha2::Sha256::digest(text.as_bytes())),
                "{manifest}"
            );
            for line in text.lines() {
                out.push(serde_json::from_str(line).expect("line json"));
            }
        }
        out
    }

    async fn audit_recipients(&self, child: &str) -> Vec<String> {
        let dpo = token(Role::DataProtectionOfficer, "dpo");
        let report = self.get("/audit/report", &[("child", child)], &dpo).await;
        let mut out: Vec<String> = report["accesses"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["sent_to"].as_array().cloned().unwrap_or_default())
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Asserts that a job's last error names every one of `needles`.
fn assert_last_error(job: &Value, needles: &[&str]) {
    let error = job["last_error"].as_str().unwrap_or_default();
    assert!(
        needles.iter().all(|n| error.contains(n)),
        "last error should name {needles:?}: {job}"
    );
}

/// SDQ answers with the emotional items (3, 8, 13, 16, 24) "certainly true".
fn sdq_answers() -> Value {
    (1..=25u8)
        .map(|i| {
            let v = if matches!(i, 3 | 8 | 13 | 16 | 24) {
                2
            } else {
                1
            };
            (i.to_string(), json!(v))
        })
        .collect::<serde_json::Map<String, Value>>()
        .into()
}

/// A scored screening of a child with a personal code at a school reaches both receivers
/// once: a signed, conditional transaction Bundle at the e-health receiver and an
/// allow-listed record in the VIIS outbox; both recorded as disclosures in the child's
/// audit trail; a second delivery of the same messages changes nothing.
pub async fn a_result_reaches_both_receivers<R, Q, B>(records: R, scoring: Q, exports: Q, blobs: B)
where
    R: RecordStore + Clone,
    Q: Queue + Clone,
    B: BlobStore + Clone,
{
    let x = Exports::new(records, scoring, exports, blobs).await;
    let child = x.setup(Some(CODE)).await;
    let screening = x.sdq(&child).await;
    x.drain().await;
    x.answered().await;
    assert!(
        x.receiver.refusals().is_empty(),
        "{:?}",
        x.receiver.refusals()
    );
    let stored = x.receiver.stored();
    let qr = stored
        .iter()
        .filter(|(k, _)| k.starts_with("QuestionnaireResponse|"))
        .collect::<Vec<_>>();
    assert_eq!(qr.len(), 1, "{stored:?}");
    assert!(qr[0].0.ends_with(&screening), "{}", qr[0].0);
    let qr = &qr[0].1.resource;
    assert_eq!(qr["status"], "completed");
    assert_eq!(qr["subject"]["identifier"]["value"], CODE);
    assert!(qr.get("item").is_none(), "SDQ items are licensed: {qr}");
    let observations = stored
        .keys()
        .filter(|k| k.starts_with("Observation|"))
        .count();
    assert_eq!(
        observations,
        9 + 1,
        "the SDQ's nine scores and the risk: {:?}",
        stored.keys()
    );
    assert!(stored.values().all(|s| s.version == 1));

    let health = x.jobs(&[("target", "health")]).await;
    assert_eq!(health.len(), 1, "{health:?}");
    assert_eq!(health[0]["state"], "accepted", "{}", health[0]);
    assert_eq!(health[0]["recipient"], "E-veselība");
    assert_eq!(health[0]["child_id"], child.as_str());
    assert!(
        health[0]["remote_job"]
            .as_str()
            .is_some_and(|j| j.contains("/_job/"))
    );
    let education = x
        .jobs(&[("target", "education"), ("state", "accepted")])
        .await;
    assert_eq!(education.len(), 1, "{education:?}");

    let lines = x.viis_lines().await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    let record = &lines[0];
    let mut keys: Vec<&str> = record
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut allowed = VIIS_FIELDS.to_vec();
    allowed.sort_unstable();
    assert_eq!(keys, allowed, "only the allow-listed fields: {record}");
    assert_eq!(record["personal_code"], CODE);
    assert_eq!(
        record["measures"],
        json!([{"id": "cool-kids", "name": "Cool Kids"}])
    );
    assert_eq!(record["issuer_organisation"], "90000000002");
    assert_eq!(record["issuer_role"], "education_specialist");
    let text = record.to_string();
    for secret in ["sdq", "emotional", "risk", "score", "band", "high"] {
        assert!(!text.contains(secret), "{secret} leaked to VIIS: {text}");
    }
    assert_eq!(
        x.audit_recipients(&child).await,
        ["E-veselība", "VIIS"],
        "disclosures in the child's audit trail"
    );
    // Nothing more happens however often the jobs are queued again.
    let before = x.receiver.submissions();
    x.later(chrono::Duration::hours(1)).await;
    let notify = QueueNotify(x.exports.clone());
    for job in x.jobs(&[]).await {
        let id = job["id"].as_str().expect("id").parse().expect("export id");
        ravis::services::exports::ExportNotify::notify(&notify, &[id])
            .await
            .expect("queued");
    }
    x.drain().await;
    assert_eq!(x.receiver.submissions(), before);
    assert_eq!(x.receiver.stored(), stored);
}

/// A receiver outage, throttling and a stall are retried with back-off until accepted; a
/// job whose attempts run out fails into the dead-letter queue and an operator's retry
/// (If-Match) sends it; a refused entry ends `rejected` with the receiver's
/// OperationOutcome; a partial answer is polled again. Nothing is ever duplicated.
pub async fn faults_are_retried_and_nothing_duplicates<R, Q, B>(
    records: R,
    scoring: Q,
    exports: Q,
    blobs: B,
) where
    R: RecordStore + Clone,
    Q: Queue + Clone,
    B: BlobStore + Clone,
{
    let x = Exports::new(records, scoring, exports, blobs).await;
    let child = x.setup(Some(CODE)).await;
    // 500, then 429 with Retry-After 120 s: still pending after each, then sent.
    x.receiver
        .script([Fault::ServerError, Fault::Throttle(120)]);
    x.sdq(&child).await;
    x.drain().await;
    let job = &x.jobs(&[("target", "health")]).await[0];
    assert_eq!(
        (job["state"].as_str(), job["attempts"].as_u64()),
        (Some("pending"), Some(1)),
        "{job}"
    );
    assert_last_error(job, &["500"]);
    x.later(chrono::Duration::seconds(20)).await;
    let job = &x.jobs(&[("target", "health")]).await[0];
    assert_eq!(job["attempts"], 2, "{job}");
    assert_last_error(job, &["429"]);
    // Retry-After holds it back: a minute later it is still not due.
    x.later(chrono::Duration::seconds(60)).await;
    assert_eq!(x.jobs(&[("target", "health")]).await[0]["attempts"], 2);
    x.later(chrono::Duration::seconds(61)).await;
    x.answered().await;
    let job = &x.jobs(&[("target", "health")]).await[0];
    assert_eq!(job["state"], "accepted", "{job}");
    assert_eq!(job["attempts"], 3);

    // A second screening: the receiver stalls past the client's timeout, then fails until
    // the attempts run out.
    x.receiver.script([
        Fault::Stall(Duration::from_secs(3)),
        Fault::ServerError,
        Fault::ServerError,
    ]);
    let second = x.sdq(&child).await;
    x.drain().await;
    x.later(chrono::Duration::seconds(20)).await;
    x.later(chrono::Duration::seconds(40)).await;
    let failed = x.jobs(&[("target", "health"), ("state", "failed")]).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    let failed = &failed[0];
    assert_eq!(failed["attempts"], 3);
    assert!(
        failed["history"]
            .as_array()
            .expect("history")
            .iter()
            .any(|a| a["detail"]
                .as_str()
                .is_some_and(|d| d.contains("no answer within"))),
        "{failed}"
    );
    let dead = x
        .exports
        .receive_dead_letters(10)
        .await
        .expect("dead letters");
    assert!(
        dead.iter()
            .any(|m| m.body.contains(failed["id"].as_str().expect("id"))),
        "{dead:?}"
    );
    // The operator retries it.
    let op = token(Role::IntegrationOperator, "ops");
    let path = format!("/exports/{}/retry", failed["id"].as_str().expect("id"));
    let a = x.world.call("POST", &path, &[], &op, None, None).await;
    assert_eq!(a.status, 428, "{}", a.body);
    let a = x
        .world
        .call("POST", &path, &[], &op, None, Some("\"1\""))
        .await;
    assert_eq!(a.status, 412, "{}", a.body);
    let version = format!("\"{}\"", failed["version"]);
    let nurse = token(Role::HealthSpecialist, "clinic");
    let a = x
        .world
        .call("POST", &path, &[], &nurse, None, Some(&version))
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let a = x
        .world
        .call("POST", &path, &[], &op, None, Some(&version))
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(a.body["state"], "pending");
    x.drain().await;
    x.answered().await;
    let a = x
        .world
        .call(
            "GET",
            &format!("/exports/{}", failed["id"].as_str().expect("id")),
            &[],
            &op,
            None,
            None,
        )
        .await;
    assert_eq!(a.body["state"], "accepted", "{}", a.body);
    let again = x
        .world
        .call("POST", &path, &[], &op, None, a.etag.as_deref())
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(
        again.body["type"]
            .as_str()
            .map(|t| t.ends_with("export-not-retryable")),
        Some(true),
        "{}",
        again.body
    );

    // A partial answer is polled again; a refused entry ends the third job `rejected`.
    x.receiver.script([Fault::Partial]);
    x.sdq(&child).await;
    x.drain().await;
    x.answered().await;
    let partial = x.jobs(&[("target", "health"), ("state", "sent")]).await;
    assert_eq!(
        partial.len(),
        1,
        "the partial answer leaves it sent: {partial:?}"
    );
    assert!(
        partial[0]["history"]
            .as_array()
            .expect("history")
            .iter()
            .any(|h| h["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("partial")))
    );
    x.later(chrono::Duration::seconds(11)).await;
    assert!(
        x.jobs(&[("target", "health"), ("state", "sent")])
            .await
            .is_empty()
    );
    x.receiver.script([Fault::RejectEntry(1)]);
    let refused = x.sdq(&child).await;
    x.drain().await;
    x.answered().await;
    let rejected = x.jobs(&[("target", "health"), ("state", "rejected")]).await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(
        rejected[0]["receiver_outcome"]["resourceType"],
        "OperationOutcome"
    );
    assert!(
        rejected[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("entry 1"))
    );
    // Four screenings, each stored once, whatever the faults and resends.
    let stored = x.receiver.stored();
    let qrs: Vec<&String> = stored
        .keys()
        .filter(|k| k.starts_with("QuestionnaireResponse|"))
        .collect();
    assert_eq!(qrs.len(), 4, "{qrs:?}");
    assert!(qrs.iter().any(|k| k.ends_with(&second)) && qrs.iter().any(|k| k.ends_with(&refused)));
    assert!(
        stored.values().all(|s| s.version == 1),
        "nothing written twice"
    );
    assert!(
        x.receiver.refusals().is_empty(),
        "{:?}",
        x.receiver.refusals()
    );
}

/// A child without a personal code is not sent (the job says why); merged into a child
/// with one, the merged child's results go to the e-health system under the survivor's
/// code as updates (`amended`), never as duplicates.
pub async fn merges_update_and_a_child_without_a_code_is_skipped<R, Q, B>(
    records: R,
    scoring: Q,
    exports: Q,
    blobs: B,
) where
    R: RecordStore + Clone,
    Q: Queue + Clone,
    B: BlobStore + Clone,
{
    let x = Exports::new(records, scoring, exports, blobs).await;
    let anna = x.setup(Some(CODE)).await;
    let nameless = x.child("school", None).await;
    let first = x.sdq(&anna).await;
    let orphan = x.sdq(&nameless).await;
    x.drain().await;
    x.answered().await;
    let skipped = x.jobs(&[("child", &nameless), ("state", "skipped")]).await;
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped.iter().all(|j| {
        j["skipped_reason"]
            .as_str()
            .is_some_and(|r| r.contains("personal code"))
    }));
    let stored = x.receiver.stored();
    assert!(stored.keys().any(|k| k.ends_with(&first)));
    assert!(!stored.keys().any(|k| k.contains(&orphan)));

    let admin = token(Role::RegistryAdministrator, "admin");
    let a = x
        .world
        .call("GET", &format!("/children/{anna}"), &[], &admin, None, None)
        .await;
    let a = x
        .world
        .call(
            "POST",
            &format!("/children/{anna}/merge"),
            &[],
            &admin,
            Some(json!({"duplicate": nameless, "reason": "the same girl registered twice"})),
            a.etag.as_deref(),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    x.drain().await;
    x.answered().await;
    // The first result's job and the merge's, both accepted (the merged child's skipped job
    // is listed under the survivor too).
    let merged = x
        .jobs(&[
            ("child", &anna),
            ("target", "health"),
            ("state", "accepted"),
        ])
        .await;
    assert_eq!(merged.len(), 2, "{merged:?}");
    assert!(merged.iter().any(|j| j["cause"] == "merge"), "{merged:?}");
    assert_eq!(
        x.jobs(&[("child", &anna), ("target", "health")])
            .await
            .len(),
        3
    );
    let stored = x.receiver.stored();
    let qrs: Vec<(&String, &crate::fhir_receiver::Stored)> = stored
        .iter()
        .filter(|(k, _)| k.starts_with("QuestionnaireResponse|"))
        .collect();
    assert_eq!(qrs.len(), 2, "one per screening, never twice: {qrs:?}");
    for (key, s) in &qrs {
        assert_eq!(s.resource["status"], "amended", "{key}");
        assert_eq!(s.resource["subject"]["identifier"]["value"], CODE, "{key}");
    }
    let first_qr = qrs
        .iter()
        .find(|(k, _)| k.ends_with(&first))
        .expect("first");
    assert_eq!(
        first_qr.1.version, 2,
        "the first screening was updated, not created again"
    );
    let orphan_qr = qrs
        .iter()
        .find(|(k, _)| k.ends_with(&orphan))
        .expect("orphan");
    assert_eq!(orphan_qr.1.version, 1);
}

/// Export jobs are recorded in the result's own atomic write: with the queue unreachable
/// after the commit (no queue configured at all here), the sweep finds and queues them.
pub async fn the_sweep_delivers_jobs_whose_message_was_lost<R, Q, B>(
    records: R,
    scoring: Q,
    exports: Q,
    blobs: B,
) where
    R: RecordStore + Clone,
    Q: Queue + Clone,
    B: BlobStore + Clone,
{
    let x = Exports::new(records.clone(), scoring.clone(), exports, blobs).await;
    let child = x.setup(Some(CODE)).await;
    // A scoring worker whose outbox has no queue: the job is recorded, nothing is queued.
    let lost = World::with(records, scoring, |app| app);
    let nurse = token(Role::EducationSpecialist, "school");
    let a = lost
        .call(
            "POST",
            "/screenings",
            &[],
            &nurse,
            Some(json!({"child_id": child, "instrument": "sdq-parent-4-17",
                        "administered_on": lost.clock.now().date_naive(),
                        "answers": sdq_answers()})),
            None,
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    lost.score_queued().await;
    x.drain().await;
    assert_eq!(x.receiver.submissions(), 0, "nothing was queued");
    let pending = x.jobs(&[("state", "pending")]).await;
    assert_eq!(
        pending.len(),
        2,
        "to the e-health system and VIIS: {pending:?}"
    );
    x.later(chrono::Duration::seconds(1)).await;
    x.answered().await;
    assert_eq!(x.jobs(&[("state", "accepted")]).await.len(), 2);
    assert_eq!(
        x.receiver
            .stored()
            .keys()
            .filter(|k| k.starts_with("QuestionnaireResponse|"))
            .count(),
        1
    );
}

/// The shipped engine with the parent SDQ re-issued as version 9.9.9: a rescore with it
/// stores a second result of the same screening.
fn engine_with_a_new_sdq_version() -> ravis::scoring::Engine {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/instruments");
    let files: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("instruments")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            let mut text = std::fs::read_to_string(&p).expect("definition");
            if name == "sdq-parent-4-17.json" {
                let mut v: Value = serde_json::from_str(&text).expect("json");
                v["version"] = json!("9.9.9");
                text = v.to_string();
            }
            (name, text)
        })
        .collect();
    ravis::scoring::Engine::from_sources(files.iter().map(|(n, t)| (n.as_str(), t.as_str())))
        .expect("engine")
}

/// A rescore (a new definition version) sends the same resources again as conditional
/// updates: the receiver holds them once, at version 2, `amended`.
pub async fn a_rescore_updates_what_was_sent<R, Q, B>(records: R, scoring: Q, exports: Q, blobs: B)
where
    R: RecordStore + Clone,
    Q: Queue + Clone,
    B: BlobStore + Clone,
{
    let x = Exports::new(records, scoring, exports, blobs).await;
    let child = x.setup(Some(CODE)).await;
    let screening = x.sdq(&child).await;
    x.drain().await;
    x.answered().await;
    let first = x.receiver.stored();
    assert!(first.values().all(|s| s.version == 1));
    let admin = token(Role::RegistryAdministrator, "admin");
    let a = x
        .world
        .call(
            "POST",
            &format!("/screenings/{screening}/rescore"),
            &[],
            &admin,
            None,
            None,
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let worker = x
        .world
        .app
        .clone()
        .with_engine(Arc::new(engine_with_a_new_sdq_version()))
        .scoring_worker();
    for m in x
        .world
        .queue
        .receive(10, Duration::from_secs(60), Duration::from_millis(50))
        .await
        .expect("receive")
    {
        worker.handle(&m.body).await.expect("rescored");
        x.world.queue.ack(&m.receipt).await.expect("ack");
    }
    x.drain().await;
    x.answered().await;
    let rescore = x.jobs(&[("target", "health"), ("state", "accepted")]).await;
    assert_eq!(rescore.len(), 2, "{rescore:?}");
    assert!(
        rescore.iter().any(|j| j["cause"] == "rescore"),
        "{rescore:?}"
    );
    let after = x.receiver.stored();
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        first.keys().collect::<Vec<_>>(),
        "the same resources, none added"
    );
    for (key, s) in &after {
        assert_eq!(s.version, 2, "{key} updated once");
        assert_eq!(s.resource["status"], "amended", "{key}");
    }
    assert!(
        x.receiver.refusals().is_empty(),
        "{:?}",
        x.receiver.refusals()
    );
}

/// VIIS over HTTP (`ravis::adapters::viis_http`, with OAuth2 client credentials): a 500 and
/// a 429 with `Retry-After` are retried (the pause honours `Retry-After`) until the batch is
/// delivered once, allow-listed, with one token for every request; a batch the platform
/// refuses ends `rejected` with its problem document kept for the operator, whose retry
/// delivers it.
pub async fn viis_over_http_is_retried_and_refusals_are_kept<R, Q, B>(
    records: R,
    scoring: Q,
    exports: Q,
    blobs: B,
) where
    R: RecordStore + Clone,
    Q: Queue + Clone,
    B: BlobStore + Clone,
{
    let setup = Setup {
        viis_http: true,
        ..Setup::default()
    };
    let x = Exports::build(records, scoring, exports, blobs, setup).await;
    let viis = x.viis.clone().expect("the VIIS receiver");
    viis.script([ViisFault::ServerError, ViisFault::Throttle(120)]);
    let child = x.setup(Some(CODE)).await;
    x.sdq(&child).await;
    x.drain().await;
    let job = &x.jobs(&[("target", "education")]).await[0];
    assert_eq!(job["state"], "pending", "{job}");
    assert_eq!(job["attempts"], 1, "{job}");
    assert_last_error(job, &["500"]);
    // The back-off after the first attempt is at most 10 s; the second attempt is throttled.
    x.later(chrono::Duration::seconds(11)).await;
    let job = &x.jobs(&[("target", "education")]).await[0];
    assert_eq!(job["attempts"], 2, "{job}");
    assert_eq!(job["history"][1]["http_status"], 429, "{job}");
    let next: chrono::DateTime<chrono::Utc> = job["next_attempt_at"]
        .as_str()
        .expect("next attempt")
        .parse()
        .expect("time");
    assert!(
        next >= x.world.clock.now() + chrono::Duration::seconds(120),
        "Retry-After honoured: {job}"
    );
    x.later(chrono::Duration::seconds(60)).await;
    assert_eq!(
        viis.deliveries(),
        2,
        "not sent before Retry-After has passed"
    );
    x.later(chrono::Duration::seconds(61)).await;
    let job = &x.jobs(&[("target", "education")]).await[0];
    assert_eq!(job["state"], "accepted", "{job}");
    let id = job["id"].as_str().expect("id");
    assert!(
        job["delivered"][0]
            .as_str()
            .is_some_and(|l| l.ends_with(&format!("/viis/support-needs/batches/{id}"))),
        "{job}"
    );
    assert!(viis.refusals().is_empty(), "{:?}", viis.refusals());
    let batches = viis.batches();
    assert_eq!(batches.len(), 1, "{batches:?}");
    let lines = &batches[id];
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["personal_code"], CODE);
    assert_eq!(
        lines[0]["measures"],
        json!([{"id": "cool-kids", "name": "Cool Kids"}])
    );
    assert_eq!(viis.deliveries(), 3);
    assert_eq!(viis.tokens_issued(), 1, "the token is reused while valid");
    assert!(
        x.audit_recipients(&child)
            .await
            .contains(&"VIIS".to_owned())
    );

    // A second result; the platform refuses its batch.
    viis.script([ViisFault::Refuse]);
    x.sdq(&child).await;
    x.drain().await;
    let refused = x
        .jobs(&[("target", "education"), ("state", "rejected")])
        .await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    let refused = &refused[0];
    assert_eq!(refused["receiver_outcome"]["title"], "Unknown pupil");
    assert_last_error(refused, &["422", "no pupil with this personal code"]);
    let op = token(Role::IntegrationOperator, "ops");
    let path = format!("/exports/{}/retry", refused["id"].as_str().expect("id"));
    let version = format!("\"{}\"", refused["version"]);
    let a = x
        .world
        .call("POST", &path, &[], &op, None, Some(&version))
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    x.drain().await;
    assert_eq!(
        x.jobs(&[("target", "education"), ("state", "accepted")])
            .await
            .len(),
        2
    );
    assert_eq!(viis.batches().len(), 2);
    assert!(viis.refusals().is_empty(), "{:?}", viis.refusals());
}

/// An archive that refuses disclosure entries while it is "down" (an S3 outage), passing
/// everything else to the real archive.
pub struct FlakyArchive {
    inner: Arc<dyn ArchiveSink>,
    down: std::sync::atomic::AtomicBool,
}

impl FlakyArchive {
    /// Over `inner`, up.
    pub fn new(inner: Arc<dyn ArchiveSink>) -> Self {
        Self {
            inner,
            down: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Takes disclosure copies down (`true`) or brings them back.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }
}

impl ArchiveSink for FlakyArchive {
    fn archive<'a>(&'a self, entry: &'a AuditEntry) -> ArchiveFuture<'a, ()> {
        if entry.body.action == AuditAction::Disclose
            && self.down.load(std::sync::atomic::Ordering::SeqCst)
        {
            return Box::pin(async {
                Err(ravis::services::ServiceError::Store(
                    ravis::ports::StoreError::Unavailable("the archive is down".into()),
                ))
            });
        }
        self.inner.archive(entry)
    }

    fn differences<'a>(
        &'a self,
        child: &'a ravis::domain::Pseudonym,
        stored: &'a [AuditEntry],
        expired_before: u64,
    ) -> ArchiveFuture<'a, Vec<ravis::services::audit::ChainBreak>> {
        self.inner.differences(child, stored, expired_before)
    }
}

/// A disclosure committed with its job whose copy to the write-once archive fails (the
/// archive is down) fails the message; the chain then differs from the archive ("not in the
/// archive"). The redelivered message copies it, and the chain verifies against the archive
/// again; nothing is sent twice.
pub async fn a_disclosure_whose_archive_copy_failed_is_archived_on_redelivery<R, Q, B>(
    records: R,
    scoring: Q,
    exports: Q,
    blobs: B,
) where
    R: RecordStore + Clone,
    Q: Queue + Clone,
    B: BlobStore + Clone,
{
    let archive = Arc::new(FlakyArchive::new(Arc::new(
        ravis::services::audit_archive::AuditArchive::new(blobs.clone()),
    )));
    let setup = Setup {
        archive: Some(archive.clone()),
        ..Setup::default()
    };
    let x = Exports::build(records, scoring, exports, blobs, setup).await;
    let child = x.setup(Some(CODE)).await;
    x.sdq(&child).await;
    archive.set_down(true);
    let messages = x
        .exports
        .receive(10, Duration::from_secs(60), Duration::from_millis(50))
        .await
        .expect("receive");
    assert_eq!(messages.len(), 2, "a health and an education job");
    for m in &messages {
        let e = x
            .worker
            .handle(&m.body)
            .await
            .expect_err("the archive copy failed");
        let chain = std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(": ");
        assert!(chain.contains("the archive is down"), "{chain}");
    }
    assert_eq!(
        x.audit_recipients(&child).await,
        ["E-veselība", "VIIS"],
        "the disclosures are in the chain"
    );
    let dpo = token(Role::DataProtectionOfficer, "dpo");
    let audit = x.get("/audit", &[("child", &child)], &dpo).await;
    assert_eq!(audit["verification"]["intact"], false, "{audit}");
    assert!(
        audit["verification"]["breaks"]
            .to_string()
            .contains("not in the archive"),
        "{audit}"
    );
    // The queue redelivers both messages once the archive is back.
    archive.set_down(false);
    let submissions = x.receiver.submissions();
    for m in &messages {
        let handled = x.worker.handle(&m.body).await.expect("redelivery");
        assert!(
            matches!(handled, Handled::NotDue | Handled::AlreadyFinished(_)),
            "{handled:?}"
        );
        x.exports.ack(&m.receipt).await.expect("ack");
    }
    assert_eq!(x.receiver.submissions(), submissions, "nothing sent again");
    let audit = x.get("/audit", &[("child", &child)], &dpo).await;
    assert_eq!(audit["verification"]["intact"], true, "{audit}");
    x.answered().await;
    assert_eq!(
        x.jobs(&[("state", "accepted")]).await.len(),
        2,
        "{:?}",
        x.jobs(&[]).await
    );
}
