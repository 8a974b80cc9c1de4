//! The derivation on answers recorded from the loopback cluster's real RM
//! (`bench/data/rm-apps-loopback.json`), and on the supervisor's reports.

use super::*;
use crate::status::engines::{flink_view, spark_view};
use crate::status::rollup;
use dm_supervisor::protocol::Attempt;
use serde_json::json;
use std::path::PathBuf;

const RECORDED: &str = include_str!("../../../../bench/data/rm-apps-loopback.json");

/// The recorded RM apps, by id suffix (`_0001` …).
fn recorded(suffix: &str) -> Arc<YarnApp> {
    let answer: Value = serde_json::from_str(RECORDED).expect("recorded RM answer is JSON");
    let app = answer["apps"]["app"]
        .as_array()
        .expect("apps.app")
        .iter()
        .find(|a| a["id"].as_str().is_some_and(|id| id.ends_with(suffix)))
        .unwrap_or_else(|| panic!("no recorded app {suffix}"));
    Arc::new(serde_json::from_value(app.clone()).expect("an RM app object"))
}

/// The recorded app with another state, as the RM wrote it for an earlier cycle.
fn recorded_as(suffix: &str, state: &str, final_status: &str) -> Arc<YarnApp> {
    let mut app = YarnApp::clone(&recorded(suffix));
    app.state = state.into();
    app.final_status = final_status.into();
    Arc::new(app)
}

const FLINK: ComponentId = ComponentId {
    job_name: "e2e32282-stream-job",
    name: "stream",
    ty: "flink",
};
const SPARK: ComponentId = ComponentId {
    job_name: "e2e32282-totals-job",
    name: "totals",
    ty: "sparkStreaming",
};
const HISTORY: &str = "http://localhost:8082/";

fn json_of(s: &ComponentSummary) -> Value {
    serde_json::to_value(s).expect("a summary serializes")
}

fn no_history() -> String {
    panic!("only an ended Flink component links the HistoryServer")
}

#[test]
fn every_named_value_serializes_to_its_string_and_parses_back() {
    for status in Status::ALL {
        assert_eq!(json!(status), json!(status.as_str()));
        assert_eq!(Status::parse(status.as_str()), Some(*status));
    }
    for state in YarnState::ALL {
        assert_eq!(YarnState::parse(state.as_str()), Some(*state));
    }
    for fs in FinalStatus::ALL {
        assert_eq!(FinalStatus::parse(fs.as_str()), Some(*fs));
    }
    for source in Source::ALL {
        assert_eq!(Source::parse(source.as_str()), Some(*source));
    }
    assert_eq!(
        Status::FailedToSubmitToYarn.as_str(),
        "FAILED_TO_SUBMIT_TO_YARN"
    );
    assert_eq!(
        Status::parse("running"),
        None,
        "the RM's strings are upper case"
    );
}

/// Every YARN state × final status, and the application each rolls up to.
#[test]
fn every_yarn_state_and_final_status() {
    use FinalStatus as F;
    use Status as S;
    use YarnState as Y;
    let finals = [F::Undefined, F::Succeeded, F::Failed, F::Killed];
    for state in YarnState::ALL {
        for fs in finals {
            let expected = match (state, fs) {
                (Y::New | Y::NewSaving | Y::Submitted, _) => S::Submitted,
                (Y::Accepted, _) => S::Accepted,
                (Y::Running, _) => S::Running,
                (Y::Finished, F::Succeeded) => S::FinishedSucceeded,
                (Y::Finished, F::Failed) => S::FinishedFailed,
                (Y::Finished, F::Killed) => S::FinishedKilled,
                (Y::Finished, F::Undefined) => S::FinishedUndefined,
                (Y::Failed, _) => S::Failed,
                (Y::Killed, _) => S::Killed,
            };
            assert_eq!(
                yarn_status(Some(*state), Some(fs)),
                expected,
                "{state:?} {fs:?}"
            );
            // Both engines' components read YARN alike.
            for id in [FLINK, SPARK] {
                let app = recorded_as("_0003", state.as_str(), fs.as_str());
                let s = on_yarn(id, &[&app], String::new, 1);
                assert_eq!(s.aggregate_status, expected, "{} {state:?} {fs:?}", id.ty);
            }
        }
    }
    let rolled = |s| rollup::aggregate([s]);
    assert_eq!(rolled(S::FinishedUndefined), Some(S::NotFound));
    assert_eq!(rolled(S::FinishedKilled), Some(S::Killed));
    assert_eq!(rolled(S::FinishedFailed), Some(S::CompletedWithFailures));
    assert_eq!(
        yarn_status(None, None),
        S::NotFound,
        "a state the RM never wrote"
    );
    assert_eq!(yarn_status(Some(Y::Finished), None), S::NotFound);
    assert!(failed_on_yarn(S::Failed) && failed_on_yarn(S::FinishedFailed));
    assert!(!failed_on_yarn(S::Killed) && !failed_on_yarn(S::FinishedKilled));
}

