//! HTTP plumbing written once: the request/response types every HTTP function and the
//! local host use, JSON body parsing with precise errors, and path routing.

use crate::inbound::problem::{FieldError, Problem};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The largest request body accepted (API Gateway allows more; screenings are small).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// An HTTP request as the use cases see it, whichever host received it.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// Method.
    pub method: Method,
    /// Path without query string (e.g. `/children/0190…`).
    pub path: String,
    /// Decoded query parameters in order.
    pub query: Vec<(String, String)>,
    /// Headers (names lower-case).
    pub headers: HeaderMap,
    /// Raw body.
    pub body: Bytes,
    /// Request id, echoed in `x-request-id`, problem bodies and log lines.
    pub request_id: String,
}

impl ApiRequest {
    /// A header as text, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A query parameter.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP response.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    /// Status code.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Bytes,
}

impl ApiResponse {
    /// A JSON response.
    pub fn json(status: StatusCode, value: &impl Serialize) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Self {
            status,
            headers,
            body: Bytes::from(body),
        }
    }

    /// A file: its bytes and media type, never sniffed, and for HTML a Content Security
    /// Policy that lets it load nothing and run nothing (a report's styles are inline).
    pub fn file(status: StatusCode, bytes: Vec<u8>, media_type: &'static str) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(media_type),
        );
        headers.insert(
            http::header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if media_type.starts_with("text/html") {
            headers.insert(
                http::header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
                ),
            );
        }
        Self {
            status,
            headers,
            body: Bytes::from(bytes),
        }
    }

    /// A problem+json response.
    pub fn problem(problem: &Problem, instance: &str, request_id: &str) -> Self {
        let body = serde_json::to_vec(&problem.body(instance, request_id))
            .unwrap_or_else(|_| b"{}".to_vec());
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        for (name, value) in &problem.headers {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(*name, v);
            }
        }
        Self {
            status: StatusCode::from_u16(problem.status)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers,
            body: Bytes::from(body),
        }
    }

    /// Adds a header (ignored if the value is not a valid header value).
    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }
}

/// Parses a JSON body into `T`, refusing wrong media types, oversize bodies, malformed
/// JSON and (with `deny_unknown_fields` on `T`) unknown fields, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(req: &ApiRequest) -> Result<T, Problem> {
    if req.body.len() > MAX_BODY_BYTES {
        return Err(Problem::payload_too_large(MAX_BODY_BYTES));
    }
    match req.header("content-type") {
        Some(ct) if is_json_media_type(ct) => {}
        Some(ct) => {
            return Err(Problem::unsupported_media_type(format!(
                "expected application/json, got '{}'",
                ct.chars().take(100).collect::<String>()
            )));
        }
        None => {
            return Err(Problem::unsupported_media_type(
                "the Content-Type header is required (application/json)",
            ));
        }
    }
    let mut de = serde_json::Deserializer::from_slice(&req.body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let reason = strip_position(&inner.to_string());
        match inner.classify() {
            serde_json::error::Category::Data => Problem::malformed(
                format!("{}: {reason}", if path == "." { "body" } else { &path }),
                vec![FieldError::new(
                    if path == "." { "body".into() } else { path },
                    reason,
                )],
            ),
            _ => Problem::malformed(
                format!("the body is not valid JSON: {reason}"),
                vec![FieldError::new("body", reason)],
            ),
        }
    })?;
    de.end().map_err(|e| {
        Problem::malformed(
            "the body has trailing characters after the JSON value",
            vec![FieldError::new("body", strip_position(&e.to_string()))],
        )
    })?;
    Ok(value)
}

fn is_json_media_type(ct: &str) -> bool {
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// serde_json appends " at line L column C"; keep it only for syntax errors' detail.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains(" column ") => message[..i].to_owned(),
        _ => message.to_owned(),
    }
}

