//! Slow suite, against the real loopback cluster (`tests/env/up`): the supervisor keeping a
//! Flink streaming job on YARN alive, as planned by the real Flink plugin. It resubmits a job
//! killed from outside, never runs two copies, adopts the job after its own `kill -9`, and
//! stops it with a savepoint that it records.
//!
//! Run with `cargo test -p dm-supervisor --features real-cluster --test real_cluster_yarn`.

mod common;

use common::{env_json, live_apps, running_app, s, Supervisor};
use dm_clients::yarn::ResourceManager;
use dm_plugin_api::{
    Arg, ComponentFiles, ComponentPlugin, Engines, PlanRequest, RespawnPolicy, Target,
};
use dm_plugin_flink::FlinkPlugin;
use dm_supervisor::protocol::{JobSpec, JobState, Outcome, Request, Response};
use serde_json::json;
use std::time::Duration;

/// A Flink streaming job planned by the real Flink plugin for YARN, in a temporary workdir.
struct FlinkJobSpec {
    spec: JobSpec,
    component_tag: String,
    work: tempfile::TempDir,
}

fn flink_job(app: &str, main_class: &str, application_args: &str) -> FlinkJobSpec {
    let env = env_json();
    let version = s(&env, "flink_default_version");
    let flink = &env["flink"][&version];
    let work = tempfile::tempdir().unwrap();
    let workdir = work.path().join("workdir");
    std::fs::create_dir_all(&workdir).unwrap();
    std::fs::copy(s(&env["jobs"], "flink_jar"), workdir.join("jobs.jar")).unwrap();
    std::fs::write(workdir.join("application.properties"), "").unwrap();

    let request = PlanRequest {
        application: app.to_string(),
        user: "dm".into(),
        component: ComponentFiles {
            component_type: "flink".into(),
            name: "stream".into(),
            files: vec!["application.properties".into(), "jobs.jar".into()],
            properties: Default::default(),
            contents: Default::default(),
        },
        properties: json!({
            "component_main_jar": "jobs.jar",
            "component_main_class": main_class,
            "component_application_args": application_args,
        })
        .as_object()
        .unwrap()
        .clone(),
        target: Target::Yarn,
        engines: Engines {
            flink_homes: [(version.clone(), s(flink, "home"))].into(),
            default_flink_version: Some(version.clone()),
            ..Engines::default()
        },
        workdir: workdir.display().to_string(),
        now_ms: 0,
    };
    let plan = FlinkPlugin.plan(&request).unwrap();
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
        id: format!("{app}/stream"),
        job: plan.job.unwrap(),
        workdir: workdir.clone(),
        user: None,
        savepoint_dir: Some(format!("{}/{app}", s(&env, "flink_savepoint_dir"))),
        restore: Default::default(),
        allow_non_restored_state: false,
        env: vec![
            ("JAVA_HOME".into(), s(&env, "java_home")),
            ("HADOOP_CONF_DIR".into(), s(&env, "hadoop_conf_dir")),
            ("HADOOP_CLASSPATH".into(), s(&env, "hadoop_classpath")),
            ("FLINK_CONF_DIR".into(), s(flink, "conf_dir")),
        ],
    };
    FlinkJobSpec {
        spec,
        component_tag,
        work,
    }
}

