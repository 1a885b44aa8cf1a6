//! Age at administration, in completed months, and prematurity-corrected age.
//!
//! **Completed months** from date `a` to date `b` (`a <= b`) is the largest `m` such that
//! `a + m months <= b`, where adding months keeps the day of month and, when that day does not
//! exist in the target month, uses the month's last day (so a child born on 31 January has
//! completed 1 month on 28/29 February). This is the usual legal way to count periods in
//! months. Before `a` (a prenatal administration) the value is minus the completed months from
//! `b` to `a`.
//!
//! **Corrected age** (where a definition's policy says so): a child born before
//! `born_before_weeks` (37) weeks of gestation is `term_weeks − gestational_age` weeks early
//! (term = 40); the corrected age is the completed months from birth date + weeks early to the
//! administration date. It applies only while the chronological age is below
//! `until_chronological_months` (24).

use super::definition::PrematurityPolicy;
use chrono::{Days, Months, NaiveDate};

/// Ages of a child on the day an instrument was administered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgeAtAdministration {
    /// Chronological age in completed months (negative before birth).
    pub chronological_months: i32,
    /// Corrected age in completed months, when the prematurity policy applied.
    pub corrected_months: Option<i32>,
    /// Birth date shifted by the weeks born early, when the policy applied.
    pub corrected_birth_date: Option<NaiveDate>,
    /// Weeks born early, when the policy applied.
    pub weeks_early: Option<u8>,
}

impl AgeAtAdministration {
    /// The age the instrument's rules use: corrected when correction applied, else chronological.
    pub fn effective_months(&self) -> i32 {
        self.corrected_months.unwrap_or(self.chronological_months)
    }
}

/// Completed months from `from` to `to` (see the module documentation); negative if `to < from`.
pub fn completed_months(from: NaiveDate, to: NaiveDate) -> i32 {
    if to < from {
        return -completed_months(to, from);
    }
    use chrono::Datelike;
    let mut months = (to.year() - from.year()) * 12 + (to.month() as i32 - from.month() as i32);
    // `months` is the calendar-month distance; one fewer if the day of month is not reached yet.
    // Both are non-negative here, and chrono clamps to the month end as documented above.
    let reached = u32::try_from(months)
        .ok()
        .and_then(|m| from.checked_add_months(Months::new(m)))
        .is_some_and(|d| d <= to);
    if !reached {
        months -= 1;
    }
    months
}

/// Ages on `administered_on` for a child born on `birth_date`, applying `policy` if given.
pub fn age_at_administration(
    birth_date: NaiveDate,
    administered_on: NaiveDate,
    gestational_age_weeks: Option<u8>,
    policy: Option<&PrematurityPolicy>,
) -> AgeAtAdministration {
    let chronological_months = completed_months(birth_date, administered_on);
    let mut age = AgeAtAdministration {
        chronological_months,
        corrected_months: None,
        corrected_birth_date: None,
        weeks_early: None,
    };
    let (Some(policy), Some(ga)) = (policy, gestational_age_weeks) else {
        return age;
    };
    if ga >= policy.born_before_weeks
        || chronological_months < 0
        || chronological_months >= policy.until_chronological_months
    {
        return age;
    }
    let weeks_early = policy.term_weeks.saturating_sub(ga);
    let Some(corrected_birth) = birth_date.checked_add_days(Days::new(7 * u64::from(weeks_early)))
    else {
        return age;
    };
    age.corrected_months = Some(completed_months(corrected_birth, administered_on));
    age.corrected_birth_date = Some(corrected_birth);
    age.weeks_early = Some(weeks_early);
    age
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const POLICY: PrematurityPolicy = PrematurityPolicy {
        born_before_weeks: 37,
        term_weeks: 40,
        until_chronological_months: 24,
    };

    #[test]
    fn completed_months_counts_only_reached_month_days() {
        assert_eq!(completed_months(d("2024-05-15"), d("2024-05-15")), 0);
        assert_eq!(completed_months(d("2024-05-15"), d("2024-06-14")), 0);
        assert_eq!(completed_months(d("2024-05-15"), d("2024-06-15")), 1);
        assert_eq!(completed_months(d("2019-05-02"), d("2026-10-01")), 88);
        assert_eq!(completed_months(d("2019-05-02"), d("2026-10-02")), 89);
    }

    #[test]
    fn completed_months_clamps_to_month_end() {
        // 31 Jan + 1 month = 28 Feb (non-leap year): one month is completed on 28 Feb.
        assert_eq!(completed_months(d("2025-01-31"), d("2025-02-27")), 0);
        assert_eq!(completed_months(d("2025-01-31"), d("2025-02-28")), 1);
        // Leap day birth: 29 Feb 2024 + 12 months = 28 Feb 2025.
        assert_eq!(completed_months(d("2024-02-29"), d("2025-02-28")), 12);
        assert_eq!(completed_months(d("2024-02-29"), d("2025-02-27")), 11);
    }

    #[test]
    fn completed_months_is_negative_before_birth() {
        // From 15 Jan to 1 Mar is 1 completed month, so 15 Jan is month -1.
        assert_eq!(completed_months(d("2026-03-01"), d("2026-01-15")), -1);
        assert_eq!(completed_months(d("2026-03-01"), d("2026-02-28")), 0);
    }

    #[test]
    fn corrects_for_prematurity_below_24_months() {
        // Born 2025-01-10 at 32 weeks: 8 weeks = 56 days early, corrected birth 2025-03-07.
        // On 2026-01-20: chronological 12 months; corrected 10 months (7 Mar + 10 = 7 Jan).
        let age = age_at_administration(d("2025-01-10"), d("2026-01-20"), Some(32), Some(&POLICY));
        assert_eq!(age.chronological_months, 12);
        assert_eq!(age.corrected_birth_date, Some(d("2025-03-07")));
        assert_eq!(age.corrected_months, Some(10));
        assert_eq!(age.weeks_early, Some(8));
        assert_eq!(age.effective_months(), 10);
    }

    #[test]
    fn no_correction_at_37_weeks_at_24_months_or_without_policy() {
        let at_37 =
            age_at_administration(d("2025-01-10"), d("2026-01-20"), Some(37), Some(&POLICY));
        assert_eq!(at_37.corrected_months, None);
        // 36 weeks is corrected (4 weeks = 28 days: corrected birth 2025-02-07, 11 months).
        let at_36 =
            age_at_administration(d("2025-01-10"), d("2026-01-20"), Some(36), Some(&POLICY));
        assert_eq!(at_36.corrected_months, Some(11));
        // Chronological 23 months: corrected; 24 months: not.
        let m23 = age_at_administration(d("2024-01-10"), d("2026-01-09"), Some(30), Some(&POLICY));
        assert_eq!(m23.chronological_months, 23);
        assert!(m23.corrected_months.is_some());
        let m24 = age_at_administration(d("2024-01-10"), d("2026-01-10"), Some(30), Some(&POLICY));
        assert_eq!(m24.chronological_months, 24);
        assert_eq!(m24.corrected_months, None);
        let none = age_at_administration(d("2025-01-10"), d("2026-01-20"), Some(30), None);
        assert_eq!(none.corrected_months, None);
        let unknown = age_at_administration(d("2025-01-10"), d("2026-01-20"), None, Some(&POLICY));
        assert_eq!(unknown.corrected_months, None);
    }
}
