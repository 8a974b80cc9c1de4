//! The shared derivation on answers recorded from the loopback cluster's real RM
//! (`bench/data/rm-apps-loopback.json`), and on the supervisor's reports.

use super::*;
use crate::observe::{Engine, Observe, SupervisedJob};
use serde_json::json;

const RECORDED: &str = include_str!("../../../../bench/data/rm-apps-loopback.json");

/// The recorded RM app whose id ends with `suffix`, as dmd hands it over.
pub fn recorded(suffix: &str) -> YarnApp {
    let answer: Value = serde_json::from_str(RECORDED).expect("recorded RM answer is JSON");
    let app = answer["apps"]["app"]
        .as_array()
        .expect("apps.app")
        .iter()
        .find(|a| a["id"].as_str().is_some_and(|id| id.ends_with(suffix)))
        .unwrap_or_else(|| panic!("no recorded app {suffix}"));
    let text = |key: &str| app[key].as_str().map(str::to_string);
    YarnApp {
        id: text("id").expect("an id"),
        state: app["state"].as_str().and_then(YarnState::parse),
        final_status: app["finalStatus"].as_str().and_then(FinalStatus::parse),
        tracking_url: text("trackingUrl"),
        diagnostics: text("diagnostics"),
    }
}

fn spark() -> ComponentRef {
    ComponentRef {
        job_name: "e2e32282-totals-job".into(),
        name: "totals".into(),
        component_type: "sparkStreaming".into(),
    }
}

fn observations(yarn: YarnSeen) -> Observations {
    Observations {
        now: 7,
        dm: DmState::Started,
        yarn,
        failure: None,
        engine: None,
        flink_history: None,
        supervisor: None,
        oozie: None,
    }
}

fn apps(latest: YarnApp, previous: Option<YarnApp>) -> YarnSeen {
    let count = 1 + usize::from(previous.is_some());
    YarnSeen::Apps {
        latest: Some(latest),
        previous,
        count,
    }
}

#[test]
fn every_named_value_serializes_to_its_string_and_parses_back() {
    for status in Status::ALL {
        assert_eq!(json!(status), json!(status.as_str()));
        let back: Status = serde_json::from_value(json!(status)).unwrap();
        assert_eq!(back, *status);
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
        Status::parse("running"),
        None,
        "the RM's strings are upper case"
    );
    let refused = serde_json::from_value::<Status>(json!("RUNNIN")).unwrap_err();
    assert!(
        refused.to_string().contains("unknown Status \"RUNNIN\""),
        "{refused}"
    );
}

/// Every YARN state × final status.
#[test]
fn every_yarn_state_and_final_status() {
    use FinalStatus as F;
    use Status as S;
    use YarnState as Y;
    for state in YarnState::ALL {
        for fs in FinalStatus::ALL {
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
                yarn_status(Some(*state), Some(*fs)),
                expected,
                "{state:?} {fs:?}"
            );
            let mut app = recorded("_0003");
            (app.state, app.final_status) = (Some(*state), Some(*fs));
            let s = yarn_job(&spark(), &observations(apps(app, None)));
            assert_eq!(s.aggregate_status, expected, "{state:?} {fs:?}");
            assert_eq!(s.observed, Observed::at(Source::Yarn, 7));
        }
    }
    assert_eq!(
        yarn_status(None, None),
        S::NotFound,
        "a state the RM never wrote"
    );
    assert_eq!(yarn_status(Some(Y::Finished), None), S::NotFound);
    assert!(failed_on_yarn(S::Failed) && failed_on_yarn(S::FinishedFailed));
    assert!(!failed_on_yarn(S::Killed) && !failed_on_yarn(S::FinishedKilled));
}

