//! Slow suite, against the real loopback cluster (`tests/env/up`): status and platform health.
//!
//! - Health: with every service up, every `.health` metric is OK (and posted to a console in
//!   PNDA's format); the Flink 1.20 HistoryServer stopped ⇒ `hadoop.flink.health` ERROR within
//!   two cycles, with a cause naming it; restarted ⇒ OK again.
//! - Status: a Flink streaming app started through dmd (plugin + supervisor, on YARN) shows
//!   RUNNING with its vertices, job id, KPIs and a tracking URL that answers; the RM cut off
//!   from dmd ⇒ UNKNOWN since when, with the last good observation, never FAILED; back ⇒
//!   RUNNING; its YARN application killed from outside ⇒ KILLED within two cycles.
//!
//! Run with `cargo test -p dm-core --features real-cluster --test real_cluster_status`.

mod common;

use common::{
    current_user, env_json, flink_package, jobs_config_with_rm, s, Dmd, Options, SupervisorGuard,
};
use dm_clients::yarn::{ResourceManager, YarnState};
use dm_testkit::{built_cdylib, TarGz};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The observation cycle of these tests, and the most a call of a cycle may take.
const CYCLE: Duration = Duration::from_secs(1);
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// The env's endpoints for a dmd that only observes: the RM, the NameNode, Oozie.
fn endpoints_config(env: &Value) -> String {
    let oozie = env["oozie_url"]
        .as_str()
        .map(|u| format!("[oozie]\nurl = {u:?}\n"))
        .unwrap_or_default();
    format!(
        "[yarn]\nrm_url = {:?}\n[hdfs]\nnamenode = {:?}\nnamenode_http = {:?}\n{oozie}",
        s(env, "rm_url"),
        s(env, "namenode_url"),
        s(env, "namenode_http_url"),
    )
}

/// `[cluster]` (the history servers), `[status]` and `[health]` for the env.
fn observation_config(env: &Value, console: Option<&str>) -> String {
    let histories: Vec<String> = env["flink"]
        .as_object()
        .unwrap()
        .values()
        .map(|f| format!("{:?}", s(f, "history_url")))
        .collect();
    format!(
        r#"
[cluster]
flink_history_urls = [{histories}]
spark_history_url = "{spark}"

[status]
interval_secs = {cycle}
timeout_ms = {timeout}

[health]
interval_secs = {cycle}
timeout_ms = {timeout}
console_url = "{console}"
"#,
        histories = histories.join(", "),
        spark = s(env, "spark_history_url"),
        cycle = CYCLE.as_secs_f64(),
        timeout = CALL_TIMEOUT.as_millis(),
        console = console.unwrap_or_default(),
    )
}

/// Polls every 100 ms, so "within two cycles" can be checked (`common::wait_for` polls by the
/// second).
fn within<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn metric(health: &Value, name: &str) -> Value {
    health["data"]
        .as_array()
        .and_then(|d| d.iter().find(|e| e["metric"] == name))
        .cloned()
        .unwrap_or(Value::Null)
}

/// A console stand-in: a real HTTP listener recording the bodies POSTed to it.
struct Console {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Console {
    fn start() -> Console {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&bodies);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream);
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_ok() {
                    if let Ok(value) = serde_json::from_slice(&body) {
                        seen.lock().unwrap().push(value);
                    }
                }
                let _ = reader.get_mut().write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Console { url, bodies }
    }
}

/// A Flink HistoryServer of the env, stopped by the test and always started again: the same
/// JVM command line, environment and log file that `tests/env/up` used.
struct StoppedHistoryServer {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    cwd: PathBuf,
    pid_file: PathBuf,
    log: PathBuf,
    url: String,
    running: bool,
}

/// The env's HistoryServer of a Flink version: its pid, and the JVM's command line, environment
/// and working folder (what `tests/env/up` started).
fn history_server_jvm(version: &str) -> (i32, Vec<String>, Vec<(String, String)>, PathBuf) {
    let testenv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/testenv");
    let pid_file = testenv.join(format!("pids/flink-{version}-historyserver.pid"));
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let split = |bytes: Vec<u8>| -> Vec<String> {
        bytes
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    };
    let argv = split(std::fs::read(format!("/proc/{pid}/cmdline")).unwrap());
    assert!(
        argv.iter().any(|a| a.contains("HistoryServer")),
        "pid {pid} is not a HistoryServer: {argv:?}"
    );
    let env = split(std::fs::read(format!("/proc/{pid}/environ")).unwrap())
        .into_iter()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap();
    (pid, argv, env, cwd)
}

