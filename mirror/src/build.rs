//! `dm-mirror build`: fetches every artifact of a manifest into a staging folder inside the
//! mirror, checks each against its checksum, and only when all are good moves them into place
//! and rewrites `index.json`. A failure leaves the mirror as it was.

use crate::hash;
use crate::manifest::{Checksum, Entry, Source};
use crate::store::{self, ArtifactStore, LocalStore, StoreError};
use dm_clients::mirror::{parse_sha512_line, Artifact, Index, INDEX_FORMAT, INDEX_PATH};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::cell::RefCell;
use std::fs;
use std::io::{self, IsTerminal, Read};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("artifact {name} ({file}): {kind}")]
    Artifact { name: String, file: String, kind: ArtifactError },
    #[error("the mirror {dir}: {problem}")]
    Mirror { dir: String, problem: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {got} bytes received of the {expected} announced (truncated download)")]
    Truncated { url: String, expected: u64, got: u64 },
    #[error("wrong checksum: {what} is {actual}, the expected {expected} ({from})")]
    Mismatch { what: &'static str, expected: String, actual: String, from: String },
    #[error("its checksum {url}: {reason}")]
    BadChecksum { url: String, reason: String },
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("{0}")]
    Store(StoreError),
}

/// What a build did with one artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Fetched,
    /// Present and valid already.
    Skipped,
}

/// The checksum an artifact must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    Sha512 { hex: String, from: String },
    /// Maven's `.sha1`, for artifacts with no published `.sha512`.
    Sha1 { hex: String, from: String },
}

impl Expected {
    /// Whether bytes with these digests are the expected ones; the mismatch otherwise.
    pub fn check(&self, sha512: &str, sha1: &str) -> Result<(), ArtifactError> {
        let (what, expected, actual, from) = match self {
            Expected::Sha512 { hex, from } => ("SHA-512", hex, sha512, from),
            Expected::Sha1 { hex, from } => ("SHA-1", hex, sha1, from),
        };
        if expected == actual {
            Ok(())
        } else {
            Err(ArtifactError::Mismatch {
                what,
                expected: expected.clone(),
                actual: actual.to_string(),
                from: from.clone(),
            })
        }
    }
}

/// A `.sha1` file's digest (`<40 hex>` optionally followed by a file name).
pub fn parse_sha1_line(text: &str) -> Option<String> {
    let digest = text.split_whitespace().next()?;
    (digest.len() == 40 && digest.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| digest.to_ascii_lowercase())
}

pub struct Builder {
    agent: ureq::Agent,
    progress: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new(std::io::stderr().is_terminal())
    }
}

