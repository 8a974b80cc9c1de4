//! The one error type of dmd's operations, mapped to PNDA's status codes with a JSON body that
//! is always `{"status": …, "information": …}` (PNDA mixed plain text, JSON strings and objects).

use packaging::{Problem, Problems};
use serde::Serialize;

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong (`BAD_REQUEST`, `NOTFOUND`, `FORBIDDEN`, …) or the object's state
    /// (`NOTDEPLOYED`, `DEPLOYING`, `NOTCREATED`, …).
    pub status: String,
    /// A sentence for people, naming what is wrong and where.
    pub information: String,
    /// `INVALID_PACKAGE` only: every problem found, `{code, message, path?, component?}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub problems: Option<Vec<Problem>>,
}

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
    /// 408: the client stopped sending its request.
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// 405, with the methods the resource answers (its `Allow` header).
    #[error("{information}")]
    MethodNotAllowed { allow: String, information: String },
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
            DmError::Timeout(_) => 408,
            DmError::Unauthorized(_) => 401,
            DmError::Forbidden(_) => 403,
            DmError::MethodNotAllowed { .. } => 405,
            DmError::Internal(_) => 500,
            DmError::Unavailable(_) => 503,
        }
    }

    pub fn body(&self) -> ErrorBody {
        let (status, information) = match self {
            DmError::NotFound {
                status,
                information,
            }
            | DmError::Conflict {
                status,
                information,
            } => (status.as_str(), information.clone()),
            DmError::BadRequest(m) => ("BAD_REQUEST", m.clone()),
            DmError::InvalidPackage(problems) => ("INVALID_PACKAGE", problems.to_string()),
            DmError::PayloadTooLarge(m) => ("TOO_LARGE", m.clone()),
            DmError::Timeout(m) => ("TIMEOUT", m.clone()),
            DmError::Unauthorized(m) => ("UNAUTHORIZED", m.clone()),
            DmError::Forbidden(m) => ("FORBIDDEN", m.clone()),
            DmError::MethodNotAllowed { information, .. } => {
                ("METHOD_NOT_ALLOWED", information.clone())
            }
            DmError::Internal(m) => ("UNKNOWN", m.clone()),
            DmError::Unavailable(m) => ("UNAVAILABLE", m.clone()),
        };
        ErrorBody {
            status: status.to_string(),
            information,
            problems: match self {
                DmError::InvalidPackage(problems) => Some(problems.0.clone()),
                _ => None,
            },
        }
    }
}

impl From<rusqlite::Error> for DmError {
    fn from(e: rusqlite::Error) -> Self {
        DmError::Internal(format!("registry (SQLite) error: {e}"))
    }
}

/// Why an I/O operation failed, without the paths some errors carry (tempfile's name the
/// file): answers never show dmd's folders, the log does.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code).to_string(),
        // A wrapped error (tempfile's, with its path) keeps its kind.
        None => e.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn io_reasons_hide_paths() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope").join("x");
        let e = tempfile::Builder::new().tempfile_in(&missing).unwrap_err();
        assert!(
            e.to_string().contains("nope"),
            "tempfile names the path: {e}"
        );
        let reason = super::io_reason(&e);
        assert!(!reason.contains("nope"), "{reason}");
        assert_eq!(reason, "entity not found");
        let os = std::fs::read(&missing).unwrap_err();
        assert_eq!(
            super::io_reason(&os),
            "No such file or directory (os error 2)"
        );
    }
}
