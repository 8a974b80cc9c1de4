//! Structured problems: what is wrong with a package, where, under a stable code.
//!
//! Every check in this crate reports [`Problem`]s instead of failing on the first one, so a user
//! fixing a package sees everything at once, and the REST API can return them as JSON unchanged.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Stable machine-readable problem codes. Plugins may add their own codes; these are the ones
/// the package reader and the built-in rule sets use.
pub mod code {
    pub const BAD_FILE_NAME: &str = "bad_file_name";
    pub const BAD_PACKAGE_NAME: &str = "bad_package_name";
    pub const BAD_VERSION: &str = "bad_version";
    pub const FOLDER_MISMATCH: &str = "folder_mismatch";
    pub const NO_PACKAGE_FOLDER: &str = "no_package_folder";
    pub const MULTIPLE_TOP_LEVEL: &str = "multiple_top_level";
    pub const NO_COMPONENTS: &str = "no_components";
    pub const UNKNOWN_COMPONENT_TYPE: &str = "unknown_component_type";
    pub const BAD_COMPONENT_NAME: &str = "bad_component_name";
    pub const INVALID_PROPERTIES: &str = "invalid_properties";
    pub const MISSING_FILE: &str = "missing_file";
    pub const FORBIDDEN_FILE: &str = "forbidden_file";
    pub const UNSAFE_PATH: &str = "unsafe_path";
    pub const LINK: &str = "link";
    pub const SPECIAL_FILE: &str = "special_file";
    pub const UNSUPPORTED_ENTRY: &str = "unsupported_entry";
    pub const DUPLICATE_ENTRY: &str = "duplicate_entry";
    pub const LIMIT_EXCEEDED: &str = "limit_exceeded";
    pub const COMPRESSION_RATIO: &str = "compression_ratio";
    pub const NOT_AN_ARCHIVE: &str = "not_an_archive";
    pub const CORRUPT_ARCHIVE: &str = "corrupt_archive";
    pub const IO_ERROR: &str = "io_error";
}

/// One thing wrong with a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Stable code from [`code`] (or a plugin's own).
    pub code: String,
    /// The archive path (or file) the problem concerns, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `type/component` the problem belongs to, when it belongs to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// Human-readable text; PNDA's exact wording where PNDA had one.
    pub message: String,
}

impl Problem {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Problem {
            code: code.to_string(),
            path: None,
            component: None,
            message: message.into(),
        }
    }

    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub fn in_component(mut self, component_type: &str, component_name: &str) -> Self {
        self.component = Some(format!("{component_type}/{component_name}"));
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.code)?;
        if let Some(path) = &self.path {
            write!(f, " {path}:")?;
        } else if let Some(component) = &self.component {
            write!(f, " {component}:")?;
        }
        write!(f, " {}", self.message)
    }
}

/// The error of every fallible operation in this crate: the full list of problems found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn one(problem: Problem) -> Self {
        Problems(vec![problem])
    }

    pub fn iter(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter()
    }

    /// True when some problem carries `code`.
    pub fn has(&self, code: &str) -> bool {
        self.0.iter().any(|p| p.code == code)
    }
}

impl From<Problem> for Problems {
    fn from(problem: Problem) -> Self {
        Problems::one(problem)
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(f, "{n} problem{}", if n == 1 { "" } else { "s" })?;
        for problem in &self.0 {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}
