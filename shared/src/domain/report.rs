//! A report: the indicators of one period for one scope (Latvia, or a municipality's
//! territory), computed from the analytics lake by the reports worker (issue #13;
//! `docs/REPORTS.md`). It holds aggregates only, never a child.

use super::ReportId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a report is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportState {
    /// Requested; the worker has not finished it.
    Queued,
    /// Written: its files are there.
    Done,
    /// The worker gave up (the reason is kept); a new request makes a new report.
    Failed,
}

impl ReportState {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportState::Queued => "queued",
            ReportState::Done => "done",
            ReportState::Failed => "failed",
        }
    }
}

/// How a report was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportTrigger {
    /// `POST /reports`.
    Request,
    /// The monthly schedule (which also publishes the open-data release).
    Schedule,
}

/// A report and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Id (UUID v7).
    pub id: ReportId,
    /// The period: `2026`, `2026-Q1` or `2026-01`.
    pub period: String,
    /// The municipality (ATVK) it is limited to; none for all of Latvia.
    pub territory: Option<String>,
    /// State.
    pub state: ReportState,
    /// How it was asked for.
    pub trigger: ReportTrigger,
    /// Who asked (subject), or `schedule`.
    pub requested_by: String,
    /// When.
    pub requested_at: DateTime<Utc>,
    /// When the worker finished it.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub error: Option<String>,
    /// The files written, names under `reports/<id>/` of the reports bucket.
    pub files: Vec<String>,
    /// Whether it published the period's open-data release.
    pub open_data: bool,
}
