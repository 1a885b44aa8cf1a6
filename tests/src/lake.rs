//! The analytics lake (issue #13 item 4), written once over the API and run on the embedded
//! backend (`tests/tests/lake.rs`): children registered (one merged into another), screened
//! and scored, a referral started (which opens a support episode), the lake written and read
//! back with the columnar reader: one row per result, episode and referral, a merged child
//! counted once under its survivor's pseudonym, and no personal code, name or RAVIS id in
//! any column or in the files' bytes; a second run writes the same bytes and removes a
//! partition older than the table's retention.

use crate::pathway::{World, token};
use bytes::Bytes;
use chrono::{Days, Months};
use ravis::domain::{ChildId, Principal, Role};
use ravis::ports::{BlobStore, Queue, RecordStore};
use ravis::services::lake::LakeSummary;
use ravis::services::merge::MergeInput;
use ravis::statistics::columnar::Strings;
use ravis::statistics::lake::{
    ATVK_VERSION, Table, partition_key, read_episodes, read_referrals, read_results,
};
use ravis::store::keys;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// A personal code of the survivor (valid checksum).
pub const CODE: &str = "32579461005";

/// M-CHAT-R answers with no item at risk ("no" is at risk, except items 2, 5, 12).
fn low_risk_answers() -> Value {
    (1..=20u8)
        .map(|i| {
            let answer = u8::from(!matches!(i, 2 | 5 | 12));
            (i.to_string(), json!(answer))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

struct Seeded {
    survivor: ChildId,
    duplicate: ChildId,
    other: ChildId,
}

async fn post<R: RecordStore + Clone, Q: Queue + Clone>(
    w: &World<R, Q>,
    path: &str,
    token: &str,
    body: Value,
) -> Value {
    let a = w.call("POST", path, &[], token, Some(body), None).await;
    assert!(matches!(a.status, 201 | 202), "{path}: {}", a.body);
    a.body
}

async fn seed<R: RecordStore + Clone, Q: Queue + Clone>(w: &World<R, Q>) -> Seeded {
    let admin = token(Role::RegistryAdministrator, "admin");
    for (id, kind) in [
        ("clinic", "health_practice"),
        ("provider", "programme_provider"),
    ] {
        post(
            w,
            "/organisations",
            &admin,
            json!({"id": id, "kind": kind, "name": id, "atvk": "0001000"}),
        )
        .await;
    }
    let today = w.app.clock.now().date_naive();
    let birth = today.checked_sub_months(Months::new(20)).expect("date");
    let nurse = token(Role::HealthSpecialist, "clinic");
    let child = |extra: Value| {
        let mut body = json!({"given_name": "Anna", "family_name": "Ozola",
            "birth_date": birth, "sex": "female", "atvk": "0001234"});
        if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
            b.extend(extra);
        }
        body
    };
    let id = |v: Value| -> ChildId { v["id"].as_str().expect("id").parse().expect("uuid") };
    let survivor = id(post(
        w,
        "/children",
        &nurse,
        child(json!({"personal_code": CODE})),
    )
    .await);
    let duplicate = id(post(w, "/children", &nurse, child(json!({}))).await);
    let other = id(post(
        w,
        "/children",
        &nurse,
        json!({"given_name": "Jānis", "family_name": "Bērziņš", "birth_date": birth, "sex": "male"}),
    )
    .await);
    // One screening of each child, the duplicate's a month earlier.
    for (child, days_ago) in [(survivor, 10), (duplicate, 40), (other, 5)] {
        post(
            w,
            "/screenings",
            &nurse,
            json!({"child_id": child, "instrument": "mchat-r",
                   "administered_on": today - Days::new(days_ago), "answers": low_risk_answers()}),
        )
        .await;
    }
    w.score_queued().await;
    // A referral of the duplicate (left proposed) and one of the other child, started:
    // starting it opens a support episode.
    let referral = |child: ChildId| {
        json!({"child_id": child, "basis": {"reason": {"text": "parents ask for support"}},
               "programme": "early-intervention-psychomotor", "provider_org": "provider",
               "urgency": "soon", "family_agreement": "agreed"})
    };
    post(w, "/referrals", &nurse, referral(duplicate)).await;
    let a = w
        .call(
            "POST",
            "/referrals",
            &[],
            &nurse,
            Some(referral(other)),
            None,
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let referral_id = a.body["id"].as_str().expect("id").to_owned();
    let mut etag = a.etag.expect("etag");
    let provider = token(Role::ProgrammeProvider, "provider");
    for (who, to) in [
        (&nurse, "sent"),
        (&provider, "accepted"),
        (&provider, "started"),
    ] {
        let a = w
            .call(
                "POST",
                &format!("/referrals/{referral_id}/transitions"),
                &[],
                who,
                Some(json!({"to": to})),
                Some(&etag),
            )
            .await;
        assert_eq!(a.status, 200, "{to}: {}", a.body);
        etag = a.etag.expect("etag");
    }
    // The duplicate merged into the survivor.
    let version = w
        .app
        .records
        .get(&keys::child(survivor))
        .await
        .expect("read")
        .expect("child")
        .version;
    let registrar = Principal {
        subject: "registrar".into(),
        roles: vec![Role::RegistryAdministrator],
        organisation: "ravis".into(),
        territory: None,
        purpose: None,
    };
    w.app
        .children()
        .merge(
            &registrar,
            "merge",
            survivor,
            version,
            MergeInput {
                duplicate: duplicate.to_string(),
                reason: "same child, registered twice".into(),
            },
        )
        .await
        .expect("merged");
    Seeded {
        survivor,
        duplicate,
        other,
    }
}

/// Every value of a text column.
fn values(column: &Strings) -> Vec<String> {
    column.iter().flatten().map(str::to_owned).collect()
}

/// Runs the scenario on `records` and `queue`, writing the lake to `blobs`.
pub async fn the_lake_counts_each_person_once_and_names_no_one<R, Q, B>(
    records: R,
    queue: Q,
    blobs: B,
) where
    R: RecordStore + Clone,
    Q: Queue + Clone,
    B: BlobStore + Clone,
{
    let w = World::with(records, queue, |app| app);
    let seeded = seed(&w).await;
    let year = w.app.clock.now().date_naive().format("%Y").to_string();
    let year: i32 = year.parse().expect("year");
    let writer = w.app.lake_writer(blobs.clone());
    let summary: LakeSummary = writer.write().await.expect("lake written");
    assert_eq!(
        summary.children, 2,
        "the merged child counts under its survivor"
    );
    let rows = |t: Table| summary.tables[t.name()].rows;
    assert_eq!(rows(Table::Results), 3);
    assert_eq!(rows(Table::Episodes), 1);
    assert_eq!(rows(Table::Referrals), 2);

    // Read back with the columnar reader, every partition of every table.
    let mut files: Vec<(String, Bytes)> = Vec::new();
    for table in Table::ALL {
        let page = blobs.list(&table.prefix(), 100, None).await.expect("list");
        for object in page.objects {
            files.push((
                object.key.clone(),
                blobs.get(&object.key).await.expect("get"),
            ));
        }
    }
    let keys_written: Vec<&str> = files.iter().map(|(k, _)| k.as_str()).collect();
    assert!(keys_written.contains(&partition_key(Table::Results, year).as_str()));
    let results = files
        .iter()
        .filter(|(k, _)| k.starts_with("lake/results/"))
        .map(|(_, b)| read_results(b.clone()).expect("results"))
        .collect::<Vec<_>>();
    let result_children: Vec<String> = results.iter().flat_map(|c| values(&c.child)).collect();
    assert_eq!(result_children.len(), 3);
    let distinct: BTreeSet<&String> = result_children.iter().collect();
    assert_eq!(distinct.len(), 2, "two people: {result_children:?}");
    let survivor_pseudonym =
        ravis::services::analytics::AnalyticsExport::new(w.app.records.clone(), &[6; 32])
            .pseudonym(seeded.survivor)
            .to_string();
    assert_eq!(
        result_children
            .iter()
            .filter(|c| **c == survivor_pseudonym)
            .count(),
        2,
        "the duplicate's result counts under the survivor"
    );
    for cols in &results {
        assert!(
            values(&cols.municipality).iter().all(|m| m == "0001004"),
            "the municipality of 0001234"
        );
        assert!(values(&cols.atvk_version).iter().all(|v| v == ATVK_VERSION));
        assert!(values(&cols.instrument).iter().all(|v| v == "mchat-r"));
        assert!(values(&cols.age_band).iter().all(|v| v == "1-3"));
        assert!(values(&cols.risk_level).iter().all(|v| v == "low"));
        assert!(cols.age_years.iter().all(|a| *a == 1));
        assert_eq!(
            cols.municipality.null_count(),
            1,
            "the other child has no address"
        );
    }
    let mut episode_rows = 0;
    let mut referral_children = Vec::new();
    for (key, bytes) in &files {
        if key.starts_with("lake/episodes/") {
            let cols = read_episodes(bytes.clone()).expect("episodes");
            episode_rows += cols.len();
            assert!(cols.started_on.iter().all(Option::is_some));
            assert!(cols.ended_on.iter().all(Option::is_none));
            assert_eq!(values(&cols.sex), ["male"]);
            assert_eq!(cols.outcome.null_count(), 1);
        } else if key.starts_with("lake/referrals/") {
            let cols = read_referrals(bytes.clone()).expect("referrals");
            referral_children.extend(values(&cols.child));
            let mut states = values(&cols.state);
            states.sort();
            assert_eq!(states, ["proposed", "started"]);
            for (state, started) in values(&cols.state).iter().zip(&cols.started_on) {
                assert_eq!(state == "started", started.is_some());
            }
        }
    }
    assert_eq!(episode_rows, 1);
    assert!(referral_children.contains(&survivor_pseudonym));

    // Nothing that names or identifies a child, in any decoded value or in the bytes.
    let forbidden: Vec<String> = vec![
        CODE.into(),
        "Anna".into(),
        "Ozola".into(),
        "Jānis".into(),
        "Bērziņš".into(),
        seeded.survivor.to_string(),
        seeded.duplicate.to_string(),
        seeded.other.to_string(),
    ];
    for (key, bytes) in &files {
        let raw = String::from_utf8_lossy(bytes);
        for word in &forbidden {
            assert!(!raw.contains(word.as_str()), "{key} holds {word}");
        }
    }
    let mut every_value: Vec<String> = result_children.clone();
    for cols in &results {
        for column in [&cols.scores, &cols.bands, &cols.recommendation_kinds] {
            every_value.extend(values(column));
        }
    }
    every_value.extend(referral_children);
    for value in &every_value {
        for word in &forbidden {
            assert!(
                !value.contains(word.as_str()),
                "a value holds {word}: {value}"
            );
        }
    }

    // A second run writes the same bytes; a partition older than the retention goes.
    let stale = partition_key(Table::Results, year - Table::Results.retention_years());
    blobs
        .put(&stale, files[0].1.clone(), None)
        .await
        .expect("stale partition");
    let again = writer.write().await.expect("lake written again");
    assert_eq!(again.tables["results"].deleted, 1);
    assert_eq!(again.tables["episodes"].deleted, 0);
    assert_eq!(again.tables["results"].rows, summary.tables["results"].rows);
    assert!(blobs.head(&stale).await.expect("head").is_none());
    for (key, bytes) in &files {
        assert_eq!(&blobs.get(key).await.expect("get"), bytes, "{key} changed");
    }
}
