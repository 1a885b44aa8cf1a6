//! Verification keys from a JWKS document (RFC 7517), cached by key id. An unknown `kid`
//! triggers a refetch at most once per [`MIN_REFETCH`], so a flood of tokens with made-up
//! key ids cannot turn into a flood of requests to the identity provider, while a key
//! rotated in by the provider is picked up at once.

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Shortest time between two fetches of the key set.
pub const MIN_REFETCH: Duration = Duration::from_secs(60);

/// Why no key could be found for a token.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key set (fetched at most a minute ago) has no key with this id.
    #[error("the token's key id '{0}' is not among the identity provider's keys")]
    UnknownKeyId(String),
    /// The key set could not be fetched or read.
    #[error("the identity provider's keys could not be fetched")]
    Fetch(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The key with this id is not usable (e.g. an unsupported key type).
    #[error("the identity provider's key '{0}' is not usable")]
    Unusable(String),
}

/// Something that fetches the current key set.
pub trait JwksFetch: Send + Sync + 'static {
    /// Fetches the key set.
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<JwkSet, KeyError>> + Send + '_>>;
}

struct State {
    keys: HashMap<String, Jwk>,
    last_fetch: Option<Instant>,
}

/// A cache of verification keys by key id.
pub struct JwksCache {
    fetcher: Box<dyn JwksFetch>,
    state: Mutex<State>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwksCache")
    }
}

impl JwksCache {
    /// An empty cache; the first lookup fetches.
    pub fn new(fetcher: impl JwksFetch) -> Self {
        Self {
            fetcher: Box::new(fetcher),
            state: Mutex::new(State {
                keys: HashMap::new(),
                last_fetch: None,
            }),
        }
    }

    /// The verification key with id `kid`, fetching the key set when the id is unknown and
    /// the last fetch is at least [`MIN_REFETCH`] old.
    pub async fn key(&self, kid: &str) -> Result<DecodingKey, KeyError> {
        let mut state = self.state.lock().await;
        if !state.keys.contains_key(kid)
            && state.last_fetch.is_none_or(|t| t.elapsed() >= MIN_REFETCH)
        {
            // Count the attempt even if it fails, so a failing provider is not hammered either.
            state.last_fetch = Some(Instant::now());
            let set = self.fetcher.fetch().await?;
            state.keys = set
                .keys
                .into_iter()
                .filter_map(|k| k.common.key_id.clone().map(|id| (id, k)))
                .collect();
            tracing::info!(keys = state.keys.len(), "verification keys fetched");
        }
        let jwk = state
            .keys
            .get(kid)
            .ok_or_else(|| KeyError::UnknownKeyId(kid.chars().take(64).collect()))?;
        DecodingKey::from_jwk(jwk).map_err(|_| KeyError::Unusable(kid.chars().take(64).collect()))
    }
}

