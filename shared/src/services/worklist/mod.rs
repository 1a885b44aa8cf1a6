//! Worklists (issue #14, item 2): what each organisation should do for which child, by when,
//! most urgent first; kept as records so an organisation's first page is one query.
//!
//! Storage (`store/keys.rs`): an item is a record at `WORKLIST#<org>` /
//! `<due_on>#<urgency rank>#<kind>#<source>` (so the partition reads in due order), indexed
//! under its child (`gsi1` `CHILD#<child>` / `WORK#<org>#<kind>#<source>`).
//!
//! Items are never edited by hand: [`Worklist::reconcile`] derives a child's items from its
//! results, referrals and episodes ([`derive`]) and makes the stored items equal to them
//! (deletes, creates, rewrites; idempotent). Who calls it, and what makes it crash-safe:
//! - the scoring worker, after storing a result (a failure fails the message, which SQS
//!   delivers again, and the redelivery reconciles again);
//! - referral and support-episode writes: each writes a pending marker
//!   ([`keys::work_pending`]) in the same atomic write as its change, reconciles after the
//!   commit and then deletes the marker; [`Worklist::sweep`] reconciles every child whose
//!   marker is left (a crash or failure in between).
//!
//! Partner files of support episodes write the marker too (no reconcile of their own): the
//! next sweep, within the hour, brings those children's worklists up to date.
//!
//! The sweep (a scheduled function in AWS, a periodic task of `ravis serve`, and
//! `ravis worklist sweep`) also stamps newly overdue items with `overdue_since` and counts
//! overdue items per kind (the `OverdueWorkItems` metric and its alarm).

pub mod children;
pub mod derive;

pub use derive::{Cadence, WorkItem, WorkKind};

use crate::domain::referral::Referral;
use crate::domain::registry::SupportEpisode;
use crate::domain::{ChildId, Principal, ScreeningId};
use crate::ports::{Clock, Key, Record, RecordStore, SortKeyCondition, StoreError, WriteOp};
use crate::scoring::{Engine, risk_profile};
use crate::services::ServiceError;
use crate::services::screenings::child_results;
use crate::store::keys;
use crate::store::lookups::{load_child, merged_ids};
use crate::store::query::{query_all, query_index_all};
use derive::{ChildFacts, Submitter};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

mod list;

/// How many times a reconcile starts again after losing a race with another writer.
const ATTEMPTS: usize = 8;

/// The field the sweep stamps on an item the day it is first seen overdue; kept by reconciles.
pub const OVERDUE_SINCE: &str = "overdue_since";

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Children reconciled because a change left its pending marker.
    pub reconciled: usize,
    /// Overdue items, per kind.
    pub overdue: BTreeMap<String, usize>,
    /// Items stamped overdue by this sweep.
    pub newly_overdue: usize,
}

impl SweepReport {
    /// Every overdue item.
    pub fn overdue_total(&self) -> usize {
        self.overdue.values().sum()
    }
}

/// The worklists over one record store.
#[derive(Clone)]
pub struct Worklist<R> {
    records: R,
    clock: Arc<dyn Clock>,
    engine: Arc<Engine>,
    cadence: Cadence,
}

impl<R: RecordStore> Worklist<R> {
    /// Worklists with the given follow-up cadence.
    pub fn new(records: R, clock: Arc<dyn Clock>, engine: Arc<Engine>, cadence: Cadence) -> Self {
        Self {
            records,
            clock,
            engine,
            cadence,
        }
    }

    /// The pending marker to write with a change of `child` (see the module doc).
    pub fn pending_marker(&self, child: ChildId, event: &str) -> WriteOp {
        pending_marker(child, event, self.clock.now())
    }

    /// After a committed change: reconciles the child and deletes its marker. A failure is
    /// logged, not returned — the change is committed and the sweep finishes the work.
    pub async fn settle(&self, child: ChildId, event: &str) {
        let key = keys::work_pending(child, event);
        let done = async {
            self.reconcile(child).await?;
            delete_if_present(&self.records, &key).await?;
            Ok::<(), ServiceError>(())
        };
        if let Err(e) = done.await {
            tracing::warn!(child_id = %child, error = %e, "worklist not reconciled; the sweep will");
        }
    }

