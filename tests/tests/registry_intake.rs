//! Partner files of registry entities on both backends: `inbox/organisations/` (keyed by
//! the organisation code) and `inbox/support-episodes/` (keyed by the partner's
//! `external_id`): every rule that needs the stored state named in the row report, audit
//! entries and care links written with each episode, strict mode, a wrong header rejected
//! whole, and idempotency (re-drop, redelivery, crash and resume).
//! Run through `scripts/moto.sh run -- cargo test ...` (or `make test`).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use ravis::domain::registry::{Profession, RegistryStatus, Specialist};
use ravis::domain::{ChildId, KeyedHasher, Role, ScreeningId, SpecialistId};
use ravis::inbound::intake_worker::IntakeWorker;
use ravis::inbound::intake_worker::PARTNER_ORGANISATION;
use ravis::intake::summary::Status;
use ravis::intake::{IntakeService, Summary};
use ravis::ports::{
    BlobStore, Clock, RandomIds, Record, RecordStore, SortKeyCondition, SystemClock,
};
use ravis::services::audit::{AuditAction, AuditTrail};
use ravis::services::audit_archive::{AuditArchive, verify_child};
use ravis::services::care::{self, CareBasis};
use ravis::services::children::CODE_INDEX_DOMAIN;
use ravis::store::keys;
use ravis_tests::intake::{CrashingStore, audited_worker, drop_file};
use serde_json::{Value, json};
use std::sync::Arc;

const IDENTITY_KEY: &[u8] = b"kinds-test-identity-key-0123456789ab";
const PSEUDONYM_KEY: &[u8] = b"kinds-test-pseudonym-key-0123456789a";

/// Anna (A) and Jānis (B).
const A: &str = "32579461005";
const B: &str = "32000000001";

const ORGS_HEADER: &str = "id,kind,name,atvk,registration_number,status\n";
const EPISODES_HEADER: &str = "external_id,child_id,personal_code,programme,provider_org,specialist_id,referring_org,referral_date,referral_screening_id,referral_text,start_date,end_date,outcome,end_reason\n";

