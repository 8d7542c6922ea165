//! Events into the server (the event contract, docs/architecture.md): `POST /api/v1/events` with the contract's
//! `{"event", "data"}` (the seed's field names and aliases accepted), and the same
//! operations as resources under `/api/v1/entities/{entity}/...`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use presence_core::contract::command_from_json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::AppState;
use super::problem::{ApiError, Problem};

/// An `.out` event.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct EventIn {
    /// The event's name.
    #[schema(value_type = String, pattern = "^presence\\.(voicemail|registration|dialog|status|checksync)\\.out$")]
    event: String,
    /// The event's fields, as babble-drachtio-presence sent them; `entity` (`user@host`)
    /// is always required.
    #[schema(value_type = Object)]
    data: Value,
}

/// The event was taken; watchers are notified as their subscriptions allow.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Accepted {
    /// Always true.
    accepted: bool,
}

type Reply = Result<(StatusCode, Json<Accepted>), ApiError>;

async fn apply(state: &AppState, event: &str, data: &Value) -> Reply {
    let command = command_from_json(event, data)?;
    state.count_api_event();
    state.handle.send(command).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted: true })))
}

/// The body as JSON; 415 when it is not sent as JSON, 400 naming why it does not parse.
fn json<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(v)| v).map_err(|e| match e {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            "the body must be sent with Content-Type: application/json",
        ),
        e => ApiError::new(StatusCode::BAD_REQUEST, "Malformed JSON", e.body_text()),
    })
}

/// `data` for `entity` with the resource body's fields.
fn with_entity(entity: String, body: Value) -> Result<Value, ApiError> {
    let mut data = match body {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        _ => return Err(ApiError::new(StatusCode::BAD_REQUEST, "Malformed JSON", "the body must be a JSON object")),
    };
    data.insert("entity".to_owned(), Value::String(entity));
    Ok(Value::Object(data))
}

/// Applies an `.out` event.
#[utoipa::path(post, path = "/api/v1/events", tag = "events", request_body = EventIn,
    responses(
        (status = 202, description = "Applied", body = Accepted),
        (status = 400, description = "Not JSON, or not {event, data}", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not sent as application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown event or invalid field (named)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn post_event(State(state): State<AppState>, body: Result<Json<EventIn>, JsonRejection>) -> Reply {
    let body = json(body)?;
    apply(&state, &body.event, &body.data).await
}

/// Sets an entity's voicemail counts (`presence.voicemail.out`: `new`, `old`, `newurgent`,
/// `oldurgent`, `reason`).
#[utoipa::path(put, path = "/api/v1/entities/{entity}/voicemail", tag = "events",
    params(("entity" = String, Path, description = "user@host")), request_body(content = Object),
    responses((status = 202, body = Accepted), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 415, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn put_voicemail(
    State(state): State<AppState>,
    Path(entity): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Reply {
    apply(&state, "presence.voicemail.out", &with_entity(entity, json(body)?)?).await
}

/// Sets an entity's presence status (`presence.status.out`: `status`, `note`, `dnd`, `onthephone`).
#[utoipa::path(put, path = "/api/v1/entities/{entity}/status", tag = "events",
    params(("entity" = String, Path, description = "user@host")), request_body(content = Object),
    responses((status = 202, body = Accepted), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 415, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn put_status(
    State(state): State<AppState>,
    Path(entity): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Reply {
    apply(&state, "presence.status.out", &with_entity(entity, json(body)?)?).await
}

/// Sets an entity's calls (`presence.dialog.out`: `full` or `partial`, `display`, `callcount`).
#[utoipa::path(put, path = "/api/v1/entities/{entity}/dialogs", tag = "events",
    params(("entity" = String, Path, description = "user@host")), request_body(content = Object),
    responses((status = 202, body = Accepted), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 415, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn put_dialogs(
    State(state): State<AppState>,
    Path(entity): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Reply {
    apply(&state, "presence.dialog.out", &with_entity(entity, json(body)?)?).await
}

/// Asks the entity's phones to resynchronise (`presence.checksync.out`).
#[utoipa::path(post, path = "/api/v1/entities/{entity}/checksync", tag = "events",
    params(("entity" = String, Path, description = "user@host")),
    responses((status = 202, body = Accepted), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn post_checksync(State(state): State<AppState>, Path(entity): Path<String>) -> Reply {
    apply(&state, "presence.checksync.out", &with_entity(entity, Value::Null)?).await
}
