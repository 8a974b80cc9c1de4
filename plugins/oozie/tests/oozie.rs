//! The Oozie plugin: validation by content through the loaded library and the package reader,
//! and the job configuration it plans (PNDA's keys and windows, escaped XML).

use dm_plugin_api::host::LoadedPlugin;
use dm_plugin_api::{ComponentFiles, ComponentPlugin, Engines, OozieKind, PlanRequest, Target};
use dm_plugin_oozie::OoziePlugin;
use packaging::{Limits, Reader, RuleSet};
use serde_json::{json, Value};
use std::sync::Arc;

fn request(files: &[&str], properties: Value, sharelib: Option<&str>) -> PlanRequest {
    PlanRequest {
        application: "aname".into(),
        user: "root".into(),
        component: ComponentFiles {
            component_type: "oozie".into(),
            name: "componentA".into(),
            files: files.iter().map(|f| f.to_string()).collect(),
            properties: Default::default(),
            contents: Default::default(),
        },
        properties: properties.as_object().unwrap().clone(),
        target: Target::Yarn,
        engines: Engines {
            oozie_spark_version: sharelib.map(String::from),
            ..Engines::default()
        },
        workdir: "/w".into(),
        // 2013-01-01T00:00:30Z, as in PNDA's creator test.
        now_ms: 1_356_998_430_000,
    }
}

fn pnda_props() -> Value {
    json!({
        "environment_name_node": "namenode",
        "component_hdfs_root": "/pnda/system/deployment-manager/applications/root/aname/componentA",
        "application_user": "root",
        "component_property3": "3",
        "component_query": "a < b && c > 'd'",
    })
}

fn config(plan: &dm_plugin_api::Plan) -> Vec<(String, String)> {
    plan.oozie.as_ref().unwrap().configuration.clone()
}

fn value<'a>(config: &'a [(String, String)], key: &str) -> Option<&'a str> {
    config
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[test]
fn a_workflow_gets_pnda_configuration() {
    let plan = OoziePlugin
        .plan(&request(
            &["workflow.xml", "lib/job.jar"],
            pnda_props(),
            Some("2"),
        ))
        .unwrap();
    let oozie = plan.oozie.as_ref().unwrap();
    assert!(plan.job.is_none());
    assert_eq!(oozie.kind, OozieKind::Workflow);
    assert_eq!(
        oozie.hdfs_dir,
        "/pnda/system/deployment-manager/applications/root/aname/componentA"
    );
    assert_eq!(oozie.user, "root");
    assert_eq!(
        oozie.skip,
        [
            "hdfs.json",
            "hbase.json",
            "properties.json",
            "application.properties"
        ]
    );
    let config = config(&plan);
    assert_eq!(
        value(&config, "deployment_start"),
        Some("2013-01-01T00:02Z")
    );
    assert_eq!(value(&config, "deployment_end"), Some("2013-01-08T00:02Z"));
    assert_eq!(value(&config, "user.name"), Some("root"));
    assert_eq!(value(&config, "oozie.use.system.libpath"), Some("true"));
    assert_eq!(
        value(&config, "oozie.action.sharelib.for.spark"),
        Some("spark2")
    );
    assert_eq!(
        value(&config, "oozie.libpath"),
        None,
        "no libpath unless one is configured"
    );
    assert_eq!(
        value(&config, "oozie.wf.application.path"),
        Some("namenode/pnda/system/deployment-manager/applications/root/aname/componentA")
    );
    assert_eq!(
        value(&config, "component_property3"),
        Some("3"),
        "every resolved property is passed"
    );
    // PNDA did not escape: this value would have broken the submission.
    let xml = oozie.configuration_xml();
    assert!(xml.contains("<property><name>component_query</name><value>a &lt; b &amp;&amp; c &gt; &apos;d&apos;</value></property>"), "{xml}");
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?><configuration>"));
}

#[test]
fn a_coordinator_uses_the_coordinator_path_and_no_spark2_on_a_spark1_sharelib() {
    let mut props = pnda_props();
    props["component_oozie_libpath"] = json!("/user/oozie/share/extra");
    let plan = OoziePlugin
        .plan(&request(
            &["workflow.xml", "coordinator.xml"],
            props,
            Some("1"),
        ))
        .unwrap();
    let config = config(&plan);
    assert_eq!(plan.oozie.as_ref().unwrap().kind, OozieKind::Coordinator);
    assert!(value(&config, "oozie.coord.application.path").is_some());
    assert!(value(&config, "oozie.wf.application.path").is_none());
    assert_eq!(value(&config, "oozie.action.sharelib.for.spark"), None);
    assert_eq!(
        value(&config, "oozie.libpath"),
        Some("/user/oozie/share/extra")
    );
}

#[test]
fn refusals_name_what_is_wrong() {
    let mut props = pnda_props();
    props["component_spark_version"] = json!("2");
    assert_eq!(
        OoziePlugin
            .plan(&request(&["workflow.xml"], props, Some("1")))
            .unwrap_err(),
        "Mismatch between cluster's oozie spark version (version = 1) and requested spark version"
    );
    let mut props = pnda_props();
    props
        .as_object_mut()
        .unwrap()
        .remove("environment_name_node");
    assert!(OoziePlugin
        .plan(&request(&["workflow.xml"], props, None))
        .unwrap_err()
        .starts_with("environment name_node is not set"));
    let mut props = pnda_props();
    props["component_job_type"] = json!("flink");
    assert!(OoziePlugin
        .plan(&request(&["workflow.xml"], props, None))
        .unwrap_err()
        .contains("not supported yet"));
}

fn plugin_library() -> std::path::PathBuf {
    dm_testkit::built_cdylib("dm_plugin_oozie")
}

#[test]
fn packages_are_checked_by_content_through_the_loaded_plugin() {
    let mut rules = RuleSet::empty();
    rules.register(Arc::new(LoadedPlugin::open(&plugin_library()).unwrap()));
    let reader = Reader::new(Limits::default(), rules);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("batch-1.0.0.tar.gz");
    dm_testkit::TarGz::new()
        .file("batch-1.0.0/oozie/good/workflow.xml", "<workflow-app name='g' xmlns='uri:oozie:workflow:0.5'><start to='end'/><end name='end'/></workflow-app>")
        .file("batch-1.0.0/oozie/broken/workflow.xml", "<workflow-app><start to='end'></workflow-app>")
        .file("batch-1.0.0/oozie/wrong/workflow.xml", "<workflow-app/>")
        .file("batch-1.0.0/oozie/wrong/coordinator.xml", "<workflow-app/>")
        .file("batch-1.0.0/oozie/none/lib/x.jar", "")
        .write(&file)
        .unwrap();
    let problems = reader.inspect(&file).unwrap_err();
    let found: Vec<(Option<&str>, &str)> = problems
        .iter()
        .map(|p| (p.path.as_deref(), p.message.as_str()))
        .collect();
    assert_eq!(found.len(), 3, "{problems}");
    assert_eq!(found[0].0, Some("batch-1.0.0/oozie/broken/workflow.xml"));
    assert!(
        found[0]
            .1
            .starts_with("workflow.xml is not well-formed XML"),
        "{}",
        found[0].1
    );
    assert_eq!(
        found[1],
        (
            Some("batch-1.0.0/oozie/none/workflow.xml"),
            "missing file workflow.xml"
        )
    );
    assert_eq!(
        found[2],
        (
            Some("batch-1.0.0/oozie/wrong/coordinator.xml"),
            "coordinator.xml must have <coordinator-app> as its root element, not <workflow-app>"
        )
    );
}