impl StoppedHistoryServer {
    fn stop(version: &str, url: &str) -> StoppedHistoryServer {
        let testenv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/testenv");
        let pid_file = testenv.join(format!("pids/flink-{version}-historyserver.pid"));
        let (pid, argv, env, cwd) = history_server_jvm(version);
        // SAFETY: a signal to the env's HistoryServer, which `drop` starts again.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let mut server = StoppedHistoryServer {
            argv,
            env,
            cwd,
            pid_file,
            log: testenv.join(format!("logs/flink-{version}-historyserver.out")),
            url: url.to_string(),
            running: false,
        };
        within("the HistoryServer to stop", Duration::from_secs(30), || {
            (!server.answers()).then_some(())
        });
        server.running = false;
        server
    }

    fn answers(&self) -> bool {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .into();
        agent.get(&format!("{}/config", self.url)).call().is_ok()
    }

    /// Starts the JVM again, detached like `up` starts it, and records its pid for `down`.
    fn relaunch(&mut self) -> std::io::Result<()> {
        use std::os::unix::process::CommandExt;
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.log)?;
        let mut command = std::process::Command::new(&self.argv[0]);
        command
            .args(&self.argv[1..])
            .env_clear()
            .envs(self.env.iter().cloned())
            .current_dir(&self.cwd)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // A session of its own, as `up`'s setsid: it must outlive this test and whatever
        // session ran it.
        // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let child = command.spawn()?;
        self.running = true;
        std::fs::write(&self.pid_file, format!("{}\n", child.id()))
    }

    fn restart(&mut self) {
        self.relaunch().expect("restart the HistoryServer");
        within(
            "the HistoryServer to answer again",
            Duration::from_secs(90),
            || self.answers().then_some(()),
        );
    }
}

impl Drop for StoppedHistoryServer {
    fn drop(&mut self) {
        // A failed test must not leave the shared env without its HistoryServer.
        if !self.running {
            if let Err(e) = self.relaunch() {
                eprintln!("could not restart the HistoryServer: {e}");
            }
        }
    }
}

