//! Slow suite, against the real loopback cluster (`tests/env/up`): PNDA's own example packages
//! (`tests/pnda-examples/`, copied from pndaproject/example-applications) go through a real dmd
//! with its plugins and dm-supervisor, unchanged. Each package is built as PNDA's Maven assembly
//! built it (`<artifactId>-<version>.tar.gz`, the resource tree under that top folder, the jars
//! of its com.cisco.pnda dependencies where the assembly put them). Those jars are not PNDA's
//! (their code needs Kafka, HBase, OpenTSDB…): the test builds placeholders of the same name and
//! main class that run dm's example jobs (`examples/jobs/flink-java`) or a Spark `rate` stream,
//! so the jobs really run on YARN.
//!
//! Where the engine exists here (Flink, Spark Streaming, Oozie shell/fs actions, Jupyter):
//! upload → deploy → create → start → summary → stop → destroy. Where it does not (Oozie `spark`
//! actions need a Spark sharelib, which the env does not install; see tests/env/README.md):
//! upload → deploy → create (staged on HDFS, the Oozie job waiting) → summary → destroy.
//! Each test prints what it did and how long each step took.
//!
//! Run with `cargo test -p dm-core --features real-cluster --test real_cluster_pnda_examples
//! -- --test-threads 1 --nocapture`.

mod common;

use common::{current_user, env_json, jobs_config, s, Dmd, Options, SupervisorGuard};
use dm_clients::yarn::{FinalStatus, ResourceManager, YarnApp, YarnState};
use dm_testkit::built_cdylib;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

// The bounds the waits come from.
/// dmd's status observer runs every CYCLE (`[status] interval_secs` below), each call bounded
/// by CALL_TIMEOUT: a summary shows what YARN or Oozie says within two cycles of it.
const CYCLE: Duration = Duration::from_secs(1);
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// dm-supervisor kills a YARN application still waiting for resources after 300 s
/// (`SUBMISSION_DEADLINE` in supervisor/src/supervisor.rs): a job not RUNNING by then never is.
const SUBMISSION_DEADLINE: Duration = Duration::from_secs(300);
/// Flink's stop steps (savepoint, then cancel) are given 120 s each by the plugin
/// (`STOP_TIMEOUT_SEC`), then the YARN application is killed and awaited 60 s.
const FLINK_STOP: Duration = Duration::from_secs(2 * 120 + 60);
/// dmd's operations that touch only dmd, HDFS and Oozie (deploy, create, destroy of Oozie
/// components, start/stop of Oozie jobs): each of their calls is bounded by dmd's HTTP client
/// timeouts, 30 s at most (`common::WAIT`, the same bound the other suites use).
const DMD_OPERATION: Duration = common::WAIT;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/pnda-examples")
}

