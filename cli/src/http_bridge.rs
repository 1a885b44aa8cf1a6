//! Serves the shared route handling over a local TCP port with axum: the same code path
//! as API Gateway → Lambda, with request bodies capped like API Gateway's. The web
//! client's own paths (`crate::web`) are answered beside it; every other request goes to
//! the API unchanged.

use crate::web::{DEV_PROVIDER_ORG, WebHost, is_web_request};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use ravis::inbound::auth::Authenticator;
use ravis::inbound::http::{ApiRequest, ApiResponse, MAX_BODY_BYTES, parse_query};
use ravis::inbound::problem::Problem;
use ravis::inbound::routes::{Api, handle};
use serde_json::json;
use std::sync::Arc;

/// What the HTTP server needs.
pub struct HttpState<A> {
    /// Token verification.
    pub auth: Authenticator,
    /// All routes.
    pub api: A,
    /// The web client and the development sign-in.
    pub web: WebHost,
}

/// The axum router: every path goes to the shared handler.
pub fn router<A: Api>(state: Arc<HttpState<A>>) -> axum::Router {
    axum::Router::new().fallback(serve::<A>).with_state(state)
}

async fn serve<A: Api>(State(state): State<Arc<HttpState<A>>>, req: Request) -> Response {
    let request_id = uuid::Uuid::now_v7().to_string();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let response = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) if is_web_request(&parts.method, &path) => {
            let answer = if parts.method == Method::POST {
                dev_sign_in(&state, &parts.headers, &bytes, &request_id).await
            } else {
                state.web.static_file(&parts.method, &path)
            };
            answer.with_header("x-request-id", &request_id)
        }
        Ok(bytes) => {
            let api_req = ApiRequest {
                method: parts.method,
                path,
                query: parse_query(parts.uri.query()),
                headers: parts.headers,
                body: bytes,
                request_id,
            };
            handle(&state.auth, &state.api, api_req).await
        }
        Err(_) => {
            tracing::warn!(%request_id, %path, "request body too large");
            ApiResponse::problem(
                &Problem::payload_too_large(MAX_BODY_BYTES),
                &path,
                &request_id,
            )
            .with_header("x-request-id", &request_id)
        }
    };
    let mut out = Response::new(Body::from(response.body));
    *out.status_mut() = response.status;
    *out.headers_mut() = response.headers;
    out
}

/// Mints the token and makes sure its organisation and a programme provider to refer to
/// are registered — through the public API, as a registry administrator would.
async fn dev_sign_in<A: Api>(
    state: &HttpState<A>,
    headers: &HeaderMap,
    body: &Bytes,
    request_id: &str,
) -> ApiResponse {
    let sign_in = match state.web.dev_token(headers, body) {
        Ok(s) => s,
        Err(refused) => return refused,
    };
    let organisations = [
        (
            sign_in.request.organisation.as_str(),
            sign_in.request.organisation_kind(),
        ),
        (DEV_PROVIDER_ORG, "programme_provider"),
    ];
    for (id, kind) in organisations {
        let body = json!({"id": id, "kind": kind, "name": format!("{id} (development)"), "atvk": "0001000"});
        let mut headers = HeaderMap::new();
        let bearer = format!("Bearer {}", sign_in.admin_token);
        if let Ok(v) = HeaderValue::from_str(&bearer) {
            headers.insert(http::header::AUTHORIZATION, v);
        }
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let created = handle(
            &state.auth,
            &state.api,
            ApiRequest {
                method: Method::POST,
                path: "/organisations".into(),
                query: Vec::new(),
                headers,
                body: Bytes::from(body.to_string()),
                request_id: request_id.to_owned(),
            },
        )
        .await;
        // 409: registered before, which is what we want.
        if !(created.status.is_success() || created.status == StatusCode::CONFLICT) {
            tracing::warn!(organisation = id, status = %created.status, "development sign-in could not register the organisation");
        }
    }
    sign_in.response()
}
