//! The `certifications` file kind: certifications of specialists recorded through the
//! `specialists` kind, keyed by specialist (`specialist_external_id`) × instrument or
//! programme × `issued_by` × `valid_from`; a known key updates `valid_to` (unchanged when
//! equal). The same rules as `POST /specialists/{id}/certifications`
//! ([`check_certification_shape`], [`check_certification`]). Columns and rules:
//! `docs/INTAKE.md`, "certifications".

use crate::domain::FieldError;
use crate::domain::registry::{Certification, Specialist};
use crate::intake::cells::{external_id, iso_date, optional, parse_cells};
use crate::intake::kind::{Batch, IntakeContext, IntakeKind, Planned, RowRules, Upsert, indexed};
use crate::intake::summary::{ImportRequest, IntakeError, service_error};
use crate::ports::{Record, RecordStore, WriteOp};
use crate::services::registry::{
    NewCertificationInput, check_certification, check_certification_shape,
};
use crate::store::codec::to_data;
use crate::store::keys;
use chrono::NaiveDate;

/// Columns of a certifications file (a CSV header may list them in any order).
pub const COLUMNS: &[&str] = &[
    "specialist_external_id",
    "instrument",
    "programme",
    "issued_by",
    "valid_from",
    "valid_to",
];

/// One validated certification row.
#[derive(Debug, Clone)]
pub struct CertificationRow {
    /// The specialist's `external_id` (of the `specialists` kind, same source organisation).
    pub specialist_external_id: String,
    /// The certification, as the API takes it (values trimmed).
    pub input: NewCertificationInput,
}

/// Validates one row (values aligned with [`COLUMNS`]); returns every violation.
pub fn certification_from_row(
    values: Vec<Option<String>>,
) -> Result<CertificationRow, Vec<FieldError>> {
    parse_cells(values, COLUMNS, |cells, errors| {
        let get = |i: usize| cells.get(i);
        let specialist = external_id("specialist_external_id", get(0), errors);
        let valid_from = optional("valid_from", get(4), errors, iso_date);
        if get(4).is_none() {
            errors.push(FieldError::new("valid_from", "is required"));
        }
        let valid_to = optional("valid_to", get(5), errors, iso_date);
        let input = NewCertificationInput {
            instrument: get(1).map(str::to_owned),
            programme: get(2).map(str::to_owned),
            issued_by: get(3).unwrap_or_default().to_owned(),
            // Unparsed dates are reported above; the remaining rules run on a stand-in.
            valid_from: valid_from.unwrap_or(NaiveDate::MIN),
            valid_to: valid_to.filter(|_| valid_from.is_some()),
        };
        errors.extend(check_certification_shape(&input));
        valid_from?;
        Some(CertificationRow {
            specialist_external_id: specialist?,
            input,
        })
    })
}

/// The `certifications` kind (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct CertificationsKind;

impl IntakeKind for CertificationsKind {
    type Row = CertificationRow;

    const COLUMNS: &'static [&'static str] = COLUMNS;
    const MAX_OPS_PER_ROW: usize = 1;
    const RULES: RowRules<CertificationRow> = |values, _today| certification_from_row(values);

    async fn plan<R: RecordStore>(
        &self,
        ctx: &IntakeContext<R>,
        request: &ImportRequest,
        row: u64,
        value: &CertificationRow,
        batch: &mut Batch,
    ) -> Result<Planned, IntakeError> {
        let external_key =
            keys::specialist_external(&request.organisation, &value.specialist_external_id);
        let stored: Option<(Record, Specialist)> =
            indexed(&ctx.records, &external_key, "specialist", keys::specialist).await?;
        let Some((record, mut specialist)) = stored else {
            batch.reject(
                row,
                FieldError::new(
                    "specialist_external_id",
                    "no specialist with this external_id (import them as specialists first)",
                ),
            );
            return Ok(Planned::Added);
        };
        if batch.touches(&record.key) {
            return Ok(Planned::CommitFirst);
        }
        let errors = check_certification(&ctx.records, &value.input)
            .await
            .map_err(service_error)?;
        if !errors.is_empty() {
            batch.reject_all(row, errors);
            return Ok(Planned::Added);
        }
        // The keyed upsert of one element of the specialist's certifications.
        let input = &value.input;
        let known = specialist.certifications.iter().position(|c| {
            c.instrument == input.instrument
                && c.programme == input.programme
                && c.issued_by == input.issued_by
                && c.valid_from == input.valid_from
        });
        let upsert = Upsert::of(
            known.map(|i| (i, specialist.certifications[i].clone())),
            || Certification {
                id: ctx.ids.new_id().to_string(),
                instrument: input.instrument.clone(),
                programme: input.programme.clone(),
                issued_by: input.issued_by.clone(),
                valid_from: input.valid_from,
                valid_to: input.valid_to,
                recorded_at: ctx.clock.now(),
            },
            |c| Certification {
                valid_to: input.valid_to,
                ..c.clone()
            },
        );
        upsert.count(batch.counts());
        match upsert {
            Upsert::Unchanged => {
                batch.touch(record.key);
                return Ok(Planned::Added);
            }
            Upsert::Update(i, certification) => specialist.certifications[i] = certification,
            Upsert::Insert(certification) => specialist.certifications.push(certification),
        }
        batch.push(WriteOp::PutVersioned {
            record: Record::new(record.key.clone(), to_data(&specialist)?),
            expected: record.version,
        });
        Ok(Planned::Added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::cells::row_values as row;

    const OK: [&str; 6] = ["s-1", "mchat-r", "", "VISC", "2025-01-01", "2026-12-31"];

    fn with(changes: &[(usize, &'static str)]) -> Vec<String> {
        let mut r = OK;
        for (i, v) in changes {
            r[*i] = v;
        }
        certification_from_row(row(r))
            .map(|_| Vec::new())
            .unwrap_or_else(|e| e.into_iter().map(|e| e.field).collect())
    }

    #[test]
    fn a_valid_row_parses() {
        let c = certification_from_row(row(OK)).unwrap();
        assert_eq!(c.input.instrument.as_deref(), Some("mchat-r"));
        assert!(with(&[(1, ""), (2, "cool-kids"), (5, "")]).is_empty());
    }

    #[test]
    fn each_rule_names_its_field() {
        assert_eq!(with(&[(0, "")]), ["specialist_external_id"]);
        assert_eq!(with(&[(1, "")]), ["instrument"]);
        assert_eq!(with(&[(2, "cool-kids")]), ["instrument"]);
        assert_eq!(with(&[(3, "")]), ["issued_by"]);
        assert_eq!(with(&[(4, "")]), ["valid_from"]);
        assert_eq!(with(&[(4, "2025-13-01")]), ["valid_from"]);
        assert_eq!(with(&[(5, "someday")]), ["valid_to"]);
        assert_eq!(with(&[(5, "2024-12-31")]), ["valid_to"]);
    }
}
