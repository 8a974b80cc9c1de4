//! PDP-3's Flink batch jobs scheduled by Oozie (`job_type: flink`), without SSH.
//!
//! PNDA ran the Flink CLI on the edge node from an Oozie `ssh` action (`<host>${flink_client}`,
//! `<command>${path_to_script}`), which needed root SSH keys from the Oozie server to the edge
//! node. dm keeps that package contract and replaces, in the staged copy of `workflow.xml`, each
//! ssh action whose command is `${path_to_script}` with a `shell` action that runs on a
//! NodeManager like any other action:
//!
//! - the Flink distribution of the component's `flink_version` comes from HDFS as the action's
//!   `<archive>` (`[jobs.engines] flink_dists`, e.g. uploaded there from dm's mirror), unpacked
//!   as `./flink`;
//! - the job jar (`main_jar` + `main_class`) or Python file (`main_py`, with `py_files`) is the
//!   component's own staged copy, a `<file>` of the action under its own name (Oozie ships the
//!   jars of the application's `lib/` by their names anyway, and keeps one link per HDFS file).
//!   A name that is not a file of the component is looked up in its `lib/`, where PNDA's
//!   packages keep their code (`"main_py": "job.py"` for `lib/job.py`);
//! - a Python job runs in YARN application mode as Flink runs one there: its files are shipped
//!   (`-Dyarn.ship-files`, `-pyfs`) and the main file is run as a module (`-pym`), with the
//!   interpreter of `[jobs.engines] python` (`-pyexec`, `-pyclientexec`; it must have PyFlink);
//! - `lib/dm-flink-batch.sh` (written by the plan) runs `flink run -t yarn-application …` with
//!   the argv planned here, one `<argument>` each (no shell parsing of property values), waits
//!   for the YARN application to end and fails the action unless it SUCCEEDED;
//! - the Flink application carries dm's YARN tags, so the status observer sees it and destroy
//!   can kill it.

use dm_plugin_api::props::{job_name, yarn_tags, Props};
use dm_plugin_api::PlanRequest;
use quick_xml::events::Event;

/// The script the shell action runs, written by the plan to `lib/`.
pub const SCRIPT: &str = include_str!("../assets/dm-flink-batch.sh");
pub const SCRIPT_NAME: &str = "dm-flink-batch.sh";
/// PNDA's property naming the script the ssh action ran.
const PATH_TO_SCRIPT: &str = "${path_to_script}";

/// Everything the shell action needs, worked out from the request.
#[derive(Debug, Clone, PartialEq)]
pub struct FlinkAction {
    /// `bin/flink`'s arguments.
    pub argv: Vec<String>,
    /// HDFS URLs.
    pub script: String,
    /// The job's files (jar, or Python files): HDFS URL and name in the action's working folder.
    pub files: Vec<(String, String)>,
    pub dist: String,
    pub name_node: String,
    /// The RM's address (`host:port`) for Oozie, and its web URL for the script.
    pub resource_manager: String,
    pub rm_web: String,
    /// JAVA_HOME, HADOOP_CONF_DIR, HADOOP_CLASSPATH on the NodeManagers.
    pub env: Vec<(String, String)>,
    /// Flink 1.x options of `flink_config_args` translated or dropped.
    pub warnings: Vec<String>,
}