    /// The items the child should have now.
    pub async fn desired(&self, child_id: ChildId) -> Result<Vec<WorkItem>, ServiceError> {
        let Some(child) = load_child(&self.records, child_id).await? else {
            return Ok(Vec::new());
        };
        let today = self.clock.now().date_naive();
        // The child and every child merged into it: one person (as `person_results` reads).
        let mut people = vec![child_id];
        people.extend(merged_ids(&self.records, child_id).await?);
        let mut results = Vec::new();
        for person in &people {
            results.extend(child_results(&self.records, *person).await?);
        }
        let profile = risk_profile(&self.engine, &results, today);
        let mut by_screening: BTreeMap<ScreeningId, Submitter> = BTreeMap::new();
        for person in &people {
            for r in self.of_child(*person, "SCREENING#").await? {
                let (Some(id), Some(org), Some(subject)) = (
                    r.data["id"].as_str().and_then(|s| s.parse().ok()),
                    r.data["submitted_by"]["organisation"].as_str(),
                    r.data["submitted_by"]["subject"].as_str(),
                ) else {
                    continue;
                };
                by_screening.insert(
                    id,
                    Submitter {
                        screening_id: id,
                        organisation: org.to_owned(),
                        subject: subject.to_owned(),
                    },
                );
            }
        }
        let submitters: Vec<_> = results
            .iter()
            .filter_map(|r| {
                by_screening
                    .get(&r.screening_id)
                    .map(|s| (r.result_id, s.clone()))
            })
            .collect();
        let referrals: Vec<Referral> =
            decode_all(&self.of_child(child_id, keys::REFERRAL_PREFIX).await?)?;
        let episodes: Vec<SupportEpisode> =
            decode_all(&self.of_child(child_id, keys::EPISODE_PREFIX).await?)?;
        Ok(derive::derive(
            &ChildFacts {
                child: &child,
                open: &profile.open_recommendations,
                submitters: &submitters,
                referrals: &referrals,
                episodes: &episodes,
            },
            self.cadence,
        ))
    }

    async fn of_child(&self, child: ChildId, prefix: &str) -> Result<Vec<Record>, StoreError> {
        query_index_all(
            &self.records,
            &keys::child_index(child),
            &SortKeyCondition::Prefix(prefix.into()),
        )
        .await
    }

