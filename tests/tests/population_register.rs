//! Population-register updates (`inbox/population-register/`) on both backends: code
//! changes with identifier history (old and new codes find the child), address changes in
//! effective-date order, deaths, emigrations, row errors that need the stored state, the
//! audit trail of every change, and idempotency (re-drop, redelivery, crash and resume).
//! Run through `scripts/moto.sh run -- cargo test ...` (or `make test`).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use ravis::domain::{ChildId, KeyedHasher, Principal, Role};
use ravis::inbound::intake_worker::IntakeWorker;
use ravis::inbound::intake_worker::result_keys;
use ravis::intake::summary::Status;
use ravis::intake::{IntakeService, Summary};
use ravis::ports::{BlobStore, Clock, RandomIds, RecordStore, SystemClock};
use ravis::services::ServiceError;
use ravis::services::audit::AuditTrail;
use ravis::services::audit_archive::{AuditArchive, verify_child};
use ravis::services::children::{CODE_INDEX_DOMAIN, ChildrenService, SearchInput};
use ravis::store::keys;
use ravis_tests::intake::{CrashingStore, audited_worker, drop_file, report_of};
use serde_json::{Value, json};
use std::sync::Arc;

const IDENTITY_KEY: &[u8] = b"register-test-identity-key-0123456789";
const PSEUDONYM_KEY: &[u8] = b"register-test-pseudonym-key-012345678";

/// Anna (old code A, later A2), Jānis (B), Ilze (C).
const A: &str = "32579461005";
const A2: &str = "32579461016";
const B: &str = "32000000001";
const C: &str = "32111111119";

fn children_file() -> String {
    let mut s = "personal_code,given_name,family_name,birth_date,sex,gestational_age_weeks,atvk\n"
        .to_owned();
    s.push_str(&format!("{A},Anna,Bērziņa,2024-10-01,female,39,0001000\n"));
    s.push_str(&format!("{B},Jānis,Ozols,2023-05-17,male,,0100000\n"));
    s.push_str(&format!("{C},Ilze,Egle,2022-02-02,female,,\n"));
    s
}

