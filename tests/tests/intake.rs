//! Partner file intake on both backends: the embedded one (SQLite + directory) and the AWS
//! adapters on moto (DynamoDB + S3). Every case runs the real `IntakeWorker` on S3 event
//! bodies, as the intake queue delivers them.
//! Run through `scripts/moto.sh run -- cargo test ...` (or `make test`).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use ravis::domain::{Child, KeyedHasher};
use ravis::inbound::intake_worker::IntakeWorker;
use ravis::inbound::intake_worker::result_keys;
use ravis::inbound::sqs::MessageHandler;
use ravis::intake::summary::Status;
use ravis::intake::{IntakeService, Summary};
use ravis::ports::{BlobStore, RandomIds, RecordStore, SystemClock};
use ravis::services::children::CODE_INDEX_DOMAIN;
use ravis::store::identity::NAME_INDEX_DOMAIN;
use ravis::store::keys;
use ravis_tests::intake::{CrashingStore, drop_file, report_of};
use serde_json::{Value, json};
use std::sync::Arc;

const IDENTITY_KEY: &[u8] = b"intake-test-identity-key-0123456789";

const HEADER: &str =
    "personal_code,given_name,family_name,birth_date,sex,gestational_age_weeks,atvk\n";

/// Ten rows: seven valid (five with a code, two without), three invalid.
fn mixed_file() -> String {
    let mut s = HEADER.to_owned();
    s.push_str("32579461005,Anna,Bērziņa,2024-10-01,female,39,0001000\n"); // 1
    s.push_str("32000000001,Jānis,Ozols,2023-05-17,male,,0100000\n"); // 2 (new-format code)
    s.push_str(",Līga,Kalniņa,2025-01-02,female,36,\n"); // 3 no code
    s.push_str("120394-12343,Old,Code,2024-01-01,male,,\n"); // 4 code/date mismatch
    s.push_str("100315-20017,Pēteris,Liepa,2015-03-10,male,40,0001000\n"); // 5 old-format code
    s.push_str(",Bad,Sex,2024-01-01,F,,\n"); // 6 bad sex
    s.push_str("32111111119,Ilze,Egle,2022-02-02,female,,\n"); // 7
    s.push_str(",,Nameless,2024-13-40,male,,\n"); // 8 two errors
    s.push_str(",Marta,Priede,2024-06-06,female,,0001000\n"); // 9 no code
    s.push_str("32222222227,Oskars,Bērzs,2021-12-12,male,41,0001000\n"); // 10
    s
}

fn worker<R: RecordStore, B: BlobStore>(
    records: R,
    blobs: B,
    bucket: &str,
    batch_rows: usize,
) -> IntakeWorker<R, B> {
    let service = IntakeService::new(
        records,
        Arc::new(SystemClock),
        Arc::new(RandomIds),
        IDENTITY_KEY,
    )
    .with_batch_rows(batch_rows);
    IntakeWorker::new(service, blobs, bucket)
}

async fn summary_of<B: BlobStore>(blobs: &B, key: &str) -> Summary {
    let (_, summary_key) = result_keys(key);
    serde_json::from_slice(&blobs.get(&summary_key).await.unwrap()).unwrap()
}

async fn child_by_code<R: RecordStore>(records: &R, code: &str) -> Option<(Child, u64)> {
    let hash = KeyedHasher::new(IDENTITY_KEY, CODE_INDEX_DOMAIN).hash(code);
    let index = records.get(&keys::personal_code(&hash)).await.unwrap()?;
    let id = index.data["child_id"].as_str().unwrap().parse().unwrap();
    let record = records.get(&keys::child(id)).await.unwrap().unwrap();
    Some((serde_json::from_value(record.data).unwrap(), record.version))
}

