//! The fast path of the children file's validation pass: a branch-light check that accepts
//! the common, plainly valid row without building anything.
//!
//! It restates no rule of its own: every condition below is one of the rules of a new child
//! (`domain::child::check_new_child`, `domain::personal_code`, `domain::atvk`, the row
//! parsing in `intake::kinds::children`), narrowed to the plain case — no surrounding white space
//! to trim, no character that needs decoding, a child born in the last 17 calendar years.
//! A row it is not sure of is not "invalid": [`check_child_row`](super::children::check_child_row)
//! then runs the full rules, which stay the only source of verdicts and messages. The
//! differential tests below hold it to that: it never accepts a row the full rules reject,
//! and it accepts the usual rows (new- and old-format codes, none, optional values empty).
//!
//! Why it exists: a national file has millions of rows, and the full rules parse each value
//! into its domain type and collect violations; here a valid row costs a few comparisons
//! with no data-dependent loop (docs/BENCHMARKS.md, "parse + validate").

use crate::domain::child::GESTATIONAL_AGE_WEEKS;
use crate::domain::personal_code::{
    OLD_FORMAT_LAST_BIRTH_DATE, old_format_century, old_format_check_digit,
};
use crate::domain::text;
use crate::intake::reader::Fields;
use chrono::{Datelike, NaiveDate};

/// A calendar date as one number, `yyyymmdd`, ordered like the dates.
type DateKey = u32;

fn key(year: u32, month: u32, day: u32) -> DateKey {
    year * 10_000 + month * 100 + day
}

/// Whether a children row (values by the index of `children::COLUMNS`) certainly passes
/// every rule; `false` means "not sure", never "invalid".
pub fn plainly_valid(fields: &Fields<'_>, today: NaiveDate) -> bool {
    // Values as the file has them, untrimmed: every value but the names must match an
    // exact ASCII pattern, which a value with surrounding white space does not (the full
    // rules, which trim, then decide).
    let value = |column| fields.raw(column);
    let Some((birth, birth_year)) = date_key(value(3)) else {
        return false;
    };
    let Ok(today_year) = u32::try_from(today.year()) else {
        return false;
    };
    let not_future = birth <= key(today_year, today.month(), today.day());
    // `check_new_child`: a child born in the last 17 calendar years is under 18.
    let under_18 = birth_year + 18 > today_year;
    let sex = matches!(value(4), b"female" | b"male");
    let weeks = match value(5) {
        [] => true,
        weeks => weeks_in_range(weeks),
    };
    let atvk = match value(6) {
        [] => true,
        atvk => atvk.len() == 7 && atvk.iter().all(u8::is_ascii_digit),
    };
    let code = match value(0) {
        [] => true,
        code => code_agrees(code, birth),
    };
    // `&`, not `&&`: every condition is evaluated, with no branch on each outcome.
    not_future & under_18 & plain_name(value(1)) & plain_name(value(2)) & sex & weeks & atvk & code
}

/// A name that certainly passes the name rules (`check_new_child`): 1–100 bytes, so at
/// most 100 characters; no control character and no white space but the ASCII space
/// ([`text::plain`]), and no space at either end, so that trimming leaves it as it is.
fn plain_name(raw: &[u8]) -> bool {
    match raw {
        [first, .., last] | [first @ last] => {
            raw.len() <= 100 && *first != b' ' && *last != b' ' && text::plain(raw)
        }
        [] => false,
    }
}

/// `YYYY-MM-DD`, a real date of the proleptic Gregorian calendar (as `parse_iso_date`):
/// its key and year.
fn date_key(raw: &[u8]) -> Option<(DateKey, u32)> {
    let b: &[u8; 10] = raw.try_into().ok()?;
    // Bytes 0–7 and 2–9 as two words, each dash turned into a '0': then every byte of both
    // must be a digit.
    const DASH_TO_ZERO: u64 = (b'-' ^ b'0') as u64;
    let head = word(&b[..8]) ^ (DASH_TO_ZERO << 32 | DASH_TO_ZERO << 56);
    let tail = word(&b[2..]) ^ (DASH_TO_ZERO << 16 | DASH_TO_ZERO << 40);
    let digits = all_digits(head) & all_digits(tail) & (b[4] == b'-') & (b[7] == b'-');
    let digit = |i: usize| u32::from(b[i].wrapping_sub(b'0'));
    let year = digit(0) * 1000 + digit(1) * 100 + digit(2) * 10 + digit(3);
    let (month, day) = (digit(5) * 10 + digit(6), digit(8) * 10 + digit(9));
    let real = (1..=12).contains(&month) & (day >= 1) & (day <= days_in_month(year, month));
    (digits & real).then(|| (key(year, month, day), year))
}

