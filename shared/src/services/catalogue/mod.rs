//! The catalogue as a registry (module 4, issue #4): stored, editable entries for
//! instruments, programmes, therapies and support services.
//!
//! Seeding: the built-in programmes (`shared/catalogue/programmes.json`) and the scoring
//! engine's instruments are written to the record store on first use — every missing id is
//! created with a create-only write, so running it twice (or on two hosts at once) leaves
//! the same state, and an entry already stored (edited or not) is never overwritten.
//! [`active_entry`] seeds the one id it is asked about, so other use cases can call it
//! before the catalogue routes were ever used.
//!
//! No personal data: every authenticated role may read; only the registry administrator
//! writes. Entries are never deleted — retired entries keep resolving for old references.

use crate::domain::FieldError;
use crate::domain::catalogue::{Catalogue, CatalogueError};
use crate::domain::catalogue_entry::{
    AgeMonths, CatalogueEntry, CatalogueId, EntryInput, EntryKind, EntryStatus, Origin,
};
use crate::domain::{Principal, Role};
use crate::ports::{Clock, Record, RecordStore, SortKeyCondition, StoreError};
use crate::scoring::{Engine, InstrumentDefinition};
use crate::services::{Reply, ServiceError, require_role};
use crate::store::keys;
use crate::store::query::query_all;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

mod list_query;

pub use list_query::{DEFAULT_LIMIT, ListQuery, MAX_LIMIT, encode_cursor};

/// The seed entry of an instrument the scoring engine scores (its id, name, ages, source).
pub(crate) fn instrument_entry(def: &InstrumentDefinition, now: DateTime<Utc>) -> CatalogueEntry {
    CatalogueEntry {
        id: def.id.clone(),
        kind: EntryKind::Instrument,
        name: def.name.clone(),
        status: EntryStatus::Active,
        target_age_months: Some(AgeMonths {
            min: def.age_range.min_months,
            max: def.age_range.max_months,
        }),
        source: Some(def.source.citation.clone()),
        origin: Origin::Builtin,
        scoring_definition: Some(def.id.clone()),
        administered_by: Vec::new(),
        participants: None,
        target_needs: Vec::new(),
        education_relevant: false,
        evidence_level: None,
        capacity_per_year: None,
        annual_target: None,
        provider_kind: None,
        territory: None,
        created_at: now,
        updated_at: now,
    }
}

/// Roles that may create, update and retire catalogue entries.
pub const CATALOGUE_EDITORS: &[Role] = &[Role::RegistryAdministrator];

/// Records read per store query while listing.
const SCAN_PAGE: usize = 200;

