//! Storage keys of every entity in the single table (documented in `docs/DATA_MODEL.md`).

use crate::domain::{ChildId, Pseudonym, ScreeningId};
use crate::ports::Key;

/// A child's profile record.
pub fn child(id: ChildId) -> Key {
    Key::new(format!("CHILD#{id}"), "CHILD")
}

/// The uniqueness/lookup record of a personal code, keyed by its keyed hash.
pub fn personal_code(code_hash: &str) -> Key {
    Key::new(format!("PCODE#{code_hash}"), "PCODE")
}

/// A screening submission.
pub fn screening(id: ScreeningId) -> Key {
    Key::new(format!("SCREENING#{id}"), "SCREENING")
}

/// Partition of a screening (submission and its results).
pub fn screening_partition(id: ScreeningId) -> String {
    format!("SCREENING#{id}")
}

/// Sort-key prefix of a screening's results.
pub const RESULT_PREFIX: &str = "RESULT#";

/// A scoring result: one per (instrument version, engine version), so scoring again with
/// the same versions is idempotent and a new version adds a result without replacing.
pub fn result(id: ScreeningId, instrument_version: &str, engine_version: &str) -> Key {
    Key::new(
        screening_partition(id),
        format!("{RESULT_PREFIX}{instrument_version}#{engine_version}"),
    )
}

/// Index partition grouping everything about one child (screenings and results).
pub fn child_index(id: ChildId) -> String {
    format!("CHILD#{id}")
}

/// Index sort key of a screening under its child: by administration date, then id.
pub fn child_screening_index(administered_on: chrono::NaiveDate, id: ScreeningId) -> String {
    format!("SCREENING#{administered_on}#{id}")
}

/// Index sort key of a result under its child.
pub fn child_result_index(
    administered_on: chrono::NaiveDate,
    id: ScreeningId,
    instrument_version: &str,
    engine_version: &str,
) -> String {
    format!("RESULT#{administered_on}#{id}#{instrument_version}#{engine_version}")
}

/// An idempotency record, keyed by a hash of who called which operation with which key.
pub fn idempotency(scope_hash: &str) -> Key {
    Key::new(format!("IDEMPOTENCY#{scope_hash}"), "IDEMPOTENCY")
}

/// The checkpoint of one partner-file import (last committed row and counts).
pub fn intake_checkpoint(import_id: &str) -> Key {
    Key::new(format!("INTAKE#{import_id}"), "CHECKPOINT")
}

/// Sort-key prefix of the refusals an import's batches stored with them.
pub const INTAKE_REFUSALS_PREFIX: &str = "REFUSED#";

/// The refusals of the batch of an import (`checkpoint`: its checkpoint's key) whose first
/// refused row is `first_row` (zero-padded, so they sort by row).
pub fn intake_refusals(checkpoint: &Key, first_row: u64) -> Key {
    Key::new(
        checkpoint.pk.clone(),
        format!("{INTAKE_REFUSALS_PREFIX}{first_row:020}"),
    )
}

/// Children under one keyed hash of names and birth date (finds re-imports and possible
/// duplicates; children with a code join it too, so a code-less child matching them is flagged).
pub fn child_name_index(name_hash: &str) -> Key {
    Key::new(format!("CHILDNAME#{name_hash}"), "CHILDNAME")
}

/// Secondary-index partition of children flagged as possible duplicates (a flagged child's
/// record carries `gsi1pk` = this, `gsi1sk` = [`duplicate_flag_index`]); merging clears it.
pub const DUPLICATE_FLAGS: &str = "DUPFLAGS";

/// Index sort key of a flagged child under [`DUPLICATE_FLAGS`].
pub fn duplicate_flag_index(id: ChildId) -> String {
    format!("{}{id}", duplicate_flag_index_prefix())
}

/// Sort-key prefix of [`duplicate_flag_index`].
pub fn duplicate_flag_index_prefix() -> &'static str {
    "CHILD#"
}

/// The record of a merge, under the merged (duplicate) child: survivor, reason, and what
/// un-merging must restore (`services/merge.rs`).
pub fn merge(duplicate: ChildId) -> Key {
    Key::new(format!("MERGE#{duplicate}"), "MERGE")
}

/// Index partition of every merge still in effect (`gsi1pk` of each merge record; the
/// sort key is [`merge_index`], newest first): `GET /children/merges` reads it.
pub const MERGES_INDEX: &str = "MERGES";

/// Index sort key of a merge record: newest first in ascending order (see
/// [`newest_first`]), then the merged child's id.
pub fn merge_index(merged_at: chrono::DateTime<chrono::Utc>, duplicate: ChildId) -> String {
    format!("{}#{duplicate}", newest_first(merged_at))
}

