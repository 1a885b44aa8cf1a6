//! `ravis import`: the intake code on a local file, into the data directory's embedded backend.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use serde_json::Value;
use std::process::Command;

const FILE: &str = "personal_code,given_name,family_name,birth_date,sex,gestational_age_weeks,atvk\n\
32579461005,Anna,Bērziņa,2024-10-01,female,39,0001000\n\
,Jānis,Ozols,2023-05-17,male,,\n\
,Bad,Sex,2024-01-01,x,,\n";

fn ravis(data: &std::path::Path, args: &[&str]) -> (bool, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ravis"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("RAVIS_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let summary = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (
        out.status.success(),
        summary,
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn import_prints_the_summary_writes_the_report_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("kids.csv");
    std::fs::write(&file, FILE).unwrap();
    let report = dir.path().join("report.jsonl");
    let f = file.to_str().unwrap();
    let (ok, s, _) = ravis(
        &data,
        &[
            "import",
            "--kind",
            "children",
            f,
            "--report",
            report.to_str().unwrap(),
        ],
    );
    assert!(ok);
    assert_eq!(
        (s["inserted"].as_u64(), s["rejected"].as_u64()),
        (Some(2), Some(1))
    );
    let line: Value =
        serde_json::from_str(std::fs::read_to_string(&report).unwrap().trim()).unwrap();
    assert_eq!(
        (line["row"].as_u64(), line["field"].as_str()),
        (Some(3), Some("sex"))
    );

    // The same file again: the finished import answers, nothing is added.
    let (ok, s, _) = ravis(&data, &["import", "--kind", "children", f]);
    assert!(ok);
    assert_eq!(s["inserted"].as_u64(), Some(2));
    // The same rows in another file: recognised, unchanged.
    let copy = dir.path().join("copy.csv");
    std::fs::write(&copy, format!("{FILE}\n")).unwrap();
    let (ok, s, _) = ravis(
        &data,
        &["import", "--kind", "children", copy.to_str().unwrap()],
    );
    assert!(ok);
    assert_eq!(
        (s["inserted"].as_u64(), s["unchanged"].as_u64()),
        (Some(0), Some(2))
    );
}

#[test]
fn strict_import_commits_nothing_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("kids.csv");
    std::fs::write(&file, FILE).unwrap();
    let (ok, s, err) = ravis(
        &data,
        &[
            "import",
            "--kind",
            "children",
            "--strict",
            file.to_str().unwrap(),
        ],
    );
    assert!(!ok);
    assert_eq!(s["status"], "rejected");
    assert!(err.contains("nothing was committed"), "{err}");
    // Without --strict the same file now imports both valid rows: nothing was left behind.
    let (ok, s, _) = ravis(
        &data,
        &["import", "--kind", "children", file.to_str().unwrap()],
    );
    assert!(ok);
    assert_eq!(s["inserted"].as_u64(), Some(2));
}

#[test]
fn unknown_kinds_and_formats_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kids.txt");
    std::fs::write(&file, FILE).unwrap();
    let (ok, _, err) = ravis(
        dir.path(),
        &["import", "--kind", "children", file.to_str().unwrap()],
    );
    assert!(!ok && err.contains("must end in .csv"), "{err}");
    let (ok, _, err) = ravis(
        dir.path(),
        &["import", "--kind", "families", file.to_str().unwrap()],
    );
    assert!(!ok && err.contains("unknown kind"), "{err}");
}

#[test]
fn population_register_updates_import_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let kids = dir.path().join("kids.csv");
    std::fs::write(&kids, FILE).unwrap();
    let (ok, _, _) = ravis(
        &data,
        &["import", "--kind", "children", kids.to_str().unwrap()],
    );
    assert!(ok);
    let register = dir.path().join("register.csv");
    std::fs::write(
        &register,
        "event,personal_code,new_personal_code,atvk,date\n\
         code_change,32579461005,32579461016,,2026-03-01\n\
         death,32999999999,,,2026-03-01\n",
    )
    .unwrap();
    let (ok, s, err) = ravis(
        &data,
        &[
            "import",
            "--kind",
            "population-register",
            register.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(s["kind"], "population-register");
    assert_eq!(
        (s["updated"].as_u64(), s["rejected"].as_u64()),
        (Some(1), Some(1))
    );
    // An unknown kind names the known ones.
    let (ok, _, err) = ravis(
        &data,
        &["import", "--kind", "families", kids.to_str().unwrap()],
    );
    assert!(!ok);
    assert!(err.contains("children, population-register"), "{err}");
}

#[test]
fn organisations_and_support_episodes_import_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let kids = dir.path().join("kids.csv");
    std::fs::write(&kids, FILE).unwrap();
    assert!(
        ravis(
            &data,
            &["import", "--kind", "children", kids.to_str().unwrap()]
        )
        .0
    );
    let orgs = dir.path().join("orgs.csv");
    std::fs::write(
        &orgs,
        "id;kind;name;atvk;registration_number;status\n\
         riga-sd;municipality_social_service;Rīgas sociālais dienests;0010000;;\n\
         bad_code;school;Skola;0010000;;\n",
    )
    .unwrap();
    let (ok, s, err) = ravis(
        &data,
        &["import", "--kind", "organisations", orgs.to_str().unwrap()],
    );
    assert!(ok, "{err}");
    assert_eq!(
        (s["inserted"].as_u64(), s["rejected"].as_u64()),
        (Some(1), Some(1))
    );
    let episodes = dir.path().join("episodes.jsonl");
    std::fs::write(
        &episodes,
        "{\"external_id\":\"e1\",\"personal_code\":\"32579461005\",\"programme\":\"cool-kids\",\"provider_org\":\"riga-sd\",\"referral_date\":\"2026-01-10\",\"referral_text\":\"parent request\"}\n\
         {\"external_id\":\"e2\",\"personal_code\":\"32579461005\",\"programme\":\"cool-kids\",\"provider_org\":\"nowhere\",\"referral_date\":\"2026-01-10\",\"referral_text\":\"parent request\"}\n",
    )
    .unwrap();
    let report = dir.path().join("report.jsonl");
    let args = [
        "import",
        "--kind",
        "support-episodes",
        episodes.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ];
    let (ok, s, err) = ravis(&data, &args);
    assert!(ok, "{err}");
    assert_eq!(s["kind"], "support-episodes");
    assert_eq!(
        (s["inserted"].as_u64(), s["rejected"].as_u64()),
        (Some(1), Some(1))
    );
    let report = std::fs::read_to_string(&report).unwrap();
    assert!(report.contains("\"field\":\"provider_org\""), "{report}");
    // The same file again: the finished import answers, nothing is added.
    let (ok, again, _) = ravis(&data, &args);
    assert!(ok);
    assert_eq!(again["inserted"], s["inserted"]);
}
