//! End-to-end: the README walk-through against a real `ravis serve` process, bad input,
//! idempotency, and a screening in flight surviving `kill -9`.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use crate::support;

use crate::support::Server;
use crate::support::http::request;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn child_body() -> String {
    json!({"personal_code": "32579461005", "given_name": "Anna", "family_name": "Bērziņa",
           "birth_date": "2024-10-01", "sex": "female", "gestational_age_weeks": 39, "atvk": "0001000"})
    .to_string()
}

/// M-CHAT-R answers (0 = no, 1 = yes): "no" is at risk except items 2, 5, 12 where "yes" is.
/// Items 1–4 answered "no" → items 1, 3, 4 at risk, item 2 not; everything else not at risk.
fn mchat_answers() -> Value {
    let mut answers = serde_json::Map::new();
    for item in 1..=20 {
        let at_risk_answer = if [2, 5, 12].contains(&item) { 1 } else { 0 };
        let answer = if item <= 4 { 0 } else { 1 - at_risk_answer };
        answers.insert(item.to_string(), json!(answer));
    }
    Value::Object(answers)
}

pub(crate) fn register_child(server: &Server) -> String {
    let r = server.call("POST", "/children", Some(&child_body()), &[]);
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.header("location"),
        Some(format!("/children/{id}").as_str())
    );
    id
}

pub(crate) fn submit(
    server: &Server,
    child_id: &str,
    key: Option<&str>,
) -> support::http::Response {
    let body = json!({"child_id": child_id, "instrument": "mchat-r",
                      "administered_on": "2026-11-20", "answers": mchat_answers()})
    .to_string();
    let headers: Vec<(&str, &str)> = key
        .map(|k| vec![("Idempotency-Key", k)])
        .unwrap_or_default();
    server.call("POST", "/screenings", Some(&body), &headers)
}

