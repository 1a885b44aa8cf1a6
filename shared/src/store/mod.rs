//! The store layer: the one place that knows the single table's layout — storage keys
//! (`keys`), record data ↔ values (`codec`), the child-identity indexes (`identity`) and the
//! lookups every use case shares (`lookups`), over the `RecordStore` port.

pub mod codec;
pub mod exports;
pub mod identity;
pub mod keys;
pub mod lookups;
pub mod query;
pub mod register;
