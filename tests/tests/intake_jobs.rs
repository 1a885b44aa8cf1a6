//! The intake jobs API on both backends (SQLite + directory, DynamoDB + S3 on moto): the
//! real `IntakeWorker` imports files named by S3 events, and registry administrators list
//! the jobs newest first (filtered by kind and status), read one, and page through its row
//! errors; every refusal names its field or says why.
//! Run through `scripts/moto.sh run -- cargo test ...`.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use ravis::domain::{Principal, Role};
use ravis::inbound::intake_worker::{IntakeWorker, result_keys};
use ravis::inbound::sqs::MessageHandler;
use ravis::intake::IntakeService;
use ravis::intake::jobs::IntakeJobs;
use ravis::ports::{BlobStore, RandomIds, RecordStore, SystemClock};
use ravis::services::ServiceError;
use ravis_tests::intake::drop_file;
use ravis_tests::support::{self, field_of, query};
use serde_json::{Value, json};
use std::sync::Arc;

const HEADER: &str =
    "personal_code,given_name,family_name,birth_date,sex,gestational_age_weeks,atvk\n";

fn principal(role: Role, territory: Option<&str>) -> Principal {
    support::principal(role, "registry", territory)
}

fn admin() -> Principal {
    principal(Role::RegistryAdministrator, None)
}

fn files(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["file"].as_str().unwrap())
        .collect()
}

fn errors(page: &Value) -> Vec<(u64, &str)> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_u64().unwrap(), e["field"].as_str().unwrap()))
        .collect()
}

