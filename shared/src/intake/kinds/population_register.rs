//! The `population-register` file kind: updates about registered children from the
//! population register (a new personal code, an address change, a death, an emigration).
//! Columns and rules: `docs/INTAKE.md`, "population-register". Every change is written to
//! the child's audit trail in the same atomic write as the change itself, so a redelivered
//! or resumed import neither loses nor repeats an entry.

use crate::domain::child::ChildStatus;
use crate::domain::{Atvk, Child, FieldError, PersonalCode};
use crate::intake::cells::{CellError, Cells, clip, iso_date, required};
use crate::intake::kind::{Batch, IntakeContext, IntakeKind, Planned, RowRules, dangling};
use crate::intake::summary::{ImportRequest, IntakeError};
use crate::ports::{Record, RecordStore, StoreError, WriteOp};
use crate::services::audit::{AuditAction, AuditEntity, AuditEvent};
use crate::store::codec::{child_id_of, from_data};
use crate::store::keys;
use chrono::NaiveDate;
use serde_json::{Value, json};

/// Columns of a population-register file (a CSV header may list them in any order).
pub const COLUMNS: &[&str] = &[
    "event",
    "personal_code",
    "new_personal_code",
    "atvk",
    "date",
];

/// Subject of the audit entries the population-register import writes.
pub const AUDIT_SUBJECT: &str = "population-register-import";

/// One validated population-register event.
#[derive(Debug, Clone, PartialEq)]
pub enum RegisterEvent {
    /// The child's personal code was replaced on `date`.
    CodeChange {
        /// The child's current code.
        code: PersonalCode,
        /// The code replacing it.
        new_code: PersonalCode,
        /// When it was replaced.
        date: NaiveDate,
    },
    /// The declared address moved to territory `atvk` with effect from `date`.
    AddressChange {
        /// The child's code.
        code: PersonalCode,
        /// The new territory.
        atvk: Atvk,
        /// Effective date.
        date: NaiveDate,
    },
    /// The child died on `date`.
    Death {
        /// The child's code.
        code: PersonalCode,
        /// Date of death.
        date: NaiveDate,
    },
    /// The child emigrated on `date`.
    Emigration {
        /// The child's code.
        code: PersonalCode,
        /// Date of emigration.
        date: NaiveDate,
    },
}