/// The children registered without a code under these names and birth date.
async fn children_by_name<R: RecordStore>(
    records: &R,
    given: &str,
    family: &str,
    born: &str,
) -> Vec<Value> {
    let hash = KeyedHasher::new(IDENTITY_KEY, NAME_INDEX_DOMAIN).hash(&format!(
        "{}\0{}\0{born}",
        given.to_lowercase(),
        family.to_lowercase()
    ));
    let Some(index) = records.get(&keys::child_name_index(&hash)).await.unwrap() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for id in index.data["child_ids"].as_array().unwrap() {
        let id = id.as_str().unwrap().parse().unwrap();
        out.push(records.get(&keys::child(id)).await.unwrap().unwrap().data);
    }
    out
}

/// The state a clean import of [`mixed_file`] leaves.
async fn assert_mixed_file_state<R: RecordStore>(records: &R) {
    for code in [
        "32579461005",
        "32000000001",
        "10031520017",
        "32111111119",
        "32222222227",
    ] {
        let (child, version) = child_by_code(records, code)
            .await
            .unwrap_or_else(|| panic!("{code} missing"));
        assert_eq!(version, 1, "{code} written once");
        assert_eq!(child.registered_by_org, "partner-file-drop");
        // The file's organisation cares for every child it registered (`registered`).
        let link = ravis::services::care::link(records, child.id, "partner-file-drop")
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{code}: no care link"));
        assert!(
            link.bases
                .contains_key(&ravis::services::care::CareBasis::Registered)
        );
    }
    assert!(child_by_code(records, "120394-12343").await.is_none());
    assert_eq!(
        children_by_name(records, "Līga", "Kalniņa", "2025-01-02")
            .await
            .len(),
        1
    );
    assert_eq!(
        children_by_name(records, "Marta", "Priede", "2024-06-06")
            .await
            .len(),
        1
    );
    assert!(
        children_by_name(records, "Bad", "Sex", "2024-01-01")
            .await
            .is_empty()
    );
}

async fn mixed_file_is_imported_with_a_row_report<R: RecordStore, B: BlobStore>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    let key = "inbox/children/2026-11/mixed.csv";
    let event = drop_file(&blobs, bucket, key, mixed_file().as_bytes(), 1).await;
    let w = worker(records, blobs, bucket, 3);
    w.handle_message(&event).await.unwrap();
    let w_blobs = w.bucket();
    let s = summary_of(w_blobs, key).await;
    assert_eq!(s.status, Status::CompletedWithRejections);
    assert_eq!(
        (s.rows_read, s.inserted, s.updated, s.unchanged, s.rejected),
        (10, 7, 0, 0, 3)
    );
    assert_eq!(s.format.as_deref(), Some("csv"));
    let report = report_of(w_blobs, key).await;
    let rows: Vec<(u64, &str)> = report
        .iter()
        .map(|r| (r["row"].as_u64().unwrap(), r["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rows,
        [
            (4, "personal_code"),
            (6, "sex"),
            (8, "given_name"),
            (8, "birth_date")
        ]
    );
    assert!(
        report[0]["reason"]
            .as_str()
            .unwrap()
            .contains("differs from birth_date")
    );
    assert_mixed_file_state(w.records()).await;

    // A later file updates by personal code, leaves identical rows alone, never duplicates.
    let mut second = HEADER.to_owned();
    second.push_str("32579461005,Anna Marija,Bērziņa,2024-10-01,female,,\n"); // renamed; empty keeps
    second.push_str("32000000001,Jānis,Ozols,2023-05-17,male,,0100000\n"); // identical
    second.push_str(",Līga,Kalniņa,2025-01-02,female,36,\n"); // identical, no code
    let key2 = "inbox/children/2026-12/update.csv";
    let event = drop_file(w_blobs, bucket, key2, second.as_bytes(), 2).await;
    w.handle_message(&event).await.unwrap();
    let s = summary_of(w_blobs, key2).await;
    assert_eq!(
        (s.inserted, s.updated, s.unchanged, s.rejected),
        (0, 1, 2, 0)
    );
    assert_eq!(s.status, Status::Completed);
    let (anna, version) = child_by_code(w.records(), "32579461005").await.unwrap();
    assert_eq!((anna.given_name.as_str(), version), ("Anna Marija", 2));
    assert_eq!(
        anna.gestational_age_weeks,
        Some(39),
        "an empty value keeps the stored one"
    );
    assert_eq!(anna.atvk.unwrap().as_str(), "0001000");
    assert_eq!(
        children_by_name(w.records(), "Līga", "Kalniņa", "2025-01-02")
            .await
            .len(),
        1
    );
}

async fn redrops_and_redeliveries_leave_one_import<R: RecordStore, B: BlobStore>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    let key = "inbox/children/mixed.csv";
    let w = worker(records, blobs, bucket, 4);
    let event = drop_file(w.bucket(), bucket, key, mixed_file().as_bytes(), 1).await;
    w.handle_message(&event).await.unwrap();
    // The same event delivered again: ignored.
    assert!(w.handle(&event).await.unwrap().is_empty());
    // The same file dropped again under the same name (a new event): the finished checkpoint answers.
    let again = drop_file(w.bucket(), bucket, key, mixed_file().as_bytes(), 2).await;
    let summaries = w.handle(&again).await.unwrap();
    assert_eq!((summaries[0].inserted, summaries[0].rejected), (7, 3));
    // The same content under another name: every row is recognised, nothing inserted.
    let other = "inbox/children/copy-of-mixed.csv";
    let copy = drop_file(w.bucket(), bucket, other, mixed_file().as_bytes(), 3).await;
    let s = &w.handle(&copy).await.unwrap()[0];
    assert_eq!(
        (s.inserted, s.updated, s.unchanged, s.rejected),
        (0, 0, 7, 3)
    );
    assert_mixed_file_state(w.records()).await;
}