/// Polls `check` every 100 ms until it gives a value; after `limit`, fails naming what was
/// awaited and the last thing seen.
fn within<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match check() {
            Ok(value) => return value,
            Err(seen) if Instant::now() >= deadline => {
                panic!("timed out after {limit:?} waiting for {what}; last seen: {seen}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

// ----- placeholders for what Maven put into the tarballs -----

fn run(program: &Path, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{} {args:?} failed:\n{}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Compiles `sources` (`(path under the source root, text)`) plus `extra` files against
/// `classpath` and jars them; the jar's bytes.
fn build_jar(
    env: &Value,
    classpath: &str,
    sources: &[(String, String)],
    extra: &[PathBuf],
) -> Vec<u8> {
    let java_home = PathBuf::from(s(env, "java_home"));
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let classes = dir.path().join("classes");
    std::fs::create_dir_all(&classes).unwrap();
    let mut files: Vec<String> = extra.iter().map(|p| p.display().to_string()).collect();
    for (path, text) in sources {
        let file = src.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, text).unwrap();
        files.push(file.display().to_string());
    }
    let mut args = vec!["-nowarn", "--release", "17", "-cp", classpath, "-d"];
    let classes_arg = classes.display().to_string();
    args.push(&classes_arg);
    args.extend(files.iter().map(String::as_str));
    run(&java_home.join("bin/javac"), &args);
    let jar = dir.path().join("out.jar");
    let jar_arg = jar.display().to_string();
    run(
        &java_home.join("bin/jar"),
        &["cf", &jar_arg, "-C", &classes_arg, "."],
    );
    std::fs::read(jar).unwrap()
}

/// `package.Class` whose main runs `target`'s main with PNDA's arguments (`--key value` pairs,
/// which dm's example jobs read and ignore when unknown).
fn delegate(class: &str, target: &str) -> (String, String) {
    let (package, name) = class.rsplit_once('.').unwrap();
    (
        format!("{}.java", class.replace('.', "/")),
        format!(
            "package {package};\n\n/** Stands in for PNDA's {name} in dm's tests: runs {target}. */\n\
             public final class {name} {{\n    public static void main(String[] args) throws Exception {{\n        {target}.main(args);\n    }}\n}}\n"
        ),
    )
}

/// The Flink placeholder: dm's example jobs plus PNDA's three main classes delegating to them,
/// compiled against the default Flink version's own lib/ (as tests/env/build-jobs does).
fn flink_jar(env: &Value) -> Vec<u8> {
    static JAR: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    JAR.get_or_init(|| {
        let version = s(env, "flink_default_version");
        let lib = format!("{}/lib/*", s(&env["flink"][&version], "home"));
        let examples = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/jobs/flink-java/src/main/java/dm/examples/flink");
        let extra: Vec<PathBuf> = std::fs::read_dir(&examples)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "java"))
            .collect();
        let sources = [
            delegate(
                "com.cisco.pnda.examples.flink.WordCountBatchApp",
                "dm.examples.flink.BatchJob",
            ),
            delegate(
                "com.cisco.pnda.examples.flink.WordCountStreamApp",
                "dm.examples.flink.StreamingJob",
            ),
            // PNDA's properties say "batch", but it reads Kafka until stopped.
            delegate(
                "com.cisco.pnda.examples.HostNetworkDataUsage",
                "dm.examples.flink.StreamingJob",
            ),
        ];
        build_jar(env, &lib, &sources, &extra)
    })
    .clone()
}

/// The Spark Streaming placeholder for `com.cisco.pnda.examples.spark.App` (PNDA's reads Kafka
/// and writes HBase): a Structured Streaming `rate` source to the console, until stopped.
fn spark_streaming_jar(env: &Value) -> Vec<u8> {
    let source = (
        "com/cisco/pnda/examples/spark/App.java".to_string(),
        "package com.cisco.pnda.examples.spark;\n\n\
         import org.apache.spark.sql.SparkSession;\n\n\
         /** Stands in for PNDA's App in dm's tests: counts a rate source until stopped. */\n\
         public final class App {\n    public static void main(String[] args) throws Exception {\n\
         \x20       SparkSession spark = SparkSession.builder().getOrCreate();\n\
         \x20       spark.readStream().format(\"rate\").option(\"rowsPerSecond\", \"5\").load()\n\
         \x20           .writeStream().format(\"console\").start().awaitTermination();\n    }\n}\n"
            .to_string(),
    );
    build_jar(
        env,
        &format!("{}/jars/*", s(env, "spark_home")),
        &[source],
        &[],
    )
}

/// A jar (or egg: a zip too) with nothing in it but a manifest: for code that only the engines
/// missing here would run.
fn empty_jar(env: &Value) -> Vec<u8> {
    let java_home = PathBuf::from(s(env, "java_home"));
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("empty.jar");
    let (jar_arg, dir_arg) = (
        jar.display().to_string(),
        dir.path().join("c").display().to_string(),
    );
    std::fs::create_dir_all(dir.path().join("c")).unwrap();
    run(
        &java_home.join("bin/jar"),
        &["cf", &jar_arg, "-C", &dir_arg, "."],
    );
    std::fs::read(jar).unwrap()
}

/// PNDA's tarball of `id`: `tests/pnda-examples/<id>/` under the top folder `<id>/`, plus
/// `placeholders` (path in the package, bytes).
fn package(id: &str, placeholders: &[(&str, Vec<u8>)]) -> Vec<u8> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, base, out);
            } else {
                let rel = path.strip_prefix(base).unwrap().display().to_string();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    let root = examples_dir().join(id);
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    assert!(!files.is_empty(), "no files under {}", root.display());
    files.extend(
        placeholders
            .iter()
            .map(|(rel, bytes)| (rel.to_string(), bytes.clone())),
    );
    // GNU long names for paths over 100 bytes, as Maven's assembly plugin writes them.
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (rel, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, format!("{id}/{rel}"), bytes.as_slice())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

// ----- dmd with every plugin, on the loopback cluster -----

fn plugin_dmd(root: &Path, env: &Value, flink_dist: Option<&str>) -> (Dmd, SupervisorGuard) {
    let guard = SupervisorGuard(root.join("data/supervisor"));
    let version = s(env, "flink_default_version");
    // Flink, Spark Streaming, YARN, HDFS and Oozie from jobs_config; Oozie's and Jupyter's plugins.
    let mut config = jobs_config(root, env, "yarn", &version);
    for lib in ["dm_plugin_oozie", "dm_plugin_jupyter"] {
        std::fs::copy(built_cdylib(lib), root.join(format!("plugins/lib{lib}.so"))).unwrap();
    }
    // Python jobs' interpreter and the Flink distribution of Flink jobs through Oozie (PDP-3).
    let mut engines = format!(
        "[jobs.engines]\npython = \"{}\"\n",
        s(&env["flink"][&version], "python"),
    );
    if let Some(dist) = flink_dist {
        engines.push_str(&format!(
            "flink_dists = {{ \"{version}\" = \"{}{dist}\" }}\n",
            s(env, "namenode_url")
        ));
    }
    for (table, with) in [
        ("[jobs.engines]\n", engines),
        // The RM's RPC address, for the Flink jobs Oozie's actions submit.
        (
            "[yarn]\n",
            format!("[yarn]\nrm_address = \"{}\"\n", s(env, "rm_address")),
        ),
    ] {
        assert!(config.contains(table), "{table} in {config}");
        config = config.replacen(table, &with, 1);
    }
    let (rm_host, rm_port) = s(env, "rm_address")
        .rsplit_once(':')
        .map(|(h, p)| (h.to_string(), p.to_string()))
        .unwrap();
    let histories: Vec<String> = env["flink"]
        .as_object()
        .unwrap()
        .values()
        .map(|f| format!("{:?}", s(f, "history_url")))
        .collect();
    config.push_str(&format!(
        r#"
# What PNDA's workflows name: ${{environment_yarn_resource_manager_host}}:${{…_mr_port}}.
[environment]
yarn_resource_manager_host = "{rm_host}"
yarn_resource_manager_mr_port = "{rm_port}"

[cluster]
flink_history_urls = [{histories}]
spark_history_url = "{spark}"

[status]
interval_secs = {cycle}
timeout_ms = {timeout}
"#,
        histories = histories.join(", "),
        spark = s(env, "spark_history_url"),
        cycle = CYCLE.as_secs_f64(),
        timeout = CALL_TIMEOUT.as_millis(),
    ));
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

/// Kills what is left of the application on YARN when the test ends (a failed assertion must
/// not leave jobs running for the next test).
struct YarnCleanup {
    rm: ResourceManager,
    tag: String,
}

impl Drop for YarnCleanup {
    fn drop(&mut self) {
        if let Ok(apps) = self.rm.apps_tagged(&self.tag) {
            for app in apps.iter().filter(|a| !a.is_final()) {
                let _ = self.rm.kill(&app.id);
            }
        }
    }
}

/// One package's run: dmd, the app's name, and the step times it prints at the end.
struct Run {
    dmd: Dmd,
    _supervisor: SupervisorGuard,
    _yarn: YarnCleanup,
    _root: tempfile::TempDir,
    rm: ResourceManager,
    id: String,
    app: String,
    user: String,
    steps: Vec<(String, Duration)>,
    began: Instant,
}

impl Run {
    fn new(id: &str, short: &str, flink_dist: Option<&str>) -> Run {
        let env = env_json();
        let root = tempfile::tempdir().unwrap();
        let (dmd, supervisor) = plugin_dmd(root.path(), &env, flink_dist);
        let app = format!("{short}{}", std::process::id());
        let rm = ResourceManager::new(&s(&env, "rm_url"));
        Run {
            _yarn: YarnCleanup {
                rm: ResourceManager::new(&s(&env, "rm_url")),
                tag: format!("dm-app-{app}"),
            },
            rm,
            dmd,
            _supervisor: supervisor,
            _root: root,
            id: id.to_string(),
            app,
            user: current_user(),
            steps: Vec::new(),
            began: Instant::now(),
        }
    }

    fn step<T>(&mut self, name: &str, f: impl FnOnce(&Run) -> T) -> T {
        let t = Instant::now();
        let value = f(self);
        self.steps.push((name.to_string(), t.elapsed()));
        value
    }

    fn status_path(&self) -> String {
        format!("/applications/{}/status", self.app)
    }

    /// Waits until the application's status is `want`, within `limit`.
    fn wait_app(&self, want: &str, limit: Duration) -> Value {
        within(&format!("{} to be {want}", self.app), limit, || {
            let body = self.dmd.get(&self.status_path()).body;
            if body["status"] == want {
                Ok(body)
            } else {
                Err(format!("{body}"))
            }
        })
    }

    fn upload_and_deploy(&mut self, bytes: &[u8]) {
        let id = self.id.clone();
        self.step("upload+deploy", |r| {
            let reply = r.dmd.upload(&id, bytes);
            assert_eq!(reply.code, 200, "upload {id}: {}", reply.body);
            let reply = r
                .dmd
                .put(&format!("/packages/{id}?user.name={}", r.user), None);
            assert_eq!(reply.code, 202, "deploy {id}: {}", reply.body);
            within(&format!("{id} to be DEPLOYED"), DMD_OPERATION, || {
                let body = r.dmd.get(&format!("/packages/{id}/status")).body;
                match body["status"].as_str() {
                    Some("DEPLOYED") => Ok(()),
                    Some("NOTDEPLOYED") if body["information"].is_string() => {
                        panic!("{id} did not deploy: {body}")
                    }
                    _ => Err(format!("{body}")),
                }
            });
        });
    }

    fn create(&mut self) {
        let id = self.id.clone();
        self.step("create", |r| {
            let reply = r.dmd.create_as(&r.app, &id, &r.user);
            assert_eq!(
                reply.code, 202,
                "create {} from {id}: {}",
                r.app, reply.body
            );
            within(
                &format!("{} to be CREATED", r.app),
                SUBMISSION_DEADLINE,
                || {
                    let body = r.dmd.get(&r.status_path()).body;
                    match body["status"].as_str() {
                        Some("CREATED") => Ok(()),
                        Some("NOTCREATED") if body["information"].is_string() => {
                            panic!(
                                "{} was not created from {id}: {body}\n{}",
                                r.app,
                                r.dmd.log_text()
                            )
                        }
                        _ => Err(format!("{body}")),
                    }
                },
            );
        });
    }

    fn start(&mut self) {
        self.step("start", |r| {
            let path = format!("/applications/{}/start?user.name={}", r.app, r.user);
            assert_eq!(r.dmd.post(&path).code, 202);
            r.wait_app("STARTED", DMD_OPERATION);
        });
    }

    fn stop(&mut self, limit: Duration) {
        self.step("stop", |r| {
            let path = format!("/applications/{}/stop?user.name={}", r.app, r.user);
            assert_eq!(r.dmd.post(&path).code, 202);
            r.wait_app("CREATED", limit);
        });
    }

    fn destroy(&mut self, limit: Duration) {
        self.step("destroy", |r| {
            let path = format!("/applications/{}?user.name={}", r.app, r.user);
            let reply = r.dmd.delete(&path);
            assert_eq!(reply.code, 202, "{}", reply.body);
            r.wait_app("NOTCREATED", limit);
        });
    }

    /// Waits until the summary's `component` satisfies `check`; the whole summary.
    fn summary_until(
        &self,
        what: &str,
        limit: Duration,
        check: impl Fn(&Value, &Value) -> bool,
    ) -> Value {
        let path = format!("/applications/{}/summary", self.app);
        within(what, limit, || {
            let body = self.dmd.get(&path).body;
            let app = &body[&self.app];
            let component = app
                .as_object()
                .and_then(|o| {
                    o.iter()
                        .find(|(k, v)| k.as_str() != "aggregate_status" && v.is_object())
                })
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null);
            if check(app, &component) {
                Ok(body)
            } else {
                Err(format!("{body}"))
            }
        })
    }

    /// The live YARN applications of the app.
    fn live_on_yarn(&self) -> Vec<YarnApp> {
        self.rm
            .apps_tagged(&format!("dm-app-{}", self.app))
            .unwrap()
            .into_iter()
            .filter(|a| !a.is_final())
            .collect()
    }

    fn report(&self, outcome: &str) {
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|(n, d)| format!("{n} {:.1} s", d.as_secs_f64()))
            .collect();
        println!(
            "PNDA example {}: {outcome}; {} (total {:.1} s)",
            self.id,
            steps.join(", "),
            self.began.elapsed().as_secs_f64()
        );
    }
}

