//! What only the AWS adapters do, checked against the moto emulator: the stored item
//! layout, TTL set-up, lazy expiry, full pages across filtered items, the redrive policy,
//! the KMS signer.
//! The behaviour both backends share is in the contract suites.
//!
//! Run: `scripts/moto.sh run -- cargo test -p ravis-tests --test all aws_adapters::`.

use aws_sdk_dynamodb::types::{AttributeValue, TimeToLiveStatus};
use bytes::Bytes;
use ravis::adapters::aws::{create_queue_with_dlq, sqs::RedrivePolicy};
use ravis::ports::{
    BlobStore, Key, ManualClock, Queue, QueueError, Record, RecordStore, SortKeyCondition,
    StoreError, WriteOp,
};
use ravis_tests::aws::{emulator, fresh_blob_store, fresh_queue, fresh_record_store, unique_name};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

const T0: i64 = 1_900_000_000;

#[tokio::test]
async fn table_has_index_and_ttl_and_stores_native_types() {
    let store = fresh_record_store().await;
    let client = emulator().await.dynamodb;

    let ttl = client
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .expect("describe ttl");
    let ttl = ttl.time_to_live_description().expect("ttl description");
    assert_eq!(ttl.attribute_name(), Some("expires_at"));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));

    let table = client
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .expect("describe table");
    let indexes = table.table().expect("table").global_secondary_indexes();
    assert_eq!(indexes.len(), 1);
    assert_eq!(indexes[0].index_name(), Some("gsi1"));

    let record = Record::new(
        Key::new("CHILD#1", "CHILD"),
        json!({"name": "Anna", "age": 4, "tags": ["a"], "ok": true, "none": null}),
    )
    .with_index("ATVK#0001000", "CHILD#1");
    store.put_new(record).await.expect("put");

    let item = client
        .get_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S("CHILD#1".into()))
        .key("sk", AttributeValue::S("CHILD".into()))
        .send()
        .await
        .expect("raw get")
        .item
        .expect("item present");
    assert_eq!(item["version"], AttributeValue::N("1".into()));
    assert_eq!(item["gsi1pk"], AttributeValue::S("ATVK#0001000".into()));
    assert!(!item.contains_key("expires_at"));
    let AttributeValue::M(data) = &item["data"] else {
        panic!("data must be a native map, got {:?}", item["data"]);
    };
    assert_eq!(data["name"], AttributeValue::S("Anna".into()));
    assert_eq!(data["age"], AttributeValue::N("4".into()));
    assert_eq!(data["ok"], AttributeValue::Bool(true));
    assert_eq!(data["none"], AttributeValue::Null(true));
    assert_eq!(
        data["tags"],
        AttributeValue::L(vec![AttributeValue::S("a".into())])
    );
}

#[tokio::test]
async fn numbers_survive_the_round_trip() {
    let store = fresh_record_store().await;
    let data = json!({
        "min": i64::MIN, "max": i64::MAX, "umax": u64::MAX,
        "pi": std::f64::consts::PI, "tiny": 1e-7, "neg": -2.5
    });
    let key = Key::new("N", "N");
    store
        .put_new(Record::new(key.clone(), data.clone()))
        .await
        .expect("put");
    let back = store.get(&key).await.expect("get").expect("present");
    assert_eq!(back.data, data);
}

#[tokio::test]
async fn expired_items_are_absent_before_ttl_deletes_them() {
    let clock = Arc::new(ManualClock::at_secs(T0));
    let store = fresh_record_store().await.with_clock(clock.clone());
    let key = Key::new("IDEMPOTENCY#1", "IDEMPOTENCY");
    let record = Record::new(key.clone(), json!({"n": 1})).with_expiry(T0 + 60);
    store.put_new(record.clone()).await.expect("put");

    clock.set_secs(T0 + 60);
    assert!(
        store.get(&key).await.expect("get").is_some(),
        "live up to and including its expiry second"
    );
    assert!(matches!(
        store.put_new(record.clone()).await,
        Err(StoreError::AlreadyExists { .. })
    ));

    clock.set_secs(T0 + 61);
    assert_eq!(store.get(&key).await.expect("get"), None);
    assert!(matches!(
        store.put_versioned(record.clone(), 1).await,
        Err(StoreError::Conflict { expected: 1, .. })
    ));
    assert!(matches!(
        store
            .transact(vec![WriteOp::Check {
                key: key.clone(),
                expected: 1
            }])
            .await,
        Err(StoreError::TransactionCancelled { index: 0 })
    ));

    // The item is still physically there (TTL deletion is lazy), yet a create succeeds over it.
    let raw = emulator()
        .await
        .dynamodb
        .get_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(key.pk.clone()))
        .key("sk", AttributeValue::S(key.sk.clone()))
        .send()
        .await
        .expect("raw get");
    assert!(raw.item.is_some(), "the expired item is still stored");
    let replacement = Record::new(key.clone(), json!({"n": 2}));
    store
        .put_new(replacement)
        .await
        .expect("create over expired");
    let back = store.get(&key).await.expect("get").expect("present");
    assert_eq!(back.version, 1);
    assert_eq!(back.data, json!({"n": 2}));
    assert_eq!(back.expires_at, None);
}

