//! Parquet columns without arrow: the few column kinds the analytics lake uses (UTF-8
//! strings, dates, 32-bit integers; each required or nullable), written Snappy-compressed in
//! row groups and read back column by column into flat vectors.
//!
//! The tables of `statistics::lake` describe themselves as a list of [`Field`]s; this module
//! turns that list into the Parquet schema, writes rows through a per-column accessor and
//! reads a file into one [`Decoded`] column per field, checked against the expected schema.
//! Reading turns each string column into a dictionary of its distinct values and one code
//! per row ([`Strings`]), so ten million rows are a few allocations per column, not one per
//! value, and aggregation groups by integer codes.

use super::dictionary::Dictionary;
use bytes::Bytes;
use chrono::NaiveDate;
use parquet::basic::Compression;
use parquet::column::reader::ColumnReader;
use parquet::column::writer::ColumnWriter;
use parquet::data_type::{ByteArray, ByteArrayType, DataType, Int32Type};
use parquet::errors::ParquetError;
use parquet::file::properties::{WriterProperties, WriterVersion};
use parquet::file::reader::FileReader;
use parquet::file::serialized_reader::SerializedFileReader;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use std::sync::Arc;

mod pages;

/// Rows per row group: large enough for good compression, small enough that the encoder's
/// per-group buffers stay bounded.
pub const ROW_GROUP_ROWS: usize = 1 << 20;

/// Slots of the cache of value addresses per row group of a text column (a dictionary
/// page's values; a power of two).
const SEEN_SLOTS: usize = 1 << 14;

/// Values read per call of a column reader.
const READ_BATCH: usize = 64 * 1024;

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text (`BYTE_ARRAY (STRING)`).
    Utf8,
    /// A calendar date (`INT32 (DATE)`, days since 1970-01-01).
    Date,
    /// A 32-bit signed integer (`INT32`).
    Int32,
}

/// One column of a table's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Column name (snake_case).
    pub name: &'static str,
    /// Its kind.
    pub kind: Kind,
    /// Whether it may hold nulls.
    pub nullable: bool,
}

impl Field {
    /// A required column.
    pub const fn required(name: &'static str, kind: Kind) -> Self {
        Self {
            name,
            kind,
            nullable: false,
        }
    }

    /// A nullable column.
    pub const fn nullable(name: &'static str, kind: Kind) -> Self {
        Self {
            name,
            kind,
            nullable: true,
        }
    }
}

/// The values of one column for a row group, handed to the writer.
#[derive(Debug)]
pub enum Values<'a> {
    /// Text values (`None`: null).
    Utf8(Vec<Option<&'a str>>),
    /// Dates (`None`: null).
    Date(Vec<Option<NaiveDate>>),
    /// Integers.
    Int32(Vec<i32>),
}

/// A text column of `rows`, one value per row.
pub fn text<'a, R>(rows: &'a [R], f: impl Fn(&'a R) -> &'a str) -> Values<'a> {
    Values::Utf8(rows.iter().map(|r| Some(f(r))).collect())
}

/// A nullable text column of `rows`.
pub fn optional_text<'a, R>(rows: &'a [R], f: impl Fn(&'a R) -> Option<&'a str>) -> Values<'a> {
    Values::Utf8(rows.iter().map(f).collect())
}

/// A (nullable) date column of `rows`.
pub fn date<R>(rows: &[R], f: impl Fn(&R) -> Option<NaiveDate>) -> Values<'_> {
    Values::Date(rows.iter().map(f).collect())
}

/// An integer column of `rows`.
pub fn int<R>(rows: &[R], f: impl Fn(&R) -> i32) -> Values<'_> {
    Values::Int32(rows.iter().map(f).collect())
}