/// A time as a fixed-width key that sorts the newest first in ascending (byte-wise) order:
/// the milliseconds left until the year 9999, zero-padded. Lists that answer newest first
/// page through their index in the store's ascending order with it.
pub fn newest_first(at: chrono::DateTime<chrono::Utc>) -> String {
    const END_MILLIS: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
    format!("{:015}", (END_MILLIS - at.timestamp_millis()).max(0))
}

/// The record of one finished partner-file import (an intake job): its summary and where
/// its row report is in the partner bucket (`intake/jobs.rs`).
pub fn intake_job(id: &str) -> Key {
    Key::new(format!("INTAKEJOB#{id}"), "JOB")
}

/// Index partition of every intake job (`gsi1pk`; the sort key is [`intake_job_index`]).
pub const INTAKE_JOBS_INDEX: &str = "INTAKEJOBS";

/// Index sort key of an intake job: newest finished first, then its id.
pub fn intake_job_index(finished_at: chrono::DateTime<chrono::Utc>, id: &str) -> String {
    format!("{}#{id}", newest_first(finished_at))
}

/// Partition of one child's audit chain (by pseudonym, never by child id).
pub fn audit_partition(child: &Pseudonym) -> String {
    format!("AUDIT#{child}")
}

/// Sort-key prefix of audit entries.
pub const AUDIT_ENTRY_PREFIX: &str = "ENTRY#";

/// An audit entry: its sequence number, zero-padded so sort order is chain order.
pub fn audit_entry(child: &Pseudonym, seq: u64) -> Key {
    Key::new(
        audit_partition(child),
        format!("{AUDIT_ENTRY_PREFIX}{seq:020}"),
    )
}

/// How many index partitions hold the audit entries not yet archived (so that no one index
/// partition takes every append: a DynamoDB index partition takes about 1,000 writes a
/// second).
pub const AUDIT_PENDING_SHARDS: u32 = 16;

/// Index partition (`gsi1pk`) of the audit entries of `child` that wait for the archive (the
/// deferred archive, `services/audit/outbox.rs`): one of [`AUDIT_PENDING_SHARDS`], chosen by
/// the pseudonym, so a child's pending entries stay in one partition in chain order.
pub fn audit_pending_index(child: &Pseudonym) -> String {
    let shard = child
        .as_str()
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % AUDIT_PENDING_SHARDS;
    audit_pending_shard(shard)
}

/// The index partition of one shard of the pending audit entries.
pub fn audit_pending_shard(shard: u32) -> String {
    format!("AUDITPENDING#{shard:02}")
}

/// Index sort key (`gsi1sk`) of a pending audit entry: its chain, then its sequence number.
pub fn audit_pending_sort(child: &Pseudonym, seq: u64) -> String {
    format!("{child}#{seq:020}")
}

/// The head of a child's audit chain: the last sequence number and hash (versioned).
pub fn audit_head(child: &Pseudonym) -> Key {
    Key::new(audit_partition(child), "HEAD")
}

/// Partition of the catalogue (a small reference table: every entry in one partition, in id order).
pub const CATALOGUE_PARTITION: &str = "CATALOGUE";

/// Sort-key prefix of catalogue entries.
pub const CATALOGUE_ENTRY_PREFIX: &str = "ENTRY#";

/// A catalogue entry (instrument, programme, therapy or service) by its id.
pub fn catalogue_entry(id: &str) -> Key {
    Key::new(CATALOGUE_PARTITION, format!("{CATALOGUE_ENTRY_PREFIX}{id}"))
}

/// Partition holding every organisation (listed in code order).
pub const ORGANISATIONS: &str = "ORGS";
/// Sort-key prefix of organisations.
pub const ORGANISATION_PREFIX: &str = "ORG#";

/// An organisation, by its code.
pub fn organisation(code: &str) -> Key {
    Key::new(ORGANISATIONS, format!("{ORGANISATION_PREFIX}{code}"))
}

/// Partition holding every specialist (listed in id order, i.e. registration order).
pub const SPECIALISTS: &str = "SPECIALISTS";
/// Sort-key prefix of specialists.
pub const SPECIALIST_PREFIX: &str = "SPECIALIST#";

/// A specialist with their certifications.
pub fn specialist(id: crate::domain::SpecialistId) -> Key {
    Key::new(SPECIALISTS, format!("{SPECIALIST_PREFIX}{id}"))
}

/// Partition of the partner-file idempotency index of specialists.
pub const SPECIALIST_EXTERNAL: &str = "SPECIALIST_EXT";

/// The specialist a partner recorded under its own `external_id` (the `specialists` and
/// `certifications` file kinds' natural key), scoped by the organisation the file came from.
pub fn specialist_external(source_org: &str, external_id: &str) -> Key {
    Key::new(SPECIALIST_EXTERNAL, format!("{source_org}#{external_id}"))
}

