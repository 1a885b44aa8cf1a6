//! The `ravis score` contract: one JSON request per line in, one JSON result per line out.
//!
//! - Each non-blank input line is one [`ScoreRequest`](super::ScoreRequest) object; blank lines
//!   are skipped (no output), so output line *k* belongs to the *k*-th non-blank input line.
//! - A line that scores yields the [`ScoreResult`](super::ScoreResult) as one JSON line.
//! - A bad line yields `{"line": N, "errors": [{"field": .., "reason": ..}]}` (N counts every
//!   input line from 1, blank ones too) and the following lines still score. `field` is empty
//!   for problems with the line as a whole (not JSON, not an object).
//!
//! The fast path parses each line once into borrowed pieces and streams the answers straight
//! into reused per-item slots; the semantic checks and the scoring are the very code
//! [`Engine::score`] runs, so a line gives the same result here as through the API.

use super::answers::{AnswerSet, AnswersSeed, LenientAnswersSeed};
use super::compiled::Compiled;
use super::outcome::{Outcome, Scratch};
use super::{ChildFacts, Engine, InitialScreening, ScoringError};
use chrono::NaiveDate;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;
use std::io::{self, BufRead, BufWriter, Write};

/// Counts of one `score_lines` run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LinesSummary {
    /// Non-blank lines read.
    pub lines: u64,
    /// Lines that produced a result.
    pub scored: u64,
    /// Lines that produced an error object.
    pub failed: u64,
}

/// Scores JSON lines with the shipped definitions (see the module documentation).
pub fn score_lines(input: impl BufRead, output: impl Write) -> io::Result<LinesSummary> {
    Engine::builtin()
        .map_err(io::Error::other)?
        .score_lines(input, output)
}

#[derive(Serialize)]
struct LineErrors<'a> {
    line: u64,
    errors: &'a [ScoringError],
}

