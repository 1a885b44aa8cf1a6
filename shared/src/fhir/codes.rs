//! The FHIR code map of the instruments: data in `shared/instruments/fhir/codes.json`, beside
//! the instrument definitions (in a subdirectory, so a directory of definitions stays a
//! directory of definitions and their versions are untouched). Sources of every code are
//! cited in the file (`sources`) and in docs/EXPORTS.md.
//!
//! An instrument or score missing from the map (a definition loaded from a directory) still
//! exports: it gets the RAVIS code `<instrument>` / `<instrument>.<score>` and its items are
//! not exported.

use super::settings::FhirSettings;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// LOINC.
pub const LOINC: &str = "http://loinc.org";
/// SNOMED CT.
pub const SNOMED: &str = "http://snomed.info/sct";

const CODES_JSON: &str = include_str!("../../instruments/fhir/codes.json");

/// Which code system a coding is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum System {
    /// LOINC (`http://loinc.org`).
    Loinc,
    /// SNOMED CT (`http://snomed.info/sct`).
    Snomed,
    /// The RAVIS CodeSystem ([`FhirSettings::code_system`]).
    Ravis,
}

/// One coding of the map.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeDef {
    /// Code system.
    pub system: System,
    /// The code.
    pub code: String,
    /// Display text; every RAVIS code has one. LOINC/SNOMED CT displays are left out
    /// rather than guessed (the concept's `text` says what it is).
    #[serde(default)]
    pub display: Option<String>,
}

/// The codes of one score.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreCodes {
    /// `CodeableConcept.text`.
    pub text: String,
    /// Codings, most specific first.
    pub codes: Vec<CodeDef>,
}

/// The codes and export policy of one instrument.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentCodes {
    /// Whether answers may be sent as QuestionnaireResponse items (off for SDQ: licensed by
    /// Youthinmind). Scores are always sent.
    pub export_items: bool,
    /// `CodeableConcept.text` of the instrument.
    pub text: String,
    /// Codings of the instrument (`Observation.method`).
    pub codes: Vec<CodeDef>,
    /// Codes per score id.
    pub scores: BTreeMap<String, ScoreCodes>,
}

/// The whole map (`codes.json`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeMap {
    /// File format, 1.
    pub format: u32,
    /// What the file is.
    pub about: String,
    /// Where the codes come from.
    pub sources: Vec<String>,
    /// `Observation.code` of the risk Observation.
    pub risk_level: CodeDef,
    /// Display per risk level (`low` … `urgent`): RAVIS codes `risk-level.<level>`.
    pub risk_levels: BTreeMap<String, String>,
    /// Display per band name: RAVIS codes `band.<band>`.
    pub bands: BTreeMap<String, String>,
    /// Display per flag name: RAVIS codes `flag.<flag>`.
    pub flags: BTreeMap<String, String>,
    /// Per instrument id.
    pub instruments: BTreeMap<String, InstrumentCodes>,
}

impl CodeMap {
    /// The shipped map, parsed once.
    pub fn builtin() -> &'static CodeMap {
        static MAP: OnceLock<CodeMap> = OnceLock::new();
        MAP.get_or_init(|| {
            // The file is part of the binary and checked by the unit tests.
            serde_json::from_str(CODES_JSON).unwrap_or_else(|e| {
                panic!("shared/instruments/fhir/codes.json does not parse: {e}")
            })
        })
    }

    /// Whether an instrument's items may be exported (false for an unknown instrument).
    pub fn export_items(&self, instrument: &str) -> bool {
        self.instruments
            .get(instrument)
            .is_some_and(|i| i.export_items)
    }
}

impl System {
    pub(crate) fn uri(self, settings: &FhirSettings) -> &str {
        match self {
            System::Loinc => LOINC,
            System::Snomed => SNOMED,
            System::Ravis => &settings.code_system,
        }
    }
}

/// `snake_case` as words, for a name the map does not know.
pub(crate) fn words(name: &str) -> String {
    name.replace('_', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::{Engine, RiskLevel};

    fn builtin_definitions() -> Vec<crate::scoring::InstrumentDefinition> {
        crate::scoring::builtin::BUILTIN
            .iter()
            .map(|(file, json)| {
                crate::scoring::InstrumentDefinition::from_json(file, json).unwrap()
            })
            .collect()
    }

    #[test]
    fn covers_every_builtin_instrument_score_band_and_flag() {
        Engine::builtin().unwrap();
        let map = CodeMap::builtin();
        assert_eq!(map.format, 1);
        for def in builtin_definitions() {
            let inst = map
                .instruments
                .get(&def.id)
                .unwrap_or_else(|| panic!("{} has no codes", def.id));
            assert!(!inst.codes.is_empty(), "{}", def.id);
            let ids: Vec<&String> = def.scores.iter().map(|s| &s.id).collect();
            assert_eq!(
                inst.scores.keys().collect::<Vec<_>>().len(),
                ids.len(),
                "{}: one entry per score",
                def.id
            );
            for id in ids {
                let score = inst
                    .scores
                    .get(id)
                    .unwrap_or_else(|| panic!("{}.{id} has no codes", def.id));
                assert!(!score.codes.is_empty(), "{}.{id}", def.id);
            }
            for table in &def.norms.tables {
                for bands in table.bands.values() {
                    for band in bands {
                        assert!(map.bands.contains_key(&band.band), "band {}", band.band);
                    }
                }
            }
            for rule in &def.risk_rules {
                for flag in &rule.flags {
                    assert!(map.flags.contains_key(flag), "flag {flag}");
                }
            }
        }
        for level in [
            RiskLevel::Low,
            RiskLevel::Medium,
            RiskLevel::High,
            RiskLevel::Urgent,
        ] {
            assert!(map.risk_levels.contains_key(level.as_str()));
        }
    }

    #[test]
    fn every_ravis_code_has_a_display_and_codes_are_unique() {
        let map = CodeMap::builtin();
        let mut seen = std::collections::BTreeSet::new();
        let mut all: Vec<&CodeDef> = vec![&map.risk_level];
        for inst in map.instruments.values() {
            all.extend(&inst.codes);
            for s in inst.scores.values() {
                all.extend(&s.codes);
            }
        }
        for c in all {
            if c.system == System::Ravis {
                assert!(c.display.as_deref().is_some_and(|d| !d.is_empty()), "{c:?}");
                assert!(seen.insert(c.code.clone()), "RAVIS code {} twice", c.code);
            }
        }
    }

    #[test]
    fn the_published_codes_are_where_the_sources_say() {
        let map = CodeMap::builtin();
        let epds = &map.instruments["epds"];
        let has = |defs: &[CodeDef], system, code: &str| {
            defs.iter().any(|d| d.system == system && d.code == code)
        };
        assert!(has(&epds.codes, System::Loinc, "71354-5"));
        assert!(has(&epds.codes, System::Snomed, "450320001"));
        assert!(has(&epds.scores["total"].codes, System::Loinc, "99046-5"));
        for sdq in ["sdq-parent-4-17", "sdq-teacher-4-17", "sdq-parent-2-4"] {
            assert!(has(
                &map.instruments[sdq].codes,
                System::Snomed,
                "718133008"
            ));
            assert!(!map.export_items(sdq), "{sdq}: items are licensed");
        }
        assert!(map.export_items("epds"));
        assert!(!map.export_items("not-an-instrument"));
    }
}
