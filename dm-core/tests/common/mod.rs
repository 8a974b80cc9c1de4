//! Runs the real `dmd` binary on 127.0.0.1 with a free port and a temporary data folder, and
//! talks to it over HTTP.
#![allow(dead_code)] // each test binary uses part of this

use dm_testkit::TarGz;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The longest one of dmd's operations takes before it ends, well or not: one call to the
/// supervisor (a stop with savepoint) and one to HDFS, each bounded by dmd. Waits for an
/// operation's outcome use it; they end early when the outcome is another one.
pub const WAIT: Duration = Duration::from_secs(
    dm_core::plugin_runtime::SUPERVISOR_CALL_TIMEOUT.as_secs()
        + dm_core::hdfs::CALL_TIMEOUT.as_secs(),
);

/// Bounds, in seconds, of what the slow suites wait for on the cluster, from the bounds dm
/// keeps itself.
pub mod bounds {
    use dm_clients::yarn::CALL_TIMEOUT;
    use dm_supervisor::decide::{MAX_BACKOFF_MS, SUBMISSION_DEADLINE, SUBMIT_TIMEOUT, YARN_WATCH};

    /// A submission ends within the supervisor's submit timeout, and an application still
    /// waiting for resources is killed at its submission deadline: by then a job runs or failed.
    pub const TO_RUNNING: u64 = SUBMIT_TIMEOUT.as_secs() + SUBMISSION_DEADLINE.as_secs();
    /// After an attempt ended, the next one starts within the longest back-off, then runs.
    pub const RESPAWN: u64 = MAX_BACKOFF_MS / 1000 + TO_RUNNING;
    /// The supervisor's view follows YARN within a watch round, plus the age of the listing its
    /// jobs share (another round), and two ResourceManager calls (the listing, and an
    /// application missing from it asked for alone).
    pub const NOTICE: u64 = 2 * (YARN_WATCH.as_secs() + CALL_TIMEOUT.as_secs());
}

/// The states an operation passes through; any other is where it ended.
const TRANSIENT: [&str; 7] = [
    "CREATING",
    "STARTING",
    "STOPPING",
    "DESTROYING",
    "UPGRADING",
    "DEPLOYING",
    "UNDEPLOYING",
];

pub struct Reply {
    pub code: u16,
    pub content_type: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Value,
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default, Clone)]
pub struct Options {
    /// `DM_TEST_PAUSE_AT`.
    pub pause_at: Option<String>,
    pub env: Vec<(String, String)>,
    /// Content of a TOML config file.
    pub config: Option<String>,
    pub test_components: Option<bool>,
}

pub struct Dmd {
    child: Child,
    pub port: u16,
    pub data: PathBuf,
    log: PathBuf,
}

/// What dmd logs once it is bound; with `--listen 127.0.0.1:0` it names the port it got, so
/// parallel tests never race for ports.
const LISTENING: &str = "dmd listening on 127.0.0.1:";

impl Dmd {
    pub fn start(root: &Path) -> Dmd {
        Dmd::start_with(root, &Options::default())
    }

