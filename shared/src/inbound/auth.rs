//! Bearer token verification (jsonwebtoken): issuer, audience, expiry, not-before and an
//! algorithm allow-list from configuration. Every route requires a valid token.

use crate::config::{AuthSettings, ConfigError, JwtKey};
use crate::domain::{Atvk, Principal, Role};
use crate::inbound::jwks::{JwksCache, JwksFetch, KeyError};
use crate::inbound::problem::Problem;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Claim names carrying RAVIS attributes (namespaced, so they never clash with an IdP's own).
pub mod claims {
    /// Role or roles (string or list of strings).
    pub const ROLE: &str = "ravis:role";
    /// Organisation the caller acts for.
    pub const ORG: &str = "ravis:org";
    /// Territory scope (ATVK).
    pub const ATVK: &str = "ravis:atvk";
    /// Purpose of processing.
    pub const PURPOSE: &str = "ravis:purpose";
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: OneOrMany,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
    #[serde(rename = "ravis:role")]
    role: OneOrMany,
    #[serde(rename = "ravis:org")]
    org: String,
    #[serde(
        rename = "ravis:atvk",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    atvk: Option<String>,
    #[serde(
        rename = "ravis:purpose",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    purpose: Option<String>,
}

/// Where verification keys come from.
#[derive(Clone)]
enum Keys {
    /// One configured key (PEM public key, or the local host's HS256 secret).
    Static(DecodingKey),
    /// The identity provider's key set, by `kid`.
    Jwks(std::sync::Arc<JwksCache>),
}

/// Verifies bearer tokens and turns them into a [`Principal`].
#[derive(Clone)]
pub struct Authenticator {
    keys: Keys,
    validation: Validation,
    /// The issuer this verifier's keys and rules are for.
    issuer: String,
    /// Further trusted issuers ([`Authenticator::also_trust`]), each with its own keys and
    /// rules; a token goes to the verifier of the issuer it names.
    others: Vec<Authenticator>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Builds a verifier; refuses an allow-list that does not fit the key (e.g. HS256
    /// with a public key, which would let anyone sign with the public key as secret).
    pub fn new(settings: &AuthSettings) -> Result<Self, ConfigError> {
        if let JwtKey::JwksUrl(url) = &settings.key {
            #[cfg(feature = "jwks")]
            {
                let fetcher =
                    crate::inbound::jwks::http_fetch::HttpJwks::new(url).map_err(|reason| {
                        ConfigError::Invalid {
                            name: "RAVIS_JWT_JWKS_URL",
                            reason: reason.to_string(),
                        }
                    })?;
                return Self::with_jwks(settings, fetcher);
            }
            #[cfg(not(feature = "jwks"))]
            {
                let _ = url;
                return Err(ConfigError::Invalid {
                    name: "RAVIS_JWT_JWKS_URL",
                    reason: "this build has no JWKS support (feature `jwks`)".into(),
                });
            }
        }
        Self::with_static_key(settings)
    }

    /// A verifier using the identity provider's key set from `fetcher` (RS256/ES256 only).
    pub fn with_jwks(
        settings: &AuthSettings,
        fetcher: impl JwksFetch,
    ) -> Result<Self, ConfigError> {
        if settings.algorithms.is_empty()
            || settings
                .algorithms
                .iter()
                .any(|a| !matches!(a, Algorithm::RS256 | Algorithm::ES256))
        {
            return Err(ConfigError::Invalid {
                name: "RAVIS_JWT_ALGORITHMS",
                reason: "a JWKS key set verifies RS256 and/or ES256 only".into(),
            });
        }
        Ok(Self {
            keys: Keys::Jwks(std::sync::Arc::new(JwksCache::new(fetcher))),
            validation: validation(settings),
            issuer: settings.issuer.clone(),
            others: Vec::new(),
        })
    }

    fn with_static_key(settings: &AuthSettings) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            name: "RAVIS_JWT_ALGORITHMS",
            reason,
        };
        if settings.algorithms.is_empty() {
            return Err(invalid("at least one algorithm must be allowed".into()));
        }
        let key = match &settings.key {
            JwtKey::Hs256Secret(secret) => {
                if settings.algorithms.iter().any(|a| *a != Algorithm::HS256) {
                    return Err(invalid("a shared secret only verifies HS256".into()));
                }
                DecodingKey::from_secret(secret)
            }
            JwtKey::PublicKeyPem(pem) => {
                let family: Vec<_> = settings.algorithms.iter().collect();
                match family.as_slice() {
                    [Algorithm::RS256] => DecodingKey::from_rsa_pem(pem.as_bytes()),
                    [Algorithm::ES256] => DecodingKey::from_ec_pem(pem.as_bytes()),
                    _ => {
                        return Err(invalid(
                            "a public key verifies exactly one of RS256 or ES256".into(),
                        ));
                    }
                }
                .map_err(|e| ConfigError::Invalid {
                    name: "RAVIS_JWT_PUBLIC_KEY_PEM",
                    reason: e.to_string(),
                })?
            }
            JwtKey::JwksUrl(_) => {
                return Err(invalid("a JWKS URL needs Authenticator::new".into()));
            }
        };
        Ok(Self {
            keys: Keys::Static(key),
            validation: validation(settings),
            issuer: settings.issuer.clone(),
            others: Vec::new(),
        })
    }

    /// Also accepts the tokens of `other`'s issuer, each verified by `other`'s keys and
    /// rules (audience, algorithms, leeway): the token's unverified `iss` only picks the
    /// verifier, which then checks everything, the issuer included. So one issuer's
    /// algorithm never verifies another's tokens (e.g. `ravis serve` trusting an identity
    /// provider's RS256 keys beside its own HS256 development key). Refuses an issuer
    /// that is already trusted.
    pub fn also_trust(mut self, other: Authenticator) -> Result<Self, ConfigError> {
        let mut incoming = vec![other.issuer.clone()];
        incoming.extend(other.others.iter().map(|o| o.issuer.clone()));
        for issuer in &incoming {
            if *issuer == self.issuer || self.others.iter().any(|o| o.issuer == *issuer) {
                return Err(ConfigError::Invalid {
                    name: "RAVIS_JWT_ISSUER",
                    reason: format!("the issuer '{issuer}' is already trusted"),
                });
            }
        }
        let Authenticator {
            keys,
            validation,
            issuer,
            others,
        } = other;
        self.others.push(Authenticator {
            keys,
            validation,
            issuer,
            others: Vec::new(),
        });
        self.others.extend(others);
        Ok(self)
    }

    /// The verifier of the issuer a token names (unverified: it only chooses the keys).
    fn verifier_for(&self, token: &str) -> &Authenticator {
        if self.others.is_empty() {
            return self;
        }
        #[derive(Deserialize)]
        struct Issuer {
            iss: Option<String>,
        }
        use base64::Engine as _;
        let named = token
            .split('.')
            .nth(1)
            .and_then(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .ok()
            })
            .and_then(|b| serde_json::from_slice::<Issuer>(&b).ok())
            .and_then(|c| c.iss);
        named
            .and_then(|iss| self.others.iter().find(|o| o.issuer == iss))
            .unwrap_or(self)
    }

    /// Verifies the `Authorization: Bearer` header value and returns the principal.
    /// Every refusal is a 401 problem saying what was wrong (never echoing the token).
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, Problem> {
        let header = authorization.ok_or_else(|| {
            Problem::unauthorized("the Authorization header with a Bearer token is required")
        })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Problem::unauthorized("the Authorization header must be 'Bearer <token>'")
            })?;
        self.verifier_for(token).verify(token).await
    }

    /// Verifies a token with this verifier's keys and rules.
    async fn verify(&self, token: &str) -> Result<Principal, Problem> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| Problem::unauthorized(describe(e.kind())))?;
        if !self.validation.algorithms.contains(&header.alg) {
            return Err(Problem::unauthorized(
                "the token's algorithm is not allowed",
            ));
        }
        let fetched;
        let key = match &self.keys {
            Keys::Static(key) => key,
            Keys::Jwks(cache) => {
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or_else(|| Problem::unauthorized("the token has no key id (kid)"))?;
                fetched = cache.key(kid).await.map_err(|e| match e {
                    KeyError::Fetch(source) => {
                        tracing::error!(error = %source, "fetching the identity provider's keys failed");
                        Problem::unavailable("the identity provider's keys are unavailable; retry shortly")
                    }
                    other => Problem::unauthorized(other.to_string()),
                })?;
                &fetched
            }
        };
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map_err(|e| Problem::unauthorized(describe(e.kind())))?;
        let c = data.claims;
        let role_names = match c.role {
            OneOrMany::One(r) => vec![r],
            OneOrMany::Many(rs) => rs,
        };
        let mut roles = Vec::with_capacity(role_names.len());
        for name in role_names {
            roles.push(name.parse::<Role>().map_err(|e| {
                Problem::unauthorized(format!("the token's {}: {e}", claims::ROLE))
            })?);
        }
        if roles.is_empty() {
            return Err(Problem::unauthorized(format!(
                "the token grants no role ({} is empty)",
                claims::ROLE
            )));
        }
        if c.org.trim().is_empty() {
            return Err(Problem::unauthorized(format!(
                "the token's {} is empty",
                claims::ORG
            )));
        }
        let territory = c
            .atvk
            .map(|a| Atvk::parse(&a))
            .transpose()
            .map_err(|e| Problem::unauthorized(format!("the token's {}: {e}", claims::ATVK)))?;
        Ok(Principal {
            subject: c.sub,
            roles,
            organisation: c.org,
            territory,
            purpose: c.purpose,
        })
    }
}

