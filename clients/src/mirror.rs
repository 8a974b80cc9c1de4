//! The wire format of a dm mirror (`dm-mirror serve`, or any static file server holding what
//! `dm-mirror build` wrote): `index.json` at the mirror's root lists every artifact, each file
//! is at `<root>/<file>`, and beside it `<file>.sha512` in `sha512sum`'s format, as Apache
//! publishes a release's checksum. dm-mirror writes this format and dmd reads it; both use
//! these types so the two cannot drift apart. [`MirrorClient`] is dmd's side: the index, and
//! downloads verified against their SHA-512 while they stream.

use crate::http::{join, ClientError, HttpClient};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};
use std::time::Duration;

/// The index's path below the mirror's root.
pub const INDEX_PATH: &str = "index.json";

/// The index format this code writes and understands.
pub const INDEX_FORMAT: u32 = 1;

/// `index.json`: every artifact the mirror holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub format: u32,
    pub artifacts: Vec<Artifact>,
}

/// One file of the mirror.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// `flink`, `spark`, `jars`, `packages`, `misc` … The section is also the file's folder.
    pub section: String,
    /// `flink` and `spark` for engine distributions; the artifact's own name otherwise.
    pub name: String,
    pub version: String,
    /// The path below the mirror's root, `<section>/<file name>`, with `/` separators.
    pub file: String,
    pub bytes: u64,
    /// 128 lowercase hex digits.
    pub sha512: String,
    /// Where `dm-mirror build` took it from (`file://…`, `https://…`, Maven coordinates).
    pub source: String,
}

impl Index {
    /// The artifact of `section` with this name and version, if the mirror has it.
    pub fn find(&self, section: &str, name: &str, version: &str) -> Option<&Artifact> {
        self.artifacts
            .iter()
            .find(|a| a.section == section && a.name == name && a.version == version)
    }
}

impl Artifact {
    /// The path of its checksum file below the mirror's root.
    pub fn checksum_file(&self) -> String {
        format!("{}.sha512", self.file)
    }
}

/// A checksum file that is not in `sha512sum`'s format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumError {
    #[error("the checksum file is empty")]
    Empty,
    #[error("not a SHA-512 digest (128 hex digits): {0:?}")]
    NotSha512(String),
    #[error("the checksum file is for {found:?}, not {expected:?}")]
    OtherFile { expected: String, found: String },
}

/// Whether `text` is a SHA-512 digest: 128 hex digits.
pub fn is_sha512_hex(text: &str) -> bool {
    text.len() == 128 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The digest from a `sha512sum` line (`<hex>  <name>`, `<hex> *<name>` in binary mode, or the
/// bare digest), lowercased. When the line names a file, it must be `expected_name` (a file
/// name, without folders: Apache's files name the bare file).
pub fn parse_sha512_line(text: &str, expected_name: &str) -> Result<String, ChecksumError> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).ok_or(ChecksumError::Empty)?;
    let (digest, name) = match line.split_once(char::is_whitespace) {
        Some((digest, rest)) => (digest, Some(rest.trim_start().trim_start_matches('*'))),
        None => (line, None),
    };
    if !is_sha512_hex(digest) {
        return Err(ChecksumError::NotSha512(digest.chars().take(140).collect()));
    }
    if let Some(name) = name {
        let base = name.rsplit('/').next().unwrap_or(name);
        if base != expected_name {
            return Err(ChecksumError::OtherFile {
                expected: expected_name.to_string(),
                found: name.to_string(),
            });
        }
    }
    Ok(digest.to_ascii_lowercase())
}

/// A `sha512sum` line for `file_name`, as `dm-mirror build` writes beside each file.
pub fn sha512_line(digest: &str, file_name: &str) -> String {
    format!("{digest}  {file_name}\n")
}

/// Why a mirror could not give an artifact.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No answer, or an HTTP error status (the mirror is down, or the file is not there).
    #[error("{0}")]
    Http(#[from] ClientError),
    #[error("{url}: not a dm mirror index: {why}")]
    BadIndex { url: String, why: String },
    #[error("{file}: its checksum file: {why}")]
    BadChecksumFile { file: String, why: ChecksumError },
    /// The index and the `.sha512` beside the file disagree: one of them was changed.
    #[error("{file}: the index says sha512 {index}…, its .sha512 file says {published}…")]
    ChecksumsDisagree {
        file: String,
        index: String,
        published: String,
    },
    /// What arrived is not what the mirror published (tampered or corrupted).
    #[error("{file}: checksum mismatch: expected sha512 {expected}…, downloaded {actual}… ({bytes} bytes)")]
    Mismatch {
        file: String,
        expected: String,
        actual: String,
        bytes: u64,
    },
    #[error("{file}: {got} bytes downloaded, the index says {expected}")]
    WrongSize { file: String, expected: u64, got: u64 },
    /// Writing the download on this side failed (disk full …): not the mirror's fault.
    #[error("{file}: cannot write the download: {why}")]
    Write { file: String, why: std::io::Error },
}

impl FetchError {
    /// Whether the mirror failed to answer (down, unreachable), as opposed to answering with
    /// something wrong.
    pub fn unreachable(&self) -> bool {
        matches!(self, FetchError::Http(e) if e.status().is_none())
    }
}

