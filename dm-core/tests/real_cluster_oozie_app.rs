//! Slow suite, against the real loopback cluster (`tests/env/up`, with its Oozie and the Oozie
//! sharelib): dmd with the `oozie` plugin runs a PNDA-style batch application with two
//! components,
//!
//! - `once`: a one-shot workflow (an fs action, run inside Oozie), and
//! - `every`: a coordinator firing every minute (its start is in the past, so runs are due at
//!   once) whose workflow runs a shell action on YARN and then writes a folder on HDFS.
//!
//! Create stages the components on HDFS and leaves both jobs waiting; start runs them (SUCCEEDED
//! runs, folders written, the runs' YARN ids in the summary); stop suspends the coordinator;
//! start again resumes it and reruns the ended workflow; destroy kills the coordinator and leaves
//! nothing on HDFS: no component folder, no application folder, and the `hdfs.json` folder marked
//! for deletion is gone.
//!
//! A PNDA Flink batch component (PDP-3: an ssh action running `${path_to_script}`) runs through
//! Oozie with no SSH, its Flink job on YARN with dm's tags.
//!
//! Run with `cargo test -p dm-core --features real-cluster --test real_cluster_oozie_app`.

mod common;

use common::{current_user, env_json, s, wait_for, Dmd, Options, SupervisorGuard};
use dm_clients::yarn::{FinalStatus, ResourceManager};
use dm_core::hdfs::{Hdfs, HdfsConfig};
use dm_core::oozie::runner::OozieRunner;
use dm_core::oozie::summary::{component_summary, LiveFacts};
use dm_core::oozie::OozieConfig;
use dm_plugin_api::observe::OozieJobState;
use dm_plugin_api::{OozieJob, OozieKind};
use dm_testkit::{built_cdylib, TarGz};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `YYYY-MM-DDTHH:MMZ`, `minutes_ago` minutes before now.
/// Oozie's answer about a component's job, as JSON (the oozie plugin turns it into PNDA's summary).
fn oozie_job(facts: &LiveFacts, id: &str) -> serde_json::Value {
    serde_json::to_value(component_summary(facts, id).unwrap()).unwrap()
}

fn oozie_time(minutes_ago: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let t = chrono::DateTime::from_timestamp((now - minutes_ago * 60) as i64, 0).unwrap();
    t.format("%Y-%m-%dT%H:%MZ").to_string()
}

const ONCE_WORKFLOW: &str = r#"<workflow-app xmlns="uri:oozie:workflow:1.0" name="dm-once">
  <start to="mark"/>
  <action name="mark">
    <fs><mkdir path="${environment_name_node}${component_out}/once"/></fs>
    <ok to="end"/>
    <error to="fail"/>
  </action>
  <kill name="fail"><message>${wf:errorMessage(wf:lastErrorNode())}</message></kill>
  <end name="end"/>
</workflow-app>"#;

const EVERY_WORKFLOW: &str = r#"<workflow-app xmlns="uri:oozie:workflow:1.0" name="dm-every">
  <start to="hello"/>
  <action name="hello">
    <shell xmlns="uri:oozie:shell-action:1.0">
      <resource-manager>${environment_resource_manager}</resource-manager>
      <name-node>${environment_name_node}</name-node>
      <exec>echo</exec>
      <argument>run=${nominal}</argument>
      <capture-output/>
    </shell>
    <ok to="mark"/>
    <error to="fail"/>
  </action>
  <action name="mark">
    <fs><mkdir path="${environment_name_node}${component_out}/every/${nominal}"/></fs>
    <ok to="end"/>
    <error to="fail"/>
  </action>
  <kill name="fail"><message>${wf:errorMessage(wf:lastErrorNode())}</message></kill>
  <end name="end"/>
</workflow-app>"#;

const EVERY_COORDINATOR: &str = r#"<coordinator-app xmlns="uri:oozie:coordinator:0.4" name="dm-every-minute"
    frequency="${coord:minutes(1)}" start="${component_start}" end="${deployment_end}" timezone="UTC">
  <action>
    <workflow>
      <app-path>${environment_name_node}${component_hdfs_root}</app-path>
      <configuration>
        <property><name>nominal</name><value>${coord:formatTime(coord:nominalTime(), 'yyyyMMddHHmm')}</value></property>
      </configuration>
    </workflow>
  </action>