/// Twice the observer's cycle (plus its call bound): how long the summary may lag behind YARN
/// or Oozie.
fn observed() -> Duration {
    2 * (CYCLE + CALL_TIMEOUT)
}

/// A streaming package whose job runs until stopped: RUNNING on YARN with dm's tags and in the
/// summary with that YARN id; stop leaves nothing on YARN; destroy.
fn streaming_lifecycle(id: &str, short: &str, placeholders: &[(&str, Vec<u8>)], stop: Duration) {
    let mut run = Run::new(id, short, None);
    run.upload_and_deploy(&package(id, placeholders));
    run.create();
    run.start();
    let summary = run.step("start→RUNNING", |r| {
        r.summary_until(
            "the summary to say RUNNING with a YARN application id",
            SUBMISSION_DEADLINE + observed(),
            |app, component| {
                app["aggregate_status"] == "RUNNING"
                    && component["yarnId"]
                        .as_str()
                        .is_some_and(|y| y.starts_with("application_"))
            },
        )
    });
    let yarn_id = summary[&run.app]
        .as_object()
        .unwrap()
        .values()
        .find_map(|c| c["yarnId"].as_str())
        .unwrap()
        .to_string();
    let on_yarn = run.rm.app(&yarn_id).unwrap();
    assert_eq!(on_yarn.state, YarnState::Running, "{on_yarn:?}");
    assert!(
        on_yarn.has_tags(&[format!("dm-app-{}", run.app)]),
        "{on_yarn:?}"
    );
    run.stop(stop);
    let left = run.live_on_yarn();
    assert!(left.is_empty(), "stop left {left:?} on YARN");
    run.destroy(DMD_OPERATION);
    run.report(&format!("RUNNING on YARN as {yarn_id}, stopped, destroyed"));
}

