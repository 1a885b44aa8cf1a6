//! Clock port: the current time, injectable so rules over time are testable.

use chrono::{DateTime, TimeDelta, Utc};
use std::sync::{Mutex, PoisonError};

/// Tells the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until it is set or moved: the one clock of the tests (expiry,
/// deadlines, overdue items), and of tools that run as of a given moment.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock at `at`.
    pub fn at(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    /// A clock at `secs` seconds since the Unix epoch (out of range: the epoch).
    pub fn at_secs(secs: i64) -> Self {
        Self::at(DateTime::from_timestamp(secs, 0).unwrap_or_default())
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = at;
    }

    /// Sets the clock to `secs` seconds since the Unix epoch.
    pub fn set_secs(&self, secs: i64) {
        self.set(DateTime::from_timestamp(secs, 0).unwrap_or_default());
    }

    /// Moves the clock by `by` (forward when positive).
    pub fn advance(&self, by: TimeDelta) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::at_secs(1_000);
        assert_eq!(clock.now().timestamp(), 1_000);
        clock.advance(TimeDelta::seconds(61));
        assert_eq!(clock.now().timestamp(), 1_061);
        clock.set_secs(5);
        assert_eq!(clock.now().timestamp(), 5);
        let at = DateTime::from_timestamp(86_400, 0).expect("time");
        clock.set(at);
        assert_eq!(clock.now(), at);
    }
}