/// Why encoding or decoding failed.
#[derive(Debug, thiserror::Error)]
pub enum ColumnarError {
    /// The Parquet library refused the file or the data.
    #[error("parquet: {0}")]
    Parquet(#[from] ParquetError),
    /// The file does not have the expected schema, or holds values its schema forbids.
    #[error("unexpected data in column {column}: {reason}")]
    Schema {
        /// The column.
        column: &'static str,
        /// What was wrong.
        reason: String,
    },
}

fn schema_error(column: &'static str, reason: impl Into<String>) -> ColumnarError {
    ColumnarError::Schema {
        column,
        reason: reason.into(),
    }
}

/// The Parquet message type of a table, e.g. `message results { required binary child
/// (STRING); … }`.
pub fn message_type(table: &str, fields: &[Field]) -> String {
    let mut out = format!("message {table} {{\n");
    for field in fields {
        let repetition = if field.nullable {
            "optional"
        } else {
            "required"
        };
        let physical = match field.kind {
            Kind::Utf8 => "binary",
            Kind::Date | Kind::Int32 => "int32",
        };
        let logical = match field.kind {
            Kind::Utf8 => " (STRING)",
            Kind::Date => " (DATE)",
            Kind::Int32 => "",
        };
        out.push_str(&format!(
            "  {repetition} {physical} {}{logical};\n",
            field.name
        ));
    }
    out.push('}');
    out
}

fn unix_epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

fn days_since_epoch(date: NaiveDate) -> i32 {
    // Dates from the records are years 1900..2200: the day count always fits.
    i32::try_from((date - unix_epoch()).num_days()).unwrap_or(i32::MAX)
}

fn date_from_days(days: i32) -> Option<NaiveDate> {
    unix_epoch().checked_add_signed(chrono::TimeDelta::days(i64::from(days)))
}

/// Definition levels of a nullable column (1: present, 0: null), or none for a required
/// column, which must then hold no null.
fn levels<T>(field: &Field, values: &[Option<T>]) -> Result<Option<Vec<i16>>, ColumnarError> {
    if field.nullable {
        return Ok(Some(
            values.iter().map(|v| i16::from(v.is_some())).collect(),
        ));
    }
    if values.iter().any(Option::is_none) {
        return Err(schema_error(field.name, "a required column holds a null"));
    }
    Ok(None)
}

/// Writes `rows` as one Parquet file (Snappy pages, dictionary encoding where it helps):
/// `column(chunk, i)` gives the values of field `i` for a chunk of rows (one row group).
/// An empty table is a valid file with the schema and no row group.
pub fn encode<R>(
    table: &str,
    fields: &[Field],
    rows: &[R],
    column: impl Fn(&[R], usize) -> Values<'_>,
) -> Result<Vec<u8>, ColumnarError> {
    let properties = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::SNAPPY)
        .set_created_by("ravis analytics lake".into())
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    encode_with(table, fields, rows, column, properties, ROW_GROUP_ROWS)
}

