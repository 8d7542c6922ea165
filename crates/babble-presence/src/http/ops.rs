//! Operations: `/healthz` (the engine answers), and `/metrics` in the Prometheus text format,
//! built at each scrape from the engine's counters and state.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::problem::{ApiError, Problem};

/// Health.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok` when the engine answers.
    status: &'static str,
}

/// Answers once the engine has answered a query.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.handle.query(|_, _| ()).await?;
    Ok(Json(Health { status: "ok" }))
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let snapshot = state
        .handle
        .query(|engine, _| {
            let subscriptions = engine.subscription_counts();
            let counts = [
                ("registrations", "registered contacts", engine.binding_count()),
                ("publications", "live publications", engine.publication_count()),
                ("server_transactions", "server transactions held", engine.server_transaction_count()),
                ("phone_subscriptions", "our subscriptions to registered phones", engine.watch_count()),
                ("timers", "deadlines pending", engine.pending_timer_count()),
                ("auth_nonces", "digest nonces outstanding", engine.nonce_count()),
                ("tracked_sources", "source addresses whose rates are tracked", engine.source_count()),
            ];
            (engine.stats().clone(), subscriptions, counts, engine.take_notify_latencies())
        })
        .await?;
    let text = state.metrics.render(snapshot);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}
