//! The `children` file kind: its columns and the conversion of one row into a valid new
//! child with the same rules as `POST /children`
//! ([`validate_new_child`](crate::domain::new_child::validate_new_child)).

use crate::domain::child::ChildStatus;
use crate::domain::{Child, ChildId, FieldError, PersonalCode, Sex};
use crate::intake::cells::{clip, in_column_order, iso_date, naming, optional, required};
use crate::intake::kind::{Batch, IntakeContext, IntakeKind, Planned, RowRules, dangling};
use crate::intake::kinds::children_fast_path;
use crate::intake::reader::Fields;
use crate::intake::summary::{ImportRequest, IntakeError};
use crate::ports::{Key, Record, RecordStore, WriteOp};
use crate::services::care::{self, CareBasis};
use crate::services::children::{
    NewChildRef, ValidNewChild, check_new_child_ref, validate_new_child_ref,
};
use crate::store::codec::{child_id_of, from_data, ids_of, to_data};
use crate::store::identity::{name_index_entry, name_index_join, name_index_leave};
use crate::store::keys;
use crate::store::register;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

/// Columns of a children file, in this order (a CSV header may list them in any order).
pub const COLUMNS: &[&str] = &[
    "personal_code",
    "given_name",
    "family_name",
    "birth_date",
    "sex",
    "gestational_age_weeks",
    "atvk",
];

/// Validates one row (values by the index of [`COLUMNS`]); returns every violation.
pub fn child_from_row(
    fields: Fields<'_>,
    today: NaiveDate,
) -> Result<ValidNewChild, Vec<FieldError>> {
    child_row(fields, today, validate_new_child_ref)
}

/// Checks one row like [`child_from_row`], with the same violations, without building the
/// child (the import's validation pass keeps nothing of a row).
pub fn check_child_row(fields: Fields<'_>, today: NaiveDate) -> Result<(), Vec<FieldError>> {
    if children_fast_path::plainly_valid(&fields, today) {
        return Ok(());
    }
    check_child_row_full_rules(fields, today)
}

/// [`check_child_row`] without its fast path: the full rules alone. Never inlined, so the
/// fast path's caller does not set up this path's large frame for every row.
#[inline(never)]
pub(crate) fn check_child_row_full_rules(
    fields: Fields<'_>,
    today: NaiveDate,
) -> Result<(), Vec<FieldError>> {
    child_row(fields, today, check_new_child_ref)
}

