//! Ports: the capabilities the use cases need, one small trait each.
//!
//! Every port has an AWS adapter and an embedded adapter, and one contract test
//! suite (in `tests/src/contract/`) that runs against both; `signer` has a key file adapter
//! (`adapters::signing`) and, in AWS, KMS. The exchange ports (`exchange`) and the open-data
//! portal (`open_data`) are the national systems RAVIS sends to: each has a default that
//! sends nothing over the network (an outbox, or no push) and an HTTP adapter chosen by
//! configuration.

pub mod blobs;
pub mod clock;
pub mod exchange;
pub mod ids;
pub mod open_data;
pub mod queue;
pub mod records;
pub mod signer;
pub mod wording;

pub use blobs::{BlobError, BlobMeta, BlobPage, BlobReader, BlobStore, PutIfAbsent};
pub use clock::{Clock, ManualClock, SystemClock};
pub use exchange::{
    EducationReceiver, ExchangeError, HealthReceiver, HealthSubmission, ReceiverAnswer,
};
pub use ids::{IdGenerator, RandomIds};
pub use open_data::{NoPortal, OpenDataPortal, PortalDataset, PortalRelease};
pub use queue::{Queue, QueueError, ReceivedMessage};
pub use records::{
    IndexKey, Key, Page, Record, RecordStore, SortKeyCondition, StoreError, WriteOp,
};
pub use signer::{JwsSigner, PublicKey, SignError};
