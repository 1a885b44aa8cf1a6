//! Contract of [`RecordStore`]: DynamoDB single-table semantics every adapter must honour.

use ravis::ports::records::MAX_TRANSACTION_OPS;
use ravis::ports::{Key, Page, Record, RecordStore, SortKeyCondition, StoreError, WriteOp};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::future::Future;

/// Makes fresh, empty, isolated record stores (own file or table per call).
pub trait RecordStoreFixture: Send + Sync {
    /// The adapter under test.
    type Store: RecordStore;
    /// A new empty store that no other test uses.
    fn fresh(&self) -> impl Future<Output = Self::Store> + Send;
}

/// Generates one `#[tokio::test]` per record store case for a fixture expression.
#[macro_export]
macro_rules! record_store_contract {
    ($modname:ident, $fixture:expr) => {
        $crate::contract_cases!(
            $modname,
            $fixture,
            records,
            [
                get_absent,
                put_new_then_get,
                put_new_ignores_given_version,
                put_new_twice_already_exists,
                put_versioned_increments_version,
                put_versioned_wrong_version_conflicts,
                put_versioned_absent_conflicts,
                put_versioned_replaces_index_and_expiry,
                data_round_trips_exactly,
                data_must_be_an_object,
                keys_round_trip_unicode,
                empty_key_parts_are_invalid,
                query_all_in_byte_order,
                query_descending,
                query_prefix,
                query_between_is_inclusive,
                query_pages_limit_1_and_2,
                query_pages_descending_with_condition,
                query_short_result_has_no_cursor,
                query_invalid_cursor_is_invalid,
                query_limit_out_of_range_is_invalid,
                query_index_by_index_key,
                query_index_skips_unindexed_records,
                query_index_pages_with_ties,
                expired_records_are_invisible,
                put_new_over_expired_record_succeeds,
                put_versioned_on_expired_record_conflicts,
                transact_applies_every_op_kind,
                transact_failing_op_writes_nothing,
                transact_failed_check_names_its_index,
                transact_delete_requires_version,
                transact_put_new_over_existing_cancels,
                transact_put_new_over_expired_succeeds,
                transact_too_many_ops_is_invalid,
                transact_max_ops_succeeds,
                transact_same_key_twice_is_invalid,
                get_many_answers_each_key_in_order,
                get_many_of_no_keys_is_empty,
                get_many_reads_past_one_request,
                get_many_empty_key_part_is_invalid,
                transact_bulk_applies_max_bulk_ops,
                transact_bulk_too_many_ops_is_invalid,
                transact_bulk_failing_op_writes_nothing,
            ]
        );
    };
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

fn rec(pk: &str, sk: &str, data: Value) -> Record {
    Record::new(Key::new(pk, sk), data)
}

/// The same record as the store should return it at `version`.
fn at_version(mut record: Record, version: u64) -> Record {
    record.version = version;
    record
}

async fn get<S: RecordStore>(s: &S, pk: &str, sk: &str) -> Option<Record> {
    s.get(&Key::new(pk, sk)).await.expect("get")
}

/// Follows cursors to the end, checking every page respects `limit`; returns all records.
async fn query_all_pages<S: RecordStore>(
    s: &S,
    on_index: bool,
    pk: &str,
    condition: &SortKeyCondition,
    limit: usize,
    descending: bool,
) -> Vec<Record> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    // An adapter over a filtering backend may return short or even empty pages, but it
    // must make progress: a bound on the page count catches a cursor that loops.
    for _ in 0..10_000 {
        let page: Page = if on_index {
            s.query_index(pk, condition, limit, descending, cursor.as_deref())
                .await
        } else {
            s.query(pk, condition, limit, descending, cursor.as_deref())
                .await
        }
        .expect("query page");
        assert!(
            page.records.len() <= limit,
            "page of {} records exceeds limit {limit}",
            page.records.len()
        );
        out.extend(page.records);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
    panic!("query never ended: the cursor does not make progress");
}

fn sks(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.key.sk.clone()).collect()
}

/// Sort keys chosen so byte-wise (UTF-8) order differs from case-insensitive, numeric and
/// UTF-16 orders: `"A" < "Z" < "a" < "a#10" < "a#2" < "~" < "é" < "～" (U+FF5E) < "😀"`.
const BYTE_ORDERED_SKS: [&str; 9] = [
    "A",
    "Z",
    "a",
    "a#10",
    "a#2",
    "~",
    "\u{e9}",
    "\u{ff5e}",
    "\u{1f600}",
];

/// Writes the [`BYTE_ORDERED_SKS`] records into partition `pk`, in a scrambled order.
async fn seed_byte_ordered<S: RecordStore>(s: &S, pk: &str) {
    for i in [4, 0, 8, 2, 6, 1, 7, 3, 5] {
        let sk = BYTE_ORDERED_SKS[i];
        s.put_new(rec(pk, sk, json!({ "i": i })))
            .await
            .expect("seed");
    }
}

/// `get` of a key never written returns `None`.
pub async fn get_absent<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    assert_eq!(get(&s, "CHILD#1", "PROFILE").await, None);
}

/// A created record reads back at version 1 with its index, expiry and data.
pub async fn put_new_then_get<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    let expires = now_secs() + 86_400;
    let record = rec("CHILD#1", "PROFILE", json!({ "name": "Anna", "age": 4 }))
        .with_index("ATVK#0100000", "CHILD#1")
        .with_expiry(expires);
    s.put_new(record.clone()).await.expect("put_new");
    assert_eq!(
        get(&s, "CHILD#1", "PROFILE").await,
        Some(at_version(record, 1))
    );
    // A neighbouring key stays absent.
    assert_eq!(get(&s, "CHILD#1", "PROFILE2").await, None);
    assert_eq!(get(&s, "CHILD#2", "PROFILE").await, None);
}

