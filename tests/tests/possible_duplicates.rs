//! Possible duplicates: a child without a personal code registered through `POST /children`
//! or a partner file finds earlier children with the same names and birth date (with or
//! without a code) through the shared `CHILDNAME#` index, and `GET /children/duplicates`
//! lists the open flags, on both backends. Run through `scripts/moto.sh run -- cargo test ...`.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use ravis::adapters::embedded::SqliteRecordStore;
use ravis::domain::{Principal, Role};
use ravis::intake::summary::{ImportRequest, import_id};
use ravis::intake::{Format, IntakeError, IntakeService, Kind};
use ravis::ports::{BlobReader, Clock, RandomIds, RecordStore, SystemClock};
use ravis::services::audit::AuditTrail;
use ravis::services::children::ChildrenService;
use ravis::store::keys;
use ravis_tests::aws::fresh_record_store;
use serde_json::{Value, json};
use std::sync::Arc;

const IDENTITY_KEY: &[u8] = b"duplicates-test-identity-key-0123456";

fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

fn admin() -> Principal {
    Principal {
        subject: "admin".into(),
        roles: vec![Role::RegistryAdministrator],
        organisation: "ravis".into(),
        territory: None,
        purpose: None,
    }
}

async fn register<R: RecordStore + Clone>(records: &R, body: Value) -> Value {
    let service = ChildrenService::new(
        records.clone(),
        clock(),
        Arc::new(RandomIds),
        IDENTITY_KEY,
        AuditTrail::new(records.clone(), &[7; 32], clock(), None),
    );
    let reply = service
        .register(&admin(), "r", serde_json::from_value(body).unwrap(), None)
        .await
        .unwrap();
    assert_eq!(reply.status, 201);
    reply.body
}

async fn import_csv<R: RecordStore + Clone>(records: &R, name: &str, body: String) {
    let service = IntakeService::new(records.clone(), clock(), Arc::new(RandomIds), IDENTITY_KEY);
    let request = ImportRequest {
        import_id: import_id(&[name]),
        file: name.into(),
        kind: Kind::Children,
        format: Format::Csv,
        strict: false,
        organisation: "test".into(),
    };
    let outcome = service
        .import(&request, || {
            let body = body.clone();
            async move {
                Ok::<BlobReader, IntakeError>(Box::pin(std::io::Cursor::new(body.into_bytes())))
            }
        })
        .await
        .unwrap();
    assert_eq!(
        outcome.summary.rejected,
        0,
        "{:?}",
        outcome.report.rejections()
    );
}

async fn stored<R: RecordStore>(records: &R, id: &Value) -> Value {
    let id = id.as_str().unwrap().parse().unwrap();
    records.get(&keys::child(id)).await.unwrap().unwrap().data
}

const HEADER: &str =
    "personal_code,given_name,family_name,birth_date,sex,gestational_age_weeks,atvk\n";

async fn api_and_file_children_find_each_other<R: RecordStore + Clone>(records: R) {
    // API first: a code-less child, alone, is not flagged.
    let first = register(
        &records,
        json!({"given_name": "Līga", "family_name": "Kalniņa", "birth_date": "2025-01-02", "sex": "female"}),
    )
    .await;
    assert!(first.get("possible_duplicate_of").is_none());
    // A file child with the same names (other case) and birth date but another territory:
    // a new child, flagged with the API child.
    import_csv(
        &records,
        "a.csv",
        format!("{HEADER},LĪGA,kalniņa,2025-01-02,female,,0100000\n"),
    )
    .await;
    // The API child again (same details) from a file is recognised, not duplicated.
    import_csv(
        &records,
        "b.csv",
        format!("{HEADER},Līga,Kalniņa,2025-01-02,female,,\n"),
    )
    .await;
    // A second API registration finds both earlier children.
    let third = register(
        &records,
        json!({"given_name": " Līga ", "family_name": "KALNIŅA", "birth_date": "2025-01-02", "sex": "female", "atvk": "0001000"}),
    )
    .await;
    let flagged = third["possible_duplicate_of"].as_array().unwrap();
    assert_eq!(flagged.len(), 2);
    assert_eq!(flagged[0], first["id"]);
    let file_child = stored(&records, &flagged[1]).await;
    assert_eq!(file_child["atvk"], "0100000");
    assert_eq!(file_child["possible_duplicate_of"], json!([first["id"]]));
    // The flag is stored on the record, and a child with a personal code is not flagged.
    assert_eq!(
        stored(&records, &third["id"]).await["possible_duplicate_of"],
        third["possible_duplicate_of"]
    );
    let coded = register(
        &records,
        json!({"personal_code": "32579461005", "given_name": "Līga", "family_name": "Kalniņa", "birth_date": "2025-01-02", "sex": "female"}),
    )
    .await;
    assert!(coded.get("possible_duplicate_of").is_none());
}

