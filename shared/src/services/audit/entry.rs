//! The audit trail's values: who did what to whose data (`AuditEvent`), the hashed
//! entry as stored (`AuditEntry`), and what a verification finds (`ChainBreak`).

use crate::domain::{ChildId, Pseudonym, Role};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev_hash` of the first entry of a chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Token subject.
    pub subject: String,
    /// Roles the caller held.
    pub roles: Vec<Role>,
    /// Organisation the caller acted for.
    pub organisation: String,
}

/// What was done to the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// Personal data was returned to the caller.
    Read,
    /// Personal data was created.
    Create,
    /// Personal data was changed (or its processing re-run, e.g. a re-score).
    Update,
    /// Personal data was sent to another system (`recipient` names it): an export.
    Disclose,
}

/// How the access ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// Done (data returned or stored).
    Success,
    /// An earlier response was returned again for the same `Idempotency-Key`.
    Replayed,
    /// Refused: the caller's role may not do this.
    Denied,
}

/// The kind of personal-data record accessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditEntity {
    /// A child's registry record.
    Child,
    /// A screening submission with its result.
    Screening,
    /// A child's risk profile (all results).
    RiskProfile,
    /// A support episode (a child in a programme or service).
    SupportEpisode,
    /// A legal representative of the child (family link).
    LegalRepresentative,
    /// A referral of the child to a programme or service.
    Referral,
    /// The child's items on a worklist (what is due for the child, with its name).
    Worklist,
    /// An export job of the child's data (an operator's view or retry of it).
    Export,
    /// A break-the-glass grant for the child (its reason is the entry's `break_glass_reason`).
    BreakGlass,
    /// A child's audit trail, read by a data protection officer (entries of the DPO-access
    /// chain; `entity_id` is the pseudonym of the child whose trail was read).
    AuditTrail,
}

/// The reserved id whose chain is the DPO-access chain: every read of an audit trail
/// (`GET /audit`, `GET /audit/report`) is recorded there. The nil UUID is never a child's
/// id (ids are UUIDv7); a data protection officer reads this chain with
/// `GET /audit?child=00000000-0000-0000-0000-000000000000`, and that read is recorded too.
pub fn dpo_access_chain() -> ChildId {
    ChildId::from_uuid(uuid::Uuid::nil())
}

/// One access to record, as the use case describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// The child whose data it is.
    pub child: ChildId,
    /// The kind of record.
    pub entity: AuditEntity,
    /// The record's own id, when it is not the child (a screening id).
    pub entity_id: Option<String>,
    /// Read or write.
    pub action: AuditAction,
    /// The fields accessed, or `["all"]`.
    pub fields: Vec<String>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// The break-the-glass reason, when the access is made under a grant.
    pub break_glass_reason: Option<String>,
    /// The system the data was sent to ([`AuditAction::Disclose`]).
    pub recipient: Option<String>,
}

impl AuditEvent {
    /// A successful access to every field of a record.
    pub fn all(child: ChildId, entity: AuditEntity, action: AuditAction) -> Self {
        Self {
            child,
            entity,
            entity_id: None,
            action,
            fields: vec!["all".into()],
            outcome: AuditOutcome::Success,
            break_glass_reason: None,
            recipient: None,
        }
    }

    /// Data of the child sent to `recipient` (an export to a national system).
    pub fn disclosure(
        child: ChildId,
        entity: AuditEntity,
        entity_id: impl ToString,
        recipient: &str,
    ) -> Self {
        Self {
            recipient: Some(recipient.to_owned()),
            ..Self::all(child, entity, AuditAction::Disclose).of(entity_id)
        }
    }

    /// The same event made under break-the-glass with this reason (`None`: not).
    pub fn with_break_glass_reason(mut self, reason: Option<String>) -> Self {
        self.break_glass_reason = reason;
        self
    }

    /// The same event about a record with its own id.
    pub fn of(mut self, entity_id: impl ToString) -> Self {
        self.entity_id = Some(entity_id.to_string());
        self
    }

    /// The same event with another outcome.
    pub fn with_outcome(mut self, outcome: AuditOutcome) -> Self {
        self.outcome = outcome;
        self
    }
}

/// The hashed part of an entry; its JSON (fields in this order) is the canonical form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryBody {
    /// Position in the child's chain, from 1.
    pub seq: u64,
    /// When the access happened.
    pub at: DateTime<Utc>,
    /// The request it happened in.
    pub request_id: String,
    /// Who.
    pub actor: Actor,
    /// Read or write.
    pub action: AuditAction,
    /// Kind of record.
    pub entity: AuditEntity,
    /// The record's own id, if not the child.
    pub entity_id: Option<String>,
    /// The child, by pseudonym only.
    pub child: Pseudonym,
    /// Fields accessed, or `["all"]`.
    pub fields: Vec<String>,
    /// Declared purpose of processing (token claim `ravis:purpose`).
    pub purpose: Option<String>,
    /// Break-the-glass reason, when access was by break-the-glass.
    pub break_glass_reason: Option<String>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// Hash of the previous entry ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// The reason the actor gave (a merge or un-merge of children); absent otherwise, so
    /// entries written before this field existed hash exactly as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The system the data was sent to (a disclosure); absent otherwise, so entries written
    /// before this field existed hash exactly as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
}

impl EntryBody {
    /// SHA-256 of the canonical serialisation, lowercase hex.
    pub fn hash(&self) -> String {
        let bytes = serde_json::to_vec(self).expect("an entry body always serialises");
        hex::encode(Sha256::digest(bytes))
    }
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The hashed content.
    #[serde(flatten)]
    pub body: EntryBody,
    /// [`EntryBody::hash`] of `body`.
    pub hash: String,
}

/// One problem found by [`AuditTrail::verify`](super::AuditTrail::verify).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    /// The entry concerned (for a removed entry: the sequence number that is missing).
    pub seq: u64,
    /// What is wrong.
    pub problem: String,
}

/// The result of verifying a child's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Whether no problem was found.
    pub intact: bool,
    /// How many entries are stored.
    pub entries: u64,
    /// Entries before this sequence number expired under the retention setting (if any).
    pub expired_before: Option<u64>,
    /// Every problem, in chain order.
    pub breaks: Vec<ChainBreak>,
}