fn validation(settings: &AuthSettings) -> Validation {
    let mut validation = Validation::new(settings.algorithms[0]);
    validation.algorithms = settings.algorithms.clone();
    validation.set_issuer(&[&settings.issuer]);
    validation.set_audience(&settings.audience);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = settings.leeway_seconds;
    validation
}

fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        ErrorKind::InvalidAudience => "the token's audience is not accepted".into(),
        ErrorKind::InvalidIssuer => "the token's issuer is not accepted".into(),
        ErrorKind::InvalidSignature => "the token's signature does not verify".into(),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "the token's algorithm is not allowed".into()
        }
        ErrorKind::MissingRequiredClaim(c) => format!("the token lacks the required claim '{c}'"),
        ErrorKind::Json(_) => {
            "the token's claims are not of the expected shape (sub, iss, aud, exp, ravis:role, ravis:org)".into()
        }
        _ => "the token is malformed".into(),
    }
}

/// What a locally minted development token says.
#[derive(Debug, Clone)]
pub struct DevTokenRequest<'a> {
    /// Issuer (must match the local host's settings).
    pub issuer: &'a str,
    /// Audience.
    pub audience: &'a str,
    /// Subject.
    pub subject: &'a str,
    /// Roles.
    pub roles: &'a [Role],
    /// Organisation.
    pub organisation: &'a str,
    /// Territory scope.
    pub territory: Option<&'a Atvk>,
    /// Purpose of processing.
    pub purpose: Option<&'a str>,
    /// Issued at (Unix seconds).
    pub issued_at: u64,
    /// Lifetime in seconds.
    pub lifetime_seconds: u64,
}

