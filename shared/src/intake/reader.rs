//! Streaming readers of partner files: CSV (UTF-8, header row, `,` or `;` detected from the
//! header, UTF-8 BOM tolerated) and JSON Lines. Synchronous (run them on a blocking thread
//! over [`tokio_util::io::SyncIoBridge`]); memory stays bounded whatever the file size,
//! because a line may be at most [`MAX_LINE_BYTES`] long and rows are yielded one by one.

use crate::domain::FieldError;
use std::io::{BufRead, BufReader, Read};

/// The longest line (CSV record or JSON Lines line) accepted; longer means "not a row file".
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// The format of a partner file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma- or semicolon-separated values with a header row.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

impl Format {
    /// The format named by a file name's extension (`.csv`, `.jsonl`, `.ndjson`), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            Some(Self::Csv)
        } else if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
            Some(Self::JsonLines)
        } else {
            None
        }
    }

    /// Lower-case name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::JsonLines => "jsonl",
        }
    }
}

/// One data row: its values aligned with the kind's columns (`None`: empty, null or absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawRow {
    /// A row whose structure is sound (its values still need the kind's rules).
    Values {
        /// 1-based number of the data row (the header is not counted).
        row: u64,
        /// Values in the order of the kind's columns.
        values: Vec<Option<String>>,
    },
    /// A row that could not even be split into the columns.
    Malformed {
        /// 1-based number of the data row.
        row: u64,
        /// What is wrong with it.
        errors: Vec<FieldError>,
    },
}

/// Why reading stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file is not what it claims to be; the whole file is refused.
    #[error("{0}")]
    Rejected(String),
    /// Reading the bytes failed (retryable).
    #[error("reading the file failed")]
    Io(#[source] std::io::Error),
}

/// A marker error from [`Guard`] (carried inside `io::Error`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Defect(String);

/// Refuses binary content (NUL bytes) and overlong lines as they stream past.
struct Guard<R> {
    inner: R,
    since_newline: usize,
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = &buf[..n];
        if memchr::memchr(0, chunk).is_some() {
            return Err(std::io::Error::other(Defect(
                "binary content (NUL bytes): not a text file".into(),
            )));
        }
        // Chunks are far smaller than the limit, so a longer line spans chunks without a
        // newline: counting from the last newline of each chunk finds it.
        self.since_newline = match memchr::memrchr(b'\n', chunk) {
            Some(last) => n - last - 1,
            None => self.since_newline + n,
        };
        if self.since_newline > MAX_LINE_BYTES {
            return Err(std::io::Error::other(Defect(format!(
                "a line is longer than {MAX_LINE_BYTES} bytes: not a row file"
            ))));
        }
        Ok(n)
    }
}

fn io_error(e: std::io::Error) -> ReadError {
    if e.get_ref().is_some_and(|inner| inner.is::<Defect>()) {
        let reason = e
            .into_inner()
            .map(|inner| inner.to_string())
            .unwrap_or_default();
        ReadError::Rejected(reason)
    } else {
        ReadError::Io(e)
    }
}

fn csv_error(e: csv::Error) -> ReadError {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io_error(io),
        other => ReadError::Rejected(format!("not a valid CSV file: {other:?}")),
    }
}

/// Iterator over the rows of a file.
pub struct Rows<R: Read> {
    inner: Inner<R>,
    columns: &'static [&'static str],
    row: u64,
    done: bool,
}

enum Inner<R: Read> {
    Csv {
        reader: csv::Reader<BufReader<Guard<R>>>,
        /// For each header position, the index of the column it holds.
        positions: Vec<usize>,
        record: csv::ByteRecord,
    },
    Json {
        reader: BufReader<Guard<R>>,
        line: Vec<u8>,
        line_number: u64,
    },
}

/// Opens a file for reading rows of a kind with these `columns`; checks the header (CSV)
/// or the first line (JSON Lines), so a file that is not what it claims fails here.
pub fn open_rows<R: Read>(
    source: R,
    format: Format,
    columns: &'static [&'static str],
) -> Result<Rows<R>, ReadError> {
    let mut buffered = BufReader::with_capacity(
        64 * 1024,
        Guard {
            inner: source,
            since_newline: 0,
        },
    );
    let head = buffered.fill_buf().map_err(io_error)?;
    if head.starts_with(b"\xEF\xBB\xBF") {
        buffered.consume(3);
    }
    let inner = match format {
        Format::Csv => open_csv(buffered, columns)?,
        Format::JsonLines => Inner::Json {
            reader: buffered,
            line: Vec::new(),
            line_number: 0,
        },
    };
    Ok(Rows {
        inner,
        columns,
        row: 0,
        done: false,
    })
}

