//! HTTP-level tests of every endpoint and code, against the real `dmd`.

mod common;

use common::{component_state, test_package, two_components, Dmd, Options};
use dm_testkit::TarGz;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

fn assert_error(reply: &common::Reply, code: u16, status: &str) {
    assert_eq!(
        reply.code,
        code,
        "{}",
        String::from_utf8_lossy(&reply.bytes)
    );
    assert_eq!(reply.content_type, "application/json");
    assert_eq!(reply.body["status"], status, "{}", reply.body);
    assert!(
        reply.body["information"].is_string(),
        "errors carry information: {}",
        reply.body
    );
}

#[test]
fn repository_upload_list_download_delete() {
    let root = tempfile::tempdir().unwrap();
    let dmd = Dmd::start(root.path());
    let package = two_components("app-1.0.2");

    assert_eq!(dmd.get("/repository/packages").body, json!([]));
    let reply = dmd.upload("app-1.0.2", &package);
    assert_eq!(reply.code, 200, "{}", reply.body);
    assert_eq!(reply.body["version"], "1.0.2");
    assert_eq!(
        dmd.upload("app-1.0.10", &two_components("app-1.0.10")).code,
        200
    );
    assert_error(&dmd.upload("app-1.0.2", &package), 409, "EXISTS");
    let zip_of_same = dmd.put(
        "/repository/packages/app-1.0.2.zip?user.name=alice",
        Some(&package),
    );
    assert_error(&zip_of_same, 409, "EXISTS");

    let listing = dmd.get("/repository/packages");
    assert_eq!(listing.content_type, "application/json");
    assert_eq!(
        listing.body,
        json!([{"name": "app", "latest_versions": [{"version": "1.0.10", "file": "app-1.0.10.tar.gz"}]}])
    );
    let all = dmd.get("/repository/packages?recency=0").body;
    assert_eq!(all[0]["latest_versions"].as_array().unwrap().len(), 2);
    assert_error(
        &dmd.get("/repository/packages?recency=x"),
        400,
        "BAD_REQUEST",
    );
    // An int64, as documented: past it, refused rather than taken as "all".
    let too_big = dmd.get("/repository/packages?recency=9223372036854775808");
    assert_error(&too_big, 400, "BAD_REQUEST");
    assert_eq!(
        too_big.body["information"],
        "recency must be a whole number from 0 to 9223372036854775807, not \"9223372036854775808\""
    );

    // A bad package is refused with every problem, and not stored.
    let bad = TarGz::new()
        .dir("bad-1.0.0/")
        .dir("bad-1.0.0/flink/")
        .dir("bad-1.0.0/flink/f/")
        .file("bad-1.0.0/flink/f/x.jar", "x")
        .bytes();
    let reply = dmd.upload("bad-1.0.0", &bad);
    assert_error(&reply, 400, "INVALID_PACKAGE");
    let problems = reply.body["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["message"] == "missing file application.properties"),
        "{problems:?}"
    );
    // Problems name the file as uploaded, not where dmd received it.
    let reply = dmd.upload("junk-1.0.0", b"<html>not found</html>");
    assert_error(&reply, 400, "INVALID_PACKAGE");
    let information = reply.body["information"].as_str().unwrap();
    assert!(
        information.contains("junk-1.0.0.tar.gz: not a gzip-compressed tar archive"),
        "{information}"
    );
    assert!(!information.contains(".incoming"), "{information}");
    assert_eq!(reply.body["problems"][0]["path"], "junk-1.0.0.tar.gz");
    // The folder must match the file name.
    assert_error(&dmd.upload("other-1.0.0", &package), 400, "INVALID_PACKAGE");
    // Names are checked before anything is written.
    assert_error(
        &dmd.put(
            "/repository/packages/app-1.0.tar.gz?user.name=alice",
            Some(&package),
        ),
        400,
        "BAD_REQUEST",
    );
    assert_error(
        &dmd.put(
            "/repository/packages/..%2Fapp-1.0.0.tar.gz?user.name=alice",
            Some(&package),
        ),
        400,
        "BAD_REQUEST",
    );
    assert_eq!(
        std::fs::read_dir(dmd.data.join("repository/.incoming"))
            .unwrap()
            .count(),
        0,
        "refused uploads are removed"
    );

    let download = dmd.get("/repository/packages/app-1.0.2.tar.gz");
    assert_eq!(download.code, 200);
    assert_eq!(download.bytes, package);
    assert_eq!(download.content_type, "application/gzip");
    // The document lists the content type of each archive format.
    let doc = dmd.get("/openapi.json").body;
    let listed = &doc["paths"]["/repository/packages/{file}"]["get"]["responses"]["200"]["content"];
    assert!(listed.get("application/gzip").is_some(), "{listed}");
    let tgz = &two_components("other-1.0.0");
    assert_eq!(
        dmd.put(
            "/repository/packages/other-1.0.0.tgz?user.name=alice",
            Some(tgz)
        )
        .code,
        200
    );
    let download_tgz = dmd.get("/repository/packages/other-1.0.0.tgz");
    assert_eq!(download_tgz.bytes, *tgz);
    assert!(
        listed.get(&download_tgz.content_type).is_some(),
        "{} is not in {listed}",
        download_tgz.content_type
    );
    assert_error(
        &dmd.get("/repository/packages/nope-1.0.0.tar.gz"),
        404,
        "NOTFOUND",
    );
    assert_error(
        &dmd.get("/repository/packages/nope.tar.gz"),
        400,
        "BAD_REQUEST",
    );
    assert_error(
        &dmd.delete("/repository/packages/nope-1.0.0.exe?user.name=alice"),
        400,
        "BAD_REQUEST",
    );

    // Changes to the repository name their user; only the uploader (or an admin) deletes.
    assert_error(
        &dmd.put("/repository/packages/anon-1.0.0.tar.gz", Some(&package)),
        400,
        "BAD_REQUEST",
    );
    assert_error(
        &dmd.delete("/repository/packages/app-1.0.2.tar.gz"),
        400,
        "BAD_REQUEST",
    );
    let by_bob = dmd.delete("/repository/packages/app-1.0.2.tar.gz?user.name=bob");
    assert_error(&by_bob, 403, "FORBIDDEN");
    assert_eq!(
        by_bob.body["information"],
        "User \"bob\" does not have authorization for \"deployment_manager:repository:delete\""
    );
    assert_eq!(
        dmd.delete("/repository/packages/app-1.0.2.tar.gz?user.name=alice")
            .code,
        200
    );
    assert_error(
        &dmd.delete("/repository/packages/app-1.0.2.tar.gz?user.name=alice"),
        404,
        "NOTFOUND",
    );
    assert_eq!(
        dmd.get("/repository/packages").body[0]["latest_versions"][0]["version"],
        "1.0.10"
    );
}

#[test]
fn upload_size_limit() {
    let root = tempfile::tempdir().unwrap();
    let options = Options {
        env: vec![("DMD__REPOSITORY__MAX_UPLOAD_BYTES".into(), "100".into())],
        ..Options::default()
    };
    let dmd = Dmd::start_with(root.path(), &options);
    assert_error(&dmd.upload("app-1.0.0", &vec![0u8; 1000]), 413, "TOO_LARGE");
    assert_eq!(dmd.get("/repository/packages").body, json!([]));
}

