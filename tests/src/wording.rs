//! Test wording packs: every item of a built-in instrument worded with an invented
//! placeholder sentence (never an instrument's licensed text).

use ravis::scoring::Engine;
use serde_json::{Map, Value, json};

/// A valid pack of `instrument` in `language`, fitting its current definition version,
/// with option labels for every coding.
pub fn test_pack(instrument: &str, language: &str) -> Value {
    let engine = Engine::builtin().unwrap_or_else(|e| panic!("built-in definitions: {e}"));
    let def = engine
        .instrument(instrument)
        .unwrap_or_else(|| panic!("no built-in instrument {instrument}"));
    let items: Map<String, Value> = def
        .items
        .iter()
        .map(|item| {
            (
                item.id.clone(),
                json!(format!("Test wording of item {} ({language})", item.id)),
            )
        })
        .collect();
    let labels: Map<String, Value> = def
        .codings
        .iter()
        .map(|(name, coding)| {
            let labels: Vec<String> = (0..coding.scores.len())
                .map(|code| format!("Test option {code}"))
                .collect();
            (name.clone(), json!(labels))
        })
        .collect();
    json!({
        "instrument": def.id,
        "versions": [def.version],
        "language": language,
        "source": "Invented test wording (RAVIS test suite)",
        "licence": "Test data, no licence needed",
        "items": items,
        "option_labels": labels,
    })
}
