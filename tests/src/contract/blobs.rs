//! Contract of [`BlobStore`]: S3 object semantics every adapter must honour.

use bytes::Bytes;
use ravis::ports::{BlobError, BlobMeta, BlobStore, PutIfAbsent};
use std::future::Future;
use tokio::io::AsyncReadExt;

/// Makes fresh, empty, isolated blob stores (own directory or bucket per call).
pub trait BlobStoreFixture: Send + Sync {
    /// The adapter under test.
    type Store: BlobStore;
    /// A new empty store that no other test uses.
    fn fresh(&self) -> impl Future<Output = Self::Store> + Send;
}

/// Generates one `#[tokio::test]` per blob store case for a fixture expression.
#[macro_export]
macro_rules! blob_store_contract {
    ($modname:ident, $fixture:expr) => {
        $crate::contract_cases!(
            $modname,
            $fixture,
            blobs,
            [
                put_get_head_round_trip,
                put_without_content_type,
                empty_object_round_trips,
                overwrite_replaces_content_and_etag,
                absent_object,
                delete_is_idempotent,
                list_by_prefix_in_key_order,
                list_pages_limit_1_and_2,
                list_limit_out_of_range_is_invalid,
                list_invalid_cursor_is_invalid,
                open_streams_large_object,
                invalid_keys_are_rejected,
                keys_with_special_characters_round_trip,
                key_can_also_be_a_prefix,
                put_file_streams_a_local_file,
                put_file_of_a_missing_or_odd_path_is_invalid,
                put_if_absent_stores_once,
                put_if_absent_races_have_one_winner,
                put_many_if_absent_creates_each_free_key,
            ]
        );
    };
}

/// A deterministic pseudo-random body (xorshift), so a large object is not all one byte.
fn noise(len: usize, seed: u64) -> Bytes {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

fn assert_recent(meta: &BlobMeta) {
    let skew = (chrono::Utc::now() - meta.last_modified)
        .num_seconds()
        .abs();
    assert!(
        skew < 3_600,
        "last_modified {} is not the time of writing",
        meta.last_modified
    );
}

/// Lists every page under `prefix` with `limit`, checking page sizes; returns the keys.
async fn list_keys<S: BlobStore>(s: &S, prefix: &str, limit: usize) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let page = s
            .list(prefix, limit, cursor.as_deref())
            .await
            .expect("list");
        assert!(page.objects.len() <= limit, "page exceeds limit {limit}");
        keys.extend(page.objects.into_iter().map(|o| o.key));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return keys,
        }
    }
    panic!("listing never ended: the cursor does not make progress");
}

fn sorted_bytewise(keys: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    // `String` orders by bytes, which is S3's key order.
    v.sort();
    v
}

/// What put returns is what head and list report, and get returns the bytes.
pub async fn put_get_head_round_trip<F: BlobStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    let body = Bytes::from_static(b"{\"child\":\"anna\",\"score\":17}");
    let meta = s
        .put("inbox/results.json", body.clone(), Some("application/json"))
        .await
        .expect("put");
    assert_eq!(meta.key, "inbox/results.json");
    assert_eq!(meta.size, body.len() as u64);
    assert_eq!(meta.content_type.as_deref(), Some("application/json"));
    assert!(
        !meta.etag.is_empty() && !meta.etag.contains('"'),
        "{:?}",
        meta.etag
    );
    assert_recent(&meta);

    assert_eq!(s.get("inbox/results.json").await.expect("get"), body);
    let head = s
        .head("inbox/results.json")
        .await
        .expect("head")
        .expect("present");
    assert_eq!(
        (&head.key, head.size, &head.etag, &head.content_type),
        (&meta.key, meta.size, &meta.etag, &meta.content_type)
    );
    assert_recent(&head);

    let page = s.list("inbox/", 10, None).await.expect("list");
    assert_eq!(page.next, None);
    assert_eq!(page.objects.len(), 1);
    let listed = &page.objects[0];
    assert_eq!(
        (&listed.key, listed.size, &listed.etag),
        (&meta.key, meta.size, &meta.etag)
    );
}

