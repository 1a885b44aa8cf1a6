//! Break-the-glass rules that need no store: how long a grant lasts and how long its
//! reason may be (the use case is `services/break_glass.rs`; `config` reads the TTL).

/// How long a grant lasts unless configured otherwise.
pub const DEFAULT_TTL_MINUTES: u32 = 240;
/// The shortest accepted reason, in characters after trimming.
pub const MIN_REASON_CHARS: usize = 10;
/// The longest accepted reason, in characters after trimming.
pub const MAX_REASON_CHARS: usize = 500;