    /// Makes the child's stored items equal to [`Worklist::desired`] (idempotent).
    pub async fn reconcile(&self, child: ChildId) -> Result<(), ServiceError> {
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let desired: BTreeMap<Key, Record> = self
                .desired(child)
                .await?
                .iter()
                .map(item_record)
                .collect::<Result<_, _>>()?;
            let stored = self.of_child(child, keys::WORK_PREFIX).await?;
            let mut ops = Vec::new();
            let mut kept = BTreeSet::new();
            for record in stored {
                match desired.get(&record.key) {
                    None => ops.push(WriteOp::Delete {
                        key: record.key.clone(),
                        expected: record.version,
                    }),
                    Some(want) => {
                        kept.insert(record.key.clone());
                        let mut data = want.data.clone();
                        if let Some(since) = record.data.get(OVERDUE_SINCE) {
                            data[OVERDUE_SINCE] = since.clone();
                        }
                        if data != record.data {
                            ops.push(WriteOp::PutVersioned {
                                record: Record {
                                    data,
                                    ..want.clone()
                                },
                                expected: record.version,
                            });
                        }
                    }
                }
            }
            ops.extend(
                desired
                    .into_iter()
                    .filter(|(k, _)| !kept.contains(k))
                    .map(|(_, r)| WriteOp::PutNew(r)),
            );
            match self.apply(ops).await {
                Ok(()) => return Ok(()),
                Err(
                    e @ (StoreError::TransactionCancelled { .. }
                    | StoreError::AlreadyExists { .. }
                    | StoreError::Conflict { .. }),
                ) => last = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        Err(last
            .unwrap_or(StoreError::Invalid("reconcile gave up".into()))
            .into())
    }

    async fn apply(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let mut ops = ops;
        while !ops.is_empty() {
            let rest = ops.split_off(ops.len().min(crate::ports::records::MAX_TRANSACTION_OPS));
            self.records.transact(ops).await?;
            ops = rest;
        }
        Ok(())
    }

    /// Reconciles every child whose change left a pending marker, stamps items that became
    /// overdue and counts the overdue ones (see the module doc).
    pub async fn sweep(&self) -> Result<SweepReport, ServiceError> {
        let mut report = SweepReport::default();
        let mut done = BTreeSet::new();
        for shard in 0..keys::WORK_PENDING_SHARDS {
            let markers = query_all(
                &self.records,
                &keys::work_pending_partition(shard),
                &SortKeyCondition::All,
            )
            .await?;
            for marker in markers {
                let Some(child) = marker
                    .key
                    .sk
                    .split('#')
                    .next()
                    .and_then(|c| c.parse::<ChildId>().ok())
                else {
                    continue;
                };
                if done.insert(child) {
                    // Boxed: the reconcile's future is deep (risk profile, lookups).
                    let reconcile: std::pin::Pin<
                        Box<dyn std::future::Future<Output = Result<(), ServiceError>> + Send + '_>,
                    > = Box::pin(self.reconcile(child));
                    reconcile.await?;
                    report.reconciled += 1;
                }
                delete_if_present(&self.records, &marker.key).await?;
            }
        }
        let today = self.clock.now().date_naive();
        let organisations = query_all(
            &self.records,
            keys::ORGANISATIONS,
            &SortKeyCondition::Prefix(keys::ORGANISATION_PREFIX.into()),
        )
        .await?;
        for org in organisations {
            let Some(code) = org.data["id"].as_str() else {
                continue;
            };
            // Sort keys start with the due date: everything before today's is overdue.
            let overdue = query_all(
                &self.records,
                &keys::worklist_partition(code),
                &SortKeyCondition::Between(String::new(), today.to_string()),
            )
            .await?;
            for item in overdue {
                let kind = item.data["kind"].as_str().unwrap_or("unknown").to_owned();
                *report.overdue.entry(kind).or_default() += 1;
                if item.data.get(OVERDUE_SINCE).is_none() {
                    let mut data = item.data.clone();
                    data[OVERDUE_SINCE] = json!(today);
                    let version = item.version;
                    match self
                        .records
                        .put_versioned(Record { data, ..item }, version)
                        .await
                    {
                        // A reconcile moved it meanwhile: the next sweep looks again.
                        Ok(_) | Err(StoreError::Conflict { .. }) => report.newly_overdue += 1,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Ok(report)
    }

    /// Who may see what of a child on a list: the one access check.
    async fn sees(
        &self,
        principal: &Principal,
        child: &crate::domain::Child,
    ) -> Result<bool, ServiceError> {
        Ok(
            crate::services::access::access_to(&self.records, principal, child, self.clock.now())
                .await?
                .is_some(),
        )
    }
}

/// The pending marker of a change of `child` (`event`: a unique id of the change) for a
/// writer without a [`Worklist`] (partner files): the sweep reconciles the child.
pub fn pending_marker(child: ChildId, event: &str, at: chrono::DateTime<chrono::Utc>) -> WriteOp {
    WriteOp::PutNew(Record::new(
        keys::work_pending(child, event),
        json!({"child_id": child, "at": at}),
    ))
}

/// The organisation a list is of: the `organisation` filter (a checked code), else the
/// caller's; another organisation's only for a registry administrator (`what` names the list).
fn listed_organisation(
    q: &crate::services::registry::listing::ListQuery,
    principal: &Principal,
    what: &str,
) -> Result<String, ServiceError> {
    let organisation = match q.parsed(
        "organisation",
        crate::domain::registry::check_organisation_id,
    )? {
        Some(()) => q.filter("organisation").unwrap_or_default().to_owned(),
        None => principal.organisation.clone(),
    };
    if organisation != principal.organisation
        && !principal.has_any(&[crate::domain::Role::RegistryAdministrator])
    {
        return Err(ServiceError::Forbidden(format!(
            "only your own organisation's {what} can be read"
        )));
    }
    Ok(organisation)
}

/// The `territory` filter (an ATVK subtree), which only municipal social services use.
fn territory_filter(
    q: &crate::services::registry::listing::ListQuery,
    principal: &Principal,
) -> Result<Option<crate::domain::Atvk>, ServiceError> {
    let territory = q.parsed("territory", crate::domain::Atvk::parse)?;
    if territory.is_some() && !principal.has_any(&[crate::domain::Role::MunicipalitySocialService])
    {
        return Err(ServiceError::invalid(
            "territory",
            "is a filter of municipal social services",
        ));
    }
    Ok(territory)
}

/// A `true`/`false` filter value.
fn parse_bool(raw: &str) -> Result<bool, &'static str> {
    match raw {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("must be true or false"),
    }
}

async fn delete_if_present<R: RecordStore>(records: &R, key: &Key) -> Result<(), StoreError> {
    match records.get(key).await? {
        None => Ok(()),
        Some(r) => match records
            .transact(vec![WriteOp::Delete {
                key: key.clone(),
                expected: r.version,
            }])
            .await
        {
            Ok(()) | Err(StoreError::TransactionCancelled { .. }) => Ok(()),
            Err(e) => Err(e),
        },
    }
}

fn decode_all<T: serde::de::DeserializeOwned>(records: &[Record]) -> Result<Vec<T>, ServiceError> {
    records
        .iter()
        .map(crate::services::registry::listing::decode)
        .collect()
}

/// The stored record of an item.
pub fn item_record(item: &WorkItem) -> Result<(Key, Record), ServiceError> {
    let id = item.id();
    let key = keys::worklist_item(&item.organisation, item.due_on, item.urgency.rank(), &id);
    let mut data = serde_json::to_value(item).map_err(StoreError::Encode)?;
    data["id"] = Value::String(id.clone());
    let record = Record::new(key.clone(), data).with_index(
        keys::child_index(item.child_id),
        keys::child_work_index(&item.organisation, &id),
    );
    Ok((key, record))
}
