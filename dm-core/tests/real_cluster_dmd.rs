//! Slow suite, against the real loopback cluster (`tests/env/up`): dmd with its plugins and
//! dm-supervisor runs a Flink streaming component and a Spark Structured Streaming component on
//! YARN. Upload → deploy → create → start; both RUNNING with dm's tags; the Flink job's YARN
//! application killed from outside is resubmitted and exactly one copy runs; `kill -9` of both
//! dmd and the supervisor, restart → the jobs are adopted, none resubmitted; stop → the
//! savepoint is recorded and nothing is left on YARN; destroy → the supervisor forgets them and
//! nothing of theirs is left on HDFS (the staging folders of killed attempts are removed).
//!
//! A Flink batch component runs to completion and is not restarted; the `local` target runs the
//! same Flink streaming job on this node, with no YARN.
//!
//! Run with `cargo test -p dm-core --features real-cluster --test real_cluster_dmd`.

mod common;

use common::{
    bounds, current_user, env_json, flink_package, jobs_config, s, supervisor_pids, wait_for, Dmd,
    Options, SupervisorGuard,
};
use dm_clients::yarn::{FinalStatus, ResourceManager, YarnApp, YarnState};
use dm_testkit::TarGz;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

fn config(root: &Path, env: &Value, target: &str) -> String {
    config_for(root, env, target, &s(env, "flink_default_version"))
}

/// dmd's configuration with one Flink version installed, `version`.
fn config_for(root: &Path, env: &Value, target: &str, version: &str) -> String {
    jobs_config(root, env, target, version)
}

/// A package with a Flink streaming component (the env's example jar) and a Spark Structured
/// Streaming component (the env's example script).
fn package(env: &Value, id: &str, app: &str) -> Vec<u8> {
    let jar = std::fs::read(s(&env["jobs"], "flink_jar")).unwrap();
    let stream_py = std::fs::read(s(&env["jobs"], "spark_streaming_py")).unwrap();
    let flink_props = json!({
        "main_jar": "jobs.jar",
        "main_class": s(&env["jobs"], "flink_streaming_class"),
        "application_args": format!("--name {app} --rate 20"),
    });
    let spark_props = json!({"main_py": "stream.py", "application_args": format!("--name {app}")});
    TarGz::new()
        .file(
            format!("{id}/flink/stream/application.properties"),
            "job=${component_job_name}\n",
        )
        .file(
            format!("{id}/flink/stream/properties.json"),
            flink_props.to_string(),
        )
        .file(format!("{id}/flink/stream/jobs.jar"), jar)
        .file(
            format!("{id}/sparkStreaming/totals/application.properties"),
            "",
        )
        .file(
            format!("{id}/sparkStreaming/totals/log4j.properties"),
            "log4j.rootCategory=WARN, console\n",
        )
        .file(
            format!("{id}/sparkStreaming/totals/properties.json"),
            spark_props.to_string(),
        )
        .file(format!("{id}/sparkStreaming/totals/stream.py"), stream_py)
        .bytes()
}

/// The live (not final) YARN applications of one component of `app`.
fn live(
    rm: &ResourceManager,
    app: &str,
    component_tag: &str,
) -> Result<Vec<YarnApp>, dm_clients::ClientError> {
    Ok(rm
        .apps_tagged(&format!("dm-app-{app}"))?
        .into_iter()
        .filter(|a| !a.is_final() && a.has_tags(&[component_tag.to_string()]))
        .collect())
}

/// One RUNNING application of the component, and no other live one.
fn one_running(rm: &ResourceManager, app: &str, tag: &str) -> Option<String> {
    // An RM that does not answer for a moment is waited out like any other "not yet".
    match live(rm, app, tag).ok()?.as_slice() {
        [only] if only.state == YarnState::Running => Some(only.id.clone()),
        _ => None,
    }
}

fn supervisor_state(root: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(root.join("data/supervisor/state.json")).unwrap())
        .unwrap()
}

