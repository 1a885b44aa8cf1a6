//! `ravis audit verify` on a data directory: intact chains pass; a store entry rewritten
//! with a recomputed hash (so the chain alone still verifies) is reported against the archive.

use ravis::adapters::embedded::EmbeddedBackend;
use ravis::domain::{ChildId, Principal, Role};
use ravis::ports::{Clock, RecordStore, SystemClock};
use ravis::services::audit::{AuditAction, AuditEntity, AuditEntry, AuditEvent, AuditTrail};
use ravis::store::keys;
use ravis_cli::keys::LocalKeys;
use std::sync::Arc;

#[tokio::test]
async fn verify_reports_a_rewritten_last_entry_and_passes_intact_chains() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys_ = LocalKeys::load_or_create(dir.path()).expect("keys");
    let backend = EmbeddedBackend::open(dir.path()).expect("backend");
    let records = backend.records();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let archive = ravis::app::local_archive(&backend).expect("archive");
    let trail = AuditTrail::new(records.clone(), &keys_.pseudonym_key, clock, None)
        .with_archive(Arc::new(archive));
    let principal = Principal {
        subject: "nurse-1".into(),
        roles: vec![Role::HealthSpecialist],
        organisation: "clinic-1".into(),
        territory: None,
        purpose: None,
    };
    let (a, b) = (
        ChildId::from_uuid(uuid::Uuid::now_v7()),
        ChildId::from_uuid(uuid::Uuid::now_v7()),
    );
    for child in [a, a, b] {
        trail
            .record(
                &principal,
                "req-1",
                AuditEvent::all(child, AuditEntity::Child, AuditAction::Read),
            )
            .await
            .expect("append");
    }

    let reports = ravis_cli::audit::verify(dir.path(), None)
        .await
        .expect("verify");
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|r| r.intact), "{reports:?}");
    assert!(ravis_cli::audit::report(&reports).is_ok());
    // The local archive is packed: its three entries live in the bucket's index, no file
    // (nor directory) per entry.
    let names: Vec<String> = std::fs::read_dir(dir.path().join("blobs/audit-archive"))
        .expect("archive bucket")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| n.starts_with(".index.db")),
        "{names:?}"
    );
    assert_eq!(reports.iter().map(|r| r.archived).sum::<u64>(), 3);

    // Rewrite child a's last entry and its head with a consistent hash.
    let p = trail.pseudonym(a);
    let mut record = records
        .get(&keys::audit_entry(&p, 2))
        .await
        .expect("get")
        .expect("entry");
    let mut entry: AuditEntry = serde_json::from_value(record.data.clone()).expect("entry");
    entry.body.actor.organisation = "elsewhere".into();
    entry.hash = entry.body.hash();
    record.data = serde_json::to_value(&entry).expect("json");
    let version = record.version;
    records.put_versioned(record, version).await.expect("put");
    let mut head = records
        .get(&keys::audit_head(&p))
        .await
        .expect("get")
        .expect("head");
    head.data["hash"] = serde_json::json!(entry.hash);
    let version = head.version;
    records
        .put_versioned(head, version)
        .await
        .expect("put head");
    assert!(trail.verify(a).await.expect("chain").intact);

    let reports = ravis_cli::audit::verify(dir.path(), Some(a))
        .await
        .expect("verify");
    assert_eq!(reports.len(), 1);
    assert!(!reports[0].intact);
    assert_eq!(reports[0].differences.len(), 1);
    assert_eq!(reports[0].differences[0].seq, 2);
    assert!(ravis_cli::audit::report(&reports).is_err());
    let all = ravis_cli::audit::verify(dir.path(), None)
        .await
        .expect("verify");
    assert_eq!(all.iter().filter(|r| r.intact).count(), 1);
}
