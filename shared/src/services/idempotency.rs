//! `Idempotency-Key` on POSTs: the same key and body twice yields one record and the same
//! response; the same key with a different body is a conflict. The idempotency record is
//! written in the SAME atomic write as the records it guards, so a crash can never leave
//! one without the other.

use crate::domain::Principal;
use crate::ports::{Record, RecordStore, StoreError, WriteOp};
use crate::services::{Reply, ServiceError};
use crate::store::keys;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// How long a key is remembered.
pub const RETENTION_SECONDS: i64 = 24 * 3600;
/// Longest accepted key.
pub const MAX_KEY_LEN: usize = 255;

/// A request that carries an idempotency key.
#[derive(Debug, Clone)]
pub struct IdempotencyRequest {
    scope_hash: String,
    fingerprint: String,
}

impl IdempotencyRequest {
    /// Binds a client key to the caller, the operation and the exact request body.
    pub fn new(
        principal: &Principal,
        operation: &str,
        key: &str,
        body: &[u8],
    ) -> Result<Self, ServiceError> {
        if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ServiceError::invalid(
                "Idempotency-Key",
                format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
            ));
        }
        let mut scope = Sha256::new();
        for part in [&principal.organisation, &principal.subject, operation, key] {
            scope.update(part.as_bytes());
            scope.update([0]);
        }
        Ok(Self {
            scope_hash: hex::encode(scope.finalize()),
            fingerprint: hex::encode(Sha256::digest(body)),
        })
    }
}

fn stored_reply(record: &Record) -> Option<(String, Reply)> {
    let d = &record.data;
    Some((
        d.get("fingerprint")?.as_str()?.to_owned(),
        Reply {
            status: u16::try_from(d.get("status")?.as_u64()?).ok()?,
            location: d.get("location").and_then(Value::as_str).map(str::to_owned),
            etag: d.get("etag").and_then(Value::as_str).map(str::to_owned),
            body: d.get("body")?.clone(),
            replayed: true,
            file: None,
        },
    ))
}

/// The earlier response for this key, if any; a conflict if the body differs.
pub async fn replay<R: RecordStore>(
    records: &R,
    request: Option<&IdempotencyRequest>,
) -> Result<Option<Reply>, ServiceError> {
    let Some(request) = request else {
        return Ok(None);
    };
    let Some(record) = records.get(&keys::idempotency(&request.scope_hash)).await? else {
        return Ok(None);
    };
    let (fingerprint, reply) = stored_reply(&record).ok_or_else(|| {
        crate::store::codec::corrupt(&record, "idempotency record lacks fingerprint/status/body")
    })?;
    if fingerprint == request.fingerprint {
        Ok(Some(reply))
    } else {
        Err(ServiceError::Conflict {
            slug: "idempotency-key-reused",
            detail: "this Idempotency-Key was already used with a different request body".into(),
            existing_id: None,
        })
    }
}

/// Outcome of [`commit`].
#[derive(Debug)]
pub enum Committed {
    /// The writes (and the idempotency record) were applied.
    Applied(Reply),
    /// A concurrent request with the same key won; this is its response.
    Replayed(Reply),
}

/// Applies `writes` atomically together with the idempotency record (if any) holding `reply`.
/// A failed condition of one of `writes` is returned as `TransactionCancelled { index }`
/// with the index into `writes`, for the caller to explain.
pub async fn commit<R: RecordStore>(
    records: &R,
    mut writes: Vec<WriteOp>,
    request: Option<&IdempotencyRequest>,
    reply: Reply,
    now_unix: i64,
) -> Result<Committed, ServiceError> {
    let guard_index = writes.len();
    if let Some(req) = request {
        let data = json!({
            "fingerprint": req.fingerprint,
            "status": reply.status,
            "location": reply.location,
            "etag": reply.etag,
            "body": reply.body,
        });
        writes.push(WriteOp::PutNew(
            Record::new(keys::idempotency(&req.scope_hash), data)
                .with_expiry(now_unix + RETENTION_SECONDS),
        ));
    }
    match records.transact(writes).await {
        Ok(()) => Ok(Committed::Applied(reply)),
        Err(StoreError::TransactionCancelled { index }) if index == guard_index => {
            match replay(records, request).await? {
                Some(earlier) => Ok(Committed::Replayed(earlier)),
                // The other request's record expired in between: extremely unlikely; let the client retry.
                None => Err(StoreError::TransactionCancelled { index }.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}
