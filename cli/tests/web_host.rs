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