/// A Flink component killed, resubmitted and finished, as the loopback RM recorded it.
#[test]
fn a_resubmitted_flink_component_shows_both_runs_and_links_the_history_server() {
    let (latest, previous) = (recorded("_0003"), recorded("_0001"));
    let history = || flink_history_link(Some(HISTORY), Some("f00d"));
    let s = on_yarn(FLINK, &[&latest, &previous], history, 42);
    assert_eq!(
        json_of(&s),
        json!({
            "aggregate_status": "FINISHED_SUCCEEDED",
            "name": "e2e32282-stream-job", "component": "stream", "componentType": "Flink",
            "yarnId": "application_1795434460817_0003",
            "tracking_url": "http://localhost:8082/#/jobs/f00d",
            "information": "",
            "observed": {"source": "yarn", "at": 42},
            "previous": {"yarnId": "application_1795434460817_0001", "state": "KILLED",
                "finalStatus": "KILLED",
                "information": "Application application_1795434460817_0001 was killed by user dr.who"},
            "yarn_attempts": 2,
        })
    );
    assert_eq!(
        flink_history_link(Some(HISTORY), None),
        "http://localhost:8082/#/completed-jobs"
    );
    assert_eq!(flink_history_link(None, Some("f00d")), "");
}

#[test]
fn a_killed_spark_component_keeps_the_rms_tracking_url() {
    let s = on_yarn(SPARK, &[&recorded("_0002")], no_history, 5);
    assert_eq!(s.aggregate_status, Status::Killed);
    assert_eq!(
        rollup::aggregate([s.aggregate_status]),
        Some(Status::Killed)
    );
    assert_eq!(
        s.tracking_url.as_deref(),
        Some("http://localhost:8088/cluster/app/application_1795434460817_0002")
    );
    assert_eq!(s.yarn_attempts, Some(1));
    assert!(s.previous.is_none());
}

#[test]
fn a_running_flink_job_gets_the_engines_view_and_kpis() {
    let app = recorded_as("_0003", "RUNNING", "UNDEFINED");
    let mut s = on_yarn(FLINK, &[&app], no_history, 1);
    assert_eq!(s.aggregate_status, Status::Running);
    let job = json!({"duration": 900, "vertices": [
        {"id": "a", "name": "Source: numbers", "status": "RUNNING", "metrics": {"write-records": 3}}]});
    with_flink(&mut s, flink_view("j9", &job, None, &[]), 2);
    let v = json_of(&s);
    assert_eq!(v["aggregate_status"], "RUNNING");
    assert_eq!(
        v["tracking_url"],
        "http://localhost:8088/proxy/application_1795434460817_0003/#/jobs/j9"
    );
    assert_eq!(v["information"]["flinkJid"], "j9");
    assert_eq!(v["observed"], json!({"source": "flink", "at": 2}));
    assert_eq!(v["kpis"]["records_in"], 3);
    assert_eq!(v["kpis"]["uptime_ms"], 900);
}

#[test]
fn a_running_spark_job_with_a_failed_job_runs_with_errors() {
    let app = recorded_as("_0002", "RUNNING", "UNDEFINED");
    let mut s = on_yarn(SPARK, &[&app], no_history, 1);
    let jobs = serde_json::from_value::<Vec<_>>(json!([{"jobId": 1, "status": "FAILED"}])).unwrap();
    with_spark(&mut s, spark_view(&jobs, &[]), 3);
    assert_eq!(s.aggregate_status, Status::RunningWithErrors);
    assert_eq!(json_of(&s)["observed"], json!({"source": "spark", "at": 3}));
}

#[test]
fn an_engine_that_does_not_answer_leaves_yarns_status() {
    let app = recorded_as("_0003", "RUNNING", "UNDEFINED");
    let mut s = on_yarn(FLINK, &[&app], no_history, 1);
    with_engine_error(&mut s, "connection refused".into(), 4);
    let v = json_of(&s);
    assert_eq!(v["aggregate_status"], "RUNNING");
    assert_eq!(
        v["engine"],
        json!({"status": "UNKNOWN", "error": "connection refused", "at": 4})
    );
}