#[test]
fn package_deploy_and_undeploy() {
    let root = tempfile::tempdir().unwrap();
    let dmd = Dmd::start(root.path());
    assert_eq!(
        dmd.get("/packages/something-1.0.0").body,
        json!({"name": "something", "version": "1.0.0", "status": "NOTDEPLOYED", "user": null, "defaults": null, "information": null})
    );
    assert_error(&dmd.get("/packages/nodash"), 400, "BAD_REQUEST");
    assert_error(
        &dmd.put("/packages/app-1.0.0?user.name=alice", None),
        404,
        "NOTDEPLOYED",
    );
    assert_eq!(
        dmd.upload("app-1.0.0", &two_components("app-1.0.0")).code,
        200
    );
    assert_error(&dmd.put("/packages/app-1.0.0", None), 400, "BAD_REQUEST");

    let reply = dmd.put("/packages/app-1.0.0?user.name=alice", None);
    assert_eq!(reply.code, 202);
    let status = dmd.wait_status("/packages/app-1.0.0/status", "DEPLOYED");
    assert!(
        status["information"]
            .as_str()
            .unwrap()
            .starts_with("Deployed app-1.0.0 at "),
        "{status}"
    );
    let info = dmd.get("/packages/app-1.0.0").body;
    assert_eq!(info["user"], "alice");
    assert_eq!(
        info["defaults"],
        json!({"test": {"c1": {"threads": "2"}, "c2": {}}})
    );
    let keys: Vec<&String> = info.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "name",
            "version",
            "status",
            "user",
            "defaults",
            "information"
        ],
        "PNDA's key order"
    );
    assert_eq!(dmd.get("/packages").body, json!(["app-1.0.0"]));
    assert!(dmd
        .data
        .join("deployed/app-1.0.0/app-1.0.0/test/c1/run.sh")
        .is_file());
    assert_error(
        &dmd.put("/packages/app-1.0.0?user.name=alice", None),
        409,
        "DEPLOYED",
    );

    // Only the owner (or an admin) undeploys.
    assert_error(
        &dmd.delete("/packages/app-1.0.0?user.name=bob"),
        403,
        "FORBIDDEN",
    );
    assert_error(&dmd.delete("/packages/app-1.0.0"), 400, "BAD_REQUEST");
    assert_eq!(dmd.delete("/packages/app-1.0.0?user.name=alice").code, 202);
    let status = dmd.wait_status("/packages/app-1.0.0/status", "NOTDEPLOYED");
    assert_eq!(status["information"], Value::Null);
    assert_eq!(dmd.get("/packages").body, json!([]));
    assert!(!dmd.data.join("deployed/app-1.0.0").exists());
    assert_error(
        &dmd.delete("/packages/app-1.0.0?user.name=alice"),
        404,
        "NOTDEPLOYED",
    );
}

