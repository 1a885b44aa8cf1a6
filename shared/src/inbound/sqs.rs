//! SQS batch plumbing written once: a Lambda SQS event is handled message by message and
//! failures are reported as `batchItemFailures` (the trigger has `ReportBatchItemFailures`),
//! so one bad message never makes the good ones run again. The local host's consumer
//! feeds the same function from the embedded queue.

use crate::ports::queue::{Queue, QueueError, backoff};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;

/// One message handed to a handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// Message id (stable across redeliveries).
    pub id: String,
    /// Body.
    pub body: String,
    /// Delivery count (1 on the first delivery).
    pub receive_count: u32,
}

/// How many messages of a batch are handled at once.
pub const BATCH_CONCURRENCY: usize = 4;

/// Handles every message of an SQS event; returns the ids of those that failed.
pub async fn handle_batch<F, Fut, E>(event: SqsEvent, handler: F) -> SqsBatchResponse
where
    F: Fn(InboundMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let handler = &handler;
    let failures: Vec<String> = futures::stream::iter(event.records)
        .map(|record| async move {
            let Some(id) = record.message_id.clone() else {
                // Without an id the failure cannot be reported; SQS always sets it.
                tracing::error!("SQS record without messageId ignored");
                return None;
            };
            let Some(body) = record.body.clone() else {
                tracing::error!(message_id = %id, "SQS record without body: reported as failed");
                return Some(id);
            };
            let receive_count = record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            let msg = InboundMessage {
                id: id.clone(),
                body,
                receive_count,
            };
            match handler(msg).await {
                Ok(()) => None,
                Err(e) => {
                    tracing::warn!(message_id = %id, receive_count, error = %e, "message failed; it will be redelivered");
                    Some(id)
                }
            }
        })
        .buffer_unordered(BATCH_CONCURRENCY)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    response
}

/// A handler of one queue's messages, shared by the Lambda trigger and the local consumer.
pub trait MessageHandler: Send + Sync + 'static {
    /// Why a message failed (it will be redelivered, then dead-lettered).
    type Error: std::fmt::Display;
    /// Handles one message body; must be idempotent (delivery is at-least-once).
    fn handle_message(&self, body: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Whether no delivery of this message can ever succeed (it is not a message of this
    /// queue at all): it then goes to the dead-letter queue at once instead of being
    /// retried until the redrive policy moves it. Transient failures must answer `false`.
    fn is_poison(_error: &Self::Error) -> bool {
        false
    }
}

/// Handles an SQS event with a [`MessageHandler`], reporting the failed messages, poison
/// ones included (they are retried until the redrive policy moves them); the Lambda
/// trigger and the local consumer use [`handle_event_with_dead_letters`] instead.
pub async fn handle_event<H: MessageHandler>(handler: &H, event: SqsEvent) -> SqsBatchResponse {
    handle_batch(
        event,
        |m| async move { handler.handle_message(&m.body).await },
    )
    .await
}

/// Why [`handle_event_with_dead_letters`] reports a message failed: its handler's error, or
/// (a poison message) the dead-letter queue's.
enum Unhandled<E> {
    Handler(E),
    NotDeadLettered { reason: String, queue: QueueError },
}

impl<E: std::fmt::Display> std::fmt::Display for Unhandled<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unhandled::Handler(e) => e.fmt(f),
            Unhandled::NotDeadLettered { reason, queue } => write!(
                f,
                "{reason}; putting it on the dead-letter queue failed too: {queue}"
            ),
        }
    }
}

/// Handles an SQS event with a [`MessageHandler`], reporting the failed messages. A poison
/// message ([`MessageHandler::is_poison`]) is logged and put on `dead_letters`' dead-letter
/// queue, and counts as handled (the trigger deletes it); if that put fails, the message
/// is reported failed, so it is redelivered rather than lost.
pub async fn handle_event_with_dead_letters<H: MessageHandler, Q: Queue>(
    handler: &H,
    dead_letters: &Q,
    event: SqsEvent,
) -> SqsBatchResponse {
    handle_batch(event, |m| async move {
        match handler.handle_message(&m.body).await {
            Err(e) if H::is_poison(&e) => {
                let reason = e.to_string();
                match dead_letters.dead_letter(&m.body, &reason).await {
                    Ok(dead_letter_id) => {
                        tracing::error!(message_id = %m.id, %dead_letter_id, error = %reason,
                            "message can never be handled; sent to the dead-letter queue");
                        Ok(())
                    }
                    Err(queue) => Err(Unhandled::NotDeadLettered { reason, queue }),
                }
            }
            other => other.map_err(Unhandled::Handler),
        }
    })
    .await
}

impl<R: crate::ports::RecordStore> MessageHandler
    for crate::services::scoring_worker::ScoringWorker<R>
{
    type Error = crate::services::scoring_worker::WorkerError;

    async fn handle_message(&self, body: &str) -> Result<(), Self::Error> {
        self.handle(body).await.map(|_| ())
    }

    fn is_poison(error: &Self::Error) -> bool {
        matches!(
            error,
            crate::services::scoring_worker::WorkerError::Malformed(_)
        )
    }
}

