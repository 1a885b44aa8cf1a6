//! Parquet columns without arrow: the few column kinds the analytics lake uses (UTF-8
//! strings, dates, 32-bit integers; each required or nullable), written Snappy-compressed in
//! row groups and read back column by column into flat vectors.
//!
//! The tables of `statistics::lake` describe themselves as a list of [`Field`]s; this module
//! turns that list into the Parquet schema, writes rows through a per-column accessor and
//! reads a file into one [`Decoded`] column per field, checked against the expected schema.
//! Reading copies each string column into one contiguous buffer with end offsets
//! ([`Strings`]), so ten million rows are a few allocations per column, not one per value.

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

/// Rows per row group: large enough for good compression, small enough that the encoder's
/// per-group buffers stay bounded.
pub const ROW_GROUP_ROWS: usize = 1 << 20;

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
    let schema = Arc::new(parse_message_type(&message_type(table, fields))?);
    let properties = Arc::new(
        WriterProperties::builder()
            .set_writer_version(WriterVersion::PARQUET_1_0)
            .set_compression(Compression::SNAPPY)
            .set_created_by("ravis analytics lake".into())
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build(),
    );
    let mut writer = SerializedFileWriter::new(Vec::new(), schema, properties)?;
    for chunk in rows.chunks(ROW_GROUP_ROWS) {
        let mut group = writer.next_row_group()?;
        for (i, field) in fields.iter().enumerate() {
            let Some(mut out) = group.next_column()? else {
                return Err(schema_error(field.name, "the writer has no such column"));
            };
            match (column(chunk, i), out.untyped()) {
                (Values::Utf8(values), ColumnWriter::ByteArrayColumnWriter(w)) => {
                    let defs = levels(field, &values)?;
                    let present: Vec<ByteArray> = values
                        .iter()
                        .flatten()
                        .map(|s| ByteArray::from(*s))
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

/// A decoded text column: every value's bytes in one buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Strings {
    text: String,
    /// End offset in `text` of each value.
    ends: Vec<usize>,
    /// Whether each value is present (kept once a null was seen).
    present: Vec<bool>,
    /// Whether a null was seen (`present` is kept).
    nullable: bool,
}

impl Strings {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the column has no value.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Value `i`; `None` for a null or past the end.
    pub fn get(&self, i: usize) -> Option<&str> {
        if self.nullable && !self.present.get(i).copied().unwrap_or(false) {
            return None;
        }
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    /// Every value in row order (`None` for nulls).
    pub fn iter(&self) -> impl Iterator<Item = Option<&str>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Number of nulls.
    pub fn null_count(&self) -> usize {
        self.present.iter().filter(|p| !**p).count()
    }

    fn push(&mut self, value: Option<&str>) {
        if let Some(v) = value {
            self.text.push_str(v);
        }
        if value.is_none() && !self.nullable {
            self.nullable = true;
            self.present = vec![true; self.ends.len()];
        }
        if self.nullable {
            self.present.push(value.is_some());
        }
        self.ends.push(self.text.len());
    }
}

impl<'a> FromIterator<Option<&'a str>> for Strings {
    fn from_iter<I: IntoIterator<Item = Option<&'a str>>>(iter: I) -> Self {
        let mut out = Strings::default();
        for v in iter {
            out.push(v);
        }
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
    let mut out: Vec<Decoded> = fields
        .iter()
        .map(|f| match f.kind {
            Kind::Utf8 => Decoded::Utf8(Strings::default()),
            Kind::Date => Decoded::Date(Vec::with_capacity(total)),
            Kind::Int32 => Decoded::Int32(Vec::with_capacity(total)),
        })
        .collect();
    for g in 0..reader.num_row_groups() {
        let group = reader.get_row_group(g)?;
        let rows = usize::try_from(group.metadata().num_rows()).unwrap_or(0);
        for ((field, &position), column) in fields.iter().zip(&positions).zip(out.iter_mut()) {
            let reader = group.get_column_reader(position)?;
            decode_group(reader, field, rows, column)?;
        }
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
            let mut next = values.iter();
            for row in 0..rows {
                if is_present(field, &defs, row) {
                    let value = next.next().ok_or_else(short)?;
                    let text = simdutf8::basic::from_utf8(value.data())
                        .map_err(|_| schema_error(field.name, "a value is not UTF-8"))?;
                    strings.push(Some(text));
                } else {
                    strings.push(None);
                }
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
