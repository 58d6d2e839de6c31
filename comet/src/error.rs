//! The one error type of the public API, and the one place a gRPC status becomes an HTTP answer
//! or a WebSocket error object: `{"error": {"code": "<gRPC code name>", "message": "..."}}`.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header::RETRY_AFTER},
    response::{IntoResponse, Response},
};
use tonic::Code;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(Code::Unauthenticated, message)
    }

    /// The gRPC code name clients see, e.g. `INVALID_ARGUMENT`.
    pub fn code_name(&self) -> &'static str {
        code_name(self.code)
    }

    pub fn http_status(&self) -> StatusCode {
        match self.code {
            Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
            Code::FailedPrecondition => StatusCode::PRECONDITION_FAILED,
            Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
            Code::Unavailable | Code::DeadlineExceeded => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "code": self.code_name(), "message": self.message })
    }
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        let message = match status.code() {
            // Logic went away mid-call (a restart): the outcome is unknown, a retry is the
            // client's to make (`send` with its client_msg_id is stored once).
            _ if natter_proto::peer_went_away(&status) => {
                tracing::warn!(%status, "logic went away mid-call");
                return Self::new(Code::Unavailable, "service temporarily unavailable, retry");
            }
            // logic already sanitizes these; a transport failure's text is ours to hide.
            Code::Internal | Code::Unknown | Code::DataLoss => "internal error".to_owned(),
            Code::Unavailable if status.message().starts_with("transport") => {
                "service temporarily unavailable, retry".to_owned()
            }
            _ => status.message().to_owned(),
        };
        if matches!(status.code(), Code::Unknown | Code::Internal) {
            tracing::error!(%status, "logic call failed");
        }
        Self::new(status.code(), message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (
            self.http_status(),
            Json(serde_json::json!({ "error": self.to_json() })),
        )
            .into_response();
        if self.code == Code::ResourceExhausted {
            res.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        res
    }
}

pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_protocol_table() {
        let cases = [
            (Code::InvalidArgument, 400),
            (Code::Unauthenticated, 401),
            (Code::PermissionDenied, 403),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::FailedPrecondition, 412),
            (Code::ResourceExhausted, 429),
            (Code::Internal, 500),
            (Code::Unavailable, 503),
        ];
        for (code, http) in cases {
            assert_eq!(
                ApiError::new(code, "x").http_status().as_u16(),
                http,
                "{code:?}"
            );
        }
    }

    #[test]
    fn internal_details_are_not_passed_on() {
        let err = ApiError::from(tonic::Status::internal("db password=x"));
        assert_eq!(err.message, "internal error");
        assert_eq!(err.code_name(), "INTERNAL");
    }

    #[test]
    fn a_call_cut_off_by_a_restarting_logic_is_unavailable_to_retry() {
        let mut status = tonic::Status::internal("h2 protocol error: http2 error");
        status.set_source(std::sync::Arc::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        let err = ApiError::from(status);
        assert_eq!(err.code_name(), "UNAVAILABLE");
        assert_eq!(err.message, "service temporarily unavailable, retry");
        assert_eq!(err.http_status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
