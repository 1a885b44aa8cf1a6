//! A child in the registry and the rules for registering one.

use crate::domain::{Atvk, ChildId, PersonalCode};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Sex as recorded in the population register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
}

/// Life status of a registry entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildStatus {
    /// Living in Latvia.
    Active,
    /// Emigrated.
    MovedAbroad,
    /// Deceased.
    Deceased,
    /// Merged into another child (the survivor, `merged_into` on the record); reads answer
    /// 410 naming the survivor, and `POST /children/{id}/unmerge` restores it.
    Merged,
}

/// Plausible gestational ages at birth, in completed weeks (extreme prematurity to post-term).
pub const GESTATIONAL_AGE_WEEKS: std::ops::RangeInclusive<u8> = 20..=45;

/// A registered child.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Child {
    /// RAVIS identifier.
    pub id: ChildId,
    /// Personal code, when the child has one (newborns before registration and foreigners may not).
    pub personal_code: Option<PersonalCode>,
    /// Given name(s).
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Date of birth.
    pub birth_date: NaiveDate,
    /// Sex.
    pub sex: Sex,
    /// Gestational age at birth in completed weeks, if known (prematurity correction).
    pub gestational_age_weeks: Option<u8>,
    /// Declared address territory.
    pub atvk: Option<Atvk>,
    /// Status.
    pub status: ChildStatus,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// Organisation that registered it.
    pub registered_by_org: String,
}

/// A reason a child cannot be registered as given, naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildRuleViolation {
    /// JSON field name.
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

/// Checks the cross-field rules of a new child record; returns every violation.
pub fn check_new_child(
    personal_code: Option<&PersonalCode>,
    given_name: &str,
    family_name: &str,
    birth_date: NaiveDate,
    gestational_age_weeks: Option<u8>,
    today: NaiveDate,
) -> Vec<ChildRuleViolation> {
    let mut out = Vec::new();
    for (field, value) in [("given_name", given_name), ("family_name", family_name)] {
        let (len, control) = super::text::chars_and_control(value);
        if len == 0 {
            out.push(ChildRuleViolation {
                field,
                reason: "must not be empty".into(),
            });
        } else if len > 100 {
            out.push(ChildRuleViolation {
                field,
                reason: "must be at most 100 characters".into(),
            });
        } else if control {
            out.push(ChildRuleViolation {
                field,
                reason: "must not contain control characters".into(),
            });
        }
    }
    if birth_date > today {
        out.push(ChildRuleViolation {
            field: "birth_date",
            reason: "must not be in the future".into(),
        });
    }
    // RAVIS serves children; an 18-year window keeps typos like 1924 for 2024 out. A child
    // born in the last 17 calendar years is inside it without calendar arithmetic (files
    // check one per row).
    if birth_date.year() <= today.year() - 18
        && let Some(earliest) = today.checked_sub_months(chrono::Months::new(12 * 18))
        && birth_date < earliest
    {
        out.push(ChildRuleViolation {
            field: "birth_date",
            reason: "the child must be under 18 years old".into(),
        });
    }
    if let Some(code_date) = personal_code.and_then(PersonalCode::birth_date)
        && code_date != birth_date
    {
        out.push(ChildRuleViolation {
            field: "personal_code",
            reason: format!(
                "the personal code encodes birth date {code_date}, which differs from birth_date {birth_date}"
            ),
        });
    }
    if let Some(weeks) = gestational_age_weeks
        && !GESTATIONAL_AGE_WEEKS.contains(&weeks)
    {
        out.push(ChildRuleViolation {
            field: "gestational_age_weeks",
            reason: format!(
                "must be between {} and {} completed weeks",
                GESTATIONAL_AGE_WEEKS.start(),
                GESTATIONAL_AGE_WEEKS.end()
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_plain_child_passes() {
        assert!(
            check_new_child(
                None,
                "Anna",
                "Bērziņa",
                d("2024-03-01"),
                Some(39),
                d("2026-11-23")
            )
            .is_empty()
        );
    }

    #[test]
    fn old_code_must_agree_with_birth_date() {
        let code = PersonalCode::parse("120394-12343").unwrap();
        let v = check_new_child(
            Some(&code),
            "A",
            "B",
            d("2010-03-12"),
            None,
            d("2026-11-23"),
        );
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].field, "personal_code");
        assert!(v[0].reason.contains("1994-03-12"));
    }

    #[test]
    fn every_violation_is_reported() {
        let v = check_new_child(None, " ", "", d("2027-01-01"), Some(50), d("2026-11-23"));
        let fields: Vec<_> = v.iter().map(|x| x.field).collect();
        assert_eq!(
            fields,
            [
                "given_name",
                "family_name",
                "birth_date",
                "gestational_age_weeks"
            ]
        );
    }

    #[test]
    fn adults_are_refused() {
        let v = check_new_child(None, "A", "B", d("2008-11-22"), None, d("2026-11-23"));
        assert_eq!(v[0].field, "birth_date");
        assert!(check_new_child(None, "A", "B", d("2008-11-23"), None, d("2026-11-23")).is_empty());
    }

    #[test]
    fn the_age_limit_is_eighteen_calendar_years_across_leap_days() {
        let refused = |born: &str, today: &str| {
            check_new_child(None, "A", "B", d(born), None, d(today))
                .iter()
                .any(|v| v.field == "birth_date")
        };
        assert!(refused("2008-02-29", "2026-03-01"));
        assert!(!refused("2008-03-01", "2026-03-01"));
        // From 29 February, 18 years back is the last day of February.
        assert!(refused("2006-02-27", "2024-02-29"));
        assert!(!refused("2006-02-28", "2024-02-29"));
        assert!(!refused("2008-11-30", "2026-11-23"));
    }
}