impl<R, H, E, S> MessageHandler for crate::services::exports::worker::ExportsWorker<R, H, E, S>
where
    R: crate::ports::RecordStore + Clone,
    H: crate::ports::HealthReceiver,
    E: crate::ports::EducationReceiver,
    S: crate::ports::JwsSigner,
{
    type Error = crate::services::exports::worker::WorkerError;

    async fn handle_message(&self, body: &str) -> Result<(), Self::Error> {
        self.handle(body).await.map(|_| ())
    }

    fn is_poison(error: &Self::Error) -> bool {
        matches!(
            error,
            crate::services::exports::worker::WorkerError::Malformed(_)
        )
    }
}

#[cfg(feature = "lake")]
impl<R, B> MessageHandler for crate::services::reports::worker::ReportWorker<R, B>
where
    R: crate::ports::RecordStore + Clone,
    B: crate::ports::BlobStore,
{
    type Error = crate::services::reports::worker::ReportError;

    async fn handle_message(&self, body: &str) -> Result<(), Self::Error> {
        self.handle(body).await.map(|_| ())
    }

    fn is_poison(error: &Self::Error) -> bool {
        matches!(
            error,
            crate::services::reports::worker::ReportError::Malformed(_)
        )
    }
}

/// Settings of a local queue consumer.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerOptions {
    /// Messages per receive (1..=10).
    pub batch_size: usize,
    /// How long a received message stays hidden while being handled.
    pub visibility: Duration,
    /// Long-poll wait per receive.
    pub wait: Duration,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        Self {
            batch_size: 10,
            visibility: Duration::from_secs(60),
            wait: Duration::from_secs(1),
        }
    }
}

/// Runs the local equivalent of an SQS → Lambda trigger until `shutdown` turns true:
/// receive a batch, build the same `SqsEvent` Lambda would get, call `handle`, ack the
/// successes, and give failures back with exponential back-off (dead-letter after the
/// queue's max receives). A crash before the ack means redelivery, never loss.
pub async fn run_consumer<Q: Queue, H: MessageHandler>(
    name: &str,
    queue: &Q,
    options: ConsumerOptions,
    mut shutdown: watch::Receiver<bool>,
    handler: &H,
) {
    tracing::info!(consumer = name, "queue consumer started");
    while !*shutdown.borrow() {
        let received = tokio::select! {
            r = queue.receive(options.batch_size, options.visibility, options.wait) => r,
            _ = shutdown.changed() => break,
        };
        let messages = match received {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(consumer = name, error = %e, "receive failed; retrying shortly");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let mut event = SqsEvent::default();
        event.records = messages
            .iter()
            .map(|m| {
                let mut r = SqsMessage::default();
                r.message_id = Some(m.id.clone());
                r.receipt_handle = Some(m.receipt.clone());
                r.body = Some(m.body.clone());
                r.event_source = Some("ravis:local-queue".into());
                r.attributes.insert(
                    "ApproximateReceiveCount".into(),
                    m.receive_count.to_string(),
                );
                r
            })
            .collect();
        let response = handle_event_with_dead_letters(handler, queue, event).await;
        // All at once: on the local queue, concurrent acks share one commit.
        futures::future::join_all(messages.iter().map(|m| async {
            let failed = response
                .batch_item_failures
                .iter()
                .any(|f| f.item_identifier == m.id);
            let result = if failed {
                queue.retry(&m.receipt, backoff(m.receive_count)).await
            } else {
                queue.ack(&m.receipt).await
            };
            if let Err(e) = result {
                // The visibility timeout will bring the message back: at-least-once holds.
                tracing::warn!(consumer = name, message_id = %m.id, error = %e, "ack/retry failed");
            }
        }))
        .await;
    }
    tracing::info!(consumer = name, "queue consumer stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(bodies: &[(&str, &str)]) -> SqsEvent {
        let mut e = SqsEvent::default();
        e.records = bodies
            .iter()
            .map(|(id, body)| {
                let mut m = SqsMessage::default();
                m.message_id = Some((*id).into());
                m.body = Some((*body).into());
                m.attributes
                    .insert("ApproximateReceiveCount".into(), "3".into());
                m
            })
            .collect();
        e
    }

    #[tokio::test]
    async fn reports_only_the_failed_messages() {
        let resp = handle_batch(
            event(&[("a", "ok"), ("b", "bad"), ("c", "ok")]),
            |m| async move {
                assert_eq!(m.receive_count, 3);
                if m.body == "ok" {
                    Ok(())
                } else {
                    Err(format!("cannot handle {}", m.id))
                }
            },
        )
        .await;
        let ids: Vec<_> = resp
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(ids, ["b"]);
        let json = serde_json::to_value(&resp).unwrap();
        assert_eq!(json["batchItemFailures"][0]["itemIdentifier"], "b");
    }

    #[tokio::test]
    async fn a_record_without_body_fails() {
        let mut e = event(&[("a", "ok")]);
        e.records[0].body = None;
        let resp = handle_batch(e, |_| async { Ok::<(), String>(()) }).await;
        assert_eq!(resp.batch_item_failures.len(), 1);
    }
}
