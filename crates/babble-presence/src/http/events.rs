//! Events into the server (the event contract, docs/architecture.md): `POST /api/v1/events` with the contract's
//! `{"event", "data"}` (the seed's field names and aliases accepted), and the same
//! operations as resources under `/api/v1/entities/{entity}/...`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use presence_core::api::Command;
use presence_core::contract::{command_for_entity, command_from_envelope};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::AppState;
use super::problem::{ApiError, Problem};
use super::schemas::{DialogsBody, EventEnvelope, LampBody, StatusBody, VoicemailBody};

/// The event was taken; watchers are notified as their subscriptions allow.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Accepted {
    /// Always true.
    accepted: bool,
}

pub(crate) type Reply = Result<(StatusCode, Json<Accepted>), ApiError>;

pub(crate) async fn apply(state: &AppState, command: Command) -> Reply {
    state.count_api_event();
    state.handle.send(command).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted: true })))
}

/// The body as JSON; 415 when it is not sent as JSON, 400 naming why it does not parse.
pub(crate) fn json(body: Result<Json<Value>, JsonRejection>) -> Result<Value, ApiError> {
    body.map(|Json(v)| v).map_err(|e| match e {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            "the body must be sent with Content-Type: application/json",
        ),
        e => ApiError::new(StatusCode::BAD_REQUEST, "Malformed JSON", e.body_text()),
    })
}

/// Applies an `.out` event.
#[utoipa::path(post, path = "/api/v1/events", tag = "events", request_body = EventEnvelope,
    responses(
        (status = 202, description = "Applied", body = Accepted),
        (status = 400, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not sent as application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not {event, data}, an unknown event, or an unknown, missing or invalid field (named)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn post_event(State(state): State<AppState>, body: Result<Json<Value>, JsonRejection>) -> Reply {
    apply(&state, command_from_envelope(&json(body)?)?).await
}

/// Sets an entity's voicemail counts (`presence.voicemail.out`: `new`, `old`, `newurgent`,
/// `oldurgent`, `reason`).
#[utoipa::path(put, path = "/api/v1/entities/{entity}/voicemail", tag = "events",
    params(("entity" = String, Path, description = "user@host")), request_body = VoicemailBody,
    responses((status = 202, body = Accepted), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 415, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn put_voicemail(
    State(state): State<AppState>,
    Path(entity): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Reply {
    apply(&state, command_for_entity("presence.voicemail.out", entity, &json(body)?)?).await
}

/// Sets an entity's presence status (`presence.status.out`: `status`, `note`, `dnd`, `onthephone`).
#[utoipa::path(put, path = "/api/v1/entities/{entity}/status", tag = "events",
    params(("entity" = String, Path, description = "user@host")), request_body = StatusBody,
    responses((status = 202, body = Accepted), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 415, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn put_status(
    State(state): State<AppState>,
    Path(entity): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Reply {
    apply(&state, command_for_entity("presence.status.out", entity, &json(body)?)?).await
}

/// Sets an entity's calls (`presence.dialog.out`: `full` or `partial`, `display`, `callcount`).
#[utoipa::path(put, path = "/api/v1/entities/{entity}/dialogs", tag = "events",
    params(("entity" = String, Path, description = "user@host")), request_body = DialogsBody,
    responses((status = 202, body = Accepted), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 415, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn put_dialogs(
    State(state): State<AppState>,
    Path(entity): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Reply {
    apply(&state, command_for_entity("presence.dialog.out", entity, &json(body)?)?).await
}

/// Sets the lamp of a virtual entity, a park slot, queue, agent or switch
/// (`presence.lamp.out`: `state`, `caller`, `callid`, `localtag`, `remotetag`, `expires`).
#[utoipa::path(put, path = "/api/v1/entities/{entity}/lamp", tag = "events",
    params(("entity" = String, Path, description = "user@host, e.g. park+701@pbx.example.com")), request_body = LampBody,
    responses((status = 202, body = Accepted), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 415, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn put_lamp(
    State(state): State<AppState>,
    Path(entity): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Reply {
    apply(&state, command_for_entity("presence.lamp.out", entity, &json(body)?)?).await
}

/// Asks the entity's phones to resynchronise (`presence.checksync.out`).
#[utoipa::path(post, path = "/api/v1/entities/{entity}/checksync", tag = "events",
    params(("entity" = String, Path, description = "user@host")),
    responses((status = 202, body = Accepted), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn post_checksync(State(state): State<AppState>, Path(entity): Path<String>) -> Reply {
    apply(&state, command_for_entity("presence.checksync.out", entity, &Value::Object(Default::default()))?).await
}
