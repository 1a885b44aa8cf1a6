//! The catalogue of early-support programmes, therapies and services (module 4 of RAVIS),
//! as versioned data in `shared/catalogue/programmes.json`: what scoring may recommend
//! (`referral_programme` names a programme by its id here) and what the registries route to.
//!
//! Source of the entries: the project description's list of programmes with their annual
//! targets (`shared/DOMAIN.md`). The registry work (issue #4) adds CRUD on top of this
//! pre-loaded set.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

const BUILTIN: &str = include_str!("../../catalogue/programmes.json");

/// An age range in completed months, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgeRange {
    /// Youngest age.
    pub min: u16,
    /// Oldest age.
    pub max: u16,
}

/// One programme, therapy or service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Programme {
    /// Stable id (kebab-case), referenced by instrument definitions and support episodes.
    pub id: String,
    /// Name.
    pub name: String,
    /// `programme`, `support-group`, `therapy` or `service`.
    pub kind: String,
    /// Who takes part: `children`, `parents`, `families`, `schools`, `posts`.
    pub participants: String,
    /// Annual target (participants per year), where the project sets one.
    pub annual_target: Option<u32>,
    /// Target age of the child, where known.
    pub target_age_months: Option<AgeRange>,
    /// Needs it addresses (free tags).
    pub target_needs: Vec<String>,
    /// Whether it is delivered in or with a school or pre-school, so that a recommendation
    /// of it is a support need the State Education Information System (VIIS) receives.
    #[serde(default)]
    pub education_relevant: bool,
}

/// The catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    /// Version of the catalogue data.
    pub version: String,
    /// Where the entries come from.
    pub source: String,
    /// The entries.
    pub programmes: Vec<Programme>,
}

/// A catalogue file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// Not the expected JSON shape.
    #[error("catalogue: {0}")]
    Format(#[from] serde_json::Error),
    /// A rule on the entries is broken.
    #[error("catalogue: programme '{id}': {reason}")]
    Entry {
        /// Programme id.
        id: String,
        /// What is wrong.
        reason: String,
    },
}

const KINDS: &[&str] = &["programme", "support-group", "therapy", "service"];

impl Catalogue {
    /// The shipped catalogue.
    pub fn builtin() -> Result<Self, CatalogueError> {
        Self::from_json(BUILTIN)
    }

    /// Parses and checks a catalogue: unique kebab-case ids, known kinds, sane age ranges.
    pub fn from_json(json: &str) -> Result<Self, CatalogueError> {
        let catalogue: Catalogue = serde_json::from_str(json)?;
        let mut seen = BTreeSet::new();
        for p in &catalogue.programmes {
            let bad = |reason: &str| CatalogueError::Entry {
                id: p.id.clone(),
                reason: reason.to_owned(),
            };
            if p.id.is_empty()
                || !p
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(bad("ids are lower-case letters, digits and '-'"));
            }
            if !seen.insert(p.id.as_str()) {
                return Err(bad("duplicate id"));
            }
            if !KINDS.contains(&p.kind.as_str()) {
                return Err(bad(
                    "kind must be programme, support-group, therapy or service",
                ));
            }
            if p.target_age_months.is_some_and(|r| r.min > r.max) {
                return Err(bad("target_age_months.min is above max"));
            }
        }
        Ok(catalogue)
    }

    /// The entry with this id.
    pub fn programme(&self, id: &str) -> Option<&Programme> {
        self.programmes.iter().find(|p| p.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_every_programme_of_the_project_description_with_its_target() {
        let c = Catalogue::builtin().unwrap();
        let expected = [
            ("incredible-years-parents", Some(750)),
            ("emotional-upbringing", Some(300)),
            ("nurse-family-partnership", Some(150)),
            ("postnatal-depression-support", Some(400)),
            ("early-intervention-psychomotor", Some(400)),
            ("families-small-children-drug-addiction", None),
            ("parents-severe-impairments-support", Some(1800)),
            ("cool-kids", Some(700)),
            ("stop-4-7", Some(400)),
            ("kiva", Some(700)),
            ("bereaved-children-support", Some(1000)),
            ("preschool-psychologists", Some(200)),
        ];
        assert_eq!(c.programmes.len(), expected.len());
        for (id, target) in expected {
            assert_eq!(
                c.programme(id).map(|p| p.annual_target),
                Some(target),
                "{id}"
            );
        }
    }

    /// Every programme an instrument definition can recommend is in the catalogue.
    #[test]
    fn every_programme_scoring_recommends_exists() {
        fn programmes(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    for (k, v) in m {
                        if k == "programme"
                            && let Some(id) = v.as_str()
                        {
                            out.push(id.to_owned());
                        }
                        programmes(v, out);
                    }
                }
                serde_json::Value::Array(a) => a.iter().for_each(|v| programmes(v, out)),
                _ => {}
            }
        }
        let catalogue = Catalogue::builtin().unwrap();
        let mut referenced = Vec::new();
        for (_, json) in crate::scoring::builtin::BUILTIN {
            programmes(&serde_json::from_str(json).unwrap(), &mut referenced);
        }
        assert!(!referenced.is_empty());
        for id in referenced {
            assert!(
                catalogue.programme(&id).is_some(),
                "scoring recommends '{id}', which the catalogue lacks"
            );
        }
    }

    #[test]
    fn broken_entries_are_refused_by_name() {
        let base =
            |entries: &str| format!(r#"{{"version":"1","source":"t","programmes":[{entries}]}}"#);
        let entry = |id: &str, kind: &str| {
            format!(
                r#"{{"id":"{id}","name":"n","kind":"{kind}","participants":"children","annual_target":null,"target_age_months":null,"target_needs":[]}}"#
            )
        };
        let dup = base(&format!(
            "{},{}",
            entry("a", "programme"),
            entry("a", "service")
        ));
        assert!(
            Catalogue::from_json(&dup)
                .unwrap_err()
                .to_string()
                .contains("'a': duplicate id")
        );
        assert!(Catalogue::from_json(&base(&entry("Bad Id", "programme"))).is_err());
        assert!(
            Catalogue::from_json(&base(&entry("a", "party")))
                .unwrap_err()
                .to_string()
                .contains("kind")
        );
        assert!(
            Catalogue::from_json(r#"{"version":"1","source":"t","programmes":[],"extra":1}"#)
                .is_err()
        );
    }
}
