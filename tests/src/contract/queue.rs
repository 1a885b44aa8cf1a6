//! Contract of [`Queue`]: SQS standard-queue semantics every adapter must honour.
//!
//! Delivery order is not part of the contract (SQS standard queues do not keep it), so
//! cases compare bodies as sets. Visibility timeouts are 1–2 s to keep the suite fast, and
//! every "eventually" waits with a deadline rather than asserting on elapsed time.

use super::eventually;
use ravis::ports::queue::{MAX_BATCH, MAX_MESSAGE_BYTES};
use ravis::ports::{Queue, QueueError, ReceivedMessage};
use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::time::Duration;

/// Makes fresh, empty, isolated queues (own queue and dead-letter queue per call).
pub trait QueueFixture: Send + Sync {
    /// The adapter under test.
    type Queue: Queue;
    /// A new empty queue whose messages move to its dead-letter queue after `max_receives` deliveries.
    fn fresh(&self, max_receives: u32) -> impl Future<Output = Self::Queue> + Send;
}

/// Generates one `#[tokio::test]` per queue case for a fixture expression.
#[macro_export]
macro_rules! queue_contract {
    ($modname:ident, $fixture:expr) => {
        $crate::contract_cases!(
            $modname,
            $fixture,
            queue,
            [
                send_receive_ack,
                acked_message_is_not_redelivered,
                invisible_while_in_flight,
                redelivered_after_visibility_timeout,
                retry_with_delay_zero_redelivers,
                retry_with_delay_hides_the_message,
                unknown_receipt_is_stale,
                retry_after_ack_is_stale,
                ack_twice_never_redelivers,
                ack_with_current_receipt_after_redelivery,
                dead_letter_after_max_receives,
                dead_letter_queue_starts_empty,
                dead_letter_at_once,
                send_batch_up_to_ten,
                send_batch_over_ten_is_invalid,
                send_batch_with_invalid_body_sends_nothing,
                oversize_body_is_invalid,
                empty_body_is_invalid,
                body_round_trips_unicode_and_json,
                receive_max_bounds,
                long_poll_returns_when_a_message_arrives,
            ]
        );
    };
}

/// The `max_receives` used where a case does not exercise dead-lettering.
const ROOMY: u32 = 5;
const SHORT: Duration = Duration::from_secs(1);
const LONG: Duration = Duration::from_secs(60);
const NO_WAIT: Duration = Duration::ZERO;

/// Receives until one message arrives (within the contract's patience).
async fn receive_one<Q: Queue>(q: &Q, visibility: Duration) -> ReceivedMessage {
    eventually("a message to be delivered", || async {
        let mut got = q.receive(1, visibility, SHORT).await.expect("receive");
        assert!(got.len() <= 1, "receive(1) returned {} messages", got.len());
        got.pop()
    })
    .await
}

/// Receives with the given visibility until `n` messages have arrived.
async fn receive_n<Q: Queue>(q: &Q, n: usize, visibility: Duration) -> Vec<ReceivedMessage> {
    let deadline = tokio::time::Instant::now() + super::PATIENCE;
    let mut all = Vec::new();
    while all.len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting: {} of {n} messages delivered",
            all.len()
        );
        all.extend(
            q.receive(MAX_BATCH, visibility, SHORT)
                .await
                .expect("receive"),
        );
    }
    all
}

/// Asserts nothing is delivered during a one-second long poll.
async fn assert_nothing_delivered<Q: Queue>(q: &Q, why: &str) {
    let got = q.receive(MAX_BATCH, LONG, SHORT).await.expect("receive");
    assert!(got.is_empty(), "{why}: got {got:?}");
}

fn bodies(messages: &[ReceivedMessage]) -> BTreeSet<String> {
    messages.iter().map(|m| m.body.clone()).collect()
}

