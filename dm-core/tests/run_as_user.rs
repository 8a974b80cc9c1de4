//! Jobs run as their application's user. As root (CI runs as root), the test makes a throwaway
//! user, creates an application as that user with the real Flink plugin, starts it (the job
//! is a stand-in `flink` script, run locally by the real supervisor, as in `plugins.rs`) and
//! reads the job process's uid from /proc; a user the host does not know is refused at create.

mod common;

use common::{supervisor_binary, Dmd, Options, SupervisorGuard};
use dm_testkit::{built_cdylib, TarGz};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A user made for this test, removed when dropped.
struct ThrowawayUser(String);

impl ThrowawayUser {
    fn create() -> ThrowawayUser {
        let name = format!("dmjob{}", std::process::id());
        let out = Command::new("useradd")
            .args(["--no-create-home", "--shell", "/bin/sh", &name])
            .output()
            .expect("run useradd");
        assert!(
            out.status.success(),
            "useradd {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ThrowawayUser(name)
    }

    fn uid(&self) -> u32 {
        let out = Command::new("id").args(["-u", &self.0]).output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for ThrowawayUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.0).status();
    }
}

fn start(root: &Path) -> (Dmd, SupervisorGuard) {
    // The job's user reads the stand-in engine and enters its working folder under dmd's data.
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let plugins = root.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(
        built_cdylib("dm_plugin_flink"),
        plugins.join("libdm_plugin_flink.so"),
    )
    .unwrap();
    let home = root.join("flink-home");
    std::fs::create_dir_all(home.join("bin")).unwrap();
    let script = home.join("bin/flink");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"flink started as $(id -un)\"\nexec sleep 300\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = format!(
        "[plugins]\ndir = {plugins:?}\n[jobs]\ntarget = \"local\"\n[jobs.engines]\n\
         flink_homes = {{ \"2.3.0\" = {home:?} }}\n[supervisor]\nbinary = {:?}\n",
        supervisor_binary()
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

fn package(id: &str) -> Vec<u8> {
    TarGz::new()
        .file(format!("{id}/flink/stream/application.properties"), "")
        .file(
            format!("{id}/flink/stream/properties.json"),
            r#"{"main_jar": "job.jar", "main_class": "dm.Job"}"#,
        )
        .file(format!("{id}/flink/stream/job.jar"), "jar bytes")
        .bytes()
}

fn supervisor_job(root: &Path, id: &str) -> Option<Value> {
    let state = std::fs::read(root.join("data/supervisor/state.json")).ok()?;
    let state: Value = serde_json::from_slice(&state).ok()?;
    let job = state["jobs"][id].clone();
    (!job.is_null()).then_some(job)
}

/// The real uid of process `pid`, from /proc.
fn uid_of(pid: u64) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn jobs_run_as_the_applications_user() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root: it creates a user with useradd and checks that dm's jobs run as \
         that user (CI runs as root)"
    );
    let user = ThrowawayUser::create();
    let root = tempfile::tempdir().unwrap();
    let (dmd, _supervisor) = start(root.path());
    dmd.deployed("job-1.0.0", &package("job-1.0.0"));

    // A user the host does not know is refused at create, by name; nothing is made.
    let body = json!({"package": "job-1.0.0"}).to_string();
    let reply = dmd.put(
        "/applications/ghost?user.name=nosuchuser-dm",
        Some(body.as_bytes()),
    );
    assert_eq!(reply.code, 400, "{}", reply.body);
    assert!(
        reply.body["information"]
            .as_str()
            .unwrap()
            .contains("user \"nosuchuser-dm\" does not exist on this host"),
        "{}",
        reply.body
    );
    assert_eq!(
        dmd.get("/applications/ghost/status").body["status"],
        "NOTCREATED"
    );

    let reply = dmd.put(
        &format!("/applications/mine?user.name={}", user.0),
        Some(body.as_bytes()),
    );
    assert_eq!(reply.code, 202, "{}", reply.body);
    dmd.wait_status("/applications/mine/status", "CREATED");
    let start = dmd.post(&format!("/applications/mine/start?user.name={}", user.0));
    assert_eq!(start.code, 202, "{}", start.body);
    dmd.wait_status("/applications/mine/status", "STARTED");

    // The supervisor spawns the job within its call timeout.
    let id = "mine/flink/stream";
    let deadline = Instant::now() + common::WAIT;
    let pid = loop {
        let job = supervisor_job(root.path(), id);
        let pid = job
            .as_ref()
            .filter(|j| j["state"] == "running")
            .and_then(|j| j["attempts"].as_array()?.last()?["pid"].as_u64());
        if let Some(pid) = pid {
            break pid;
        }
        assert!(
            Instant::now() < deadline,
            "waited {:?} for the job to run; the supervisor has {job:?}",
            common::WAIT
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        uid_of(pid),
        Some(user.uid()),
        "the job (pid {pid}) runs as {}",
        user.0
    );
    // What it printed, through dmd, says so too.
    let deadline = Instant::now() + common::WAIT;
    loop {
        let logs = dmd.get("/applications/mine/logs");
        let text = logs.body["flink-stream"]["text"]
            .as_str()
            .unwrap_or_default();
        if text.contains("flink started as") {
            assert!(
                text.contains(&format!("flink started as {}", user.0)),
                "{text}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "waited {:?} for the job's log; it is {}",
            common::WAIT,
            logs.body
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let stop = dmd.post(&format!("/applications/mine/stop?user.name={}", user.0));
    assert_eq!(stop.code, 202);
    dmd.wait_status("/applications/mine/status", "CREATED");
    assert_eq!(uid_of(pid), None, "the job's process is gone");
}
