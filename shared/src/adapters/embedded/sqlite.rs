//! A SQLite database for async code: the writer's connection behind a mutex, with a group
//! commit for writes ([`Db::write`]) and blocking work on it through `spawn_blocking`
//! ([`Db::call`]); reads on connections of their own ([`Db::read`], [`Db::read_sized`]).

use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::oneshot;
use tokio::task::JoinError;

/// A durable SQLite database shared by the clones of one adapter.
#[derive(Clone)]
pub(crate) struct Db {
    conn: Arc<Mutex<Connection>>,
    /// Writes waiting for the next shared transaction ([`Db::write`]).
    pending: Arc<Mutex<Waiting>>,
    /// Shared transactions committed (how the tests see writes grouped).
    commits: Arc<AtomicUsize>,
    /// The file, for the read connections ([`Db::read`]).
    path: Arc<Path>,
    /// Idle read connections ([`Db::read`]), at most [`MAX_IDLE_READERS`].
    readers: Arc<Mutex<Vec<Connection>>>,
}

/// The most idle read connections kept open: the runtime's worker threads (one per core)
/// read at the same time, not more.
const MAX_IDLE_READERS: usize = 8;

/// The writes waiting for a shared transaction, and whether a thread is running them.
#[derive(Default)]
struct Waiting {
    jobs: Vec<Box<dyn Job>>,
    running: bool,
}

/// The turn to run the waiting writes ([`Waiting::running`] is set while one exists). The
/// runner gives it back when it finds nothing waiting, in the same critical section as the
/// look, so a write queued just after sees `running` false and starts the next runner.
/// Dropped without that — a panic outside the writes' own work, or a runtime shut down
/// before the blocking task ran — it gives the turn back too, so writes never wait for a
/// runner that does not exist.
struct Runner {
    db: Db,
    given_back: bool,
}

impl Drop for Runner {
    fn drop(&mut self) {
        if !self.given_back {
            self.db
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .running = false;
        }
    }
}

impl Runner {
    /// Runs the waiting writes, a group at a time, until none is waiting.
    fn run(mut self) {
        loop {
            // The connection first: writes that arrive while waiting for it join the group.
            let mut conn = self.db.conn.lock().unwrap_or_else(PoisonError::into_inner);
            let jobs = {
                let mut waiting = self
                    .db
                    .pending
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if waiting.jobs.is_empty() {
                    waiting.running = false;
                    self.given_back = true;
                    return;
                }
                std::mem::take(&mut waiting.jobs)
            };
            self.db.commit_group(&mut conn, jobs);
        }
    }
}

/// Why a write of a shared transaction ([`Db::write`]) was not applied although its own
/// work succeeded (or did not run).
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum GroupError {
    /// SQLite refused to begin, keep a savepoint of, or commit the shared transaction.
    #[error(transparent)]
    Sqlite(Arc<rusqlite::Error>),
    /// SQLite rolled the shared transaction back by itself (after an I/O error, a full
    /// disk): nothing of it was applied.
    #[error("SQLite rolled the shared write transaction back")]
    RolledBack,
    /// The write's own work panicked; its savepoint was rolled back.
    #[error("a write panicked and was rolled back: {0}")]
    Panicked(String),
    /// The thread running the shared transaction ended without an answer.
    #[error("the shared write transaction was abandoned")]
    Abandoned,
}