/// The store sets versions: a caller's version on a new record is ignored.
pub async fn put_new_ignores_given_version<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    let record = at_version(rec("P", "S", json!({ "x": 1 })), 42);
    s.put_new(record.clone()).await.expect("put_new");
    assert_eq!(get(&s, "P", "S").await.expect("present").version, 1);
}

/// Creating a taken key fails with `AlreadyExists` and leaves the first record intact.
pub async fn put_new_twice_already_exists<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    s.put_new(rec("P", "S", json!({ "first": true })))
        .await
        .expect("first put_new");
    let err = s
        .put_new(rec("P", "S", json!({ "first": false })))
        .await
        .expect_err("second put_new must fail");
    match err {
        StoreError::AlreadyExists { pk, sk } => assert_eq!((pk.as_str(), sk.as_str()), ("P", "S")),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    let stored = get(&s, "P", "S").await.expect("still there");
    assert_eq!((stored.version, stored.data), (1, json!({ "first": true })));
}

/// Each versioned write stores `expected + 1`, returns it and replaces the data.
pub async fn put_versioned_increments_version<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    s.put_new(rec("P", "S", json!({ "n": 1 })))
        .await
        .expect("put_new");
    for expected in 1..=3u64 {
        let written = s
            .put_versioned(rec("P", "S", json!({ "n": expected + 1 })), expected)
            .await
            .expect("put_versioned");
        assert_eq!(written, expected + 1);
        let stored = get(&s, "P", "S").await.expect("present");
        assert_eq!(stored.version, expected + 1);
        assert_eq!(stored.data, json!({ "n": expected + 1 }));
    }
}

/// A versioned write with a wrong (stale or future) version fails with `Conflict`.
pub async fn put_versioned_wrong_version_conflicts<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    s.put_new(rec("P", "S", json!({ "v": "one" })))
        .await
        .expect("put_new");
    s.put_versioned(rec("P", "S", json!({ "v": "two" })), 1)
        .await
        .expect("put_versioned");
    for wrong in [0u64, 1, 3, 99] {
        let err = s
            .put_versioned(rec("P", "S", json!({ "v": "lost" })), wrong)
            .await
            .expect_err("wrong version must fail");
        match err {
            StoreError::Conflict { pk, sk, expected } => {
                assert_eq!((pk.as_str(), sk.as_str(), expected), ("P", "S", wrong));
            }
            other => panic!("expected Conflict, got {other:?}"),
        }
    }
    let stored = get(&s, "P", "S").await.expect("present");
    assert_eq!((stored.version, stored.data), (2, json!({ "v": "two" })));
}

/// A versioned write to a key that holds nothing fails with `Conflict` and creates nothing.
pub async fn put_versioned_absent_conflicts<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    let err = s
        .put_versioned(rec("P", "S", json!({})), 1)
        .await
        .expect_err("absent record must conflict");
    assert!(
        matches!(err, StoreError::Conflict { expected: 1, .. }),
        "{err:?}"
    );
    assert_eq!(get(&s, "P", "S").await, None);
}

/// A versioned write replaces the whole record: index key and expiry included.
pub async fn put_versioned_replaces_index_and_expiry<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    let later = now_secs() + 3_600;
    s.put_new(
        rec("P", "S", json!({ "step": 1 }))
            .with_index("IDX#old", "1")
            .with_expiry(later),
    )
    .await
    .expect("put_new");

    // Move to another index partition and drop the expiry.
    let moved = rec("P", "S", json!({ "step": 2 })).with_index("IDX#new", "2");
    s.put_versioned(moved.clone(), 1)
        .await
        .expect("versioned 1");
    assert_eq!(get(&s, "P", "S").await, Some(at_version(moved.clone(), 2)));
    let old = query_all_pages(&s, true, "IDX#old", &SortKeyCondition::All, 100, false).await;
    assert!(old.is_empty(), "stale index entry: {old:?}");
    let new = query_all_pages(&s, true, "IDX#new", &SortKeyCondition::All, 100, false).await;
    assert_eq!(new, vec![at_version(moved, 2)]);

    // Drop the index key altogether.
    s.put_versioned(rec("P", "S", json!({ "step": 3 })), 2)
        .await
        .expect("versioned 2");
    let new = query_all_pages(&s, true, "IDX#new", &SortKeyCondition::All, 100, false).await;
    assert!(
        new.is_empty(),
        "record without index still indexed: {new:?}"
    );
}

/// The payload: nested objects and arrays, unicode, extreme integers, floats, bools, nulls, empties.
fn rich_payload() -> Value {
    json!({
        "text": "Ādažu novads — ķēķis, 🙂 \"quoted\" \\ back\\slash\ttab\nnewline",
        "empty_string": "",
        "zero": 0,
        "negative": -17,
        "i64_max": i64::MAX,
        "i64_min": i64::MIN,
        "float": 3.25,
        "small_float": -0.001,
        "inexact_float": 0.1,
        "yes": true,
        "no": false,
        "nothing": null,
        "empty_object": {},
        "empty_array": [],
        "array": [1, "two", [3, [4.5]], { "five": 5 }, null, true, ""],
        "nested": { "a": { "b": { "c": [{ "d": "deep" }, []] } } },
        "Ünïcødé kéy": "value",
        "personas kods": "32000000000",
    })
}

