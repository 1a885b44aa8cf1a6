//! The [`JwsSigner`] of AWS: an asymmetric KMS key (`ECC_NIST_P256`, `SIGN_VERIFY`) signs the
//! `X-Provenance` JWS with `ECDSA_SHA_256`; the private key never leaves KMS.
//!
//! **The public key is read once, on first use** (one `GetPublicKey`, by the first
//! [`JwsSigner::public_key`], which the first signature needs for its `kid`), so that the
//! exports worker makes no network request at its cold start (issue #15: init within 1.5×
//! a hello-world function). A failed read is not kept: the next use tries again. An
//! unreachable or wrong key therefore shows at the first export, as a retry of the job whose
//! reason names the key (`GET /exports/{id}`, the worker's log naming
//! `RAVIS_FHIR_SIGNING_KEY_ID`), and the jobs wait — they are not lost — until the key is
//! fixed. [`KmsSigner::connect`] reads it at once, for callers that want the check up front.
//! Rotating the key means a new key (KMS does not rotate asymmetric keys) and a new
//! deployment, which starts new execution environments.

use super::opaque;
use crate::ports::signer::{
    JwsSigner, PublicKey, SignError, der_ecdsa_to_raw_p256, jwk_thumbprint, spki_p256_point,
};
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// The longest message KMS `Sign` accepts whole (`MessageType::Raw`).
pub const MAX_RAW_MESSAGE: usize = 4096;

/// An ES256 signer over a KMS key.
#[derive(Debug, Clone)]
pub struct KmsSigner {
    client: super::Lazy<Client>,
    key: String,
    /// The public key, read on first use and kept (shared by the clones).
    public: Arc<OnceCell<PublicKey>>,
}

impl KmsSigner {
    /// The signer of `key` (a key id, key ARN or alias). Makes no request: the public key is
    /// read on first use.
    pub fn new(client: impl Into<super::Lazy<Client>>, key: impl Into<String>) -> Self {
        Self {
            client: client.into(),
            key: key.into(),
            public: Arc::new(OnceCell::new()),
        }
    }

    /// [`KmsSigner::new`], reading the public key at once (`GetPublicKey`) and checking that
    /// it is a P-256 signing key allowing `ECDSA_SHA_256`.
    pub async fn connect(
        client: impl Into<super::Lazy<Client>>,
        key: impl Into<String>,
    ) -> Result<Self, SignError> {
        let signer = Self::new(client, key);
        signer.public_key().await?;
        Ok(signer)
    }

    /// The KMS key this signer uses (as configured).
    pub fn kms_key(&self) -> &str {
        &self.key
    }

    /// `GetPublicKey`, checked.
    async fn read_public_key(&self) -> Result<PublicKey, SignError> {
        let key = &self.key;
        let answer = self
            .client
            .get_public_key()
            .key_id(key)
            .send()
            .await
            .map_err(|e| {
                SignError::Unavailable(Box::new(std::io::Error::other(format!(
                    "KMS key {key}: GetPublicKey: {}",
                    aws_sdk_kms::error::DisplayErrorContext(&e)
                ))))
            })?;
        // A spec or usage KMS names must be the right one; the point's shape is checked below
        // in any case (an emulator may leave the spec out; another curve has a longer point).
        if answer
            .key_spec()
            .is_some_and(|s| *s != KeySpec::EccNistP256)
            || answer
                .key_usage()
                .is_some_and(|u| *u != KeyUsageType::SignVerify)
        {
            return Err(SignError::Invalid(format!(
                "KMS key {key} is not an ECC_NIST_P256 SIGN_VERIFY key (spec {:?}, usage {:?})",
                answer.key_spec(),
                answer.key_usage()
            )));
        }
        if !answer.signing_algorithms().is_empty()
            && !answer
                .signing_algorithms()
                .contains(&SigningAlgorithmSpec::EcdsaSha256)
        {
            return Err(SignError::Invalid(format!(
                "KMS key {key} does not allow ECDSA_SHA_256"
            )));
        }
        let spki = answer
            .public_key()
            .ok_or_else(|| SignError::Invalid(format!("KMS key {key}: no public key")))?;
        let point = spki_p256_point(spki.as_ref()).map_err(|e| {
            SignError::Invalid(format!("KMS key {key} is not an ECC_NIST_P256 key: {e}"))
        })?;
        Ok(PublicKey {
            key_id: jwk_thumbprint(&point)?,
            point: point.to_vec(),
        })
    }
}

impl JwsSigner for KmsSigner {
    fn algorithm(&self) -> &str {
        "ES256"
    }

    /// The KMS key's public key; its `kid` is the RFC 7638 thumbprint (not the KMS key id:
    /// the receiver finds the key in the JWKS by it). Read on the first call.
    async fn public_key(&self) -> Result<PublicKey, SignError> {
        self.public
            .get_or_try_init(|| self.read_public_key())
            .await
            .cloned()
    }

    /// KMS `Sign` with `ECDSA_SHA_256`; the DER answer becomes `r ‖ s`. A signing input of
    /// at most [`MAX_RAW_MESSAGE`] bytes is sent whole (`MessageType::Raw`: KMS hashes it);
    /// a longer one (most Bundles: the input holds the body's base64url) as its SHA-256
    /// (`MessageType::Digest`), which gives the same signature without KMS's 4096-byte
    /// limit on raw messages.
    async fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, SignError> {
        use sha2::Digest as _;
        let (message, message_type) = if signing_input.len() <= MAX_RAW_MESSAGE {
            (signing_input.to_vec(), MessageType::Raw)
        } else {
            (
                sha2::Sha256::digest(signing_input).to_vec(),
                MessageType::Digest,
            )
        };
        let answer = self
            .client
            .sign()
            .key_id(&self.key)
            .message(Blob::new(message))
            .message_type(message_type)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .map_err(|e| SignError::Unavailable(opaque(e)))?;
        let der = answer
            .signature()
            .ok_or_else(|| SignError::Invalid("KMS Sign answered no signature".to_owned()))?;
        Ok(der_ecdsa_to_raw_p256(der.as_ref())?.to_vec())
    }
}
