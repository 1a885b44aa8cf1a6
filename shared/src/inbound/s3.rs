//! S3 event plumbing written once: parse the S3 event notification that S3 (or the
//! embedded blob store) sends through SQS, URL-decode object keys, skip S3's test event,
//! and remember handled objects so a redelivered event is not processed twice.

use crate::ports::records::{Key, Record, RecordStore, StoreError};
use aws_lambda_events::event::s3::S3Event;
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

/// Parses an SQS message body carrying an S3 notification. S3's `s3:TestEvent` (sent when
/// a notification is configured) yields no objects. Only `ObjectCreated:*` records count.
pub fn parse_notification(body: &str) -> Result<Vec<ObjectCreated>, NotAnS3Event> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| NotAnS3Event(e.to_string()))?;
    if value.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    let event: S3Event = serde_json::from_value(value).map_err(|e| NotAnS3Event(e.to_string()))?;
    let mut out = Vec::new();
    for record in event.records {
        let name = record.event_name.unwrap_or_default();
        if !name.starts_with("ObjectCreated:") {
            continue;
        }
        let bucket = record
            .s3
            .bucket
            .name
            .ok_or_else(|| NotAnS3Event("record without bucket name".into()))?;
        let raw_key = record
            .s3
            .object
            .key
            .ok_or_else(|| NotAnS3Event("record without object key".into()))?;
        out.push(ObjectCreated {
            bucket,
            key: decode_key(&raw_key)?,
            size: record.s3.object.size,
            etag: record.s3.object.e_tag,
            version_id: record.s3.object.version_id,
            sequencer: record.s3.object.sequencer,
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
