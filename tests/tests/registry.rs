//! The registry (organisations, specialists, certifications, support episodes) on the
//! embedded backend (SQLite records).

use ravis::adapters::embedded::SqliteRecordStore;
use ravis_tests::registry;

fn store(dir: &tempfile::TempDir) -> SqliteRecordStore {
    SqliteRecordStore::open(dir.path().join("records.db")).expect("open records")
}

#[tokio::test]
async fn organisations_validate_version_page_and_filter() {
    let dir = tempfile::tempdir().expect("tempdir");
    registry::organisations(store(&dir)).await;
}

#[tokio::test]
async fn specialists_and_certifications_count_only_while_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    registry::specialists(store(&dir)).await;
}

#[tokio::test]
async fn support_episodes_follow_the_rules_and_list_under_the_child() {
    let dir = tempfile::tempdir().expect("tempdir");
    registry::episodes(store(&dir)).await;
}

#[tokio::test]
async fn legal_representatives_link_children_once_per_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    registry::representatives(store(&dir)).await;
}

#[tokio::test]
async fn retired_programmes_take_no_new_episodes_but_old_ones_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    registry::retired_programmes(store(&dir)).await;
}