/// Without a content type the object stores fine; the type is absent or S3's generic default.
pub async fn put_without_content_type<F: BlobStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    s.put("plain", Bytes::from_static(b"abc"), None)
        .await
        .expect("put");
    let head = s.head("plain").await.expect("head").expect("present");
    assert!(
        matches!(
            head.content_type.as_deref(),
            None | Some("binary/octet-stream" | "application/octet-stream")
        ),
        "{:?}",
        head.content_type
    );
    assert_eq!(
        s.get("plain").await.expect("get"),
        Bytes::from_static(b"abc")
    );
}

/// An empty object is an object: size 0, empty body, listed.
pub async fn empty_object_round_trips<F: BlobStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    let meta = s.put("empty", Bytes::new(), None).await.expect("put");
    assert_eq!(meta.size, 0);
    assert_eq!(s.get("empty").await.expect("get"), Bytes::new());
    let mut reader = s.open("empty").await.expect("open");
    let mut buf = Vec::new();
    reader.read_to_end(&mut buf).await.expect("read");
    assert!(buf.is_empty());
    assert_eq!(list_keys(&s, "", 10).await, ["empty"]);
}

/// A put replaces the object: new bytes, size, content type and a new etag.
pub async fn overwrite_replaces_content_and_etag<F: BlobStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    let first = s
        .put(
            "doc",
            Bytes::from_static(b"version one"),
            Some("text/plain"),
        )
        .await
        .expect("put 1");
    let second = s
        .put(
            "doc",
            Bytes::from_static(b"version two, longer"),
            Some("text/csv"),
        )
        .await
        .expect("put 2");
    assert_ne!(first.etag, second.etag);
    assert_eq!(second.size, 19);
    assert_eq!(
        s.get("doc").await.expect("get"),
        Bytes::from_static(b"version two, longer")
    );
    let head = s.head("doc").await.expect("head").expect("present");
    assert_eq!(
        (head.etag, head.size, head.content_type),
        (second.etag, 19, Some("text/csv".to_owned()))
    );
    assert_eq!(list_keys(&s, "", 10).await, ["doc"]);
}

/// A conditional put stores a new key and reports its metadata; on a taken key it writes
/// nothing and says so, whatever the bytes.
pub async fn put_if_absent_stores_once<F: BlobStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    let PutIfAbsent::Created(meta) = s
        .put_if_absent("once/doc", Bytes::from_static(b"first"), Some("text/plain"))
        .await
        .expect("put_if_absent 1")
    else {
        panic!("a new key is created");
    };
    assert_eq!((meta.key.as_str(), meta.size), ("once/doc", 5));
    assert_recent(&meta);
    let head = s.head("once/doc").await.expect("head").expect("present");
    assert_eq!(
        (head.etag, head.content_type),
        (meta.etag.clone(), Some("text/plain".to_owned()))
    );
    for body in [&b"first"[..], &b"second, different"[..]] {
        assert_eq!(
            s.put_if_absent("once/doc", Bytes::copy_from_slice(body), None)
                .await
                .expect("put_if_absent again"),
            PutIfAbsent::Exists
        );
    }
    assert_eq!(
        s.get("once/doc").await.expect("get"),
        Bytes::from_static(b"first")
    );
    let head = s.head("once/doc").await.expect("head").expect("present");
    assert_eq!(
        head.etag, meta.etag,
        "a refused put leaves the object as it was"
    );
    assert_eq!(list_keys(&s, "once/", 10).await, ["once/doc"]);
    // An unconditional put still replaces it; a deleted key can be created again.
    s.put("once/doc", Bytes::from_static(b"replaced"), None)
        .await
        .expect("put");
    s.delete("once/doc").await.expect("delete");
    assert!(matches!(
        s.put_if_absent("once/doc", Bytes::from_static(b"again"), None)
            .await
            .expect("put_if_absent after delete"),
        PutIfAbsent::Created(_)
    ));
    let err = s
        .put_if_absent("../bad", Bytes::from_static(b"x"), None)
        .await
        .expect_err("invalid key");
    assert!(matches!(err, BlobError::InvalidKey { .. }), "{err:?}");
}

