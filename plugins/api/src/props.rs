//! Reading a component's resolved properties the way PNDA's plugins did.

use crate::{PlanRequest, Respawn, RespawnPolicy};
use serde_json::{Map, Value};

/// The resolved property map of one component.
pub struct Props<'a>(pub &'a Map<String, Value>);

impl Props<'_> {
    /// A property as text: strings as they are, numbers and booleans as JSON writes them;
    /// `None` when absent, null, or an empty string.
    pub fn text(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            Value::Array(_) | Value::Object(_) => None,
            other => Some(other.to_string()),
        }
    }

    /// `component_<name>`, the form component properties take after layering.
    pub fn component(&self, name: &str) -> Option<String> {
        self.text(&format!("component_{name}"))
    }

    /// A component property holding command-line arguments, split as PNDA's systemd units did
    /// ([`split_args`]) and never run through a shell.
    pub fn component_args(&self, name: &str) -> Result<Vec<String>, String> {
        match self.component(name) {
            None => Ok(Vec::new()),
            Some(text) => split_args(&text)
                .map_err(|e| format!("property {name} is not a valid argument list ({e}): {text}")),
        }
    }
}

/// Splits an argument list as PNDA's systemd units did with `ExecStart=… ${component_application_args}`:
/// words separated by whitespace, grouped by single quotes (literal) or double quotes (`\"`
/// and `\\` escaped), a backslash outside quotes escaping the next character. Unlike a shell,
/// `#` starts no comment: `--word #test` (PNDA's hashtag example) is two arguments.
pub fn split_args(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => current.push(c),
                        None => return Err("missing closing quote '".into()),
                    }
                }
            }
            '"' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => current.push(c),
                            Some(c) => {
                                current.push('\\');
                                current.push(c);
                            }
                            None => return Err("missing closing quote \"".into()),
                        },
                        Some(c) => current.push(c),
                        None => return Err("missing closing quote \"".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err("a backslash ends the text".into()),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// Checks that `file` names a file of the component (so a property cannot point the job at
/// `/etc/passwd` or `../other-app/secret.jar`).
pub fn component_file(files: &[String], property: &str, file: &str) -> Result<String, String> {
    if files.iter().any(|f| f == file) {
        Ok(file.to_string())
    } else {
        Err(format!("{property} {file} is not a file of the component"))
    }
}

/// What a job runs: a jar with its main class, or a Python file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    Jar { jar: String, main_class: String },
    Python { file: String },
}

/// Chooses the program from `main_jar` + `main_class` or `main_py`, with PNDA's messages, and
/// checks that the files named belong to the component.
pub fn program(request: &PlanRequest, type_label: &str) -> Result<Program, String> {
    let props = Props(&request.properties);
    let files = &request.component.files;
    let owner = format!(
        "for {} {type_label} {}",
        request.application, request.component.name
    );
    match (
        props.component("main_jar"),
        props.component("main_class"),
        props.component("main_py"),
    ) {
        (Some(jar), Some(main_class), _) => Ok(Program::Jar {
            jar: component_file(files, "main_jar", &jar)?,
            main_class,
        }),
        (_, _, Some(py)) => Ok(Program::Python {
            file: component_file(files, "main_py", &py)?,
        }),
        (Some(_), None, None) => Err(format!(
            "properties.json must contain \"main_class\" {owner}"
        )),
        _ => Err(format!(
            "properties.json must contain \"main_jar or main_py\" {owner}"
        )),
    }
}

/// The job's unique name: the layered `component_job_name`, `<app>-<component>-job` by default.
pub fn job_name(request: &PlanRequest) -> String {
    Props(&request.properties)
        .text("component_job_name")
        .unwrap_or_else(|| {
            crate::identity::default_job_name(&request.application, &request.component.name)
        })
}

/// The respawn policy from `respawn_type` and `respawn_timeout_sec`, with the given defaults.
pub fn respawn(
    request: &PlanRequest,
    default_policy: RespawnPolicy,
    default_delay_sec: u64,
) -> Result<Respawn, String> {
    let props = Props(&request.properties);
    let policy = match props.component("respawn_type") {
        None => default_policy,
        Some(text) => RespawnPolicy::parse(&text).ok_or_else(|| {
            format!("respawn_type must be one of always, on-failure, on-success, no but is {text}")
        })?,
    };
    let delay_sec = match props.component("respawn_timeout_sec") {
        None => default_delay_sec,
        Some(text) => text.parse().map_err(|_| {
            format!("respawn_timeout_sec must be a whole number of seconds but is {text}")
        })?,
    };
    Ok(Respawn { policy, delay_sec })
}

/// The YARN tags every attempt of this component carries ([`crate::identity::yarn_tags`]).
pub fn yarn_tags(request: &PlanRequest) -> Vec<String> {
    crate::identity::yarn_tags(
        &request.application,
        &request.component.component_type,
        &request.component.name,
    )
}

/// `workdir/file`.
pub fn in_workdir(request: &PlanRequest, file: &str) -> String {
    format!("{}/{file}", request.workdir.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::split_args;

    #[test]
    fn arguments_split_like_systemd_without_comments() {
        let split = |t: &str| split_args(t).unwrap();
        assert_eq!(split("--word #test"), ["--word", "#test"]);
        assert_eq!(split("  -yn 1\t-yjm  1024 "), ["-yn", "1", "-yjm", "1024"]);
        assert_eq!(
            split("--input '/data/in put' x"),
            ["--input", "/data/in put", "x"]
        );
        assert_eq!(
            split(r#"--q "a \"b\" \\ \n" c"#),
            ["--q", r#"a "b" \ \n"#, "c"]
        );
        assert_eq!(split(r"a\ b 'it''s' ''"), ["a b", "its", ""]);
        assert!(split("").is_empty());
        assert_eq!(
            split_args("-p 'unclosed").unwrap_err(),
            "missing closing quote '"
        );
        assert_eq!(
            split_args("-p \"x").unwrap_err(),
            "missing closing quote \""
        );
        assert_eq!(split_args("x\\").unwrap_err(), "a backslash ends the text");
    }
}