#[tokio::test]
async fn pages_stay_full_when_expired_items_are_filtered_out() {
    let clock = Arc::new(ManualClock::at_secs(T0));
    let store = fresh_record_store().await.with_clock(clock.clone());
    for i in 0..12 {
        let mut record = Record::new(Key::new("P", format!("S#{i:02}")), json!({"i": i}))
            .with_index("G", format!("S#{i:02}"));
        // Two of every three records expire.
        if i % 3 != 0 {
            record = record.with_expiry(T0 + 10);
        }
        store.put_new(record).await.expect("put");
    }
    clock.set_secs(T0 + 11);

    for on_index in [false, true] {
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let page = if on_index {
                store
                    .query_index("G", &SortKeyCondition::All, 2, false, cursor.as_deref())
                    .await
            } else {
                store
                    .query("P", &SortKeyCondition::All, 2, false, cursor.as_deref())
                    .await
            }
            .expect("query");
            pages += 1;
            seen.extend(page.records.iter().map(|r| r.key.sk.clone()));
            match page.next {
                Some(next) => {
                    assert_eq!(page.records.len(), 2, "a page with a cursor is full");
                    cursor = Some(next);
                }
                None => break,
            }
        }
        assert_eq!(seen, ["S#00", "S#03", "S#06", "S#09"], "index: {on_index}");
        assert_eq!(pages, 2, "no empty trailing page (index: {on_index})");
    }
}

#[tokio::test]
async fn cancelled_transaction_names_the_failed_operation_and_writes_nothing() {
    let store = fresh_record_store().await;
    let existing = Key::new("A", "A");
    store
        .put_new(Record::new(existing.clone(), json!({})))
        .await
        .expect("put");
    let fresh = Key::new("B", "B");
    let result = store
        .transact(vec![
            WriteOp::PutNew(Record::new(fresh.clone(), json!({}))),
            WriteOp::PutVersioned {
                record: Record::new(existing.clone(), json!({"v": 2})),
                expected: 1,
            },
            WriteOp::Check {
                key: existing.clone(),
                expected: 7,
            },
        ])
        .await;
    // The same key twice is refused before reaching DynamoDB.
    assert!(matches!(result, Err(StoreError::Invalid(_))), "{result:?}");

    let result = store
        .transact(vec![
            WriteOp::PutNew(Record::new(fresh.clone(), json!({}))),
            WriteOp::Check {
                key: existing.clone(),
                expected: 7,
            },
        ])
        .await;
    assert!(
        matches!(result, Err(StoreError::TransactionCancelled { index: 1 })),
        "{result:?}"
    );
    assert_eq!(store.get(&fresh).await.expect("get"), None);
}

#[tokio::test]
async fn blobs_report_s3_metadata_without_quotes() {
    let store = fresh_blob_store().await;
    let meta = store
        .put(
            "a/b.json",
            Bytes::from_static(b"{}"),
            Some("application/json"),
        )
        .await
        .expect("put");
    assert!(!meta.etag.contains('"'));
    assert_eq!(meta.size, 2);
    assert_eq!(meta.content_type.as_deref(), Some("application/json"));
    let head = store
        .head("a/b.json")
        .await
        .expect("head")
        .expect("present");
    // A put reports its own clock (whole seconds, as S3 keeps them) instead of reading S3's
    // back with a second request; both name the moment of writing.
    assert!(
        (head.last_modified - meta.last_modified)
            .num_seconds()
            .abs()
            <= 2,
        "{head:?} vs {meta:?}"
    );
    assert_eq!(
        head,
        ravis::ports::BlobMeta {
            last_modified: head.last_modified,
            ..meta
        }
    );

    let plain = store
        .put("a/c.bin", Bytes::from_static(b"xyz"), None)
        .await
        .expect("put");
    assert_eq!(plain.content_type, None);

    let mut reader = store.open("a/c.bin").await.expect("open");
    let mut body = Vec::new();
    reader.read_to_end(&mut body).await.expect("read");
    assert_eq!(body, b"xyz");
}