fn organisations_file() -> String {
    let mut s = ORGS_HEADER.to_owned();
    s.push_str(
        "riga-sd,municipality_social_service,Rīgas sociālais dienests,0010000,90000012345,\n",
    ); // 1
    s.push_str("clinic-1,health_practice,Ģimenes ārsta prakse,0100000,,active\n"); // 2
    s.push_str("school-9,school,9. vidusskola,0010000,,inactive\n"); // 3
    s.push_str("Bad Code,school,Skola,0010000,,\n"); // 4 id
    s.push_str("ngo-1,charity,Biedrība,0010000,,\n"); // 5 kind
    s.push_str("ngo-2,ngo,,12,123,closed\n"); // 6 name, atvk, registration_number, status
    s
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

fn trail<R: RecordStore>(records: R) -> AuditTrail<R> {
    AuditTrail::new(records, PSEUDONYM_KEY, clock(), None)
}

fn worker<R: RecordStore + Clone, B: BlobStore + Clone>(
    records: R,
    blobs: B,
    bucket: &str,
    batch_rows: usize,
) -> IntakeWorker<R, B> {
    audited_worker(
        records,
        blobs,
        bucket,
        batch_rows,
        IDENTITY_KEY,
        PSEUDONYM_KEY,
    )
}

async fn import<R: RecordStore, B: BlobStore>(
    w: &IntakeWorker<R, B>,
    bucket: &str,
    key: &str,
    body: &str,
    seq: u32,
) -> Summary {
    let event = drop_file(w.bucket(), bucket, key, body.as_bytes(), seq).await;
    w.handle(&event).await.unwrap()[0].clone()
}

async fn report_of<B: BlobStore>(blobs: &B, key: &str) -> Vec<(u64, String, String)> {
    ravis_tests::intake::report_of(blobs, key)
        .await
        .iter()
        .map(|v| {
            (
                v["row"].as_u64().unwrap(),
                v["field"].as_str().unwrap().to_owned(),
                v["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn counts(s: &Summary) -> (u64, u64, u64, u64, u64) {
    (s.rows_read, s.inserted, s.updated, s.unchanged, s.rejected)
}

async fn child_by_code<R: RecordStore>(records: &R, code: &str) -> ChildId {
    let hash = KeyedHasher::new(IDENTITY_KEY, CODE_INDEX_DOMAIN).hash(code);
    let index = records
        .get(&keys::personal_code(&hash))
        .await
        .unwrap()
        .unwrap();
    index.data["child_id"].as_str().unwrap().parse().unwrap()
}

async fn organisation<R: RecordStore>(records: &R, code: &str) -> Option<Value> {
    records
        .get(&keys::organisation(code))
        .await
        .unwrap()
        .map(|r| r.data)
}

/// The episodes of a child (through the child's index partition).
async fn episodes_of<R: RecordStore>(records: &R, child: ChildId) -> Vec<Value> {
    records
        .query_index(
            &keys::child_index(child),
            &SortKeyCondition::Prefix(keys::EPISODE_PREFIX.into()),
            100,
            false,
            None,
        )
        .await
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.data)
        .collect()
}

async fn organisations_are_upserted_by_code<R: RecordStore + Clone, B: BlobStore + Clone>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    let w = worker(records.clone(), blobs, bucket, 40);
    let key = "inbox/organisations/orgs.csv";
    let s = import(&w, bucket, key, &organisations_file(), 1).await;
    assert_eq!(s.kind, "organisations");
    assert_eq!(s.status, Status::CompletedWithRejections);
    assert_eq!(counts(&s), (6, 3, 0, 0, 3));
    let report = report_of(w.bucket(), key).await;
    let fields: Vec<_> = report.iter().map(|(r, f, _)| (*r, f.as_str())).collect();
    assert_eq!(
        fields,
        [
            (4, "id"),
            (5, "kind"),
            (6, "name"),
            (6, "atvk"),
            (6, "registration_number"),
            (6, "status")
        ]
    );
    assert!(
        report[1].2.contains("'charity' must be one of"),
        "{report:?}"
    );
    let riga = organisation(&records, "riga-sd").await.unwrap();
    assert_eq!(riga["name"], "Rīgas sociālais dienests");
    assert_eq!(riga["kind"], "municipality_social_service");
    assert_eq!(riga["registration_number"], "90000012345");
    assert_eq!(riga["status"], "active");
    assert_eq!(
        organisation(&records, "school-9").await.unwrap()["status"],
        "inactive"
    );
    assert!(organisation(&records, "ngo-1").await.is_none());

    // The same event again: ignored; the same content under another name: all unchanged.
    let created_at = riga["created_at"].clone();
    let s = import(
        &w,
        bucket,
        "inbox/organisations/copy.csv",
        &organisations_file(),
        2,
    )
    .await;
    assert_eq!(counts(&s), (6, 0, 0, 3, 3));
    // A changed name updates, an unchanged row stays, a new one is added (JSON Lines).
    let body = "{\"id\":\"riga-sd\",\"kind\":\"municipality_social_service\",\"name\":\"Rīgas valstspilsētas sociālais dienests\",\"atvk\":\"0010000\",\"registration_number\":\"90000012345\"}\n\
                {\"id\":\"clinic-1\",\"kind\":\"health_practice\",\"name\":\"Ģimenes ārsta prakse\",\"atvk\":\"0100000\",\"status\":\"active\"}\n\
                {\"id\":\"ngo-1\",\"kind\":\"ngo\",\"name\":\"Biedrība\",\"atvk\":\"0010000\"}\n";
    let s = import(&w, bucket, "inbox/organisations/changes.jsonl", body, 3).await;
    assert_eq!(s.status, Status::Completed);
    assert_eq!(counts(&s), (3, 1, 1, 1, 0));
    let riga = organisation(&records, "riga-sd").await.unwrap();
    assert_eq!(riga["name"], "Rīgas valstspilsētas sociālais dienests");
    assert_eq!(riga["created_at"], created_at, "kept");
    assert_eq!(
        organisation(&records, "ngo-1").await.unwrap()["kind"],
        "ngo"
    );
}

async fn organisations_strict_and_wrong_header<R: RecordStore + Clone, B: BlobStore + Clone>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    let w = worker(records.clone(), blobs, bucket, 40);
    let s = import(
        &w,
        bucket,
        "inbox/organisations/orgs.strict.csv",
        &organisations_file(),
        1,
    )
    .await;
    assert_eq!(s.status, Status::Rejected);
    assert_eq!((s.inserted, s.rejected), (0, 3));
    assert!(organisation(&records, "riga-sd").await.is_none(), "strict");
    let body = "code,kind,name,atvk\nriga-sd,school,Skola,0010000\n";
    let s = import(&w, bucket, "inbox/organisations/wrong.csv", body, 2).await;
    assert_eq!(s.status, Status::Rejected);
    assert!(s.reason.as_deref().unwrap().contains("id"), "{s:?}");
    assert_eq!(s.rows_read, 0);
    assert!(
        organisation(&records, "riga-sd").await.is_none(),
        "nothing written"
    );
}

/// Children A and B, organisations riga-sd, clinic-1 and school-9, a specialist of clinic-1
/// and a screening of B. Returns (A, B, specialist, screening of B).
async fn setup<R: RecordStore + Clone, B: BlobStore>(
    w: &IntakeWorker<R, B>,
    records: &R,
    bucket: &str,
) -> (ChildId, ChildId, SpecialistId, ScreeningId) {
    let children = format!(
        "personal_code,given_name,family_name,birth_date,sex,gestational_age_weeks,atvk\n\
         {A},Anna,Bērziņa,2024-10-01,female,39,0001000\n\
         {B},Jānis,Ozols,2023-05-17,male,,0100000\n"
    );
    let s = import(w, bucket, "inbox/children/c.csv", &children, 100).await;
    assert_eq!(s.inserted, 2);
    let s = import(
        w,
        bucket,
        "inbox/organisations/o.csv",
        &organisations_file(),
        101,
    )
    .await;
    assert_eq!(s.inserted, 3);
    let specialist = Specialist {
        id: SpecialistId::from_uuid(uuid::Uuid::now_v7()),
        given_name: "Ieva".into(),
        family_name: "Kalna".into(),
        profession: Profession::Psychologist,
        organisations: vec!["clinic-1".into()],
        status: RegistryStatus::Active,
        certifications: Vec::new(),
        created_at: chrono::Utc::now(),
    };
    records
        .put_new(Record::new(
            keys::specialist(specialist.id),
            serde_json::to_value(&specialist).unwrap(),
        ))
        .await
        .unwrap();
    let b = child_by_code(records, B).await;
    let screening = ScreeningId::from_uuid(uuid::Uuid::now_v7());
    records
        .put_new(Record::new(
            keys::screening(screening),
            json!({"id": screening, "child_id": b}),
        ))
        .await
        .unwrap();
    (child_by_code(records, A).await, b, specialist.id, screening)
}

/// Two valid episodes (rows 1–2) and a row for every rule that needs the stored state.
fn episodes_file(b: ChildId, specialist: SpecialistId, screening_of_b: ScreeningId) -> String {
    let nobody = ChildId::from_uuid(uuid::Uuid::now_v7());
    let stranger = SpecialistId::from_uuid(uuid::Uuid::now_v7());
    let mut s = EPISODES_HEADER.to_owned();
    for line in [
        // 1: Anna by code at riga-sd, referred by clinic-1.
        format!("ep-1,,{A},cool-kids,riga-sd,,clinic-1,2026-01-10,,parent request,2026-02-01,,,"),
        // 2: Jānis by id at clinic-1 with its specialist, referred by his screening; closed.
        format!(
            "ep-2,{b},,stop-4-7,clinic-1,{specialist},,2026-01-05,{screening_of_b},,2026-01-20,2026-06-30,goals_met,completed"
        ),
        format!("ep-3,,{A},no-such-programme,riga-sd,,,2026-01-10,,x,,,,"), // 3 programme
        format!("ep-4,,{A},cool-kids,nowhere,,,2026-01-10,,x,,,,"),         // 4 provider_org
        format!("ep-5,,{A},cool-kids,riga-sd,,nowhere,2026-01-10,,x,,,,"),  // 5 referring_org
        format!("ep-6,,{A},cool-kids,riga-sd,{stranger},,2026-01-10,,x,,,,"), // 6 specialist_id
        format!("ep-7,,{A},cool-kids,riga-sd,{specialist},,2026-01-10,,x,,,,"), // 7 other org
        format!("ep-8,,{A},cool-kids,riga-sd,,,2026-01-10,{screening_of_b},,,,,"), // 8 B's
        "ep-9,,32999999999,cool-kids,riga-sd,,,2026-01-10,,x,,,,".to_owned(), // 9 unknown code
        format!("ep-10,{nobody},,cool-kids,riga-sd,,,2026-01-10,,x,,,,"),   // 10 unknown id
        format!("ep-1,,{B},cool-kids,riga-sd,,,2026-01-10,,x,,,,"),         // 11 ep-1 is Anna's
        format!("ep-12,,{A},cool-kids,riga-sd,,,2026-01-10,,x,,2026-02-01,,"), // 12 pass 1
    ] {
        s.push_str(&line);
        s.push('\n');
    }
    s
}

fn expected_report() -> Vec<(u64, &'static str)> {
    vec![
        (3, "programme"),
        (4, "provider_org"),
        (5, "referring_org"),
        (6, "specialist_id"),
        (7, "specialist_id"),
        (8, "referral_screening_id"),
        (9, "personal_code"),
        (10, "child_id"),
        (11, "personal_code"),
        (12, "end_date"),
        (12, "outcome"),
        (12, "end_reason"),
    ]
}

/// The state one clean import of the episodes file leaves.
async fn assert_episode_state<R: RecordStore + Clone, B: BlobStore + Clone>(
    records: &R,
    blobs: &B,
    a: ChildId,
    b: ChildId,
) {
    let anna = episodes_of(records, a).await;
    assert_eq!(anna.len(), 1, "{anna:?}");
    assert_eq!(anna[0]["programme"], "cool-kids");
    assert_eq!(anna[0]["provider_org"], "riga-sd");
    assert_eq!(anna[0]["referring_org"], "clinic-1");
    assert_eq!(
        anna[0]["referral_source"],
        json!({"text": "parent request"})
    );
    let janis = episodes_of(records, b).await;
    assert_eq!(janis.len(), 1);
    assert_eq!(janis[0]["outcome"], "goals_met");
    assert_eq!(janis[0]["end_reason"], "completed");
    // Care links: the provider supports, the referrer referred.
    let link = care::link(records, a, "riga-sd").await.unwrap().unwrap();
    assert!(link.bases.contains_key(&CareBasis::Supports));
    let link = care::link(records, a, "clinic-1").await.unwrap().unwrap();
    assert!(link.bases.contains_key(&CareBasis::Referred));
    let link = care::link(records, b, "clinic-1").await.unwrap().unwrap();
    assert!(link.bases.contains_key(&CareBasis::Supports));
    assert!(care::link(records, b, "riga-sd").await.unwrap().is_none());
    // Exactly one audit entry per episode written, by the import.
    let trail = trail(records.clone());
    for (child, episode) in [(a, &anna[0]), (b, &janis[0])] {
        let entries = trail.entries(child).await.unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].body.actor.subject, "support-episodes-import");
        assert_eq!(entries[0].body.actor.roles, vec![Role::PartnerSystem]);
        assert_eq!(entries[0].body.action, AuditAction::Create);
        assert_eq!(entries[0].body.entity_id.as_deref(), episode["id"].as_str());
        assert!(trail.verify(child).await.unwrap().intact);
        // The entry was copied to the audit archive once its batch committed.
        let v = verify_child(
            &trail,
            &AuditArchive::new(blobs.clone()),
            &trail.pseudonym(child),
        )
        .await
        .unwrap();
        assert!(v.intact && v.archived == 1, "{v:?}");
    }
}

