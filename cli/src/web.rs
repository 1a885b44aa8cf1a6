//! The web client as `ravis serve` hosts it: the built static files (embedded at compile
//! time from `web/dist/`, see `build.rs`) at `GET /` and `GET /app/…`, with strict security
//! headers, and — only on a loopback address — the development sign-in `POST /dev/token`.
//!
//! No API path is `/`, under `/app/` or under `/dev/` (checked by a test against the route
//! table), so every other request goes to the API unchanged.

use crate::token::{TokenOptions, mint};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use ravis::domain::{Atvk, Role};
use ravis::inbound::http::ApiResponse;
use serde_json::{Value, json};
use std::path::PathBuf;

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// Where the client's own files live (the SPA uses hash routes, so no other path is its).
pub const ASSET_PREFIX: &str = "/app/";
/// The development sign-in (local host only).
pub const DEV_TOKEN_PATH: &str = "/dev/token";
/// Lifetime of a development sign-in token.
pub const DEV_TOKEN_SECONDS: u64 = 8 * 3600;
/// The programme provider the development sign-in registers, so a referral has somewhere to go.
pub const DEV_PROVIDER_ORG: &str = "dev-provider";

/// Scripts, styles and connections only from this origin; nothing may frame the client.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

/// Whether the binary was built with the client.
pub fn is_built() -> bool {
    ASSETS.iter().any(|(path, _)| *path == "/index.html")
}

/// Where the client reads its sign-in configuration (`ravis serve --web-config`).
pub const CONFIG_PATH: &str = "/app/config.json";

/// The web client part of the local host.
#[derive(Debug, Clone, Default)]
pub struct WebHost {
    /// The data directory whose key signs development tokens; `None`: no dev sign-in.
    pub dev_sign_in: Option<PathBuf>,
    /// The client's `app/config.json` (`--web-config`): sign-in at an OpenID Connect issuer.
    pub config: Option<WebConfig>,
}

/// A checked `app/config.json` (docs/WEB.md, "Sign-in"): `oidc.issuer` (https, or http on
/// loopback), `oidc.client_id`, `oidc.redirect_uri`, and optionally `api` (the API's URL;
/// absent: this host). The client's Content-Security-Policy then also allows connections to
/// the issuer's origin (discovery, token endpoint) and to the API's.
#[derive(Debug, Clone)]
pub struct WebConfig {
    body: bytes::Bytes,
    csp: HeaderValue,
}

impl WebConfig {
    /// Checks the file's content; the error names the field.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let text = |pointer: &str| value.pointer(pointer).and_then(Value::as_str);
        let url = |pointer: &str, field: &str| -> Result<String, String> {
            let raw = text(pointer)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| format!("{field}: required"))?;
            let uri = ravis::domain::remote_url::https_or_loopback(raw)
                .map_err(|e| format!("{field}: {e}"))?;
            let scheme = uri.scheme_str().unwrap_or("https");
            let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
            Ok(format!("{scheme}://{authority}"))
        };
        let mut origins = vec![url("/oidc/issuer", "oidc.issuer")?];
        url("/oidc/redirect_uri", "oidc.redirect_uri")?;
        if text("/oidc/client_id").is_none_or(|c| c.trim().is_empty()) {
            return Err("oidc.client_id: required".into());
        }
        if text("/api").is_some_and(|a| !a.trim().is_empty()) {
            origins.push(url("/api", "api")?);
        }
        origins.dedup();
        let csp = CONTENT_SECURITY_POLICY.replace(
            "connect-src 'self'",
            &format!("connect-src 'self' {}", origins.join(" ")),
        );
        Ok(Self {
            body: bytes::Bytes::copy_from_slice(bytes),
            csp: HeaderValue::from_str(&csp).map_err(|e| format!("oidc.issuer: {e}"))?,
        })
    }
}

/// Whether a request is the web client's rather than the API's.
pub fn is_web_request(method: &Method, path: &str) -> bool {
    let read = *method == Method::GET || *method == Method::HEAD;
    (read && (path == "/" || path.starts_with(ASSET_PREFIX)))
        || (*method == Method::POST && path == DEV_TOKEN_PATH)
}

