//! The open-data portal over CKAN's Action API (data.gov.lv runs CKAN; API version 3, as
//! in CKAN 2.9 and 2.10): `docs/REPORTS.md`, "Pushing to data.gov.lv (CKAN)".
//!
//! One CKAN dataset ("package") per RAVIS dataset, with a stable name (`ravis-screening`,
//! `ravis-support`, `ravis-sdq15`), and in it one resource per period, named by the period
//! (`2026-11`, `2026-Q4`, `2026`), holding that period's CSV; plus one `codelists` resource
//! (the `codelists.json` of the release pushed last). That is what a portal user expects: a dataset
//! that grows a file each period, not a new dataset each month. A push, per dataset:
//!
//! ```text
//! GET  <base>/api/3/action/package_show?id=ravis-screening     404 → package_create
//! POST <base>/api/3/action/package_create | package_patch      (JSON: title, notes, owner_org,
//!                                                               license_id cc-by-4.0, tags)
//! POST <base>/api/3/action/resource_create | resource_patch    (multipart, the file as
//!                                                               `upload`; patch when the
//!                                                               package has a resource of
//!                                                               that name)
//! Authorization: <API token>
//! ```
//!
//! Idempotent: a second push of the same period finds the package and its resource by name
//! and replaces the file, never adds one. A package of the same name owned by another
//! organisation is refused, not taken over.
//!
//! Answers (`{"success": true, "result": …}` or `{"success": false, "error": {…}}`): `429`,
//! `5xx`, a timeout or a broken connection are retried here a few times (after the portal's
//! `Retry-After`, else 1 s, 2 s, …, each wait bounded), then reported as retry; any other
//! `4xx` (403: the token is refused or may not edit the organisation; 409: invalid metadata)
//! is rejected with CKAN's error message.

use super::http_client::{AuthorisedClient, ClientSetupError, Exchanged, retry_later};
use crate::ports::{OpenDataPortal, PortalDataset, PortalRelease, ReceiverAnswer};
use bytes::Bytes;
use futures::future::BoxFuture;
use http::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// What errors and logs call the portal.
pub const PORTAL: &str = "data.gov.lv (CKAN)";

/// The licence of every dataset (CKAN's licence id; DCAT-AP's `CC_BY_4_0`).
pub const LICENSE_ID: &str = "cc-by-4.0";

/// The tags of every dataset (the DCAT-AP keywords, Latvian and English).
pub const TAGS: [&str; 8] = [
    "bērnu attīstība",
    "skrīnings",
    "veselība",
    "statistika",
    "child development",
    "screening",
    "health",
    "statistics",
];

/// The name of the codelists resource in every package.
pub const CODELISTS_RESOURCE: &str = "codelists";

/// The CKAN package name of a RAVIS dataset.
pub fn package_name(dataset_id: &str) -> String {
    format!("ravis-{dataset_id}")
}

/// How a push retries a passing failure before it reports one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    /// Tries of one call, the first included (at least 1).
    pub attempts: u32,
    /// The longest wait between two tries (a longer `Retry-After` is cut to this).
    pub max_wait: Duration,
}

impl Default for Retries {
    fn default() -> Self {
        Self {
            attempts: 3,
            max_wait: Duration::from_secs(30),
        }
    }
}

/// A CKAN portal, written to with an API token as an editor of one organisation.
pub struct CkanPortal {
    client: AuthorisedClient,
    token: String,
    organisation: String,
    retries: Retries,
}

/// Why a portal client cannot be made; the text is the setting's message.
#[derive(Debug, thiserror::Error)]
pub enum CkanSetupError {
    /// No API token.
    #[error("the API token is empty")]
    EmptyToken,
    /// An API token that cannot be sent in a header.
    #[error("the API token holds a control character")]
    TokenControlCharacter,
    /// No organisation.
    #[error("the organisation is empty")]
    EmptyOrganisation,
    /// The site's URL breaks the rule, or no client can be made.
    #[error(transparent)]
    Client(#[from] ClientSetupError),
}

/// What a call ended with when it did not succeed.
type Failed = ReceiverAnswer;

impl CkanPortal {
    /// The portal at `base_url` (the site root, e.g. `https://data.gov.lv/dati`; https, or
    /// http to loopback), writing as the holder of `token` into `organisation` (its name or
    /// id), each request bounded by `timeout`.
    pub fn new(
        base_url: &str,
        token: &str,
        organisation: &str,
        timeout: Duration,
    ) -> Result<Self, CkanSetupError> {
        if token.trim().is_empty() {
            return Err(CkanSetupError::EmptyToken);
        }
        if token.chars().any(|c| c.is_control()) {
            return Err(CkanSetupError::TokenControlCharacter);
        }
        if organisation.trim().is_empty() {
            return Err(CkanSetupError::EmptyOrganisation);
        }
        Ok(Self {
            client: AuthorisedClient::new(base_url, timeout, None)?,
            token: token.trim().to_owned(),
            organisation: organisation.trim().to_owned(),
            retries: Retries::default(),
        })
    }

