//! The slow suite: real HDFS, YARN, Flink and Spark on loopback, brought up by `tests/env/up`.
//!
//! Run: `tests/env/up && cargo test -p dm-testkit --features real-cluster --test real_cluster`
//! (or just `tests/run`, which does both and brings the env down). Every test reads
//! `target/testenv/env.json` and FAILS, not skips, when the env is not up.
//!
//! Commands are argv vectors (std::process::Command), never shell strings. Each wait is bounded.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dm_testkit::cluster::{flink_dist_on_hdfs, hdfs_put};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// The env: target/testenv/env.json, written by tests/env/up.

struct Env {
    raw: Value,
}

impl Env {
    fn s(&self, key: &str) -> String {
        self.raw[key]
            .as_str()
            .unwrap_or_else(|| panic!("env.json has no string {key:?}"))
            .to_string()
    }
    fn job(&self, key: &str) -> String {
        self.raw["jobs"][key]
            .as_str()
            .unwrap_or_else(|| panic!("env.json has no jobs.{key}"))
            .to_string()
    }
    fn flink(&self, key: &str) -> String {
        let v = self.s("flink_default_version");
        self.raw["flink"][&v][key]
            .as_str()
            .unwrap_or_else(|| panic!("env.json has no flink.{v}.{key}"))
            .to_string()
    }
    /// The environment every Hadoop client (Flink CLI, spark-submit) needs.
    fn client_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("JAVA_HOME", self.s("java_home")),
            ("HADOOP_CONF_DIR", self.s("hadoop_conf_dir")),
            ("HADOOP_CLASSPATH", self.s("hadoop_classpath")),
            ("FLINK_CONF_DIR", self.flink("conf_dir")),
            ("SPARK_CONF_DIR", self.s("spark_conf_dir")),
            ("SPARK_LOCAL_IP", "127.0.0.1".to_string()),
        ]
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Loads env.json and checks the RM answers; panics with the fix when either fails.
fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let path = std::env::var_os("DM_TESTENV_JSON")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target/testenv/env.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("the test env is not up ({}: {e}); run tests/env/up first", path.display())
        });
        let env = Env { raw: serde_json::from_str(&text).expect("env.json is not JSON") };
        let info = format!("{}/ws/v1/cluster/info", env.s("rm_url"));
        match get_json(&info) {
            Ok((200, _)) => {}
            other => panic!("env.json exists but the ResourceManager does not answer at {info} ({other:?}); run tests/env/up"),
        }
        env
    })
}

fn unique(prefix: &str) -> String {
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{}", std::process::id(), ns % 1_000_000_000)
}

// ---------------------------------------------------------------------------------------------
// HTTP (blocking, short timeouts; HTTP error statuses are returned, not raised).

fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(15)))
            .http_status_as_error(false)
            .build()
            .into()
    })
}

fn get_json(url: &str) -> Result<(u16, Value), String> {
    let mut resp = agent()
        .get(url)
        .header("Accept", "application/json")
        .call()
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

/// Polls `probe` every second until it returns Some, or panics after `secs` with `what`.
fn wait_for<T>(what: &str, secs: u64, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            eprintln!(
                "[real_cluster] {what}: after {:.1} s",
                start.elapsed().as_secs_f64()
            );
            return v;
        }
        if start.elapsed() > Duration::from_secs(secs) {
            panic!("timed out after {secs} s waiting for: {what}");
        }
        sleep(Duration::from_secs(1));
    }
}

// ---------------------------------------------------------------------------------------------
// YARN REST

fn yarn_app(rm: &str, app_id: &str) -> Option<Value> {
    match get_json(&format!("{rm}/ws/v1/cluster/apps/{app_id}")) {
        Ok((200, v)) => Some(v["app"].clone()),
        _ => None,
    }
}

/// The id of the one YARN application with this name, once the RM knows it.
fn yarn_app_id_by_name(rm: &str, name: &str) -> Option<String> {
    let (_, v) = get_json(&format!("{rm}/ws/v1/cluster/apps")).ok()?;
    v["apps"]["app"]
        .as_array()?
        .iter()
        .find(|a| a["name"] == name)
        .and_then(|a| a["id"].as_str().map(str::to_string))
}

