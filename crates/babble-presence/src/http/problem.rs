//! Errors as RFC 9457 `application/problem+json`, naming the field at fault when there is one.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use presence_core::contract::ContractError;
use serde::Serialize;
use utoipa::ToSchema;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Problem {
    /// Always `about:blank`: the title says what happened.
    #[serde(rename = "type")]
    kind: &'static str,
    /// A short summary.
    title: &'static str,
    /// The HTTP status.
    status: u16,
    /// What exactly is wrong.
    detail: String,
    /// The request field at fault (`data.full[0].state`), when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

/// An error answered as a problem document.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    title: &'static str,
    detail: String,
    field: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        ApiError { status, title, detail: detail.into(), field: None }
    }

    /// A request part (path, query) that did not parse.
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad request", detail)
    }

    /// The same error, naming the request field at fault.
    pub(crate) fn for_field(self, field: &str) -> Self {
        ApiError { field: Some(field.to_owned()), ..self }
    }

    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", detail)
    }

    pub(crate) fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "Stopping", "the server is shutting down")
    }
}

/// The engine behind the API is gone (the server is stopping): 503.
impl From<crate::server::ServerError> for ApiError {
    fn from(_: crate::server::ServerError) -> Self {
        ApiError::unavailable()
    }
}

/// A query string or path segment that does not fit: 400 with axum's reason.
impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(e: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::bad_request(e.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(e: axum::extract::rejection::PathRejection) -> Self {
        ApiError::bad_request(e.body_text())
    }
}

impl From<ContractError> for ApiError {
    fn from(e: ContractError) -> Self {
        match e {
            ContractError::Field { field, problem } => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                title: "Invalid field",
                detail: format!("{field}: {problem}"),
                field: Some(field),
            },
            ContractError::UnknownField { ref field, .. } => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                title: "Unknown field",
                field: Some(field.clone()),
                detail: e.to_string(),
            },
            other => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                title: "Unknown event",
                detail: other.to_string(),
                field: Some("event".to_owned()),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: "about:blank",
            title: self.title,
            status: self.status.as_u16(),
            detail: self.detail,
            field: self.field,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        (self.status, [(header::CONTENT_TYPE, "application/problem+json")], body).into_response()
    }
}