impl FlinkAction {
    pub fn plan(
        request: &PlanRequest,
        name_node: &str,
        hdfs_dir: &str,
    ) -> Result<FlinkAction, String> {
        let props = Props(&request.properties);
        let engines = &request.engines;
        let owner = format!(
            "for {} flink-batch-job {}",
            request.application, request.component.name
        );
        let files = &request.component.files;
        let program = match (
            props.component("main_jar"),
            props.component("main_class"),
            props.component("main_py"),
        ) {
            (Some(jar), Some(main_class), _) => FlinkProgram::Jar {
                jar: code_file(files, "main_jar", &jar)?,
                main_class,
            },
            (_, _, Some(py)) => {
                let main = code_file(files, "main_py", &py)?;
                let mut others = Vec::new();
                for name in props
                    .component("py_files")
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                {
                    others.push(code_file(files, "py_files", name)?);
                }
                FlinkProgram::Python { main, others }
            }
            _ => {
                return Err(format!(
                    "properties.json must contain \"main_jar\" and \"main_class\", or \"main_py\" {owner}"
                ))
            }
        };
        let version = props
            .component("flink_version")
            .or_else(|| engines.default_flink_version.clone())
            .ok_or("flink_version is not set and no default Flink version is configured")?;
        let dist = engines.flink_dists.get(&version).cloned().ok_or_else(|| {
            format!(
                "no Flink {version} distribution on HDFS for Oozie's Flink jobs ([jobs.engines] flink_dists has {})",
                if engines.flink_dists.is_empty() { "none".to_string() } else { engines.flink_dists.keys().cloned().collect::<Vec<_>>().join(", ") }
            )
        })?;
        let resource_manager = engines
            .yarn_rm_address
            .clone()
            .ok_or("the ResourceManager's address ([jobs.engines] yarn_rm_address, host:port) is needed for Oozie's Flink jobs")?;
        let rm_web = engines.yarn_rm_url.clone().ok_or(
            "the ResourceManager's web URL ([supervisor] yarn_rm) is needed for Oozie's Flink jobs",
        )?;
        let env: Vec<(String, String)> = ["JAVA_HOME", "HADOOP_CONF_DIR", "HADOOP_CLASSPATH"]
            .iter()
            .map(|key| {
                engines
                    .cluster_env
                    .get(*key)
                    .map(|v| (key.to_string(), v.clone()))
                    .ok_or_else(|| format!("{key} of the NodeManagers is needed for Oozie's Flink jobs ([jobs.env] {key})"))
            })
            .collect::<Result<_, _>>()?;

        let major: u32 = version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        let mut argv: Vec<String> = if major < 2 {
            vec![
                "run-application".into(),
                "-t".into(),
                "yarn-application".into(),
            ]
        } else {
            vec!["run".into(), "-t".into(), "yarn-application".into()]
        };
        let legacy =
            dm_plugin_api::flink_legacy::translate(&props.component_args("flink_config_args")?)?;
        let name = legacy
            .yarn_name
            .clone()
            .unwrap_or_else(|| job_name(request));
        argv.push(format!("-Dyarn.application.name={name}"));
        argv.push(format!("-Dyarn.tags={}", yarn_tags(request).join(",")));
        argv.extend(legacy.args);
        let staged = format!(
            "{}/{}",
            name_node.trim_end_matches('/'),
            hdfs_dir.trim_matches('/')
        );
        let shipped = |file: &str| (format!("{staged}/{file}"), link_name(file).to_string());
        let files = match program {
            FlinkProgram::Jar { jar, main_class } => {
                argv.extend(["-c".to_string(), main_class, link_name(&jar).to_string()]);
                vec![shipped(&jar)]
            }
            FlinkProgram::Python { main, others } => {
                let module = python_module(link_name(&main)).ok_or_else(|| {
                    format!("main_py {main} is not a Python module name (NAME.py) {owner}")
                })?;
                let files: Vec<(String, String)> = std::iter::once(&main)
                    .chain(&others)
                    .map(|f| shipped(f))
                    .collect();
                let links: Vec<&str> = files.iter().map(|(_, link)| link.as_str()).collect();
                argv.push(format!("-Dyarn.ship-files={}", links.join(";")));
                argv.extend(["-pyfs".to_string(), links.join(",")]);
                argv.extend(["-pym".to_string(), module.to_string()]);
                if let Some(python) = &engines.python {
                    argv.extend(["-pyexec".to_string(), python.clone()]);
                    argv.extend(["-pyclientexec".to_string(), python.clone()]);
                }
                files
            }
        };
        argv.extend(props.component_args("application_args")?);

        Ok(FlinkAction {
            argv,
            script: format!("{staged}/lib/{SCRIPT_NAME}"),
            files,
            dist,
            name_node: name_node.to_string(),
            resource_manager,
            rm_web,
            env,
            warnings: legacy.warnings,
        })
    }

