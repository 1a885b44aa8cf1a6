//! One SQLite connection behind a mutex, used from async code through `spawn_blocking`.

use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::task::JoinError;

/// A durable SQLite database shared by the clones of one adapter.
#[derive(Clone)]
pub(crate) struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    /// Opens (creating if needed) a database in WAL mode with `synchronous=FULL`, so a
    /// commit that returned survives `kill -9` and power loss.
    pub(crate) fn open(path: &Path) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        // WAL lets readers in other connections proceed during a write; FULL fsyncs the WAL
        // at every commit (NORMAL would only be safe against process crashes).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Several adapters (or processes) may share a file: wait for a lock, do not fail.
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs blocking work on the connection off the async runtime's worker threads.
    pub(crate) async fn call<T, E, F>(
        &self,
        on_join_error: fn(JoinError) -> E,
        f: F,
    ) -> Result<T, E>
    where
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic inside a transaction rolled it back when the transaction dropped,
            // so the connection behind a poisoned lock is still consistent.
            let mut guard = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut guard)
        })
        .await
        .map_err(on_join_error)?
    }

    /// Runs blocking work on the connection on the current thread (for set-up code).
    pub(crate) fn call_now<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        let mut guard = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }
}

/// The smallest string greater than every string that starts with `prefix`, if any:
/// the prefix with its last incrementable character incremented and the rest dropped.
/// UTF-8 preserves code point order, so this bound is also byte-wise.
pub(crate) fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{d7ff}' => Some('\u{e000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_upper_bound_is_the_next_string_after_every_extension() {
        assert_eq!(prefix_upper_bound("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_upper_bound("a\u{10ffff}").as_deref(), Some("b"));
        assert_eq!(
            prefix_upper_bound("x\u{d7ff}").as_deref(),
            Some("x\u{e000}")
        );
        assert_eq!(prefix_upper_bound("\u{10ffff}\u{10ffff}"), None);
        assert_eq!(prefix_upper_bound(""), None);
        let upper = prefix_upper_bound("a\u{e9}").expect("bound");
        for inside in ["a\u{e9}", "a\u{e9}\u{10ffff}\u{10ffff}", "a\u{e9}zzz"] {
            assert!(inside.as_bytes() < upper.as_bytes(), "{inside:?}");
        }
        assert!("a\u{ea}".as_bytes() >= upper.as_bytes());
    }
}