/// A component killed and resubmitted, as the loopback RM recorded it: PNDA's JSON.
#[test]
fn a_resubmitted_component_shows_both_runs() {
    let obs = observations(apps(recorded("_0003"), Some(recorded("_0001"))));
    let s = yarn_job(&spark(), &obs);
    assert_eq!(
        serde_json::to_value(&s).unwrap(),
        json!({
            "aggregate_status": "FINISHED_SUCCEEDED",
            "name": "e2e32282-totals-job", "component": "totals", "componentType": "sparkStreaming",
            "yarnId": "application_1795434460817_0003",
            "tracking_url": "http://localhost:8088/proxy/application_1795434460817_0003/",
            "information": "",
            "observed": {"source": "yarn", "at": 7},
            "previous": {"yarnId": "application_1795434460817_0001", "state": "KILLED",
                "finalStatus": "KILLED",
                "information": "Application application_1795434460817_0001 was killed by user dr.who"},
            "yarn_attempts": 2,
        })
    );
    assert!(ended_on_yarn(&obs));
    let back: ComponentSummary = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
    assert_eq!(back, s, "a summary crosses the ABI unchanged");
}

#[test]
fn a_failed_application_carries_the_root_cause_found() {
    let mut app = recorded("_0003");
    (app.state, app.final_status) = (Some(YarnState::Failed), Some(FinalStatus::Failed));
    let mut obs = observations(apps(app, None));
    obs.failure = Some("java.lang.OutOfMemoryError".into());
    let s = yarn_job(&spark(), &obs);
    assert_eq!(s.failure.as_deref(), Some("java.lang.OutOfMemoryError"));
    let mut killed = recorded("_0002");
    killed.state = Some(YarnState::Killed);
    obs.yarn = apps(killed, None);
    assert_eq!(
        yarn_job(&spark(), &obs).failure,
        None,
        "a kill is no failure"
    );
}

#[test]
fn off_yarn_the_status_is_dms() {
    let cases = [
        (DmState::Created, Status::Created),
        (DmState::Starting, Status::Starting),
        (DmState::Started, Status::Running),
        (DmState::Leaving, Status::NotFound),
    ];
    for (dm, status) in cases {
        for yarn in [
            YarnSeen::NotWatched,
            YarnSeen::Apps {
                latest: None,
                previous: None,
                count: 0,
            },
        ] {
            let mut obs = observations(yarn);
            obs.dm = dm;
            assert_eq!(yarn_job(&spark(), &obs).aggregate_status, status, "{dm:?}");
        }
    }
    let mut obs = observations(YarnSeen::NotWatched);
    obs.dm = DmState::Created;
    assert_eq!(
        serde_json::to_value(yarn_job(&spark(), &obs)).unwrap(),
        json!({"aggregate_status": "CREATED", "name": "e2e32282-totals-job", "component": "totals",
            "componentType": "sparkStreaming", "yarnId": "", "tracking_url": "", "information": "",
            "observed": {"source": "dm", "at": 7}})
    );
}

fn job(state: JobState, outcome: Option<Outcome>, reason: Option<&str>) -> SupervisorSeen {
    SupervisorSeen::Job(SupervisedJob {
        state,
        reason: None,
        last_outcome: outcome,
        last_reason: reason.map(str::to_string),
    })
}

fn supervised_summary(seen: SupervisorSeen, yarn: bool) -> Value {
    let watched = YarnSeen::Apps {
        latest: None,
        previous: None,
        count: 0,
    };
    let mut obs = observations(if yarn { watched } else { YarnSeen::NotWatched });
    obs.supervisor = Some(seen);
    serde_json::to_value(yarn_job(&spark(), &obs)).unwrap()
}

#[test]
fn a_job_the_supervisor_gave_up_on_before_yarn_failed_to_submit() {
    let cause = "java.io.FileNotFoundException: /data/in.csv";
    let failed = job(JobState::Failed, Some(Outcome::Failed), Some(cause));
    let s = supervised_summary(failed.clone(), true);
    assert_eq!(s["aggregate_status"], "FAILED_TO_SUBMIT_TO_YARN");
    assert_eq!(
        (&s["failure"], &s["information"]),
        (&json!(cause), &json!(cause))
    );
    assert_eq!(s["observed"], json!({"source": "supervisor", "at": 7}));
    // Run locally (no YARN watched), the same evidence is a plain failure.
    assert_eq!(
        supervised_summary(failed, false)["aggregate_status"],
        "FAILED"
    );
    let ended = job(JobState::Ended, Some(Outcome::Failed), Some(cause));
    let s = supervised_summary(ended, true);
    assert_eq!(
        (&s["aggregate_status"], &s["failure"]),
        (&json!("FAILED_TO_SUBMIT_TO_YARN"), &json!(cause))
    );
}

