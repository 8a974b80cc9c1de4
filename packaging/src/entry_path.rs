//! Paths of archive entries, checked before anything is written: never trust a path from an
//! archive.

use crate::limits::Limits;
use crate::problem::{code, Problem};
use std::fmt;
use std::path::{Path, PathBuf};

/// A relative, normalised entry path whose segments are all plain names: no root, no `..`,
/// no `.`, no empty segments, no control characters or backslashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryPath(String);

impl EntryPath {
    /// Checks a raw entry name. `Ok(None)` means the entry names the archive root itself
    /// (`./`), which carries nothing and is skipped.
    pub fn parse(raw: &[u8], limits: &Limits) -> Result<Option<EntryPath>, Problem> {
        let shown = String::from_utf8_lossy(raw).into_owned();
        let unsafe_path = |why: &str| {
            Problem::new(code::UNSAFE_PATH, format!("refusing entry: {why}")).at(&shown)
        };
        let text = std::str::from_utf8(raw).map_err(|_| unsafe_path("name is not valid UTF-8"))?;
        if raw.len() > limits.max_path_bytes {
            return Err(Problem::new(
                code::LIMIT_EXCEEDED,
                format!(
                    "entry path is {} bytes long, more than the limit of {}",
                    raw.len(),
                    limits.max_path_bytes
                ),
            )
            .at(&shown));
        }
        if text.starts_with('/') {
            return Err(unsafe_path("absolute path"));
        }
        if text.chars().any(|c| c.is_control() || c == '\\') {
            return Err(unsafe_path("control character or backslash in name"));
        }
        let mut segments = Vec::new();
        for segment in text.split('/') {
            match segment {
                "" | "." => continue,
                ".." => return Err(unsafe_path("`..` in path")),
                s if s.len() > 255 => {
                    return Err(unsafe_path("a path segment is longer than 255 bytes"))
                }
                s => segments.push(s),
            }
        }
        if segments.is_empty() {
            return Ok(None);
        }
        // Windows drive prefixes (`C:`) would be absolute for some consumers of the files.
        if segments[0].len() == 2 && segments[0].ends_with(':') {
            return Err(unsafe_path("drive-letter path"));
        }
        Ok(Some(EntryPath(segments.join("/"))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The paths of the directories that contain this entry, outermost first.
    pub fn ancestors(&self) -> impl Iterator<Item = &str> {
        self.0.match_indices('/').map(|(i, _)| &self.0[..i])
    }

    /// Where this entry goes under `root`. Safe by construction: only plain segments.
    pub fn under(&self, root: &Path) -> PathBuf {
        root.join(&self.0)
    }

    pub(crate) fn from_checked(path: String) -> EntryPath {
        EntryPath(path)
    }
}

impl fmt::Display for EntryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Option<String>, Problem> {
        EntryPath::parse(raw.as_bytes(), &Limits::default()).map(|p| p.map(|p| p.0))
    }

    #[test]
    fn normalises_harmless_forms() {
        assert_eq!(
            parse("./pkg-1.0.0/flink/").unwrap().unwrap(),
            "pkg-1.0.0/flink"
        );
        assert_eq!(parse("pkg-1.0.0//a/./b").unwrap().unwrap(), "pkg-1.0.0/a/b");
        assert_eq!(parse("./").unwrap(), None);
        assert_eq!(parse(".").unwrap(), None);
    }

    #[test]
    fn refuses_escapes() {
        for raw in [
            "/etc/passwd",
            "a/../../b",
            "..",
            "a\\..\\b",
            "C:/x",
            "a/\u{7}b",
            "a\nb",
        ] {
            let err = parse(raw).unwrap_err();
            assert_eq!(err.code, code::UNSAFE_PATH, "{raw:?}");
            assert_eq!(err.path.as_deref(), Some(raw));
        }
    }

    #[test]
    fn refuses_long_paths() {
        let long = "a/".repeat(600);
        assert_eq!(parse(&long).unwrap_err().code, code::LIMIT_EXCEEDED);
        let long_segment = "b".repeat(300);
        assert_eq!(parse(&long_segment).unwrap_err().code, code::UNSAFE_PATH);
    }

    #[test]
    fn ancestors_outermost_first() {
        let p = EntryPath::parse(b"a/b/c", &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(p.ancestors().collect::<Vec<_>>(), ["a", "a/b"]);
    }
}