/// Data reads back exactly as written (through get, query, index query and a versioned write).
pub async fn data_round_trips_exactly<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    let record = rec("P", "S", rich_payload()).with_index("I", "S");
    s.put_new(record.clone()).await.expect("put_new");
    assert_eq!(
        get(&s, "P", "S").await.expect("present").data,
        rich_payload()
    );
    let page = s
        .query("P", &SortKeyCondition::All, 10, false, None)
        .await
        .expect("query");
    assert_eq!(page.records, vec![at_version(record.clone(), 1)]);
    let page = s
        .query_index("I", &SortKeyCondition::All, 10, false, None)
        .await
        .expect("query_index");
    assert_eq!(page.records, vec![at_version(record, 1)]);

    let mut changed = rich_payload();
    changed["nested"]["a"]["b"]["c"] = json!([[], {}, ""]);
    s.put_versioned(rec("P", "S", changed.clone()), 1)
        .await
        .expect("put_versioned");
    assert_eq!(get(&s, "P", "S").await.expect("present").data, changed);
}

/// A payload that is not a JSON object is refused with `Invalid` by every write, and nothing is written.
pub async fn data_must_be_an_object<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    for bad in [
        json!([1, 2]),
        json!("text"),
        json!(7),
        json!(null),
        json!(true),
    ] {
        let err = s
            .put_new(rec("P", "S", bad.clone()))
            .await
            .expect_err("non-object put_new");
        assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
        let err = s
            .transact(vec![WriteOp::PutNew(rec("P", "T", bad.clone()))])
            .await
            .expect_err("non-object in transact");
        assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    }
    s.put_new(rec("P", "S", json!({ "ok": true })))
        .await
        .expect("object put_new");
    let err = s
        .put_versioned(rec("P", "S", json!(["not", "an", "object"])), 1)
        .await
        .expect_err("non-object put_versioned");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let stored = get(&s, "P", "S").await.expect("present");
    assert_eq!((stored.version, stored.data), (1, json!({ "ok": true })));
    assert_eq!(get(&s, "P", "T").await, None);
}

/// Keys with unicode, spaces and separators are stored and found exactly.
pub async fn keys_round_trip_unicode<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    let keys = [
        ("ATVK#0100000#Rīga", "SK#Ādaži ķ 🙂"),
        ("pk with spaces", "sk/with/slashes"),
        ("PK#%2F+", "SK#'quote\"double"),
    ];
    for (pk, sk) in keys {
        s.put_new(rec(pk, sk, json!({ "pk": pk, "sk": sk })))
            .await
            .expect("put_new");
    }
    for (pk, sk) in keys {
        let stored = get(&s, pk, sk).await.expect("present");
        assert_eq!(stored.key, Key::new(pk, sk));
        assert_eq!(stored.data, json!({ "pk": pk, "sk": sk }));
        let page = s
            .query(pk, &SortKeyCondition::All, 10, false, None)
            .await
            .expect("query");
        assert_eq!(sks(&page.records), vec![sk.to_owned()]);
    }
}

/// Empty partition or sort keys are refused with `Invalid` (DynamoDB rejects empty key strings).
pub async fn empty_key_parts_are_invalid<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    for (pk, sk) in [("", "S"), ("P", ""), ("", "")] {
        let err = s
            .put_new(rec(pk, sk, json!({})))
            .await
            .expect_err("empty key part");
        assert!(
            matches!(err, StoreError::Invalid(_)),
            "{pk:?}/{sk:?}: {err:?}"
        );
        let err = s
            .put_versioned(rec(pk, sk, json!({})), 1)
            .await
            .expect_err("empty key part");
        assert!(
            matches!(err, StoreError::Invalid(_)),
            "{pk:?}/{sk:?}: {err:?}"
        );
    }
}

/// `All` returns exactly the partition's records, in byte-wise sort key order.
pub async fn query_all_in_byte_order<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    seed_byte_ordered(&s, "P").await;
    // Partitions whose keys share a prefix or differ by case must not leak in.
    for pk in ["P2", "p", "PP", "Q"] {
        s.put_new(rec(pk, "a", json!({}))).await.expect("other pk");
    }
    let page = s
        .query("P", &SortKeyCondition::All, 100, false, None)
        .await
        .expect("query");
    assert_eq!(sks(&page.records), BYTE_ORDERED_SKS.map(String::from));
    assert!(
        page.records
            .iter()
            .all(|r| r.key.pk == "P" && r.version == 1)
    );
    assert_eq!(page.next, None);
    let empty = s
        .query("nobody", &SortKeyCondition::All, 100, false, None)
        .await
        .expect("query empty partition");
    assert_eq!(
        empty,
        Page {
            records: vec![],
            next: None
        }
    );
}

/// `descending` reverses the byte-wise order.
pub async fn query_descending<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    seed_byte_ordered(&s, "P").await;
    let page = s
        .query("P", &SortKeyCondition::All, 100, true, None)
        .await
        .expect("query");
    let mut expected = BYTE_ORDERED_SKS.map(String::from).to_vec();
    expected.reverse();
    assert_eq!(sks(&page.records), expected);
}