#[test]
fn off_yarn_the_status_is_dms() {
    let notebook = ComponentId {
        job_name: "a-nb-job",
        name: "nb",
        ty: NOTEBOOKS_TYPE,
    };
    let cases = [
        (AppState::Created, true, Status::Created, false),
        (AppState::Starting, true, Status::Starting, false),
        (AppState::Started, true, Status::NotFound, true),
        (AppState::Started, false, Status::Running, false),
        (AppState::Stopping, true, Status::NotFound, false),
        (AppState::Destroying, false, Status::NotFound, false),
    ];
    for (state, plugin, status, ask) in cases {
        let (s, asked) = off_yarn(notebook, state, plugin, 8);
        assert_eq!(
            (s.aggregate_status, asked),
            (status, ask),
            "{state:?} {plugin}"
        );
    }
    let (s, _) = off_yarn(notebook, AppState::Created, false, 8);
    assert_eq!(
        json_of(&s),
        json!({"aggregate_status": "CREATED", "name": "a-nb-job", "component": "nb",
            "componentType": "Jupyter", "yarnId": "", "tracking_url": "", "information": "",
            "observed": {"source": "dm", "at": 8}})
    );
}

fn report(state: JobState, outcome: Option<Outcome>, reason: Option<&str>) -> JobReport {
    JobReport {
        id: "a/flink/job".into(),
        state,
        reason: None,
        attempts: vec![Attempt {
            number: 1,
            started_ms: 1,
            ended_ms: outcome.map(|_| 2),
            pid: None,
            yarn_application_id: None,
            outcome,
            reason: reason.map(str::to_string),
            log: PathBuf::from("attempt-1.log"),
        }],
        last_savepoint: None,
        resources: None,
    }
}

fn supervised_summary(report: Result<Option<JobReport>, String>, yarn: bool) -> Value {
    let (mut s, _) = off_yarn(FLINK, AppState::Started, true, 7);
    supervised(&mut s, report, yarn, 7);
    json_of(&s)
}

#[test]
fn a_job_the_supervisor_gave_up_on_before_yarn_failed_to_submit() {
    let cause = "java.io.FileNotFoundException: /data/in.csv";
    let failed = report(JobState::Failed, Some(Outcome::Failed), Some(cause));
    let s = supervised_summary(Ok(Some(failed.clone())), true);
    assert_eq!(s["aggregate_status"], "FAILED_TO_SUBMIT_TO_YARN");
    assert_eq!(
        (&s["failure"], &s["information"]),
        (&json!(cause), &json!(cause))
    );
    assert_eq!(s["observed"], json!({"source": "supervisor", "at": 7}));
    assert_eq!(
        rollup::aggregate([Status::FailedToSubmitToYarn]),
        Some(Status::NotFound),
        "as in PNDA"
    );
    // Run locally (no YARN watched), the same evidence is a plain failure.
    assert_eq!(
        supervised_summary(Ok(Some(failed)), false)["aggregate_status"],
        "FAILED"
    );
    // Ended by its policy after a failed attempt: the same.
    let ended = report(JobState::Ended, Some(Outcome::Failed), Some(cause));
    let s = supervised_summary(Ok(Some(ended)), true);
    assert_eq!(
        (&s["aggregate_status"], &s["failure"]),
        (&json!("FAILED_TO_SUBMIT_TO_YARN"), &json!(cause))
    );
}

#[test]
fn the_supervisors_other_states() {
    let status = |r: JobReport| supervised_summary(Ok(Some(r)), true)["aggregate_status"].clone();
    assert_eq!(status(report(JobState::Running, None, None)), "RUNNING");
    assert_eq!(status(report(JobState::Starting, None, None)), "STARTING");
    assert_eq!(
        status(report(JobState::Stopped, Some(Outcome::Stopped), None)),
        "NOT_FOUND"
    );
    assert_eq!(
        status(report(JobState::Ended, Some(Outcome::Succeeded), None)),
        "FINISHED_SUCCEEDED"
    );
    assert_eq!(
        status(report(JobState::Ended, Some(Outcome::Unknown), None)),
        "NOT_FOUND"
    );
    let waiting = report(JobState::BackingOff, Some(Outcome::Failed), Some("exit 1"));
    let s = supervised_summary(Ok(Some(waiting)), true);
    assert_eq!(
        (&s["aggregate_status"], &s["information"]),
        (&json!("STARTING"), &json!("exit 1"))
    );
    assert!(
        s.get("failure").is_none(),
        "being retried is not a failure: {s}"
    );
    // The report's own reason is preferred to the last attempt's.
    let mut gave_up = report(JobState::Failed, Some(Outcome::Failed), Some("exit 1"));
    gave_up.reason = Some("gave up after 3 attempts".into());
    assert_eq!(
        supervised_summary(Ok(Some(gave_up)), false)["failure"],
        "gave up after 3 attempts"
    );
    let none = supervised_summary(Ok(None), true);
    assert_eq!(none["aggregate_status"], "NOT_FOUND");
    assert_eq!(
        none["information"],
        "the supervisor has no job for this component"
    );
    // An unreachable supervisor is not evidence of anything.
    let s = supervised_summary(Err("the supervisor does not answer".into()), true);
    assert_eq!(s["aggregate_status"], "UNKNOWN");
    assert_eq!(
        s["observed"],
        json!({"source": "supervisor", "at": 7, "error": "the supervisor does not answer"})
    );
}

