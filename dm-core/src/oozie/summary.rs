//! What an `oozie` component is doing, in the shape of PNDA's Oozie summary (pnda-dm §5.6), so
//! PNDA's console shows it unchanged: the job's `aggregate_status`, and for a running or ended
//! job the tree of its actions — `workflow-N` / `subworkflow-N` for the workflows a coordinator or
//! a workflow started (recursively), `job-N` for actions that ran on YARN, each OK/WARN/ERROR
//! with the reason — rolled up into the job's `status`.
//!
//! Where dm differs from PNDA, on purpose:
//! - a job with no YARN actions (yet) is OK; PNDA rolled "zero children" up to ERROR;
//! - a workflow Oozie reports FAILED or KILLED is ERROR whatever its children say, and a FAILED
//!   job's aggregate is `FAILED` (PNDA reported nothing, which the console shows as NOT_FOUND);
//! - YARN actions are recognised by `application_…` ids (Oozie 5) as well as `job_…` ones, and
//!   workflows by Oozie's id shape rather than the `oozie-oozi-W` of one installation.
//!
//! The I/O goes through [`OozieFacts`], so the rules are tested on answers recorded from a real
//! Oozie, and the status observer supplies the live clients.

use dm_plugin_api::observe::{
    FinalStatus, Health, Keyed, OozieAction, OozieActionState, OozieJob, OozieJobState, YarnState,
};
use serde_json::{json, Value};

/// Where the summary's facts come from.
pub trait OozieFacts {
    /// Oozie's `show=info` document of a job.
    fn job(&self, id: &str) -> Result<Value, String>;
    /// The RM's report of a YARN application (`state`, `finalStatus`, `diagnostics`), `None`
    /// when the RM does not know it.
    fn yarn_app(&self, id: &str) -> Result<Option<Value>, String>;
}

/// The live sources: Oozie, and the RM when one is configured (YARN actions are WARN without).
pub struct LiveFacts<'a> {
    pub oozie: &'a dm_clients::oozie::Oozie,
    pub rm: Option<&'a dm_clients::yarn::ResourceManager>,
}

impl OozieFacts for LiveFacts<'_> {
    fn job(&self, id: &str) -> Result<Value, String> {
        self.oozie.info(id).map_err(|e| e.to_string())
    }

    fn yarn_app(&self, id: &str) -> Result<Option<Value>, String> {
        let Some(rm) = self.rm else { return Ok(None) };
        Ok(rm.find(id).map_err(|e| e.to_string())?.map(|app| {
            json!({"state": app.state, "finalStatus": app.final_status, "diagnostics": app.diagnostics})
        }))
    }
}

/// Oozie's answer about the component whose Oozie job is `id`: its state and, once it left
/// PREP, its actions tree and their roll-up (the oozie plugin maps them to PNDA's statuses).
pub fn component_summary(facts: &dyn OozieFacts, id: &str) -> Result<OozieJob, String> {
    let info = facts.job(id)?;
    let coordinator = info.get("coordJobName").is_some_and(|n| !n.is_null());
    let (name, oozie_id) = if coordinator {
        (&info["coordJobName"], &info["coordJobId"])
    } else {
        (&info["appName"], &info["id"])
    };
    let state = info["status"].as_str().and_then(OozieJobState::parse);
    let waiting = matches!(
        state,
        Some(OozieJobState::Prep | OozieJobState::PrepSuspended | OozieJobState::PrepPaused)
    );
    let (actions, health) = if waiting {
        (None, None)
    } else {
        let (actions, health) = actions_tree(facts, &info, 0)?;
        (Some(actions), Some(health))
    };
    Ok(OozieJob {
        oozie_id: text(oozie_id),
        name: text(name),
        state,
        actions,
        health,
    })
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_string)
}

/// Nested workflows are followed this deep at most (a guard against cycles in bad answers).
const MAX_DEPTH: usize = 4;