async fn episodes_apply_with_audit_links_and_row_errors<
    R: RecordStore + Clone,
    B: BlobStore + Clone,
>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    let w = worker(records.clone(), blobs, bucket, 40);
    let (a, b, specialist, screening) = setup(&w, &records, bucket).await;
    let key = "inbox/support-episodes/2026-06.csv";
    let s = import(&w, bucket, key, &episodes_file(b, specialist, screening), 1).await;
    assert_eq!(s.kind, "support-episodes");
    assert_eq!(s.status, Status::CompletedWithRejections);
    assert_eq!(counts(&s), (12, 2, 0, 0, 10));
    let report = report_of(w.bucket(), key).await;
    let fields: Vec<_> = report.iter().map(|(r, f, _)| (*r, f.as_str())).collect();
    assert_eq!(fields, expected_report(), "{report:?}");
    let reasons: Vec<&str> = report.iter().map(|(_, _, r)| r.as_str()).collect();
    assert_eq!(reasons[0], "is not a programme or service of the catalogue");
    assert_eq!(reasons[1], "is not a registered organisation");
    assert_eq!(reasons[3], "is not a registered specialist");
    assert_eq!(reasons[4], "does not work for provider_org");
    assert_eq!(reasons[5], "is not a screening of this child");
    assert_eq!(reasons[6], "no child with this personal code");
    assert_eq!(reasons[7], "is not a registered child");
    assert!(reasons[8].contains("another child"));
    assert_episode_state(&records, w.bucket(), a, b).await;

    // A later file closes Anna's episode (same external id): one update, audited, and the
    // episode keeps its id.
    let id = episodes_of(&records, a).await[0]["id"].clone();
    let body = format!(
        "{EPISODES_HEADER}ep-1,,{A},cool-kids,riga-sd,,clinic-1,2026-01-10,,parent request,2026-02-01,2026-05-31,partly_met,family_withdrew\n"
    );
    let s = import(&w, bucket, "inbox/support-episodes/close.csv", &body, 2).await;
    assert_eq!(counts(&s), (1, 0, 1, 0, 0));
    let anna = episodes_of(&records, a).await;
    assert_eq!(anna.len(), 1);
    assert_eq!(anna[0]["id"], id);
    assert_eq!(anna[0]["end_reason"], "family_withdrew");
    let entries = trail(records.clone()).entries(a).await.unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].body.action, AuditAction::Update);

    // JSON Lines: a provider that is also the referrer gets one link with both bases.
    let body = format!(
        "{{\"external_id\":\"ep-20\",\"personal_code\":\"{B}\",\"programme\":\"cool-kids\",\"provider_org\":\"school-9\",\"referring_org\":\"school-9\",\"referral_date\":\"2026-03-01\",\"referral_text\":\"teacher\"}}\n"
    );
    let s = import(&w, bucket, "inbox/support-episodes/s.jsonl", &body, 3).await;
    assert_eq!(counts(&s), (1, 1, 0, 0, 0));
    let link = care::link(&records, b, "school-9").await.unwrap().unwrap();
    assert!(link.bases.contains_key(&CareBasis::Supports));
    assert!(link.bases.contains_key(&CareBasis::Referred));
}