impl Builder {
    /// `progress`: draw progress bars (on a terminal).
    pub fn new(progress: bool) -> Builder {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(15)))
            // A large distribution over a slow link: bounded per read, not in all.
            .timeout_recv_body(Some(Duration::from_secs(60)))
            .max_redirects(5)
            .http_status_as_error(false)
            // The system's roots, not only the bundled ones: an edge node's site often reaches
            // Maven Central and Apache through a proxy whose CA only the system trusts.
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                    .build(),
            )
            .build();
        Builder { agent: config.into(), progress }
    }

    /// Builds (or completes) the mirror in `out` from `entries`.
    pub fn build(&self, entries: &[Entry], out: &Path) -> Result<Vec<(String, Outcome)>, BuildError> {
        let created = !out.exists();
        let result = self.build_in(entries, out);
        if result.is_err() && created {
            // Nothing was there: leave nothing.
            let _ = fs::remove_dir_all(out);
        }
        result
    }

    fn build_in(&self, entries: &[Entry], out: &Path) -> Result<Vec<(String, Outcome)>, BuildError> {
        let mirror_err = |problem: String| BuildError::Mirror { dir: out.display().to_string(), problem };
        let mirror = LocalStore::open(out).map_err(|e| mirror_err(format!("cannot create it: {e}")))?;
        let mut index = read_index(out).map_err(mirror_err)?;
        let staging_dir = tempfile::Builder::new()
            .prefix(".staging-")
            .tempdir_in(out)
            .map_err(|e| mirror_err(format!("cannot create a staging folder: {e}")))?;
        let staging = LocalStore::open(staging_dir.path()).map_err(|e| mirror_err(e.to_string()))?;

        let mut outcomes = Vec::new();
        let mut staged = Vec::new();
        for entry in entries {
            let fail = |kind| BuildError::Artifact { name: entry.name.clone(), file: entry.key(), kind };
            let expected = self.expected(entry).map_err(fail)?;
            if let Some(artifact) = present_and_valid(&mirror, &index, entry, &expected) {
                outcomes.push((entry.key(), Outcome::Skipped));
                upsert(&mut index, artifact);
                continue;
            }
            let stored = self.fetch(entry, &expected, &staging).map_err(fail)?;
            staged.push(Artifact {
                section: entry.section.clone(),
                name: entry.name.clone(),
                version: entry.version.clone(),
                file: entry.key(),
                bytes: stored.bytes,
                sha512: stored.sha512,
                source: entry.source_text.clone(),
            });
            outcomes.push((entry.key(), Outcome::Fetched));
        }
        // Everything is fetched and checked: only now does the mirror change.
        for artifact in staged {
            mirror.adopt(&staging, &artifact.file).map_err(|e| mirror_err(e.to_string()))?;
            upsert(&mut index, artifact);
        }
        index.artifacts.sort_by(|a, b| a.file.cmp(&b.file));
        let json = serde_json::to_vec_pretty(&index).expect("an index serialises");
        store::write_atomically(&out.join(INDEX_PATH), &json)
            .map_err(|e| mirror_err(format!("cannot write {INDEX_PATH}: {e}")))?;
        Ok(outcomes)
    }

    /// The checksum `entry` must match, fetched when the manifest points to it.
    fn expected(&self, entry: &Entry) -> Result<Expected, ArtifactError> {
        match &entry.checksum {
            Checksum::Sha512(hex) => Ok(Expected::Sha512 { hex: hex.clone(), from: "the manifest".into() }),
            Checksum::Sha512Url(url) => {
                let text = self.get_text(url)?.ok_or_else(|| ArtifactError::Status { url: url.clone(), status: 404 })?;
                let hex = parse_sha512_line(&text, &entry.file_name)
                    .map_err(|e| ArtifactError::BadChecksum { url: url.clone(), reason: e.to_string() })?;
                Ok(Expected::Sha512 { hex, from: url.clone() })
            }
            Checksum::MavenPublished { jar_url } => {
                let url = format!("{jar_url}.sha512");
                if let Some(text) = self.get_text(&url)? {
                    let hex = parse_sha512_line(&text, &entry.file_name)
                        .map_err(|e| ArtifactError::BadChecksum { url: url.clone(), reason: e.to_string() })?;
                    return Ok(Expected::Sha512 { hex, from: url });
                }
                let url = format!("{jar_url}.sha1");
                let text = self.get_text(&url)?.ok_or_else(|| ArtifactError::BadChecksum {
                    url: url.clone(),
                    reason: "Maven publishes neither a .sha512 nor a .sha1 for it".into(),
                })?;
                let hex = parse_sha1_line(&text).ok_or_else(|| ArtifactError::BadChecksum {
                    url: url.clone(),
                    reason: "not a SHA-1 digest (40 hex digits)".into(),
                })?;
                Ok(Expected::Sha1 { hex, from: url })
            }
        }
    }

    /// A small text file; `None` on a 404.
    fn get_text(&self, url: &str) -> Result<Option<String>, ArtifactError> {
        let response = self.agent.get(url).call().map_err(|e| ArtifactError::Unreachable {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        match response.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            status => return Err(ArtifactError::Status { url: url.to_string(), status }),
        }
        let text = response
            .into_body()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
            .map_err(|e| ArtifactError::Unreachable { url: url.to_string(), reason: e.to_string() })?;
        Ok(Some(text))
    }

    fn fetch(&self, entry: &Entry, expected: &Expected, staging: &LocalStore) -> Result<store::Stored, ArtifactError> {
        let (mut reader, length, what): (Box<dyn Read>, Option<u64>, String) = match &entry.source {
            Source::File(path) => {
                let file = fs::File::open(path).map_err(|source| ArtifactError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                let length = file.metadata().ok().map(|m| m.len());
                (Box::new(file), length, path.display().to_string())
            }
            Source::Http(url) => {
                let response = self.agent.get(url).call().map_err(|e| ArtifactError::Unreachable {
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
                let status = response.status().as_u16();
                if status != 200 {
                    return Err(ArtifactError::Status { url: url.clone(), status });
                }
                let length = response
                    .headers()
                    .get("content-length")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok());
                (Box::new(response.into_body().into_reader()), length, url.clone())
            }
        };
        let bar = self.bar(&entry.key(), length);
        // The check's own error, kept whole (the store only carries a message).
        let failure = RefCell::new(None);
        let accept = |bytes: u64, sha512: &str, sha1: &str| {
            let verdict = match length {
                // A short read is a truncation, not a tampered file: say so first.
                Some(length) if bytes != length => {
                    Err(ArtifactError::Truncated { url: what.clone(), expected: length, got: bytes })
                }
                _ => expected.check(sha512, sha1),
            };
            verdict.map_err(|e| {
                let message = e.to_string();
                *failure.borrow_mut() = Some(e);
                StoreError::Other { key: entry.key(), message }
            })
        };
        let stored = staging.put_checked(&entry.key(), &mut reader, &accept, &mut |n| bar.inc(n));
        bar.finish_and_clear();
        match stored {
            Ok(stored) => Ok(stored),
            Err(e) => Err(match failure.into_inner() {
                Some(check) => check,
                None => match e {
                    // Reading the source failed mid-way (connection reset, timeout).
                    StoreError::Io { what: "cannot read or write it", source, .. } => {
                        ArtifactError::Unreachable { url: what.clone(), reason: source.to_string() }
                    }
                    e => ArtifactError::Store(e),
                },
            }),
        }
    }

    fn bar(&self, key: &str, length: Option<u64>) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(length, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{msg:40} {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12} {wide_bar}")
            .expect("a valid template");
        bar.set_style(style);
        bar.set_message(key.to_string());
        bar
    }
}

/// The mirror's index, or an empty one when there is none yet.
pub fn read_index(dir: &Path) -> Result<Index, String> {
    match fs::read(dir.join(INDEX_PATH)) {
        Ok(bytes) => {
            let index: Index = serde_json::from_slice(&bytes)
                .map_err(|e| format!("{INDEX_PATH} is not a mirror index: {e}"))?;
            if index.format != INDEX_FORMAT {
                return Err(format!("{INDEX_PATH} has format {}, this dm-mirror knows {INDEX_FORMAT}", index.format));
            }
            Ok(index)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Index { format: INDEX_FORMAT, artifacts: Vec::new() }),
        Err(e) => Err(format!("cannot read {INDEX_PATH}: {e}")),
    }
}

fn upsert(index: &mut Index, artifact: Artifact) {
    index.artifacts.retain(|a| a.file != artifact.file);
    index.artifacts.push(artifact);
}

/// The index's record of `entry` when the mirror already holds it with the expected checksum
/// (the file re-hashed, not trusted), and the manifest says the same about it.
fn present_and_valid(mirror: &LocalStore, index: &Index, entry: &Entry, expected: &Expected) -> Option<Artifact> {
    let recorded = index.artifacts.iter().find(|a| a.file == entry.key())?;
    if (&recorded.section, &recorded.name, &recorded.version, &recorded.source)
        != (&entry.section, &entry.name, &entry.version, &entry.source_text)
    {
        return None;
    }
    if mirror.sha512(&entry.key()).ok()? != recorded.sha512 {
        return None;
    }
    let mut file = fs::File::open(mirror.path_of(&entry.key())).ok()?;
    let (bytes, sha512, sha1) = hash::copy_hashing(&mut file, &mut io::sink(), &mut |_| {}).ok()?;
    (bytes == recorded.bytes && sha512 == recorded.sha512 && expected.check(&sha512, &sha1).is_ok())
        .then(|| recorded.clone())
}
