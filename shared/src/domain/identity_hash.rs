//! Keyed hashing of identifiers: the raw personal code is never a storage key, and
//! analytics only ever see pseudonyms (DOMAIN.md: "personal identifiers are replaced by
//! generated pseudonymous identifiers").

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// HMAC-SHA-256 with a secret key, hex-encoded output.
#[derive(Clone)]
pub struct KeyedHasher {
    key: Vec<u8>,
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
        Self {
            key: key.to_vec(),
            domain,
        }
    }

    /// The keyed hash of `value`, as 64 lowercase hex characters.
    pub fn hash(&self, value: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(self.domain.as_bytes());
        mac.update(&[0]);
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