#[test]
fn application_lifecycle() {
    let root = tempfile::tempdir().unwrap();
    let dmd = Dmd::start(root.path());
    let create = |app: &str, body: &str| {
        dmd.put(
            &format!("/applications/{app}?user.name=alice"),
            Some(body.as_bytes()),
        )
    };

    assert_eq!(
        dmd.get("/applications/a1").body,
        json!({"status": "NOTCREATED", "information": null})
    );
    assert_eq!(
        dmd.get("/applications/a1/status").body,
        json!({"status": "NOTCREATED", "information": null})
    );
    assert_error(
        &create("a1", r#"{"package": "app-1.0.0"}"#),
        404,
        "NOTDEPLOYED",
    );
    dmd.deployed("app-1.0.0", &two_components("app-1.0.0"));

    let reply = create("with&oddchar", r#"{"package": "app-1.0.0"}"#);
    assert_error(&reply, 400, "BAD_REQUEST");
    assert_eq!(
        reply.body["information"],
        "Application name with&oddchar may only contain a-z A-Z 0-9 - _"
    );
    assert_eq!(
        create("a1", "not json").body["information"],
        "Invalid request body"
    );
    assert_eq!(
        create("a1", r#"{"test": {}}"#).body["information"],
        "Invalid request body. Missing field 'package'"
    );
    assert_eq!(
        create("a1", r#"{"package": "app-1.0.0", "user": "x"}"#).body["information"],
        "Invalid request body. User should be passed as URI parameter user.name"
    );
    assert_error(
        &dmd.put("/applications/a1", Some(br#"{"package": "app-1.0.0"}"#)),
        400,
        "BAD_REQUEST",
    );
    let huge = format!(
        r#"{{"package": "app-1.0.0", "test": {{"c1": {{"x": "{}"}}}}}}"#,
        "y".repeat(2 << 20)
    );
    assert_error(&create("a1", &huge), 413, "TOO_LARGE");
    let reply = create("a1", r#"{"package": "app-1.0.0", "test": {"c3": {}}}"#);
    assert_error(&reply, 400, "BAD_REQUEST");
    assert!(
        reply.body["information"].as_str().unwrap().contains("c3"),
        "{}",
        reply.body
    );
    assert_error(
        &create("a1", r#"{"package": "app-1.0.0", "flink": {"c1": {}}}"#),
        400,
        "BAD_REQUEST",
    );

    assert_eq!(
        create(
            "test-app",
            r#"{"package": "app-1.0.0", "test": {"c1": {"threads": "8"}}}"#
        )
        .code,
        202
    );
    dmd.wait_status("/applications/test-app/status", "CREATED");
    assert_error(
        &create("test-app", r#"{"package": "app-1.0.0"}"#),
        409,
        "CREATED",
    );
    let info = dmd.get("/applications/test-app").body;
    assert_eq!(
        info,
        json!({"name": "test-app", "package_name": "app-1.0.0", "status": "CREATED", "information": null,
               "overrides": {"package": "app-1.0.0", "test": {"c1": {"threads": "8"}}, "user": "alice"},
               "defaults": {"test": {"c1": {"threads": "2"}, "c2": {}}}})
    );
    assert_eq!(dmd.get("/applications").body, json!(["test-app"]));
    assert_eq!(
        dmd.get("/packages/app-1.0.0/applications").body,
        json!(["test-app"])
    );
    assert_eq!(
        dmd.get("/packages/other-1.0.0/applications").body,
        json!([])
    );
    assert_error(&dmd.get("/packages/other/applications"), 400, "BAD_REQUEST");
    assert_eq!(
        component_state(&dmd.data, "test-app", "c1").as_deref(),
        Some("created")
    );
    assert_eq!(
        dmd.get("/applications/test-app/detail").body,
        json!({"name": "test-app", "status": "CREATED", "yarn_applications": {}})
    );
    assert_eq!(
        dmd.get("/applications/test-app/summary").body,
        json!({"test-app": {"status": "Not Available"}})
    );
    let reply = dmd.get("/applications/test-app/bogus");
    assert_error(&reply, 400, "BAD_REQUEST");
    assert_eq!(
        reply.body["information"],
        "bogus is not a valid query (status|detail|summary|logs|savepoints|upgrades)"
    );
    assert_eq!(
        dmd.post("/applications/test-app/launch?user.name=alice")
            .body["information"],
        "launch is not a valid action (start|stop|savepoints|upgrade)"
    );

    assert_error(
        &dmd.post("/applications/test-app/stop?user.name=alice"),
        409,
        "CREATED",
    );
    assert_error(
        &dmd.post("/applications/test-app/start"),
        400,
        "BAD_REQUEST",
    );
    assert_eq!(
        dmd.post("/applications/test-app/start?user.name=alice")
            .code,
        202
    );
    dmd.wait_status("/applications/test-app/status", "STARTED");
    assert_eq!(
        component_state(&dmd.data, "test-app", "c2").as_deref(),
        Some("started")
    );
    assert_error(
        &dmd.post("/applications/test-app/start?user.name=alice"),
        409,
        "STARTED",
    );
    assert_eq!(
        dmd.post("/applications/test-app/stop?user.name=alice").code,
        202
    );
    dmd.wait_status("/applications/test-app/status", "CREATED");
    assert_eq!(
        component_state(&dmd.data, "test-app", "c1").as_deref(),
        Some("stopped")
    );

    // The application keeps its own copy: the package may go.
    assert_eq!(dmd.delete("/packages/app-1.0.0?user.name=alice").code, 202);
    dmd.wait_status("/packages/app-1.0.0/status", "NOTDEPLOYED");
    assert_eq!(
        dmd.post("/applications/test-app/start?user.name=alice")
            .code,
        202
    );
    dmd.wait_status("/applications/test-app/status", "STARTED");

    assert_eq!(
        dmd.delete("/applications/test-app?user.name=alice").code,
        202
    );
    assert_eq!(
        dmd.wait_status("/applications/test-app/status", "NOTCREATED")["information"],
        Value::Null
    );
    assert!(!dmd.data.join("applications/test-app").exists());
    assert_eq!(dmd.get("/applications").body, json!([]));
    assert_error(&dmd.get("/applications/test-app/detail"), 404, "NOTCREATED");
    assert_eq!(
        dmd.get("/applications/test-app/summary").body,
        json!({"test-app": {"status": "Not Created"}})
    );
    assert_error(
        &dmd.post("/applications/test-app/start?user.name=alice"),
        404,
        "NOTCREATED",
    );
    assert_error(
        &dmd.delete("/applications/test-app?user.name=alice"),
        404,
        "NOTCREATED",
    );
    assert_error(&dmd.get("/applications/a%2Fb"), 400, "BAD_REQUEST");
}

#[test]
fn failures_carry_information() {
    let root = tempfile::tempdir().unwrap();
    let dmd = Dmd::start(root.path());
    dmd.deployed("app-1.0.0", &two_components("app-1.0.0"));
    let fail_on = |op: &str| json!({"test": {"c2": {"fail_on": op}}});

    // create: rolled back, the first component destroyed again, may be re-created.
    let body = json!({"package": "app-1.0.0", "test": {"c2": {"fail_on": "create"}}}).to_string();
    assert_eq!(
        dmd.put("/applications/bad?user.name=alice", Some(body.as_bytes()))
            .code,
        202
    );
    let status = dmd.wait_status("/applications/bad/status", "NOTCREATED");
    let info = status["information"].as_str().unwrap();
    assert!(
        info.starts_with("Error creating bad FailedCreation, details: "),
        "{info}"
    );
    assert!(info.contains("told to fail on create"), "{info}");
    assert!(!dmd.data.join("applications/bad").exists());
    assert_eq!(dmd.get("/applications").body, json!([]));
    dmd.created("bad", "app-1.0.0", json!({}));

    // start: rolled back to CREATED, what had started is stopped.
    dmd.created("s", "app-1.0.0", fail_on("start"));
    assert_eq!(dmd.post("/applications/s/start?user.name=alice").code, 202);
    let status = dmd.wait_status("/applications/s/status", "CREATED");
    assert!(
        status["information"]
            .as_str()
            .unwrap()
            .starts_with("Error starting s FailedOperation"),
        "{status}"
    );
    assert_eq!(
        component_state(&dmd.data, "s", "c1").as_deref(),
        Some("stopped")
    );

    // stop: stays STARTED (as PNDA).
    dmd.created("t", "app-1.0.0", fail_on("stop"));
    assert_eq!(dmd.post("/applications/t/start?user.name=alice").code, 202);
    dmd.wait_status("/applications/t/status", "STARTED");
    assert_eq!(dmd.post("/applications/t/stop?user.name=alice").code, 202);
    let status = dmd.wait_status("/applications/t/status", "STARTED");
    assert!(
        status["information"]
            .as_str()
            .unwrap()
            .starts_with("Error stopping t "),
        "{status}"
    );

    // destroy: back to the state it was in (PNDA said STARTED even for a CREATED application).
    dmd.created("d", "app-1.0.0", fail_on("destroy"));
    assert_eq!(dmd.delete("/applications/d?user.name=alice").code, 202);
    let status = dmd.wait_status("/applications/d/status", "CREATED");
    assert!(
        status["information"]
            .as_str()
            .unwrap()
            .starts_with("Error deleting d "),
        "{status}"
    );
    // A later successful operation clears the information.
    assert_eq!(dmd.post("/applications/d/start?user.name=alice").code, 202);
    assert_eq!(
        dmd.wait_status("/applications/d/status", "STARTED")["information"],
        Value::Null
    );
}

#[test]
fn authorization_follows_pnda_rules() {
    let root = tempfile::tempdir().unwrap();
    let options = Options {
        env: vec![("DMD__AUTH__GROUPS__ADMIN".into(), r#"["root"]"#.into())],
        ..Options::default()
    };
    let dmd = Dmd::start_with(root.path(), &options);
    dmd.deployed("app-1.0.0", &two_components("app-1.0.0"));
    dmd.created("a", "app-1.0.0", json!({}));
    // Anyone reads, anonymous callers included (PNDA's console and health checks do).
    assert_eq!(dmd.get("/applications/a?user.name=bob").code, 200);
    assert_eq!(dmd.get("/applications/a").code, 200);
    let reply = dmd.post("/applications/a/start?user.name=bob");
    assert_error(&reply, 403, "FORBIDDEN");
    assert_eq!(
        reply.body["information"],
        "User \"bob\" does not have authorization for \"deployment_manager:application:start\""
    );
    assert_error(
        &dmd.delete("/applications/a?user.name=bob"),
        403,
        "FORBIDDEN",
    );
    assert_eq!(
        dmd.post("/applications/a/start?user.name=root").code,
        202,
        "admin acts on others' applications"
    );
    dmd.wait_status("/applications/a/status", "STARTED");
    // Authorization comes before the state check, so the state is not disclosed to outsiders.
    assert_error(
        &dmd.post("/applications/a/start?user.name=bob"),
        403,
        "FORBIDDEN",
    );
    assert_error(
        &dmd.get("/applications/a?user.name=a%2Fb"),
        400,
        "BAD_REQUEST",
    );
}

#[test]
fn host_groups_as_in_pnda() {
    let root = tempfile::tempdir().unwrap();
    let options = Options {
        env: vec![("DMD__AUTH__OS_GROUPS".into(), "true".into())],
        ..Options::default()
    };
    let dmd = Dmd::start_with(root.path(), &options);
    assert_eq!(dmd.get("/packages?user.name=root").code, 200);
    let reply = dmd.get("/packages?user.name=no-such-user-here");
    assert_error(&reply, 403, "FORBIDDEN");
    assert_eq!(
        reply.body["information"],
        "Failed to find details for user \"no-such-user-here\""
    );
    assert_eq!(
        dmd.get("/packages").code,
        200,
        "anonymous callers are not looked up"
    );
}

#[test]
fn bearer_tokens() {
    let root = tempfile::tempdir().unwrap();
    let tokens = root.path().join("tokens");
    std::fs::write(&tokens, "alice-token alice\nroot-token root admin\n").unwrap();
    let config = format!(
        "[auth]\nmode = \"bearer\"\ntokens_file = {:?}\n\n[[authorization.grant]]\nactions = \"everyone_actions\"\n\n[[authorization.grant]]\nactions = \"owner_only_actions\"\nowner = true\ngroups = [\"admin\"]\n",
        tokens.display().to_string()
    );
    let dmd = Dmd::start_with(
        root.path(),
        &Options {
            config: Some(config),
            ..Options::default()
        },
    );
    let bearer = |t: &str| format!("Bearer {t}");
    // The document says changes need a token, and user.name is not needed.
    let doc = dmd.get("/openapi.json").body;
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let deploy = &doc["paths"]["/packages/{id}"]["put"];
    assert_eq!(deploy["security"], json!([{"bearer": []}]));
    assert_eq!(deploy["parameters"][1]["name"], "user.name");
    assert_eq!(deploy["parameters"][1]["required"], false);
    assert!(deploy["responses"]["401"].is_object());
    // The stricter policy above: no anonymous reads.
    for path in [
        "/packages",
        "/applications",
        "/repository/packages",
        "/environment/endpoints",
        "/applications/a/status",
    ] {
        assert_error(&dmd.get(path), 403, "FORBIDDEN");
    }
    assert_eq!(
        dmd.call(
            "GET",
            "/packages",
            None,
            &[("Authorization", &bearer("alice-token"))]
        )
        .code,
        200
    );
    assert_error(
        &dmd.call(
            "GET",
            "/packages",
            None,
            &[("Authorization", &bearer("wrong"))],
        ),
        401,
        "UNAUTHORIZED",
    );
    assert_error(&dmd.get("/packages?user.name=alice"), 401, "UNAUTHORIZED");
    assert_error(
        &dmd.call(
            "GET",
            "/packages?user.name=root",
            None,
            &[("Authorization", &bearer("alice-token"))],
        ),
        403,
        "FORBIDDEN",
    );
    let id = "app-1.0.0";
    let up = dmd.call(
        "PUT",
        &format!("/repository/packages/{id}.tar.gz"),
        Some(&two_components(id)),
        &[("Authorization", &bearer("alice-token"))],
    );
    assert_eq!(up.code, 200);
    assert_error(
        &dmd.put(&format!("/packages/{id}"), None),
        401,
        "UNAUTHORIZED",
    );
    assert_eq!(
        dmd.call(
            "PUT",
            &format!("/packages/{id}"),
            None,
            &[("Authorization", &bearer("alice-token"))]
        )
        .code,
        202
    );
    let deadline = Instant::now() + common::WAIT;
    while dmd
        .call(
            "GET",
            &format!("/packages/{id}/status"),
            None,
            &[("Authorization", &bearer("root-token"))],
        )
        .body["status"]
        != "DEPLOYED"
    {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        dmd.call(
            "GET",
            &format!("/packages/{id}"),
            None,
            &[("Authorization", &bearer("root-token"))]
        )
        .body["user"],
        "alice"
    );
}

#[test]
fn trusted_header_mode() {
    let root = tempfile::tempdir().unwrap();
    let options = Options {
        env: vec![
            ("DMD__AUTH__MODE".into(), "trusted-header".into()),
            (
                "DMD__AUTH__GROUPS_HEADER".into(),
                "X-Forwarded-Groups".into(),
            ),
        ],
        ..Options::default()
    };
    let dmd = Dmd::start_with(root.path(), &options);
    // Knox passes user.name; the proxy's header wins over it.
    dmd.deployed("app-1.0.0", &two_components("app-1.0.0"));
    let as_carol = [("X-Forwarded-User", "carol")];
    let body = br#"{"package": "app-1.0.0"}"#;
    assert_eq!(
        dmd.call(
            "PUT",
            "/applications/a?user.name=alice",
            Some(body),
            &as_carol
        )
        .code,
        202
    );
    dmd.wait_status("/applications/a/status", "CREATED");
    assert_eq!(
        dmd.get("/applications/a").body["overrides"]["user"],
        "carol"
    );
    assert_error(
        &dmd.post("/applications/a/start?user.name=alice"),
        403,
        "FORBIDDEN",
    );
    let admin = [
        ("X-Forwarded-User", "dave"),
        ("X-Forwarded-Groups", "ops,admin"),
    ];
    assert_eq!(
        dmd.call("POST", "/applications/a/start", None, &admin).code,
        202
    );
    dmd.wait_status("/applications/a/status", "STARTED");
}

#[test]
fn one_operation_per_subject() {
    let root = tempfile::tempdir().unwrap();
    let dmd = Arc::new(Dmd::start(root.path()));
    assert_eq!(
        dmd.upload("app-1.0.0", &two_components("app-1.0.0")).code,
        200
    );
    let race = |requests: Vec<(&'static str, String, Option<Vec<u8>>)>| -> Vec<u16> {
        let barrier = Arc::new(Barrier::new(requests.len()));
        let handles: Vec<_> = requests
            .into_iter()
            .map(|(method, path, body)| {
                let (dmd, barrier) = (Arc::clone(&dmd), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    dmd.call(method, &path, body.as_deref(), &[]).code
                })
            })
            .collect();
        let mut codes: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        codes.sort();
        codes
    };
    let deploy = (
        "PUT",
        "/packages/app-1.0.0?user.name=alice".to_string(),
        None,
    );
    assert_eq!(race(vec![deploy.clone(), deploy]), vec![202, 409]);
    dmd.wait_status("/packages/app-1.0.0/status", "DEPLOYED");

    let body = json!({"package": "app-1.0.0", "test": {"c1": {"sleep_ms": 1500}}})
        .to_string()
        .into_bytes();
    let create = (
        "PUT",
        "/applications/a?user.name=alice".to_string(),
        Some(body),
    );
    assert_eq!(race(vec![create.clone(), create]), vec![202, 409]);
    // While a is being created, its package cannot be undeployed, and a cannot be started.
    assert_error(
        &dmd.delete("/packages/app-1.0.0?user.name=alice"),
        409,
        "DEPLOYED",
    );
    assert_error(
        &dmd.post("/applications/a/start?user.name=alice"),
        409,
        "CREATING",
    );
    dmd.wait_status("/applications/a/status", "CREATED");

    // Different applications proceed in parallel.
    dmd.created("b", "app-1.0.0", json!({"test": {"c1": {"sleep_ms": 300}}}));
    let start = |app: &str| {
        (
            "POST",
            format!("/applications/{app}/start?user.name=alice"),
            None,
        )
    };
    assert_eq!(
        race(vec![start("a"), start("b"), start("a")]),
        vec![202, 202, 409]
    );
    dmd.wait_status("/applications/a/status", "STARTED");
    dmd.wait_status("/applications/b/status", "STARTED");
}

/// A method a path does not answer: 405, with `Allow` naming the methods it does answer.
#[test]
fn wrong_methods_get_405_with_allow() {
    let root = tempfile::tempdir().unwrap();
    let dmd = Dmd::start(root.path());
    for (method, path, allow) in [
        ("POST", "/packages", "GET, OPTIONS"),
        ("PATCH", "/packages/app-1.0.0", "GET, PUT, DELETE, OPTIONS"),
        (
            "POST",
            "/repository/packages/app-1.0.0.tar.gz",
            "PUT, GET, DELETE, OPTIONS",
        ),
        ("HEAD", "/openapi.json", "GET, OPTIONS"),
        // The queries and the actions share a pattern, but each answers one method.
        ("POST", "/applications/a/status", "GET, OPTIONS"),
        ("PUT", "/applications/a/logs", "GET, OPTIONS"),
        ("GET", "/applications/a/start", "POST, OPTIONS"),
        ("DELETE", "/applications/a/bogus", "GET, POST, OPTIONS"),
    ] {
        let response = dmd.call(method, path, None, &[]);
        assert_eq!(response.code, 405, "{method} {path}");
        assert_eq!(response.header("allow"), Some(allow), "{method} {path}");
        if method != "HEAD" {
            let body = &response.body;
            assert_eq!(body["status"], "METHOD_NOT_ALLOWED", "{body}");
            assert_eq!(
                body["information"],
                format!("{method} is not allowed on {path}")
            );
        }
    }
    // A segment that is neither a query nor an action is still a bad request.
    assert_error(&dmd.get("/applications/a/bogus"), 400, "BAD_REQUEST");
    assert_error(&dmd.post("/applications/a/bogus"), 400, "BAD_REQUEST");
}

#[test]
fn environment_metrics_openapi_and_unknown_paths() {
    let root = tempfile::tempdir().unwrap();
    let config = "[environment]\nkafka_brokers = \"127.0.0.1:9092\"\nhadoop_manager_password = \"hunter2\"\nwebhdfs_port = \"14000\"\n";
    let dmd = Dmd::start_with(
        root.path(),
        &Options {
            config: Some(config.into()),
            ..Options::default()
        },
    );
    let endpoints = dmd.get("/environment/endpoints");
    assert_eq!(endpoints.content_type, "application/json");
    assert_eq!(
        endpoints.body,
        json!({"kafka_brokers": "127.0.0.1:9092", "hadoop_manager_password": "********", "webhdfs_port": "14000"})
    );
    assert!(!String::from_utf8_lossy(&endpoints.bytes).contains("hunter2"));
    assert!(!dmd.log_text().contains("hunter2"));

    // Applications get the environment, but not its secrets.
    dmd.deployed("app-1.0.0", &two_components("app-1.0.0"));
    dmd.created("a", "app-1.0.0", json!({}));
    let db = rusqlite::Connection::open(dmd.data.join("registry.db")).unwrap();
    let create_data: String = db
        .query_row(
            "SELECT create_data FROM applications WHERE name = 'a'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let create_data: Value = serde_json::from_str(&create_data).unwrap();
    let props = &create_data["test"][0]["properties"];
    assert_eq!(props["environment_kafka_brokers"], "127.0.0.1:9092");
    assert_eq!(props["component_threads"], "2");
    assert_eq!(props["application_user"], "alice");
    assert!(props.get("environment_hadoop_manager_password").is_none());
    // PNDA's application.properties auto-fill, without the secrets.
    let filled = std::fs::read_to_string(
        dmd.data
            .join("applications/a/test/c1/application.properties"),
    )
    .unwrap();
    assert!(
        filled.contains("\nenvironment.kafka_brokers=127.0.0.1:9092\n"),
        "{filled}"
    );
    assert!(
        filled.contains("\ncomponent.job_name=a-c1-job\n"),
        "{filled}"
    );
    assert!(!filled.contains("hunter2"));

    let metrics = String::from_utf8(dmd.get("/metrics").bytes).unwrap();
    assert!(
        metrics.contains(r#"dm_applications{state="CREATED"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"dm_operations_total{kind="deploy",outcome="succeeded"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"dm_http_requests_total{code="202",method="PUT",route="/packages/{id}"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("dm_operation_duration_seconds_bucket"),
        "{metrics}"
    );

    let doc = dmd.get("/openapi.json").body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/packages/{id}",
        "/applications/{name}/start",
        "/applications/{name}/status",
        "/repository/packages/{file}",
        "/environment/endpoints",
        "/notebooks/{path}",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    // Without bearer tokens, changes name their user; reads need not.
    let user_name = |path: &str, method: &str| {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "user.name")
            .cloned()
            .unwrap()
    };
    assert_eq!(user_name("/packages/{id}", "put")["required"], true);
    assert_eq!(
        user_name("/applications/{name}/stop", "post")["required"],
        true
    );
    assert_eq!(user_name("/packages/{id}", "get")["required"], false);
    assert_eq!(
        doc["components"]["schemas"]["PackageFileName"]["example"],
        "my-app-1.0.0.tar.gz"
    );

    let preflight = dmd.call(
        "OPTIONS",
        "/applications/a/start",
        None,
        &[("Origin", "http://console")],
    );
    assert_eq!(preflight.code, 204);
    let options_reply = dmd.call("OPTIONS", "/packages", None, &[]);
    assert_eq!(
        options_reply.header("access-control-allow-origin"),
        Some("*")
    );
    assert!(options_reply
        .header("access-control-allow-methods")
        .unwrap()
        .contains("DELETE"));

    // The repository gone: 503, with information.
    std::fs::remove_dir_all(dmd.data.join("repository")).unwrap();
    assert_error(&dmd.get("/repository/packages"), 503, "UNAVAILABLE");
    assert_error(
        &dmd.put("/packages/app-1.0.1?user.name=alice", None),
        503,
        "UNAVAILABLE",
    );

    assert_error(&dmd.get("/nothing/here"), 404, "NOTFOUND");
    assert_error(&dmd.post("/packages"), 405, "METHOD_NOT_ALLOWED");
    assert_eq!(dmd.get("/packages").code, 200);
    let reply = dmd.call("GET", "/packages", None, &[]);
    assert_eq!(reply.content_type, "application/json");
}

/// A one-thread HTTP server that records `(path, body)` of each request and answers 200.
/// `(path, body)` of every request received.
type Received = Arc<Mutex<Vec<(String, Value)>>>;

fn callback_receiver() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let store = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            store
                .lock()
                .unwrap()
                .push((path, serde_json::from_slice(&body).unwrap()));
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, seen)
}

/// The `(state, information)` items posted to `path` about `id`, waiting for at least `count`.
fn events(
    seen: &Mutex<Vec<(String, Value)>>,
    path: &str,
    id: &str,
    count: usize,
) -> Vec<(String, Option<String>)> {
    let deadline = Instant::now() + common::WAIT;
    loop {
        let items: Vec<(String, Option<String>)> = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .flat_map(|(_, b)| b["data"].as_array().unwrap().clone())
            .filter(|item| item["id"] == id)
            .map(|item| {
                (
                    item["state"].as_str().unwrap().to_string(),
                    item["information"].as_str().map(str::to_string),
                )
            })
            .collect();
        if items.len() >= count || Instant::now() > deadline {
            return items;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn states(events: &[(String, Option<String>)]) -> Vec<&str> {
    events.iter().map(|(s, _)| s.as_str()).collect()
}

#[test]
fn callbacks_report_committed_states() {
    let (url, seen) = callback_receiver();
    let root = tempfile::tempdir().unwrap();
    let options = Options {
        env: vec![
            ("DMD__CALLBACKS__PACKAGE".into(), format!("{url}/packages")),
            (
                "DMD__CALLBACKS__APPLICATION".into(),
                format!("{url}/applications"),
            ),
        ],
        ..Options::default()
    };
    let dmd = Dmd::start_with(root.path(), &options);
    dmd.deployed("app-1.0.0", &two_components("app-1.0.0"));
    // The repository's CREATED (a version is available), then the deployment's states.
    let deploy = events(&seen, "/packages", "app-1.0.0", 3);
    assert_eq!(states(&deploy), ["CREATED", "DEPLOYING", "DEPLOYED"]);
    assert_eq!(deploy[1].1, None, "information only when non-empty");
    assert!(deploy[2]
        .1
        .as_deref()
        .unwrap()
        .starts_with("Deployed app-1.0.0 at"));
    let (_, body) = seen.lock().unwrap()[0].clone();
    assert!(
        body["data"][0]["timestamp"].as_i64().unwrap() > 1_500_000_000_000,
        "milliseconds"
    );
    assert!(body["timestamp"].is_i64());

    dmd.created("a", "app-1.0.0", json!({}));
    assert_eq!(dmd.post("/applications/a/start?user.name=alice").code, 202);
    dmd.wait_status("/applications/a/status", "STARTED");
    assert_eq!(dmd.post("/applications/a/stop?user.name=alice").code, 202);
    dmd.wait_status("/applications/a/status", "CREATED");
    assert_eq!(dmd.delete("/applications/a?user.name=alice").code, 202);
    let app = events(&seen, "/applications", "a", 8);
    assert_eq!(
        states(&app),
        [
            "CREATING",
            "CREATED",
            "STARTING",
            "STARTED",
            "STOPPING",
            "CREATED",
            "DESTROYING",
            "NOTCREATED"
        ]
    );

    // A failed deploy: its reason travels with NOTDEPLOYED. (A file where the deployment
    // folder goes makes the deploy fail.)
    assert_eq!(
        dmd.upload("app-1.0.1", &two_components("app-1.0.1")).code,
        200
    );
    std::fs::write(dmd.data.join("deployed/app-1.0.1"), "in the way").unwrap();
    assert_eq!(
        dmd.put("/packages/app-1.0.1?user.name=alice", None).code,
        202
    );
    let status = dmd.wait_status("/packages/app-1.0.1/status", "NOTDEPLOYED");
    assert!(
        status["information"]
            .as_str()
            .unwrap()
            .starts_with("Error deploying app-1.0.1 IOError"),
        "{status}"
    );
    let failed = events(&seen, "/packages", "app-1.0.1", 3);
    assert_eq!(states(&failed), ["CREATED", "DEPLOYING", "NOTDEPLOYED"]);
    assert_eq!(
        failed[2].1.as_ref(),
        status["information"].as_str().map(str::to_string).as_ref()
    );
    // Deleting the file from the repository: NOTCREATED (the version is gone).
    assert_eq!(
        dmd.delete("/repository/packages/app-1.0.1.tar.gz?user.name=alice")
            .code,
        200
    );
    assert_eq!(
        states(&events(&seen, "/packages", "app-1.0.1", 4))[3],
        "NOTCREATED"
    );
}

#[test]
fn callbacks_never_block_operations() {
    // Accepts connections (in the backlog) but never answers: every delivery times out.
    let hanging = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", hanging.local_addr().unwrap());
    let root = tempfile::tempdir().unwrap();
    let options = Options {
        env: vec![
            ("DMD__CALLBACKS__PACKAGE".into(), format!("{url}/packages")),
            (
                "DMD__CALLBACKS__APPLICATION".into(),
                format!("{url}/applications"),
            ),
            ("DMD__CALLBACKS__TIMEOUT_MS".into(), "20000".into()),
        ],
        ..Options::default()
    };
    let dmd = Dmd::start_with(root.path(), &options);
    let started = Instant::now();
    dmd.deployed("app-1.0.0", &two_components("app-1.0.0"));
    dmd.created("a", "app-1.0.0", json!({}));
    assert_eq!(dmd.post("/applications/a/start?user.name=alice").code, 202);
    dmd.wait_status("/applications/a/status", "STARTED");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "operations waited for callbacks: {:?}",
        started.elapsed()
    );
}

#[test]
fn pending_callbacks_survive_a_crash() {
    // First the receiver hangs, so events wait in the outbox when dmd is killed.
    let hanging = TcpListener::bind("127.0.0.1:0").unwrap();
    let root = tempfile::tempdir().unwrap();
    let env = |url: String| Options {
        env: vec![
            ("DMD__CALLBACKS__PACKAGE".into(), format!("{url}/packages")),
            ("DMD__CALLBACKS__TIMEOUT_MS".into(), "60000".into()),
            ("DMD__CALLBACKS__RETRIES".into(), "0".into()),
        ],
        ..Options::default()
    };
    let dmd = Dmd::start_with(
        root.path(),
        &env(format!("http://{}", hanging.local_addr().unwrap())),
    );
    dmd.deployed("app-1.0.0", &two_components("app-1.0.0"));
    dmd.kill();
    // Then a live receiver at another address (the URL is the configured one at delivery).
    let (url, seen) = callback_receiver();
    let _dmd = Dmd::start_with(root.path(), &env(url));
    let events = events(&seen, "/packages", "app-1.0.0", 3);
    assert_eq!(
        states(&events),
        ["CREATED", "DEPLOYING", "DEPLOYED"],
        "in order, nothing lost"
    );
}

#[test]
fn failed_undeploy_keeps_the_package() {
    let root = tempfile::tempdir().unwrap();
    let dmd = Dmd::start(root.path());
    dmd.deployed("app-1.0.0", &two_components("app-1.0.0"));
    // Replace the deployed folder by a file: removing it as a folder fails.
    let folder = dmd.data.join("deployed/app-1.0.0");
    std::fs::remove_dir_all(&folder).unwrap();
    std::fs::write(&folder, "not a folder").unwrap();
    assert_eq!(dmd.delete("/packages/app-1.0.0?user.name=alice").code, 202);
    let deadline = Instant::now() + common::WAIT;
    let status = loop {
        let body = dmd.get("/packages/app-1.0.0/status").body;
        if body["status"] != "UNDEPLOYING" {
            break body;
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status["status"], "DEPLOYED");
    assert!(
        status["information"]
            .as_str()
            .unwrap()
            .starts_with("Error undeploying app-1.0.0 IOError, details: "),
        "{status}"
    );
    assert_eq!(dmd.get("/packages").body, json!(["app-1.0.0"]));
}

/// A bare dmd, with no configuration and no DMD__ variables, finds a data folder, the plugins
/// cargo built beside it, and the Flink of FLINK_HOME, and says what is missing.
#[test]
fn a_bare_dmd_needs_no_configuration_and_says_what_it_found() {
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("home");
    let flink = root.path().join("flink-2.3.0");
    std::fs::create_dir_all(flink.join("lib")).unwrap();
    std::fs::create_dir_all(flink.join("bin")).unwrap();
    std::fs::write(flink.join("lib/flink-dist-2.3.0.jar"), "").unwrap();
    std::fs::write(flink.join("bin/flink"), "").unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_dmd"));
    cmd.arg("--check-config")
        .env_clear()
        .env("HOME", &home)
        .env("PATH", "/usr/bin:/bin")
        .env("FLINK_HOME", &flink);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // SAFETY: geteuid has no preconditions.
    let data = if unsafe { libc::geteuid() } == 0 {
        std::path::PathBuf::from("/var/lib/dm")
    } else {
        home.join(".local/share/dm")
    };
    assert!(
        stdout.contains(&format!("found: data folder {}", data.display())),
        "{stdout}"
    );
    let plugins_dir = std::path::Path::new(env!("CARGO_BIN_EXE_dmd"))
        .parent()
        .unwrap();
    let built_beside = std::fs::read_dir(plugins_dir).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("libdm_plugin_")
    });
    if built_beside {
        assert!(stdout.contains("found: plugins folder"), "{stdout}");
    } else {
        assert!(stdout.contains("missing: no runtime plugins"), "{stdout}");
    }
    assert!(
        stdout.contains(&format!(
            "found: Flink 2.3.0 {} (FLINK_HOME)",
            flink.display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("missing: no Spark"), "{stdout}");
}

#[test]
fn config_checks() {
    let data = tempfile::tempdir().unwrap();
    let data = data.path().to_str().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_dmd"))
            .args(args)
            .env_remove("DMD__STORAGE__DATA_DIR")
            .output()
            .unwrap()
    };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dmd"))
        .arg("--check-config")
        .env_remove("DMD__STORAGE__DATA_DIR")
        .env("DMD__DISCOVERY__ENABLED", "false")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("storage.data_dir is not set"));
    let out = run(&[
        "--check-config",
        "--data-dir",
        data,
        "--listen",
        "0.0.0.0:5000",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    let out = run(&[
        "--check-config",
        "--data-dir",
        data,
        "--listen",
        "127.0.0.1:5000",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["--check-config", "--config", "/nonexistent/dm.toml"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/dm.toml"));
    // The example configuration is valid and means what it says.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/dmd.example.toml");
    let out = run(&["--check-config", "--config", example]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed =
        dm_core::config::Config::load(Some(std::path::Path::new(example)), std::iter::empty())
            .unwrap();
    let defaults = dm_core::config::Config::load(None, std::iter::empty()).unwrap();
    assert_eq!(
        parsed.authorization.sets, defaults.authorization.sets,
        "the example shows the default rules"
    );
    assert_eq!(parsed.secrets.key_patterns, defaults.secrets.key_patterns);
    // The shipped logging configuration is valid.
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/log4rs.yaml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dmd"))
        .args(["--check-config", "--data-dir", data])
        .env("DMD__LOGGING__CONFIG", shipped)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn one_dmd_per_data_folder() {
    let root = tempfile::tempdir().unwrap();
    let _first = Dmd::start(root.path());
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_dmd"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(root.path().join("data"))
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("another dmd is using the data folder"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
}

#[test]
fn test_components_are_off_by_default() {
    let root = tempfile::tempdir().unwrap();
    let dmd = Dmd::start_with(
        root.path(),
        &Options {
            test_components: Some(false),
            ..Options::default()
        },
    );
    let reply = dmd.upload("app-1.0.0", &test_package("app-1.0.0", &[("c1", "{}")]));
    assert_error(&reply, 400, "INVALID_PACKAGE");
    assert!(
        reply.body["information"]
            .as_str()
            .unwrap()
            .contains("unknown component type 'test'"),
        "{}",
        reply.body
    );
}

#[test]
fn many_applications_in_parallel_end_consistent() {
    let root = tempfile::tempdir().unwrap();
    let dmd = Arc::new(Dmd::start_with(
        root.path(),
        &Options {
            env: vec![("DMD__LIFECYCLE__WORKERS".into(), "4".into())],
            ..Options::default()
        },
    ));
    dmd.deployed("app-1.0.0", &two_components("app-1.0.0"));
    let workers: Vec<_> = (0..8)
        .map(|n| {
            let dmd = Arc::clone(&dmd);
            std::thread::spawn(move || {
                let app = format!("app{n}");
                for _ in 0..3 {
                    dmd.created(&app, "app-1.0.0", json!({}));
                    assert_eq!(
                        dmd.post(&format!("/applications/{app}/start?user.name=alice"))
                            .code,
                        202
                    );
                    dmd.wait_status(&format!("/applications/{app}/status"), "STARTED");
                    // A second stop is refused whether the first is still running or done.
                    let stop = dmd
                        .post(&format!("/applications/{app}/stop?user.name=alice"))
                        .code;
                    let again = dmd
                        .post(&format!("/applications/{app}/stop?user.name=alice"))
                        .code;
                    assert_eq!((stop, again), (202, 409));
                    dmd.wait_status(&format!("/applications/{app}/status"), "CREATED");
                    assert_eq!(
                        dmd.delete(&format!("/applications/{app}?user.name=alice"))
                            .code,
                        202
                    );
                    dmd.wait_status(&format!("/applications/{app}/status"), "NOTCREATED");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(dmd.get("/applications").body, json!([]));
    let db = rusqlite::Connection::open(dmd.data.join("registry.db")).unwrap();
    let open: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM operations WHERE outcome IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let failed: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM operations WHERE outcome != 'succeeded'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!((open, failed), (0, 0));
    assert_eq!(
        std::fs::read_dir(dmd.data.join("applications"))
            .unwrap()
            .count(),
        0,
        "no files left behind"
    );
}

/// The savepoint catalog's answers that need no Flink: what it refuses, and why (the catalog on
/// a real Flink is `real_cluster_savepoints`).
#[test]
fn savepoint_catalog_refusals() {
    let root = tempfile::tempdir().unwrap();
    let dmd = Dmd::start(root.path());
    let empty = json!({"savepoints": [], "checkpoints": {}});
    assert_eq!(dmd.get("/applications/ghost/savepoints").body, empty);
    assert_error(
        &dmd.post("/applications/ghost/savepoints?user.name=alice"),
        404,
        "NOTCREATED",
    );
    assert_error(
        &dmd.delete("/applications/ghost/savepoints/1?user.name=alice"),
        404,
        "NOTCREATED",
    );

    dmd.deployed("app-1.0.0", &two_components("app-1.0.0"));
    dmd.created("sp", "app-1.0.0", json!({}));
    assert_eq!(dmd.get("/applications/sp/savepoints").body, empty);
    let reply = dmd.post("/applications/sp/savepoints?user.name=alice");
    assert_error(&reply, 409, "CREATED");
    assert!(
        reply.body["information"]
            .as_str()
            .unwrap()
            .contains("only a STARTED application"),
        "{}",
        reply.body
    );
    assert_error(
        &dmd.delete("/applications/sp/savepoints/7?user.name=alice"),
        404,
        "NOTFOUND",
    );
    assert_error(
        &dmd.delete("/applications/sp/savepoints/x?user.name=alice"),
        400,
        "BAD_REQUEST",
    );
    for (query, says) in [
        ("savepoint=soon", "savepoint=\"soon\" is not a savepoint id"),
        ("savepoint=12", "savepoint 12 is not in sp's catalog"),
        (
            "allow_non_restored_state=maybe",
            "allow_non_restored_state must be true or false",
        ),
    ] {
        let reply = dmd.post(&format!("/applications/sp/start?{query}&user.name=alice"));
        assert_error(&reply, 400, "BAD_REQUEST");
        assert!(
            reply.body["information"].as_str().unwrap().contains(says),
            "{query}: {}",
            reply.body
        );
    }
    // Nothing was claimed by the refusals: the application starts.
    assert_eq!(
        dmd.post("/applications/sp/start?savepoint=latest&user.name=alice")
            .code,
        202
    );
    dmd.wait_status("/applications/sp/status", "STARTED");
    // Its test components take no savepoints.
    let reply = dmd.post("/applications/sp/savepoints?user.name=alice");
    assert_error(&reply, 400, "BAD_REQUEST");
    assert!(
        reply.body["information"]
            .as_str()
            .unwrap()
            .contains("no component whose job takes savepoints"),
        "{}",
        reply.body
    );
    let reply = dmd.call(
        "POST",
        "/applications/sp/savepoints?user.name=alice",
        Some(b"{\"component\": \"nope\"}"),
        &[],
    );
    assert_error(&reply, 400, "BAD_REQUEST");
    assert!(
        reply.body["information"]
            .as_str()
            .unwrap()
            .contains("nope is not a component of sp"),
        "{}",
        reply.body
    );
    let reply = dmd.call(
        "POST",
        "/applications/sp/savepoints?user.name=alice",
        Some(b"[1]"),
        &[],
    );
    assert_error(&reply, 400, "BAD_REQUEST");
}

/// Upgrades of components that keep no state (the `test` type): the new version runs, a version
/// that fails to start is rolled back, and bad requests are refused before anything stops (with
/// Flink's state on YARN: `real_cluster_savepoints`).
#[test]
fn upgrades_switch_versions_and_roll_back() {
    let root = tempfile::tempdir().unwrap();
    let dmd = Dmd::start(root.path());
    let data = root.path().join("data");
    let upgrade = |body: Value| {
        dmd.call(
            "POST",
            "/applications/up/upgrade?user.name=alice",
            Some(body.to_string().as_bytes()),
            &[],
        )
    };
    dmd.deployed("app-1.0.0", &two_components("app-1.0.0"));
    dmd.deployed(
        "app-2.0.0",
        &test_package("app-2.0.0", &[("c1", r#"{"threads": "4"}"#), ("c2", "{}")]),
    );
    dmd.deployed(
        "app-3.0.0",
        &test_package(
            "app-3.0.0",
            &[("c1", r#"{"fail_on": "start"}"#), ("c2", "{}")],
        ),
    );
    dmd.deployed(
        "other-1.0.0",
        &test_package("other-1.0.0", &[("c1", "{}"), ("c9", "{}")]),
    );
    dmd.created("up", "app-1.0.0", json!({}));

    let reply = upgrade(json!({"package": "app-2.0.0"}));
    assert_error(&reply, 409, "CREATED");
    assert!(reply.body["information"]
        .as_str()
        .unwrap()
        .contains("only a running application is upgraded"));
    assert_eq!(dmd.post("/applications/up/start?user.name=alice").code, 202);
    dmd.wait_status("/applications/up/status", "STARTED");

    for (body, code, says) in [
        (json!({"package": "other-1.0.0"}), 400, "component c2 (test) is not in the new version; component c9 (test) is new in the new version"),
        (json!({"package": "app-1.0.0"}), 400, "already runs app-1.0.0"),
        (json!({"package": "app-9.0.0"}), 404, "Package app-9.0.0 is not deployed"),
        (json!({"package": "app-2.0.0", "mode": "hot"}), 400, "unknown variant `hot`"),
        (json!({"pkg": "app-2.0.0"}), 400, "unknown field `pkg`"),
    ] {
        let reply = upgrade(body.clone());
        assert_eq!(reply.code, code, "{body}: {}", reply.body);
        assert!(reply.body["information"].as_str().unwrap().contains(says), "{body}: {}", reply.body);
    }
    assert_eq!(
        dmd.get("/applications/up/status").body["status"],
        "STARTED",
        "refusals change nothing"
    );

    // To 2.0.0: the new version's properties, started.
    let reply =
        upgrade(json!({"package": "app-2.0.0", "mode": "stateless", "upgrade_ready_sec": 0}));
    assert_eq!(reply.code, 202, "{}", reply.body);
    assert_eq!(reply.body["stateless"], json!(["test/c1", "test/c2"]));
    let status = dmd.wait_status("/applications/up/status", "STARTED");
    assert_eq!(status["information"], "Upgraded to app-2.0.0");
    let info = dmd.get("/applications/up").body;
    assert_eq!(info["package_name"], "app-2.0.0");
    assert_eq!(
        common::component_state(&data, "up", "c1").as_deref(),
        Some("started")
    );
    let props =
        std::fs::read_to_string(data.join("applications/up/test/c1/properties.json")).unwrap();
    assert!(props.contains("\"4\""), "the new version's files: {props}");

    // To 3.0.0, whose c1 fails to start: back on 2.0.0, running.
    assert_eq!(
        upgrade(json!({"package": "app-3.0.0", "upgrade_ready_sec": 0})).code,
        202
    );
    let status = dmd.wait_status("/applications/up/status", "ROLLED_BACK");
    let says = status["information"].as_str().unwrap();
    assert!(
        says.starts_with("Rolled back to app-2.0.0 from app-3.0.0")
            && says.contains("told to fail on start"),
        "{says}"
    );
    assert_eq!(
        dmd.get("/applications/up").body["package_name"],
        "app-2.0.0"
    );
    assert_eq!(
        common::component_state(&data, "up", "c1").as_deref(),
        Some("started")
    );
    let props =
        std::fs::read_to_string(data.join("applications/up/test/c1/properties.json")).unwrap();
    assert!(
        props.contains("\"4\""),
        "the previous version's files are back: {props}"
    );
    assert!(!data.join("applications/.previous-up").exists());
    let upgrades = dmd.get("/applications/up/upgrades").body["upgrades"].clone();
    let steps: Vec<_> = upgrades
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["step"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(steps, ["ROLLED_BACK", "DONE"]);

    // Without rollback, a failing version stays, said so; then it can be stopped and destroyed.
    assert_eq!(
        upgrade(json!({"package": "app-3.0.0", "rollback": false})).code,
        202
    );
    let status = dmd.wait_status("/applications/up/status", "STARTED");
    assert!(
        status["information"]
            .as_str()
            .unwrap()
            .contains("was not rolled back (rollback: false)"),
        "{status}"
    );
    assert_eq!(dmd.delete("/applications/up?user.name=alice").code, 202);
    dmd.wait_status("/applications/up/status", "NOTCREATED");
    assert_eq!(
        dmd.get("/applications/up/upgrades").body,
        json!({"upgrades": []})
    );
}
