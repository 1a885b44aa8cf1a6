//! The filters and page of `GET /catalogue/entries`, parsed from its query parameters,
//! and the opaque cursor continuing after an entry id.

use crate::domain::FieldError;
use crate::domain::catalogue_entry::{
    CatalogueEntry, EntryKind, EntryStatus, EvidenceLevel, TARGET_NEEDS, is_valid_id,
};
use crate::services::ServiceError;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::BTreeSet;

/// Default page size of `GET /catalogue/entries`.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page size of `GET /catalogue/entries`.
pub const MAX_LIMIT: usize = 100;

/// Filters and page of `GET /catalogue/entries`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Only this kind.
    pub kind: Option<EntryKind>,
    /// Only entries targeting this need.
    pub target_need: Option<String>,
    /// Only entries whose target age range contains this age (entries without one never match).
    pub age_months: Option<i32>,
    /// Only this evidence level.
    pub evidence_level: Option<EvidenceLevel>,
    /// Only this status.
    pub status: Option<EntryStatus>,
    /// Page size, 1..=100.
    pub limit: usize,
    /// Continue after this id (decoded from the opaque cursor).
    pub after: Option<String>,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            kind: None,
            target_need: None,
            age_months: None,
            evidence_level: None,
            status: None,
            limit: DEFAULT_LIMIT,
            after: None,
        }
    }
}

/// The opaque cursor continuing after `id`.
pub fn encode_cursor(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("catalogue:{id}"))
}

fn decode_cursor(raw: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let id = text.strip_prefix("catalogue:")?;
    is_valid_id(id).then(|| id.to_owned())
}

impl ListQuery {
    /// Parses query parameters; every bad or unknown one is reported by name.
    pub fn from_params<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ServiceError> {
        let mut q = ListQuery::default();
        let mut errors = Vec::new();
        let mut seen = BTreeSet::new();
        for (name, value) in params {
            if !seen.insert(name) {
                errors.push(FieldError::new(name, "is given more than once"));
                continue;
            }
            let bad = |reason: String| FieldError::new(name, reason);
            match name {
                "kind" => match EntryKind::parse(value) {
                    Some(k) => q.kind = Some(k),
                    None => errors.push(bad(
                        "must be instrument, programme, therapy or service".into(),
                    )),
                },
                "target_need" => {
                    if TARGET_NEEDS.contains(&value) {
                        q.target_need = Some(value.to_owned());
                    } else {
                        errors.push(bad(format!("must be one of: {}", TARGET_NEEDS.join(", "))));
                    }
                }
                "age_months" => match value.parse::<i32>() {
                    Ok(m) => q.age_months = Some(m),
                    Err(_) => errors.push(bad("must be a whole number of months".into())),
                },
                "evidence_level" => match EvidenceLevel::parse(value) {
                    Some(l) => q.evidence_level = Some(l),
                    None => errors.push(bad(
                        "must be established, promising, emerging or unrated".into(),
                    )),
                },
                "status" => match EntryStatus::parse(value) {
                    Some(s) => q.status = Some(s),
                    None => errors.push(bad("must be active or retired".into())),
                },
                "limit" => match value.parse::<usize>() {
                    Ok(l) if (1..=MAX_LIMIT).contains(&l) => q.limit = l,
                    _ => errors.push(bad(format!("must be a whole number from 1 to {MAX_LIMIT}"))),
                },
                "cursor" => match decode_cursor(value) {
                    Some(id) => q.after = Some(id),
                    None => errors.push(bad(
                        "is not a cursor this API issued (pass next_cursor unchanged)".into(),
                    )),
                },
                _ => errors.push(FieldError::new(
                    name.chars().take(64).collect::<String>(),
                    "unknown query parameter (kind, target_need, age_months, evidence_level, status, limit, cursor)",
                )),
            }
        }
        if errors.is_empty() {
            Ok(q)
        } else {
            Err(ServiceError::Validation(errors))
        }
    }

    /// Whether an entry passes the filters.
    pub fn matches(&self, e: &CatalogueEntry) -> bool {
        self.kind.is_none_or(|k| e.kind == k)
            && self
                .target_need
                .as_ref()
                .is_none_or(|n| e.target_needs.contains(n))
            && self
                .age_months
                .is_none_or(|m| e.target_age_months.is_some_and(|r| r.contains(m)))
            && self
                .evidence_level
                .is_none_or(|l| e.evidence_level == Some(l))
            && self.status.is_none_or(|s| e.status == s)
    }
}