fn list_page(page: &Value) -> Vec<(Value, Value)> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["child_id"].clone(), i["possible_duplicate_of"].clone()))
        .collect()
}

/// A code-less child matching a child WITH a personal code is flagged too (API and files),
/// and `GET /children/duplicates` pages through the open flags, auditing each listed child,
/// until a merge clears them.
async fn coded_children_are_matched_and_flags_listed<R: RecordStore + Clone>(records: R) {
    let service = ChildrenService::new(
        records.clone(),
        clock(),
        Arc::new(RandomIds),
        IDENTITY_KEY,
        AuditTrail::new(records.clone(), &[7; 32], clock(), None),
    );
    // A coded child through the API, a code-less one through a file: flagged.
    let coded = register(
        &records,
        json!({"personal_code": "32579461005", "given_name": "Rihards", "family_name": "Ozols", "birth_date": "2025-02-03", "sex": "male"}),
    )
    .await;
    import_csv(
        &records,
        "c.csv",
        format!(
            "{HEADER},Rihards,Ozols,2025-02-03,male,,\n32111111119,Toms,Egle,2025-04-05,male,,\n"
        ),
    )
    .await;
    // A coded child through a file, a code-less one through the API: flagged.
    let api_child = register(
        &records,
        json!({"given_name": "Toms", "family_name": "Egle", "birth_date": "2025-04-05", "sex": "male"}),
    )
    .await;
    assert_eq!(
        api_child["possible_duplicate_of"].as_array().unwrap().len(),
        1
    );
    let toms_coded = api_child["possible_duplicate_of"][0].clone();
    assert_eq!(
        stored(&records, &toms_coded).await["personal_code"],
        "32111111119"
    );
    assert!(
        stored(&records, &coded["id"])
            .await
            .get("possible_duplicate_of")
            .is_none()
    );

    // Only registry administrators list; pages of one, following `next`.
    let nurse = Principal {
        roles: vec![Role::HealthSpecialist],
        ..admin()
    };
    assert!(matches!(
        service.list_duplicates(&nurse, "l", &[]).await.unwrap_err(),
        ravis::services::ServiceError::Forbidden(_)
    ));
    let mut listed = Vec::new();
    let mut query = vec![("limit".to_owned(), "1".to_owned())];
    loop {
        let page = service
            .list_duplicates(&admin(), "list", &query)
            .await
            .unwrap()
            .body;
        listed.extend(list_page(&page));
        match page["next"].as_str() {
            Some(next) => {
                query = vec![("limit".into(), "1".into()), ("cursor".into(), next.into())]
            }
            None => break,
        }
    }
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.contains(&(api_child["id"].clone(), json!([toms_coded]))));
    let (file_child, candidates) = listed
        .iter()
        .find(|(id, _)| *id != api_child["id"])
        .cloned()
        .unwrap();
    assert_eq!(candidates, json!([coded["id"]]));
    // Each listed child's chain records the read.
    for (id, _) in &listed {
        let id = id.as_str().unwrap().parse().unwrap();
        let entries = service.audit().entries(id).await.unwrap();
        assert!(entries.iter().any(|e| e.body.request_id == "list"));
    }
    assert!(matches!(
        service
            .list_duplicates(&admin(), "l", &[("cursor".into(), "bogus".into())])
            .await
            .unwrap_err(),
        ravis::services::ServiceError::Validation(_)
    ));

    // Merging the file child into the coded one clears its flag from the list.
    let survivor: ravis::domain::ChildId = coded["id"].as_str().unwrap().parse().unwrap();
    let version = records
        .get(&keys::child(survivor))
        .await
        .unwrap()
        .unwrap()
        .version;
    service
        .merge(
            &admin(),
            "m",
            survivor,
            version,
            ravis::services::merge::MergeInput {
                duplicate: file_child.as_str().unwrap().into(),
                reason: "same boy".into(),
            },
        )
        .await
        .unwrap();
    let page = service
        .list_duplicates(&admin(), "l", &[])
        .await
        .unwrap()
        .body;
    assert_eq!(
        list_page(&page),
        [(api_child["id"].clone(), json!([toms_coded]))]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coded_matches_embedded() {
    let dir = tempfile::tempdir().unwrap();
    let records = SqliteRecordStore::open(dir.path().join("records.db")).unwrap();
    coded_children_are_matched_and_flags_listed(records).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coded_matches_aws() {
    coded_children_are_matched_and_flags_listed(fresh_record_store().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_backend() {
    let dir = tempfile::tempdir().unwrap();
    let records = SqliteRecordStore::open(dir.path().join("records.db")).unwrap();
    api_and_file_children_find_each_other(records).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_backend() {
    api_and_file_children_find_each_other(fresh_record_store().await).await;
}

/// A name or birth-date change (`PUT /children/{id}`) moves the child to its new index
/// entry in the same write: later registrations are matched against what is current.
async fn renamed_children_are_matched_by_their_new_names<R: RecordStore + Clone>(records: R) {
    let service = ChildrenService::new(
        records.clone(),
        clock(),
        Arc::new(RandomIds),
        IDENTITY_KEY,
        AuditTrail::new(records.clone(), &[7; 32], clock(), None),
    );
    let child = |given: &str| {
        json!({"given_name": given, "family_name": "Liepa", "birth_date": "2025-01-02",
               "sex": "female", "atvk": "0001000"})
    };
    let anna = register(&records, child("Anna")).await;
    let ance = register(&records, child("Ance")).await;
    assert!(ance.get("possible_duplicate_of").is_none());
    let id = ance["id"].as_str().unwrap().parse().unwrap();
    let reply = service
        .update(
            &admin(),
            "rename",
            id,
            1,
            serde_json::from_value(child("Anna")).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    // The old entry no longer lists the renamed child: a new "Ance" is not flagged ...
    let new_ance = register(&records, child("Ance")).await;
    assert!(
        new_ance.get("possible_duplicate_of").is_none(),
        "{new_ance}"
    );
    // ... and a new "Anna" is flagged against both Annas.
    let new_anna = register(&records, child("Anna")).await;
    assert_eq!(
        new_anna["possible_duplicate_of"],
        json!([anna["id"], ance["id"]])
    );
    // A change that keeps the names and birth date leaves the index alone.
    let mut same = child("Anna");
    same["sex"] = json!("male");
    service
        .update(
            &admin(),
            "sex",
            id,
            2,
            serde_json::from_value(same).unwrap(),
        )
        .await
        .unwrap();
    let third = register(&records, child("Anna")).await;
    assert_eq!(
        third["possible_duplicate_of"],
        json!([anna["id"], ance["id"], new_anna["id"]])
    );

    // A partner file renaming a child with a code moves it the same way.
    let mut coded = child("Marta");
    coded["personal_code"] = json!("32579461005");
    let marta = register(&records, coded).await;
    import_csv(
        &records,
        "rename.csv",
        format!("{HEADER}32579461005,Maija,Liepa,2025-01-02,female,,0001000\n"),
    )
    .await;
    assert_eq!(stored(&records, &marta["id"]).await["given_name"], "Maija");
    let new_marta = register(&records, child("Marta")).await;
    assert!(
        new_marta.get("possible_duplicate_of").is_none(),
        "{new_marta}"
    );
    let maija = register(&records, child("Maija")).await;
    assert_eq!(maija["possible_duplicate_of"], json!([marta["id"]]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renamed_embedded() {
    let dir = tempfile::tempdir().unwrap();
    let records = SqliteRecordStore::open(dir.path().join("records.db")).unwrap();
    renamed_children_are_matched_by_their_new_names(records).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renamed_aws() {
    renamed_children_are_matched_by_their_new_names(fresh_record_store().await).await;
}