/// Of concurrent conditional puts of one key exactly one creates it, and its bytes stay.
pub async fn put_if_absent_races_have_one_winner<F: BlobStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    let put = |n: u8| s.put_if_absent("race", Bytes::from(vec![n; 16]), None);
    let (a, b, c, d) = tokio::join!(put(1), put(2), put(3), put(4));
    let outcomes = [a, b, c, d].map(|r| r.expect("put_if_absent"));
    let winners: Vec<u8> = outcomes
        .iter()
        .zip(1u8..)
        .filter(|(o, _)| matches!(o, PutIfAbsent::Created(_)))
        .map(|(_, n)| n)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one creates the key: {outcomes:?}"
    );
    assert_eq!(
        s.get("race").await.expect("get"),
        Bytes::from(vec![winners[0]; 16])
    );
}

/// Several conditional puts at once: each free key is created, a taken key is left as it
/// was, the answers come in order; an invalid key is refused.
pub async fn put_many_if_absent_creates_each_free_key<F: BlobStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    s.put_if_absent("many/b", Bytes::from_static(b"old"), None)
        .await
        .expect("put_if_absent");
    let out = s
        .put_many_if_absent(
            vec![
                ("many/a".into(), Bytes::from_static(b"A")),
                ("many/b".into(), Bytes::from_static(b"B")),
                ("many/c/d".into(), Bytes::from_static(b"CD")),
            ],
            Some("application/json"),
        )
        .await
        .expect("put_many_if_absent");
    let [
        PutIfAbsent::Created(a),
        PutIfAbsent::Exists,
        PutIfAbsent::Created(cd),
    ] = &out[..]
    else {
        panic!("created, taken, created in order: {out:?}");
    };
    assert_eq!((a.key.as_str(), a.size), ("many/a", 1));
    assert_eq!((cd.key.as_str(), cd.size), ("many/c/d", 2));
    assert_recent(a);
    assert_eq!(
        s.get("many/a").await.expect("get"),
        Bytes::from_static(b"A")
    );
    assert_eq!(
        s.get("many/b").await.expect("get"),
        Bytes::from_static(b"old")
    );
    assert_eq!(
        s.get("many/c/d").await.expect("get"),
        Bytes::from_static(b"CD")
    );
    let head = s.head("many/c/d").await.expect("head").expect("present");
    assert_eq!(
        (head.etag, head.content_type),
        (cd.etag.clone(), Some("application/json".to_owned()))
    );
    assert_eq!(
        list_keys(&s, "many/", 10).await,
        ["many/a", "many/b", "many/c/d"]
    );
    assert_eq!(
        s.put_many_if_absent(Vec::new(), None).await.expect("empty"),
        Vec::new()
    );
    let err = s
        .put_many_if_absent(vec![("../bad".into(), Bytes::from_static(b"x"))], None)
        .await
        .expect_err("invalid key");
    assert!(matches!(err, BlobError::InvalidKey { .. }), "{err:?}");
}

/// get and open of an absent object fail with `NotFound`; head returns `None`.
pub async fn absent_object<F: BlobStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    s.put("present", Bytes::from_static(b"x"), None)
        .await
        .expect("put");
    for key in ["absent", "present/child", "presen"] {
        match s.get(key).await {
            Err(BlobError::NotFound(k)) => assert_eq!(k, key),
            other => panic!("get {key}: expected NotFound, got {other:?}"),
        }
        match s.open(key).await {
            Err(BlobError::NotFound(k)) => assert_eq!(k, key),
            Err(other) => panic!("open {key}: expected NotFound, got {other:?}"),
            Ok(_) => panic!("open {key}: expected NotFound, got a reader"),
        }
        assert_eq!(s.head(key).await.expect("head"), None);
    }
}

/// Deleting removes the object; deleting again, or deleting what never existed, succeeds.
pub async fn delete_is_idempotent<F: BlobStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    s.put("a/b/c.txt", Bytes::from_static(b"c"), None)
        .await
        .expect("put");
    s.put("a/b/d.txt", Bytes::from_static(b"d"), None)
        .await
        .expect("put");
    s.delete("a/b/c.txt").await.expect("delete");
    assert_eq!(s.head("a/b/c.txt").await.expect("head"), None);
    assert!(matches!(
        s.get("a/b/c.txt").await,
        Err(BlobError::NotFound(_))
    ));
    s.delete("a/b/c.txt").await.expect("delete again");
    s.delete("never/existed").await.expect("delete absent");
    assert_eq!(list_keys(&s, "a/", 10).await, ["a/b/d.txt"]);
    s.delete("a/b/d.txt").await.expect("delete last");
    assert!(list_keys(&s, "", 10).await.is_empty());
    // The key is usable again after a delete.
    s.put("a/b/c.txt", Bytes::from_static(b"again"), None)
        .await
        .expect("put again");
    assert_eq!(
        s.get("a/b/c.txt").await.expect("get"),
        Bytes::from_static(b"again")
    );
}

