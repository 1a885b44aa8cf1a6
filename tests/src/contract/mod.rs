//! Contract test suites: one per port, generic over the port trait, run against every adapter.
//!
//! Each suite is a set of `async fn case<F: Fixture>(fixture: &F)` functions plus an exported
//! macro that turns one fixture expression into one `#[tokio::test]` per case:
//!
//! ```text
//! ravis_tests::record_store_contract!(sqlite_records, SqliteRecordsFixture::new());
//! ```
//!
//! The fixture expression is evaluated once per test (it may `.await`), and every case asks it
//! for a fresh, isolated store, so the generated tests run in parallel against one backend.
//! Cases wait with deadlines ([`PATIENCE`]), never assert on elapsed time, and tolerate what
//! the port leaves open (order of queue messages, short pages from filtered queries).

pub mod blobs;
pub mod queue;
pub mod records;

pub use blobs::BlobStoreFixture;
pub use queue::QueueFixture;
pub use records::RecordStoreFixture;

use std::future::Future;
use std::time::Duration;

/// How long a case waits for something that must eventually happen (redelivery, dead-lettering).
/// Generous, because emulators on a busy machine are slow; a passing run never waits this long.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `attempt` until it returns `Some`, panicking with `what` after [`PATIENCE`].
pub async fn eventually<T, Fut>(what: &str, mut attempt: impl FnMut() -> Fut) -> T
where
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(found) = attempt().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Expands one `#[tokio::test]` per case of a suite; used by the per-port macros.
#[doc(hidden)]
#[macro_export]
macro_rules! contract_cases {
    ($modname:ident, $fixture:expr, $suite:ident, [$($case:ident),* $(,)?]) => {
        mod $modname {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    let fixture = $fixture;
                    $crate::contract::$suite::$case(&fixture).await;
                }
            )*
        }
    };
}
