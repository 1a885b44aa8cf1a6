//! Analytics exports for the ministry's statistics (issue #5, item 5): one row per scoring
//! result with only the child's **pseudonym** — never the child id, personal code or names —
//! and coarse attributes: age band in months, sex, territory at municipality level,
//! instrument, risk level and the month of administration. Rules: `docs/SECURITY.md`,
//! "Analytics exports".
//!
//! The pseudonym is made by the one pseudonymisation component ([`Pseudonymizer`]) under an
//! *analytics key* derived from the pseudonym key ([`analytics_key`]): the same child gets
//! the same pseudonym in every export, but export pseudonyms cannot be joined with the
//! pseudonyms of the audit trail.

use crate::domain::{Atvk, ChildId, ChildStatus, KeyedHasher, Pseudonym, Pseudonymizer, Sex};
use crate::ports::RecordStore;
use crate::scoring::RiskLevel;
use crate::services::ServiceError;
use crate::services::screenings::person_results;
use crate::store::lookups::load_child;
use serde::Serialize;
use std::io::Write;

/// Domain label of the analytics-key derivation.
pub const ANALYTICS_KEY_DOMAIN: &str = "ravis/analytics-key/v1";

/// The key analytics pseudonyms are made with: HMAC of a fixed label under the pseudonym
/// key, so exports are stable for one deployment and unlinkable to audit pseudonyms.
pub fn analytics_key(pseudonym_key: &[u8]) -> Vec<u8> {
    KeyedHasher::new(pseudonym_key, ANALYTICS_KEY_DOMAIN)
        .hash("analytics")
        .into_bytes()
}

/// Upper bounds (exclusive, in completed months) of the age bands; older is the last band.
const AGE_BAND_LIMITS: &[i32] = &[6, 12, 18, 24, 36, 48, 60, 72];

/// The age band of an age in completed months: `0-5`, `6-11`, `12-17`, `18-23`, `24-35`,
/// `36-47`, `48-59`, `60-71`, `72+`; `before-birth` for a negative age.
pub fn age_band(months: i32) -> String {
    if months < 0 {
        return "before-birth".into();
    }
    let mut lower = 0;
    for &upper in AGE_BAND_LIMITS {
        if months < upper {
            return format!("{lower}-{}", upper - 1);
        }
        lower = upper;
    }
    format!("{lower}+")
}

/// The municipality (or state city) a territory code lies in: the code with its unit
/// positions (5–6) set to `00`.
pub fn municipality(atvk: &Atvk) -> String {
    let code = atvk.as_str();
    format!("{}00{}", &code[..4], &code[6..])
}

/// One exported row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnalyticsRow {
    /// The child, by analytics pseudonym.
    pub child: Pseudonym,
    /// Age band at administration (chronological age), e.g. `12-17`.
    pub age_band_months: String,
    /// Sex.
    pub sex: Sex,
    /// Municipality-level ATVK code of the child's address, if known.
    pub municipality: Option<String>,
    /// Instrument id.
    pub instrument: String,
    /// Instrument definition version.
    pub instrument_version: String,
    /// Overall risk level.
    pub risk_level: RiskLevel,
    /// Month of administration, `YYYY-MM`.
    pub month: String,
}

/// Counts of an export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Children looked at.
    pub children: u64,
    /// Rows written.
    pub rows: u64,
}

/// Builds analytics rows from the record store.
pub struct AnalyticsExport<R> {
    records: R,
    pseudonyms: Pseudonymizer,
}

impl<R: RecordStore> AnalyticsExport<R> {
    /// An export whose pseudonyms are made under [`analytics_key`] of `pseudonym_key`.
    pub fn new(records: R, pseudonym_key: &[u8]) -> Self {
        Self {
            records,
            pseudonyms: Pseudonymizer::new(&analytics_key(pseudonym_key)),
        }
    }

    /// The analytics pseudonym of a child.
    pub fn pseudonym(&self, child: ChildId) -> Pseudonym {
        self.pseudonyms.child(child)
    }

    /// One row per stored result of the child, including those of children merged into it
    /// (none for an unknown child, or a merged one: its results count under its survivor).
    pub async fn child_rows(&self, child_id: ChildId) -> Result<Vec<AnalyticsRow>, ServiceError> {
        let Some(child) = load_child(&self.records, child_id).await? else {
            return Ok(Vec::new());
        };
        if child.status == ChildStatus::Merged {
            return Ok(Vec::new());
        }
        let pseudonym = self.pseudonyms.child(child_id);
        let mut rows = Vec::new();
        for stored in person_results(&self.records, child_id).await? {
            let result = stored.result;
            rows.push(AnalyticsRow {
                child: pseudonym.clone(),
                age_band_months: age_band(result.age_months),
                sex: child.sex,
                municipality: child.atvk.as_ref().map(municipality),
                instrument: result.instrument,
                instrument_version: result.instrument_version,
                risk_level: result.risk_level,
                month: result.administered_on.format("%Y-%m").to_string(),
            });
        }
        Ok(rows)
    }

    /// Writes the rows of every child in `children` as JSON Lines to `out`.
    pub async fn write_jsonl(
        &self,
        children: impl IntoIterator<Item = ChildId>,
        mut out: impl Write,
    ) -> Result<ExportSummary, ExportError> {
        let mut summary = ExportSummary::default();
        for child in children {
            summary.children += 1;
            for row in self.child_rows(child).await? {
                serde_json::to_writer(&mut out, &row).map_err(std::io::Error::from)?;
                out.write_all(b"\n")?;
                summary.rows += 1;
            }
        }
        out.flush()?;
        Ok(summary)
    }
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the records failed.
    #[error("reading the records: {0}")]
    Records(#[from] ServiceError),
    /// Writing the output failed.
    #[error("writing the export: {0}")]
    Write(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_bands_cover_every_age_without_overlap() {
        assert_eq!(age_band(-1), "before-birth");
        assert_eq!(age_band(0), "0-5");
        assert_eq!(age_band(5), "0-5");
        assert_eq!(age_band(6), "6-11");
        assert_eq!(age_band(23), "18-23");
        assert_eq!(age_band(24), "24-35");
        assert_eq!(age_band(71), "60-71");
        assert_eq!(age_band(72), "72+");
        assert_eq!(age_band(200), "72+");
    }

    #[test]
    fn municipality_drops_the_unit_positions() {
        assert_eq!(municipality(&Atvk::parse("0001000").unwrap()), "0001000");
        assert_eq!(municipality(&Atvk::parse("0801234").unwrap()), "0801004");
    }

    #[test]
    fn the_analytics_key_differs_from_the_pseudonym_key() {
        let key = b"pseudonym-key-pseudonym-key-0001";
        let child: ChildId = "0190a4a8-8f3e-7b1c-9d2e-3f4a5b6c7d8e".parse().unwrap();
        assert_ne!(
            Pseudonymizer::new(&analytics_key(key)).child(child),
            Pseudonymizer::new(key).child(child)
        );
        assert_eq!(analytics_key(key), analytics_key(key));
    }
}