/// The `job-N` / `workflow-N` / `subworkflow-N` entries of a job's actions, and their roll-up.
fn actions_tree(
    facts: &dyn OozieFacts,
    info: &Value,
    depth: usize,
) -> Result<(Keyed<OozieAction>, Health), String> {
    let mut tree = Vec::new();
    let mut healths = Vec::new();
    // One counter for jobs and workflows at each level, as PNDA numbered them.
    let mut n = 0;
    for action in info["actions"].as_array().into_iter().flatten() {
        let external = action["externalId"].as_str().unwrap_or_default();
        if is_yarn_id(external) {
            n += 1;
            let entry = yarn_action(facts, action)?;
            healths.push(entry.health());
            tree.push((format!("job-{n}"), entry));
        } else if is_workflow_id(external) && depth < MAX_DEPTH {
            n += 1;
            let key = if action["type"] == "sub-workflow" {
                format!("subworkflow-{n}")
            } else {
                format!("workflow-{n}")
            };
            let child = facts.job(external)?;
            let (actions, children_health) = actions_tree(facts, &child, depth + 1)?;
            let failed = matches!(
                child["status"].as_str().and_then(OozieJobState::parse),
                Some(OozieJobState::Failed | OozieJobState::Killed)
            );
            let status = if failed {
                Health::Error
            } else {
                children_health
            };
            healths.push(status);
            tree.push((
                key,
                OozieAction::Workflow {
                    actions,
                    oozie_id: external.to_string(),
                    status,
                    name: text(&child["appName"]),
                },
            ));
        }
    }
    Ok((Keyed(tree), Health::roll_up(&healths)))
}

fn yarn_action(facts: &dyn OozieFacts, action: &Value) -> Result<OozieAction, String> {
    let external = action["externalChildIDs"]
        .as_str()
        .filter(|s| !s.is_empty())
        .or(action["externalId"].as_str())
        .unwrap_or_default();
    // The first id when Oozie lists several children.
    let first = external.split(',').next().unwrap_or_default().trim();
    let yarn_id = match first.split_once('_') {
        Some((_, rest)) => format!("application_{rest}"),
        None => first.to_string(),
    };
    let (mut health, mut information) = match facts.yarn_app(&yarn_id)? {
        None => (Health::Warn, format!("YARN does not know {yarn_id}")),
        Some(app) => {
            let state = app["state"].as_str().and_then(YarnState::parse);
            let final_status = app["finalStatus"].as_str().and_then(FinalStatus::parse);
            let diagnostics = app["diagnostics"].as_str().unwrap_or_default().to_string();
            match state {
                Some(YarnState::Failed | YarnState::Killed) => (Health::Error, diagnostics),
                Some(YarnState::Submitted | YarnState::Accepted | YarnState::Running) => {
                    (Health::Ok, String::new())
                }
                _ if final_status == Some(FinalStatus::Succeeded) => (Health::Ok, String::new()),
                _ => (Health::Warn, diagnostics),
            }
        }
    };
    let action_state = action["status"].as_str().and_then(OozieActionState::parse);
    if action_state == Some(OozieActionState::Error) {
        health = Health::Error;
        information.push_str(&format!(
            ", {}",
            action["errorMessage"].as_str().unwrap_or_default()
        ));
    }
    Ok(OozieAction::Yarn {
        status: health,
        yarn_id,
        information,
        name: text(&action["name"]),
        application_type: text(&action["type"]),
    })
}

fn is_yarn_id(id: &str) -> bool {
    id.starts_with("job_") || id.starts_with("application_")
}

