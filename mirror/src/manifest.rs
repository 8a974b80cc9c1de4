//! The build manifest: a TOML list of `[[artifact]]`s, each with where it comes from and how it
//! is checked. Parsing is pure and names the artifact at fault.

use serde::Deserialize;
use std::path::PathBuf;

/// Maven Central, where `maven = "g:a:v"` artifacts are resolved unless `maven_repository` says.
pub const MAVEN_CENTRAL: &str = "https://repo1.maven.org/maven2";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("the manifest is not valid TOML: {0}")]
    Toml(String),
    #[error("artifact {index} ({name}): {problem}")]
    Artifact { index: usize, name: String, problem: String },
    #[error("artifacts {first} and {second} both write {file}")]
    SameFile { first: usize, second: usize, file: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    maven_repository: Option<String>,
    #[serde(default)]
    artifact: Vec<RawArtifact>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArtifact {
    section: Option<String>,
    name: Option<String>,
    version: Option<String>,
    source: Option<String>,
    maven: Option<String>,
    sha512: Option<String>,
    sha512_url: Option<String>,
    /// The file name in the mirror, when the source's last path segment is not the right one.
    file: Option<String>,
}

/// Where an artifact's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Http(String),
}

/// How an artifact's bytes are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    Sha512(String),
    /// A `sha512sum` line at this URL.
    Sha512Url(String),
    /// Maven's published checksum: `<url>.sha512` if there is one, else `<url>.sha1`.
    MavenPublished { jar_url: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub section: String,
    pub name: String,
    pub version: String,
    pub source: Source,
    /// As written in the manifest (the index's `source`).
    pub source_text: String,
    pub checksum: Checksum,
    pub file_name: String,
}

impl Entry {
    /// `<section>/<file name>`, the artifact's path below the mirror's root.
    pub fn key(&self) -> String {
        format!("{}/{}", self.section, self.file_name)
    }
}

/// A name usable as one path segment: no separator, not `.`/`..`, not hidden (the builder's
/// temporary files start with a dot), printable.
pub fn check_segment(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if value.starts_with('.') || value.contains(['/', '\\']) || value.chars().any(char::is_control)
    {
        return Err(format!("{what} {value:?} must be a plain name (no '/', no leading '.')"));
    }
    Ok(())
}

pub fn parse(text: &str) -> Result<Vec<Entry>, ManifestError> {
    let raw: RawManifest = toml::from_str(text).map_err(|e| ManifestError::Toml(e.to_string()))?;
    let repo = raw.maven_repository.as_deref().unwrap_or(MAVEN_CENTRAL).trim_end_matches('/');
    let mut entries: Vec<Entry> = Vec::new();
    for (i, a) in raw.artifact.into_iter().enumerate() {
        let index = i + 1;
        let label = a
            .name
            .clone()
            .or_else(|| a.maven.clone())
            .or_else(|| a.source.clone())
            .unwrap_or_else(|| "unnamed".into());
        let fail = |problem: String| ManifestError::Artifact { index, name: label.clone(), problem };
        let entry = entry(a, repo).map_err(fail)?;
        if let Some(j) = entries.iter().position(|e| e.key() == entry.key()) {
            return Err(ManifestError::SameFile { first: j + 1, second: index, file: entry.key() });
        }
        entries.push(entry);
    }
    Ok(entries)
}

fn entry(a: RawArtifact, maven_repo: &str) -> Result<Entry, String> {
    let section = a.section.ok_or("no section")?;
    check_segment("section", &section)?;
    let (source, source_text, mut checksum, default_name, maven_version) =
        match (a.source, a.maven) {
            (Some(_), Some(_)) => return Err("both source and maven: give one".into()),
            (None, None) => return Err("no source (file://, http(s)://) and no maven".into()),
            (Some(s), None) => {
                let source = if let Some(path) = s.strip_prefix("file://") {
                    if !path.starts_with('/') {
                        return Err(format!("source {s:?}: a file:// source needs an absolute path"));
                    }
                    Source::File(PathBuf::from(path))
                } else if s.starts_with("http://") || s.starts_with("https://") {
                    Source::Http(s.clone())
                } else {
                    return Err(format!("source {s:?}: not file://, http:// or https://"));
                };
                let last = s.split(['?', '#']).next().unwrap_or("").rsplit('/').next();
                (source, s.clone(), None, last.unwrap_or("").to_string(), None)
            }
            (None, Some(coords)) => {
                let (url, file, version) = maven_url(maven_repo, &coords)?;
                let checksum = Checksum::MavenPublished { jar_url: url.clone() };
                (Source::Http(url), coords, Some(checksum), file, Some(version))
            }
        };
    match (a.sha512, a.sha512_url) {
        (Some(_), Some(_)) => return Err("both sha512 and sha512_url: give one".into()),
        (Some(hex), None) => {
            if !dm_clients::mirror::is_sha512_hex(&hex) {
                return Err(format!("sha512 {hex:?} is not 128 hex digits"));
            }
            checksum = Some(Checksum::Sha512(hex.to_ascii_lowercase()));
        }
        (None, Some(url)) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("sha512_url {url:?} is not http(s)://"));
            }
            checksum = Some(Checksum::Sha512Url(url));
        }
        (None, None) => {}
    }
    let checksum = checksum.ok_or("no checksum: give sha512 or sha512_url")?;
    let file_name = a.file.unwrap_or(default_name);
    check_segment("file name", &file_name)?;
    let version = a.version.or(maven_version).ok_or("no version")?;
    let name = a.name.ok_or("no name")?;
    Ok(Entry { section, name, version, source, source_text, checksum, file_name })
}

