//! Secrets of the local host, kept in the data directory: the HS256 key that signs dev
//! tokens, the identity HMAC key and the pseudonym key. Created on first use with owner-only permissions.

use anyhow::{Context, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Issuer of locally minted tokens.
pub const LOCAL_ISSUER: &str = "ravis-local";
/// Audience of locally minted tokens.
pub const LOCAL_AUDIENCE: &str = "ravis-local";

/// The local host's secrets.
#[derive(Clone)]
pub struct LocalKeys {
    /// HS256 secret for dev tokens.
    pub jwt_secret: Vec<u8>,
    /// Key of the personal-code index hash.
    pub identity_hmac_key: Vec<u8>,
    /// Key of the pseudonyms (audit trail, analytics).
    pub pseudonym_key: Vec<u8>,
}

impl std::fmt::Debug for LocalKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalKeys(..)")
    }
}

impl LocalKeys {
    /// Loads the keys under `data_dir/keys/`, creating any that are missing.
    pub fn load_or_create(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join("keys");
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self {
            jwt_secret: key_file(dir.join("dev-jwt-hs256.key"))?,
            identity_hmac_key: key_file(dir.join("identity-hmac.key"))?,
            pseudonym_key: key_file(dir.join("pseudonym-hmac.key"))?,
        })
    }
}

fn key_file(path: PathBuf) -> Result<Vec<u8>> {
    match fs::read_to_string(&path) {
        Ok(hex_key) => hex::decode(hex_key.trim()).with_context(|| {
            format!(
                "{} is not a hex key; delete it to make a new one",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key: [u8; 32] = rand::random();
            let tmp = path.with_extension("tmp");
            let mut options = fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options
                .open(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            file.write_all(hex::encode(key).as_bytes())?;
            file.sync_all()?;
            // Two processes starting at once: the first rename wins and both read it back.
            fs::rename(&tmp, &path)?;
            key_file(path)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = LocalKeys::load_or_create(dir.path()).unwrap();
        let b = LocalKeys::load_or_create(dir.path()).unwrap();
        assert_eq!(a.jwt_secret, b.jwt_secret);
        assert_eq!(a.jwt_secret.len(), 32);
        assert_ne!(a.jwt_secret, a.identity_hmac_key);
        assert_eq!(a.pseudonym_key, b.pseudonym_key);
        assert_eq!(a.pseudonym_key.len(), 32);
        assert_ne!(a.pseudonym_key, a.identity_hmac_key);
    }
}