fn wait_yarn_state(rm: &str, app_id: &str, want: &[&str], secs: u64) -> Value {
    let mut last = String::new();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for(&format!("YARN app {app_id} in {want:?}"), secs, || {
            let app = yarn_app(rm, app_id)?;
            let state = app["state"].as_str().unwrap_or("").to_string();
            last = format!("{state} {}", app["diagnostics"].as_str().unwrap_or(""));
            let ended = ["FAILED", "KILLED", "FINISHED"].contains(&state.as_str());
            assert!(
                !ended || want.contains(&state.as_str()),
                "YARN app {app_id} ended as {last} while waiting for {want:?}"
            );
            want.contains(&state.as_str()).then_some(app)
        })
    }));
    r.unwrap_or_else(|e| {
        eprintln!("[real_cluster] last YARN state of {app_id}: {last}");
        std::panic::resume_unwind(e)
    })
}

fn kill_yarn_app(rm: &str, app_id: &str) {
    let resp = agent()
        .put(&format!("{rm}/ws/v1/cluster/apps/{app_id}/state"))
        .send_json(serde_json::json!({"state": "KILLED"}))
        .expect("PUT app state");
    let status = resp.status().as_u16();
    assert!(
        status == 200 || status == 202,
        "kill {app_id}: HTTP {status}"
    );
}

