//! `dmctl repo|package|app …` against the real dmd. dmctl is its own crate (`dmctl/`); cargo
//! builds it for these tests through [`common::dmctl_binary`].

mod common;

use common::{component_state, dmctl_binary, two_components, Dmd};
use serde_json::Value;
use std::process::{Command, Output};

fn dmctl(dmd: &Dmd, args: &[&str]) -> Output {
    Command::new(dmctl_binary())
        .args(args)
        .env("DM_URL", dmd.url(""))
        .env("DM_USER", "alice")
        .env_remove("DM_TOKEN")
        .output()
        .expect("dmctl runs")
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json(output: &Output) -> Value {
    serde_json::from_str(&ok(output)).unwrap()
}

#[test]
fn full_lifecycle_through_dmctl() {
    let root = tempfile::tempdir().unwrap();
    let dmd = Dmd::start(root.path());
    let file = root.path().join("app-1.0.0.tar.gz");
    std::fs::write(&file, two_components("app-1.0.0")).unwrap();
    let file = file.to_str().unwrap();

    assert!(ok(&dmctl(&dmd, &["repo", "upload", file])).contains("uploaded app-1.0.0.tar.gz"));
    let refused = dmctl(&dmd, &["repo", "upload", file]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("HTTP 409: EXISTS"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(ok(&dmctl(&dmd, &["repo", "list"])), "app  1.0.0\n");
    assert_eq!(
        json(&dmctl(&dmd, &["repo", "list", "--json"]))[0]["latest_versions"][0]["file"],
        "app-1.0.0.tar.gz"
    );

    let deployed = json(&dmctl(
        &dmd,
        &["package", "deploy", "app-1.0.0", "--wait", "--json"],
    ));
    assert_eq!(deployed["status"], "DEPLOYED");
    assert!(ok(&dmctl(&dmd, &["package", "status", "app-1.0.0"]))
        .starts_with("app-1.0.0: DEPLOYED (Deployed app-1.0.0 at "));

    ok(&dmctl(
        &dmd,
        &[
            "app",
            "create",
            "a1",
            "--package",
            "app-1.0.0",
            "--set",
            "test.c1.threads=8",
            "--wait",
        ],
    ));
    assert_eq!(
        dmd.get("/applications/a1").body["overrides"]["test"]["c1"]["threads"],
        "8"
    );
    assert_eq!(
        ok(&dmctl(&dmd, &["app", "start", "a1", "--wait"])),
        "a1: STARTED\n"
    );
    assert_eq!(
        component_state(&dmd.data, "a1", "c1").as_deref(),
        Some("started")
    );
    assert_eq!(
        json(&dmctl(&dmd, &["app", "status", "a1", "--json"]))["status"],
        "STARTED"
    );
    assert_eq!(ok(&dmctl(&dmd, &["app", "list"])), "a1\n");
    assert_eq!(
        json(&dmctl(&dmd, &["package", "list", "--json"])),
        serde_json::json!(["app-1.0.0"])
    );
    assert_eq!(
        json(&dmctl(&dmd, &["app", "summary", "a1"]))["a1"]["status"],
        "Not Available"
    );
    assert_eq!(
        ok(&dmctl(&dmd, &["app", "stop", "a1", "--wait"])),
        "a1: CREATED\n"
    );
    assert_eq!(
        ok(&dmctl(&dmd, &["app", "destroy", "a1", "--wait"])),
        "a1: NOTCREATED\n"
    );
    assert_eq!(
        ok(&dmctl(
            &dmd,
            &["package", "undeploy", "app-1.0.0", "--wait"]
        )),
        "app-1.0.0: NOTDEPLOYED\n"
    );
    assert_eq!(ok(&dmctl(&dmd, &["package", "list"])), "");

    // Errors say which request failed and why, and exit 1.
    let missing = dmctl(&dmd, &["app", "start", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("POST")
            && stderr.contains("/applications/nope/start")
            && stderr.contains("HTTP 404: NOTCREATED"),
        "{stderr}"
    );
    let bad = dmctl(
        &dmd,
        &[
            "app",
            "create",
            "a2",
            "--package",
            "app-1.0.0",
            "--set",
            "nodots=1",
        ],
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected TYPE.COMPONENT.KEY=VALUE"));
    // A failed operation makes --wait exit 1.
    ok(&dmctl(&dmd, &["package", "deploy", "app-1.0.0", "--wait"]));
    ok(&dmctl(
        &dmd,
        &[
            "app",
            "create",
            "a3",
            "--package",
            "app-1.0.0",
            "--set",
            "test.c2.fail_on=start",
            "--wait",
        ],
    ));
    let failed = dmctl(&dmd, &["app", "start", "a3", "--wait"]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stdout).starts_with("a3: CREATED (Error starting a3 "));

    assert_eq!(
        ok(&dmctl(&dmd, &["repo", "delete", "app-1.0.0.tar.gz"])),
        "deleted app-1.0.0.tar.gz\n"
    );
    assert_eq!(ok(&dmctl(&dmd, &["repo", "list"])), "");
    assert!(!dmctl(&dmd, &["repo", "delete", "app-1.0.0.tar.gz"])
        .status
        .success());
}

#[test]
fn unreachable_dmd_is_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = Command::new(dmctl_binary())
        .args(["--url", &format!("http://127.0.0.1:{port}"), "repo", "list"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains(&format!("cannot reach dmd at http://127.0.0.1:{port}")));
}