async fn a_crash_mid_file_resumes_from_the_checkpoint<R: RecordStore + Clone, B: BlobStore>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    let key = "inbox/children/crash.csv";
    let crashing = CrashingStore::new(records.clone(), 2);
    // Batches of 2 rows: the first batch (rows 1–2) commits, the second (rows 3–5) fails.
    let w = worker(crashing, blobs, bucket, 2);
    let event = drop_file(w.bucket(), bucket, key, mixed_file().as_bytes(), 1).await;
    let err = w.handle_message(&event).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("import of inbox/children/crash.csv failed")
    );
    assert!(
        child_by_code(&records, "32579461005").await.is_some(),
        "batch 1 committed"
    );
    assert!(
        child_by_code(&records, "32111111119").await.is_none(),
        "later batches not"
    );
    assert!(
        w.bucket()
            .head(&result_keys(key).1)
            .await
            .unwrap()
            .is_none(),
        "no summary yet"
    );
    // Redelivery of the same event, no more crashes: resumes after row 2.
    let (_, blobs) = w.into_parts();
    let healthy = CrashingStore::new(records.clone(), 0);
    let w = worker(healthy, blobs, bucket, 2);
    let s = &w.handle(&event).await.unwrap()[0];
    assert_eq!(
        (s.rows_read, s.inserted, s.updated, s.unchanged, s.rejected),
        (10, 7, 0, 0, 3)
    );
    assert_mixed_file_state(&records).await;
}