#[test]
fn flink_streaming_job_on_yarn_is_kept_alive_adopted_and_stopped_with_a_savepoint() {
    let env = env_json();
    let rm_url = s(&env, "rm_url");
    let rm = ResourceManager::new(&rm_url);
    let app = format!("sup{}", std::process::id());
    let FlinkJobSpec {
        spec,
        component_tag,
        work,
    } = flink_job(
        &app,
        &s(&env["jobs"], "flink_streaming_class"),
        &format!("--name {app} --rate 20"),
    );
    let id = spec.id.clone();
    let state_dir = work.path().join("supervisor");
    let sup = Supervisor::start(&state_dir, Some(&rm_url));

    // Submitted to YARN with dm's tags, and running.
    sup.call(Request::Start {
        spec: Box::new(spec),
    });
    let first = sup.wait_for(&id, "the first attempt RUNNING on YARN", 300, |r| {
        running_app(r).is_some()
    });
    let first_app = running_app(&first).unwrap();
    let yarn_app = rm.app(&first_app).unwrap();
    assert_eq!(yarn_app.name, format!("{app}-stream-job"));
    assert!(
        yarn_app.has_tags(&["dm".into(), format!("dm-app-{app}"), component_tag.clone()]),
        "{yarn_app:?}"
    );
    assert_eq!(
        live_apps(&rm, &component_tag),
        std::slice::from_ref(&first_app)
    );

    // Killed from outside: the supervisor sees it end and submits it again (policy always).
    let attempts_before = first.attempts.len();
    rm.kill(&first_app).unwrap();
    let second = sup.wait_for(&id, "a new attempt RUNNING", 300, |r| {
        r.attempts.len() > attempts_before && running_app(r).is_some_and(|app| app != first_app)
    });
    let second_app = running_app(&second).unwrap();
    let killed = &second.attempts[attempts_before - 1];
    assert_eq!(
        killed.yarn_application_id.as_deref(),
        Some(first_app.as_str())
    );
    assert_eq!(killed.outcome, Some(Outcome::Failed));
    assert!(
        killed.reason.as_deref().unwrap().contains("KILLED"),
        "{:?}",
        killed.reason
    );
    assert_eq!(
        live_apps(&rm, &component_tag),
        std::slice::from_ref(&second_app),
        "exactly one copy runs"
    );

    // kill -9 of the supervisor: the job keeps running and is adopted, not resubmitted.
    sup.crash();
    assert!(!rm.app(&second_app).unwrap().is_final());
    let sup = Supervisor::start(&state_dir, Some(&rm_url));
    std::thread::sleep(Duration::from_secs(5));
    let adopted = sup.status(&id);
    assert_eq!(
        adopted.attempts.len(),
        second.attempts.len(),
        "no new attempt after the restart"
    );
    assert_eq!(running_app(&adopted).as_deref(), Some(second_app.as_str()));
    assert_eq!(
        live_apps(&rm, &component_tag),
        std::slice::from_ref(&second_app)
    );

    // Stop right away: the supervisor waits for the restarted job's tasks to run before it
    // takes the savepoint, rather than falling back to cancel.
    let stopped = match sup.call(Request::Stop {
        id: id.clone(),
        cancel: false,
    }) {
        Response::Job { job } => job,
        other => panic!("stop failed: {other:?}"),
    };
    assert_eq!(stopped.state, JobState::Stopped);
    let Some(savepoint) = stopped.last_savepoint.clone() else {
        let log = match sup.call(Request::Logs {
            id: id.clone(),
            attempt: None,
            max_bytes: Some(20_000),
        }) {
            Response::Log { text, .. } => text,
            other => format!("{other:?}"),
        };
        panic!("no savepoint recorded: {stopped:#?}\nattempt log:\n{log}");
    };
    assert!(
        savepoint.contains(&app),
        "savepoint {savepoint} is under the job's savepoint dir"
    );
    assert!(rm.app(&second_app).unwrap().is_final());
    assert!(
        live_apps(&rm, &component_tag).is_empty(),
        "nothing left on YARN"
    );
    assert!(matches!(sup.call(Request::Remove { id }), Response::Ok));
}

/// Seconds the supervisor gives a submit command (its `SUBMIT_TIMEOUT`), plus YARN's time to
/// run an ApplicationMaster that fails at once.
const SUBMIT_BOUND_SEC: u64 = 600 + 120;

#[test]
fn deterministic_submission_failures_end_failed_after_one_attempt_under_always() {
    let env = env_json();
    let rm_url = s(&env, "rm_url");
    let rm = ResourceManager::new(&rm_url);
    let sup_dir = tempfile::tempdir().unwrap();
    let sup = Supervisor::start(sup_dir.path(), Some(&rm_url));

    // Flink 1.x's `-yn 1` passed to the client untranslated: it takes `-yn` for the jar.
    let app = format!("badargs{}", std::process::id());
    let mut bad_args = flink_job(&app, &s(&env["jobs"], "flink_streaming_class"), "");
    let argv = &mut bad_args.spec.job.submit.argv;
    let at = argv
        .iter()
        .position(|a| *a == Arg::lit("yarn-application"))
        .unwrap()
        + 1;
    argv.splice(at..at, [Arg::lit("-yn"), Arg::lit("1")]);
    // A main class the jar does not have: the client submits, the ApplicationMaster fails.
    let app2 = format!("badmain{}", std::process::id());
    let bad_main = flink_job(&app2, "dm.examples.flink.NoSuchJob", "");

    for (job, cause) in [(&bad_args, "-yn"), (&bad_main, "")] {
        assert_eq!(job.spec.job.respawn.policy, RespawnPolicy::Always);
        let id = job.spec.id.clone();
        sup.call(Request::Start {
            spec: Box::new(job.spec.clone()),
        });
        let failed = sup.wait_for(
            &id,
            "the job FAILED after its first attempt",
            SUBMIT_BOUND_SEC,
            |r| r.state == JobState::Failed || r.attempts.len() > 1,
        );
        assert_eq!(failed.state, JobState::Failed, "{failed:#?}");
        assert_eq!(failed.attempts.len(), 1, "not respawned: {failed:#?}");
        let reason = failed.reason.clone().unwrap_or_default();
        assert!(
            reason.contains(cause) && reason.contains("not respawned"),
            "the reason names the cause: {reason}"
        );
        assert!(
            live_apps(&rm, &job.component_tag).is_empty(),
            "nothing left on YARN"
        );
        // As dmd destroys a component: stop (a FAILED job is still wanted running), then remove.
        assert!(matches!(
            sup.call(Request::Stop {
                id: id.clone(),
                cancel: false,
            }),
            Response::Job { .. }
        ));
        assert!(matches!(sup.call(Request::Remove { id }), Response::Ok));
    }
}
