//! Pseudonymisation: the one component that turns a child id or a personal code into a
//! stable pseudonym (issue #5, item 5). Audit entries and everything that leaves for
//! analytics carry only these pseudonyms.
//!
//! A pseudonym is HMAC-SHA-256 under the pseudonym key (`RAVIS_PSEUDONYM_KEY`; locally
//! `<data-dir>/keys/pseudonym-hmac.key`) with its own domain label, so it is never equal to
//! the personal-code index hash even if the two keys were the same. Without the key a
//! pseudonym cannot be linked back to the child.

use crate::domain::{ChildId, KeyedHasher, PersonalCode};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Domain label of pseudonym hashes (separates them from every other keyed hash).
pub const PSEUDONYM_DOMAIN: &str = "ravis/pseudonym/v1";

/// A stable pseudonymous identifier: 64 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pseudonym(String);

impl Pseudonym {
    /// The pseudonym as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Makes pseudonyms with the configured key.
#[derive(Debug, Clone)]
pub struct Pseudonymizer {
    hasher: KeyedHasher,
}

impl Pseudonymizer {
    /// A pseudonymizer with the pseudonym key from configuration.
    pub fn new(key: &[u8]) -> Self {
        Self {
            hasher: KeyedHasher::new(key, PSEUDONYM_DOMAIN),
        }
    }

    /// The pseudonym of a child (by RAVIS child id).
    pub fn child(&self, id: ChildId) -> Pseudonym {
        Pseudonym(self.hasher.hash(&format!("child:{id}")))
    }

    /// The pseudonym of a personal code (for records that only carry the code).
    pub fn personal_code(&self, code: &PersonalCode) -> Pseudonym {
        Pseudonym(
            self.hasher
                .hash(&format!("personal-code:{}", code.as_str())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::identity::CODE_INDEX_DOMAIN;

    const KEY: &[u8] = b"pseudonym-key-pseudonym-key-0001";

    fn child() -> ChildId {
        "0190a4a8-8f3e-7b1c-9d2e-3f4a5b6c7d8e".parse().unwrap()
    }

    #[test]
    fn stable_for_the_same_key_and_input() {
        let p = Pseudonymizer::new(KEY);
        assert_eq!(p.child(child()), Pseudonymizer::new(KEY).child(child()));
        assert_eq!(p.child(child()).as_str().len(), 64);
        let code = PersonalCode::parse("32579461005").unwrap();
        assert_eq!(p.personal_code(&code), p.personal_code(&code));
    }

    #[test]
    fn depends_on_the_key() {
        let other = Pseudonymizer::new(b"another-key-another-key-another-");
        assert_ne!(Pseudonymizer::new(KEY).child(child()), other.child(child()));
    }

    #[test]
    fn never_equal_to_the_input() {
        let p = Pseudonymizer::new(KEY);
        let code = PersonalCode::parse("32579461005").unwrap();
        assert_ne!(p.child(child()).as_str(), child().to_string());
        assert!(!p.personal_code(&code).as_str().contains(code.as_str()));
        assert!(!p.child(child()).as_str().contains(&child().to_string()));
    }

    #[test]
    fn differs_from_the_personal_code_index_hash() {
        // Even with the same key, the index hash and the pseudonym never coincide.
        let code = PersonalCode::parse("32579461005").unwrap();
        let index = KeyedHasher::new(KEY, CODE_INDEX_DOMAIN).hash(code.as_str());
        assert_ne!(Pseudonymizer::new(KEY).personal_code(&code).as_str(), index);
        let index_of_prefixed = KeyedHasher::new(KEY, CODE_INDEX_DOMAIN)
            .hash(&format!("personal-code:{}", code.as_str()));
        assert_ne!(
            Pseudonymizer::new(KEY).personal_code(&code).as_str(),
            index_of_prefixed
        );
    }

    #[test]
    fn a_child_and_a_code_never_share_a_pseudonym_space() {
        let p = Pseudonymizer::new(KEY);
        let code = PersonalCode::parse("32579461005").unwrap();
        assert_ne!(p.child(child()), p.personal_code(&code));
    }
}
