//! The analytics lake (issue #13): every screening's current result (a re-scored screening
//! once, with its newest result), support episode and referral as
//! Parquet rows keyed by the child's analytics pseudonym (`statistics::lake`), written as a
//! full snapshot per table and year to `lake/<table>/year=YYYY/part-0.parquet`.
//!
//! Children are enumerated through the register (`store::register::every_child`); a merged
//! child is skipped and its results, episodes and referrals count under its survivor (as
//! `services::analytics` does), so a person is one pseudonym. A run replaces every partition
//! it writes and deletes the table's other objects — years without rows any more, and years
//! older than the table's retention ([`Table::retention_years`]) — so running it again on
//! the same records writes the same bytes and leaves nothing else.

use crate::domain::referral::Referral;
use crate::domain::{ChildId, ChildStatus, Pseudonymizer};
use crate::ports::blobs::list_all;
use crate::ports::{BlobError, BlobStore, Clock, RecordStore, SortKeyCondition};
use crate::scoring::Engine;
use crate::scoring::follow_ups::follow_ups;
use crate::scoring::risk_profile::newest_per_screening;
use crate::services::ServiceError;
use crate::services::analytics::{analytics_key, municipality};
use crate::services::screenings::{person_episodes, person_results};
use crate::statistics::columnar::ColumnarError;
use crate::statistics::lake::{
    EpisodeRow, ReferralRow, ResultRow, Subject, Table, partition_key, partition_year, sex_code,
    write_episodes, write_referrals, write_results,
};
use crate::store::keys;
use crate::store::lookups::{load_child, merged_ids};
use crate::store::query::query_index_all;
use bytes::Bytes;
use chrono::Datelike;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The bucket of the embedded backend the lake is written to (`ravis lake`):
/// `<data-dir>/blobs/analytics/`. In AWS it is the stack's `AnalyticsBucket`.
pub const LOCAL_ANALYTICS_BUCKET: &str = "analytics";

/// The content type of the lake's objects.
pub const PARQUET_CONTENT_TYPE: &str = "application/vnd.apache.parquet";

/// What a run wrote for one table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TableSummary {
    /// Rows written.
    pub rows: u64,
    /// Year partitions written.
    pub partitions: u64,
    /// Objects deleted: years without rows, or older than the retention.
    pub deleted: u64,
}