async fn episodes_redrops_and_redeliveries_change_nothing_more<
    R: RecordStore + Clone,
    B: BlobStore + Clone,
>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    let w = worker(records.clone(), blobs, bucket, 2);
    let (a, b, specialist, screening) = setup(&w, &records, bucket).await;
    let body = episodes_file(b, specialist, screening);
    let key = "inbox/support-episodes/2026-06.csv";
    let event = drop_file(w.bucket(), bucket, key, body.as_bytes(), 1).await;
    let first = w.handle(&event).await.unwrap()[0].clone();
    // The same event delivered again: ignored.
    assert!(w.handle(&event).await.unwrap().is_empty());
    // The same file dropped again under the same name: the finished import answers.
    let again = import(&w, bucket, key, &body, 2).await;
    assert_eq!(counts(&again), counts(&first));
    // The same content under another name: every episode is already there.
    let s = import(&w, bucket, "inbox/support-episodes/copy.csv", &body, 3).await;
    assert_eq!(counts(&s), (12, 0, 0, 2, 10));
    assert_eq!(
        report_of(w.bucket(), "inbox/support-episodes/copy.csv")
            .await
            .len(),
        expected_report().len()
    );
    assert_episode_state(&records, w.bucket(), a, b).await;
}

async fn episodes_strict_and_wrong_header<R: RecordStore + Clone, B: BlobStore + Clone>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    let w = worker(records.clone(), blobs, bucket, 40);
    let (a, b, specialist, screening) = setup(&w, &records, bucket).await;
    let key = "inbox/support-episodes/all.strict.csv";
    let s = import(&w, bucket, key, &episodes_file(b, specialist, screening), 1).await;
    assert_eq!(s.status, Status::Rejected);
    assert_eq!((s.inserted, s.rejected), (0, 1), "the pass-1 row");
    assert!(episodes_of(&records, a).await.is_empty());
    assert!(trail(records.clone()).entries(a).await.unwrap().is_empty());

    // Every row valid on its own, but rows 3–11 refused by the registry's state (row 11
    // only because row 1 of the same file gives ep-1 to Anna): nothing is committed.
    let file = episodes_file(b, specialist, screening);
    let without_row_12 = file.lines().take(12).collect::<Vec<_>>().join("\n") + "\n";
    let key = "inbox/support-episodes/state.strict.csv";
    let s = import(&w, bucket, key, &without_row_12, 3).await;
    assert_eq!(s.status, Status::Rejected);
    assert_eq!((s.rows_read, s.inserted, s.rejected), (11, 0, 9));
    assert!(
        s.reason
            .as_deref()
            .unwrap()
            .contains("refused by the registry's current state"),
        "{:?}",
        s.reason
    );
    let report: Vec<(u64, String)> = report_of(w.bucket(), key)
        .await
        .into_iter()
        .map(|(row, field, _)| (row, field))
        .collect();
    let expected: Vec<(u64, String)> = expected_report()
        .into_iter()
        .filter(|(row, _)| *row != 12)
        .map(|(row, field)| (row, field.to_owned()))
        .collect();
    assert_eq!(report, expected);
    assert!(episodes_of(&records, a).await.is_empty());
    assert!(episodes_of(&records, b).await.is_empty());
    assert!(trail(records.clone()).entries(a).await.unwrap().is_empty());
    assert!(trail(records.clone()).entries(b).await.unwrap().is_empty());

    // The two good rows alone, strict: the dry run passes and they are committed.
    let good = file.lines().take(3).collect::<Vec<_>>().join("\n") + "\n";
    let s = import(
        &w,
        bucket,
        "inbox/support-episodes/good.strict.csv",
        &good,
        4,
    )
    .await;
    assert_eq!(s.status, Status::Completed, "{:?}", s.reason);
    assert_eq!((s.inserted, s.rejected), (2, 0));
    assert_eq!(episodes_of(&records, a).await.len(), 1);
    assert_eq!(episodes_of(&records, b).await.len(), 1);
    assert_eq!(trail(records.clone()).entries(a).await.unwrap().len(), 1);

    let body = "external_id,child,programme\nep-1,x,cool-kids\n";
    let s = import(&w, bucket, "inbox/support-episodes/wrong.csv", body, 2).await;
    assert_eq!(s.status, Status::Rejected);
    assert_eq!(s.rows_read, 0);
    assert!(s.reason.is_some());
    assert_eq!(episodes_of(&records, a).await.len(), 1);
}

