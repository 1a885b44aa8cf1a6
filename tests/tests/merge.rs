//! Explicit merge and un-merge of children (issue #4, item 4) on both backends: the merged
//! child points at the survivor (410 on read), its personal codes and screenings are found
//! through the survivor, the duplicate flags clear, both audit chains record the reason,
//! every refusal names its field, and un-merge restores every record exactly.
//! Run through `scripts/moto.sh run -- cargo test ...`.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use ravis::adapters::embedded::{EmbeddedBackend, QueueOptions};
use ravis::app::App;
use ravis::domain::{ChildId, KeyedHasher, Principal, Role};
use ravis::inbound::sqs::handle_event;
use ravis::ports::{Key, Queue, RecordStore};
use ravis::services::ServiceError;
use ravis::services::children::{CODE_INDEX_DOMAIN, ChildrenService, name_index_key};
use ravis::services::merge::MergeInput;
use ravis::services::scoring_worker::ScoringWorker;
use ravis::services::screenings::ScreeningsService;
use ravis::store::keys;
use ravis_tests::aws::{fresh_queue, fresh_record_store};
use serde_json::{Value, json};
use std::time::Duration;

const IDENTITY_KEY: &[u8] = b"merge-test-identity-key-0123456789ab";
const PSEUDONYM_KEY: &[u8] = &[9; 32];
const CODE: &str = "32579461005";
const OTHER_CODE: &str = "32111111119";

fn principal(role: Role) -> Principal {
    Principal {
        subject: format!("{role}"),
        roles: vec![role],
        organisation: "ravis".into(),
        territory: None,
        purpose: None,
    }
}

fn admin() -> Principal {
    principal(Role::RegistryAdministrator)
}

fn input(duplicate: &str, reason: &str) -> MergeInput {
    MergeInput {
        duplicate: duplicate.into(),
        reason: reason.into(),
    }
}

