//! S3 blob store: one bucket behind [`BlobStore`].
//!
//! ETags are returned without their surrounding quotes. Listings come from
//! `ListObjectsV2`, whose continuation token (in base64url) is the page cursor; they carry
//! no content type (S3 does not list it), so [`BlobMeta::content_type`] is `None` there
//! and only `put` and `head` report it. An object put without a content type carries
//! the user metadata `ravis-content-type: none`, so that `head` can report `None`.

use super::opaque;
use crate::ports::blobs::{
    BlobError, BlobMeta, BlobPage, BlobReader, BlobStore, PutIfAbsent, file_put_size,
    unconditionally_stored, validate_key,
};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_object::{HeadObjectError, HeadObjectOutput};
use aws_sdk_s3::primitives::{ByteStream, DateTime as AwsDateTime};
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use chrono::{DateTime, SubsecRound, Utc};
use std::path::Path;

/// User metadata marking an object stored without a content type: the SDK then sends
/// `application/octet-stream` itself, which would be indistinguishable from a caller's.
const UNTYPED_MARK: (&str, &str) = ("ravis-content-type", "none");

/// S3's answer to a conditional put whose key is taken.
const PRECONDITION_FAILED: u16 = 412;

/// The [`BlobStore`] on one S3 bucket.
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    client: super::Lazy<Client>,
    bucket: String,
}