/// A sent message is delivered once with its id, body and count 1; ack succeeds.
pub async fn send_receive_ack<F: QueueFixture>(fx: &F) {
    let q = fx.fresh(ROOMY).await;
    let id = q.send("{\"screening\":\"s-1\"}").await.expect("send");
    assert!(!id.is_empty());
    let m = receive_one(&q, LONG).await;
    assert_eq!(m.id, id);
    assert_eq!(m.body, "{\"screening\":\"s-1\"}");
    assert_eq!(m.receive_count, 1);
    assert!(!m.receipt.is_empty());
    q.ack(&m.receipt).await.expect("ack");
}

/// An acknowledged message does not come back after its visibility timeout.
pub async fn acked_message_is_not_redelivered<F: QueueFixture>(fx: &F) {
    let q = fx.fresh(ROOMY).await;
    q.send("once").await.expect("send");
    let m = receive_one(&q, SHORT).await;
    q.ack(&m.receipt).await.expect("ack");
    // Wait out the visibility timeout; an unacked message would be visible again by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_nothing_delivered(&q, "acked message redelivered").await;
}

/// A received message is hidden from other receivers while its visibility lasts.
pub async fn invisible_while_in_flight<F: QueueFixture>(fx: &F) {
    let q = fx.fresh(ROOMY).await;
    let id = q.send("hidden").await.expect("send");
    let m = receive_one(&q, LONG).await;
    assert_eq!(m.id, id);
    assert_nothing_delivered(&q, "in-flight message delivered twice").await;
    q.ack(&m.receipt).await.expect("ack");
}

/// Not acked in time, a message is delivered again: same id and body, count + 1, new receipt.
pub async fn redelivered_after_visibility_timeout<F: QueueFixture>(fx: &F) {
    let q = fx.fresh(ROOMY).await;
    let id = q.send("again").await.expect("send");
    let first = receive_one(&q, SHORT).await;
    let second = receive_one(&q, SHORT).await;
    assert_eq!(
        (second.id.as_str(), second.body.as_str()),
        (id.as_str(), "again")
    );
    assert_eq!((first.receive_count, second.receive_count), (1, 2));
    assert_ne!(first.receipt, second.receipt);
    let third = receive_one(&q, LONG).await;
    assert_eq!((third.id.as_str(), third.receive_count), (id.as_str(), 3));
    q.ack(&third.receipt).await.expect("ack");
}

/// `retry` with no delay makes the message deliverable again at once, with count + 1.
pub async fn retry_with_delay_zero_redelivers<F: QueueFixture>(fx: &F) {
    let q = fx.fresh(ROOMY).await;
    let id = q.send("retry me").await.expect("send");
    let first = receive_one(&q, LONG).await;
    q.retry(&first.receipt, Duration::ZERO)
        .await
        .expect("retry");
    // The visibility of the first delivery (60 s) is longer than the patience: only the retry
    // can explain a second delivery.
    let second = receive_one(&q, LONG).await;
    assert_eq!((second.id.as_str(), second.receive_count), (id.as_str(), 2));
    assert_ne!(first.receipt, second.receipt);
    q.ack(&second.receipt).await.expect("ack");
}

/// `retry` with a delay keeps the message hidden for that delay.
pub async fn retry_with_delay_hides_the_message<F: QueueFixture>(fx: &F) {
    let q = fx.fresh(ROOMY).await;
    q.send("later").await.expect("send");
    // A retry needs the delivery still in flight: 3 s leaves room on a slow machine.
    let first = receive_one(&q, Duration::from_secs(3)).await;
    q.retry(&first.receipt, LONG).await.expect("retry");
    // After this wait the first delivery's visibility has passed; the retry's delay has not.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_nothing_delivered(&q, "delayed retry delivered early").await;
}

