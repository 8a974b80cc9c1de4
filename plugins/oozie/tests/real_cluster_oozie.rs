//! Slow suite, against the real loopback cluster's Oozie (`tests/env/up`): the configuration the
//! plugin plans is accepted by Oozie as it is, and the workflow runs to SUCCEEDED through
//! PNDA's sequence (submit in PREP, suspend, then resume and start).
//!
//! Run with `cargo test -p dm-plugin-oozie --features real-cluster --test real_cluster_oozie`.

use dm_clients::oozie::Oozie;
use dm_clients::HttpClient;
use dm_plugin_api::{ComponentFiles, ComponentPlugin, Engines, PlanRequest, Target};
use dm_plugin_oozie::OoziePlugin;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

fn env_json() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/testenv/env.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the test env is not up ({}: {e}); run tests/env/up first",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

/// Writes a file through WebHDFS (two steps: the NameNode names the DataNode to write to).
fn webhdfs_put(namenode_http: &str, path: &str, user: &str, bytes: &[u8]) {
    let http = HttpClient::builder().build();
    let url = format!("{namenode_http}/webhdfs/v1{path}?op=CREATE&overwrite=true&noredirect=true&user.name={user}");
    let answer = http
        .put(&url, "application/octet-stream", b"")
        .expect("WebHDFS CREATE");
    let location: Value = serde_json::from_slice(&answer).unwrap();
    let target = location["Location"].as_str().expect("a DataNode location");
    http.put(target, "application/octet-stream", bytes)
        .expect("WebHDFS write");
}

fn webhdfs_status(namenode_http: &str, path: &str) -> Option<Value> {
    HttpClient::builder()
        .build()
        .get_json(&format!(
            "{namenode_http}/webhdfs/v1{path}?op=GETFILESTATUS"
        ))
        .ok()
}

#[test]
fn planned_configuration_runs_a_workflow_on_oozie() {
    let env = env_json();
    let oozie = env["oozie_url"]
        .as_str()
        .expect("env.json has oozie_url null: Oozie is not up")
        .to_string();
    let nn = env["namenode_url"].as_str().unwrap().to_string();
    let nn_http = env["namenode_http_url"].as_str().unwrap().to_string();
    let user = String::from_utf8(
        std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let app = format!("oz{}", std::process::id());
    let hdfs_root = format!("/user/{user}/dm/{app}/batch");
    let out_dir = format!("/tmp/dm-{app}-out");

    let request = PlanRequest {
        application: app.clone(),
        user: user.clone(),
        component: ComponentFiles {
            component_type: "oozie".into(),
            name: "batch".into(),
            files: vec!["workflow.xml".into()],
            properties: Default::default(),
            contents: Default::default(),
        },
        properties: json!({
            "environment_name_node": nn,
            "component_hdfs_root": hdfs_root,
            "application_user": user,
            "nameNode": nn,
            "outputDir": out_dir,
            "component_note": "escaped & accepted <ok>",
        })
        .as_object()
        .unwrap()
        .clone(),
        target: Target::Yarn,
        engines: Engines::default(),
        workdir: "/unused".into(),
        now_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
    };
    let plan = OoziePlugin.plan(&request).unwrap();
    let job = plan.oozie.unwrap();
    let workflow = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/jobs/oozie/workflow.xml"),
    )
    .unwrap();
    webhdfs_put(
        &nn_http,
        &format!("{}/workflow.xml", job.hdfs_dir),
        &user,
        &workflow,
    );

    // Submitted without action=start: the job waits in PREP.
    // Oozie on a loaded loopback cluster has once refused a submission it accepts on a second
    // try; a refusal that persists fails the test with Oozie's own reason.
    let client = Oozie::with_timeouts(&oozie, Duration::from_secs(5), Duration::from_secs(60));
    let mut refusals = Vec::new();
    let id = loop {
        match client.submit(&job.configuration_xml()) {
            Ok(id) => break id,
            Err(e) if e.status().is_some() && refusals.len() < 3 => {
                refusals.push(e.to_string());
                std::thread::sleep(Duration::from_secs(5));
            }
            Err(e) => {
                panic!("Oozie refused the planned configuration: {e} (earlier: {refusals:?})")
            }
        }
    };
    if !refusals.is_empty() {
        eprintln!("Oozie accepted the configuration after refusing it: {refusals:?}");
    }
    let info = |id: &str| client.info(id).unwrap();
    assert_eq!(info(&id)["status"], "PREP");
    let conf = info(&id)["conf"].as_str().unwrap().to_string();
    assert!(
        conf.contains("escaped &amp; accepted &lt;ok&gt;"),
        "the value arrived intact: {conf}"
    );

    // start = resume + start, as PNDA did; user.name on every call.
    let act = |action: &str| client.act(&id, action, &user);
    let _ = act("resume");
    act("start").expect("start");
    let deadline = Instant::now() + Duration::from_secs(120);
    let end = loop {
        let v = info(&id);
        if !["PREP", "RUNNING", "SUSPENDED"].contains(&v["status"].as_str().unwrap()) {
            break v;
        }
        assert!(Instant::now() < deadline, "workflow {id} did not end: {v}");
        std::thread::sleep(Duration::from_secs(1));
    };
    assert_eq!(end["status"], "SUCCEEDED", "{end}");
    assert!(
        webhdfs_status(&nn_http, &out_dir).is_some(),
        "the workflow made {out_dir}"
    );
    let http = HttpClient::builder().build();
    let _ = http.delete(&format!(
        "{nn_http}/webhdfs/v1/user/{user}/dm/{app}?op=DELETE&recursive=true&user.name={user}"
    ));
    let _ = http.delete(&format!(
        "{nn_http}/webhdfs/v1{out_dir}?op=DELETE&recursive=true&user.name={user}"
    ));
}
