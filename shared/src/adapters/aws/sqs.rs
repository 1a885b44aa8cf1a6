//! SQS queue: one standard queue and its dead-letter queue behind [`Queue`].
//!
//! Limits are checked before calling SQS, as the port documents them: bodies of
//! 1..=256 KiB in the characters SQS accepts, at most 10 messages per batch. A batch
//! whose bodies add up to more than SQS's 256 KiB request limit is sent in several
//! requests. Durations are whole seconds on the wire (rounded up); long polling waits
//! at most 20 s (SQS's maximum), visibility and retry delays at most 12 h.

use super::opaque;
use crate::ports::queue::{
    DEAD_LETTER_REASON, MAX_BATCH, MAX_MESSAGE_BYTES, Queue, QueueError, ReceivedMessage,
};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityError;
use aws_sdk_sqs::operation::delete_message::DeleteMessageError;
use aws_sdk_sqs::operation::get_queue_url::GetQueueUrlError;
use aws_sdk_sqs::types::{
    Message, MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// SQS's longest long-polling wait.
const MAX_WAIT_SECS: u64 = 20;
/// SQS's longest visibility timeout (12 hours).
const MAX_VISIBILITY_SECS: u64 = 12 * 60 * 60;
/// SQS's range for `maxReceiveCount` in a redrive policy.
const MAX_RECEIVES_RANGE: std::ops::RangeInclusive<u32> = 1..=1000;

/// The [`Queue`] on one SQS queue, with its dead-letter queue if it has one.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: super::Lazy<Client>,
    url: String,
    dlq_url: Option<String>,
}

impl SqsQueue {
    /// A queue at `url`, with its dead-letter queue at `dlq_url`.
    pub fn new(
        client: impl Into<super::Lazy<Client>>,
        url: impl Into<String>,
        dlq_url: Option<String>,
    ) -> Self {
        Self {
            client: client.into(),
            url: url.into(),
            dlq_url,
        }
    }

    /// The queue URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The dead-letter queue URL, if one is configured.
    pub fn dlq_url(&self) -> Option<&str> {
        self.dlq_url.as_deref()
    }

    async fn receive_from(
        &self,
        url: &str,
        max: usize,
        visibility: Option<Duration>,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        if !(1..=MAX_BATCH).contains(&max) {
            return Err(QueueError::Invalid(format!(
                "a receive takes 1 to {MAX_BATCH} messages, not {max}"
            )));
        }
        let visibility = visibility.map(visibility_secs).transpose()?;
        let output = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(small(max as u64))
            .set_visibility_timeout(visibility)
            .wait_time_seconds(small(whole_secs(wait).min(MAX_WAIT_SECS)))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(classify)?;
        output
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(received)
            .collect()
    }

    /// One SendMessage of `body` to `url`, with the dead-letter `reason` attribute if given;
    /// the id SQS gave the message.
    async fn send_to(
        &self,
        url: &str,
        body: &str,
        reason: Option<MessageAttributeValue>,
    ) -> Result<String, QueueError> {
        let attributes = reason.map(|r| HashMap::from([(DEAD_LETTER_REASON.to_owned(), r)]));
        let output = self
            .client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .set_message_attributes(attributes)
            .send()
            .await
            .map_err(classify)?;
        output
            .message_id
            .ok_or_else(|| QueueError::Unavailable("SQS returned no message id".into()))
    }
}

impl Queue for SqsQueue {
    async fn send(&self, body: &str) -> Result<String, QueueError> {
        validate_body(body).map_err(|e| QueueError::Invalid(e.to_string()))?;
        self.send_to(&self.url, body, None).await
    }

