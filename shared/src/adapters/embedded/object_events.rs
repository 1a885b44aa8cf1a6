//! S3-style object events for the directory blob store: a put under a configured prefix
//! enqueues the same JSON that S3 sends to SQS, so one handler consumes both backends.

use crate::ports::{Queue, QueueError};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A queue as the blob store holds it: object-safe, whatever the queue type.
pub(crate) trait EventSink: Send + Sync {
    /// Sends one event body.
    fn send_event<'a>(
        &'a self,
        body: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<String, QueueError>> + Send + 'a>>;
}

impl<Q: Queue> EventSink for Q {
    fn send_event<'a>(
        &'a self,
        body: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<String, QueueError>> + Send + 'a>> {
        Box::pin(Queue::send(self, body))
    }
}

/// One notification configuration: `ObjectCreated:Put` events for keys under `prefix`
/// (and ending with `suffix`, if set) are sent to a queue.
#[derive(Clone)]
pub struct ObjectEvents {
    pub(crate) id: String,
    pub(crate) prefix: String,
    pub(crate) suffix: Option<String>,
    pub(crate) sink: Arc<dyn EventSink>,
}

impl std::fmt::Debug for ObjectEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectEvents")
            .field("id", &self.id)
            .field("prefix", &self.prefix)
            .field("suffix", &self.suffix)
            .finish_non_exhaustive()
    }
}

impl ObjectEvents {
    /// Sends puts of keys beginning with `prefix` to `queue`; `id` becomes the events'
    /// `configurationId` and must be unique within one store.
    pub fn new<Q: Queue>(id: impl Into<String>, prefix: impl Into<String>, queue: Q) -> Self {
        Self {
            id: id.into(),
            prefix: prefix.into(),
            suffix: None,
            sink: Arc::new(queue),
        }
    }

    /// Also requires keys to end with `suffix` (S3's suffix filter, e.g. `.csv`).
    pub fn with_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.suffix = Some(suffix.into());
        self
    }

    /// Whether a put of `key` triggers this notification.
    pub(crate) fn matches(&self, key: &str) -> bool {
        key.starts_with(&self.prefix) && self.suffix.as_ref().is_none_or(|s| key.ends_with(s))
    }
}

/// Encodes a key the way S3 writes it into event notifications: form-URL encoding
/// (a space becomes `+`), with `/` kept. Consumers decode `+` to a space, then `%XX`.
pub fn s3_event_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for &b in key.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// What one event says about the object.
pub(crate) struct CreatedObject<'a> {
    pub(crate) configuration_id: &'a str,
    pub(crate) bucket: &'a str,
    pub(crate) key: &'a str,
    pub(crate) size: u64,
    pub(crate) etag: &'a str,
    pub(crate) event_time: DateTime<Utc>,
    /// Orders events of one key; S3 compares sequencers as hex strings of equal length.
    pub(crate) sequence: u64,
}

/// The S3 event notification body (`{"Records":[…]}`) for one `ObjectCreated:Put`.
pub(crate) fn s3_put_event(object: &CreatedObject<'_>) -> Value {
    let principal = json!({ "principalId": "ravis-embedded" });
    json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "local",
            "eventTime": object.event_time.to_rfc3339_opts(SecondsFormat::Millis, true),
            "eventName": "ObjectCreated:Put",
            "userIdentity": principal,
            "requestParameters": { "sourceIPAddress": "127.0.0.1" },
            "responseElements": {
                "x-amz-request-id": format!("{:016X}", object.sequence),
                "x-amz-id-2": format!("embedded/{:016X}", object.sequence),
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": object.configuration_id,
                "bucket": {
                    "name": object.bucket,
                    "ownerIdentity": principal,
                    "arn": format!("arn:aws:s3:::{}", object.bucket),
                },
                "object": {
                    "key": s3_event_key(object.key),
                    "size": object.size,
                    "eTag": object.etag,
                    "sequencer": format!("{:016X}", object.sequence),
                },
            },
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::s3::S3Event;

    fn decode(encoded: &str) -> String {
        let spaced = encoded.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .expect("utf-8")
            .into_owned()
    }

    #[test]
    fn event_keys_are_form_encoded_and_decode_back() {
        assert_eq!(s3_event_key("inbox/my file.csv"), "inbox/my+file.csv");
        assert_eq!(s3_event_key("inbox/a+b.csv"), "inbox/a%2Bb.csv");
        assert_eq!(s3_event_key("inbox/100%.csv"), "inbox/100%25.csv");
        assert_eq!(s3_event_key("inbox/\u{101}.csv"), "inbox/%C4%81.csv");
        for key in [
            "inbox/my file+1 100%.csv",
            "inbox/\u{100}da\u{17e}i \u{1f642}/x~y=z&q",
        ] {
            assert_eq!(decode(&s3_event_key(key)), key);
        }
    }

    #[test]
    fn the_event_parses_as_an_s3_event() {
        let body = s3_put_event(&CreatedObject {
            configuration_id: "inbox-to-scoring",
            bucket: "ravis-uploads",
            key: "inbox/screening 1.csv",
            size: 42,
            etag: "abc123",
            event_time: DateTime::from_timestamp(1_767_225_600, 123_000_000).expect("time"),
            sequence: 7,
        });
        let event: S3Event = serde_json::from_value(body).expect("an S3 event");
        let record = &event.records[0];
        assert_eq!(record.event_name.as_deref(), Some("ObjectCreated:Put"));
        assert_eq!(record.event_source.as_deref(), Some("aws:s3"));
        assert_eq!(record.s3.bucket.name.as_deref(), Some("ravis-uploads"));
        assert_eq!(
            record.s3.object.key.as_deref(),
            Some("inbox/screening+1.csv")
        );
        assert_eq!(record.s3.object.size, Some(42));
        assert_eq!(record.s3.object.e_tag.as_deref(), Some("abc123"));
        assert_eq!(
            record.s3.object.sequencer.as_deref(),
            Some("0000000000000007")
        );
        assert_eq!(
            record.s3.configuration_id.as_deref(),
            Some("inbox-to-scoring")
        );
    }
}
