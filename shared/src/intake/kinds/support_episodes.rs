//! The `support-episodes` file kind: a child's support episodes, keyed by the partner's own
//! `external_id` (scoped by the organisation the file comes from), inserted or updated
//! (unchanged when equal) with the same rules as `POST`/`PUT /support-episodes`
//! ([`check_episode_state`], [`check_episode_references`]). Every episode written is
//! recorded in the child's audit trail, and its provider (and referrer) get their care link,
//! in the same atomic write as the episode. Columns and rules: `docs/INTAKE.md`,
//! "support-episodes".

use crate::domain::registry::{
    EndReason, EpisodeOutcome, EpisodeState, ReferralSource, SupportEpisode, check_episode_state,
};
use crate::domain::{ChildId, EpisodeId, FieldError, PersonalCode, ScreeningId, SpecialistId};
use crate::intake::cells::{iso_date, naming, optional, parse_cells};
use crate::intake::kind::{Batch, IntakeContext, IntakeKind, Planned, RowRules, Upsert, indexed};
use crate::intake::summary::{ImportRequest, IntakeError, service_error};
use crate::ports::{Key, Record, RecordStore, StoreError, WriteOp};
use crate::services::audit::{AuditAction, AuditEntity, AuditEvent};
use crate::services::care::{self, CareBasis};
use crate::services::registry::{EpisodeUpdateInput, check_episode_references};
use crate::store::codec::{child_id_of, corrupt, to_data};
use crate::store::keys;
use chrono::NaiveDate;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Columns of a support-episodes file (a CSV header may list them in any order).
pub const COLUMNS: &[&str] = &[
    "external_id",
    "child_id",
    "personal_code",
    "programme",
    "provider_org",
    "specialist_id",
    "referring_org",
    "referral_date",
    "referral_screening_id",
    "referral_text",
    "start_date",
    "end_date",
    "outcome",
    "end_reason",
];

/// Subject of the audit entries the support-episodes import writes.
pub const AUDIT_SUBJECT: &str = "support-episodes-import";

/// How a row names its child.
#[derive(Debug, Clone, PartialEq)]
pub enum ChildRef {
    /// By RAVIS id.
    Id(ChildId),
    /// By personal code (found through the keyed-hash index).
    Code(PersonalCode),
}

impl ChildRef {
    /// The column that named the child.
    fn field(&self) -> &'static str {
        match self {
            Self::Id(_) => "child_id",
            Self::Code(_) => "personal_code",
        }
    }
}

/// One validated support-episode row.
#[derive(Debug, Clone)]
pub struct EpisodeRow {
    /// The partner's id of the episode (the idempotency key).
    pub external_id: String,
    /// The child.
    pub child: ChildRef,
    /// The episode's fields, as the API takes them.
    pub input: EpisodeUpdateInput,
}

/// The file's column for a field name the API's rules report.
fn column_of(field: String) -> String {
    match field.as_str() {
        "referral_source.screening_id" => "referral_screening_id".into(),
        "referral_source.text" => "referral_text".into(),
        _ => field,
    }
}

fn parse_enum<T: DeserializeOwned>(
    field: &str,
    raw: Option<&str>,
    names: &str,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    optional(field, raw, errors, |raw| {
        serde_json::from_value(Value::String(raw.to_owned()))
            .map_err(|_| naming(raw, format!("is not one of: {names}")))
    })
}