/// Partition holding every support episode (listed in id order, i.e. creation order).
pub const EPISODES: &str = "EPISODES";
/// Sort-key prefix of support episodes, in their partition and under their child in `gsi1`.
pub const EPISODE_PREFIX: &str = "EPISODE#";

/// A support episode.
pub fn episode(id: crate::domain::EpisodeId) -> Key {
    Key::new(EPISODES, format!("{EPISODE_PREFIX}{id}"))
}

/// Partition of the partner-file idempotency index of support episodes.
pub const EPISODE_EXTERNAL: &str = "EPISODE_EXT";

/// The episode a partner recorded under its own `external_id` (the `support-episodes` file
/// kind's natural key), scoped by the organisation the file came from.
pub fn episode_external(source_org: &str, external_id: &str) -> Key {
    Key::new(EPISODE_EXTERNAL, format!("{source_org}#{external_id}"))
}

/// Index sort key of an episode under its child (`gsi1pk` = [`child_index`]).
pub fn child_episode_index(id: crate::domain::EpisodeId) -> String {
    format!("{EPISODE_PREFIX}{id}")
}

/// A legal representative.
pub fn representative(id: crate::domain::RepresentativeId) -> Key {
    Key::new(format!("REP#{id}"), "REP")
}

/// Sort-key prefix of representatives under their child in `gsi1`.
pub const REPRESENTATIVE_PREFIX: &str = "REP#";

/// The link of a representative to one child, indexed under the child (`gsi1pk` =
/// [`child_index`], `gsi1sk` = `REP#<representative id>`).
pub fn representative_link(rep: crate::domain::RepresentativeId, child: ChildId) -> Key {
    Key::new(format!("REP#{rep}"), format!("CHILD#{child}"))
}

/// Index sort key of a representative under a child.
pub fn child_representative_index(rep: crate::domain::RepresentativeId) -> String {
    format!("{REPRESENTATIVE_PREFIX}{rep}")
}

/// The uniqueness/lookup record of a representative's personal code, by its keyed hash.
pub fn representative_code(code_hash: &str) -> Key {
    Key::new(format!("REPCODE#{code_hash}"), "REPCODE")
}

/// Sort-key prefix of a child's care links (under the child's own partition).
pub const CARE_PREFIX: &str = "CARE#";

/// The care link between a child and an organisation (see `services/care.rs`).
pub fn care_link(child: ChildId, organisation: &str) -> Key {
    Key::new(
        format!("CHILD#{child}"),
        format!("{CARE_PREFIX}{organisation}"),
    )
}

/// Index partition of the children an organisation has a care link to (`gsi1pk` of each
/// care link; `gsi1sk` = [`care_child_index`]): `GET /children` reads it.
pub fn care_org_index(organisation: &str) -> String {
    format!("{CARE_PREFIX}{organisation}")
}

/// Sort-key prefix of [`care_child_index`].
pub const CARE_CHILD_PREFIX: &str = "CHILD#";

/// Index sort key of a care link under its organisation.
pub fn care_child_index(child: ChildId) -> String {
    format!("{CARE_CHILD_PREFIX}{child}")
}

/// A break-the-glass grant of one holder (a hash of organisation and subject) for a child;
/// a new grant of the same holder replaces the previous one.
pub fn break_glass_grant(child: ChildId, holder_hash: &str) -> Key {
    Key::new(format!("CHILD#{child}"), format!("BTG#{holder_hash}"))
}

/// Partition of the break-the-glass log of one UTC day (the DPO's report reads it by day).
pub fn break_glass_log_partition(day: chrono::NaiveDate) -> String {
    format!("BTGLOG#{day}")
}

/// One entry of the break-the-glass log: by grant time, then the grant id.
pub fn break_glass_log(at: chrono::DateTime<chrono::Utc>, grant_id: &str) -> Key {
    Key::new(
        break_glass_log_partition(at.date_naive()),
        format!("{}#{grant_id}", at.format("%Y-%m-%dT%H:%M:%S%.6fZ")),
    )
}

/// Partition holding every referral (listed in id order, i.e. creation order).
pub const REFERRALS: &str = "REFERRALS";
/// Sort-key prefix of referrals, in their partition and under their child in `gsi1`.
pub const REFERRAL_PREFIX: &str = "REFERRAL#";

/// A referral (`services/referrals/`).
pub fn referral(id: crate::domain::ReferralId) -> Key {
    Key::new(REFERRALS, format!("{REFERRAL_PREFIX}{id}"))
}

/// Index sort key of a referral under its child (`gsi1pk` = [`child_index`]).
pub fn child_referral_index(id: crate::domain::ReferralId) -> String {
    format!("{REFERRAL_PREFIX}{id}")
}