fn wait_scored(server: &Server, location: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = server.call("GET", location, None, &[]);
        assert_eq!(r.status, 200, "{}", r.body);
        let body = r.json();
        if body["status"] == "scored" {
            return body;
        }
        assert!(Instant::now() < deadline, "not scored in time: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn walk_through_register_submit_and_see_it_scored() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), true);
    let child_id = register_child(&server);
    let got = server.call("GET", &format!("/children/{child_id}"), None, &[]);
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["family_name"], "Bērziņa");
    assert_eq!(got.header("etag"), Some("\"1\""));

    let r = submit(&server, &child_id, None);
    assert_eq!(r.status, 202, "{}", r.body);
    let location = r.header("location").unwrap().to_owned();
    assert!(r.header("x-request-id").is_some());
    let scored = wait_scored(&server, &location);
    let result = &scored["result"];
    // Age 25 months (born 2024-10-01, screened 2026-11-20); 3 items at risk → medium.
    assert_eq!(result["instrument"], "mchat-r");
    assert_eq!(result["scores"]["total"]["value"], 3);
    assert_eq!(result["risk_level"], "medium");
    assert!(result["instrument_version"].is_string());
    assert!(result["engine_version"].is_string());

    // The child's risk profile: the one result is the latest for mchat-r, with its advice open.
    let profile = server.call(
        "GET",
        &format!("/children/{child_id}/risk-profile"),
        None,
        &[],
    );
    assert_eq!(profile.status, 200, "{}", profile.body);
    let profile = profile.json();
    assert_eq!(profile["overall_risk"], "medium");
    assert_eq!(profile["instruments"][0]["instrument"], "mchat-r");
    assert_eq!(
        profile["open_recommendations"][0]["recommendation"]["kind"], "follow_up_interview",
        "{profile}"
    );
    let missing = server.call(
        "GET",
        "/children/0190f3c4-6d1e-7a3b-8c2d-123456789abc/risk-profile",
        None,
        &[],
    );
    assert_eq!(missing.status, 404);

    // Within seconds the result is in the local outbox as a signed FHIR Bundle (what would
    // go to the e-health system), the public key beside it.
    let outbox = dir.path().join("outbox").join("health");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let bundle_file = loop {
        let found = std::fs::read_dir(&outbox).ok().and_then(|entries| {
            entries.filter_map(Result::ok).map(|e| e.path()).find(|p| {
                p.extension().is_some_and(|x| x == "json")
                    && !p.to_string_lossy().ends_with(".provenance.json")
            })
        });
        if let Some(found) = found {
            break found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no Bundle in {} within 30 s",
            outbox.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let bundle: Value = serde_json::from_slice(&std::fs::read(&bundle_file).unwrap()).unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "transaction");
    assert_eq!(
        bundle["entry"][0]["resource"]["subject"]["identifier"]["value"],
        "32579461005"
    );
    let provenance = std::fs::read_to_string(bundle_file.with_file_name(format!(
        "{}.provenance.json",
        bundle_file.file_stem().unwrap().to_string_lossy()
    )))
    .unwrap();
    let provenance: Value = serde_json::from_str(&provenance).unwrap();
    assert_eq!(provenance["resourceType"], "Provenance");
    let jwks: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("outbox").join("jwks.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(jwks["keys"][0]["crv"], "P-256");

    // The data protection officer sees every access of this child, and an intact chain.
    let dpo = std::process::Command::new(env!("CARGO_BIN_EXE_ravis"))
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "token",
            "--role",
            "data_protection_officer",
            "--org",
            "dpo-office",
        ])
        .output()
        .unwrap();
    assert!(dpo.status.success());
    let auth = format!("Bearer {}", String::from_utf8(dpo.stdout).unwrap().trim());
    let as_dpo = |path: &str| {
        request(
            &server.addr,
            "GET",
            path,
            &[("Authorization", auth.as_str())],
            None,
        )
        .unwrap()
    };
    let audit = as_dpo(&format!("/audit?child={child_id}&limit=1000"));
    assert_eq!(audit.status, 200, "{}", audit.body);
    let audit = audit.json();
    assert_eq!(audit["verification"]["intact"], true, "{audit}");
    let entries = audit["entries"].as_array().unwrap();
    // The disclosure to the e-health system, made by RAVIS itself.
    let disclosures: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "disclose")
        .collect();
    assert_eq!(disclosures.len(), 1, "{audit}");
    assert_eq!(disclosures[0]["recipient"], "E-veselība");
    assert_eq!(disclosures[0]["actor"]["organisation"], "RAVIS");
    let entries: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] != "disclose")
        .collect();
    let kinds: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["entity"].as_str().unwrap(), e["action"].as_str().unwrap()))
        .filter(|(_, action)| *action != "disclose")
        .collect();
    // Registered, read, screened, the screening polled until scored, the risk profile read.
    assert_eq!(
        kinds[..3],
        [
            ("child", "create"),
            ("child", "read"),
            ("screening", "create")
        ]
    );
    assert_eq!(kinds.last(), Some(&("risk_profile", "read")));
    assert!(
        kinds[3..kinds.len() - 1]
            .iter()
            .all(|k| *k == ("screening", "read"))
    );
    // Every request was the local user's; a disclosure is RAVIS's own (the exports worker).
    assert!(entries.iter().all(|e| {
        e["actor"]["organisation"] == "local-dev"
            || (e["action"] == "disclose" && e["actor"]["organisation"] == "RAVIS")
    }));
    assert!(
        !audit.to_string().contains(&child_id),
        "only pseudonyms: {audit}"
    );
    let report = as_dpo(&format!("/audit/report?child={child_id}"));
    assert_eq!(report.status, 200, "{}", report.body);
    let report = report.json();
    let local = report["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["organisation"] == "local-dev")
        .unwrap();
    assert_eq!(local["writes"], 2, "{report}");
    assert_eq!(local["reads"], entries.len() - 2);
    let ravis = report["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["organisation"] == "RAVIS")
        .unwrap();
    assert_eq!(ravis["sent_to"], json!(["E-veselība"]), "{report}");
    // The dev token (registry administrator + health specialist) may not read the trail.
    let refused = server.call("GET", &format!("/audit?child={child_id}"), None, &[]);
    assert_eq!(refused.status, 403, "{}", refused.body);
}

#[test]
fn idempotency_key_replays_and_detects_a_different_body() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), false);
    let child_id = register_child(&server);
    let first = submit(&server, &child_id, Some("key-1"));
    let second = submit(&server, &child_id, Some("key-1"));
    assert_eq!(first.status, 202);
    assert_eq!(second.status, 202);
    assert_eq!(first.json()["id"], second.json()["id"]);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    let other = server.call(
        "POST",
        "/screenings",
        Some(
            &json!({"child_id": child_id, "instrument": "mchat-r", "administered_on": "2026-11-19",
                     "answers": mchat_answers()})
            .to_string(),
        ),
        &[("Idempotency-Key", "key-1")],
    );
    assert_eq!(other.status, 409, "{}", other.body);
    assert_eq!(
        other.json()["type"],
        "urn:ravis:problem:idempotency-key-reused"
    );
    // Updates need the version read: missing If-Match is 428, a stale one 412.
    let change =
        json!({"given_name": "Anna Marija", "family_name": "Bērziņa", "birth_date": "2024-10-01",
                        "sex": "female", "gestational_age_weeks": 39, "atvk": "0001000"})
        .to_string();
    let path = format!("/children/{child_id}");
    let r = server.call("PUT", &path, Some(&change), &[]);
    assert_eq!(r.status, 428, "{}", r.body);
    let r = server.call("PUT", &path, Some(&change), &[("If-Match", "\"1\"")]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("etag"), Some("\"2\""));
    assert_eq!(r.json()["given_name"], "Anna Marija");
    let r = server.call("PUT", &path, Some(&change), &[("If-Match", "\"1\"")]);
    assert_eq!(r.status, 412, "{}", r.body);
    assert_eq!(r.json()["type"], "urn:ravis:problem:precondition-failed");
    // Found by personal code (hyphen optional), never by URL.
    let r = server.call(
        "POST",
        "/children/search",
        Some(r#"{"personal_code":"325794-61005"}"#),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["id"], child_id.as_str());

    // The same personal code twice is refused, naming the existing child.
    let dup = server.call("POST", "/children", Some(&child_body()), &[]);
    assert_eq!(dup.status, 409);
    assert_eq!(dup.json()["existing_id"], child_id.as_str());
}

#[test]
fn bad_input_gets_specific_problems() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), false);
    let problem = |r: &support::http::Response| {
        assert_eq!(
            r.header("content-type"),
            Some("application/problem+json"),
            "{}",
            r.body
        );
        r.json()
    };
    // Malformed JSON.
    let r = server.call("POST", "/children", Some("{\"given_name\": "), &[]);
    assert_eq!(r.status, 400);
    assert_eq!(problem(&r)["type"], "urn:ravis:problem:malformed-request");
    // Unknown field.
    let mut body: Value = serde_json::from_str(&child_body()).unwrap();
    body["nickname"] = json!("Ann");
    let r = server.call("POST", "/children", Some(&body.to_string()), &[]);
    assert_eq!(r.status, 400);
    assert!(
        problem(&r)["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("nickname")
    );
    // Invalid personal code (bad check digit).
    let mut body: Value = serde_json::from_str(&child_body()).unwrap();
    body["personal_code"] = json!("120394-12344");
    let r = server.call("POST", "/children", Some(&body.to_string()), &[]);
    assert_eq!(r.status, 422);
    let p = problem(&r);
    assert_eq!(p["errors"][0]["field"], "personal_code");
    assert_eq!(p["errors"][0]["reason"], "the check digit does not match");
    // Missing token.
    let r = request(
        &server.addr,
        "GET",
        "/children/0190f3c4-6d1e-7a3b-8c2d-123456789abc",
        &[],
        None,
    )
    .unwrap();
    assert_eq!(r.status, 401);
    assert!(
        problem(&r)["detail"]
            .as_str()
            .unwrap()
            .contains("Authorization")
    );
    // Wrong audience: a token signed with the right key for another audience.
    let wrong_aud = wrong_audience_token(dir.path());
    let auth = format!("Bearer {wrong_aud}");
    let r = request(
        &server.addr,
        "GET",
        "/children/0190f3c4-6d1e-7a3b-8c2d-123456789abc",
        &[("Authorization", &auth)],
        None,
    )
    .unwrap();
    assert_eq!(r.status, 401);
    assert!(problem(&r)["detail"].as_str().unwrap().contains("audience"));
    // Oversized body.
    let big = format!("{{\"given_name\": \"{}\"}}", "a".repeat(300 * 1024));
    let r = server.call("POST", "/children", Some(&big), &[]);
    assert_eq!(r.status, 413);
    problem(&r);
    // Unknown instrument answer: item out of range names the item.
    let child_id = register_child(&server);
    let mut answers = mchat_answers();
    answers["7"] = json!(5);
    let r = server.call(
        "POST",
        "/screenings",
        Some(&json!({"child_id": child_id, "instrument": "mchat-r", "administered_on": "2026-11-20", "answers": answers}).to_string()),
        &[],
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(problem(&r)["errors"][0]["field"], "answers.7");
    // Unknown route and wrong method.
    assert_eq!(server.call("GET", "/nope", None, &[]).status, 404);
    let r = server.call("DELETE", "/children", None, &[]);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST, GET"));
}

fn wrong_audience_token(data_dir: &std::path::Path) -> String {
    let keys = ravis_cli::keys::LocalKeys::load_or_create(data_dir).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    ravis::inbound::auth::mint_dev_token(
        &keys.jwt_secret,
        &ravis::inbound::auth::DevTokenRequest {
            issuer: ravis_cli::keys::LOCAL_ISSUER,
            audience: "someone-else",
            subject: "x",
            roles: &[ravis::domain::Role::HealthSpecialist],
            organisation: "o",
            territory: None,
            purpose: None,
            issued_at: now,
            lifetime_seconds: 600,
        },
    )
    .unwrap()
}

#[test]
fn a_screening_in_flight_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    // API only: the submission is stored and queued, but nobody scores it yet.
    let server = Server::start(dir.path(), false);
    let child_id = register_child(&server);
    let r = submit(&server, &child_id, None);
    assert_eq!(r.status, 202);
    let location = r.header("location").unwrap().to_owned();
    assert_eq!(
        server.call("GET", &location, None, &[]).json()["status"],
        "submitted"
    );
    server.kill_9();

    // Restart with the consumers: the queued work is done.
    let server = Server::start(dir.path(), true);
    let scored = wait_scored(&server, &location);
    assert_eq!(scored["result"]["scores"]["total"]["value"], 3);
}