impl WebHost {
    /// Answers a request for which `is_web_request` holds (`dev_token` gets the JSON body).
    pub fn static_file(&self, method: &Method, path: &str) -> ApiResponse {
        let file = if path == "/" { "/index.html" } else { path };
        let found = ASSETS
            .iter()
            .find(|(p, _)| path != "/index.html" && *p == file);
        let config = self
            .config
            .as_ref()
            .filter(|_| path == CONFIG_PATH)
            .map(|c| &c.body[..]);
        let (status, content_type, body): (StatusCode, &str, &[u8]) = match (config, found) {
            (Some(bytes), _) => (StatusCode::OK, "application/json", bytes),
            (None, Some((p, bytes))) => (StatusCode::OK, content_type(p), bytes),
            (None, None) if !is_built() => (
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                b"The web client is not built into this ravis binary: run `make web`, then build and start ravis again.\n",
            ),
            (None, None) => (StatusCode::NOT_FOUND, "text/plain; charset=utf-8", b"Not found\n"),
        };
        let mut headers = security_headers();
        if let Some(config) = &self.config {
            headers.insert("content-security-policy", config.csp.clone());
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        let body = if *method == Method::HEAD {
            bytes::Bytes::new()
        } else {
            bytes::Bytes::copy_from_slice(body)
        };
        ApiResponse {
            status,
            headers,
            body,
        }
    }

    /// `POST /dev/token`: a development token for the chosen roles and organisation. Only
    /// when the host listens on loopback, and only for requests naming a loopback host
    /// (a page of another site that rebinds its name to 127.0.0.1 names its own host).
    pub fn dev_token(&self, headers: &HeaderMap, body: &[u8]) -> Result<DevSignIn, ApiResponse> {
        let Some(data_dir) = &self.dev_sign_in else {
            return Err(text(StatusCode::NOT_FOUND, "development sign-in is off\n"));
        };
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !is_loopback_host(host) {
            return Err(text(
                StatusCode::FORBIDDEN,
                "development sign-in answers only requests to a loopback address\n",
            ));
        }
        let json_body = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json_body {
            return Err(text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send application/json\n",
            ));
        }
        let request = DevTokenRequest::parse(body).map_err(|reason| {
            ApiResponse::json(
                StatusCode::UNPROCESSABLE_ENTITY,
                &json!({"title": "invalid sign-in", "detail": reason}),
            )
        })?;
        let options = TokenOptions {
            roles: request.roles.clone(),
            organisation: request.organisation.clone(),
            subject: request.subject.clone(),
            territory: request.territory.clone(),
            purpose: None,
            lifetime_seconds: DEV_TOKEN_SECONDS,
        };
        let token = mint(data_dir, &options).map_err(|e| {
            tracing::error!(error = %e, "could not mint a development token");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not mint a token\n",
            )
        })?;
        // A registry administrator's token to register the organisations through the API.
        let admin = mint(
            data_dir,
            &TokenOptions {
                roles: vec![Role::RegistryAdministrator],
                organisation: "local-dev".into(),
                subject: "dev-sign-in".into(),
                territory: None,
                purpose: Some("development sign-in".into()),
                lifetime_seconds: 60,
            },
        )
        .map_err(|e| {
            tracing::error!(error = %e, "could not mint a development token");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not mint a token\n",
            )
        })?;
        Ok(DevSignIn {
            token,
            admin_token: admin,
            request,
        })
    }
}

/// A parsed development sign-in.
#[derive(Debug, Clone)]
pub struct DevTokenRequest {
    /// Roles.
    pub roles: Vec<Role>,
    /// Organisation code.
    pub organisation: String,
    /// Subject (default `dev-<first role>`).
    pub subject: String,
    /// Territory scope.
    pub territory: Option<Atvk>,
}

impl DevTokenRequest {
    /// Parses `{"roles": [...], "organisation": "...", "subject"?, "territory"?}`.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
        let roles = value
            .get("roles")
            .and_then(Value::as_array)
            .ok_or("roles: a list of roles is required")?
            .iter()
            .map(|r| {
                r.as_str()
                    .ok_or_else(|| "roles: each role is a string".to_owned())?
                    .parse::<Role>()
                    .map_err(|e| format!("roles: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if roles.is_empty() {
            return Err("roles: choose at least one role".into());
        }
        let organisation = value
            .get("organisation")
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or("");
        let valid_org = organisation.len() >= 2
            && organisation.len() <= 64
            && organisation
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !organisation.starts_with('-');
        if !valid_org {
            return Err(
                "organisation: 2–64 characters: lower-case letters, digits and hyphens".into(),
            );
        }
        let subject = match value.get("subject").and_then(Value::as_str).map(str::trim) {
            Some(s) if !s.is_empty() => s.chars().take(100).collect(),
            _ => format!("dev-{}", roles[0].as_str()),
        };
        let territory = match value.get("territory").and_then(Value::as_str) {
            Some(t) if !t.trim().is_empty() => {
                Some(Atvk::parse(t.trim()).map_err(|e| format!("territory: {e}"))?)
            }
            _ => None,
        };
        Ok(Self {
            roles,
            organisation: organisation.to_owned(),
            subject,
            territory,
        })
    }

    /// The kind of organisation registered for this sign-in, from its first role.
    pub fn organisation_kind(&self) -> &'static str {
        match self.roles[0] {
            Role::EducationSpecialist => "preschool",
            Role::ProgrammeProvider => "programme_provider",
            Role::MunicipalitySocialService => "municipality_social_service",
            _ => "health_practice",
        }
    }
}

/// A minted development sign-in.
#[derive(Debug)]
pub struct DevSignIn {
    /// The token for the browser.
    pub token: String,
    /// A short-lived registry administrator token for registering the organisations.
    pub admin_token: String,
    /// What was asked for.
    pub request: DevTokenRequest,
}

impl DevSignIn {
    /// The answer to the browser.
    pub fn response(&self) -> ApiResponse {
        let mut response = ApiResponse::json(
            StatusCode::OK,
            &json!({
                "token": self.token,
                "expires_in": DEV_TOKEN_SECONDS,
                "roles": self.request.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                "organisation": self.request.organisation,
                "subject": self.request.subject,
            }),
        );
        response
            .headers
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

fn is_loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        // `[::1]:8080`, `127.0.0.1:8080`, `localhost:8080`
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn text(status: StatusCode, message: &'static str) -> ApiResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    ApiResponse {
        status,
        headers,
        body: bytes::Bytes::from_static(message.as_bytes()),
    }
}

fn security_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    // File names carry no content hash, so the browser revalidates each time.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ravis::inbound::routes::ROUTES;