/// Eight bytes (at least eight given) as one little-endian word: byte 0 lowest.
fn word(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().expect("eight bytes"))
}

/// Whether all eight bytes of `w` are ASCII digits, without a branch per byte: a byte is
/// one when subtracting '0' does not wrap (≥ 0x30) and adding 0x46 does not reach 0x80
/// (≤ 0x39). A byte that fails sets its high bit in one of the two; a borrow or carry it
/// passes on can only come from a byte that already failed.
fn all_digits(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    (w.wrapping_sub(ONES * 0x30) | w.wrapping_add(ONES * 0x46)) & (ONES * 0x80) == 0
}

/// Days in `month` (1–12; 0 and 13–99: 0) of `year` in the Gregorian calendar.
fn days_in_month(year: u32, month: u32) -> u32 {
    const DAYS: [u32; 14] = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 0];
    // `&&`: the leap-year arithmetic only for February.
    let leap_day = month == 2
        && year.is_multiple_of(4)
        && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    DAYS[month.min(13) as usize] + u32::from(leap_day)
}

/// Exactly two digits within [`GESTATIONAL_AGE_WEEKS`] (other spellings: not sure).
fn weeks_in_range(raw: &[u8]) -> bool {
    match raw {
        &[t, u] if t.is_ascii_digit() && u.is_ascii_digit() => {
            GESTATIONAL_AGE_WEEKS.contains(&((t - b'0') * 10 + (u - b'0')))
        }
        _ => false,
    }
}

