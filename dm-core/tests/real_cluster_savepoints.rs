//! Slow suite, against the real loopback cluster (`tests/env/up`): the savepoint catalog on
//! YARN, for each Flink version the env runs. A keyed streaming job takes a savepoint on
//! request (its row COMPLETED, its folder on HDFS), periodic ones every 10 s with retention
//! keeping 2, disposals through the JobManager and, stopped, from HDFS; the newest cannot be
//! disposed; a stop's savepoint is catalogued; a start from an older savepoint restores it
//! (Flink's own `latest.restored` says so) with its lineage recorded, and `none` starts empty.
//!
//! Upgrades: v1 → v2 in `savepoint` mode carries the state (v2 restores the upgrade savepoint);
//! a v3 whose main throws at start is rolled back to v2, which resumes from that upgrade's
//! savepoint; `stateless` starts empty; a version with other components is refused before
//! anything stops; dmd killed in the middle of an upgrade (after the old version stopped, and
//! after the switch) ends, after restart, rolled back with exactly one YARN application; the
//! supervisor killed while an upgrade waits for readiness is started again and the upgrade ends.
//!
//! Run with `cargo test -p dm-core --features real-cluster --test real_cluster_savepoints`.

mod common;

use common::{
    bounds, current_user, env_json, flink_package, jobs_config, s, wait_for, Dmd, Options,
    SupervisorGuard, WAIT,
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

    // dmd killed between writing a trigger and sending it: after the restart, the row is
    // FAILED with that reason, and the next trigger is taken.
    dmd.terminate();
    let paused = Options {
        pause_at: Some("savepoint.recorded".into()),
        ..options.clone()
    };
    let crashing = Dmd::start_with(root.path(), &paused);
    // The request waits at the pause point until dmd dies under it.
    let url = crashing.url(&format!("/applications/{app}/savepoints?user.name={user}"));
    let request = std::thread::spawn(move || ureq::post(&url).send_empty().map(|r| r.status()));
    crashing.wait_paused("savepoint.recorded");
    crashing.kill();
    assert!(
        request.join().unwrap().is_err(),
        "the trigger was cut off by the crash"
    );
    let dmd = Dmd::start_with(root.path(), &options);
    let lost = wait_for("recovery to resolve the unsent trigger", SAVEPOINT, || {
        let newest = rows(&dmd, &app).into_iter().next()?;
        (newest["state"] != "IN_PROGRESS").then_some(newest)
    });
    assert_eq!(
        (lost["state"].as_str(), lost["error"].as_str()),
        (
            Some("FAILED"),
            Some("dmd stopped before the trigger reached Flink")
        ),
        "{lost:#}"
    );
    let again = trigger(&dmd, &app);
    completed(&dmd, &app, again);

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

/// Waits for an upgrade to end (the application leaves UPGRADING): within its readiness
/// timeout plus a stop and a start of each version.
fn upgraded(dmd: &Dmd, app: &str, timeout_sec: u64) -> Value {
    let bound = timeout_sec + 4 * WAIT.as_secs();
    let mut seen = Vec::new();
    let status = wait_for_or(&format!("the upgrade of {app} to end"), bound, || {
        let body = dmd.get(&format!("/applications/{app}/status")).body;
        let state = body["status"].as_str().unwrap_or("?").to_string();
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        (seen.len() > 1 && state != "UPGRADING").then_some(body)
    });
    status.unwrap_or_else(|| {
        panic!(
            "upgrade of {app} did not end; saw {seen:?}\n{}",
            dmd.log_text()
        )
    })
}

fn upgrade(dmd: &Dmd, app: &str, body: Value) -> common::Reply {
    dmd.call(
        "POST",
        &format!("/applications/{app}/upgrade?user.name={}", current_user()),
        Some(body.to_string().as_bytes()),
        &[],
    )
}

fn last_upgrade(dmd: &Dmd, app: &str) -> Value {
    dmd.get(&format!("/applications/{app}/upgrades")).body["upgrades"][0].clone()
}

/// The savepoint the upgrade recorded for component `job`, catalogued as UPGRADE.
fn upgrade_savepoint(dmd: &Dmd, app: &str, upgrade: &Value) -> String {
    let path = upgrade["restore"]["job"]
        .as_str()
        .unwrap_or_else(|| panic!("no restore path: {upgrade:#}"))
        .to_string();
    let row = rows(dmd, app)
        .into_iter()
        .find(|r| r["path"] == path.as_str());
    assert_eq!(
        row.as_ref().map(|r| r["trigger"].clone()),
        Some(json!("UPGRADE")),
        "catalogued: {path}"
    );
    path
}

/// Restarts `dmd` armed to pause at `point`, asks for the upgrade `body`, SIGKILLs dmd there
/// and starts it again: recovery must roll the upgrade back, saying why. The new dmd.
fn crash_mid_upgrade(dmd: Dmd, options: &Options, point: &str, app: &str, body: Value) -> Dmd {
    let root = dmd.data.parent().unwrap().to_path_buf();
    dmd.terminate();
    let paused = Options {
        pause_at: Some(point.into()),
        ..options.clone()
    };
    let crashing = Dmd::start_with(&root, &paused);
    assert_eq!(upgrade(&crashing, app, body).code, 202);
    crashing.wait_paused(point);
    crashing.kill();
    let dmd = Dmd::start_with(&root, options);
    let status = dmd.wait_status(&format!("/applications/{app}/status"), "ROLLED_BACK");
    assert!(
        status["information"]
            .as_str()
            .unwrap_or_default()
            .contains("dmd stopped during the upgrade"),
        "{status}"
    );
    dmd
}

fn upgrade_on_yarn(version: &str) {
    let env = env_json();
    let rm = ResourceManager::new(&s(&env, "rm_url"));
    let root = tempfile::tempdir().unwrap();
    let options = Options {
        config: Some(jobs_config(root.path(), &env, "yarn", version)),
        test_components: Some(false),
        ..Options::default()
    };
    let _supervisor = SupervisorGuard(root.path().join("data/supervisor"));
    let dmd = Dmd::start_with(root.path(), &options);
    let user = current_user();
    let tag = version.replace('.', "");
    let app = format!("up{tag}x{}", std::process::id());
    let jar = s(&env["flink"][version], "jobs_jar");
    let args = |extra: &str| {
        json!({
            "flink_version": version,
            "application_args": format!("--name {app} --rate 20 --keys 2 --checkpoint-ms 2000 {extra}"),
            // Checkpoints kept when the job is cancelled: what `last-state` restores.
            "flink_config_args": "-Dexecution.checkpointing.externalized-checkpoint-retention=RETAIN_ON_CANCELLATION",
        })
    };
    let package = |v: &str, extra: &str| {
        let id = format!("up{tag}-{v}");
        dmd.deployed(
            &id,
            &flink_package(&env, &id, "flink_streaming_class", args(extra), &jar),
        );
        id
    };
    let (v1, v2, v3) = (
        package("1.0.0", ""),
        package("2.0.0", ""),
        package("3.0.0", "--fail-on-start true"),
    );
    dmd.started(&app, &v1, &user);
    wait_for("v1 to run on YARN", bounds::TO_RUNNING, || {
        running(&rm, &app)
    });
    // A savepoint needs the supervisor to know the job, and every task to run.
    wait_for(
        "v1 to run all its tasks",
        bounds::NOTICE + bounds::TO_RUNNING,
        || restored_from(&dmd, &app),
    );

    // Refused before anything stops: another component set, a package not deployed.
    let other = format!("up{tag}-9.0.0");
    let mut props = args("");
    props["main_jar"] = json!("jobs.jar");
    props["main_class"] = json!(s(&env["jobs"], "flink_streaming_class"));
    let bytes = dm_testkit::TarGz::new()
        .file(format!("{other}/flink/other/application.properties"), "")
        .file(
            format!("{other}/flink/other/properties.json"),
            props.to_string(),
        )
        .file(
            format!("{other}/flink/other/jobs.jar"),
            std::fs::read(&jar).unwrap(),
        )
        .bytes();
    dmd.deployed(&other, &bytes);
    let reply = upgrade(&dmd, &app, json!({"package": other}));
    assert_eq!(reply.code, 400, "{}", reply.body);
    let says = reply.body["information"].as_str().unwrap();
    assert!(
        says.contains("component job (flink) is not in the new version")
            && says.contains("component other (flink) is new"),
        "{says}"
    );
    assert_eq!(
        upgrade(&dmd, &app, json!({"package": format!("up{tag}-8.0.0")})).code,
        404
    );
    assert_eq!(
        dmd.get(&format!("/applications/{app}/status")).body["status"],
        "STARTED"
    );

    // v1 → v2 with a savepoint: v2 restores it.
    let ready = json!({"upgrade_ready_sec": 10, "upgrade_timeout_sec": 180});
    let mut body = ready.clone();
    body["package"] = json!(v2);
    let reply = upgrade(&dmd, &app, body);
    assert_eq!(reply.code, 202, "{}", reply.body);
    assert_eq!(reply.body["stateless"], json!([]), "{}", reply.body);
    let status = upgraded(&dmd, &app, 180);
    assert_eq!(status["status"], "STARTED", "{status}\n{}", dmd.log_text());
    let up = last_upgrade(&dmd, &app);
    assert_eq!(
        (
            up["step"].as_str(),
            up["from_package"].as_str(),
            up["to_package"].as_str()
        ),
        (Some("DONE"), Some(v1.as_str()), Some(v2.as_str())),
        "{up:#}"
    );
    let to_v2 = upgrade_savepoint(&dmd, &app, &up);
    let restored = wait_for("v2 to report what it restored", bounds::TO_RUNNING, || {
        restored_from(&dmd, &app)
    });
    assert_eq!(
        restored.as_deref(),
        Some(to_v2.as_str()),
        "v2 resumed v1's state"
    );
    assert_eq!(
        dmd.get(&format!("/applications/{app}")).body["package_name"],
        v2.as_str()
    );
    running(&rm, &app).expect("exactly one YARN application");

    // v2 → v3, which throws at start: rolled back to v2, from the upgrade's savepoint.
    let mut body = ready.clone();
    body["package"] = json!(v3);
    assert_eq!(upgrade(&dmd, &app, body).code, 202);
    let status = upgraded(&dmd, &app, 180);
    assert_eq!(
        status["status"],
        "ROLLED_BACK",
        "{status}\n{}",
        dmd.log_text()
    );
    let says = status["information"].as_str().unwrap_or_default();
    assert!(
        says.starts_with(&format!("Rolled back to {v2} from {v3}")),
        "{says}"
    );
    let up = last_upgrade(&dmd, &app);
    assert_eq!(up["step"], "ROLLED_BACK", "{up:#}");
    let to_v3 = upgrade_savepoint(&dmd, &app, &up);
    assert_ne!(to_v3, to_v2, "a new savepoint at the second upgrade");
    let restored = wait_for("v2 to run again", bounds::TO_RUNNING, || {
        running(&rm, &app)?;
        restored_from(&dmd, &app)
    });
    assert_eq!(
        restored.as_deref(),
        Some(to_v3.as_str()),
        "v2 resumed from the upgrade savepoint"
    );
    assert_eq!(
        dmd.get(&format!("/applications/{app}")).body["package_name"],
        v2.as_str()
    );
    let attempts: Vec<Value> = dmd.get(&format!("/applications/{app}/upgrades")).body["upgrades"]
        .as_array()
        .cloned()
        .unwrap();
    assert_eq!(attempts.len(), 2, "both attempts recorded: {attempts:#?}");

    // Stateless, from ROLLED_BACK: v1 starts empty.
    let mut body = ready.clone();
    body["package"] = json!(v1);
    body["mode"] = json!("stateless");
    assert_eq!(upgrade(&dmd, &app, body).code, 202);
    let status = upgraded(&dmd, &app, 180);
    assert_eq!(status["status"], "STARTED", "{status}\n{}", dmd.log_text());
    let restored = wait_for("v1 to report its start", bounds::TO_RUNNING, || {
        restored_from(&dmd, &app)
    });
    assert_eq!(restored, None, "stateless starts empty");

    // last-state: v2 restores v1's latest retained checkpoint, with no savepoint at the stop.
    wait_for("v1 to complete a checkpoint", bounds::NOTICE, || {
        let listing = catalog(&dmd, &app);
        listing["checkpoints"]["job"]["latest"]["completed"]["external_path"]
            .as_str()
            .map(str::to_string)
    });
    let savepoints_before = rows(&dmd, &app).len();
    let mut body = ready.clone();
    body["package"] = json!(v2);
    body["mode"] = json!("last-state");
    assert_eq!(upgrade(&dmd, &app, body).code, 202);
    let status = upgraded(&dmd, &app, 180);
    assert_eq!(status["status"], "STARTED", "{status}\n{}", dmd.log_text());
    let up = last_upgrade(&dmd, &app);
    let checkpoint = up["restore"]["job"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        checkpoint.contains("/chk-"),
        "last-state restores a checkpoint: {up:#}"
    );
    assert_eq!(
        rows(&dmd, &app).len(),
        savepoints_before,
        "no savepoint taken at the stop"
    );
    let restored = wait_for("v2 to report what it restored", bounds::TO_RUNNING, || {
        restored_from(&dmd, &app)
    });
    assert_eq!(
        restored.as_deref(),
        Some(checkpoint.as_str()),
        "v2 resumed from v1's checkpoint"
    );

    // dmd killed while the upgrade has switched versions: recovery rolls it back, one copy runs.
    let mut body = ready.clone();
    body["package"] = json!(v1);
    let dmd = crash_mid_upgrade(dmd, &options, "upgrade.switched", &app, body);
    assert_eq!(
        dmd.get(&format!("/applications/{app}")).body["package_name"],
        v2.as_str()
    );
    wait_for("v2 to run again, once", bounds::TO_RUNNING, || {
        running(&rm, &app)
    });
    wait_for(
        "v2 to run all its tasks",
        bounds::NOTICE + bounds::TO_RUNNING,
        || restored_from(&dmd, &app),
    );

    // The supervisor killed while the upgrade waits for v1 to come up: it is started again,
    // adopts v1's job, and the upgrade ends on v1 with one copy.
    let supervisor_dir = root.path().join("data/supervisor");
    let mut body = ready.clone();
    body["package"] = json!(v1);
    assert_eq!(upgrade(&dmd, &app, body).code, 202);
    wait_for(
        "the upgrade to wait for readiness",
        180 + WAIT.as_secs(),
        || (last_upgrade(&dmd, &app)["step"] == "WAITING_READY").then_some(()),
    );
    let killed = common::supervisor_pids(&supervisor_dir);
    assert!(!killed.is_empty(), "a supervisor serves the application");
    for pid in &killed {
        // SAFETY: a signal to a process this test's dmd started.
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    let status = upgraded(&dmd, &app, 180);
    assert_eq!(status["status"], "STARTED", "{status}\n{}", dmd.log_text());
    assert_eq!(
        dmd.get(&format!("/applications/{app}")).body["package_name"],
        v1.as_str()
    );
    assert!(common::supervisor_pids(&supervisor_dir)
        .iter()
        .all(|p| !killed.contains(p)));
    wait_for("v1 to run, once", bounds::TO_RUNNING, || running(&rm, &app));
    wait_for(
        "v1 to run all its tasks",
        bounds::NOTICE + bounds::TO_RUNNING,
        || restored_from(&dmd, &app),
    );

    // dmd killed once the old version has stopped, before the switch: recovery starts it again
    // from the savepoint its stop took.
    let mut body = ready.clone();
    body["package"] = json!(v2);
    let dmd = crash_mid_upgrade(dmd, &options, "upgrade.stopped", &app, body);
    assert_eq!(
        dmd.get(&format!("/applications/{app}")).body["package_name"],
        v1.as_str()
    );
    wait_for("v1 to run again, once", bounds::TO_RUNNING, || {
        running(&rm, &app)
    });
    let restored = wait_for("v1 to report what it restored", bounds::TO_RUNNING, || {
        restored_from(&dmd, &app)
    });
    let stop = rows(&dmd, &app)
        .into_iter()
        .next()
        .expect("the interrupted upgrade's savepoint");
    assert_eq!(
        restored.as_deref(),
        stop["path"].as_str(),
        "v1 resumed from its stop savepoint: {stop:#}"
    );

    assert_eq!(
        dmd.delete(&format!("/applications/{app}?user.name={user}"))
            .code,
        202
    );
    dmd.wait_status(&format!("/applications/{app}/status"), "NOTCREATED");
}

#[test]
fn flink_2_upgrades_keep_state_and_roll_back_by_themselves() {
    upgrade_on_yarn("2.3.0");
}

#[test]
fn flink_1_upgrades_keep_state_and_roll_back_by_themselves() {
    upgrade_on_yarn("1.20.5");
}