async fn strict_mode_commits_nothing_when_a_row_fails<R: RecordStore, B: BlobStore>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    let w = worker(records, blobs, bucket, 5);
    let key = "inbox/children/all-or-nothing.strict.csv";
    let event = drop_file(w.bucket(), bucket, key, mixed_file().as_bytes(), 1).await;
    let s = &w.handle(&event).await.unwrap()[0];
    assert!(s.strict);
    assert_eq!(s.status, Status::Rejected);
    assert_eq!((s.rows_read, s.inserted, s.rejected), (10, 0, 3));
    assert!(s.reason.as_deref().unwrap().contains("strict mode"));
    assert_eq!(report_of(w.bucket(), key).await.len(), 4);
    assert!(child_by_code(w.records(), "32579461005").await.is_none());
    // A strict file without errors is imported.
    let mut good = HEADER.to_owned();
    good.push_str("32579461005,Anna,Bērziņa,2024-10-01,female,39,0001000\n");
    let key = "inbox/children/good.strict.csv";
    let event = drop_file(w.bucket(), bucket, key, good.as_bytes(), 2).await;
    let s = &w.handle(&event).await.unwrap()[0];
    assert_eq!((s.status, s.inserted), (Status::Completed, 1));
    // A strict file longer than the dry run takes is refused whole, before any write.
    let mut long = HEADER.to_owned();
    for i in 0..=ravis::intake::dry_run::STRICT_MAX_ROWS {
        long.push_str(&format!(",Anna,Rinda {i},2024-10-01,female,,\n"));
    }
    let key = "inbox/children/long.strict.csv";
    let event = drop_file(w.bucket(), bucket, key, long.as_bytes(), 3).await;
    let s = &w.handle(&event).await.unwrap()[0];
    assert_eq!(s.status, Status::Rejected);
    assert_eq!(
        (s.rows_read, s.inserted),
        (ravis::intake::dry_run::STRICT_MAX_ROWS + 1, 0)
    );
    assert!(
        s.reason.as_deref().unwrap().contains(&format!(
            "at most {} rows",
            ravis::intake::dry_run::STRICT_MAX_ROWS
        )),
        "{:?}",
        s.reason
    );
}

async fn files_that_are_not_what_they_claim_are_rejected_whole<R: RecordStore, B: BlobStore>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    let w = worker(records, blobs, bucket, 5);
    // Valid rows first, then binary garbage: nothing of it is committed.
    let mut garbage = mixed_file().into_bytes();
    garbage.extend_from_slice(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR");
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("inbox/children/image.csv", garbage, "binary content"),
        (
            "inbox/children/latin1.csv",
            {
                let mut b = mixed_file().into_bytes();
                b.extend_from_slice(b",B\xe8rzi\xf1a,X,2024-01-01,male,,\n");
                b
            },
            "not valid UTF-8",
        ),
        (
            "inbox/children/families.csv",
            b"family_id,name\n1,X\n".to_vec(),
            "wrong header",
        ),
        (
            "inbox/families/f.csv",
            mixed_file().into_bytes(),
            "unknown kind 'families'",
        ),
        (
            "inbox/children/sheet.xlsx",
            mixed_file().into_bytes(),
            "unsupported file type",
        ),
    ];
    for (i, (key, body, reason)) in cases.into_iter().enumerate() {
        let event = drop_file(w.bucket(), bucket, key, &body, i as u32 + 1).await;
        let s = &w.handle(&event).await.unwrap()[0];
        assert_eq!(s.status, Status::Rejected, "{key}");
        assert!(
            s.reason.as_deref().unwrap().contains(reason),
            "{key}: {:?}",
            s.reason
        );
        assert_eq!((s.rows_read, s.inserted), (0, 0));
        assert!(report_of(w.bucket(), key).await.is_empty());
    }
    assert!(
        child_by_code(w.records(), "32579461005").await.is_none(),
        "nothing written"
    );
}