fn field_of(e: ServiceError) -> String {
    match e {
        ServiceError::Validation(errors) => errors[0].field.clone(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

struct World<R, Q> {
    records: R,
    children: ChildrenService<R>,
    screenings: ScreeningsService<R, Q>,
    worker: ScoringWorker<R>,
    queue: Q,
    /// The write-once audit archive (a directory), so `verify` compares chains with it.
    _archive_dir: tempfile::TempDir,
}

fn world<R: RecordStore + Clone, Q: Queue + Clone>(records: R, queue: Q) -> World<R, Q> {
    let archive_dir = tempfile::tempdir().unwrap();
    let archive = ravis::services::audit_archive::AuditArchive::new(
        ravis::adapters::embedded::DirBlobStore::open(archive_dir.path(), "audit-archive").unwrap(),
    );
    let app = App::new(records.clone(), IDENTITY_KEY, PSEUDONYM_KEY)
        .unwrap()
        .with_archive(std::sync::Arc::new(archive));
    World {
        _archive_dir: archive_dir,
        children: app.children(),
        screenings: app.screenings(queue.clone()),
        worker: app.scoring_worker(),
        queue,
        records,
    }
}

impl<R: RecordStore + Clone, Q: Queue> World<R, Q> {
    async fn register(&self, body: Value) -> (ChildId, Value) {
        let reply = self
            .children
            .register(&admin(), "r", serde_json::from_value(body).unwrap(), None)
            .await
            .unwrap();
        (
            reply.body["id"].as_str().unwrap().parse().unwrap(),
            reply.body,
        )
    }

    async fn version(&self, id: ChildId) -> u64 {
        self.records
            .get(&keys::child(id))
            .await
            .unwrap()
            .unwrap()
            .version
    }

    /// Submits one M-CHAT-R/F screening of the child and scores it.
    async fn screen(&self, child: ChildId) {
        let answers: serde_json::Map<String, Value> =
            (1..=20).map(|i| (i.to_string(), json!(1))).collect();
        let input = serde_json::from_value(json!({"child_id": child, "instrument": "mchat-r",
            "administered_on": "2026-11-20", "answers": answers}))
        .unwrap();
        self.screenings
            .submit(&principal(Role::PartnerSystem), "s", input, None)
            .await
            .unwrap();
        let received = self
            .queue
            .receive(10, Duration::from_secs(60), Duration::from_millis(500))
            .await
            .unwrap();
        assert_eq!(received.len(), 1);
        let mut event = SqsEvent::default();
        event.records = received
            .iter()
            .map(|m| {
                let mut r = SqsMessage::default();
                r.message_id = Some(m.id.clone());
                r.body = Some(m.body.clone());
                r
            })
            .collect();
        assert!(
            handle_event(&self.worker, event)
                .await
                .batch_item_failures
                .is_empty()
        );
        for m in &received {
            self.queue.ack(&m.receipt).await.unwrap();
        }
    }

    async fn instruments_in_profile(&self, child: ChildId) -> usize {
        let profile = self
            .screenings
            .risk_profile(&admin(), "p", child)
            .await
            .unwrap();
        profile.body["instruments"].as_array().unwrap().len()
    }

    /// The content of every record a merge may touch, by key (absent records as null).
    async fn snapshot(&self, keys: &[Key]) -> Vec<Value> {
        let mut out = Vec::new();
        for key in keys {
            out.push(
                self.records
                    .get(key)
                    .await
                    .unwrap()
                    .map_or(Value::Null, |r| r.data),
            );
        }
        out
    }
}

async fn merge_and_unmerge<R: RecordStore + Clone, Q: Queue + Clone>(records: R, queue: Q) {
    let w = world(records, queue);
    let names = json!({"given_name": "Anna", "family_name": "Liepa", "birth_date": "2025-01-02", "sex": "female", "atvk": "0001000"});
    let (survivor, _) = w.register(names.clone()).await;
    let (duplicate, dup_body) = w.register(names.clone()).await;
    assert_eq!(dup_body["possible_duplicate_of"], json!([survivor]));
    let mut coded_body = names.clone();
    coded_body["personal_code"] = json!(CODE);
    coded_body["given_name"] = json!("Ance");
    let (coded, _) = w.register(coded_body).await;
    let mut other_body = names.clone();
    other_body["personal_code"] = json!(OTHER_CODE);
    other_body["given_name"] = json!("Agnese");
    let (other, _) = w.register(other_body).await;
    w.screen(duplicate).await;
    assert_eq!(w.instruments_in_profile(survivor).await, 0);

    let name_key = keys::child_name_index(
        &KeyedHasher::new(IDENTITY_KEY, ravis::store::identity::NAME_INDEX_DOMAIN).hash(
            &name_index_key("Anna", "Liepa", "2025-01-02".parse().unwrap()),
        ),
    );
    let code_key =
        keys::personal_code(&KeyedHasher::new(IDENTITY_KEY, CODE_INDEX_DOMAIN).hash(CODE));
    let touched = [
        keys::child(survivor),
        keys::child(duplicate),
        keys::child(coded),
        name_key.clone(),
        code_key.clone(),
        keys::merge(duplicate),
        keys::merge(coded),
    ];
    let before = w.snapshot(&touched).await;
    let c = &w.children;
    // A clinic cares for the duplicate only: its specialist does not see the survivor yet.
    ravis::services::care::record_link(
        &w.records,
        duplicate,
        "clinic-x",
        ravis::services::care::CareBasis::Screened,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let nurse = Principal {
        organisation: "clinic-x".into(),
        ..principal(Role::HealthSpecialist)
    };
    assert!(matches!(
        c.get(&nurse, "g", survivor).await,
        Err(ServiceError::NotFound(_))
    ));

    // Refusals, each naming its field; nothing changes.
    let v = w.version(survivor).await;
    let refused = |r: Result<ravis::services::Reply, ServiceError>| field_of(r.unwrap_err());
    assert_eq!(
        refused(
            c.merge(
                &admin(),
                "m",
                survivor,
                v,
                input(&survivor.to_string(), "same")
            )
            .await
        ),
        "duplicate"
    );
    assert_eq!(
        refused(
            c.merge(
                &admin(),
                "m",
                survivor,
                v,
                input(&duplicate.to_string(), "  ")
            )
            .await
        ),
        "reason"
    );
    assert_eq!(
        refused(
            c.merge(&admin(), "m", survivor, v, input("not-an-id", "x"))
                .await
        ),
        "duplicate"
    );
    let cv = w.version(coded).await;
    assert_eq!(
        refused(
            c.merge(&admin(), "m", coded, cv, input(&other.to_string(), "x"))
                .await
        ),
        "duplicate",
        "different personal codes"
    );
    assert!(matches!(
        c.merge(
            &admin(),
            "m",
            survivor,
            v + 7,
            input(&duplicate.to_string(), "x")
        )
        .await
        .unwrap_err(),
        ServiceError::PreconditionFailed(_)
    ));
    assert!(matches!(
        c.merge(
            &principal(Role::MunicipalitySocialService),
            "m",
            survivor,
            v,
            input(&duplicate.to_string(), "x")
        )
        .await
        .unwrap_err(),
        ServiceError::Forbidden(_)
    ));
    assert!(matches!(
        c.unmerge(&admin(), "u", survivor, input(&duplicate.to_string(), "x"))
            .await
            .unwrap_err(),
        ServiceError::Validation(_)
    ));
    assert_eq!(w.snapshot(&touched).await, before);

    // Merge 1: the code-less duplicate into the code-less survivor.
    let reply = c
        .merge(
            &admin(),
            "m1",
            survivor,
            v,
            input(&duplicate.to_string(), "same child, registered twice"),
        )
        .await
        .unwrap();
    assert_eq!(reply.body["merged_from"], json!([duplicate]));
    assert_eq!(
        reply.etag.as_deref(),
        Some(format!("\"{}\"", v + 1).as_str())
    );
    let dup = w
        .records
        .get(&keys::child(duplicate))
        .await
        .unwrap()
        .unwrap()
        .data;
    assert_eq!(dup["status"], "merged");
    assert_eq!(dup["merged_into"], json!(survivor));
    assert!(dup.get("possible_duplicate_of").is_none());
    let index = w.records.get(&name_key).await.unwrap().unwrap().data;
    assert_eq!(index["child_ids"], json!([survivor]));
    // Reading the merged child names the survivor.
    match c.get(&admin(), "g", duplicate).await.unwrap_err() {
        ServiceError::Merged { into, .. } => assert_eq!(into, survivor.to_string()),
        other => panic!("expected merged, got {other:?}"),
    }
    // It cannot be changed either: the answer names the survivor.
    let dv = w.version(duplicate).await;
    assert!(matches!(
        c.update(
            &admin(),
            "upd",
            duplicate,
            dv,
            serde_json::from_value(json!({"given_name": "Anna", "family_name": "Liepa", "birth_date": "2025-01-02", "sex": "female"})).unwrap(),
        )
        .await
        .unwrap_err(),
        ServiceError::Merged { .. }
    ));
    // Its screenings are found through the survivor.
    assert_eq!(w.instruments_in_profile(survivor).await, 1);
    // The duplicate's care links count for the survivor (the same person).
    assert_eq!(c.get(&nurse, "g", survivor).await.unwrap().status, 200);
    // Analytics counts them once, under the survivor's pseudonym.
    let analytics = ravis::services::analytics::AnalyticsExport::new(w.records.clone(), &[9; 32]);
    assert!(analytics.child_rows(duplicate).await.unwrap().is_empty());
    let rows = analytics.child_rows(survivor).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].child, analytics.pseudonym(survivor));
    // Both audit chains record the merge with the reason, naming the other by pseudonym.
    for (child, other) in [(survivor, duplicate), (duplicate, survivor)] {
        let entries = c.audit().entries(child).await.unwrap();
        let entry = entries.iter().find(|e| e.body.request_id == "m1").unwrap();
        assert_eq!(
            entry.body.reason.as_deref(),
            Some("same child, registered twice")
        );
        assert_eq!(
            entry.body.entity_id.as_deref(),
            Some(c.audit().pseudonym(other).as_str())
        );
        // Intact: every entry, the merge's too, is in the write-once archive.
        let verification = c.audit().verify(child).await.unwrap();
        assert!(verification.intact, "{verification:?}");
    }
    // Merging into the merged child, or the merged child again, is refused.
    let dv = w.version(duplicate).await;
    assert_eq!(
        refused(
            c.merge(&admin(), "m", duplicate, dv, input(&coded.to_string(), "x"))
                .await
        ),
        "id"
    );
    let sv = w.version(survivor).await;
    let (third, _) = w.register(json!({"given_name": "Zane", "family_name": "Z", "birth_date": "2025-01-02", "sex": "female"})).await;
    assert_eq!(
        refused(
            c.merge(
                &admin(),
                "m",
                third,
                w.version(third).await,
                input(&duplicate.to_string(), "x")
            )
            .await
        ),
        "duplicate"
    );

    // Merge 2: a child with a personal code into the code-less survivor: the survivor takes
    // the code and the code's index entry finds the survivor.
    let after_first = w.snapshot(&touched).await;
    c.merge(
        &admin(),
        "m2",
        survivor,
        sv,
        input(&coded.to_string(), "population register match"),
    )
    .await
    .unwrap();
    let index = w.records.get(&code_key).await.unwrap().unwrap().data;
    assert_eq!(index["child_id"], json!(survivor));
    let found = c
        .find_by_personal_code(
            &admin(),
            "f",
            serde_json::from_value(json!({"personal_code": CODE})).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(found.body["id"], json!(survivor));
    assert_eq!(found.body["personal_code"], CODE);
    assert_eq!(found.body["merged_from"], json!([duplicate, coded]));
    // Now the survivor has a code: a child with another code cannot join it.
    assert_eq!(
        refused(
            c.merge(
                &admin(),
                "m",
                survivor,
                w.version(survivor).await,
                input(&other.to_string(), "x")
            )
            .await
        ),
        "duplicate"
    );

    // Un-merge in reverse order restores every record exactly.
    let restored = c
        .unmerge(
            &admin(),
            "u2",
            survivor,
            input(&coded.to_string(), "different children after all"),
        )
        .await
        .unwrap();
    assert!(restored.body["personal_code"].is_null());
    assert_eq!(w.snapshot(&touched).await, after_first);
    c.unmerge(
        &admin(),
        "u1",
        survivor,
        input(&duplicate.to_string(), "twins, not one child"),
    )
    .await
    .unwrap();
    assert_eq!(w.snapshot(&touched).await, before);
    assert_eq!(w.instruments_in_profile(survivor).await, 0);
    // Un-merged, the duplicate's care links no longer reach the survivor.
    assert!(matches!(
        c.get(&nurse, "g", survivor).await,
        Err(ServiceError::NotFound(_))
    ));
    assert_eq!(c.get(&admin(), "g", duplicate).await.unwrap().status, 200);
    let entries = c.audit().entries(duplicate).await.unwrap();
    let unmerged = entries.iter().find(|e| e.body.request_id == "u1").unwrap();
    assert_eq!(
        unmerged.body.reason.as_deref(),
        Some("twins, not one child")
    );
    for child in [survivor, duplicate] {
        let verification = c.audit().verify(child).await.unwrap();
        assert!(
            verification.intact,
            "un-merge entries archived: {verification:?}"
        );
    }
    // Un-merging twice is refused.
    assert_eq!(
        refused(
            c.unmerge(&admin(), "u", survivor, input(&duplicate.to_string(), "x"))
                .await
        ),
        "duplicate"
    );
    // A change made after a merge is never silently undone: un-merge then refuses.
    let sv = w.version(survivor).await;
    c.merge(
        &admin(),
        "m3",
        survivor,
        sv,
        input(&duplicate.to_string(), "again"),
    )
    .await
    .unwrap();
    c.update(
        &admin(),
        "upd",
        survivor,
        sv + 1,
        serde_json::from_value(json!({"given_name": "Anna Marija", "family_name": "Liepa", "birth_date": "2025-01-02", "sex": "female", "atvk": "0001000"})).unwrap(),
    )
    .await
    .unwrap();
    match c
        .unmerge(&admin(), "u", survivor, input(&duplicate.to_string(), "x"))
        .await
        .unwrap_err()
    {
        ServiceError::Conflict { slug, .. } => assert_eq!(slug, "changed-since-merge"),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_backend() {
    let dir = tempfile::tempdir().unwrap();
    let backend = EmbeddedBackend::open(dir.path()).unwrap();
    let queue = backend.queue("scoring", QueueOptions::default()).unwrap();
    merge_and_unmerge(backend.records(), queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_backend() {
    merge_and_unmerge(fresh_record_store().await, fresh_queue(3).await).await;
}

/// A third child flagged as a possible duplicate of the merged child is flagged against the
/// survivor instead (the same person); un-merging restores its flags exactly.
async fn third_children_follow_the_survivor<R: RecordStore + Clone, Q: Queue + Clone>(
    records: R,
    queue: Q,
) {
    let w = world(records, queue);
    let names = json!({"given_name": "Ilze", "family_name": "Ozola", "birth_date": "2024-03-04", "sex": "female", "atvk": "0001000"});
    let (survivor, _) = w.register(names.clone()).await;
    let (duplicate, _) = w.register(names.clone()).await;
    let (third, third_body) = w.register(names.clone()).await;
    assert_eq!(
        third_body["possible_duplicate_of"],
        json!([survivor, duplicate])
    );
    let before = w.snapshot(&[keys::child(third)]).await;
    let c = &w.children;
    let v = w.version(survivor).await;
    c.merge(
        &admin(),
        "m",
        survivor,
        v,
        input(&duplicate.to_string(), "registered twice"),
    )
    .await
    .unwrap();
    let flagged = w.records.get(&keys::child(third)).await.unwrap().unwrap();
    assert_eq!(flagged.data["possible_duplicate_of"], json!([survivor]));
    c.unmerge(
        &admin(),
        "u",
        survivor,
        input(&duplicate.to_string(), "two children after all"),
    )
    .await
    .unwrap();
    assert_eq!(w.snapshot(&[keys::child(third)]).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_children_embedded() {
    let dir = tempfile::tempdir().unwrap();
    let backend = EmbeddedBackend::open(dir.path()).unwrap();
    let queue = backend.queue("scoring", QueueOptions::default()).unwrap();
    third_children_follow_the_survivor(backend.records(), queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_children_aws() {
    third_children_follow_the_survivor(fresh_record_store().await, fresh_queue(3).await).await;
}

/// A merge and an un-merge copy their audit entries (one in each child's chain) to the
/// write-once archive like every other access, so the archive check stays intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_entries_reach_the_audit_archive() {
    let dir = tempfile::tempdir().unwrap();
    let backend = EmbeddedBackend::open(dir.path()).unwrap();
    let app = App::embedded(&backend, IDENTITY_KEY, PSEUDONYM_KEY).unwrap();
    let children = app.children();
    let mut ids = Vec::new();
    for (given, code) in [("Anna", Some(CODE)), ("Ana", None)] {
        let mut body = json!({"given_name": given, "family_name": "Ozola",
            "birth_date": "2024-10-01", "sex": "female"});
        if let Some(code) = code {
            body["personal_code"] = json!(code);
        }
        let reply = children
            .register(&admin(), "r", serde_json::from_value(body).unwrap(), None)
            .await
            .unwrap();
        ids.push(
            reply.body["id"]
                .as_str()
                .unwrap()
                .parse::<ChildId>()
                .unwrap(),
        );
    }
    let (survivor, duplicate) = (ids[0], ids[1]);
    let version = backend
        .records()
        .get(&keys::child(survivor))
        .await
        .unwrap()
        .unwrap()
        .version;
    children
        .merge(
            &admin(),
            "m",
            survivor,
            version,
            input(&duplicate.to_string(), "the same girl"),
        )
        .await
        .unwrap();
    let audit = app.audit();
    for child in [survivor, duplicate] {
        let verification = audit.verify_with_archive(child).await.unwrap();
        assert!(verification.intact, "after the merge: {verification:?}");
    }
    children
        .unmerge(
            &admin(),
            "u",
            survivor,
            input(&duplicate.to_string(), "not the same girl"),
        )
        .await
        .unwrap();
    for child in [survivor, duplicate] {
        let verification = audit.verify_with_archive(child).await.unwrap();
        assert!(verification.intact, "after the un-merge: {verification:?}");
    }
}