/// The column parsing shared by [`child_from_row`] and [`check_child_row`]; `rules` applies
/// the rules of a new child to the parsed values.
fn child_row<T>(
    fields: Fields<'_>,
    today: NaiveDate,
    rules: impl FnOnce(NewChildRef<'_>, NaiveDate) -> Result<T, Vec<FieldError>>,
) -> Result<T, Vec<FieldError>> {
    let get = |i: usize| fields.get(i);
    let personal_code = get(0);
    let mut errors = Vec::new();
    let birth_date = required("birth_date", get(3), &mut errors, iso_date);
    let sex = match get(4) {
        Some("female") => Some(Sex::Female),
        Some("male") => Some(Sex::Male),
        None => {
            errors.push(FieldError::new("sex", "is required"));
            None
        }
        Some(other) => {
            errors.push(FieldError::new(
                "sex",
                format!("'{}' is not one of: female, male", clip(other)),
            ));
            None
        }
    };
    let gestational_age_weeks = optional("gestational_age_weeks", get(5), &mut errors, |raw| {
        raw.parse::<u8>()
            .map_err(|_| naming(raw, "is not a whole number of weeks"))
    });
    // When the birth date is unusable, the remaining rules still run, on the date the
    // personal code encodes (so no spurious mismatch) or on today.
    let placeholder_date = || {
        personal_code
            .and_then(|c| PersonalCode::parse(c).ok())
            .and_then(|c| c.birth_date())
            .unwrap_or(today)
    };
    let birth_date_or_placeholder = birth_date.unwrap_or_else(placeholder_date);
    let input = NewChildRef {
        personal_code,
        given_name: get(1).unwrap_or_default(),
        family_name: get(2).unwrap_or_default(),
        birth_date: birth_date_or_placeholder,
        sex: sex.unwrap_or(Sex::Female),
        gestational_age_weeks,
        atvk: get(6),
    };
    match rules(input, today) {
        Ok(child) if errors.is_empty() => Ok(child),
        Ok(_) => Err(errors),
        Err(mut rule_errors) => {
            // Keep the file's column order: parse errors and rule errors together, by column.
            errors.append(&mut rule_errors);
            Err(in_column_order(errors, COLUMNS))
        }
    }
}

/// The `children` kind: a row with a personal code upserts that child (through the
/// keyed-hash index); a row without one is a re-import of a code-less child with the same
/// details, or a new child, flagged as a possible duplicate when names and birth date match.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChildrenKind;

impl IntakeKind for ChildrenKind {
    type Row = ValidNewChild;

    const COLUMNS: &'static [&'static str] = COLUMNS;
    // The child, its code index entry, its name index entry, and the file's
    // organisation's care link.
    // New child with a code: child, code, names, care link, register entry; a changed
    // child: names leave and join, the child, its register entry moved (two).
    const MAX_OPS_PER_ROW: usize = 5;
    const RULES: RowRules<ValidNewChild> =
        |values, today| child_from_row(Fields::from_values(&values), today);

    fn parse_fields(
        &self,
        fields: Fields<'_>,
        today: NaiveDate,
    ) -> Result<ValidNewChild, Vec<FieldError>> {
        child_from_row(fields, today)
    }

    fn check_fields(&self, fields: Fields<'_>, today: NaiveDate) -> Result<(), Vec<FieldError>> {
        check_child_row(fields, today)
    }

    /// Two reads for a window of rows: every row's personal-code index entry (rows with a
    /// code) and names-and-birth-date entry (every row: a new child with a code joins it);
    /// then the children those entries name.
    async fn read_ahead<R: RecordStore>(
        &self,
        ctx: &IntakeContext<R>,
        rows: &[(u64, ValidNewChild)],
        batch: &mut Batch,
    ) -> Result<(), IntakeError> {
        let mut codes = Vec::with_capacity(rows.len());
        let mut names = Vec::with_capacity(rows.len());
        for (_, valid) in rows {
            if let Some(code) = &valid.personal_code {
                codes.push(keys::personal_code(&ctx.code_index.hash(code.as_str())));
            }
            names.push(name_entry(ctx, valid));
        }
        batch
            .read_ahead(&ctx.records, codes.iter().chain(&names).cloned())
            .await?;
        let mut children = Vec::new();
        for key in &codes {
            if let Some(Some(record)) = batch.read_ahead_of(key) {
                children.push(keys::child(child_id_of(record, "child_id")?));
            }
        }
        for key in &names {
            if let Some(Some(record)) = batch.read_ahead_of(key) {
                children.extend(ids_of(record)?.into_iter().map(keys::child));
            }
        }
        batch.read_ahead(&ctx.records, children).await?;
        Ok(())
    }

    async fn plan<R: RecordStore>(
        &self,
        ctx: &IntakeContext<R>,
        request: &ImportRequest,
        _row: u64,
        valid: &ValidNewChild,
        batch: &mut Batch,
    ) -> Result<Planned, IntakeError> {
        let lookup_key = match &valid.personal_code {
            Some(code) => keys::personal_code(&ctx.code_index.hash(code.as_str())),
            None => name_entry(ctx, valid),
        };
        if batch.touches(&lookup_key) {
            return Ok(Planned::CommitFirst);
        }
        batch.touch(lookup_key.clone());
        let now = ctx.clock.now();
        let lookup = batch.read(&ctx.records, &lookup_key).await?;
        if valid.personal_code.is_some() {
            let Some(index) = lookup else {
                // A new child with a code also joins its names-and-birth-date index, so a
                // code-less child registered later with the same details is flagged.
                let name_key = name_entry(ctx, valid);
                if batch.touches(&name_key) {
                    return Ok(Planned::CommitFirst);
                }
                let child = new_child(valid, ChildId::from_uuid(ctx.ids.new_id()), now, request);
                let names = batch.read(&ctx.records, &name_key).await?;
                let mut ids = match &names {
                    Some(record) => ids_of(record)?,
                    None => Vec::new(),
                };
                ids.push(child.id);
                batch.push(WriteOp::PutNew(Record::new(
                    keys::child(child.id),
                    to_data(&child)?,
                )));
                batch.push(WriteOp::PutNew(Record::new(
                    lookup_key,
                    json!({"child_id": child.id}),
                )));
                let names_version = names.map(|r| r.version);
                push_new_child_entries(batch, &child, name_key, ids, names_version, request, now);
                return Ok(Planned::Added);
            };
            let id = child_id_of(&index, "child_id")?;
            let child_key = keys::child(id);
            let stored = batch
                .read(&ctx.records, &child_key)
                .await?
                .ok_or_else(|| dangling(&index, "child", id))?;
            let existing: Child = from_data(&stored)?;
            let updated = apply(existing.clone(), valid);
            if updated == existing {
                batch.counts().unchanged += 1;
            } else {
                // New names or birth date move the child to its new names-and-birth-date
                // index entry, as `PUT /children/{id}` does.
                let name_key_of = |c: &Child| {
                    name_index_entry(&ctx.name_index, &c.given_name, &c.family_name, c.birth_date)
                };
                let (old_key, new_key) = (name_key_of(&existing), name_key_of(&updated));
                if old_key != new_key {
                    if batch.touches(&old_key) || batch.touches(&new_key) {
                        return Ok(Planned::CommitFirst);
                    }
                    if let Some(leave) = name_index_leave(&ctx.records, &old_key, id)
                        .await
                        .map_err(IntakeError::Store)?
                    {
                        batch.push(leave);
                    }
                    let (join, _) = name_index_join(&ctx.records, new_key, id)
                        .await
                        .map_err(IntakeError::Store)?;
                    batch.push(join);
                }
                let moves = register::moved(&ctx.records, &existing, &updated)
                    .await
                    .map_err(IntakeError::Store)?;
                if moves.iter().any(|op| batch.touches(op.key())) {
                    return Ok(Planned::CommitFirst);
                }
                batch.push(WriteOp::PutVersioned {
                    record: Record::new(child_key, stored.data_with(&updated)?),
                    expected: stored.version,
                });
                for op in moves {
                    batch.push(op);
                }
                batch.counts().updated += 1;
            }
            return Ok(Planned::Added);
        }

        // No personal code: the same names, birth date and details as a code-less child
        // already registered is a re-import of that child; same names and birth date with
        // other details is a new child flagged as a possible duplicate.
        let (candidates, index_version) = match &lookup {
            Some(record) => (ids_of(record)?, Some(record.version)),
            None => (Vec::new(), None),
        };
        for id in &candidates {
            let Some(stored) = batch.read(&ctx.records, &keys::child(*id)).await? else {
                continue;
            };
            let existing: Child = from_data(&stored)?;
            if existing.personal_code.is_none() && same_child(&existing, valid) {
                batch.counts().unchanged += 1;
                return Ok(Planned::Added);
            }
        }
        let child = new_child(valid, ChildId::from_uuid(ctx.ids.new_id()), now, request);
        let mut data = to_data(&child)?;
        let mut record = None;
        if !candidates.is_empty() {
            data["possible_duplicate_of"] = json!(candidates);
            batch.counts().possible_duplicates += 1;
            // Listed by `GET /children/duplicates` until a merge clears the flag.
            record = Some(
                Record::new(keys::child(child.id), data.clone())
                    .with_index(keys::DUPLICATE_FLAGS, keys::duplicate_flag_index(child.id)),
            );
        }
        let record = record.unwrap_or_else(|| Record::new(keys::child(child.id), data));
        batch.push(WriteOp::PutNew(record));
        let mut all = candidates;
        all.push(child.id);
        push_new_child_entries(batch, &child, lookup_key, all, index_version, request, now);
        Ok(Planned::Added)
    }
}