/// Fetches a JWKS document over HTTPS (plain HTTP only to a loopback address, for tests).
#[cfg(feature = "jwks")]
pub mod http_fetch {
    use super::{JwksFetch, KeyError};
    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty, Limited};
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;
    use jsonwebtoken::jwk::JwkSet;
    use std::future::Future;
    use std::pin::Pin;
    use std::time::Duration;

    /// The largest key set accepted.
    const MAX_BYTES: usize = 1024 * 1024;
    /// How long one fetch may take.
    const TIMEOUT: Duration = Duration::from_secs(5);

    type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

    /// A JWKS URL that breaks the rule of [`https_or_loopback`](crate::domain::remote_url::https_or_loopback).
    #[derive(Debug, thiserror::Error)]
    #[error("the JWKS URL {0}")]
    pub struct JwksUrlError(#[source] pub crate::domain::remote_url::UrlError);

    /// A JWKS document at a URL.
    pub struct HttpJwks {
        url: http::Uri,
        /// Made by the first fetch: making it reads the system's trust store (about 150
        /// certificate files), which has no place in a function's cold start
        /// (docs/BENCHMARKS.md, "Cold start").
        client: tokio::sync::OnceCell<HttpsClient>,
    }

    impl HttpJwks {
        /// A fetcher for `url` (https, or http to 127.0.0.1/localhost/[::1]).
        pub fn new(url: &str) -> Result<Self, JwksUrlError> {
            let uri = crate::domain::remote_url::https_or_loopback(url).map_err(JwksUrlError)?;
            Ok(Self {
                url: uri,
                client: tokio::sync::OnceCell::new(),
            })
        }

        async fn client(&self) -> Result<&HttpsClient, KeyError> {
            self.client
                .get_or_try_init(|| async {
                    let connector = hyper_rustls::HttpsConnectorBuilder::new()
                        .with_native_roots()
                        .map_err(|e| {
                            KeyError::Fetch(format!("no TLS root certificates: {e}").into())
                        })?
                        .https_or_http()
                        .enable_http1()
                        .build();
                    Ok(Client::builder(TokioExecutor::new()).build(connector))
                })
                .await
        }

        async fn get(&self) -> Result<JwkSet, KeyError> {
            let fail = |e: String| KeyError::Fetch(e.into());
            let client = self.client().await?;
            let response = tokio::time::timeout(TIMEOUT, client.get(self.url.clone()))
                .await
                .map_err(|_| fail("timed out".into()))?
                .map_err(|e| KeyError::Fetch(Box::new(e)))?;
            if !response.status().is_success() {
                return Err(fail(format!("HTTP {}", response.status())));
            }
            let body = Limited::new(response.into_body(), MAX_BYTES)
                .collect()
                .await
                .map_err(|e| fail(format!("reading the body: {e}")))?
                .to_bytes();
            serde_json::from_slice(&body).map_err(|e| KeyError::Fetch(Box::new(e)))
        }
    }

    impl JwksFetch for HttpJwks {
        fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<JwkSet, KeyError>> + Send + '_>> {
            Box::pin(self.get())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AuthSettings, JwtKey};
    use crate::inbound::auth::Authenticator;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// An ES256 key pair with its public JWK.
    struct TestKey {
        encoding: EncodingKey,
        jwk: serde_json::Value,
    }

    fn test_key(kid: &str) -> TestKey {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref().to_vec(); // 0x04 ‖ x ‖ y
        TestKey {
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk: serde_json::json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])}),
        }
    }

    /// Serves whatever key set it currently holds and counts fetches.
    #[derive(Clone, Default)]
    struct FakeIdp {
        keys: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
        fetches: Arc<AtomicUsize>,
    }

    impl JwksFetch for FakeIdp {
        fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<JwkSet, KeyError>> + Send + '_>> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            let keys = self.keys.lock().unwrap().clone();
            Box::pin(async move {
                serde_json::from_value(serde_json::json!({"keys": keys}))
                    .map_err(|e| KeyError::Fetch(Box::new(e)))
            })
        }
    }

    fn settings() -> AuthSettings {
        AuthSettings {
            issuer: "https://idp.example".into(),
            audience: vec!["ravis-api".into()],
            algorithms: vec![Algorithm::ES256],
            key: JwtKey::JwksUrl("https://idp.example/jwks".into()),
            leeway_seconds: 0,
        }
    }

    fn token(key: &TestKey, kid: Option<&str>) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = kid.map(str::to_owned);
        let claims = serde_json::json!({"sub": "u1", "iss": "https://idp.example", "aud": "ravis-api",
            "exp": now + 600, "nbf": now - 5, "ravis:role": "health_specialist", "ravis:org": "clinic"});
        jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_key_ids_refetch_at_most_once_a_minute() {
        let k1 = test_key("k1");
        let idp = FakeIdp::default();
        idp.keys.lock().unwrap().push(k1.jwk.clone());
        let cache = JwksCache::new(idp.clone());
        assert!(cache.key("k1").await.is_ok());
        assert!(cache.key("k1").await.is_ok());
        assert_eq!(
            idp.fetches.load(Ordering::SeqCst),
            1,
            "a known key is served from the cache"
        );
        assert!(matches!(
            cache.key("nope").await,
            Err(KeyError::UnknownKeyId(_))
        ));
        assert!(matches!(
            cache.key("nope2").await,
            Err(KeyError::UnknownKeyId(_))
        ));
        assert_eq!(
            idp.fetches.load(Ordering::SeqCst),
            1,
            "no refetch within a minute"
        );
        // The provider rotates a key in; after a minute an unknown kid fetches again.
        idp.keys.lock().unwrap().push(test_key("k2").jwk);
        tokio::time::advance(MIN_REFETCH).await;
        assert!(cache.key("k2").await.is_ok());
        assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn tokens_verify_against_the_key_set_by_kid() {
        let k1 = test_key("k1");
        let idp = FakeIdp::default();
        idp.keys.lock().unwrap().push(k1.jwk.clone());
        let auth = Authenticator::with_jwks(&settings(), idp).unwrap();
        let ok = auth
            .authenticate(Some(&format!("Bearer {}", token(&k1, Some("k1")))))
            .await
            .unwrap();
        assert_eq!(ok.subject, "u1");

        let no_kid = auth
            .authenticate(Some(&format!("Bearer {}", token(&k1, None))))
            .await
            .unwrap_err();
        assert_eq!(no_kid.status, 401);
        assert!(no_kid.detail.contains("no key id"), "{}", no_kid.detail);

        let unknown = auth
            .authenticate(Some(&format!("Bearer {}", token(&k1, Some("zz")))))
            .await
            .unwrap_err();
        assert_eq!(unknown.status, 401);
        assert!(unknown.detail.contains("'zz'"), "{}", unknown.detail);

        // Signed by another key under k1's id: the signature does not verify.
        let impostor = test_key("k1");
        let forged = auth
            .authenticate(Some(&format!("Bearer {}", token(&impostor, Some("k1")))))
            .await
            .unwrap_err();
        assert!(forged.detail.contains("signature"), "{}", forged.detail);

        // HS256 "signed" with the public key as the secret: refused for its algorithm.
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        let public_as_secret = serde_json::to_vec(&k1.jwk).unwrap();
        let now = jsonwebtoken::get_current_timestamp();
        let claims = serde_json::json!({"sub": "evil", "iss": "https://idp.example", "aud": "ravis-api",
            "exp": now + 600, "ravis:role": "registry_administrator", "ravis:org": "x"});
        let hs = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_secret(&public_as_secret),
        )
        .unwrap();
        let refused = auth
            .authenticate(Some(&format!("Bearer {hs}")))
            .await
            .unwrap_err();
        assert!(refused.detail.contains("algorithm"), "{}", refused.detail);
    }

    #[test]
    fn a_key_set_verifies_only_rs256_or_es256() {
        let mut s = settings();
        s.algorithms = vec![Algorithm::HS256];
        assert!(Authenticator::with_jwks(&s, FakeIdp::default()).is_err());
    }

    #[cfg(feature = "jwks")]
    #[tokio::test]
    async fn the_key_set_is_fetched_over_http_from_loopback() {
        use super::http_fetch::HttpJwks;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let k1 = test_key("k1");
        let body = serde_json::json!({"keys": [k1.jwk]}).to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            for status in ["200 OK", "500 Internal Server Error"] {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await.unwrap();
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(reply.as_bytes()).await.unwrap();
            }
        });
        let fetcher =
            HttpJwks::new(&format!("http://127.0.0.1:{}/jwks.json", addr.port())).unwrap();
        let set = fetcher.fetch().await.unwrap();
        assert_eq!(set.keys.len(), 1);
        assert!(matches!(fetcher.fetch().await, Err(KeyError::Fetch(_))));
        server.await.unwrap();
        // Plain HTTP anywhere but loopback is refused at configuration time.
        assert!(HttpJwks::new("http://idp.example/jwks.json").is_err());
        assert!(HttpJwks::new("https://idp.example/jwks.json").is_ok());
    }
}
