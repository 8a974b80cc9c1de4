//! # dm-plugin-oozie
//!
//! The runtime plugin for `oozie` components (PNDA's batch applications), loaded by `dmd` as a
//! shared library.
//!
//! Validation: `workflow.xml` at the component root (PNDA's message), well-formed and rooted in
//! `<workflow-app>`; a `coordinator.xml`, if present, well-formed and rooted in
//! `<coordinator-app>`. Errors name the file and the byte offset.
//!
//! Plan: an [`OozieJob`] — the component folder goes to `component_hdfs_root` on HDFS (without
//! the descriptors `hdfs.json`, `hbase.json`, `properties.json`, `application.properties`, as
//! PNDA did), and the job configuration holds every resolved property followed by PNDA's:
//! `user.name`, `oozie.use.system.libpath=true`, `oozie.libpath` (only when
//! `component_oozie_libpath` or `environment_oozie_libpath` names one; PNDA hard-wired a path of
//! its own platform), `oozie.action.sharelib.for.spark=spark2` on a Spark 2 sharelib,
//! `deployment_start`/`deployment_end` (now + 2 minutes, + 1 week: a coordinator using them
//! does not fire before it is suspended), and the application path
//! (`oozie.coord.application.path` when there is a `coordinator.xml`, else
//! `oozie.wf.application.path`) on `environment_name_node`. A `spark_version` property that
//! differs from the sharelib's is refused with PNDA's message.
//!
//! PDP-3's Flink batch jobs (`job_type: flink`, `main_jar` + `main_class` or `main_py`) keep PNDA's package
//! contract but run without SSH: the ssh action running `${path_to_script}` becomes a shell
//! action on a NodeManager (see the `flink` module).

mod flink;
pub mod summary;

use dm_plugin_api::observe::{ComponentSummary, Observe, SummarizeRequest};

use dm_plugin_api::props::Props;
use dm_plugin_api::{
    file_rules, ComponentFiles, ComponentPlugin, Finding, OozieJob, OozieKind, Plan, PlanRequest,
    PluginError,
};
use quick_xml::events::Event;

pub struct OoziePlugin;

dm_plugin_api::export_plugin!(OoziePlugin, OoziePlugin);

const WORKFLOW: &str = "workflow.xml";
const COORDINATOR: &str = "coordinator.xml";
/// Not copied to HDFS: dm's own descriptors (as in PNDA).
const NOT_STAGED: [&str; 4] = [
    "hdfs.json",
    "hbase.json",
    "properties.json",
    "application.properties",
];

impl ComponentPlugin for OoziePlugin {
    const COMPONENT_TYPE: &'static str = "oozie";
    const READS: &'static [&'static str] = &[WORKFLOW, COORDINATOR];

    fn validate(&self, component: &ComponentFiles) -> Vec<Finding> {
        let mut findings = file_rules(
            Self::COMPONENT_TYPE,
            component.files.iter().map(String::as_str),
        );
        for (file, root) in [(WORKFLOW, "workflow-app"), (COORDINATOR, "coordinator-app")] {
            if let Some(text) = component.contents.get(file) {
                if let Err(why) = check_xml(text, root) {
                    findings.push(Finding::new(
                        "invalid_xml",
                        Some(file),
                        format!("{file} {why}"),
                    ));
                }
            }
        }
        findings
    }

    /// Oozie says what its jobs do, asking YARN itself about their actions.
    const OBSERVE: Observe = Observe::Oozie;

    fn plan(&self, request: &PlanRequest) -> Result<Plan, PluginError> {
        plan(request).map_err(PluginError::invalid)
    }

    fn summarize(&self, request: &SummarizeRequest) -> Result<ComponentSummary, PluginError> {
        Ok(summary::summarize(
            &request.component,
            &request.observations,
        ))
    }
}

