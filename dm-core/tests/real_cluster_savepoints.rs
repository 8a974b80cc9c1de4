//! Slow suite, against the real loopback cluster (`tests/env/up`): the savepoint catalog on
//! YARN, for each Flink version the env runs. A keyed streaming job takes a savepoint on
//! request (its row COMPLETED, its folder on HDFS), periodic ones every 10 s with retention
//! keeping 2, disposals through the JobManager and, stopped, from HDFS; the newest cannot be
//! disposed; a stop's savepoint is catalogued; a start from an older savepoint restores it
//! (Flink's own `latest.restored` says so) with its lineage recorded, and `none` starts empty.
//!
//! Run with `cargo test -p dm-core --features real-cluster --test real_cluster_savepoints`.

mod common;

use common::{
    bounds, current_user, env_json, flink_package, jobs_config, s, wait_for, Dmd, Options,
    SupervisorGuard,
};
use dm_clients::yarn::{ResourceManager, YarnState};
use dm_core::savepoints::{policy, worker};
use serde_json::{json, Value};

/// A trigger ends (completed, failed or timed out) within the catalog's limit, seen by its
/// thread within two ticks.
const SAVEPOINT: u64 = policy::TRIGGER_TIMEOUT_MS as u64 / 1000 + 2 * worker::TICK.as_secs();
const INTERVAL_SEC: u64 = 10;

fn hdfs(env: &Value) -> dm_core::hdfs::Hdfs {
    dm_core::hdfs::Hdfs::from_config(&dm_core::hdfs::HdfsConfig {
        namenode: Some(s(env, "namenode_url")),
        ..Default::default()
    })
    .unwrap()
    .unwrap()
}

fn hdfs_path(location: &str) -> String {
    let rest = location.strip_prefix("hdfs://").unwrap_or(location);
    rest.find('/')
        .map_or("/".into(), |at| rest[at..].to_string())
}

fn catalog(dmd: &Dmd, app: &str) -> Value {
    let reply = dmd.get(&format!("/applications/{app}/savepoints"));
    assert_eq!(reply.code, 200, "{}", reply.body);
    reply.body
}