/// The RM does not answer: UNKNOWN since its first silence, with the last good summary;
/// an answer again clears both.
#[test]
fn unknown_says_since_when_and_what_was_last_seen() {
    let mut memory = Staleness::default();
    let good = on_yarn(SPARK, &[&recorded("_0002")], no_history, 10);
    let published = memory.settle(good.clone(), 10);
    assert_eq!(*published, good);

    let down = unknown(SPARK, Source::Yarn, "connection refused", 20);
    let first = memory.settle(down, 30);
    let v = json_of(&first);
    assert_eq!(v["aggregate_status"], "UNKNOWN");
    assert_eq!(v["since"], 20, "the RM's first silence, not this cycle");
    assert_eq!(v["information"], "connection refused");
    assert_eq!(
        v["observed"],
        json!({"source": "yarn", "error": "connection refused"})
    );
    assert_eq!(v["last_good"], json_of(&good));

    // A source whose summary does not say since when (the supervisor, Oozie): the first cycle
    // that saw it silent.
    let (mut s, _) = off_yarn(SPARK, AppState::Started, true, 40);
    supervised(&mut s, Err("timed out".into()), true, 40);
    assert_eq!(memory.settle(s.clone(), 40).since, Some(40));
    assert_eq!(
        memory.settle(s, 50).since,
        Some(40),
        "still since the first"
    );
    assert_eq!(
        rollup::aggregate([Status::Running, Status::Unknown]),
        Some(Status::Unknown)
    );

    let back = on_yarn(SPARK, &[&recorded("_0002")], no_history, 60);
    assert_eq!(memory.settle(back.clone(), 60).since, None);
    assert_eq!(memory.unknown_since, None);
    assert_eq!(memory.last_good.as_deref(), Some(&back));
}

#[test]
fn oozie_components() {
    let id = ComponentId {
        job_name: "a-every-job",
        name: "every",
        ty: "oozie",
    };
    let status = |state, job, oozie| {
        let (s, ask) = oozie_before(id, state, job, oozie, 1);
        (s.aggregate_status, ask, s.information)
    };
    let no_oozie = Some(Value::from("this dmd has no Oozie to ask ([oozie] url)"));
    assert_eq!(
        status(AppState::Created, false, true),
        (Status::Created, false, None)
    );
    assert_eq!(
        status(AppState::Created, false, false),
        (Status::Created, false, None)
    );
    assert_eq!(
        status(AppState::Started, true, true),
        (Status::NotFound, true, None)
    );
    assert_eq!(
        status(AppState::Started, true, false),
        (Status::NotFound, false, no_oozie)
    );
    assert_eq!(
        status(AppState::Started, false, true),
        (Status::NotFound, false, None)
    );

    let (mut s, _) = oozie_before(id, AppState::Started, true, true, 1);
    let answer = json!({"oozieId": "0000001-C", "name": "dm-every-minute", "componentType": "Oozie",
        "actions": {}, "status": "OK", "aggregate_status": "RUNNING_WITH_ERRORS"});
    with_oozie(&mut s, Ok(answer), 2);
    assert_eq!(
        json_of(&s),
        json!({"aggregate_status": "RUNNING_WITH_ERRORS", "name": "dm-every-minute",
            "component": "every", "componentType": "Oozie", "observed": {"source": "oozie", "at": 2},
            "oozieId": "0000001-C", "actions": {}, "status": "OK"})
    );

    let (mut s, _) = oozie_before(id, AppState::Started, true, true, 1);
    with_oozie(&mut s, Err("Oozie does not answer".into()), 3);
    let v = json_of(&s);
    assert_eq!(v["aggregate_status"], "UNKNOWN");
    assert_eq!(
        v["observed"],
        json!({"source": "oozie", "at": 3, "error": "Oozie does not answer"})
    );
}