#[test]
fn the_supervisors_other_states() {
    let status = |seen| supervised_summary(seen, true)["aggregate_status"].clone();
    assert_eq!(status(job(JobState::Running, None, None)), "RUNNING");
    assert_eq!(status(job(JobState::Starting, None, None)), "STARTING");
    assert_eq!(
        status(job(JobState::Stopped, Some(Outcome::Stopped), None)),
        "NOT_FOUND"
    );
    assert_eq!(
        status(job(JobState::Ended, Some(Outcome::Succeeded), None)),
        "FINISHED_SUCCEEDED"
    );
    assert_eq!(
        status(job(JobState::Ended, Some(Outcome::Unknown), None)),
        "NOT_FOUND"
    );
    let s = supervised_summary(
        job(JobState::BackingOff, Some(Outcome::Failed), Some("exit 1")),
        true,
    );
    assert_eq!(
        (&s["aggregate_status"], &s["information"]),
        (&json!("STARTING"), &json!("exit 1"))
    );
    assert!(
        s.get("failure").is_none(),
        "being retried is not a failure: {s}"
    );
    // The report's own reason is preferred to the last attempt's.
    let gave_up = SupervisorSeen::Job(SupervisedJob {
        state: JobState::Failed,
        reason: Some("gave up after 3 attempts".into()),
        last_outcome: Some(Outcome::Failed),
        last_reason: Some("exit 1".into()),
    });
    assert_eq!(
        supervised_summary(gave_up, false)["failure"],
        "gave up after 3 attempts"
    );
    let none = supervised_summary(SupervisorSeen::NoJob, true);
    assert_eq!(none["aggregate_status"], "NOT_FOUND");
    assert_eq!(
        none["information"],
        "the supervisor has no job for this component"
    );
    // An unreachable supervisor is not evidence of anything.
    let s = supervised_summary(
        SupervisorSeen::Silent("the supervisor does not answer".into()),
        true,
    );
    assert_eq!(s["aggregate_status"], "UNKNOWN");
    assert_eq!(
        s["observed"],
        json!({"source": "supervisor", "at": 7, "error": "the supervisor does not answer"})
    );
}

#[test]
fn a_silent_rm_makes_the_component_unknown_since_its_first_silence() {
    let obs = observations(YarnSeen::Silent {
        error: "connection refused".into(),
        since: 3,
    });
    let v = serde_json::to_value(yarn_job(&spark(), &obs)).unwrap();
    assert_eq!(v["aggregate_status"], "UNKNOWN");
    assert_eq!(v["since"], 3);
    assert_eq!(v["information"], "connection refused");
    assert_eq!(
        v["observed"],
        json!({"source": "yarn", "error": "connection refused"})
    );
}

#[test]
fn restamping_moves_only_the_observations_time() {
    let mut app = recorded("_0003");
    app.state = Some(YarnState::Running);
    let mut s = yarn_job(&spark(), &observations(apps(app, None)));
    with_engine_error(&mut s, "refused", 7);
    s.since = Some(7);
    s.restamp(7, 12);
    assert_eq!(
        (s.observed.at, s.engine.as_ref().map(|e| e.at), s.since),
        (Some(12), Some(12), Some(7))
    );
    let a = observations(YarnSeen::NotWatched);
    let mut b = a.clone();
    b.now = 99;
    assert!(a.same_facts(&b));
    b.dm = DmState::Leaving;
    assert!(!a.same_facts(&b));
}

#[test]
fn declarations_cross_as_json() {
    let flink = Observe::Yarn {
        engine: Some(Engine::Flink),
        supervised: true,
    };
    let text = serde_json::to_value(flink).unwrap();
    assert_eq!(
        text,
        json!({"observe": "yarn", "engine": "flink", "supervised": true})
    );
    assert_eq!(serde_json::from_value::<Observe>(text).unwrap(), flink);
    assert_eq!(
        serde_json::to_value(Observe::Nothing).unwrap(),
        json!({"observe": "nothing"})
    );
    let obs = observations(apps(recorded("_0002"), None));
    let back: Observations = serde_json::from_value(serde_json::to_value(&obs).unwrap()).unwrap();
    assert_eq!(back, obs);
}
