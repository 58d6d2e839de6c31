//! Every failure of the logic tier, and the one place it becomes a gRPC status.

use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum LogicError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("{0}")]
    PermissionDenied(&'static str),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    AlreadyExists(&'static str),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("a tier this call needs is unavailable: {0}")]
    Unavailable(String),
    /// Kept for the log; the client sees only "internal error".
    #[error("internal: {0}")]
    Internal(String),
}

impl LogicError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::Invalid(msg.into())
    }

    /// A repo failure the call site did not expect: transient ones stay UNAVAILABLE (a retry may
    /// work), anything else is an internal error.
    pub fn upstream(status: Status) -> Self {
        match status.code() {
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
                Self::Unavailable(status.message().to_owned())
            }
            _ if natter_proto::peer_went_away(&status) => {
                Self::Unavailable(format!("the repo went away mid-call: {}", status.message()))
            }
            _ => Self::Internal(format!(
                "repo answered {:?}: {}",
                status.code(),
                status.message()
            )),
        }
    }
}

impl From<LogicError> for Status {
    fn from(err: LogicError) -> Self {
        match err {
            LogicError::Invalid(m) => Status::invalid_argument(m),
            LogicError::Unauthenticated(m) => Status::unauthenticated(m),
            LogicError::PermissionDenied(m) => Status::permission_denied(m),
            LogicError::NotFound(m) => Status::not_found(m),
            LogicError::AlreadyExists(m) => Status::already_exists(m),
            LogicError::FailedPrecondition(m) => Status::failed_precondition(m),
            LogicError::Unavailable(cause) => {
                tracing::warn!(%cause, "dependency unavailable");
                Status::unavailable("service temporarily unavailable, retry")
            }
            LogicError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                Status::internal("internal error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_causes_never_reach_the_client() {
        let status = Status::from(LogicError::Internal("pg: password=hunter2".into()));
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
    }

    #[test]
    fn transient_repo_failures_stay_retryable() {
        let err = LogicError::upstream(Status::unavailable("down"));
        assert_eq!(Status::from(err).code(), Code::Unavailable);
        let err = LogicError::upstream(Status::data_loss("x"));
        assert_eq!(Status::from(err).code(), Code::Internal);
        // The connection broke mid-call (a repo restart): tonic says INTERNAL, with the
        // transport error as its source.
        let mut broken = Status::internal("h2 protocol error: http2 error");
        broken.set_source(std::sync::Arc::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        let status = Status::from(LogicError::upstream(broken));
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.message(), "service temporarily unavailable, retry");
    }
}
