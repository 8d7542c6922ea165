//! The integration API over HTTP (axum): events in, `.in` events out over WebSocket and SSE,
//! look-ups and the live entity stream, an OpenAPI document generated from the handlers,
//! Prometheus metrics, a health check, and the dashboard's page. Every handler reaches the
//! engine through the driver's channel, so the API never locks or blocks SIP.

mod dashboard;
mod events;
mod features;
mod live;
mod lookups;
mod metrics;
mod ops;
mod problem;
mod schemas;
mod stream;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use subtle::ConstantTimeEq;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::Config;
use crate::server::Handle;
use problem::ApiError;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    handle: Handle,
    /// `Bearer <http.token>`, the whole header value a guarded request must carry.
    expected_authorization: Option<Arc<str>>,
    metrics: Arc<metrics::Metrics>,
    /// Availability counts an entity nothing is known about as available.
    unknown_is_available: bool,
}

impl AppState {
    pub(crate) fn new(handle: Handle, config: &Config, counters: Arc<crate::counters::ShellCounters>) -> Self {
        let token = &config.http.token;
        let expected_authorization = (!token.is_empty()).then(|| Arc::from(format!("Bearer {token}")));
        let metrics = Arc::new(metrics::Metrics::new(counters));
        AppState { handle, expected_authorization, metrics, unknown_is_available: config.http.unknown_is_available }
    }

    fn count_api_event(&self) {
        self.metrics.api_events.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "babble-presence", description = "Integration API of the babble-presence SIP presence server."),
    tags(
        (name = "events", description = "The event contract: .out events in, .in events out"),
        (name = "look-ups", description = "State of entities, subscriptions, registrations and publications"),
        (name = "operations", description = "Health and metrics"),
    )
)]
struct ApiDoc;

/// The whole HTTP application.
pub(crate) fn router(state: AppState) -> Router {
    let (routes, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(events::post_event))
        .routes(routes!(events::put_voicemail))
        .routes(routes!(events::put_status))
        .routes(routes!(events::put_dialogs))
        .routes(routes!(events::post_checksync))
        .routes(routes!(events::put_lamp))
        .routes(routes!(features::get_features, features::put_features))
        .routes(routes!(stream::ws))
        .routes(routes!(stream::sse))
        .routes(routes!(live::entities))
        .routes(routes!(lookups::list_entities))
        .routes(routes!(lookups::get_entity))
        .routes(routes!(lookups::get_entity_detail))
        .routes(routes!(lookups::availability))
        .routes(routes!(lookups::list_subscriptions))
        .routes(routes!(lookups::delete_subscription))
        .routes(routes!(lookups::list_registrations))
        .routes(routes!(lookups::list_publications))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::metrics))
        .split_for_parts();
    // Serialised once: the document does not change while the server runs.
    let openapi: bytes::Bytes = serde_json::to_vec(&openapi).unwrap_or_default().into();
    routes
        .merge(dashboard::routes())
        .route(
            "/api/v1/openapi.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], openapi.clone()) }),
        )
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed",
                "this resource does not take that method",
            )
        })
        .fallback(|| async { ApiError::not_found("no such resource") })
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state)
}

/// With `http.token` set, `/api/*` and `/metrics` need `Authorization: Bearer <token>`.
async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let guarded = path.starts_with("/api/") || path == "/metrics";
    if let (true, Some(expected)) = (guarded, &state.expected_authorization) {
        let presented = request.headers().get(header::AUTHORIZATION).map_or(&[][..], |v| v.as_bytes());
        // Compared in constant time, so the answer's timing says nothing of the token.
        if !bool::from(presented.ct_eq(expected.as_bytes())) {
            let mut refusal =
                ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", "a bearer token is required").into_response();
            refusal.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            return refusal;
        }
    }
    next.run(request).await
}
