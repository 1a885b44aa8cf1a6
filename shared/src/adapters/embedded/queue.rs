//! [`Queue`] on SQLite: durable named queues with SQS standard-queue semantics.
//!
//! Every message is a row; a delivery stamps it with a fresh random receipt, bumps its
//! receive count and hides it until `visible_at`. Nothing lives only in memory, so a
//! message received but not acknowledged before a crash is delivered again once its
//! visibility timeout has passed after a restart. A receive that finds a message already
//! delivered `max_receives` times moves it to the queue's dead-letter queue in the same
//! transaction instead (as SQS's redrive policy does). Several named queues may share one
//! database file.

use super::sqlite::Db;
use crate::ports::queue::{MAX_BATCH, MAX_MESSAGE_BYTES};
use crate::ports::{Clock, Queue, QueueError, ReceivedMessage, SystemClock};
use rusqlite::{Connection, params};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;
use uuid::Uuid;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    queue         TEXT    NOT NULL,
    dead          INTEGER NOT NULL DEFAULT 0,
    id            TEXT    NOT NULL UNIQUE,
    body          TEXT    NOT NULL,
    sent_at       INTEGER NOT NULL,
    visible_at    INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt       TEXT    UNIQUE
);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, dead, visible_at);
";

/// SQS's longest long-polling wait; longer waits are shortened to it, as on SQS.
const MAX_WAIT: Duration = Duration::from_secs(20);
/// SQS's longest visibility timeout (12 hours).
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);
/// How often a waiting receiver looks again without being woken: covers senders in another
/// process or another handle on the same file, which cannot reach this process's wake-ups.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Settings of one named queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueOptions {
    /// Deliveries after which the next receive moves a message to the dead-letter queue.
    pub max_receives: u32,
    /// How long a message received from the dead-letter queue stays hidden.
    pub dead_letter_visibility: Duration,
}

impl Default for QueueOptions {
    fn default() -> Self {
        Self {
            max_receives: 5,
            dead_letter_visibility: Duration::from_secs(30),
        }
    }
}

fn unavailable(err: impl std::error::Error + Send + Sync + 'static) -> QueueError {
    QueueError::Unavailable(Box::new(err))
}

/// One queue database file, handing out named queues that share its connection and wake-ups.
#[derive(Clone)]
pub struct SqliteQueueDb {
    db: Db,
    clock: Arc<dyn Clock>,
    wakers: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
}

impl std::fmt::Debug for SqliteQueueDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteQueueDb").finish_non_exhaustive()
    }
}

impl SqliteQueueDb {
    /// Opens (creating if needed) the queue database at `path`, on the system clock.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, QueueError> {
        Self::open_with_clock(path, Arc::new(SystemClock))
    }

    /// Opens the queue database, timing visibility by `clock`.
    pub fn open_with_clock(
        path: impl AsRef<Path>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, QueueError> {
        let db = Db::open(path.as_ref()).map_err(unavailable)?;
        db.call_now(|conn| conn.execute_batch(SCHEMA))
            .map_err(unavailable)?;
        Ok(Self {
            db,
            clock,
            wakers: Arc::default(),
        })
    }

    /// The queue called `name` (1–80 characters `A-Z a-z 0-9 - _`, as SQS allows).
    pub fn queue(&self, name: &str, options: QueueOptions) -> Result<SqliteQueue, QueueError> {
        let valid_name = (1..=80).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_name {
            return Err(QueueError::Invalid(format!(
                "a queue name has 1 to 80 characters A-Z, a-z, 0-9, '-' or '_', not {name:?}"
            )));
        }
        if options.max_receives == 0 {
            return Err(QueueError::Invalid(
                "max_receives must be at least 1".into(),
            ));
        }
        let wake = Arc::clone(
            self.wakers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(name.to_owned())
                .or_default(),
        );
        Ok(SqliteQueue {
            db: self.clone(),
            name: name.into(),
            options,
            wake,
        })
    }
}

/// A named queue of the embedded backend, with its dead-letter queue.
#[derive(Clone)]
pub struct SqliteQueue {
    db: SqliteQueueDb,
    name: Arc<str>,
    options: QueueOptions,
    /// Wakes long-polling receivers of this queue in this process when a message is sent.
    wake: Arc<Notify>,
}

