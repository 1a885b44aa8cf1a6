//! A text column chunk decoded page by page, straight from the decompressed page buffers
//! into [`Strings`] codes: no value object per row (the parquet crate's column reader makes
//! a reference-counted `ByteArray` for every value, which for the lake's ten million
//! pseudonyms was a third of the decoding time).
//!
//! Handled: data pages v1 and v2, values `PLAIN` or dictionary-coded (`PLAIN_DICTIONARY`,
//! `RLE_DICTIONARY`) with a `PLAIN` dictionary page, definition levels `RLE` (flat columns:
//! no repetition). [`supported`] tells from the chunk's metadata whether its encodings are
//! these; any other chunk is read by the column reader instead.
//!
//! Formats: Apache Parquet format specification, "Encodings" (`PLAIN` byte arrays: a 4-byte
//! little-endian length then the bytes; the RLE / bit-packing hybrid; dictionary indices:
//! one byte of bit width then the hybrid) and "Data Pages" (v1: levels prefixed with their
//! 4-byte length; v2: levels first, their lengths in the page header).

use super::{ColumnarError, Field, Strings, schema_error};
use parquet::basic::Encoding;
use parquet::column::page::{Page, PageReader};
use parquet::file::metadata::ColumnChunkMetaData;

/// Whether every encoding of the chunk is one this module decodes.
pub(super) fn supported(chunk: &ColumnChunkMetaData) -> bool {
    chunk.encodings().all(|e| {
        matches!(
            e,
            Encoding::PLAIN | Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY | Encoding::RLE
        )
    })
}

/// Appends the codes of a chunk's `rows` rows to `strings`.
pub(super) fn decode_text(
    pages: Box<dyn PageReader>,
    field: &Field,
    rows: usize,
    strings: &mut Strings,
) -> Result<(), ColumnarError> {
    let bad = |reason: &str| schema_error(field.name, reason.to_string());
    let start = strings.codes.len();
    // The current dictionary page's values as codes of `strings`.
    let mut dictionary: Vec<u32> = Vec::new();
    let mut levels: Vec<u32> = Vec::new();
    let mut indices: Vec<u32> = Vec::new();
    for page in pages {
        let page = page?;
        // A data page's definition levels (RLE / bit-packing hybrid, none for a required
        // column), its values and its number of entries (values and nulls).
        let (levels_encoded, data, entries, encoding) = match &page {
            Page::DictionaryPage {
                buf,
                num_values,
                encoding,
                ..
            } => {
                if !matches!(encoding, Encoding::PLAIN | Encoding::PLAIN_DICTIONARY) {
                    return Err(bad("a dictionary page of an unexpected encoding"));
                }
                dictionary.clear();
                let mut values = Plain { data: buf, at: 0 };
                for _ in 0..*num_values {
                    let value = values.next(field)?;
                    dictionary.push(strings.code_of(value));
                }
                continue;
            }
            Page::DataPage {
                buf,
                num_values,
                encoding,
                def_level_encoding,
                ..
            } => {
                if !field.nullable {
                    (&buf[..0], &buf[..], *num_values, *encoding)
                } else {
                    // v1: the levels prefixed with their length.
                    if *def_level_encoding != Encoding::RLE {
                        return Err(bad("definition levels of an unexpected encoding"));
                    }
                    let length = buf
                        .get(..4)
                        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
                        .ok_or_else(|| bad("a truncated page"))?;
                    let levels = buf
                        .get(4..4 + length)
                        .ok_or_else(|| bad("a truncated page"))?;
                    (levels, &buf[4 + length..], *num_values, *encoding)
                }
            }
            Page::DataPageV2 {
                buf,
                num_values,
                encoding,
                def_levels_byte_len,
                rep_levels_byte_len,
                ..
            } => {
                // v2: the levels first, their lengths in the page header.
                if *rep_levels_byte_len != 0 {
                    return Err(bad("repetition levels in a flat column"));
                }
                let length = *def_levels_byte_len as usize;
                let levels = buf.get(..length).ok_or_else(|| bad("a truncated page"))?;
                (levels, &buf[length..], *num_values, *encoding)
            }
        };
        let entries = entries as usize;
        if field.nullable {
            levels.clear();
            hybrid(levels_encoded, 1, entries, &mut levels).map_err(bad)?;
        }
        let present = field.nullable.then_some(levels.as_slice());
        values(
            strings,
            (data, encoding, entries, present),
            &dictionary,
            &mut indices,
            field,
        )?;
    }
    if strings.codes.len() - start != rows {
        return Err(bad("another number of values than rows"));
    }
    Ok(())
}

/// Appends the codes of one data page's `entries` (each a value or, where its level is 0,
/// a null) to `strings`.
fn values(
    strings: &mut Strings,
    (data, encoding, entries, present): (&[u8], Encoding, usize, Option<&[u32]>),
    dictionary: &[u32],
    indices: &mut Vec<u32>,
    field: &Field,
) -> Result<(), ColumnarError> {
    let bad = |reason: &str| schema_error(field.name, reason.to_string());
    let count = present.map_or(entries, |levels| {
        levels.iter().filter(|level| **level > 0).count()
    });
    match encoding {
        Encoding::PLAIN => {
            let mut plain = Plain { data, at: 0 };
            strings.codes.reserve(entries);
            for entry in 0..entries {
                if present.is_some_and(|levels| levels[entry] == 0) {
                    strings.codes.push(Strings::NULL);
                } else {
                    let value = plain.next(field)?;
                    let code = strings.code_of(value);
                    strings.codes.push(code);
                }
            }
        }
        Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY => {
            indices.clear();
            if count > 0 {
                let (&width, encoded) =
                    data.split_first().ok_or_else(|| bad("a truncated page"))?;
                hybrid(encoded, width, count, indices).map_err(bad)?;
            }
            let code = |index: u32| {
                dictionary
                    .get(index as usize)
                    .copied()
                    .ok_or_else(|| bad("a dictionary index past the dictionary"))
            };
            strings.codes.reserve(entries);
            match present {
                None => {
                    for index in indices.iter() {
                        strings.codes.push(code(*index)?);
                    }
                }
                Some(levels) => {
                    let mut next = indices.iter();
                    for level in levels.iter().take(entries) {
                        if *level == 0 {
                            strings.codes.push(Strings::NULL);
                        } else {
                            let index = next.next().ok_or_else(|| bad("a truncated page"))?;
                            strings.codes.push(code(*index)?);
                        }
                    }
                }
            }
        }
        _ => return Err(bad("values of an unexpected encoding")),
    }
    Ok(())
}