async fn episodes_crash_mid_file_resumes_without_repeating<
    R: RecordStore + Clone,
    B: BlobStore + Clone,
>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    let w = worker(records.clone(), blobs, bucket, 1);
    let (a, b, specialist, screening) = setup(&w, &records, bucket).await;
    let (_, blobs) = w.into_parts();
    // One row per batch: transact 1 commits row 1 (Anna), transact 2 (Jānis) crashes.
    let crashing = CrashingStore::new(records.clone(), 2);
    let w = worker(crashing, blobs, bucket, 1);
    let key = "inbox/support-episodes/2026-06.csv";
    let body = episodes_file(b, specialist, screening);
    let event = drop_file(w.bucket(), bucket, key, body.as_bytes(), 1).await;
    assert!(
        w.handle(&event).await.is_err(),
        "the crash fails the message"
    );
    assert_eq!(episodes_of(&records, a).await.len(), 1);
    assert!(episodes_of(&records, b).await.is_empty());
    // Redelivery resumes after row 1: Anna's episode is neither repeated nor audited twice.
    let (_, blobs) = w.into_parts();
    let w = worker(records.clone(), blobs, bucket, 1);
    let s = &w.handle(&event).await.unwrap()[0];
    assert_eq!(counts(s), (12, 2, 0, 0, 10));
    assert_episode_state(&records, w.bucket(), a, b).await;
}

