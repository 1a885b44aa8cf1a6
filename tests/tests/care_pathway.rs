//! The care pathway (referrals, worklists, the sweep) on the embedded backend (SQLite
//! records, the durable local queue).

use ravis::adapters::embedded::{EmbeddedBackend, QueueOptions, SqliteQueue, SqliteRecordStore};
use ravis_tests::pathway;

fn backend(dir: &tempfile::TempDir) -> (SqliteRecordStore, SqliteQueue) {
    let backend = EmbeddedBackend::open(dir.path()).expect("backend");
    let queue = backend
        .queue("scoring", QueueOptions::default())
        .expect("queue");
    (backend.records(), queue)
}

#[tokio::test]
async fn a_medium_mchat_puts_the_follow_up_on_the_worklist_until_it_is_done() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (records, queue) = backend(&dir);
    pathway::follow_up_interview_on_the_worklist(records, queue).await;
}

#[tokio::test]
async fn a_referral_goes_from_proposed_to_completed_and_the_provider_sees_the_child_only_meanwhile()
{
    let dir = tempfile::tempdir().expect("tempdir");
    let (records, queue) = backend(&dir);
    pathway::a_referral_through_its_life(records, queue).await;
}

#[tokio::test]
async fn refused_referral_steps_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (records, queue) = backend(&dir);
    pathway::refused_steps_change_nothing(records, queue).await;
}

#[tokio::test]
async fn the_sweep_repairs_a_lost_reconcile_and_counts_overdue_items() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (records, queue) = backend(&dir);
    pathway::the_sweep_repairs_and_counts(records, queue).await;
}

#[tokio::test]
async fn a_territory_register_lists_the_children_living_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (records, queue) = backend(&dir);
    pathway::the_register_of_a_territory(records, queue).await;
}