/// `Prefix` matches sort keys that begin with the prefix, byte-wise and case-sensitively.
pub async fn query_prefix<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    seed_byte_ordered(&s, "P").await;
    for sk in [
        "SCREENING#2024",
        "SCREENING#2025-01",
        "SCREENING#2025-02",
        "SCREENINGS",
        "screening#2025",
    ] {
        s.put_new(rec("P", sk, json!({}))).await.expect("put_new");
    }
    let cases: [(&str, &[&str]); 5] = [
        ("a", &["a", "a#10", "a#2"]),
        ("a#", &["a#10", "a#2"]),
        (
            "SCREENING#2025",
            &["SCREENING#2025-01", "SCREENING#2025-02"],
        ),
        (
            "SCREENING#",
            &["SCREENING#2024", "SCREENING#2025-01", "SCREENING#2025-02"],
        ),
        ("\u{ff5e}", &["\u{ff5e}"]),
    ];
    for (prefix, expected) in cases {
        for descending in [false, true] {
            let page = s
                .query(
                    "P",
                    &SortKeyCondition::Prefix(prefix.into()),
                    100,
                    descending,
                    None,
                )
                .await
                .expect("query");
            let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
            if descending {
                want.reverse();
            }
            assert_eq!(
                sks(&page.records),
                want,
                "prefix {prefix:?} descending {descending}"
            );
        }
    }
    let none = s
        .query(
            "P",
            &SortKeyCondition::Prefix("zzz".into()),
            100,
            false,
            None,
        )
        .await
        .expect("query");
    assert!(none.records.is_empty());
}

/// `Between` includes both bounds, which need not exist as keys.
pub async fn query_between_is_inclusive<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    for day in [
        "2025-01-01",
        "2025-01-15",
        "2025-02-01",
        "2025-02-28",
        "2025-03-01",
    ] {
        s.put_new(rec("P", &format!("DAY#{day}"), json!({})))
            .await
            .expect("put_new");
    }
    let between =
        |a: &str, b: &str| SortKeyCondition::Between(format!("DAY#{a}"), format!("DAY#{b}"));
    let cases: [(SortKeyCondition, &[&str]); 5] = [
        // An empty lower bound: every key up to the upper one.
        (
            SortKeyCondition::Between(String::new(), "DAY#2025-01-15".into()),
            &["2025-01-01", "2025-01-15"],
        ),
        (
            between("2025-01-15", "2025-02-28"),
            &["2025-01-15", "2025-02-01", "2025-02-28"],
        ),
        (
            between("2025-01-02", "2025-02-02"),
            &["2025-01-15", "2025-02-01"],
        ),
        (between("2025-02-01", "2025-02-01"), &["2025-02-01"]),
        (between("2024-01-01", "2024-12-31"), &[]),
    ];
    for (condition, expected) in cases {
        let page = s
            .query("P", &condition, 100, false, None)
            .await
            .expect("query");
        let want: Vec<String> = expected.iter().map(|d| format!("DAY#{d}")).collect();
        assert_eq!(sks(&page.records), want, "{condition:?}");
        let page = s
            .query("P", &condition, 100, true, None)
            .await
            .expect("query descending");
        let mut want = want;
        want.reverse();
        assert_eq!(sks(&page.records), want, "{condition:?} descending");
    }
}

/// Pages of 1 and 2, both directions, concatenate to the full result with no duplicates.
pub async fn query_pages_limit_1_and_2<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    seed_byte_ordered(&s, "P").await;
    for descending in [false, true] {
        let full = query_all_pages(&s, false, "P", &SortKeyCondition::All, 1000, descending).await;
        assert_eq!(full.len(), BYTE_ORDERED_SKS.len());
        for limit in [1, 2] {
            let paged =
                query_all_pages(&s, false, "P", &SortKeyCondition::All, limit, descending).await;
            assert_eq!(paged, full, "limit {limit} descending {descending}");
        }
    }
}

/// Pagination also holds under a sort key condition, descending.
pub async fn query_pages_descending_with_condition<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    for i in 0..7 {
        s.put_new(rec("P", &format!("E#{i:02}"), json!({ "i": i })))
            .await
            .expect("put_new");
        s.put_new(rec("P", &format!("F#{i:02}"), json!({ "i": i })))
            .await
            .expect("put_new");
    }
    let condition = SortKeyCondition::Between("E#01".into(), "E#05".into());
    let paged = query_all_pages(&s, false, "P", &condition, 2, true).await;
    assert_eq!(sks(&paged), ["E#05", "E#04", "E#03", "E#02", "E#01"]);
    let condition = SortKeyCondition::Prefix("F#".into());
    let paged = query_all_pages(&s, false, "P", &condition, 3, true).await;
    assert_eq!(
        sks(&paged),
        ["F#06", "F#05", "F#04", "F#03", "F#02", "F#01", "F#00"]
    );
}

/// A query whose result fits in one page returns no cursor.
pub async fn query_short_result_has_no_cursor<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    for sk in ["a", "b", "c"] {
        s.put_new(rec("P", sk, json!({}))).await.expect("put_new");
    }
    let page = s
        .query("P", &SortKeyCondition::All, 4, false, None)
        .await
        .expect("query");
    assert_eq!((sks(&page.records).len(), page.next), (3, None));
    // A page that is not the last one must carry a cursor.
    let page = s
        .query("P", &SortKeyCondition::All, 2, false, None)
        .await
        .expect("query");
    assert_eq!(sks(&page.records), ["a", "b"]);
    assert!(
        page.next.is_some(),
        "more records remain, so a cursor is due"
    );
}

/// A cursor the store did not issue is refused with `Invalid`, on the table and the index.
pub async fn query_invalid_cursor_is_invalid<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    s.put_new(rec("P", "a", json!({})).with_index("I", "a"))
        .await
        .expect("put_new");
    for bad in ["", "not a cursor!", "%%%", "eyJub3QiOiJhIGN1cnNvciJ9"] {
        let err = s
            .query("P", &SortKeyCondition::All, 10, false, Some(bad))
            .await
            .expect_err("bad cursor on query");
        assert!(matches!(err, StoreError::Invalid(_)), "{bad:?}: {err:?}");
        let err = s
            .query_index("I", &SortKeyCondition::All, 10, false, Some(bad))
            .await
            .expect_err("bad cursor on query_index");
        assert!(matches!(err, StoreError::Invalid(_)), "{bad:?}: {err:?}");
    }
}

