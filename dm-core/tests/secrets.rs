//! Secrets never leak: planted in every place a secret is given to dmd (the environment,
//! `[jobs] env`, dmd's own process environment, the bearer tokens, a package's properties, a
//! create's overrides), then every output a user can see is searched for them: dmd's log,
//! every read of the API, error answers, an application's logs. The job is a stand-in `flink`
//! script run by the real plugin and supervisor (as in `plugins.rs`).

mod common;

use common::{current_user, supervisor_binary, Dmd, Options, SupervisorGuard};
use dm_testkit::{built_cdylib, TarGz};
use serde_json::json;
use std::path::Path;

/// Every planted secret shares this, so one search finds any of them.
const MARK: &str = "S3CRET";

fn start(root: &Path) -> (Dmd, SupervisorGuard) {
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
    // Prints only what a job that keeps its secrets would: nothing of them.
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"flink started\"\nexec sleep 300\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let tokens = root.join("tokens");
    // Jobs run as the application's user when dmd is root: the token's user exists.
    std::fs::write(&tokens, format!("{MARK}-token-1 {}\n", current_user())).unwrap();
    let config = format!(
        r#"
[auth]
mode = "bearer"
tokens_file = {tokens:?}

[environment]
kafka_brokers = "127.0.0.1:9092"
hadoop_manager_password = "{MARK}-env-2"
cluster_private_key = "{MARK}-env-3"

[plugins]
dir = {plugins:?}

[jobs]
target = "local"

[jobs.env]
API_TOKEN = "{MARK}-jobs-env-4"

[jobs.engines]
flink_homes = {{ "2.3.0" = {home:?} }}

[supervisor]
binary = {supervisor:?}
"#,
        supervisor = supervisor_binary(),
    );
    let guard = SupervisorGuard(root.join("data/supervisor"));
    let dmd = Dmd::start_with(
        root,
        &Options {
            config: Some(config),
            env: vec![
                ("DM_SECRET_KEY".into(), format!("{MARK}-process-5")),
                ("DB_PASSWORD".into(), format!("{MARK}-process-6")),
            ],
            test_components: Some(false),
            ..Options::default()
        },
    );
    (dmd, guard)
}

