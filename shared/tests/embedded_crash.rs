//! Crash safety of the embedded backend: a child process writes through the stores and
//! reports each acknowledged write on stdout; the test kills it with SIGKILL mid-stream,
//! reopens the data directory and checks that every acknowledged write is there, that
//! the databases pass SQLite's integrity check, and that a message received but not
//! acknowledged is delivered again.
//!
//! The child is this test binary itself, re-run on one test with `RAVIS_CRASH_CHILD` set.
#![cfg(feature = "embedded")]

use bytes::Bytes;
use ravis::adapters::embedded::{EmbeddedBackend, QueueOptions};
use ravis::ports::{BlobStore, Key, Queue, Record, RecordStore, SortKeyCondition, WriteOp};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHILD_ENV: &str = "RAVIS_CRASH_CHILD";
const DIR_ENV: &str = "RAVIS_CRASH_DIR";
/// A child left running by a failed parent stops on its own after this many writes.
const CHILD_WRITE_CAP: u64 = 200_000;

/// Prints one acknowledgement line, flushed, so the parent sees it even if killed next.
fn ack(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe means the parent is gone: stop.
    if writeln!(out, "@@ {line}")
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Kills the child when dropped, so a failing parent leaves no process behind.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `test` of this binary as a child writing into `dir`; collects its acknowledgement
/// lines until `enough` says to stop, then SIGKILLs it and returns every line it printed.
fn run_child_and_kill(test: &str, dir: &Path, enough: impl Fn(&[String]) -> bool) -> Vec<String> {
    let exe = std::env::current_exe().expect("test binary");
    let child = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, test)
        .env(DIR_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let mut child = Killed(child);
    let stdout = child.0.stdout.take().expect("child stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut acked = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("read child output");
        if let Some(ack) = line.strip_prefix("@@ ") {
            acked.push(ack.to_owned());
            if enough(&acked) {
                break;
            }
        }
    }
    assert!(enough(&acked), "the child stopped early: {acked:?}");
    // On Unix `kill` is SIGKILL: no destructor, no flush, no clean shutdown in the child.
    child.0.kill().expect("kill child");
    // Lines printed before the kill are acknowledged writes too.
    for line in lines {
        let Ok(line) = line else { break };
        if let Some(ack) = line.strip_prefix("@@ ") {
            acked.push(ack.to_owned());
        }
    }
    let status = child.0.wait().expect("wait for child");
    assert!(
        !status.success(),
        "the child ended by itself instead of being killed"
    );
    acked
}

fn child_dir() -> Option<PathBuf> {
    std::env::var_os(DIR_ENV).map(PathBuf::from)
}

fn is_child(test: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|t| t == test)
}

/// Every SQLite file of the data directory passes `PRAGMA integrity_check`.
fn assert_databases_intact(data: &Path) {
    let mut files = vec![data.join("records.db"), data.join("queue.db")];
    if let Ok(buckets) = std::fs::read_dir(data.join("blobs")) {
        files.extend(
            buckets
                .filter_map(Result::ok)
                .map(|b| b.path().join(".index.db")),
        );
    }
    for file in files.into_iter().filter(|f| f.exists()) {
        let conn = rusqlite::Connection::open(&file).expect("open database");
        let verdict: String = conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .expect("integrity check");
        assert_eq!(verdict, "ok", "{}", file.display());
    }
}