/// A page limit outside 1..=1000 is refused with `Invalid`.
pub async fn query_limit_out_of_range_is_invalid<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    for limit in [0, 1001] {
        let err = s
            .query("P", &SortKeyCondition::All, limit, false, None)
            .await
            .expect_err("limit out of range");
        assert!(matches!(err, StoreError::Invalid(_)), "{limit}: {err:?}");
        let err = s
            .query_index("I", &SortKeyCondition::All, limit, false, None)
            .await
            .expect_err("limit out of range on the index");
        assert!(matches!(err, StoreError::Invalid(_)), "{limit}: {err:?}");
    }
    for limit in [1, 1000] {
        s.query("P", &SortKeyCondition::All, limit, false, None)
            .await
            .expect("limit in range");
    }
}

/// The index is queried by index key, with sort key conditions on the index sort key.
pub async fn query_index_by_index_key<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    // Children of one municipality, indexed by birth date, stored under their own partitions.
    let children = [
        ("CHILD#c", "2021-05-01"),
        ("CHILD#a", "2020-01-31"),
        ("CHILD#d", "2022-12-24"),
        ("CHILD#b", "2021-01-01"),
    ];
    for (pk, born) in children {
        s.put_new(
            rec(pk, "PROFILE", json!({ "born": born }))
                .with_index("ATVK#0100000", format!("BORN#{born}")),
        )
        .await
        .expect("put_new");
    }
    s.put_new(rec("CHILD#e", "PROFILE", json!({})).with_index("ATVK#0200000", "BORN#2021-01-01"))
        .await
        .expect("other municipality");

    let all = query_all_pages(&s, true, "ATVK#0100000", &SortKeyCondition::All, 100, false).await;
    let pks: Vec<&str> = all.iter().map(|r| r.key.pk.as_str()).collect();
    assert_eq!(pks, ["CHILD#a", "CHILD#b", "CHILD#c", "CHILD#d"]);
    assert!(all.iter().all(|r| r.version == 1 && r.key.sk == "PROFILE"));
    assert_eq!(
        all[0]
            .index
            .as_ref()
            .map(|i| (i.pk.as_str(), i.sk.as_str())),
        Some(("ATVK#0100000", "BORN#2020-01-31"))
    );

    let born_2021 = query_all_pages(
        &s,
        true,
        "ATVK#0100000",
        &SortKeyCondition::Prefix("BORN#2021".into()),
        100,
        true,
    )
    .await;
    let pks: Vec<&str> = born_2021.iter().map(|r| r.key.pk.as_str()).collect();
    assert_eq!(pks, ["CHILD#c", "CHILD#b"]);

    let range = query_all_pages(
        &s,
        true,
        "ATVK#0100000",
        &SortKeyCondition::Between("BORN#2021-01-01".into(), "BORN#2022-12-24".into()),
        1,
        false,
    )
    .await;
    let pks: Vec<&str> = range.iter().map(|r| r.key.pk.as_str()).collect();
    assert_eq!(pks, ["CHILD#b", "CHILD#c", "CHILD#d"]);
}

/// Records without an index key never appear in index queries; the table query still has them.
pub async fn query_index_skips_unindexed_records<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    s.put_new(rec("P", "indexed", json!({})).with_index("P", "indexed"))
        .await
        .expect("put_new");
    s.put_new(rec("P", "plain", json!({})))
        .await
        .expect("put_new");
    let index = query_all_pages(&s, true, "P", &SortKeyCondition::All, 100, false).await;
    assert_eq!(sks(&index), ["indexed"]);
    let table = query_all_pages(&s, false, "P", &SortKeyCondition::All, 100, false).await;
    assert_eq!(sks(&table), ["indexed", "plain"]);
}

/// Index pages stay complete and duplicate-free when index sort keys tie.
pub async fn query_index_pages_with_ties<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    // Three groups of equal index sort keys; the index does not make keys unique.
    for i in 0..9 {
        let group = ["S#1", "S#2", "S#3"][i % 3];
        s.put_new(rec(&format!("P#{i}"), "X", json!({ "i": i })).with_index("I", group))
            .await
            .expect("put_new");
    }
    for descending in [false, true] {
        let full = query_all_pages(&s, true, "I", &SortKeyCondition::All, 1000, descending).await;
        assert_eq!(full.len(), 9);
        for limit in [1, 2] {
            let paged =
                query_all_pages(&s, true, "I", &SortKeyCondition::All, limit, descending).await;
            let keys: Vec<&Key> = paged.iter().map(|r| &r.key).collect();
            let unique: HashSet<&Key> = keys.iter().copied().collect();
            assert_eq!(
                unique.len(),
                keys.len(),
                "duplicates at limit {limit}: {keys:?}"
            );
            let full_keys: HashSet<&Key> = full.iter().map(|r| &r.key).collect();
            assert_eq!(unique, full_keys, "limit {limit} descending {descending}");
            let index_sks: Vec<&str> = paged
                .iter()
                .map(|r| r.index.as_ref().map_or("", |i| i.sk.as_str()))
                .collect();
            let mut sorted = index_sks.clone();
            sorted.sort_unstable();
            if descending {
                sorted.reverse();
            }
            assert_eq!(index_sks, sorted, "index order at limit {limit}");
        }
    }
}