const LISTING_KEYS: [&str; 12] = [
    "inbox/2025/b.csv",
    "inbox/2025/a.csv",
    "inbox/2025-extra.csv",
    "inbox/Z.csv",
    "inbox/a.csv",
    "inbox/\u{e9}.csv",
    "inbox/~.csv",
    "inbox/a b.csv",
    "inbox",
    "inboxes/x.csv",
    "outbox/a.csv",
    "Inbox/a.csv",
];

async fn seed_listing<S: BlobStore>(s: &S) {
    for (i, key) in LISTING_KEYS.iter().enumerate() {
        s.put(key, Bytes::from(format!("object {i}")), None)
            .await
            .expect("seed");
    }
}

/// list returns the keys that begin with the prefix, in byte-wise key order.
pub async fn list_by_prefix_in_key_order<F: BlobStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    seed_listing(&s).await;
    let under_inbox: Vec<&str> = LISTING_KEYS
        .iter()
        .copied()
        .filter(|k| k.starts_with("inbox/"))
        .collect();
    assert_eq!(
        list_keys(&s, "inbox/", 1000).await,
        sorted_bytewise(&under_inbox)
    );
    let inbox_all: Vec<&str> = LISTING_KEYS
        .iter()
        .copied()
        .filter(|k| k.starts_with("inbox"))
        .collect();
    assert_eq!(
        list_keys(&s, "inbox", 1000).await,
        sorted_bytewise(&inbox_all)
    );
    assert_eq!(
        list_keys(&s, "inbox/2025", 1000).await,
        sorted_bytewise(&[
            "inbox/2025/a.csv",
            "inbox/2025/b.csv",
            "inbox/2025-extra.csv"
        ])
    );
    assert_eq!(
        list_keys(&s, "", 1000).await,
        sorted_bytewise(&LISTING_KEYS)
    );
    assert!(list_keys(&s, "nothing/", 1000).await.is_empty());
    let page = s.list("outbox/", 5, None).await.expect("list");
    assert_eq!(page.objects.len(), 1);
    assert_eq!(page.next, None);
}

/// Pages of 1 and 2 concatenate to the full listing, without duplicates.
pub async fn list_pages_limit_1_and_2<F: BlobStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    seed_listing(&s).await;
    for prefix in ["", "inbox/"] {
        let full = list_keys(&s, prefix, 1000).await;
        for limit in [1, 2] {
            assert_eq!(
                list_keys(&s, prefix, limit).await,
                full,
                "prefix {prefix:?} limit {limit}"
            );
        }
    }
    let first = s.list("inbox/", 2, None).await.expect("first page");
    assert_eq!(first.objects.len(), 2);
    assert!(
        first.next.is_some(),
        "more objects remain, so a cursor is due"
    );
}

/// A page limit outside 1..=1000 is refused with `Invalid`.
pub async fn list_limit_out_of_range_is_invalid<F: BlobStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    for limit in [0, 1001] {
        let err = s
            .list("", limit, None)
            .await
            .expect_err("limit out of range");
        assert!(matches!(err, BlobError::Invalid(_)), "{limit}: {err:?}");
    }
}

/// A cursor the store did not issue is refused with `Invalid`.
pub async fn list_invalid_cursor_is_invalid<F: BlobStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    s.put("a", Bytes::from_static(b"a"), None)
        .await
        .expect("put");
    for bad in ["not a cursor!", "%%%"] {
        let err = s.list("", 10, Some(bad)).await.expect_err("bad cursor");
        assert!(matches!(err, BlobError::Invalid(_)), "{bad:?}: {err:?}");
    }
}

