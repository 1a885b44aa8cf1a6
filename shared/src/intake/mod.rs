//! Partner file intake: files dropped under `inbox/<kind>/` of the partner bucket (or given
//! to `ravis import`) are streamed, every row validated with the same rules as the HTTP API,
//! valid rows committed in batches with a checkpoint, and a report and summary written.
//! Documented in `docs/INTAKE.md`.

pub mod cells;
pub mod dry_run;
pub mod import;
pub mod jobs;
pub mod kind;
pub mod kinds;
pub mod pipeline;
pub mod reader;
pub mod report;
pub mod summary;

pub use kind::{Batch, IntakeContext, IntakeKind, Planned};
pub use pipeline::IntakeService;
pub use reader::Format;
pub use report::{Rejection, Report};
pub use summary::{ImportOutcome, ImportRequest, IntakeError, Summary};

/// The kinds of partner file this version imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Children (`inbox/children/`).
    Children,
    /// Population-register updates (`inbox/population-register/`): code changes, address
    /// changes, deaths, emigrations.
    PopulationRegister,
    /// Organisations (`inbox/organisations/`), keyed by their code.
    Organisations,
    /// Support episodes (`inbox/support-episodes/`), keyed by the partner's `external_id`.
    SupportEpisodes,
    /// Specialists (`inbox/specialists/`), keyed by the partner's `external_id`.
    Specialists,
    /// Certifications of specialists (`inbox/certifications/`).
    Certifications,
}

/// The names of every kind, for messages.
pub const KIND_NAMES: &str =
    "children, population-register, organisations, support-episodes, specialists, certifications";

impl Kind {
    /// Every kind (the inbox folders of `ravis serve`).
    pub const ALL: [Kind; 6] = [
        Kind::Children,
        Kind::PopulationRegister,
        Kind::Organisations,
        Kind::SupportEpisodes,
        Kind::Specialists,
        Kind::Certifications,
    ];

    /// The kind named by an inbox folder or `--kind` value.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "children" => Some(Self::Children),
            "population-register" => Some(Self::PopulationRegister),
            "organisations" => Some(Self::Organisations),
            "support-episodes" => Some(Self::SupportEpisodes),
            "specialists" => Some(Self::Specialists),
            "certifications" => Some(Self::Certifications),
            _ => None,
        }
    }

    /// The folder / `--kind` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Children => "children",
            Self::PopulationRegister => "population-register",
            Self::Organisations => "organisations",
            Self::SupportEpisodes => "support-episodes",
            Self::Specialists => "specialists",
            Self::Certifications => "certifications",
        }
    }

    /// The columns of this kind's files.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Self::Children => kinds::children::COLUMNS,
            Self::PopulationRegister => kinds::population_register::COLUMNS,
            Self::Organisations => kinds::organisations::COLUMNS,
            Self::SupportEpisodes => kinds::support_episodes::COLUMNS,
            Self::Specialists => kinds::specialists::COLUMNS,
            Self::Certifications => kinds::certifications::COLUMNS,
        }
    }
}

/// Whether a file name asks for strict mode (`*.strict.csv`, `*.strict.jsonl`): commit
/// nothing when any row fails.
pub fn strict_from_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".strict.csv", ".strict.jsonl", ".strict.ndjson"]
        .iter()
        .any(|s| lower.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_strict_names() {
        assert_eq!(Kind::parse("children"), Some(Kind::Children));
        assert_eq!(
            Kind::parse("population-register"),
            Some(Kind::PopulationRegister)
        );
        assert_eq!(Kind::parse("families"), None);
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
            assert!(KIND_NAMES.contains(kind.as_str()));
        }
        assert!(strict_from_name("a.STRICT.csv"));
        assert!(strict_from_name("a.strict.jsonl"));
        assert!(!strict_from_name("strict.csv"));
        assert!(!strict_from_name("a.csv"));
    }
}