/// A record past its expiry is invisible to get, query and index query; a future expiry is not.
pub async fn expired_records_are_invisible<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    let past = now_secs() - 3_600;
    let future = now_secs() + 3_600;
    for (sk, expiry) in [
        ("a-live", None),
        ("b-expired", Some(past)),
        ("c-later", Some(future)),
        ("d-expired", Some(past)),
    ] {
        let mut record = rec("P", sk, json!({ "sk": sk })).with_index("I", sk);
        record.expires_at = expiry;
        s.put_new(record).await.expect("put_new");
    }
    assert_eq!(get(&s, "P", "b-expired").await, None);
    assert_eq!(get(&s, "P", "d-expired").await, None);
    assert!(get(&s, "P", "a-live").await.is_some());
    assert_eq!(
        get(&s, "P", "c-later").await.and_then(|r| r.expires_at),
        Some(future)
    );
    for limit in [1, 2, 100] {
        let table = query_all_pages(&s, false, "P", &SortKeyCondition::All, limit, false).await;
        assert_eq!(sks(&table), ["a-live", "c-later"], "table, limit {limit}");
        let index = query_all_pages(&s, true, "I", &SortKeyCondition::All, limit, true).await;
        assert_eq!(sks(&index), ["c-later", "a-live"], "index, limit {limit}");
    }
}

/// Creating over an expired record succeeds and starts again at version 1.
pub async fn put_new_over_expired_record_succeeds<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    let expired = rec("P", "S", json!({ "old": true })).with_expiry(now_secs() - 60);
    s.put_new(expired).await.expect("expired put_new");
    let fresh = rec("P", "S", json!({ "old": false }));
    s.put_new(fresh.clone())
        .await
        .expect("put_new over expired");
    assert_eq!(get(&s, "P", "S").await, Some(at_version(fresh, 1)));
}

/// An expired record counts as absent for a versioned write: `Conflict`.
pub async fn put_versioned_on_expired_record_conflicts<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    s.put_new(rec("P", "S", json!({})).with_expiry(now_secs() - 60))
        .await
        .expect("put_new");
    let err = s
        .put_versioned(rec("P", "S", json!({ "revived": true })), 1)
        .await
        .expect_err("expired record must conflict");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(get(&s, "P", "S").await, None);
}

/// One atomic write can create, replace, delete and check; all take effect.
pub async fn transact_applies_every_op_kind<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    s.put_new(rec("P", "replace", json!({ "n": 1 })))
        .await
        .expect("seed");
    s.put_new(rec("P", "delete", json!({})))
        .await
        .expect("seed");
    s.put_new(rec("P", "check", json!({ "c": 1 })))
        .await
        .expect("seed");
    let created = rec("P", "create", json!({ "new": true })).with_index("I", "create");
    let replaced = rec("P", "replace", json!({ "n": 2 }));
    s.transact(vec![
        WriteOp::PutNew(created.clone()),
        WriteOp::PutVersioned {
            record: replaced.clone(),
            expected: 1,
        },
        WriteOp::Delete {
            key: Key::new("P", "delete"),
            expected: 1,
        },
        WriteOp::Check {
            key: Key::new("P", "check"),
            expected: 1,
        },
    ])
    .await
    .expect("transact");
    assert_eq!(get(&s, "P", "create").await, Some(at_version(created, 1)));
    assert_eq!(get(&s, "P", "replace").await, Some(at_version(replaced, 2)));
    assert_eq!(get(&s, "P", "delete").await, None);
    let checked = get(&s, "P", "check").await.expect("check untouched");
    assert_eq!((checked.version, checked.data), (1, json!({ "c": 1 })));
}

/// A failing op in the middle cancels everything and names its index.
pub async fn transact_failing_op_writes_nothing<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    s.put_new(rec("P", "b", json!({ "b": 1 })))
        .await
        .expect("seed");
    s.put_new(rec("P", "d", json!({ "d": 1 })))
        .await
        .expect("seed");
    let err = s
        .transact(vec![
            WriteOp::PutNew(rec("P", "a", json!({}))),
            WriteOp::PutVersioned {
                record: rec("P", "d", json!({ "d": 2 })),
                expected: 1,
            },
            WriteOp::PutVersioned {
                record: rec("P", "b", json!({ "b": 2 })),
                expected: 7,
            },
            WriteOp::PutNew(rec("P", "c", json!({}))),
        ])
        .await
        .expect_err("must cancel");
    assert!(
        matches!(err, StoreError::TransactionCancelled { index: 2 }),
        "{err:?}"
    );
    assert_eq!(get(&s, "P", "a").await, None);
    assert_eq!(get(&s, "P", "c").await, None);
    let b = get(&s, "P", "b").await.expect("b");
    assert_eq!((b.version, b.data), (1, json!({ "b": 1 })));
    let d = get(&s, "P", "d").await.expect("d");
    assert_eq!((d.version, d.data), (1, json!({ "d": 1 })));
}