#[tokio::test]
async fn queue_redrive_policy_is_set_and_checked() {
    let clients = emulator().await;
    let name = unique_name("ravis-redrive");
    let queue = create_queue_with_dlq(&clients.sqs, &name, 3)
        .await
        .expect("create");
    let attributes = clients
        .sqs
        .get_queue_attributes()
        .queue_url(queue.url())
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .expect("attributes")
        .attributes
        .expect("some attributes");
    let policy =
        RedrivePolicy::parse(&attributes[&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy])
            .expect("parsable");
    assert_eq!(policy.max_receive_count, 3);
    assert!(
        policy
            .dead_letter_target_arn
            .ends_with(&format!("{name}-dlq"))
    );

    // Creating again is idempotent; asking for another policy is refused.
    create_queue_with_dlq(&clients.sqs, &name, 3)
        .await
        .expect("idempotent");
    assert!(matches!(
        create_queue_with_dlq(&clients.sqs, &name, 5).await,
        Err(QueueError::Invalid(_))
    ));
}

#[tokio::test]
async fn messages_go_dead_after_max_receives() {
    let queue = fresh_queue(2).await;
    let id = queue.send("poison").await.expect("send");
    for expected_count in 1..=2 {
        let got = queue
            .receive(1, Duration::ZERO, Duration::from_secs(1))
            .await
            .expect("receive");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id, id);
        assert_eq!(got[0].receive_count, expected_count);
    }
    // The third receive moves it to the dead-letter queue instead of delivering it.
    let got = queue
        .receive(1, Duration::ZERO, Duration::ZERO)
        .await
        .expect("receive");
    assert!(got.is_empty(), "{got:?}");
    let dead = queue.receive_dead_letters(10).await.expect("dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, id);
    assert_eq!(dead[0].body, "poison");
}

#[tokio::test]
async fn batches_over_the_request_limit_are_split_and_all_sent() {
    let queue = fresh_queue(3).await;
    let big = "x".repeat(200 * 1024);
    let bodies = vec![big.clone(), big.clone(), "small".to_owned()];
    let ids = queue.send_batch(&bodies).await.expect("send");
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|id| !id.is_empty()));

    let mut received = Vec::new();
    while received.len() < 3 {
        let got = queue
            .receive(10, Duration::from_secs(60), Duration::from_secs(1))
            .await
            .expect("receive");
        assert!(!got.is_empty(), "all three messages arrive");
        received.extend(got);
    }
    let mut got_ids: Vec<_> = received.iter().map(|m| m.id.clone()).collect();
    let mut want_ids = ids.clone();
    got_ids.sort();
    want_ids.sort();
    assert_eq!(got_ids, want_ids);
}

/// A new KMS signing key like the template's `FhirSigningKey`, and the KMS client.
async fn fresh_signing_key(spec: aws_sdk_kms::types::KeySpec) -> (aws_sdk_kms::Client, String) {
    use aws_sdk_kms::types::KeyUsageType;
    let kms = emulator().await.kms.get().clone();
    let usage = if spec == aws_sdk_kms::types::KeySpec::SymmetricDefault {
        KeyUsageType::EncryptDecrypt
    } else {
        KeyUsageType::SignVerify
    };
    let key = kms
        .create_key()
        .key_spec(spec)
        .key_usage(usage)
        .description(unique_name("ravis-fhir-signing"))
        .send()
        .await
        .expect("create_key")
        .key_metadata
        .expect("key metadata");
    (kms, key.arn.expect("key ARN"))
}

