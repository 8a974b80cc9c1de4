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

use serde_json::{json, Map, Value};

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

/// The summary of the component whose Oozie job is `id`.
pub fn component_summary(facts: &dyn OozieFacts, id: &str) -> Result<Value, String> {
    let info = facts.job(id)?;
    let coordinator = info.get("coordJobName").is_some_and(|n| !n.is_null());
    let (name, oozie_id) = if coordinator {
        (&info["coordJobName"], &info["coordJobId"])
    } else {
        (&info["appName"], &info["id"])
    };
    let mut summary = Map::new();
    summary.insert("oozieId".into(), oozie_id.clone());
    summary.insert("name".into(), name.clone());
    summary.insert("componentType".into(), json!("Oozie"));
    let status = info["status"].as_str().unwrap_or_default();
    let aggregate = match status {
        "PREP" | "PREPSUSPENDED" | "PREPPAUSED" => Some("CREATED".to_string()),
        _ => {
            let (actions, health) = actions_tree(facts, &info, 0)?;
            summary.insert("actions".into(), Value::Object(actions));
            summary.insert("status".into(), json!(health.as_str()));
            let ok = health == Health::Ok;
            match status {
                "RUNNING" | "PAUSED" if ok => Some("RUNNING".into()),
                "RUNNING" | "PAUSED" | "RUNNINGWITHERROR" | "PAUSEDWITHERROR" => {
                    Some("RUNNING_WITH_ERRORS".into())
                }
                "SUSPENDED" | "KILLED" if ok => Some(status.to_string()),
                "SUSPENDED" | "KILLED" => Some(format!("{status}_WITH_FAILURES")),
                "SUSPENDEDWITHERROR" => Some("SUSPENDED_WITH_FAILURES".into()),
                "SUCCEEDED" => Some("COMPLETED".into()),
                "DONEWITHERROR" => Some("COMPLETED_WITH_FAILURES".into()),
                "FAILED" => Some("FAILED".into()),
                _ => None,
            }
        }
    };
    if let Some(aggregate) = aggregate {
        summary.insert("aggregate_status".into(), json!(aggregate));
    }
    Ok(Value::Object(summary))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Health {
    Ok,
    Warn,
    Error,
}

impl Health {
    fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "OK",
            Health::Warn => "WARN",
            Health::Error => "ERROR",
        }
    }

    /// PNDA's roll-up: every child ERROR → ERROR; any ERROR or WARN → WARN; else OK. No
    /// children is OK (PNDA: ERROR).
    fn roll_up(children: &[Health]) -> Health {
        if !children.is_empty() && children.iter().all(|h| *h == Health::Error) {
            Health::Error
        } else if children.iter().any(|h| *h != Health::Ok) {
            Health::Warn
        } else {
            Health::Ok
        }
    }
}

/// Nested workflows are followed this deep at most (a guard against cycles in bad answers).
const MAX_DEPTH: usize = 4;

/// The `job-N` / `workflow-N` / `subworkflow-N` entries of a job's actions, and their roll-up.
fn actions_tree(
    facts: &dyn OozieFacts,
    info: &Value,
    depth: usize,
) -> Result<(Map<String, Value>, Health), String> {
    let mut tree = Map::new();
    let mut healths = Vec::new();
    // One counter for jobs and workflows at each level, as PNDA numbered them.
    let mut n = 0;
    for action in info["actions"].as_array().into_iter().flatten() {
        let external = action["externalId"].as_str().unwrap_or_default();
        if is_yarn_id(external) {
            n += 1;
            let (entry, health) = yarn_action(facts, action)?;
            tree.insert(format!("job-{n}"), entry);
            healths.push(health);
        } else if is_workflow_id(external) && depth < MAX_DEPTH {
            n += 1;
            let key = if action["type"] == "sub-workflow" {
                format!("subworkflow-{n}")
            } else {
                format!("workflow-{n}")
            };
            let child = facts.job(external)?;
            let (actions, children_health) = actions_tree(facts, &child, depth + 1)?;
            let health = match child["status"].as_str() {
                Some("FAILED" | "KILLED") => Health::Error,
                _ => children_health,
            };
            tree.insert(
                key,
                json!({"actions": actions, "oozieId": external, "status": health.as_str(),
                       "name": child["appName"]}),
            );
            healths.push(health);
        }
    }
    Ok((tree, Health::roll_up(&healths)))
}

fn yarn_action(facts: &dyn OozieFacts, action: &Value) -> Result<(Value, Health), String> {
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
            let state = app["state"].as_str().unwrap_or_default();
            let diagnostics = app["diagnostics"].as_str().unwrap_or_default().to_string();
            if matches!(state, "FAILED" | "KILLED") {
                (Health::Error, diagnostics)
            } else if matches!(state, "SUBMITTED" | "ACCEPTED" | "RUNNING")
                || app["finalStatus"] == "SUCCEEDED"
            {
                (Health::Ok, String::new())
            } else {
                (Health::Warn, diagnostics)
            }
        }
    };
    if action["status"] == "ERROR" {
        health = Health::Error;
        information.push_str(&format!(
            ", {}",
            action["errorMessage"].as_str().unwrap_or_default()
        ));
    }
    let entry = json!({"status": health.as_str(), "yarnId": yarn_id, "information": information,
                       "name": action["name"], "applicationType": action["type"]});
    Ok((entry, health))
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
    use std::collections::BTreeMap;

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
            let s = component_summary(&f, COORD).unwrap();
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
        let s = component_summary(&f, COORD).unwrap();
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
        let s = component_summary(&f, COORD).unwrap();
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
        let s = component_summary(&f, COORD).unwrap();
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
            let s = component_summary(&f, WF1).unwrap();
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
        let s = component_summary(&f, parent).unwrap();
        assert_eq!(s["actions"]["subworkflow-1"]["oozieId"], WF1);
        assert!(
            component_summary(&f, "0000099-261123115310953-oozie-root-W")
                .unwrap_err()
                .contains("E0604")
        );
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
