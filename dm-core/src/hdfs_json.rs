//! PNDA's `hdfs.json` descriptor: HDFS folders a component needs. Each entry
//! `{"name": "raw", "path": "/data/x/raw", "delete_on_undeploy": 1}` is created (mode 755) when
//! the application is created, handed to the component as the property `hdfspath_<name>`, and,
//! when `delete_on_undeploy` is a number N ≥ 1 (or `true`, meaning 1), removed with everything
//! under it when the application is destroyed.
//!
//! A relative path is taken from the root, as PNDA sent it to WebHDFS under `/webhdfs/v1/`
//! (`parquet/x` is `/parquet/x`), with a warning.
//!
//! N counts the folders to delete from the end of the path, as PNDA's guide documents:
//! `/path/to/X/directory` with 2 deletes `/path/to/X`. PNDA's code cut one segment too many
//! (1 deleted the parent); dm follows the documentation. What will be deleted is worked out and
//! checked at create time, and kept in the create data, so destroy deletes exactly that: never
//! `/` or a top-level folder.

use serde_json::{json, Map, Value};

pub const FILE: &str = "hdfs.json";

/// One `hdfs.json` entry, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HdfsPath {
    pub name: String,
    pub path: String,
    /// The folder destroy removes, if any.
    pub delete_on_destroy: Option<String>,
}

impl HdfsPath {
    /// What the create data keeps.
    pub fn to_record(&self) -> Value {
        json!({"name": self.name, "path": self.path, "delete_on_destroy": self.delete_on_destroy})
    }

