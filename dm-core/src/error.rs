//! The one error type of dmd's operations, mapped to PNDA's status codes with a JSON body that
//! is always `{"status": …, "information": …}` (PNDA mixed plain text, JSON strings and objects).

use packaging::Problems;
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DmError {
    /// 404; `status` is the object's state, e.g. `NOTDEPLOYED`.
    #[error("{status}: {information}")]
    NotFound { status: String, information: String },
    /// 409; `status` is the object's current state, e.g. `DEPLOYING`.
    #[error("{status}: {information}")]
    Conflict { status: String, information: String },
    #[error("{0}")]
    BadRequest(String),
    /// 400 for a package that failed its checks, with every problem.
    #[error("{0}")]
    InvalidPackage(Problems),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Internal(String),
    #[error("{0}")]
    Unavailable(String),
}

impl DmError {
    pub fn not_found(status: impl Into<String>, information: impl Into<String>) -> Self {
        DmError::NotFound {
            status: status.into(),
            information: information.into(),
        }
    }

    pub fn conflict(status: impl Into<String>, information: impl Into<String>) -> Self {
        DmError::Conflict {
            status: status.into(),
            information: information.into(),
        }
    }

    pub fn http_code(&self) -> u16 {
        match self {
            DmError::NotFound { .. } => 404,
            DmError::Conflict { .. } => 409,
            DmError::BadRequest(_) | DmError::InvalidPackage(_) => 400,
            DmError::PayloadTooLarge(_) => 413,
            DmError::Unauthorized(_) => 401,
            DmError::Forbidden(_) => 403,
            DmError::Internal(_) => 500,
            DmError::Unavailable(_) => 503,
        }
    }

    pub fn body(&self) -> Value {
        match self {
            DmError::NotFound {
                status,
                information,
            }
            | DmError::Conflict {
                status,
                information,
            } => {
                json!({"status": status, "information": information})
            }
            DmError::BadRequest(m) => json!({"status": "BAD_REQUEST", "information": m}),
            DmError::InvalidPackage(problems) => {
                json!({"status": "INVALID_PACKAGE", "information": problems.to_string(), "problems": problems.0})
            }
            DmError::PayloadTooLarge(m) => json!({"status": "TOO_LARGE", "information": m}),
            DmError::Unauthorized(m) => json!({"status": "UNAUTHORIZED", "information": m}),
            DmError::Forbidden(m) => json!({"status": "FORBIDDEN", "information": m}),
            DmError::Internal(m) => json!({"status": "UNKNOWN", "information": m}),
            DmError::Unavailable(m) => json!({"status": "UNAVAILABLE", "information": m}),
        }
    }
}

impl From<rusqlite::Error> for DmError {
    fn from(e: rusqlite::Error) -> Self {
        DmError::Internal(format!("registry (SQLite) error: {e}"))
    }
}
