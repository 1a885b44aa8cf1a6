//! The local [`JwsSigner`]: an ES256 (ECDSA P-256) key in a PKCS#8 PEM file, e.g.
//! `<data-dir>/keys/fhir-signing.pem`. In AWS the same port is backed by KMS `Sign`.

use crate::ports::signer::{JwsSigner, PublicKey, SignError, jwk_thumbprint};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::path::{Path, PathBuf};

const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";

/// A key file that cannot be used; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file could not be read or written.
    #[error("signing key file {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a PKCS#8 PEM ECDSA P-256 private key.
    #[error("signing key file {path}: {reason}")]
    Invalid {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// An ES256 signer over a PKCS#8 PEM key file.
#[derive(Debug)]
pub struct KeyFileSigner {
    key: EcdsaKeyPair,
    public_key: Vec<u8>,
    key_id: String,
    rng: SystemRandom,
}

impl KeyFileSigner {
    /// Creates a new P-256 key at `path` (owner read/write only, `0600`; the file must not
    /// exist yet) and returns its signer. Missing parent directories are created.
    pub fn generate(path: &Path) -> Result<KeyFileSigner, KeyFileError> {
        let io = |source| KeyFileError::Io {
            path: path.to_owned(),
            source,
        };
        let invalid = |reason: String| KeyFileError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|e| invalid(format!("cannot generate a key: {e}")))?;
        let mut pem = String::from(PEM_BEGIN);
        pem.push('\n');
        let b64 = STANDARD.encode(pkcs8.as_ref());
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str(PEM_END);
        pem.push('\n');
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io)?;
        std::io::Write::write_all(&mut file, pem.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        KeyFileSigner::from_pkcs8(path, pkcs8.as_ref())
    }

    /// Reads the key at `path`.
    pub fn load(path: &Path) -> Result<KeyFileSigner, KeyFileError> {
        let pem = std::fs::read_to_string(path).map_err(|source| KeyFileError::Io {
            path: path.to_owned(),
            source,
        })?;
        let invalid = |reason: &str| KeyFileError::Invalid {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        let body = pem
            .trim()
            .strip_prefix(PEM_BEGIN)
            .and_then(|rest| rest.strip_suffix(PEM_END))
            .ok_or_else(|| invalid("not a PEM 'PRIVATE KEY' (PKCS#8)"))?;
        let b64: String = body.split_whitespace().collect();
        let der = STANDARD
            .decode(b64)
            .map_err(|_| invalid("the PEM body is not base64"))?;
        KeyFileSigner::from_pkcs8(path, &der)
    }

    /// Reads the key at `path`, creating one first when the file does not exist.
    pub fn load_or_generate(path: &Path) -> Result<KeyFileSigner, KeyFileError> {
        if path.exists() {
            KeyFileSigner::load(path)
        } else {
            KeyFileSigner::generate(path)
        }
    }

    fn from_pkcs8(path: &Path, der: &[u8]) -> Result<KeyFileSigner, KeyFileError> {
        let invalid = |reason: String| KeyFileError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|e| invalid(format!("not an ECDSA P-256 PKCS#8 key: {e}")))?;
        let public_key = key.public_key().as_ref().to_vec();
        let key_id = jwk_thumbprint(&public_key).map_err(|e| invalid(e.to_string()))?;
        Ok(KeyFileSigner {
            key,
            public_key,
            key_id,
            rng: SystemRandom::new(),
        })
    }
}

impl KeyFileSigner {
    /// The JWS `kid`: the RFC 7638 thumbprint of the public key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public key as an uncompressed SEC1 point (`0x04 ‖ x ‖ y`).
    pub fn point(&self) -> &[u8] {
        &self.public_key
    }
}

impl JwsSigner for KeyFileSigner {
    fn algorithm(&self) -> &str {
        "ES256"
    }

    async fn public_key(&self) -> Result<PublicKey, SignError> {
        Ok(PublicKey {
            key_id: self.key_id.clone(),
            point: self.public_key.clone(),
        })
    }

    async fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, SignError> {
        // ECDSA_P256_SHA256_FIXED_SIGNING gives r ‖ s (64 bytes), as JWS wants.
        let sig = self
            .key
            .sign(&self.rng, signing_input)
            .map_err(|e| SignError::Unavailable(Box::new(std::io::Error::other(e.to_string()))))?;
        Ok(sig.as_ref().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

    #[tokio::test]
    async fn generates_loads_and_signs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("fhir.pem");
        let made = KeyFileSigner::generate(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let loaded = KeyFileSigner::load(&path).unwrap();
        assert_eq!(made.key_id(), loaded.key_id());
        assert_eq!(made.point(), loaded.point());
        let public = loaded.public_key().await.unwrap();
        assert_eq!(
            (public.key_id.as_str(), &public.point[..]),
            (made.key_id(), made.point())
        );
        assert_eq!(loaded.algorithm(), "ES256");

        let sig = loaded.sign(b"header.payload").await.unwrap();
        assert_eq!(sig.len(), 64);
        let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, made.point());
        public.verify(b"header.payload", &sig).unwrap();
        assert!(public.verify(b"header.payloae", &sig).is_err());

        // A second generate does not overwrite the key.
        let again = KeyFileSigner::generate(&path).unwrap_err();
        assert!(again.to_string().contains("fhir.pem"), "{again}");
        let same = KeyFileSigner::load_or_generate(&path).unwrap();
        assert_eq!(same.key_id(), made.key_id());
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = KeyFileSigner::load(&missing).unwrap_err();
        assert!(e.to_string().contains("missing.pem"), "{e}");

        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "hello").unwrap();
        let e = KeyFileSigner::load(&garbage).unwrap_err();
        assert!(e.to_string().contains("garbage.pem"), "{e}");
        assert!(e.to_string().contains("PKCS#8"), "{e}");

        let not_ec = dir.path().join("not-ec.pem");
        std::fs::write(&not_ec, format!("{PEM_BEGIN}\nAAAA\n{PEM_END}\n")).unwrap();
        let e = KeyFileSigner::load(&not_ec).unwrap_err();
        assert!(e.to_string().contains("not an ECDSA P-256"), "{e}");
    }
}