/// A write waiting for a shared transaction, its result type erased.
trait Job: Send {
    /// Runs the write in a savepoint of `tx`: an error of its own rolls back only its
    /// savepoint and is answered at once; a success is answered after the commit.
    fn run(self: Box<Self>, tx: &mut Transaction<'_>) -> Ran;
    /// Answers `err` without running the write.
    fn fail(self: Box<Self>, err: GroupError);
}

/// What running one write in the shared transaction left to do.
enum Ran {
    /// Answered (its work failed and its savepoint was rolled back).
    Answered,
    /// Applied inside the transaction: answer with the commit's outcome.
    Applied(Box<dyn FnOnce(Result<(), GroupError>) + Send>),
    /// The transaction can no longer be trusted: roll it all back.
    Broken(GroupError, Box<dyn FnOnce(Result<(), GroupError>) + Send>),
}

struct Pending<T, E, F> {
    work: F,
    reply: oneshot::Sender<Result<T, E>>,
    on_error: fn(GroupError) -> E,
}

impl<T, E, F> Job for Pending<T, E, F>
where
    F: FnOnce(&Connection) -> Result<T, E> + Send,
    T: Send + 'static,
    E: Send + 'static,
{
    fn run(self: Box<Self>, tx: &mut Transaction<'_>) -> Ran {
        let Pending {
            work,
            reply,
            on_error,
        } = *self;
        let savepoint = match tx.savepoint() {
            Ok(savepoint) => savepoint,
            Err(e) => {
                let err = GroupError::Sqlite(Arc::new(e));
                let _ = reply.send(Err(on_error(err.clone())));
                return Ran::Broken(err, Box::new(|_| {}));
            }
        };
        let result = catch_unwind(AssertUnwindSafe(|| work(&savepoint)))
            .unwrap_or_else(|panic| Err(on_error(GroupError::Panicked(panic_text(&*panic)))));
        let ok = result.is_ok();
        let answer = move |outcome: Result<(), GroupError>| {
            let _ = reply.send(match outcome {
                Ok(()) => result,
                Err(err) => Err(on_error(err)),
            });
        };
        // Not `finish` with `DropBehavior::Commit`: it rolls back quietly when RELEASE fails.
        let ended = if ok {
            savepoint.commit()
        } else {
            // The default drop behaviour: ROLLBACK TO, then RELEASE.
            savepoint.finish()
        };
        match ended {
            Err(e) => Ran::Broken(GroupError::Sqlite(Arc::new(e)), Box::new(answer)),
            Ok(()) if ok => Ran::Applied(Box::new(answer)),
            Ok(()) => {
                // Its own error, already rolled back: the commit does not change it.
                answer(Ok(()));
                Ran::Answered
            }
        }
    }

    fn fail(self: Box<Self>, err: GroupError) {
        let _ = self.reply.send(Err((self.on_error)(err)));
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

impl Db {
    /// Opens (creating if needed) a database in WAL mode with `synchronous=FULL`, so a
    /// commit that returned survives `kill -9` and power loss.
    pub(crate) fn open(path: &Path) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        // WAL lets readers in other connections proceed during a write; FULL fsyncs the WAL
        // at every commit (NORMAL would only be safe against process crashes).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Several adapters (or processes) may share a file: wait for a lock, do not fail.
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            pending: Arc::default(),
            commits: Arc::default(),
            path: Arc::from(path),
            readers: Arc::default(),
        })
    }

    /// Runs a short read (a few pages: point lookups, a page of a query) on a connection of
    /// its own, on the calling thread: no hop to a blocking thread and back, and no wait for
    /// the writer's transaction or its sync (a WAL reader sees the last commit). `work`
    /// runs on an async runtime's thread, so it must not scan large ranges; tooling that
    /// walks a whole table uses [`Db::call`]; reads of many records, [`Db::read_sized`].
    pub(crate) fn read<T, E>(
        &self,
        on_error: fn(rusqlite::Error) -> E,
        work: impl FnOnce(&mut Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let idle = self
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => open_reader(&self.path).map_err(on_error)?,
        };
        let result = work(&mut conn);
        // A read that failed rolled its transaction back (if it had one): the connection is
        // clean either way. One that panicked is dropped with the unwinding.
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if readers.len() < MAX_IDLE_READERS {
            readers.push(conn);
        }
        result
    }

