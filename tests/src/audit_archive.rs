//! The audit archive suite, written once and run on both backends
//! (`tests/tests/audit_archive.rs` on SQLite + directory, `tests/tests/aws_audit.rs` on
//! DynamoDB + an S3 Object Lock bucket in moto): every appended entry is archived, a replay
//! is idempotent, an overwrite with other bytes is refused, and a store entry rewritten with
//! a recomputed hash chain is caught by comparing with the archive.

use ravis::domain::{ChildId, Principal, Pseudonym, Role};
use ravis::ports::{BlobStore, Clock, RecordStore, SortKeyCondition, SystemClock, WriteOp};
use ravis::services::audit::{
    ArchiveDrain, AuditAction, AuditEntity, AuditEntry, AuditEvent, AuditTrail,
};
use ravis::services::audit_archive::{
    ArchiveError, ArchiveWrite, AuditArchive, entry_bytes, entry_key, verify_all, verify_child,
};
use ravis::store::keys;
use std::sync::Arc;

const PSEUDONYM_KEY: &[u8] = b"archive-suite-pseudonym-key-0001";

fn principal() -> Principal {
    Principal {
        subject: "nurse-1".into(),
        roles: vec![Role::HealthSpecialist],
        organisation: "clinic-1".into(),
        territory: None,
        purpose: Some("care".into()),
    }
}

async fn append<R: RecordStore>(trail: &AuditTrail<R>, child: ChildId, n: usize) {
    for i in 0..n {
        trail
            .record(
                &principal(),
                &format!("req-{i}"),
                AuditEvent::all(child, AuditEntity::Child, AuditAction::Read),
            )
            .await
            .expect("append");
    }
}

/// Rewrites stored entry `from` and every later one with a recomputed hash chain and head:
/// the store alone can no longer tell.
async fn rewrite_chain<R: RecordStore>(
    records: &R,
    trail: &AuditTrail<R>,
    child: ChildId,
    from: u64,
) {
    let pseudonym = trail.pseudonym(child);
    let entries = trail.stored_entries(&pseudonym).await.expect("entries");
    let mut prev_hash = entries[(from - 2) as usize].hash.clone();
    for entry in entries.iter().filter(|e| e.body.seq >= from) {
        let key = keys::audit_entry(&pseudonym, entry.body.seq);
        let mut record = records.get(&key).await.expect("get").expect("entry");
        let mut forged = entry.clone();
        if forged.body.seq == from {
            forged.body.actor.organisation = "innocent-clinic".into();
        }
        forged.body.prev_hash = prev_hash.clone();
        forged.hash = forged.body.hash();
        prev_hash = forged.hash.clone();
        record.data = serde_json::to_value(&forged).expect("json");
        let version = record.version;
        records.put_versioned(record, version).await.expect("put");
    }
    let head_key = keys::audit_head(&pseudonym);
    let mut head = records.get(&head_key).await.expect("get").expect("head");
    head.data["hash"] = serde_json::json!(prev_hash);
    let version = head.version;
    records
        .put_versioned(head, version)
        .await
        .expect("put head");
}

/// The archive over `blobs`, and a trail over `records` that copies every entry to it.
fn archived_trail<R: RecordStore + Clone, B: BlobStore + Clone>(
    records: &R,
    blobs: &B,
) -> (AuditArchive<B>, AuditTrail<R>) {
    let archive = AuditArchive::new(blobs.clone());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let trail = AuditTrail::new(records.clone(), PSEUDONYM_KEY, clock, None)
        .with_archive(Arc::new(archive.clone()));
    (archive, trail)
}