#[test]
fn flink_and_spark_streaming_apps_on_yarn_survive_crashes_and_stop_cleanly() {
    let env = env_json();
    let rm = ResourceManager::new(&s(&env, "rm_url"));
    let root = tempfile::tempdir().unwrap();
    let options = Options {
        config: Some(config(root.path(), &env, "yarn")),
        test_components: Some(false),
        ..Options::default()
    };
    let _supervisor = SupervisorGuard(root.path().join("data/supervisor"));
    let dmd = Dmd::start_with(root.path(), &options);
    let user = current_user();
    let app = format!("e2e{}", std::process::id());
    let (flink_tag, spark_tag) = (
        "dm-component-flink-stream",
        "dm-component-sparkstreaming-totals",
    );

    dmd.deployed("streams-1.0.0", &package(&env, "streams-1.0.0", &app));
    dmd.started(&app, "streams-1.0.0", &user);

    // Both components RUNNING on YARN, named and tagged by dm.
    let flink_app = wait_for("the Flink job RUNNING on YARN", bounds::TO_RUNNING, || {
        one_running(&rm, &app, flink_tag)
    });
    let spark_app = wait_for("the Spark job RUNNING on YARN", bounds::TO_RUNNING, || {
        one_running(&rm, &app, spark_tag)
    });
    assert_eq!(
        rm.app(&flink_app).unwrap().name,
        format!("{app}-stream-job")
    );
    assert_eq!(
        rm.app(&spark_app).unwrap().name,
        format!("{app}-totals-job")
    );

    // Killed from outside: resubmitted (respawn always), and only one copy runs.
    rm.kill(&flink_app).unwrap();
    let resubmitted = wait_for("the Flink job resubmitted", bounds::RESPAWN, || {
        one_running(&rm, &app, flink_tag).filter(|id| *id != flink_app)
    });

    // kill -9 of dmd and of the supervisor while the jobs run; both come back.
    let supervisor_dir = root.path().join("data/supervisor");
    for pid in supervisor_pids(&supervisor_dir) {
        // SAFETY: a signal to the supervisor this test's dmd started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    dmd.kill();
    assert!(
        !rm.app(&resubmitted).unwrap().is_final(),
        "the job outlived both"
    );
    let dmd = Dmd::start_with(root.path(), &options);
    wait_for("a supervisor started by dmd", 30, || {
        (!supervisor_pids(&supervisor_dir).is_empty()).then_some(())
    });
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(
        one_running(&rm, &app, flink_tag).as_deref(),
        Some(resubmitted.as_str()),
        "adopted, not resubmitted"
    );
    assert_eq!(
        one_running(&rm, &app, spark_tag).as_deref(),
        Some(spark_app.as_str()),
        "adopted, not resubmitted"
    );
    assert_eq!(
        dmd.get(&format!("/applications/{app}/status")).body["status"],
        "STARTED"
    );

    // Stop: the Flink job stops with a savepoint, the Spark job is killed; nothing left.
    assert_eq!(
        dmd.post(&format!("/applications/{app}/stop?user.name={user}"))
            .code,
        202
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    while dmd.get(&format!("/applications/{app}/status")).body["status"] != "CREATED" {
        assert!(
            Instant::now() < deadline,
            "stop did not finish: {}\n{}",
            dmd.get(&format!("/applications/{app}/status")).body,
            dmd.log_text()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(
        live(&rm, &app, flink_tag).unwrap().is_empty()
            && live(&rm, &app, spark_tag).unwrap().is_empty(),
        "nothing left on YARN"
    );
    let state = supervisor_state(root.path());
    let savepoint = state["jobs"][format!("{app}/flink/stream")]["last_savepoint"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        savepoint.contains(&app),
        "the savepoint is recorded under the app's folder: {:#}",
        state["jobs"]
    );

    // Destroy: the supervisor forgets both jobs.
    assert_eq!(
        dmd.delete(&format!("/applications/{app}?user.name={user}"))
            .code,
        202
    );
    dmd.wait_status(&format!("/applications/{app}/status"), "NOTCREATED");
    let jobs = &supervisor_state(root.path())["jobs"];
    assert!(
        jobs.get(format!("{app}/flink/stream")).is_none()
            && jobs.get(format!("{app}/sparkStreaming/totals")).is_none(),
        "{jobs:#}"
    );

    // Nothing is left on HDFS: Flink and Spark leave the staging folders of killed attempts
    // (here the Flink attempt killed from outside), dmd removes them.
    let hdfs = dm_core::hdfs::Hdfs::from_config(&dm_core::hdfs::HdfsConfig {
        namenode: Some(s(&env, "namenode_url")),
        ..Default::default()
    })
    .unwrap()
    .unwrap();
    let attempts = rm.apps_tagged(&format!("dm-app-{app}")).unwrap();
    assert!(
        attempts.len() >= 3,
        "two Flink attempts and a Spark one: {attempts:?}"
    );
    for attempt in attempts {
        for folder in [".flink", ".sparkStaging"] {
            let path = format!("/user/{user}/{folder}/{}", attempt.id);
            assert!(!hdfs.exists(&path).unwrap(), "{path} is left on HDFS");
        }
    }
}

#[test]
fn flink_1_per_job_mode_runs_on_yarn_and_stops_with_a_savepoint() {
    let env = env_json();
    let version = "1.20.5";
    let rm = ResourceManager::new(&s(&env, "rm_url"));
    let root = tempfile::tempdir().unwrap();
    let options = Options {
        config: Some(config_for(root.path(), &env, "yarn", version)),
        test_components: Some(false),
        ..Options::default()
    };
    let _supervisor = SupervisorGuard(root.path().join("data/supervisor"));
    let dmd = Dmd::start_with(root.path(), &options);
    let app = format!("perjob{}", std::process::id());
    let props = json!({
        "flink_version": version,
        "flink_deploy_mode": "per-job",
        "application_args": format!("--name {app} --rate 5"),
    });
    let jar = s(&env["flink"][version], "jobs_jar");
    dmd.deployed(
        "perjob-1.0.0",
        &flink_package(&env, "perjob-1.0.0", "flink_streaming_class", props, &jar),
    );
    let user = current_user();
    dmd.started(&app, "perjob-1.0.0", &user);
    let tag = "dm-component-flink-job";
    let yarn_id = wait_for(
        "the per-job cluster to run on YARN",
        bounds::TO_RUNNING,
        || one_running(&rm, &app, tag),
    );
    wait_for(
        "the supervisor to follow the YARN application",
        bounds::NOTICE,
        || {
            let job = supervisor_state(root.path())["jobs"][format!("{app}/flink/job")].clone();
            (job["state"] == "running"
                && job["attempts"][0]["yarn_application_id"] == yarn_id.as_str())
            .then_some(())
        },
    );

    assert_eq!(
        dmd.post(&format!("/applications/{app}/stop?user.name={user}"))
            .code,
        202
    );
    dmd.wait_status(&format!("/applications/{app}/status"), "CREATED");
    assert!(
        live(&rm, &app, tag).unwrap().is_empty(),
        "nothing left on YARN"
    );
    let job = &supervisor_state(root.path())["jobs"][format!("{app}/flink/job")];
    let savepoint = job["last_savepoint"].as_str().unwrap_or_default();
    let log = std::fs::read_to_string(job["attempts"][0]["log"].as_str().unwrap_or_default())
        .unwrap_or_default();
    assert!(
        savepoint.contains("/flink/1.20.5/savepoints/") && savepoint.contains(&app),
        "stopped with a savepoint through the per-job target: {job:#}\n{log}"
    );
    assert_eq!(
        dmd.delete(&format!("/applications/{app}?user.name={user}"))
            .code,
        202
    );
    dmd.wait_status(&format!("/applications/{app}/status"), "NOTCREATED");
}

#[test]
fn a_flink_batch_app_runs_to_completion_and_is_not_restarted() {
    let env = env_json();
    let rm = ResourceManager::new(&s(&env, "rm_url"));
    let root = tempfile::tempdir().unwrap();
    let options = Options {
        config: Some(config(root.path(), &env, "yarn")),
        test_components: Some(false),
        ..Options::default()
    };
    let _supervisor = SupervisorGuard(root.path().join("data/supervisor"));
    let dmd = Dmd::start_with(root.path(), &options);
    let app = format!("batch{}", std::process::id());
    dmd.deployed(
        "batch-1.0.0",
        &flink_package(
            &env,
            "batch-1.0.0",
            "flink_batch_class",
            json!({"flink_job_type": "batch"}),
            &s(&env["jobs"], "flink_jar"),
        ),
    );
    dmd.started(&app, "batch-1.0.0", &current_user());

    let finished = wait_for("the batch job to finish on YARN", 300, || {
        let apps = rm.apps_tagged(&format!("dm-app-{app}")).ok()?;
        apps.into_iter().find(|a| a.is_final())
    });
    assert_eq!(
        finished.final_status,
        FinalStatus::Succeeded,
        "{finished:?}"
    );
    let id = format!("{app}/flink/job");
    let job = wait_for("the supervisor to see the end", bounds::NOTICE, || {
        let job = supervisor_state(root.path())["jobs"][&id].clone();
        (job["state"] == "ended").then_some(job)
    });
    std::thread::sleep(Duration::from_secs(5));
    let job_after = &supervisor_state(root.path())["jobs"][&id];
    assert_eq!(
        job_after["attempts"].as_array().unwrap().len(),
        1,
        "not restarted: {job:#}"
    );
    assert_eq!(job_after["attempts"][0]["outcome"], "succeeded");
    assert_eq!(
        rm.apps_tagged(&format!("dm-app-{app}")).unwrap().len(),
        1,
        "one YARN application in all"
    );
}

#[test]
fn the_local_target_runs_the_same_flink_job_without_yarn() {
    let env = env_json();
    let rm = ResourceManager::new(&s(&env, "rm_url"));
    let root = tempfile::tempdir().unwrap();
    let options = Options {
        config: Some(config(root.path(), &env, "local")),
        test_components: Some(false),
        ..Options::default()
    };
    let _supervisor = SupervisorGuard(root.path().join("data/supervisor"));
    let dmd = Dmd::start_with(root.path(), &options);
    let app = format!("local{}", std::process::id());
    let props = json!({"application_args": "--name local-counter --rate 5 --checkpoint-ms 0"});
    dmd.deployed(
        "local-1.0.0",
        &flink_package(
            &env,
            "local-1.0.0",
            "flink_streaming_class",
            props,
            &s(&env["jobs"], "flink_jar"),
        ),
    );
    let user = current_user();
    dmd.started(&app, "local-1.0.0", &user);

    // The job prints its running counts: visible through dmd's logs endpoint.
    wait_for("the local job's output", 120, || {
        let logs = dmd.get(&format!("/applications/{app}/logs")).body;
        logs["flink-job"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("key-"))
            .then_some(())
    });
    assert!(
        rm.apps_tagged(&format!("dm-app-{app}")).unwrap().is_empty(),
        "nothing went to YARN"
    );
    let id = format!("{app}/flink/job");
    let pid = supervisor_state(root.path())["jobs"][&id]["attempts"][0]["pid"]
        .as_u64()
        .unwrap() as u32;
    assert!(dm_supervisor::process::start_ticks(pid).is_some());

    assert_eq!(
        dmd.post(&format!("/applications/{app}/stop?user.name={user}"))
            .code,
        202
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while dmd.get(&format!("/applications/{app}/status")).body["status"] != "CREATED" {
        assert!(
            Instant::now() < deadline,
            "stop did not finish\n{}",
            dmd.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        dm_supervisor::process::start_ticks(pid).is_none(),
        "the local job is gone"
    );
}

/// `target/testenv/dmd.toml`, as `tests/env/up` writes it, is all a dmd needs on this cluster:
/// with it (and the plugins), Flink jobs of every
/// version of the env run side by side on YARN with a Spark Streaming job, each under its own
/// Flink version, and their summaries say RUNNING.
#[test]
fn the_envs_dmd_toml_runs_every_flink_version_and_spark_side_by_side() {
    let env = env_json();
    let rm = ResourceManager::new(&s(&env, "rm_url"));
    let toml = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/testenv/dmd.toml");
    let config = std::fs::read_to_string(&toml)
        .unwrap_or_else(|e| panic!("{}: {e}; run tests/env/up first", toml.display()));
    let root = tempfile::tempdir().unwrap();
    // dm-supervisor comes from beside dmd's binary, as for a user. The plugins would too after
    // a `cargo build`; `cargo test` leaves them in deps/, so they are handed over explicitly.
    let plugins = root.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    for lib in ["dm_plugin_flink", "dm_plugin_spark_streaming"] {
        std::fs::copy(
            dm_testkit::built_cdylib(lib),
            plugins.join(format!("lib{lib}.so")),
        )
        .unwrap();
    }
    let options = Options {
        config: Some(config),
        test_components: Some(false),
        env: vec![("DMD__PLUGINS__DIR".into(), plugins.display().to_string())],
        ..Options::default()
    };
    let _supervisor = SupervisorGuard(root.path().join("data/supervisor"));
    let dmd = Dmd::start_with(root.path(), &options);
    let app = format!("toml{}", std::process::id());
    let versions: Vec<String> = env["flink"].as_object().unwrap().keys().cloned().collect();
    assert!(
        versions.len() >= 2,
        "the env has several Flink versions: {versions:?}"
    );

    // One Flink component per version (named f0, f1, …) and the Spark component of `package`.
    let id = "sidebyside-1.0.0";
    let jar = std::fs::read(s(&env["jobs"], "flink_jar")).unwrap();
    let stream_py = std::fs::read(s(&env["jobs"], "spark_streaming_py")).unwrap();
    let mut tar = TarGz::new()
        .file(
            format!("{id}/sparkStreaming/totals/application.properties"),
            "",
        )
        .file(
            format!("{id}/sparkStreaming/totals/log4j.properties"),
            "log4j.rootCategory=WARN, console\n",
        )
        .file(
            format!("{id}/sparkStreaming/totals/properties.json"),
            json!({"main_py": "stream.py", "application_args": format!("--name {app}")})
                .to_string(),
        )
        .file(format!("{id}/sparkStreaming/totals/stream.py"), stream_py);
    for (i, version) in versions.iter().enumerate() {
        let props = json!({
            "main_jar": "jobs.jar",
            "main_class": s(&env["jobs"], "flink_streaming_class"),
            "application_args": format!("--name {app}-f{i} --rate 5"),
            "flink_version": version,
        });
        tar = tar
            .file(format!("{id}/flink/f{i}/application.properties"), "")
            .file(
                format!("{id}/flink/f{i}/properties.json"),
                props.to_string(),
            )
            .file(format!("{id}/flink/f{i}/jobs.jar"), jar.clone());
    }
    dmd.deployed(id, &tar.bytes());
    dmd.started(&app, id, &current_user());

    for (i, version) in versions.iter().enumerate() {
        let tag = format!("dm-component-flink-f{i}");
        let yarn_id = wait_for(
            &format!("the Flink {version} job RUNNING on YARN"),
            bounds::TO_RUNNING,
            || one_running(&rm, &app, &tag),
        );
        // The JobManager says which Flink runs it (through the RM's proxy).
        let tracking = rm.app(&yarn_id).unwrap().tracking_url.unwrap();
        let runs = wait_for(
            &format!("Flink {version}'s JobManager REST API"),
            bounds::TO_RUNNING,
            || {
                let config: Value =
                    ureq::get(&format!("{}/config", tracking.trim_end_matches('/')))
                        .call()
                        .ok()?
                        .body_mut()
                        .read_json()
                        .ok()?;
                config["flink-version"].as_str().map(str::to_string)
            },
        );
        assert_eq!(&runs, version, "{tag} runs under its own Flink version");
    }
    wait_for("the Spark job RUNNING on YARN", bounds::TO_RUNNING, || {
        one_running(&rm, &app, "dm-component-sparkstreaming-totals")
    });
    let summary = wait_for(
        "every component RUNNING in the summary",
        bounds::TO_RUNNING,
        || {
            let body = dmd.get(&format!("/applications/{app}/summary")).body;
            let all = body[&app]
                .as_object()?
                .iter()
                .filter(|(k, _)| k.contains('-'))
                .all(|(_, c)| c["aggregate_status"] == "RUNNING");
            all.then_some(body)
        },
    );
    assert_eq!(summary[&app]["aggregate_status"], "RUNNING", "{summary}");

    assert_eq!(
        dmd.post(&format!(
            "/applications/{app}/stop?user.name={}",
            current_user()
        ))
        .code,
        202
    );
    dmd.wait_status(&format!("/applications/{app}/status"), "CREATED");
    assert_eq!(
        dmd.delete(&format!("/applications/{app}?user.name={}", current_user()))
            .code,
        202
    );
    dmd.wait_status(&format!("/applications/{app}/status"), "NOTCREATED");
    assert!(
        rm.apps_tagged(&format!("dm-app-{app}"))
            .unwrap()
            .iter()
            .all(|a| a.is_final()),
        "nothing left running on YARN"
    );
}
