//! `AppError`: the error that crosses the wire to the UI. Messages are safe to show;
//! internal causes are logged on the server and replaced by a generic sentence.
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Not found.")]
    NotFound,
    #[error("Please sign in.")]
    Unauthenticated,
    /// Bad input or a refused rule; the text tells the user what to do.
    #[error("{0}")]
    Invalid(String),
    #[error("Too many attempts. Try again in {0} minutes.")]
    RateLimited(i64),
    #[error("Something went wrong on our side. Try again; if it persists, tell your administrator.")]
    Internal,
    /// Transport-level failures (network, decoding) reported by the server-fn layer.
    #[error("Could not reach the server: {0}")]
    Transport(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;
    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }
}

#[cfg(feature = "ssr")]
impl From<crate::server::DomainError> for AppError {
    fn from(e: crate::server::DomainError) -> Self {
        use crate::server::DomainError as D;
        match e {
            D::NotFound | D::Forbidden => AppError::NotFound,
            D::Unauthenticated => AppError::Unauthenticated,
            D::Invalid(m) | D::Refused(m) => AppError::Invalid(m),
            D::RateLimited { retry_after_secs } => AppError::RateLimited((retry_after_secs + 59) / 60),
            D::Db(err) => {
                tracing::error!(error = %err, "database error");
                AppError::Internal
            }
            D::Internal(err) => {
                tracing::error!(error = %err, "internal error");
                AppError::Internal
            }
        }
    }
}
