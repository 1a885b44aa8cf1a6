//! Care relationships: the materialised link "this organisation cares for this child" that
//! lets a specialist role see the child (issue #5; rules in `docs/SECURITY.md`).
//!
//! One record per child × organisation at `CHILD#<child>` / `CARE#<organisation>`, holding
//! every basis of the link with the time it was first recorded:
//! `{"child_id", "organisation", "since", "bases": {"registered": "<time>", …}}`.
//!
//! [`record_link`] is the ONE way to create or extend a link. It is idempotent: recording
//! the same child, organisation and basis again changes nothing, a new basis is added to
//! the existing link, and it never fails because the link already exists. Call it after
//! the use case's own commit (a retry of the use case, e.g. with the same
//! `Idempotency-Key`, calls it again and so repairs a link lost to a crash in between).
//! Who calls it: child registration (`registered`, the registering organisation, also for
//! partner files), screening submission (`screened`, the submitter's organisation), and
//! support episodes (`supports` for the provider, `referred` for the referring organisation).
//!
//! Referrals (`services/referrals/`) give the provider organisation a link that ENDS:
//! [`record_referral`] adds the referral under `referrals` when the provider accepts
//! (`{"<referral id>": null}`), and sets the time it stops counting (the end of support
//! plus the grace period) when the referral ends. A link counts ([`CareLink::counts_at`])
//! while it has a basis or a referral that has not run out.

use crate::domain::{ChildId, ReferralId};
use crate::ports::{Record, RecordStore, SortKeyCondition, StoreError};
use crate::services::ServiceError;
use crate::store::keys;
use crate::store::query::query_all;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Why an organisation cares for a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CareBasis {
    /// The organisation registered the child (API or partner file).
    Registered,
    /// The organisation submitted a screening of the child.
    Screened,
    /// The organisation referred the child to support.
    Referred,
    /// The organisation provides support to the child (a support episode).
    Supports,
}

impl CareBasis {
    /// The stored name of the basis.
    pub fn as_str(self) -> &'static str {
        match self {
            CareBasis::Registered => "registered",
            CareBasis::Screened => "screened",
            CareBasis::Referred => "referred",
            CareBasis::Supports => "supports",
        }
    }
}

/// A stored care link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CareLink {
    /// The child.
    pub child_id: ChildId,
    /// The organisation that cares for the child.
    pub organisation: String,
    /// When the link was first recorded.
    pub since: DateTime<Utc>,
    /// Each basis with the time it was first recorded.
    pub bases: std::collections::BTreeMap<CareBasis, DateTime<Utc>>,
    /// Referrals to this organisation that give it the link, each with the time it stops
    /// counting (`None`: while the referral is open).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub referrals: std::collections::BTreeMap<ReferralId, Option<DateTime<Utc>>>,
}

impl CareLink {
    /// Whether the link lets the organisation see the child at `now`: it has a basis, or a
    /// referral that is open or within its grace period.
    pub fn counts_at(&self, now: DateTime<Utc>) -> bool {
        !self.bases.is_empty()
            || self
                .referrals
                .values()
                .any(|until| until.is_none_or(|u| now < u))
    }
}

/// How many times [`record_link`] retries after losing a race with a concurrent writer.
const ATTEMPTS: usize = 8;

/// Records that `organisation` cares for `child` on `basis` (idempotent; see the module
/// doc). Returns the link as stored afterwards.
pub async fn record_link<R: RecordStore>(
    records: &R,
    child: ChildId,
    organisation: &str,
    basis: CareBasis,
    now: DateTime<Utc>,
) -> Result<CareLink, ServiceError> {
    if organisation.trim().is_empty() {
        return Err(StoreError::Invalid("a care link needs an organisation".into()).into());
    }
    update_link(records, child, organisation, now, |link| {
        if link.bases.contains_key(&basis) {
            return false;
        }
        link.bases.insert(basis, now);
        true
    })
    .await
}