/// Matches a path against a pattern like `/children/{id}/risk-profile`, returning the
/// captured segments in order.
pub fn match_path<'a>(pattern: &str, path: &'a str) -> Option<Vec<&'a str>> {
    let mut params = Vec::new();
    let mut pat = pattern.trim_end_matches('/').split('/');
    let mut segs = path.trim_end_matches('/').split('/');
    loop {
        match (pat.next(), segs.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(s)) if p.starts_with('{') && p.ends_with('}') => {
                if s.is_empty() {
                    return None;
                }
                params.push(s);
            }
            (Some(p), Some(s)) if p == s => {}
            _ => return None,
        }
    }
}

/// Parses an `If-Match` value: one quoted version as this API issues (`"3"`), weak or strong.
pub fn parse_if_match(value: Option<&str>) -> Result<u64, crate::services::ServiceError> {
    let raw = value.ok_or_else(|| {
        crate::services::ServiceError::PreconditionRequired(
            "send If-Match with the ETag you read, so concurrent changes are not lost".into(),
        )
    })?;
    raw.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map_err(|_| {
            crate::services::ServiceError::invalid(
                "If-Match",
                "must be an ETag this API issued, e.g. \"3\"",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Inner,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: u8,
    }

    fn req(ct: Option<&str>, body: &str) -> ApiRequest {
        let mut headers = HeaderMap::new();
        if let Some(ct) = ct {
            headers.insert("content-type", HeaderValue::from_str(ct).unwrap());
        }
        ApiRequest {
            method: Method::POST,
            path: "/x".into(),
            query: vec![],
            headers,
            body: Bytes::from(body.to_owned()),
            request_id: "r".into(),
        }
    }

    #[test]
    fn names_the_field_of_a_type_error() {
        let p = parse_json::<Body>(&req(
            Some("application/json"),
            r#"{"name":"a","inner":{"count":300}}"#,
        ))
        .unwrap_err();
        assert_eq!(p.status, 400);
        assert_eq!(p.errors[0].field, "inner.count");
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let p = parse_json::<Body>(&req(
            Some("application/json; charset=utf-8"),
            r#"{"name":"a","inner":{"count":1},"extra":1}"#,
        ))
        .unwrap_err();
        assert!(
            p.errors[0].reason.contains("unknown field `extra`"),
            "{p:?}"
        );
    }

    #[test]
    fn syntax_errors_media_types_and_size() {
        assert_eq!(
            parse_json::<Body>(&req(Some("application/json"), "{"))
                .unwrap_err()
                .slug,
            "malformed-request"
        );
        assert_eq!(
            parse_json::<Body>(&req(Some("text/plain"), "{}"))
                .unwrap_err()
                .status,
            415
        );
        assert_eq!(
            parse_json::<Body>(&req(None, "{}")).unwrap_err().status,
            415
        );
        let big = "x".repeat(MAX_BODY_BYTES + 1);
        assert_eq!(
            parse_json::<Body>(&req(Some("application/json"), &big))
                .unwrap_err()
                .status,
            413
        );
        assert!(
            parse_json::<Body>(&req(
                Some("application/json"),
                r#"{"name":"a","inner":{"count":1}} x"#
            ))
            .is_err()
        );
    }

    #[test]
    fn path_matching() {
        assert_eq!(
            match_path("/children/{id}", "/children/abc"),
            Some(vec!["abc"])
        );
        assert_eq!(
            match_path("/children/{id}", "/children/abc/"),
            Some(vec!["abc"])
        );
        assert_eq!(match_path("/children/{id}", "/children/"), None);
        assert_eq!(match_path("/children", "/children"), Some(vec![]));
        assert_eq!(
            match_path("/children/{id}/risk-profile", "/children/a/risk-profile"),
            Some(vec!["a"])
        );
        assert_eq!(match_path("/children/{id}", "/children/a/b"), None);
    }
}

/// Parses a raw query string (`a=1&b=x+y`) into decoded pairs (`+` is a space).
pub fn parse_query(raw: Option<&str>) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    raw.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod query_tests {
    use super::parse_query;

    #[test]
    fn decodes_pairs() {
        assert_eq!(
            parse_query(Some("a=1&b=x+y%C4%81&c")),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x yā".into()),
                ("c".into(), String::new())
            ]
        );
        assert!(parse_query(None).is_empty());
    }
}