/// The plan; `Err` names what is wrong with the component's properties.
fn plan(request: &PlanRequest) -> Result<Plan, String> {
    let props = Props(&request.properties);
    check_spark_version(request)?;
    let hdfs_dir = props
        .text("component_hdfs_root")
        .ok_or("component_hdfs_root is not set: dmd did not resolve the component's HDFS folder")?;
    let name_node = props
        .text("environment_name_node")
        .ok_or("environment name_node is not set: the HDFS NameNode (e.g. hdfs://namenode:8020) is needed for the application path")?;
    let user = props
        .text("application_user")
        .unwrap_or_else(|| request.user.clone());
    // PDP-3's Flink batch jobs: PNDA's ssh action becomes a shell action (see `flink`).
    let mut write = std::collections::BTreeMap::new();
    let mut flink_vars = Vec::new();
    let mut yarn_tags = Vec::new();
    let mut warnings = Vec::new();
    if props.component("job_type").as_deref() == Some("flink") {
        let action = flink::FlinkAction::plan(request, &name_node, &hdfs_dir)?;
        warnings.clone_from(&action.warnings);
        let workflow = request
            .component
            .contents
            .get(WORKFLOW)
            .ok_or("the text of workflow.xml was not given to the plugin (dmd too old?)")?;
        let (rewritten, replaced) = flink::replace_ssh_actions(workflow, &action.shell_xml())?;
        if replaced == 0 {
            return Err(format!(
                "job_type flink needs an <ssh> action whose command is ${{path_to_script}} in workflow.xml (PNDA's contract) for {} flink-batch-job {}",
                request.application, request.component.name
            ));
        }
        write.insert(WORKFLOW.to_string(), rewritten);
        write.insert(
            format!("lib/{}", flink::SCRIPT_NAME),
            flink::SCRIPT.to_string(),
        );
        // PNDA's variables, for workflows that mention them elsewhere.
        flink_vars.push(("path_to_script".to_string(), flink::SCRIPT_NAME.to_string()));
        flink_vars.push(("flink_client".to_string(), String::new()));
        yarn_tags = dm_plugin_api::props::yarn_tags(request);
    }
    let kind = if request.component.has_file(COORDINATOR) {
        OozieKind::Coordinator
    } else {
        OozieKind::Workflow
    };

    // Every resolved property first (dmd keeps secrets out of them), then PNDA's keys.
    let mut configuration: Vec<(String, String)> = request
        .properties
        .iter()
        .map(|(name, value)| {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            (name.clone(), text)
        })
        .collect();
    let start = request.now_ms / 60_000 * 60_000 + 2 * 60_000;
    let end = start + 7 * 24 * 3_600_000;
    configuration.push(("deployment_start".into(), oozie_time(start)));
    configuration.push(("deployment_end".into(), oozie_time(end)));
    configuration.extend(flink_vars);
    configuration.push(("user.name".into(), user.clone()));
    configuration.push(("oozie.use.system.libpath".into(), "true".into()));
    if let Some(libpath) = props
        .component("oozie_libpath")
        .or_else(|| props.text("environment_oozie_libpath"))
    {
        configuration.push(("oozie.libpath".into(), libpath));
    }
    if request.engines.oozie_spark_version.as_deref() == Some("2") {
        configuration.push(("oozie.action.sharelib.for.spark".into(), "spark2".into()));
    }
    let path_key = match kind {
        OozieKind::Coordinator => "oozie.coord.application.path",
        OozieKind::Workflow => "oozie.wf.application.path",
    };
    configuration.push((
        path_key.into(),
        format!(
            "{}/{}",
            name_node.trim_end_matches('/'),
            hdfs_dir.trim_start_matches('/')
        ),
    ));

    Ok(Plan {
        render: Vec::new(),
        write,
        job: None,
        oozie: Some(OozieJob {
            kind,
            hdfs_dir,
            skip: NOT_STAGED.map(String::from).to_vec(),
            configuration,
            user,
            yarn_tags,
        }),
        notebooks: None,
        warnings,
    })
}

/// PNDA's check: a component asking for another Spark than the sharelib's is refused.
fn check_spark_version(request: &PlanRequest) -> Result<(), String> {
    let wanted = Props(&request.properties).component("spark_version");
    match (wanted, request.engines.oozie_spark_version.as_deref()) {
        (Some(wanted), Some(cluster)) if wanted != cluster => Err(format!(
            "Mismatch between cluster's oozie spark version (version = {cluster}) and requested spark version"
        )),
        _ => Ok(()),
    }
}

/// Well-formed, with the expected root element.
fn check_xml(text: &str, root: &str) -> Result<(), String> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut depth = 0usize;
    let mut first: Option<String> = None;
    loop {
        let event = reader.read_event().map_err(|e| {
            format!(
                "is not well-formed XML: {e} (at byte {})",
                reader.error_position()
            )
        })?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if depth == 0 {
                    if first.is_some() {
                        return Err("is not well-formed XML: more than one root element".into());
                    }
                    let name = e.local_name();
                    first = Some(name.into_inner().to_string());
                }
                if matches!(event, Event::Start(_)) {
                    depth += 1;
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Eof => break,
            _ => {}
        }
    }
    if depth != 0 {
        return Err("is not well-formed XML: an element is not closed".into());
    }
    match first {
        Some(name) if name == root => Ok(()),
        Some(name) => Err(format!(
            "must have <{root}> as its root element, not <{name}>"
        )),
        None => Err("is empty".into()),
    }
}

/// `YYYY-MM-DDTHH:MMZ`, Oozie's UTC time format.
fn oozie_time(ms: u64) -> String {
    let minutes = ms / 60_000;
    let (days, minute_of_day) = (minutes / 1440, minutes % 1440);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}Z",
        minute_of_day / 60,
        minute_of_day % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oozie_times() {
        assert_eq!(oozie_time(0), "1970-01-01T00:00Z");
        // 2013-01-01T00:02Z, PNDA's test fixture start.
        assert_eq!(oozie_time(1_356_998_520_000), "2013-01-01T00:02Z");
        assert_eq!(oozie_time(1_709_210_000_000), "2024-02-29T12:33Z");
    }

    #[test]
    fn xml_checks() {
        assert!(check_xml("<?xml version='1.0'?><workflow-app xmlns='uri:oozie:workflow:0.5' name='x'><start to='end'/><end name='end'/></workflow-app>", "workflow-app").is_ok());
        assert!(
            check_xml("<workflow-app><start></workflow-app>", "workflow-app")
                .unwrap_err()
                .starts_with("is not well-formed XML")
        );
        assert!(check_xml("<workflow-app>", "workflow-app")
            .unwrap_err()
            .contains("not closed"));
        assert_eq!(
            check_xml("<coordinator-app/>", "workflow-app").unwrap_err(),
            "must have <workflow-app> as its root element, not <coordinator-app>"
        );
        assert_eq!(check_xml("", "workflow-app").unwrap_err(), "is empty");
    }
}
