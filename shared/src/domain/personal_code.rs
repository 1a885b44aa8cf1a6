//! Latvian personal code (personas kods), 11 digits.
//!
//! Source: `shared/DOMAIN.md` ("People and identifiers"), from the PMLP rules:
//! - old format `DDMMYY-CNNNN`, issued until 30 June 2017: birth date, century digit
//!   C (0 = 1800s, 1 = 1900s, 2 = 2000s), three serial digits and a check digit.
//!   Check digit = `(1101 - Σ dᵢ·wᵢ) mod 11` over the first ten digits with weights
//!   1,6,3,7,9,10,5,8,4,2; a result of 10 cannot be a digit, so such a code is invalid.
//! - new format since 1 July 2017: first digit 3, second 2–9, the rest random;
//!   no birth date and no documented check digit.
//!
//! The hyphen after the sixth digit is optional on input; the normalised form has none.

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

const WEIGHTS: [u32; 10] = [1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// The last birth date (year, month, day) an old-format code can carry: issuing stopped on
/// 30 June 2017.
pub(crate) const OLD_FORMAT_LAST_BIRTH_DATE: (i32, u32, u32) = (2017, 6, 30);

fn old_format_cutover() -> NaiveDate {
    let (y, m, d) = OLD_FORMAT_LAST_BIRTH_DATE;
    NaiveDate::from_ymd_opt(y, m, d).expect("constant date is valid")
}

/// The check digit an old-format code must end with, from its first ten digits (the
/// eleventh of `digits` is ignored): `(1101 - Σ dᵢ·wᵢ) mod 11`; 10 means no valid code has
/// these ten digits.
pub(crate) fn old_format_check_digit(digits: &[u32; 11]) -> u32 {
    let sum: u32 = digits.iter().zip(WEIGHTS).map(|(x, w)| x * w).sum();
    (1101 - sum) % 11
}

/// The first year of the century an old-format code's seventh digit names (0 = 1800s,
/// 1 = 1900s, 2 = 2000s); larger digits name none.
pub(crate) fn old_format_century(digit: u32) -> Option<i32> {
    (digit <= 2).then(|| 1800 + 100 * digit as i32)
}

/// A valid Latvian personal code in normalised form (11 digits, no hyphen).
///
/// `Debug` masks the digits so a code never ends up in a log by accident.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PersonalCode {
    /// ASCII digits, held inline: files validate a code per row, and a valid code then
    /// costs no allocation.
    digits: [u8; 11],
    birth_date: Option<NaiveDate>,
}

/// Why a string is not a valid personal code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonalCodeError {
    /// Wrong length or characters other than digits and one hyphen after the sixth digit.
    #[error(
        "a personal code has 11 digits, optionally with a hyphen after the sixth (DDMMYY-CNNNN)"
    )]
    Format,
    /// The century digit of an old-format code is not 0, 1 or 2.
    #[error("the seventh digit (century) must be 0, 1 or 2 in an old-format personal code")]
    Century,
    /// The first six digits of an old-format code are not a real date.
    #[error("the first six digits are not a real birth date (DDMMYY)")]
    BirthDate,
    /// Old-format codes were issued only until 30 June 2017.
    #[error("an old-format personal code cannot carry a birth date after 2017-06-30")]
    AfterCutover,
    /// The check digit does not match.
    #[error("the check digit does not match")]
    CheckDigit,
}

impl PersonalCode {
    /// Parses and validates a personal code in either format.
    pub fn parse(input: &str) -> Result<Self, PersonalCodeError> {
        let ascii = normalise(input)?;
        let birth_date = if ascii[0] == b'3' && (b'2'..=b'9').contains(&ascii[1]) {
            None
        } else {
            let d = ascii.map(|b| u32::from(b - b'0'));
            let century = old_format_century(d[6]).ok_or(PersonalCodeError::Century)?;
            let day = d[0] * 10 + d[1];
            let month = d[2] * 10 + d[3];
            let year = century + (d[4] * 10 + d[5]) as i32;
            let birth_date =
                NaiveDate::from_ymd_opt(year, month, day).ok_or(PersonalCodeError::BirthDate)?;
            if birth_date > old_format_cutover() {
                return Err(PersonalCodeError::AfterCutover);
            }
            if old_format_check_digit(&d) != d[10] {
                return Err(PersonalCodeError::CheckDigit);
            }
            Some(birth_date)
        };
        Ok(Self {
            digits: ascii,
            birth_date,
        })
    }

    /// The normalised 11 digits, without hyphen.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.digits).expect("a parsed personal code is ASCII digits")
    }

    /// The birth date encoded in an old-format code; `None` for new-format codes.
    pub fn birth_date(&self) -> Option<NaiveDate> {
        self.birth_date
    }

    /// Whether this is a new-format (post-July-2017) code.
    pub fn is_new_format(&self) -> bool {
        self.birth_date.is_none()
    }
}

/// The 11 ASCII digits of a code, with or without the hyphen after the sixth.
fn normalise(input: &str) -> Result<[u8; 11], PersonalCodeError> {
    let bytes = input.as_bytes();
    let mut digits = [0u8; 11];
    match bytes.len() {
        11 => digits.copy_from_slice(bytes),
        12 if bytes[6] == b'-' => {
            digits[..6].copy_from_slice(&bytes[..6]);
            digits[6..].copy_from_slice(&bytes[7..]);
        }
        _ => return Err(PersonalCodeError::Format),
    }
    if digits.iter().all(u8::is_ascii_digit) {
        Ok(digits)
    } else {
        Err(PersonalCodeError::Format)
    }
}