    /// Retries passing failures this way.
    pub fn with_retries(mut self, retries: Retries) -> Self {
        self.retries = Retries {
            attempts: retries.attempts.max(1),
            ..retries
        };
        self
    }

    fn action_url(&self, action: &str) -> String {
        self.client.resolve(&format!("api/3/action/{action}"))
    }

    /// One action call, retried on passing failures. `Ok(None)`: `404` (only asked for by
    /// `package_show`); `Ok(Some(result))`: success.
    async fn action(
        &self,
        action: &str,
        method: Method,
        url: &str,
        body: (Option<String>, Bytes),
        not_found_is_none: bool,
    ) -> Result<Option<Value>, Failed> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = http::Request::builder()
                .method(method.clone())
                .uri(url)
                .header("accept", "application/json")
                .header("authorization", self.token.as_str());
            if let Some(content_type) = &body.0 {
                request = request.header("content-type", content_type.as_str());
            }
            let answer = match self.client.call(request, body.1.clone()).await {
                Ok(exchanged) => self.answer(action, exchanged, not_found_is_none),
                Err(failed) => Err(failed),
            };
            match answer {
                Err(ReceiverAnswer::Retry {
                    status,
                    after,
                    reason,
                }) => {
                    if attempt >= self.retries.attempts {
                        return Err(ReceiverAnswer::Retry {
                            status,
                            after,
                            reason: format!("{PORTAL} {action}: {reason} ({attempt} tries)"),
                        });
                    }
                    let backoff = Duration::from_secs(1 << (attempt - 1).min(5));
                    let wait = after.unwrap_or(backoff).min(self.retries.max_wait);
                    tracing::warn!(action, attempt, %reason, wait_s = wait.as_secs_f32(), "open-data portal: retrying");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    /// Reads one answer of the Action API.
    fn answer(
        &self,
        action: &str,
        (status, headers, body): Exchanged,
        not_found_is_none: bool,
    ) -> Result<Option<Value>, Failed> {
        let code = status.as_u16();
        if code == 429 || (500..=599).contains(&code) {
            return Err(retry_later(PORTAL, status, &headers));
        }
        let value: Option<Value> = serde_json::from_slice(&body).ok();
        // CKAN's own "Not Found Error" only: a 404 page of something else (a wrong site
        // root) is a refusal that says so.
        if code == 404
            && not_found_is_none
            && value.as_ref().is_some_and(|v| v["success"] == json!(false))
        {
            return Ok(None);
        }
        match &value {
            Some(v) if status.is_success() && v["success"] == json!(true) => {
                Ok(Some(v["result"].clone()))
            }
            _ => {
                let outcome = value.clone().unwrap_or_else(|| {
                    json!({"body": String::from_utf8_lossy(&body).chars().take(2000).collect::<String>()})
                });
                let error = describe_error(&outcome["error"]);
                let reason = match (code, value.is_some()) {
                    (200..=299, false) => {
                        format!("{PORTAL} {action} answered {status} with a body that is not JSON")
                    }
                    (200..=299, true) => format!("{PORTAL} {action} did not succeed: {error}"),
                    (404, false) => format!(
                        "{PORTAL} answered {action} with {status} and no CKAN answer; is \
                         RAVIS_CKAN_URL the portal's site root (the Action API is under \
                         <site root>/api/3/action/)?"
                    ),
                    (401 | 403, _) => format!(
                        "{PORTAL} refused the API token for {action} ({status}{}); check \
                         RAVIS_CKAN_TOKEN and that its user is an editor of organisation {}",
                        if error.is_empty() {
                            String::new()
                        } else {
                            format!(": {error}")
                        },
                        self.organisation
                    ),
                    _ => format!(
                        "{PORTAL} refused {action} ({status}){}",
                        if error.is_empty() {
                            String::new()
                        } else {
                            format!(": {error}")
                        }
                    ),
                };
                Err(ReceiverAnswer::Rejected {
                    status: code,
                    outcome,
                    reason,
                })
            }
        }
    }

    /// `POST` of a JSON body to an action.
    async fn post_json(&self, action: &str, body: &Value) -> Result<Value, Failed> {
        self.action(
            action,
            Method::POST,
            &self.action_url(action),
            (
                Some("application/json".into()),
                Bytes::from(body.to_string()),
            ),
            false,
        )
        .await
        .map(Option::unwrap_or_default)
    }

    /// `POST` of a multipart form (fields and one file as `upload`) to an action.
    async fn post_file(
        &self,
        action: &str,
        fields: &[(&str, &str)],
        (file_name, media_type, content): (&str, &str, &Bytes),
    ) -> Result<Value, Failed> {
        let (content_type, body) = multipart(fields, file_name, media_type, content);
        self.action(
            action,
            Method::POST,
            &self.action_url(action),
            (Some(content_type), body),
            false,
        )
        .await
        .map(Option::unwrap_or_default)
    }

    /// The package's metadata (what `package_create` and `package_patch` send).
    fn package_fields(&self, release: &PortalRelease, dataset: &PortalDataset) -> Value {
        let mut notes = format!(
            "{}\n\n{}\n\nRAVIS: {}. Kontakts / contact: {}.",
            dataset.description_lv,
            dataset.description_en,
            release.publisher,
            release.contact_email
        );
        if let Some(url) = &release.metadata_url {
            notes.push_str(&format!("\n\nDCAT-AP: {url}"));
        }
        let mut fields = json!({
            "name": package_name(&dataset.id),
            "title": format!("{} / {}", dataset.title_lv, dataset.title_en),
            "notes": notes,
            "owner_org": self.organisation,
            "license_id": LICENSE_ID,
            "author": release.publisher,
            "maintainer_email": release.contact_email,
            "private": false,
            "state": "active",
            "tags": TAGS.iter().map(|t| json!({"name": t})).collect::<Vec<_>>(),
        });
        if let Some(url) = &release.metadata_url {
            fields["url"] = json!(url);
        }
        fields
    }

    /// Creates or updates one dataset's package and uploads the period's CSV and the
    /// codelists into it; returns the CSV resource's URL.
    async fn publish_dataset(
        &self,
        release: &PortalRelease,
        dataset: &PortalDataset,
    ) -> Result<String, Failed> {
        let name = package_name(&dataset.id);
        if !valid_package_name(&name) {
            return Err(ReceiverAnswer::Rejected {
                status: 0,
                outcome: json!({}),
                reason: format!(
                    "dataset id {:?} gives no valid CKAN package name (2 to 100 of a-z, 0-9, - and _)",
                    dataset.id
                ),
            });
        }
        // The name is checked above: nothing in it needs encoding.
        let show_url = format!("{}?id={name}", self.action_url("package_show"));
        let existing = self
            .action(
                "package_show",
                Method::GET,
                &show_url,
                (None, Bytes::new()),
                true,
            )
            .await?;
        let fields = self.package_fields(release, dataset);
        let package = match existing {
            None => self.post_json("package_create", &fields).await?,
            Some(found) => {
                let owner = &found["organization"];
                let owned = [owner["name"].as_str(), owner["id"].as_str()]
                    .contains(&Some(self.organisation.as_str()))
                    || found["owner_org"].as_str() == Some(self.organisation.as_str());
                if !owned {
                    return Err(ReceiverAnswer::Rejected {
                        status: 0,
                        outcome: found.clone(),
                        reason: format!(
                            "{PORTAL} already has a package {name} of organisation {}, not of {}: \
                             not taken over",
                            owner["name"].as_str().unwrap_or("(none)"),
                            self.organisation
                        ),
                    });
                }
                let mut patch = fields;
                patch["id"] = found["id"].clone();
                self.post_json("package_patch", &patch).await?
            }
        };
        let package_id = package["id"]
            .as_str()
            .ok_or_else(|| ReceiverAnswer::Rejected {
                status: 0,
                outcome: package.clone(),
                reason: format!("{PORTAL} answered for package {name} without its id"),
            })?
            .to_owned();
        let resources = package["resources"].as_array().cloned().unwrap_or_default();
        let period_description = format!(
            "{} — {} ({})",
            dataset.title_lv, dataset.title_en, release.period
        );
        let csv = self
            .put_resource(
                &package_id,
                &resources,
                (&release.period, &period_description, "CSV"),
                (
                    &format!("{name}-{}.csv", release.period),
                    "text/csv",
                    &dataset.csv,
                ),
            )
            .await?;
        self.put_resource(
            &package_id,
            &resources,
            (
                CODELISTS_RESOURCE,
                "Klasifikatori un kodi / Code lists (codelists.json)",
                "JSON",
            ),
            ("codelists.json", "application/json", &release.codelists),
        )
        .await?;
        Ok(csv["url"].as_str().map_or(name, str::to_owned))
    }

    /// Replaces the file of the package's resource named `name`, or creates it.
    async fn put_resource(
        &self,
        package_id: &str,
        resources: &[Value],
        (name, description, format): (&str, &str, &str),
        file: (&str, &str, &Bytes),
    ) -> Result<Value, Failed> {
        let existing = resources
            .iter()
            .find(|r| r["name"].as_str() == Some(name))
            .and_then(|r| r["id"].as_str());
        let mimetype = file.1;
        match existing {
            Some(id) => {
                self.post_file(
                    "resource_patch",
                    &[
                        ("id", id),
                        ("description", description),
                        ("format", format),
                        ("mimetype", mimetype),
                    ],
                    file,
                )
                .await
            }
            None => {
                self.post_file(
                    "resource_create",
                    &[
                        ("package_id", package_id),
                        ("name", name),
                        ("description", description),
                        ("format", format),
                        ("mimetype", mimetype),
                    ],
                    file,
                )
                .await
            }
        }
    }
}

impl OpenDataPortal for CkanPortal {
    fn publish<'a>(&'a self, release: &'a PortalRelease) -> BoxFuture<'a, ReceiverAnswer> {
        Box::pin(async move {
            let mut locations = Vec::new();
            for dataset in &release.datasets {
                match self.publish_dataset(release, dataset).await {
                    Ok(location) => locations.push(location),
                    Err(failed) => return failed,
                }
            }
            ReceiverAnswer::Accepted { locations }
        })
    }

    fn name(&self) -> &str {
        PORTAL
    }
}

/// CKAN's rule for a package name: 2 to 100 characters of lowercase letters, digits, `-`, `_`.
pub fn valid_package_name(name: &str) -> bool {
    (2..=100).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// CKAN's `error` object in words: its message (or type) and each field's messages.
fn describe_error(error: &Value) -> String {
    let Some(map) = error.as_object() else {
        return error.as_str().unwrap_or_default().to_owned();
    };
    let mut parts = Vec::new();
    let kind = map.get("__type").and_then(Value::as_str);
    if let Some(message) = map.get("message").and_then(Value::as_str) {
        parts.push(match kind {
            Some(kind) => format!("{kind}: {message}"),
            None => message.to_owned(),
        });
    } else if let Some(kind) = kind {
        parts.push(kind.to_owned());
    }
    for (field, messages) in map {
        if field == "__type" || field == "message" {
            continue;
        }
        let text = match messages {
            Value::Array(list) => list
                .iter()
                .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(", "),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        parts.push(format!("{field}: {text}"));
    }
    parts.join("; ").chars().take(500).collect()
}

/// A `multipart/form-data` body (RFC 7578): the text fields, then the file as `upload`.
/// Returns the content type (with its boundary) and the body.
pub fn multipart(
    fields: &[(&str, &str)],
    file_name: &str,
    media_type: &str,
    content: &[u8],
) -> (String, Bytes) {
    // A boundary from the file's digest, lengthened until nothing sent contains it.
    let digest = Sha256::digest(content);
    let mut boundary = format!(
        "ravis-{}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let contains =
        |hay: &[u8], needle: &str| hay.windows(needle.len()).any(|w| w == needle.as_bytes());
    while contains(content, &boundary) || fields.iter().any(|(_, v)| v.contains(&boundary)) {
        boundary.push('x');
    }
    let quote = |s: &str| s.replace(['"', '\r', '\n'], "_");
    let mut body = Vec::with_capacity(content.len() + 512);
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{value}\r\n",
                quote(name)
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"{}\"\r\n\
             Content-Type: {media_type}\r\n\r\n",
            quote(file_name)
        )
        .as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (
        format!("multipart/form-data; boundary={boundary}"),
        Bytes::from(body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_follow_ckan_rules() {
        assert_eq!(package_name("screening"), "ravis-screening");
        assert!(valid_package_name("ravis-sdq15"));
        assert!(!valid_package_name("ravis-Screening"));
        assert!(!valid_package_name("r"));
        assert!(!valid_package_name("ravis screening"));
    }

    #[test]
    fn errors_are_described_with_their_fields() {
        let e = json!({"__type": "Validation Error", "name": ["That URL is already in use."]});
        assert_eq!(
            describe_error(&e),
            "Validation Error; name: That URL is already in use."
        );
        let e = json!({"__type": "Authorization Error", "message": "Access denied"});
        assert_eq!(describe_error(&e), "Authorization Error: Access denied");
    }

    #[test]
    fn a_multipart_body_holds_fields_and_the_file() {
        let (ct, body) = multipart(&[("name", "2026-11")], "a.csv", "text/csv", b"x,y\n1,2\n");
        let boundary = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.contains("name=\"name\"\r\n\r\n2026-11\r\n"));
        assert!(
            text.contains("filename=\"a.csv\"\r\nContent-Type: text/csv\r\n\r\nx,y\n1,2\n\r\n")
        );
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
    }

    #[test]
    fn answers_are_read_as_ckan_envelopes() {
        use http::{HeaderMap, StatusCode};
        let portal = CkanPortal::new(
            "https://data.gov.lv/dati",
            "t",
            "ravis",
            Duration::from_secs(1),
        )
        .unwrap();
        let read = |status: u16, headers: HeaderMap, body: &str, none: bool| {
            portal.answer(
                "package_show",
                (
                    StatusCode::from_u16(status).unwrap(),
                    headers,
                    Bytes::from(body.to_owned()),
                ),
                none,
            )
        };
        let ok = read(
            200,
            HeaderMap::new(),
            r#"{"success": true, "result": {"id": "p"}}"#,
            true,
        );
        assert_eq!(ok.unwrap(), Some(json!({"id": "p"})));
        let missing =
            r#"{"success": false, "error": {"__type": "Not Found Error", "message": "Not found"}}"#;
        assert_eq!(read(404, HeaderMap::new(), missing, true).unwrap(), None);
        let Err(ReceiverAnswer::Rejected { reason, .. }) =
            read(404, HeaderMap::new(), "<html>nothing here</html>", true)
        else {
            panic!("a 404 page that is not CKAN's is a refusal")
        };
        assert!(reason.contains("site root"), "{reason}");
        let denied = r#"{"success": false, "error": {"__type": "Authorization Error", "message": "Access denied"}}"#;
        let Err(ReceiverAnswer::Rejected { status, reason, .. }) =
            read(403, HeaderMap::new(), denied, true)
        else {
            panic!("403 is a refusal")
        };
        assert_eq!(status, 403);
        assert!(
            reason.contains("refused the API token") && reason.contains("organisation ravis"),
            "{reason}"
        );
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "7".parse().unwrap());
        let Err(ReceiverAnswer::Retry { status, after, .. }) = read(503, headers, "", true) else {
            panic!("503 is retried")
        };
        assert_eq!((status, after), (Some(503), Some(Duration::from_secs(7))));
        let Err(ReceiverAnswer::Rejected { reason, .. }) = read(
            200,
            HeaderMap::new(),
            r#"{"success": false, "error": {"message": "no"}}"#,
            true,
        ) else {
            panic!("success false is a refusal")
        };
        assert!(reason.contains("did not succeed: no"), "{reason}");
    }

    #[test]
    fn bad_settings_are_refused() {
        let t = Duration::from_secs(1);
        assert!(CkanPortal::new("http://data.gov.lv", "t", "o", t).is_err());
        assert!(CkanPortal::new("https://data.gov.lv/dati", " ", "o", t).is_err());
        assert!(CkanPortal::new("https://data.gov.lv/dati", "t", "", t).is_err());
        assert!(CkanPortal::new("https://data.gov.lv/dati", "t", "o", t).is_ok());
    }
}
