//! Slow suite, against the real loopback cluster's Oozie (`tests/env/up`): the configuration the
//! plugin plans is accepted by Oozie as it is, and the workflow runs to SUCCEEDED through
//! PNDA's sequence (submit in PREP, suspend, then resume and start).
//!
//! Run with `cargo test -p dm-plugin-oozie --features real-cluster --test real_cluster_oozie`.

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
    let url = format!("{namenode_http}/webhdfs/v1{path}?op=CREATE&overwrite=true&noredirect=true&user.name={user}");
    let location: Value = ureq::put(&url)
        .call()
        .expect("WebHDFS CREATE")
        .into_json()
        .unwrap();
    let target = location["Location"].as_str().expect("a DataNode location");
    ureq::put(target).send_bytes(bytes).expect("WebHDFS write");
}

fn webhdfs_status(namenode_http: &str, path: &str) -> Option<Value> {
    ureq::get(&format!(
        "{namenode_http}/webhdfs/v1{path}?op=GETFILESTATUS"
    ))
    .call()
    .ok()?
    .into_json()
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
    let mut refusals = Vec::new();
    let response = loop {
        match ureq::post(&format!("{oozie}/v1/jobs"))
            .set("Content-Type", "application/xml;charset=UTF-8")
            .send_string(&job.configuration_xml())
        {
            Ok(response) => break response,
            Err(ureq::Error::Status(code, response)) if refusals.len() < 3 => {
                let reason = response
                    .header("oozie-error-message")
                    .unwrap_or_default()
                    .to_string();
                refusals.push(format!("{code}: {reason}"));
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
    let id = response.into_json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let info = |id: &str| {
        ureq::get(&format!("{oozie}/v1/job/{id}?show=info"))
            .call()
            .unwrap()
            .into_json::<Value>()
            .unwrap()
    };
    assert_eq!(info(&id)["status"], "PREP");
    let conf = info(&id)["conf"].as_str().unwrap().to_string();
    assert!(
        conf.contains("escaped &amp; accepted &lt;ok&gt;"),
        "the value arrived intact: {conf}"
    );

    // start = resume + start, as PNDA did; user.name on every call.
    let act = |action: &str| {
        ureq::put(&format!(
            "{oozie}/v1/job/{id}?action={action}&user.name={user}"
        ))
        .call()
        .map(|_| ())
        .map_err(|e| e.to_string())
    };
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
    let _ = ureq::delete(&format!(
        "{nn_http}/webhdfs/v1/user/{user}/dm/{app}?op=DELETE&recursive=true&user.name={user}"
    ))
    .call();
    let _ = ureq::delete(&format!(
        "{nn_http}/webhdfs/v1{out_dir}?op=DELETE&recursive=true&user.name={user}"
    ))
    .call();
}