/// The writes every new child ends with, after the child itself: its names-and-birth-date
/// index entry at `names_key` listing `ids` (new, or over the stored entry's `version`),
/// the file's organisation's care link and the child's register entry; counted inserted.
fn push_new_child_entries(
    batch: &mut Batch,
    child: &Child,
    names_key: Key,
    ids: Vec<ChildId>,
    version: Option<u64>,
    request: &ImportRequest,
    now: DateTime<Utc>,
) {
    let names = Record::new(names_key, json!({"child_ids": ids}));
    batch.push(match version {
        None => WriteOp::PutNew(names),
        Some(expected) => WriteOp::PutVersioned {
            record: names,
            expected,
        },
    });
    batch.push(WriteOp::PutNew(care::new_link_record(
        child.id,
        &request.organisation,
        CareBasis::Registered,
        now,
    )));
    batch.push(register::new_entry(child));
    batch.counts().inserted += 1;
}

/// The names-and-birth-date index entry of a row's child.
fn name_entry<R>(ctx: &IntakeContext<R>, valid: &ValidNewChild) -> Key {
    name_index_entry(
        &ctx.name_index,
        &valid.given_name,
        &valid.family_name,
        valid.birth_date,
    )
}

fn new_child(
    valid: &ValidNewChild,
    id: ChildId,
    now: DateTime<Utc>,
    request: &ImportRequest,
) -> Child {
    Child {
        id,
        personal_code: valid.personal_code.clone(),
        given_name: valid.given_name.clone(),
        family_name: valid.family_name.clone(),
        birth_date: valid.birth_date,
        sex: valid.sex,
        gestational_age_weeks: valid.gestational_age_weeks,
        atvk: valid.atvk.clone(),
        status: ChildStatus::Active,
        created_at: now,
        registered_by_org: request.organisation.clone(),
    }
}

