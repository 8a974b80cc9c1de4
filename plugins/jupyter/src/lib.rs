//! # dm-plugin-jupyter
//!
//! The runtime plugin for `jupyter` components, loaded by `dmd` as a shared library.
//!
//! Validation (as in PNDA): a component needs at least one `.ipynb` file, at any depth.
//!
//! Plan (PNDA's container-era plugin): a [`Notebooks`] plan. Every file of the component but
//! `properties.json` is rendered with PNDA's templating and copied to the folder named after the
//! application in the user's repository `<git_repos_root>/jupyter-<user>`, beside a
//! `properties.json` holding every `component_*` property with `component_` taken out of its
//! key. dmd commits it (`added <app> app notebooks`) and serves the repository read-only over
//! HTTP, where JupyterHub clones it; destroy commits the folder's removal
//! (`deleted <app> app notebooks`). Start and stop do nothing.

use dm_plugin_api::observe::{
    ComponentRef, ComponentSummary, Observations, Observe, SummarizeRequest,
};
use dm_plugin_api::{
    file_rules, ComponentFiles, ComponentPlugin, Finding, Notebooks, Plan, PlanRequest, PluginError,
};
use serde_json::{Map, Value};

pub struct JupyterPlugin;

dm_plugin_api::export_plugin!(JupyterPlugin, JupyterPlugin);

/// The component's own properties file, replaced by the resolved one.
const PROPERTIES: &str = "properties.json";
/// `README.ipynb` of a user's new repository (PNDA's `jupyter_README.ipynb`).
const README: &str = include_str!("../assets/README.ipynb");

impl ComponentPlugin for JupyterPlugin {
    const COMPONENT_TYPE: &'static str = "jupyter";

    fn validate(&self, component: &ComponentFiles) -> Vec<Finding> {
        file_rules(
            Self::COMPONENT_TYPE,
            component.files.iter().map(String::as_str),
        )
    }

    /// Notebooks run nowhere: their state is dm's.
    const OBSERVE: Observe = Observe::Nothing;

    fn plan(&self, request: &PlanRequest) -> Result<Plan, PluginError> {
        plan(request).map_err(PluginError::invalid)
    }

    fn summarize(&self, request: &SummarizeRequest) -> Result<ComponentSummary, PluginError> {
        Ok(summarize(&request.component, &request.observations))
    }
}

/// The plan; `Err` names what is wrong with the component's properties.
fn plan(request: &PlanRequest) -> Result<Plan, String> {
    let root = request
        .engines
        .git_repos_root
        .as_deref()
        .filter(|r| !r.is_empty())
        .ok_or("no root for notebook repositories is configured (engines: git_repos_root)")?;
    let user = repository_user(&request.user)?;
    let app = &request.application;
    let files: Vec<String> = request
        .component
        .files
        .iter()
        .filter(|f| *f != PROPERTIES)
        .cloned()
        .collect();
    Ok(Plan {
        render: files.clone(),
        write: Default::default(),
        job: None,
        oozie: None,
        notebooks: Some(Notebooks {
            repo: format!("{}/jupyter-{user}", root.trim_end_matches('/')),
            folder: app.clone(),
            files,
            properties_json: properties_json(&request.properties),
            readme: README.to_string(),
            initial_commit: "Initial commit".into(),
            added_commit: format!("added {app} app notebooks"),
            deleted_commit: format!("deleted {app} app notebooks"),
        }),
        warnings: Vec::new(),
    })
}

/// The user, checked to make one path segment of a repository name (dmd allows the same
/// characters in user names; checked again here because the plan names a folder with it).
fn repository_user(user: &str) -> Result<&str, String> {
    let ok = !user.is_empty()
        && !user.starts_with(['.', '-'])
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(user)
    } else {
        Err(format!(
            "user name {user:?} cannot name a notebook repository (jupyter-<user>): it needs a-z A-Z 0-9 . _ - @ only"
        ))
    }
}

/// PNDA's `properties.json` of the notebooks: every `component_*` property, with every
/// `component_` in its key removed (PNDA's `str.replace`), values as they are.
fn properties_json(properties: &Map<String, Value>) -> String {
    let selected: Map<String, Value> = properties
        .iter()
        .filter(|(k, _)| k.starts_with("component_"))
        .map(|(k, v)| (k.replace("component_", ""), v.clone()))
        .collect();
    let mut text =
        serde_json::to_string_pretty(&Value::Object(selected)).expect("JSON values serialise");
    text.push('\n');
    text
}