/// The whole archive contract on one record store and one (archive) blob store.
pub async fn archive_anchors_the_chain<R, B>(records: R, blobs: B)
where
    R: RecordStore + Clone,
    B: BlobStore + Clone,
{
    let (archive, trail) = archived_trail(&records, &blobs);

    // Every appended entry is archived, byte for byte, under audit/<pseudonym>/<seq>.json.
    let child = ChildId::from_uuid(uuid::Uuid::now_v7());
    append(&trail, child, 4).await;
    let pseudonym = trail.pseudonym(child);
    let stored = trail.stored_entries(&pseudonym).await.expect("entries");
    assert_eq!(stored.len(), 4);
    for entry in &stored {
        let key = entry_key(&pseudonym, entry.body.seq);
        assert!(key.starts_with(&format!("audit/{pseudonym}/")), "{key}");
        assert!(
            !key.contains(&child.to_string()),
            "the archive never names the child"
        );
        let bytes = blobs.get(&key).await.expect("archived");
        assert_eq!(bytes.as_ref(), entry_bytes(entry).as_slice());
    }
    let v = verify_child(&trail, &archive, &pseudonym)
        .await
        .expect("verify");
    assert!(v.intact, "{v:?}");
    assert_eq!((v.stored, v.archived), (4, 4));

    // A replay writes the same bytes: nothing changes.
    assert_eq!(
        archive.put(&stored[1]).await.expect("replay"),
        ArchiveWrite::AlreadyArchived
    );
    // Different bytes at the same key are refused, and the archived copy is untouched.
    let mut other: AuditEntry = stored[1].clone();
    other.body.actor.subject = "someone-else".into();
    other.hash = other.body.hash();
    match archive.put(&other).await {
        Err(ArchiveError::Overwrite(key)) => assert_eq!(key, entry_key(&pseudonym, 2)),
        other => panic!("expected a refused overwrite, got {other:?}"),
    }
    let kept = blobs.get(&entry_key(&pseudonym, 2)).await.expect("kept");
    assert_eq!(kept.as_ref(), entry_bytes(&stored[1]).as_slice());

    // Tampering with entry 2 in the store AND recomputing every hash after it (and the head)
    // passes the store's own chain check, but not the archive comparison.
    rewrite_chain(&records, &trail, child, 2).await;
    let chain_only = trail.verify(child).await.expect("verify");
    assert!(
        chain_only.intact,
        "the forgery is consistent in the store: {chain_only:?}"
    );
    let v = verify_child(&trail, &archive, &pseudonym)
        .await
        .expect("verify");
    assert!(!v.intact);
    let seqs: Vec<u64> = v.differences.iter().map(|d| d.seq).collect();
    assert_eq!(seqs, vec![2, 3, 4], "{v:?}");
    assert!(v.differences[0].problem.contains("modified"), "{v:?}");
    // The data protection officer's view reports the same: its verification includes the
    // archive comparison.
    let dpo = Principal {
        subject: "dpo-1".into(),
        roles: vec![Role::DataProtectionOfficer],
        organisation: "ministry".into(),
        territory: None,
        purpose: None,
    };
    let report = trail
        .dpo_report(&dpo, "req-dpo", child)
        .await
        .expect("report");
    assert_eq!(
        report.body["verification"]["intact"], false,
        "{}",
        report.body
    );
    let seqs: Vec<u64> = report.body["verification"]["breaks"]
        .as_array()
        .expect("breaks")
        .iter()
        .map(|b| b["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seqs, vec![2, 3, 4]);
    let verification = trail.verify_with_archive(child).await.expect("verify");
    assert!(!verification.intact);

    // Removing an entry from the store (end of the chain, head moved back) is caught too.
    let child2 = ChildId::from_uuid(uuid::Uuid::now_v7());
    append(&trail, child2, 3).await;
    let p2 = trail.pseudonym(child2);
    let key = keys::audit_entry(&p2, 3);
    let record = records.get(&key).await.expect("get").expect("entry");
    let head_key = keys::audit_head(&p2);
    let mut head = records.get(&head_key).await.expect("get").expect("head");
    let entries = trail.stored_entries(&p2).await.expect("entries");
    head.data = serde_json::json!({"seq": 2, "hash": entries[1].hash});
    let head_version = head.version;
    records
        .transact(vec![
            WriteOp::Delete {
                key,
                expected: record.version,
            },
            WriteOp::PutVersioned {
                record: head,
                expected: head_version,
            },
        ])
        .await
        .expect("delete and move head");
    assert!(trail.verify(child2).await.expect("verify").intact);
    let v = verify_child(&trail, &archive, &p2).await.expect("verify");
    assert_eq!(v.differences.len(), 1, "{v:?}");
    assert_eq!(v.differences[0].seq, 3);
    assert!(v.differences[0].problem.contains("removed"), "{v:?}");

    // An entry written to the store without the archive (archive was down) is reported.
    let child3 = ChildId::from_uuid(uuid::Uuid::now_v7());
    let unarchived = AuditTrail::new(
        records.clone(),
        PSEUDONYM_KEY,
        Arc::new(SystemClock) as Arc<dyn Clock>,
        None,
    );
    append(&unarchived, child3, 1).await;
    append(&trail, child3, 1).await;
    let p3 = trail.pseudonym(child3);
    let v = verify_child(&trail, &archive, &p3).await.expect("verify");
    assert_eq!(v.differences.len(), 1, "{v:?}");
    assert_eq!(v.differences[0].seq, 1);
    assert!(
        v.differences[0].problem.contains("not in the archive"),
        "{v:?}"
    );

    // verify_all finds every archived child and reports each.
    let all = verify_all(&trail, &archive).await.expect("verify all");
    let mut found: Vec<_> = all.iter().map(|v| v.child.clone()).collect();
    found.sort();
    let dpo_chain = trail.pseudonym(ravis::services::audit::dpo_access_chain());
    let mut expected = vec![pseudonym, p2, p3, dpo_chain.clone()];
    expected.sort();
    assert_eq!(found, expected);
    // Every tampered chain is reported; the DPO-access chain is intact.
    assert!(
        all.iter().all(|v| v.intact == (v.child == dpo_chain)),
        "{all:?}"
    );
}

/// The deferred archive (`services/audit/outbox.rs`): appends only write the store, each
/// entry pending in the index until the drain archives it; verification archives a chain's
/// pending entries first; a drain interrupted between the archive put and the clearing
/// finishes on the next run; an entry changed in the store after it was archived stays
/// pending, is refused by the archive and is reported, while the others are archived.
pub async fn deferred_archive_drains_the_pending_entries<R, B>(records: R, blobs: B)
where
    R: RecordStore + Clone,
    B: BlobStore + Clone,
{
    let (archive, trail) = archived_trail(&records, &blobs);
    let trail = trail.with_deferred_archive();
    let pending = || async {
        let mut all = Vec::new();
        for shard in 0..keys::AUDIT_PENDING_SHARDS {
            let page = records
                .query_index(
                    &keys::audit_pending_shard(shard),
                    &SortKeyCondition::All,
                    1000,
                    false,
                    None,
                )
                .await
                .expect("pending");
            all.extend(page.records.into_iter().map(|r| r.key));
        }
        all
    };
    let archived = |pseudonym: Pseudonym| {
        let archive = archive.clone();
        async move { archive.objects(&pseudonym).await.expect("objects").len() }
    };

    // Appends (one by one, and a page of several children at once) write the store only.
    let (a, b, c) = (new_child(), new_child(), new_child());
    append(&trail, a, 3).await;
    trail
        .record_many(
            &principal(),
            "req-page",
            vec![
                AuditEvent::all(b, AuditEntity::Child, AuditAction::Read),
                AuditEvent::all(c, AuditEntity::Child, AuditAction::Read),
                AuditEvent::all(b, AuditEntity::Child, AuditAction::Read),
            ],
        )
        .await
        .expect("page");
    let (pa, pb, pc) = (trail.pseudonym(a), trail.pseudonym(b), trail.pseudonym(c));
    assert_eq!(pending().await.len(), 6);
    assert_eq!(
        archived(pa.clone()).await,
        0,
        "nothing archived on the request path"
    );
    assert_eq!(trail.entries(a).await.expect("entries").len(), 3);

    // Verifying a chain archives its pending entries first: intact, and no longer pending.
    let v = verify_child(&trail, &archive, &pa).await.expect("verify");
    assert!(v.intact, "{v:?}");
    assert_eq!((v.stored, v.archived), (3, 3));
    assert_eq!(
        pending().await.len(),
        3,
        "b's two entries and c's one are still pending"
    );
    let dpo_view = trail.verify_with_archive(b).await.expect("verify b");
    assert!(dpo_view.intact, "{dpo_view:?}");
    assert_eq!(archived(pb.clone()).await, 2);

    // A drain interrupted after the put (the object is there, the entry still pending)
    // finishes: the put is a no-op of the write-once archive, and the entry is cleared.
    let stored_c = trail.stored_entries(&pc).await.expect("entries");
    assert_eq!(
        archive.put(&stored_c[0]).await.expect("put"),
        ArchiveWrite::Written
    );
    assert_eq!(trail.drain_archive().await.expect("drain"), 1);
    assert!(pending().await.is_empty());
    assert_eq!(trail.drain_archive().await.expect("drain"), 0);
    assert_eq!(archived(pc.clone()).await, 1);
    let all = verify_all(&trail, &archive).await.expect("verify all");
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|v| v.intact), "{all:?}");

    // An entry changed in the store after it was archived, and marked pending again, is
    // refused by the archive and stays pending; a good entry in the same round is archived;
    // verification reports the change.
    let key = keys::audit_entry(&pa, 2);
    let mut record = records.get(&key).await.expect("get").expect("entry");
    record.data["actor"]["organisation"] = serde_json::json!("innocent-clinic");
    record = record.with_index(
        keys::audit_pending_index(&pa),
        keys::audit_pending_sort(&pa, 2),
    );
    let version = record.version;
    records
        .put_versioned(record, version)
        .await
        .expect("tamper");
    append(&trail, c, 1).await;
    assert_eq!(trail.drain_archive().await.expect("drain"), 1);
    assert_eq!(pending().await, vec![key]);
    assert_eq!(archived(pc).await, 2);
    let v = verify_child(&trail, &archive, &pa).await.expect("verify");
    assert!(!v.intact);
    assert_eq!(v.differences.len(), 1, "{v:?}");
    assert_eq!(v.differences[0].seq, 2);
    assert!(v.differences[0].problem.contains("modified"), "{v:?}");

    // The background drain archives what is appended while it runs, and its stop drains
    // what is left.
    let d = new_child();
    let drain = ArchiveDrain::start(trail.clone(), std::time::Duration::from_millis(20));
    append(&trail, d, 5).await;
    drain.stop().await;
    assert_eq!(archived(trail.pseudonym(d)).await, 5);
    assert_eq!(pending().await.len(), 1, "only the refused entry is left");
}