/// A receipt that was never issued is stale for ack and retry.
pub async fn unknown_receipt_is_stale<F: QueueFixture>(fx: &F) {
    let q = fx.fresh(ROOMY).await;
    q.send("bystander").await.expect("send");
    let m = receive_one(&q, LONG).await;
    let forged = "not-a-receipt-this-queue-issued";
    assert!(matches!(q.ack(forged).await, Err(QueueError::StaleReceipt)));
    assert!(matches!(
        q.retry(forged, Duration::ZERO).await,
        Err(QueueError::StaleReceipt)
    ));
    q.ack(&m.receipt)
        .await
        .expect("the real receipt still works");
}

/// After an ack the receipt can no longer give the message back.
pub async fn retry_after_ack_is_stale<F: QueueFixture>(fx: &F) {
    let q = fx.fresh(ROOMY).await;
    q.send("done").await.expect("send");
    let m = receive_one(&q, LONG).await;
    q.ack(&m.receipt).await.expect("ack");
    let err = q
        .retry(&m.receipt, Duration::ZERO)
        .await
        .expect_err("retry after ack");
    assert!(matches!(err, QueueError::StaleReceipt), "{err:?}");
    assert_nothing_delivered(&q, "retry after ack resurrected the message").await;
}

/// A second ack of the same receipt is harmless: it succeeds or reports the receipt stale
/// (SQS deletes idempotently), and the message stays gone.
pub async fn ack_twice_never_redelivers<F: QueueFixture>(fx: &F) {
    let q = fx.fresh(ROOMY).await;
    q.send("twice").await.expect("send");
    let m = receive_one(&q, SHORT).await;
    q.ack(&m.receipt).await.expect("first ack");
    match q.ack(&m.receipt).await {
        Ok(()) | Err(QueueError::StaleReceipt) => {}
        Err(other) => panic!("second ack: {other:?}"),
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_nothing_delivered(&q, "message came back after ack").await;
}

/// After redelivery the newest receipt acks the message. The superseded receipt is stale
/// (SQS may instead accept it silently), and it never brings the message back.
pub async fn ack_with_current_receipt_after_redelivery<F: QueueFixture>(fx: &F) {
    let q = fx.fresh(ROOMY).await;
    q.send("superseded").await.expect("send");
    let first = receive_one(&q, SHORT).await;
    let second = receive_one(&q, SHORT).await;
    assert_eq!(second.receive_count, 2);
    match q.ack(&first.receipt).await {
        Ok(()) | Err(QueueError::StaleReceipt) => {}
        Err(other) => panic!("ack with superseded receipt: {other:?}"),
    }
    q.ack(&second.receipt)
        .await
        .expect("ack with current receipt");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_nothing_delivered(&q, "message came back after ack").await;
}

/// After `max_receives` deliveries the next receive moves the message to the dead-letter
/// queue, where it is found with its id and body.
pub async fn dead_letter_after_max_receives<F: QueueFixture>(fx: &F) {
    let q = fx.fresh(2).await;
    let id = q.send("{\"poison\":true}").await.expect("send");
    let first = receive_one(&q, SHORT).await;
    let second = receive_one(&q, SHORT).await;
    assert_eq!((first.receive_count, second.receive_count), (1, 2));
    let dead = eventually("the message to reach the dead-letter queue", || async {
        // Receiving from the main queue is what moves an exhausted message (as in SQS);
        // it must never deliver it a third time.
        for m in q.receive(MAX_BATCH, SHORT, SHORT).await.expect("receive") {
            assert_ne!(m.id, id, "delivered beyond max_receives: {m:?}");
        }
        let mut dead = q
            .receive_dead_letters(MAX_BATCH)
            .await
            .expect("dead letters");
        dead.pop()
    })
    .await;
    assert_eq!(dead.id, id);
    assert_eq!(dead.body, "{\"poison\":true}");
    assert!(!dead.receipt.is_empty());
    assert_nothing_delivered(&q, "dead-lettered message still in the main queue").await;
}

/// `dead_letter` puts a message straight on the dead-letter queue: never delivered from
/// the live queue, found among the dead letters with its body.
pub async fn dead_letter_at_once<F: QueueFixture>(fx: &F) {
    let q = fx.fresh(ROOMY).await;
    let id = q
        .dead_letter(
            "not a message of this queue",
            "not an S3 event notification",
        )
        .await
        .expect("dead_letter");
    assert!(!id.is_empty());
    assert_nothing_delivered(&q, "a dead letter was delivered from the live queue").await;
    let dead = eventually("the dead letter to be receivable", || async {
        q.receive_dead_letters(MAX_BATCH)
            .await
            .expect("dead letters")
            .pop()
    })
    .await;
    assert_eq!(dead.body, "not a message of this queue");
    let err = q.dead_letter("", "empty").await.expect_err("empty body");
    assert!(matches!(err, QueueError::Invalid(_)), "{err:?}");
}

/// A new queue has no dead letters; bounds on `max` hold there too.
pub async fn dead_letter_queue_starts_empty<F: QueueFixture>(fx: &F) {
    let q = fx.fresh(ROOMY).await;
    assert!(
        q.receive_dead_letters(MAX_BATCH)
            .await
            .expect("dead letters")
            .is_empty()
    );
    for max in [0, MAX_BATCH + 1] {
        let err = q
            .receive_dead_letters(max)
            .await
            .expect_err("max out of range");
        assert!(matches!(err, QueueError::Invalid(_)), "{max}: {err:?}");
    }
}

/// A batch of up to ten is sent whole: distinct ids, every body delivered once.
pub async fn send_batch_up_to_ten<F: QueueFixture>(fx: &F) {
    let q = fx.fresh(ROOMY).await;
    let batch: Vec<String> = (0..MAX_BATCH).map(|i| format!("{{\"n\":{i}}}")).collect();
    let ids = q.send_batch(&batch).await.expect("send_batch");
    assert_eq!(ids.len(), MAX_BATCH);
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        MAX_BATCH,
        "ids not distinct"
    );
    let got = receive_n(&q, MAX_BATCH, LONG).await;
    assert_eq!(got.len(), MAX_BATCH, "a message was delivered twice");
    assert_eq!(bodies(&got), batch.iter().cloned().collect());
    let got_ids: HashSet<&String> = got.iter().map(|m| &m.id).collect();
    assert_eq!(got_ids, ids.iter().collect());
    let one = q
        .send_batch(&["single".to_owned()])
        .await
        .expect("batch of one");
    assert_eq!(one.len(), 1);
}