    /// Starts dmd with data in `<root>/data` and waits until it answers.
    pub fn start_with(root: &Path, options: &Options) -> Dmd {
        let data = root.join("data");
        let _ = std::fs::remove_file(data.join("paused-at"));
        // One log per start, so a restart does not hide what the crashed run said.
        static STARTS: AtomicUsize = AtomicUsize::new(0);
        let log = root.join(format!(
            "dmd-{}.log",
            STARTS.fetch_add(1, Ordering::Relaxed)
        ));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dmd"));
        cmd.args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data);
        // Tests say what dmd runs with: nothing found beside the test binaries.
        cmd.env_remove("DM_TEST_PAUSE_AT")
            .env("DMD__LOGGING__LEVEL", "info")
            .env("DMD__DISCOVERY__ENABLED", "false");
        if options.test_components.unwrap_or(true) {
            cmd.env("DMD__LIFECYCLE__TEST_COMPONENTS", "true");
        }
        if let Some(point) = &options.pause_at {
            cmd.env("DM_TEST_PAUSE_AT", point);
        }
        for (k, v) in &options.env {
            cmd.env(k, v);
        }
        if let Some(text) = &options.config {
            let file = root.join("dm.toml");
            std::fs::write(&file, text).unwrap();
            cmd.arg("--config").arg(file);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().expect("start dmd");
        let mut dmd = Dmd {
            child,
            port: 0,
            data,
            log,
        };
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(status)) = dmd.child.try_wait() {
                panic!(
                    "dmd exited with {status} during start-up:\n{}",
                    dmd.log_text()
                );
            }
            let text = dmd.log_text();
            if let Some(at) = text.find(LISTENING) {
                let digits: String = text[at + LISTENING.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                dmd.port = digits.parse().expect("a port number");
                return dmd;
            }
            assert!(
                Instant::now() < deadline,
                "dmd did not start listening:\n{}",
                dmd.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(WAIT))
            .build()
            .into();
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let result = match body {
            Some(bytes) => agent.run(req.body(bytes).unwrap()),
            None => agent.run(req.body(()).unwrap()),
        };
        let mut response = match result {
            Ok(r) => r,
            Err(e) => panic!("{method} {path}: {e}\n{}", self.log_text()),
        };
        let code = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect::<Vec<_>>();
        let content_type = headers
            .iter()
            .find(|(k, _)| k == "content-type")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            code,
            content_type,
            headers,
            body,
            bytes,
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None, &[])
    }

    pub fn put(&self, path: &str, body: Option<&[u8]>) -> Reply {
        self.call("PUT", path, body, &[])
    }

    pub fn post(&self, path: &str) -> Reply {
        self.call("POST", path, None, &[])
    }

    pub fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, None, &[])
    }

    /// Polls `path` until its `status` is `want`; returns the body. Fails once the operation
    /// ended elsewhere (the status moved on to a state that is not an operation's), or after
    /// [`WAIT`], naming what it saw.
    pub fn wait_status(&self, path: &str, want: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        let mut seen: Vec<String> = Vec::new();
        loop {
            let reply = self.get(path);
            let status = reply.body["status"]
                .as_str()
                .unwrap_or("(none)")
                .to_string();
            if status == want {
                return reply.body;
            }
            if seen.last() != Some(&status) {
                seen.push(status.clone());
            }
            let ended_elsewhere = seen.len() > 1 && !TRANSIENT.contains(&status.as_str());
            assert!(
                !ended_elsewhere && Instant::now() < deadline,
                "waited for {path} to be {want}; saw {} (last answer {})\n{}",
                seen.join(" → "),
                reply.body,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until an operation stopped at the armed pause point.
    pub fn wait_paused(&self, point: &str) {
        let marker = self.data.join("paused-at");
        let deadline = Instant::now() + WAIT;
        while std::fs::read_to_string(&marker).ok().as_deref() != Some(point) {
            assert!(
                Instant::now() < deadline,
                "dmd never paused at {point}\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, and wait until dmd exits by itself.
    pub fn terminate(mut self) {
        // SAFETY: a signal to our own child process.
        assert_eq!(
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) },
            0
        );
        let deadline = Instant::now() + WAIT;
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "dmd did not stop on SIGTERM\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn upload(&self, id: &str, bytes: &[u8]) -> Reply {
        self.put(
            &format!("/repository/packages/{id}.tar.gz?user.name=alice"),
            Some(bytes),
        )
    }

    /// Uploads and deploys `id`, and waits until it is DEPLOYED.
    pub fn deployed(&self, id: &str, bytes: &[u8]) {
        assert_eq!(self.upload(id, bytes).code, 200);
        assert_eq!(
            self.put(&format!("/packages/{id}?user.name=alice"), None)
                .code,
            202
        );
        self.wait_status(&format!("/packages/{id}/status"), "DEPLOYED");
    }

    /// Asks to create `app` from `package` as `user`; the reply.
    pub fn create_as(&self, app: &str, package: &str, user: &str) -> Reply {
        let body = json!({"package": package}).to_string();
        self.put(
            &format!("/applications/{app}?user.name={user}"),
            Some(body.as_bytes()),
        )
    }

    /// Creates and starts `app` from the deployed `package` as `user`, waiting for each.
    pub fn started(&self, app: &str, package: &str, user: &str) {
        let reply = self.create_as(app, package, user);
        assert_eq!(reply.code, 202, "{}", reply.body);
        self.wait_status(&format!("/applications/{app}/status"), "CREATED");
        let start = format!("/applications/{app}/start?user.name={user}");
        assert_eq!(self.post(&start).code, 202);
        self.wait_status(&format!("/applications/{app}/status"), "STARTED");
    }

    /// Creates `app` from `id` with `overrides`, as alice, and waits until it is CREATED.
    pub fn created(&self, app: &str, id: &str, overrides: Value) {
        let mut body = overrides;
        body["package"] = json!(id);
        let reply = self.put(
            &format!("/applications/{app}?user.name=alice"),
            Some(body.to_string().as_bytes()),
        );
        assert_eq!(reply.code, 202, "{}", reply.body);
        self.wait_status(&format!("/applications/{app}/status"), "CREATED");
    }
}

impl Drop for Dmd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A package of `test` components, each `(name, properties.json)`.
pub fn test_package(id: &str, components: &[(&str, &str)]) -> Vec<u8> {
    let mut tar = TarGz::new()
        .dir(format!("{id}/"))
        .dir(format!("{id}/test/"));
    for (name, properties) in components {
        tar = tar
            .dir(format!("{id}/test/{name}/"))
            .file(format!("{id}/test/{name}/properties.json"), properties)
            .file(format!("{id}/test/{name}/run.sh"), "echo run\n");
    }
    tar.bytes()
}

/// Two components, `c1` and `c2`.
pub fn two_components(id: &str) -> Vec<u8> {
    test_package(id, &[("c1", r#"{"threads": "2"}"#), ("c2", "{}")])
}

/// The recorded state of a `test` component (`created`, `started`, `stopped`), or None.
pub fn component_state(dmd_data: &Path, app: &str, component: &str) -> Option<String> {
    std::fs::read_to_string(
        dmd_data
            .join("applications")
            .join(app)
            .join("test")
            .join(component)
            .join(".dm-test-state"),
    )
    .ok()
}

/// The pids of the dm-supervisor processes serving `dir` (dmd starts one detached, so it
/// outlives dmd and must be cleaned up, or killed on purpose, by the test).
pub fn supervisor_pids(dir: &Path) -> Vec<i32> {
    let dir = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            args.first().is_some_and(|a| a.ends_with("dm-supervisor")) && args.contains(&dir)
        })
        .collect()
}

/// SIGKILLs the supervisor serving `dir` when dropped.
pub struct SupervisorGuard(pub PathBuf);

impl Drop for SupervisorGuard {
    fn drop(&mut self) {
        for pid in supervisor_pids(&self.0) {
            // SAFETY: a signal to a process this test started (through dmd).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// The dm-supervisor binary; dmd finds it through `[supervisor] binary`.
pub fn supervisor_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| workspace_binary("dm-supervisor", "dm-supervisor"))
        .clone()
}

/// The dmctl binary (its own crate, `dmctl/`).
pub fn dmctl_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| workspace_binary("dmctl", "dmctl"))
        .clone()
}

/// A binary of another workspace package, built (or found up to date) by cargo once per test
/// binary, with these tests' profile: cargo builds only dm-core's own binaries for its tests.
/// It lands beside dmd.
fn workspace_binary(package: &str, bin: &str) -> PathBuf {
    let folder = Path::new(env!("CARGO_BIN_EXE_dmd")).parent().unwrap();
    let profile = profile_of(folder);
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--profile",
            &profile,
            "-p",
            package,
            "--bin",
            bin,
        ])
        .status()
        .unwrap_or_else(|e| panic!("cargo build -p {package}: {e}"));
    assert!(
        status.success(),
        "cargo build --profile {profile} -p {package} --bin {bin}: {status}"
    );
    let binary = folder.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "{} was not built (cargo build --profile {profile} -p {package})",
        binary.display()
    );
    binary
}

