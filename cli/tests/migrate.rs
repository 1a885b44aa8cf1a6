//! `ravis migrate merges` on a data directory: a merge recorded before the merge list
//! existed (its record without the index entry) is listed after the migration; running it
//! again changes nothing.

use ravis::adapters::embedded::EmbeddedBackend;
use ravis::app::App;
use ravis::domain::{ChildId, Principal, Role};
use ravis::ports::{Record, RecordStore};
use ravis::services::merge::MergeInput;
use ravis::store::keys;
use ravis_cli::keys::LocalKeys;

#[tokio::test]
async fn migrate_merges_indexes_a_merge_made_before_the_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys_ = LocalKeys::load_or_create(dir.path()).expect("keys");
    let backend = EmbeddedBackend::open(dir.path()).expect("backend");
    let records = backend.records();
    let app = App::embedded(&backend, &keys_.identity_hmac_key, &keys_.pseudonym_key).expect("app");
    let children = app.children();
    let admin = Principal {
        subject: "admin-1".into(),
        roles: vec![Role::RegistryAdministrator],
        organisation: "registry".into(),
        territory: None,
        purpose: None,
    };
    let mut ids = Vec::new();
    for _ in 0..2 {
        let body = serde_json::json!({"given_name": "Ieva", "family_name": "Lapa", "birth_date": "2024-05-06", "sex": "female"});
        let reply = children
            .register(
                &admin,
                "r",
                serde_json::from_value(body).expect("input"),
                None,
            )
            .await
            .expect("register");
        ids.push(
            reply.body["id"]
                .as_str()
                .expect("id")
                .parse::<ChildId>()
                .expect("child id"),
        );
    }
    let input = MergeInput {
        duplicate: ids[1].to_string(),
        reason: "registered twice".into(),
    };
    children
        .merge(&admin, "m", ids[0], 1, input)
        .await
        .expect("merge");
    // As an earlier version wrote it: no index entry.
    let stored = records
        .get(&keys::merge(ids[1]))
        .await
        .expect("get")
        .expect("merge record");
    records
        .put_versioned(
            Record::new(stored.key.clone(), stored.data.clone()),
            stored.version,
        )
        .await
        .expect("put");
    let listed = |body: serde_json::Value| body["items"].as_array().expect("items").len();
    let page = children.list_merges(&admin, "l", &[]).await.expect("list");
    assert_eq!(listed(page.body), 0);

    assert_eq!(
        ravis_cli::migrate::merges(dir.path())
            .await
            .expect("migrate"),
        1
    );
    let page = children.list_merges(&admin, "l", &[]).await.expect("list");
    assert_eq!(
        page.body["items"][0]["duplicate"],
        serde_json::json!(ids[1])
    );
    assert_eq!(
        ravis_cli::migrate::merges(dir.path())
            .await
            .expect("migrate"),
        0
    );
}