</coordinator-app>"#;

fn package(id: &str, out: &str) -> Vec<u8> {
    let hdfs_json = json!([
        {"name": "data", "path": format!("{out}/data/raw"), "delete_on_undeploy": 2},
        {"name": "kept", "path": format!("{out}/kept")},
    ]);
    TarGz::new()
        .file(format!("{id}/oozie/once/workflow.xml"), ONCE_WORKFLOW)
        .file(
            format!("{id}/oozie/once/properties.json"),
            json!({"out": out}).to_string(),
        )
        .file(format!("{id}/oozie/once/hdfs.json"), hdfs_json.to_string())
        .file(
            format!("{id}/oozie/once/lib/notes.txt"),
            "staged with the workflow\n",
        )
        .file(format!("{id}/oozie/every/workflow.xml"), EVERY_WORKFLOW)
        .file(
            format!("{id}/oozie/every/coordinator.xml"),
            EVERY_COORDINATOR,
        )
        .file(
            format!("{id}/oozie/every/properties.json"),
            // Three runs are already due when the coordinator starts.
            json!({"out": out, "start": oozie_time(3)}).to_string(),
        )
        .bytes()
}

/// dmd with the Oozie plugin, the cluster's HDFS and Oozie, and `extra` configuration; and a
/// guard that ends the supervisor dmd starts beside it.
fn oozie_dmd(
    root: &std::path::Path,
    env: &serde_json::Value,
    extra: &str,
) -> (Dmd, SupervisorGuard) {
    let guard = SupervisorGuard(root.join("data/supervisor"));
    let plugins = root.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(
        built_cdylib("dm_plugin_oozie"),
        plugins.join("libdm_plugin_oozie.so"),
    )
    .unwrap();
    let config = format!(
        "[plugins]\ndir = \"{}\"\n\n[hdfs]\nnamenode = \"{}\"\n\n[oozie]\nurl = \"{}\"\n\n{extra}",
        plugins.display(),
        s(env, "namenode_url"),
        s(env, "oozie_url"),
    );
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

/// The Oozie job ids of `once` and `every`, as dmd shows them in the application's logs.
fn job_ids(dmd: &Dmd, app: &str, user: &str) -> (String, String) {
    let reply = dmd.get(&format!("/applications/{app}/logs?user.name={user}"));
    assert_eq!(reply.code, 200, "{}", reply.body);
    let logs = reply.body;
    let id = |label: &str| {
        logs[label]["job_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no Oozie job id for {label}: {logs:#}"))
            .to_string()
    };
    (id("oozie-once"), id("oozie-every"))
}