/// Reads the link of `child` and `organisation` (a new one, since `now`, when there is
/// none), lets `change` change it (`false`: it changed nothing) and writes it back;
/// a stored link that `change` left as it was is not written. Retries a lost race
/// [`ATTEMPTS`] times. Returns the link as stored afterwards.
async fn update_link<R: RecordStore>(
    records: &R,
    child: ChildId,
    organisation: &str,
    now: DateTime<Utc>,
    mut change: impl FnMut(&mut CareLink) -> bool,
) -> Result<CareLink, ServiceError> {
    let key = keys::care_link(child, organisation);
    for _ in 0..ATTEMPTS {
        let (mut link, version) = match records.get(&key).await? {
            None => (
                CareLink {
                    child_id: child,
                    organisation: organisation.to_owned(),
                    since: now,
                    bases: Default::default(),
                    referrals: Default::default(),
                },
                None,
            ),
            Some(record) => (parse(&record)?, Some(record.version)),
        };
        if !change(&mut link) && version.is_some() {
            return Ok(link);
        }
        let record = link_record(child, organisation, to_data(&link)?);
        let written = match version {
            None => records.put_new(record).await.map(|_| ()),
            Some(v) => records.put_versioned(record, v).await.map(|_| ()),
        };
        match written {
            Ok(()) => return Ok(link),
            Err(StoreError::AlreadyExists { .. } | StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Conflict {
        pk: key.pk,
        sk: key.sk,
        expected: 0,
    }
    .into())
}

/// Records that referral `referral` gives `organisation` a link to `child` until `until`
/// (`None`: while open). Idempotent like [`record_link`]; called after the referral's own
/// commit on acceptance (`None`) and on its end (end + grace period).
pub async fn record_referral<R: RecordStore>(
    records: &R,
    child: ChildId,
    organisation: &str,
    referral: ReferralId,
    until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<CareLink, ServiceError> {
    update_link(records, child, organisation, now, |link| {
        if link.referrals.get(&referral) == Some(&until) {
            return false;
        }
        link.referrals.insert(referral, until);
        true
    })
    .await
}

/// The link between the child and the organisation, if there is one.
pub async fn link<R: RecordStore>(
    records: &R,
    child: ChildId,
    organisation: &str,
) -> Result<Option<CareLink>, ServiceError> {
    match records.get(&keys::care_link(child, organisation)).await? {
        None => Ok(None),
        Some(record) => Ok(Some(parse(&record)?)),
    }
}

/// Every organisation that cares for the child, by organisation.
pub async fn links_of<R: RecordStore>(
    records: &R,
    child: ChildId,
) -> Result<Vec<CareLink>, ServiceError> {
    let stored = query_all(
        records,
        &keys::child(child).pk,
        &SortKeyCondition::Prefix(keys::CARE_PREFIX.into()),
    )
    .await?;
    Ok(stored.iter().map(parse).collect::<Result<_, _>>()?)
}

fn to_data(link: &CareLink) -> Result<Value, StoreError> {
    serde_json::to_value(link).map_err(StoreError::Encode)
}

fn parse(record: &Record) -> Result<CareLink, StoreError> {
    serde_json::from_value(record.data.clone())
        .map_err(|e| crate::store::codec::corrupt(record, &format!("care link: {e}")))
}

/// The link record of a child registered in a batch write (partner files), for callers that
/// create the child in the same atomic write: the child is new, so its link cannot exist.
pub fn new_link_record(
    child: ChildId,
    organisation: &str,
    basis: CareBasis,
    now: DateTime<Utc>,
) -> Record {
    link_record(
        child,
        organisation,
        json!({"child_id": child, "organisation": organisation, "since": now,
               "bases": {basis.as_str(): now}}),
    )
}

/// The stored record of a care link with `data`: under the child, indexed under the
/// organisation (so an organisation's children can be listed). Every write of a link
/// goes through here.
pub fn link_record(child: ChildId, organisation: &str, data: Value) -> Record {
    Record::new(keys::care_link(child, organisation), data).with_index(
        keys::care_org_index(organisation),
        keys::care_child_index(child),
    )
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;
    use crate::adapters::embedded::EmbeddedBackend;

    #[tokio::test]
    async fn recording_is_idempotent_and_adds_bases() {
        let dir = tempfile::tempdir().unwrap();
        let records = EmbeddedBackend::open(dir.path()).unwrap().records();
        let child = ChildId::from_uuid(uuid::Uuid::now_v7());
        let t1: DateTime<Utc> = "2026-11-01T10:00:00Z".parse().unwrap();
        let t2: DateTime<Utc> = "2026-11-02T10:00:00Z".parse().unwrap();
        assert!(link(&records, child, "clinic").await.unwrap().is_none());
        let first = record_link(&records, child, "clinic", CareBasis::Registered, t1)
            .await
            .unwrap();
        let again = record_link(&records, child, "clinic", CareBasis::Registered, t2)
            .await
            .unwrap();
        assert_eq!(
            first, again,
            "a second call with the same basis changes nothing"
        );
        let more = record_link(&records, child, "clinic", CareBasis::Screened, t2)
            .await
            .unwrap();
        assert_eq!(more.since, t1);
        assert_eq!(more.bases.len(), 2);
        assert_eq!(more.bases[&CareBasis::Screened], t2);
        record_link(&records, child, "school", CareBasis::Supports, t2)
            .await
            .unwrap();
        let all = links_of(&records, child).await.unwrap();
        assert_eq!(
            all.iter()
                .map(|l| l.organisation.as_str())
                .collect::<Vec<_>>(),
            ["clinic", "school"]
        );
        assert_eq!(link(&records, child, "clinic").await.unwrap(), Some(more));
        assert!(link(&records, child, "other").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_batch_link_record_reads_back_as_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let records = EmbeddedBackend::open(dir.path()).unwrap().records();
        let child = ChildId::from_uuid(uuid::Uuid::now_v7());
        let now: DateTime<Utc> = "2026-11-01T10:00:00Z".parse().unwrap();
        records
            .put_new(new_link_record(
                child,
                "partner",
                CareBasis::Registered,
                now,
            ))
            .await
            .unwrap();
        let stored = link(&records, child, "partner").await.unwrap().unwrap();
        assert_eq!(stored.bases[&CareBasis::Registered], now);
        assert!(
            record_link(&records, child, "", CareBasis::Registered, now)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn concurrent_recorders_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let records = EmbeddedBackend::open(dir.path()).unwrap().records();
        let child = ChildId::from_uuid(uuid::Uuid::now_v7());
        let now = Utc::now();
        let bases = [
            CareBasis::Registered,
            CareBasis::Screened,
            CareBasis::Referred,
            CareBasis::Supports,
        ];
        let tasks: Vec<_> = bases
            .iter()
            .map(|b| {
                let records = records.clone();
                let b = *b;
                tokio::spawn(async move { record_link(&records, child, "org", b, now).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let stored = link(&records, child, "org").await.unwrap().unwrap();
        assert_eq!(stored.bases.len(), 4);
    }
}