/// Mints an HS256 token for the local development host (never used in AWS).
pub fn mint_dev_token(
    secret: &[u8],
    req: &DevTokenRequest<'_>,
) -> Result<String, jsonwebtoken::errors::Error> {
    let claims = Claims {
        sub: req.subject.to_owned(),
        iss: req.issuer.to_owned(),
        aud: OneOrMany::One(req.audience.to_owned()),
        exp: req.issued_at + req.lifetime_seconds,
        nbf: Some(req.issued_at),
        iat: Some(req.issued_at),
        role: OneOrMany::Many(req.roles.iter().map(|r| r.as_str().to_owned()).collect()),
        org: req.organisation.to_owned(),
        atvk: req.territory.map(|a| a.as_str().to_owned()),
        purpose: req.purpose.map(str::to_owned),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn settings() -> AuthSettings {
        AuthSettings {
            issuer: "ravis-local".into(),
            audience: vec!["ravis".into()],
            algorithms: vec![Algorithm::HS256],
            key: JwtKey::Hs256Secret(SECRET.to_vec()),
            leeway_seconds: 0,
        }
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn token(f: impl FnOnce(&mut DevTokenRequest<'_>)) -> String {
        signed_token(SECRET, f)
    }

    /// A token of nurse-1 signed with `secret`, changed by `f` first.
    fn signed_token<'a>(secret: &[u8], f: impl FnOnce(&mut DevTokenRequest<'a>)) -> String {
        let mut req = DevTokenRequest {
            issuer: "ravis-local",
            audience: "ravis",
            subject: "nurse-1",
            roles: &[Role::HealthSpecialist],
            organisation: "clinic-1",
            territory: None,
            purpose: None,
            issued_at: now() - 10,
            lifetime_seconds: 3600,
        };
        f(&mut req);
        mint_dev_token(secret, &req).unwrap()
    }

    async fn auth(t: &str) -> Result<Principal, Problem> {
        Authenticator::new(&settings())
            .unwrap()
            .authenticate(Some(&format!("Bearer {t}")))
            .await
    }

    /// Why the token `t` is refused.
    async fn refusal(t: &str) -> String {
        auth(t).await.unwrap_err().detail
    }

    #[tokio::test]
    async fn a_good_token_yields_the_principal() {
        let p = auth(&token(|_| {})).await.unwrap();
        assert_eq!(p.subject, "nurse-1");
        assert_eq!(p.roles, vec![Role::HealthSpecialist]);
        assert_eq!(p.organisation, "clinic-1");
    }

    #[tokio::test]
    async fn missing_or_malformed_header() {
        let a = Authenticator::new(&settings()).unwrap();
        for (header, why) in [(None, "required"), (Some("Basic abc"), "Bearer")] {
            let p = a.authenticate(header).await.unwrap_err();
            assert!(p.detail.contains(why), "{header:?}: {}", p.detail);
        }
        assert_eq!(
            a.authenticate(Some("Bearer x.y.z"))
                .await
                .unwrap_err()
                .status,
            401
        );
    }

    #[tokio::test]
    async fn wrong_audience_issuer_expired_and_future_tokens_are_refused() {
        assert!(
            refusal(&token(|r| r.audience = "other"))
                .await
                .contains("audience")
        );
        assert!(
            refusal(&token(|r| r.issuer = "evil"))
                .await
                .contains("issuer")
        );
        assert!(
            refusal(&token(|r| {
                r.issued_at = now() - 7200;
                r.lifetime_seconds = 60;
            }))
            .await
            .contains("expired")
        );
        assert!(
            refusal(&token(|r| r.issued_at = now() + 3600))
                .await
                .contains("not valid yet")
        );
    }

    #[tokio::test]
    async fn a_forged_signature_is_refused() {
        let t = token(|_| {});
        let req = DevTokenRequest {
            issuer: "ravis-local",
            audience: "ravis",
            subject: "x",
            roles: &[Role::RegistryAdministrator],
            organisation: "o",
            territory: None,
            purpose: None,
            issued_at: now(),
            lifetime_seconds: 60,
        };
        let forged = mint_dev_token(b"another-secret-another-secret-xx", &req).unwrap();
        assert!(refusal(&forged).await.contains("signature"));
        // Swap the payload of a valid token: the signature no longer matches.
        let parts: Vec<&str> = t.split('.').collect();
        let other: Vec<&str> = forged.split('.').collect();
        let spliced = format!("{}.{}.{}", parts[0], other[1], parts[2]);
        assert_eq!(auth(&spliced).await.unwrap_err().status, 401);
    }

    #[tokio::test]
    async fn alg_none_is_refused() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let t = token(|_| {});
        let payload = t.split('.').nth(1).unwrap();
        let p = auth(&format!("{header}.{payload}.")).await.unwrap_err();
        assert_eq!(p.status, 401);
    }

    #[tokio::test]
    async fn unknown_roles_and_missing_claims_are_refused() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let body = format!(
            r#"{{"sub":"a","iss":"ravis-local","aud":"ravis","exp":{}}}"#,
            now() + 60
        );
        let unsigned = format!("{header}.{}", URL_SAFE_NO_PAD.encode(body));
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(SECRET).unwrap();
        mac.update(unsigned.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        let p = auth(&format!("{unsigned}.{sig}")).await.unwrap_err();
        assert!(p.detail.contains("expected shape"), "{}", p.detail);
    }

    #[tokio::test]
    async fn config_refuses_hs256_with_a_public_key() {
        let mut s = settings();
        s.key = JwtKey::PublicKeyPem("-----BEGIN PUBLIC KEY-----".into());
        assert!(Authenticator::new(&s).is_err());
        let mut s = settings();
        s.algorithms = vec![Algorithm::HS256, Algorithm::RS256];
        assert!(Authenticator::new(&s).is_err());
    }
    #[tokio::test]
    async fn a_second_issuer_is_verified_with_its_own_key_only() {
        const OTHER: &[u8] = b"another-secret-another-secret-32";
        let other = AuthSettings {
            issuer: "https://idp.example".into(),
            audience: vec!["ravis-web".into()],
            key: JwtKey::Hs256Secret(OTHER.to_vec()),
            ..settings()
        };
        let both = Authenticator::new(&settings())
            .unwrap()
            .also_trust(Authenticator::new(&other).unwrap())
            .unwrap();
        let mint = |secret: &[u8], issuer: &'static str, audience: &'static str| {
            signed_token(secret, |r| {
                r.issuer = issuer;
                r.audience = audience;
                r.subject = "dr-ozola";
            })
        };
        let bearer = |t: String| format!("Bearer {t}");
        // Each issuer's tokens verify with that issuer's key and audience.
        let p = both
            .authenticate(Some(&bearer(mint(
                OTHER,
                "https://idp.example",
                "ravis-web",
            ))))
            .await
            .unwrap();
        assert_eq!(p.subject, "dr-ozola");
        assert!(
            both.authenticate(Some(&bearer(mint(SECRET, "ravis-local", "ravis"))))
                .await
                .is_ok()
        );
        // Naming the other issuer does not make the first one's key count, nor its audience.
        let p = both
            .authenticate(Some(&bearer(mint(
                SECRET,
                "https://idp.example",
                "ravis-web",
            ))))
            .await
            .unwrap_err();
        assert!(p.detail.contains("signature"), "{}", p.detail);
        let p = both
            .authenticate(Some(&bearer(mint(OTHER, "https://idp.example", "ravis"))))
            .await
            .unwrap_err();
        assert!(p.detail.contains("audience"), "{}", p.detail);
        // An issuer trusted by neither is refused by the first verifier's issuer check.
        let p = both
            .authenticate(Some(&bearer(mint(SECRET, "https://evil.example", "ravis"))))
            .await
            .unwrap_err();
        assert!(p.detail.contains("issuer"), "{}", p.detail);
        // The same issuer cannot be trusted twice.
        assert!(
            both.also_trust(Authenticator::new(&settings()).unwrap())
                .is_err()
        );
    }
}