#[test]
fn planted_secrets_appear_in_no_output() {
    let root = tempfile::tempdir().unwrap();
    let (dmd, _supervisor) = start(root.path());
    let alice = format!("Bearer {MARK}-token-1");
    let as_alice = [("Authorization", alice.as_str())];
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut record = |what: String, reply: &common::Reply| {
        seen.push((what, String::from_utf8_lossy(&reply.bytes).into_owned()));
    };

    let id = "vault-1.0.0";
    let properties = json!({"main_jar": "job.jar", "main_class": "dm.Job",
                            "db_password": format!("{MARK}-package-7"), "threads": "2"});
    let package = TarGz::new()
        .file(format!("{id}/flink/stream/application.properties"), "")
        .file(
            format!("{id}/flink/stream/properties.json"),
            properties.to_string(),
        )
        .file(format!("{id}/flink/stream/job.jar"), "jar bytes")
        .bytes();
    let put = |path: &str, body: Option<&[u8]>| dmd.call("PUT", path, body, &as_alice);
    let reply = put(&format!("/repository/packages/{id}.tar.gz"), Some(&package));
    assert_eq!(reply.code, 200, "{}", reply.body);
    assert_eq!(put(&format!("/packages/{id}"), None).code, 202);
    dmd.wait_status(&format!("/packages/{id}/status"), "DEPLOYED");

    let overrides = json!({"package": id,
                           "flink": {"stream": {"api_token": format!("{MARK}-override-8")}}});
    let reply = put(
        "/applications/vault",
        Some(overrides.to_string().as_bytes()),
    );
    assert_eq!(reply.code, 202, "{}", reply.body);
    dmd.wait_status("/applications/vault/status", "CREATED");
    let start = dmd.call("POST", "/applications/vault/start", None, &as_alice);
    assert_eq!(start.code, 202, "{}", start.body);
    dmd.wait_status("/applications/vault/status", "STARTED");

    // Errors that carry what was sent: an override for a component the package lacks, a body
    // that is not JSON, a wrong token.
    let bad = json!({"package": id, "flink": {"nope": {"password": format!("{MARK}-error-9")}}});
    let reply = put("/applications/bad", Some(bad.to_string().as_bytes()));
    assert_eq!(reply.code, 400, "{}", reply.body);
    record("create with a bad override".into(), &reply);
    let reply = put(
        "/applications/bad",
        Some(format!("{{\"package\": \"{MARK}-error-10").as_bytes()),
    );
    assert_eq!(reply.code, 400, "{}", reply.body);
    record("create with a broken body".into(), &reply);
    let wrong = format!("Bearer {MARK}-wrong-11");
    let reply = dmd.call("GET", "/packages", None, &[("Authorization", &wrong)]);
    assert_eq!(reply.code, 401, "{}", reply.body);
    record("a wrong token".into(), &reply);

    // Every read a user has, as alice.
    // The job runs once the supervisor spawned it, within its call timeout.
    let deadline = std::time::Instant::now() + common::WAIT;
    loop {
        let logs = dmd.call("GET", "/applications/vault/logs", None, &as_alice);
        let text = logs.body["flink-stream"]["text"]
            .as_str()
            .unwrap_or_default();
        if text.contains("flink started") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waited {:?} for the job's log to say it started; it is {}",
            common::WAIT,
            logs.body
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for path in [
        "/environment/endpoints",
        "/packages",
        &format!("/packages/{id}"),
        &format!("/packages/{id}/status"),
        &format!("/packages/{id}/applications"),
        "/repository/packages",
        "/applications",
        "/applications/vault",
        "/applications/vault/status",
        "/applications/vault/detail",
        "/applications/vault/summary",
        "/applications/vault/logs",
        "/plugins",
        "/metrics",
        "/platform/health",
        "/openapi.json",
    ] {
        let reply = dmd.call("GET", path, None, &as_alice);
        assert_eq!(reply.code, 200, "{path}: {}", reply.body);
        record(format!("GET {path}"), &reply);
    }
    let stop = dmd.call("POST", "/applications/vault/stop", None, &as_alice);
    assert_eq!(stop.code, 202);
    dmd.wait_status("/applications/vault/status", "CREATED");
    seen.push(("dmd's log".into(), dmd.log_text()));
    let supervisor_log = root.path().join("data/supervisor/supervisor.log");
    if let Ok(text) = std::fs::read_to_string(&supervisor_log) {
        seen.push(("the supervisor's log".into(), text));
    }

    let leaks: Vec<String> = seen
        .iter()
        .filter(|(_, text)| text.contains(MARK))
        .map(|(what, text)| {
            let at = text.find(MARK).unwrap();
            let from = text[..at]
                .char_indices()
                .rev()
                .nth(80)
                .map_or(0, |(i, _)| i);
            format!("{what}: …{}…", &text[from..(at + 40).min(text.len())])
        })
        .collect();
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
    assert!(seen.len() > 20, "every output was searched");
    // What is redacted is still said to be there.
    let endpoints = dmd.get("/environment/endpoints").body;
    assert_eq!(endpoints["hadoop_manager_password"], "********");
    assert_eq!(endpoints["kafka_brokers"], "127.0.0.1:9092");
    let info = dmd.get("/applications/vault").body;
    assert_eq!(
        info["overrides"]["flink"]["stream"]["api_token"],
        "********"
    );
    assert_eq!(
        info["defaults"]["flink"]["stream"]["db_password"], "********",
        "{info}"
    );
    assert_eq!(info["defaults"]["flink"]["stream"]["threads"], "2");
}
