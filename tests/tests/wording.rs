//! Item wording packs (issue #16): the pack format's checks, and
//! `GET /catalogue/instruments/{id}/wording/{lang}` over packs in a data directory.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use ravis::adapters::embedded::{EmbeddedBackend, QueueOptions};
use ravis::adapters::wording::DirWordingPacks;
use ravis::app::App;
use ravis::domain::Role;
use ravis::inbound::http::{ApiRequest, ApiResponse};
use ravis::inbound::routes::handle;
use ravis::scoring::Engine;
use ravis::scoring::wording::{MAX_ITEM_CHARS, WordingPack};
use ravis_tests::auth::verifier_and_token;
use ravis_tests::wording::test_pack;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

fn parse(pack: &Value) -> Result<WordingPack, Vec<(String, String)>> {
    let engine = Engine::builtin().unwrap();
    WordingPack::parse(pack.to_string().as_bytes(), |id| engine.instrument(id))
        .map_err(|errors| errors.into_iter().map(|e| (e.field, e.reason)).collect())
}

fn fields(errors: &[(String, String)]) -> Vec<&str> {
    errors.iter().map(|(f, _)| f.as_str()).collect()
}

#[test]
fn a_complete_pack_fits_its_definition() {
    for instrument in ["mchat-r", "sdq-parent-4-17"] {
        for language in ["lv", "en"] {
            let pack = parse(&test_pack(instrument, language)).unwrap();
            assert_eq!(pack.language, language);
        }
    }
}

#[test]
fn a_bad_pack_is_refused_with_every_field_named() {
    let mut pack = test_pack("mchat-r", "lv");
    pack["language"] = json!("de");
    pack["items"].as_object_mut().unwrap().remove("7");
    pack["items"]["99"] = json!("An item the instrument does not have");
    pack["items"]["3"] = json!("x".repeat(MAX_ITEM_CHARS + 1));
    pack["items"]["4"] = json!("   ");
    pack["versions"] = json!(["0.9"]);
    pack["licence"] = json!("");
    pack["option_labels"]["no_such_coding"] = json!(["a", "b"]);
    pack["option_labels"]["at_risk_if_no"] = json!(["only one"]);
    let errors = parse(&pack).unwrap_err();
    let named = fields(&errors);
    for field in [
        "language",
        "items.7",
        "items.99",
        "items.3",
        "items.4",
        "versions",
        "licence",
        "option_labels.no_such_coding",
        "option_labels.at_risk_if_no",
    ] {
        assert!(named.contains(&field), "{field} not named in {errors:?}");
    }
    let reason = |field: &str| {
        errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, r)| r.clone())
            .unwrap()
    };
    assert!(reason("language").contains("not one of lv, en"));
    assert!(reason("items.7").contains("missing"));
    assert!(reason("items.99").contains("no item with this id"));
    assert!(reason("items.3").contains("at most 2000"));
    assert!(reason("versions").contains("at version"));
    assert!(reason("option_labels.at_risk_if_no").contains("has 1 labels"));
}

#[test]
fn an_unknown_instrument_a_stray_field_or_bad_json_is_refused() {
    let mut pack = test_pack("mchat-r", "en");
    pack["instrument"] = json!("no-such-instrument");
    assert_eq!(fields(&parse(&pack).unwrap_err()), ["instrument"]);
    let mut pack = test_pack("mchat-r", "en");
    pack["wording"] = json!("?");
    let errors = parse(&pack).unwrap_err();
    assert!(
        errors[0].1.contains("unknown field `wording`"),
        "{errors:?}"
    );
    let engine = Engine::builtin().unwrap();
    let errors = WordingPack::parse(b"{not json", |id| engine.instrument(id)).unwrap_err();
    assert!(errors[0].reason.contains("line 1"), "{errors:?}");
}

struct Api {
    api: ravis::inbound::all_routes::AllRoutes<
        ravis::adapters::embedded::SqliteRecordStore,
        ravis::adapters::embedded::SqliteQueue,
        ravis::adapters::embedded::DirBlobStore,
    >,
}

fn api(dir: &Path) -> Api {
    let backend = EmbeddedBackend::open(dir).unwrap();
    let queue = backend.queue("scoring", QueueOptions::default()).unwrap();
    let app = App::new(backend.records(), &[4; 32], &[6; 32])
        .unwrap()
        .with_wording_packs(Arc::new(DirWordingPacks::new(dir.join("wording"))));
    Api {
        api: app
            .all_routes(
                queue.clone(),
                queue,
                backend.blobs("reports").unwrap(),
                backend.blobs("partner").unwrap(),
            )
            .unwrap(),
    }
}