/// Eight rows: five valid changes (one of them older than the address it meets), one
/// unknown code, one new code already taken, one invalid event.
fn register_file() -> String {
    let mut s = "event;personal_code;new_personal_code;atvk;date\n".to_owned();
    s.push_str(&format!("code_change;{A};{A2};;2026-03-01\n")); // 1
    s.push_str(&format!("address_change;{A2};;0100000;2026-04-01\n")); // 2 (new code, same file)
    s.push_str(&format!("address_change;{A};;0001000;2026-02-01\n")); // 3 older: unchanged
    s.push_str(&format!("death;{B};;;2026-05-01\n")); // 4
    s.push_str(&format!("emigration;{C};;;2026-06-01\n")); // 5
    s.push_str("death;32999999999;;;2026-05-01\n"); // 6 unknown code
    s.push_str(&format!("code_change;{C};{B};;2026-05-02\n")); // 7 B belongs to Jānis
    s.push_str(&format!("birth;{C};;;2026-05-02\n")); // 8 invalid event
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

/// The stored record of the child a code's index entry points at.
async fn by_code<R: RecordStore>(records: &R, code: &str) -> Option<Value> {
    let hash = KeyedHasher::new(IDENTITY_KEY, CODE_INDEX_DOMAIN).hash(code);
    let index = records.get(&keys::personal_code(&hash)).await.unwrap()?;
    let id: ChildId = index.data["child_id"].as_str().unwrap().parse().unwrap();
    Some(records.get(&keys::child(id)).await.unwrap().unwrap().data)
}

fn id_of(child: &Value) -> ChildId {
    child["id"].as_str().unwrap().parse().unwrap()
}

/// Imports the three children, then the register file; returns the register summary.
async fn import_both<R: RecordStore, B: BlobStore>(
    w: &IntakeWorker<R, B>,
    bucket: &str,
) -> (Summary, String, String) {
    let event = drop_file(
        w.bucket(),
        bucket,
        "inbox/children/c.csv",
        children_file().as_bytes(),
        1,
    )
    .await;
    assert_eq!(w.handle(&event).await.unwrap()[0].inserted, 3);
    let key = "inbox/population-register/2026-06.csv";
    let event = drop_file(w.bucket(), bucket, key, register_file().as_bytes(), 2).await;
    let s = w.handle(&event).await.unwrap()[0].clone();
    (s, key.to_owned(), event)
}

/// The state one clean import of the register file leaves.
async fn assert_register_state<R: RecordStore + Clone, B: BlobStore + Clone>(
    records: &R,
    blobs: &B,
) {
    let anna = by_code(records, A2).await.unwrap();
    assert_eq!(
        by_code(records, A).await.unwrap(),
        anna,
        "old code finds her"
    );
    assert_eq!(anna["personal_code"], A2);
    let history = anna["identifier_history"].as_array().unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["personal_code"], A);
    assert_eq!(history[0]["replaced_on"], "2026-03-01");
    assert_eq!(anna["atvk"], "0100000", "the newer address wins");
    assert_eq!(anna["atvk_effective_date"], "2026-04-01");
    // The children file put her in Rīga's register; the move put her in the new one's.
    let in_register = |code: &'static str| {
        let atvk = ravis::domain::Atvk::parse(code).unwrap();
        keys::register_entry(Some(&atvk), id_of(&anna))
    };
    assert!(
        records
            .get(&in_register("0001000"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        records
            .get(&in_register("0100000"))
            .await
            .unwrap()
            .is_some()
    );
    let none = keys::register_entry(None, id_of(&by_code(records, C).await.unwrap()));
    assert!(
        records.get(&none).await.unwrap().is_some(),
        "no address: `none`"
    );
    assert_eq!(anna["status"], "active");
    let janis = by_code(records, B).await.unwrap();
    assert_eq!(
        (&janis["status"], &janis["status_date"]),
        (&json!("deceased"), &json!("2026-05-01"))
    );
    assert_eq!(janis["personal_code"], B);
    let ilze = by_code(records, C).await.unwrap();
    assert_eq!(ilze["status"], "moved_abroad");
    assert_eq!(ilze["personal_code"], C, "a taken code is never merged in");
    // One audit entry per change, by the import, and the chains verify.
    let trail = trail(records.clone());
    for (child, n) in [(&anna, 2), (&janis, 1), (&ilze, 1)] {
        let entries = trail.entries(id_of(child)).await.unwrap();
        assert_eq!(entries.len(), n, "{}", child["given_name"]);
        for e in &entries {
            assert_eq!(e.body.actor.subject, "population-register-import");
            assert_eq!(e.body.actor.roles, vec![Role::PartnerSystem]);
        }
        assert!(trail.verify(id_of(child)).await.unwrap().intact);
        // Every entry the import wrote was copied to the audit archive after its batch.
        let archive = AuditArchive::new(blobs.clone());
        let v = verify_child(&trail, &archive, &trail.pseudonym(id_of(child)))
            .await
            .unwrap();
        assert!(v.intact, "{v:?}");
        assert_eq!(v.archived, n as u64);
    }
    let anna_entries = trail.entries(id_of(&anna)).await.unwrap();
    assert_eq!(
        anna_entries[0].body.fields,
        ["personal_code", "identifier_history"]
    );
    assert_eq!(anna_entries[1].body.fields, ["atvk", "atvk_effective_date"]);
}

async fn updates_apply_with_history_and_row_errors<R: RecordStore + Clone, B: BlobStore + Clone>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    let w = worker(records.clone(), blobs, bucket, 40);
    let (s, key, _) = import_both(&w, bucket).await;
    assert_eq!(s.kind, "population-register");
    assert_eq!(s.status, Status::CompletedWithRejections);
    assert_eq!(
        (s.rows_read, s.inserted, s.updated, s.unchanged, s.rejected),
        (8, 0, 4, 1, 3)
    );
    let report = report_of(w.bucket(), &key).await;
    let rows: Vec<_> = report
        .iter()
        .map(|r| (r["row"].as_u64().unwrap(), r["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rows,
        [(6, "personal_code"), (7, "new_personal_code"), (8, "event")]
    );
    assert_eq!(report[0]["reason"], "no child with this personal code");
    assert!(
        report[1]["reason"]
            .as_str()
            .unwrap()
            .contains("another child")
    );
    assert_register_state(&records, w.bucket()).await;

    // The old code still finds Anna through POST /children/search, and a children file
    // row with the old code updates her instead of registering a second child.
    let children = ChildrenService::new(
        records.clone(),
        clock(),
        Arc::new(RandomIds),
        IDENTITY_KEY,
        trail(records.clone()),
    );
    let admin = Principal {
        subject: "admin".into(),
        roles: vec![Role::RegistryAdministrator],
        organisation: "ravis".into(),
        territory: None,
        purpose: None,
    };
    for code in [A, A2] {
        let reply = children
            .find_by_personal_code(
                &admin,
                "r1",
                SearchInput {
                    personal_code: code.into(),
                },
            )
            .await
            .unwrap();
        assert_eq!(reply.body["personal_code"], A2);
    }
    let event = drop_file(
        w.bucket(),
        bucket,
        "inbox/children/again.csv",
        format!(
            "personal_code,given_name,family_name,birth_date,sex,gestational_age_weeks,atvk\n\
             {A},Anna Marija,Bērziņa,2024-10-01,female,39,\n"
        )
        .as_bytes(),
        5,
    )
    .await;
    let s = &w.handle(&event).await.unwrap()[0];
    assert_eq!((s.inserted, s.updated), (0, 1));
    let anna = by_code(&records, A2).await.unwrap();
    assert_eq!(anna["given_name"], "Anna Marija");
    assert_eq!(anna["identifier_history"][0]["personal_code"], A, "kept");
    // Registering the old code over HTTP answers "already registered" with her id.
    let err = children
        .register(
            &admin,
            "r2",
            serde_json::from_value(json!({"personal_code": A, "given_name": "Anna",
                "family_name": "Bērziņa", "birth_date": "2024-10-01", "sex": "female"}))
            .unwrap(),
            None,
        )
        .await
        .unwrap_err();
    match err {
        ServiceError::Conflict { existing_id, .. } => {
            assert_eq!(existing_id.as_deref(), anna["id"].as_str());
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn a_new_code_must_agree_with_the_birth_date<R: RecordStore + Clone, B: BlobStore + Clone>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    let w = worker(records.clone(), blobs, bucket, 40);
    import_both(&w, bucket).await;
    // Pēteris (born 2015-03-10) got a new-format code; the register gives him an
    // old-format one. 110315-20011 encodes 2015-03-11 and is refused; 100315-20017 agrees.
    let p = "32444444445";
    let event = drop_file(
        w.bucket(),
        bucket,
        "inbox/children/p.csv",
        format!(
            "personal_code,given_name,family_name,birth_date,sex,gestational_age_weeks,atvk\n\
             {p},Pēteris,Liepa,2015-03-10,male,40,0001000\n"
        )
        .as_bytes(),
        3,
    )
    .await;
    assert_eq!(w.handle(&event).await.unwrap()[0].inserted, 1);
    let body = format!(
        "event,personal_code,new_personal_code,atvk,date\n\
         code_change,{p},110315-20011,,2026-07-01\n\
         code_change,{p},100315-20017,,2026-07-02\n"
    );
    let key = "inbox/population-register/codes.csv";
    let event = drop_file(w.bucket(), bucket, key, body.as_bytes(), 4).await;
    let s = &w.handle(&event).await.unwrap()[0];
    let report = report_of(w.bucket(), key).await;
    assert_eq!((s.updated, s.rejected), (1, 1), "{report:?}");
    assert_eq!(report[0]["row"], 1);
    assert!(
        report[0]["reason"]
            .as_str()
            .unwrap()
            .contains("differs from the child's birth date")
    );
    let peteris = by_code(&records, "10031520017").await.unwrap();
    assert_eq!(by_code(&records, p).await.unwrap(), peteris);
    assert!(by_code(&records, "11031520011").await.is_none());
    assert_eq!(peteris["identifier_history"][0]["personal_code"], p);
    // The old code cannot be changed again: it is history.
    let body = format!(
        "event,personal_code,new_personal_code,atvk,date\ncode_change,{A},32579461027,,2026-08-01\n"
    );
    let key = "inbox/population-register/stale.csv";
    let event = drop_file(w.bucket(), bucket, key, body.as_bytes(), 5).await;
    let s = &w.handle(&event).await.unwrap()[0];
    assert_eq!((s.updated, s.rejected), (0, 1));
    assert_eq!(
        report_of(w.bucket(), key).await[0]["field"],
        "personal_code"
    );
}

async fn redrops_and_redeliveries_change_nothing_more<
    R: RecordStore + Clone,
    B: BlobStore + Clone,
>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    let w = worker(records.clone(), blobs, bucket, 3);
    let (first, key, event) = import_both(&w, bucket).await;
    // The same event delivered again: ignored.
    assert!(w.handle(&event).await.unwrap().is_empty());
    // The same file dropped again under the same name: the finished import answers.
    let event = drop_file(w.bucket(), bucket, &key, register_file().as_bytes(), 9).await;
    let again = &w.handle(&event).await.unwrap()[0];
    assert_eq!(
        (again.updated, again.unchanged, again.rejected),
        (first.updated, first.unchanged, first.rejected)
    );
    assert_eq!(report_of(w.bucket(), &key).await.len(), 3);
    // The same content dropped under another name: every change is already there.
    let key = "inbox/population-register/2026-06-copy.csv";
    let event = drop_file(w.bucket(), bucket, key, register_file().as_bytes(), 3).await;
    let s = &w.handle(&event).await.unwrap()[0];
    assert_eq!((s.updated, s.unchanged, s.rejected), (0, 5, 3));
    assert_register_state(&records, w.bucket()).await;
}

async fn a_crash_mid_file_resumes_without_repeating<
    R: RecordStore + Clone,
    B: BlobStore + Clone,
>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    // In the register file, row 2 reads the code row 1 writes, so row 1 is committed alone
    // (transact 1) and the batch of row 2 (transact 2) crashes.
    let w = worker(records.clone(), blobs, bucket, 2);
    let event = drop_file(
        w.bucket(),
        bucket,
        "inbox/children/c.csv",
        children_file().as_bytes(),
        1,
    )
    .await;
    w.handle(&event).await.unwrap();
    let (_, blobs) = w.into_parts();
    let crashing = CrashingStore::new(records.clone(), 2);
    let w = worker(crashing, blobs, bucket, 2);
    let key = "inbox/population-register/2026-06.csv";
    let event = drop_file(w.bucket(), bucket, key, register_file().as_bytes(), 2).await;
    assert!(
        w.handle(&event).await.is_err(),
        "the crash fails the message"
    );
    assert_eq!(by_code(&records, A2).await.unwrap()["atvk"], "0001000");
    assert_eq!(by_code(&records, B).await.unwrap()["status"], "active");
    // Redelivery: resumes after row 1, so Anna's code change is not applied or audited twice.
    let (_, blobs) = w.into_parts();
    let w = worker(records.clone(), blobs, bucket, 2);
    let s = &w.handle(&event).await.unwrap()[0];
    assert_eq!(
        (s.rows_read, s.updated, s.unchanged, s.rejected),
        (8, 4, 1, 3)
    );
    assert_register_state(&records, w.bucket()).await;
}

/// A register file of `rows` rows: every 100th an unknown event (refused by validation),
/// every other one the death of a child nobody registered (refused by the stored state).
fn unknown_codes_file(rows: u64) -> String {
    let mut s = "event,personal_code,new_personal_code,atvk,date\n".to_owned();
    for row in 1..=rows {
        if row % 100 == 0 {
            s.push_str(&format!("birth,32{row:09},,,2026-05-01\n"));
        } else {
            s.push_str(&format!("death,32{row:09},,,2026-05-01\n"));
        }
    }
    s
}

/// The report lists every refused row once, in row order, however many the stored state
/// refuses (more than the 1,000 a checkpoint used to keep) and across a crash: the commit
/// pass's refusals are stored with their batch, so a resumed import neither loses those
/// found before the crash nor lists them twice.
async fn every_refused_row_is_reported_once_across_a_crash<
    R: RecordStore + Clone,
    B: BlobStore + Clone,
>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    const ROWS: u64 = 1_250;
    // Batches of 33 rows: the 20th atomic write (rows 628–660) crashes.
    let crashing = CrashingStore::new(records.clone(), 20);
    let w = worker(crashing, blobs, bucket, 33);
    let key = "inbox/population-register/unknown.csv";
    let event = drop_file(
        w.bucket(),
        bucket,
        key,
        unknown_codes_file(ROWS).as_bytes(),
        1,
    )
    .await;
    assert!(
        w.handle(&event).await.is_err(),
        "the crash fails the message"
    );
    let (_, blobs) = w.into_parts();
    let w = worker(records.clone(), blobs, bucket, 33);
    let s = &w.handle(&event).await.unwrap()[0];
    assert_eq!(s.status, Status::CompletedWithRejections);
    assert_eq!((s.rows_read, s.updated, s.rejected), (ROWS, 0, ROWS));

    let report = report_of(w.bucket(), key).await;
    assert_eq!(report.len() as u64, ROWS, "one entry per refused row");
    for (entry, row) in report.iter().zip(1..=ROWS) {
        let expected = if row % 100 == 0 {
            "event"
        } else {
            "personal_code"
        };
        assert_eq!(
            (entry["row"].as_u64(), entry["field"].as_str()),
            (Some(row), Some(expected)),
            "{entry}"
        );
    }
    assert_eq!(report[0]["reason"], "no child with this personal code");

    // The same file dropped again is the same import: finished, it writes the same report.
    w.bucket().delete(&result_keys(key).0).await.unwrap();
    let event = drop_file(
        w.bucket(),
        bucket,
        key,
        unknown_codes_file(ROWS).as_bytes(),
        2,
    )
    .await;
    let s = &w.handle(&event).await.unwrap()[0];
    assert_eq!((s.rows_read, s.updated, s.rejected), (ROWS, 0, ROWS));
    assert_eq!(report_of(w.bucket(), key).await, report);
}

async fn without_an_audit_trail_nothing_is_imported<
    R: RecordStore + Clone,
    B: BlobStore + Clone,
>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    let service = IntakeService::new(records.clone(), clock(), Arc::new(RandomIds), IDENTITY_KEY);
    let w = IntakeWorker::new(service, blobs, bucket);
    let key = "inbox/population-register/x.csv";
    let event = drop_file(w.bucket(), bucket, key, register_file().as_bytes(), 1).await;
    let err = w.handle(&event).await.unwrap_err();
    assert!(format!("{:?}", err).contains("audit trail"), "{err:?}");
}

ravis_tests::on_both_partner_backends!(
    updates_apply_with_history_and_row_errors,
    a_new_code_must_agree_with_the_birth_date,
    redrops_and_redeliveries_change_nothing_more,
    a_crash_mid_file_resumes_without_repeating,
    every_refused_row_is_reported_once_across_a_crash,
    without_an_audit_trail_nothing_is_imported,
);