#[test]
fn oozie_workflow_and_coordinator_run_stop_and_leave_nothing_behind() {
    let env = env_json();
    let (nn, oozie_url) = (s(&env, "namenode_url"), s(&env, "oozie_url"));
    let user = current_user();
    let root = tempfile::tempdir().unwrap();
    // PNDA's queue policy: a program naming the user's YARN queue.
    let policy = root.path().join("queue-policy");
    std::fs::write(&policy, "#!/bin/sh\necho default\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&policy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (dmd, _supervisor) = oozie_dmd(
        root.path(),
        &env,
        &format!(
            "[environment]\nqueue_policy = \"{}\"\nresource_manager = \"{}\"\n",
            policy.display(),
            s(&env, "rm_address")
        ),
    );
    let hdfs = Hdfs::from_config(&HdfsConfig {
        namenode: Some(nn.clone()),
        user: None,
        ..HdfsConfig::default()
    })
    .unwrap()
    .unwrap();
    let oozie = OozieConfig {
        url: Some(oozie_url.clone()),
    }
    .client()
    .unwrap();

    let app = format!("batch{}", std::process::id());
    let out = format!("/tmp/dm-oozie-{app}");
    let app_root = format!("/pnda/system/deployment-manager/applications/{user}/{app}");
    dmd.deployed("batch-1.0.0", &package("batch-1.0.0", &out));
    let reply = dmd.create_as(&app, "batch-1.0.0", &user);
    assert_eq!(reply.code, 202, "{}", reply.body);
    let status = dmd.wait_status(&format!("/applications/{app}/status"), "CREATED");
    assert_eq!(status["status"], "CREATED", "{status}");

    // Create: the components are on HDFS without their descriptors, with the effective
    // properties; the hdfs.json folders exist; both jobs wait.
    for file in [
        "once/workflow.xml",
        "once/lib/notes.txt",
        "once/application.properties",
    ] {
        assert!(
            hdfs.exists(&format!("{app_root}/{file}")).unwrap(),
            "{file} staged"
        );
    }
    for file in ["once/properties.json", "once/hdfs.json"] {
        assert!(
            !hdfs.exists(&format!("{app_root}/{file}")).unwrap(),
            "{file} is not staged"
        );
    }
    assert!(hdfs.exists(&format!("{out}/data/raw")).unwrap());
    assert!(hdfs.exists(&format!("{out}/kept")).unwrap());
    let (once, every) = job_ids(&dmd, &app, &user);
    assert_eq!(oozie.status(&once).unwrap(), "PREP");
    let conf = oozie.info(&once).unwrap()["conf"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        conf.contains("<name>mapreduce.job.queuename</name>")
            && conf.contains("<value>default</value>"),
        "the queue policy's queue is submitted: {conf}"
    );
    assert_eq!(oozie.status(&every).unwrap(), "PREPSUSPENDED");
    std::thread::sleep(Duration::from_secs(15));
    assert!(
        !hdfs.exists(&format!("{out}/every")).unwrap()
            && !hdfs.exists(&format!("{out}/once")).unwrap(),
        "nothing runs before start"
    );

    // Start: the workflow runs once; the coordinator's due runs succeed.
    assert_eq!(
        dmd.post(&format!("/applications/{app}/start?user.name={user}"))
            .code,
        202
    );
    dmd.wait_status(&format!("/applications/{app}/status"), "STARTED");
    wait_for("the workflow to succeed", 120, || {
        (oozie.status(&once).ok()? == "SUCCEEDED").then_some(())
    });
    assert!(hdfs.exists(&format!("{out}/once")).unwrap());
    let runs = wait_for("three coordinator runs to succeed", 180, || {
        let info = oozie.info(&every).ok()?;
        let succeeded = info["actions"]
            .as_array()?
            .iter()
            .filter(|a| a["status"] == "SUCCEEDED")
            .count();
        (succeeded >= 3).then_some(succeeded)
    });
    assert!(runs >= 3);
    assert!(
        hdfs.exists(&format!("{out}/every")).unwrap(),
        "the coordinator's runs wrote their folders"
    );
    let rm = ResourceManager::new(&s(&env, "rm_url"));
    let facts = LiveFacts {
        oozie: &oozie,
        rm: Some(&rm),
    };
    let summary = oozie_job(&facts, &every);
    assert_eq!(summary["state"], "RUNNING", "{summary:#}");
    assert_eq!(summary["health"], "OK", "{summary:#}");
    let workflows = summary["actions"].as_object().unwrap();
    assert!(workflows.len() >= 3, "{summary:#}");
    // Each run's shell action ran on YARN: its application is in the summary, and the RM
    // agrees it succeeded.
    let run = &summary["actions"]["workflow-1"]["actions"]["job-1"];
    let yarn_id = run["yarnId"].as_str().unwrap_or_default();
    assert!(yarn_id.starts_with("application_"), "{summary:#}");
    assert_eq!(run["status"], "OK", "{summary:#}");
    assert_eq!(run["applicationType"], "shell");
    assert_eq!(
        rm.app(yarn_id).unwrap().final_status,
        FinalStatus::Succeeded
    );
    assert_eq!(oozie_job(&facts, &once)["state"], "SUCCEEDED");
    let logs = dmd.get(&format!("/applications/{app}/logs?user.name={user}"));
    assert_eq!(logs.code, 200, "{}", logs.body);
    let logs = logs.body;
    assert_eq!(logs["oozie-once"]["status"], "SUCCEEDED", "{logs:#}");
    assert_eq!(logs["oozie-once"]["job_id"], once.as_str());

    // Stop: the coordinator is suspended.
    assert_eq!(
        dmd.post(&format!("/applications/{app}/stop?user.name={user}"))
            .code,
        202
    );
    dmd.wait_status(&format!("/applications/{app}/status"), "CREATED");
    assert!(
        oozie.status(&every).unwrap().starts_with("SUSPENDED"),
        "{}",
        oozie.status(&every).unwrap()
    );
    assert_eq!(oozie_job(&facts, &every)["state"], "SUSPENDED");

    // Start again: the coordinator resumes, the ended workflow runs again (same id).
    hdfs.remove(&format!("{out}/once"), true).unwrap();
    assert_eq!(
        dmd.post(&format!("/applications/{app}/start?user.name={user}"))
            .code,
        202
    );
    dmd.wait_status(&format!("/applications/{app}/status"), "STARTED");
    wait_for("the rerun workflow to write its folder again", 120, || {
        hdfs.exists(&format!("{out}/once")).ok()?.then_some(())
    });
    wait_for("the coordinator to run again", 60, || {
        oozie
            .status(&every)
            .ok()?
            .starts_with("RUNNING")
            .then_some(())
    });

    // Destroy: the coordinator is killed; nothing of the application is left on HDFS but the
    // hdfs.json folder it asked to keep.
    let reply = dmd.delete(&format!("/applications/{app}?user.name={user}"));
    assert_eq!(reply.code, 202, "{}", reply.body);
    dmd.wait_status(&format!("/applications/{app}/status"), "NOTCREATED");
    assert_eq!(oozie.status(&every).unwrap(), "KILLED");
    assert!(!hdfs.exists(&app_root).unwrap(), "{app_root} is removed");
    assert!(
        !hdfs.exists(&format!("{out}/data")).unwrap(),
        "delete_on_undeploy 2 removes {out}/data"
    );
    assert!(hdfs.exists(&format!("{out}/kept")).unwrap(), "kept stays");
    hdfs.remove(&out, true).unwrap();
}

