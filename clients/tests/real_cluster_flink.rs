//! Slow suite, against the real loopback cluster (`tests/env/up`): dm-clients' Flink client on
//! a streaming job on YARN, for each installed Flink version. The JobManager is found from the
//! RM's report (`amRPCAddress`); a savepoint is triggered there, polled to COMPLETED, found on
//! HDFS, disposed of and found gone; a POST through the RM's proxy is refused; the job is
//! stopped with a savepoint and its application ends.
//!
//! Run with `cargo test -p dm-clients --features real-cluster --test real_cluster_flink`.

use dm_clients::flink::{DisposalStatus, Flink, JobProgress, SavepointFormat, SavepointStatus};
use dm_clients::http::join;
use dm_clients::yarn::{ResourceManager, YarnApp, YarnState};
use dm_clients::HttpClient;
use dm_testkit::cluster::{env_json, s};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long `flink run -t yarn-application` may take to have YARN accept and start the
/// JobManager (the client blocks until the AM runs): the CLI's own start plus a container.
const SUBMIT_BOUND: Duration = Duration::from_secs(180);
/// From a running JobManager to every task running (TaskManager containers to start).
const TASKS_BOUND: Duration = Duration::from_secs(120);
/// A savepoint or disposal of this small job; Flink's own checkpoint timeout is 10 min, but
/// the job's state is a few bytes on a local HDFS.
const SAVEPOINT_BOUND: Duration = Duration::from_secs(60);
/// From a completed stop to the application FINISHED on YARN (the AM deregisters).
const END_BOUND: Duration = Duration::from_secs(60);