/// A failed check (wrong version or absent record) cancels the write and names its index.
pub async fn transact_failed_check_names_its_index<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    s.put_new(rec("P", "guard", json!({}))).await.expect("seed");
    for (bad_check, index) in [
        (
            WriteOp::Check {
                key: Key::new("P", "guard"),
                expected: 2,
            },
            1,
        ),
        (
            WriteOp::Check {
                key: Key::new("P", "missing"),
                expected: 1,
            },
            1,
        ),
    ] {
        let err = s
            .transact(vec![
                WriteOp::PutNew(rec("P", "x", json!({}))),
                bad_check,
                WriteOp::PutNew(rec("P", "y", json!({}))),
            ])
            .await
            .expect_err("check must fail");
        assert!(
            matches!(err, StoreError::TransactionCancelled { index: i } if i == index),
            "{err:?}"
        );
        assert_eq!(get(&s, "P", "x").await, None);
        assert_eq!(get(&s, "P", "y").await, None);
    }
    s.transact(vec![
        WriteOp::Check {
            key: Key::new("P", "guard"),
            expected: 1,
        },
        WriteOp::PutNew(rec("P", "x", json!({}))),
    ])
    .await
    .expect("passing check");
    assert!(get(&s, "P", "x").await.is_some());
}

/// A delete needs the current version; a deleted key can be created again at version 1.
pub async fn transact_delete_requires_version<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    s.put_new(rec("P", "S", json!({}))).await.expect("seed");
    s.put_versioned(rec("P", "S", json!({ "v": 2 })), 1)
        .await
        .expect("bump");
    let err = s
        .transact(vec![WriteOp::Delete {
            key: Key::new("P", "S"),
            expected: 1,
        }])
        .await
        .expect_err("stale delete");
    assert!(
        matches!(err, StoreError::TransactionCancelled { index: 0 }),
        "{err:?}"
    );
    assert!(get(&s, "P", "S").await.is_some());
    let err = s
        .transact(vec![WriteOp::Delete {
            key: Key::new("P", "absent"),
            expected: 1,
        }])
        .await
        .expect_err("delete of an absent record");
    assert!(
        matches!(err, StoreError::TransactionCancelled { index: 0 }),
        "{err:?}"
    );

    s.transact(vec![WriteOp::Delete {
        key: Key::new("P", "S"),
        expected: 2,
    }])
    .await
    .expect("delete");
    assert_eq!(get(&s, "P", "S").await, None);
    s.put_new(rec("P", "S", json!({ "again": true })))
        .await
        .expect("recreate");
    assert_eq!(get(&s, "P", "S").await.expect("recreated").version, 1);
}

/// `PutNew` over a live record cancels the write.
pub async fn transact_put_new_over_existing_cancels<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    s.put_new(rec("P", "taken", json!({ "orig": true })))
        .await
        .expect("seed");
    let err = s
        .transact(vec![
            WriteOp::PutNew(rec("P", "taken", json!({ "orig": false }))),
            WriteOp::PutNew(rec("P", "free", json!({}))),
        ])
        .await
        .expect_err("taken key");
    assert!(
        matches!(err, StoreError::TransactionCancelled { index: 0 }),
        "{err:?}"
    );
    assert_eq!(
        get(&s, "P", "taken").await.expect("kept").data,
        json!({ "orig": true })
    );
    assert_eq!(get(&s, "P", "free").await, None);
}

/// `PutNew` in an atomic write treats an expired record as absent.
pub async fn transact_put_new_over_expired_succeeds<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    s.put_new(rec("P", "S", json!({})).with_expiry(now_secs() - 60))
        .await
        .expect("seed");
    let fresh = rec("P", "S", json!({ "fresh": true }));
    s.transact(vec![WriteOp::PutNew(fresh.clone())])
        .await
        .expect("transact over expired");
    assert_eq!(get(&s, "P", "S").await, Some(at_version(fresh, 1)));
}

fn many_puts(n: usize) -> Vec<WriteOp> {
    (0..n)
        .map(|i| WriteOp::PutNew(rec("P", &format!("S#{i:03}"), json!({ "i": i }))))
        .collect()
}

/// More than [`MAX_TRANSACTION_OPS`] operations are refused with `Invalid`, writing nothing.
pub async fn transact_too_many_ops_is_invalid<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    let err = s
        .transact(many_puts(MAX_TRANSACTION_OPS + 1))
        .await
        .expect_err("too many ops");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let page = s
        .query("P", &SortKeyCondition::All, 10, false, None)
        .await
        .expect("query");
    assert!(
        page.records.is_empty(),
        "a refused write wrote {:?}",
        page.records
    );
}

/// Exactly [`MAX_TRANSACTION_OPS`] operations are accepted.
pub async fn transact_max_ops_succeeds<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    s.transact(many_puts(MAX_TRANSACTION_OPS))
        .await
        .expect("100 ops");
    let all = query_all_pages(&s, false, "P", &SortKeyCondition::All, 1000, false).await;
    assert_eq!(all.len(), MAX_TRANSACTION_OPS);
}

/// Two operations on the same key in one atomic write are refused with `Invalid`.
pub async fn transact_same_key_twice_is_invalid<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    s.put_new(rec("P", "S", json!({}))).await.expect("seed");
    let err = s
        .transact(vec![
            WriteOp::Check {
                key: Key::new("P", "S"),
                expected: 1,
            },
            WriteOp::PutNew(rec("P", "other", json!({}))),
            WriteOp::PutVersioned {
                record: rec("P", "S", json!({ "x": 1 })),
                expected: 1,
            },
        ])
        .await
        .expect_err("same key twice");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(get(&s, "P", "other").await, None);
    assert_eq!(get(&s, "P", "S").await.expect("kept").version, 1);
}