async fn jobs_and_their_row_errors<R: RecordStore + Clone, B: BlobStore + Clone>(
    records: R,
    blobs: B,
    bucket: &str,
) {
    let service = IntakeService::new(
        records.clone(),
        Arc::new(SystemClock),
        Arc::new(RandomIds),
        b"intake-jobs-identity-key-0123456789",
    );
    let worker = IntakeWorker::new(service, blobs.clone(), bucket);
    let jobs = IntakeJobs::new(records.clone(), blobs.clone());

    // Three files, each finished a moment after the one before: rows with four refused
    // fields, a file under an unknown kind folder, and a clean file.
    let mut bad = HEADER.to_owned();
    bad.push_str(",Līga,Kalniņa,2025-01-02,female,36,\n"); // 1
    bad.push_str("120394-12343,Old,Code,2024-01-01,male,,\n"); // 2 code/date mismatch
    bad.push_str(",Bad,Sex,2024-01-01,F,,\n"); // 3 bad sex
    bad.push_str(",,Nameless,2024-13-40,male,,\n"); // 4 two errors
    let mut clean = HEADER.to_owned();
    clean.push_str(",Marta,Priede,2024-06-06,female,,0001000\n");
    let drops = [
        ("inbox/children/bad.csv", bad),
        ("inbox/pets/cats.csv", clean.clone()),
        ("inbox/children/clean.csv", clean),
    ];
    let mut events = Vec::new();
    for (seq, (key, body)) in drops.iter().enumerate() {
        let event = drop_file(&blobs, bucket, key, body.as_bytes(), seq as u32 + 1).await;
        worker.handle_message(&event).await.unwrap();
        events.push(event);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // A redelivered event records no second job.
    worker.handle_message(&events[0]).await.unwrap();

    let page = jobs.list(&admin(), &[]).await.unwrap().body;
    assert_eq!(
        files(&page),
        [
            "inbox/children/clean.csv",
            "inbox/pets/cats.csv",
            "inbox/children/bad.csv"
        ]
    );
    assert_eq!(page["next"], Value::Null);
    let bad_job = page["items"][2].clone();
    assert_eq!(
        (
            bad_job["status"].as_str(),
            bad_job["rows_read"].as_u64(),
            bad_job["inserted"].as_u64(),
            bad_job["rejected"].as_u64()
        ),
        (Some("completed_with_rejections"), Some(4), Some(1), Some(3))
    );
    let id = bad_job["id"].as_str().unwrap();
    assert_eq!(
        bad_job["errors"],
        json!(format!("/intake/jobs/{id}/errors"))
    );
    let unknown_kind = &page["items"][1];
    assert_eq!(unknown_kind["status"], "rejected");
    assert!(
        unknown_kind["reason"]
            .as_str()
            .unwrap()
            .starts_with("unknown kind 'pets'")
    );

    // Filters, and paging one job at a time.
    let children = jobs
        .list(&admin(), &query(&[("kind", "children")]))
        .await
        .unwrap()
        .body;
    assert_eq!(files(&children).len(), 2);
    let rejected = jobs
        .list(&admin(), &query(&[("status", "rejected")]))
        .await
        .unwrap()
        .body;
    assert_eq!(files(&rejected), ["inbox/pets/cats.csv"]);
    let first = jobs
        .list(&admin(), &query(&[("limit", "1")]))
        .await
        .unwrap()
        .body;
    let cursor = first["next"].as_str().unwrap().to_owned();
    let second = jobs
        .list(&admin(), &query(&[("limit", "1"), ("cursor", &cursor)]))
        .await
        .unwrap()
        .body;
    assert_eq!(files(&second), ["inbox/pets/cats.csv"]);
    // A cursor issued without a filter is not one of the filtered list.
    assert_eq!(
        field_of(
            jobs.list(
                &admin(),
                &query(&[("kind", "children"), ("cursor", &cursor)])
            )
            .await
            .unwrap_err()
        ),
        "cursor"
    );
    for (name, value) in [
        ("kind", "pets"),
        ("status", "done"),
        ("limit", "101"),
        ("colour", "red"),
    ] {
        assert_eq!(
            field_of(
                jobs.list(&admin(), &query(&[(name, value)]))
                    .await
                    .unwrap_err()
            ),
            name
        );
    }

    // One job, and its row errors in row order, paged.
    let one = jobs.get(&admin(), id).await.unwrap().body;
    assert_eq!(one, bad_job);
    let page = jobs
        .errors(&admin(), id, &query(&[("limit", "3")]))
        .await
        .unwrap()
        .body;
    assert_eq!(
        errors(&page),
        [(2, "personal_code"), (3, "sex"), (4, "given_name")]
    );
    assert!(
        page["items"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("differs from birth_date")
    );
    let cursor = page["next"].as_str().unwrap().to_owned();
    let rest = jobs
        .errors(&admin(), id, &query(&[("limit", "3"), ("cursor", &cursor)]))
        .await
        .unwrap()
        .body;
    assert_eq!(errors(&rest), [(4, "birth_date")]);
    assert_eq!(rest["next"], Value::Null);
    // The cursor belongs to its job.
    let clean_id = page_id(&jobs, "inbox/children/clean.csv").await;
    assert_eq!(
        field_of(
            jobs.errors(&admin(), &clean_id, &query(&[("cursor", &cursor)]))
                .await
                .unwrap_err()
        ),
        "cursor"
    );
    let none = jobs.errors(&admin(), &clean_id, &[]).await.unwrap().body;
    assert_eq!(none, json!({"items": [], "next": null}));

    // Unknown and malformed ids are 404; so is a report that expired from the bucket.
    for bad_id in ["0".repeat(64), "not-a-job".to_owned(), "A".repeat(64)] {
        assert!(matches!(
            jobs.get(&admin(), &bad_id).await.unwrap_err(),
            ServiceError::NotFound(_)
        ));
    }
    let (report_key, _) = result_keys("inbox/children/bad.csv");
    blobs.delete(&report_key).await.unwrap();
    assert!(matches!(
        jobs.errors(&admin(), id, &[]).await.unwrap_err(),
        ServiceError::NotFound(_)
    ));

    // Registry administrators without a territory scope only.
    for who in [
        principal(Role::HealthSpecialist, None),
        principal(Role::DataProtectionOfficer, None),
        principal(Role::RegistryAdministrator, Some("0001000")),
    ] {
        assert!(matches!(
            jobs.list(&who, &[]).await.unwrap_err(),
            ServiceError::Forbidden(_)
        ));
        assert!(matches!(
            jobs.errors(&who, id, &[]).await.unwrap_err(),
            ServiceError::Forbidden(_)
        ));
    }
}

async fn page_id<R: RecordStore, B: BlobStore>(jobs: &IntakeJobs<R, B>, file: &str) -> String {
    let page = jobs.list(&admin(), &[]).await.unwrap().body;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["file"] == file)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

ravis_tests::on_both_partner_backends!(jobs_and_their_row_errors);
