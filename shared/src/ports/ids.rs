//! ID generator port: new identifiers, injectable so tests can predict them.

use uuid::Uuid;

/// Makes new unique identifiers.
pub trait IdGenerator: Send + Sync + 'static {
    /// A new time-ordered UUID (v7): IDs made later sort later.
    fn new_id(&self) -> Uuid;
}

/// UUID v7 from the system clock and a random source.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomIds;

impl IdGenerator for RandomIds {
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}