impl S3BlobStore {
    /// A store on `bucket`.
    pub fn new(client: impl Into<super::Lazy<Client>>, bucket: impl Into<String>) -> Self {
        Self {
            client: client.into(),
            bucket: bucket.into(),
        }
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn head_object(&self, key: &str) -> Result<Option<HeadObjectOutput>, BlobError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(output) => Ok(Some(output)),
            Err(SdkError::ServiceError(e)) if matches!(e.err(), HeadObjectError::NotFound(_)) => {
                Ok(None)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// [`Self::put_object`] of bytes in memory, after checking the key.
    async fn put_bytes(
        &self,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
        if_absent: bool,
    ) -> Result<Option<BlobMeta>, BlobError> {
        validate_key(key)?;
        let size = body.len() as u64;
        self.put_object(key, ByteStream::from(body), size, content_type, if_absent)
            .await
    }

    /// One PutObject of `size` bytes (with `If-None-Match: *` when `if_absent`); the stored
    /// object's metadata, or `None` when `if_absent` and the key was taken (412).
    ///
    /// The metadata is what the put already knows: S3's ETag from the answer, the size sent,
    /// and this machine's clock for the modification time (S3 does not return its own). No HEAD reads it back: that would
    /// be a second request per put and need `s3:GetObject` on every prefix a function writes.
    async fn put_object(
        &self,
        key: &str,
        body: ByteStream,
        size: u64,
        content_type: Option<&str>,
        if_absent: bool,
    ) -> Result<Option<BlobMeta>, BlobError> {
        let sent = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .set_content_type(content_type.map(str::to_owned))
            .set_metadata(content_type.is_none().then(|| {
                [UNTYPED_MARK]
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .into()
            }))
            .set_if_none_match(if_absent.then(|| "*".to_owned()))
            .body(body)
            .send()
            .await;
        let output = match sent {
            Ok(output) => output,
            Err(SdkError::ServiceError(e))
                if if_absent && e.raw().status().as_u16() == PRECONDITION_FAILED =>
            {
                return Ok(None);
            }
            Err(e) => return Err(unavailable(e)),
        };
        Ok(Some(BlobMeta {
            key: key.to_owned(),
            size,
            etag: strip_quotes(output.e_tag().unwrap_or_default()),
            // Whole seconds, as S3 keeps (and HEAD reports) modification times.
            last_modified: Utc::now().trunc_subsecs(0),
            content_type: content_type.map(str::to_owned),
        }))
    }

    async fn get_object(&self, key: &str) -> Result<ByteStream, BlobError> {
        validate_key(key)?;
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(output) => Ok(output.body),
            Err(SdkError::ServiceError(e)) if matches!(e.err(), GetObjectError::NoSuchKey(_)) => {
                Err(BlobError::NotFound(key.to_owned()))
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

impl BlobStore for S3BlobStore {
    async fn put(
        &self,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<BlobMeta, BlobError> {
        self.put_bytes(key, body, content_type, false)
            .await
            .map(unconditionally_stored)
    }

    async fn put_if_absent(
        &self,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<PutIfAbsent, BlobError> {
        self.put_bytes(key, body, content_type, true)
            .await
            .map(PutIfAbsent::from)
    }

    async fn put_many_if_absent(
        &self,
        objects: Vec<(String, Bytes)>,
        content_type: Option<&str>,
    ) -> Result<Vec<PutIfAbsent>, BlobError> {
        use futures::{StreamExt, TryStreamExt};
        // Concurrent conditional PutObjects (16 in flight), answered in order.
        futures::stream::iter(objects)
            .map(|(key, body)| async move { self.put_if_absent(&key, body, content_type).await })
            .buffered(16)
            .try_collect()
            .await
    }

    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: Option<&str>,
    ) -> Result<BlobMeta, BlobError> {
        validate_key(key)?;
        let size = file_put_size(path)?;
        // One PutObject streams the file from disk (at most 5 GiB, checked above).
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| BlobError::Invalid(format!("cannot read {}: {e}", path.display())))?;
        self.put_object(key, body, size, content_type, false)
            .await
            .map(unconditionally_stored)
    }

    async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
        let body = self.get_object(key).await?;
        let data = body
            .collect()
            .await
            .map_err(|e| BlobError::Unavailable(opaque(e)))?;
        Ok(data.into_bytes())
    }

    async fn open(&self, key: &str) -> Result<BlobReader, BlobError> {
        let body = self.get_object(key).await?;
        Ok(Box::pin(body.into_async_read()))
    }

    async fn head(&self, key: &str) -> Result<Option<BlobMeta>, BlobError> {
        validate_key(key)?;
        Ok(self
            .head_object(key)
            .await?
            .map(|head| head_meta(key, &head)))
    }

    async fn list(
        &self,
        prefix: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<BlobPage, BlobError> {
        crate::ports::blobs::check_page_limit(limit)?;
        let token = cursor.map(decode_cursor).transpose()?;
        let output = match self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .max_keys(i32::try_from(limit).unwrap_or(1000))
            .set_continuation_token(token)
            .send()
            .await
        {
            Ok(output) => output,
            // S3's answer to a continuation token it did not issue.
            Err(e) if e.code() == Some("InvalidArgument") => {
                return Err(BlobError::Invalid(format!(
                    "bad cursor: {}",
                    e.message().unwrap_or("rejected by S3")
                )));
            }
            Err(e) => return Err(unavailable(e)),
        };
        let objects = output
            .contents()
            .iter()
            .map(|object| BlobMeta {
                key: object.key().unwrap_or_default().to_owned(),
                size: object
                    .size()
                    .and_then(|s| u64::try_from(s).ok())
                    .unwrap_or(0),
                etag: strip_quotes(object.e_tag().unwrap_or_default()),
                last_modified: to_chrono(object.last_modified()),
                content_type: None,
            })
            .collect();
        let next = if output.is_truncated().unwrap_or(false) {
            output.next_continuation_token().map(encode_cursor)
        } else {
            None
        };
        Ok(BlobPage { objects, next })
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        validate_key(key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

/// Creates a bucket in the client's region (for tests and local tooling; deployed
/// buckets come from the infrastructure template). Outside us-east-1 S3 requires the
/// region as `LocationConstraint`.
pub async fn create_bucket(client: &Client, name: &str) -> Result<(), BlobError> {
    let region = client
        .config()
        .region()
        .map(ToString::to_string)
        .unwrap_or_default();
    let configuration = (!region.is_empty() && region != "us-east-1").then(|| {
        CreateBucketConfiguration::builder()
            .location_constraint(BucketLocationConstraint::from(region.as_str()))
            .build()
    });
    client
        .create_bucket()
        .bucket(name)
        .set_create_bucket_configuration(configuration)
        .send()
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// The page cursor is S3's continuation token in base64url, so that text S3 never issued
/// is refused here instead of reaching S3 (which some emulators answer with a server error).
pub(crate) fn encode_cursor(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(token)
}

pub(crate) fn decode_cursor(cursor: &str) -> Result<String, BlobError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|token| !token.is_empty())
        .ok_or_else(|| BlobError::Invalid("bad cursor: not one this store issued".to_owned()))
}

fn head_meta(key: &str, head: &HeadObjectOutput) -> BlobMeta {
    BlobMeta {
        key: key.to_owned(),
        size: head
            .content_length()
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(0),
        etag: strip_quotes(head.e_tag().unwrap_or_default()),
        last_modified: to_chrono(head.last_modified()),
        content_type: head
            .content_type()
            .filter(|_| {
                let mark = head.metadata().and_then(|m| m.get(UNTYPED_MARK.0));
                mark.map(String::as_str) != Some(UNTYPED_MARK.1)
            })
            .map(str::to_owned),
    }
}

/// S3 sends ETags as quoted strings (`"abc"`, or `W/"abc"` through some proxies).
fn strip_quotes(etag: &str) -> String {
    etag.trim_start_matches("W/").trim_matches('"').to_owned()
}

fn to_chrono(time: Option<&AwsDateTime>) -> DateTime<Utc> {
    time.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
        .unwrap_or(DateTime::UNIX_EPOCH)
}

fn unavailable<E, R>(err: SdkError<E, R>) -> BlobError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    BlobError::Unavailable(opaque(err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_quotes_are_stripped() {
        assert_eq!(strip_quotes("\"d41d8cd98f00b204\""), "d41d8cd98f00b204");
        assert_eq!(strip_quotes("W/\"abc\""), "abc");
        assert_eq!(strip_quotes("abc-2"), "abc-2");
    }

    #[test]
    fn cursor_wraps_the_continuation_token() {
        let token = "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=";
        let cursor = encode_cursor(token);
        assert!(!cursor.contains('/') && !cursor.contains('='));
        assert_eq!(decode_cursor(&cursor).expect("own cursor"), token);
        for garbage in ["not a cursor!", "%%%", ""] {
            assert!(
                matches!(decode_cursor(garbage), Err(BlobError::Invalid(_))),
                "{garbage}"
            );
        }
    }

    #[test]
    fn times_convert_with_subseconds() {
        let t = AwsDateTime::from_secs_and_nanos(1_700_000_000, 250_000_000);
        let converted = to_chrono(Some(&t));
        assert_eq!(converted.timestamp(), 1_700_000_000);
        assert_eq!(converted.timestamp_subsec_nanos(), 250_000_000);
        assert_eq!(to_chrono(None), DateTime::UNIX_EPOCH);
    }
}