impl Engine {
    /// Scores JSON lines with this engine (e.g. one carrying national norms).
    pub fn score_lines(
        &self,
        mut input: impl BufRead,
        output: impl Write,
    ) -> io::Result<LinesSummary> {
        let mut out = BufWriter::with_capacity(1 << 16, output);
        let mut buf: Vec<u8> = Vec::with_capacity(1024);
        let mut set = AnswerSet::default();
        let mut scratch = Scratch::default();
        let mut summary = LinesSummary::default();
        let mut number = 0u64;
        loop {
            buf.clear();
            if input.read_until(b'\n', &mut buf)? == 0 {
                break;
            }
            number += 1;
            let outcome = match std::str::from_utf8(&buf) {
                Ok(text) => {
                    let text = text.trim_end_matches(['\n', '\r']);
                    if text.trim().is_empty() {
                        continue;
                    }
                    self.score_line(text, &mut set, &mut scratch)
                }
                Err(_) => Err(vec![ScoringError::new("", "the line is not valid UTF-8")]),
            };
            summary.lines += 1;
            match outcome {
                Ok(outcome) => {
                    // Written straight from the scratch: the same JSON as the ScoreResult.
                    serde_json::to_writer(&mut out, &outcome.view(&scratch))?;
                    summary.scored += 1;
                }
                Err(errors) => {
                    serde_json::to_writer(
                        &mut out,
                        &LineErrors {
                            line: number,
                            errors: &errors,
                        },
                    )?;
                    summary.failed += 1;
                }
            }
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(summary)
    }

    /// Scores one JSON request, reusing `set` and `scratch`.
    pub(crate) fn score_line<'e>(
        &'e self,
        text: &str,
        set: &mut AnswerSet,
        scratch: &mut Scratch,
    ) -> Result<Outcome<'e>, Vec<ScoringError>> {
        let whole_line = |e: serde_json::Error| {
            vec![ScoringError::new(
                "",
                format!("not a JSON request object: {}", without_position(&e)),
            )]
        };
        let mut de = serde_json::Deserializer::from_str(text);
        let fields = LineSeed { engine: self, set }
            .deserialize(&mut de)
            .map_err(whole_line)?;
        de.end().map_err(whole_line)?;
        let mut errors = fields.problems;
        let instrument = required(&mut errors, "instrument", fields.instrument).and_then(|raw| {
            parse_str(raw).or_else(|| {
                errors.push(ScoringError::new("instrument", "must be a string"));
                None
            })
        });
        let administered_on = required(&mut errors, "administered_on", fields.administered_on)
            .and_then(|raw| match serde_json::from_str::<NaiveDate>(raw.get()) {
                Ok(date) => Some(date),
                Err(_) => {
                    errors.push(ScoringError::new(
                        "administered_on",
                        "must be a date written YYYY-MM-DD",
                    ));
                    None
                }
            });
        let child =
            required(&mut errors, "child", fields.child).and_then(
                |raw| match serde_json::from_str::<ChildFacts>(raw.get()) {
                    Ok(child) => Some(child),
                    Err(e) => {
                        errors.push(ScoringError::new(
                            "child",
                            format!(
                                "{} (expected birth_date YYYY-MM-DD, sex female/male, optional \
                             gestational_age_weeks)",
                                without_position(&e)
                            ),
                        ));
                        None
                    }
                },
            );
        let initial = match fields.initial {
            None => None,
            Some(raw) => match serde_json::from_str::<Option<InitialScreening>>(raw.get()) {
                Ok(initial) => initial,
                Err(e) => {
                    errors.push(ScoringError::new(
                        "initial",
                        format!(
                            "{} (expected instrument, administered_on and answers)",
                            without_position(&e)
                        ),
                    ));
                    None
                }
            },
        };
        let inst = instrument.as_deref().and_then(|id| self.compiled(id));
        let answers = match fields.streamed {
            Some(_) => fields.answers,
            None => required(&mut errors, "answers", fields.answers),
        };
        if let Some(is_object) = fields.streamed {
            // Already read into `set` while parsing the line (the instrument came first).
            if !is_object {
                errors.push(ScoringError::new(
                    "answers",
                    "must be an object of answer codes keyed by item id",
                ));
            }
        } else if let (Some(inst), Some(raw)) = (inst, answers) {
            set.reset(inst.def.items.len());
            let mut de = serde_json::Deserializer::from_str(raw.get());
            let seed = AnswersSeed {
                lookup: &inst.lookup,
                set,
            };
            if seed.deserialize(&mut de).is_err() {
                errors.push(ScoringError::new(
                    "answers",
                    "must be an object of answer codes keyed by item id",
                ));
            }
        } else if let Some(raw) = answers
            && !raw.get().starts_with('{')
        {
            errors.push(ScoringError::new(
                "answers",
                "must be an object of answer codes keyed by item id",
            ));
        }
        match (instrument, inst, administered_on, child) {
            // Unknown or repeated keys do not stop the checks of the fields that did parse.
            (Some(_), Some(inst), Some(date), Some(child))
                if errors.iter().all(|e| fields_ok(&e.field)) =>
            {
                match self.evaluate(inst, set, date, &child, initial.as_ref(), scratch) {
                    Ok(result) if errors.is_empty() => Ok(result),
                    Ok(_) => Err(errors),
                    Err(more) => {
                        errors.extend(more);
                        Err(errors)
                    }
                }
            }
            (Some(id), None, _, child) => {
                // The instrument error comes first, as the owned path reports it.
                let mut all = self.unknown_instrument(&id, child.as_ref());
                all.extend(errors);
                Err(all)
            }
            _ => Err(errors),
        }
    }
}

/// Whether an error about `field` leaves the request's own fields usable (it is about an
/// unknown or repeated key, not about one of the five fields' values).
fn fields_ok(field: &str) -> bool {
    !matches!(
        field,
        "instrument" | "answers" | "administered_on" | "child" | "initial"
    )
}