    async fn dead_letter(&self, body: &str, reason: &str) -> Result<String, QueueError> {
        validate_body(body).map_err(|e| QueueError::Invalid(e.to_string()))?;
        let Some(dlq_url) = self.dlq_url.as_deref() else {
            return Err(QueueError::Invalid(format!(
                "queue {} has no dead-letter queue configured",
                self.url
            )));
        };
        let reason_attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason.chars().take(1024).collect::<String>())
            .build()
            .map_err(|e| QueueError::Invalid(e.to_string()))?;
        self.send_to(dlq_url, body, Some(reason_attribute)).await
    }

    async fn send_batch(&self, bodies: &[String]) -> Result<Vec<String>, QueueError> {
        if bodies.len() > MAX_BATCH {
            return Err(QueueError::Invalid(format!(
                "a batch holds at most {MAX_BATCH} messages, not {}",
                bodies.len()
            )));
        }
        for (index, body) in bodies.iter().enumerate() {
            validate_body(body)
                .map_err(|e| QueueError::Invalid(format!("message {index}: {e}")))?;
        }
        let mut ids = vec![String::new(); bodies.len()];
        let mut failures = Vec::new();
        for chunk in chunks_within_request_limit(bodies) {
            // Entry ids are the messages' indexes in the caller's batch.
            let entries = chunk
                .clone()
                .map(|index| {
                    SendMessageBatchRequestEntry::builder()
                        .id(index.to_string())
                        .message_body(&bodies[index])
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| QueueError::Invalid(format!("incomplete batch entry: {e}")))?;
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(classify)?;
            for entry in output.successful() {
                if let Some(slot) = entry
                    .id()
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| ids.get_mut(i))
                {
                    entry.message_id().clone_into(slot);
                }
            }
            failures.extend(output.failed().iter().map(|entry| EntryFailure {
                index: entry.id().parse().unwrap_or(usize::MAX),
                code: entry.code().to_owned(),
                message: entry.message().unwrap_or_default().to_owned(),
                sender_fault: entry.sender_fault(),
            }));
        }
        if failures.is_empty() {
            return Ok(ids);
        }
        let failure = BatchFailure {
            sent: bodies.len() - failures.len(),
            failures,
        };
        if failure.failures.iter().all(|f| f.sender_fault) {
            Err(QueueError::Invalid(failure.to_string()))
        } else {
            Err(QueueError::Unavailable(Box::new(failure)))
        }
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        self.receive_from(&self.url, max, Some(visibility), wait)
            .await
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        match self
            .client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), DeleteMessageError::ReceiptHandleIsInvalid(_)) =>
            {
                Err(QueueError::StaleReceipt)
            }
            Err(e) => Err(classify(e)),
        }
    }

    async fn retry(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        let delay = visibility_secs(delay)?;
        match self
            .client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(delay)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if matches!(
                    e.err(),
                    ChangeMessageVisibilityError::ReceiptHandleIsInvalid(_)
                        | ChangeMessageVisibilityError::MessageNotInflight(_)
                ) =>
            {
                Err(QueueError::StaleReceipt)
            }
            Err(e) => Err(classify(e)),
        }
    }

    async fn receive_dead_letters(&self, max: usize) -> Result<Vec<ReceivedMessage>, QueueError> {
        let Some(dlq) = &self.dlq_url else {
            return Err(QueueError::Invalid(
                "this queue has no dead-letter queue".to_owned(),
            ));
        };
        // The dead-letter queue's own visibility timeout applies; no long polling.
        self.receive_from(dlq, max, None, Duration::ZERO).await
    }
}

/// A queue's redrive policy: where and after how many receives messages go dead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedrivePolicy {
    /// ARN of the dead-letter queue.
    pub dead_letter_target_arn: String,
    /// Receives after which the next receive moves a message to the dead-letter queue.
    pub max_receive_count: u32,
}

impl RedrivePolicy {
    /// The attribute value SQS expects.
    pub fn to_attribute(&self) -> String {
        json!({
            "deadLetterTargetArn": self.dead_letter_target_arn,
            "maxReceiveCount": self.max_receive_count.to_string(),
        })
        .to_string()
    }

    /// Parses the attribute as SQS (or an emulator) returns it: any spacing, and
    /// `maxReceiveCount` as a string or a number.
    pub fn parse(attribute: &str) -> Result<Self, QueueError> {
        let bad = |why: &str| QueueError::Invalid(format!("unreadable redrive policy: {why}"));
        let value: Value = serde_json::from_str(attribute).map_err(|_| bad("not JSON"))?;
        let arn = value
            .get("deadLetterTargetArn")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no deadLetterTargetArn"))?;
        let count = match value.get("maxReceiveCount") {
            Some(Value::String(s)) => s.trim().parse::<u32>().ok(),
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            _ => None,
        }
        .ok_or_else(|| bad("no whole maxReceiveCount"))?;
        Ok(Self {
            dead_letter_target_arn: arn.to_owned(),
            max_receive_count: count,
        })
    }
}

