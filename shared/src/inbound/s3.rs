//! S3 event plumbing written once: parse the S3 event notification that S3 (or the
//! embedded blob store) sends through SQS, URL-decode object keys, skip S3's test event,
//! and remember handled objects so a redelivered event is not processed twice.

use crate::ports::records::{Key, Record, RecordStore, StoreError};
use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};

/// One created object named by an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectCreated {
    /// Bucket name.
    pub bucket: String,
    /// Object key, URL-decoded.
    pub key: String,
    /// Size in bytes, if given.
    pub size: Option<i64>,
    /// Entity tag, if given.
    pub etag: Option<String>,
    /// Version id, if the bucket is versioned.
    pub version_id: Option<String>,
    /// S3's ordering token for events on the same key.
    pub sequencer: Option<String>,
}

impl ObjectCreated {
    /// A stable identity of this object version, for de-duplication.
    pub fn dedup_id(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            Some(self.bucket.as_str()),
            Some(self.key.as_str()),
            self.version_id.as_deref(),
            self.etag.as_deref(),
            self.sequencer.as_deref(),
        ] {
            h.update(part.unwrap_or("").as_bytes());
            h.update([0]);
        }
        hex::encode(h.finalize())
    }
}

/// An SQS body that is not an S3 event.
#[derive(Debug, thiserror::Error)]
#[error("not an S3 event notification: {0}")]
pub struct NotAnS3Event(String);

/// Decodes an S3 key as S3 encodes it in notifications (form encoding: `+` is a space).
pub fn decode_key(raw: &str) -> Result<String, NotAnS3Event> {
    let plus_as_space = raw.replace('+', " ");
    percent_decode_str(&plus_as_space)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| {
            NotAnS3Event(format!(
                "object key '{raw}' is not valid UTF-8 once decoded"
            ))
        })
}

/// The parts of an S3 event notification the worker reads. Only `eventName`, the bucket
/// name and the object key are required: S3 sends more (`userIdentity`,
/// `requestParameters`, `responseElements`, …), but other senders of the same format (the
/// local bucket, emulators, EventBridge re-shapers) may leave those out, and nothing here
/// needs them.
#[derive(Debug, serde::Deserialize)]
struct Notification {
    #[serde(rename = "Records")]
    records: Vec<NotificationRecord>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct NotificationRecord {
    event_name: String,
    s3: NotificationEntity,
}

#[derive(Debug, serde::Deserialize)]
struct NotificationEntity {
    bucket: NotificationBucket,
    object: NotificationObject,
}

#[derive(Debug, serde::Deserialize)]
struct NotificationBucket {
    name: String,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct NotificationObject {
    key: String,
    #[serde(default)]
    size: Option<i64>,
    #[serde(default, rename = "eTag")]
    e_tag: Option<String>,
    #[serde(default)]
    version_id: Option<String>,
    #[serde(default)]
    sequencer: Option<String>,
}

/// Parses an SQS message body carrying an S3 notification. S3's `s3:TestEvent` (sent when
/// a notification is configured) yields no objects. Only `ObjectCreated:*` records count.
pub fn parse_notification(body: &str) -> Result<Vec<ObjectCreated>, NotAnS3Event> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| NotAnS3Event(e.to_string()))?;
    if value.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    let event: Notification =
        serde_path_to_error::deserialize(value).map_err(|e| NotAnS3Event(e.to_string()))?;
    let mut out = Vec::new();
    for record in event.records {
        if !record.event_name.starts_with("ObjectCreated:") {
            continue;
        }
        let object = record.s3.object;
        out.push(ObjectCreated {
            bucket: record.s3.bucket.name,
            key: decode_key(&object.key)?,
            size: object.size,
            etag: object.e_tag,
            version_id: object.version_id,
            sequencer: object.sequencer,
        });
    }
    Ok(out)
}