/// [`encode`] with other writer properties and row groups of `group_rows` rows.
fn encode_with<R>(
    table: &str,
    fields: &[Field],
    rows: &[R],
    column: impl Fn(&[R], usize) -> Values<'_>,
    properties: WriterProperties,
    group_rows: usize,
) -> Result<Vec<u8>, ColumnarError> {
    let schema = Arc::new(parse_message_type(&message_type(table, fields))?);
    let mut writer = SerializedFileWriter::new(Vec::new(), schema, Arc::new(properties))?;
    for chunk in rows.chunks(group_rows.max(1)) {
        let mut group = writer.next_row_group()?;
        for (i, field) in fields.iter().enumerate() {
            let Some(mut out) = group.next_column()? else {
                return Err(schema_error(field.name, "the writer has no such column"));
            };
            match (column(chunk, i), out.untyped()) {
                (Values::Utf8(values), ColumnWriter::ByteArrayColumnWriter(w)) => {
                    let defs = levels(field, &values)?;
                    // One buffer per column chunk, each value a slice of it: no allocation
                    // per value.
                    let mut text =
                        Vec::with_capacity(values.iter().flatten().map(|s| s.len()).sum());
                    let mut ends = Vec::with_capacity(values.len());
                    for s in values.iter().flatten() {
                        text.extend_from_slice(s.as_bytes());
                        ends.push(text.len());
                    }
                    let text = Bytes::from(text);
                    let mut start = 0;
                    let present: Vec<ByteArray> = ends
                        .into_iter()
                        .map(|end| {
                            let value = ByteArray::from(text.slice(start..end));
                            start = end;
                            value
                        })
                        .collect();
                    w.write_batch(&present, defs.as_deref(), None)?;
                }
                (Values::Date(values), ColumnWriter::Int32ColumnWriter(w)) => {
                    let defs = levels(field, &values)?;
                    let present: Vec<i32> = values
                        .iter()
                        .flatten()
                        .map(|d| days_since_epoch(*d))
                        .collect();
                    w.write_batch(&present, defs.as_deref(), None)?;
                }
                (Values::Int32(values), ColumnWriter::Int32ColumnWriter(w)) => {
                    let defs = field.nullable.then(|| vec![1; values.len()]);
                    w.write_batch(&values, defs.as_deref(), None)?;
                }
                _ => return Err(schema_error(field.name, "values of another kind")),
            }
            out.close()?;
        }
        group.close()?;
    }
    Ok(writer.into_inner()?)
}

/// A decoded text column, dictionary-coded: each distinct value once, and per row the
/// index of its value (or [`Strings::NULL`]). Grouping and counting run on the codes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Strings {
    /// The distinct values, numbered in order of first appearance.
    dictionary: Dictionary,
    /// Per row: the index of its value in the dictionary, or [`Strings::NULL`].
    codes: Vec<u32>,
}

impl Strings {
    /// The code of a null.
    pub const NULL: u32 = Dictionary::NONE;

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether the column has no row.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Row `i`'s value; `None` for a null or past the end.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.value(*self.codes.get(i)?)
    }

    /// The value of a dictionary code; `None` for [`Strings::NULL`].
    pub fn value(&self, code: u32) -> Option<&str> {
        self.dictionary.value(code)
    }

    /// Per row, the dictionary code of its value ([`Strings::NULL`] for a null).
    pub fn codes(&self) -> &[u32] {
        &self.codes
    }

    /// Number of distinct values.
    pub fn distinct(&self) -> usize {
        self.dictionary.len()
    }

    /// Every value in row order (`None` for nulls).
    pub fn iter(&self) -> impl Iterator<Item = Option<&str>> + '_ {
        self.codes.iter().map(|c| self.value(*c))
    }

    /// Number of nulls.
    pub fn null_count(&self) -> usize {
        self.codes.iter().filter(|c| **c == Self::NULL).count()
    }

    fn code_of(&mut self, value: &str) -> u32 {
        self.dictionary.number(value)
    }

    fn push(&mut self, value: Option<&str>) {
        let code = match value {
            Some(v) => self.code_of(v),
            None => Self::NULL,
        };
        self.codes.push(code);
    }

    /// Drops the decoding index once the column is complete.
    fn finish(&mut self) {
        self.dictionary.finish();
    }
}

impl<'a> FromIterator<Option<&'a str>> for Strings {
    fn from_iter<I: IntoIterator<Item = Option<&'a str>>>(iter: I) -> Self {
        let mut out = Strings::default();
        for v in iter {
            out.push(v);
        }
        out.finish();
        out
    }
}

/// One decoded column.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// Text.
    Utf8(Strings),
    /// Dates (`None`: null).
    Date(Vec<Option<NaiveDate>>),
    /// Integers.
    Int32(Vec<i32>),
}

impl Decoded {
    /// The text column, or a schema error.
    pub fn strings(self, column: &'static str) -> Result<Strings, ColumnarError> {
        match self {
            Decoded::Utf8(s) => Ok(s),
            _ => Err(schema_error(column, "not a text column")),
        }
    }