/// The first 16 hex digits of a digest: enough to tell two apart in a message.
fn short(digest: &str) -> String {
    digest.chars().take(16).collect()
}

/// A dm mirror over HTTP (`dm-mirror serve`, or a static file server).
#[derive(Clone)]
pub struct MirrorClient {
    url: String,
    /// The index and checksum files: small.
    small: HttpClient,
    /// Distributions of hundreds of megabytes.
    large: HttpClient,
}

impl MirrorClient {
    /// The mirror at `url` (its root, where `index.json` is).
    pub fn new(url: &str) -> MirrorClient {
        MirrorClient {
            url: url.trim_end_matches('/').to_string(),
            small: HttpClient::builder().retries(2).build(),
            // An hour for a file: 500 MB over a slow edge link.
            large: HttpClient::builder()
                .total_timeout(Duration::from_secs(3600))
                .build(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// `index.json`.
    pub fn index(&self) -> Result<Index, FetchError> {
        let url = join(&self.url, INDEX_PATH);
        let index: Index = self.small.get_json(&url).map_err(|e| match e.kind {
            crate::ErrorKind::Decode(why) => FetchError::BadIndex {
                url: url.clone(),
                why,
            },
            _ => FetchError::Http(e),
        })?;
        if index.format != INDEX_FORMAT {
            return Err(FetchError::BadIndex {
                url,
                why: format!(
                    "format {} (this dm reads format {INDEX_FORMAT})",
                    index.format
                ),
            });
        }
        Ok(index)
    }

    /// Streams `artifact` into `sink`, hashing as it goes; `Ok` only when its size and SHA-512
    /// are the index's and its `.sha512` file's. On `Err` the sink holds bytes to throw away.
    pub fn download(
        &self,
        artifact: &Artifact,
        sink: &mut dyn std::io::Write,
    ) -> Result<(), FetchError> {
        let file = artifact.file.clone();
        let name = file.rsplit('/').next().unwrap_or(&file).to_string();
        let published = self
            .small
            .get_text(&join(&self.url, &artifact.checksum_file()))?;
        let published = parse_sha512_line(&published, &name).map_err(|why| {
            FetchError::BadChecksumFile {
                file: file.clone(),
                why,
            }
        })?;
        let expected = artifact.sha512.to_ascii_lowercase();
        if published != expected {
            return Err(FetchError::ChecksumsDisagree {
                file,
                index: short(&expected),
                published: short(&published),
            });
        }
        let mut hasher = Sha512::new();
        let mut write_error = None;
        let got = self.large.get_streamed(&join(&self.url, &file), &mut |chunk| {
            hasher.update(chunk);
            sink.write_all(chunk).inspect_err(|e| {
                write_error = Some(std::io::Error::new(e.kind(), e.to_string()))
            })
        });
        if let Some(why) = write_error {
            return Err(FetchError::Write { file, why });
        }
        let got = got?;
        sink.flush().map_err(|why| FetchError::Write {
            file: file.clone(),
            why,
        })?;
        if got != artifact.bytes {
            return Err(FetchError::WrongSize {
                file,
                expected: artifact.bytes,
                got,
            });
        }
        let actual = to_hex(&hasher.finalize());
        if actual != expected {
            return Err(FetchError::Mismatch {
                file,
                expected: short(&expected),
                actual: short(&actual),
                bytes: got,
            });
        }
        Ok(())
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-512 of `bytes` in hex, as the index holds it.
pub fn sha512_hex(bytes: &[u8]) -> String {
    to_hex(&Sha512::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "a3f1c0e1d2b4c5a6978812345678901234567890abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef01";

    #[test]
    fn reads_apaches_checksum_lines() {
        assert_eq!(D.len(), 128);
        let name = "flink-1.20.5-bin-scala_2.12.tgz";
        assert_eq!(parse_sha512_line(&format!("{D}  {name}\n"), name).unwrap(), D);
        assert_eq!(parse_sha512_line(&format!("{D} *{name}"), name).unwrap(), D);
        assert_eq!(parse_sha512_line(&D.to_ascii_uppercase(), name).unwrap(), D);
        assert_eq!(parse_sha512_line(&sha512_line(D, name), name).unwrap(), D);
    }

    #[test]
    fn refuses_what_is_not_a_checksum_of_this_file() {
        let name = "x.tgz";
        assert_eq!(parse_sha512_line("  \n", name), Err(ChecksumError::Empty));
        assert!(matches!(parse_sha512_line("abc  x.tgz", name), Err(ChecksumError::NotSha512(_))));
        assert!(matches!(
            parse_sha512_line(&format!("{D}  y.tgz"), name),
            Err(ChecksumError::OtherFile { .. })
        ));
    }

    #[test]
    fn finds_an_artifact_by_section_name_and_version() {
        let index: Index = serde_json::from_str(&format!(
            r#"{{"format":1,"artifacts":[{{"section":"flink","name":"flink","version":"1.20.5",
            "file":"flink/flink-1.20.5-bin-scala_2.12.tgz","bytes":3,"sha512":"{D}","source":"file:///x"}}]}}"#
        ))
        .unwrap();
        let a = index.find("flink", "flink", "1.20.5").unwrap();
        assert_eq!(a.checksum_file(), "flink/flink-1.20.5-bin-scala_2.12.tgz.sha512");
        assert!(index.find("flink", "flink", "2.3.0").is_none());
    }
}