    pub fn from_record(record: &Value) -> Option<HdfsPath> {
        Some(HdfsPath {
            name: record.get("name")?.as_str()?.to_string(),
            path: record.get("path")?.as_str()?.to_string(),
            delete_on_destroy: record
                .get("delete_on_destroy")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// The property the component sees.
    pub fn property(&self) -> (String, Value) {
        (
            format!("hdfspath_{}", self.name),
            Value::String(self.path.clone()),
        )
    }
}

/// Parses a component's `hdfs.json`; every problem is named with the entry it is in. Also
/// returns what was changed (relative paths taken from the root).
pub fn parse(text: &str) -> Result<(Vec<HdfsPath>, Vec<String>), String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("{FILE} is not valid JSON: {e}"))?;
    let entries = match value {
        Value::Array(entries) => entries,
        // PNDA's package template ships `{}` for "no paths".
        Value::Object(map) if map.is_empty() => return Ok((Vec::new(), Vec::new())),
        _ => {
            return Err(format!(
                "{FILE} must be a JSON array of {{name, path, delete_on_undeploy}}"
            ))
        }
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut warnings = Vec::new();
    let paths = entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let at = format!("{FILE} entry {}", i + 1);
            let entry = entry
                .as_object()
                .ok_or_else(|| format!("{at} must be an object"))?;
            let name = text_field(entry, "name", &at)?;
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(format!(
                    "{at}: name {name:?} may only contain a-z A-Z 0-9 - _ (it becomes the property hdfspath_{name})"
                ));
            }
            if !seen.insert(name.clone()) {
                return Err(format!("{at}: name {name:?} appears twice"));
            }
            let mut path = text_field(entry, "path", &at)?;
            if !path.starts_with('/') {
                let absolute = format!("/{path}");
                warnings.push(format!(
                    "{at}: path {path:?} is relative; taken from the root as {absolute:?}, as PNDA did"
                ));
                path = absolute;
            }
            let segments = segments(&path).map_err(|why| format!("{at}: path {path:?} {why}"))?;
            let depth = delete_depth(entry.get("delete_on_undeploy"))
                .map_err(|why| format!("{at}: delete_on_undeploy {why}"))?;
            let delete_on_destroy = match depth {
                0 => None,
                n => {
                    let kept = segments.len().saturating_sub(n - 1);
                    if kept < 2 {
                        return Err(format!(
                            "{at}: delete_on_undeploy {n} on {path:?} would delete {:?}; dm never deletes / or a top-level folder",
                            join(&segments[..kept])
                        ));
                    }
                    Some(join(&segments[..kept]))
                }
            };
            Ok(HdfsPath {
                name,
                path: join(&segments),
                delete_on_destroy,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((paths, warnings))
}

fn text_field(entry: &Map<String, Value>, key: &str, at: &str) -> Result<String, String> {
    match entry.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(format!("{at}: {key} must be a non-empty string")),
        None => Err(format!("{at}: {key} is missing")),
    }
}

/// An absolute path's segments; refuses `.`/`..` and empty segments.
fn segments(path: &str) -> Result<Vec<&str>, &'static str> {
    let rest = path.strip_prefix('/').ok_or("must be absolute")?;
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    if segments
        .iter()
        .any(|s| s.is_empty() || *s == "." || *s == "..")
    {
        return Err("must not contain empty, `.` or `..` segments");
    }
    if segments.iter().any(|s| s.chars().any(char::is_control)) {
        return Err("must not contain control characters");
    }
    Ok(segments)
}

fn join(segments: &[&str]) -> String {
    format!("/{}", segments.join("/"))
}

/// `delete_on_undeploy`: absent, `false` or 0 keep the folder; N ≥ 1 (or `true` = 1) counts the
/// folders to delete from the end of the path.
fn delete_depth(value: Option<&Value>) -> Result<usize, String> {
    match value {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(0),
        Some(Value::Bool(true)) => Ok(1),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| format!("must be a whole number ≥ 0, not {n}")),
        Some(other) => Err(format!("must be a number or true/false, not {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Result<HdfsPath, String> {
        parse(text).map(|(mut v, _)| v.remove(0))
    }

    #[test]
    fn documented_depths() {
        let keep = one(r#"[{"name":"raw","path":"/path/to/X/directory","delete_on_undeploy":0}]"#)
            .unwrap();
        assert_eq!(keep.delete_on_destroy, None);
        assert_eq!(
            keep.property(),
            ("hdfspath_raw".into(), json!("/path/to/X/directory"))
        );
        let itself =
            one(r#"[{"name":"raw","path":"/path/to/X/directory","delete_on_undeploy":1}]"#)
                .unwrap();
        assert_eq!(
            itself.delete_on_destroy.as_deref(),
            Some("/path/to/X/directory")
        );
        // The guide's example: 2 deletes /path/to/X (PNDA's code deleted /path/to).
        let two = one(r#"[{"name":"raw","path":"/path/to/X/directory/","delete_on_undeploy":2}]"#)
            .unwrap();
        assert_eq!(two.delete_on_destroy.as_deref(), Some("/path/to/X"));
        assert_eq!(two.path, "/path/to/X/directory");
        let yes = one(r#"[{"name":"raw","path":"/a/b","delete_on_undeploy":true}]"#).unwrap();
        assert_eq!(yes.delete_on_destroy.as_deref(), Some("/a/b"));
        let absent = one(r#"[{"name":"raw","path":"/a/b"}]"#).unwrap();
        assert_eq!(absent.delete_on_destroy, None);
        assert_eq!(parse("{}").unwrap(), (Vec::new(), Vec::new()));
        assert_eq!(parse("[]").unwrap(), (Vec::new(), Vec::new()));
    }

    #[test]
    fn never_deletes_the_root_or_a_top_level_folder() {
        let err = one(r#"[{"name":"r","path":"/data/x","delete_on_undeploy":2}]"#).unwrap_err();
        assert!(err.contains("would delete \"/data\""), "{err}");
        let err = one(r#"[{"name":"r","path":"/data","delete_on_undeploy":1}]"#).unwrap_err();
        assert!(err.contains("top-level"), "{err}");
        let err = one(r#"[{"name":"r","path":"/data/x","delete_on_undeploy":9}]"#).unwrap_err();
        assert!(err.contains("would delete \"/\""), "{err}");
    }

    #[test]
    fn bad_entries_are_named() {
        let cases = [
            ("[1]", "hdfs.json entry 1 must be an object"),
            (r#"[{"path":"/a/b"}]"#, "entry 1: name is missing"),
            (r#"[{"name":"a b","path":"/a/b"}]"#, "may only contain"),
            (
                r#"[{"name":"a","path":"/a/b"},{"name":"a","path":"/a/c"}]"#,
                "entry 2: name \"a\" appears twice",
            ),
            (r#"[{"name":"a","path":"/a/../b"}]"#, "`..`"),
            (r#"[{"name":"a","path":"/a//b"}]"#, "empty"),
            (
                r#"[{"name":"a","path":"/a/b","delete_on_undeploy":-1}]"#,
                "whole number",
            ),
            (
                r#"[{"name":"a","path":"/a/b","delete_on_undeploy":"1"}]"#,
                "must be a number",
            ),
            ("[", "not valid JSON"),
            ("\"x\"", "must be a JSON array"),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn relative_paths_are_taken_from_the_root_with_a_warning() {
        // spark-batch-example-app's hdfs.json (pndaproject/example-applications), filled.
        let (paths, warnings) =
            parse(r#"[{"name":"output_path","path":"parquet/app1","delete_on_undeploy":0}]"#)
                .unwrap();
        assert_eq!(paths[0].path, "/parquet/app1");
        assert_eq!(paths[0].property().1, json!("/parquet/app1"));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("relative"), "{warnings:?}");
        // Still never the root or a top-level folder.
        let err = one(r#"[{"name":"r","path":"parquet","delete_on_undeploy":1}]"#).unwrap_err();
        assert!(err.contains("top-level"), "{err}");
        let err = one(r#"[{"name":"r","path":"a/../../b"}]"#).unwrap_err();
        assert!(err.contains("`..`"), "{err}");
    }

    #[test]
    fn records_round_trip() {
        let path = one(r#"[{"name":"raw","path":"/a/b/c","delete_on_undeploy":2}]"#).unwrap();
        assert_eq!(HdfsPath::from_record(&path.to_record()), Some(path));
    }
}