/// The stored child with the file's values; an empty optional value keeps the stored one.
fn apply(mut child: Child, valid: &ValidNewChild) -> Child {
    child.given_name.clone_from(&valid.given_name);
    child.family_name.clone_from(&valid.family_name);
    child.birth_date = valid.birth_date;
    child.sex = valid.sex;
    if valid.gestational_age_weeks.is_some() {
        child.gestational_age_weeks = valid.gestational_age_weeks;
    }
    if valid.atvk.is_some() {
        child.atvk.clone_from(&valid.atvk);
    }
    child
}

fn same_child(child: &Child, valid: &ValidNewChild) -> bool {
    child.given_name == valid.given_name
        && child.family_name == valid.family_name
        && child.birth_date == valid.birth_date
        && child.sex == valid.sex
        && child.gestational_age_weeks == valid.gestational_age_weeks
        && child.atvk == valid.atvk
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::cells::row_values as row;

    fn today() -> NaiveDate {
        "2026-11-23".parse().unwrap()
    }

    /// The verdict on a row; the validation pass's check-only path must agree exactly.
    fn check(v: [&str; 7]) -> Result<ValidNewChild, Vec<FieldError>> {
        let values = row(v);
        let verdict = child_from_row(Fields::from_values(&values), today());
        assert_eq!(
            check_child_row(Fields::from_values(&values), today()),
            verdict.clone().map(|_| ()),
            "{v:?}"
        );
        verdict
    }

    /// A row with every column given (the given name with spaces around it).
    const FULL: [&str; 7] = [
        "32579461005",
        " Anna ",
        "Bērziņa",
        "2024-10-01",
        "female",
        "39",
        "0001000",
    ];

    fn fields(v: [&str; 7]) -> Vec<String> {
        check(v).unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_full_row_and_a_minimal_row_pass() {
        let c = check(FULL).unwrap();
        assert_eq!(c.given_name, "Anna");
        assert_eq!(c.gestational_age_weeks, Some(39));
        assert_eq!(c.atvk.unwrap().as_str(), "0001000");
        let c = check(["", "A", "B", "2024-10-01", "male", "", ""]).unwrap();
        assert!(c.personal_code.is_none() && c.atvk.is_none());
    }

    #[test]
    fn each_field_rule_names_its_field() {
        let ok = ["", "A", "B", "2024-10-01", "male", "", "0001000"];
        let with = |i: usize, v: &'static str| {
            let mut r = ok;
            r[i] = v;
            r
        };
        assert_eq!(fields(with(0, "123")), ["personal_code"]);
        assert_eq!(fields(with(1, "")), ["given_name"]);
        assert_eq!(fields(with(2, "")), ["family_name"]);
        assert_eq!(fields(with(3, "")), ["birth_date"]);
        assert_eq!(fields(with(3, "01.10.2024")), ["birth_date"]);
        assert_eq!(fields(with(3, "2024-1-01")), ["birth_date"]);
        assert_eq!(fields(with(3, "2030-01-01")), ["birth_date"]);
        assert_eq!(fields(with(3, "2000-01-01")), ["birth_date"]);
        assert_eq!(fields(with(4, "")), ["sex"]);
        assert_eq!(fields(with(4, "F")), ["sex"]);
        assert_eq!(fields(with(5, "forty")), ["gestational_age_weeks"]);
        assert_eq!(fields(with(5, "50")), ["gestational_age_weeks"]);
        assert_eq!(fields(with(6, "12")), ["atvk"]);
    }

    #[test]
    fn owned_and_borrowed_rows_get_the_same_verdict() {
        for v in [
            FULL,
            ["bad", "", "B", "nope", "x", "99", "1"],
            ["", "A", "B", "2024-02-30", "male", "", ""],
        ] {
            assert_eq!(
                (ChildrenKind::RULES)(row(v), today()),
                ChildrenKind.parse_fields(Fields::from_values(&row(v)), today())
            );
        }
    }

    #[test]
    fn dates_are_exactly_yyyy_mm_dd() {
        use crate::intake::cells::parse_iso_date;
        assert_eq!(parse_iso_date("2024-02-29"), "2024-02-29".parse().ok());
        for bad in [
            "2023-02-29",
            "2024-1-01",
            "2024/01/01",
            "24-01-01",
            "2024-01-0x",
            "+024-01-01",
            "2024-01-01 ",
        ] {
            assert_eq!(parse_iso_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_old_code_must_agree_with_the_birth_date() {
        let e = check(["120394-12343", "A", "B", "2024-10-01", "male", "", ""]).unwrap_err();
        assert_eq!(e[0].field, "personal_code");
        assert!(e[0].reason.contains("differs from birth_date"));
    }

    #[test]
    fn every_violation_of_a_row_is_reported_in_column_order() {
        assert_eq!(
            fields(["bad", "", "B", "nope", "x", "99", "1"]),
            [
                "personal_code",
                "given_name",
                "birth_date",
                "sex",
                "gestational_age_weeks",
                "atvk"
            ]
        );
    }
}
