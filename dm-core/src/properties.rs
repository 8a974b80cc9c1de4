//! Property layering for one component (PNDA §4.1), later layers overwriting earlier ones:
//! the environment (`environment_<k>`), the component's `properties.json` (`component_<k>`),
//! the create request's overrides for it (`component_<k>`), then the generated names.

use crate::error::DmError;
use packaging::PackageMetadata;
use serde_json::{Map, Value};

/// Where PNDA kept an application's files on HDFS.
pub const HDFS_APPLICATIONS_ROOT: &str = "/pnda/system/deployment-manager/applications";

pub struct Layers<'a> {
    /// The environment handed to applications (secrets already removed).
    pub environment: &'a Map<String, Value>,
    pub defaults: &'a Map<String, Value>,
    pub overrides: Option<&'a Map<String, Value>>,
    pub application: &'a str,
    pub component: &'a str,
    pub user: &'a str,
}

pub fn resolve(layers: &Layers) -> Map<String, Value> {
    let mut props = Map::new();
    for (k, v) in layers.environment {
        props.insert(format!("environment_{k}"), v.clone());
    }
    for (k, v) in layers
        .defaults
        .iter()
        .chain(layers.overrides.into_iter().flatten())
    {
        props.insert(format!("component_{k}"), v.clone());
    }
    let (app, component, user) = (layers.application, layers.component, layers.user);
    let app_root = format!("{HDFS_APPLICATIONS_ROOT}/{user}/{app}");
    let generated = [
        ("component_application", app.to_string()),
        ("component_name", component.to_string()),
        ("component_job_name", format!("{app}-{component}-job")),
        ("component_hdfs_root", format!("{app_root}/{component}")),
        ("application_hdfs_root", app_root),
        ("application_user", user.to_string()),
    ];
    for (k, v) in generated {
        props.insert(k.to_string(), Value::String(v));
    }
    props
}

/// The property that turns off [`auto_fill_lines`] for a component (any value).
pub const NO_AUTO_PROPS: &str = "component_no_auto_props";

/// PNDA's `application.properties` auto-fill (§4.2): a newline, then one `key=value` line per
/// property with the key's first `_` made a `.` (`component_main_jar` → `component.main_jar`).
/// Line breaks inside values are written as the `\n`/`\r` escapes the properties format reads
/// back, so a value cannot add lines of its own.
pub fn auto_fill_lines(props: &Map<String, Value>) -> String {
    let mut out = String::from("\n");
    for (key, value) in props {
        let key = key.replacen('_', ".", 1);
        let value = python_str(value).replace('\r', "\\r").replace('\n', "\\n");
        out.push_str(&format!("{key}={value}\n"));
    }
    out
}

/// A value as Python's `str()` renders it, which is what PNDA's applications read.
pub fn python_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => python_repr(other),
    }
}

fn python_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(python_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}: {}",
                        python_repr(&Value::String(k.clone())),
                        python_repr(v)
                    )
                })
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// Checks a create request body against the package: apart from `package`, every key must be
/// a component type of the package mapping component names of that type to property objects.
/// PNDA silently ignored misspelt names; a typo must not create a differently-configured app.
pub fn check_overrides(
    body: &Map<String, Value>,
    metadata: &PackageMetadata,
) -> Result<(), DmError> {
    for (key, value) in body {
        if key == "package" {
            continue;
        }
        let Some(components) = metadata.component_types.get(key) else {
            let known: Vec<&str> = metadata
                .component_types
                .keys()
                .map(String::as_str)
                .collect();
            return Err(DmError::BadRequest(format!(
                "Invalid request body. Package {} has no component type '{key}' (it has: {})",
                metadata.package_name,
                known.join(", ")
            )));
        };
        let Value::Object(by_component) = value else {
            return Err(DmError::BadRequest(format!(
                "Invalid request body. '{key}' must map component names to property objects"
            )));
        };
        for (name, props) in by_component {
            if !components.contains_key(name) {
                let known: Vec<&str> = components.keys().map(String::as_str).collect();
                return Err(DmError::BadRequest(format!(
                    "Invalid request body. Package {} has no {key} component '{name}' (it has: {})",
                    metadata.package_name,
                    known.join(", ")
                )));
            }
            if !props.is_object() && !props.is_null() {
                return Err(DmError::BadRequest(format!(
                    "Invalid request body. '{key}.{name}' must be an object of properties"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn auto_fill_is_pnda_shaped() {
        let props = map(
            json!({"environment_kafka_brokers": "k:9092", "component_flag": true, "component_list": ["a", 1],
                               "component_evil": "x\nenvironment.kafka_brokers=evil", "hdfspath_my_path": "/p"}),
        );
        assert_eq!(
            auto_fill_lines(&props),
            "\nenvironment.kafka_brokers=k:9092\ncomponent.flag=True\ncomponent.list=['a', 1]\n\
             component.evil=x\\nenvironment.kafka_brokers=evil\nhdfspath.my_path=/p\n"
        );
        assert_eq!(python_str(&json!({"k": null})), "{'k': None}");
    }

    #[test]
    fn later_layers_win_and_names_are_generated() {
        let env = map(json!({"kafka_brokers": "k:9092", "name": "env"}));
        let defaults = map(json!({"executors": "2", "main_jar": "a.jar"}));
        let overrides = map(json!({"executors": "5", "extra": true}));
        let props = resolve(&Layers {
            environment: &env,
            defaults: &defaults,
            overrides: Some(&overrides),
            application: "app1",
            component: "example",
            user: "alice",
        });
        assert_eq!(props["environment_kafka_brokers"], "k:9092");
        assert_eq!(props["component_executors"], "5");
        assert_eq!(props["component_main_jar"], "a.jar");
        assert_eq!(props["component_extra"], true);
        assert_eq!(props["component_job_name"], "app1-example-job");
        assert_eq!(
            props["application_hdfs_root"],
            "/pnda/system/deployment-manager/applications/alice/app1"
        );
        assert_eq!(
            props["component_hdfs_root"],
            "/pnda/system/deployment-manager/applications/alice/app1/example"
        );
        assert_eq!(props["application_user"], "alice");
        // Generated names beat an override that tries to set them.
        let sneaky = map(json!({"name": "other"}));
        let props = resolve(&Layers {
            environment: &env,
            defaults: &defaults,
            overrides: Some(&sneaky),
            application: "a",
            component: "c",
            user: "u",
        });
        assert_eq!(props["component_name"], "c");
    }
}