#[test]
fn a_file_dropped_in_the_inbox_becomes_an_s3_style_event_for_intake() {
    use ravis::adapters::embedded::{EmbeddedBackend, QueueOptions};
    use ravis::ports::Queue;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), false);
    let kind_dir = std::path::Path::new(&server.inbox).join("children");
    std::fs::create_dir_all(&kind_dir).unwrap();
    let file = kind_dir.join("2026-11 kidsā.csv");
    std::fs::write(&file, "personal_code,given_name\n,Anna\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while file.exists() {
        assert!(
            Instant::now() < deadline,
            "the inbox file was not picked up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server.kill_9();

    let backend = EmbeddedBackend::open(dir.path()).unwrap();
    let stored = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let bucket = backend.blobs("partner").unwrap();
        let body = ravis::ports::BlobStore::get(&bucket, "inbox/children/2026-11 kidsā.csv")
            .await
            .unwrap();
        let queue = backend.queue("intake", QueueOptions::default()).unwrap();
        let messages = queue
            .receive(10, Duration::from_secs(30), Duration::from_secs(1))
            .await
            .unwrap();
        (body, messages)
    });
    assert_eq!(&stored.0[..], b"personal_code,given_name\n,Anna\n");
    assert_eq!(stored.1.len(), 1);
    let objects = ravis::inbound::s3::parse_notification(&stored.1[0].body).unwrap();
    assert_eq!(objects[0].bucket, "partner");
    assert_eq!(objects[0].key, "inbox/children/2026-11 kidsā.csv");
}