/// Polls `check` every 500 ms until it gives a value or `bound` passes; the panic names what
/// was awaited and the last thing seen.
fn wait<T>(what: &str, bound: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + bound;
    loop {
        let seen = match check() {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        assert!(
            Instant::now() < deadline,
            "waited {bound:?} for {what}; last seen: {seen}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Kills the application when the test ends early, so a failure leaves no job running.
struct KillOnDrop<'a> {
    rm: &'a ResourceManager,
    tag: String,
}

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        for app in self.rm.apps_tagged(&self.tag).unwrap_or_default() {
            if !app.is_final() {
                let _ = self.rm.kill(&app.id);
            }
        }
    }
}

/// Submits the env's streaming job to YARN in application mode with `tag` (argv only).
fn submit(env: &Value, version: &str, name: &str, tag: &str) {
    let flink = &env["flink"][version];
    let bin = format!("{}/bin/flink", s(flink, "home"));
    let mode: &[&str] = if version.starts_with("1.") {
        &["run-application", "-t", "yarn-application"]
    } else {
        &["run", "-t", "yarn-application"]
    };
    let status = Command::new(&bin)
        .args(mode)
        .arg(format!("-Dyarn.application.name={name}"))
        .arg(format!("-Dyarn.tags={tag}"))
        .args(["-c", &s(&env["jobs"], "flink_streaming_class")])
        .arg(s(flink, "jobs_jar"))
        .args(["--name", name, "--rate", "20"])
        .env("JAVA_HOME", s(env, "java_home"))
        .env("HADOOP_CONF_DIR", s(env, "hadoop_conf_dir"))
        .env("HADOOP_CLASSPATH", s(env, "hadoop_classpath"))
        .env("FLINK_CONF_DIR", s(flink, "conf_dir"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    assert!(status.success(), "{bin} run for {name} failed: {status}");
}

/// Whether `path` (an `hdfs://host:port/…` URL) exists, asked of the NameNode's WebHDFS.
fn on_hdfs(http: &HttpClient, namenode_http: &str, path: &str) -> bool {
    let (_, rest) = path.split_once("://").expect("an hdfs:// URL");
    let (_, file) = rest.split_once('/').expect("a path");
    let url = join(
        namenode_http,
        &format!("webhdfs/v1/{file}?op=GETFILESTATUS"),
    );
    match http.get_bytes(&url) {
        Ok(_) => true,
        Err(e) if e.status() == Some(404) => false,
        Err(e) => panic!("cannot ask HDFS about {path}: {e}"),
    }
}

fn savepoint_done(
    flink: &Flink,
    jm: &str,
    job: &str,
    trigger: &dm_clients::flink::TriggerId,
) -> Result<String, String> {
    match flink.savepoint_status(jm, job, trigger) {
        Ok(SavepointStatus::Completed { location }) => Ok(location),
        Ok(SavepointStatus::Failed { cause }) => panic!("the savepoint of {job} failed: {cause}"),
        Ok(SavepointStatus::InProgress) => Err("IN_PROGRESS".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn savepoint_cycle(version: &str) {
    let env = env_json();
    let rm = ResourceManager::new(&s(&env, "rm_url"));
    let http = HttpClient::builder().build();
    let flink = Flink::new(http.clone());
    let namenode_http = s(&env, "namenode_http_url");
    let name = format!("clients{}-{}", std::process::id(), version.replace('.', ""));
    let tag = format!("dm-test-{name}");
    let _cleanup = KillOnDrop {
        rm: &rm,
        tag: tag.clone(),
    };

    submit(&env, version, &name, &tag);
    // The RM's report names the JobManager's own REST address.
    let app: YarnApp = wait(
        "the application RUNNING with an AM address",
        SUBMIT_BOUND,
        || {
            let apps = rm.apps_tagged(&tag).map_err(|e| e.to_string())?;
            match apps.into_iter().next() {
                Some(app) if app.state == YarnState::Running && app.am_url().is_some() => Ok(app),
                Some(app) => Err(format!(
                    "{} {} amRPCAddress {:?}",
                    app.id, app.state, app.am_rpc_address
                )),
                None => Err(format!("no application tagged {tag}")),
            }
        },
    );
    let jm = app.am_url().unwrap();
    let tracking = app.tracking_url.clone().expect("a tracking URL");
    assert!(
        tracking.contains("/proxy/"),
        "reads go through the RM proxy: {tracking}"
    );
    let job = wait(
        "every task RUNNING (read through the proxy)",
        TASKS_BOUND,
        || match flink.progress(&tracking) {
            JobProgress::Running(job) if job.all_tasks_running => Ok(job.id),
            other => Err(format!("{other:?}")),
        },
    );

    // YARN's proxy refuses a write: that is why writes go to the JobManager.
    let refused = flink
        .trigger_savepoint(&tracking, &job, None, SavepointFormat::Canonical)
        .expect_err("a POST through the RM proxy");
    assert_eq!(refused.status(), Some(405), "{refused}");
    assert!(!refused.retriable(), "{refused}");

    let dir = format!(
        "{}/clients-test/{name}",
        s(&env["flink"][version], "savepoint_dir")
    );
    let trigger = flink
        .trigger_savepoint(&jm, &job, Some(&dir), SavepointFormat::Canonical)
        .unwrap_or_else(|e| panic!("trigger a savepoint of {job} on {jm}: {e}"));
    let location = wait("the savepoint COMPLETED", SAVEPOINT_BOUND, || {
        savepoint_done(&flink, &jm, &job, &trigger)
    });
    assert!(location.starts_with(&dir), "{location} not under {dir}");
    assert!(
        on_hdfs(&http, &namenode_http, &location),
        "{location} is not on HDFS"
    );
    let checkpoints = flink.checkpoints(&tracking, &job).unwrap();
    assert_eq!(
        checkpoints
            .latest
            .savepoint
            .and_then(|s| s.external_path)
            .as_deref(),
        Some(location.as_str()),
        "the job's checkpoints list the savepoint"
    );

    let disposal = flink.dispose_savepoint(&jm, &location).unwrap();
    wait("the disposal COMPLETED", SAVEPOINT_BOUND, || {
        match flink.disposal_status(&jm, &disposal) {
            Ok(DisposalStatus::Completed) => Ok(()),
            Ok(DisposalStatus::Failed { cause }) => {
                panic!("disposing of {location} failed: {cause}")
            }
            Ok(DisposalStatus::InProgress) => Err("IN_PROGRESS".into()),
            Err(e) => Err(e.to_string()),
        }
    });
    assert!(
        !on_hdfs(&http, &namenode_http, &location),
        "{location} is still on HDFS after its disposal"
    );

    let stop = flink
        .stop_with_savepoint(&jm, &job, Some(&dir), false, SavepointFormat::Canonical)
        .unwrap_or_else(|e| panic!("stop {job} on {jm}: {e}"));
    let last = wait("the stop's savepoint COMPLETED", SAVEPOINT_BOUND, || {
        savepoint_done(&flink, &jm, &job, &stop)
    });
    assert!(
        on_hdfs(&http, &namenode_http, &last),
        "{last} is not on HDFS"
    );
    let ended = wait(
        "the application to end after the stop",
        END_BOUND,
        || match rm.find(&app.id).map_err(|e| e.to_string())? {
            Some(app) if app.is_final() => Ok(app),
            Some(app) => Err(format!("{} {}", app.state, app.final_status)),
            None => Err("unknown to the RM".into()),
        },
    );
    assert_eq!(ended.state, YarnState::Finished, "{ended:?}");
}

#[test]
fn savepoints_of_every_installed_flink_go_through_its_jobmanager() {
    let env = env_json();
    let versions: Vec<String> = env["flink"]
        .as_object()
        .expect("env.json has flink")
        .keys()
        .cloned()
        .collect();
    assert!(!versions.is_empty(), "env.json lists no Flink version");
    for version in versions {
        savepoint_cycle(&version);
    }
}
