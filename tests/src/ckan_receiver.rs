//! A CKAN test portal on loopback speaking the part of the Action API (version 3) that
//! `ravis::adapters::ckan_http` uses: `package_show` (GET, `?id=`), `package_create` and
//! `package_patch` (JSON), `resource_create` and `resource_patch` (multipart, the file as
//! `upload`), under `<base>/api/3/action/`. Answers are CKAN's envelopes:
//! `{"success": true, "result": …}`, or `{"success": false, "error": {"__type": …}}` with
//! 403 (`Authorization Error`), 404 (`Not Found Error`) or 409 (`Validation Error`).
//!
//! Checked like a portal would: the `Authorization` header must be [`TOKEN`] (else 403);
//! a package needs a valid name (2–100 of `a-z0-9-_`), a title, a known licence and the
//! organisation [`ORGANISATION`] (409 otherwise); a resource needs its package, a name and
//! an upload. It records packages and their resources (with each file's bytes).
//!
//! A test scripts faults ([`CkanFault`]) answered, in order, before any check: 500, or 429
//! with `Retry-After`.

use crate::fhir_receiver::{loopback, serve};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

/// The API token the portal accepts.
pub const TOKEN: &str = "ckan-test-token";

/// The organisation RAVIS may write to.
pub const ORGANISATION: &str = "ravis-test";

/// The licences the portal knows.
const LICENCES: [&str; 3] = ["cc-by-4.0", "cc-zero", "odc-by"];

/// A scripted answer to an action call, used once, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CkanFault {
    /// `500 Internal Server Error`.
    ServerError,
    /// `429 Too Many Requests` with `Retry-After` seconds.
    Throttle(u64),
}

/// A resource as the portal holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldResource {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its format.
    pub format: String,
    /// The uploaded file's name.
    pub file_name: String,
    /// The uploaded bytes.
    pub content: Vec<u8>,
    /// How many times its file was uploaded.
    pub uploads: usize,
}

/// A package as the portal holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldPackage {
    /// Its id.
    pub id: String,
    /// The fields last sent (name, title, notes, owner_org, license_id, tags, …).
    pub fields: Value,
    /// Its resources, in creation order.
    pub resources: Vec<HeldResource>,
}

#[derive(Default)]
struct Inner {
    faults: VecDeque<CkanFault>,
    packages: BTreeMap<String, HeldPackage>,
    calls: Vec<String>,
    next_id: usize,
}

/// The portal: its address and what it holds.
#[derive(Clone)]
pub struct CkanReceiver {
    /// The site root (`http://127.0.0.1:<port>/dati`).
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl CkanReceiver {
    /// Starts a portal on a free loopback port; it stops when the runtime does.
    pub async fn start() -> Self {
        let listener = loopback().await;
        let addr = listener.local_addr().expect("addr");
        let receiver = Self {
            base: format!("http://{addr}/dati"),
            inner: Arc::default(),
        };
        serve(
            listener,
            Router::new()
                .route("/dati/api/3/action/package_show", get(package_show))
                .route("/dati/api/3/action/{action}", post(action))
                .with_state(receiver.clone()),
        );
        receiver
    }

    /// Queues faults, answered in order before normal service resumes.
    pub fn script(&self, faults: impl IntoIterator<Item = CkanFault>) {
        self.inner.lock().expect("portal").faults.extend(faults);
    }

    /// Every package, by name.
    pub fn packages(&self) -> BTreeMap<String, HeldPackage> {
        self.inner.lock().expect("portal").packages.clone()
    }

    /// Every action called, in order (faulted and refused ones included).
    pub fn calls(&self) -> Vec<String> {
        self.inner.lock().expect("portal").calls.clone()
    }

    /// Puts a package owned by another organisation (a name already taken on the portal).
    pub fn put_foreign(&self, name: &str, organisation: &str) {
        let mut inner = self.inner.lock().expect("portal");
        inner.next_id += 1;
        let id = format!("pkg-{}", inner.next_id);
        inner.packages.insert(
            name.to_owned(),
            HeldPackage {
                id,
                fields: json!({"name": name, "owner_org": organisation}),
                resources: Vec::new(),
            },
        );
    }
}

fn envelope(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json;charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn ok(result: Value) -> Response {
    envelope(StatusCode::OK, json!({"success": true, "result": result}))
}

fn failure(status: StatusCode, error: Value) -> Response {
    envelope(status, json!({"success": false, "error": error}))
}

fn validation(field: &str, message: &str) -> Response {
    failure(
        StatusCode::CONFLICT,
        json!({"__type": "Validation Error", field: [message]}),
    )
}

/// The answer before any check: a scripted fault, or a refused token.
fn gate(receiver: &CkanReceiver, action: &str, headers: &HeaderMap) -> Option<Response> {
    let fault = {
        let mut inner = receiver.inner.lock().expect("portal");
        inner.calls.push(action.to_owned());
        inner.faults.pop_front()
    };
    match fault {
        Some(CkanFault::ServerError) => {
            return Some(failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"__type": "Internal Server Error", "message": "scripted 500"}),
            ));
        }
        Some(CkanFault::Throttle(secs)) => {
            let mut r = failure(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"__type": "Too Many Requests", "message": "slow down"}),
            );
            r.headers_mut()
                .insert("retry-after", secs.to_string().parse().expect("header"));
            return Some(r);
        }
        None => {}
    }
    let token = headers.get("authorization").and_then(|v| v.to_str().ok());
    if token != Some(TOKEN) {
        return Some(failure(
            StatusCode::FORBIDDEN,
            json!({"__type": "Authorization Error",
                   "message": "Access denied: the API token is not valid"}),
        ));
    }
    None
}

