//! The `organisations` file kind: organisations keyed by their code (`id`), inserted or
//! updated (unchanged when equal), with the same field rules as `POST /organisations`.
//! Columns and rules: `docs/INTAKE.md`, "organisations".

use crate::domain::registry::{
    Organisation, OrganisationKind, RegistryStatus, check_organisation_id, parse_status,
};
use crate::domain::{Atvk, FieldError};
use crate::intake::cells::{naming, or_default, parse_cells, required};
use crate::intake::kind::{Batch, IntakeContext, IntakeKind, Planned, RowRules, Upsert, stored};
use crate::intake::summary::{ImportRequest, IntakeError};
use crate::ports::{Record, RecordStore};
use crate::services::registry::{check_organisation_fields, parse_kind};
use crate::store::codec::to_data;
use crate::store::keys;

/// Columns of an organisations file (a CSV header may list them in any order).
pub const COLUMNS: &[&str] = &[
    "id",
    "kind",
    "name",
    "atvk",
    "registration_number",
    "status",
];

/// One validated organisation row.
#[derive(Debug, Clone, PartialEq)]
pub struct OrganisationRow {
    /// The code.
    pub id: String,
    /// What it is.
    pub kind: OrganisationKind,
    /// Name (trimmed).
    pub name: String,
    /// Territory.
    pub atvk: Atvk,
    /// Registration number, if given.
    pub registration_number: Option<String>,
    /// Status (`active` when empty).
    pub status: RegistryStatus,
}

/// Validates one row (values aligned with [`COLUMNS`]); returns every violation.
pub fn organisation_from_row(
    values: Vec<Option<String>>,
) -> Result<OrganisationRow, Vec<FieldError>> {
    parse_cells(values, COLUMNS, |cells, errors| {
        let get = |i: usize| cells.get(i);
        let id = required("id", get(0), errors, |id| {
            check_organisation_id(id).map(|()| id.to_owned())
        });
        let kind = required("kind", get(1), errors, |raw| {
            parse_kind(raw).map_err(|reason| naming(raw, reason))
        });
        let (atvk, registration_number) = check_organisation_fields(
            get(2).unwrap_or_default(),
            get(3).unwrap_or_default(),
            get(4),
            errors,
        );
        let status = or_default(
            "status",
            get(5),
            RegistryStatus::Active,
            errors,
            parse_status,
        );
        Some(OrganisationRow {
            id: id?,
            kind: kind?,
            name: get(2).unwrap_or_default().to_owned(),
            atvk: atvk?,
            registration_number,
            status: status?,
        })
    })
}

/// The `organisations` kind (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct OrganisationsKind;

impl IntakeKind for OrganisationsKind {
    type Row = OrganisationRow;

    const COLUMNS: &'static [&'static str] = COLUMNS;
    const MAX_OPS_PER_ROW: usize = 1;
    const RULES: RowRules<OrganisationRow> = |values, _today| organisation_from_row(values);

    async fn plan<R: RecordStore>(
        &self,
        ctx: &IntakeContext<R>,
        _request: &ImportRequest,
        _row: u64,
        row: &OrganisationRow,
        batch: &mut Batch,
    ) -> Result<Planned, IntakeError> {
        let key = keys::organisation(&row.id);
        if batch.touches(&key) {
            return Ok(Planned::CommitFirst);
        }
        let upsert = Upsert::of(
            stored(&ctx.records, &key).await?,
            || Organisation {
                id: row.id.clone(),
                kind: row.kind,
                name: row.name.clone(),
                atvk: row.atvk.clone(),
                registration_number: row.registration_number.clone(),
                status: row.status,
                created_at: ctx.clock.now(),
            },
            |existing| Organisation {
                kind: row.kind,
                name: row.name.clone(),
                atvk: row.atvk.clone(),
                registration_number: row.registration_number.clone(),
                status: row.status,
                ..existing.clone()
            },
        );
        // An update keeps the stored fields the type does not model.
        batch.upsert(
            upsert,
            |org| Ok(vec![Record::new(key, to_data(&org)?)]),
            |stored, org| Ok(Record::new(stored.key.clone(), stored.data_with(&org)?)),
        )?;
        Ok(Planned::Added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::cells::row_values as row;

    fn fields(v: [&str; 6]) -> Vec<String> {
        organisation_from_row(row(v))
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn a_valid_row_parses() {
        let o = organisation_from_row(row([
            "riga-sd",
            "municipality_social_service",
            " Rīgas sociālais dienests ",
            "0010000",
            "90000012345",
            "",
        ]))
        .unwrap();
        assert_eq!(o.name, "Rīgas sociālais dienests");
        assert_eq!(o.status, RegistryStatus::Active);
        assert_eq!(o.registration_number.as_deref(), Some("90000012345"));
    }

    #[test]
    fn each_rule_names_its_field() {
        let ok = ["riga-sd", "school", "Skola", "0010000", "", "inactive"];
        assert!(organisation_from_row(row(ok)).is_ok());
        let with = |i: usize, v: &'static str| {
            let mut r = ok;
            r[i] = v;
            fields(r)
        };
        assert_eq!(with(0, ""), ["id"]);
        assert_eq!(with(0, "Riga SD"), ["id"]);
        assert_eq!(with(1, ""), ["kind"]);
        assert_eq!(with(1, "hospital"), ["kind"]);
        assert_eq!(with(2, ""), ["name"]);
        assert_eq!(with(3, ""), ["atvk"]);
        assert_eq!(with(3, "12"), ["atvk"]);
        assert_eq!(with(4, "123"), ["registration_number"]);
        assert_eq!(with(5, "closed"), ["status"]);
        assert_eq!(
            fields(["", "x", "", "1", "2", "y"]),
            [
                "id",
                "kind",
                "name",
                "atvk",
                "registration_number",
                "status"
            ]
        );
    }
}
