//! The API's errors: a stable machine-readable code, an HTTP status, and a message for people.
//!
//! Clients (the CLI, the web UI, providers' scripts) branch on `code`, so codes never change
//! meaning; messages may be reworded. Every error body is
//! `{"error":{"code":"...","message":"..."}}`.

use http::StatusCode;

use sitepatrol_store::{FlagId, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds, for 429.
    pub retry_after: Option<u64>,
    /// The methods the path takes, for 405.
    pub allow: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            allow: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn invalid_parameter(name: &str, message: impl std::fmt::Display) -> ApiError {
        ApiError::bad_request("invalid_parameter", format!("`{name}`: {message}"))
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": {"code": self.code, "message": self.message}})
    }
}

impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        if self.status.is_server_error() {
            tracing::warn!(code = self.code, error = %self.message, "api request failed");
        }
        super::error_response(&self)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let message = e.to_string();
        match e {
            StoreError::FlagNotFound(_) => ApiError::not_found("flag_not_found", message),
            StoreError::SiteNotFound(_) => ApiError::not_found("site_not_found", message),
            StoreError::InvalidTransition { .. } => {
                ApiError::new(StatusCode::CONFLICT, "invalid_transition", message)
            }
            StoreError::ReasonRequired(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "reason_required", message)
            }
            StoreError::EmptyComment(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "empty_comment", message)
            }
            StoreError::BadCursor(_) => ApiError::bad_request("invalid_cursor", message),
            // Everything else is the server's problem, not the request's. The message names
            // the database and the operation; it goes to the log as well (see `mod.rs`).
            _ => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store_error", message),
        }
    }
}

/// The error codes, for the OpenAPI document's test: each must be documented.
pub const CODES: &[&str] = &[
    "unauthorized",
    "forbidden",
    "rate_limited",
    "no_route",
    "method_not_allowed",
    "invalid_parameter",
    "invalid_cursor",
    "invalid_body",
    "unsupported_media_type",
    "payload_too_large",
    "request_timeout",
    "too_many_ids",
    "flag_not_found",
    "site_not_found",
    "body_not_stored",
    "invalid_transition",
    "reason_required",
    "empty_comment",
    "not_scheduled",
    "unavailable",
    "not_confirmed",
    "store_error",
    "internal",
];

/// Runs a store call on the blocking pool; a task that panicked is an internal error.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("a store task failed: {e}")))?
}

pub(crate) fn flag_not_found(id: FlagId) -> ApiError {
    ApiError::not_found("flag_not_found", format!("flag {id} does not exist"))
}