/// How long a handled-object marker is kept (longer than any SQS retention of 14 days).
pub const DEDUP_RETENTION_SECONDS: i64 = 15 * 24 * 3600;

fn marker_key(object: &ObjectCreated) -> Key {
    Key::new(format!("S3EVENT#{}", object.dedup_id()), "S3EVENT")
}

/// Whether this object version was already handled completely.
pub async fn already_handled<R: RecordStore>(
    records: &R,
    object: &ObjectCreated,
) -> Result<bool, StoreError> {
    Ok(records.get(&marker_key(object)).await?.is_some())
}

/// Records that this object version was handled. Call only after the work is committed,
/// so a crash in between means a redo (harmless: handlers are idempotent), never a loss.
pub async fn mark_handled<R: RecordStore>(
    records: &R,
    object: &ObjectCreated,
    now_unix: i64,
) -> Result<(), StoreError> {
    let record = Record::new(
        marker_key(object),
        serde_json::json!({"bucket": object.bucket, "key": object.key, "handled_at": now_unix}),
    )
    .with_expiry(now_unix + DEDUP_RETENTION_SECONDS);
    match records.put_new(record).await {
        Ok(()) | Err(StoreError::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"eu-north-1",
      "eventTime":"2026-11-23T10:00:00.000Z","eventName":"ObjectCreated:Put",
      "userIdentity":{"principalId":"AWS:X"},"requestParameters":{"sourceIPAddress":"127.0.0.1"},
      "responseElements":{},"s3":{"s3SchemaVersion":"1.0","configurationId":"inbox",
      "bucket":{"name":"partner","ownerIdentity":{"principalId":"X"},"arn":"arn:aws:s3:::partner"},
      "object":{"key":"inbox/children/2026-11+kids%C4%81.csv","size":42,"eTag":"abc","sequencer":"0A1B"}}}]}"#;

    #[test]
    fn keys_are_url_decoded_with_plus_as_space() {
        let objects = parse_notification(EVENT).unwrap();
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].key, "inbox/children/2026-11 kidsā.csv");
        assert_eq!(objects[0].bucket, "partner");
        assert_eq!(objects[0].size, Some(42));
        assert_eq!(decode_key("a%2Bb").unwrap(), "a+b");
    }

    #[test]
    fn the_test_event_yields_nothing_and_garbage_is_an_error() {
        let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-23T10:00:00.000Z","Bucket":"partner"}"#;
        assert!(parse_notification(test_event).unwrap().is_empty());
        assert!(parse_notification("not json").is_err());
        assert!(parse_notification(r#"{"screening_id":"x"}"#).is_err());
        let no_key = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"size":1}}}]}"#;
        let err = parse_notification(no_key).unwrap_err().to_string();
        assert!(err.contains("Records[0].s3.object"), "{err}");
    }

    /// A notification with only what the worker reads (no `userIdentity`,
    /// `requestParameters`, `responseElements`, `eTag`, …), as moto's server sends it.
    #[test]
    fn optional_fields_may_be_missing() {
        let minimal = r#"{"Records":[{"eventName":"ObjectCreated:Put",
          "s3":{"bucket":{"name":"partner"},"object":{"key":"inbox/children/a.csv"}}},
          {"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"partner"},"object":{"key":"x"}}}]}"#;
        let objects = parse_notification(minimal).unwrap();
        assert_eq!(
            objects,
            [ObjectCreated {
                bucket: "partner".into(),
                key: "inbox/children/a.csv".into(),
                size: None,
                etag: None,
                version_id: None,
                sequencer: None,
            }]
        );
    }

    #[test]
    fn dedup_id_changes_with_the_object_version() {
        let a = parse_notification(EVENT).unwrap().remove(0);
        let mut b = a.clone();
        assert_eq!(a.dedup_id(), b.dedup_id());
        b.sequencer = Some("0A1C".into());
        assert_ne!(a.dedup_id(), b.dedup_id());
    }
}
