//! Application summaries and platform health without a cluster: what dm knows by itself, and
//! what it says when the ResourceManager cannot be reached (UNKNOWN since when, never FAILED).

mod common;

use common::{two_components, Dmd, Options};
use serde_json::Value;
use std::time::{Duration, Instant};

fn options(config: &str) -> Options {
    Options {
        config: Some(format!(
            "[status]\ninterval_secs = 0.2\n[health]\ninterval_secs = 0.2\n{config}"
        )),
        ..Options::default()
    }
}

/// Polls `path` until `check` accepts its body.
fn wait_for(dmd: &Dmd, path: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body = dmd.get(path).body;
        if check(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path}: no {what} in {body:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn metric<'a>(health: &'a Value, name: &str) -> Option<&'a Value> {
    health["data"]
        .as_array()?
        .iter()
        .find(|e| e["metric"] == name)
}

#[test]
fn without_a_cluster_summaries_follow_dm_and_only_dm_reports_health() {
    let root = tempfile::tempdir().unwrap();
    let dmd = Dmd::start_with(root.path(), &options(""));
    assert_eq!(
        dmd.get("/applications/ghost/summary").body,
        serde_json::json!({"ghost": {"status": "Not Created"}})
    );
    dmd.deployed("two-1.0.0", &two_components("two-1.0.0"));
    dmd.created("app1", "two-1.0.0", serde_json::json!({}));
    let summary = wait_for(&dmd, "/applications/app1/summary", "CREATED summary", |b| {
        b["app1"]["aggregate_status"] == "CREATED"
    });
    let app = &summary["app1"];
    assert_eq!(app["test-1"]["aggregate_status"], "CREATED");
    assert_eq!(app["test-1"]["component"], "c1");
    assert_eq!(app["test-1"]["name"], "app1-c1-job");
    assert_eq!(app["test-2"]["component"], "c2");
    assert_eq!(app["test-2"]["observed"]["source"], "dm");

    assert_eq!(
        dmd.post("/applications/app1/start?user.name=alice").code,
        202
    );
    wait_for(&dmd, "/applications/app1/summary", "RUNNING summary", |b| {
        b["app1"]["aggregate_status"] == "RUNNING"
    });
    let detail = dmd.get("/applications/app1/detail").body;
    assert_eq!(detail["status"], "STARTED");
    assert_eq!(detail["yarn_applications"], serde_json::json!({}));

    let health = wait_for(&dmd, "/platform/health", "dm's health", |b| {
        metric(b, "deployment-manager.health").is_some()
    });
    assert_eq!(
        metric(&health, "deployment-manager.health").unwrap()["value"],
        "OK"
    );
    assert_eq!(
        metric(&health, "deployment-manager.applications_count").unwrap()["value"],
        1
    );
    // PNDA's dm_blackbox figures, which the console's DM tile reads.
    for (name, value) in [
        ("deployment-manager.packages_available_count", 1),
        ("deployment-manager.packages_deployed_count", 1),
    ] {
        assert_eq!(metric(&health, name).unwrap()["value"], value, "{name}");
    }
    assert_eq!(
        metric(&health, "deployment-manager.packages_deployed_succeeded").unwrap()["value"],
        true
    );
    let services: Vec<&str> = health["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["metric"].as_str())
        .filter(|m| m.ends_with(".health"))
        .collect();
    assert_eq!(
        services,
        ["deployment-manager.health"],
        "unconfigured services are not reported"
    );
}

#[test]
fn an_unreachable_resource_manager_makes_summaries_unknown_since_not_failed() {
    // A port nothing listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let config = format!("[yarn]\nrm_url = \"http://{dead}\"\n");
    let dmd = Dmd::start_with(root.path(), &options(&config));
    dmd.deployed("two-1.0.0", &two_components("two-1.0.0"));
    dmd.created("app1", "two-1.0.0", serde_json::json!({}));
    assert_eq!(
        dmd.post("/applications/app1/start?user.name=alice").code,
        202
    );
    dmd.wait_status("/applications/app1/status", "STARTED");

    let first = wait_for(&dmd, "/applications/app1/summary", "UNKNOWN summary", |b| {
        b["app1"]["aggregate_status"] == "UNKNOWN"
    });
    let component = &first["app1"]["test-1"];
    assert_eq!(component["aggregate_status"], "UNKNOWN");
    let since = component["since"].as_i64().expect("since when, in ms");
    assert!(
        component["information"]
            .as_str()
            .unwrap()
            .contains(&dead.to_string()),
        "the cause names the RM: {component}"
    );
    assert_eq!(component["observed"]["source"], "yarn");

    // Cycles later: still UNKNOWN since the same moment, never a guessed FAILED.
    std::thread::sleep(Duration::from_secs(1));
    let later = dmd.get("/applications/app1/summary").body;
    assert_eq!(later["app1"]["aggregate_status"], "UNKNOWN");
    assert_eq!(later["app1"]["test-1"]["since"], since);
    assert!(!later.to_string().contains("FAILED"), "{later:#}");

    let health = wait_for(&dmd, "/platform/health", "YARN health", |b| {
        metric(b, "hadoop.YARN.health").is_some()
    });
    let yarn = metric(&health, "hadoop.YARN.health").unwrap();
    assert_eq!(yarn["value"], "ERROR");
    assert!(
        yarn["causes"][0]
            .as_str()
            .unwrap()
            .starts_with("Unable to connect to the YARN ResourceManager"),
        "{yarn}"
    );
}

#[test]
fn a_resource_manager_that_never_answers_blocks_neither_the_api_nor_the_truth() {
    // Accepts connections (the kernel's backlog) but never answers a byte.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let root = tempfile::tempdir().unwrap();
    let mut options = options(&format!("[yarn]\nrm_url = \"http://{addr}\"\n"));
    options
        .env
        .push(("DMD__STATUS__TIMEOUT_MS".into(), "1500".into()));
    let dmd = Dmd::start_with(root.path(), &options);
    dmd.deployed("two-1.0.0", &two_components("two-1.0.0"));
    dmd.created("app1", "two-1.0.0", serde_json::json!({}));

    // While a cycle waits on the RM, reads are answered from memory at once.
    for _ in 0..20 {
        let started = Instant::now();
        let reply = dmd.get("/applications/app1/summary");
        assert_eq!(reply.code, 200);
        assert!(
            started.elapsed() < Duration::from_millis(300),
            "a summary read took {:?}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // After the call's timeout, the summary says what is known: nothing, since when.
    let summary = wait_for(&dmd, "/applications/app1/summary", "UNKNOWN", |b| {
        b["app1"]["aggregate_status"] == "UNKNOWN"
    });
    let information = summary["app1"]["test-1"]["information"].as_str().unwrap();
    assert!(information.contains(&addr.to_string()), "{information}");
    drop(silent);
}