async fn episodes_need_an_audit_trail<R: RecordStore + Clone, B: BlobStore + Clone>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    let service = IntakeService::new(records.clone(), clock(), Arc::new(RandomIds), IDENTITY_KEY);
    let w = IntakeWorker::new(service, blobs, bucket);
    let body = format!("{EPISODES_HEADER}ep-1,,{A},cool-kids,riga-sd,,,2026-01-10,,x,,,,\n");
    let event = drop_file(
        w.bucket(),
        bucket,
        "inbox/support-episodes/x.csv",
        body.as_bytes(),
        1,
    )
    .await;
    let err = w.handle(&event).await.unwrap_err();
    assert!(format!("{err:?}").contains("audit trail"), "{err:?}");
}

async fn specialist<R: RecordStore>(records: &R, external_id: &str) -> Option<Specialist> {
    let index = records
        .get(&keys::specialist_external(
            PARTNER_ORGANISATION,
            external_id,
        ))
        .await
        .unwrap()?;
    let id: SpecialistId = index.data["specialist_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let record = records.get(&keys::specialist(id)).await.unwrap().unwrap();
    Some(serde_json::from_value(record.data).unwrap())
}

const SPECIALISTS_HEADER: &str =
    "external_id,given_name,family_name,profession,organisations,status\n";
const CERTS_HEADER: &str =
    "specialist_external_id,instrument,programme,issued_by,valid_from,valid_to\n";

fn specialists_file() -> String {
    format!(
        "{SPECIALISTS_HEADER}\
         s-1,Ieva,Kalna,psychologist,clinic-1|riga-sd,\n\
         s-2,Jānis,Liepa,nurse,clinic-1,inactive\n\
         s-3,Anna,Ozola,nurse,nowhere|clinic-1,\n\
         s-4,,Egle,wizard,,\n"
    )
}

fn certifications_file() -> String {
    format!(
        "{CERTS_HEADER}\
         s-1,mchat-r,,VISC,2025-01-01,2025-12-31\n\
         s-1,,cool-kids,Cool Kids Latvia,2026-01-01,\n\
         s-1,no-such,,VISC,2025-01-01,\n\
         s-1,,mchat-r,VISC,2025-01-01,\n\
         s-9,mchat-r,,VISC,2025-01-01,\n\
         s-1,mchat-r,,VISC,2025-01-01,2024-01-01\n\
         s-2,epds,,VISC,2026-01-01,\n"
    )
}

async fn specialists_and_certifications_are_upserted<
    R: RecordStore + Clone,
    B: BlobStore + Clone,
>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    let w = worker(records.clone(), blobs, bucket, 40);
    import(
        &w,
        bucket,
        "inbox/organisations/o.csv",
        &organisations_file(),
        1,
    )
    .await;
    let key = "inbox/specialists/s.csv";
    let s = import(&w, bucket, key, &specialists_file(), 2).await;
    assert_eq!(s.kind, "specialists");
    assert_eq!(counts(&s), (4, 2, 0, 0, 2));
    let report = report_of(w.bucket(), key).await;
    let fields: Vec<_> = report.iter().map(|(r, f, _)| (*r, f.as_str())).collect();
    assert_eq!(
        fields,
        [
            (3, "organisations"),
            (4, "given_name"),
            (4, "profession"),
            (4, "organisations")
        ]
    );
    assert_eq!(report[0].2, "'nowhere' is not a registered organisation");
    let ieva = specialist(&records, "s-1").await.unwrap();
    assert_eq!(ieva.organisations, ["clinic-1", "riga-sd"]);
    assert_eq!(ieva.profession, Profession::Psychologist);
    assert_eq!(
        specialist(&records, "s-2").await.unwrap().status,
        RegistryStatus::Inactive
    );
    assert!(specialist(&records, "s-3").await.is_none());
    let s = import(
        &w,
        bucket,
        "inbox/specialists/copy.csv",
        &specialists_file(),
        3,
    )
    .await;
    assert_eq!(counts(&s), (4, 0, 0, 2, 2));

    // Certifications: two for Ieva in one batch, expired and open-ended; one for Jānis.
    let key = "inbox/certifications/c.csv";
    let s = import(&w, bucket, key, &certifications_file(), 4).await;
    assert_eq!(s.kind, "certifications");
    assert_eq!(counts(&s), (7, 3, 0, 0, 4));
    let report = report_of(w.bucket(), key).await;
    let fields: Vec<_> = report.iter().map(|(r, f, _)| (*r, f.as_str())).collect();
    assert_eq!(
        fields,
        [
            (3, "instrument"),
            (4, "programme"),
            (5, "specialist_external_id"),
            (6, "valid_to")
        ]
    );
    assert_eq!(
        report[0].2,
        "'no-such' is not a screening instrument of the scoring definitions"
    );
    assert_eq!(report[1].2, "'mchat-r' is not a programme of the catalogue");
    let ieva = specialist(&records, "s-1").await.unwrap();
    assert_eq!(ieva.certifications.len(), 2);
    let today = chrono::Utc::now().date_naive();
    assert!(ieva.is_certified("cool-kids", today));
    assert!(!ieva.is_certified("mchat-r", today), "expired");
    assert!(ieva.is_certified("mchat-r", "2025-06-01".parse().unwrap()));
    let s = import(
        &w,
        bucket,
        "inbox/certifications/copy.csv",
        &certifications_file(),
        5,
    )
    .await;
    assert_eq!(counts(&s), (7, 0, 0, 3, 4));
    // A renewed end date updates that certification; a changed specialist keeps them.
    let body = format!("{CERTS_HEADER}s-1,mchat-r,,VISC,2025-01-01,2027-12-31\n");
    let s = import(&w, bucket, "inbox/certifications/renew.csv", &body, 6).await;
    assert_eq!(counts(&s), (1, 0, 1, 0, 0));
    let body =
        format!("{SPECIALISTS_HEADER}s-1,Ieva,Kalna-Bērziņa,psychologist,riga-sd|clinic-1,\n");
    let s = import(&w, bucket, "inbox/specialists/rename.csv", &body, 7).await;
    assert_eq!(counts(&s), (1, 0, 1, 0, 0));
    let ieva = specialist(&records, "s-1").await.unwrap();
    assert_eq!(ieva.family_name, "Kalna-Bērziņa");
    assert_eq!(ieva.organisations, ["riga-sd", "clinic-1"]);
    assert_eq!(ieva.certifications.len(), 2, "kept");
    assert!(ieva.is_certified("mchat-r", today));
}