    /// The date column with nulls, or a schema error.
    pub fn optional_dates(
        self,
        column: &'static str,
    ) -> Result<Vec<Option<NaiveDate>>, ColumnarError> {
        match self {
            Decoded::Date(d) => Ok(d),
            _ => Err(schema_error(column, "not a date column")),
        }
    }

    /// The date column without nulls, or a schema error.
    pub fn dates(self, column: &'static str) -> Result<Vec<NaiveDate>, ColumnarError> {
        self.optional_dates(column)?
            .into_iter()
            .map(|d| d.ok_or_else(|| schema_error(column, "a required date is null")))
            .collect()
    }

    /// The integer column, or a schema error.
    pub fn ints(self, column: &'static str) -> Result<Vec<i32>, ColumnarError> {
        match self {
            Decoded::Int32(v) => Ok(v),
            _ => Err(schema_error(column, "not an integer column")),
        }
    }
}

/// Reads up to `rows` records of a column: its values and (for a nullable column) its
/// definition levels.
fn read_column<T: DataType>(
    reader: ColumnReader,
    field: &Field,
    rows: usize,
) -> Result<(Vec<T::T>, Vec<i16>), ColumnarError> {
    let mut typed = T::get_column_reader(reader)
        .ok_or_else(|| schema_error(field.name, "another physical type"))?;
    let mut values = Vec::with_capacity(rows);
    let mut defs = Vec::with_capacity(if field.nullable { rows } else { 0 });
    let mut read = 0;
    while read < rows {
        let (records, _, _) = typed.read_records(
            READ_BATCH.min(rows - read),
            field.nullable.then_some(&mut defs),
            None,
            &mut values,
        )?;
        if records == 0 {
            return Err(schema_error(field.name, "fewer values than rows"));
        }
        read += records;
    }
    Ok((values, defs))
}

/// Whether row `row` of a column has a value (always, for a required column).
fn is_present(field: &Field, defs: &[i16], row: usize) -> bool {
    !field.nullable || defs.get(row).is_some_and(|level| *level > 0)
}

/// Reads a Parquet file written by [`encode`] (or any file with these columns, by name and
/// type) into one decoded column per field, in the order of `fields`.
pub fn decode(bytes: Bytes, fields: &[Field]) -> Result<Vec<Decoded>, ColumnarError> {
    decode_columns(bytes, fields, |_| true)
}

/// [`decode`], reading only the columns `wanted` names: every other one is left empty
/// (checked against the schema all the same). The columns are decoded in parallel, one
/// thread per core (at most 4), each column whole by one thread.
pub fn decode_columns(
    bytes: Bytes,
    fields: &[Field],
    wanted: impl Fn(&str) -> bool + Sync,
) -> Result<Vec<Decoded>, ColumnarError> {
    let reader = SerializedFileReader::new(bytes)?;
    let meta = reader.metadata();
    let schema = meta.file_metadata().schema_descr();
    let mut positions = Vec::with_capacity(fields.len());
    for field in fields {
        let found = (0..schema.num_columns())
            .find(|&i| schema.column(i).name() == field.name)
            .ok_or_else(|| schema_error(field.name, "missing from the file"))?;
        if !field.nullable && schema.column(found).max_def_level() > 0 {
            return Err(schema_error(field.name, "nullable in the file"));
        }
        positions.push(found);
    }
    let total = usize::try_from(meta.file_metadata().num_rows()).unwrap_or(0);
    let empty = |f: &Field, capacity: usize| match f.kind {
        Kind::Utf8 => Decoded::Utf8(Strings::default()),
        Kind::Date => Decoded::Date(Vec::with_capacity(capacity)),
        Kind::Int32 => Decoded::Int32(Vec::with_capacity(capacity)),
    };
    // Text columns first: they take longest, and the threads share the rest.
    let mut order: Vec<usize> = (0..fields.len())
        .filter(|&i| wanted(fields[i].name))
        .collect();
    order.sort_by_key(|&i| fields[i].kind != Kind::Utf8);
    let column = |i: usize| -> Result<Decoded, ColumnarError> {
        let field = &fields[i];
        let mut out = empty(field, total);
        for g in 0..reader.num_row_groups() {
            let group = reader.get_row_group(g)?;
            let rows = usize::try_from(group.metadata().num_rows()).unwrap_or(0);
            let chunk = group.metadata().column(positions[i]);
            match &mut out {
                Decoded::Utf8(strings) if pages::supported(chunk) => pages::decode_text(
                    group.get_column_page_reader(positions[i])?,
                    field,
                    rows,
                    strings,
                )?,
                _ => decode_group(
                    group.get_column_reader(positions[i])?,
                    field,
                    rows,
                    &mut out,
                )?,
            }
        }
        if let Decoded::Utf8(strings) = &mut out {
            strings.finish();
        }
        Ok(out)
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
        .min(order.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(&i) = order.get(k) else {
                return done;
            };
            done.push((i, column(i)));
        }
    };
    let decoded: Vec<(usize, Result<Decoded, ColumnarError>)> = if threads <= 1 {
        work()
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
            let mut all = work();
            for handle in handles {
                match handle.join() {
                    Ok(done) => all.extend(done),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            all
        })
    };
    let mut out: Vec<Decoded> = fields.iter().map(|f| empty(f, 0)).collect();
    for (i, column) in decoded {
        out[i] = column?;
    }
    Ok(out)
}

