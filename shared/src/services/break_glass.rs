//! Break-the-glass: a specialist without a care link to a child gets time-limited access to
//! it by stating a reason (issue #5; rules in `docs/SECURITY.md`, "Break-the-glass").
//!
//! A grant belongs to one holder (token subject AND organisation) and one child, and ends at
//! `expires_at` (default [`DEFAULT_TTL_MINUTES`]). It is stored under the child's partition
//! (`BTG#<hash of organisation and subject>`, with a TTL) and, for the data protection
//! officer's report, in a per-day log (`BTGLOG#<day>`). The grant itself is an audit entry
//! of the child (entity `break_glass`), and every access made under it carries its reason in
//! the entry's `break_glass_reason`.
//!
//! Existence: breaking the glass for an unknown child, or one outside the caller's territory,
//! answers 404 like every other refusal. For a child inside the caller's territory the
//! answer is 201; that it exists is then known to the caller, which is the point, and the
//! grant with its reason is in the child's audit trail and the DPO's report.

use crate::domain::{ChildId, Principal};
use crate::ports::{Record, RecordStore, SortKeyCondition, StoreError, WriteOp};
use crate::services::access::{CARE_SCOPED, within_territory};
use crate::services::audit::{AUDIT_READERS, AuditAction, AuditEntity, AuditEvent, AuditTrail};
use crate::services::{Reply, ServiceError, require_role};
use crate::store::keys;
pub use crate::store::lookups::{Grant, live_grant};
use crate::store::lookups::{holder_hash, load_child};
use crate::store::query::query_all;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;

pub use crate::domain::break_glass::{DEFAULT_TTL_MINUTES, MAX_REASON_CHARS, MIN_REASON_CHARS};

/// The longest period one report covers.
pub const MAX_REPORT_DAYS: i64 = 92;

/// Body of `POST /children/{id}/break-the-glass`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassInput {
    /// Why the caller needs access to this child now (10–500 characters).
    pub reason: String,
}