#[test]
fn platform_health_follows_the_flink_history_server() {
    let env = env_json();
    let console = Console::start();
    let root = tempfile::tempdir().unwrap();
    let options = Options {
        config: Some(endpoints_config(&env) + &observation_config(&env, Some(&console.url))),
        ..Options::default()
    };
    let dmd = Dmd::start_with(root.path(), &options);

    let mut services = vec![
        "flink.health",
        "hadoop.flink.health",
        "hadoop.SPARK_ON_YARN.health",
        "hadoop.YARN.health",
        "hadoop.HDFS.health",
        "deployment-manager.health",
    ];
    if env["oozie_url"].is_string() {
        services.push("hadoop.OOZIE.health");
    }
    let health = within("every service OK", Duration::from_secs(30), || {
        let health = dmd.get("/platform/health").body;
        services
            .iter()
            .all(|m| metric(&health, m)["value"] == "OK")
            .then_some(health)
    });
    assert_eq!(
        metric(&health, "flink.installed_flink_version")["value"],
        "2.3.0,1.20.5"
    );
    assert_eq!(metric(&health, "hadoop.HDFS.live_datanodes")["value"], 1);
    assert_eq!(metric(&health, "hadoop.YARN.active_nodes")["value"], 1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let stamp = metric(&health, "hadoop.YARN.health")["timestamp"]
        .as_i64()
        .unwrap();
    assert!(
        (now - stamp).abs() < 60_000,
        "millisecond timestamps: {stamp} vs {now}"
    );

    let prometheus = String::from_utf8(dmd.get("/metrics").bytes).unwrap();
    assert!(
        prometheus
            .contains(r#"dm_platform_health{metric="hadoop.flink.health",service="flink"} 0"#),
        "{prometheus}"
    );
    assert!(prometheus
        .contains(r#"dm_platform_figure{metric="hadoop.YARN.active_nodes",service="YARN"} 1"#));

    // The console got PNDA's format: {data: [{source, metric, value, causes, timestamp}], timestamp}.
    let posted = within("a post to the console", Duration::from_secs(10), || {
        console.bodies.lock().unwrap().last().cloned()
    });
    assert!(posted["timestamp"].is_i64(), "{posted}");
    let flink = posted["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["metric"] == "flink.health")
        .expect("flink.health posted")
        .clone();
    assert_eq!(flink["source"], "flink");
    assert_eq!(
        flink["causes"], "[]",
        "causes as PNDA's runner sent them: a JSON string"
    );

    // The Flink 1.20 HistoryServer stops: ERROR within two cycles, with a cause naming it.
    let version = "1.20.5";
    let url = s(&env["flink"][version], "history_url");
    let mut server = StoppedHistoryServer::stop(version, &url);
    let stopped_at = Instant::now();
    let error = within(
        "hadoop.flink.health ERROR",
        2 * CYCLE + CALL_TIMEOUT + CYCLE,
        || {
            let health = dmd.get("/platform/health").body;
            let m = metric(&health, "hadoop.flink.health");
            (m["value"] == "ERROR").then_some(health)
        },
    );
    eprintln!("ERROR seen {:?} after the stop", stopped_at.elapsed());
    let cause = metric(&error, "hadoop.flink.health")["causes"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        cause.contains("Flink History Server") && cause.contains(&url),
        "{cause}"
    );
    assert_eq!(metric(&error, "flink.health")["value"], "ERROR");
    assert_eq!(
        metric(&error, "flink.history_server_available_success")["value"],
        false
    );

    // Started again: OK within two cycles of it answering.
    server.restart();
    within(
        "hadoop.flink.health OK again",
        2 * CYCLE + CALL_TIMEOUT + CYCLE,
        || {
            let health = dmd.get("/platform/health").body;
            (metric(&health, "hadoop.flink.health")["value"] == "OK").then_some(())
        },
    );
}

/// Forwards a local port to the RM; `cut` closes the port and every connection through it,
/// `restore` opens it again. What dmd sees is exactly an RM that stopped answering.
struct Forwarder {
    port: u16,
    target: String,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Forwarder {
    fn start(target: &str) -> Forwarder {
        let mut forwarder = Forwarder {
            port: 0,
            target: target.to_string(),
            stop: Arc::new(AtomicBool::new(false)),
            connections: Arc::new(Mutex::new(Vec::new())),
            accept: None,
        };
        forwarder.restore();
        forwarder
    }

    fn restore(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        self.port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        self.stop.store(false, Ordering::SeqCst);
        let (stop, connections, target) = (
            Arc::clone(&self.stop),
            Arc::clone(&self.connections),
            self.target.clone(),
        );
        self.accept = Some(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(server) = TcpStream::connect(&target) else {
                            continue;
                        };
                        let mut list = connections.lock().unwrap();
                        list.push(client.try_clone().unwrap());
                        list.push(server.try_clone().unwrap());
                        for (mut from, mut to) in [
                            (client.try_clone().unwrap(), server.try_clone().unwrap()),
                            (server, client),
                        ] {
                            std::thread::spawn(move || {
                                let _ = std::io::copy(&mut from, &mut to);
                                let _ = to.shutdown(Shutdown::Both);
                            });
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }));
    }

    fn cut(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            accept.join().unwrap();
        }
        for connection in self.connections.lock().unwrap().drain(..) {
            let _ = connection.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Kills whatever YARN application of `app` is left, even when the test fails half-way.
struct YarnCleanup {
    rm: ResourceManager,
    tag: String,
}

impl Drop for YarnCleanup {
    fn drop(&mut self) {
        for app in self.rm.apps_tagged(&self.tag).unwrap_or_default() {
            if !app.is_final() {
                let _ = self.rm.kill(&app.id);
            }
        }
    }
}

/// dmd with the Flink and Spark plugins and the supervisor, jobs on YARN, reaching the RM at
/// `rm_url`.
fn plugin_options(root: &Path, env: &Value, rm_url: &str) -> Options {
    let version = s(env, "flink_default_version");
    let config =
        jobs_config_with_rm(root, env, "yarn", &version, rm_url) + &observation_config(env, None);
    Options {
        config: Some(config),
        test_components: Some(false),
        ..Options::default()
    }
}

#[test]
fn a_flink_apps_summary_follows_yarn_and_says_unknown_when_the_rm_is_cut_off() {
    let env = env_json();
    let rm_url = s(&env, "rm_url");
    let rm = ResourceManager::new(&rm_url);
    let mut forwarder = Forwarder::start(rm_url.trim_start_matches("http://"));
    let root = tempfile::tempdir().unwrap();
    // dmd and its supervisor reach YARN through the forwarder (one key per endpoint); an RM
    // cut off is an outage to both, never a failure.
    let observed_rm = format!("http://127.0.0.1:{}", forwarder.port);
    let options = plugin_options(root.path(), &env, &observed_rm);
    let _supervisor = SupervisorGuard(root.path().join("data/supervisor"));
    let dmd = Dmd::start_with(root.path(), &options);
    let app = format!("obs{}", std::process::id());
    let _cleanup = YarnCleanup {
        rm: ResourceManager::new(&rm_url),
        tag: format!("dm-app-{app}"),
    };

    // A Flink streaming job that is not respawned, so a kill stays visible as such.
    let properties = json!({"application_args": "--rate 20", "respawn_type": "no"});
    let jar = s(&env["jobs"], "flink_jar");
    let package = flink_package(&env, "obs-1.0.0", "flink_streaming_class", properties, &jar);
    dmd.deployed("obs-1.0.0", &package);
    let user = current_user();
    dmd.started(&app, "obs-1.0.0", &user);

    // RUNNING, with the job's vertices, its id, and a tracking URL that answers.
    let summary_path = format!("/applications/{app}/summary");
    let summary = within(
        "a RUNNING summary with vertices",
        Duration::from_secs(300),
        || {
            let body = dmd.get(&summary_path).body;
            let vertices = body[&app]["flink-1"]["information"]["vertices"]
                .as_array()?
                .len();
            (body[&app]["aggregate_status"] == "RUNNING" && vertices > 0).then_some(body)
        },
    );
    let component = &summary[&app]["flink-1"];
    assert_eq!(component["componentType"], "Flink");
    assert_eq!(component["name"], format!("{app}-job-job"));
    assert_eq!(component["observed"]["source"], "flink");
    let jid = component["information"]["flinkJid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(jid.len(), 32, "{component}");
    let tracking = component["tracking_url"].as_str().unwrap();
    assert!(tracking.ends_with(&format!("#/jobs/{jid}")), "{tracking}");
    let page = tracking.split('#').next().unwrap();
    assert_eq!(
        ureq::get(page).call().map(|r| r.status().as_u16()).unwrap(),
        200,
        "{page}"
    );

    let yarn_id = component["yarnId"].as_str().unwrap().to_string();
    let on_yarn = rm.app(&yarn_id).unwrap();
    assert_eq!(on_yarn.state, YarnState::Running);
    let detail = dmd.get(&format!("/applications/{app}/detail")).body;
    assert_eq!(
        detail["yarn_applications"]["flink-job"]["yarn-id"],
        yarn_id.as_str()
    );
    assert_eq!(
        detail["yarn_applications"]["flink-job"]["yarn-state"],
        "RUNNING"
    );

    // KPIs from Flink's REST API: in the summary, the health JSON and Prometheus.
    let records = within("records flowing", Duration::from_secs(60), || {
        let body = dmd.get(&summary_path).body;
        let n = body[&app]["flink-1"]["kpis"]["records_in"].as_u64()?;
        (n > 0).then_some(n)
    });
    assert!(records > 0);
    let kpi = format!("application.kpi.{app}.job.records_in");
    within(
        "the KPI in /platform/health",
        Duration::from_secs(10),
        || {
            let health = dmd.get("/platform/health").body;
            (metric(&health, &kpi)["source"] == format!("application.{app}")).then_some(())
        },
    );
    let prometheus = String::from_utf8(dmd.get("/metrics").bytes).unwrap();
    assert!(
        prometheus.contains(&format!(
            r#"dm_application_kpi{{application="{app}",component="job",metric="records_in"}}"#
        )),
        "{prometheus}"
    );

    // The RM cut off from dmd: UNKNOWN since when, with the last good observation.
    forwarder.cut();
    let cut_at = Instant::now();
    let unknown = within("UNKNOWN", 2 * CYCLE + CALL_TIMEOUT + CYCLE, || {
        let body = dmd.get(&summary_path).body;
        (body[&app]["aggregate_status"] == "UNKNOWN").then_some(body)
    });
    eprintln!("UNKNOWN seen {:?} after the cut", cut_at.elapsed());
    let component = &unknown[&app]["flink-1"];
    assert!(component["since"].is_i64(), "{component}");
    assert_eq!(component["last_good"]["aggregate_status"], "RUNNING");
    assert_eq!(component["last_good"]["yarnId"], yarn_id.as_str());
    std::thread::sleep(3 * CYCLE);
    let later = dmd.get(&summary_path).body;
    assert_eq!(later[&app]["aggregate_status"], "UNKNOWN");
    assert!(
        !later.to_string().contains("FAILED"),
        "never a guessed failure: {later:#}"
    );
    assert_eq!(
        rm.app(&yarn_id).unwrap().state,
        YarnState::Running,
        "it ran all along"
    );

    forwarder.restore();
    within("RUNNING again", 2 * CYCLE + CALL_TIMEOUT + CYCLE, || {
        let body = dmd.get(&summary_path).body;
        (body[&app]["aggregate_status"] == "RUNNING").then_some(())
    });

    // Killed from outside: the summary says so within two cycles of YARN saying so.
    rm.kill(&yarn_id).unwrap();
    within("YARN to report the kill", Duration::from_secs(60), || {
        (rm.app(&yarn_id).ok()?.state == YarnState::Killed).then_some(())
    });
    let killed_at = Instant::now();
    let killed = within("KILLED in the summary", 2 * CYCLE + CALL_TIMEOUT, || {
        let body = dmd.get(&summary_path).body;
        (body[&app]["aggregate_status"] == "KILLED").then_some(body)
    });
    eprintln!(
        "KILLED seen {:?} after YARN reported it",
        killed_at.elapsed()
    );
    let component = &killed[&app]["flink-1"];
    assert_eq!(component["aggregate_status"], "KILLED");
    assert_eq!(component["yarnId"], yarn_id.as_str());
    assert_eq!(component["observed"]["source"], "yarn");
    // The first HistoryServer configured (flink_history_urls follows env.json's order).
    let first = env["flink"].as_object().unwrap().values().next().unwrap();
    let history = s(first, "history_url");
    assert_eq!(
        component["tracking_url"],
        format!("{}/#/jobs/{jid}", history.trim_end_matches('/'))
    );
    assert_eq!(
        dmd.get(&format!("/applications/{app}/detail")).body["yarn_applications"]["flink-job"]
            ["yarn-state"],
        "KILLED"
    );

    assert_eq!(
        dmd.post(&format!("/applications/{app}/stop?user.name={user}"))
            .code,
        202
    );
    dmd.wait_status(&format!("/applications/{app}/status"), "CREATED");
}

/// A Spark Structured Streaming app through dmd: its summary counts the jobs and stages Spark's
/// REST API reports through the RM proxy, and its detail names the YARN application.
#[test]
fn a_spark_streaming_apps_summary_counts_its_jobs_and_stages() {
    let env = env_json();
    let rm = ResourceManager::new(&s(&env, "rm_url"));
    let root = tempfile::tempdir().unwrap();
    let options = plugin_options(root.path(), &env, &s(&env, "rm_url"));
    let _supervisor = SupervisorGuard(root.path().join("data/supervisor"));
    let dmd = Dmd::start_with(root.path(), &options);
    let app = format!("spk{}", std::process::id());
    let _cleanup = YarnCleanup {
        rm: ResourceManager::new(&s(&env, "rm_url")),
        tag: format!("dm-app-{app}"),
    };
    let properties = json!({"main_py": "stream.py", "application_args": format!("--name {app}")});
    let package = TarGz::new()
        .file("spk-1.0.0/sparkStreaming/totals/application.properties", "")
        .file(
            "spk-1.0.0/sparkStreaming/totals/log4j.properties",
            "log4j.rootCategory=WARN, console\n",
        )
        .file(
            "spk-1.0.0/sparkStreaming/totals/properties.json",
            properties.to_string(),
        )
        .file(
            "spk-1.0.0/sparkStreaming/totals/stream.py",
            std::fs::read(s(&env["jobs"], "spark_streaming_py")).unwrap(),
        )
        .bytes();
    dmd.deployed("spk-1.0.0", &package);
    let user = current_user();
    dmd.started(&app, "spk-1.0.0", &user);

    let summary_path = format!("/applications/{app}/summary");
    let summary = within("jobs counted", Duration::from_secs(300), || {
        let body = dmd.get(&summary_path).body;
        let jobs = body[&app]["sparkStreaming-1"]["information"]["jobSummary"]["number_of_jobs"]
            .as_u64()?;
        (jobs > 0).then_some(body)
    });
    let component = &summary[&app]["sparkStreaming-1"];
    assert_eq!(summary[&app]["aggregate_status"], "RUNNING", "{summary:#}");
    assert_eq!(component["componentType"], "SparkStreaming");
    assert_eq!(component["observed"]["source"], "spark");
    let stages = &component["information"]["stageSummary"];
    assert!(
        stages["number_of_stages"].as_u64().unwrap() > 0,
        "{component}"
    );
    let yarn_id = component["yarnId"].as_str().unwrap();
    assert_eq!(rm.app(yarn_id).unwrap().state, YarnState::Running);
    let tracking = component["tracking_url"].as_str().unwrap();
    assert_eq!(
        ureq::get(tracking)
            .call()
            .map(|r| r.status().as_u16())
            .unwrap(),
        200,
        "{tracking}"
    );
    let detail = dmd.get(&format!("/applications/{app}/detail")).body;
    assert_eq!(
        detail["yarn_applications"]["sparkStreaming-totals"]["yarn-id"],
        yarn_id
    );

    assert_eq!(
        dmd.post(&format!("/applications/{app}/stop?user.name={user}"))
            .code,
        202
    );
    dmd.wait_status(&format!("/applications/{app}/status"), "CREATED");
}

/// A Flink job whose main method throws fails on YARN: the summary says so in PNDA's words
/// (YARN's FINISHED with final status FAILED is `FINISHED_FAILED`, rolled up as
/// `COMPLETED_WITH_FAILURES`) and names the root exception from the JobManager's log.
#[test]
fn a_failed_flink_job_names_its_root_exception() {
    let env = env_json();
    let root = tempfile::tempdir().unwrap();
    let options = plugin_options(root.path(), &env, &s(&env, "rm_url"));
    let _supervisor = SupervisorGuard(root.path().join("data/supervisor"));
    let dmd = Dmd::start_with(root.path(), &options);
    let app = format!("bad{}", std::process::id());
    let _cleanup = YarnCleanup {
        rm: ResourceManager::new(&s(&env, "rm_url")),
        tag: format!("dm-app-{app}"),
    };
    let properties = json!({"application_args": "--rate not-a-number", "respawn_type": "no"});
    let jar = s(&env["jobs"], "flink_jar");
    let package = flink_package(&env, "bad-1.0.0", "flink_streaming_class", properties, &jar);
    dmd.deployed("bad-1.0.0", &package);
    dmd.started(&app, "bad-1.0.0", &current_user());

    let summary_path = format!("/applications/{app}/summary");
    let summary = within(
        "a FAILED summary with its cause",
        Duration::from_secs(300),
        || {
            let body = dmd.get(&summary_path).body;
            body[&app]["flink-1"]["failure"].is_string().then_some(body)
        },
    );
    let component = &summary[&app]["flink-1"];
    assert_eq!(
        summary[&app]["aggregate_status"], "COMPLETED_WITH_FAILURES",
        "{summary:#}"
    );
    assert_eq!(component["aggregate_status"], "FINISHED_FAILED");
    let failure = component["failure"].as_str().unwrap();
    assert!(
        failure.contains("NumberFormatException") && failure.contains("not-a-number"),
        "the root exception: {failure}"
    );
}

/// An Oozie workflow through dmd: PNDA's Oozie summary, CREATED while the job waits in PREP,
/// COMPLETED once Oozie says SUCCEEDED, with the job's id and its actions.
#[test]
fn an_oozie_workflows_summary_follows_oozie() {
    let env = env_json();
    if !env["oozie_url"].is_string() {
        panic!("the env runs without Oozie (DM_TESTENV_OOZIE=0); this test needs it");
    }
    let root = tempfile::tempdir().unwrap();
    let plugins = root.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(
        built_cdylib("dm_plugin_oozie"),
        plugins.join("libdm_plugin_oozie.so"),
    )
    .unwrap();
    // Oozie and the NameNode named once, in [oozie] and [hdfs]: the observer uses them too.
    let config = format!(
        "[plugins]\ndir = \"{}\"\n[hdfs]\nnamenode = \"{}\"\n[oozie]\nurl = \"{}\"\n[yarn]\nrm_url = \"{}\"\n[status]\ninterval_secs = {}\n",
        plugins.display(),
        s(&env, "namenode_url"),
        s(&env, "oozie_url"),
        s(&env, "rm_url"),
        CYCLE.as_secs_f64(),
    );
    let options = Options {
        config: Some(config),
        test_components: Some(false),
        ..Options::default()
    };
    let _supervisor = SupervisorGuard(root.path().join("data/supervisor"));
    let dmd = Dmd::start_with(root.path(), &options);
    let app = format!("wf{}", std::process::id());
    let workflow = r#"<workflow-app xmlns="uri:oozie:workflow:1.0" name="dm-status-once">
  <start to="mark"/>
  <action name="mark">
    <fs><mkdir path="${environment_name_node}/tmp/dm-status-${component_application}"/></fs>
    <ok to="end"/>
    <error to="fail"/>
  </action>
  <kill name="fail"><message>${wf:errorMessage(wf:lastErrorNode())}</message></kill>
  <end name="end"/>
</workflow-app>"#;
    let package = TarGz::new()
        .file("wf-1.0.0/oozie/once/workflow.xml", workflow)
        .file("wf-1.0.0/oozie/once/properties.json", "{}")
        .bytes();
    dmd.deployed("wf-1.0.0", &package);
    let user = current_user();
    let body = json!({"package": "wf-1.0.0"}).to_string();
    let path = format!("/applications/{app}?user.name={user}");
    assert_eq!(dmd.put(&path, Some(body.as_bytes())).code, 202);
    dmd.wait_status(&format!("/applications/{app}/status"), "CREATED");

    let summary_path = format!("/applications/{app}/summary");
    let created = within("CREATED from Oozie", Duration::from_secs(30), || {
        let body = dmd.get(&summary_path).body;
        (body[&app]["oozie-1"]["observed"]["source"] == "oozie").then_some(body)
    });
    assert_eq!(created[&app]["aggregate_status"], "CREATED", "{created:#}");
    let job = created[&app]["oozie-1"]["oozieId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(job.ends_with("-W"), "a workflow id: {job}");

    let start = format!("/applications/{app}/start?user.name={user}");
    assert_eq!(dmd.post(&start).code, 202);
    let done = within("COMPLETED", Duration::from_secs(120), || {
        let body = dmd.get(&summary_path).body;
        (body[&app]["aggregate_status"] == "COMPLETED").then_some(body)
    });
    let component = &done[&app]["oozie-1"];
    assert_eq!(component["componentType"], "Oozie");
    assert_eq!(component["oozieId"], job.as_str());
    assert_eq!(component["name"], "dm-status-once");

    assert_eq!(dmd.delete(&path).code, 202);
    dmd.wait_status(&format!("/applications/{app}/status"), "NOTCREATED");
}

/// A HistoryServer of the test's own, with nothing archived yet, on a free port: the env's JVM
/// command line (same Flink, classpath and options) with a configuration of its own. Killed
/// when dropped.
struct EmptyHistoryServer {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl EmptyHistoryServer {
    fn start(version: &str) -> EmptyHistoryServer {
        let (_, argv, env, cwd) = history_server_jvm(version);
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf");
        let archive = dir.path().join("archive");
        std::fs::create_dir_all(&archive).unwrap();
        std::fs::create_dir_all(&conf).unwrap();
        let at = argv.iter().position(|a| a == "--configDir").unwrap();
        let env_conf = PathBuf::from(&argv[at + 1]);
        for entry in std::fs::read_dir(&env_conf).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), conf.join(entry.file_name())).unwrap();
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = std::fs::read_to_string(conf.join("config.yaml")).unwrap();
        let mut lines: Vec<String> = config
            .lines()
            .filter(|l| !l.starts_with("historyserver."))
            .map(str::to_string)
            .collect();
        lines.push(format!(
            "historyserver.web.address: 127.0.0.1\nhistoryserver.web.port: {port}"
        ));
        lines.push(format!(
            "historyserver.web.tmpdir: {}",
            dir.path().join("tmp").display()
        ));
        lines.push(format!(
            "historyserver.archive.fs.dir: file://{}",
            archive.display()
        ));
        lines.push("historyserver.archive.fs.refresh-interval: 2 s".into());
        std::fs::write(conf.join("config.yaml"), lines.join("\n") + "\n").unwrap();
        // The value after `--configDir`: argv[at + 1], which is args[at] without argv[0].
        let mut args = argv[1..].to_vec();
        args[at] = conf.display().to_string();
        for arg in args.iter_mut() {
            if arg.starts_with("-Dlog.file=") {
                *arg = format!("-Dlog.file={}", dir.path().join("hs.log").display());
            }
        }
        let log = std::fs::File::create(dir.path().join("hs.out")).unwrap();
        let child = std::process::Command::new(&argv[0])
            .args(&args)
            .env_clear()
            .envs(env)
            .current_dir(cwd)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let server = EmptyHistoryServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        within(
            "the empty HistoryServer to answer",
            Duration::from_secs(90),
            || {
                ureq::get(&format!("{}/config", server.url))
                    .call()
                    .ok()
                    .map(drop)
            },
        );
        server
    }
}

impl Drop for EmptyHistoryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The seed design's rule: a HistoryServer that has archived nothing yet is healthy, with 0
/// completed jobs; for every Flink version of the env.
#[test]
fn a_flink_history_server_with_nothing_archived_is_healthy() {
    let env = env_json();
    for version in env["flink"].as_object().unwrap().keys() {
        empty_history_server_is_healthy(version);
    }
}

fn empty_history_server_is_healthy(version: &str) {
    let server = EmptyHistoryServer::start(version);
    // Flink 1.4 answered 404 here until the first archive; 2.x serves an empty list at once.
    // Either is a healthy server with no completed jobs.
    match ureq::get(&format!("{}/jobs/overview", server.url)).call() {
        Err(ureq::Error::StatusCode(404)) => {
            eprintln!("Flink {version}: 404 before the first archive")
        }
        Ok(mut r) => {
            let body: Value = r.body_mut().read_json().unwrap();
            assert_eq!(body["jobs"], json!([]), "nothing archived yet");
            eprintln!("Flink {version}: an empty list before the first archive");
        }
        Err(e) => panic!("{e}"),
    }
    let root = tempfile::tempdir().unwrap();
    let config = format!(
        "[cluster]\nflink_history_urls = [{:?}]\n[health]\ninterval_secs = {}\n",
        server.url,
        CYCLE.as_secs_f64()
    );
    let dmd = Dmd::start_with(
        root.path(),
        &Options {
            config: Some(config),
            ..Options::default()
        },
    );
    let health = within("flink.health", Duration::from_secs(30), || {
        let health = dmd.get("/platform/health").body;
        metric(&health, "flink.health")
            .is_object()
            .then_some(health)
    });
    assert_eq!(metric(&health, "flink.health")["value"], "OK", "{health:#}");
    assert_eq!(metric(&health, "hadoop.flink.health")["value"], "OK");
    assert_eq!(
        metric(&health, "flink.history_server_completed_jobs_count")["value"],
        0
    );
    assert_eq!(
        metric(&health, "flink.installed_flink_version")["value"],
        version
    );
}
