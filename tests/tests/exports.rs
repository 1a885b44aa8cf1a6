//! Exports (issue #12) on the embedded backend: SQLite records, the durable local queues,
//! the VIIS outbox in a directory bucket, the loopback FHIR test receiver.

use ravis::adapters::embedded::{
    DirBlobStore, EmbeddedBackend, QueueOptions, SqliteQueue, SqliteRecordStore,
};
use ravis_tests::exports;

fn backend(dir: &tempfile::TempDir) -> (SqliteRecordStore, SqliteQueue, SqliteQueue, DirBlobStore) {
    let backend = EmbeddedBackend::open(dir.path()).expect("backend");
    let options = QueueOptions {
        max_receives: 5,
        ..QueueOptions::default()
    };
    (
        backend.records(),
        backend.queue("scoring", options.clone()).expect("queue"),
        backend.queue("exports", options).expect("queue"),
        backend.blobs("exchange").expect("bucket"),
    )
}

#[tokio::test]
async fn a_result_reaches_the_e_health_system_and_viis_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (r, s, e, b) = backend(&dir);
    exports::a_result_reaches_both_receivers(r, s, e, b).await;
}

#[tokio::test]
async fn receiver_faults_are_retried_dead_lettered_and_retried_by_an_operator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (r, s, e, b) = backend(&dir);
    exports::faults_are_retried_and_nothing_duplicates(r, s, e, b).await;
}

#[tokio::test]
async fn a_merge_updates_and_a_child_without_a_code_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (r, s, e, b) = backend(&dir);
    exports::merges_update_and_a_child_without_a_code_is_skipped(r, s, e, b).await;
}

#[tokio::test]
async fn the_sweep_delivers_a_job_whose_message_was_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (r, s, e, b) = backend(&dir);
    exports::the_sweep_delivers_jobs_whose_message_was_lost(r, s, e, b).await;
}

#[tokio::test]
async fn a_rescore_updates_what_was_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (r, s, e, b) = backend(&dir);
    exports::a_rescore_updates_what_was_sent(r, s, e, b).await;
}

#[tokio::test]
async fn viis_over_http_is_retried_and_a_refusal_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (r, s, e, b) = backend(&dir);
    exports::viis_over_http_is_retried_and_refusals_are_kept(r, s, e, b).await;
}

#[tokio::test]
async fn a_disclosure_whose_archive_copy_failed_is_archived_on_redelivery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (r, s, e, b) = backend(&dir);
    exports::a_disclosure_whose_archive_copy_failed_is_archived_on_redelivery(r, s, e, b).await;
}

/// The VIIS adapter against the test receiver: a re-sent batch replaces (201, then 200: one
/// batch), a failed client authentication is retried and says so, a request without a
/// token is refused with the platform's reason, and a plain-http URL off loopback is refused
/// at start.
#[tokio::test]
async fn the_viis_adapter_replaces_a_resent_batch_and_names_a_failed_sign_in() {
    use ravis::adapters::http_client::ClientCredentials;
    use ravis::adapters::viis_http::ViisHttpReceiver;
    use ravis::domain::export::{ViisMeasure, ViisRecord};
    use ravis::ports::{EducationReceiver, ReceiverAnswer};
    use ravis_tests::viis_receiver::{CLIENT, ViisReceiver};
    use std::time::Duration;

    let viis = ViisReceiver::start().await;
    let with_secret = |secret: &str| {
        Some(ClientCredentials {
            token_url: viis.token_url.clone(),
            client_id: CLIENT.0.into(),
            client_secret: secret.into(),
            scope: None,
        })
    };
    let date = chrono::NaiveDate::from_ymd_opt(2026, 12, 7).expect("date");
    let records = [ViisRecord {
        personal_code: "32579461005".into(),
        support_need: true,
        measures: vec![ViisMeasure {
            id: "kiva".into(),
            name: "KiVa".into(),
        }],
        date,
        valid_until: date,
        issuer_organisation: "90000000002".into(),
        issuer_role: "education_specialist".into(),
    }];
    let good = ViisHttpReceiver::new(&viis.base, Duration::from_secs(2), with_secret(CLIENT.1))
        .expect("receiver");
    for _ in 0..2 {
        let answer = good.deliver("batch-1", &records).await;
        assert!(
            matches!(&answer, ReceiverAnswer::Accepted { locations }
                if locations == &[format!("{}/support-needs/batches/batch-1", viis.base)]),
            "{answer:?}"
        );
    }
    assert_eq!(viis.deliveries(), 2);
    assert_eq!(viis.batches().len(), 1, "a re-send replaces the batch");
    assert_eq!(viis.batches()["batch-1"][0]["measures"][0]["id"], "kiva");

    let wrong = ViisHttpReceiver::new(&viis.base, Duration::from_secs(2), with_secret("wrong"))
        .expect("receiver");
    let answer = wrong.deliver("batch-2", &records).await;
    assert!(
        matches!(&answer, ReceiverAnswer::Retry { reason, .. }
            if reason.contains("client authentication") && reason.contains("401")),
        "{answer:?}"
    );
    let anonymous =
        ViisHttpReceiver::new(&viis.base, Duration::from_secs(2), None).expect("receiver");
    let answer = anonymous.deliver("batch-3", &records).await;
    assert!(
        matches!(&answer, ReceiverAnswer::Rejected { status: 400, reason, outcome }
            if reason.contains("no bearer token") && outcome["status"] == 400),
        "{answer:?}"
    );
    assert_eq!(viis.batches().len(), 1);
    let refused = ViisHttpReceiver::new("http://viss.example/viis", Duration::from_secs(2), None)
        .err()
        .expect("plain http off loopback is refused");
    assert!(refused.to_string().contains("https"), "{refused}");
}
