//! Shared by the supervisor's suites: a dm-supervisor process to drive and, for the slow
//! real-cluster suites, the loopback cluster's endpoints (`target/testenv/env.json`).
#![allow(dead_code)]

use dm_clients::yarn::ResourceManager;
use dm_supervisor::client::Client;
use dm_supervisor::protocol::{JobReport, JobState, Request, Response};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

pub fn env_json() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/testenv/env.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the test env is not up ({}: {e}); run tests/env/up first",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

pub fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("env.json has no {key}"))
        .to_string()
}

pub struct Supervisor {
    dir: PathBuf,
    process: Child,
}

impl Supervisor {
    /// Starts `dm-supervisor --dir dir` (with a ResourceManager for YARN jobs) and waits until
    /// it answers.
    pub fn start(dir: &Path, rm: Option<&str>) -> Supervisor {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dm-supervisor"));
        command.args(["--dir", dir.to_str().unwrap()]);
        if let Some(rm) = rm {
            command.args(["--yarn-rm", rm]);
        }
        let process = command.stderr(std::process::Stdio::null()).spawn().unwrap();
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

    pub fn client(&self) -> Client {
        Client::new(&self.dir.join("supervisor.sock"))
    }

    pub fn call(&self, request: Request) -> Response {
        self.client()
            .call(&request, Duration::from_secs(300))
            .unwrap()
    }

    pub fn status(&self, id: &str) -> JobReport {
        match self.call(Request::Status { id: id.into() }) {
            Response::Job { job } => job,
            other => panic!("{other:?}"),
        }
    }

    pub fn wait_for(
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
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn crash(mut self) {
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

pub fn live_apps(rm: &ResourceManager, tag: &str) -> Vec<String> {
    rm.apps_tagged(tag)
        .unwrap()
        .into_iter()
        .filter(|a| !a.is_final())
        .map(|a| a.id)
        .collect()
}

pub fn running_app(report: &JobReport) -> Option<String> {
    (report.state == JobState::Running)
        .then(|| report.attempts.last()?.yarn_application_id.clone())
        .flatten()
}