fn token_for(dir: &std::path::Path, role: ravis::domain::Role, atvk: Option<&str>) -> String {
    ravis_cli::token::mint(
        dir,
        &ravis_cli::token::TokenOptions {
            roles: vec![role],
            organisation: "municipality".into(),
            subject: "social-worker".into(),
            territory: atvk.map(|a| ravis::domain::Atvk::parse(a).unwrap()),
            purpose: None,
            lifetime_seconds: 600,
        },
    )
    .unwrap()
}

#[test]
fn territory_scoped_callers_see_only_their_subtree() {
    use ravis::domain::Role;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), false);
    let child_id = register_child(&server); // declared territory 0001000 (Rīga)
    let r = submit(&server, &child_id, None);
    let screening = r.header("location").unwrap().to_owned();
    let get = |token: &str, path: &str| {
        let auth = format!("Bearer {token}");
        request(&server.addr, "GET", path, &[("Authorization", &auth)], None).unwrap()
    };
    let inside = token_for(dir.path(), Role::MunicipalitySocialService, Some("0001000"));
    let outside = token_for(dir.path(), Role::MunicipalitySocialService, Some("0056000"));
    let child = format!("/children/{child_id}");
    let profile = format!("/children/{child_id}/risk-profile");
    for path in [&child, &screening, &profile] {
        assert_eq!(get(&inside, path).status, 200, "{path} inside the scope");
        let refused = get(&outside, path);
        assert_eq!(
            refused.status, 404,
            "{path} outside the scope: {}",
            refused.body
        );
    }
    // The ministry analyst sees aggregates only, never a person.
    let analyst = token_for(dir.path(), Role::MinistryAnalyst, None);
    assert_eq!(get(&analyst, &child).status, 403);
}