    /// [`Db::read`] for a read of about `size` records: on the calling thread up to
    /// [`INLINE_READ`], on a blocking thread above.
    pub(crate) async fn read_sized<T, E, F>(
        &self,
        size: usize,
        on_error: fn(rusqlite::Error) -> E,
        on_join_error: fn(JoinError) -> E,
        work: F,
    ) -> Result<T, E>
    where
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        if size <= INLINE_READ {
            return self.read(on_error, work);
        }
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.read(on_error, work))
            .await
            .map_err(on_join_error)?
    }

    /// Runs blocking work on the writer's connection off the async runtime's worker threads.
    pub(crate) async fn call<T, E, F>(
        &self,
        on_join_error: fn(JoinError) -> E,
        f: F,
    ) -> Result<T, E>
    where
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic inside a transaction rolled it back when the transaction dropped,
            // so the connection behind a poisoned lock is still consistent.
            let mut guard = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut guard)
        })
        .await
        .map_err(on_join_error)?
    }

    /// Runs a write (`work`, all or nothing) in a transaction shared with the writes of
    /// other tasks waiting at the same time: one commit, so one sync of the WAL, for all
    /// of them (a group commit). Each write runs in its own savepoint, so one that fails
    /// (a condition, a constraint) is rolled back alone and answered at once; the others
    /// are answered after the commit returned, with its outcome — a write is reported
    /// applied only once it is durable. `work` must not begin or end a transaction.
    ///
    /// One blocking thread at a time runs the waiting writes, group after group, while
    /// there are any; a write that finds none running starts one. Writes that arrive while
    /// a group commits (or while [`Db::call`] holds the connection) wait for the next group.
    pub(crate) async fn write<T, E, F>(
        &self,
        on_error: fn(GroupError) -> E,
        work: F,
    ) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending {
            work,
            reply,
            on_error,
        });
        let start = {
            let mut waiting = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            waiting.jobs.push(job);
            !std::mem::replace(&mut waiting.running, true)
        };
        if start {
            let runner = Runner {
                db: self.clone(),
                given_back: false,
            };
            // Not awaited: the answer comes through `answer`; panics in `work` are caught
            // inside the job.
            drop(tokio::task::spawn_blocking(move || runner.run()));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(on_error(GroupError::Abandoned)))
    }

    /// Runs `jobs` in one IMMEDIATE transaction and commits it.
    fn commit_group(&self, conn: &mut Connection, jobs: Vec<Box<dyn Job>>) {
        let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                let err = GroupError::Sqlite(Arc::new(e));
                jobs.into_iter().for_each(|job| job.fail(err.clone()));
                return;
            }
        };
        let mut applied = Vec::with_capacity(jobs.len());
        let mut broken = None;
        let mut jobs = jobs.into_iter();
        for job in jobs.by_ref() {
            match job.run(&mut tx) {
                Ran::Answered => {}
                Ran::Applied(answer) => applied.push(answer),
                Ran::Broken(err, answer) => {
                    applied.push(answer);
                    broken = Some(err);
                    break;
                }
            }
            if tx.is_autocommit() {
                // SQLite ended the transaction itself: what ran next would commit alone.
                broken = Some(GroupError::RolledBack);
                break;
            }
        }
        let outcome = match broken {
            // Dropping the transaction rolls back everything the group applied.
            Some(err) => Err(err),
            None => tx.commit().map_err(|e| GroupError::Sqlite(Arc::new(e))),
        };
        if outcome.is_ok() {
            self.commits.fetch_add(1, Ordering::Relaxed);
        }
        tracing::trace!(writes = applied.len(), ok = outcome.is_ok(), "group commit");
        if let Err(err) = &outcome {
            jobs.for_each(|job| job.fail(err.clone()));
        }
        for answer in applied {
            answer(outcome.clone());
        }
    }

    /// Runs blocking work on the connection on the current thread (for set-up code).
    pub(crate) fn call_now<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        let mut guard = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }
}

/// The most point lookups (or records of a query page) a read runs on the calling thread;
/// larger ones (an import's read-ahead, a page of 1,000) go to a blocking thread
/// ([`Db::read_sized`]), so an async runtime's thread is never held for long.
pub(crate) const INLINE_READ: usize = 64;

/// A connection for reads of a database [`Db::open`] set up (WAL mode is kept in the file).
fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // A WAL reader waits only while another connection recovers the WAL index.
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

