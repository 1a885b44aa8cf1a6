//! Group commit of audit appends (issue #15, item 7; `docs/SECURITY.md`, "Audit trail"):
//! concurrent requests that each append one entry share ONE atomic write of the record
//! store and ONE batched copy to the archive, instead of one durable write each — with the
//! same guarantee per request: [`AuditTrail::record`] returns only after its entry is
//! committed and archived, and an error otherwise (the caller then returns no data).
//!
//! One task ([`GroupCommit::start`]) takes requests from a channel. It waits for none: it
//! takes the first request, everything else already queued (up to [`MAX_GROUP`]), and
//! commits them together, so an idle server answers as fast as before and a busy one
//! commits as many requests as arrived during the previous commit. Entries of distinct
//! children go into the write (each with its chain's head moved, as in
//! [`AuditTrail::record_many`]); a second request for the same child waits for the next
//! write. A write that loses a race for a head (another writer appended to that chain)
//! is cancelled as a whole and its requests are appended one by one.
//!
//! Used by the embedded backend (`ravis serve`), where every durable write is a sync of the
//! local disk; in AWS each function instance serves one request at a time, so there is
//! nothing to group.

use super::{AuditEntry, AuditEvent, AuditTrail};
use crate::domain::Principal;
use crate::ports::{RecordStore, StoreError};
use crate::services::ServiceError;
use tokio::sync::{mpsc, oneshot};

/// The most appends one write takes (two writes each, within the store's transaction limit).
pub const MAX_GROUP: usize = crate::ports::records::MAX_TRANSACTION_OPS / 2;

/// How many requests may wait for the committing task.
const QUEUE: usize = 4096;

/// One request's append, and where its answer goes.
struct Pending {
    principal: Principal,
    request_id: String,
    event: AuditEvent,
    reply: oneshot::Sender<Result<AuditEntry, ServiceError>>,
}

/// The handle requests append through (cheap to clone; the task ends when every handle is
/// dropped).
#[derive(Clone)]
pub struct GroupCommit {
    requests: mpsc::Sender<Pending>,
}

impl GroupCommit {
    /// Starts the committing task on the current Tokio runtime, appending through `trail`.
    pub fn start<R: RecordStore + Clone>(trail: AuditTrail<R>) -> Self {
        let (requests, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(run(trail, receiver));
        Self { requests }
    }

    /// Appends one entry, committed with whatever other appends are waiting.
    pub(super) async fn append(
        &self,
        principal: &Principal,
        request_id: &str,
        event: AuditEvent,
    ) -> Result<AuditEntry, ServiceError> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            principal: principal.clone(),
            request_id: request_id.to_owned(),
            event,
            reply,
        };
        self.requests.send(pending).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// An error of the shared write, for each request of the group (with its causes).
fn shared_failure(e: &dyn std::error::Error) -> ServiceError {
    let reason = std::iter::successors(Some(e), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    ServiceError::Store(StoreError::Unavailable(reason.into()))
}

fn stopped() -> ServiceError {
    ServiceError::Store(StoreError::Unavailable(
        "the audit trail's group commit has stopped".into(),
    ))
}

/// The committing task: see the module documentation.
async fn run<R: RecordStore + Clone>(trail: AuditTrail<R>, mut receiver: mpsc::Receiver<Pending>) {
    let mut waiting: Vec<Pending> = Vec::new();
    loop {
        if waiting.is_empty() {
            match receiver.recv().await {
                Some(p) => waiting.push(p),
                None => return,
            }
        }
        while waiting.len() < 4 * MAX_GROUP {
            match receiver.try_recv() {
                Ok(p) => waiting.push(p),
                Err(_) => break,
            }
        }
        // Distinct children, in arrival order; the rest wait for the next write.
        let mut group: Vec<Pending> = Vec::with_capacity(MAX_GROUP);
        let mut later: Vec<Pending> = Vec::new();
        for p in waiting.drain(..) {
            if group.len() < MAX_GROUP && !group.iter().any(|g| g.event.child == p.event.child) {
                group.push(p);
            } else {
                later.push(p);
            }
        }
        waiting = later;
        commit(&trail, group).await;
    }
}

/// Commits one group and answers each request.
async fn commit<R: RecordStore + Clone>(trail: &AuditTrail<R>, group: Vec<Pending>) {
    if group.len() == 1 {
        for p in group {
            let answer = trail.record_now(&p.principal, &p.request_id, p.event).await;
            let _ = p.reply.send(answer);
        }
        return;
    }
    let mut entries = Vec::with_capacity(group.len());
    let mut ops = Vec::with_capacity(group.len() * 2);
    let mut members = Vec::with_capacity(group.len());
    for p in group {
        match trail
            .append_ops(&p.principal, &p.request_id, &p.event)
            .await
        {
            Ok((entry, append)) => {
                entries.push(entry);
                ops.extend(append);
                members.push(p);
            }
            Err(e) => {
                let _ = p.reply.send(Err(e));
            }
        }
    }
    match trail.records.transact(ops).await {
        Ok(()) => {
            let archived = match trail.archive_inline() {
                Some(archive) => archive.archive_many(&entries).await,
                None => Ok(()),
            };
            match archived {
                Ok(()) => {
                    for (p, entry) in members.into_iter().zip(entries) {
                        let _ = p.reply.send(Ok(entry));
                    }
                }
                Err(e) => {
                    for p in members {
                        let _ = p.reply.send(Err(shared_failure(&e)));
                    }
                }
            }
        }
        // Another writer moved one of the heads: each request on its own.
        Err(StoreError::TransactionCancelled { .. }) => {
            for p in members {
                let answer = trail.record_now(&p.principal, &p.request_id, p.event).await;
                let _ = p.reply.send(answer);
            }
        }
        Err(e) => {
            for p in members {
                let _ = p.reply.send(Err(shared_failure(&e)));
            }
        }
    }
}