    #[test]
    fn no_api_route_is_a_web_path() {
        for spec in ROUTES {
            assert!(
                !is_web_request(&spec.method, spec.path),
                "{} {} would be taken by the web client",
                spec.method,
                spec.path
            );
            assert!(!spec.path.starts_with(ASSET_PREFIX) && !spec.path.starts_with("/dev/"));
        }
    }

    #[test]
    fn only_loopback_hosts_may_sign_in() {
        for host in [
            "127.0.0.1:8080",
            "localhost:1",
            "[::1]:8080",
            "127.0.0.2",
            "LOCALHOST",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "example.org",
            "10.0.0.1:8080",
            "localhost.example.org:80",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn a_sign_in_needs_a_role_and_a_valid_organisation() {
        let ok = DevTokenRequest::parse(
            br#"{"roles":["education_specialist"],"organisation":"school-1"}"#,
        )
        .expect("valid");
        assert_eq!(ok.subject, "dev-education_specialist");
        assert_eq!(ok.organisation_kind(), "preschool");
        for bad in [
            r#"{"roles":[],"organisation":"school-1"}"#,
            r#"{"roles":["wizard"],"organisation":"school-1"}"#,
            r#"{"roles":["health_specialist"],"organisation":"Bad Org"}"#,
            r#"{"roles":["health_specialist"]}"#,
        ] {
            assert!(DevTokenRequest::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_index_is_only_served_at_the_root() {
        let host = WebHost::default();
        let r = host.static_file(&Method::GET, "/index.html");
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let root = host.static_file(&Method::GET, "/");
        assert_eq!(
            root.headers["content-security-policy"],
            CONTENT_SECURITY_POLICY
        );
        assert_eq!(root.status == StatusCode::OK, is_built());
    }

    #[test]
    fn a_web_config_is_served_and_opens_connections_to_the_issuer_only() {
        let file = br#"{"oidc":{"issuer":"http://127.0.0.1:9000/realm","client_id":"ravis-web","redirect_uri":"http://127.0.0.1:8080/"}}"#;
        let host = WebHost {
            dev_sign_in: None,
            config: Some(WebConfig::parse(file).expect("valid")),
        };
        let r = host.static_file(&Method::GET, CONFIG_PATH);
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(&r.body[..], &file[..]);
        assert_eq!(r.headers[CONTENT_TYPE], "application/json");
        let csp = r.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("connect-src 'self' http://127.0.0.1:9000;"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        let with_api = WebConfig::parse(
            br#"{"api":"https://api.example.lv","oidc":{"issuer":"https://idp.example.lv","client_id":"c","redirect_uri":"https://ravis.example.lv/"}}"#,
        )
        .expect("valid");
        assert!(
            with_api
                .csp
                .to_str()
                .unwrap()
                .contains("connect-src 'self' https://idp.example.lv https://api.example.lv;")
        );
        // Without --web-config there is no config.json (the client signs in locally).
        let plain = WebHost::default().static_file(&Method::GET, CONFIG_PATH);
        assert_eq!(plain.status, StatusCode::NOT_FOUND);
        for (bad, field) in [
            (
                r#"{"oidc":{"client_id":"c","redirect_uri":"https://r.lv/"}}"#,
                "oidc.issuer: required",
            ),
            (
                r#"{"oidc":{"issuer":"http://idp.example.lv","client_id":"c","redirect_uri":"https://r.lv/"}}"#,
                "oidc.issuer: must be",
            ),
            (
                r#"{"oidc":{"issuer":"https://idp.lv","redirect_uri":"https://r.lv/"}}"#,
                "oidc.client_id: required",
            ),
            (
                r#"{"oidc":{"issuer":"https://idp.lv","client_id":"c"}}"#,
                "oidc.redirect_uri: required",
            ),
            (
                r#"{"api":"ftp://x","oidc":{"issuer":"https://idp.lv","client_id":"c","redirect_uri":"https://r.lv/"}}"#,
                "api: must be",
            ),
            ("[", "not JSON"),
        ] {
            let err = WebConfig::parse(bad.as_bytes()).unwrap_err();
            assert!(err.starts_with(field), "{bad}: {err}");
        }
    }
}