/// `PLAIN` byte arrays one after another.
struct Plain<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Plain<'a> {
    fn next(&mut self, field: &Field) -> Result<&'a str, ColumnarError> {
        let truncated = || schema_error(field.name, "a truncated page");
        let length = self
            .data
            .get(self.at..self.at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(truncated)?;
        let bytes = self
            .data
            .get(self.at + 4..self.at + 4 + length)
            .ok_or_else(truncated)?;
        self.at += 4 + length;
        simdutf8::basic::from_utf8(bytes)
            .map_err(|_| schema_error(field.name, "a value is not UTF-8"))
    }
}

/// Decodes `count` values of the RLE / bit-packing hybrid of `width` bits into `out`.
pub(super) fn hybrid(
    data: &[u8],
    width: u8,
    count: usize,
    out: &mut Vec<u32>,
) -> Result<(), &'static str> {
    let width = usize::from(width);
    if width > 32 {
        return Err("a bit width over 32");
    }
    let value_bytes = width.div_ceil(8);
    let mask: u64 = if width == 32 {
        u64::from(u32::MAX)
    } else {
        (1u64 << width) - 1
    };
    let target = out.len() + count;
    out.reserve(count);
    let mut at = 0;
    while out.len() < target {
        let header = varint(data, &mut at).ok_or("a truncated run header")?;
        let left = target - out.len();
        if header & 1 == 0 {
            // A run of one repeated value.
            let run = (header >> 1) as usize;
            if run == 0 {
                return Err("an empty run");
            }
            let bytes = data.get(at..at + value_bytes).ok_or("a truncated run")?;
            at += value_bytes;
            let mut word = [0u8; 4];
            word[..value_bytes].copy_from_slice(bytes);
            let value = u32::from_le_bytes(word);
            out.extend(std::iter::repeat_n(value, run.min(left)));
        } else {
            // Groups of eight values, `width` bits each, least significant bit first.
            let groups = (header >> 1) as usize;
            if groups == 0 {
                return Err("an empty run");
            }
            let length = groups * width;
            let packed = data.get(at..).ok_or("a truncated run")?;
            let packed = &packed[..length.min(packed.len())];
            let take = (groups * 8).min(left);
            if take * width > packed.len() * 8 {
                return Err("a truncated run");
            }
            for k in 0..take {
                let bit = k * width;
                let byte = bit / 8;
                let mut word = [0u8; 8];
                let available = (packed.len() - byte).min(8);
                word[..available].copy_from_slice(&packed[byte..byte + available]);
                out.push(((u64::from_le_bytes(word) >> (bit % 8)) & mask) as u32);
            }
            at += length;
        }
    }
    Ok(())
}

/// An unsigned LEB128 number (at most 32 bits) at `*at`, moving `at` past it.
fn varint(data: &[u8], at: &mut usize) -> Option<u32> {
    let mut value: u64 = 0;
    for shift in (0..35).step_by(7) {
        let byte = *data.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            return u32::try_from(value).ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::hybrid;

    #[test]
    fn hybrid_reads_runs_and_bit_packed_groups() {
        // A run of 5 × 3 (width 2: one value byte), then one bit-packed group of 8 values
        // 0..=3 repeating (width 2: two bytes), read for 11 values.
        let data = [5 << 1, 3, (1 << 1) | 1, 0b1110_0100, 0b1110_0100];
        let mut out = vec![9];
        hybrid(&data, 2, 11, &mut out).unwrap();
        assert_eq!(out, [9, 3, 3, 3, 3, 3, 0, 1, 2, 3, 0, 1]);
    }

    #[test]
    fn hybrid_reads_wide_values_and_long_headers() {
        // A run of 200 (header 400: a two-byte varint) of 70,000 (width 17: three bytes).
        let data = [0x90, 0x03, 0x70, 0x11, 0x01];
        let mut out = Vec::new();
        hybrid(&data, 17, 200, &mut out).unwrap();
        assert_eq!(out.len(), 200);
        assert!(out.iter().all(|v| *v == 70_000));
    }

    #[test]
    fn hybrid_refuses_truncated_and_impossible_input() {
        let mut out = Vec::new();
        assert_eq!(hybrid(&[], 1, 1, &mut out), Err("a truncated run header"));
        assert_eq!(hybrid(&[4 << 1], 8, 4, &mut out), Err("a truncated run"));
        assert_eq!(
            hybrid(&[(2 << 1) | 1, 0xFF], 8, 16, &mut out),
            Err("a truncated run")
        );
        assert_eq!(hybrid(&[0], 1, 1, &mut out), Err("an empty run"));
        assert_eq!(hybrid(&[0], 33, 1, &mut out), Err("a bit width over 32"));
        // Width 0: every value is 0 and takes no byte.
        out.clear();
        hybrid(&[3 << 1], 0, 3, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0]);
    }
}
