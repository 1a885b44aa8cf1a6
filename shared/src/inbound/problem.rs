//! RFC 9457 problem details: the one place an HTTP error body is built.

pub use crate::domain::FieldError;
use serde_json::{Map, Value};

/// An error answer of the API, rendered as `application/problem+json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// HTTP status.
    pub status: u16,
    /// Short kebab-case kind; the `type` URI is `urn:ravis:problem:<slug>`.
    pub slug: &'static str,
    /// Human title of the kind (stable per slug).
    pub title: &'static str,
    /// What happened in this instance.
    pub detail: String,
    /// Field-level errors, for validation problems.
    pub errors: Vec<FieldError>,
    /// Extra members (e.g. `existing_id`).
    pub extra: Map<String, Value>,
    /// Extra response headers (e.g. `WWW-Authenticate`, `Allow`).
    pub headers: Vec<(&'static str, String)>,
}

impl Problem {
    fn new(
        status: u16,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            slug,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            extra: Map::new(),
            headers: Vec::new(),
        }
    }

    /// 400: the body is not well-formed JSON or not the expected shape.
    pub fn malformed(detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        let mut p = Self::new(400, "malformed-request", "Malformed request", detail);
        p.errors = errors;
        p
    }

    /// 422: well-formed, but fields break the rules.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.reason),
            many => format!("{} fields are invalid", many.len()),
        };
        let mut p = Self::new(422, "validation-failed", "Validation failed", detail);
        p.errors = errors;
        p
    }

    /// 401: no or bad credentials.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut p = Self::new(401, "unauthorized", "Authentication required", detail);
        p.headers.push((
            "www-authenticate",
            "Bearer realm=\"ravis\", error=\"invalid_token\"".into(),
        ));
        p
    }

    /// 403: authenticated, but not allowed.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(403, "forbidden", "Forbidden", detail)
    }

    /// 404: no such resource (or not visible to the caller).
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, "not-found", "Not found", detail)
    }

    /// 405: the path exists but not with this method.
    pub fn method_not_allowed(allowed: &[&str]) -> Self {
        let mut p = Self::new(
            405,
            "method-not-allowed",
            "Method not allowed",
            format!("allowed methods: {}", allowed.join(", ")),
        );
        p.headers.push(("allow", allowed.join(", ")));
        p
    }

    /// 409: conflicts with the current state (duplicate, reused idempotency key).
    pub fn conflict(slug: &'static str, detail: impl Into<String>) -> Self {
        Self::new(409, slug, "Conflict", detail)
    }

    /// 410: the resource is gone for good (e.g. a child merged into another one).
    pub fn gone(slug: &'static str, detail: impl Into<String>) -> Self {
        Self::new(410, slug, "Gone", detail)
    }

    /// 412: `If-Match` did not match the current version.
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(412, "precondition-failed", "Precondition failed", detail)
    }

    /// 428: a conditional request was required (`If-Match`).
    pub fn precondition_required(detail: impl Into<String>) -> Self {
        Self::new(
            428,
            "precondition-required",
            "Precondition required",
            detail,
        )
    }

    /// 413: the body is larger than allowed.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            413,
            "payload-too-large",
            "Payload too large",
            format!("the request body exceeds {limit} bytes"),
        )
    }

    /// 415: not JSON.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            detail,
        )
    }

    /// 503: a dependency is unavailable; the client may retry.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        let mut p = Self::new(503, "unavailable", "Service unavailable", detail);
        p.headers.push(("retry-after", "1".into()));
        p
    }

    /// 500: a bug or corrupt data; details go to the log, not to the client.
    pub fn internal() -> Self {
        Self::new(
            500,
            "internal-error",
            "Internal error",
            "an unexpected error occurred; quote the request id when reporting it",
        )
    }

    /// Adds an extension member.
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(name.to_owned(), value.into());
        self
    }

    /// The JSON body for a request path and request id.
    pub fn body(&self, instance: &str, request_id: &str) -> Value {
        let mut body = Map::new();
        body.insert(
            "type".into(),
            format!("urn:ravis:problem:{}", self.slug).into(),
        );
        body.insert("title".into(), self.title.into());
        body.insert("status".into(), self.status.into());
        body.insert("detail".into(), self.detail.clone().into());
        body.insert("instance".into(), instance.into());
        body.insert("request_id".into(), request_id.into());
        if !self.errors.is_empty() {
            body.insert(
                "errors".into(),
                serde_json::to_value(&self.errors).unwrap_or(Value::Null),
            );
        }
        for (k, v) in &self.extra {
            body.insert(k.clone(), v.clone());
        }
        Value::Object(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_rfc9457_members_and_field_errors() {
        let p = Problem::validation(vec![FieldError::new(
            "birth_date",
            "must not be in the future",
        )]);
        let body = p.body("/children", "req-1");
        assert_eq!(body["type"], "urn:ravis:problem:validation-failed");
        assert_eq!(body["status"], 422);
        assert_eq!(body["detail"], "birth_date: must not be in the future");
        assert_eq!(body["instance"], "/children");
        assert_eq!(body["request_id"], "req-1");
        assert_eq!(body["errors"][0]["field"], "birth_date");
    }
}