async fn get(api: &Api, role: Role, path: &str, with_token: bool) -> ApiResponse {
    let (auth, token) = verifier_and_token(role, "clinic-1");
    let mut headers = http::HeaderMap::new();
    if with_token {
        headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    handle(
        &auth,
        &api.api,
        ApiRequest {
            method: http::Method::GET,
            path: path.to_owned(),
            query: vec![],
            headers,
            body: Default::default(),
            request_id: "wording-test".into(),
        },
    )
    .await
}

fn body(response: &ApiResponse) -> Value {
    serde_json::from_slice(&response.body).unwrap()
}

fn load(dir: &Path, name: &str, pack: &Value) {
    std::fs::create_dir_all(dir.join("wording")).unwrap();
    std::fs::write(dir.join("wording").join(name), pack.to_string()).unwrap();
}

#[tokio::test]
async fn a_loaded_pack_is_served_to_screeners_privately() {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), "mchat-r.lv.json", &test_pack("mchat-r", "lv"));
    let api = api(dir.path());
    for role in [
        Role::HealthSpecialist,
        Role::EducationSpecialist,
        Role::PartnerSystem,
    ] {
        let response = get(
            &api,
            role,
            "/catalogue/instruments/mchat-r/wording/lv",
            true,
        )
        .await;
        assert_eq!(response.status, 200, "{role:?}");
        assert_eq!(
            response.headers.get("cache-control").unwrap(),
            "private, max-age=300"
        );
        let pack = body(&response);
        assert_eq!(pack["instrument"], "mchat-r");
        assert_eq!(pack["language"], "lv");
        assert_eq!(pack["items"].as_object().unwrap().len(), 20);
        assert_eq!(pack["items"]["7"], "Test wording of item 7 (lv)");
        assert_eq!(pack["licence"], "Test data, no licence needed");
        // Option labels come per item, so a form needs no coding names.
        assert_eq!(
            pack["options"]["2"],
            json!(["Test option 0", "Test option 1"])
        );
    }
    // Roles that do not administer screenings get no licensed wording.
    for role in [Role::MinistryAnalyst, Role::DataProtectionOfficer] {
        let response = get(
            &api,
            role,
            "/catalogue/instruments/mchat-r/wording/lv",
            true,
        )
        .await;
        assert_eq!(response.status, 403, "{role:?}");
    }
}

#[tokio::test]
async fn without_a_token_the_answer_is_401() {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), "mchat-r.lv.json", &test_pack("mchat-r", "lv"));
    let api = api(dir.path());
    let response = get(
        &api,
        Role::HealthSpecialist,
        "/catalogue/instruments/mchat-r/wording/lv",
        false,
    )
    .await;
    assert_eq!(response.status, 401);
    assert!(response.headers.get("cache-control").is_none());
}

#[tokio::test]
async fn without_a_pack_the_answer_is_404_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), "mchat-r.lv.json", &test_pack("mchat-r", "lv"));
    // A pack that no longer fits: the definition moved past the versions it names.
    let mut old = test_pack("sdq-parent-4-17", "en");
    old["versions"] = json!(["0.1"]);
    load(dir.path(), "sdq-parent-4-17.en.json", &old);
    // A pack stored under another instrument's name.
    load(dir.path(), "epds.en.json", &test_pack("mchat-r", "en"));
    let api = api(dir.path());
    for (path, says) in [
        (
            "/catalogue/instruments/mchat-r/wording/en",
            "no wording pack loaded for this instrument and language",
        ),
        (
            "/catalogue/instruments/sdq-parent-4-17/wording/en",
            "versions: the pack fits versions 0.1",
        ),
        (
            "/catalogue/instruments/epds/wording/en",
            "the stored pack is for mchat-r, en",
        ),
        (
            "/catalogue/instruments/no-such/wording/lv",
            "no instrument 'no-such'",
        ),
        (
            "/catalogue/instruments/mchat-r/wording/de",
            "'de' is not a language",
        ),
    ] {
        let response = get(&api, Role::HealthSpecialist, path, true).await;
        assert_eq!(response.status, 404, "{path}");
        assert_eq!(
            response.headers.get("content-type").unwrap(),
            "application/problem+json",
            "{path}"
        );
        let problem = body(&response);
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{path}: {problem}"
        );
    }
}

#[tokio::test]
async fn a_deployment_without_a_pack_store_has_no_pack() {
    let dir = tempfile::tempdir().unwrap();
    let backend = EmbeddedBackend::open(dir.path()).unwrap();
    let queue = backend.queue("scoring", QueueOptions::default()).unwrap();
    let app = App::new(backend.records(), &[4; 32], &[6; 32]).unwrap();
    let api = Api {
        api: app
            .all_routes(
                queue.clone(),
                queue,
                backend.blobs("reports").unwrap(),
                backend.blobs("partner").unwrap(),
            )
            .unwrap(),
    };
    let response = get(
        &api,
        Role::HealthSpecialist,
        "/catalogue/instruments/mchat-r/wording/lv",
        true,
    )
    .await;
    assert_eq!(response.status, 404);
}

/// Both pack stores answer alike: the bytes of a stored pack, `None` for a missing one and
/// for a name that is not a plain file name (never a path outside the packs).
#[tokio::test]
async fn both_pack_stores_read_alike() {
    use ravis::adapters::wording::{BUCKET_PREFIX, BucketWordingPacks};
    use ravis::ports::BlobStore;
    use ravis::ports::wording::WordingPacks;
    let dir = tempfile::tempdir().unwrap();
    let bytes = test_pack("epds", "en").to_string();
    load(dir.path(), "epds.en.json", &test_pack("epds", "en"));
    std::fs::write(dir.path().join("secret.json"), "{}").unwrap();
    let backend = EmbeddedBackend::open(dir.path().join("backend")).unwrap();
    let bucket = backend.blobs("reports").unwrap();
    bucket
        .put(
            &format!("{BUCKET_PREFIX}epds.en.json"),
            bytes.clone().into(),
            Some("application/json"),
        )
        .await
        .unwrap();
    bucket.put("secret.json", "{}".into(), None).await.unwrap();
    let stores: [Box<dyn WordingPacks>; 2] = [
        Box::new(DirWordingPacks::new(dir.path().join("wording"))),
        Box::new(BucketWordingPacks::new(bucket)),
    ];
    for store in &stores {
        assert_eq!(
            store.read("epds.en.json").await.unwrap(),
            Some(bytes.clone().into_bytes())
        );
        assert_eq!(store.read("epds.lv.json").await.unwrap(), None);
        assert_eq!(store.read("../secret.json").await.unwrap(), None);
        assert_eq!(store.read("").await.unwrap(), None);
    }
}
