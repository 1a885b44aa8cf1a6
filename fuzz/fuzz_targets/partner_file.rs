//! The partner-file reader (`intake::reader::open_rows`) on any bytes, as CSV or JSON Lines,
//! for every kind's columns, fed in chunks of a size the input picks (characters and lines
//! split across reads): never panics, every value of a sound row is readable, and for
//! children files the fast row check agrees with the full rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ravis::intake::Kind;
use ravis::intake::kinds::children::{check_child_row, child_from_row};
use ravis::intake::reader::{Format, RowRef, open_rows};
use std::io::Read;

/// Hands out at most `chunk` bytes per read.
struct Chunked<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Rows read per input at most (the reader's memory is bounded per row, not per file).
const MAX_ROWS: usize = 10_000;

fuzz_target!(|data: &[u8]| {
    let [selector, chunk, file @ ..] = data else {
        return;
    };
    let format = if selector & 1 == 0 {
        Format::Csv
    } else {
        Format::JsonLines
    };
    let kind = Kind::ALL[usize::from(selector >> 1) % Kind::ALL.len()];
    let columns = kind.columns();
    // 1..=64 bytes per read, or everything at once.
    let chunk = match chunk {
        0 => usize::MAX,
        c => usize::from(c % 64) + 1,
    };
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).expect("a date");
    let Ok(mut rows) = open_rows(Chunked { data: file, chunk }, format, columns) else {
        return;
    };
    let mut previous = 0;
    for _ in 0..MAX_ROWS {
        let Ok(Some(row)) = rows.next_fields() else {
            break;
        };
        let number = match row {
            RowRef::Values { row, fields } => {
                for column in 0..columns.len() + 1 {
                    if let Some(value) = fields.get(column) {
                        assert!(!value.is_empty());
                        assert_eq!(value, value.trim());
                    }
                    let _ = fields.raw(column);
                }
                assert_eq!(fields.to_values(columns.len()).len(), columns.len());
                if kind == Kind::Children {
                    let checked = check_child_row(fields.clone(), today);
                    let full = child_from_row(fields, today).map(|_| ());
                    assert_eq!(
                        checked, full,
                        "the fast row check disagrees with the full rules"
                    );
                }
                row
            }
            RowRef::Malformed { row, errors } => {
                assert!(!errors.is_empty());
                row
            }
        };
        assert_eq!(number, previous + 1, "rows are numbered 1, 2, 3, …");
        previous = number;
    }
});