/// What a run wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LakeSummary {
    /// Children counted (merged children are not: they count under their survivor).
    pub children: u64,
    /// Per table name.
    pub tables: BTreeMap<&'static str, TableSummary>,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// Reading the records failed.
    #[error("reading the records: {0}")]
    Records(#[from] ServiceError),
    /// Encoding a table failed.
    #[error("encoding the lake: {0}")]
    Encode(#[from] ColumnarError),
    /// Writing or deleting an object failed.
    #[error("writing the lake: {0}")]
    Blobs(#[from] BlobError),
}

/// The rows of every table, by year.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LakeRows {
    /// Children counted.
    pub children: u64,
    /// Results by year.
    pub results: BTreeMap<i32, Vec<ResultRow>>,
    /// Episodes by year.
    pub episodes: BTreeMap<i32, Vec<EpisodeRow>>,
    /// Referrals by year.
    pub referrals: BTreeMap<i32, Vec<ReferralRow>>,
}

/// Builds the lake from the records and writes it to a blob store.
pub struct LakeWriter<R, B> {
    records: R,
    blobs: B,
    clock: Arc<dyn Clock>,
    engine: Arc<Engine>,
    pseudonyms: Pseudonymizer,
}

impl<R: RecordStore, B: BlobStore> LakeWriter<R, B> {
    /// A writer whose pseudonyms are made under the analytics key of `pseudonym_key`
    /// (the same pseudonyms as `ravis export analytics`); `engine` knows which instrument is
    /// the follow-up stage of which (`scoring::follow_ups`).
    pub fn new(
        records: R,
        blobs: B,
        clock: Arc<dyn Clock>,
        engine: Arc<Engine>,
        pseudonym_key: &[u8],
    ) -> Self {
        Self {
            records,
            blobs,
            clock,
            engine,
            pseudonyms: Pseudonymizer::new(&analytics_key(pseudonym_key)),
        }
    }

    /// The rows of every table, for every child in the register.
    pub async fn rows(&self) -> Result<LakeRows, ServiceError> {
        let mut rows = LakeRows::default();
        for child in crate::store::register::every_child(&self.records).await? {
            self.add_child(child, &mut rows).await?;
        }
        Ok(rows)
    }

    async fn add_child(&self, child_id: ChildId, rows: &mut LakeRows) -> Result<(), ServiceError> {
        let Some(child) = load_child(&self.records, child_id).await? else {
            return Ok(());
        };
        if child.status == ChildStatus::Merged {
            return Ok(());
        }
        rows.children += 1;
        let subject = Subject {
            child: self.pseudonyms.child(child_id).to_string(),
            birth_date: child.birth_date,
            sex: sex_code(Some(child.sex)),
            municipality: child.atvk.as_ref().map(municipality),
        };
        // A re-scored screening counts once, with its newest result (as in the risk profile).
        let results = person_results(&self.records, child_id).await?;
        let follow_ups = follow_ups(&self.engine, &results);
        for stored in newest_per_screening(&results) {
            let asked = follow_ups.get(&stored.result_id).copied();
            let row = ResultRow::new(&subject, &stored.result, asked.unwrap_or_default());
            rows.results.entry(row.year).or_default().push(row);
        }
        for episode in person_episodes(&self.records, child_id).await? {
            let row = EpisodeRow::new(&subject, &episode);
            rows.episodes.entry(row.year).or_default().push(row);
        }
        for referral in self.person_referrals(child_id).await? {
            let row = ReferralRow::new(&subject, &referral);
            rows.referrals.entry(row.year).or_default().push(row);
        }
        Ok(())
    }

    /// The referrals of a child and of every child merged into it.
    async fn person_referrals(&self, child_id: ChildId) -> Result<Vec<Referral>, ServiceError> {
        let mut ids = vec![child_id];
        ids.extend(merged_ids(&self.records, child_id).await?);
        let mut referrals = Vec::new();
        for id in ids {
            let stored = query_index_all(
                &self.records,
                &keys::child_index(id),
                &SortKeyCondition::Prefix(keys::REFERRAL_PREFIX.into()),
            )
            .await?;
            for record in &stored {
                referrals.push(crate::store::codec::from_data::<Referral>(record)?);
            }
        }
        referrals.sort_by_key(|r| r.id);
        Ok(referrals)
    }

    /// Builds every table and writes it, one object per table and year, replacing the
    /// previous snapshot; deletes the table's partitions that were not written (no rows any
    /// more, or older than its retention). Returns what it wrote.
    pub async fn write(&self) -> Result<LakeSummary, LakeError> {
        let rows = self.rows().await?;
        let current = self.clock.now().year();
        let mut summary = LakeSummary {
            children: rows.children,
            tables: BTreeMap::new(),
        };
        for table in Table::ALL {
            let oldest = table.oldest_kept_year(current);
            let mut parts: BTreeMap<i32, Vec<u8>> = BTreeMap::new();
            let mut counted = TableSummary::default();
            match table {
                Table::Results => {
                    for (&year, r) in rows.results.range(oldest..) {
                        counted.rows += r.len() as u64;
                        parts.insert(year, write_results(r)?);
                    }
                }
                Table::Episodes => {
                    for (&year, r) in rows.episodes.range(oldest..) {
                        counted.rows += r.len() as u64;
                        parts.insert(year, write_episodes(r)?);
                    }
                }
                Table::Referrals => {
                    for (&year, r) in rows.referrals.range(oldest..) {
                        counted.rows += r.len() as u64;
                        parts.insert(year, write_referrals(r)?);
                    }
                }
            }
            counted.partitions = parts.len() as u64;
            counted.deleted = self.replace(table, parts).await?;
            summary.tables.insert(table.name(), counted);
        }
        Ok(summary)
    }

    /// Puts every partition of `table`, then deletes every other object under its prefix;
    /// returns how many were deleted.
    async fn replace(&self, table: Table, parts: BTreeMap<i32, Vec<u8>>) -> Result<u64, BlobError> {
        let mut written = Vec::with_capacity(parts.len());
        for (year, bytes) in parts {
            let key = partition_key(table, year);
            self.blobs
                .put(&key, Bytes::from(bytes), Some(PARQUET_CONTENT_TYPE))
                .await?;
            written.push(key);
        }
        let stale: Vec<String> = list_all(&self.blobs, &table.prefix())
            .await?
            .into_iter()
            .map(|object| object.key)
            .filter(|key| !written.contains(key))
            .collect();
        for key in &stale {
            tracing::info!(
                key = %key,
                year = ?partition_year(table, key),
                "deleting a lake object not in this snapshot"
            );
            self.blobs.delete(key).await?;
        }
        Ok(stale.len() as u64)
    }
}