/// A multi-MiB object streams back byte for byte through `open`, and whole through `get`.
pub async fn open_streams_large_object<F: BlobStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    let body = noise(5 * 1024 * 1024 + 123, 0x5eed);
    let meta = s
        .put(
            "exports/large.bin",
            body.clone(),
            Some("application/octet-stream"),
        )
        .await
        .expect("put");
    assert_eq!(meta.size, body.len() as u64);
    let mut reader = s.open("exports/large.bin").await.expect("open");
    let mut streamed = Vec::new();
    // Small reads exercise the stream rather than one big buffer fill.
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut chunk).await.expect("read");
        if n == 0 {
            break;
        }
        streamed.extend_from_slice(&chunk[..n]);
    }
    assert!(streamed == body, "streamed bytes differ from what was put");
    assert!(s.get("exports/large.bin").await.expect("get") == body);
}

/// Keys that are empty, too long, absolute, have empty, `.` or `..` segments or control
/// characters are refused by every method with `InvalidKey`.
pub async fn invalid_keys_are_rejected<F: BlobStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    let too_long = "k".repeat(1025);
    let bad_keys = [
        "",
        "/absolute",
        "trailing/",
        "double//slash",
        "a/../b",
        "..",
        "./a",
        "a/.",
        "nul\u{0}byte",
        "new\nline",
        "tab\there",
        too_long.as_str(),
    ];
    for key in bad_keys {
        let is_invalid = |r: Result<(), BlobError>| matches!(r, Err(BlobError::InvalidKey { .. }));
        assert!(
            is_invalid(s.put(key, Bytes::from_static(b"x"), None).await.map(drop)),
            "put {key:?}"
        );
        assert!(is_invalid(s.get(key).await.map(drop)), "get {key:?}");
        assert!(is_invalid(s.open(key).await.map(drop)), "open {key:?}");
        assert!(is_invalid(s.head(key).await.map(drop)), "head {key:?}");
        assert!(is_invalid(s.delete(key).await), "delete {key:?}");
    }
    assert!(
        list_keys(&s, "", 1000).await.is_empty(),
        "a refused put stored something"
    );
    // The longest valid key is accepted.
    let longest = "k".repeat(1024);
    s.put(&longest, Bytes::from_static(b"x"), None)
        .await
        .expect("1024-byte key");
    assert_eq!(
        s.get(&longest).await.expect("get"),
        Bytes::from_static(b"x")
    );
}

const SPECIAL_KEYS: [&str; 12] = [
    "with space/file name.txt",
    "unicode/\u{100}da\u{17e}u novads \u{137}\u{113}\u{137}is \u{1f642}.json",
    "plus/a+b.txt",
    "percent/100%.txt",
    "percent/%41%2F%25.txt",
    "mixed/A B+C%D~E=F&G.txt",
    "punct/!$'()*,;@[]#?.txt",
    "case/a",
    "case/A",
    "dots/.hidden/..name/...",
    "colon:back\\slash/\"quoted\" <tag> |pipe|",
    "trailing dot./trailing space ",
];

/// Keys with spaces, unicode, `+`, `%` and other punctuation are stored and listed exactly,
/// and keys differing only in case are distinct objects.
pub async fn keys_with_special_characters_round_trip<F: BlobStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    for (i, key) in SPECIAL_KEYS.iter().enumerate() {
        let meta = s
            .put(
                key,
                Bytes::from(format!("body {i}")),
                Some("text/plain; charset=utf-8"),
            )
            .await
            .expect("put");
        assert_eq!(meta.key, *key);
    }
    for (i, key) in SPECIAL_KEYS.iter().enumerate() {
        assert_eq!(
            s.get(key).await.expect("get"),
            Bytes::from(format!("body {i}")),
            "{key:?}"
        );
        let head = s.head(key).await.expect("head").expect("present");
        assert_eq!(head.key, *key);
        assert_eq!(
            head.content_type.as_deref(),
            Some("text/plain; charset=utf-8")
        );
    }
    assert_eq!(
        list_keys(&s, "", 1000).await,
        sorted_bytewise(&SPECIAL_KEYS)
    );
    assert_eq!(
        list_keys(&s, "percent/%", 1000).await,
        ["percent/%41%2F%25.txt"]
    );
    assert_eq!(list_keys(&s, "plus/a+", 1000).await, ["plus/a+b.txt"]);
    s.delete("case/A").await.expect("delete");
    assert_eq!(
        s.get("case/a").await.expect("other case kept"),
        Bytes::from("body 7")
    );
}