/// A query value, `%XX` decoded.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn package_json(p: &HeldPackage, base: &str) -> Value {
    let mut out = p.fields.clone();
    out["id"] = json!(p.id);
    let org = p.fields["owner_org"].clone();
    out["organization"] = json!({"name": org, "id": format!("org-{}", org.as_str().unwrap_or(""))});
    out["resources"] = p
        .resources
        .iter()
        .map(|r| resource_json(r, &p.id, base))
        .collect();
    out
}

fn resource_json(r: &HeldResource, package_id: &str, base: &str) -> Value {
    json!({"id": r.id, "package_id": package_id, "name": r.name, "format": r.format,
           "url_type": "upload",
           "url": format!("{base}/dataset/{package_id}/resource/{}/download/{}", r.id, r.file_name)})
}

async fn package_show(
    State(receiver): State<CkanReceiver>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Some(r) = gate(&receiver, "package_show", &headers) {
        return r;
    }
    let id = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|p| p.strip_prefix("id="))
        .map(percent_decode)
        .unwrap_or_default();
    let inner = receiver.inner.lock().expect("portal");
    match inner
        .packages
        .values()
        .find(|p| p.id == id || p.fields["name"] == json!(id))
    {
        Some(p) => ok(package_json(p, &receiver.base)),
        None => failure(
            StatusCode::NOT_FOUND,
            json!({"__type": "Not Found Error", "message": "Not found"}),
        ),
    }
}

async fn action(
    State(receiver): State<CkanReceiver>,
    Path(action): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = gate(&receiver, &action, &headers) {
        return r;
    }
    match action.as_str() {
        "package_create" | "package_patch" => {
            let Ok(fields) = serde_json::from_slice::<Value>(&body) else {
                return failure(
                    StatusCode::BAD_REQUEST,
                    json!({"__type": "Bad Request", "message": "JSON Error: body is not JSON"}),
                );
            };
            package_write(&receiver, &action, fields)
        }
        "resource_create" | "resource_patch" => {
            let content_type = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            match parse_multipart(content_type, &body) {
                Ok(form) => resource_write(&receiver, &action, form),
                Err(e) => failure(
                    StatusCode::BAD_REQUEST,
                    json!({"__type": "Bad Request", "message": e}),
                ),
            }
        }
        _ => failure(
            StatusCode::BAD_REQUEST,
            json!({"__type": "Bad Request", "message": format!("Action name not known: {action}")}),
        ),
    }
}

