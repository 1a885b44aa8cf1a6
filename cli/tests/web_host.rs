//! The web client's side of `ravis serve`: security headers on its paths, the development
//! sign-in (a token the API accepts, with the organisations it needs registered), and the
//! API unchanged beside it.

use crate::support::Server;
use crate::support::http::request;
use serde_json::{Value, json};

#[test]
fn the_client_paths_carry_a_strict_content_security_policy() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), false);
    // Built or not (then a 404 that says how to build it), the answer has the headers.
    for path in ["/", "/app/app.js", "/app/missing.js"] {
        let r = request(&server.addr, "GET", path, &[], None).unwrap();
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
    }
    let missing = request(&server.addr, "GET", "/app/missing.js", &[], None).unwrap();
    assert_eq!(missing.status, 404);
    // An API path is still the API's: a problem, not a page.
    let api = request(&server.addr, "GET", "/children", &[], None).unwrap();
    assert_eq!(api.status, 401);
    assert!(
        api.header("content-type")
            .is_some_and(|c| c.starts_with("application/problem+json"))
    );
}

#[test]
fn the_development_sign_in_mints_a_token_the_api_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), false);
    let body =
        json!({"roles": ["education_specialist"], "organisation": "preschool-7"}).to_string();
    let json_type = [("Content-Type", "application/json")];
    let r = request(&server.addr, "POST", "/dev/token", &json_type, Some(&body)).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let answer: Value = r.json();
    let token = answer["token"].as_str().unwrap();
    let auth = format!("Bearer {token}");
    // The token is the chosen role's, and its organisation and a provider are registered.
    for org in ["preschool-7", "dev-provider"] {
        let got = request(
            &server.addr,
            "GET",
            &format!("/organisations/{org}"),
            &[("Authorization", &auth)],
            None,
        )
        .unwrap();
        assert_eq!(got.status, 200, "{org}: {}", got.body);
    }
    let kind = request(
        &server.addr,
        "GET",
        "/organisations/preschool-7",
        &[("Authorization", &auth)],
        None,
    )
    .unwrap();
    assert_eq!(kind.json()["kind"], "preschool");
    // Education staff may not register organisations: the token carries only that role.
    let org = json!({"id": "x-org", "kind": "school", "name": "X", "atvk": "0001000"}).to_string();
    let refused = request(
        &server.addr,
        "POST",
        "/organisations",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        Some(&org),
    )
    .unwrap();
    assert_eq!(refused.status, 403, "{}", refused.body);

    // Refused: a body that is not JSON by type, an unknown role, a host name that is not loopback.
    let plain = request(
        &server.addr,
        "POST",
        "/dev/token",
        &[("Content-Type", "text/plain")],
        Some(&body),
    )
    .unwrap();
    assert_eq!(plain.status, 415);
    let wizard = json!({"roles": ["wizard"], "organisation": "x-1"}).to_string();
    let r = request(
        &server.addr,
        "POST",
        "/dev/token",
        &json_type,
        Some(&wizard),
    )
    .unwrap();
    assert_eq!(r.status, 422);
    assert!(r.body.contains("unknown role"), "{}", r.body);
}

#[test]
fn a_web_config_is_served_and_an_issuer_is_trusted_beside_the_development_tokens() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on the issuer's port: its key set cannot be fetched.
    let issuer = "http://127.0.0.1:9";
    let config = json!({"oidc": {"issuer": issuer, "client_id": "ravis-web",
        "redirect_uri": "http://127.0.0.1:8080/"}})
    .to_string();
    let path = dir.path().join("web-config.json");
    std::fs::write(&path, &config).unwrap();
    let jwks = format!("{issuer}/jwks");
    let server = Server::start_with(
        &dir.path().join("data"),
        false,
        &[
            "--web-config",
            path.to_str().unwrap(),
            "--jwt-issuer",
            issuer,
            "--jwt-jwks-url",
            &jwks,
            "--jwt-audience",
            "ravis-web",
        ],
        &[],
    );
    let served = request(&server.addr, "GET", "/app/config.json", &[], None).unwrap();
    assert_eq!(served.status, 200);
    assert_eq!(served.body, config);
    assert_eq!(served.header("content-type"), Some("application/json"));
    // The page may connect to the issuer (discovery, token endpoint), and nowhere else new.
    for path in ["/", "/app/config.json"] {
        let r = request(&server.addr, "GET", path, &[], None).unwrap();
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains(&format!("connect-src 'self' {issuer};")),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
    }
    // Development tokens still count.
    let dev = format!("Bearer {}", server.token);
    let r = request(
        &server.addr,
        "GET",
        "/worklist",
        &[("Authorization", &dev)],
        None,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    // A token naming the issuer goes to the issuer's keys (unreachable here: 503, not the
    // development key's 401), and one naming another issuer to the development key.
    use base64::Engine as _;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let forged = |iss: &str, alg: &str| {
        format!(
            "Bearer {}.{}.c2ln",
            b64(json!({"alg": alg, "kid": "k1", "typ": "JWT"})),
            b64(
                json!({"iss": iss, "sub": "x", "aud": "ravis-web", "exp": 4_000_000_000u64,
                "ravis:role": "health_specialist", "ravis:org": "clinic-1"})
            )
        )
    };
    let worklist = |authorization: &str| {
        request(
            &server.addr,
            "GET",
            "/worklist",
            &[("Authorization", authorization)],
            None,
        )
        .unwrap()
    };
    let r = worklist(&forged(issuer, "RS256"));
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("identity provider"), "{}", r.body);
    // The development key's algorithm does not verify the issuer's tokens.
    let r = worklist(&forged(issuer, "HS256"));
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("algorithm"), "{}", r.body);
    let r = worklist(&forged("https://evil.example", "RS256"));
    assert_eq!(r.status, 401, "{}", r.body);
}

#[test]
fn a_bad_web_config_stops_the_start_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web-config.json");
    std::fs::write(&path, r#"{"oidc": {"issuer": "http://idp.example.lv", "client_id": "c", "redirect_uri": "https://r.example.lv/"}}"#).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ravis"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["serve", "--port", "0", "--no-workers", "--web-config"])
        .arg(&path)
        .env("RAVIS_LOG", "error")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("oidc.issuer: must be an https URL"),
        "{stderr}"
    );
    // The issuer's key set and audience are required with it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ravis"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args([
            "serve",
            "--port",
            "0",
            "--jwt-issuer",
            "https://idp.example.lv",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--jwt-jwks-url"));
    // A key set over plain HTTP off loopback is refused, named by its option.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ravis"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args([
            "serve",
            "--port",
            "0",
            "--no-workers",
            "--jwt-issuer",
            "https://idp.example.lv",
        ])
        .args([
            "--jwt-jwks-url",
            "http://idp.example.lv/jwks",
            "--jwt-audience",
            "ravis-web",
        ])
        .env("RAVIS_LOG", "error")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--jwt-jwks-url: the JWKS URL must be an https URL"),
        "{stderr}"
    );
}