#[tokio::test]
async fn the_kms_signer_signs_jws_that_verify_with_the_keys_public_key() {
    use ravis::adapters::aws::KmsSigner;
    use ravis::adapters::aws::kms::MAX_RAW_MESSAGE;
    use ravis::fhir::{detached_jws, jws_signing_input, verify_detached_jws};
    use ravis::ports::JwsSigner;
    use ravis::ports::signer::{jwk_thumbprint, spki_p256_point};

    let (kms, key) = fresh_signing_key(aws_sdk_kms::types::KeySpec::EccNistP256).await;
    let signer = KmsSigner::connect(kms.clone(), &key)
        .await
        .expect("connect");
    let public = signer.public_key().await.expect("public key");
    let (key_id, public_point) = (public.key_id.as_str(), public.point.as_slice());
    // The public key is the one KMS hands out, and the kid its RFC 7638 thumbprint.
    let spki = kms
        .get_public_key()
        .key_id(&key)
        .send()
        .await
        .expect("get_public_key")
        .public_key
        .expect("public key");
    let point = spki_p256_point(spki.as_ref()).expect("P-256 point");
    assert_eq!(public_point, point.as_slice());
    assert_eq!(key_id, jwk_thumbprint(&point).expect("thumbprint"));
    assert_eq!(signer.algorithm(), "ES256");

    // A short body (the signing input is sent whole) and a Bundle-sized one (sent as its
    // SHA-256): both JWS verify with the public key over the exact body.
    let short = br#"{"resourceType":"Bundle","type":"transaction"}"#.to_vec();
    let long = format!(
        r#"{{"resourceType":"Bundle","type":"transaction","entry":[{}]}}"#,
        vec![r#"{"fullUrl":"urn:uuid:5b0c8c2e-7a4f-5d1e-9a0b-1c2d3e4f5a6b"}"#; 120].join(",")
    )
    .into_bytes();
    assert!(jws_signing_input(key_id, "ES256", &short).len() <= MAX_RAW_MESSAGE);
    assert!(jws_signing_input(key_id, "ES256", &long).len() > MAX_RAW_MESSAGE);
    for body in [&short, &long] {
        let input = jws_signing_input(key_id, "ES256", body);
        let signature = signer.sign(&input).await.expect("sign");
        assert_eq!(signature.len(), 64, "raw r ‖ s, not DER");
        let jws = detached_jws(key_id, "ES256", &signature);
        let header = verify_detached_jws(&jws, body, public_point)
            .unwrap_or_else(|e| panic!("the JWS over {} bytes does not verify: {e}", body.len()));
        assert_eq!(header["kid"], key_id);
        // Over other bytes it does not.
        let mut changed = body.clone();
        changed[0] = b' ';
        assert!(verify_detached_jws(&jws, &changed, public_point).is_err());
    }
}

#[tokio::test]
async fn the_kms_signer_refuses_a_key_that_cannot_sign_es256_and_a_missing_key() {
    use ravis::adapters::aws::KmsSigner;
    use ravis::ports::signer::SignError;
    let (kms, key) = fresh_signing_key(aws_sdk_kms::types::KeySpec::SymmetricDefault).await;
    let err = KmsSigner::connect(kms.clone(), &key)
        .await
        .expect_err("a symmetric key cannot sign");
    assert!(
        matches!(&err, SignError::Invalid(m) if m.contains("ECC_NIST_P256")),
        "{err}"
    );
    let (kms, key) = fresh_signing_key(aws_sdk_kms::types::KeySpec::EccNistP384).await;
    let err = KmsSigner::connect(kms.clone(), &key)
        .await
        .expect_err("a P-384 key is not ES256");
    assert!(matches!(err, SignError::Invalid(_)), "{err}");
    let err = KmsSigner::connect(kms.clone(), "00000000-0000-4000-8000-00000000dead")
        .await
        .expect_err("no such key");
    assert!(matches!(err, SignError::Unavailable(_)), "{err}");
    assert!(
        err.to_string()
            .contains("00000000-0000-4000-8000-00000000dead"),
        "{err}"
    );
}

#[tokio::test]
async fn the_kms_signer_reads_its_key_on_first_use_and_tries_again_after_a_failure() {
    use ravis::adapters::aws::KmsSigner;
    use ravis::ports::JwsSigner;
    use ravis::ports::signer::SignError;
    // Made without a request; a key that does not exist yet fails its first use, and the
    // failure is not kept: once the key exists (here: the alias is made), the next use reads it.
    let (kms, key) = fresh_signing_key(aws_sdk_kms::types::KeySpec::EccNistP256).await;
    let alias = format!("alias/ravis-lazy-{}", uuid::Uuid::new_v4().simple());
    let signer = KmsSigner::new(kms.clone(), &alias);
    let err = signer.public_key().await.expect_err("no such alias yet");
    assert!(matches!(err, SignError::Unavailable(_)), "{err}");
    assert!(err.to_string().contains(&alias), "{err}");
    kms.create_alias()
        .alias_name(&alias)
        .target_key_id(&key)
        .send()
        .await
        .expect("create alias");
    let public = signer.public_key().await.expect("the key, now");
    assert_eq!(public.point.len(), 65);
    // Kept: the clone shares it.
    assert_eq!(signer.clone().public_key().await.expect("kept"), public);
}
