//! The one shape of an error answer: a status and a JSON body `{"error": "…", …}` with whatever
//! else the client needs to act on it (docs/http-api.md § Errors).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Map<String, Value>,
    retry_after_s: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        let mut body = Map::new();
        body.insert("error".into(), Value::String(error.into()));
        ApiError { status, body, retry_after_s: None }
    }

    pub fn bad_request(error: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error)
    }

    pub fn not_found(error: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, error)
    }

    pub fn unavailable(error: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, error)
    }

    /// A blocking task that panicked or was cancelled: the request did not complete.
    pub fn internal(what: &str, e: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{what} failed: {e}"))
    }

    /// Another field of the body (`reason`, `errors`, `accepted`).
    pub fn with(mut self, key: &str, value: impl serde::Serialize) -> Self {
        self.body.insert(key.into(), serde_json::to_value(value).unwrap_or(Value::Null));
        self
    }

    /// Tells the client when to try again (`Retry-After`).
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after_s = Some(seconds);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(Value::Object(self.body));
        match self.retry_after_s {
            Some(s) => (self.status, [(header::RETRY_AFTER, s.to_string())], body).into_response(),
            None => (self.status, body).into_response(),
        }
    }
}

impl From<crate::admit::LabelError> for ApiError {
    fn from(e: crate::admit::LabelError) -> Self {
        use crate::admit::LabelError;
        let status = match e {
            LabelError::UnknownMessage => StatusCode::NOT_FOUND,
            LabelError::EnrichmentOff => StatusCode::CONFLICT,
            LabelError::UnknownCategory(_) => StatusCode::BAD_REQUEST,
        };
        Self::new(status, e.to_string())
    }
}

impl From<crate::config::reload::ReloadError> for ApiError {
    fn from(e: crate::config::reload::ReloadError) -> Self {
        use crate::config::reload::ReloadError;
        match e {
            ReloadError::Invalid(errors) => {
                Self::bad_request("the new configuration is invalid; the running one stays").with("errors", errors)
            }
            e @ ReloadError::NeedsRestart(_) => {
                Self::new(StatusCode::CONFLICT, format!("{e}; the running configuration stays"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(e: ApiError) -> (StatusCode, Option<String>, Value) {
        let response = e.into_response();
        let status = response.status();
        let retry = response.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, retry, serde_json::from_slice(&bytes).unwrap())
    }

    #[test]
    fn every_error_is_json_with_its_status_and_extras() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (status, retry, body) =
            rt.block_on(body_of(ApiError::unavailable("queue full").with("accepted", 0).retry_after(1)));
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry.as_deref(), Some("1"));
        assert_eq!(body, serde_json::json!({"error": "queue full", "accepted": 0}));
        let (status, retry, body) = rt.block_on(body_of(crate::admit::LabelError::UnknownMessage.into()));
        assert_eq!((status, retry), (StatusCode::NOT_FOUND, None));
        assert!(body["error"].as_str().unwrap().contains("message"), "{body}");
    }
}
