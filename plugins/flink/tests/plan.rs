//! The Flink planner: the argv it gives for each target and version, its defaults, and its
//! errors, called in-process.

use dm_plugin_api::{
    expand, ComponentFiles, ComponentPlugin, Engines, JobKind, Plan, PlanRequest, RespawnPolicy,
    Slot, StopStep, Target,
};
use dm_plugin_flink::FlinkPlugin;
use serde_json::{json, Map, Value};

fn request(target: Target, properties: Value) -> PlanRequest {
    let Value::Object(mut props) = properties else {
        panic!("properties must be an object")
    };
    props.insert("environment_namespace".into(), json!("platform_app"));
    PlanRequest {
        application: "clicks".into(),
        user: "alice".into(),
        component: ComponentFiles {
            component_type: "flink".into(),
            name: "counter".into(),
            files: vec![
                "application.properties".into(),
                "job.jar".into(),
                "job.py".into(),
            ],
            properties: Map::new(),
            contents: Default::default(),
        },
        properties: props,
        target,
        engines: Engines {
            flink_homes: [
                ("2.3".to_string(), "/opt/flink-2.3".to_string()),
                ("1.20".to_string(), "/opt/flink-1.20".to_string()),
            ]
            .into(),
            default_flink_version: Some("2.3".into()),
            ..Engines::default()
        },
        workdir: "/var/lib/dm/apps/clicks/counter".into(),
        now_ms: 0,
    }
}

fn plan(request: &PlanRequest) -> Plan {
    FlinkPlugin.plan(request).unwrap()
}

/// The argv as the executor would run it for a first attempt with no savepoint.
fn first_attempt(plan: &Plan) -> Vec<String> {
    expand(
        &plan.job.as_ref().unwrap().submit.argv,
        &|slot| match slot {
            Slot::YarnTags => {
                Some("dm,dm-app-clicks,dm-component-flink-counter,dm-attempt-1".into())
            }
            Slot::AllowNonRestoredState => Some("false".into()),
            _ => None,
        },
    )
    .unwrap()
}

const JAR: fn() -> Value = || json!({"component_main_jar": "job.jar", "component_main_class": "dm.Counter", "component_application_args": "--rate 5 --label 'two words'"});

#[test]
fn jar_on_yarn_with_flink_2_uses_application_mode() {
    let plan = plan(&request(Target::Yarn, JAR()));
    assert_eq!(
        first_attempt(&plan),
        [
            "/opt/flink-2.3/bin/flink",
            "run",
            "-t",
            "yarn-application",
            "-Dyarn.application.name=clicks-counter-job",
            "-Dyarn.tags=dm,dm-app-clicks,dm-component-flink-counter,dm-attempt-1",
            "-Dexecution.savepoint.ignore-unclaimed-state=false",
            "-c",
            "dm.Counter",
            "/var/lib/dm/apps/clicks/counter/job.jar",
            "--rate",
            "5",
            "--label",
            "two words",
        ]
    );
    assert_eq!(plan.job.as_ref().unwrap().name, "clicks-counter-job");
    assert_eq!(plan.job.as_ref().unwrap().kind, JobKind::Streaming);
    assert_eq!(
        plan.job.as_ref().unwrap().respawn.policy,
        RespawnPolicy::Always
    );
    assert_eq!(plan.job.as_ref().unwrap().respawn.delay_sec, 2);
    let yarn = plan.job.as_ref().unwrap().yarn.as_ref().unwrap();
    assert_eq!(yarn.application_type, "Apache Flink");
    assert_eq!(
        yarn.tags,
        ["dm", "dm-app-clicks", "dm-component-flink-counter"]
    );
    assert_eq!(plan.render, ["application.properties"]);
}

#[test]
fn a_restart_resumes_from_the_savepoint() {
    let plan = plan(&request(Target::Yarn, JAR()));
    let argv = expand(
        &plan.job.as_ref().unwrap().submit.argv,
        &|slot| match slot {
            Slot::YarnTags => Some("dm".into()),
            Slot::RestoreFrom => Some("hdfs:///dm/savepoints/clicks/counter/savepoint-1".into()),
            Slot::AllowNonRestoredState => Some("true".into()),
            _ => None,
        },
    )
    .unwrap();
    let at = argv
        .iter()
        .position(|a| a == "-s")
        .expect("restores with -s");
    assert_eq!(
        argv[at + 1],
        "hdfs:///dm/savepoints/clicks/counter/savepoint-1"
    );
    assert!(
        at < argv.iter().position(|a| a == "-c").unwrap(),
        "options come before the program"
    );
    // A start that may drop state of removed operators says so in a key every version reads.
    assert!(
        argv.contains(&"-Dexecution.savepoint.ignore-unclaimed-state=true".to_string()),
        "{argv:?}"
    );
    assert!(
        plan.job.as_ref().unwrap().savepoints,
        "a streaming job on YARN takes savepoints"
    );
}

