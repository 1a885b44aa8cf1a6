//! ATVK: the Latvian classification of administrative territories and territorial units.
//!
//! Source: `shared/DOMAIN.md` (open-data rules from seed 004): a 7-digit code, hierarchical
//! (municipality → town/parish). Statistics are aggregated by it and territory-scoped roles
//! see only their subtree.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A syntactically valid ATVK territory code (exactly 7 ASCII digits).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Atvk(String);

/// Why a string is not an ATVK code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an ATVK territory code has exactly 7 digits")]
pub struct AtvkError;

impl Atvk {
    /// Parses a 7-digit territory code.
    pub fn parse(input: &str) -> Result<Self, AtvkError> {
        if input.len() == 7 && input.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(input.to_owned()))
        } else {
            Err(AtvkError)
        }
    }

    /// The 7 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Atvk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Atvk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Atvk({})", self.0)
    }
}

impl Serialize for Atvk {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
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

    #[test]
    fn seven_digits_only() {
        assert_eq!(Atvk::parse("0001000").unwrap().as_str(), "0001000");
        for bad in ["", "000100", "00010000", "000100a", " 001000"] {
            assert_eq!(Atvk::parse(bad), Err(AtvkError), "{bad}");
        }
    }
}