#[test]
fn an_oozie_refusal_fails_the_create_with_oozies_reason_and_leaves_nothing() {
    let env = env_json();
    let nn = s(&env, "namenode_url");
    let user = current_user();
    let root = tempfile::tempdir().unwrap();
    let (dmd, _supervisor) = oozie_dmd(root.path(), &env, "");
    let hdfs = Hdfs::from_config(&HdfsConfig {
        namenode: Some(nn),
        user: None,
        ..HdfsConfig::default()
    })
    .unwrap()
    .unwrap();
    // Well-formed, so the package deploys; but the action names a node that does not exist,
    // which only Oozie's own parser finds.
    let broken = r#"<workflow-app xmlns="uri:oozie:workflow:1.0" name="broken"><start to="nowhere"/><end name="end"/></workflow-app>"#;
    let package = TarGz::new()
        .file("broken-1.0.0/oozie/wf/workflow.xml", broken)
        .file("broken-1.0.0/oozie/wf/properties.json", "{}")
        .bytes();
    dmd.deployed("broken-1.0.0", &package);
    let app = format!("broken{}", std::process::id());
    let reply = dmd.create_as(&app, "broken-1.0.0", &user);
    assert_eq!(reply.code, 202, "{}", reply.body);
    let status = dmd.wait_status(&format!("/applications/{app}/status"), "NOTCREATED");
    let information = status["information"].as_str().unwrap_or_default();
    assert!(
        information.contains("oozie/wf")
            && information.contains("/oozie/v1/jobs: HTTP 400")
            && information.contains("nowhere"),
        "the failure names the component and Oozie's reason: {status}"
    );
    let app_root = format!("/pnda/system/deployment-manager/applications/{user}/{app}");
    assert!(
        !hdfs.exists(&app_root).unwrap(),
        "the rollback removed {app_root}"
    );
}