/// Creates queue `name` and its dead-letter queue `name-dlq`, with messages going dead
/// after `max_receives` receives (for tests and local tooling; deployed queues come from
/// the infrastructure template). Idempotent; an existing queue with another redrive
/// policy is refused.
pub async fn create_queue_with_dlq(
    client: &Client,
    name: &str,
    max_receives: u32,
) -> Result<SqsQueue, QueueError> {
    if !MAX_RECEIVES_RANGE.contains(&max_receives) {
        return Err(QueueError::Invalid(format!(
            "max_receives must be 1 to 1000, not {max_receives}"
        )));
    }
    let dlq_url = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .map_err(classify)?
        .queue_url
        .ok_or_else(|| QueueError::Unavailable("SQS returned no queue URL".into()))?;
    let dlq_arn = queue_attribute(client, &dlq_url, QueueAttributeName::QueueArn)
        .await?
        .ok_or_else(|| QueueError::Unavailable("SQS returned no queue ARN".into()))?;
    let wanted = RedrivePolicy {
        dead_letter_target_arn: dlq_arn,
        max_receive_count: max_receives,
    };
    // Look before creating: SQS refuses to re-create a queue with other attributes
    // while some emulators silently overwrite them; checking first behaves the same on both.
    let url = match existing_queue_url(client, name).await? {
        Some(url) => url,
        None => client
            .create_queue()
            .queue_name(name)
            .attributes(QueueAttributeName::RedrivePolicy, wanted.to_attribute())
            .send()
            .await
            .map_err(classify)?
            .queue_url
            .ok_or_else(|| QueueError::Unavailable("SQS returned no queue URL".into()))?,
    };
    // Read back: SQS reformats the policy, so compare parsed values, not strings.
    let stored = queue_attribute(client, &url, QueueAttributeName::RedrivePolicy)
        .await?
        .map(|text| RedrivePolicy::parse(&text))
        .transpose()?;
    if stored.as_ref() != Some(&wanted) {
        return Err(QueueError::Invalid(format!(
            "queue {name} has redrive policy {stored:?}, expected {wanted:?}"
        )));
    }
    Ok(SqsQueue::new(client.clone(), url, Some(dlq_url)))
}

async fn existing_queue_url(client: &Client, name: &str) -> Result<Option<String>, QueueError> {
    match client.get_queue_url().queue_name(name).send().await {
        Ok(output) => Ok(output.queue_url),
        Err(SdkError::ServiceError(e))
            if matches!(e.err(), GetQueueUrlError::QueueDoesNotExist(_)) =>
        {
            Ok(None)
        }
        Err(e) => Err(classify(e)),
    }
}

async fn queue_attribute(
    client: &Client,
    url: &str,
    name: QueueAttributeName,
) -> Result<Option<String>, QueueError> {
    let output = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .map_err(classify)?;
    Ok(output.attributes.and_then(|mut a| a.remove(&name)))
}

fn received(message: Message) -> Result<ReceivedMessage, QueueError> {
    let receive_count = message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    match (message.message_id, message.receipt_handle) {
        (Some(id), Some(receipt)) => Ok(ReceivedMessage {
            id,
            body: message.body.unwrap_or_default(),
            receipt,
            receive_count,
        }),
        _ => Err(QueueError::Unavailable(
            "SQS returned a message without id or receipt handle".into(),
        )),
    }
}

/// Checks a body against SQS's rules: 1..=256 KiB of the characters SQS accepts
/// (tab, newline, carriage return, and Unicode from U+0020 except surrogates and U+FFFE/U+FFFF).
fn validate_body(body: &str) -> Result<(), BodyError> {
    if body.is_empty() {
        return Err(BodyError::Empty);
    }
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(BodyError::TooLong(body.len()));
    }
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..);
    if let Some(c) = body.chars().find(|c| !allowed(*c)) {
        return Err(BodyError::Character(c));
    }
    Ok(())
}

/// Why SQS would refuse a message body ([`validate_body`]).
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("a message body is not empty")]
    Empty,
    #[error("a message body has at most {MAX_MESSAGE_BYTES} bytes, not {0}")]
    TooLong(usize),
    #[error("character {0:?} cannot be sent through SQS")]
    Character(char),
}

/// Splits a batch into runs of indexes whose bodies fit one SQS request (256 KiB in total).
fn chunks_within_request_limit(bodies: &[String]) -> Vec<std::ops::Range<usize>> {
    let mut chunks = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (index, body) in bodies.iter().enumerate() {
        if index > start && size + body.len() > MAX_MESSAGE_BYTES {
            chunks.push(start..index);
            (start, size) = (index, 0);
        }
        size += body.len();
    }
    if start < bodies.len() {
        chunks.push(start..bodies.len());
    }
    chunks
}

fn whole_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

fn visibility_secs(duration: Duration) -> Result<i32, QueueError> {
    let secs = whole_secs(duration);
    if secs > MAX_VISIBILITY_SECS {
        return Err(QueueError::Invalid(format!(
            "a visibility timeout is at most 12 h, not {secs} s"
        )));
    }
    Ok(small(secs))
}

