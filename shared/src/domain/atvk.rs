//! ATVK: the Latvian classification of administrative territories and territorial units.
//!
//! Source: `shared/DOMAIN.md` (open-data rules from seed 004), and the Central Statistical
//! Bureau's description of ATVK 2021 (Cabinet Regulation No. 379 of 15 June 2021): a
//! hierarchical 7-character code —
//! positions 1–2 reserved for the region, 3–4 the administrative territory (state city
//! 01–19, municipality/novads 20–99), 5–6 the territorial unit within it (state city 01–19,
//! town 20–39, parish 40–99; `00` for the territory itself), and position 7 a counter of
//! how often the code was modified after a split or merger. Statistics are aggregated by it
//! and territory-scoped roles see only their subtree.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A syntactically valid ATVK territory code (exactly 7 ASCII digits).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Atvk(
    /// ASCII digits, held inline (no allocation per parsed code; files parse one per row).
    [u8; 7],
);

/// Why a string is not an ATVK code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an ATVK territory code has exactly 7 digits")]
pub struct AtvkError;

impl Atvk {
    /// Parses a 7-digit territory code.
    pub fn parse(input: &str) -> Result<Self, AtvkError> {
        match <[u8; 7]>::try_from(input.as_bytes()) {
            Ok(digits) if digits.iter().all(u8::is_ascii_digit) => Ok(Self(digits)),
            _ => Err(AtvkError),
        }
    }

    /// The 7 digits.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a parsed ATVK is ASCII digits")
    }

    /// Whether this is an administrative territory (state city or municipality) rather
    /// than a unit within one: its unit positions (5–6) are `00`.
    pub fn is_territory(&self) -> bool {
        &self.0[4..6] == b"00"
    }

    /// The territory (state city or municipality) this code lies in: positions 1–4, shared
    /// by a territory and all its units.
    pub fn territory_code(&self) -> &str {
        &self.as_str()[..4]
    }

    /// The region and territory positions (1–4) shared by a territory and all its units.
    fn territory_prefix(&self) -> &[u8] {
        &self.0[..4]
    }

    /// Whether `self` lies in the subtree of `scope`: a territory scope covers itself and
    /// every unit within it; a unit scope covers exactly that unit.
    pub fn is_within(&self, scope: &Atvk) -> bool {
        if scope.is_territory() {
            self.territory_prefix() == scope.territory_prefix()
        } else {
            self == scope
        }
    }
}

impl fmt::Display for Atvk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Atvk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Atvk({})", self.as_str())
    }
}

impl Serialize for Atvk {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Atvk {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(code: &str) -> Atvk {
        Atvk::parse(code).unwrap()
    }

    #[test]
    fn territories_cover_their_units_and_units_only_themselves() {
        let municipality = a("0056000");
        let parish = a("0056440");
        let town = a("0056210");
        let other_parish = a("0057440");
        assert!(municipality.is_territory());
        assert!(!parish.is_territory());
        assert!(parish.is_within(&municipality));
        assert!(town.is_within(&municipality));
        assert!(municipality.is_within(&municipality));
        assert!(!other_parish.is_within(&municipality));
        assert!(parish.is_within(&parish));
        assert!(!town.is_within(&parish));
        assert!(!municipality.is_within(&parish));
    }

    #[test]
    fn seven_digits_only() {
        assert_eq!(Atvk::parse("0001000").unwrap().as_str(), "0001000");
        for bad in ["", "000100", "00010000", "000100a", " 001000"] {
            assert_eq!(Atvk::parse(bad), Err(AtvkError), "{bad}");
        }
    }
}