fn package_write(receiver: &CkanReceiver, action: &str, fields: Value) -> Response {
    let mut inner = receiver.inner.lock().expect("portal");
    let existing = if action == "package_patch" {
        let id = fields["id"].as_str().unwrap_or_default();
        match inner.packages.values().find(|p| p.id == id) {
            Some(p) => Some(p.clone()),
            None => {
                return failure(
                    StatusCode::NOT_FOUND,
                    json!({"__type": "Not Found Error", "message": "Not found"}),
                );
            }
        }
    } else {
        None
    };
    let mut merged = existing
        .as_ref()
        .map(|p| p.fields.clone())
        .unwrap_or_else(|| json!({}));
    if let (Some(target), Some(source)) = (merged.as_object_mut(), fields.as_object()) {
        for (k, v) in source {
            if k != "id" && k != "resources" {
                target.insert(k.clone(), v.clone());
            }
        }
    }
    let name = merged["name"].as_str().unwrap_or_default().to_owned();
    if !(2..=100).contains(&name.len())
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return validation(
            "name",
            "Must be purely lowercase alphanumeric (ascii) characters and these symbols: -_",
        );
    }
    if merged["title"].as_str().is_none_or(str::is_empty) {
        return validation("title", "Missing value");
    }
    if merged["owner_org"].as_str() != Some(ORGANISATION) {
        return validation("owner_org", "Organization does not exist");
    }
    if !LICENCES.contains(&merged["license_id"].as_str().unwrap_or_default()) {
        return validation("license_id", "License not known");
    }
    if action == "package_create" && inner.packages.contains_key(&name) {
        return validation("name", "That URL is already in use.");
    }
    let package = match existing {
        Some(mut p) => {
            if p.fields["name"] != json!(name) {
                inner
                    .packages
                    .remove(p.fields["name"].as_str().unwrap_or_default());
            }
            p.fields = merged;
            p
        }
        None => {
            inner.next_id += 1;
            HeldPackage {
                id: format!("pkg-{}", inner.next_id),
                fields: merged,
                resources: Vec::new(),
            }
        }
    };
    let answer = package_json(&package, &receiver.base);
    inner.packages.insert(name, package);
    ok(answer)
}

/// A multipart form: text fields, and the `upload` file's name and bytes.
struct Form {
    fields: BTreeMap<String, String>,
    upload: Option<(String, Vec<u8>)>,
}

fn parse_multipart(content_type: &str, body: &[u8]) -> Result<Form, String> {
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .ok_or("Content-Type is not multipart/form-data with a boundary")?;
    let delimiter = format!("--{boundary}");
    let mut form = Form {
        fields: BTreeMap::new(),
        upload: None,
    };
    let parts = split(body, delimiter.as_bytes());
    if parts.len() < 2 {
        return Err("no parts in the multipart body".into());
    }
    for part in &parts[1..] {
        if part.starts_with(b"--") {
            break;
        }
        let part = part
            .strip_prefix(b"\r\n")
            .ok_or("a part does not start with CRLF")?;
        let part = part
            .strip_suffix(b"\r\n")
            .ok_or("a part does not end with CRLF")?;
        let split_at = part
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or("a part has no header end")?;
        let head = String::from_utf8_lossy(&part[..split_at]).into_owned();
        let content = &part[split_at + 4..];
        let attribute = |name: &str| {
            head.split(';')
                .map(str::trim)
                .find_map(|a| a.strip_prefix(&format!("{name}=\"")))
                .and_then(|a| a.split('"').next())
                .map(str::to_owned)
        };
        let name = attribute("name").ok_or("a part has no name")?;
        match attribute("filename") {
            Some(file) if name == "upload" => form.upload = Some((file, content.to_vec())),
            _ => {
                form.fields
                    .insert(name, String::from_utf8_lossy(content).into_owned());
            }
        }
    }
    Ok(form)
}

fn split<'a>(hay: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + delimiter.len() <= hay.len() {
        if &hay[i..i + delimiter.len()] == delimiter {
            out.push(&hay[start..i]);
            i += delimiter.len();
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&hay[start..]);
    out
}

fn resource_write(receiver: &CkanReceiver, action: &str, form: Form) -> Response {
    let mut inner = receiver.inner.lock().expect("portal");
    let Some((file_name, content)) = form.upload else {
        return validation("upload", "Missing value");
    };
    let field = |n: &str| form.fields.get(n).cloned().unwrap_or_default();
    if action == "resource_create" {
        let package_id = field("package_id");
        let name = field("name");
        if name.is_empty() {
            return validation("name", "Missing value");
        }
        inner.next_id += 1;
        let id = format!("res-{}", inner.next_id);
        let Some(package) = inner.packages.values_mut().find(|p| p.id == package_id) else {
            return validation("package_id", "Not found: Dataset");
        };
        let resource = HeldResource {
            id,
            name,
            format: field("format"),
            file_name,
            content,
            uploads: 1,
        };
        let answer = resource_json(&resource, &package.id, &receiver.base);
        package.resources.push(resource);
        ok(answer)
    } else {
        let id = field("id");
        for package in inner.packages.values_mut() {
            if let Some(r) = package.resources.iter_mut().find(|r| r.id == id) {
                r.content = content;
                r.file_name = file_name;
                r.uploads += 1;
                if !field("format").is_empty() {
                    r.format = field("format");
                }
                return ok(resource_json(r, &package.id, &receiver.base));
            }
        }
        failure(
            StatusCode::NOT_FOUND,
            json!({"__type": "Not Found Error", "message": "Resource was not found."}),
        )
    }
}