impl std::fmt::Debug for SqliteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteQueue")
            .field("name", &self.name)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Checks a body the way SQS does: 1 byte to 256 KiB, only the characters SQS accepts
/// (tab, newline, carriage return, U+0020–U+D7FF, U+E000–U+FFFD, U+10000–U+10FFFF).
fn validate_body(body: &str) -> Result<(), QueueError> {
    if body.is_empty() {
        return Err(QueueError::Invalid("a message body is not empty".into()));
    }
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(QueueError::Invalid(format!(
            "a message body has at most {MAX_MESSAGE_BYTES} bytes, not {}",
            body.len()
        )));
    }
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
            || c >= '\u{10000}'
    };
    if let Some(bad) = body.chars().find(|&c| !allowed(c)) {
        return Err(QueueError::Invalid(format!(
            "a message body cannot hold the character U+{:04X}",
            u32::from(bad)
        )));
    }
    Ok(())
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn check_max(max: usize) -> Result<(), QueueError> {
    if (1..=MAX_BATCH).contains(&max) {
        Ok(())
    } else {
        Err(QueueError::Invalid(format!(
            "a receive takes 1 to {MAX_BATCH} messages, not {max}"
        )))
    }
}

fn check_visibility(duration: Duration, what: &str) -> Result<(), QueueError> {
    if duration <= MAX_VISIBILITY {
        Ok(())
    } else {
        Err(QueueError::Invalid(format!(
            "a {what} is at most 12 h, not {} s",
            duration.as_secs()
        )))
    }
}

/// What one receive transaction found.
struct Delivery {
    messages: Vec<ReceivedMessage>,
    /// When the next hidden message of the queue becomes visible (Unix ms), if any.
    next_visible_at: Option<i64>,
}

/// Delivers up to `max` visible messages of `queue` (live or dead side), dead-lettering
/// exhausted ones on the way, all in one transaction.
fn deliver(
    tx: &Connection,
    queue: &str,
    dead: bool,
    max: usize,
    visibility_ms: i64,
    max_receives: Option<u32>,
    now: i64,
) -> Result<Delivery, QueueError> {
    let mut messages = Vec::new();
    loop {
        let wanted = max - messages.len();
        let candidates: Vec<(i64, String, String, u32)> = {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT seq, id, body, receive_count FROM messages
                     WHERE queue = ?1 AND dead = ?2 AND visible_at <= ?3
                     ORDER BY seq LIMIT ?4",
                )
                .map_err(unavailable)?;
            stmt.query_map(params![queue, dead, now, wanted as i64], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .and_then(Iterator::collect)
            .map_err(unavailable)?
        };
        if candidates.is_empty() {
            break;
        }
        for (seq, id, body, receive_count) in candidates {
            if max_receives.is_some_and(|limit| receive_count >= limit) {
                // Exhausted: move to the dead-letter side, visible there at once, keeping its
                // id, body and count (SQS keeps them too).
                tx.execute(
                    "UPDATE messages SET dead = 1, receipt = NULL, visible_at = ?2 WHERE seq = ?1",
                    params![seq, now],
                )
                .map_err(unavailable)?;
                continue;
            }
            let receipt = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
            let receive_count = receive_count + 1;
            tx.execute(
                "UPDATE messages SET receipt = ?2, receive_count = ?3, visible_at = ?4 WHERE seq = ?1",
                params![seq, receipt, receive_count, now.saturating_add(visibility_ms)],
            )
            .map_err(unavailable)?;
            messages.push(ReceivedMessage {
                id,
                body,
                receipt,
                receive_count,
            });
        }
        if messages.len() >= max {
            break;
        }
    }
    let next_visible_at: Option<i64> = tx
        .query_row(
            "SELECT min(visible_at) FROM messages WHERE queue = ?1 AND dead = 0",
            params![queue],
            |row| row.get(0),
        )
        .map_err(unavailable)?;
    Ok(Delivery {
        messages,
        next_visible_at,
    })
}

