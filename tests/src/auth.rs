//! Token helpers for tests: an HS256 verifier and a valid token for one role.

use ravis::config::{AuthSettings, JwtKey};
use ravis::domain::{Atvk, Role};
use ravis::inbound::auth::{Authenticator, DevTokenRequest, mint_dev_token};

/// Issuer of test tokens.
pub const ISSUER: &str = "ravis-tests";
/// Audience of test tokens (the one the sample events carry).
pub const AUDIENCE: &str = "ravis-api";
const SECRET: &[u8] = b"ravis-tests-secret-ravis-tests-secret";

/// A verifier for test tokens and a token valid for ten minutes with `role` at `organisation`.
pub fn verifier_and_token(role: Role, organisation: &str) -> (Authenticator, String) {
    verifier_and_scoped_token(role, organisation, None)
}

/// Like [`verifier_and_token`], with a territory scope (`ravis:atvk`).
pub fn verifier_and_scoped_token(
    role: Role,
    organisation: &str,
    territory: Option<&Atvk>,
) -> (Authenticator, String) {
    let settings = AuthSettings {
        issuer: ISSUER.into(),
        audience: vec![AUDIENCE.into()],
        algorithms: vec![jsonwebtoken::Algorithm::HS256],
        key: JwtKey::Hs256Secret(SECRET.to_vec()),
        leeway_seconds: 0,
    };
    let now = u64::try_from(chrono::Utc::now().timestamp()).expect("clock after 1970");
    let token = mint_dev_token(
        SECRET,
        &DevTokenRequest {
            issuer: ISSUER,
            audience: AUDIENCE,
            subject: "test-user",
            roles: &[role],
            organisation,
            territory,
            purpose: None,
            issued_at: now - 5,
            lifetime_seconds: 600,
        },
    )
    .expect("HS256 signing works");
    (
        Authenticator::new(&settings).expect("valid test settings"),
        token,
    )
}
