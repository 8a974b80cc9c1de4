//! Package file names and package ids (`name-1.2.3`), with PNDA's rules and messages.

use crate::problem::{code, Problem};
use serde::Serialize;
use std::fmt;

/// The archive formats a package may come in, chosen by the file name's ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveFormat {
    TarGz,
    Zip,
}

impl ArchiveFormat {
    const ENDINGS: [(&'static str, ArchiveFormat); 3] = [
        (".tar.gz", ArchiveFormat::TarGz),
        (".tgz", ArchiveFormat::TarGz),
        (".zip", ArchiveFormat::Zip),
    ];

    /// Splits `name-1.2.3.tar.gz` into the package id part and the format.
    pub fn split_file_name(file_name: &str) -> Result<(&str, ArchiveFormat), Problem> {
        Self::ENDINGS
            .iter()
            .find_map(|(ending, format)| file_name.strip_suffix(ending).map(|stem| (stem, *format)))
            .ok_or_else(|| {
                Problem::new(
                    code::BAD_FILE_NAME,
                    format!("package file name must end with .tar.gz, .tgz or .zip but found {file_name}"),
                )
                .at(file_name)
            })
    }
}

/// A validated package id: `name-version`, split on the last `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageId {
    full: String,
    split: usize,
}

impl PackageId {
    /// Checks `id` with PNDA's rules, in PNDA's order and with its messages, plus one of ours:
    /// the id becomes a folder name and an HDFS path, so only `a-z A-Z 0-9 . _ -` are allowed.
    pub fn parse(id: &str) -> Result<PackageId, Problem> {
        let bad = |c: &str, m: String| Problem::new(c, m).at(id);
        let Some((name, version)) = id.rsplit_once('-') else {
            return Err(bad(
                code::BAD_PACKAGE_NAME,
                format!("package name must be of the form name-version e.g. name-version.1.2.3 but found {id}"),
            ));
        };
        if version.split('.').count() < 3 {
            return Err(bad(
                code::BAD_VERSION,
                format!(
                    "version must be a three part major.minor.patch e.g. 1.2.3 but found {version}"
                ),
            ));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if name.is_empty() || id.starts_with('.') || !id.chars().all(allowed) {
            return Err(bad(
                code::BAD_PACKAGE_NAME,
                format!(
                    "package name may only contain a-z A-Z 0-9 . _ - (and must not start with . or -) but found {id}"
                ),
            ));
        }
        Ok(PackageId {
            full: id.to_string(),
            split: name.len(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.full
    }

    pub fn name(&self) -> &str {
        &self.full[..self.split]
    }

    pub fn version(&self) -> &str {
        &self.full[self.split + 1..]
    }
}

impl fmt::Display for PackageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_the_last_dash() {
        let id = PackageId::parse("spark-batch-example-app-1.0.23").unwrap();
        assert_eq!(id.name(), "spark-batch-example-app");
        assert_eq!(id.version(), "1.0.23");
    }

    #[test]
    fn pnda_messages_for_bad_names() {
        let err = PackageId::parse("nodash").unwrap_err();
        assert_eq!(err.code, code::BAD_PACKAGE_NAME);
        assert_eq!(
            err.message,
            "package name must be of the form name-version e.g. name-version.1.2.3 but found nodash"
        );
        let err = PackageId::parse("name-1.2").unwrap_err();
        assert_eq!(
            err.message,
            "version must be a three part major.minor.patch e.g. 1.2.3 but found 1.2"
        );
    }

    #[test]
    fn accepts_what_pnda_accepts() {
        // PNDA does not check that version parts are numeric, and accepts more than three.
        assert!(PackageId::parse("n-a.b.c").is_ok());
        assert!(PackageId::parse("n-1.2.3.4").is_ok());
    }

    #[test]
    fn refuses_names_unsafe_as_paths() {
        for id in [
            "-1.0.0",
            "a/b-1.0.0",
            "..-1.0.0",
            ".hidden-1.0.0",
            "a b-1.0.0",
            "a\nb-1.0.0",
        ] {
            assert!(PackageId::parse(id).is_err(), "{id:?} should be refused");
        }
    }

    #[test]
    fn file_name_endings() {
        assert_eq!(
            ArchiveFormat::split_file_name("a-1.0.0.tgz").unwrap(),
            ("a-1.0.0", ArchiveFormat::TarGz)
        );
        assert_eq!(
            ArchiveFormat::split_file_name("a-1.0.0.zip").unwrap(),
            ("a-1.0.0", ArchiveFormat::Zip)
        );
        assert_eq!(
            ArchiveFormat::split_file_name("a-1.0.0.tar")
                .unwrap_err()
                .code,
            code::BAD_FILE_NAME
        );
    }
}
