//! Slow suite, against the real loopback cluster (`tests/env/up`): the supervisor running a
//! Spark Structured Streaming job on YARN as planned by the real sparkStreaming plugin, and
//! stopping it. (A separate test binary from the Flink one: each plugin crate exports the
//! plugin entry symbol, so two cannot be linked into one binary.)
//!
//! Run with `cargo test -p dm-supervisor --features real-cluster --test real_cluster_yarn_spark`.

mod common;

use common::{env_json, live_apps, running_app, s, Supervisor};
use dm_clients::yarn::{ResourceManager, YarnState};
use dm_plugin_api::{ComponentFiles, ComponentPlugin, Engines, PlanRequest, Target};
use dm_plugin_spark_streaming::SparkStreamingPlugin;
use dm_supervisor::protocol::{JobSpec, JobState, Request, Response};
use serde_json::json;

/// A Spark streaming job planned by the real plugin, in a fresh work folder.
fn spark_job(prefix: &str) -> (tempfile::TempDir, JobSpec, String, String) {
    let env = env_json();
    let work = tempfile::tempdir().unwrap();
    let workdir = work.path().join("workdir");
    std::fs::create_dir_all(&workdir).unwrap();
    std::fs::copy(
        s(&env["jobs"], "spark_streaming_py"),
        workdir.join("stream.py"),
    )
    .unwrap();
    std::fs::write(
        workdir.join("application.properties"),
        "component.name=totals\n",
    )
    .unwrap();
    std::fs::write(
        workdir.join("log4j.properties"),
        "log4j.rootCategory=WARN, console\n",
    )
    .unwrap();
    let app = format!("{prefix}{}", std::process::id());

    let request = PlanRequest {
        application: app.clone(),
        user: "dm".into(),
        component: ComponentFiles {
            component_type: "sparkStreaming".into(),
            name: "totals".into(),
            files: ["application.properties", "log4j.properties", "stream.py"].map(String::from).to_vec(),
            properties: Default::default(), contents: Default::default(),
        },
        properties: json!({"component_main_py": "stream.py", "component_application_args": format!("--name {app}")})
            .as_object()
            .unwrap()
            .clone(),
        target: Target::Yarn,
        engines: Engines { spark_home: Some(s(&env, "spark_home")), ..Engines::default() },
        workdir: workdir.display().to_string(),
        now_ms: 0,
    };
    let plan = SparkStreamingPlugin.plan(&request).unwrap();
    let component_tag = plan
        .job
        .as_ref()
        .unwrap()
        .yarn
        .as_ref()
        .unwrap()
        .tags
        .last()
        .unwrap()
        .clone();
    let spec = JobSpec {
        id: format!("{app}/totals"),
        job: plan.job.unwrap(),
        workdir,
        user: None,
        savepoint_dir: None,
        restore: Default::default(),
        allow_non_restored_state: false,
        env: vec![
            ("JAVA_HOME".into(), s(&env, "java_home")),
            ("HADOOP_CONF_DIR".into(), s(&env, "hadoop_conf_dir")),
            ("SPARK_CONF_DIR".into(), s(&env, "spark_conf_dir")),
            ("SPARK_LOCAL_IP".into(), "127.0.0.1".into()),
        ],
    };
    (work, spec, component_tag, app)
}

#[test]
fn spark_streaming_job_on_yarn_runs_with_dm_tags_and_stops() {
    let env = env_json();
    let rm_url = s(&env, "rm_url");
    let rm = ResourceManager::new(&rm_url);
    let (work, spec, component_tag, app) = spark_job("spk");
    let id = spec.id.clone();
    let sup = Supervisor::start(&work.path().join("supervisor"), Some(&rm_url));
    sup.call(Request::Start {
        spec: Box::new(spec),
    });
    let running = sup.wait_for(&id, "the Spark job RUNNING on YARN", 300, |r| {
        running_app(r).is_some_and(|app| rm.app(&app).is_ok_and(|a| a.state == YarnState::Running))
    });
    let app_id = running_app(&running).unwrap();
    let yarn_app = rm.app(&app_id).unwrap();
    assert_eq!(yarn_app.name, format!("{app}-totals-job"));
    assert!(
        yarn_app.has_tags(&["dm".into(), format!("dm-app-{app}"), component_tag.clone()]),
        "{yarn_app:?}"
    );

    match sup.call(Request::Stop {
        id: id.clone(),
        cancel: false,
    }) {
        Response::Job { job } => assert_eq!(job.state, JobState::Stopped),
        other => panic!("stop failed: {other:?}"),
    }
    assert_eq!(rm.app(&app_id).unwrap().state, YarnState::Killed);
    assert!(live_apps(&rm, &component_tag).is_empty());
}

#[test]
fn a_supervisor_killed_while_submitting_adopts_what_the_submission_made() {
    let env = env_json();
    let rm_url = s(&env, "rm_url");
    let rm = ResourceManager::new(&rm_url);
    let (work, spec, component_tag, _app) = spark_job("sub");
    let id = spec.id.clone();
    let state = work.path().join("supervisor");
    let sup = Supervisor::start(&state, Some(&rm_url));
    sup.call(Request::Start {
        spec: Box::new(spec),
    });
    // Killed while spark-submit runs: the attempt and its submit process are recorded, its
    // application id is not yet.
    sup.wait_for(&id, "the submission to start", 30, |r| {
        r.attempts.first().is_some_and(|a| a.pid.is_some())
    });
    sup.crash();
    let sup = Supervisor::start(&state, Some(&rm_url));
    let adopted = sup.wait_for(&id, "the submitted application adopted", 300, |r| {
        running_app(r).is_some()
    });
    assert_eq!(
        adopted.attempts.len(),
        1,
        "not submitted twice: {adopted:#?}"
    );
    let app_id = running_app(&adopted).unwrap();
    let live = live_apps(&rm, &component_tag);
    assert_eq!(live, std::slice::from_ref(&app_id), "exactly one copy");
    match sup.call(Request::Stop { id, cancel: false }) {
        Response::Job { job } => assert_eq!(job.state, JobState::Stopped),
        other => panic!("stop failed: {other:?}"),
    }
    assert!(live_apps(&rm, &component_tag).is_empty());
}