impl fmt::Debug for PersonalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PersonalCode(***********)")
    }
}

impl Serialize for PersonalCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PersonalCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a code from a date and century (`DDMMYYC`, or ten digits whose last three
    /// are replaced) with the first serial whose published check digit is a single digit.
    fn with_check(prefix: &str) -> String {
        let date_and_century = &prefix[..7];
        (0..1000)
            .map(|serial| format!("{date_and_century}{serial:03}"))
            .find_map(|first_ten| {
                let sum: u32 = first_ten
                    .bytes()
                    .zip(WEIGHTS)
                    .map(|(b, w)| u32::from(b - b'0') * w)
                    .sum();
                let check = (1101 - sum) % 11;
                (check < 10).then(|| format!("{first_ten}{check}"))
            })
            .unwrap()
    }

    #[test]
    fn golden_old_format_code_is_valid() {
        // 1,6,3,7,9,10,5,8,4,2 · 1,2,0,3,9,4,1,2,3,4 = 1+12+0+21+81+40+5+16+12+8 = 196;
        // (1101 - 196) mod 11 = 905 mod 11 = 3.
        let code = PersonalCode::parse("120394-12343").unwrap();
        assert_eq!(code.as_str(), "12039412343");
        assert_eq!(code.birth_date(), NaiveDate::from_ymd_opt(1994, 3, 12));
        assert!(!code.is_new_format());
    }

    #[test]
    fn hyphen_is_optional_and_normalised_away() {
        let a = PersonalCode::parse("120394-12343").unwrap();
        let b = PersonalCode::parse("12039412343").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn wrong_check_digit_is_rejected() {
        assert_eq!(
            PersonalCode::parse("120394-12344"),
            Err(PersonalCodeError::CheckDigit)
        );
    }

    #[test]
    fn century_digits_map_to_1800_1900_2000() {
        let c1800 = PersonalCode::parse(&with_check("0101990123")).unwrap();
        assert_eq!(c1800.birth_date(), NaiveDate::from_ymd_opt(1899, 1, 1));
        let c2000 = PersonalCode::parse(&with_check("1502152123")).unwrap();
        assert_eq!(c2000.birth_date(), NaiveDate::from_ymd_opt(2015, 2, 15));
        assert_eq!(
            PersonalCode::parse(&with_check("0101993123")),
            Err(PersonalCodeError::Century)
        );
    }

    #[test]
    fn impossible_dates_are_rejected() {
        // 29 February 2019 does not exist; 29 February 2016 does.
        assert_eq!(
            PersonalCode::parse(&with_check("2902192123")),
            Err(PersonalCodeError::BirthDate)
        );
        assert!(PersonalCode::parse(&with_check("2902162123")).is_ok());
        assert_eq!(
            PersonalCode::parse(&with_check("0013102123")),
            Err(PersonalCodeError::BirthDate)
        );
    }

    #[test]
    fn old_format_stops_at_the_cutover() {
        assert!(PersonalCode::parse(&with_check("3006172123")).is_ok());
        assert_eq!(
            PersonalCode::parse(&with_check("0107172123")),
            Err(PersonalCodeError::AfterCutover)
        );
    }

    #[test]
    fn new_format_needs_3_then_2_to_9() {
        let code = PersonalCode::parse("32579461005").unwrap();
        assert!(code.is_new_format());
        assert_eq!(code.birth_date(), None);
        assert!(PersonalCode::parse("329999-99999").is_ok());
        // "31…" is an old-format day (the 31st), so it is read as a birth date, not a new code.
        let old = PersonalCode::parse("31129912345").unwrap();
        assert_eq!(old.birth_date(), NaiveDate::from_ymd_opt(1999, 12, 31));
        assert_eq!(
            PersonalCode::parse("31129912346"),
            Err(PersonalCodeError::CheckDigit)
        );
    }

    #[test]
    fn malformed_input_is_a_format_error() {
        for bad in [
            "",
            "1234567890",
            "123456789012",
            "12039-412343",
            "12039412a43",
            " 12039412343",
        ] {
            assert_eq!(
                PersonalCode::parse(bad),
                Err(PersonalCodeError::Format),
                "{bad}"
            );
        }
    }

    #[test]
    fn check_digit_of_ten_means_no_valid_code() {
        // Find a first-ten whose rule gives 10: no last digit can make it valid.
        let first_ten = (0..1000)
            .map(|n| format!("0101901{n:03}"))
            .find(|s| {
                let sum: u32 = s
                    .bytes()
                    .zip(WEIGHTS)
                    .map(|(b, w)| u32::from(b - b'0') * w)
                    .sum();
                (1101 - sum) % 11 == 10
            })
            .unwrap();
        for last in 0..=9 {
            assert!(PersonalCode::parse(&format!("{first_ten}{last}")).is_err());
        }
    }

    #[test]
    fn debug_never_shows_the_digits() {
        let code = PersonalCode::parse("32579461005").unwrap();
        assert!(!format!("{code:?}").contains("3257"));
    }

    #[test]
    fn serde_round_trip_validates() {
        let code: PersonalCode = serde_json::from_str("\"120394-12343\"").unwrap();
        assert_eq!(serde_json::to_string(&code).unwrap(), "\"12039412343\"");
        assert!(serde_json::from_str::<PersonalCode>("\"120394-12344\"").is_err());
    }
}
