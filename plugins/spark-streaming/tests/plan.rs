//! The Spark Streaming planner: argv per target, PNDA validation, errors.

use dm_plugin_api::{
    expand, ComponentFiles, ComponentPlugin, Engines, Plan, PlanRequest, RespawnPolicy, Slot,
    StopStep, Target,
};
use dm_plugin_spark_streaming::SparkStreamingPlugin;
use serde_json::{json, Map, Value};

fn request(target: Target, properties: Value) -> PlanRequest {
    PlanRequest {
        application: "clicks".into(),
        user: "alice".into(),
        component: ComponentFiles {
            component_type: "sparkStreaming".into(),
            name: "totals".into(),
            files: [
                "application.properties",
                "log4j.properties",
                "totals.py",
                "lib/helpers.py",
                "totals.jar",
            ]
            .map(String::from)
            .to_vec(),
            properties: Map::new(),
            contents: Default::default(),
        },
        properties: properties.as_object().unwrap().clone(),
        target,
        engines: Engines {
            spark_home: Some("/opt/spark".into()),
            ..Engines::default()
        },
        workdir: "/w/totals".into(),
        now_ms: 0,
    }
}

fn argv(plan: &Plan) -> Vec<String> {
    expand(&plan.job.as_ref().unwrap().submit.argv, &|slot| {
        (slot == Slot::YarnTags).then(|| "dm,dm-attempt-3".to_string())
    })
    .unwrap()
}

#[test]
fn python_job_on_yarn_in_cluster_mode() {
    let plan = SparkStreamingPlugin
        .plan(&request(Target::Yarn, json!({"component_main_py": "totals.py", "component_py_files": "lib/helpers.py", "component_spark_submit_args": "--executor-memory 1g"})))
        .unwrap();
    assert_eq!(
        argv(&plan),
        [
            "/opt/spark/bin/spark-submit",
            "--master",
            "yarn",
            "--deploy-mode",
            "cluster",
            "--conf",
            "spark.yarn.tags=dm,dm-attempt-3",
            "--conf",
            "spark.yarn.submit.waitAppCompletion=false",
            "--files",
            "/w/totals/log4j.properties",
            "--name",
            "clicks-totals-job",
            "--conf",
            "spark.driver.extraJavaOptions=-Dlog4j.configuration=log4j.properties",
            "--conf",
            "spark.executor.extraJavaOptions=-Dlog4j.configuration=log4j.properties",
            "--executor-memory",
            "1g",
            "--py-files",
            "/w/totals/application.properties,/w/totals/lib/helpers.py",
            "/w/totals/totals.py",
        ]
    );
    assert_eq!(
        plan.job.as_ref().unwrap().respawn.policy,
        RespawnPolicy::Always
    );
    assert_eq!(
        plan.job
            .as_ref()
            .unwrap()
            .yarn
            .as_ref()
            .unwrap()
            .application_type,
        "SPARK"
    );
    assert_eq!(plan.job.as_ref().unwrap().stop, [StopStep::YarnKill]);
    assert_eq!(plan.render, ["application.properties", "log4j.properties"]);
}

#[test]
fn jar_job_locally() {
    let plan = SparkStreamingPlugin
        .plan(&request(Target::Local, json!({"component_main_jar": "totals.jar", "component_main_class": "dm.Totals", "component_application_args": "--window 10s"})))
        .unwrap();
    let argv = argv(&plan);
    assert_eq!(
        argv[..3],
        ["/opt/spark/bin/spark-submit", "--master", "local[*]"]
    );
    assert!(argv.contains(
        &"spark.driver.extraJavaOptions=-Dlog4j.configuration=file:/w/totals/log4j.properties"
            .to_string()
    ));
    assert_eq!(
        argv[argv.len() - 5..],
        [
            "--class",
            "dm.Totals",
            "/w/totals/totals.jar",
            "--window",
            "10s"
        ]
    );
    assert!(plan.job.as_ref().unwrap().yarn.is_none());
    assert_eq!(
        plan.job.as_ref().unwrap().stop,
        [StopStep::Signal { grace_sec: 30 }]
    );
}

#[test]
fn errors_name_what_is_wrong() {
    let error = |props: Value| {
        SparkStreamingPlugin
            .plan(&request(Target::Yarn, props))
            .unwrap_err()
            .message
    };
    assert_eq!(
        error(json!({"component_main_jar": "totals.jar"})),
        "properties.json must contain \"main_class\" for clicks sparkStreaming totals"
    );
    assert_eq!(
        error(json!({"component_main_py": "totals.py", "component_py_files": "/etc/passwd"})),
        "py_files /etc/passwd is not a file of the component"
    );
    let mut no_spark = request(Target::Yarn, json!({"component_main_py": "totals.py"}));
    no_spark.engines.spark_home = None;
    assert_eq!(
        SparkStreamingPlugin.plan(&no_spark).unwrap_err().message,
        "no Spark installation is configured (engines: spark_home)"
    );
}

#[test]
fn validation_matches_pnda() {
    let component = |files: &[&str]| ComponentFiles {
        component_type: "sparkStreaming".into(),
        name: "c".into(),
        files: files.iter().map(|f| f.to_string()).collect(),
        properties: Map::new(),
        contents: Default::default(),
    };
    assert!(SparkStreamingPlugin
        .validate(&component(&["application.properties", "log4j.properties"]))
        .is_empty());
    let messages: Vec<String> = SparkStreamingPlugin
        .validate(&component(&["upstart.conf"]))
        .into_iter()
        .map(|f| f.message)
        .collect();
    assert_eq!(messages.len(), 3);
    assert_eq!(
        messages[..2],
        [
            "missing file application.properties",
            "missing file log4j.properties"
        ]
    );
    assert!(
        messages[2].starts_with("Support for user supplied upstart.conf files has been deprecated")
    );
}
