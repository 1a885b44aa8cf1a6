//! `GET /children/merges` on both backends: the merges in effect, newest first, paged, each
//! with its reason and who merged; an un-merge takes its merge out; registry administrators
//! only, within their territory; every listed merge is a read in both children's chains;
//! and the backfill indexes merge records written before the index existed.
//! Run through `scripts/moto.sh run -- cargo test ...`.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use ravis::adapters::embedded::EmbeddedBackend;
use ravis::app::App;
use ravis::domain::{ChildId, Principal, Role};
use ravis::ports::{Record, RecordStore};
use ravis::services::ServiceError;
use ravis::services::merge::MergeInput;
use ravis::services::merge_list::backfill_merge_index;
use ravis::store::keys;
use ravis_tests::aws::fresh_record_store;
use ravis_tests::support::{self, field_of, query};
use serde_json::{Value, json};

fn principal(role: Role, territory: Option<&str>) -> Principal {
    support::principal(role, "ravis", territory)
}

fn admin() -> Principal {
    principal(Role::RegistryAdministrator, None)
}

fn duplicates(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["duplicate"].as_str().unwrap().to_owned())
        .collect()
}

async fn merges_are_listed_newest_first<R: RecordStore + Clone>(records: R) {
    let app = App::new(records.clone(), &[5; 32], &[7; 32]).unwrap();
    let children = app.children();
    let audit = app.audit();
    let register = |given: &'static str| {
        let children = &children;
        async move {
            let body = json!({"given_name": given, "family_name": "Ozola", "birth_date": "2024-03-04", "sex": "female", "atvk": "0001000"});
            let reply = children
                .register(&admin(), "r", serde_json::from_value(body).unwrap(), None)
                .await
                .unwrap();
            reply.body["id"]
                .as_str()
                .unwrap()
                .parse::<ChildId>()
                .unwrap()
        }
    };
    let (a, b, c, d) = (
        register("Ilze").await,
        register("Ilze").await,
        register("Marta").await,
        register("Marta").await,
    );
    let merge = |survivor: ChildId, duplicate: ChildId, reason: &'static str| {
        let (children, records) = (&children, &records);
        async move {
            let version = records
                .get(&keys::child(survivor))
                .await
                .unwrap()
                .unwrap()
                .version;
            let input = MergeInput {
                duplicate: duplicate.to_string(),
                reason: reason.into(),
            };
            children
                .merge(&admin(), "m", survivor, version, input)
                .await
                .unwrap();
        }
    };
    merge(a, b, "Ilze registered twice").await;
    // Merged a moment later, so it is the newer of the two.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    merge(c, d, "Marta registered twice").await;

    let page = children.list_merges(&admin(), "l", &[]).await.unwrap().body;
    assert_eq!(duplicates(&page), [d.to_string(), b.to_string()]);
    assert_eq!(page["next"], Value::Null);
    let newest = &page["items"][0];
    assert_eq!(newest["survivor"], json!(c));
    assert_eq!(newest["reason"], "Marta registered twice");
    assert_eq!(
        newest["merged_by"],
        json!({"subject": "registry_administrator", "organisation": "ravis"})
    );
    assert!(newest["merged_at"].as_str().unwrap().starts_with("20"));
    // Each listed merge is a read in both children's chains.
    for child in [a, b, c, d] {
        let last = audit.entries(child).await.unwrap().pop().unwrap();
        assert_eq!(last.body.request_id, "l", "{child}");
    }

    // Paged one at a time; a bad cursor, limit or parameter is refused naming it.
    let first = children
        .list_merges(&admin(), "l", &query(&[("limit", "1")]))
        .await
        .unwrap()
        .body;
    assert_eq!(duplicates(&first), [d.to_string()]);
    let cursor = first["next"].as_str().unwrap();
    let second = children
        .list_merges(&admin(), "l", &query(&[("limit", "1"), ("cursor", cursor)]))
        .await
        .unwrap()
        .body;
    assert_eq!(duplicates(&second), [b.to_string()]);
    for (name, value) in [("cursor", "bogus"), ("limit", "0"), ("colour", "red")] {
        assert_eq!(
            field_of(
                children
                    .list_merges(&admin(), "l", &query(&[(name, value)]))
                    .await
                    .unwrap_err()
            ),
            name
        );
    }
    // Registry administrators only, and only merges of children in their territory.
    assert!(matches!(
        children
            .list_merges(&principal(Role::HealthSpecialist, None), "l", &[])
            .await
            .unwrap_err(),
        ServiceError::Forbidden(_)
    ));
    let elsewhere = principal(Role::RegistryAdministrator, Some("0056000"));
    let page = children
        .list_merges(&elsewhere, "l", &[])
        .await
        .unwrap()
        .body;
    assert_eq!(page["items"], json!([]));
    let home = principal(Role::RegistryAdministrator, Some("0001000"));
    let page = children.list_merges(&home, "l", &[]).await.unwrap().body;
    assert_eq!(duplicates(&page).len(), 2);

    // An earlier merge is undone from the list: it leaves the list.
    children
        .unmerge(
            &admin(),
            "u",
            a,
            MergeInput {
                duplicate: b.to_string(),
                reason: "two children after all".into(),
            },
        )
        .await
        .unwrap();
    let page = children.list_merges(&admin(), "l", &[]).await.unwrap().body;
    assert_eq!(duplicates(&page), [d.to_string()]);

    // A merge record written before the index existed is not listed until the backfill.
    let stored = records.get(&keys::merge(d)).await.unwrap().unwrap();
    let unindexed = Record::new(stored.key.clone(), stored.data.clone());
    records
        .put_versioned(unindexed, stored.version)
        .await
        .unwrap();
    let page = children.list_merges(&admin(), "l", &[]).await.unwrap().body;
    assert_eq!(page["items"], json!([]));
    assert_eq!(backfill_merge_index(&records).await.unwrap(), 1);
    assert_eq!(backfill_merge_index(&records).await.unwrap(), 0);
    let page = children.list_merges(&admin(), "l", &[]).await.unwrap().body;
    assert_eq!(duplicates(&page), [d.to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_backend() {
    let dir = tempfile::tempdir().unwrap();
    let backend = EmbeddedBackend::open(dir.path()).unwrap();
    merges_are_listed_newest_first(backend.records()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_backend() {
    merges_are_listed_newest_first(fresh_record_store().await).await;
}