// ----- the twelve packages -----

#[test]
fn flink_socket_streaming_example_runs_and_stops() {
    let env = env_json();
    streaming_lifecycle(
        "flink-socket-streaming-example-app-1.0.0",
        "fss",
        &[(
            "flink/example/flink-socket-streaming-example.jar",
            flink_jar(&env),
        )],
        FLINK_STOP,
    );
}

#[test]
fn flink_host_network_data_usage_example_runs_and_stops() {
    let env = env_json();
    streaming_lifecycle(
        "flink-streaming-host-network-data-usage-java-example-app-1.0.0",
        "fhn",
        &[(
            "flink/example/flink-streaming-host-network-data-usage-java-example.jar",
            flink_jar(&env),
        )],
        FLINK_STOP,
    );
}

#[test]
fn flink_batch_hashtagcount_example_runs_to_success() {
    let env = env_json();
    let id = "flink-batch-hashtagcount-metrics-java-example-app-1.0.0";
    let mut run = Run::new(id, "fbh", None);
    run.upload_and_deploy(&package(
        id,
        &[(
            "flink/example/flink-batch-hashtagcount-metrics-java-example.jar",
            flink_jar(&env),
        )],
    ));
    run.create();
    run.start();
    // The batch job ends by itself: its YARN application SUCCEEDED, and the summary says so.
    let finished = run.step("start→FINISHED", |r| {
        within(
            "the Flink batch job's YARN application to end",
            SUBMISSION_DEADLINE,
            || {
                let apps =
                    r.rm.apps_tagged(&format!("dm-app-{}", r.app))
                        .map_err(|e| e.to_string())?;
                match apps.as_slice() {
                    [one] if one.is_final() => Ok(one.clone()),
                    other => Err(format!("{other:?}")),
                }
            },
        )
    });
    assert_eq!(
        finished.final_status,
        FinalStatus::Succeeded,
        "{finished:?}"
    );
    run.summary_until(
        "the summary to say COMPLETED",
        observed(),
        |app, component| {
            app["aggregate_status"] == "COMPLETED"
                && component["yarnId"].as_str() == Some(finished.id.as_str())
        },
    );
    run.stop(DMD_OPERATION);
    run.destroy(DMD_OPERATION);
    run.report(&format!("batch job {} SUCCEEDED, destroyed", finished.id));
}