async fn json_lines_and_possible_duplicates<R: RecordStore, B: BlobStore>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    let w = worker(records, blobs, bucket, 5);
    let body = concat!(
        "{\"personal_code\":\"32579461005\",\"given_name\":\"Anna\",\"family_name\":\"Bērziņa\",\"birth_date\":\"2024-10-01\",\"sex\":\"female\",\"gestational_age_weeks\":39,\"atvk\":\"0001000\"}\n",
        "{\"personal_code\":null,\"given_name\":\"Līga\",\"family_name\":\"Kalniņa\",\"birth_date\":\"2025-01-02\",\"sex\":\"female\"}\n",
        "{\"given_name\":\"LĪGA\",\"family_name\":\"Kalniņa\",\"birth_date\":\"2025-01-02\",\"sex\":\"female\",\"atvk\":\"0100000\"}\n",
        "{\"given_name\":\"X\",\"family_name\":\"Y\",\"birth_date\":\"2025-01-02\",\"sex\":\"female\",\"shoe_size\":30}\n",
    );
    let key = "inbox/children/feed.jsonl";
    let event = drop_file(w.bucket(), bucket, key, body.as_bytes(), 1).await;
    let s = &w.handle(&event).await.unwrap()[0];
    assert_eq!(s.format.as_deref(), Some("jsonl"));
    assert_eq!(
        (s.rows_read, s.inserted, s.rejected, s.possible_duplicates),
        (4, 3, 1, 1)
    );
    assert_eq!(report_of(w.bucket(), key).await[0]["field"], "shoe_size");
    let liga = children_by_name(w.records(), "līga", "kalniņa", "2025-01-02").await;
    assert_eq!(liga.len(), 2);
    assert_eq!(liga[1]["possible_duplicate_of"], json!([liga[0]["id"]]));
    assert_eq!(
        child_by_code(w.records(), "32579461005")
            .await
            .unwrap()
            .0
            .gestational_age_weeks,
        Some(39)
    );
}

/// A file with more refused rows than any in-memory cap (the report used to stop at
/// 100,000 entries) is reported whole: every refused row, in row order, with the summary's
/// count; the valid rows among them are committed.
async fn a_report_lists_every_refused_row_of_a_large_file<R: RecordStore, B: BlobStore>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    const ROWS: u64 = 100_010;
    let mut file = HEADER.to_owned();
    for row in 1..=ROWS {
        if row == 50_000 {
            file.push_str("32579461005,Anna,Bērziņa,2024-10-01,female,39,0001000\n");
        } else {
            file.push_str(",Bad,Sex,2024-01-01,F,,\n");
        }
    }
    let w = worker(records, blobs, bucket, 33);
    let key = "inbox/children/large.csv";
    let event = drop_file(w.bucket(), bucket, key, file.as_bytes(), 1).await;
    let s = &w.handle(&event).await.unwrap()[0];
    assert_eq!((s.rows_read, s.inserted, s.rejected), (ROWS, 1, ROWS - 1));
    let report = report_of(w.bucket(), key).await;
    assert_eq!(report.len() as u64, ROWS - 1);
    let rows: Vec<u64> = report.iter().map(|e| e["row"].as_u64().unwrap()).collect();
    let expected: Vec<u64> = (1..=ROWS).filter(|r| *r != 50_000).collect();
    assert!(rows == expected, "every refused row once, in row order");
    assert!(report.iter().all(|e| e["field"] == "sex"));
    assert!(child_by_code(w.records(), "32579461005").await.is_some());
}

/// Row `i` of [`store_sized_file`]: two in three rows with a unique new-format code, one
/// in three without a code (unique names); one in a thousand with an impossible date.
fn store_sized_row(i: u64) -> String {
    let code = if i.is_multiple_of(3) {
        String::new()
    } else {
        format!("3{}{i:09}", 2 + i % 8)
    };
    let born = if i % 1000 == 999 {
        "2024-02-30".to_owned()
    } else {
        (chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Days::new(i % 2000))
            .to_string()
    };
    let sex = if i.is_multiple_of(2) {
        "female"
    } else {
        "male"
    };
    format!("{code},Bērns{i},Kalns,{born},{sex},39,0001000\n")
}

/// 6,000 rows (6 invalid), then rows 1–10 again (unchanged).
fn store_sized_file() -> String {
    let mut file = HEADER.to_owned();
    for i in (1..=6000).chain(1..=10) {
        file.push_str(&store_sized_row(i));
    }
    file
}