/// Validates one row (values aligned with [`COLUMNS`]); returns every violation.
pub fn event_from_row(
    values: Vec<Option<String>>,
    today: NaiveDate,
) -> Result<RegisterEvent, Vec<FieldError>> {
    let cells = Cells::new(values, COLUMNS);
    let get = |i: usize| cells.get(i);
    let mut errors = Vec::new();
    let event = get(0);
    let needs_new_code = event == Some("code_change");
    let needs_atvk = event == Some("address_change");
    match event {
        None => errors.push(FieldError::new("event", "is required")),
        Some("code_change" | "address_change" | "death" | "emigration") => {}
        Some(other) => errors.push(FieldError::new(
            "event",
            format!(
                "'{}' is not one of: code_change, address_change, death, emigration",
                clip(other)
            ),
        )),
    }
    let code = |field: &'static str, raw: Option<&str>, errors: &mut Vec<FieldError>| {
        required(field, raw, errors, PersonalCode::parse)
    };
    let personal_code = code("personal_code", get(1), &mut errors);
    let new_code = match (needs_new_code, get(2)) {
        (true, raw) => code("new_personal_code", raw, &mut errors),
        (false, None) => None,
        (false, Some(_)) => {
            errors.push(FieldError::new(
                "new_personal_code",
                "must be empty unless the event is code_change",
            ));
            None
        }
    };
    let atvk = match (needs_atvk, get(3)) {
        (true, raw) => required("atvk", raw, &mut errors, Atvk::parse),
        (false, None) => None,
        (false, Some(_)) => {
            errors.push(FieldError::new(
                "atvk",
                "must be empty unless the event is address_change",
            ));
            None
        }
    };
    let date = required("date", get(4), &mut errors, |raw| match iso_date(raw)? {
        d if d > today => Err(CellError::Future),
        d => Ok(d),
    });
    if let (Some(old), Some(new)) = (&personal_code, &new_code)
        && old == new
    {
        errors.push(FieldError::new(
            "new_personal_code",
            "is the same as personal_code",
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // Every value the event needs was checked present above.
    let (Some(event), Some(code), Some(date)) = (event, personal_code, date) else {
        return Err(vec![FieldError::new("row", "incomplete")]);
    };
    Ok(match (event, new_code, atvk) {
        ("code_change", Some(new_code), _) => RegisterEvent::CodeChange {
            code,
            new_code,
            date,
        },
        ("address_change", _, Some(atvk)) => RegisterEvent::AddressChange { code, atvk, date },
        ("death", ..) => RegisterEvent::Death { code, date },
        _ => RegisterEvent::Emigration { code, date },
    })
}

impl RegisterEvent {
    fn code(&self) -> &PersonalCode {
        match self {
            Self::CodeChange { code, .. }
            | Self::AddressChange { code, .. }
            | Self::Death { code, .. }
            | Self::Emigration { code, .. } => code,
        }
    }
}

/// The `population-register` kind (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct PopulationRegisterKind;

/// What an event does to the stored child.
enum Effect {
    Unchanged,
    Reject(FieldError),
    Change {
        data: Value,
        fields: Vec<String>,
        new_index: Option<crate::ports::Key>,
    },
}

impl IntakeKind for PopulationRegisterKind {
    type Row = RegisterEvent;

    const COLUMNS: &'static [&'static str] = COLUMNS;
    // The child, the new code's index entry, and the audit entry with its head.
    // The child, a new code's index entry, the register entry moved (two), the audit entry
    // and its chain head.
    const MAX_OPS_PER_ROW: usize = 10;
    const RULES: RowRules<RegisterEvent> = event_from_row;

    async fn plan<R: RecordStore>(
        &self,
        ctx: &IntakeContext<R>,
        request: &ImportRequest,
        row: u64,
        event: &RegisterEvent,
        batch: &mut Batch,
    ) -> Result<Planned, IntakeError> {
        ctx.audit_trail()?;
        let code_key = keys::personal_code(&ctx.code_index.hash(event.code().as_str()));
        let new_key = match event {
            RegisterEvent::CodeChange { new_code, .. } => {
                Some(keys::personal_code(&ctx.code_index.hash(new_code.as_str())))
            }
            _ => None,
        };
        if batch.touches(&code_key) || new_key.as_ref().is_some_and(|k| batch.touches(k)) {
            return Ok(Planned::CommitFirst);
        }
        let Some(index) = ctx.records.get(&code_key).await? else {
            batch.reject(
                row,
                FieldError::new("personal_code", "no child with this personal code"),
            );
            return Ok(Planned::Added);
        };
        let id = child_id_of(&index, "child_id")?;
        let child_key = keys::child(id);
        if batch.touches(&child_key) {
            return Ok(Planned::CommitFirst);
        }
        let stored = ctx
            .records
            .get(&child_key)
            .await?
            .ok_or_else(|| dangling(&index, "child", id))?;
        let child: Child = from_data(&stored)?;
        let new_index_owner = match &new_key {
            Some(k) => match ctx.records.get(k).await? {
                Some(r) => Some(child_id_of(&r, "child_id")?),
                None => None,
            },
            None => None,
        };
        let now = ctx.clock.now();
        let effect = effect(event, &child, &stored.data, new_index_owner, new_key, now);
        match effect {
            Effect::Unchanged => batch.counts().unchanged += 1,
            Effect::Reject(e) => batch.reject(row, e),
            Effect::Change {
                data,
                fields,
                new_index,
            } => {
                let audit_event = AuditEvent {
                    fields,
                    ..AuditEvent::all(id, AuditEntity::Child, AuditAction::Update)
                };
                // A move to another territory moves the child's register entry.
                let after: Child = serde_json::from_value(data.clone()).map_err(|e| {
                    IntakeError::Store(StoreError::Invalid(format!("updated child: {e}")))
                })?;
                let moves = crate::store::register::moved(&ctx.records, &child, &after)
                    .await
                    .map_err(IntakeError::Store)?;
                if moves.iter().any(|op| batch.touches(op.key())) {
                    return Ok(Planned::CommitFirst);
                }
                let (entry, audit_ops) = ctx
                    .audit_row(
                        request,
                        row,
                        AUDIT_SUBJECT,
                        "population register update",
                        &audit_event,
                    )
                    .await?;
                batch.touch(code_key);
                for op in moves {
                    batch.push(op);
                }
                batch.push(WriteOp::PutVersioned {
                    record: Record::new(child_key, data),
                    expected: stored.version,
                });
                if let Some(key) = new_index {
                    batch.push(WriteOp::PutNew(Record::new(key, json!({"child_id": id}))));
                }
                batch.push_audited(entry, audit_ops);
                // A new personal code: the receivers get the child's results again under it
                // (export jobs in the same write; the exports sweep queues them).
                if let (RegisterEvent::CodeChange { .. }, Some(outbox)) = (event, &ctx.outbox) {
                    for op in outbox
                        .for_child(id, crate::domain::export::ExportCause::PersonalCode)
                        .map_err(IntakeError::Store)?
                        .writes
                    {
                        batch.push(op);
                    }
                }
                batch.counts().updated += 1;
            }
        }
        Ok(Planned::Added)
    }
}

fn date_field(data: &Value, field: &str) -> Option<NaiveDate> {
    data.get(field)
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

/// Decides what `event` does to the stored child (`data` is its stored record).
fn effect(
    event: &RegisterEvent,
    child: &Child,
    data: &Value,
    new_index_owner: Option<crate::domain::ChildId>,
    new_key: Option<crate::ports::Key>,
    now: chrono::DateTime<chrono::Utc>,
) -> Effect {
    let mut data = data.clone();
    let status_date = date_field(&data, "status_date");
    match event {
        RegisterEvent::CodeChange {
            code,
            new_code,
            date,
        } => {
            if child.personal_code.as_ref() == Some(new_code) {
                return Effect::Unchanged; // already applied (a re-drop of the same update)
            }
            if child.personal_code.as_ref() != Some(code) {
                return Effect::Reject(FieldError::new(
                    "personal_code",
                    "is no longer this child's current personal code (it was replaced earlier)",
                ));
            }
            if new_index_owner.is_some_and(|owner| owner != child.id) {
                return Effect::Reject(FieldError::new(
                    "new_personal_code",
                    "is already the personal code of another child (merge them explicitly if they are the same child)",
                ));
            }
            if let Some(encoded) = new_code.birth_date()
                && encoded != child.birth_date
            {
                return Effect::Reject(FieldError::new(
                    "new_personal_code",
                    format!(
                        "encodes birth date {encoded}, which differs from the child's birth date {}",
                        child.birth_date
                    ),
                ));
            }
            let mut history = data
                .get("identifier_history")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            history.push(json!({
                "personal_code": code.as_str(),
                "replaced_on": date,
                "recorded_at": now,
            }));
            data["identifier_history"] = Value::Array(history);
            data["personal_code"] = json!(new_code);
            Effect::Change {
                data,
                fields: vec!["personal_code".into(), "identifier_history".into()],
                new_index: new_index_owner.is_none().then_some(new_key).flatten(),
            }
        }
        RegisterEvent::AddressChange { atvk, date, .. } => {
            let known = date_field(&data, "atvk_effective_date");
            if known.is_some_and(|k| *date < k) {
                return Effect::Unchanged; // older than the address already recorded
            }
            if child.atvk.as_ref() == Some(atvk) && known == Some(*date) {
                return Effect::Unchanged;
            }
            data["atvk"] = json!(atvk);
            data["atvk_effective_date"] = json!(date);
            Effect::Change {
                data,
                fields: vec!["atvk".into(), "atvk_effective_date".into()],
                new_index: None,
            }
        }
        RegisterEvent::Death { date, .. } => {
            if child.status == ChildStatus::Deceased {
                return Effect::Unchanged;
            }
            data["status"] = json!(ChildStatus::Deceased);
            data["status_date"] = json!(date);
            Effect::Change {
                data,
                fields: vec!["status".into(), "status_date".into()],
                new_index: None,
            }
        }
        RegisterEvent::Emigration { date, .. } => match child.status {
            ChildStatus::MovedAbroad => Effect::Unchanged,
            ChildStatus::Deceased if status_date.is_none_or(|d| *date <= d) => Effect::Unchanged,
            ChildStatus::Deceased => Effect::Reject(FieldError::new(
                "date",
                "the child is recorded as deceased before this emigration date",
            )),
            _ => {
                data["status"] = json!(ChildStatus::MovedAbroad);
                data["status_date"] = json!(date);
                Effect::Change {
                    data,
                    fields: vec!["status".into(), "status_date".into()],
                    new_index: None,
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::cells::row_values as row;

    fn today() -> NaiveDate {
        "2026-11-23".parse().unwrap()
    }

    fn fields(v: [&str; 5]) -> Vec<String> {
        event_from_row(row(v), today())
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    const CODE: &str = "32579461005";

    #[test]
    fn each_event_parses() {
        assert!(matches!(
            event_from_row(row(["death", CODE, "", "", "2026-01-01"]), today()),
            Ok(RegisterEvent::Death { .. })
        ));
        assert!(matches!(
            event_from_row(row(["emigration", CODE, "", "", "2026-01-01"]), today()),
            Ok(RegisterEvent::Emigration { .. })
        ));
        assert!(matches!(
            event_from_row(
                row(["address_change", CODE, "", "0001000", "2026-01-01"]),
                today()
            ),
            Ok(RegisterEvent::AddressChange { .. })
        ));
        assert!(matches!(
            event_from_row(
                row(["code_change", CODE, "32579461016", "", "2026-01-01"]),
                today()
            ),
            Ok(RegisterEvent::CodeChange { .. })
        ));
    }

    #[test]
    fn the_pipeline_reads_rows_through_the_default_parse_fields() {
        use crate::intake::IntakeKind;
        use crate::intake::reader::Fields;
        for v in [
            ["death", CODE, "", "", "2026-01-01"],
            ["code_change", CODE, "bad", "", "2026-01-01"],
        ] {
            assert_eq!(
                PopulationRegisterKind.parse_fields(Fields::from_values(&row(v)), today()),
                event_from_row(row(v), today())
            );
        }
    }

    #[test]
    fn each_rule_names_its_field() {
        assert_eq!(fields(["", CODE, "", "", "2026-01-01"]), ["event"]);
        assert_eq!(fields(["birth", CODE, "", "", "2026-01-01"]), ["event"]);
        assert_eq!(
            fields(["death", "", "", "", "2026-01-01"]),
            ["personal_code"]
        );
        assert_eq!(
            fields(["death", "123", "", "", "2026-01-01"]),
            ["personal_code"]
        );
        assert_eq!(fields(["death", CODE, "", "", ""]), ["date"]);
        assert_eq!(fields(["death", CODE, "", "", "1.1.2026"]), ["date"]);
        assert_eq!(fields(["death", CODE, "", "", "2027-01-01"]), ["date"]);
        assert_eq!(
            fields(["death", CODE, "32579461016", "", "2026-01-01"]),
            ["new_personal_code"]
        );
        assert_eq!(
            fields(["death", CODE, "", "0001000", "2026-01-01"]),
            ["atvk"]
        );
        assert_eq!(
            fields(["code_change", CODE, "", "", "2026-01-01"]),
            ["new_personal_code"]
        );
        assert_eq!(
            fields(["code_change", CODE, "bad", "", "2026-01-01"]),
            ["new_personal_code"]
        );
        assert_eq!(
            fields(["code_change", CODE, CODE, "", "2026-01-01"]),
            ["new_personal_code"]
        );
        assert_eq!(
            fields(["address_change", CODE, "", "", "2026-01-01"]),
            ["atvk"]
        );
        assert_eq!(
            fields(["address_change", CODE, "", "12", "2026-01-01"]),
            ["atvk"]
        );
    }
}