/// Partition of one organisation's worklist: its items in due-date order.
pub fn worklist_partition(organisation: &str) -> String {
    format!("WORKLIST#{organisation}")
}

/// A worklist item of `organisation`: sorted by due date, then urgency rank (0 first), then
/// the item's id (`<kind>#<source>`, unique per organisation), so the partition reads most
/// urgent first.
pub fn worklist_item(organisation: &str, due_on: chrono::NaiveDate, rank: u8, item: &str) -> Key {
    Key::new(
        worklist_partition(organisation),
        format!("{due_on}#{rank}#{item}"),
    )
}

/// Sort-key prefix of a child's worklist items under [`child_index`] in `gsi1`.
pub const WORK_PREFIX: &str = "WORK#";

/// Index sort key of a worklist item under its child.
pub fn child_work_index(organisation: &str, item: &str) -> String {
    format!("{WORK_PREFIX}{organisation}#{item}")
}

/// How many partitions the pending-reconcile markers are spread over.
pub const WORK_PENDING_SHARDS: u8 = 16;

/// Partition of one shard of pending-reconcile markers.
pub fn work_pending_partition(shard: u8) -> String {
    format!("WORKPENDING#{shard:x}")
}

/// A marker that a change to `child`'s care pathway (`event`: a unique id of the change)
/// was committed and its worklist items may not be reconciled yet. Written in the same
/// atomic write as the change, deleted after the reconcile; the sweep reconciles leftovers.
pub fn work_pending(child: ChildId, event: &str) -> Key {
    let shard = child.as_uuid().as_bytes()[15] % WORK_PENDING_SHARDS;
    Key::new(work_pending_partition(shard), format!("{child}#{event}"))
}

/// Partition of the register of children living in one territory (the first four ATVK
/// digits; `none` for children without a declared address): roles that see every child of
/// their territory list it (`GET /children?in_care=false`).
pub fn register_partition(territory: Option<&crate::domain::Atvk>) -> String {
    format!(
        "REGISTER#{}",
        territory.map_or("none", crate::domain::Atvk::territory_code)
    )
}

/// Every partition the register may have: `REGISTER#none` and one per possible territory
/// code (`0000`–`9999`), for a job that must see every child (`register::every_child`).
pub fn register_partitions() -> impl Iterator<Item = String> {
    std::iter::once(register_partition(None))
        .chain((0..10_000).map(|code| format!("REGISTER#{code:04}")))
}

/// Sort-key prefix of register entries.
pub const REGISTER_CHILD_PREFIX: &str = "CHILD#";

/// A child's entry in the register of its territory.
pub fn register_entry(territory: Option<&crate::domain::Atvk>, child: ChildId) -> Key {
    Key::new(
        register_partition(territory),
        format!("{REGISTER_CHILD_PREFIX}{child}"),
    )
}

/// An export job (`services/exports/`): its own partition, read by id.
pub fn export_job(id: crate::domain::ExportId) -> Key {
    Key::new(format!("EXPORT#{id}"), "EXPORT")
}

/// Index partition of the export jobs of one target in one state (`gsi1pk` of each job).
pub fn export_state_index(
    target: crate::domain::export::ExportTarget,
    state: crate::domain::export::ExportState,
) -> String {
    format!("EXPORTS#{}#{}", target.as_str(), state.as_str())
}

/// Index sort key of an export job in its state: the time the worker should next look at
/// it (jobs still to work on) or the time it last changed (finished jobs), then its id, so
/// the sweep reads the due jobs with one range query.
pub fn export_state_index_sort(
    at: chrono::DateTime<chrono::Utc>,
    id: crate::domain::ExportId,
) -> String {
    format!("{}#{id}", at.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
}

/// Sort-key prefix of a child's export pointers (under the child's own partition).
pub const CHILD_EXPORT_PREFIX: &str = "EXPORT#";

/// A pointer from a child to one of its export jobs (written with the job), so an operator
/// lists a child's exports without scanning every job.
pub fn child_export(child: ChildId, id: crate::domain::ExportId) -> Key {
    Key::new(
        format!("CHILD#{child}"),
        format!("{CHILD_EXPORT_PREFIX}{id}"),
    )
}

/// A report (issue #13).
pub fn report(id: crate::domain::ReportId) -> Key {
    Key::new(format!("REPORT#{id}"), "REPORT")
}

/// Index partition of every report (`gsi1pk`); the sort key is the request time and id.
pub const REPORTS_INDEX: &str = "REPORTS";

/// The marker of a period's scheduled open-data report (one per period).
pub fn scheduled_report(period: &str) -> Key {
    Key::new(format!("REPORT_SCHEDULE#{period}"), "REPORT_SCHEDULE")
}