#[test]
fn acknowledged_record_writes_survive_sigkill() {
    const TEST: &str = "acknowledged_record_writes_survive_sigkill";
    if is_child(TEST) {
        let dir = child_dir().expect("child dir");
        return runtime().block_on(async move {
            let store = EmbeddedBackend::open(&dir).expect("open").records();
            store
                .put_new(Record::new(Key::new("COUNTER", "C"), json!({ "n": 1 })))
                .await
                .expect("counter");
            for i in 0..CHILD_WRITE_CAP {
                let rec = |sk: String| Record::new(Key::new("P", sk), json!({ "i": i }));
                if i % 3 == 0 {
                    store
                        .transact(vec![
                            WriteOp::PutNew(rec(format!("T#{i:08}#a"))),
                            WriteOp::PutNew(rec(format!("T#{i:08}#b"))),
                            WriteOp::PutVersioned {
                                record: Record::new(
                                    Key::new("COUNTER", "C"),
                                    json!({ "n": i + 2 }),
                                ),
                                expected: i / 3 + 1,
                            },
                        ])
                        .await
                        .expect("transact");
                    ack(&format!("txn {i} {}", i / 3 + 2));
                } else {
                    store
                        .put_new(rec(format!("R#{i:08}")))
                        .await
                        .expect("put_new");
                    ack(&format!("put {i}"));
                }
            }
        });
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let acked = run_child_and_kill(TEST, &data, |acked| acked.len() >= 400);

    assert_databases_intact(&data);
    runtime().block_on(async {
        let store = EmbeddedBackend::open(&data).expect("reopen").records();
        let mut max_counter = 0;
        for line in &acked {
            let parts: Vec<&str> = line.split(' ').collect();
            let i: u64 = parts[1].parse().expect("index");
            let sks = match parts[0] {
                "txn" => {
                    max_counter = max_counter.max(parts[2].parse::<u64>().expect("version"));
                    vec![format!("T#{i:08}#a"), format!("T#{i:08}#b")]
                }
                _ => vec![format!("R#{i:08}")],
            };
            for sk in sks {
                let record = store
                    .get(&Key::new("P", &sk))
                    .await
                    .expect("get")
                    .unwrap_or_else(|| panic!("acknowledged record {sk} lost"));
                assert_eq!(record.data, json!({ "i": i }));
            }
        }
        let counter = store
            .get(&Key::new("COUNTER", "C"))
            .await
            .expect("get")
            .expect("counter");
        assert!(
            counter.version >= max_counter,
            "counter at version {} but version {max_counter} was acknowledged",
            counter.version
        );
        // Transactions are atomic across the crash: both halves or neither.
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .query(
                    "P",
                    &SortKeyCondition::Prefix("T#".into()),
                    1000,
                    false,
                    cursor.as_deref(),
                )
                .await
                .expect("query");
            all.extend(page.records.into_iter().map(|r| r.key.sk));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let mut halves: BTreeMap<String, usize> = BTreeMap::new();
        for sk in &all {
            *halves.entry(sk[..sk.len() - 2].to_owned()).or_default() += 1;
        }
        assert!(
            halves.values().all(|&n| n == 2),
            "a transaction was half applied"
        );
        assert_eq!(
            halves.len() as u64 + 1,
            counter.version,
            "counter and transactions disagree"
        );
    });
}

#[test]
fn queue_messages_survive_sigkill_and_unacked_ones_return() {
    const TEST: &str = "queue_messages_survive_sigkill_and_unacked_ones_return";
    let options = QueueOptions {
        max_receives: 10,
        ..QueueOptions::default()
    };
    if is_child(TEST) {
        let dir = child_dir().expect("child dir");
        return runtime().block_on(async move {
            let queue = EmbeddedBackend::open(&dir)
                .expect("open")
                .queue("scoring", options)
                .expect("queue");
            for i in 0..CHILD_WRITE_CAP {
                if i == 50 {
                    // Take some messages and never acknowledge them: the crash comes first.
                    let got = queue
                        .receive(5, Duration::from_secs(1), Duration::ZERO)
                        .await
                        .expect("receive");
                    for m in got {
                        ack(&format!("received {}", m.id));
                    }
                }
                let id = queue.send(&format!("{{\"n\":{i}}}")).await.expect("send");
                ack(&format!("sent {id} {i}"));
            }
        });
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let acked = run_child_and_kill(TEST, &data, |acked| {
        acked.iter().filter(|l| l.starts_with("sent")).count() >= 300
    });

    assert_databases_intact(&data);
    let mut sent: HashMap<String, String> = HashMap::new();
    let mut received: HashSet<String> = HashSet::new();
    for line in &acked {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts[0] {
            "sent" => {
                sent.insert(parts[1].to_owned(), format!("{{\"n\":{}}}", parts[2]));
            }
            _ => {
                received.insert(parts[1].to_owned());
            }
        }
    }
    assert_eq!(
        received.len(),
        5,
        "the child took five messages before the crash"
    );

    runtime().block_on(async {
        let queue = EmbeddedBackend::open(&data)
            .expect("reopen")
            .queue("scoring", options)
            .expect("queue");
        let mut delivered: HashMap<String, (String, u32)> = HashMap::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        // Wait (with long polls) until every acknowledged send has come back; messages
        // received before the crash reappear once their 1 s visibility has passed.
        while !sent.keys().all(|id| delivered.contains_key(id)) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "acknowledged messages lost: {} of {} delivered",
                sent.keys().filter(|id| delivered.contains_key(*id)).count(),
                sent.len()
            );
            for m in queue
                .receive(10, Duration::from_secs(600), Duration::from_secs(1))
                .await
                .expect("receive")
            {
                assert!(
                    delivered
                        .insert(m.id.clone(), (m.body, m.receive_count))
                        .is_none()
                );
            }
        }
        for (id, body) in &sent {
            let (got_body, count) = &delivered[id];
            assert_eq!(got_body, body);
            let expected_count = if received.contains(id) { 2 } else { 1 };
            assert_eq!(*count, expected_count, "receive count of {id}");
        }
    });
}