#[test]
fn spark_streaming_to_hbase_example_runs_and_stops() {
    let env = env_json();
    streaming_lifecycle(
        "spark-streaming-to-hbase-example-app-2.3.1",
        "ssh",
        &[(
            "sparkStreaming/example/spark-streaming-to-hbase-example.jar",
            spark_streaming_jar(&env),
        )],
        // Spark jobs stop by a YARN kill: 5 s of SIGTERM grace, then the supervisor's 60 s wait.
        Duration::from_secs(65) + observed(),
    );
}

/// dm-supervisor's bound on a submit command (`SUBMIT_TIMEOUT` in supervisor/src/supervisor.rs).
const SUBMIT_TIMEOUT: Duration = Duration::from_secs(600);

/// PNDA's spark2-streaming-python example is Python 2 (`print '…'`): spark-submit runs it on
/// YARN unchanged and the driver dies on its first line. dm shows it FAILED (not respawned: it
/// failed before it ran), and stops and destroys cleanly.
#[test]
fn spark2_streaming_python_example_is_submitted_and_fails_on_python_3() {
    let id = "spark2-streaming-example-app-python-1.0.0";
    let mut run = Run::new(id, "s2p", None);
    run.upload_and_deploy(&package(id, &[]));
    run.create();
    run.start();
    let summary = run.step("start→FAILED", |r| {
        r.summary_until(
            "the summary to show the job FAILED on YARN",
            SUBMISSION_DEADLINE + observed(),
            |app, component| {
                app["aggregate_status"] == "FAILED"
                    && component["yarnId"]
                        .as_str()
                        .is_some_and(|y| y.starts_with("application_"))
            },
        )
    });
    let component = summary[&run.app]
        .as_object()
        .unwrap()
        .values()
        .find(|c| c["yarnId"].is_string())
        .unwrap();
    let yarn_id = component["yarnId"].as_str().unwrap().to_string();
    assert_eq!(
        run.rm.app(&yarn_id).unwrap().final_status,
        FinalStatus::Failed
    );
    let attempts = run.rm.apps_tagged(&format!("dm-app-{}", run.app)).unwrap();
    assert_eq!(
        attempts.len(),
        1,
        "a job that fails at once is not respawned: {attempts:?}"
    );
    run.stop(DMD_OPERATION);
    assert!(run.live_on_yarn().is_empty());
    run.destroy(DMD_OPERATION);
    run.report(&format!(
        "submitted to YARN as {yarn_id}; the Python 2 driver failed on Python 3 (FAILED in the summary, not respawned)"
    ));
}