/// Eleven messages in one batch are refused with `Invalid`; none is sent.
pub async fn send_batch_over_ten_is_invalid<F: QueueFixture>(fx: &F) {
    let q = fx.fresh(ROOMY).await;
    let batch: Vec<String> = (0..=MAX_BATCH).map(|i| format!("m{i}")).collect();
    let err = q.send_batch(&batch).await.expect_err("11 messages");
    assert!(matches!(err, QueueError::Invalid(_)), "{err:?}");
    assert_nothing_delivered(&q, "a refused batch sent something").await;
}

/// A batch holding one unacceptable body is refused whole.
pub async fn send_batch_with_invalid_body_sends_nothing<F: QueueFixture>(fx: &F) {
    let q = fx.fresh(ROOMY).await;
    let too_big = "x".repeat(MAX_MESSAGE_BYTES + 1);
    for bad in [String::new(), too_big] {
        let batch = vec!["fine".to_owned(), bad, "also fine".to_owned()];
        let err = q.send_batch(&batch).await.expect_err("bad body in batch");
        assert!(matches!(err, QueueError::Invalid(_)), "{err:?}");
    }
    assert_nothing_delivered(&q, "a refused batch sent something").await;
}

/// A body over 256 KiB is refused with `Invalid`; exactly 256 KiB is delivered intact.
pub async fn oversize_body_is_invalid<F: QueueFixture>(fx: &F) {
    let q = fx.fresh(ROOMY).await;
    let err = q
        .send(&"x".repeat(MAX_MESSAGE_BYTES + 1))
        .await
        .expect_err("oversize");
    assert!(matches!(err, QueueError::Invalid(_)), "{err:?}");
    // Multi-byte characters count by bytes, not characters.
    let err = q
        .send(&"\u{e9}".repeat(MAX_MESSAGE_BYTES / 2 + 1))
        .await
        .expect_err("oversize in bytes");
    assert!(matches!(err, QueueError::Invalid(_)), "{err:?}");
    let largest = "y".repeat(MAX_MESSAGE_BYTES);
    q.send(&largest).await.expect("largest body");
    let m = receive_one(&q, LONG).await;
    assert!(m.body == largest, "largest body changed in transit");
}