fn rows(dmd: &Dmd, app: &str) -> Vec<Value> {
    catalog(dmd, app)["savepoints"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn row(dmd: &Dmd, app: &str, id: i64) -> Value {
    rows(dmd, app)
        .into_iter()
        .find(|r| r["id"] == id)
        .unwrap_or(Value::Null)
}

/// Waits for savepoint `id` to leave IN_PROGRESS; it must be COMPLETED.
fn completed(dmd: &Dmd, app: &str, id: i64) -> Value {
    let done = wait_for(&format!("savepoint {id} to complete"), SAVEPOINT, || {
        let r = row(dmd, app, id);
        (r["state"] != "IN_PROGRESS").then_some(r)
    });
    assert_eq!(
        done["state"],
        "COMPLETED",
        "savepoint {id}: {done:#}\n{}",
        dmd.log_text()
    );
    done
}

/// The one RUNNING YARN application of the app.
fn running(rm: &ResourceManager, app: &str) -> Option<String> {
    let live: Vec<_> = rm
        .apps_tagged(&format!("dm-app-{app}"))
        .ok()?
        .into_iter()
        .filter(|a| !a.is_final())
        .collect();
    match live.as_slice() {
        [only] if only.state == YarnState::Running => Some(only.id.clone()),
        _ => None,
    }
}

/// A manual trigger, retried while the job is not yet running all its tasks (409).
fn trigger(dmd: &Dmd, app: &str) -> i64 {
    let mut last = Value::Null;
    let found = wait_for_or(
        &format!("a savepoint of {app} to be taken"),
        bounds::TO_RUNNING,
        || {
            let reply = dmd.post(&format!(
                "/applications/{app}/savepoints?user.name={}",
                current_user()
            ));
            last = reply.body.clone();
            match reply.code {
                202 => reply.body["id"].as_i64(),
                409 => None,
                code => panic!("trigger answered {code}: {}", reply.body),
            }
        },
    );
    found.unwrap_or_else(|| panic!("no savepoint could be triggered; last answer {last}"))
}

fn wait_for_or<T>(what: &str, seconds: u64, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while std::time::Instant::now() < deadline {
        if let Some(v) = check() {
            return Some(v);
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    eprintln!("timed out after {seconds} s waiting for {what}");
    None
}

/// The savepoint path Flink says the running job restored from (`latest.restored`), once the
/// job runs: `Some(None)` when it started empty.
fn restored_from(dmd: &Dmd, app: &str) -> Option<Option<String>> {
    let listing = catalog(dmd, app);
    let job = &listing["checkpoints"]["job"];
    if job.is_null() || job.get("error").is_some() {
        return None;
    }
    Some(
        job["latest"]["restored"]["external_path"]
            .as_str()
            .map(str::to_string),
    )
}

fn catalog_on_yarn(version: &str) {
    let env = env_json();
    let rm = ResourceManager::new(&s(&env, "rm_url"));
    let hdfs = hdfs(&env);
    let root = tempfile::tempdir().unwrap();
    let options = Options {
        config: Some(jobs_config(root.path(), &env, "yarn", version)),
        test_components: Some(false),
        ..Options::default()
    };
    let _supervisor = SupervisorGuard(root.path().join("data/supervisor"));
    let dmd = Dmd::start_with(root.path(), &options);
    let user = current_user();
    let app = format!("sp{}x{}", version.replace('.', ""), std::process::id());
    let id = format!("sp{}-1.0.0", version.replace('.', ""));
    let props = json!({
        "flink_version": version,
        "application_args": format!("--name {app} --rate 20 --keys 2 --checkpoint-ms 0"),
        "savepoint_interval_sec": INTERVAL_SEC.to_string(),
        "savepoint_max_count": "2",
    });
    let jar = s(&env["flink"][version], "jobs_jar");
    dmd.deployed(
        &id,
        &flink_package(&env, &id, "flink_streaming_class", props, &jar),
    );
    dmd.started(&app, &id, &user);
    let yarn_id = wait_for("the job to run on YARN", bounds::TO_RUNNING, || {
        running(&rm, &app)
    });

    // On request: a row written IN_PROGRESS, then COMPLETED with its folder on HDFS.
    let manual = trigger(&dmd, &app);
    let done = completed(&dmd, &app, manual);
    assert_eq!(
        (done["trigger"].as_str(), done["flink_version"].as_str()),
        (Some("MANUAL"), Some(version))
    );
    assert_eq!(done["yarn_id"], yarn_id.as_str());
    assert_eq!(done["package"], id.as_str());
    let manual_path = done["path"].as_str().unwrap().to_string();
    assert!(
        manual_path.contains(&format!("/{version}/{app}/job/")),
        "per-version folder: {manual_path}"
    );
    assert!(
        hdfs.exists(&hdfs_path(&manual_path)).unwrap(),
        "{manual_path} on HDFS"
    );

    // Periodic every 10 s, retention keeps the newest 2 periodic ones.
    let bound = 4 * INTERVAL_SEC + SAVEPOINT;
    let periodic = wait_for(
        "three periodic savepoints and a disposal by retention",
        bound,
        || {
            let all = rows(&dmd, &app);
            let periodic: Vec<&Value> = all.iter().filter(|r| r["trigger"] == "PERIODIC").collect();
            let kept = periodic
                .iter()
                .filter(|r| r["state"] == "COMPLETED")
                .count();
            assert!(
                kept <= 2 + 1,
                "retention keeps 2 (a third only until the next tick): {all:#?}"
            );
            let disposed = periodic.iter().filter(|r| r["state"] == "DISPOSED").count();
            (periodic.len() >= 3 && disposed >= 1 && kept == 2)
                .then(|| periodic.into_iter().cloned().collect::<Vec<_>>())
        },
    );
    for r in periodic.iter().filter(|r| r["state"] == "DISPOSED") {
        let path = hdfs_path(r["path"].as_str().unwrap());
        assert!(
            !hdfs.exists(&path).unwrap(),
            "retention disposed of {path}, yet it is on HDFS"
        );
    }

    // Disposal through the JobManager: the manual one goes; the newest cannot.
    let reply = dmd.delete(&format!(
        "/applications/{app}/savepoints/{manual}?user.name={user}"
    ));
    assert_eq!(
        (reply.code, reply.body["state"].as_str()),
        (200, Some("DISPOSED")),
        "{}",
        reply.body
    );
    assert!(
        !hdfs.exists(&hdfs_path(&manual_path)).unwrap(),
        "{manual_path} disposed, yet on HDFS"
    );
    let newest = rows(&dmd, &app)
        .into_iter()
        .find(|r| r["state"] == "COMPLETED")
        .unwrap();
    let reply = dmd.delete(&format!(
        "/applications/{app}/savepoints/{}?user.name={user}",
        newest["id"]
    ));
    assert_eq!(reply.code, 409, "{}", reply.body);
    assert!(
        reply.body["information"]
            .as_str()
            .unwrap()
            .contains("newest completed"),
        "{}",
        reply.body
    );

    // A stop's savepoint is catalogued.
    assert_eq!(
        dmd.post(&format!("/applications/{app}/stop?user.name={user}"))
            .code,
        202
    );
    dmd.wait_status(&format!("/applications/{app}/status"), "CREATED");
    let stop = rows(&dmd, &app)
        .into_iter()
        .find(|r| r["trigger"] == "STOP")
        .expect("a STOP row");
    assert_eq!(stop["state"], "COMPLETED", "{stop:#}");
    assert!(hdfs
        .exists(&hdfs_path(stop["path"].as_str().unwrap()))
        .unwrap());

    // Start from an older (periodic) savepoint: Flink restores that one; the lineage says so.
    let older = rows(&dmd, &app)
        .into_iter()
        .find(|r| r["trigger"] == "PERIODIC" && r["state"] == "COMPLETED")
        .unwrap();
    let older_id = older["id"].as_i64().unwrap();
    let reply = dmd.post(&format!(
        "/applications/{app}/start?savepoint={older_id}&user.name={user}"
    ));
    assert_eq!(reply.code, 202, "{}", reply.body);
    dmd.wait_status(&format!("/applications/{app}/status"), "STARTED");
    let restored = wait_for(
        "Flink to report what the job restored",
        bounds::TO_RUNNING,
        || restored_from(&dmd, &app),
    );
    assert_eq!(
        restored.as_deref(),
        older["path"].as_str(),
        "restored from savepoint {older_id}"
    );
    let next = trigger(&dmd, &app);
    assert_eq!(
        completed(&dmd, &app, next)["restored_from"],
        older_id,
        "lineage"
    );

    // Stopped, a savepoint is disposed of from HDFS; `none` starts empty.
    assert_eq!(
        dmd.post(&format!("/applications/{app}/stop?user.name={user}"))
            .code,
        202
    );
    dmd.wait_status(&format!("/applications/{app}/status"), "CREATED");
    let reply = dmd.delete(&format!(
        "/applications/{app}/savepoints/{older_id}?user.name={user}"
    ));
    assert_eq!(reply.code, 200, "{}", reply.body);
    assert!(!hdfs
        .exists(&hdfs_path(older["path"].as_str().unwrap()))
        .unwrap());
    let reply = dmd.post(&format!(
        "/applications/{app}/start?savepoint=none&user.name={user}"
    ));
    assert_eq!(reply.code, 202, "{}", reply.body);
    dmd.wait_status(&format!("/applications/{app}/status"), "STARTED");
    let restored = wait_for(
        "Flink to report the job's start",
        bounds::TO_RUNNING,
        || restored_from(&dmd, &app),
    );
    assert_eq!(restored, None, "started empty");

    // A start from a savepoint that is not COMPLETED is refused before anything stops.
    assert_eq!(
        dmd.post(&format!("/applications/{app}/stop?user.name={user}"))
            .code,
        202
    );
    dmd.wait_status(&format!("/applications/{app}/status"), "CREATED");
    let reply = dmd.post(&format!(
        "/applications/{app}/start?savepoint={manual}&user.name={user}"
    ));
    assert_eq!(reply.code, 400, "{}", reply.body);
    assert!(
        reply.body["information"]
            .as_str()
            .unwrap()
            .contains("DISPOSED"),
        "{}",
        reply.body
    );

    assert_eq!(
        dmd.delete(&format!("/applications/{app}?user.name={user}"))
            .code,
        202
    );
    dmd.wait_status(&format!("/applications/{app}/status"), "NOTCREATED");
    assert!(
        rows(&dmd, &app).is_empty(),
        "a destroyed application's catalog goes with it"
    );
}

#[test]
fn savepoints_of_flink_2_are_catalogued_triggered_disposed_and_restored() {
    catalog_on_yarn("2.3.0");
}

#[test]
fn savepoints_of_flink_1_are_catalogued_triggered_disposed_and_restored() {
    catalog_on_yarn("1.20.5");
}
