//! The row report of an import: one JSON object per refused field of a row (`row`, `field`,
//! `reason`), in row order, every refused row listed. It is spooled to a temporary file as
//! it is found, never held in memory, so a file of any size is reported whole: the
//! validation pass writes its refusals to one spool; the rows the stored state refused
//! while committing are kept in the record store with each batch (they must survive a crash
//! and a redelivery, see `pipeline.rs`, `commit`) and are merged in by row at the end.

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Seek, Write};
use std::path::Path;
use tempfile::NamedTempFile;

/// One refused row and field, as written to the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// 1-based data row number (the CSV header is not counted).
    pub row: u64,
    /// The field (column), or `row` when the row as a whole is malformed.
    pub field: String,
    /// Why.
    pub reason: String,
}

/// Name prefix of the temporary files reports are spooled to.
pub const SPOOL_PREFIX: &str = "ravis-report-";

/// Removes report spools left in `dir` by a process that ended without dropping them (a
/// Lambda invocation that timed out keeps its `/tmp` for the next one); the number removed.
/// Only for a process that is the sole user of `dir`, at its start, as the intake function's
/// execution environment is.
pub fn remove_stale_spools(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let is_spool = entry
            .file_name()
            .to_string_lossy()
            .starts_with(SPOOL_PREFIX);
        if is_spool && entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// [`remove_stale_spools`], logged: what was removed, or why nothing could be.
pub fn clear_stale_spools(dir: &Path) {
    match remove_stale_spools(dir) {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, "removed report spools of an earlier run"),
        Err(error) => {
            tracing::warn!(%error, dir = %dir.display(), "could not clear old report spools")
        }
    }
}

/// A finished report: a temporary file of JSON Lines, deleted when dropped.
#[derive(Debug)]
pub struct Report {
    file: NamedTempFile,
    entries: u64,
}

impl Report {
    /// A report with no entries (a file rejected whole, or one without refused rows).
    pub fn empty() -> io::Result<Self> {
        ReportWriter::new()?.finish()
    }

    /// The report's file (JSON Lines), for a streaming put or a copy.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// How many entries (refused fields of rows) the report lists.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Reads the whole report back into memory (for tests and small reports).
    pub fn rejections(&self) -> io::Result<Vec<Rejection>> {
        let mut out = Vec::new();
        let mut reader = Entries::open(self.path())?;
        while let Some(r) = reader.next_entry()? {
            out.push(r);
        }
        Ok(out)
    }
}

/// Writes report entries, in row order, to a new temporary file.
pub(crate) struct ReportWriter {
    out: BufWriter<NamedTempFile>,
    entries: u64,
    last_row: u64,
}

impl ReportWriter {
    /// A new, empty report file in the system's temporary directory.
    pub(crate) fn new() -> io::Result<Self> {
        Ok(Self {
            out: BufWriter::with_capacity(
                1 << 16,
                tempfile::Builder::new()
                    .prefix(SPOOL_PREFIX)
                    .suffix(".jsonl")
                    .tempfile()?,
            ),
            entries: 0,
            last_row: 0,
        })
    }

    /// Appends one entry; entries come in row order (a later row never before an earlier one).
    pub(crate) fn push(&mut self, rejection: &Rejection) -> io::Result<()> {
        if rejection.row < self.last_row {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "report entries out of row order: row {} after row {}",
                    rejection.row, self.last_row
                ),
            ));
        }
        self.last_row = rejection.row;
        serde_json::to_writer(&mut self.out, rejection)?;
        self.out.write_all(b"\n")?;
        self.entries += 1;
        Ok(())
    }

    /// Flushes the entries and closes the writer.
    pub(crate) fn finish(self) -> io::Result<Report> {
        let entries = self.entries;
        let mut file = self
            .out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        file.as_file_mut().rewind()?;
        Ok(Report { file, entries })
    }
}

/// Reads a report's entries back in order.
struct Entries {
    lines: BufReader<File>,
    line: String,
}

impl Entries {
    fn open(path: &Path) -> io::Result<Self> {
        Ok(Self {
            lines: BufReader::with_capacity(1 << 16, File::open(path)?),
            line: String::new(),
        })
    }

    fn next_entry(&mut self) -> io::Result<Option<Rejection>> {
        self.line.clear();
        if self.lines.read_line(&mut self.line)? == 0 {
            return Ok(None);
        }
        serde_json::from_str(self.line.trim_end())
            .map(Some)
            .map_err(io::Error::other)
    }
}

/// Merges the validation report with the rows refused while committing into one report in
/// row order. `refused` gives the committed refusals in row order, one batch at a time
/// (`None` at the end); at equal rows the validation entries come first (a row is refused
/// either by validation or by the state, never both, so this only fixes an order).
pub(crate) struct Merge {
    validation: Entries,
    pending: Option<Rejection>,
    out: ReportWriter,
}

