//! The analytics lake on the embedded backend (SQLite records, the durable local queue,
//! a directory bucket): `ravis_tests::lake`.

use ravis::adapters::embedded::{EmbeddedBackend, QueueOptions};
use ravis::services::lake::LOCAL_ANALYTICS_BUCKET;
use ravis_tests::lake;

#[tokio::test]
async fn the_lake_counts_each_person_once_and_names_no_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = EmbeddedBackend::open(dir.path()).expect("backend");
    let queue = backend
        .queue("scoring", QueueOptions::default())
        .expect("queue");
    let blobs = backend.blobs(LOCAL_ANALYTICS_BUCKET).expect("bucket");
    lake::the_lake_counts_each_person_once_and_names_no_one(backend.records(), queue, blobs).await;
}

/// The S3 lifecycle rule of each table's prefix in `infra/template.yaml` expires its
/// objects after the table's retention (`Table::retention_years`, in days of 365.25).
#[test]
fn the_bucket_expires_each_table_after_its_retention() {
    use ravis::statistics::lake::Table;
    let template = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml"),
    )
    .expect("template");
    for table in Table::ALL {
        let prefix = format!("Prefix: {}", table.prefix());
        let rule = template
            .split_once(&prefix)
            .unwrap_or_else(|| panic!("no lifecycle rule for {}", table.prefix()))
            .1;
        let days: u32 = rule
            .split_once("ExpirationInDays:")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|d| d.parse().ok())
            .expect("ExpirationInDays");
        let years = u32::try_from(table.retention_years()).expect("years");
        assert_eq!(days, (years * 36525).div_ceil(100), "{}", table.name());
    }
}