/// `get_many` answers one entry per key, in the order asked: the record, or `None` for an
/// absent or expired one; a repeated key is answered each time.
pub async fn get_many_answers_each_key_in_order<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    let a = rec("P", "a", json!({ "n": 1 })).with_index("I", "x");
    let b = rec("Q", "b", json!({ "n": 2 }));
    s.put_new(a.clone()).await.expect("seed a");
    s.put_new(b.clone()).await.expect("seed b");
    s.put_versioned(rec("Q", "b", json!({ "n": 3 })), 1)
        .await
        .expect("update b");
    s.put_new(rec("P", "gone", json!({})).with_expiry(now_secs() - 60))
        .await
        .expect("seed expired");
    let keys = [
        Key::new("P", "absent"),
        Key::new("Q", "b"),
        Key::new("P", "a"),
        Key::new("P", "gone"),
        Key::new("P", "a"),
    ];
    let found = s.get_many(&keys).await.expect("get_many");
    assert_eq!(
        found,
        vec![
            None,
            Some(at_version(rec("Q", "b", json!({ "n": 3 })), 2)),
            Some(at_version(a.clone(), 1)),
            None,
            Some(at_version(a, 1)),
        ]
    );
    // Each answer is what `get` answers for its key.
    for (key, answer) in keys.iter().zip(&found) {
        assert_eq!(&s.get(key).await.expect("get"), answer, "{key:?}");
    }
}

/// No keys, no answers.
pub async fn get_many_of_no_keys_is_empty<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    assert_eq!(s.get_many(&[]).await.expect("get_many"), Vec::new());
}

/// More keys than one DynamoDB `BatchGetItem` request takes (100): every one is answered,
/// in order.
pub async fn get_many_reads_past_one_request<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    // Every third of 250 keys exists.
    let existing: Vec<usize> = (0..250).filter(|i| i % 3 == 0).collect();
    for chunk in existing.chunks(MAX_TRANSACTION_OPS) {
        let ops = chunk
            .iter()
            .map(|i| WriteOp::PutNew(rec("P", &format!("S#{i:03}"), json!({ "i": i }))))
            .collect();
        s.transact(ops).await.expect("seed");
    }
    let keys: Vec<Key> = (0..250)
        .map(|i| Key::new("P", format!("S#{i:03}")))
        .collect();
    let found = s.get_many(&keys).await.expect("get_many");
    assert_eq!(found.len(), 250);
    for (i, answer) in found.iter().enumerate() {
        match answer {
            Some(record) if i % 3 == 0 => {
                assert_eq!(record.key, keys[i]);
                assert_eq!(record.data, json!({ "i": i }));
            }
            None if i % 3 != 0 => {}
            other => panic!("key {i}: {other:?}"),
        }
    }
}

/// An empty key part is refused, as by `get`.
pub async fn get_many_empty_key_part_is_invalid<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    let err = s
        .get_many(&[Key::new("P", "S"), Key::new("P", "")])
        .await
        .expect_err("empty sort key");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
}

/// A bulk atomic write takes at least what `transact` takes, and applies exactly
/// `max_bulk_ops` operations.
pub async fn transact_bulk_applies_max_bulk_ops<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    let max = s.max_bulk_ops();
    assert!(max >= MAX_TRANSACTION_OPS, "max_bulk_ops {max}");
    let ops: Vec<WriteOp> = (0..max)
        .map(|i| WriteOp::PutNew(rec("P", &format!("S#{i:05}"), json!({ "i": i }))))
        .collect();
    s.transact_bulk(ops).await.expect("max_bulk_ops ops");
    let all = query_all_pages(&s, false, "P", &SortKeyCondition::All, 1000, false).await;
    assert_eq!(all.len(), max);
    assert!(all.iter().all(|r| r.version == 1));
}

/// One operation more than `max_bulk_ops` is refused with `Invalid`, writing nothing.
pub async fn transact_bulk_too_many_ops_is_invalid<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    let ops: Vec<WriteOp> = (0..=s.max_bulk_ops())
        .map(|i| WriteOp::PutNew(rec("P", &format!("S#{i:05}"), json!({ "i": i }))))
        .collect();
    let err = s.transact_bulk(ops).await.expect_err("too many ops");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let page = s
        .query("P", &SortKeyCondition::All, 10, false, None)
        .await
        .expect("query");
    assert!(page.records.is_empty(), "wrote {:?}", page.records);
}

/// A bulk atomic write is all or nothing: a failed condition in its last operation cancels
/// it (naming that operation) and leaves every record as it was.
pub async fn transact_bulk_failing_op_writes_nothing<F: RecordStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    s.put_new(rec("Q", "taken", json!({ "kept": true })))
        .await
        .expect("seed");
    s.put_new(rec("Q", "versioned", json!({ "v": 1 })))
        .await
        .expect("seed");
    let n = s.max_bulk_ops().min(1_000);
    let mut ops: Vec<WriteOp> = (0..n - 2)
        .map(|i| WriteOp::PutNew(rec("P", &format!("S#{i:05}"), json!({ "i": i }))))
        .collect();
    ops.push(WriteOp::PutVersioned {
        record: rec("Q", "versioned", json!({ "v": 2 })),
        expected: 1,
    });
    ops.push(WriteOp::PutNew(rec("Q", "taken", json!({ "kept": false }))));
    let err = s.transact_bulk(ops).await.expect_err("condition fails");
    assert!(
        matches!(err, StoreError::TransactionCancelled { index } if index == n - 1),
        "{err:?}"
    );
    let page = s
        .query("P", &SortKeyCondition::All, 10, false, None)
        .await
        .expect("query");
    assert!(page.records.is_empty(), "wrote {:?}", page.records);
    assert_eq!(
        get(&s, "Q", "versioned").await.expect("kept").data,
        json!({ "v": 1 })
    );
    assert_eq!(
        get(&s, "Q", "taken").await.expect("kept").data,
        json!({ "kept": true })
    );
}
