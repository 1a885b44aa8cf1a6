//! Wording packs: the licensed item wording of one instrument in one language.
//!
//! Definitions hold no item wording (it is licensed). An operator loads a pack from a
//! licensed source: a JSON file naming the instrument, the definition versions it fits,
//! its language, the source and licence statement, the wording of every item and,
//! optionally, answer option labels per coding. [`WordingPack::parse`] checks it strictly
//! against the definition and names every field it refuses.

use crate::domain::FieldError;
use crate::scoring::InstrumentDefinition;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The largest pack file accepted, in bytes.
pub const MAX_PACK_BYTES: usize = 1024 * 1024;
/// The longest item wording, in characters.
pub const MAX_ITEM_CHARS: usize = 2000;
/// The longest source or licence statement, in characters.
pub const MAX_STATEMENT_CHARS: usize = 1000;
/// The longest answer option label, in characters.
pub const MAX_LABEL_CHARS: usize = 200;

/// The languages a pack may be in (the web client's languages).
pub const LANGUAGES: &[&str] = &["lv", "en"];

/// A pack as stored (the file an operator loads); only [`WordingPack::parse`] builds one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WordingPack {
    /// The instrument id (`mchat-r`).
    pub instrument: String,
    /// The definition versions the wording fits (the instrument's `version`).
    pub versions: Vec<String>,
    /// `lv` or `en`.
    pub language: String,
    /// Where the wording comes from (title, authors, translation).
    pub source: String,
    /// The licence under which it is used.
    pub licence: String,
    /// The wording of every item, by item id.
    pub items: BTreeMap<String, String>,
    /// Answer option labels by coding name (one per answer code), optional.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub option_labels: BTreeMap<String, Vec<String>>,
}

/// The storage name of a pack: `<instrument>.<language>.json`.
pub fn pack_file_name(instrument: &str, language: &str) -> String {
    format!("{instrument}.{language}.json")
}

/// Whether `language` is one a pack may be in.
pub fn is_language(language: &str) -> bool {
    LANGUAGES.contains(&language)
}

fn check_text(errors: &mut Vec<FieldError>, field: String, text: &str, max: usize) {
    if text.trim().is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
    } else if text.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!(
                "has {} characters; at most {max} are allowed",
                text.chars().count()
            ),
        ));
    } else if text.chars().any(|c| c.is_control() && c != '\n') {
        errors.push(FieldError::new(
            field,
            "contains control characters (only line breaks are allowed)",
        ));
    }
}

impl WordingPack {
    /// Parses and checks a pack against the instrument definitions `lookup` finds: every
    /// refused field is named (`items.7`, `language`, `option_labels.yes_no`).
    pub fn parse<'a>(
        bytes: &[u8],
        lookup: impl Fn(&str) -> Option<&'a InstrumentDefinition>,
    ) -> Result<WordingPack, Vec<FieldError>> {
        if bytes.len() > MAX_PACK_BYTES {
            return Err(vec![FieldError::new(
                "",
                format!(
                    "the pack has {} bytes; at most {MAX_PACK_BYTES} are allowed",
                    bytes.len()
                ),
            )]);
        }
        let pack: WordingPack = serde_json::from_slice(bytes).map_err(|e| {
            vec![FieldError::new(
                "",
                format!(
                    "not a wording pack (line {}, column {}): {e}",
                    e.line(),
                    e.column()
                ),
            )]
        })?;
        let Some(def) = lookup(&pack.instrument) else {
            return Err(vec![FieldError::new(
                "instrument",
                format!(
                    "'{}' is not an instrument RAVIS scores",
                    pack.instrument.chars().take(100).collect::<String>()
                ),
            )]);
        };
        pack.check(def)?;
        Ok(pack)
    }

    /// Every problem of the pack against `def`.
    fn check(&self, def: &InstrumentDefinition) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if !is_language(&self.language) {
            errors.push(FieldError::new(
                "language",
                format!(
                    "'{}' is not one of {}",
                    self.language.chars().take(20).collect::<String>(),
                    LANGUAGES.join(", ")
                ),
            ));
        }
        if self.versions.is_empty() {
            errors.push(FieldError::new(
                "versions",
                format!(
                    "name at least one definition version (the instrument is at {})",
                    def.version
                ),
            ));
        } else if !self.versions.contains(&def.version) {
            errors.push(FieldError::new(
                "versions",
                format!(
                    "the pack fits versions {} but the instrument's definition is at version {}",
                    self.versions.join(", "),
                    def.version
                ),
            ));
        }
        check_text(
            &mut errors,
            "source".into(),
            &self.source,
            MAX_STATEMENT_CHARS,
        );
        check_text(
            &mut errors,
            "licence".into(),
            &self.licence,
            MAX_STATEMENT_CHARS,
        );
        for id in self.items.keys() {
            if !def.items.iter().any(|item| &item.id == id) {
                errors.push(FieldError::new(
                    format!("items.{}", id.chars().take(50).collect::<String>()),
                    format!("{} has no item with this id", def.id),
                ));
            }
        }
        for item in &def.items {
            match self.items.get(&item.id) {
                None => errors.push(FieldError::new(
                    format!("items.{}", item.id),
                    "missing: a pack words every item of the instrument",
                )),
                Some(text) => check_text(
                    &mut errors,
                    format!("items.{}", item.id),
                    text,
                    MAX_ITEM_CHARS,
                ),
            }
        }
        for (coding, labels) in &self.option_labels {
            let field = format!(
                "option_labels.{}",
                coding.chars().take(50).collect::<String>()
            );
            let Some(c) = def.codings.get(coding) else {
                errors.push(FieldError::new(
                    field,
                    format!("{} has no coding with this name", def.id),
                ));
                continue;
            };
            if labels.len() != c.scores.len() {
                errors.push(FieldError::new(
                    field.clone(),
                    format!(
                        "has {} labels; the coding has {} answer codes",
                        labels.len(),
                        c.scores.len()
                    ),
                ));
            }
            for (i, label) in labels.iter().enumerate() {
                check_text(&mut errors, format!("{field}.{i}"), label, MAX_LABEL_CHARS);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The pack as the API serves it: the stored fields, with the option labels given per
    /// item (`options: {"<item id>": [label of code 0, …]}`) so a form needs no coding names.
    pub fn served(&self, def: &InstrumentDefinition) -> serde_json::Value {
        let options: BTreeMap<&str, &Vec<String>> = def
            .items
            .iter()
            .filter_map(|item| {
                self.option_labels
                    .get(&item.coding)
                    .map(|l| (item.id.as_str(), l))
            })
            .collect();
        serde_json::json!({
            "instrument": self.instrument,
            "versions": self.versions,
            "language": self.language,
            "source": self.source,
            "licence": self.licence,
            "items": self.items,
            "options": options,
        })
    }
}