fn blob_body(i: u64) -> Bytes {
    // Sizes from a few bytes to ~64 KiB, so some writes span many pages.
    let len = ((i * 7919) % 65_536) as usize + 3;
    Bytes::from(
        (0..len)
            .map(|j| (j as u64 ^ i.wrapping_mul(31)) as u8)
            .collect::<Vec<u8>>(),
    )
}

#[test]
fn acknowledged_blob_writes_survive_sigkill() {
    const TEST: &str = "acknowledged_blob_writes_survive_sigkill";
    if is_child(TEST) {
        let dir = child_dir().expect("child dir");
        return runtime().block_on(async move {
            let blobs = EmbeddedBackend::open(&dir)
                .expect("open")
                .blobs("crash-test")
                .expect("bucket");
            for i in 0..CHILD_WRITE_CAP {
                // Every fourth write replaces one hot object, the rest create new ones.
                let key = if i % 4 == 0 {
                    "hot/object.bin".to_owned()
                } else {
                    format!("objects/{i:08}.bin")
                };
                let meta = blobs.put(&key, blob_body(i), None).await.expect("put");
                ack(&format!("{i} {key} {}", meta.etag));
            }
        });
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let acked = run_child_and_kill(TEST, &data, |acked| acked.len() >= 300);

    assert_databases_intact(&data);
    runtime().block_on(async {
        let blobs = EmbeddedBackend::open(&data)
            .expect("reopen")
            .blobs("crash-test")
            .expect("bucket");
        let mut last_hot = 0;
        for line in &acked {
            let parts: Vec<&str> = line.split(' ').collect();
            let i: u64 = parts[0].parse().expect("index");
            if parts[1] == "hot/object.bin" {
                last_hot = i;
                continue;
            }
            let body = blobs
                .get(parts[1])
                .await
                .unwrap_or_else(|e| panic!("acknowledged object {} lost: {e}", parts[1]));
            assert!(body == blob_body(i), "{} has other bytes", parts[1]);
            let head = blobs.head(parts[1]).await.expect("head").expect("present");
            assert_eq!(head.etag, parts[2]);
        }
        // The hot object holds the last acknowledged version or a later one, never an older
        // one, and its bytes match its metadata.
        let hot = blobs.get("hot/object.bin").await.expect("hot object");
        let hot_i = (last_hot..last_hot + 8)
            .step_by(4)
            .find(|&i| blob_body(i) == hot)
            .unwrap_or_else(|| panic!("hot object older than acknowledged write {last_hot}"));
        assert!(hot_i >= last_hot);

        // Index and files agree for every listed object, and no temporary file is left.
        let mut cursor = None;
        loop {
            let page = blobs.list("", 1000, cursor.as_deref()).await.expect("list");
            for meta in &page.objects {
                let body = blobs.get(&meta.key).await.expect("listed object readable");
                assert_eq!(body.len() as u64, meta.size, "{}", meta.key);
                assert_eq!(
                    hex::encode(Sha256::digest(&body)),
                    meta.etag,
                    "{}",
                    meta.key
                );
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let mut stack = vec![data.join("blobs/crash-test")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir)
                .expect("read dir")
                .filter_map(Result::ok)
            {
                let name = entry.file_name().to_string_lossy().into_owned();
                assert!(!name.starts_with(".tmp-"), "temporary file left: {name}");
                if entry.path().is_dir() {
                    stack.push(entry.path());
                }
            }
        }
    });
}
