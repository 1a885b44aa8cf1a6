//! The `specialists` file kind: specialists keyed by the partner's own `external_id`
//! (scoped by the organisation the file comes from), inserted or updated (unchanged when
//! equal; certifications are kept) with the same rules as `POST`/`PUT /specialists`
//! ([`check_specialist_fields`], [`check_organisations_exist`]). Columns and rules:
//! `docs/INTAKE.md`, "specialists".

use crate::domain::registry::{
    Profession, RegistryStatus, Specialist, parse_profession, parse_status,
};
use crate::domain::{FieldError, SpecialistId};
use crate::intake::cells::{external_id, naming, or_default, parse_cells, required};
use crate::intake::kind::{Batch, IntakeContext, IntakeKind, Planned, RowRules, Upsert, indexed};
use crate::intake::summary::{ImportRequest, IntakeError, service_error};
use crate::ports::{Record, RecordStore};
use crate::services::registry::{
    NewSpecialistInput, check_organisations_exist, check_specialist_fields,
};
use crate::store::codec::to_data;
use crate::store::keys;
use serde_json::json;

/// Columns of a specialists file (a CSV header may list them in any order).
pub const COLUMNS: &[&str] = &[
    "external_id",
    "given_name",
    "family_name",
    "profession",
    "organisations",
    "status",
];

/// Separator of the organisation codes in the `organisations` column.
pub const ORGANISATION_SEPARATOR: char = '|';

/// One validated specialist row.
#[derive(Debug, Clone)]
pub struct SpecialistRow {
    /// The partner's id of the specialist (the idempotency key).
    pub external_id: String,
    /// The specialist's fields, as the API takes them (names trimmed, codes without repeats).
    pub input: NewSpecialistInput,
}

/// Validates one row (values aligned with [`COLUMNS`]); returns every violation.
pub fn specialist_from_row(values: Vec<Option<String>>) -> Result<SpecialistRow, Vec<FieldError>> {
    parse_cells(values, COLUMNS, |cells, errors| {
        let get = |i: usize| cells.get(i);
        let external_id = external_id("external_id", get(0), errors);
        let profession = required("profession", get(3), errors, |raw| {
            parse_profession(raw).map_err(|reason| naming(raw, reason))
        });
        let status = or_default(
            "status",
            get(5),
            RegistryStatus::Active,
            errors,
            parse_status,
        );
        let input = NewSpecialistInput {
            given_name: get(1).unwrap_or_default().to_owned(),
            family_name: get(2).unwrap_or_default().to_owned(),
            profession: profession.unwrap_or(Profession::Other),
            organisations: get(4)
                .unwrap_or_default()
                .split(ORGANISATION_SEPARATOR)
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect(),
            status: status.unwrap_or_default(),
        };
        let (organisations, rule_errors) = check_specialist_fields(&input);
        errors.extend(rule_errors);
        profession?;
        status?;
        Some(SpecialistRow {
            external_id: external_id?,
            input: NewSpecialistInput {
                organisations,
                ..input
            },
        })
    })
}

/// The `specialists` kind (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct SpecialistsKind;

impl IntakeKind for SpecialistsKind {
    type Row = SpecialistRow;

    const COLUMNS: &'static [&'static str] = COLUMNS;
    // The specialist and its external-id index entry.
    const MAX_OPS_PER_ROW: usize = 2;
    const RULES: RowRules<SpecialistRow> = |values, _today| specialist_from_row(values);

    async fn plan<R: RecordStore>(
        &self,
        ctx: &IntakeContext<R>,
        request: &ImportRequest,
        row: u64,
        value: &SpecialistRow,
        batch: &mut Batch,
    ) -> Result<Planned, IntakeError> {
        let external_key = keys::specialist_external(&request.organisation, &value.external_id);
        if batch.touches(&external_key) {
            return Ok(Planned::CommitFirst);
        }
        let mut errors = Vec::new();
        check_organisations_exist(
            &ctx.records,
            "organisations",
            &value.input.organisations,
            &mut errors,
        )
        .await
        .map_err(service_error)?;
        if !errors.is_empty() {
            // The file's column is one list: name the column, keep the API's reason.
            batch.reject_all(
                row,
                errors
                    .into_iter()
                    .map(|e| FieldError::new("organisations", e.reason))
                    .collect(),
            );
            return Ok(Planned::Added);
        }
        let input = &value.input;
        let stored = indexed(&ctx.records, &external_key, "specialist", keys::specialist).await?;
        // Later rows of the same specialist commit first, whatever this one writes.
        batch.touch(external_key.clone());
        let upsert = Upsert::of(
            stored,
            || Specialist {
                id: SpecialistId::from_uuid(ctx.ids.new_id()),
                given_name: input.given_name.clone(),
                family_name: input.family_name.clone(),
                profession: input.profession,
                organisations: input.organisations.clone(),
                status: input.status,
                certifications: Vec::new(),
                created_at: ctx.clock.now(),
            },
            |existing: &Specialist| Specialist {
                given_name: input.given_name.clone(),
                family_name: input.family_name.clone(),
                profession: input.profession,
                organisations: input.organisations.clone(),
                status: input.status,
                ..existing.clone()
            },
        );
        batch.upsert(
            upsert,
            |specialist| {
                Ok(vec![
                    Record::new(keys::specialist(specialist.id), to_data(&specialist)?),
                    Record::new(external_key, json!({"specialist_id": specialist.id})),
                ])
            },
            |stored, specialist| Ok(Record::new(stored.key.clone(), to_data(&specialist)?)),
        )?;
        Ok(Planned::Added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::cells::row_values as row;

    const OK: [&str; 6] = [
        "s-1",
        "Ieva",
        "Kalna",
        "psychologist",
        "clinic-1 | riga-sd|clinic-1",
        "",
    ];

    fn with(i: usize, v: &'static str) -> Vec<String> {
        let mut r = OK;
        r[i] = v;
        specialist_from_row(row(r))
            .map(|_| Vec::new())
            .unwrap_or_else(|e| e.into_iter().map(|e| e.field).collect())
    }

    #[test]
    fn a_valid_row_parses() {
        let s = specialist_from_row(row(OK)).unwrap();
        assert_eq!(s.input.organisations, ["clinic-1", "riga-sd"]);
        assert_eq!(s.input.status, RegistryStatus::Active);
        assert_eq!(s.input.profession, Profession::Psychologist);
    }

    #[test]
    fn each_rule_names_its_field() {
        assert_eq!(with(0, ""), ["external_id"]);
        assert_eq!(with(0, "a b"), ["external_id"]);
        assert_eq!(with(1, ""), ["given_name"]);
        assert_eq!(with(2, ""), ["family_name"]);
        assert_eq!(with(3, ""), ["profession"]);
        assert_eq!(with(3, "wizard"), ["profession"]);
        assert_eq!(with(4, ""), ["organisations"]);
        assert_eq!(with(4, " | "), ["organisations"]);
        assert_eq!(with(5, "gone"), ["status"]);
    }
}