    /// The `<shell>` element that takes the ssh action's place.
    pub fn shell_xml(&self) -> String {
        let mut xml = String::from("<shell xmlns=\"uri:oozie:shell-action:1.0\">");
        let mut element = |name: &str, value: &str| {
            xml.push_str(&format!("<{name}>{}</{name}>", escape(value)));
        };
        element("resource-manager", &self.resource_manager);
        element("name-node", &self.name_node);
        element("exec", SCRIPT_NAME);
        element("argument", &self.rm_web);
        for arg in &self.argv {
            element("argument", arg);
        }
        for (key, value) in &self.env {
            element("env-var", &format!("{key}={value}"));
        }
        element("file", &format!("{}#{SCRIPT_NAME}", self.script));
        for (url, link) in &self.files {
            element("file", &format!("{url}#{link}"));
        }
        element("archive", &format!("{}#flink", self.dist));
        xml.push_str("<capture-output/></shell>");
        xml
    }
}

enum FlinkProgram {
    Jar { jar: String, main_class: String },
    Python { main: String, others: Vec<String> },
}

/// `name` if it is a file of the component, else `lib/<name>` if that is (PNDA's Oozie packages
/// keep their code in `lib/` and name it without the folder).
fn code_file(files: &[String], property: &str, name: &str) -> Result<String, String> {
    if files.iter().any(|f| f == name) {
        return Ok(name.to_string());
    }
    let in_lib = format!("lib/{name}");
    if files.iter().any(|f| *f == in_lib) {
        return Ok(in_lib);
    }
    Err(format!(
        "{property} {name} is not a file of the component (nor is {in_lib})"
    ))
}

/// The file's name in the action's working folder.
fn link_name(file: &str) -> &str {
    file.rsplit('/').next().unwrap_or(file)
}

