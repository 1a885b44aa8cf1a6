//! A definition compiled into positions: what the engine (`engine.rs`) builds once per
//! instrument and the outcome (`outcome.rs`) computes from, so neither needs the other's
//! internals.

use super::answers::ItemLookup;
use super::definition::{Band, Basis, Condition, InstrumentDefinition, MissingRule, RiskRule};
use std::fmt::Write as _;

/// A definition compiled into positions, so scoring does no name lookups.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) def: InstrumentDefinition,
    pub(crate) file: String,
    pub(crate) lookup: ItemLookup,
    /// Item scores by answer code, per item position.
    pub(crate) item_codes: Vec<Vec<i64>>,
    pub(crate) scores: Vec<CScore>,
    /// Score positions in id order (the order the result's map serialises in).
    pub(crate) scores_by_id: Vec<usize>,
    /// Bands per table, per score position (`None`: the score has no norms).
    pub(crate) tables: Vec<Vec<Option<Vec<Band>>>>,
    pub(crate) rules: Vec<CRule>,
    pub(crate) follow_up: Option<CFollowUp>,
}

#[derive(Debug)]
pub(crate) struct CScore {
    pub(crate) id: String,
    /// `score.<id>`, the explanation's rule name.
    pub(crate) rule: String,
    /// `a + b + c` for `sum_of` scores, for the explanation.
    pub(crate) formula: String,
    pub(crate) method: CMethod,
    pub(crate) zero_when: Option<(usize, u8)>,
}

#[derive(Debug)]
pub(crate) enum CMethod {
    Sum {
        items: Vec<usize>,
        missing: MissingRule,
    },
    SumOf(Vec<usize>),
}

#[derive(Debug)]
pub(crate) enum CCond {
    Band { score: usize, bands: Vec<String> },
    Value { score: usize, min: i64, max: i64 },
    Missing { score: usize },
    ItemScore { item: usize, min: i64, max: i64 },
    Age { min: i32, max: i32 },
}

#[derive(Debug)]
pub(crate) struct CRule {
    /// Position in the definition's `risk_rules`.
    pub(crate) index: usize,
    pub(crate) when: Vec<CCond>,
    /// The rule's explanation line: its `explain`, basis, risk and flags.
    pub(crate) text: String,
}

#[derive(Debug)]
pub(crate) struct CFollowUp {
    /// Initial instrument id.
    pub(crate) instrument: String,
    /// Position, in this instrument, of the initial instrument's item with the same id.
    pub(crate) initial_item: Vec<usize>,
    /// Position of the deciding score in the initial instrument.
    pub(crate) initial_score: usize,
    pub(crate) min_initial: i64,
}

impl Compiled {
    pub(crate) fn new(file: String, def: InstrumentDefinition) -> Compiled {
        let lookup = ItemLookup::new(def.items.iter().map(|i| i.id.as_str()));
        let item_codes: Vec<Vec<i64>> = def
            .items
            .iter()
            .map(|i| def.coding_of(i).scores.clone())
            .collect();
        let item_pos = |id: &str| lookup.get(id).unwrap_or(usize::MAX);
        let score_pos = |id: &str| {
            def.scores
                .iter()
                .position(|s| s.id == id)
                .unwrap_or(usize::MAX)
        };
        // Definitions are validated before compiling, so every name resolves.
        let scores = def
            .scores
            .iter()
            .map(|s| CScore {
                id: s.id.clone(),
                rule: format!("score.{}", s.id),
                formula: s
                    .sum_of
                    .as_deref()
                    .map(|of| of.join(" + "))
                    .unwrap_or_default(),
                method: match (&s.sum, &s.sum_of) {
                    (Some(sum), _) => CMethod::Sum {
                        items: sum.items.iter().map(|i| item_pos(i)).collect(),
                        missing: sum.missing,
                    },
                    (None, Some(of)) => CMethod::SumOf(of.iter().map(|i| score_pos(i)).collect()),
                    (None, None) => CMethod::SumOf(Vec::new()),
                },
                zero_when: s
                    .zero_when
                    .as_ref()
                    .map(|z| (item_pos(&z.item), u8::try_from(z.answer).unwrap_or(u8::MAX))),
            })
            .collect();
        let tables = def
            .norms
            .tables
            .iter()
            .map(|t| {
                def.scores
                    .iter()
                    .map(|s| t.bands.get(&s.id).cloned())
                    .collect()
            })
            .collect();
        let rules = def
            .risk_rules
            .iter()
            .enumerate()
            .map(|(index, r)| CRule {
                index,
                when: r
                    .when
                    .iter()
                    .map(|c| match c {
                        Condition::Band { score, bands } => CCond::Band {
                            score: score_pos(score),
                            bands: bands.clone(),
                        },
                        Condition::Value { score, min, max } => CCond::Value {
                            score: score_pos(score),
                            min: min.unwrap_or(i64::MIN),
                            max: max.unwrap_or(i64::MAX),
                        },
                        Condition::Missing { score } => CCond::Missing {
                            score: score_pos(score),
                        },
                        Condition::ItemScore { item, min, max } => CCond::ItemScore {
                            item: item_pos(item),
                            min: min.unwrap_or(i64::MIN),
                            max: max.unwrap_or(i64::MAX),
                        },
                        Condition::AgeMonths { min, max } => CCond::Age {
                            min: min.unwrap_or(i32::MIN),
                            max: max.unwrap_or(i32::MAX),
                        },
                    })
                    .collect(),
                text: rule_text(r),
            })
            .collect();
        let mut scores_by_id: Vec<usize> = (0..def.scores.len()).collect();
        scores_by_id.sort_by(|&a, &b| def.scores[a].id.cmp(&def.scores[b].id));
        Compiled {
            def,
            file,
            lookup,
            item_codes,
            scores,
            scores_by_id,
            tables,
            rules,
            follow_up: None,
        }
    }
}

/// The explanation line of a risk rule: its text, its basis unless published, what it sets.
fn rule_text(rule: &RiskRule) -> String {
    let mut text = rule.explain.clone();
    if rule.basis != Basis::Published {
        let _ = write!(text, " [{}]", rule.basis);
    }
    if let Some(level) = rule.risk {
        let _ = write!(text, "; risk {level}");
    }
    for flag in &rule.flags {
        let _ = write!(text, "; flag {flag}");
    }
    text
}
