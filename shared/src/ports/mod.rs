//! Ports: the capabilities the use cases need, one small trait each.
//!
//! Every port has an AWS adapter and an embedded adapter, and one contract test
//! suite (in `tests/src/contract/`) that runs against both; `signer` has a key file adapter
//! (`adapters::signing`) and, in AWS, KMS.

pub mod blobs;
pub mod clock;
pub mod exchange;
pub mod ids;
pub mod queue;
pub mod records;
pub mod signer;

pub use blobs::{BlobError, BlobMeta, BlobPage, BlobReader, BlobStore, PutIfAbsent};
pub use clock::{Clock, SystemClock};
pub use exchange::{
    EducationReceiver, ExchangeError, HealthReceiver, HealthSubmission, ReceiverAnswer,
};
pub use ids::{IdGenerator, RandomIds};
pub use queue::{Queue, QueueError, ReceivedMessage};
pub use records::{
    IndexKey, Key, Page, Record, RecordStore, SortKeyCondition, StoreError, WriteOp,
};
pub use signer::{JwsSigner, SignError};