/// Checks the reason: 10–500 characters after trimming; returns it trimmed.
pub fn validate_reason(reason: &str) -> Result<String, ServiceError> {
    let trimmed = reason.trim();
    let n = trimmed.chars().count();
    if n < MIN_REASON_CHARS {
        return Err(ServiceError::invalid(
            "reason",
            format!("must state why you need access, at least {MIN_REASON_CHARS} characters"),
        ));
    }
    if n > MAX_REASON_CHARS {
        return Err(ServiceError::invalid(
            "reason",
            format!("must be at most {MAX_REASON_CHARS} characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// Breaks the glass: validates the reason, checks the child is visible but for the care
/// link, stores the grant and its log entry, and records the grant in the child's audit trail.
#[allow(clippy::too_many_arguments)]
pub async fn grant<R: RecordStore>(
    records: &R,
    audit: &AuditTrail<R>,
    principal: &Principal,
    request_id: &str,
    child_id: ChildId,
    input: BreakGlassInput,
    grant_id: String,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<Reply, ServiceError> {
    let event = AuditEvent::all(child_id, AuditEntity::BreakGlass, AuditAction::Create);
    audit
        .require_role(
            principal,
            request_id,
            CARE_SCOPED,
            "break the glass (only specialist roles see children through care links)",
            Some(event.clone()),
        )
        .await?;
    let reason = validate_reason(&input.reason)?;
    let not_found = || ServiceError::NotFound(format!("no child with id {child_id}"));
    let child = load_child(records, child_id).await?.ok_or_else(not_found)?;
    if !within_territory(principal, &child) {
        return Err(not_found());
    }
    let grant = Grant {
        grant_id,
        child_id,
        subject: principal.subject.clone(),
        organisation: principal.organisation.clone(),
        roles: principal.roles.clone(),
        reason: reason.clone(),
        granted_at: now,
        expires_at: now + ttl,
        request_id: request_id.to_owned(),
    };
    let data = serde_json::to_value(&grant).map_err(StoreError::Encode)?;
    let key = keys::break_glass_grant(child_id, &holder_hash(&grant.organisation, &grant.subject));
    let record = Record::new(key.clone(), data.clone()).with_expiry(grant.expires_at.timestamp());
    let op = match records.get(&key).await? {
        None => WriteOp::PutNew(record),
        Some(existing) => WriteOp::PutVersioned {
            record,
            expected: existing.version,
        },
    };
    let mut log = data.clone();
    log["child"] = json!(audit.pseudonym(child_id));
    records
        .transact(vec![
            op,
            WriteOp::PutNew(Record::new(
                keys::break_glass_log(now, &grant.grant_id),
                log,
            )),
        ])
        .await?;
    audit
        .record(
            principal,
            request_id,
            event.with_break_glass_reason(Some(reason)),
        )
        .await?;
    tracing::warn!(subject = %principal.subject, org = %principal.organisation,
        child = %audit.pseudonym(child_id), expires_at = %grant.expires_at, "break-the-glass granted");
    Ok(Reply {
        status: 201,
        location: Some(format!("/children/{child_id}")),
        etag: None,
        body: json!({"grant_id": grant.grant_id, "child_id": child_id, "reason": grant.reason,
                     "granted_at": grant.granted_at, "expires_at": grant.expires_at}),
        replayed: false,
        file: None,
    })
}

/// Parses a report bound: an RFC 3339 time, or a date (`YYYY-MM-DD`, its start in UTC).
pub fn parse_bound(field: &str, raw: Option<&str>) -> Result<DateTime<Utc>, ServiceError> {
    let raw = raw.ok_or_else(|| {
        ServiceError::invalid(field, "is required (a date YYYY-MM-DD or an RFC 3339 time)")
    })?;
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    raw.parse::<NaiveDate>()
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            ServiceError::invalid(field, "must be a date YYYY-MM-DD or an RFC 3339 time")
        })
}

/// `GET /audit/break-the-glass?from=…&to=…`: every grant made in `[from, to)`, oldest
/// first, with who (subject, roles, organisation), when, for which child and why.
pub async fn report<R: RecordStore>(
    records: &R,
    principal: &Principal,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Reply, ServiceError> {
    require_role(principal, AUDIT_READERS, "read the audit trail")?;
    if to <= from {
        return Err(ServiceError::invalid("to", "must be after from"));
    }
    if to - from > Duration::days(MAX_REPORT_DAYS) {
        return Err(ServiceError::invalid(
            "to",
            format!("a report covers at most {MAX_REPORT_DAYS} days"),
        ));
    }
    let mut grants = Vec::new();
    let mut day = from.date_naive();
    while day <= to.date_naive() {
        let logged = query_all(
            records,
            &keys::break_glass_log_partition(day),
            &SortKeyCondition::All,
        )
        .await?;
        for r in logged {
            let at = r.data["granted_at"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc));
            if at.is_some_and(|at| at >= from && at < to) {
                grants.push(r.data);
            }
        }
        day = match day.succ_opt() {
            Some(d) => d,
            None => break,
        };
    }
    tracing::info!(subject = %principal.subject, org = %principal.organisation,
        grants = grants.len(), "break-the-glass report read");
    Ok(Reply::ok(json!({"from": from, "to": to, "grants": grants})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_trimmed_and_bounded() {
        assert_eq!(
            validate_reason("  urgent: child in A&E  ").unwrap(),
            "urgent: child in A&E"
        );
        for bad in ["", "   ", "too short", &"x".repeat(MAX_REASON_CHARS + 1)] {
            match validate_reason(bad) {
                Err(ServiceError::Validation(errors)) => assert_eq!(errors[0].field, "reason"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        // Characters, not bytes: ten letters with diacritics are enough.
        assert!(validate_reason("ļoti steidzami").is_ok());
        assert!(validate_reason(&"ā".repeat(MAX_REASON_CHARS)).is_ok());
    }

    #[test]
    fn holders_do_not_collide() {
        assert_ne!(holder_hash("a#b", "c"), holder_hash("a", "b#c"));
        assert_eq!(holder_hash("org", "s"), holder_hash("org", "s"));
    }

    #[test]
    fn report_bounds_accept_dates_and_times() {
        assert_eq!(
            parse_bound("from", Some("2026-11-23")).unwrap(),
            "2026-11-23T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            parse_bound("to", Some("2026-11-23T12:00:00+02:00")).unwrap(),
            "2026-11-23T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        for (raw, field) in [(None, "from"), (Some("yesterday"), "to")] {
            match parse_bound(field, raw) {
                Err(ServiceError::Validation(errors)) => assert_eq!(errors[0].field, field),
                other => panic!("{other:?}"),
            }
        }
    }
}