fn required<'a>(
    errors: &mut Vec<ScoringError>,
    field: &str,
    value: Option<&'a RawValue>,
) -> Option<&'a RawValue> {
    if value.is_none() {
        errors.push(ScoringError::new(field, "missing"));
    }
    value
}

/// A JSON string, borrowed from the line unless it has escapes.
fn parse_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    match serde_json::from_str::<&str>(raw.get()) {
        Ok(s) => Some(Cow::Borrowed(s)),
        Err(_) => serde_json::from_str::<String>(raw.get())
            .ok()
            .map(Cow::Owned),
    }
}

/// A serde error's message without "at line 1 column 7", which means little to a screener.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// The top-level fields of a request line, unparsed, plus problems with the keys themselves.
struct LineFields<'a> {
    instrument: Option<&'a RawValue>,
    answers: Option<&'a RawValue>,
    /// Set when the answers were streamed into the answer set during the parse: whether
    /// they were an object.
    streamed: Option<bool>,
    administered_on: Option<&'a RawValue>,
    child: Option<&'a RawValue>,
    initial: Option<&'a RawValue>,
    problems: Vec<ScoringError>,
}

/// Reads a request line in one pass: when `instrument` comes before `answers` (the usual
/// order) and is known, the answers go straight into the answer set; otherwise they are kept
/// unparsed and read once the instrument is known.
struct LineSeed<'s> {
    engine: &'s Engine,
    set: &'s mut AnswerSet,
}

impl<'de> DeserializeSeed<'de> for LineSeed<'_> {
    type Value = LineFields<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LineSeed<'_> {
    type Value = LineFields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LineFields<'de>, A::Error> {
        let mut fields = LineFields {
            instrument: None,
            answers: None,
            streamed: None,
            administered_on: None,
            child: None,
            initial: None,
            problems: Vec::new(),
        };
        let mut known: Option<&Compiled> = None;
        while let Some(key) = map.next_key::<FieldKey>()? {
            let (name, slot) = match key {
                FieldKey::Instrument => ("instrument", &mut fields.instrument),
                FieldKey::Answers => {
                    if let (Some(inst), None, None) = (known, fields.streamed, fields.answers) {
                        self.set.reset(inst.def.items.len());
                        let seed = AnswersSeed {
                            lookup: &inst.lookup,
                            set: &mut *self.set,
                        };
                        fields.streamed = Some(map.next_value_seed(LenientAnswersSeed(seed))?);
                        continue;
                    }
                    ("answers", &mut fields.answers)
                }
                FieldKey::AdministeredOn => ("administered_on", &mut fields.administered_on),
                FieldKey::Child => ("child", &mut fields.child),
                FieldKey::Initial => ("initial", &mut fields.initial),
                FieldKey::Unknown(name) => {
                    map.next_value::<IgnoredAny>()?;
                    let short: String = name.chars().take(64).collect();
                    fields.problems.push(ScoringError::new(
                        short,
                        "unknown field; expected instrument, answers, administered_on, child, \
                         initial",
                    ));
                    continue;
                }
            };
            let value: &'de RawValue = map.next_value()?;
            let repeated =
                slot.replace(value).is_some() || (name == "answers" && fields.streamed.is_some());
            if repeated {
                fields
                    .problems
                    .push(ScoringError::new(name, "given more than once"));
            }
            if name == "instrument" && !repeated {
                known = parse_str(value).and_then(|id| self.engine.compiled(&id));
            }
        }
        Ok(fields)
    }
}

enum FieldKey {
    Instrument,
    Answers,
    AdministeredOn,
    Child,
    Initial,
    Unknown(String),
}

impl<'de> Deserialize<'de> for FieldKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = FieldKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldKey, E> {
                Ok(match v {
                    "instrument" => FieldKey::Instrument,
                    "answers" => FieldKey::Answers,
                    "administered_on" => FieldKey::AdministeredOn,
                    "child" => FieldKey::Child,
                    "initial" => FieldKey::Initial,
                    other => FieldKey::Unknown(other.to_owned()),
                })
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}
