//! `ravis wording load` / `check`: a pack is checked against the instrument definitions; a
//! bad one is refused with every problem named by its field and nothing is copied.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

fn ravis(data: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ravis"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("RAVIS_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// An EPDS pack in English of invented test wording (10 items, two codings of 4 codes).
fn pack() -> Value {
    let items: serde_json::Map<String, Value> = (1..=10)
        .map(|i| (i.to_string(), json!(format!("Test wording {i}"))))
        .collect();
    json!({"instrument": "epds", "versions": ["1.1.0"], "language": "en",
           "source": "Invented test wording", "licence": "Test data",
           "items": items, "option_labels": {"as_printed": ["a", "b", "c", "d"]}})
}

#[test]
fn a_bad_pack_is_refused_naming_each_field_and_a_good_one_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("pack.json");
    let mut bad = pack();
    bad["language"] = json!("ru");
    bad["items"].as_object_mut().unwrap().remove("4");
    bad["items"]["11"] = json!("extra");
    bad["option_labels"]["as_printed"] = json!(["a", "b"]);
    std::fs::write(&file, bad.to_string()).unwrap();
    let f = file.to_str().unwrap();
    let (ok, _, err) = ravis(&data, &["wording", "load", f]);
    assert!(!ok);
    for expected in [
        "4 problem(s)",
        "language: 'ru' is not one of lv, en",
        "items.4: missing",
        "items.11: epds has no item with this id",
        "option_labels.as_printed: has 2 labels; the coding has 4 answer codes",
    ] {
        assert!(err.contains(expected), "{expected} not in {err}");
    }
    assert!(!data.join("wording").exists(), "nothing copied");
    let (ok, _, err) = ravis(&data, &["wording", "check", f]);
    assert!(!ok && err.contains("items.4: missing"), "{err}");

    std::fs::write(&file, pack().to_string()).unwrap();
    let (ok, out, err) = ravis(&data, &["wording", "check", f]);
    assert!(ok, "{err}");
    assert!(out.contains("wording/epds.en.json"), "{out}");
    let (ok, out, err) = ravis(&data, &["wording", "load", f]);
    assert!(ok, "{err}");
    assert!(out.contains("epds.en.json"), "{out}");
    let stored = std::fs::read_to_string(data.join("wording").join("epds.en.json")).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&stored).unwrap(), pack());
}