fn wait_for_file(path: &std::path::Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_children_file_dropped_in_the_inbox_is_imported_with_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), true);
    let kind_dir = std::path::Path::new(&server.inbox).join("children");
    std::fs::create_dir_all(&kind_dir).unwrap();
    std::fs::write(
        kind_dir.join("kids.csv"),
        "\u{feff}personal_code;given_name;family_name;birth_date;sex;gestational_age_weeks;atvk\n\
         32579461005;Anna;Bērziņa;2024-10-01;female;39;0001000\n\
         ;Jānis;Ozols;2023-05-17;male;;\n\
         ;Bad;Date;2024-02-30;male;;\n",
    )
    .unwrap();
    std::fs::write(
        kind_dir.join("photo.csv"),
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    )
    .unwrap();

    let results = dir.path().join("results").join("children");
    let summary: Value =
        serde_json::from_str(&wait_for_file(&results.join("kids.csv.summary.json"))).unwrap();
    assert_eq!(summary["status"], "completed_with_rejections", "{summary}");
    assert_eq!(summary["rows_read"], 3);
    assert_eq!(summary["inserted"], 2);
    assert_eq!(summary["rejected"], 1);
    let report = std::fs::read_to_string(results.join("kids.csv.report.jsonl")).unwrap();
    let line: Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(
        (line["row"].as_u64(), line["field"].as_str()),
        (Some(3), Some("birth_date"))
    );

    // The imported child is the registered one: registering the code again names it.
    let r = server.call("POST", "/children", Some(&child_body()), &[]);
    assert_eq!(r.status, 409, "{}", r.body);
    let id = r.json()["existing_id"].as_str().unwrap().to_owned();
    let got = server.call("GET", &format!("/children/{id}"), None, &[]);
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["family_name"], "Bērziņa");
    assert_eq!(got.json()["registered_by_org"], "partner-file-drop");

    let garbage: Value =
        serde_json::from_str(&wait_for_file(&results.join("photo.csv.summary.json"))).unwrap();
    assert_eq!(garbage["status"], "rejected");
    assert!(
        garbage["reason"]
            .as_str()
            .unwrap()
            .contains("binary content")
    );
}

/// `ravis serve` seeds the catalogue at start; an edited built-in entry survives a restart
/// (the seeding never overwrites it), and the store keeps one entry per id.
#[test]
fn the_catalogue_is_seeded_at_start_and_edits_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), false);
    let r = server.call("GET", "/catalogue/entries?kind=service", None, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let ids: Vec<String> = r.json()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        ["bereaved-children-support", "preschool-psychologists"]
    );
    let total = server
        .call("GET", "/catalogue/entries?limit=100", None, &[])
        .json()["entries"]
        .as_array()
        .unwrap()
        .len();
    let edit = json!({"kind": "service", "name": "Psychologists in pre-schools (national)",
                      "participants": "posts", "provider_kind": "pre-school", "annual_target": 220})
    .to_string();
    let r = server.call(
        "PUT",
        "/catalogue/entries/preschool-psychologists",
        Some(&edit),
        &[("If-Match", "\"1\"")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    server.kill_9();

    let server = Server::start(dir.path(), false);
    let r = server.call(
        "GET",
        "/catalogue/entries/preschool-psychologists",
        None,
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("etag"), Some("\"2\""));
    assert_eq!(r.json()["annual_target"], 220);
    let again = server
        .call("GET", "/catalogue/entries?limit=100", None, &[])
        .json()["entries"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(again, total);
}
