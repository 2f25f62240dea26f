//! The domain's error. User-safe text lives in the variants that carry it; everything
//! else is logged and shown as a generic message (see `crate::error::AppError`).
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DomainError {
    #[error("not found")]
    NotFound,
    #[error("not signed in")]
    Unauthenticated,
    #[error("forbidden")]
    Forbidden,
    /// Bad input; the message is shown to the user as is.
    #[error("{0}")]
    Invalid(String),
    /// A rule refused the change; the message says why.
    #[error("{0}")]
    Refused(String),
    #[error("too many attempts")]
    RateLimited { retry_after_secs: i64 },
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<sea_orm::TransactionError<DomainError>> for DomainError {
    fn from(e: sea_orm::TransactionError<DomainError>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(db) => DomainError::Db(db),
            sea_orm::TransactionError::Transaction(d) => d,
        }
    }
}