/// `group:artifact:version[:classifier]` → the jar's URL, its file name and the version.
pub fn maven_url(repo: &str, coords: &str) -> Result<(String, String, String), String> {
    let parts: Vec<&str> = coords.split(':').collect();
    let (group, artifact, version, classifier) = match parts.as_slice() {
        [g, a, v] => (*g, *a, *v, None),
        [g, a, v, c] => (*g, *a, *v, Some(*c)),
        _ => {
            return Err(format!(
                "maven {coords:?} is not group:artifact:version[:classifier]"
            ))
        }
    };
    for (what, value) in [("group", group), ("artifact", artifact), ("version", version)]
        .into_iter()
        .chain(classifier.map(|c| ("classifier", c)))
    {
        if value.is_empty()
            || !value.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            || value.starts_with('.')
        {
            return Err(format!("maven {coords:?}: {what} {value:?} is not a Maven name"));
        }
    }
    let file = match classifier {
        Some(c) => format!("{artifact}-{version}-{c}.jar"),
        None => format!("{artifact}-{version}.jar"),
    };
    let url = format!("{repo}/{}/{artifact}/{version}/{file}", group.replace('.', "/"));
    Ok((url, file, version.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";

    #[test]
    fn reads_the_issues_manifest_shape() {
        let m = format!(
            r#"
            [[artifact]]
            section = "flink"
            name = "flink"
            version = "1.20.5"
            source = "file:///srv/dists/flink-1.20.5-bin-scala_2.12.tgz"
            sha512 = "{}"

            [[artifact]]
            section = "spark"
            name = "spark"
            version = "3.5.3"
            source = "https://archive.example/spark-3.5.3-bin-hadoop3.tgz"
            sha512_url = "https://archive.example/spark-3.5.3-bin-hadoop3.tgz.sha512"

            [[artifact]]
            section = "jars"
            name = "flink-annotations"
            maven = "org.apache.flink:flink-annotations:1.20.0"
            "#,
            D.to_ascii_uppercase()
        );
        let e = parse(&m).unwrap();
        assert_eq!(e[0].key(), "flink/flink-1.20.5-bin-scala_2.12.tgz");
        assert_eq!(e[0].source, Source::File("/srv/dists/flink-1.20.5-bin-scala_2.12.tgz".into()));
        assert_eq!(e[0].checksum, Checksum::Sha512(D.into()));
        assert_eq!(e[1].key(), "spark/spark-3.5.3-bin-hadoop3.tgz");
        assert!(matches!(e[1].checksum, Checksum::Sha512Url(_)));
        assert_eq!(e[2].key(), "jars/flink-annotations-1.20.0.jar");
        assert_eq!(e[2].version, "1.20.0");
        let url = "https://repo1.maven.org/maven2/org/apache/flink/flink-annotations/1.20.0/flink-annotations-1.20.0.jar";
        assert_eq!(e[2].source, Source::Http(url.into()));
        assert_eq!(e[2].checksum, Checksum::MavenPublished { jar_url: url.into() });
    }

    #[test]
    fn maven_classifiers_name_the_jar() {
        let (url, file, _) = maven_url("https://m", "a.b:c:1.0:tests").unwrap();
        assert_eq!(file, "c-1.0-tests.jar");
        assert_eq!(url, "https://m/a/b/c/1.0/c-1.0-tests.jar");
        assert!(maven_url("https://m", "a.b:c").is_err());
        assert!(maven_url("https://m", "a.b:../x:1").is_err());
    }

    fn error_of(body: &str) -> String {
        let m = format!(
            "[[artifact]]\nsection = \"misc\"\nname = \"ok\"\nversion = \"1\"\nsource = \"file:///x/ok.bin\"\nsha512 = \"{D}\"\n\n[[artifact]]\n{body}"
        );
        parse(&m).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_artifact_and_the_problem() {
        let base = "section = \"misc\"\nname = \"bad\"\nversion = \"1\"\n";
        let cases = [
            (format!("{base}source = \"file:///x/b\"\n"), "no checksum"),
            (format!("{base}source = \"ftp://x/b\"\nsha512 = \"{D}\"\n"), "not file://"),
            (format!("{base}source = \"file://rel/b\"\nsha512 = \"{D}\"\n"), "absolute path"),
            (format!("{base}source = \"file:///x/b\"\nsha512 = \"abc\"\n"), "not 128 hex"),
            (format!("{base}sha512 = \"{D}\"\n"), "no source"),
            (
                format!("{base}source = \"file:///x/b\"\nmaven = \"a:b:c\"\nsha512 = \"{D}\"\n"),
                "both source and maven",
            ),
            (
                format!("section = \"..\"\nname = \"bad\"\nversion = \"1\"\nsource = \"file:///x/b\"\nsha512 = \"{D}\"\n"),
                "plain name",
            ),
            (
                format!("{base}source = \"file:///x/b\"\nfile = \"../../etc/passwd\"\nsha512 = \"{D}\"\n"),
                "plain name",
            ),
            (format!("section = \"misc\"\nname = \"bad\"\nsource = \"file:///x/b\"\nsha512 = \"{D}\"\n"), "no version"),
        ];
        for (body, problem) in cases {
            let e = error_of(&body);
            assert!(e.starts_with("artifact 2 (bad"), "{e}");
            assert!(e.contains(problem), "expected {problem:?} in {e:?}");
        }
        assert!(error_of(&format!("{base}source = \"file:///y/ok.bin\"\nsha512 = \"{D}\"\n"))
            .contains("artifacts 1 and 2 both write misc/ok.bin"));
        assert!(error_of("sectionn = 1").contains("unknown field"));
    }
}