/// `job` for `job.py`: Flink runs a shipped Python file as a module.
fn python_module(file: &str) -> Option<&str> {
    let module = file.strip_suffix(".py")?;
    let mut chars = module.chars();
    let first = chars.next()?;
    ((first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
    .then_some(module)
}

fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

/// `workflow` with every `<ssh>` action running `${path_to_script}` replaced by `replacement`;
/// the number replaced.
pub fn replace_ssh_actions(workflow: &str, replacement: &str) -> Result<(String, usize), String> {
    let mut reader = quick_xml::Reader::from_str(workflow);
    let mut out = String::with_capacity(workflow.len() + replacement.len());
    let mut replaced = 0;
    let mut copied_to = 0usize;
    loop {
        let start = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .map_err(|e| format!("workflow.xml is not well-formed XML: {e}"))?;
        match event {
            Event::Start(e) if e.local_name().as_ref() == "ssh" => {
                // Read to the matching end, noting whether its command is PNDA's script.
                let mut depth = 1;
                let mut in_command = false;
                let mut runs_script = false;
                while depth > 0 {
                    match reader
                        .read_event()
                        .map_err(|e| format!("workflow.xml is not well-formed XML: {e}"))?
                    {
                        Event::Start(e) => {
                            depth += 1;
                            in_command = e.local_name().as_ref() == "command";
                        }
                        Event::End(_) => {
                            depth -= 1;
                            in_command = false;
                        }
                        Event::Text(t) if in_command => {
                            let text = t.into_inner();
                            runs_script |= text.trim() == PATH_TO_SCRIPT;
                        }
                        Event::Eof => {
                            return Err("workflow.xml ends inside an <ssh> element".into())
                        }
                        _ => {}
                    }
                }
                if runs_script {
                    let end = reader.buffer_position() as usize;
                    out.push_str(&workflow[copied_to..start]);
                    out.push_str(replacement);
                    copied_to = end;
                    replaced += 1;
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out.push_str(&workflow[copied_to..]);
    Ok((out, replaced))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNDA_WORKFLOW: &str = r#"<?xml version="1.0"?>
<workflow-app xmlns="uri:oozie:workflow:0.4" name="flink-batch">
  <start to="flink-job"/>
  <action name="flink-job">
    <ssh xmlns="uri:oozie:ssh-action:0.1">
      <host>${flink_client}</host>
      <command>${path_to_script}</command>
      <capture-output/>
    </ssh>
    <ok to="end"/>
    <error to="kill"/>
  </action>
  <action name="other">
    <ssh xmlns="uri:oozie:ssh-action:0.1"><host>h</host><command>uptime</command></ssh>
    <ok to="end"/><error to="kill"/>
  </action>
  <kill name="kill"><message>failed</message></kill>
  <end name="end"/>
</workflow-app>"#;

    #[test]
    fn only_the_ssh_action_running_the_script_is_replaced() {
        let (out, n) = replace_ssh_actions(PNDA_WORKFLOW, "<shell>NEW</shell>").unwrap();
        assert_eq!(n, 1);
        assert!(
            out.contains(
                "<action name=\"flink-job\">\n    <shell>NEW</shell>\n    <ok to=\"end\"/>"
            ),
            "{out}"
        );
        assert!(
            out.contains("<command>uptime</command>"),
            "other ssh actions stay: {out}"
        );
        assert!(!out.contains("${path_to_script}"));
        assert!(out.starts_with("<?xml version=\"1.0\"?>\n<workflow-app"));
        let (same, none) = replace_ssh_actions(
            "<workflow-app><start to='end'/><end name='end'/></workflow-app>",
            "x",
        )
        .unwrap();
        assert_eq!(
            (same.as_str(), none),
            (
                "<workflow-app><start to='end'/><end name='end'/></workflow-app>",
                0
            )
        );
    }

    #[test]
    fn the_shell_action_passes_each_argument_escaped() {
        let action = FlinkAction {
            argv: vec!["run".into(), "--label".into(), "a<b & 'c'".into()],
            script: "hdfs://nn/app/lib/dm-flink-batch.sh".into(),
            files: vec![("hdfs://nn/app/job.jar".into(), "job.jar".into())],
            dist: "hdfs://nn/dists/flink-2.3.0.tgz".into(),
            name_node: "hdfs://nn".into(),
            resource_manager: "rm:8032".into(),
            rm_web: "http://rm:8088".into(),
            env: vec![("JAVA_HOME".into(), "/usr/lib/jvm/17".into())],
            warnings: Vec::new(),
        };
        let xml = action.shell_xml();
        assert!(xml.contains("<exec>dm-flink-batch.sh</exec><argument>http://rm:8088</argument><argument>run</argument><argument>--label</argument><argument>a&lt;b &amp; &apos;c&apos;</argument>"), "{xml}");
        assert!(xml.contains("<env-var>JAVA_HOME=/usr/lib/jvm/17</env-var>"));
        assert!(xml.contains("<archive>hdfs://nn/dists/flink-2.3.0.tgz#flink</archive>"));
        assert!(xml.contains("<file>hdfs://nn/app/job.jar#job.jar</file>"));
        // The result is well-formed XML.
        let (wrapped, _) = replace_ssh_actions(&format!("<a>{xml}</a>"), "").unwrap();
        assert!(wrapped.contains("<capture-output/></shell></a>"));
    }

    #[test]
    fn code_is_found_as_named_or_in_lib_and_python_files_run_as_modules() {
        let files = ["workflow.xml", "lib/job.py", "top.jar"].map(String::from);
        assert_eq!(
            code_file(&files, "main_py", "job.py").unwrap(),
            "lib/job.py"
        );
        assert_eq!(
            code_file(&files, "main_py", "lib/job.py").unwrap(),
            "lib/job.py"
        );
        assert_eq!(code_file(&files, "main_jar", "top.jar").unwrap(), "top.jar");
        assert_eq!(
            code_file(&files, "main_py", "../x.py").unwrap_err(),
            "main_py ../x.py is not a file of the component (nor is lib/../x.py)"
        );
        assert_eq!(python_module("job.py"), Some("job"));
        assert_eq!(python_module("_word_count2.py"), Some("_word_count2"));
        for bad in ["job", "word-count.py", "2job.py", ".py", "a.b.py"] {
            assert_eq!(python_module(bad), None, "{bad}");
        }
    }
}
