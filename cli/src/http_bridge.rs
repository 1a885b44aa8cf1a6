//! Serves the shared route handling over a local TCP port with axum: the same code path
//! as API Gateway → Lambda, with request bodies capped like API Gateway's.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use ravis::inbound::auth::Authenticator;
use ravis::inbound::http::{ApiRequest, ApiResponse, MAX_BODY_BYTES, parse_query};
use ravis::inbound::problem::Problem;
use ravis::inbound::routes::{Api, handle};
use std::sync::Arc;

/// What the HTTP server needs.
pub struct HttpState<A> {
    /// Token verification.
    pub auth: Authenticator,
    /// All routes.
    pub api: A,
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
