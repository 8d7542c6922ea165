//! A user's feature settings as a resource: `GET /api/v1/entities/{entity}/features` shows
//! DND as every package composes it and the forwarding settings, and `PUT` sets them as a
//! phone's feature key would (`presence.feature.out`; docs/feature-keys.md). Every phone of
//! the user with feature-key synchronisation is sent the change.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use presence_core::contract::{command_for_entity, feature_state_json};
use serde_json::Value;

use super::AppState;
use super::events::{Reply, apply, json};
use super::problem::{ApiError, Problem};
use super::schemas::{FeaturesBody, FeaturesView};

/// A user's DND (as every package shows it) and forwarding.
#[utoipa::path(get, path = "/api/v1/entities/{entity}/features", tag = "look-ups",
    params(("entity" = String, Path, description = "user@host")),
    responses((status = 200, body = FeaturesView)))]
pub(crate) async fn get_features(
    State(state): State<AppState>,
    Path(entity): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let shown = state
        .handle
        .query(move |engine, _| {
            let key = engine.config().entity_key(&entity);
            feature_state_json(key.as_str(), &engine.features(&key))
        })
        .await?;
    Ok(Json(shown))
}

/// Sets a user's DND or forwarding (`presence.feature.out`: `dnd`, `forwarding`); what the body
/// leaves out stays as it is.
#[utoipa::path(put, path = "/api/v1/entities/{entity}/features", tag = "events",
    params(("entity" = String, Path, description = "user@host")), request_body = FeaturesBody,
    responses((status = 202, body = super::events::Accepted), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 415, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn put_features(
    State(state): State<AppState>,
    Path(entity): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Reply {
    apply(&state, command_for_entity("presence.feature.out", entity, &json(body)?)?).await
}