impl Merge {
    /// Starts a merge over the validation pass's report.
    pub(crate) fn new(validation: &Report) -> io::Result<Self> {
        let mut validation = Entries::open(validation.path())?;
        let pending = validation.next_entry()?;
        Ok(Self {
            validation,
            pending,
            out: ReportWriter::new()?,
        })
    }

    /// Adds refusals of the commit pass (in row order, after those added before).
    pub(crate) fn add(&mut self, refused: &[Rejection]) -> io::Result<()> {
        for r in refused {
            while let Some(v) = self.pending.take_if(|v| v.row <= r.row) {
                self.out.push(&v)?;
                self.pending = self.validation.next_entry()?;
            }
            self.out.push(r)?;
        }
        Ok(())
    }

    /// Writes the remaining validation entries and closes the merged report.
    pub(crate) fn finish(mut self) -> io::Result<Report> {
        while let Some(v) = self.pending.take() {
            self.out.push(&v)?;
            self.pending = self.validation.next_entry()?;
        }
        self.out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(row: u64, field: &str) -> Rejection {
        Rejection {
            row,
            field: field.into(),
            reason: format!("reason {row} {field}"),
        }
    }

    fn report(entries: &[Rejection]) -> Report {
        let mut w = ReportWriter::new().expect("writer");
        for e in entries {
            w.push(e).expect("push");
        }
        w.finish().expect("finish")
    }

    #[test]
    fn a_report_reads_back_what_was_written() {
        let entries = [r(1, "sex"), r(1, "atvk"), r(7, "row")];
        let report = report(&entries);
        assert_eq!(report.entries(), 3);
        assert_eq!(report.rejections().expect("read"), entries);
        let text = std::fs::read_to_string(report.path()).expect("file");
        assert_eq!(
            text.lines().next(),
            Some(r#"{"row":1,"field":"sex","reason":"reason 1 sex"}"#)
        );
        assert!(
            Report::empty()
                .expect("empty")
                .rejections()
                .expect("read")
                .is_empty()
        );
    }

    #[test]
    fn stale_spools_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().expect("dir");
        for name in [
            "ravis-report-a1.jsonl",
            "ravis-report-b2.jsonl",
            "other.jsonl",
        ] {
            std::fs::write(dir.path().join(name), b"{}").expect("write");
        }
        std::fs::create_dir(dir.path().join("ravis-report-dir")).expect("mkdir");
        assert_eq!(remove_stale_spools(dir.path()).expect("remove"), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["other.jsonl", "ravis-report-dir"]);
        // A new report's file carries the prefix, so a later start finds it.
        let report = Report::empty().expect("empty");
        let name = report.path().file_name().expect("name").to_string_lossy();
        assert!(name.starts_with(SPOOL_PREFIX), "{name}");
    }

    #[test]
    fn entries_out_of_row_order_are_refused() {
        let mut w = ReportWriter::new().expect("writer");
        w.push(&r(5, "a")).expect("push");
        let error = w.push(&r(4, "a")).expect_err("out of order");
        assert!(error.to_string().contains("row 4 after row 5"), "{error}");
    }

    #[test]
    fn merge_interleaves_by_row_over_several_batches() {
        let validation = report(&[r(1, "v"), r(4, "v"), r(4, "w"), r(9, "v"), r(12, "v")]);
        let mut merge = Merge::new(&validation).expect("merge");
        merge.add(&[r(2, "s"), r(3, "s")]).expect("batch 1");
        merge.add(&[]).expect("empty batch");
        merge.add(&[r(10, "s")]).expect("batch 2");
        let merged = merge.finish().expect("finish");
        let rows: Vec<(u64, String)> = merged
            .rejections()
            .expect("read")
            .into_iter()
            .map(|e| (e.row, e.field))
            .collect();
        let expected: Vec<(u64, String)> = [
            (1, "v"),
            (2, "s"),
            (3, "s"),
            (4, "v"),
            (4, "w"),
            (9, "v"),
            (10, "s"),
            (12, "v"),
        ]
        .into_iter()
        .map(|(row, f)| (row, f.to_owned()))
        .collect();
        assert_eq!(rows, expected);
        assert_eq!(merged.entries(), 8);
    }

    #[test]
    fn merge_with_one_side_empty() {
        let validation = report(&[r(3, "v")]);
        let only_validation = Merge::new(&validation)
            .expect("merge")
            .finish()
            .expect("finish");
        assert_eq!(only_validation.rejections().expect("read"), [r(3, "v")]);

        let empty = Report::empty().expect("empty");
        let mut merge = Merge::new(&empty).expect("merge");
        merge.add(&[r(5, "s"), r(8, "s")]).expect("add");
        assert_eq!(
            merge.finish().expect("finish").rejections().expect("read"),
            [r(5, "s"), r(8, "s")]
        );
    }
}
