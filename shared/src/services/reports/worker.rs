//! The reports worker: computes a queued report from the analytics lake and writes its
//! files (issue #13; `docs/REPORTS.md`).
