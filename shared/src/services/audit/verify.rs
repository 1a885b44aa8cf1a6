//! Reading a chain back: verifying its hashes and order, and summarising it for the
//! data protection officer.

use super::entry::*;
use crate::domain::Pseudonym;
use crate::ports::{Key, Record, StoreError};
use crate::store::keys;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Groups entries by organisation, roles and day, counting reads, writes, refusals and the
/// accesses made under break-the-glass (the grant included).
pub fn summarise(entries: &[AuditEntry]) -> Vec<Value> {
    #[derive(Default)]
    struct Counts {
        reads: u64,
        writes: u64,
        denied: u64,
        break_glass: u64,
        disclosures: u64,
        entities: std::collections::BTreeSet<String>,
        sent_to: std::collections::BTreeSet<String>,
    }
    let mut groups: BTreeMap<(String, String, String), Counts> = BTreeMap::new();
    for e in entries {
        let roles = e
            .body
            .actor
            .roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let key = (
            e.body.actor.organisation.clone(),
            roles,
            e.body.at.date_naive().to_string(),
        );
        let c = groups.entry(key).or_default();
        match (e.body.outcome, e.body.action) {
            (AuditOutcome::Denied, _) => c.denied += 1,
            (_, AuditAction::Read) => c.reads += 1,
            (_, AuditAction::Create | AuditAction::Update) => c.writes += 1,
            (_, AuditAction::Disclose) => c.disclosures += 1,
        }
        if let Some(recipient) = &e.body.recipient {
            c.sent_to.insert(recipient.clone());
        }
        if e.body.break_glass_reason.is_some() {
            c.break_glass += 1;
        }
        if let Ok(Value::String(s)) = serde_json::to_value(e.body.entity) {
            c.entities.insert(s);
        }
    }
    groups
        .into_iter()
        .map(|((organisation, roles, date), c)| {
            json!({
                "organisation": organisation,
                "roles": roles.split(',').collect::<Vec<_>>(),
                "date": date,
                "reads": c.reads,
                "writes": c.writes,
                "denied": c.denied,
                "break_glass": c.break_glass,
                "disclosures": c.disclosures,
                "sent_to": c.sent_to,
                "entities": c.entities,
            })
        })
        .collect()
}

/// The sequence number and hash of a chain's head record.
pub(super) fn parse_head(r: &Record) -> Result<(u64, String), StoreError> {
    match (r.data["seq"].as_u64(), r.data["hash"].as_str()) {
        (Some(seq), Some(hash)) => Ok((seq, hash.to_owned())),
        _ => Err(StoreError::Corrupt {
            pk: r.key.pk.clone(),
            sk: r.key.sk.clone(),
            reason: "audit head without seq and hash".into(),
        }),
    }
}

fn seq_of_key(key: &Key) -> Option<u64> {
    key.sk.strip_prefix(keys::AUDIT_ENTRY_PREFIX)?.parse().ok()
}

/// Checks stored entries (in sort-key order) and the head of one chain.
pub fn verify_chain(
    child: &Pseudonym,
    records: &[Record],
    head: Option<&Record>,
    retention: bool,
) -> Verification {
    let mut breaks = Vec::new();
    let mut expired_before = None;
    // (seq, stored hash) of the previous entry whose position is known.
    let mut prev: Option<(u64, String)> = None;
    for record in records {
        let Some(seq) = seq_of_key(&record.key) else {
            breaks.push(ChainBreak {
                seq: 0,
                problem: format!("entry with an invalid sort key '{}'", record.key.sk),
            });
            continue;
        };
        let expected = prev.as_ref().map_or(1, |(s, _)| s + 1);
        if seq > expected {
            if prev.is_none() && retention {
                // Older entries expired under the retention setting.
                expired_before = Some(seq);
            } else {
                for missing in expected..seq {
                    breaks.push(ChainBreak {
                        seq: missing,
                        problem: "entry is missing (removed)".into(),
                    });
                }
            }
        }
        let entry: AuditEntry = match serde_json::from_value(record.data.clone()) {
            Ok(e) => e,
            Err(e) => {
                breaks.push(ChainBreak {
                    seq,
                    problem: format!("entry is unreadable (modified): {e}"),
                });
                prev = Some((seq, String::new()));
                continue;
            }
        };
        if entry.body.seq != seq {
            breaks.push(ChainBreak {
                seq,
                problem: format!(
                    "entry stored at position {seq} says it is entry {} (moved or reordered)",
                    entry.body.seq
                ),
            });
        }
        if &entry.body.child != child {
            breaks.push(ChainBreak {
                seq,
                problem: "entry belongs to another child's chain (moved)".into(),
            });
        }
        if entry.body.hash() != entry.hash {
            breaks.push(ChainBreak {
                seq,
                problem: "content does not match its hash (modified)".into(),
            });
        }
        match &prev {
            // After a gap the missing entry is the break; the link cannot be checked.
            Some((p, hash)) if *p + 1 == seq && !hash.is_empty() && *hash != entry.body.prev_hash => {
                breaks.push(ChainBreak {
                    seq,
                    problem: format!(
                        "prev_hash does not match entry {p} (entry {p} was replaced, or this one was)"
                    ),
                })
            }
            None if seq == 1 && entry.body.prev_hash != GENESIS_HASH => breaks
                .push(ChainBreak {
                    seq,
                    problem: "first entry does not start the chain".into(),
                }),
            _ => {}
        }
        prev = Some((seq, entry.hash.clone()));
    }
    match (head.map(parse_head), &prev) {
        (None, None) => {}
        (None, Some((seq, _))) => breaks.push(ChainBreak {
            seq: *seq,
            problem: "the chain's head record is missing".into(),
        }),
        (Some(Err(e)), _) => breaks.push(ChainBreak {
            seq: 0,
            problem: e.to_string(),
        }),
        (Some(Ok((head_seq, _))), None) => {
            if !(retention && head_seq > 0) {
                for missing in 1..=head_seq {
                    breaks.push(ChainBreak {
                        seq: missing,
                        problem: "entry is missing (removed)".into(),
                    });
                }
            }
        }
        (Some(Ok((head_seq, head_hash))), Some((last, last_hash))) => {
            if head_seq > *last {
                for missing in last + 1..=head_seq {
                    breaks.push(ChainBreak {
                        seq: missing,
                        problem: "entry is missing (removed from the end)".into(),
                    });
                }
            } else if head_seq < *last {
                breaks.push(ChainBreak {
                    seq: *last,
                    problem: format!("entry is beyond the chain's head ({head_seq}) (inserted)"),
                });
            } else if head_hash != *last_hash && !last_hash.is_empty() {
                breaks.push(ChainBreak {
                    seq: *last,
                    problem: "hash does not match the chain's head (replaced)".into(),
                });
            }
        }
    }
    Verification {
        intact: breaks.is_empty(),
        entries: records.len() as u64,
        expired_before,
        breaks,
    }
}