/// On the embedded backend a batch is as large as the store's bulk atomic write (thousands
/// of rows, not 33): a crash between two such batches leaves the first whole and nothing of
/// the second, and the redelivered event resumes after it — every child once, the counts
/// of an import without a crash, and a re-drop or a copy of the file changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_store_sized_batches_resumes_from_the_checkpoint() {
    let (records, blobs, _dir) = ravis_tests::intake::embedded_partner();
    let key = "inbox/children/store-sized.csv";
    let file = store_sized_file();
    // No row cap: the store sizes the batches. The second batch's write fails.
    let w = worker(
        CrashingStore::new(records.clone(), 2),
        blobs,
        "partner",
        usize::MAX,
    );
    let event = drop_file(w.bucket(), "partner", key, file.as_bytes(), 1).await;
    assert!(w.handle_message(&event).await.is_err());
    let code = |i: u64| format!("3{}{i:09}", 2 + i % 8);
    // The first batch holds far more than the 33 rows of a DynamoDB-sized batch.
    for i in [1, 2, 500, 1000, 1001] {
        assert!(
            child_by_code(&records, &code(i)).await.is_some(),
            "row {i} committed with the first batch"
        );
    }
    assert!(
        child_by_code(&records, &code(5998)).await.is_none(),
        "later batches not committed"
    );
    assert!(
        w.bucket()
            .head(&result_keys(key).1)
            .await
            .unwrap()
            .is_none()
    );

    let (_, blobs) = w.into_parts();
    let w = worker(
        CrashingStore::new(records.clone(), 0),
        blobs,
        "partner",
        usize::MAX,
    );
    let s = &w.handle(&event).await.unwrap()[0];
    assert_eq!(
        (s.rows_read, s.inserted, s.updated, s.unchanged, s.rejected),
        (6010, 5994, 0, 10, 6)
    );
    let report = report_of(w.bucket(), key).await;
    let refused: Vec<u64> = report.iter().map(|e| e["row"].as_u64().unwrap()).collect();
    assert_eq!(refused, vec![999, 1999, 2999, 3999, 4999, 5999]);
    for i in (1..=6000u64).filter(|i| i % 1000 != 999) {
        if i.is_multiple_of(3) {
            let born = store_sized_row(i).split(',').nth(3).unwrap().to_owned();
            let found = children_by_name(w.records(), &format!("Bērns{i}"), "Kalns", &born).await;
            assert_eq!(found.len(), 1, "row {i}: one code-less child");
        } else {
            let (_, version) = child_by_code(&records, &code(i))
                .await
                .unwrap_or_else(|| panic!("row {i} missing"));
            assert_eq!(version, 1, "row {i} written once");
        }
    }
    // Dropped again: the finished checkpoint answers; a copy: every valid row unchanged.
    let again = drop_file(w.bucket(), "partner", key, file.as_bytes(), 2).await;
    let s = &w.handle(&again).await.unwrap()[0];
    assert_eq!((s.inserted, s.unchanged, s.rejected), (5994, 10, 6));
    let copy = "inbox/children/store-sized-copy.csv";
    let event = drop_file(w.bucket(), "partner", copy, file.as_bytes(), 3).await;
    let s = &w.handle(&event).await.unwrap()[0];
    assert_eq!(
        (s.inserted, s.updated, s.unchanged, s.rejected),
        (0, 0, 6004, 6)
    );
}

ravis_tests::on_both_partner_backends!(
    mixed_file_is_imported_with_a_row_report,
    redrops_and_redeliveries_leave_one_import,
    a_crash_mid_file_resumes_from_the_checkpoint,
    strict_mode_commits_nothing_when_a_row_fails,
    files_that_are_not_what_they_claim_are_rejected_whole,
    json_lines_and_possible_duplicates,
    a_report_lists_every_refused_row_of_a_large_file,
);