/// PNDA's spark-streaming-python example passes `--jars hdfs:///pnda/deployment/app_packages/…`
/// (Kafka 0.8 jars that PNDA's platform put there): spark-submit refuses before anything
/// reaches YARN, and dm says so, with spark-submit's reason in the component's log, without
/// respawning.
#[test]
fn spark_streaming_python_example_fails_to_submit_without_pndas_platform_jars() {
    let env = env_json();
    let id = "spark-streaming-example-app-python-1.1.1";
    let mut run = Run::new(id, "ssp", None);
    run.upload_and_deploy(&package(
        id,
        &[(
            "sparkStreaming/example/avro-1.8.1-py2.7.egg",
            empty_jar(&env),
        )],
    ));
    run.create();
    run.start();
    run.step("start→FAILED_TO_SUBMIT", |r| {
        r.summary_until(
            "the summary to show the submission failed",
            SUBMIT_TIMEOUT + observed(),
            |_, component| component["aggregate_status"] == "FAILED_TO_SUBMIT_TO_YARN",
        )
    });
    let logs = run
        .dmd
        .get(&format!(
            "/applications/{}/logs?user.name={}",
            run.app, run.user
        ))
        .body;
    let text = logs["sparkStreaming-example"]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        text.contains("File does not exist: hdfs://")
            && text.contains("/pnda/deployment/app_packages"),
        "the log names the missing platform jars: {logs:#}"
    );
    assert!(run.live_on_yarn().is_empty());
    run.stop(DMD_OPERATION);
    run.destroy(DMD_OPERATION);
    run.report(
        "spark-submit refused: PNDA's platform jars (hdfs:///pnda/deployment/app_packages/) are not here; \
         FAILED_TO_SUBMIT_TO_YARN, not respawned",
    );
}