impl SqliteQueue {
    /// Opens the queue `name` in the database file at `path` (a database of its own; use
    /// [`SqliteQueueDb::queue`] to share one connection between queues).
    pub fn open(
        path: impl AsRef<Path>,
        name: &str,
        options: QueueOptions,
    ) -> Result<Self, QueueError> {
        SqliteQueueDb::open(path)?.queue(name, options)
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Messages visible now and messages in flight (received, not yet acked or visible
    /// again), like SQS's `ApproximateNumberOfMessages` and `…NotVisible`; dead letters excluded.
    pub async fn approximate_counts(&self) -> Result<(u64, u64), QueueError> {
        let name = Arc::clone(&self.name);
        let now = self.now();
        self.db
            .db
            .call(unavailable, move |conn| {
                conn.query_row(
                    "SELECT COALESCE(SUM(visible_at <= ?2), 0), COALESCE(SUM(visible_at > ?2), 0) \
                     FROM messages WHERE queue = ?1 AND dead = 0",
                    params![&*name, now],
                    |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64)),
                )
                .map_err(unavailable)
            })
            .await
    }

    fn now(&self) -> i64 {
        self.db.clock.now().timestamp_millis()
    }

    /// Stores new messages, on the live side or (`dead`) straight on the dead-letter side.
    async fn insert(&self, bodies: Vec<String>, dead: bool) -> Result<Vec<String>, QueueError> {
        let name = Arc::clone(&self.name);
        let now = self.now();
        let ids = self
            .db
            .db
            .write(unavailable, move |tx| {
                let mut ids = Vec::with_capacity(bodies.len());
                for body in bodies {
                    let id = Uuid::new_v4().to_string();
                    tx.execute(
                        "INSERT INTO messages (queue, dead, id, body, sent_at, visible_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                        params![&*name, dead, id, body, now],
                    )
                    .map_err(unavailable)?;
                    ids.push(id);
                }
                Ok(ids)
            })
            .await?;
        self.wake.notify_waiters();
        Ok(ids)
    }

    async fn deliver(
        &self,
        dead: bool,
        max: usize,
        visibility: Duration,
    ) -> Result<Delivery, QueueError> {
        let name = Arc::clone(&self.name);
        let now = self.now();
        let max_receives = (!dead).then_some(self.options.max_receives);
        let visibility_ms = millis(visibility);
        self.db
            .db
            .write(unavailable, move |conn| {
                deliver(conn, &name, dead, max, visibility_ms, max_receives, now)
            })
            .await
    }
}

impl Queue for SqliteQueue {
    async fn send(&self, body: &str) -> Result<String, QueueError> {
        validate_body(body)?;
        let mut ids = self.insert(vec![body.to_owned()], false).await?;
        ids.pop()
            .ok_or_else(|| QueueError::Invalid("no message was stored".into()))
    }

    async fn send_batch(&self, bodies: &[String]) -> Result<Vec<String>, QueueError> {
        if bodies.is_empty() || bodies.len() > MAX_BATCH {
            return Err(QueueError::Invalid(format!(
                "a batch has 1 to {MAX_BATCH} messages, not {}",
                bodies.len()
            )));
        }
        for (index, body) in bodies.iter().enumerate() {
            validate_body(body)
                .map_err(|e| QueueError::Invalid(format!("message {index}: {e}")))?;
        }
        self.insert(bodies.to_vec(), false).await
    }

    async fn dead_letter(&self, body: &str, reason: &str) -> Result<String, QueueError> {
        validate_body(body)?;
        let mut ids = self.insert(vec![body.to_owned()], true).await?;
        let id = ids
            .pop()
            .ok_or_else(|| QueueError::Invalid("no message was stored".into()))?;
        // The local queue keeps no attributes: the reason goes to the log with the id.
        tracing::warn!(queue = %self.name, message_id = %id, reason, "message dead-lettered");
        Ok(id)
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        check_max(max)?;
        check_visibility(visibility, "visibility timeout")?;
        let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
        loop {
            // Register for a wake-up before looking, so a send between the look and the
            // wait is not missed.
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();

            let delivery = self.deliver(false, max, visibility).await?;
            let now = tokio::time::Instant::now();
            if !delivery.messages.is_empty() || now >= deadline {
                return Ok(delivery.messages);
            }
            let mut until = deadline.min(now + POLL_INTERVAL);
            if let Some(at) = delivery.next_visible_at {
                let in_ms = u64::try_from(at.saturating_sub(self.now())).unwrap_or(0);
                until = until.min(now + Duration::from_millis(in_ms));
            }
            tokio::select! {
                () = &mut woken => {}
                () = tokio::time::sleep_until(until) => {}
            }
        }
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        let name = Arc::clone(&self.name);
        let receipt = receipt.to_owned();
        let deleted = self
            .db
            .db
            .write(unavailable, move |conn| {
                // The current receipt acks even after its visibility ran out, as long as no
                // newer delivery replaced it (as on SQS); superseded receipts are stale.
                conn.execute(
                    "DELETE FROM messages WHERE queue = ?1 AND dead = 0 AND receipt = ?2",
                    params![&*name, receipt],
                )
                .map_err(unavailable)
            })
            .await?;
        if deleted == 0 {
            return Err(QueueError::StaleReceipt);
        }
        Ok(())
    }