fn open_csv<R: Read>(
    mut buffered: BufReader<Guard<R>>,
    columns: &'static [&'static str],
) -> Result<Inner<R>, ReadError> {
    let head = buffered.fill_buf().map_err(io_error)?;
    if head.is_empty() {
        return Err(ReadError::Rejected("empty file: no header row".into()));
    }
    let header_line = head.split(|&b| b == b'\n').next().unwrap_or(head);
    let commas = header_line.iter().filter(|&&b| b == b',').count();
    let semicolons = header_line.iter().filter(|&&b| b == b';').count();
    let delimiter = if semicolons > commas { b';' } else { b',' };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(buffered);
    let mut header = csv::ByteRecord::new();
    if !reader.read_byte_record(&mut header).map_err(csv_error)? {
        return Err(ReadError::Rejected("empty file: no header row".into()));
    }
    let mut positions = Vec::with_capacity(header.len());
    let mut seen = vec![false; columns.len()];
    for field in &header {
        let name = std::str::from_utf8(field)
            .map_err(|_| ReadError::Rejected("the header row is not valid UTF-8".into()))?
            .trim();
        let Some(index) = columns.iter().position(|c| *c == name) else {
            return Err(ReadError::Rejected(format!(
                "wrong header: unknown column '{}' (expected: {})",
                name.chars().take(100).collect::<String>(),
                columns.join(", ")
            )));
        };
        if std::mem::replace(&mut seen[index], true) {
            return Err(ReadError::Rejected(format!(
                "wrong header: column '{name}' appears twice"
            )));
        }
        positions.push(index);
    }
    let missing: Vec<_> = columns
        .iter()
        .zip(&seen)
        .filter(|(_, s)| !**s)
        .map(|(c, _)| *c)
        .collect();
    if !missing.is_empty() {
        return Err(ReadError::Rejected(format!(
            "wrong header: missing column(s) {}",
            missing.join(", ")
        )));
    }
    Ok(Inner::Csv {
        reader,
        positions,
        record: csv::ByteRecord::new(),
    })
}

impl<R: Read> Rows<R> {
    fn next_row(&mut self) -> Result<Option<RawRow>, ReadError> {
        match &mut self.inner {
            Inner::Csv {
                reader,
                positions,
                record,
            } => loop {
                if !reader.read_byte_record(record).map_err(csv_error)? {
                    return Ok(None);
                }
                if record.len() == 1 && record[0].iter().all(u8::is_ascii_whitespace) {
                    continue; // a blank line
                }
                self.row += 1;
                let row = self.row;
                if record.len() != positions.len() {
                    return Ok(Some(RawRow::Malformed {
                        row,
                        errors: vec![FieldError::new(
                            "row",
                            format!(
                                "has {} fields but the header has {}",
                                record.len(),
                                positions.len()
                            ),
                        )],
                    }));
                }
                let mut values = vec![None; self.columns.len()];
                for (field, &index) in record.iter().zip(positions.iter()) {
                    let text = std::str::from_utf8(field).map_err(|_| {
                        ReadError::Rejected(format!("row {row} is not valid UTF-8"))
                    })?;
                    let text = text.trim();
                    if !text.is_empty() {
                        values[index] = Some(text.to_owned());
                    }
                }
                return Ok(Some(RawRow::Values { row, values }));
            },
            Inner::Json {
                reader,
                line,
                line_number,
            } => loop {
                line.clear();
                if reader.read_until(b'\n', line).map_err(io_error)? == 0 {
                    if self.row == 0 {
                        return Err(ReadError::Rejected("empty file: no rows".into()));
                    }
                    return Ok(None);
                }
                *line_number += 1;
                let text = std::str::from_utf8(line).map_err(|_| {
                    ReadError::Rejected(format!("line {line_number} is not valid UTF-8"))
                })?;
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                self.row += 1;
                let row = self.row;
                let object = match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(
                    text,
                ) {
                    Ok(o) => o,
                    Err(e) if row == 1 => {
                        return Err(ReadError::Rejected(format!(
                            "not JSON Lines: the first line is not a JSON object ({e})"
                        )));
                    }
                    Err(e) => {
                        return Ok(Some(RawRow::Malformed {
                            row,
                            errors: vec![FieldError::new("row", format!("not a JSON object: {e}"))],
                        }));
                    }
                };
                return Ok(Some(json_row(row, object, self.columns)));
            },
        }
    }
}

fn json_row(
    row: u64,
    object: serde_json::Map<String, serde_json::Value>,
    columns: &'static [&'static str],
) -> RawRow {
    let mut values = vec![None; columns.len()];
    let mut errors = Vec::new();
    for (key, value) in object {
        let Some(index) = columns.iter().position(|c| *c == key) else {
            errors.push(FieldError::new(
                key.chars().take(100).collect::<String>(),
                "unknown field",
            ));
            continue;
        };
        values[index] = match value {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => {
                errors.push(FieldError::new(key, "must be a string, a number or null"));
                None
            }
        };
    }
    if errors.is_empty() {
        RawRow::Values { row, values }
    } else {
        RawRow::Malformed { row, errors }
    }
}

