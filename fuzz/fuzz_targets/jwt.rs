//! Bearer tokens through `Authenticator::authenticate`, the one entry of every request:
//! - selector 0: any `Authorization` value against the local host's HS256 verifier;
//! - selector 1: any JWT header and claims JSON (two lines), signed with that verifier's
//!   secret, so the claims parsing behind the signature check is reached;
//! - selector 2: any JWKS document and token (two lines) against a key-set verifier
//!   (`inbound::jwks`: key lookup by `kid`, keys built from the document).
//!
//! Never panics; an accepted token gives a principal with a role and an organisation.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::JwkSet;
use libfuzzer_sys::fuzz_target;
use ravis::config::{AuthSettings, JwtKey};
use ravis::inbound::auth::Authenticator;
use ravis::inbound::jwks::{JwksFetch, KeyError};
use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;

const SECRET: &[u8] = b"fuzzing-secret-0123456789abcdef!";

fn settings(algorithms: Vec<Algorithm>, key: JwtKey) -> AuthSettings {
    AuthSettings {
        issuer: "https://idp.example".into(),
        audience: vec!["ravis-api".into()],
        algorithms,
        key,
        leeway_seconds: 0,
    }
}

static HS256: LazyLock<Authenticator> = LazyLock::new(|| {
    Authenticator::new(&settings(
        vec![Algorithm::HS256],
        JwtKey::Hs256Secret(SECRET.to_vec()),
    ))
    .expect("an HS256 verifier")
});

/// Serves one key set, read from the input as the HTTPS fetcher reads the provider's.
struct Document(Vec<u8>);

impl JwksFetch for Document {
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<JwkSet, KeyError>> + Send + '_>> {
        Box::pin(async move {
            serde_json::from_slice(&self.0).map_err(|e| KeyError::Fetch(Box::new(e)))
        })
    }
}

fn two_lines(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

fn check(outcome: Result<ravis::domain::Principal, ravis::inbound::problem::Problem>) {
    match outcome {
        Ok(principal) => {
            assert!(!principal.roles.is_empty());
            assert!(!principal.organisation.trim().is_empty());
        }
        Err(problem) => assert!(problem.status == 401 || problem.status == 503),
    }
}

fuzz_target!(|data: &[u8]| {
    let [selector, rest @ ..] = data else {
        return;
    };
    match selector % 3 {
        0 => {
            let value = String::from_utf8_lossy(rest);
            check(futures::executor::block_on(
                HS256.authenticate(Some(&value)),
            ));
        }
        1 => {
            let (header, claims) = two_lines(rest);
            let signing_input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(claims)
            );
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET).expect("any key length");
            mac.update(signing_input.as_bytes());
            let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
            let value = format!("Bearer {signing_input}.{signature}");
            check(futures::executor::block_on(
                HS256.authenticate(Some(&value)),
            ));
        }
        _ => {
            let (document, token) = two_lines(rest);
            let verifier = Authenticator::with_jwks(
                &settings(
                    vec![Algorithm::RS256, Algorithm::ES256],
                    JwtKey::JwksUrl("https://idp.example/jwks".into()),
                ),
                Document(document.to_vec()),
            )
            .expect("a key-set verifier");
            let value = format!("Bearer {}", String::from_utf8_lossy(token));
            check(futures::executor::block_on(
                verifier.authenticate(Some(&value)),
            ));
        }
    }
});