/// The cargo profile whose output folder is `folder` (`target/debug` is `dev`'s).
fn profile_of(folder: &Path) -> String {
    match folder.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".into(),
        Some(name) => name.into(),
    }
}

// ----- the slow suites' helpers (the loopback cluster of `tests/env/up`) -----

/// The loopback cluster's endpoints (`target/testenv/env.json`, written by `tests/env/up`).
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

/// A string of env.json.
pub fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("env.json has no {key}"))
        .to_string()
}

/// The OS user running the tests: applications run as this user on the cluster.
pub fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Polls `check` every second until it gives a value, failing after `seconds`.
pub fn wait_for<T>(what: &str, seconds: u64, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {seconds} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// dmd's configuration for running jobs on the loopback cluster: the Flink and Spark plugins
/// (copied into `<root>/plugins`), jobs on `target` with Flink `version`, the supervisor, HDFS.
pub fn jobs_config(root: &Path, env: &Value, target: &str, version: &str) -> String {
    jobs_config_with_rm(root, env, target, version, &s(env, "rm_url"))
}

/// [`jobs_config`] with the ResourceManager reached at `rm_url`, and the NameNode's web address
/// and Oozie: every endpoint of the env, once.
pub fn jobs_config_with_rm(
    root: &Path,
    env: &Value,
    target: &str,
    version: &str,
    rm_url: &str,
) -> String {
    let plugins = root.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    for lib in ["dm_plugin_flink", "dm_plugin_spark_streaming"] {
        std::fs::copy(
            dm_testkit::built_cdylib(lib),
            plugins.join(format!("lib{lib}.so")),
        )
        .unwrap();
    }
    let flink = &env["flink"][version];
    let oozie = env["oozie_url"]
        .as_str()
        .map(|url| format!("\n[oozie]\nurl = {url:?}\n"))
        .unwrap_or_default();
    format!(
        r#"
[plugins]
dir = "{plugins}"

[jobs]
target = "{target}"
savepoint_dir = "{savepoints}"

[jobs.env]
JAVA_HOME = "{java}"
HADOOP_CONF_DIR = "{hadoop_conf}"
HADOOP_CLASSPATH = "{hadoop_cp}"
FLINK_CONF_DIR = "{flink_conf}"
SPARK_CONF_DIR = "{spark_conf}"
SPARK_LOCAL_IP = "127.0.0.1"

[jobs.engines]
flink_homes = {{ "{version}" = "{flink_home}" }}
default_flink_version = "{version}"
spark_home = "{spark_home}"

[supervisor]
binary = "{supervisor}"

[yarn]
rm_url = "{rm}"

[hdfs]
namenode = "{nn}"
namenode_http = "{nn_http}"
{oozie}"#,
        plugins = plugins.display(),
        savepoints = s(flink, "savepoint_dir"),
        java = s(env, "java_home"),
        hadoop_conf = s(env, "hadoop_conf_dir"),
        hadoop_cp = s(env, "hadoop_classpath"),
        flink_conf = s(flink, "conf_dir"),
        spark_conf = s(env, "spark_conf_dir"),
        flink_home = s(flink, "home"),
        spark_home = s(env, "spark_home"),
        supervisor = supervisor_binary().display(),
        rm = rm_url,
        nn = s(env, "namenode_url"),
        nn_http = s(env, "namenode_http_url"),
    )
}

/// A package `id` with one Flink component `job`: `jar` (a path on this machine) as `jobs.jar`,
/// its main class `jobs.<class_key>` of env.json, and `properties`.
pub fn flink_package(
    env: &Value,
    id: &str,
    class_key: &str,
    properties: Value,
    jar: &str,
) -> Vec<u8> {
    let mut props = properties;
    props["main_jar"] = json!("jobs.jar");
    props["main_class"] = json!(s(&env["jobs"], class_key));
    TarGz::new()
        .file(format!("{id}/flink/job/application.properties"), "")
        .file(format!("{id}/flink/job/properties.json"), props.to_string())
        .file(
            format!("{id}/flink/job/jobs.jar"),
            std::fs::read(jar).unwrap(),
        )
        .bytes()
}