fn parse_date(field: &str, raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<NaiveDate> {
    optional(field, raw, errors, iso_date)
}

fn parse_id<T: std::str::FromStr>(
    field: &str,
    what: &str,
    raw: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    optional(field, raw, errors, |raw| {
        raw.parse()
            .map_err(|_| naming(raw, format!("is not {what} (a UUID)")))
    })
}

/// Validates one row (values aligned with [`COLUMNS`]); returns every violation.
pub fn episode_from_row(
    values: Vec<Option<String>>,
    today: NaiveDate,
) -> Result<EpisodeRow, Vec<FieldError>> {
    parse_cells(values, COLUMNS, |cells, errors| {
        let get = |i: usize| cells.get(i);
        let external_id = crate::intake::cells::external_id("external_id", get(0), errors);
        let child = match (get(1), get(2)) {
            (None, None) => {
                errors.push(FieldError::new(
                    "child_id",
                    "is required unless personal_code is given",
                ));
                None
            }
            (Some(_), Some(_)) => {
                errors.push(FieldError::new(
                    "personal_code",
                    "give either child_id or personal_code, not both",
                ));
                None
            }
            (Some(raw), None) => {
                parse_id("child_id", "a child id", Some(raw), errors).map(ChildRef::Id)
            }
            (None, raw) => {
                optional("personal_code", raw, errors, PersonalCode::parse).map(ChildRef::Code)
            }
        };
        let programme = get(3).map(str::to_owned);
        if programme.is_none() {
            errors.push(FieldError::new("programme", "is required"));
        }
        let provider_org = get(4).map(str::to_owned);
        if provider_org.is_none() {
            errors.push(FieldError::new("provider_org", "is required"));
        }
        let specialist_id: Option<SpecialistId> =
            parse_id("specialist_id", "a specialist id", get(5), errors);
        let referring_org = get(6).map(str::to_owned);
        let referral_date = parse_date("referral_date", get(7), errors);
        if get(7).is_none() {
            errors.push(FieldError::new("referral_date", "is required"));
        }
        let referral_source = match (get(8), get(9)) {
            (None, None) => {
                errors.push(FieldError::new(
                    "referral_text",
                    "is required unless referral_screening_id is given",
                ));
                None
            }
            (Some(_), Some(_)) => {
                errors.push(FieldError::new(
                    "referral_text",
                    "give either referral_screening_id or referral_text, not both",
                ));
                None
            }
            (Some(raw), None) => parse_id::<ScreeningId>(
                "referral_screening_id",
                "a screening id",
                Some(raw),
                errors,
            )
            .map(|screening_id| ReferralSource::Screening { screening_id }),
            (None, Some(text)) => Some(ReferralSource::Text {
                text: text.to_owned(),
            }),
        };
        let start_date = parse_date("start_date", get(10), errors);
        let end_date = parse_date("end_date", get(11), errors);
        let outcome: Option<EpisodeOutcome> = parse_enum(
            "outcome",
            get(12),
            "goals_met, partly_met, not_met, unknown",
            errors,
        );
        let end_reason: Option<EndReason> = parse_enum(
            "end_reason",
            get(13),
            "completed, family_withdrew, moved, transferred, no_longer_needed, other",
            errors,
        );
        // The state rules of the API, on the values that parsed (a value that did not parse is
        // already reported, so rules about its presence are not repeated).
        if let (Some(referral_date), Some(source)) = (referral_date, &referral_source) {
            let state_errors = check_episode_state(
                &EpisodeState {
                    referral_date,
                    start_date,
                    end_date,
                    outcome,
                    end_reason,
                    referral_source: source,
                },
                today,
            );
            let reported: Vec<String> = errors.iter().map(|e| e.field.clone()).collect();
            errors.extend(
                state_errors
                    .into_iter()
                    .map(|e| FieldError::new(column_of(e.field), e.reason))
                    .filter(|e| !reported.contains(&e.field)),
            );
        }
        Some(EpisodeRow {
            external_id: external_id?,
            child: child?,
            input: EpisodeUpdateInput {
                programme: programme?,
                provider_org: provider_org?,
                specialist_id,
                referring_org,
                referral_date: referral_date?,
                referral_source: referral_source?,
                start_date,
                end_date,
                outcome,
                end_reason,
                planned_end_date: None,
                last_review_on: None,
            },
        })
    })
}

/// The `support-episodes` kind (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct SupportEpisodesKind;

impl IntakeKind for SupportEpisodesKind {
    type Row = EpisodeRow;

    const COLUMNS: &'static [&'static str] = COLUMNS;
    // The episode, its external-id index entry, the audit entry with its head, and the
    // provider's and the referrer's care links.
    const MAX_OPS_PER_ROW: usize = 7;
    const RULES: RowRules<EpisodeRow> = episode_from_row;

    async fn plan<R: RecordStore>(
        &self,
        ctx: &IntakeContext<R>,
        request: &ImportRequest,
        row: u64,
        value: &EpisodeRow,
        batch: &mut Batch,
    ) -> Result<Planned, IntakeError> {
        let audit = ctx.audit_trail()?;
        // The child.
        let child = match &value.child {
            ChildRef::Id(id) => match ctx.records.get(&keys::child(*id)).await? {
                Some(_) => *id,
                None => {
                    batch.reject(
                        row,
                        FieldError::new("child_id", "is not a registered child"),
                    );
                    return Ok(Planned::Added);
                }
            },
            ChildRef::Code(code) => {
                let index_key = keys::personal_code(&ctx.code_index.hash(code.as_str()));
                match ctx.records.get(&index_key).await? {
                    Some(index) => child_id_of(&index, "child_id")?,
                    None => {
                        batch.reject(
                            row,
                            FieldError::new("personal_code", "no child with this personal code"),
                        );
                        return Ok(Planned::Added);
                    }
                }
            }
        };
        // Every record this row may write: commit first if the batch already writes one.
        let external_key = keys::episode_external(&request.organisation, &value.external_id);
        let head_key = keys::audit_head(&audit.pseudonym(child));
        let mut link_orgs = vec![(value.input.provider_org.as_str(), CareBasis::Supports)];
        if let Some(referring) = &value.input.referring_org {
            link_orgs.push((referring.as_str(), CareBasis::Referred));
        }
        let link_keys: Vec<Key> = link_orgs
            .iter()
            .map(|(org, _)| keys::care_link(child, org))
            .collect();
        if batch.touches(&external_key)
            || batch.touches(&head_key)
            || link_keys.iter().any(|k| batch.touches(k))
        {
            return Ok(Planned::CommitFirst);
        }
        // The episode recorded earlier under this external id, if any.
        let stored: Option<(Record, SupportEpisode)> =
            indexed(&ctx.records, &external_key, "episode", keys::episode).await?;
        if let Some((_, episode)) = &stored
            && episode.child_id != child
        {
            batch.reject(
                row,
                FieldError::new(
                    value.child.field(),
                    "names another child than the episode already recorded under this external_id",
                ),
            );
            return Ok(Planned::Added);
        }
        let checked = check_episode_references(
            &ctx.records,
            child,
            value.input.clone(),
            stored.as_ref().map(|(_, e)| e.programme.as_str()),
            ctx.clock.now().date_naive(),
        )
        .await
        .map_err(service_error)?;
        let input = match checked {
            Ok(input) => input,
            Err(errors) => {
                batch.reject_all(
                    row,
                    errors
                        .into_iter()
                        .map(|e| FieldError::new(column_of(e.field), e.reason))
                        .collect(),
                );
                return Ok(Planned::Added);
            }
        };

        let now = ctx.clock.now();
        let upsert = Upsert::of(
            stored,
            || {
                let id = EpisodeId::from_uuid(ctx.ids.new_id());
                SupportEpisode::new(id, child, input.clone(), now)
            },
            |existing| {
                let mut updated = existing.clone();
                updated.apply(input.clone());
                updated
            },
        );
        // The care links the episode gives; a link recorded before is extended, never
        // replaced, and one already holding its basis is left alone.
        let mut link_ops = Vec::new();
        for (i, key) in link_keys.iter().enumerate() {
            if link_keys[..i].contains(key) {
                continue; // provider and referrer are one organisation: one record
            }
            let org = link_orgs[i].0;
            let bases: Vec<CareBasis> = link_orgs
                .iter()
                .filter(|(o, _)| *o == org)
                .map(|(_, b)| *b)
                .collect();
            match ctx.records.get(key).await? {
                None => {
                    let mut record = care::new_link_record(child, org, bases[0], now);
                    for basis in &bases[1..] {
                        record.data["bases"][basis.as_str()] = json!(now);
                    }
                    link_ops.push(WriteOp::PutNew(record));
                }
                Some(link) => {
                    let mut data = link.data.clone();
                    let Some(held) = data.get_mut("bases").and_then(Value::as_object_mut) else {
                        return Err(corrupt(&link, "care link: no bases").into());
                    };
                    let mut added = false;
                    for basis in &bases {
                        if !held.contains_key(basis.as_str()) {
                            held.insert(basis.as_str().into(), json!(now));
                            added = true;
                        }
                    }
                    if added {
                        link_ops.push(WriteOp::PutVersioned {
                            record: care::link_record(child, org, data),
                            expected: link.version,
                        });
                    }
                }
            }
        }
        for op in link_ops {
            batch.push(op);
        }
        batch.touch(external_key.clone());
        let (episode, action) = match &upsert {
            Upsert::Insert(episode) => (episode, AuditAction::Create),
            Upsert::Update(_, episode) => (episode, AuditAction::Update),
            Upsert::Unchanged => {
                batch.counts().unchanged += 1;
                return Ok(Planned::Added);
            }
        };
        let event = AuditEvent::all(child, AuditEntity::SupportEpisode, action).of(episode.id);
        let (entry, audit_ops) = ctx
            .audit_row(
                request,
                row,
                AUDIT_SUBJECT,
                "support episodes partner file",
                &event,
            )
            .await?;
        let episode_record = |episode: &SupportEpisode| -> Result<Record, StoreError> {
            Ok(
                Record::new(keys::episode(episode.id), to_data(episode)?).with_index(
                    keys::child_index(child),
                    keys::child_episode_index(episode.id),
                ),
            )
        };
        batch.upsert(
            upsert,
            |episode| {
                Ok(vec![
                    episode_record(&episode)?,
                    Record::new(external_key, json!({"episode_id": episode.id})),
                ])
            },
            |_, episode| episode_record(&episode),
        )?;
        batch.push_audited(entry, audit_ops);
        // The child's worklist (follow-up cadence, outcome due) is reconciled by the sweep.
        batch.push(crate::services::worklist::pending_marker(
            child,
            &uuid::Uuid::now_v7().to_string(),
            now,
        ));
        Ok(Planned::Added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::cells::row_values as row;

    fn today() -> NaiveDate {
        "2026-11-23".parse().unwrap()
    }

    const CHILD: &str = "0190a5a0-0000-7000-8000-000000000001";
    const OK: [&str; 14] = [
        "ep-1",
        "",
        "32579461005",
        "incredible-years",
        "riga-sd",
        "",
        "",
        "2026-01-10",
        "",
        "parent request",
        "2026-02-01",
        "",
        "",
        "",
    ];

    fn with(changes: &[(usize, &str)]) -> Vec<String> {
        let mut r = OK;
        for (i, v) in changes {
            r[*i] = v;
        }
        episode_from_row(row(r), today())
            .map(|_| Vec::new())
            .unwrap_or_else(|e| e.into_iter().map(|e| e.field).collect())
    }

    #[test]
    fn a_valid_row_parses() {
        let e = episode_from_row(row(OK), today()).unwrap();
        assert_eq!(e.external_id, "ep-1");
        assert!(matches!(e.child, ChildRef::Code(_)));
        assert!(with(&[(2, ""), (1, CHILD)]).is_empty());
        let closed = with(&[(11, "2026-06-01"), (12, "goals_met"), (13, "completed")]);
        assert!(closed.is_empty(), "{closed:?}");
    }

    #[test]
    fn each_rule_names_its_field() {
        assert_eq!(with(&[(0, "")]), ["external_id"]);
        assert_eq!(with(&[(0, "a b")]), ["external_id"]);
        assert_eq!(with(&[(2, "")]), ["child_id"]);
        assert_eq!(with(&[(1, CHILD)]), ["personal_code"]);
        assert_eq!(with(&[(2, ""), (1, "x")]), ["child_id"]);
        assert_eq!(with(&[(2, "123")]), ["personal_code"]);
        assert_eq!(with(&[(3, "")]), ["programme"]);
        assert_eq!(with(&[(4, "")]), ["provider_org"]);
        assert_eq!(with(&[(5, "nope")]), ["specialist_id"]);
        assert_eq!(with(&[(7, "")]), ["referral_date"]);
        assert_eq!(with(&[(7, "10.01.2026")]), ["referral_date"]);
        assert_eq!(with(&[(7, "2026-12-01"), (10, "")]), ["referral_date"]);
        assert_eq!(with(&[(9, "")]), ["referral_text"]);
        assert_eq!(with(&[(8, CHILD)]), ["referral_text"]);
        assert_eq!(with(&[(9, ""), (8, "x")]), ["referral_screening_id"]);
        assert_eq!(with(&[(10, "2026-01-09")]), ["start_date"]);
        assert_eq!(with(&[(10, "soon")]), ["start_date"]);
        assert_eq!(with(&[(11, "2026-06-01")]), ["outcome", "end_reason"]);
        assert_eq!(
            with(&[
                (10, ""),
                (11, "2026-06-01"),
                (12, "goals_met"),
                (13, "completed")
            ]),
            ["end_date"]
        );
        assert_eq!(
            with(&[(11, "2026-06-01"), (12, "great"), (13, "completed")]),
            ["outcome"]
        );
        assert_eq!(
            with(&[(11, "2026-06-01"), (12, "goals_met"), (13, "bored")]),
            ["end_reason"]
        );
        assert_eq!(with(&[(12, "goals_met")]), ["outcome"]);
        assert_eq!(with(&[(13, "completed")]), ["end_reason"]);
    }
}