/// A crash between Oozie's answer and dmd's record loses the job id. Destroy (which recovery
/// runs to roll the create back) still finds the job by its application path and kills it.
#[test]
fn destroy_without_a_job_id_finds_the_job_by_its_path() {
    let env = env_json();
    let (nn, oozie_url) = (s(&env, "namenode_url"), s(&env, "oozie_url"));
    let user = current_user();
    let runner = OozieRunner {
        oozie: std::sync::Arc::new(
            OozieConfig {
                url: Some(oozie_url),
            }
            .client()
            .unwrap(),
        ),
        hdfs: std::sync::Arc::new(
            Hdfs::from_config(&HdfsConfig {
                namenode: Some(nn.clone()),
                user: None,
                ..HdfsConfig::default()
            })
            .unwrap()
            .unwrap(),
        ),
        rm: None,
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("workflow.xml"), ONCE_WORKFLOW).unwrap();
    let hdfs_dir = format!("/tmp/dm-lost-id-{}", std::process::id());
    let job = OozieJob {
        kind: OozieKind::Workflow,
        hdfs_dir: hdfs_dir.clone(),
        skip: Vec::new(),
        configuration: vec![
            ("user.name".into(), user.clone()),
            ("environment_name_node".into(), nn.clone()),
            ("component_out".into(), format!("{hdfs_dir}-out")),
            (
                "oozie.wf.application.path".into(),
                format!("{nn}{hdfs_dir}"),
            ),
        ],
        user,
        yarn_tags: Vec::new(),
    };
    let created = runner
        .create(&job, dir.path(), &serde_json::Map::new())
        .unwrap();
    let id = created["job_id"].as_str().unwrap().to_string();
    assert_eq!(runner.oozie.status(&id).unwrap(), "PREP");

    runner.destroy(&job, None).unwrap();
    assert_eq!(runner.oozie.status(&id).unwrap(), "KILLED");
    assert!(!runner.hdfs.exists(&hdfs_dir).unwrap());
}

/// PNDA's Flink batch workflow (PDP-3): an ssh action running `${path_to_script}` on the edge node.
const PNDA_FLINK_WORKFLOW: &str = r#"<workflow-app xmlns="uri:oozie:workflow:0.4" name="dm-flink-batch">
  <start to="flink-job"/>
  <action name="flink-job">
    <ssh xmlns="uri:oozie:ssh-action:0.1">
      <host>${flink_client}</host>
      <command>${path_to_script}</command>
      <capture-output/>
    </ssh>
    <ok to="end"/>
    <error to="kill"/>
  </action>
  <kill name="kill"><message>${wf:errorMessage(wf:lastErrorNode())}</message></kill>
  <end name="end"/>
</workflow-app>"#;

#[test]
fn a_pnda_flink_batch_component_runs_through_oozie_without_ssh() {
    let env = env_json();
    let props = json!({
        "job_type": "flink",
        "main_jar": "lib/jobs.jar",
        "main_class": s(&env["jobs"], "flink_batch_class"),
    });
    let jar = std::fs::read(s(&env["jobs"], "flink_jar")).unwrap();
    flink_through_oozie(&env, "fb", props, "lib/jobs.jar", jar);
}

/// The same with a PyFlink job (`main_py`, named as PNDA's packages name it: without `lib/`),
/// run by `[jobs.engines] python`, the env's PyFlink venv.
#[test]
fn a_pnda_flink_python_component_runs_through_oozie_without_ssh() {
    let env = env_json();
    let props = json!({"job_type": "flink", "main_py": "word_count.py"});
    let job =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/jobs/flink-python/word_count.py");
    flink_through_oozie(
        &env,
        "fp",
        props,
        "lib/word_count.py",
        std::fs::read(job).unwrap(),
    );
}