/// Narrows an already range-checked count to the SDK's `i32`.
fn small(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn classify<E, R>(err: SdkError<E, R>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    let invalid = matches!(
        err.code(),
        Some(
            "InvalidMessageContents"
                | "InvalidParameterValue"
                | "InvalidParameterValueException"
                | "BatchRequestTooLong"
                | "TooManyEntriesInBatchRequest"
        )
    );
    if invalid {
        QueueError::Invalid(err.message().unwrap_or("rejected by SQS").to_owned())
    } else {
        QueueError::Unavailable(opaque(err))
    }
}

/// Messages of a batch that SQS did not accept.
#[derive(Debug)]
struct BatchFailure {
    sent: usize,
    failures: Vec<EntryFailure>,
}

#[derive(Debug)]
struct EntryFailure {
    index: usize,
    code: String,
    message: String,
    sender_fault: bool,
}

impl fmt::Display for BatchFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of the batch were sent, {} failed:",
            self.sent,
            self.failures.len()
        )?;
        for failure in &self.failures {
            write!(
                f,
                " message {} ({}: {});",
                failure.index, failure.code, failure.message
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for BatchFailure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redrive_policy_parses_what_sqs_and_moto_return() {
        let expected = RedrivePolicy {
            dead_letter_target_arn: "arn:aws:sqs:eu-north-1:123456789012:q-dlq".into(),
            max_receive_count: 3,
        };
        for text in [
            r#"{"deadLetterTargetArn":"arn:aws:sqs:eu-north-1:123456789012:q-dlq","maxReceiveCount":"3"}"#,
            r#"{"deadLetterTargetArn": "arn:aws:sqs:eu-north-1:123456789012:q-dlq", "maxReceiveCount": 3}"#,
        ] {
            assert_eq!(RedrivePolicy::parse(text).expect(text), expected);
        }
        assert_eq!(
            RedrivePolicy::parse(&expected.to_attribute()).expect("own output"),
            expected
        );
    }

    #[test]
    fn broken_redrive_policies_are_refused() {
        for text in [
            "",
            "[]",
            r#"{"maxReceiveCount": 3}"#,
            r#"{"deadLetterTargetArn": "arn", "maxReceiveCount": -1}"#,
            r#"{"deadLetterTargetArn": "arn", "maxReceiveCount": "three"}"#,
            r#"{"deadLetterTargetArn": "arn", "maxReceiveCount": 2.5}"#,
        ] {
            assert!(
                matches!(RedrivePolicy::parse(text), Err(QueueError::Invalid(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn bodies_are_checked_like_sqs() {
        assert!(validate_body("{\"a\":1}\n\tok\r").is_ok());
        assert!(validate_body("ķēde 🚸").is_ok());
        assert!(validate_body("").is_err());
        assert!(validate_body("nul\0").is_err());
        assert!(validate_body("bell\u{7}").is_err());
        assert!(validate_body("\u{FFFF}").is_err());
        assert!(validate_body(&"x".repeat(MAX_MESSAGE_BYTES)).is_ok());
        assert!(validate_body(&"x".repeat(MAX_MESSAGE_BYTES + 1)).is_err());
    }

    #[test]
    fn batches_split_at_the_request_limit() {
        let small_batch = vec!["a".to_owned(); 10];
        assert_eq!(chunks_within_request_limit(&small_batch), vec![0..10]);

        let big = "x".repeat(100 * 1024);
        let batch = vec![big.clone(), big.clone(), big.clone(), "tail".to_owned()];
        assert_eq!(chunks_within_request_limit(&batch), vec![0..2, 2..4]);

        let full = vec!["x".repeat(MAX_MESSAGE_BYTES); 3];
        assert_eq!(chunks_within_request_limit(&full), vec![0..1, 1..2, 2..3]);
        assert!(chunks_within_request_limit(&[]).is_empty());
    }

    #[test]
    fn durations_round_up_to_whole_seconds_within_limits() {
        assert_eq!(whole_secs(Duration::ZERO), 0);
        assert_eq!(whole_secs(Duration::from_millis(1)), 1);
        assert_eq!(whole_secs(Duration::from_millis(1500)), 2);
        assert_eq!(
            visibility_secs(Duration::from_secs(43_200)).ok(),
            Some(43_200)
        );
        assert!(matches!(
            visibility_secs(Duration::from_secs(43_201)),
            Err(QueueError::Invalid(_))
        ));
    }

    #[test]
    fn batch_failure_names_the_failed_messages() {
        let failure = BatchFailure {
            sent: 8,
            failures: vec![
                EntryFailure {
                    index: 3,
                    code: "InternalError".into(),
                    message: "try again".into(),
                    sender_fault: false,
                },
                EntryFailure {
                    index: 7,
                    code: "InternalError".into(),
                    message: String::new(),
                    sender_fault: false,
                },
            ],
        };
        let text = failure.to_string();
        assert!(
            text.contains("message 3 (InternalError: try again)"),
            "{text}"
        );
        assert!(text.contains("message 7"), "{text}");
        assert!(
            text.starts_with("8 of the batch were sent, 2 failed"),
            "{text}"
        );
    }
}