/// A key may also be the prefix of other keys (`a`, `a/b`, `a/b/c` coexist), unlike files.
pub async fn key_can_also_be_a_prefix<F: BlobStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    for key in ["a/b/c", "a", "a/b"] {
        s.put(key, Bytes::from(key.to_owned()), None)
            .await
            .expect("put");
    }
    for key in ["a", "a/b", "a/b/c"] {
        assert_eq!(s.get(key).await.expect("get"), Bytes::from(key.to_owned()));
    }
    assert_eq!(list_keys(&s, "a", 1000).await, ["a", "a/b", "a/b/c"]);
    s.delete("a/b").await.expect("delete middle");
    assert_eq!(list_keys(&s, "a", 1000).await, ["a", "a/b/c"]);
    assert_eq!(
        s.get("a/b/c").await.expect("get"),
        Bytes::from_static(b"a/b/c")
    );
}

/// `put_file` stores a local file's bytes (a few MiB, more than any read buffer) as `put`
/// would: same size and content, the ETag `head` and `list` report, the content type, and
/// it replaces an object already at the key.
pub async fn put_file_streams_a_local_file<F: BlobStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    let body = noise(3 * 1024 * 1024 + 17, 0xf11e);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("report.jsonl");
    std::fs::write(&path, &body).expect("write the local file");
    s.put(
        "results/a.csv.report.jsonl",
        Bytes::from_static(b"old"),
        None,
    )
    .await
    .expect("put the old object");

    let meta = s
        .put_file(
            "results/a.csv.report.jsonl",
            &path,
            Some("application/x-ndjson"),
        )
        .await
        .expect("put_file");
    assert_eq!(meta.key, "results/a.csv.report.jsonl");
    assert_eq!(meta.size, body.len() as u64);
    assert_eq!(meta.content_type.as_deref(), Some("application/x-ndjson"));
    assert_recent(&meta);
    assert!(s.get("results/a.csv.report.jsonl").await.expect("get") == body);
    let head = s
        .head("results/a.csv.report.jsonl")
        .await
        .expect("head")
        .expect("present");
    assert_eq!(
        (&head.etag, head.size, &head.content_type),
        (&meta.etag, meta.size, &meta.content_type)
    );
    assert_eq!(
        list_keys(&s, "results/", 10).await,
        ["results/a.csv.report.jsonl"]
    );

    // The same bytes put from memory get the same ETag (an ETag is of the content).
    let again = s
        .put("results/b", body.clone(), None)
        .await
        .expect("put from memory");
    assert_eq!(again.etag, meta.etag);

    // An empty file is an empty object.
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").expect("write an empty file");
    let meta = s
        .put_file("results/empty", &empty, None)
        .await
        .expect("put_file empty");
    assert_eq!(meta.size, 0);
    assert!(s.get("results/empty").await.expect("get empty").is_empty());
}

/// `put_file` of a path that does not exist or is a directory is `Invalid` naming the path,
/// and leaves the object at the key as it was; a bad key is `InvalidKey` first.
pub async fn put_file_of_a_missing_or_odd_path_is_invalid<F: BlobStoreFixture>(fx: &F) {
    let s = fx.fresh().await;
    s.put("results/kept", Bytes::from_static(b"kept"), None)
        .await
        .expect("put");
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.jsonl");
    for path in [missing.as_path(), dir.path()] {
        match s.put_file("results/kept", path, None).await {
            Err(BlobError::Invalid(message)) => {
                assert!(message.contains(&path.display().to_string()), "{message}")
            }
            other => panic!(
                "put_file {}: expected Invalid, got {other:?}",
                path.display()
            ),
        }
    }
    assert_eq!(
        s.get("results/kept").await.expect("get"),
        Bytes::from_static(b"kept")
    );
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").expect("write");
    assert!(matches!(
        s.put_file("../escape", &file, None).await,
        Err(BlobError::InvalidKey { .. })
    ));
}
