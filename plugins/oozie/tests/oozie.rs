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
            .unwrap_err()
            .message,
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
        .message
        .starts_with("environment name_node is not set"));
}

const PNDA_FLINK_WORKFLOW: &str = r#"<workflow-app xmlns="uri:oozie:workflow:0.4" name="flink-batch">
  <start to="flink-job"/>
  <action name="flink-job">
    <ssh xmlns="uri:oozie:ssh-action:0.1"><host>${flink_client}</host><command>${path_to_script}</command></ssh>
    <ok to="end"/><error to="kill"/>
  </action>
  <kill name="kill"><message>failed</message></kill>
  <end name="end"/>
</workflow-app>"#;

/// A PNDA Flink batch component (PDP-3) on a dm that knows a Flink 2.3.0 distribution on HDFS.
fn flink_request(props: Value) -> PlanRequest {
    let mut request = request(&["workflow.xml", "lib/job.jar"], props, None);
    request
        .component
        .contents
        .insert("workflow.xml".into(), PNDA_FLINK_WORKFLOW.into());
    request.engines = Engines {
        default_flink_version: Some("2.3.0".into()),
        flink_dists: [(
            "2.3.0".to_string(),
            "hdfs://nn/dm/dists/flink-2.3.0.tgz".to_string(),
        )]
        .into(),
        yarn_rm_address: Some("rm:8032".into()),
        yarn_rm_url: Some("http://rm:8088".into()),
        cluster_env: [
            ("JAVA_HOME", "/usr/lib/jvm/17"),
            ("HADOOP_CONF_DIR", "/etc/hadoop/conf"),
            ("HADOOP_CLASSPATH", "/opt/hadoop/client/*"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into(),
        ..Engines::default()
    };
    request
}

fn flink_props() -> Value {
    let mut props = pnda_props();
    props["component_job_type"] = json!("flink");
    props["component_main_jar"] = json!("lib/job.jar");
    props["component_main_class"] = json!("dm.Batch");
    props["component_application_args"] = json!("--input '/data/in put'");
    props
}

#[test]
fn a_pnda_flink_batch_component_runs_through_a_shell_action_without_ssh() {
    let plan = OoziePlugin.plan(&flink_request(flink_props())).unwrap();
    let workflow = &plan.write["workflow.xml"];
    assert!(!workflow.contains("<ssh"), "{workflow}");
    let hdfs = "namenode/pnda/system/deployment-manager/applications/root/aname/componentA";
    for part in [
        "<shell xmlns=\"uri:oozie:shell-action:1.0\"><resource-manager>rm:8032</resource-manager><name-node>namenode</name-node><exec>dm-flink-batch.sh</exec><argument>http://rm:8088</argument><argument>run</argument><argument>-t</argument><argument>yarn-application</argument>",
        "<argument>-Dyarn.application.name=aname-componentA-job</argument>",
        "<argument>-Dyarn.tags=dm,dm-app-aname,dm-component-oozie-componenta</argument>",
        "<argument>-c</argument><argument>dm.Batch</argument><argument>job.jar</argument><argument>--input</argument><argument>/data/in put</argument>",
        "<env-var>HADOOP_CONF_DIR=/etc/hadoop/conf</env-var>",
        "<archive>hdfs://nn/dm/dists/flink-2.3.0.tgz#flink</archive>",
    ] {
        assert!(workflow.contains(part), "{part}\nnot in\n{workflow}");
    }
    assert!(
        workflow.contains(&format!(
            "<file>{hdfs}/lib/dm-flink-batch.sh#dm-flink-batch.sh</file>"
        )),
        "{workflow}"
    );
    assert!(
        workflow.contains(&format!("<file>{hdfs}/lib/job.jar#job.jar</file>")),
        "{workflow}"
    );
    assert!(plan.write["lib/dm-flink-batch.sh"].starts_with("#!/bin/sh"));
    assert_eq!(
        value(&config(&plan), "path_to_script"),
        Some("dm-flink-batch.sh")
    );
}

#[test]
fn flink_batch_through_oozie_names_what_is_missing() {
    let error = |props: Value, tweak: &dyn Fn(&mut PlanRequest)| {
        let mut request = flink_request(props);
        tweak(&mut request);
        OoziePlugin.plan(&request).unwrap_err().message
    };
    let mut nothing = flink_props();
    nothing
        .as_object_mut()
        .unwrap()
        .remove("component_main_jar");
    assert_eq!(
        error(nothing, &|_| {}),
        "properties.json must contain \"main_jar\" and \"main_class\", or \"main_py\" for aname flink-batch-job componentA"
    );
    let mut not_a_module = python_props();
    not_a_module["component_main_py"] = json!("word-count.py");
    assert!(error(not_a_module, &|r| r
        .component
        .files
        .push("lib/word-count.py".into()))
    .starts_with("main_py lib/word-count.py is not a Python module name (NAME.py)"),);
    let mut missing = python_props();
    missing["component_py_files"] = json!("util.py");
    assert_eq!(
        error(missing, &|r| r.component.files.push("lib/job.py".into())),
        "py_files util.py is not a file of the component (nor is lib/util.py)"
    );
    let mut other = flink_props();
    other["component_flink_version"] = json!("1.20.5");
    assert_eq!(
        error(other, &|_| {}),
        "no Flink 1.20.5 distribution on HDFS for Oozie's Flink jobs ([jobs.engines] flink_dists has 2.3.0)"
    );
    assert!(error(flink_props(), &|r| r.engines.yarn_rm_address = None).contains("yarn_rm_address"));
    assert!(error(flink_props(), &|r| {
        r.engines.cluster_env.remove("JAVA_HOME");
    })
    .starts_with("JAVA_HOME of the NodeManagers is needed"));
    assert!(error(flink_props(), &|r| {
        r.component.contents.insert(
            "workflow.xml".into(),
            "<workflow-app><start to='end'/><end name='end'/></workflow-app>".into(),
        );
    })
    .starts_with("job_type flink needs an <ssh> action whose command is ${path_to_script}"));
    let mut escaping = flink_props();
    escaping["component_main_jar"] = json!("../other/secret.jar");
    assert_eq!(
        error(escaping, &|_| {}),
        "main_jar ../other/secret.jar is not a file of the component (nor is lib/../other/secret.jar)"
    );
}

/// PNDA's flink-wordcount-python-app: `"main_py": "job.py"`, the file in `lib/`.
fn python_props() -> Value {
    let mut props = flink_props();
    props.as_object_mut().unwrap().remove("component_main_jar");
    props
        .as_object_mut()
        .unwrap()
        .remove("component_main_class");
    props["component_main_py"] = json!("job.py");
    props["component_flink_config_args"] = json!("-Dparallelism.default=1");
    props
}

#[test]
fn a_pnda_flink_python_component_runs_as_a_module_shipped_to_yarn() {
    let mut request = flink_request(python_props());
    request.component.files = ["workflow.xml", "lib/job.py", "lib/util.py"]
        .map(String::from)
        .to_vec();
    request
        .properties
        .insert("component_py_files".into(), json!("util.py"));
    request.engines.python = Some("/opt/venv/bin/python".into());
    let plan = OoziePlugin.plan(&request).unwrap();
    let workflow = &plan.write["workflow.xml"];
    let hdfs = "namenode/pnda/system/deployment-manager/applications/root/aname/componentA";
    for part in [
        "<argument>-Dyarn.tags=dm,dm-app-aname,dm-component-oozie-componenta</argument><argument>-Dparallelism.default=1</argument>",
        "<argument>-Dyarn.ship-files=job.py;util.py</argument><argument>-pyfs</argument><argument>job.py,util.py</argument><argument>-pym</argument><argument>job</argument>",
        "<argument>-pyexec</argument><argument>/opt/venv/bin/python</argument><argument>-pyclientexec</argument><argument>/opt/venv/bin/python</argument><argument>--input</argument><argument>/data/in put</argument>",
        &format!("<file>{hdfs}/lib/job.py#job.py</file><file>{hdfs}/lib/util.py#util.py</file>"),
    ] {
        assert!(workflow.contains(part), "{part}\nnot in\n{workflow}");
    }
    assert!(!workflow.contains("<argument>-c</argument>"), "{workflow}");
    // Without a configured interpreter Flink's own default (`python`) is left in place.
    let mut plain = flink_request(python_props());
    plain.component.files = ["workflow.xml", "lib/job.py"].map(String::from).to_vec();
    let workflow = &OoziePlugin.plan(&plain).unwrap().write["workflow.xml"];
    assert!(!workflow.contains("-pyexec"), "{workflow}");
    assert!(
        workflow.contains("<argument>-pym</argument><argument>job</argument>"),
        "{workflow}"
    );
}

/// flink-wordcount-python-app's `"flink_config_args": "-yn 1"`: Flink 1.x's options are
/// translated on the Oozie path too, with the plan's warnings.
#[test]
fn legacy_flink_options_of_an_oozie_flink_job_are_translated() {
    let mut props = python_props();
    props["component_flink_config_args"] = json!("-yn 1 -ytm 2048");
    let mut request = flink_request(props);
    request.component.files = ["workflow.xml", "lib/job.py"].map(String::from).to_vec();
    let plan = OoziePlugin.plan(&request).unwrap();
    let workflow = &plan.write["workflow.xml"];
    assert!(!workflow.contains("<argument>-yn</argument>"), "{workflow}");
    assert!(
        workflow.contains("<argument>-Dtaskmanager.memory.process.size=2048m</argument>"),
        "{workflow}"
    );
    assert_eq!(plan.warnings.len(), 2, "{:?}", plan.warnings);
    let mut bad = python_props();
    bad["component_flink_config_args"] = json!("-yid application_1_1");
    let mut request = flink_request(bad);
    request.component.files = ["workflow.xml", "lib/job.py"].map(String::from).to_vec();
    assert!(OoziePlugin
        .plan(&request)
        .unwrap_err()
        .message
        .contains("-yid"));
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