    async fn retry(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        check_visibility(delay, "retry delay")?;
        let name = Arc::clone(&self.name);
        let receipt = receipt.to_owned();
        let now = self.now();
        let visible_at = now.saturating_add(millis(delay));
        let changed = self
            .db
            .db
            .write(unavailable, move |conn| {
                // Only a message still in flight can be given back (SQS: MessageNotInflight).
                conn.execute(
                    "UPDATE messages SET visible_at = ?3
                     WHERE queue = ?1 AND dead = 0 AND receipt = ?2 AND visible_at > ?4",
                    params![&*name, receipt, visible_at, now],
                )
                .map_err(unavailable)
            })
            .await?;
        if changed == 0 {
            return Err(QueueError::StaleReceipt);
        }
        self.wake.notify_waiters();
        Ok(())
    }

    async fn receive_dead_letters(&self, max: usize) -> Result<Vec<ReceivedMessage>, QueueError> {
        check_max(max)?;
        let visibility = self.options.dead_letter_visibility;
        Ok(self.deliver(true, max, visibility).await?.messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(dir: &tempfile::TempDir, name: &str, max_receives: u32) -> SqliteQueue {
        SqliteQueue::open(
            dir.path().join("queue.db"),
            name,
            QueueOptions {
                max_receives,
                ..QueueOptions::default()
            },
        )
        .expect("open")
    }

    /// Receives the one message `q` holds, hidden for `visibility`.
    async fn receive_one(q: &SqliteQueue, visibility: Duration, what: &str) -> ReceivedMessage {
        q.receive(1, visibility, Duration::ZERO)
            .await
            .expect("receive")
            .pop()
            .expect(what)
    }

    #[tokio::test]
    async fn approximate_counts_track_visible_and_in_flight_messages() {
        let dir = tempfile::tempdir().expect("tempdir");
        let q = queue(&dir, "counts", 5);
        let other = queue(&dir, "other", 5);
        assert_eq!(q.approximate_counts().await.expect("counts"), (0, 0));
        q.send_batch(&["a".into(), "b".into(), "c".into()])
            .await
            .expect("send");
        other.send("elsewhere").await.expect("send");
        assert_eq!(q.approximate_counts().await.expect("counts"), (3, 0));
        let got = q
            .receive(2, Duration::from_secs(60), Duration::ZERO)
            .await
            .expect("receive");
        assert_eq!(q.approximate_counts().await.expect("counts"), (1, 2));
        q.ack(&got[0].receipt).await.expect("ack");
        assert_eq!(q.approximate_counts().await.expect("counts"), (1, 1));
    }

    #[test]
    fn bodies_follow_the_sqs_character_rules() {
        assert!(
            validate_body("tab\tnewline\ncr\r \u{d7ff}\u{e000}\u{fffd}\u{10000}\u{10ffff}").is_ok()
        );
        for bad in [
            "nul\u{0}",
            "bell\u{7}",
            "escape\u{1b}",
            "\u{fffe}",
            "\u{ffff}",
        ] {
            assert!(
                matches!(validate_body(bad), Err(QueueError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn queue_names_follow_the_sqs_rules() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = SqliteQueueDb::open(dir.path().join("queue.db")).expect("open");
        for good in ["scoring", "a", "A-b_9", &"q".repeat(80)] {
            assert!(db.queue(good, QueueOptions::default()).is_ok(), "{good}");
        }
        for bad in ["", "has space", "dot.name", "slash/", &"q".repeat(81)] {
            assert!(db.queue(bad, QueueOptions::default()).is_err(), "{bad}");
        }
        let zero = QueueOptions {
            max_receives: 0,
            ..QueueOptions::default()
        };
        assert!(db.queue("scoring", zero).is_err());
    }

    #[tokio::test]
    async fn queues_sharing_a_file_are_separate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let scoring = queue(&dir, "scoring", 5);
        let export = queue(&dir, "export", 5);
        scoring.send("for scoring").await.expect("send");
        export.send("for export").await.expect("send");
        let got = scoring
            .receive(10, Duration::from_secs(30), Duration::ZERO)
            .await
            .expect("receive");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body, "for scoring");
        // A receipt of one queue means nothing to another.
        assert!(matches!(
            export.ack(&got[0].receipt).await,
            Err(QueueError::StaleReceipt)
        ));
        scoring.ack(&got[0].receipt).await.expect("ack");
        let got = export
            .receive(10, Duration::from_secs(30), Duration::ZERO)
            .await
            .expect("receive");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body, "for export");
    }

    #[tokio::test]
    async fn superseded_receipt_is_stale_and_does_not_delete() {
        let dir = tempfile::tempdir().expect("tempdir");
        let q = queue(&dir, "q", 5);
        q.send("m").await.expect("send");
        let first = receive_one(&q, Duration::from_secs(30), "message").await;
        q.retry(&first.receipt, Duration::ZERO)
            .await
            .expect("retry");
        let second = receive_one(&q, Duration::from_secs(30), "message").await;
        assert!(matches!(
            q.ack(&first.receipt).await,
            Err(QueueError::StaleReceipt)
        ));
        q.ack(&second.receipt).await.expect("current receipt");
    }

    #[tokio::test]
    async fn a_receipt_acks_after_its_visibility_until_redelivery() {
        let dir = tempfile::tempdir().expect("tempdir");
        let q = queue(&dir, "q", 5);
        q.send("slow handler").await.expect("send");
        let m = receive_one(&q, Duration::ZERO, "message").await;
        // Visible again, not yet redelivered: the late ack still removes it, but it can no
        // longer be handed back (it is not in flight).
        assert!(matches!(
            q.retry(&m.receipt, Duration::ZERO).await,
            Err(QueueError::StaleReceipt)
        ));
        q.ack(&m.receipt).await.expect("late ack");
        let again = q
            .receive(1, Duration::from_secs(30), Duration::ZERO)
            .await
            .expect("receive");
        assert!(again.is_empty());
    }

    #[tokio::test]
    async fn in_flight_messages_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let id = {
            let q = queue(&dir, "q", 5);
            q.send("durable").await.expect("send");
            let m = receive_one(&q, Duration::ZERO, "message").await;
            m.id
        };
        let q = queue(&dir, "q", 5);
        let m = receive_one(&q, Duration::from_secs(30), "redelivered after reopening").await;
        assert_eq!((m.id, m.receive_count), (id, 2));
    }

    #[tokio::test]
    async fn dead_letters_keep_their_count_and_are_hidden_once_received() {
        let dir = tempfile::tempdir().expect("tempdir");
        let q = queue(&dir, "q", 1);
        let id = q.send("poison").await.expect("send");
        let first = q
            .receive(1, Duration::ZERO, Duration::ZERO)
            .await
            .expect("receive");
        assert_eq!(first.len(), 1);
        // The second receive moves it instead of delivering it.
        assert!(
            q.receive(1, Duration::ZERO, Duration::ZERO)
                .await
                .expect("receive")
                .is_empty()
        );
        let dead = q.receive_dead_letters(10).await.expect("dead letters");
        assert_eq!(dead.len(), 1);
        assert_eq!(
            (dead[0].id.as_str(), dead[0].receive_count),
            (id.as_str(), 2)
        );
        assert!(q.receive_dead_letters(10).await.expect("again").is_empty());
        // A dead-letter receipt does not ack on the live queue.
        assert!(matches!(
            q.ack(&dead[0].receipt).await,
            Err(QueueError::StaleReceipt)
        ));
    }

    #[tokio::test]
    async fn limits_are_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let q = queue(&dir, "q", 5);
        let long = Duration::from_secs(12 * 60 * 60 + 1);
        assert!(matches!(
            q.receive(1, long, Duration::ZERO).await,
            Err(QueueError::Invalid(_))
        ));
        assert!(matches!(
            q.send_batch(&[]).await,
            Err(QueueError::Invalid(_))
        ));
        q.send("m").await.expect("send");
        let m = receive_one(&q, Duration::from_secs(30), "message").await;
        assert!(matches!(
            q.retry(&m.receipt, long).await,
            Err(QueueError::Invalid(_))
        ));
    }
}
