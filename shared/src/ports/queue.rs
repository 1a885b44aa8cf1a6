//! Queue port: at-least-once message delivery with SQS semantics.
//!
//! A received message is hidden for its visibility timeout; if it is not acknowledged
//! in time it is delivered again. After `max_receives` deliveries without an ack the
//! next receive moves it to the dead-letter queue instead. Handlers must be idempotent.

use std::future::Future;
use std::time::Duration;

/// A delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// Stable message id (the same on every delivery).
    pub id: String,
    /// The body as sent.
    pub body: String,
    /// Handle for ack/retry of this delivery (changes per delivery).
    pub receipt: String,
    /// How many times this message has been delivered, this delivery included (1-based).
    pub receive_count: u32,
}

/// What went wrong in the queue.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The message is not acceptable (empty, over 256 KiB, too many in a batch).
    #[error("invalid message: {0}")]
    Invalid(String),
    /// The receipt does not belong to a current delivery (acked, expired, or unknown).
    #[error("receipt is no longer valid")]
    StaleReceipt,
    /// The queue could not be reached or failed; the operation may be retried.
    #[error("queue unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The largest message body (SQS: 256 KiB).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// The most messages in one send or receive batch (SQS: 10).
pub const MAX_BATCH: usize = 10;

/// Name of the message attribute that carries a dead letter's reason
/// ([`Queue::dead_letter`]).
pub const DEAD_LETTER_REASON: &str = "ravis-dead-letter-reason";

/// One queue (with its dead-letter queue configured by the adapter).
pub trait Queue: Send + Sync + 'static {
    /// Sends one message and returns its id.
    fn send(&self, body: &str) -> impl Future<Output = Result<String, QueueError>> + Send;

    /// Sends up to [`MAX_BATCH`] messages; all are accepted or an error is returned.
    fn send_batch(
        &self,
        bodies: &[String],
    ) -> impl Future<Output = Result<Vec<String>, QueueError>> + Send;

    /// Receives up to `max` (1..=10) visible messages, hiding each for `visibility`.
    /// Waits up to `wait` for at least one message (long polling); may return none.
    fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<ReceivedMessage>, QueueError>> + Send;

    /// Acknowledges (deletes) a delivered message.
    fn ack(&self, receipt: &str) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Gives a delivered message back to be delivered again after `delay` (back-off).
    fn retry(
        &self,
        receipt: &str,
        delay: Duration,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Puts a message straight onto the dead-letter queue: one that no delivery can ever
    /// handle (not a message of this queue at all), so retrying it only delays the alarm.
    /// `reason` says why, for the operator (SQS: the message attribute
    /// [`DEAD_LETTER_REASON`]); returns the dead letter's id.
    fn dead_letter(
        &self,
        body: &str,
        reason: &str,
    ) -> impl Future<Output = Result<String, QueueError>> + Send;

    /// Receives from the dead-letter queue (for inspection and redrive by operators).
    fn receive_dead_letters(
        &self,
        max: usize,
    ) -> impl Future<Output = Result<Vec<ReceivedMessage>, QueueError>> + Send;
}

/// Back-off before redelivering a failed message: 2^(n-1) seconds, capped at 15 minutes
/// (the SQS visibility maximum for a change is 12 h; 15 min keeps retries timely).
pub fn backoff(receive_count: u32) -> Duration {
    let exp = receive_count.saturating_sub(1).min(10);
    Duration::from_secs((1u64 << exp).min(900))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(11), Duration::from_secs(900));
        assert_eq!(backoff(100), Duration::from_secs(900));
    }
}
