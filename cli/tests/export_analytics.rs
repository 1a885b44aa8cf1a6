//! `ravis export analytics`: rows carry the child's analytics pseudonym and coarse
//! attributes only — no child id, personal code or name appears anywhere in the output —
//! and the same child gets the same pseudonym in every export.

use ravis::adapters::embedded::{EmbeddedBackend, QueueOptions};
use ravis::app::App;
use ravis::domain::{Principal, Role};
use ravis::ports::Queue;
use ravis::services::children::NewChildInput;
use ravis::services::screenings::NewScreeningInput;
use ravis_cli::keys::LocalKeys;
use serde_json::{Value, json};
use std::time::Duration;

fn read_rows(path: &std::path::Path) -> (String, Vec<Value>) {
    let text = std::fs::read_to_string(path).expect("export file");
    let rows = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    (text, rows)
}

#[tokio::test]
async fn the_export_is_pseudonymised_and_stable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = LocalKeys::load_or_create(dir.path()).expect("keys");
    let backend = EmbeddedBackend::open(dir.path()).expect("backend");
    let records = backend.records();
    let queue = backend
        .queue("scoring", QueueOptions::default())
        .expect("queue");
    let app = App::new(
        records.clone(),
        &keys.identity_hmac_key,
        &keys.pseudonym_key,
    )
    .expect("app");
    let nurse = Principal {
        subject: "n".into(),
        roles: vec![Role::HealthSpecialist],
        organisation: "o".into(),
        territory: None,
        purpose: None,
    };
    let children = app.children();
    let screenings = app.screenings(queue.clone());
    let worker = app.scoring_worker();

    // Two children with names and personal codes; the first screened twice, the second once.
    let mut child_ids = Vec::new();
    for (given, family, code, sex, atvk) in [
        ("Anniņa", "Bērziņa", "325794-61005", "female", "0801234"),
        ("Jānis", "Kalniņš", "32579461005", "male", "0001000"),
    ] {
        let input: NewChildInput = serde_json::from_value(json!({"given_name": given,
            "family_name": family, "birth_date": "2024-10-01", "sex": sex, "atvk": atvk,
            "personal_code": if child_ids.is_empty() { Value::Null } else { json!(code) }}))
        .expect("input");
        let id = children
            .register(&nurse, "req", input, None)
            .await
            .expect("register")
            .body["id"]
            .as_str()
            .expect("id")
            .to_owned();
        child_ids.push(id);
    }
    let mchat: serde_json::Map<String, Value> =
        (1..=20).map(|i| (i.to_string(), json!(1))).collect();
    for (child, date) in [
        (&child_ids[0], "2026-03-15"),
        (&child_ids[0], "2026-09-20"),
        (&child_ids[1], "2026-10-02"),
    ] {
        let input: NewScreeningInput = serde_json::from_value(json!({"child_id": child,
            "instrument": "mchat-r", "administered_on": date, "answers": mchat}))
        .expect("screening");
        screenings
            .submit(&nurse, "req", input, None)
            .await
            .expect("submit");
    }
    loop {
        let messages = queue
            .receive(10, Duration::from_secs(30), Duration::from_millis(100))
            .await
            .expect("receive");
        if messages.is_empty() {
            break;
        }
        for m in messages {
            worker.handle(&m.body).await.expect("score");
            queue.ack(&m.receipt).await.expect("ack");
        }
    }

    let first = dir.path().join("export-1.jsonl");
    let summary = ravis_cli::export::analytics(dir.path(), &first)
        .await
        .expect("export");
    assert_eq!((summary.children, summary.rows), (2, 3));
    let (text, rows) = read_rows(&first);
    assert!(!dir.path().join("export-1.partial").exists());

    // Nothing that identifies a child directly.
    for id in &child_ids {
        assert!(!text.contains(id.as_str()), "child id in the export");
        assert!(
            !text.contains(&id.replace('-', "")),
            "child id in the export"
        );
    }
    for forbidden in [
        "32579461005",
        "325794-61005",
        "325794",
        "Anniņa",
        "Bērziņa",
        "Jānis",
        "Kalniņš",
        "given_name",
        "family_name",
        "personal_code",
        "birth_date",
        "2024-10-01",
    ] {
        assert!(
            !text.contains(forbidden),
            "{forbidden} in the export:\n{text}"
        );
    }
    // Exactly the documented columns.
    for row in &rows {
        let mut columns: Vec<&str> = row
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        columns.sort_unstable();
        assert_eq!(
            columns,
            [
                "age_band_months",
                "child",
                "instrument",
                "instrument_version",
                "month",
                "municipality",
                "risk_level",
                "sex"
            ]
        );
    }
    // The first child's two results share one pseudonym; the second child's differs.
    let of = |month: &str| {
        rows.iter()
            .find(|r| r["month"] == month)
            .expect("row")
            .clone()
    };
    let (march, september, october) = (of("2026-03"), of("2026-09"), of("2026-10"));
    assert_eq!(march["child"], september["child"]);
    assert_ne!(march["child"], october["child"]);
    assert_eq!(march["child"].as_str().expect("pseudonym").len(), 64);
    assert_eq!(march["age_band_months"], "12-17");
    assert_eq!(september["age_band_months"], "18-23");
    assert_eq!(march["municipality"], "0801004");
    assert_eq!(october["municipality"], "0001000");
    assert_eq!(
        (march["sex"].as_str(), october["sex"].as_str()),
        (Some("female"), Some("male"))
    );
    assert_eq!(march["instrument"], "mchat-r");
    assert!(march["risk_level"].is_string());
    // Analytics pseudonyms are not the audit trail's pseudonyms.
    let audit = app.audit();
    for id in &child_ids {
        let audit_pseudonym = audit.pseudonym(id.parse().expect("id")).to_string();
        assert!(
            !text.contains(&audit_pseudonym),
            "audit pseudonym in the export"
        );
    }

    // A second export gives every child the same pseudonym again.
    let second = dir.path().join("export-2.jsonl");
    ravis_cli::export::analytics(dir.path(), &second)
        .await
        .expect("export");
    let (_, again) = read_rows(&second);
    let pseudonyms = |rows: &[Value]| {
        let mut p: Vec<(String, String)> = rows
            .iter()
            .map(|r| {
                (
                    r["month"].as_str().unwrap().to_owned(),
                    r["child"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        p.sort();
        p
    };
    assert_eq!(pseudonyms(&rows), pseudonyms(&again));
}
