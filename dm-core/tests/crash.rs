//! Crash tests: dmd is SIGKILLed while an operation is paused at a named point
//! (`DM_TEST_PAUSE_AT`), restarted, and must have finished or rolled back the operation —
//! nothing left in a transient state, error states carrying their reason, no stray files.

mod common;

use common::{component_state, two_components, Dmd, Options};
use serde_json::{json, Value};
use std::path::Path;

const PKG: &str = "app-1.0.0";

/// Every change to application `a`.
const APP_CHANGES: [(&str, &str); 4] = [
    ("PUT", "/applications/a?user.name=alice"),
    ("POST", "/applications/a/start?user.name=alice"),
    ("POST", "/applications/a/stop?user.name=alice"),
    ("DELETE", "/applications/a?user.name=alice"),
];

/// The journal must hold no open operation, and the last one must have ended as `outcome`.
fn assert_journal(data: &Path, kind: &str, outcome: &str) {
    let db = rusqlite::Connection::open(data.join("registry.db")).unwrap();
    let open: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM operations WHERE outcome IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(open, 0, "operations left open after recovery");
    let (last_kind, last_outcome): (String, String) = db
        .query_row(
            "SELECT kind, outcome FROM operations WHERE kind = ?1 ORDER BY id DESC LIMIT 1",
            [kind],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((last_kind.as_str(), last_outcome.as_str()), (kind, outcome));
}

/// Runs `prepare` and `trigger` on a dmd armed to pause at `point`, kills it there, and
/// returns a fresh dmd on the same data. While paused, every request in `refused` must get
/// 409 with the transient state: one operation per subject at a time.
fn crash_at(
    root: &Path,
    point: &str,
    prepare: impl Fn(&Dmd),
    trigger: impl Fn(&Dmd),
    transient: &str,
    subject_status: &str,
    refused: &[(&str, &str)],
) -> Dmd {
    let dmd = Dmd::start_with(
        root,
        &Options {
            pause_at: Some(point.into()),
            ..Options::default()
        },
    );
    prepare(&dmd);
    trigger(&dmd);
    dmd.wait_paused(point);
    // Paused, the API still answers and shows the transient state.
    assert_eq!(
        dmd.get(subject_status).body["status"],
        transient,
        "at {point}"
    );
    for (method, path) in refused {
        let reply = dmd.call(method, path, Some(br#"{"package": "app-1.0.0"}"#), &[]);
        assert_eq!(
            (reply.code, reply.body["status"].as_str()),
            (409, Some(transient)),
            "{method} {path} at {point}"
        );
    }
    dmd.kill();
    Dmd::start(root)
}

fn no_leftovers(data: &Path) {
    for (dir, prefix) in [("deployed", ".dm-unpack-"), ("applications", ".staging-")] {
        let stray: Vec<_> = std::fs::read_dir(data.join(dir))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
            .collect();
        assert!(stray.is_empty(), "leftovers in {dir}: {stray:?}");
    }
}

fn upload(dmd: &Dmd) {
    assert_eq!(dmd.upload(PKG, &two_components(PKG)).code, 200);
}

fn deploy(dmd: &Dmd) {
    assert_eq!(
        dmd.put(&format!("/packages/{PKG}?user.name=alice"), None)
            .code,
        202
    );
}

fn create(dmd: &Dmd) {
    dmd.deployed(PKG, &two_components(PKG));
    let body = json!({"package": PKG}).to_string();
    assert_eq!(
        dmd.put("/applications/a?user.name=alice", Some(body.as_bytes()))
            .code,
        202
    );
}

fn info(reply: &Value) -> &str {
    reply["information"]
        .as_str()
        .unwrap_or_else(|| panic!("no information in {reply}"))
}

#[test]
fn interrupted_deploy_is_rolled_back() {
    for point in ["deploy.intent", "deploy.unpacked"] {
        let root = tempfile::tempdir().unwrap();
        let status = format!("/packages/{PKG}/status");
        let pkg = format!("/packages/{PKG}?user.name=alice");
        let dmd = crash_at(
            root.path(),
            point,
            upload,
            deploy,
            "DEPLOYING",
            &status,
            &[("PUT", &pkg), ("DELETE", &pkg)],
        );
        let reply = dmd.get(&status).body;
        assert_eq!(reply["status"], "NOTDEPLOYED", "after {point}");
        assert!(
            info(&reply).starts_with(&format!("Error deploying {PKG} Interrupted, details: ")),
            "{reply}"
        );
        assert!(
            !dmd.data.join("deployed").join(PKG).exists(),
            "after {point}"
        );
        no_leftovers(&dmd.data);
        assert_journal(&dmd.data, "deploy", "rolled_back_by_recovery");
        // And it can be deployed again.
        deploy(&dmd);
        dmd.wait_status(&status, "DEPLOYED");
    }
}

#[test]
fn interrupted_undeploy_is_finished() {
    for point in ["undeploy.intent", "undeploy.removed"] {
        let root = tempfile::tempdir().unwrap();
        let status = format!("/packages/{PKG}/status");
        let prepare = |dmd: &Dmd| dmd.deployed(PKG, &two_components(PKG));
        let trigger = |dmd: &Dmd| {
            assert_eq!(
                dmd.delete(&format!("/packages/{PKG}?user.name=alice")).code,
                202
            )
        };
        let pkg = format!("/packages/{PKG}?user.name=alice");
        let dmd = crash_at(
            root.path(),
            point,
            prepare,
            trigger,
            "UNDEPLOYING",
            &status,
            &[("PUT", &pkg), ("DELETE", &pkg)],
        );
        assert_eq!(
            dmd.get(&status).body,
            json!({"status": "NOTDEPLOYED", "information": null}),
            "after {point}"
        );
        assert_eq!(dmd.get("/packages").body, json!([]));
        assert!(!dmd.data.join("deployed").join(PKG).exists());
        assert_journal(&dmd.data, "undeploy", "finished_by_recovery");
    }
}

#[test]
fn interrupted_create_is_rolled_back() {
    for point in ["create.intent", "create.staged", "create.component"] {
        let root = tempfile::tempdir().unwrap();
        let refused = [
            ("PUT", "/applications/a?user.name=alice"),
            ("POST", "/applications/a/start?user.name=alice"),
            ("DELETE", "/applications/a?user.name=alice"),
        ];
        let dmd = crash_at(
            root.path(),
            point,
            |_| {},
            create,
            "CREATING",
            "/applications/a/status",
            &refused,
        );
        let reply = dmd.get("/applications/a/status").body;
        assert_eq!(reply["status"], "NOTCREATED", "after {point}");
        assert!(
            info(&reply).starts_with("Error creating a Interrupted, details: "),
            "{reply}"
        );
        assert!(
            !dmd.data.join("applications/a").exists(),
            "after {point}: files of a remain"
        );
        assert_eq!(dmd.get("/applications").body, json!([]));
        no_leftovers(&dmd.data);
        assert_journal(&dmd.data, "create", "rolled_back_by_recovery");
        // The name is free again.
        dmd.created("a", PKG, json!({}));
        assert_eq!(
            component_state(&dmd.data, "a", "c2").as_deref(),
            Some("created")
        );
    }
}

#[test]
fn interrupted_start_is_rolled_back() {
    for point in ["start.intent", "start.component"] {
        let root = tempfile::tempdir().unwrap();
        let prepare = |dmd: &Dmd| {
            dmd.deployed(PKG, &two_components(PKG));
            dmd.created("a", PKG, json!({}));
        };
        let trigger =
            |dmd: &Dmd| assert_eq!(dmd.post("/applications/a/start?user.name=alice").code, 202);
        let dmd = crash_at(
            root.path(),
            point,
            prepare,
            trigger,
            "STARTING",
            "/applications/a/status",
            &APP_CHANGES,
        );
        let reply = dmd.get("/applications/a/status").body;
        assert_eq!(reply["status"], "CREATED", "after {point}");
        assert!(
            info(&reply).starts_with("Error starting a Interrupted, details: "),
            "{reply}"
        );
        for component in ["c1", "c2"] {
            assert_eq!(
                component_state(&dmd.data, "a", component).as_deref(),
                Some("stopped"),
                "{component} after {point}"
            );
        }
        assert_journal(&dmd.data, "start", "rolled_back_by_recovery");
        assert_eq!(dmd.post("/applications/a/start?user.name=alice").code, 202);
        dmd.wait_status("/applications/a/status", "STARTED");
    }
}

#[test]
fn interrupted_stop_is_finished() {
    for point in ["stop.intent", "stop.component"] {
        let root = tempfile::tempdir().unwrap();
        let prepare = |dmd: &Dmd| {
            dmd.deployed(PKG, &two_components(PKG));
            dmd.created("a", PKG, json!({}));
            assert_eq!(dmd.post("/applications/a/start?user.name=alice").code, 202);
            dmd.wait_status("/applications/a/status", "STARTED");
        };
        let trigger =
            |dmd: &Dmd| assert_eq!(dmd.post("/applications/a/stop?user.name=alice").code, 202);
        let dmd = crash_at(
            root.path(),
            point,
            prepare,
            trigger,
            "STOPPING",
            "/applications/a/status",
            &APP_CHANGES,
        );
        assert_eq!(
            dmd.get("/applications/a/status").body,
            json!({"status": "CREATED", "information": null}),
            "after {point}"
        );
        for component in ["c1", "c2"] {
            assert_eq!(
                component_state(&dmd.data, "a", component).as_deref(),
                Some("stopped"),
                "{component} after {point}"
            );
        }
        assert_journal(&dmd.data, "stop", "finished_by_recovery");
    }
}

#[test]
fn interrupted_destroy_is_finished() {
    for point in ["destroy.intent", "destroy.component"] {
        let root = tempfile::tempdir().unwrap();
        let prepare = |dmd: &Dmd| {
            dmd.deployed(PKG, &two_components(PKG));
            dmd.created("a", PKG, json!({}));
            assert_eq!(dmd.post("/applications/a/start?user.name=alice").code, 202);
            dmd.wait_status("/applications/a/status", "STARTED");
        };
        let trigger =
            |dmd: &Dmd| assert_eq!(dmd.delete("/applications/a?user.name=alice").code, 202);
        let dmd = crash_at(
            root.path(),
            point,
            prepare,
            trigger,
            "DESTROYING",
            "/applications/a/status",
            &APP_CHANGES,
        );
        assert_eq!(
            dmd.get("/applications/a/status").body,
            json!({"status": "NOTCREATED", "information": null}),
            "after {point}"
        );
        assert_eq!(dmd.get("/applications").body, json!([]));
        assert!(!dmd.data.join("applications/a").exists());
        assert_journal(&dmd.data, "destroy", "finished_by_recovery");
    }
}

#[test]
fn interrupted_upload_leaves_nothing() {
    let root = tempfile::tempdir().unwrap();
    let dmd = Dmd::start_with(
        root.path(),
        &Options {
            pause_at: Some("upload.received".into()),
            ..Options::default()
        },
    );
    let url = dmd.url(&format!(
        "/repository/packages/{PKG}.tar.gz?user.name=alice"
    ));
    // This request never gets an answer: dmd dies while holding it.
    std::thread::spawn(move || {
        let _ = ureq::put(&url).send(&two_components(PKG)[..]);
    });
    dmd.wait_paused("upload.received");
    assert_eq!(
        std::fs::read_dir(dmd.data.join("repository/.incoming"))
            .unwrap()
            .count(),
        1
    );
    dmd.kill();
    let dmd = Dmd::start(root.path());
    assert_eq!(dmd.get("/repository/packages").body, json!([]));
    assert_eq!(
        std::fs::read_dir(dmd.data.join("repository/.incoming"))
            .unwrap()
            .count(),
        0
    );
    upload(&dmd);
}

#[test]
fn transient_state_without_an_operation_is_settled() {
    let root = tempfile::tempdir().unwrap();
    let dmd = Dmd::start(root.path());
    dmd.deployed(PKG, &two_components(PKG));
    dmd.created("a", PKG, json!({}));
    let data = dmd.data.clone();
    dmd.kill();
    // What only an outside edit could produce: a transient state with no journal entry.
    let db = rusqlite::Connection::open(data.join("registry.db")).unwrap();
    db.execute(
        "UPDATE applications SET state = 'STARTING' WHERE name = 'a'",
        [],
    )
    .unwrap();
    db.execute("UPDATE packages SET state = 'DEPLOYING'", [])
        .unwrap();
    drop(db);
    let dmd = Dmd::start(root.path());
    let app = dmd.get("/applications/a/status").body;
    assert_eq!(app["status"], "CREATED");
    assert!(
        info(&app).contains("without an operation in the journal"),
        "{app}"
    );
    assert_eq!(
        dmd.get(&format!("/packages/{PKG}/status")).body["status"],
        "NOTDEPLOYED"
    );
}

#[test]
fn sigterm_lets_running_operations_end() {
    let root = tempfile::tempdir().unwrap();
    let dmd = Dmd::start(root.path());
    dmd.deployed(PKG, &two_components(PKG));
    let body = json!({"package": PKG, "test": {"c1": {"sleep_ms": 800}}}).to_string();
    assert_eq!(
        dmd.put("/applications/a?user.name=alice", Some(body.as_bytes()))
            .code,
        202
    );
    dmd.terminate();
    let dmd = Dmd::start(root.path());
    // Not "Interrupted": the operation was allowed to finish.
    assert_eq!(
        dmd.get("/applications/a/status").body,
        json!({"status": "CREATED", "information": null})
    );
    assert_journal(&dmd.data, "create", "succeeded");
}

#[test]
fn queued_operations_wait_for_a_worker_and_are_recovered_too() {
    let root = tempfile::tempdir().unwrap();
    let options = Options {
        pause_at: Some("start.intent".into()),
        env: vec![("DMD__LIFECYCLE__WORKERS".into(), "1".into())],
        ..Options::default()
    };
    let dmd = Dmd::start_with(root.path(), &options);
    dmd.deployed(PKG, &two_components(PKG));
    dmd.created("a", PKG, json!({}));
    dmd.created("b", PKG, json!({}));
    assert_eq!(dmd.post("/applications/a/start?user.name=alice").code, 202);
    dmd.wait_paused("start.intent");
    // The only worker is held by a: b's start is accepted and waits its turn.
    assert_eq!(dmd.post("/applications/b/start?user.name=alice").code, 202);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(dmd.get("/applications/b/status").body["status"], "STARTING");
    assert_eq!(
        component_state(&dmd.data, "b", "c1").as_deref(),
        Some("created")
    );
    dmd.kill();
    let dmd = Dmd::start(root.path());
    for app in ["a", "b"] {
        let reply = dmd.get(&format!("/applications/{app}/status")).body;
        assert_eq!(reply["status"], "CREATED", "{app}");
        assert!(
            info(&reply).starts_with(&format!("Error starting {app} Interrupted")),
            "{reply}"
        );
    }
}

#[test]
fn listing_during_package_operations_is_pndas() {
    // Being deployed: not listed yet.
    let root = tempfile::tempdir().unwrap();
    let dmd = Dmd::start_with(
        root.path(),
        &Options {
            pause_at: Some("deploy.intent".into()),
            ..Options::default()
        },
    );
    upload(&dmd);
    deploy(&dmd);
    dmd.wait_paused("deploy.intent");
    assert_eq!(dmd.get("/packages").body, json!([]));
    drop(dmd);
    // Being undeployed: still listed.
    let root = tempfile::tempdir().unwrap();
    let dmd = Dmd::start_with(
        root.path(),
        &Options {
            pause_at: Some("undeploy.intent".into()),
            ..Options::default()
        },
    );
    dmd.deployed(PKG, &two_components(PKG));
    assert_eq!(
        dmd.delete(&format!("/packages/{PKG}?user.name=alice")).code,
        202
    );
    dmd.wait_paused("undeploy.intent");
    assert_eq!(dmd.get("/packages").body, json!([PKG]));
}