/// A PNDA Flink component of an Oozie package (`props`, the job's file `file`) runs through
/// Oozie: the workflow SUCCEEDED, the Flink job was its own YARN application with dm's tags
/// and SUCCEEDED.
fn flink_through_oozie(
    env: &serde_json::Value,
    short: &str,
    props: serde_json::Value,
    file: &str,
    bytes: Vec<u8>,
) {
    let version = s(&env, "flink_default_version");
    let dist = dm_testkit::cluster::flink_dist_on_hdfs(&env, &version);
    let user = current_user();
    let root = tempfile::tempdir().unwrap();
    let extra = format!(
        "[jobs.engines]\ndefault_flink_version = \"{version}\"\nflink_dists = {{ \"{version}\" = \"{nn}{dist}\" }}\n\
         python = \"{python}\"\n\n[jobs.env]\nJAVA_HOME = \"{java}\"\nHADOOP_CONF_DIR = \"{conf}\"\nHADOOP_CLASSPATH = \"{cp}\"\n\n\
         [yarn]\nrm_url = \"{rm}\"\nrm_address = \"{rm_address}\"\n",
        nn = s(&env, "namenode_url"),
        rm_address = s(&env, "rm_address"),
        java = s(&env, "java_home"),
        conf = s(&env, "hadoop_conf_dir"),
        cp = s(&env, "hadoop_classpath"),
        rm = s(&env, "rm_url"),
        python = s(&env["flink"][&version], "python"),
    );
    let (dmd, _supervisor) = oozie_dmd(root.path(), &env, &extra);
    let oozie = OozieConfig {
        url: Some(s(&env, "oozie_url")),
    }
    .client()
    .unwrap();
    let rm = ResourceManager::new(&s(&env, "rm_url"));

    let id = format!("flink{short}-1.0.0");
    let package = TarGz::new()
        .file(
            format!("{id}/oozie/wordcount/workflow.xml"),
            PNDA_FLINK_WORKFLOW,
        )
        .file(
            format!("{id}/oozie/wordcount/properties.json"),
            props.to_string(),
        )
        .file(format!("{id}/oozie/wordcount/{file}"), bytes)
        .bytes();
    dmd.deployed(&id, &package);
    let app = format!("{short}{}", std::process::id());
    let reply = dmd.create_as(&app, &id, &user);
    assert_eq!(reply.code, 202, "{}", reply.body);
    dmd.wait_status(&format!("/applications/{app}/status"), "CREATED");
    assert_eq!(
        dmd.post(&format!("/applications/{app}/start?user.name={user}"))
            .code,
        202
    );
    dmd.wait_status(&format!("/applications/{app}/status"), "STARTED");
    let logs = dmd
        .get(&format!("/applications/{app}/logs?user.name={user}"))
        .body;
    let id = logs["oozie-wordcount"]["job_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{logs:#}"))
        .to_string();

    let status = wait_for("the Flink batch workflow to end", 300, || {
        let status = oozie.status(&id).ok()?;
        OozieJobState::parse(&status)
            .is_some_and(OozieJobState::is_final)
            .then_some(status)
    });
    let info = oozie.info(&id).unwrap();
    assert_eq!(status, "SUCCEEDED", "{info:#}");
    // The Flink job ran as its own YARN application, tagged as the component's, and succeeded.
    let flink: Vec<_> = rm
        .apps_tagged(&format!("dm-app-{app}"))
        .unwrap()
        .into_iter()
        .filter(|a| a.has_tags(&["dm-component-oozie-wordcount".to_string()]))
        .collect();
    assert_eq!(flink.len(), 1, "{flink:?}");
    assert_eq!(
        flink[0].final_status,
        FinalStatus::Succeeded,
        "{:?}",
        flink[0]
    );
    assert_eq!(flink[0].name, format!("{app}-wordcount-job"));
    // The summary shows the action's launcher on YARN.
    let summary = oozie_job(
        &LiveFacts {
            oozie: &oozie,
            rm: Some(&rm),
        },
        &id,
    );
    assert_eq!(summary["state"], "SUCCEEDED", "{summary:#}");
    assert_eq!(summary["actions"]["job-1"]["status"], "OK", "{summary:#}");

    let reply = dmd.delete(&format!("/applications/{app}?user.name={user}"));
    assert_eq!(reply.code, 202, "{}", reply.body);
    dmd.wait_status(&format!("/applications/{app}/status"), "NOTCREATED");
}