/// An Oozie package this env cannot run (its actions need a sharelib the env lacks): deploy,
/// create (staged on HDFS, the Oozie job waiting: PREP or PREPSUSPENDED), the summary naming
/// the Oozie job with every component CREATED, destroy.
fn oozie_create_only(id: &str, short: &str, placeholders: &[(&str, Vec<u8>)], why: &str) {
    let mut run = Run::new(id, short, None);
    run.upload_and_deploy(&package(id, placeholders));
    run.create();
    let summary = run.step("summary", |r| {
        r.summary_until(
            "the summary to show the Oozie job waiting",
            observed(),
            |app, _| {
                // Every component (the Oozie job, and literary-word-count's notebook) CREATED.
                let components: Vec<&Value> = app
                    .as_object()
                    .map(|o| o.values().filter(|c| c.is_object()).collect())
                    .unwrap_or_default();
                app["aggregate_status"] == "CREATED"
                    && !components.is_empty()
                    && components
                        .iter()
                        .all(|c| c["aggregate_status"] == "CREATED")
                    && components.iter().any(|c| {
                        c["oozieId"]
                            .as_str()
                            .is_some_and(|j| j.ends_with("-W") || j.ends_with("-C"))
                    })
            },
        )
    });
    run.destroy(DMD_OPERATION);
    let types: Vec<String> = summary[&run.app]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|c| c["componentType"].as_str().map(String::from))
        .collect();
    run.report(&format!(
        "created only ({why}); {} CREATED, Oozie job {} waiting",
        types.join(" + "),
        oozie_component(&summary, &run.app)["oozieId"],
    ));
}