/// Why the built-in entries cannot be built (kept once per process, with its cause).
#[derive(Debug, thiserror::Error)]
enum SeedError {
    #[error(transparent)]
    Catalogue(#[from] crate::domain::catalogue::CatalogueError),
    #[error(transparent)]
    Engine(#[from] crate::scoring::DefinitionError),
}

/// The seed entries (built-in programmes, then the engine's instruments), built once per
/// process. Their timestamps are replaced by the seeding time when written.
fn seeds() -> Result<&'static [CatalogueEntry], ServiceError> {
    static SEEDS: OnceLock<Result<Vec<CatalogueEntry>, SeedError>> = OnceLock::new();
    let built = SEEDS.get_or_init(|| {
        let epoch = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        let catalogue = Catalogue::builtin()?;
        let engine = Engine::builtin()?;
        let mut out: Vec<CatalogueEntry> = catalogue
            .programmes
            .iter()
            .map(|p| CatalogueEntry::from_builtin_programme(p, &catalogue.source, epoch))
            .collect();
        out.extend(
            engine
                .instrument_ids()
                .filter_map(|id| engine.instrument(id))
                .map(|d| instrument_entry(d, epoch)),
        );
        Ok(out)
    });
    built.as_deref().map_err(|reason| {
        ServiceError::Store(StoreError::Invalid(format!(
            "the built-in catalogue cannot be loaded: {reason}"
        )))
    })
}

fn record_of(entry: &CatalogueEntry) -> Result<Record, ServiceError> {
    let data = serde_json::to_value(entry).map_err(StoreError::Encode)?;
    Ok(Record::new(keys::catalogue_entry(&entry.id), data))
}

fn entry_of(record: &Record) -> Result<CatalogueEntry, ServiceError> {
    Ok(crate::store::codec::from_data(record)?)
}

/// Writes one seed entry unless its id is stored already; returns whether it wrote.
async fn seed_one<R: RecordStore>(
    records: &R,
    seed: &CatalogueEntry,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, ServiceError> {
    let mut entry = seed.clone();
    entry.created_at = now;
    entry.updated_at = now;
    match records.put_new(record_of(&entry)?).await {
        Ok(()) => Ok(true),
        // Seeded concurrently, or edited since: never overwrite.
        Err(StoreError::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Writes every built-in entry whose id is not stored yet (at-least-once safe: running it
/// again, or concurrently, changes nothing; stored entries are never overwritten). Returns
/// how many entries it created.
pub async fn seed_catalogue<R: RecordStore>(
    records: &R,
    clock: &dyn Clock,
) -> Result<usize, ServiceError> {
    let stored: BTreeSet<String> = query_all(
        records,
        keys::CATALOGUE_PARTITION,
        &SortKeyCondition::Prefix(keys::CATALOGUE_ENTRY_PREFIX.into()),
    )
    .await?
    .into_iter()
    .map(|r| r.key.sk)
    .collect();
    let now = clock.now();
    let mut created = 0;
    for seed in seeds()? {
        if !stored.contains(&keys::catalogue_entry(&seed.id).sk)
            && seed_one(records, seed, now).await?
        {
            created += 1;
        }
    }
    Ok(created)
}

/// THE lookup other use cases call to check a catalogue id (support episodes, certifications):
/// the entry if it exists and is active; `None` if the id is unknown or the entry is retired.
/// A built-in id not stored yet is seeded first, so the answer never depends on whether the
/// catalogue routes were used before. Use [`entry`] to resolve retired entries too.
pub async fn active_entry<R: RecordStore>(
    records: &R,
    id: &str,
) -> Result<Option<CatalogueEntry>, ServiceError> {
    Ok(entry(records, id)
        .await?
        .map(|(e, _)| e)
        .filter(|e| e.status == EntryStatus::Active))
}

/// Any entry with this id, active or retired, with its version (seeding a built-in id first).
pub async fn entry<R: RecordStore>(
    records: &R,
    id: &str,
) -> Result<Option<(CatalogueEntry, u64)>, ServiceError> {
    let Ok(id) = CatalogueId::parse(id) else {
        return Ok(None);
    };
    let id = id.as_str();
    let key = keys::catalogue_entry(id);
    if let Some(record) = records.get(&key).await? {
        return Ok(Some((entry_of(&record)?, record.version)));
    }
    let Some(seed) = seeds()?.iter().find(|s| s.id == id) else {
        return Ok(None);
    };
    seed_one(records, seed, crate::ports::SystemClock.now()).await?;
    match records.get(&key).await? {
        Some(record) => Ok(Some((entry_of(&record)?, record.version))),
        None => Ok(None),
    }
}

/// Every entry of the catalogue, active and retired (the built-in ones seeded first).
pub async fn all_entries<R: RecordStore>(
    records: &R,
    clock: &dyn Clock,
) -> Result<Vec<CatalogueEntry>, ServiceError> {
    seed_catalogue(records, clock).await?;
    query_all(
        records,
        keys::CATALOGUE_PARTITION,
        &SortKeyCondition::Prefix(keys::CATALOGUE_ENTRY_PREFIX.into()),
    )
    .await?
    .iter()
    .map(entry_of)
    .collect()
}

/// The catalogue use cases.
pub struct CatalogueService<R> {
    records: R,
    clock: Arc<dyn Clock>,
    engine: Arc<Engine>,
    /// The built-in catalogue and what the definitions recommend, derived on first use (not
    /// at a function's cold start: the engine compiles its definitions then too).
    derived: OnceLock<Derived>,
    seeded: tokio::sync::OnceCell<()>,
}

/// What the service derives from the built-in data.
struct Derived {
    builtin: Catalogue,
    /// Programme ids the scoring definitions recommend (cannot be retired).
    recommended: BTreeSet<String>,
}

fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

fn view(entry: &CatalogueEntry, version: u64) -> Value {
    let mut v = json!(entry);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("version".into(), version.into());
    }
    v
}

fn entry_reply(status: u16, entry: &CatalogueEntry, version: u64) -> Reply {
    Reply {
        status,
        location: (status == 201).then(|| format!("/catalogue/entries/{}", entry.id)),
        etag: Some(etag(version)),
        body: view(entry, version),
        replayed: false,
        file: None,
    }
}

fn not_found(id: &str) -> ServiceError {
    ServiceError::NotFound(format!(
        "no catalogue entry with id '{}'",
        id.chars().take(64).collect::<String>()
    ))
}

/// Every `"programme": "<id>"` value in a JSON tree.
fn recommended_programmes(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "programme"
                    && let Some(id) = v.as_str()
                {
                    out.insert(id.to_owned());
                }
                recommended_programmes(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| recommended_programmes(v, out)),
        _ => {}
    }
}

impl<R: RecordStore> CatalogueService<R> {
    /// Builds the service over the record store (the built-in data is its seed).
    pub fn new(
        records: R,
        engine: Arc<Engine>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CatalogueError> {
        Ok(Self {
            records,
            clock,
            engine,
            derived: OnceLock::new(),
            seeded: tokio::sync::OnceCell::new(),
        })
    }

    /// The built-in catalogue and the recommended programmes, derived on the first call.
    /// The catalogue is embedded in the binary and a unit test loads it
    /// (`domain::catalogue`), so it cannot fail to load at run time; if it did, the first
    /// use would panic with [`Catalogue::builtin`]'s error.
    fn derived(&self) -> &Derived {
        self.derived.get_or_init(|| {
            let builtin = match Catalogue::builtin() {
                Ok(catalogue) => catalogue,
                Err(e) => panic!("the built-in catalogue does not load: {e}"),
            };
            let mut recommended = BTreeSet::new();
            for id in self.engine.instrument_ids() {
                if let Some(def) = self.engine.instrument(id) {
                    recommended_programmes(&json!(def), &mut recommended);
                }
            }
            Derived {
                builtin,
                recommended,
            }
        })
    }

    /// Programme ids scoring may recommend; they cannot be retired.
    pub fn recommended(&self) -> &BTreeSet<String> {
        &self.derived().recommended
    }

    /// The stored entry `id` and its version, for an editor (seeding first).
    async fn entry_to_edit(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<(CatalogueEntry, u64), ServiceError> {
        require_role(principal, CATALOGUE_EDITORS, "edit the catalogue")?;
        self.ensure_seeded().await?;
        entry(&self.records, id).await?.ok_or_else(|| not_found(id))
    }

    /// Seeds the store once per process (retried on the next call if it fails).
    pub async fn ensure_seeded(&self) -> Result<(), ServiceError> {
        self.seeded
            .get_or_try_init(|| async {
                let created = seed_catalogue(&self.records, self.clock.as_ref()).await?;
                tracing::info!(created, "catalogue seeded");
                Ok::<(), ServiceError>(())
            })
            .await
            .map(|_| ())
    }

    /// One page of entries in id order, filtered.
    pub async fn list(&self, query: &ListQuery) -> Result<Reply, ServiceError> {
        self.ensure_seeded().await?;
        let condition = match &query.after {
            // Inclusive lower bound; the entry the cursor names is skipped below.
            Some(after) => SortKeyCondition::Between(
                keys::catalogue_entry(after).sk,
                format!("{}~", keys::CATALOGUE_ENTRY_PREFIX),
            ),
            None => SortKeyCondition::Prefix(keys::CATALOGUE_ENTRY_PREFIX.into()),
        };
        let mut items = Vec::new();
        let mut more = false;
        let mut cursor = None;
        'scan: loop {
            let page = self
                .records
                .query(
                    keys::CATALOGUE_PARTITION,
                    &condition,
                    SCAN_PAGE,
                    false,
                    cursor.as_deref(),
                )
                .await?;
            for record in &page.records {
                let e = entry_of(record)?;
                if query.after.as_deref() == Some(e.id.as_str()) || !query.matches(&e) {
                    continue;
                }
                if items.len() == query.limit {
                    more = true;
                    break 'scan;
                }
                items.push((e, record.version));
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let next_cursor = if more {
            items.last().map(|(e, _)| encode_cursor(&e.id))
        } else {
            None
        };
        Ok(Reply::ok(json!({
            "entries": items.iter().map(|(e, v)| view(e, *v)).collect::<Vec<_>>(),
            "next_cursor": next_cursor,
        })))
    }

    /// One entry, active or retired.
    pub async fn get(&self, id: &str) -> Result<Reply, ServiceError> {
        self.ensure_seeded().await?;
        let (e, version) = entry(&self.records, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        Ok(entry_reply(200, &e, version))
    }

    /// Creates an entry (registry administrator). The id is the client's: creating an id
    /// that exists is a 409 naming it, so a retried create never makes two entries.
    pub async fn create(
        &self,
        principal: &Principal,
        input: EntryInput,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, CATALOGUE_EDITORS, "edit the catalogue")?;
        self.ensure_seeded().await?;
        let mut errors = Vec::new();
        let raw_id = input.id.clone().unwrap_or_default();
        let id = match input.id.as_deref().map(CatalogueId::parse) {
            None => {
                errors.push(FieldError::new("id", "is required"));
                None
            }
            Some(Err(reason)) => {
                errors.push(FieldError::new("id", reason.to_string()));
                None
            }
            Some(Ok(id)) => Some(id),
        };
        if input.status.is_some() {
            errors.push(FieldError::new(
                "status",
                "new entries are active; retire them later",
            ));
        }
        if input.kind.as_deref() == Some("instrument")
            && input.scoring_definition.is_some()
            && input.scoring_definition.as_deref() != Some(raw_id.as_str())
        {
            errors.push(FieldError::new(
                "id",
                "an instrument's id is its scoring definition id",
            ));
        }
        let content = input.validate(self.engine.as_ref());
        let (id, content) = match (id, content) {
            (Some(id), Ok(c)) if errors.is_empty() => (id, c),
            (_, Ok(_)) => return Err(ServiceError::Validation(errors)),
            (_, Err(mut more)) => {
                errors.append(&mut more);
                return Err(ServiceError::Validation(errors));
            }
        };
        let entry = CatalogueEntry::new(id.into(), content, Origin::Registry, self.clock.now());
        match self.records.put_new(record_of(&entry)?).await {
            Ok(()) => Ok(entry_reply(201, &entry, 1)),
            Err(StoreError::AlreadyExists { .. }) => Err(ServiceError::Conflict {
                slug: "catalogue-entry-exists",
                detail: format!(
                    "a catalogue entry with id '{}' exists; update it with PUT instead",
                    entry.id
                ),
                existing_id: Some(entry.id),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces an entry's content (registry administrator) at the version the caller read.
    /// The kind cannot change; `status` may retire or reactivate it.
    pub async fn update(
        &self,
        principal: &Principal,
        id: &str,
        expected: u64,
        input: EntryInput,
    ) -> Result<Reply, ServiceError> {
        let (current, version) = self.entry_to_edit(principal, id).await?;
        let mut errors = Vec::new();
        if input.id.as_deref().is_some_and(|body_id| body_id != id) {
            errors.push(FieldError::new(
                "id",
                "must be absent or equal the id in the path",
            ));
        }
        if input
            .kind
            .as_deref()
            .is_some_and(|k| k != current.kind.as_str())
        {
            errors.push(FieldError::new(
                "kind",
                format!(
                    "cannot change (the entry is a {}); retire it and create a new one",
                    current.kind.as_str()
                ),
            ));
        }
        if current.kind == EntryKind::Instrument
            && input
                .scoring_definition
                .as_deref()
                .is_some_and(|d| d != current.scoring_definition.as_deref().unwrap_or(""))
        {
            errors.push(FieldError::new(
                "scoring_definition",
                "cannot change: an instrument's id is its scoring definition id",
            ));
        }
        let content = match input.validate(self.engine.as_ref()) {
            Ok(c) if errors.is_empty() => c,
            Ok(_) => return Err(ServiceError::Validation(errors)),
            Err(mut more) => {
                errors.append(&mut more);
                return Err(ServiceError::Validation(errors));
            }
        };
        if version != expected {
            return Err(stale(version, expected));
        }
        let status = content.status.unwrap_or(current.status);
        self.check_retirable(&current, status)?;
        let mut updated = CatalogueEntry::new(
            current.id.clone(),
            content,
            current.origin,
            current.created_at,
        );
        updated.status = status;
        updated.updated_at = self.clock.now();
        self.write(updated, expected).await
    }

    /// Retires an entry (registry administrator): it stays readable and resolvable, but
    /// [`active_entry`] no longer returns it. Retiring a retired entry changes nothing.
    pub async fn retire(
        &self,
        principal: &Principal,
        id: &str,
        expected: u64,
    ) -> Result<Reply, ServiceError> {
        let (current, version) = self.entry_to_edit(principal, id).await?;
        if version != expected {
            return Err(stale(version, expected));
        }
        if current.status == EntryStatus::Retired {
            return Ok(entry_reply(200, &current, version));
        }
        self.check_retirable(&current, EntryStatus::Retired)?;
        let mut updated = current;
        updated.status = EntryStatus::Retired;
        updated.updated_at = self.clock.now();
        self.write(updated, expected).await
    }

    /// A programme scoring recommends stays active: retiring it would leave new
    /// recommendations pointing at an entry nobody may refer to.
    fn check_retirable(
        &self,
        current: &CatalogueEntry,
        status: EntryStatus,
    ) -> Result<(), ServiceError> {
        if status == EntryStatus::Retired
            && current.status == EntryStatus::Active
            && self.recommended().contains(&current.id)
        {
            return Err(ServiceError::Conflict {
                slug: "recommended-by-scoring",
                detail: format!(
                    "'{}' is recommended by a scoring definition and cannot be retired; change the definition first",
                    current.id
                ),
                existing_id: None,
            });
        }
        Ok(())
    }

    async fn write(&self, entry: CatalogueEntry, expected: u64) -> Result<Reply, ServiceError> {
        match self
            .records
            .put_versioned(record_of(&entry)?, expected)
            .await
        {
            Ok(version) => Ok(entry_reply(200, &entry, version)),
            Err(StoreError::Conflict { .. }) => Err(ServiceError::PreconditionFailed(format!(
                "catalogue entry '{}' changed while you were updating it; read it again and re-apply your change",
                entry.id
            ))),
            Err(e) => Err(e.into()),
        }
    }

    async fn all_of(
        &self,
        keep: impl Fn(&CatalogueEntry) -> bool,
    ) -> Result<Vec<(CatalogueEntry, u64)>, ServiceError> {
        self.ensure_seeded().await?;
        let mut out = Vec::new();
        let stored = query_all(
            &self.records,
            keys::CATALOGUE_PARTITION,
            &SortKeyCondition::Prefix(keys::CATALOGUE_ENTRY_PREFIX.into()),
        )
        .await?;
        for record in &stored {
            let e = entry_of(record)?;
            if keep(&e) {
                out.push((e, record.version));
            }
        }
        Ok(out)
    }

    /// `GET /catalogue/programmes`: every stored programme, therapy and service (active and
    /// retired), read from the store.
    pub async fn programmes(&self) -> Result<Reply, ServiceError> {
        let entries = self.all_of(|e| e.kind != EntryKind::Instrument).await?;
        Ok(Reply::ok(json!({
            "version": self.derived().builtin.version,
            "source": self.derived().builtin.source,
            "programmes": entries.iter().map(|(e, v)| view(e, *v)).collect::<Vec<_>>(),
        })))
    }

    /// `GET /catalogue/programmes/{id}`: one programme, therapy or service.
    pub async fn programme(&self, id: &str) -> Result<Reply, ServiceError> {
        self.ensure_seeded().await?;
        match entry(&self.records, id).await? {
            Some((e, version)) if e.kind != EntryKind::Instrument => {
                Ok(entry_reply(200, &e, version))
            }
            _ => Err(ServiceError::NotFound(format!(
                "no programme with id '{}'",
                id.chars().take(64).collect::<String>()
            ))),
        }
    }

    /// The screening instruments the engine scores: id, version, name, informant, age range, source.
    pub fn instruments(&self) -> Reply {
        let instruments: Vec<Value> = self
            .engine
            .instrument_ids()
            .filter_map(|id| self.engine.instrument(id))
            .map(|d| {
                json!({"id": d.id, "version": d.version, "name": d.name, "informant": d.informant,
                       "demonstration": d.demonstration,
                       "age_months": {"min": d.age_range.min_months, "max": d.age_range.max_months},
                       "prematurity_correction": d.prematurity_correction,
                       "items": instrument_items(d),
                       "source": d.source})
            })
            .collect();
        Reply::ok(json!({"instruments": instruments}))
    }
}

/// The items of a definition as a form needs them: id, optional variable name and the
/// answer codes with their neutral labels (definitions hold no item wording).
fn instrument_items(d: &InstrumentDefinition) -> Vec<Value> {
    d.items
        .iter()
        .map(|item| {
            let coding = d.codings.get(&item.coding);
            let options: Vec<Value> = coding
                .map(|c| {
                    (0..c.scores.len())
                        .map(|code| json!({"code": code, "label": c.labels.get(code)}))
                        .collect()
                })
                .unwrap_or_default();
            json!({"id": item.id, "name": item.name, "options": options})
        })
        .collect()
}

fn stale(version: u64, expected: u64) -> ServiceError {
    ServiceError::PreconditionFailed(format!(
        "the entry is at version {version} (you sent If-Match \"{expected}\"); read it again and re-apply your change"
    ))
}