#[test]
fn streaming_stops_with_a_savepoint_then_cancels_then_kills() {
    let plan = plan(&request(Target::Yarn, JAR()));
    let values = |slot| match slot {
        Slot::YarnApplicationId => Some("application_1_0001".to_string()),
        Slot::FlinkJobId => Some("abc123".to_string()),
        Slot::SavepointDir => Some("hdfs:///dm/savepoints/clicks/counter".to_string()),
        _ => None,
    };
    let [StopStep::Run {
        command: stop,
        savepoint: true,
        ..
    }, StopStep::Run {
        command: cancel,
        savepoint: false,
        ..
    }, StopStep::YarnKill] = plan.job.as_ref().unwrap().stop.as_slice()
    else {
        panic!(
            "unexpected stop steps {:?}",
            plan.job.as_ref().unwrap().stop
        )
    };
    assert_eq!(
        expand(&stop.argv, &values).unwrap(),
        [
            "/opt/flink-2.3/bin/flink",
            "stop",
            "-t",
            "yarn-application",
            "-Dyarn.application.id=application_1_0001",
            "--savepointPath",
            "hdfs:///dm/savepoints/clicks/counter",
            "abc123",
        ]
    );
    assert_eq!(expand(&cancel.argv, &values).unwrap()[1], "cancel");
}

#[test]
fn batch_jobs_are_not_respawned_and_not_savepointed() {
    let mut props = JAR();
    props["component_flink_job_type"] = json!("batch");
    let plan = plan(&request(Target::Yarn, props));
    assert_eq!(plan.job.as_ref().unwrap().kind, JobKind::Batch);
    assert_eq!(plan.job.as_ref().unwrap().respawn.policy, RespawnPolicy::No);
    assert!(!plan.job.as_ref().unwrap().stop.iter().any(|s| matches!(
        s,
        StopStep::Run {
            savepoint: true,
            ..
        }
    )));
}

#[test]
fn flink_1_uses_run_application_and_the_chosen_home() {
    let mut props = JAR();
    props["component_flink_version"] = json!("1.20");
    let argv = first_attempt(&plan(&request(Target::Yarn, props)));
    assert_eq!(
        argv[..4],
        [
            "/opt/flink-1.20/bin/flink",
            "run-application",
            "-t",
            "yarn-application"
        ]
    );
}

#[test]
fn flink_1_per_job_mode_submits_detached_and_stops_through_the_same_target() {
    let mut props = JAR();
    props["component_flink_version"] = json!("1.20");
    props["component_flink_deploy_mode"] = json!("per-job");
    let plan = plan(&request(Target::Yarn, props));
    let argv = first_attempt(&plan);
    assert_eq!(
        argv[..5],
        [
            "/opt/flink-1.20/bin/flink",
            "run",
            "-t",
            "yarn-per-job",
            "--detached"
        ]
    );
    let job = plan.job.unwrap();
    let targets: Vec<String> = job
        .stop
        .iter()
        .filter_map(|step| match step {
            StopStep::Run { command, .. } => Some(format!("{:?}", command.argv[3])),
            _ => None,
        })
        .collect();
    assert_eq!(targets.len(), 2, "stop with savepoint, then cancel");
    assert!(
        targets.iter().all(|t| t.contains("yarn-per-job")),
        "{targets:?}"
    );
}

#[test]
fn per_job_mode_is_refused_on_flink_2_and_unknown_modes_are_named() {
    let error = |props: Value| FlinkPlugin.plan(&request(Target::Yarn, props)).unwrap_err();
    let mut props = JAR();
    props["component_flink_deploy_mode"] = json!("per-job");
    assert_eq!(
        error(props),
        "flink_deploy_mode per-job is not available on Flink 2.3 (removed in Flink 2); use application"
    );
    let mut props = JAR();
    props["component_flink_deploy_mode"] = json!("session");
    assert_eq!(
        error(props),
        "flink_deploy_mode must be application or per-job but is session"
    );
}

#[test]
fn python_jobs_ship_the_component_folder() {
    let argv = first_attempt(&plan(&request(
        Target::Yarn,
        json!({"component_main_py": "job.py"}),
    )));
    let tail: Vec<&str> = argv
        .iter()
        .rev()
        .take(4)
        .rev()
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        [
            "-py",
            "/var/lib/dm/apps/clicks/counter/job.py",
            "-pyfs",
            "/var/lib/dm/apps/clicks/counter"
        ]
    );
}

#[test]
fn local_target_runs_on_the_edge_node_and_stops_by_signal() {
    let plan = plan(&request(Target::Local, JAR()));
    let argv = first_attempt(&plan);
    assert_eq!(
        argv[..4],
        ["/opt/flink-2.3/bin/flink", "run", "-t", "local"]
    );
    assert!(!argv.iter().any(|a| a.starts_with("-Dyarn")));
    assert!(plan.job.as_ref().unwrap().yarn.is_none());
    assert_eq!(
        plan.job.as_ref().unwrap().stop,
        [StopStep::Signal { grace_sec: 30 }]
    );
}