/// The Oozie component of `app` in a summary.
fn oozie_component<'a>(summary: &'a Value, app: &str) -> &'a Value {
    summary[app]
        .as_object()
        .and_then(|o| o.values().find(|c| c["oozieId"].is_string()))
        .unwrap_or(&Value::Null)
}

const SPARK_ACTION: &str = "Oozie spark action: no Spark sharelib on the loopback cluster";

#[test]
fn spark_batch_coordinator_example_is_created() {
    let env = env_json();
    oozie_create_only(
        "spark-batch-example-app-c-1.1.2",
        "sbc",
        &[("oozie/example/lib/spark-batch-example.jar", empty_jar(&env))],
        SPARK_ACTION,
    );
}

#[test]
fn spark_batch_subworkflow_example_is_created() {
    let env = env_json();
    oozie_create_only(
        "spark-batch-example-app-wf-1.1.2",
        "sbw",
        &[("oozie/example/lib/spark-batch-example.jar", empty_jar(&env))],
        SPARK_ACTION,
    );
}

#[test]
fn spark_batch_python_example_is_created() {
    oozie_create_only(
        "spark-batch-example-app-python-1.0.1",
        "sbp",
        &[],
        SPARK_ACTION,
    );
}

#[test]
fn traffic_loss_analysis_example_is_created() {
    oozie_create_only("tla-app-python-1.1.0", "tla", &[], SPARK_ACTION);
}

/// An Oozie coordinator (word count: a shell action that downloads, then a spark action) and a
/// Jupyter notebook. The spark action cannot run here, and the download needs the internet.
#[test]
fn literary_word_count_example_is_created() {
    let env = env_json();
    oozie_create_only(
        "literary-word-count-app-wf-0.3.2",
        "lwc",
        &[("oozie/word-count/lib/word-count-app.jar", empty_jar(&env))],
        "Oozie spark action (no Spark sharelib) after a download from the internet",
    );
}

/// PDP-3's Flink Python batch job through Oozie: a coordinator every 20 minutes whose ssh
/// action dm turns into a shell action running `flink run … -pym job` on a NodeManager. Start
/// resumes the coordinator (RUNNING in Oozie and in the summary), stop suspends it, destroy
/// kills it.
#[test]
fn flink_wordcount_python_coordinator_runs_suspends_and_is_killed() {
    let env = env_json();
    let version = s(&env, "flink_default_version");
    let dist = dm_testkit::cluster::flink_dist_on_hdfs(&env, &version);
    let id = "flink-wordcount-python-app-0.0.1";
    let mut run = Run::new(id, "fwp", Some(&dist));
    run.upload_and_deploy(&package(id, &[]));
    run.create();
    let status = |want: &'static str| {
        move |_: &Value, component: &Value| {
            component["oozieId"]
                .as_str()
                .is_some_and(|j| j.ends_with("-C"))
                && component["aggregate_status"] == want
        }
    };
    run.summary_until("the coordinator waiting", observed(), status("CREATED"));
    run.start();
    // Resumed, the coordinator is PREP until Oozie materializes its first run: at its start,
    // `${deployment_start}`, which the plugin sets at most 3 minutes ahead, looked up every
    // 10 s (CoordMaterializeTriggerService.lookup.interval in tests/env/oozie/prepare).
    let running = run.step("start→RUNNING", |r| {
        r.summary_until(
            "the coordinator RUNNING in the summary",
            Duration::from_secs(3 * 60 + 10) + observed(),
            status("RUNNING"),
        )
    });
    run.stop(DMD_OPERATION);
    let suspended = run.summary_until("the coordinator SUSPENDED", observed(), status("SUSPENDED"));
    run.destroy(DMD_OPERATION);
    run.report(&format!(
        "coordinator {} RUNNING then SUSPENDED (summary {} / {}), destroyed",
        oozie_component(&running, &run.app)["oozieId"],
        running[&run.app]["aggregate_status"],
        suspended[&run.app]["aggregate_status"]
    ));
}
