//! The page decoder (`pages.rs`) against what was written, over the encodings and page
//! layouts a Parquet writer may choose, and the column reader's way for the others.

use super::*;
use parquet::basic::Encoding;

const FIELDS: [Field; 3] = [
    Field::required("child", Kind::Utf8),
    Field::nullable("municipality", Kind::Utf8),
    Field::required("age", Kind::Int32),
];

/// Row `i`: a long pseudonym (many distinct, repeated), a municipality (few distinct,
/// every fifth null), an age.
fn row(i: usize) -> Row {
    let child = format!("{:064x}", (i % 4_000) * 7_919);
    let municipality = (!i.is_multiple_of(5)).then(|| format!("{:07}", (i % 13) * 1000));
    (child, municipality, (i % 18) as i32)
}

type Row = (String, Option<String>, i32);

fn column(chunk: &[Row], i: usize) -> Values<'_> {
    match i {
        0 => text(chunk, |r| &r.0),
        1 => optional_text(chunk, |r| r.1.as_deref()),
        _ => int(chunk, |r| r.2),
    }
}

fn write(rows: &[Row], properties: WriterProperties, group: usize) -> Bytes {
    Bytes::from(encode_with("t", &FIELDS, rows, column, properties, group).unwrap())
}

fn encodings_of(bytes: &Bytes, column: usize) -> Vec<Encoding> {
    let reader = SerializedFileReader::new(bytes.clone()).unwrap();
    let mut all: Vec<Encoding> = (0..reader.num_row_groups())
        .flat_map(|g| {
            reader
                .metadata()
                .row_group(g)
                .column(column)
                .encodings()
                .collect::<Vec<_>>()
        })
        .collect();
    all.sort_by_key(|e| format!("{e:?}"));
    all.dedup();
    all
}

/// Writes 20,000 rows, checks that the text columns are (`by_pages`) or are not decoded by
/// `pages`, and that every value reads back.
fn check(properties: WriterProperties, group: usize, by_pages: bool) -> Bytes {
    let rows: Vec<_> = (0..20_000).map(row).collect();
    let bytes = write(&rows, properties, group);
    let reader = SerializedFileReader::new(bytes.clone()).unwrap();
    for g in 0..reader.num_row_groups() {
        for c in [0, 1] {
            let chunk = reader.metadata().row_group(g).column(c);
            assert_eq!(pages::supported(chunk), by_pages, "group {g} column {c}");
        }
    }
    let decoded = decode(bytes.clone(), &FIELDS).unwrap();
    let mut columns = decoded.into_iter();
    let child = columns.next().unwrap().strings("child").unwrap();
    let municipality = columns.next().unwrap().strings("municipality").unwrap();
    let age = columns.next().unwrap().ints("age").unwrap();
    assert_eq!(child.len(), rows.len());
    assert_eq!(child.distinct(), 4_000);
    assert_eq!(municipality.null_count(), 4_000);
    for (i, (c, m, a)) in rows.iter().enumerate() {
        assert_eq!(child.get(i), Some(c.as_str()), "row {i}");
        assert_eq!(municipality.get(i), m.as_deref(), "row {i}");
        assert_eq!(age[i], *a);
    }
    // Codes in order of first appearance, the same value always the same code.
    assert_eq!(child.codes()[..3], [0, 1, 2]);
    assert_eq!(child.codes()[4_000], 0);
    bytes
}

fn builder() -> parquet::file::properties::WriterPropertiesBuilder {
    WriterProperties::builder().set_compression(Compression::SNAPPY)
}

#[test]
fn dictionary_pages_then_plain_ones_when_the_dictionary_is_full() {
    // A 16 KiB dictionary holds a few hundred pseudonyms: the writer falls back to plain
    // pages within each chunk; several row groups, each with its own dictionary.
    let bytes = check(
        builder()
            .set_dictionary_page_size_limit(16 * 1024)
            .set_data_page_size_limit(8 * 1024)
            .build(),
        7_000,
        true,
    );
    let child = encodings_of(&bytes, 0);
    assert!(child.contains(&Encoding::PLAIN) && child.contains(&Encoding::RLE_DICTIONARY));
}

#[test]
fn data_pages_v2() {
    // Version 2 pages: levels before the compressed values. (A writer falls back from a full
    // dictionary to DELTA_BYTE_ARRAY there: the last test.)
    let bytes = check(
        builder()
            .set_writer_version(WriterVersion::PARQUET_2_0)
            .set_data_page_size_limit(8 * 1024)
            .build(),
        20_000,
        true,
    );
    assert!(encodings_of(&bytes, 0).contains(&Encoding::RLE_DICTIONARY));
    let reader = SerializedFileReader::new(bytes).unwrap();
    let mut pages = reader
        .get_row_group(0)
        .unwrap()
        .get_column_page_reader(1)
        .unwrap();
    assert!(pages.any(|p| matches!(p.unwrap(), parquet::column::page::Page::DataPageV2 { .. })));
}

#[test]
fn plain_pages_only() {
    let bytes = check(
        builder().set_dictionary_enabled(false).build(),
        20_000,
        true,
    );
    assert!(!encodings_of(&bytes, 0).contains(&Encoding::RLE_DICTIONARY));
}

#[test]
fn other_encodings_are_read_by_the_column_reader() {
    // DELTA_BYTE_ARRAY is not one `pages` decodes: the chunk goes the column reader's way.
    let bytes = check(
        builder()
            .set_writer_version(WriterVersion::PARQUET_2_0)
            .set_dictionary_enabled(false)
            .set_column_encoding("child".into(), Encoding::DELTA_BYTE_ARRAY)
            .set_column_encoding("municipality".into(), Encoding::DELTA_LENGTH_BYTE_ARRAY)
            .build(),
        20_000,
        false,
    );
    assert!(encodings_of(&bytes, 0).contains(&Encoding::DELTA_BYTE_ARRAY));
    assert!(encodings_of(&bytes, 1).contains(&Encoding::DELTA_LENGTH_BYTE_ARRAY));
}

#[test]
fn a_page_of_bad_utf8_is_refused_naming_the_column() {
    // Uncompressed plain pages, so the value's bytes can be changed in the file.
    let rows = vec![(String::from("ok"), None, 1)];
    let plain = write(
        &rows,
        WriterProperties::builder()
            .set_dictionary_enabled(false)
            .build(),
        10,
    );
    let mut raw = plain.to_vec();
    let at = raw.windows(2).position(|w| w == b"ok").unwrap();
    raw[at] = 0xFF;
    let error = decode(Bytes::from(raw), &FIELDS).unwrap_err().to_string();
    assert!(
        error.contains("child") && error.contains("UTF-8"),
        "{error}"
    );
}