async fn specialists_strict_and_wrong_header<R: RecordStore + Clone, B: BlobStore + Clone>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    let w = worker(records.clone(), blobs, bucket, 40);
    import(
        &w,
        bucket,
        "inbox/organisations/o.csv",
        &organisations_file(),
        1,
    )
    .await;
    let s = import(
        &w,
        bucket,
        "inbox/specialists/s.strict.csv",
        &specialists_file(),
        2,
    )
    .await;
    assert_eq!(s.status, Status::Rejected);
    assert!(specialist(&records, "s-1").await.is_none(), "strict");
    let body =
        "external_id,given_name,family_name,profession,organisations\ns-1,A,B,nurse,clinic-1\n";
    let s = import(&w, bucket, "inbox/specialists/wrong.csv", body, 3).await;
    assert_eq!(s.status, Status::Rejected);
    assert!(s.reason.as_deref().unwrap().contains("status"), "{s:?}");
    assert!(
        specialist(&records, "s-1").await.is_none(),
        "nothing written"
    );
    let body = "specialist,instrument,programme,issued_by,valid_from,valid_to\n";
    let s = import(&w, bucket, "inbox/certifications/wrong.csv", body, 4).await;
    assert_eq!(s.status, Status::Rejected);
}

ravis_tests::on_both_partner_backends!(
    organisations_are_upserted_by_code,
    organisations_strict_and_wrong_header,
    episodes_apply_with_audit_links_and_row_errors,
    episodes_redrops_and_redeliveries_change_nothing_more,
    episodes_strict_and_wrong_header,
    episodes_crash_mid_file_resumes_without_repeating,
    episodes_need_an_audit_trail,
    specialists_and_certifications_are_upserted,
    specialists_strict_and_wrong_header,
);