/// An empty body is refused with `Invalid`.
pub async fn empty_body_is_invalid<F: QueueFixture>(fx: &F) {
    let q = fx.fresh(ROOMY).await;
    let err = q.send("").await.expect_err("empty body");
    assert!(matches!(err, QueueError::Invalid(_)), "{err:?}");
}

/// Bodies with unicode, quotes, markup and whitespace arrive byte for byte.
pub async fn body_round_trips_unicode_and_json<F: QueueFixture>(fx: &F) {
    let q = fx.fresh(ROOMY).await;
    let sent: Vec<String> = vec![
        "{\"name\":\"\u{100}da\u{17e}u novads \u{137}\u{113}\u{137}is\",\"emoji\":\"\u{1f642}\"}"
            .into(),
        "<xml attr=\"1\">&amp; 'quotes'</xml>".into(),
        "  leading and trailing spaces\r\n\tand tabs  ".into(),
        "{\"Records\":[{\"s3\":{\"object\":{\"key\":\"inbox/a+b%20c.csv\"}}}]}".into(),
    ];
    for body in &sent {
        q.send(body).await.expect("send");
    }
    let got = receive_n(&q, sent.len(), LONG).await;
    assert_eq!(bodies(&got), sent.into_iter().collect());
}

/// `max` outside 1..=10 is refused with `Invalid`; a receive never returns more than `max`.
pub async fn receive_max_bounds<F: QueueFixture>(fx: &F) {
    let q = fx.fresh(ROOMY).await;
    for max in [0, MAX_BATCH + 1] {
        let err = q
            .receive(max, LONG, NO_WAIT)
            .await
            .expect_err("max out of range");
        assert!(matches!(err, QueueError::Invalid(_)), "{max}: {err:?}");
    }
    let batch: Vec<String> = (0..MAX_BATCH).map(|i| format!("b{i}")).collect();
    q.send_batch(&batch).await.expect("send_batch");
    q.send_batch(&batch).await.expect("send_batch");
    let mut seen = 0;
    for max in [1, 3, MAX_BATCH] {
        let got = eventually("some messages", || async {
            let got = q.receive(max, LONG, SHORT).await.expect("receive");
            (!got.is_empty()).then_some(got)
        })
        .await;
        assert!(got.len() <= max, "receive({max}) returned {}", got.len());
        seen += got.len();
    }
    let rest = receive_n(&q, 2 * MAX_BATCH - seen, LONG).await;
    assert_eq!(
        seen + rest.len(),
        2 * MAX_BATCH,
        "a message was delivered twice"
    );
}

/// A long poll on an empty queue returns the message sent while it waits.
pub async fn long_poll_returns_when_a_message_arrives<F: QueueFixture>(fx: &F) {
    let q = fx.fresh(ROOMY).await;
    let sender = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        q.send("woken").await.expect("send")
    };
    // One call with a long wait: without long polling it would return empty at once.
    let receiver = q.receive(1, LONG, Duration::from_secs(20));
    let (id, got) = tokio::join!(sender, receiver);
    let got = got.expect("receive");
    assert_eq!(got.len(), 1, "the long poll returned without the message");
    assert_eq!(
        (got[0].id.as_str(), got[0].body.as_str()),
        (id.as_str(), "woken")
    );
}