fn decode_group(
    reader: ColumnReader,
    field: &Field,
    rows: usize,
    column: &mut Decoded,
) -> Result<(), ColumnarError> {
    let short = || schema_error(field.name, "fewer values than rows");
    match column {
        Decoded::Utf8(strings) => {
            let (values, defs) = read_column::<ByteArrayType>(reader, field, rows)?;
            // The column reader's way, for chunks of encodings `pages` does not decode.
            // Values of a dictionary-encoded page are slices of its dictionary, so a repeated
            // value has the same address: known addresses skip validation and hashing. The
            // addresses stay valid while `values` holds the pages. The known addresses are a
            // direct-mapped cache (address, length, code): a collision only costs a lookup by
            // content.
            let mut seen = vec![(0usize, 0usize, Strings::NULL); SEEN_SLOTS];
            let mut next = values.iter();
            for row in 0..rows {
                if !is_present(field, &defs, row) {
                    strings.codes.push(Strings::NULL);
                    continue;
                }
                let bytes = next.next().ok_or_else(short)?.data();
                let (address, len) = (bytes.as_ptr() as usize, bytes.len());
                let slot = ((address >> 3) ^ (address >> 17) ^ len) & (SEEN_SLOTS - 1);
                let code = match seen[slot] {
                    (a, l, code) if a == address && l == len && code != Strings::NULL => code,
                    _ => {
                        let text = simdutf8::basic::from_utf8(bytes)
                            .map_err(|_| schema_error(field.name, "a value is not UTF-8"))?;
                        let code = strings.code_of(text);
                        seen[slot] = (address, len, code);
                        code
                    }
                };
                strings.codes.push(code);
            }
        }
        Decoded::Date(dates) => {
            let (values, defs) = read_column::<Int32Type>(reader, field, rows)?;
            let mut next = values.into_iter();
            for row in 0..rows {
                if is_present(field, &defs, row) {
                    let days = next.next().ok_or_else(short)?;
                    let date = date_from_days(days)
                        .ok_or_else(|| schema_error(field.name, "a date out of range"))?;
                    dates.push(Some(date));
                } else {
                    dates.push(None);
                }
            }
        }
        Decoded::Int32(ints) => {
            let (values, defs) = read_column::<Int32Type>(reader, field, rows)?;
            if field.nullable && defs.contains(&0) {
                return Err(schema_error(field.name, "an integer column holds a null"));
            }
            ints.extend(values);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