/// An 11-digit personal code without hyphen that is valid and agrees with the birth date:
/// new format (`3`, then 2–9), or old format `DDMMYYCNNNN` whose date is the birth date,
/// at most [`OLD_FORMAT_LAST_BIRTH_DATE`], with a matching check digit
/// (`domain::personal_code`).
fn code_agrees(raw: &[u8], birth: DateKey) -> bool {
    let Ok(bytes) = <[u8; 11]>::try_from(raw) else {
        return false;
    };
    // Bytes 0–7 and 3–10: all eleven digits.
    if !(all_digits(word(&bytes[..8])) & all_digits(word(&bytes[3..]))) {
        return false;
    }
    if (bytes[0] == b'3') & (b'2'..=b'9').contains(&bytes[1]) {
        return true; // new format
    }
    let d = bytes.map(|b| u32::from(b - b'0'));
    let century = old_format_century(d[6]).map_or(0, |c| c as u32);
    let encoded = key(
        century + d[4] * 10 + d[5],
        d[2] * 10 + d[3],
        d[0] * 10 + d[1],
    );
    let (y, m, dd) = OLD_FORMAT_LAST_BIRTH_DATE;
    (century > 0)
        & (encoded == birth)
        & (encoded <= key(y as u32, m, dd))
        & (old_format_check_digit(&d) == d[10])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::cells::parse_iso_date;
    use crate::intake::kinds::children::{COLUMNS, check_child_row_full_rules};
    use crate::intake::reader::{Format, RowRef, open_rows};

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// A valid old-format code (`DDMMYYCNNN` + check digit) for `birth`, from serial `n`.
    fn old_code(birth: NaiveDate, mut n: u32) -> String {
        loop {
            let head = format!(
                "{:02}{:02}{:02}{}{:03}",
                birth.day(),
                birth.month(),
                birth.year() % 100,
                (birth.year() - 1800) / 100,
                n
            );
            let mut d = [0u32; 11];
            for (x, c) in d.iter_mut().zip(head.bytes()) {
                *x = u32::from(c - b'0');
            }
            let check = old_format_check_digit(&d);
            if check < 10 {
                return format!("{head}{check}");
            }
            n += 1;
        }
    }

    /// Runs `rows` through the CSV reader (and as owned values) and compares the fast path
    /// with the full rules: it must never accept a row they reject. The rows it accepts,
    /// and those the full rules accept.
    fn verdicts(rows: &[[String; 7]], today: NaiveDate) -> (Vec<[String; 7]>, Vec<[String; 7]>) {
        let mut csv = COLUMNS.join(",");
        for row in rows {
            csv.push('\n');
            csv.push_str(&row.join(","));
        }
        csv.push('\n');
        let mut reader = open_rows(csv.as_bytes(), Format::Csv, COLUMNS).unwrap();
        let (mut fast_ok, mut full_ok) = (Vec::new(), Vec::new());
        for row in rows {
            let Some(RowRef::Values { fields, .. }) = reader.next_fields().unwrap() else {
                panic!("row {row:?} was not read as values");
            };
            // The fast path first: it must not depend on the text check `get` makes.
            let fast = plainly_valid(&fields, today);
            let full = check_child_row_full_rules(fields.clone(), today);
            assert!(
                !fast || full.is_ok(),
                "fast path accepted {row:?} (today {today}), full rules: {full:?}"
            );
            let values = fields.to_values(COLUMNS.len());
            let owned = Fields::from_values(&values);
            assert!(!plainly_valid(&owned, today) || full.is_ok(), "{row:?}");
            assert_eq!(check_child_row_full_rules(owned, today), full, "{row:?}");
            if fast {
                fast_ok.push(row.clone());
            }
            if full.is_ok() {
                full_ok.push(row.clone());
            }
        }
        assert!(reader.next_fields().unwrap().is_none());
        (fast_ok, full_ok)
    }

    /// Candidate values per column: the usual, the edge cases of every rule, and garbage.
    fn pools(today: NaiveDate) -> [Vec<String>; 7] {
        let y = today.year();
        let iso = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
        let eighteen = today
            .checked_sub_months(chrono::Months::new(12 * 18))
            .unwrap();
        let births = [
            iso(today),
            iso(today.succ_opt().unwrap()),
            iso(today.pred_opt().unwrap()),
            iso(eighteen),
            iso(eighteen.pred_opt().unwrap()),
            iso(eighteen.succ_opt().unwrap()),
            format!("{}-01-01", y - 17),
            format!("{}-12-31", y - 18),
            "2024-02-29".into(),
            "2023-02-29".into(),
            "2010-03-12".into(),
            "2017-06-30".into(),
            "2017-07-01".into(),
            "2024-13-01".into(),
            "2024-00-10".into(),
            "2024-04-31".into(),
            "2024-01-00".into(),
            "2024-1-01".into(),
            "20240101".into(),
            "2024/01/01".into(),
            " 2024-01-01".into(),
            "+024-01-01".into(),
            "".into(),
        ];
        let codes = vec![
            String::new(),
            "32579461005".into(),
            "39000000000".into(),
            "31579461005".into(),
            "3257946100".into(),
            "325794610055".into(),
            "3257946100x".into(),
            " 32579461005".into(),
            "325794-61005".into(),
            old_code(day("2010-03-12"), 123),
            old_code(day("2017-06-30"), 5),
            old_code(day("2017-07-01"), 5),
            old_code(day("2024-02-29"), 77),
            format!(
                "{}-{}",
                &old_code(day("2010-03-12"), 9)[..6],
                &old_code(day("2010-03-12"), 9)[6..]
            ),
            {
                // A wrong check digit.
                let mut c = old_code(day("2010-03-12"), 40);
                let last = c.pop().unwrap();
                c.push(if last == '0' { '1' } else { '0' });
                c
            },
            "12039431234".into(),
            "12035191234".into(),
        ];
        let names = vec![
            "Anna".into(),
            "Jānis".into(),
            "Bērziņa-Ozoliņa".into(),
            String::new(),
            " ".into(),
            " Anna ".into(),
            "A".repeat(100),
            "A".repeat(101),
            "ā".repeat(50),
            "ā".repeat(51),
            "a\tb".into(),
            "x\u{85}".into(),
            "\u{A0}Anna".into(),
            "Anna\u{7F}".into(),
            "Ānā".into(),
            "Kalniņš".into(),
            "Anna\u{2013}Marija".into(),
            "Anna\u{3000}".into(),
            "\u{2003}".into(),
        ];
        let mut born = births.to_vec();
        born.extend(
            ["2024-10-01".to_owned(), format!("{}-06-15", y - 5)]
                .into_iter()
                .chain((0..30).map(|i| iso(today - chrono::Days::new(i * 211)))),
        );
        [
            codes,
            names.clone(),
            names,
            born,
            ["female", "male", "", "Female", "f", "males", " male"]
                .map(String::from)
                .to_vec(),
            [
                "", "20", "45", "19", "46", "39", "039", "+39", "3", "x9", "99", " 39",
            ]
            .map(String::from)
            .to_vec(),
            ["", "0001000", "000100", "00010000", "000100x", " 0001000"]
                .map(String::from)
                .to_vec(),
        ]
    }

    /// The plain case the fast path is narrowed to (module docs): a valid row outside it may
    /// take the full rules.
    fn narrowed(row: &[String; 7], today: NaiveDate) -> bool {
        let value = |c: usize| row[c].trim();
        let name_narrowed = |c: usize| {
            row[c].len() > 100
                || row[c].starts_with(' ')
                || row[c].ends_with(' ')
                || !text::plain(row[c].as_bytes())
        };
        // Surrounding white space on a value other than the names.
        [0, 3, 4, 5, 6]
            .iter()
            .any(|&c| value(c).len() != row[c].len())
            || name_narrowed(1)
            || name_narrowed(2)
            || value(0).contains('-')
            || value(3).get(..4) == Some(&(today.year() - 18).to_string())
            || !(value(5).is_empty() || value(5).len() == 2)
    }

    /// A valid row with every column given.
    const VALID: [&str; 7] = [
        "32579461005",
        "Anna",
        "Bērziņa",
        "2024-10-01",
        "female",
        "39",
        "0001000",
    ];

    /// Both directions: the fast path never accepts a row the full rules reject, and it
    /// accepts every row they accept outside its narrowings.
    #[test]
    fn agrees_with_the_full_rules() {
        for today in ["2026-11-23", "2024-02-29", "2025-01-01", "2035-12-31"].map(day) {
            let pools = pools(today);
            let base: [String; 7] = VALID.map(String::from);
            // Every value of every pool in an otherwise valid row ...
            let mut rows = Vec::new();
            for (column, pool) in pools.iter().enumerate() {
                for value in pool {
                    let mut row = base.clone();
                    row[column].clone_from(value);
                    rows.push(row);
                }
            }
            // ... every code with every birth date (the old format's date must agree) ...
            for code in &pools[0] {
                for birth in &pools[3] {
                    let mut row = base.clone();
                    row[0].clone_from(code);
                    row[3].clone_from(birth);
                    rows.push(row);
                }
            }
            // ... and many random combinations (a fixed xorshift sequence).
            let mut state = 0x9E37_79B9_7F4A_7C15_u64;
            for _ in 0..20_000 {
                let row: [String; 7] = std::array::from_fn(|column| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let pool = &pools[column];
                    pool[(state % pool.len() as u64) as usize].clone()
                });
                rows.push(row);
            }
            let (fast, full) = verdicts(&rows, today);
            // ... and it accepts every valid row outside its documented narrowings.
            for row in &full {
                assert!(
                    narrowed(row, today) || fast.contains(row),
                    "fast path refused {row:?} (today {today})"
                );
            }
            assert!(
                fast.len() > 100,
                "{today}: {} of {}",
                fast.len(),
                full.len()
            );
        }
    }

    #[test]
    fn accepts_the_usual_rows() {
        let today = day("2026-11-23");
        let old = old_code(day("2010-03-12"), 123);
        let usual: Vec<[String; 7]> = [
            VALID,
            ["", "Jānis", "Ozols 12", "2020-01-31", "male", "", ""],
            [
                &old,
                "Līga",
                "Kalniņa",
                "2010-03-12",
                "female",
                "",
                "0054000",
            ],
            [
                "32579461005",
                "Ānā",
                "Žīgūre",
                "2024-02-29",
                "female",
                "20",
                "",
            ],
            ["32579461005", "A b", "C", "2026-11-23", "male", "45", ""],
        ]
        .iter()
        .map(|r| r.map(String::from))
        .collect();
        assert_eq!(verdicts(&usual, today).0, usual);
    }

    #[test]
    fn all_digits_is_exact_for_every_byte_at_every_position() {
        for at in 0..8 {
            for b in 0..=255u8 {
                let mut bytes = *b"01234567";
                bytes[at] = b;
                assert_eq!(
                    all_digits(u64::from_le_bytes(bytes)),
                    b.is_ascii_digit(),
                    "{at} {b:#x}"
                );
                // Next to a byte that fails too.
                let mut pair = bytes;
                pair[(at + 1) % 8] = 0xFF;
                assert!(!all_digits(u64::from_le_bytes(pair)));
            }
        }
    }

    #[test]
    fn dates_agree_with_the_full_parser() {
        let mut raws = Vec::new();
        for year in [0, 4, 100, 1600, 1900, 2000, 2023, 2024, 2100, 2400, 9999] {
            for month in 0..=13 {
                for d in 0..=32 {
                    raws.push(format!("{year:04}-{month:02}-{d:02}"));
                }
            }
        }
        raws.extend(
            [
                "2024-1-01",
                "2024/01/01",
                "x024-01-01",
                "2024-01-0x",
                "+024-01-01",
                "2024-0101-",
                "2024+01-01",
                "2024-01+01",
                "2024-01-1:",
                "2024-:1-01",
                "2024-01-\u{7f}1",
            ]
            .map(String::from),
        );
        for raw in raws {
            let full = parse_iso_date(&raw);
            let fast = date_key(raw.as_bytes());
            assert_eq!(
                fast,
                full.map(|d| (key(d.year() as u32, d.month(), d.day()), d.year() as u32)),
                "{raw}"
            );
        }
    }
}