/// Kills the app when a test panics half-way, so that a failed run leaves YARN clean.
struct KillOnDrop {
    rm: String,
    app_id: Option<String>,
}
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let (true, Some(id)) = (std::thread::panicking(), &self.app_id) {
            let _ = agent()
                .put(&format!("{}/ws/v1/cluster/apps/{id}/state", self.rm))
                .send_json(serde_json::json!({"state": "KILLED"}));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Processes

fn run(program: &str, args: &[&str], env: &Env) -> Output {
    Command::new(program)
        .args(args)
        .envs(env.client_env())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn show(out: &Output) -> String {
    let tail = |b: &[u8]| {
        let s = String::from_utf8_lossy(b);
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };
    format!(
        "exit {:?}\n--- stdout (tail)\n{}\n--- stderr (tail)\n{}",
        out.status.code(),
        tail(&out.stdout),
        tail(&out.stderr)
    )
}

// ---------------------------------------------------------------------------------------------
// 1. HDFS with hdfs-native

#[test]
fn hdfs_write_list_read_delete() {
    let env = env();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = hdfs_native::ClientBuilder::new()
            .with_url(env.s("namenode_url"))
            // Without this a dead NameNode makes every call retry for ~3 minutes (runtimes.md §4).
            .with_config([("dfs.client.failover.max.attempts", "1")])
            .build()
            .expect("hdfs-native client");
        let dir = format!("/tmp/{}", unique("dm-testkit"));
        let file = format!("{dir}/hello.txt");
        let payload = b"hello from dm's real-cluster suite\n".repeat(1000);

        client.mkdirs(&dir, 0o755, true).await.expect("mkdirs");
        let mut w = client
            .create(&file, hdfs_native::WriteOptions::default())
            .await
            .expect("create");
        w.write_bytes(bytes::Bytes::from(payload.clone()))
            .await
            .expect("write");
        w.close().await.expect("close");

        let listing = client.list_status(&dir, false).await.expect("list_status");
        let names: Vec<&str> = listing.iter().map(|s| s.path.as_str()).collect();
        assert!(
            listing
                .iter()
                .any(|s| s.path.ends_with("hello.txt") && s.length == payload.len() && !s.isdir),
            "hello.txt with {} bytes not listed in {dir}: {names:?}",
            payload.len()
        );

        let reader = client.read(&file).await.expect("open for read");
        assert_eq!(reader.file_length(), payload.len());
        let back = reader.read_range(0, payload.len()).await.expect("read");
        assert_eq!(&back[..], &payload[..], "read back different bytes");

        assert!(
            client.delete(&dir, true).await.expect("delete"),
            "delete returned false"
        );
        assert!(
            client.get_file_info(&file).await.is_err(),
            "{file} still exists after delete"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// 2. Flink streaming job on YARN, stop with savepoint, HistoryServer: Flink 2.x in application
//    mode (its only YARN mode) and Flink 1.20 in per-job mode (what PNDA used; gone in 2.x).

#[derive(Clone, Copy, Debug)]
enum FlinkYarnMode {
    Application,
    PerJob,
}

#[test]
fn flink2_streaming_on_yarn_application_mode_stop_with_savepoint() {
    let env = env();
    let v = env.s("flink_default_version");
    assert!(
        v.starts_with("2."),
        "the default Flink version is {v}, expected 2.x"
    );
    flink_streaming_roundtrip(env, &v, FlinkYarnMode::Application);
}

#[test]
fn flink1_streaming_on_yarn_per_job_mode_stop_with_savepoint() {
    let env = env();
    let versions: Vec<&String> = env.raw["flink"]
        .as_object()
        .expect("env.json flink")
        .keys()
        .collect();
    let v = versions
        .iter()
        .find(|v| v.starts_with("1."))
        .unwrap_or_else(|| {
            panic!("env.json has no Flink 1.x (has {versions:?}); see DM_TESTENV_FLINK_VERSIONS")
        });
    flink_streaming_roundtrip(env, v, FlinkYarnMode::PerJob);
}

fn flink_streaming_roundtrip(env: &Env, version: &str, mode: FlinkYarnMode) {
    let rm = env.s("rm_url");
    let f = &env.raw["flink"][version];
    let field = |k: &str| {
        f[k].as_str()
            .unwrap_or_else(|| panic!("env.json flink.{version}.{k}"))
            .to_string()
    };
    let flink = format!("{}/bin/flink", field("home"));
    let mut client_env = env.client_env();
    client_env.retain(|(k, _)| *k != "FLINK_CONF_DIR");
    client_env.push(("FLINK_CONF_DIR", field("conf_dir")));
    let flink_cli = |args: &[&str]| -> Output {
        Command::new(&flink)
            .args(args)
            .envs(client_env.clone())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {flink}: {e}"))
    };
    let name = unique(&format!("dm-flink-{version}-stream"));
    let mut guard = KillOnDrop {
        rm: rm.clone(),
        app_id: None,
    };

    // Application mode: the JM runs main() on YARN; per-job: the client runs main() and deploys a
    // cluster for that one job (-d: return once submitted). Both upload Flink to HDFS first.
    let yarn_name = format!("-Dyarn.application.name={name}");
    let jar = field("jobs_jar");
    let class = env.job("flink_streaming_class");
    let job_args = ["-c", &class, &jar, "--name", &name, "--rate", "20"];
    let (target, mut args): (&str, Vec<&str>) = match (mode, version.starts_with("1.")) {
        (FlinkYarnMode::Application, true) => (
            "yarn-application",
            vec!["run-application", "-t", "yarn-application"],
        ),
        (FlinkYarnMode::Application, false) => {
            ("yarn-application", vec!["run", "-t", "yarn-application"])
        }
        (FlinkYarnMode::PerJob, _) => ("yarn-per-job", vec!["run", "-t", "yarn-per-job", "-d"]),
    };
    args.push(&yarn_name);
    args.extend(job_args);
    let out = flink_cli(&args);
    assert!(
        out.status.success(),
        "flink {args:?} failed:\n{}",
        show(&out)
    );

    let app_id = wait_for("the Flink app in the RM", 60, || {
        yarn_app_id_by_name(&rm, &name)
    });
    guard.app_id = Some(app_id.clone());
    let app = wait_yarn_state(&rm, &app_id, &["RUNNING"], 120);
    assert_eq!(app["applicationType"], "Apache Flink");

    // Flink's REST API through the RM's proxy (the app's tracking URL).
    let tracking = app["trackingUrl"]
        .as_str()
        .expect("trackingUrl")
        .trim_end_matches('/')
        .to_string();
    let proxy = format!("{rm}/proxy/{app_id}");
    assert!(
        tracking.ends_with(&format!("/proxy/{app_id}")),
        "tracking URL {tracking} is not the RM proxy"
    );
    let jid = wait_for(
        "the job RUNNING with all tasks running (Flink REST via RM proxy)",
        180,
        || {
            let (status, v) = get_json(&format!("{proxy}/jobs/overview")).ok()?;
            if status != 200 {
                return None;
            }
            let job = v["jobs"]
                .as_array()?
                .iter()
                .find(|j| j["name"] == name.as_str())?
                .clone();
            let tasks = &job["tasks"];
            (job["state"] == "RUNNING" && tasks["running"] == tasks["total"])
                .then(|| job["jid"].as_str().unwrap().to_string())
        },
    );
    let (_, config) = get_json(&format!("{proxy}/config")).expect("Flink /config via proxy");
    assert_eq!(
        config["flink-version"], version,
        "Flink REST /config: {config}"
    );

    // Stop with a savepoint, through the CLI against the YARN application.
    let savepoints = field("savepoint_dir");
    let app_opt = format!("-Dyarn.application.id={app_id}");
    let out = flink_cli(&[
        "stop",
        "-t",
        target,
        &app_opt,
        "--savepointPath",
        &savepoints,
        &jid,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("Savepoint completed"),
        "flink stop failed:\n{}",
        show(&out)
    );
    assert!(
        stdout.contains(&savepoints),
        "savepoint not under {savepoints}: {stdout}"
    );

    // The cluster shuts down with its only job.
    let app = wait_yarn_state(&rm, &app_id, &["FINISHED"], 120);
    assert_eq!(
        app["finalStatus"], "SUCCEEDED",
        "YARN final status of {app_id}: {app}"
    );

    // The JM archived the job on HDFS; this version's HistoryServer picks it up.
    let hs = field("history_url");
    let job = wait_for(
        "the job in the Flink HistoryServer's /jobs/overview",
        90,
        || {
            let (_, v) = get_json(&format!("{hs}/jobs/overview")).ok()?;
            v["jobs"]
                .as_array()?
                .iter()
                .find(|j| j["jid"] == jid.as_str())
                .cloned()
        },
    );
    assert_eq!(job["state"], "FINISHED", "HistoryServer entry: {job}");
    assert_eq!(job["name"], name.as_str());
    guard.app_id = None;
}

// ---------------------------------------------------------------------------------------------
// 3. Spark Structured Streaming on YARN (cluster mode), kill via RM REST, history server

#[test]
fn spark_streaming_on_yarn_kill_via_rm() {
    let env = env();
    let rm = env.s("rm_url");
    let submit = format!("{}/bin/spark-submit", env.s("spark_home"));
    let name = unique("dm-spark-stream");
    let mut guard = KillOnDrop {
        rm: rm.clone(),
        app_id: None,
    };

    // spark.yarn.submit.waitAppCompletion=false (spark-defaults.conf): returns once submitted.
    let script = env.job("spark_streaming_py");
    let out = run(
        &submit,
        &[
            "--master",
            "yarn",
            "--deploy-mode",
            "cluster",
            "--name",
            &name,
            &script,
            "--name",
            &name,
        ],
        env,
    );
    assert!(out.status.success(), "spark-submit failed:\n{}", show(&out));

    let app_id = wait_for("the Spark app in the RM", 60, || {
        yarn_app_id_by_name(&rm, &name)
    });
    guard.app_id = Some(app_id.clone());
    let app = wait_yarn_state(&rm, &app_id, &["RUNNING"], 120);
    assert_eq!(app["applicationType"], "SPARK");

    // Running apps are listed by the history server too (completed: false) once the driver has
    // written its first events.
    let hs = env.s("spark_history_url");
    wait_for("the running app in the Spark history server", 90, || {
        let (status, v) = get_json(&format!("{hs}/api/v1/applications/{app_id}")).ok()?;
        (status == 200 && v["id"] == app_id.as_str()).then_some(())
    });

    kill_yarn_app(&rm, &app_id);
    let app = wait_yarn_state(&rm, &app_id, &["KILLED"], 60);
    assert_eq!(app["finalStatus"], "KILLED");

    let entry = wait_for(
        "the killed app completed in the Spark history server",
        90,
        || {
            let (status, v) = get_json(&format!("{hs}/api/v1/applications/{app_id}")).ok()?;
            (status == 200 && v["attempts"][0]["completed"] == true).then_some(v)
        },
    );
    assert_eq!(entry["name"], name.as_str());
    guard.app_id = None;
}

// ---------------------------------------------------------------------------------------------
// 4. Oozie through its REST API: a one-action fs workflow (runs inside the server), a shell action
//    launched on YARN (needs the "oozie" sharelib that tests/env/oozie/start installs), and a Flink
//    batch job submitted from a shell action with a Flink distribution shipped from HDFS.

fn oozie_url(env: &Env) -> String {
    env.raw["oozie_url"]
        .as_str()
        .unwrap_or_else(|| panic!("env.json has oozie_url null: the env was brought up without Oozie (DM_TESTENV_OOZIE=0?)"))
        .to_string()
}

/// The user Oozie runs workflows as (the env runs everything as the current user).
fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn hdfs_client(env: &Env) -> hdfs_native::Client {
    hdfs_native::ClientBuilder::new()
        .with_url(&env.s("namenode_url"))
        .with_config([("dfs.client.failover.max.attempts", "1")])
        .build()
        .expect("hdfs-native client")
}

fn current_thread_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `POST /v1/jobs?action=start` with a Hadoop `<configuration>` of these properties; the job id.
fn oozie_start(oozie: &str, props: &[(&str, String)]) -> String {
    let mut conf = String::from("<configuration>");
    for (name, value) in props {
        conf.push_str(&format!(
            "<property><name>{}</name><value>{}</value></property>",
            xml_escape(name),
            xml_escape(value)
        ));
    }
    conf.push_str("</configuration>");
    let mut resp = agent()
        .post(&format!("{oozie}/v1/jobs?action=start"))
        .header("Content-Type", "application/xml;charset=UTF-8")
        .send(conf.as_str())
        .expect("POST /v1/jobs");
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    assert_eq!(status, 201, "Oozie refused the workflow: {body}");
    serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_str()
        .expect("job id")
        .to_string()
}

/// Polls `/v1/job/{id}?show=info` until the workflow leaves PREP/RUNNING/SUSPENDED; its info.
fn oozie_wait_end(oozie: &str, id: &str, secs: u64) -> Value {
    wait_for(&format!("Oozie workflow {id} to end"), secs, || {
        let (_, v) = get_json(&format!("{oozie}/v1/job/{id}?show=info")).ok()?;
        let st = v["status"].as_str()?.to_string();
        (!["PREP", "RUNNING", "SUSPENDED"].contains(&st.as_str())).then_some(v)
    })
}

fn oozie_action(info: &Value, name: &str) -> Value {
    info["actions"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["name"] == name).cloned())
        .unwrap_or_else(|| panic!("workflow has no action {name:?}: {}", info["actions"]))
}

/// Kills the workflow when a test panics half-way (Oozie then kills its launcher on YARN).
struct KillWorkflowOnDrop {
    oozie: String,
    id: Option<String>,
}
impl Drop for KillWorkflowOnDrop {
    fn drop(&mut self) {
        if let (true, Some(id)) = (std::thread::panicking(), &self.id) {
            let _ = agent()
                .put(&format!("{}/v1/job/{id}?action=kill", self.oozie))
                .send_empty();
        }
    }
}

/// A launcher action's YARN app: the id Oozie reports (externalId), and the app ended well.
fn assert_launcher_succeeded(rm: &str, action: &Value) -> String {
    assert_eq!(action["status"], "OK", "action: {action}");
    let app_id = action["externalId"].as_str().unwrap_or("").to_string();
    assert!(
        app_id.starts_with("application_"),
        "action {} has no YARN application id: {action}",
        action["name"]
    );
    let app = yarn_app(rm, &app_id).unwrap_or_else(|| panic!("the RM does not know {app_id}"));
    assert_eq!(app["applicationType"], "Oozie Launcher", "{app}");
    assert_eq!(app["state"], "FINISHED", "{app}");
    assert_eq!(app["finalStatus"], "SUCCEEDED", "{app}");
    app_id
}

#[test]
fn oozie_one_action_workflow_succeeds() {
    let env = env();
    let oozie = oozie_url(env);
    let nn = env.s("namenode_url");
    let user = current_user();
    let app_dir = format!("/user/{user}/{}", unique("dm-oozie-app"));
    let out_dir = format!("/tmp/{}", unique("dm-oozie-out"));

    let rt = current_thread_rt();
    let client = hdfs_client(env);
    let examples = repo_root().join("examples/jobs/oozie");
    rt.block_on(hdfs_put(
        &client,
        &examples.join("workflow.xml"),
        &format!("{app_dir}/workflow.xml"),
    ));

    let id = oozie_start(
        &oozie,
        &[
            ("user.name", user.clone()),
            ("oozie.wf.application.path", format!("{nn}{app_dir}")),
            ("nameNode", nn.clone()),
            ("outputDir", out_dir.clone()),
        ],
    );
    let info = oozie_wait_end(&oozie, &id, 120);
    assert_eq!(info["status"], "SUCCEEDED", "workflow {id}: {info}");
    assert_eq!(oozie_action(&info, "make-output-dir")["status"], "OK");

    rt.block_on(async {
        let st = client
            .get_file_info(&out_dir)
            .await
            .expect("the workflow's output dir is missing");
        assert!(st.isdir);
        client
            .delete(&out_dir, true)
            .await
            .expect("delete output dir");
        client.delete(&app_dir, true).await.expect("delete app dir");
    });
}

#[test]
fn oozie_shell_action_runs_on_yarn() {
    let env = env();
    let (oozie, rm, nn) = (oozie_url(env), env.s("rm_url"), env.s("namenode_url"));
    let user = current_user();
    let app_dir = format!("/user/{user}/{}", unique("dm-oozie-shell"));
    let out_dir = format!("/tmp/{}", unique("dm-oozie-shell-out"));

    let rt = current_thread_rt();
    let client = hdfs_client(env);
    let examples = repo_root().join("examples/jobs/oozie-shell");
    rt.block_on(async {
        for f in ["workflow.xml", "hello.sh"] {
            hdfs_put(&client, &examples.join(f), &format!("{app_dir}/{f}")).await;
        }
    });

    let id = oozie_start(
        &oozie,
        &[
            ("user.name", user.clone()),
            ("oozie.wf.application.path", format!("{nn}{app_dir}")),
            ("nameNode", nn.clone()),
            ("resourceManager", env.s("rm_address")),
            ("greeting", "hello from dm".to_string()),
            ("outputDir", out_dir.clone()),
        ],
    );
    let mut guard = KillWorkflowOnDrop {
        oozie: oozie.clone(),
        id: Some(id.clone()),
    };
    let info = oozie_wait_end(&oozie, &id, 180);
    assert_eq!(info["status"], "SUCCEEDED", "workflow {id}: {info}");
    let app_id = assert_launcher_succeeded(&rm, &oozie_action(&info, "hello"));
    guard.id = None;

    // The script printed its CONTAINER_ID; the fs action made a directory named after it, so the
    // shell ran in a container of exactly the launcher app Oozie reported.
    let entries = rt.block_on(async {
        client
            .list_status(&out_dir, false)
            .await
            .expect("the workflow's output dir is missing")
    });
    let names: Vec<String> = entries
        .iter()
        .map(|e| e.path.rsplit('/').next().unwrap_or("").to_string())
        .collect();
    let app_suffix = app_id.trim_start_matches("application_");
    assert!(
        names.len() == 1 && names[0].starts_with("container_") && names[0].contains(app_suffix),
        "expected one dir named after a container of {app_id} in {out_dir}, found {names:?}"
    );

    rt.block_on(async {
        client
            .delete(&out_dir, true)
            .await
            .expect("delete output dir");
        client.delete(&app_dir, true).await.expect("delete app dir");
    });
}

/// PNDA's shell actions call `hadoop fs …` on the NodeManager: `put.sh` (`-rm`, `-mkdir -p`,
/// `-copyFromLocal`, `-ls`) writes a file on HDFS holding the id of the container it ran in.
#[test]
fn oozie_shell_action_runs_hadoop_fs_on_the_nodemanager() {
    let env = env();
    let (oozie, rm, nn) = (oozie_url(env), env.s("rm_url"), env.s("namenode_url"));
    let user = current_user();
    let app_dir = format!("/user/{user}/{}", unique("dm-oozie-hadoop-fs"));
    let out_dir = format!("/tmp/{}", unique("dm-oozie-hadoop-fs-out"));

    let rt = current_thread_rt();
    let client = hdfs_client(env);
    let examples = repo_root().join("examples/jobs/oozie-hadoop-fs");
    rt.block_on(async {
        for f in ["workflow.xml", "put.sh"] {
            hdfs_put(&client, &examples.join(f), &format!("{app_dir}/{f}")).await;
        }
    });
    let id = oozie_start(
        &oozie,
        &[
            ("user.name", user.clone()),
            ("oozie.wf.application.path", format!("{nn}{app_dir}")),
            ("nameNode", nn.clone()),
            ("resourceManager", env.s("rm_address")),
            ("outputDir", out_dir.clone()),
        ],
    );
    let mut guard = KillWorkflowOnDrop {
        oozie: oozie.clone(),
        id: Some(id.clone()),
    };
    let info = oozie_wait_end(&oozie, &id, 180);
    assert_eq!(info["status"], "SUCCEEDED", "workflow {id}: {info}");
    let app_id = assert_launcher_succeeded(&rm, &oozie_action(&info, "put"));
    guard.id = None;

    let written = rt.block_on(async {
        let reader = client
            .read(&format!("{out_dir}/container.txt"))
            .await
            .unwrap_or_else(|e| panic!("put.sh did not write {out_dir}/container.txt: {e}"));
        let bytes = reader.read_range(0, reader.file_length()).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    });
    let app_suffix = app_id.trim_start_matches("application_");
    assert!(
        written.trim().starts_with("container_") && written.contains(app_suffix),
        "{out_dir}/container.txt should name a container of {app_id}, holds {written:?}"
    );
    rt.block_on(async {
        client
            .delete(&out_dir, true)
            .await
            .expect("delete output dir");
        client.delete(&app_dir, true).await.expect("delete app dir");
    });
}

#[test]
fn oozie_shell_action_submits_flink2_batch_to_yarn() {
    oozie_flink_batch(env(), "2.3.0");
}

/// Flink 1.x: the script uses `run-application` (PNDA's Flink generation).
#[test]
fn oozie_shell_action_submits_flink1_batch_to_yarn() {
    oozie_flink_batch(env(), "1.20.5");
}

fn oozie_flink_batch(env: &Env, version: &str) {
    let (oozie, rm, nn) = (oozie_url(env), env.s("rm_url"), env.s("namenode_url"));
    let flink = |key: &str| {
        env.raw["flink"][version][key]
            .as_str()
            .unwrap_or_else(|| {
                panic!("env.json has no flink.{version}.{key} (DM_TESTENV_FLINK_VERSIONS?)")
            })
            .to_string()
    };
    let user = current_user();
    let app_dir = format!("/user/{user}/{}", unique("dm-oozie-flink"));
    let name = unique("dm-oozie-flink-batch");
    let mut flink_guard = KillOnDrop {
        rm: rm.clone(),
        app_id: None,
    };

    let rt = current_thread_rt();
    let client = hdfs_client(env);
    // Staged once per HDFS (HDFS is formatted anew by every `up`), like a mirror's copy.
    let dist_hdfs = flink_dist_on_hdfs(&env.raw, version);
    let examples = repo_root().join("examples/jobs/oozie-flink");
    let conf_yaml = PathBuf::from(flink("conf_dir")).join("config.yaml");
    rt.block_on(async {
        hdfs_put(
            &client,
            &examples.join("workflow.xml"),
            &format!("{app_dir}/workflow.xml"),
        )
        .await;
        // The script dm's Oozie plugin ships for Flink batch jobs.
        hdfs_put(
            &client,
            &repo_root().join("plugins/oozie/assets/dm-flink-batch.sh"),
            &format!("{app_dir}/dm-flink-batch.sh"),
        )
        .await;
        hdfs_put(&client, &conf_yaml, &format!("{app_dir}/flink-config.yaml")).await;
        hdfs_put(
            &client,
            Path::new(&flink("jobs_jar")),
            &format!("{app_dir}/job.jar"),
        )
        .await;
    });

    let id = oozie_start(
        &oozie,
        &[
            ("user.name", user.clone()),
            ("oozie.wf.application.path", format!("{nn}{app_dir}")),
            ("nameNode", nn.clone()),
            ("resourceManager", env.s("rm_address")),
            ("rmWebUrl", rm.clone()),
            ("flinkDist", dist_hdfs.clone()),
            ("flinkConfig", format!("{app_dir}/flink-config.yaml")),
            ("jobJar", format!("{app_dir}/job.jar")),
            ("jobClass", env.job("flink_batch_class")),
            ("flinkAppName", name.clone()),
            (
                "flinkAction",
                if version.starts_with("1.") {
                    "run-application"
                } else {
                    "run"
                }
                .to_string(),
            ),
            ("javaHome", env.s("java_home")),
            ("hadoopConfDir", env.s("hadoop_conf_dir")),
            ("hadoopClasspath", env.s("hadoop_classpath")),
        ],
    );
    let mut wf_guard = KillWorkflowOnDrop {
        oozie: oozie.clone(),
        id: Some(id.clone()),
    };
    let flink_app = wait_for(
        "the Flink batch app (submitted by the action) in the RM",
        120,
        || yarn_app_id_by_name(&rm, &name),
    );
    flink_guard.app_id = Some(flink_app.clone());

    let info = oozie_wait_end(&oozie, &id, 300);
    assert_eq!(info["status"], "SUCCEEDED", "workflow {id}: {info}");
    let launcher = assert_launcher_succeeded(&rm, &oozie_action(&info, "flink-batch"));
    assert_ne!(launcher, flink_app);
    // The action waits for the Flink app, so it has ended by now: no polling.
    let app = yarn_app(&rm, &flink_app).expect("Flink app in the RM");
    assert_eq!(app["applicationType"], "Apache Flink", "{app}");
    assert_eq!(app["state"], "FINISHED", "{app}");
    assert_eq!(app["finalStatus"], "SUCCEEDED", "{app}");
    wf_guard.id = None;
    flink_guard.app_id = None;

    let hs = flink("history_url");
    let job = wait_for("the batch job in the Flink HistoryServer", 90, || {
        let (_, v) = get_json(&format!("{hs}/jobs/overview")).ok()?;
        v["jobs"]
            .as_array()?
            .iter()
            .find(|j| j["name"] == name.as_str())
            .cloned()
    });
    assert_eq!(job["state"], "FINISHED", "HistoryServer entry: {job}");
    // Flink 1.x's overview has no jobType.
    if !version.starts_with("1.") {
        assert_eq!(job["jobType"], "BATCH", "HistoryServer entry: {job}");
    }

    rt.block_on(async {
        client.delete(&app_dir, true).await.expect("delete app dir");
    });
}

// ---------------------------------------------------------------------------------------------
// 5. The batch examples run to completion on YARN and reach their history servers

#[test]
fn flink2_batch_on_yarn_application_mode_finishes() {
    let env = env();
    let rm = env.s("rm_url");
    let flink = format!("{}/bin/flink", env.flink("home"));
    let name = unique("dm-flink-batch");
    let mut guard = KillOnDrop {
        rm: rm.clone(),
        app_id: None,
    };
    let yarn_name = format!("-Dyarn.application.name={name}");
    let (jar, class) = (env.job("flink_jar"), env.job("flink_batch_class"));
    let out = run(
        &flink,
        &[
            "run",
            "-t",
            "yarn-application",
            &yarn_name,
            "-c",
            &class,
            &jar,
            "--name",
            &name,
        ],
        env,
    );
    assert!(out.status.success(), "flink run failed:\n{}", show(&out));

    let app_id = wait_for("the Flink batch app in the RM", 60, || {
        yarn_app_id_by_name(&rm, &name)
    });
    guard.app_id = Some(app_id.clone());
    let app = wait_yarn_state(&rm, &app_id, &["FINISHED"], 240);
    assert_eq!(
        app["finalStatus"], "SUCCEEDED",
        "YARN final status of {app_id}: {app}"
    );

    let hs = env.s("flink_history_url");
    let job = wait_for("the batch job in the Flink HistoryServer", 90, || {
        let (_, v) = get_json(&format!("{hs}/jobs/overview")).ok()?;
        v["jobs"]
            .as_array()?
            .iter()
            .find(|j| j["name"] == name.as_str())
            .cloned()
    });
    assert_eq!(job["state"], "FINISHED", "HistoryServer entry: {job}");
    assert_eq!(job["jobType"], "BATCH", "HistoryServer entry: {job}");
    guard.app_id = None;
}

#[test]
fn spark_batch_on_yarn_finishes() {
    let env = env();
    let rm = env.s("rm_url");
    let submit = format!("{}/bin/spark-submit", env.s("spark_home"));
    let name = unique("dm-spark-batch");
    let mut guard = KillOnDrop {
        rm: rm.clone(),
        app_id: None,
    };
    let script = env.job("spark_batch_py");
    let out = run(
        &submit,
        &[
            "--master",
            "yarn",
            "--deploy-mode",
            "cluster",
            "--name",
            &name,
            &script,
            "--name",
            &name,
        ],
        env,
    );
    assert!(out.status.success(), "spark-submit failed:\n{}", show(&out));

    let app_id = wait_for("the Spark batch app in the RM", 60, || {
        yarn_app_id_by_name(&rm, &name)
    });
    guard.app_id = Some(app_id.clone());
    let app = wait_yarn_state(&rm, &app_id, &["FINISHED"], 240);
    assert_eq!(
        app["finalStatus"], "SUCCEEDED",
        "YARN final status of {app_id}: {app}"
    );

    let hs = env.s("spark_history_url");
    let entry = wait_for(
        "the batch app completed in the Spark history server",
        90,
        || {
            let (status, v) = get_json(&format!("{hs}/api/v1/applications/{app_id}")).ok()?;
            (status == 200 && v["attempts"][0]["completed"] == true).then_some(v)
        },
    );
    assert_eq!(entry["name"], name.as_str());
    guard.app_id = None;
}