#[test]
fn user_arguments_are_literals_never_slots() {
    // Text that looks like a slot or a shell construct stays what it is.
    let mut props = JAR();
    props["component_application_args"] = json!("{yarn_tags} $(reboot) ';' `id`");
    let argv = first_attempt(&plan(&request(Target::Yarn, props)));
    assert_eq!(
        argv[argv.len() - 4..],
        ["{yarn_tags}", "$(reboot)", ";", "`id`"]
    );
}

#[test]
fn errors_name_the_property() {
    let error = |props: Value| FlinkPlugin.plan(&request(Target::Yarn, props)).unwrap_err();
    assert_eq!(
        error(json!({})),
        "properties.json must contain \"main_jar or main_py\" for clicks flink counter"
    );
    assert_eq!(
        error(json!({"component_main_jar": "job.jar"})),
        "properties.json must contain \"main_class\" for clicks flink counter"
    );
    assert_eq!(
        error(json!({"component_main_jar": "../../other/secret.jar", "component_main_class": "x"})),
        "main_jar ../../other/secret.jar is not a file of the component"
    );
    assert_eq!(
        error(json!({"component_main_py": "job.py", "component_flink_version": "1.4"})),
        "flink_version 1.4 is not installed here (installed: 1.20, 2.3)"
    );
    assert_eq!(
        error(json!({"component_main_py": "job.py", "component_respawn_type": "sometimes"})),
        "respawn_type must be one of always, on-failure, on-success, no but is sometimes"
    );
    assert!(error(
        json!({"component_main_py": "job.py", "component_flink_config_args": "-p 'unclosed"})
    )
    .starts_with("property flink_config_args is not a valid argument list"));
    assert_eq!(
        error(json!({"component_main_py": "job.py", "component_flink_job_type": "daily"})),
        "flink_job_type must be streaming or batch but is daily"
    );
}

#[test]
fn validation_needs_application_properties() {
    let component = |files: &[&str]| ComponentFiles {
        component_type: "flink".into(),
        name: "c".into(),
        files: files.iter().map(|f| f.to_string()).collect(),
        properties: Map::new(),
        contents: Default::default(),
    };
    assert!(FlinkPlugin
        .validate(&component(&["application.properties", "job.jar"]))
        .is_empty());
    let findings = FlinkPlugin.validate(&component(&["job.jar"]));
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].message, "missing file application.properties");
}

#[test]
fn pndas_legacy_yarn_flags_are_translated_with_warnings_on_flink_1_and_2() {
    for version in ["1.20", "2.3"] {
        let mut props = JAR();
        props["component_flink_version"] = json!(version);
        // As in PNDA's flink-streaming-word-count example.
        props["component_flink_config_args"] = json!("-yn 1 -yjm 1024 -ytm 1024 -ynm wordcount");
        let plan = plan(&request(Target::Yarn, props));
        let argv = first_attempt(&plan);
        for wanted in [
            "-Djobmanager.memory.process.size=1024m",
            "-Dtaskmanager.memory.process.size=1024m",
            "-Dyarn.application.name=wordcount",
        ] {
            assert!(
                argv.iter().any(|a| a == wanted),
                "{version}: {wanted} in {argv:?}"
            );
        }
        assert!(
            !argv.iter().any(|a| a.starts_with("-y")),
            "{version}: no legacy option left: {argv:?}"
        );
        assert_eq!(plan.warnings.len(), 4, "{:?}", plan.warnings);
        // The configuration keys come before the program, where Flink's CLI reads options.
        let jar = argv.iter().position(|a| a.ends_with("job.jar")).unwrap();
        let key = argv
            .iter()
            .position(|a| a.starts_with("-Djobmanager"))
            .unwrap();
        assert!(key < jar, "{argv:?}");
    }
}

#[test]
fn an_untranslatable_legacy_flag_is_refused_naming_it() {
    let mut props = JAR();
    props["component_flink_config_args"] = json!("-yn 2 -yid application_1_0001");
    let err = FlinkPlugin.plan(&request(Target::Yarn, props)).unwrap_err();
    assert!(err.contains("-yid"), "{err}");
}

#[test]
fn each_version_runs_with_its_own_configuration_folder() {
    let mut req = request(Target::Yarn, JAR());
    req.engines.flink_conf_dirs = [
        ("2.3".to_string(), "/etc/flink-2.3".to_string()),
        ("1.20".to_string(), "/etc/flink-1.20".to_string()),
    ]
    .into();
    req.properties
        .insert("component_flink_version".into(), json!("1.20"));
    let plan = plan(&req);
    let job = plan.job.unwrap();
    assert_eq!(job.submit.env["FLINK_CONF_DIR"], "/etc/flink-1.20");
    for step in &job.stop {
        if let StopStep::Run { command, .. } = step {
            assert_eq!(command.env["FLINK_CONF_DIR"], "/etc/flink-1.20");
        }
    }
}
