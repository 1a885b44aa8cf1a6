//! Reporting periods: a year (`2026`), a quarter (`2026-Q1`) or a month (`2026-01`).
//!
//! A release for a period also publishes its sub-periods (a year's quarters, a quarter's
//! months), so trends can be drawn; a flow counted in a sub-period adds up to the period's.

use chrono::{Datelike, NaiveDate};
use std::fmt;

/// A reporting period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    /// A calendar year.
    Year(i32),
    /// A calendar quarter (1–4).
    Quarter(i32, u32),
    /// A calendar month (1–12).
    Month(i32, u32),
}

/// Why a period is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a period is a year (2026), a quarter (2026-Q1) or a month (2026-01) from 2000 to 2100")]
pub struct PeriodError;

impl Period {
    /// Parses `2026`, `2026-Q1` … `2026-Q4` or `2026-01` … `2026-12`.
    pub fn parse(text: &str) -> Result<Self, PeriodError> {
        let year = |s: &str| -> Result<i32, PeriodError> {
            if s.len() != 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(PeriodError);
            }
            let y: i32 = s.parse().map_err(|_| PeriodError)?;
            if (2000..=2100).contains(&y) {
                Ok(y)
            } else {
                Err(PeriodError)
            }
        };
        match text.split_once('-') {
            None => Ok(Period::Year(year(text)?)),
            Some((y, rest)) => {
                let y = year(y)?;
                if let Some(q) = rest.strip_prefix('Q') {
                    match q {
                        "1" | "2" | "3" | "4" => {
                            Ok(Period::Quarter(y, q.parse().map_err(|_| PeriodError)?))
                        }
                        _ => Err(PeriodError),
                    }
                } else if rest.len() == 2 && rest.bytes().all(|b| b.is_ascii_digit()) {
                    let m: u32 = rest.parse().map_err(|_| PeriodError)?;
                    if (1..=12).contains(&m) {
                        Ok(Period::Month(y, m))
                    } else {
                        Err(PeriodError)
                    }
                } else {
                    Err(PeriodError)
                }
            }
        }
    }

    /// The year the period lies in.
    pub fn year(self) -> i32 {
        match self {
            Period::Year(y) | Period::Quarter(y, _) | Period::Month(y, _) => y,
        }
    }

    /// First day.
    pub fn start(self) -> NaiveDate {
        let (y, m) = match self {
            Period::Year(y) => (y, 1),
            Period::Quarter(y, q) => (y, 3 * q - 2),
            Period::Month(y, m) => (y, m),
        };
        NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(NaiveDate::MIN)
    }

    /// Last day.
    pub fn end(self) -> NaiveDate {
        let (y, m) = match self {
            Period::Year(y) => (y, 12),
            Period::Quarter(y, q) => (y, 3 * q),
            Period::Month(y, m) => (y, m),
        };
        let next = if m == 12 {
            NaiveDate::from_ymd_opt(y + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(y, m + 1, 1)
        };
        next.and_then(|d| d.pred_opt()).unwrap_or(NaiveDate::MAX)
    }

    /// Whether `date` lies in the period.
    pub fn contains(self, date: NaiveDate) -> bool {
        self.start() <= date && date <= self.end()
    }

    /// The periods one level down that a release of this period publishes too: a year's
    /// quarters, a quarter's months; none for a month.
    pub fn parts(self) -> Vec<Period> {
        match self {
            Period::Year(y) => (1..=4).map(|q| Period::Quarter(y, q)).collect(),
            Period::Quarter(y, q) => (3 * q - 2..=3 * q).map(|m| Period::Month(y, m)).collect(),
            Period::Month(..) => Vec::new(),
        }
    }

    /// The part of this period (one level down) that `date` lies in, if it lies in it.
    pub fn part_of(self, date: NaiveDate) -> Option<Period> {
        if !self.contains(date) {
            return None;
        }
        match self {
            Period::Year(y) => Some(Period::Quarter(y, (date.month() - 1) / 3 + 1)),
            Period::Quarter(y, _) => Some(Period::Month(y, date.month())),
            Period::Month(..) => None,
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Year(y) => write!(f, "{y}"),
            Period::Quarter(y, q) => write!(f, "{y}-Q{q}"),
            Period::Month(y, m) => write!(f, "{y}-{m:02}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn parses_years_quarters_and_months_and_refuses_the_rest() {
        assert_eq!(Period::parse("2026"), Ok(Period::Year(2026)));
        assert_eq!(Period::parse("2026-Q3"), Ok(Period::Quarter(2026, 3)));
        assert_eq!(Period::parse("2026-02"), Ok(Period::Month(2026, 2)));
        for bad in [
            "26",
            "2026-Q5",
            "2026-13",
            "2026-1",
            "1999",
            "2026-Q",
            "",
            "2026-00",
            "２０２６",
        ] {
            assert_eq!(Period::parse(bad), Err(PeriodError), "{bad}");
        }
        for p in ["2026", "2026-Q4", "2026-12"] {
            assert_eq!(Period::parse(p).unwrap().to_string(), p);
        }
    }

    #[test]
    fn bounds_and_parts() {
        let q1 = Period::Quarter(2026, 1);
        assert_eq!((q1.start(), q1.end()), (d("2026-01-01"), d("2026-03-31")));
        assert_eq!(Period::Month(2028, 2).end(), d("2028-02-29"));
        assert_eq!(Period::Year(2026).end(), d("2026-12-31"));
        assert_eq!(Period::Year(2026).parts().len(), 4);
        assert_eq!(
            Period::Year(2026).part_of(d("2026-05-31")),
            Some(Period::Quarter(2026, 2))
        );
        assert_eq!(q1.part_of(d("2026-03-31")), Some(Period::Month(2026, 3)));
        assert_eq!(q1.part_of(d("2026-04-01")), None);
        assert!(Period::Month(2026, 1).parts().is_empty());
    }
}