/// Oozie's workflow ids: `<7 digits>-<15 digits>-<system id>-W`.
fn is_workflow_id(id: &str) -> bool {
    let mut parts = id.splitn(3, '-');
    let (Some(seq), Some(stamp), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    seq.len() == 7
        && seq.bytes().all(|b| b.is_ascii_digit())
        && stamp.len() == 15
        && stamp.bytes().all(|b| b.is_ascii_digit())
        && rest.ends_with("-W")
}

#[cfg(test)]
mod tests {
    use super::*;
    use dm_plugin_api::observe::{ComponentRef, DmState, Observations, OozieSeen, YarnSeen};
    use std::collections::BTreeMap;

    /// The component's summary as the oozie plugin derives it from this answer.
    fn summary(facts: &dyn OozieFacts, id: &str) -> Result<Value, String> {
        let job = component_summary(facts, id)?;
        let c = ComponentRef {
            job_name: "a-every-job".into(),
            name: "every".into(),
            component_type: "oozie".into(),
        };
        let obs = Observations {
            now: 1,
            dm: DmState::Started,
            yarn: YarnSeen::NotWatched,
            failure: None,
            engine: None,
            flink_history: None,
            supervisor: None,
            oozie: Some(OozieSeen::Answer(Ok(job))),
        };
        Ok(serde_json::to_value(dm_plugin_oozie::summary::summarize(&c, &obs)).unwrap())
    }

    /// Answers recorded from the loopback cluster's Oozie 5.2.1 and RM, trimmed.
    struct Recorded {
        jobs: BTreeMap<String, Value>,
        yarn: BTreeMap<String, Value>,
    }

    impl OozieFacts for Recorded {
        fn job(&self, id: &str) -> Result<Value, String> {
            self.jobs
                .get(id)
                .cloned()
                .ok_or_else(|| format!("E0604: Job does not exist [{id}]"))
        }
        fn yarn_app(&self, id: &str) -> Result<Option<Value>, String> {
            Ok(self.yarn.get(id).cloned())
        }
    }

    const COORD: &str = "0000006-261123115310953-oozie-root-C";
    const WF1: &str = "0000008-261123115310953-oozie-root-W";
    const WF2: &str = "0000009-261123115310953-oozie-root-W";

    fn coordinator(status: &str) -> Value {
        json!({"coordJobName": "dm-every-minute", "coordJobId": COORD, "status": status,
               "actions": [
                 {"id": format!("{COORD}@1"), "externalId": WF1, "status": "SUCCEEDED", "type": null},
                 {"id": format!("{COORD}@2"), "externalId": WF2, "status": "RUNNING", "type": null},
                 {"id": format!("{COORD}@3"), "externalId": null, "status": "WAITING", "type": null}]})
    }

    fn workflow(id: &str, status: &str, actions: Value) -> Value {
        json!({"appName": "dm-every", "id": id, "status": status, "actions": actions})
    }

    fn control_and_fs() -> Value {
        json!([{"name": ":start:", "type": ":START:", "externalId": "-", "status": "OK"},
               {"name": "mark", "type": "fs", "externalId": "-", "status": "OK"},
               {"name": "end", "type": ":END:", "externalId": "-", "status": "OK"}])
    }

    fn shell(yarn: &str, status: &str) -> Value {
        json!({"name": "run", "type": "shell", "externalId": yarn, "externalChildIDs": null,
               "status": status, "errorMessage": "Main class [ShellMain], exit code [1]"})
    }

    fn facts(jobs: Vec<(&str, Value)>, yarn: Vec<(&str, Value)>) -> Recorded {
        Recorded {
            jobs: jobs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            yarn: yarn.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        }
    }

    #[test]
    fn waiting_jobs_are_created() {
        for status in ["PREP", "PREPSUSPENDED"] {
            let f = facts(vec![(COORD, coordinator(status))], vec![]);
            let s = summary(&f, COORD).unwrap();
            assert_eq!(s["aggregate_status"], "CREATED");
            assert_eq!(s["oozieId"], COORD);
            assert_eq!(s["name"], "dm-every-minute");
            assert_eq!(s["componentType"], "Oozie");
            assert!(s.get("actions").is_none());
        }
    }

    #[test]
    fn a_running_coordinator_lists_its_workflows_and_their_yarn_jobs() {
        let app = "application_1795434460817_0005";
        let f = facts(
            vec![
                (COORD, coordinator("RUNNING")),
                (WF1, workflow(WF1, "SUCCEEDED", control_and_fs())),
                (
                    WF2,
                    workflow(WF2, "RUNNING", json!([shell(app, "RUNNING")])),
                ),
            ],
            vec![(app, json!({"state": "RUNNING", "finalStatus": "UNDEFINED"}))],
        );
        let s = summary(&f, COORD).unwrap();
        assert_eq!(s["aggregate_status"], "RUNNING", "{s:#}");
        assert_eq!(s["status"], "OK");
        // The action without a workflow yet is not counted.
        let actions = s["actions"].as_object().unwrap();
        assert_eq!(
            actions.keys().collect::<Vec<_>>(),
            ["workflow-1", "workflow-2"]
        );
        assert_eq!(actions["workflow-1"]["oozieId"], WF1);
        assert_eq!(
            actions["workflow-1"]["status"], "OK",
            "fs actions only: OK, not PNDA's ERROR"
        );
        let job = &actions["workflow-2"]["actions"]["job-1"];
        assert_eq!(job["yarnId"], app);
        assert_eq!(job["status"], "OK");
        assert_eq!(job["applicationType"], "shell");
    }

    #[test]
    fn failed_yarn_actions_turn_the_roll_up_to_warn_and_error() {
        let (bad, good) = ("application_1_0001", "job_1_0002");
        let f = facts(
            vec![
                (COORD, coordinator("RUNNING")),
                (WF1, workflow(WF1, "KILLED", json!([shell(bad, "ERROR")]))),
                (
                    WF2,
                    workflow(WF2, "RUNNING", json!([shell(good, "RUNNING")])),
                ),
            ],
            vec![
                (
                    bad,
                    json!({"state": "FAILED", "finalStatus": "FAILED", "diagnostics": "exit code 1"}),
                ),
                (
                    "application_1_0002",
                    json!({"state": "FINISHED", "finalStatus": "SUCCEEDED"}),
                ),
            ],
        );
        let s = summary(&f, COORD).unwrap();
        let failed = &s["actions"]["workflow-1"]["actions"]["job-1"];
        assert_eq!(failed["status"], "ERROR");
        assert_eq!(
            failed["information"],
            "exit code 1, Main class [ShellMain], exit code [1]"
        );
        // A `job_` id is reported as the YARN application it is.
        assert_eq!(
            s["actions"]["workflow-2"]["actions"]["job-1"]["yarnId"],
            "application_1_0002"
        );
        assert_eq!(s["status"], "WARN");
        assert_eq!(s["aggregate_status"], "RUNNING_WITH_ERRORS");

        // Every child in error: the job is ERROR; a suspended or killed one says WITH_FAILURES.
        let f = facts(
            vec![
                (COORD, coordinator("SUSPENDED")),
                (WF1, workflow(WF1, "KILLED", json!([]))),
                (WF2, workflow(WF2, "FAILED", json!([]))),
            ],
            vec![],
        );
        let s = summary(&f, COORD).unwrap();
        assert_eq!(s["status"], "ERROR");
        assert_eq!(s["aggregate_status"], "SUSPENDED_WITH_FAILURES");
    }

    #[test]
    fn ended_jobs() {
        let cases = [
            ("SUCCEEDED", "COMPLETED"),
            ("DONEWITHERROR", "COMPLETED_WITH_FAILURES"),
            ("KILLED", "KILLED"),
            ("SUSPENDED", "SUSPENDED"),
            ("FAILED", "FAILED"),
        ];
        for (status, aggregate) in cases {
            let f = facts(vec![(WF1, workflow(WF1, status, control_and_fs()))], vec![]);
            let s = summary(&f, WF1).unwrap();
            assert_eq!(s["aggregate_status"], aggregate, "{status}");
            assert_eq!(s["name"], "dm-every");
            assert_eq!(s["oozieId"], WF1);
        }
    }

    #[test]
    fn sub_workflows_are_keyed_as_such_and_an_unknown_job_is_an_error() {
        let parent = "0000010-261123115310953-oozie-root-W";
        let f = facts(
            vec![
                (
                    parent,
                    workflow(
                        parent,
                        "RUNNING",
                        json!([
                    {"name": "child", "type": "sub-workflow", "externalId": WF1, "status": "RUNNING"}]),
                    ),
                ),
                (WF1, workflow(WF1, "RUNNING", control_and_fs())),
            ],
            vec![],
        );
        let s = summary(&f, parent).unwrap();
        assert_eq!(s["actions"]["subworkflow-1"]["oozieId"], WF1);
        assert!(summary(&f, "0000099-261123115310953-oozie-root-W")
            .unwrap_err()
            .contains("E0604"));
    }

    #[test]
    fn ids() {
        assert!(is_workflow_id(WF1));
        assert!(is_workflow_id("0000001-200101000000000-oozie-oozi-W"));
        assert!(!is_workflow_id(COORD));
        assert!(!is_workflow_id("-"));
        assert!(is_yarn_id("job_1_1") && is_yarn_id("application_1_1") && !is_yarn_id("-"));
    }
}
