//! Slow suite, against the real loopback cluster (`tests/env/up`): the supervisor keeping a
//! Flink streaming job on YARN alive, as planned by the real Flink plugin. It resubmits a job
//! killed from outside, never runs two copies, adopts the job after its own `kill -9`, and
//! stops it with a savepoint that it records.
//!
//! Run with `cargo test -p dm-supervisor --features real-cluster --test real_cluster_yarn`.

use dm_plugin_api::{ComponentFiles, ComponentPlugin, Engines, PlanRequest, Target};
use dm_plugin_flink::FlinkPlugin;
use dm_supervisor::client::Client;
use dm_supervisor::protocol::{JobReport, JobSpec, JobState, Outcome, Request, Response};
use dm_supervisor::yarn::ResourceManager;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

fn env_json() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/testenv/env.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the test env is not up ({}: {e}); run tests/env/up first",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("env.json has no {key}"))
        .to_string()
}

struct Supervisor {
    dir: PathBuf,
    process: Child,
}

impl Supervisor {
    fn start(dir: &Path, rm: &str) -> Supervisor {
        let process = std::process::Command::new(env!("CARGO_BIN_EXE_dm-supervisor"))
            .args(["--dir", dir.to_str().unwrap(), "--yarn-rm", rm])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let supervisor = Supervisor {
            dir: dir.to_path_buf(),
            process,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !supervisor.client().answers() {
            assert!(Instant::now() < deadline, "supervisor did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        supervisor
    }

    fn client(&self) -> Client {
        Client::new(&self.dir.join("supervisor.sock"))
    }

    fn call(&self, request: Request) -> Response {
        self.client()
            .call(&request, Duration::from_secs(300))
            .unwrap()
    }

    fn status(&self, id: &str) -> JobReport {
        match self.call(Request::Status { id: id.into() }) {
            Response::Job { job } => job,
            other => panic!("{other:?}"),
        }
    }

    fn wait_for(
        &self,
        id: &str,
        what: &str,
        seconds: u64,
        check: impl Fn(&JobReport) -> bool,
    ) -> JobReport {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            let report = self.status(id);
            if check(&report) {
                return report;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {report:#?}"
            );
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    fn crash(mut self) {
        self.process.kill().unwrap();
        self.process.wait().unwrap();
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn live_apps(rm: &ResourceManager, tag: &str) -> Vec<String> {
    rm.apps_tagged(tag)
        .unwrap()
        .into_iter()
        .filter(|a| !a.is_final())
        .map(|a| a.id)
        .collect()
}

fn running_app(report: &JobReport) -> Option<String> {
    (report.state == JobState::Running)
        .then(|| report.attempts.last()?.yarn_application_id.clone())
        .flatten()
}

#[test]
fn flink_streaming_job_on_yarn_is_kept_alive_adopted_and_stopped_with_a_savepoint() {
    let env = env_json();
    let rm_url = s(&env, "rm_url");
    let rm = ResourceManager::new(&rm_url);
    let version = s(&env, "flink_default_version");
    let flink = &env["flink"][&version];
    let work = tempfile::tempdir().unwrap();
    let workdir = work.path().join("workdir");
    std::fs::create_dir_all(&workdir).unwrap();
    std::fs::copy(s(&env["jobs"], "flink_jar"), workdir.join("jobs.jar")).unwrap();
    std::fs::write(workdir.join("application.properties"), "").unwrap();
    let app = format!("sup{}", std::process::id());

    let request = PlanRequest {
        application: app.clone(),
        user: "dm".into(),
        component: ComponentFiles {
            component_type: "flink".into(),
            name: "stream".into(),
            files: vec!["application.properties".into(), "jobs.jar".into()],
            properties: Default::default(),
        },
        properties: json!({
            "component_main_jar": "jobs.jar",
            "component_main_class": s(&env["jobs"], "flink_streaming_class"),
            "component_application_args": format!("--name {app} --rate 20"),
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
    };
    let plan = FlinkPlugin.plan(&request).unwrap();
    let component_tag = plan.job.yarn.as_ref().unwrap().tags.last().unwrap().clone();
    let spec = JobSpec {
        id: format!("{app}/stream"),
        job: plan.job,
        workdir: workdir.clone(),
        user: None,
        savepoint_dir: Some(format!("{}/{app}", s(&env, "flink_savepoint_dir"))),
        env: vec![
            ("JAVA_HOME".into(), s(&env, "java_home")),
            ("HADOOP_CONF_DIR".into(), s(&env, "hadoop_conf_dir")),
            ("HADOOP_CLASSPATH".into(), s(&env, "hadoop_classpath")),
            ("FLINK_CONF_DIR".into(), s(flink, "conf_dir")),
        ],
    };
    let id = spec.id.clone();
    let state_dir = work.path().join("supervisor");
    let sup = Supervisor::start(&state_dir, &rm_url);

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
    let sup = Supervisor::start(&state_dir, &rm_url);
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
    let stopped = match sup.call(Request::Stop { id: id.clone() }) {
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