/// Committed notebooks are there once created, and "run" while the application is started.
fn summarize(c: &ComponentRef, obs: &Observations) -> ComponentSummary {
    let mut s = dm_plugin_api::summarize::off_yarn(c, obs.dm, false, obs.now);
    s.component_type = "Jupyter".to_string();
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use dm_plugin_api::{Engines, Target};
    use serde_json::json;

    fn component(files: &[&str]) -> ComponentFiles {
        ComponentFiles {
            component_type: "jupyter".into(),
            name: "word-count-notebook".into(),
            files: files.iter().map(|f| f.to_string()).collect(),
            properties: Map::new(),
            contents: Default::default(),
        }
    }

    fn request(user: &str, root: Option<&str>) -> PlanRequest {
        PlanRequest {
            application: "literary".into(),
            user: user.into(),
            component: component(&[
                "literature.ipynb",
                "properties.json",
                "lib/helpers.py",
                "sub/properties.json",
            ]),
            properties: json!({
                "environment_name_node": "hdfs://nn:8020",
                "component_input": "/tmp/literature",
                "component_retries": 3,
                "component_name": "word-count-notebook",
                "component_main_component_x": true,
                "application_user": user,
            })
            .as_object()
            .unwrap()
            .clone(),
            target: Target::Local,
            engines: Engines {
                git_repos_root: root.map(str::to_string),
                ..Engines::default()
            },
            workdir: "/w".into(),
            now_ms: 0,
        }
    }

    #[test]
    fn a_component_without_a_notebook_is_refused_with_pndas_message() {
        assert!(JupyterPlugin
            .validate(&component(&["deep/down/a.ipynb"]))
            .is_empty());
        let findings = JupyterPlugin.validate(&component(&["properties.json", "notes.txt"]));
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].code, dm_plugin_api::code::MISSING_FILE);
        assert_eq!(findings[0].message, "missing ipynb file");
    }

    #[test]
    fn the_plan_copies_every_file_but_properties_json_into_the_users_repository() {
        let plan = JupyterPlugin
            .plan(&request("alice", Some("/data/git-repos/")))
            .unwrap();
        assert!(plan.job.is_none() && plan.oozie.is_none());
        let nb = plan.notebooks.unwrap();
        assert_eq!(nb.repo, "/data/git-repos/jupyter-alice");
        assert_eq!(nb.folder, "literary");
        // Only the component's own properties.json is replaced; one deeper down is a file.
        assert_eq!(
            nb.files,
            ["literature.ipynb", "lib/helpers.py", "sub/properties.json"]
        );
        assert_eq!(
            plan.render, nb.files,
            "every copied file is templated first"
        );
        assert_eq!(nb.added_commit, "added literary app notebooks");
        assert_eq!(nb.deleted_commit, "deleted literary app notebooks");
        let readme: Value = serde_json::from_str(&nb.readme).unwrap();
        assert_eq!(readme["nbformat"], 4);
    }

    #[test]
    fn properties_json_holds_the_component_properties_without_their_prefix() {
        let nb = JupyterPlugin
            .plan(&request("alice", Some("/r")))
            .unwrap()
            .notebooks
            .unwrap();
        let written: Value = serde_json::from_str(&nb.properties_json).unwrap();
        assert_eq!(
            written,
            json!({"input": "/tmp/literature", "retries": 3, "name": "word-count-notebook",
                   "main_x": true})
        );
        // In the order the properties were resolved.
        let keys: Vec<&String> = written.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["input", "retries", "name", "main_x"]);
        assert!(nb.properties_json.ends_with("}\n"));
    }

    #[test]
    fn no_root_or_a_user_that_is_not_one_path_segment_is_refused() {
        let err = JupyterPlugin.plan(&request("alice", None)).unwrap_err();
        assert_eq!(err.kind, dm_plugin_api::ErrorKind::Invalid);
        assert!(err.message.contains("git_repos_root"), "{err}");
        for user in ["", "../x", "a/b", ".hidden", "-x"] {
            let err = JupyterPlugin.plan(&request(user, Some("/r"))).unwrap_err();
            assert!(
                err.message.contains("cannot name a notebook repository"),
                "{user}: {err}"
            );
        }
        assert!(JupyterPlugin
            .plan(&request("a.b_c-d@realm", Some("/r")))
            .is_ok());
    }

    #[test]
    fn notebooks_are_there_once_created_and_run_while_started() {
        use dm_plugin_api::observe::{DmState, Status, YarnSeen};
        let c = ComponentRef {
            job_name: "a-nb-job".into(),
            name: "nb".into(),
            component_type: "jupyter".into(),
        };
        let cases = [
            (DmState::Created, Status::Created),
            (DmState::Starting, Status::Starting),
            (DmState::Started, Status::Running),
            (DmState::Leaving, Status::NotFound),
        ];
        for (dm, status) in cases {
            let obs = Observations {
                now: 8,
                dm,
                yarn: YarnSeen::NotWatched,
                failure: None,
                engine: None,
                flink_history: None,
                supervisor: None,
                oozie: None,
            };
            let s = summarize(&c, &obs);
            assert_eq!(s.aggregate_status, status, "{dm:?}");
            if dm == DmState::Created {
                assert_eq!(
                    serde_json::to_value(&s).unwrap(),
                    json!({"aggregate_status": "CREATED", "name": "a-nb-job", "component": "nb",
                        "componentType": "Jupyter", "yarnId": "", "tracking_url": "",
                        "information": "", "observed": {"source": "dm", "at": 8}})
                );
            }
        }
    }
}