/// The smallest string greater than every string that starts with `prefix`, if any:
/// the prefix with its last incrementable character incremented and the rest dropped.
/// UTF-8 preserves code point order, so this bound is also byte-wise.
pub(crate) fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{d7ff}' => Some('\u{e000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A database with `t(id PRIMARY KEY, parent)`, `parent` a deferred foreign key to
    /// `p(id)` (checked at COMMIT), foreign keys on.
    fn database(dir: &tempfile::TempDir) -> Db {
        let db = Db::open(&dir.path().join("t.db")).expect("open");
        db.call_now(|conn| {
            conn.execute_batch(
                "PRAGMA foreign_keys = ON;
                 CREATE TABLE p (id INTEGER PRIMARY KEY);
                 INSERT INTO p VALUES (1);
                 CREATE TABLE t (id INTEGER PRIMARY KEY,
                     parent INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED);",
            )
        })
        .expect("schema");
        db
    }

    fn text(err: GroupError) -> String {
        format!("group: {err}")
    }

    /// Starts `writes` (each inserts `(id, parent)`, the id 99 panics after inserting) while
    /// the connection is held, so they wait together; lets the connection go once all wait.
    async fn together(db: &Db, writes: &[(i64, i64)]) -> Vec<Result<(), String>> {
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let held = tokio::spawn({
            let db = db.clone();
            async move {
                db.call(
                    |e| e.to_string(),
                    move |_| hold.recv().map_err(|e| e.to_string()),
                )
                .await
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let tasks: Vec<_> = writes
            .iter()
            .map(|&(id, parent)| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.write(text, move |conn| {
                        conn.execute("INSERT INTO t VALUES (?1, ?2)", [id, parent])
                            .map_err(|e| e.to_string())?;
                        assert_ne!(id, 99, "the write of id 99 panics");
                        Ok(())
                    })
                    .await
                })
            })
            .collect();
        for _ in 0..500 {
            if db.pending.lock().unwrap().jobs.len() == writes.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(
            db.pending.lock().unwrap().jobs.len(),
            writes.len(),
            "all wait"
        );
        release.send(()).expect("release");
        held.await.expect("join").expect("held");
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("join"));
        }
        results
    }

    fn ids_on(conn: &Connection) -> Vec<i64> {
        let mut stmt = conn
            .prepare("SELECT id FROM t ORDER BY id")
            .expect("prepare");
        stmt.query_map([], |row| row.get(0))
            .and_then(Iterator::collect)
            .expect("ids")
    }

    fn ids(db: &Db) -> Vec<i64> {
        db.call_now(|conn| ids_on(conn))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_waiting_together_share_one_commit_and_fail_alone() {
        let dir = tempfile::tempdir().expect("dir");
        let db = database(&dir);
        // The second write of id 1 breaks the primary key; 99 panics after inserting.
        let results = together(&db, &[(1, 1), (1, 1), (99, 1), (2, 1)]).await;
        // Their order in the group is the order they queued in, which is not fixed:
        // exactly one of the two writes of id 1 is applied.
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            2,
            "{results:?}"
        );
        assert!(
            results[2].as_ref().is_err_and(|e| e.contains("panicked")),
            "{results:?}"
        );
        assert!(results[3].is_ok(), "{results:?}");
        assert_eq!(
            ids(&db),
            [1, 2],
            "the failed and the panicked writes left nothing"
        );
        assert_eq!(
            db.commits.load(Ordering::Relaxed),
            1,
            "one commit for the group"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_sees_the_last_commit_without_waiting_for_the_writer() {
        let dir = tempfile::tempdir().expect("dir");
        let db = database(&dir);
        db.write(text, |conn| {
            conn.execute("INSERT INTO t VALUES (1, 1)", [])
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .await
        .expect("write");
        // The writer's connection is held, inside a transaction that wrote row 2 and has
        // not committed, while the read runs.
        let (inside, wait_inside) = std::sync::mpsc::channel::<()>();
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let writer = tokio::spawn({
            let db = db.clone();
            async move {
                db.call(
                    |e| e.to_string(),
                    move |conn| {
                        let tx = conn.transaction().map_err(|e| e.to_string())?;
                        tx.execute("INSERT INTO t VALUES (2, 1)", [])
                            .map_err(|e| e.to_string())?;
                        inside.send(()).map_err(|e| e.to_string())?;
                        hold.recv().map_err(|e| e.to_string())?;
                        tx.commit().map_err(|e| e.to_string())
                    },
                )
                .await
            }
        });
        tokio::task::spawn_blocking(move || wait_inside.recv())
            .await
            .expect("join")
            .expect("the writer is inside its transaction");
        let read = tokio::task::spawn_blocking({
            let db = db.clone();
            move || db.read(|e| e.to_string(), |conn| Ok(ids_on(conn)))
        });
        // Bounds a failure (a read queued behind the writer would never return).
        let seen = tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("the read did not wait for the writer")
            .expect("join")
            .expect("read");
        assert_eq!(seen, [1], "the last commit, not the open transaction");
        release.send(()).expect("release");
        writer.await.expect("join").expect("writer");
        let seen = db
            .read(|e| e.to_string(), |conn| Ok(ids_on(conn)))
            .expect("read");
        assert_eq!(seen, [1, 2]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_commit_fails_every_write_of_the_group() {
        let dir = tempfile::tempdir().expect("dir");
        let db = database(&dir);
        // Parent 7 does not exist: the deferred foreign key fails the COMMIT, not the write.
        let results = together(&db, &[(1, 1), (2, 7), (3, 1)]).await;
        for result in &results {
            let err = result.as_ref().expect_err("nothing was committed");
            assert!(err.contains("FOREIGN KEY"), "{err}");
        }
        assert_eq!(
            ids(&db),
            Vec::<i64>::new(),
            "nothing of the group is stored"
        );
        assert_eq!(db.commits.load(Ordering::Relaxed), 0);
        // The connection is usable again: the next write commits alone.
        db.write(text, |conn| {
            conn.execute("INSERT INTO t VALUES (4, 1)", [])
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .await
        .expect("write");
        assert_eq!(ids(&db), [4]);
    }

    #[test]
    fn prefix_upper_bound_is_the_next_string_after_every_extension() {
        assert_eq!(prefix_upper_bound("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_upper_bound("a\u{10ffff}").as_deref(), Some("b"));
        assert_eq!(
            prefix_upper_bound("x\u{d7ff}").as_deref(),
            Some("x\u{e000}")
        );
        assert_eq!(prefix_upper_bound("\u{10ffff}\u{10ffff}"), None);
        assert_eq!(prefix_upper_bound(""), None);
        let upper = prefix_upper_bound("a\u{e9}").expect("bound");
        for inside in ["a\u{e9}", "a\u{e9}\u{10ffff}\u{10ffff}", "a\u{e9}zzz"] {
            assert!(inside.as_bytes() < upper.as_bytes(), "{inside:?}");
        }
        assert!("a\u{ea}".as_bytes() >= upper.as_bytes());
    }
}
