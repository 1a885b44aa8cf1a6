//! Where an exchange port delivers, chosen by configuration when a function starts: the
//! outbox (what would be sent, written where an operator or the other side collects it), or
//! the receiver's HTTP interface. One type for both ports and every host (the exports-worker
//! function, `ravis serve`, the test suites).

use crate::domain::export::ViisRecord;
use crate::ports::{EducationReceiver, HealthReceiver, HealthSubmission, ReceiverAnswer};

/// The outbox `O`, or the HTTP receiver `H`.
pub enum Delivery<O, H> {
    /// Written to the outbox (no URL configured).
    Outbox(O),
    /// Sent to the receiver (its URL configured).
    Http(H),
}

impl<O: HealthReceiver, H: HealthReceiver> HealthReceiver for Delivery<O, H> {
    async fn submit(&self, submission: &HealthSubmission) -> ReceiverAnswer {
        match self {
            Delivery::Outbox(o) => o.submit(submission).await,
            Delivery::Http(h) => h.submit(submission).await,
        }
    }

    async fn poll(&self, job: &str) -> ReceiverAnswer {
        match self {
            Delivery::Outbox(o) => o.poll(job).await,
            Delivery::Http(h) => h.poll(job).await,
        }
    }
}

impl<O: EducationReceiver, H: EducationReceiver> EducationReceiver for Delivery<O, H> {
    async fn deliver(&self, batch_id: &str, records: &[ViisRecord]) -> ReceiverAnswer {
        match self {
            Delivery::Outbox(o) => o.deliver(batch_id, records).await,
            Delivery::Http(h) => h.deliver(batch_id, records).await,
        }
    }
}