impl<R: Read> Iterator for Rows<R> {
    type Item = Result<RawRow, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_row() {
            Ok(Some(row)) => Some(Ok(row)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLS: &[&str] = &["a", "b", "c"];

    fn read(bytes: &[u8], format: Format) -> Result<Vec<RawRow>, String> {
        let rows = open_rows(bytes, format, COLS).map_err(|e| e.to_string())?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())
    }

    fn values(row: u64, v: &[Option<&str>]) -> RawRow {
        RawRow::Values {
            row,
            values: v.iter().map(|x| x.map(str::to_owned)).collect(),
        }
    }

    #[test]
    fn csv_with_commas_semicolons_bom_and_any_column_order() {
        let expected = vec![
            values(1, &[Some("1"), Some("x, y"), None]),
            values(2, &[Some("4"), Some("5"), Some("6")]),
        ];
        assert_eq!(
            read(b"c,a,b\n,1,\"x, y\"\n6,4,5\n", Format::Csv).unwrap(),
            expected
        );
        assert_eq!(
            read(
                b"\xEF\xBB\xBFc;a;b\r\n;1;x, y\r\n\r\n6;4;5\r\n",
                Format::Csv
            )
            .unwrap(),
            expected
        );
    }

    #[test]
    fn csv_header_must_match_the_kind() {
        assert!(
            read(b"a,b\n1,2\n", Format::Csv)
                .unwrap_err()
                .contains("missing column(s) c")
        );
        assert!(
            read(b"a,b,c,d\n", Format::Csv)
                .unwrap_err()
                .contains("unknown column 'd'")
        );
        assert!(
            read(b"a,b,a\n", Format::Csv)
                .unwrap_err()
                .contains("'a' appears twice")
        );
        assert!(read(b"", Format::Csv).unwrap_err().contains("empty file"));
    }

    #[test]
    fn binary_garbage_and_bad_encoding_reject_the_whole_file() {
        assert!(
            read(b"a,b,c\n1,2,3\n\x00\x01\x02", Format::Csv)
                .unwrap_err()
                .contains("binary content")
        );
        assert!(
            read(b"a,b,c\n1,2,3\n1,\xC4,3\n", Format::Csv)
                .unwrap_err()
                .contains("row 2 is not valid UTF-8")
        );
        assert!(
            read(b"{\"a\":\"\xFF\"}\n", Format::JsonLines)
                .unwrap_err()
                .contains("not valid UTF-8")
        );
        let long = vec![b'x'; MAX_LINE_BYTES + 10];
        assert!(
            read(&long, Format::Csv)
                .unwrap_err()
                .contains("longer than")
        );
    }

    #[test]
    fn a_row_with_the_wrong_field_count_is_reported_alone() {
        let rows = read(b"a,b,c\n1,2\n1,2,3\n", Format::Csv).unwrap();
        assert!(
            matches!(&rows[0], RawRow::Malformed { row: 1, errors } if errors[0].field == "row")
        );
        assert_eq!(rows[1], values(2, &[Some("1"), Some("2"), Some("3")]));
    }

    #[test]
    fn json_lines_rows() {
        let rows = read(
            b"{\"a\":\"1\",\"b\":2,\"c\":null}\n\n{\"a\":\"x\",\"z\":1}\nnot json\n{\"b\":[1]}\n",
            Format::JsonLines,
        )
        .unwrap();
        assert_eq!(rows[0], values(1, &[Some("1"), Some("2"), None]));
        assert!(matches!(&rows[1], RawRow::Malformed { row: 2, errors } if errors[0].field == "z"));
        assert!(
            matches!(&rows[2], RawRow::Malformed { row: 3, errors } if errors[0].field == "row")
        );
        assert!(matches!(&rows[3], RawRow::Malformed { row: 4, errors } if errors[0].field == "b"));
        assert!(
            read(b"\n\n", Format::JsonLines)
                .unwrap_err()
                .contains("empty file")
        );
        assert!(
            read(b"garbage\n", Format::JsonLines)
                .unwrap_err()
                .contains("not JSON Lines")
        );
    }

    #[test]
    fn formats_from_names() {
        assert_eq!(Format::from_name("x.CSV"), Some(Format::Csv));
        assert_eq!(Format::from_name("x.strict.jsonl"), Some(Format::JsonLines));
        assert_eq!(Format::from_name("x.ndjson"), Some(Format::JsonLines));
        assert_eq!(Format::from_name("x.xlsx"), None);
    }
}
