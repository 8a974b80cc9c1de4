//! dmd with its runtime plugins and the supervisor: plugins loaded from a folder (the bad ones
//! refused), package checks and plans done by the plugins, and an application's job started,
//! stopped and destroyed through a real dm-supervisor. The engine here is a stand-in `flink`
//! script that records its arguments; the slow suite (`real_cluster_dmd`) runs real Flink and
//! Spark on YARN.

mod common;

use common::{supervisor_binary, Dmd, Options, SupervisorGuard};
use dm_testkit::{built_cdylib, TarGz};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A plugins folder with the four plugins and a file that is not one.
fn plugins_dir(root: &Path) -> PathBuf {
    let dir = root.join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    for lib in [
        "dm_plugin_flink",
        "dm_plugin_spark_streaming",
        "dm_plugin_oozie",
        "dm_plugin_jupyter",
    ] {
        std::fs::copy(built_cdylib(lib), dir.join(format!("lib{lib}.so"))).unwrap();
    }
    std::fs::write(dir.join("libbroken.so"), b"not a library").unwrap();
    dir
}

/// A stand-in Flink home whose `bin/flink` records its argv and then runs until stopped.
fn fake_flink(root: &Path) -> PathBuf {
    let home = root.join("flink-home");
    std::fs::create_dir_all(home.join("bin")).unwrap();
    let script = home.join("bin/flink");
    std::fs::write(&script, "#!/bin/sh\nprintf '%s\\n' \"$@\" > argv.txt\necho \"flink started in $(pwd)\"\nexec sleep 300\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    home
}

/// dmd with the plugins and a stand-in Flink, and a guard that ends the supervisor it starts.
fn start(root: &Path) -> (Dmd, SupervisorGuard) {
    let config = format!(
        "[plugins]\ndir = \"{}\"\n[jobs]\ntarget = \"local\"\n[jobs.engines]\nflink_homes = {{ \"2.3.0\" = \"{}\" }}\n\
         [supervisor]\nbinary = \"{}\"\n",
        plugins_dir(root).display(),
        fake_flink(root).display(),
        supervisor_binary().display()
    );
    let guard = SupervisorGuard(root.join("data/supervisor"));
    let dmd = Dmd::start_with(
        root,
        &Options {
            config: Some(config),
            test_components: Some(false),
            ..Options::default()
        },
    );
    (dmd, guard)
}

fn flink_package(id: &str, properties: &str) -> Vec<u8> {
    TarGz::new()
        .file(
            format!("{id}/flink/stream/application.properties"),
            "job=${component_job_name}\nliteral=$${not_a_property}\n",
        )
        .file(format!("{id}/flink/stream/properties.json"), properties)
        .file(format!("{id}/flink/stream/job.jar"), "jar bytes")
        .bytes()
}

#[test]
fn plugins_are_listed_and_check_packages_and_a_broken_one_is_skipped() {
    let root = tempfile::tempdir().unwrap();
    let (dmd, _supervisor) = start(root.path());
    let plugins = dmd.get("/plugins");
    assert_eq!(plugins.code, 200);
    let types: Vec<&str> = plugins.body["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["flink", "jupyter", "oozie", "sparkStreaming"]);
    assert_eq!(
        plugins.body["plugins"][0]["version"],
        env!("CARGO_PKG_VERSION")
    );
    // Configured, not discovered: nothing found on its own, and no engine configured.
    assert_eq!(plugins.body["found"], json!([]));
    assert!(
        dmd.log_text()
            .contains("libbroken.so refused: not a loadable library"),
        "{}",
        dmd.log_text()
    );

    // The oozie plugin reads workflow.xml: a malformed one is refused at upload.
    let bad = TarGz::new()
        .file(
            "batch-1.0.0/oozie/nightly/workflow.xml",
            "<workflow-app><start></workflow-app>",
        )
        .bytes();
    let reply = dmd.upload("batch-1.0.0", &bad);
    assert_eq!(reply.code, 400, "{}", reply.body);
    assert!(
        reply
            .body
            .to_string()
            .contains("workflow.xml is not well-formed XML"),
        "{}",
        reply.body
    );
}

#[test]
fn create_is_refused_at_once_with_the_plugins_reason() {
    let root = tempfile::tempdir().unwrap();
    let (dmd, _supervisor) = start(root.path());
    dmd.deployed("nojar-1.0.0", &flink_package("nojar-1.0.0", "{}"));
    let reply = dmd.put(
        "/applications/a1?user.name=alice",
        Some(json!({"package": "nojar-1.0.0"}).to_string().as_bytes()),
    );
    assert_eq!(reply.code, 400, "{}", reply.body);
    assert!(
        reply.body["information"]
            .as_str()
            .unwrap_or_default()
            .contains("flink/stream: plugin flink: properties.json must contain \"main_jar or main_py\" for a1 flink stream"),
        "{}",
        reply.body
    );
    let status = dmd.get("/applications/a1/status");
    assert_eq!(
        status.body["status"], "NOTCREATED",
        "nothing was made: {}",
        status.body
    );

    // An override can put it right: the same package with a jar and class is accepted.
    let overrides = json!({"package": "nojar-1.0.0",
                           "flink": {"stream": {"main_jar": "job.jar", "main_class": "x.Y"}}});
    // As a user the host knows: a root dmd runs jobs as their application's user.
    let reply = dmd.put(
        &format!("/applications/a1?user.name={}", common::current_user()),
        Some(overrides.to_string().as_bytes()),
    );
    assert_eq!(reply.code, 202, "{}", reply.body);
}

#[test]
fn oozie_components_are_checked_against_the_cluster_before_anything_is_made() {
    let root = tempfile::tempdir().unwrap();
    let _supervisor = SupervisorGuard(root.path().join("data/supervisor"));
    let config = format!(
        "[plugins]\ndir = \"{}\"\n[jobs.engines]\noozie_spark_version = \"2\"\n[environment]\nname_node = \"hdfs://127.0.0.1:1\"\n",
        plugins_dir(root.path()).display()
    );
    let dmd = Dmd::start_with(
        root.path(),
        &Options {
            config: Some(config),
            test_components: Some(false),
            ..Options::default()
        },
    );
    let workflow = "<workflow-app xmlns='uri:oozie:workflow:1.0' name='w'><start to='end'/><end name='end'/></workflow-app>";
    let package = TarGz::new()
        .file("batch-1.0.0/oozie/wf/workflow.xml", workflow)
        .file(
            "batch-1.0.0/oozie/wf/properties.json",
            r#"{"spark_version": "3"}"#,
        )
        .bytes();
    dmd.deployed("batch-1.0.0", &package);
    let create = |body: Value| {
        dmd.put(
            "/applications/b1?user.name=alice",
            Some(body.to_string().as_bytes()),
        )
    };

    // PNDA's check: the component wants another Spark than the cluster's Oozie sharelib.
    let reply = create(json!({"package": "batch-1.0.0"}));
    assert_eq!(reply.code, 400, "{}", reply.body);
    assert_eq!(
        reply.body["information"],
        "oozie/wf: plugin oozie: Mismatch between cluster's oozie spark version (version = 2) and requested spark version"
    );
    // With the version put right, what is missing is this dmd's Oozie.
    let reply = create(json!({"package": "batch-1.0.0", "oozie": {"wf": {"spark_version": "2"}}}));
    assert_eq!(reply.code, 400, "{}", reply.body);
    assert!(
        reply.body["information"]
            .as_str()
            .unwrap_or_default()
            .contains("[oozie] url and [hdfs] namenode must both be set"),
        "{}",
        reply.body
    );
    assert_eq!(
        dmd.get("/applications/b1/status").body["status"],
        "NOTCREATED"
    );
}

fn supervisor_job(root: &Path, id: &str) -> Option<Value> {
    let state = std::fs::read(root.join("data/supervisor/state.json")).ok()?;
    let state: Value = serde_json::from_slice(&state).ok()?;
    let job = state["jobs"][id].clone();
    (!job.is_null()).then_some(job)
}

fn wait(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_application_runs_under_the_supervisor_and_is_stopped_and_destroyed() {
    let root = tempfile::tempdir().unwrap();
    let (dmd, _supervisor) = start(root.path());
    let props =
        r#"{"main_jar": "job.jar", "main_class": "dm.Job", "application_args": "--rate 5"}"#;
    dmd.deployed("clicks-1.0.0", &flink_package("clicks-1.0.0", props));
    // Jobs run as the application's user when the supervisor is root: use one that exists.
    let user = String::from_utf8(
        std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let body =
        json!({"package": "clicks-1.0.0", "flink": {"stream": {"application_args": "--rate 7"}}});
    assert_eq!(
        dmd.put(
            &format!("/applications/clicks?user.name={user}"),
            Some(body.to_string().as_bytes())
        )
        .code,
        202
    );
    dmd.wait_status("/applications/clicks/status", "CREATED");

    // Create rendered the files the plan listed.
    let workdir = root.path().join("data/applications/clicks/flink/stream");
    let rendered = std::fs::read_to_string(workdir.join("application.properties")).unwrap();
    assert!(
        rendered.starts_with("job=clicks-stream-job\nliteral=${not_a_property}\n"),
        "{rendered}"
    );

    assert_eq!(
        dmd.post(&format!("/applications/clicks/start?user.name={user}"))
            .code,
        202
    );
    dmd.wait_status("/applications/clicks/status", "STARTED");
    let id = "clicks/flink/stream";
    wait(
        &format!("the job to run ({:?})", supervisor_job(root.path(), id)),
        || supervisor_job(root.path(), id).is_some_and(|j| j["state"] == "running"),
    );
    wait("the stand-in flink to record its argv", || {
        workdir.join("argv.txt").exists()
    });
    let argv = std::fs::read_to_string(workdir.join("argv.txt")).unwrap();
    let argv: Vec<&str> = argv.lines().collect();
    assert_eq!(argv[..3], ["run", "-t", "local"]);
    assert!(argv.windows(2).any(|w| w == ["-c", "dm.Job"]), "{argv:?}");
    assert_eq!(argv[argv.len() - 2..], ["--rate", "7"], "the override wins");

    // The job's output, through dmd.
    let logs = dmd.get("/applications/clicks/logs");
    assert_eq!(logs.code, 200);
    assert_eq!(logs.body["flink-stream"]["attempt"], 1);
    assert!(
        logs.body["flink-stream"]["text"]
            .as_str()
            .unwrap()
            .contains("flink started in"),
        "{}",
        logs.body
    );

    let pid = supervisor_job(root.path(), id).unwrap()["attempts"][0]["pid"]
        .as_u64()
        .unwrap() as u32;
    assert_eq!(
        dmd.post(&format!("/applications/clicks/stop?user.name={user}"))
            .code,
        202
    );
    dmd.wait_status("/applications/clicks/status", "CREATED");
    assert_eq!(supervisor_job(root.path(), id).unwrap()["state"], "stopped");
    assert!(
        dm_supervisor::process::start_ticks(pid).is_none(),
        "the job's process is gone"
    );

    assert_eq!(
        dmd.delete(&format!("/applications/clicks?user.name={user}"))
            .code,
        202
    );
    dmd.wait_status("/applications/clicks/status", "NOTCREATED");
    assert!(
        supervisor_job(root.path(), id).is_none(),
        "the supervisor forgot the job"
    );
}