fn new_child() -> ChildId {
    ChildId::from_uuid(uuid::Uuid::now_v7())
}

/// Every read of an audit trail by a data protection officer is itself recorded, in the
/// DPO-access chain (archived like every chain); another DPO reads that chain through the
/// same view, and that read is recorded too. A refused read records nothing there.
pub async fn dpo_reads_are_chained<R, B>(records: R, blobs: B)
where
    R: RecordStore + Clone,
    B: BlobStore + Clone,
{
    use ravis::services::ServiceError;
    use ravis::services::audit::{AuditEntity, dpo_access_chain};
    let (archive, trail) = archived_trail(&records, &blobs);
    let dpo = Principal {
        subject: "dpo-1".into(),
        roles: vec![Role::DataProtectionOfficer],
        organisation: "ministry".into(),
        territory: None,
        purpose: Some("data-subject-request".into()),
    };
    let child = ChildId::from_uuid(uuid::Uuid::now_v7());
    append(&trail, child, 2).await;
    let dpo_chain = dpo_access_chain();
    let before = trail.entries(dpo_chain).await.expect("entries").len();

    // A nurse may not read the trail, and the refusal leaves no DPO-access entry.
    match trail.dpo_report(&principal(), "req-nurse", child).await {
        Err(ServiceError::Forbidden(_)) => {}
        other => panic!("expected 403, got {other:?}"),
    }
    assert_eq!(
        trail.entries(dpo_chain).await.expect("entries").len(),
        before
    );

    let page = trail
        .dpo_entries(&dpo, "req-dpo-1", child, None, None)
        .await
        .expect("entries");
    assert_eq!(page.body["entries"].as_array().expect("entries").len(), 2);
    trail
        .dpo_report(&dpo, "req-dpo-2", child)
        .await
        .expect("report");
    // The child's own chain is unchanged: the DPO's reads are not the child's data.
    assert_eq!(trail.entries(child).await.expect("entries").len(), 2);

    let log = trail.entries(dpo_chain).await.expect("entries");
    assert_eq!(log.len(), before + 2);
    let pseudonym = trail.pseudonym(child).to_string();
    for (entry, (request, view)) in log[before..]
        .iter()
        .zip([("req-dpo-1", "entries"), ("req-dpo-2", "report")])
    {
        assert_eq!(entry.body.entity, AuditEntity::AuditTrail);
        assert_eq!(entry.body.entity_id.as_deref(), Some(pseudonym.as_str()));
        assert_eq!(entry.body.fields, vec![view.to_owned()]);
        assert_eq!(entry.body.request_id, request);
        assert_eq!(entry.body.actor.subject, "dpo-1");
        assert_eq!(entry.body.purpose.as_deref(), Some("data-subject-request"));
    }

    // A second DPO reads the DPO-access chain through the same view; that read is recorded.
    let second = Principal {
        subject: "dpo-2".into(),
        ..dpo.clone()
    };
    let page = trail
        .dpo_entries(&second, "req-dpo-3", dpo_chain, None, None)
        .await
        .expect("DPO-access chain");
    assert_eq!(
        page.body["entries"].as_array().expect("entries").len(),
        before + 2
    );
    assert_eq!(page.body["verification"]["intact"], true);
    let log = trail.entries(dpo_chain).await.expect("entries");
    assert_eq!(log.len(), before + 3);
    assert_eq!(log[before + 2].body.actor.subject, "dpo-2");

    // The DPO-access chain is archived and verifies against the archive.
    let v = verify_child(&trail, &archive, &trail.pseudonym(dpo_chain))
        .await
        .expect("verify");
    assert!(v.intact, "{v:?}");
    assert_eq!(v.archived, (before + 3) as u64);
}
