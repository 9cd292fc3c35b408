//! The API's errors: a stable machine-readable code, an HTTP status, and a message for people.
//!
//! Clients (the CLI, the web UI, providers' scripts) branch on `code`, so codes never change
//! meaning; messages may be reworded. Every error body is
//! `{"error":{"code":"...","message":"..."}}`.

use http::StatusCode;

use sitepatrol_store::{FlagId, StoreError};

/// What went wrong, for machines: each code has one HTTP status, and its name is the `code`
/// of the error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Unauthorized,
    Forbidden,
    RateLimited,
    NoRoute,
    MethodNotAllowed,
    InvalidParameter,
    InvalidCursor,
    InvalidBody,
    UnsupportedMediaType,
    PayloadTooLarge,
    RequestTimeout,
    TooManyIds,
    FlagNotFound,
    CaseNotFound,
    SiteNotFound,
    CustomerNotFound,
    BodyNotStored,
    ScreenshotNotStored,
    InvalidTransition,
    ReasonRequired,
    EmptyComment,
    NotScheduled,
    Unavailable,
    NotConfirmed,
    Conflict,
    StoreError,
    Internal,
    Csrf,
}

impl Code {
    /// Every code the API answers with, in the order the OpenAPI document lists them. `Csrf`
    /// is the UI's alone.
    pub const API: &[Code] = &[
        Code::Unauthorized,
        Code::Forbidden,
        Code::RateLimited,
        Code::NoRoute,
        Code::MethodNotAllowed,
        Code::InvalidParameter,
        Code::InvalidCursor,
        Code::InvalidBody,
        Code::UnsupportedMediaType,
        Code::PayloadTooLarge,
        Code::RequestTimeout,
        Code::TooManyIds,
        Code::FlagNotFound,
        Code::CaseNotFound,
        Code::SiteNotFound,
        Code::CustomerNotFound,
        Code::BodyNotStored,
        Code::ScreenshotNotStored,
        Code::InvalidTransition,
        Code::ReasonRequired,
        Code::EmptyComment,
        Code::NotScheduled,
        Code::Unavailable,
        Code::NotConfirmed,
        Code::Conflict,
        Code::StoreError,
        Code::Internal,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Code::Unauthorized => "unauthorized",
            Code::Forbidden => "forbidden",
            Code::RateLimited => "rate_limited",
            Code::NoRoute => "no_route",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::InvalidParameter => "invalid_parameter",
            Code::InvalidCursor => "invalid_cursor",
            Code::InvalidBody => "invalid_body",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::PayloadTooLarge => "payload_too_large",
            Code::RequestTimeout => "request_timeout",
            Code::TooManyIds => "too_many_ids",
            Code::FlagNotFound => "flag_not_found",
            Code::CaseNotFound => "case_not_found",
            Code::SiteNotFound => "site_not_found",
            Code::CustomerNotFound => "customer_not_found",
            Code::BodyNotStored => "body_not_stored",
            Code::ScreenshotNotStored => "screenshot_not_stored",
            Code::InvalidTransition => "invalid_transition",
            Code::ReasonRequired => "reason_required",
            Code::EmptyComment => "empty_comment",
            Code::NotScheduled => "not_scheduled",
            Code::Unavailable => "unavailable",
            Code::NotConfirmed => "not_confirmed",
            Code::Conflict => "conflict",
            Code::StoreError => "store_error",
            Code::Internal => "internal",
            Code::Csrf => "csrf",
        }
    }

    pub const fn status(self) -> StatusCode {
        match self {
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::Forbidden => StatusCode::FORBIDDEN,
            Code::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Code::NoRoute => StatusCode::NOT_FOUND,
            Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Code::InvalidParameter => StatusCode::BAD_REQUEST,
            Code::InvalidCursor => StatusCode::BAD_REQUEST,
            Code::InvalidBody => StatusCode::BAD_REQUEST,
            Code::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Code::TooManyIds => StatusCode::BAD_REQUEST,
            Code::FlagNotFound => StatusCode::NOT_FOUND,
            Code::CaseNotFound => StatusCode::NOT_FOUND,
            Code::SiteNotFound => StatusCode::NOT_FOUND,
            Code::CustomerNotFound => StatusCode::NOT_FOUND,
            Code::BodyNotStored => StatusCode::NOT_FOUND,
            Code::ScreenshotNotStored => StatusCode::NOT_FOUND,
            Code::InvalidTransition => StatusCode::CONFLICT,
            Code::ReasonRequired => StatusCode::UNPROCESSABLE_ENTITY,
            Code::EmptyComment => StatusCode::UNPROCESSABLE_ENTITY,
            Code::NotScheduled => StatusCode::CONFLICT,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::NotConfirmed => StatusCode::CONFLICT,
            Code::Conflict => StatusCode::CONFLICT,
            Code::StoreError => StatusCode::INTERNAL_SERVER_ERROR,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Code::Csrf => StatusCode::FORBIDDEN,
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    /// Seconds, for 429.
    pub retry_after: Option<u64>,
    /// The methods the path takes, for 405.
    pub allow: Option<String>,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
            allow: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn invalid_parameter(name: &str, message: impl std::fmt::Display) -> ApiError {
        ApiError::new(Code::InvalidParameter, format!("`{name}`: {message}"))
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(Code::Internal, message)
    }

    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": {"code": self.code.as_str(), "message": self.message}})
    }
}

impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        if self.status().is_server_error() {
            tracing::warn!(code = self.code.as_str(), error = %self.message, "api request failed");
        }
        super::error_response(&self)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let message = e.to_string();
        match e {
            StoreError::FlagNotFound(_) => ApiError::new(Code::FlagNotFound, message),
            StoreError::SiteNotFound(_) => ApiError::new(Code::SiteNotFound, message),
            StoreError::InvalidTransition { .. } => ApiError::new(Code::InvalidTransition, message),
            StoreError::ReasonRequired(_) => ApiError::new(Code::ReasonRequired, message),
            StoreError::EmptyComment(_) => ApiError::new(Code::EmptyComment, message),
            StoreError::CaseNotFound(_) => ApiError::new(Code::CaseNotFound, message),
            StoreError::InvalidCaseTransition { .. } => {
                ApiError::new(Code::InvalidTransition, message)
            }
            StoreError::CaseVersionConflict { .. }
            | StoreError::CaseActiveExists { .. }
            | StoreError::FlagVersionConflict { .. } => ApiError::new(Code::Conflict, message),
            StoreError::CaseReasonRequired(_) => ApiError::new(Code::ReasonRequired, message),
            StoreError::CaseEmptyComment(_) => ApiError::new(Code::EmptyComment, message),
            StoreError::BadCursor(_) => ApiError::new(Code::InvalidCursor, message),
            // Everything else is the server's problem, not the request's. The message names
            // the database and the operation; it goes to the log as well (see `mod.rs`).
            _ => ApiError::new(Code::StoreError, message),
        }
    }
}

/// The API's error codes by name, for the OpenAPI document's test: each must be documented.
pub const CODES: [&str; Code::API.len()] = {
    let mut names = [""; Code::API.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = Code::API[i].as_str();
        i += 1;
    }
    names
};

/// Runs a store call on the blocking pool; a task that panicked is an internal error.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("a store task failed: {e}")))?
}

pub(crate) fn flag_not_found(id: FlagId) -> ApiError {
    ApiError::new(Code::FlagNotFound, format!("flag {id} does not exist"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_errors_and_csrf_is_the_uis_alone() {
        let names: std::collections::BTreeSet<&str> = CODES.iter().copied().collect();
        assert_eq!(names.len(), Code::API.len(), "a code listed twice");
        assert!(!names.contains(Code::Csrf.as_str()));
        for code in Code::API.iter().chain([&Code::Csrf]) {
            let status = code.status();
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{code}"
            );
        }
        let e = ApiError::new(Code::RateLimited, "slow down");
        assert_eq!(e.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.body()["error"]["code"], "rate_limited");
    }
}
