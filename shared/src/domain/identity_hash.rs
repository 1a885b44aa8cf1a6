//! Keyed hashing of identifiers: the raw personal code is never a storage key, and
//! analytics only ever see pseudonyms (DOMAIN.md: "personal identifiers are replaced by
//! generated pseudonymous identifiers").

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// HMAC-SHA-256 with a secret key, hex-encoded output.
#[derive(Clone)]
pub struct KeyedHasher {
    /// The MAC keyed and fed the domain label: cloned for each value (the key schedule and
    /// the label are paid once, not per hash).
    prefixed: Hmac<Sha256>,
    domain: &'static str,
}

impl std::fmt::Debug for KeyedHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyedHasher({})", self.domain)
    }
}

impl KeyedHasher {
    /// A hasher for one purpose; the purpose label separates hashes of the same value
    /// made for different uses (an index hash is not a pseudonym).
    pub fn new(key: &[u8], domain: &'static str) -> Self {
        let mut prefixed =
            <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
        prefixed.update(domain.as_bytes());
        prefixed.update(&[0]);
        Self { prefixed, domain }
    }

    /// The keyed hash of `value`, as 64 lowercase hex characters.
    pub fn hash(&self, value: &str) -> String {
        let mut mac = self.prefixed.clone();
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_keyed_and_domain_separated() {
        let a = KeyedHasher::new(b"k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1", "personal-code");
        let b = KeyedHasher::new(b"k2k2k2k2k2k2k2k2k2k2k2k2k2k2k2k2", "personal-code");
        let c = KeyedHasher::new(b"k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1", "pseudonym");
        assert_eq!(a.hash("32579461005"), a.hash("32579461005"));
        assert_eq!(a.hash("x").len(), 64);
        assert_ne!(a.hash("32579461005"), b.hash("32579461005"));
        assert_ne!(a.hash("32579461005"), c.hash("32579461005"));
    }
}
