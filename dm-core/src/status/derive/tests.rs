//! dmd's half of the derivation on answers recorded from the loopback cluster's real RM
//! (`bench/data/rm-apps-loopback.json`) and the supervisor's reports: what is handed to the
//! plugins, which calls a declaration needs, reuse of unchanged observations, staleness.

use super::*;
use crate::status::rollup;
use dm_plugin_api::observe::{DmState, JobState, Outcome, YarnSeen, YarnState};
use dm_supervisor::protocol::Attempt;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

const RECORDED: &str = include_str!("../../../../bench/data/rm-apps-loopback.json");

/// The recorded RM apps, by id suffix (`_0001` …), as dmd parses them.
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

fn totals() -> ComponentRef {
    ComponentRef {
        job_name: "e2e32282-totals-job".into(),
        name: "totals".into(),
        component_type: "sparkStreaming".into(),
    }
}

#[test]
fn the_rms_apps_are_handed_over_typed_newest_first() {
    let (latest, previous) = (recorded("_0003"), recorded("_0001"));
    let seen = yarn_seen(&[&latest, &previous]);
    let YarnSeen::Apps {
        latest: Some(l),
        previous: Some(p),
        count: 2,
    } = &seen
    else {
        panic!("{seen:?}")
    };
    assert_eq!(l.id, "application_1795434460817_0003");
    assert_eq!(
        (l.state, l.final_status),
        (Some(YarnState::Finished), Some(api::FinalStatus::Succeeded))
    );
    assert_eq!(p.state, Some(YarnState::Killed));
    assert_eq!(
        p.diagnostics.as_deref(),
        Some("Application application_1795434460817_0001 was killed by user dr.who")
    );
    let mut odd = YarnApp::clone(&latest);
    odd.state = "RESTARTING".into();
    assert_eq!(yarn_app(&odd).state, None, "a state the RM never wrote");
    assert_eq!(
        yarn_seen(&[]),
        YarnSeen::Apps {
            latest: None,
            previous: None,
            count: 0
        }
    );
}

#[test]
fn dms_states_as_plugins_read_them() {
    let cases = [
        (AppState::NotCreated, DmState::Leaving),
        (AppState::Creating, DmState::Leaving),
        (AppState::Created, DmState::Created),
        (AppState::Starting, DmState::Starting),
        (AppState::Started, DmState::Started),
        (AppState::Stopping, DmState::Leaving),
        (AppState::Destroying, DmState::Leaving),
    ];
    for (state, dm) in cases {
        assert_eq!(dm_state(state), dm, "{state:?}");
    }
}

#[test]
fn the_calls_a_declaration_needs() {
    let flink = Observe::Yarn {
        engine: Some(Engine::Flink),
        supervised: true,
    };
    let mut running = yarn_app(&recorded("_0003"));
    running.state = Some(YarnState::Running);
    assert_eq!(engine_to_ask(flink, &running), Some(Engine::Flink));
    assert_eq!(engine_to_ask(BuiltIn.observe(), &running), None);
    assert_eq!(engine_to_ask(Observe::Oozie, &running), None);
    let mut unreachable = running.clone();
    unreachable.tracking_url = Some(String::new());
    assert_eq!(engine_to_ask(flink, &unreachable), None, "no tracking URL");
    let finished = yarn_app(&recorded("_0003"));
    assert_eq!(engine_to_ask(flink, &finished), None, "it ended");

    let mut failed_app = finished.clone();
    failed_app.final_status = Some(api::FinalStatus::Failed);
    assert!(failed(&failed_app) && !failed(&finished) && !failed(&running));

    let none = yarn_seen(&[]);
    assert!(ask_supervisor(flink, &none, AppState::Started));
    assert!(ask_supervisor(
        flink,
        &YarnSeen::NotWatched,
        AppState::Started
    ));
    assert!(!ask_supervisor(flink, &none, AppState::Created));
    assert!(!ask_supervisor(BuiltIn.observe(), &none, AppState::Started));
    let silent = YarnSeen::Silent {
        error: "refused".into(),
        since: 1,
    };
    assert!(
        !ask_supervisor(flink, &silent, AppState::Started),
        "the RM is what is silent"
    );
    let on_yarn = yarn_seen(&[&recorded("_0003")]);
    assert!(!ask_supervisor(flink, &on_yarn, AppState::Started));
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

#[test]
fn the_supervisors_answer_as_plugins_read_it() {
    let cause = "java.io.FileNotFoundException: /data/in.csv";
    let seen = supervisor_seen(Ok(Some(report(
        JobState::Failed,
        Some(Outcome::Failed),
        Some(cause),
    ))));
    assert_eq!(
        seen,
        SupervisorSeen::Job(SupervisedJob {
            state: JobState::Failed,
            reason: None,
            last_outcome: Some(Outcome::Failed),
            last_reason: Some(cause.into()),
        })
    );
    assert_eq!(supervisor_seen(Ok(None)), SupervisorSeen::NoJob);
    assert_eq!(
        supervisor_seen(Err("timed out".into())),
        SupervisorSeen::Silent("timed out".into())
    );
}

/// Counts its derivations.
struct Counting(AtomicUsize);

impl Summarize for Counting {
    fn observe(&self) -> Observe {
        BuiltIn.observe()
    }
    fn summarize(
        &self,
        c: &ComponentRef,
        obs: &Observations,
    ) -> Result<ComponentSummary, CallError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        BuiltIn.summarize(c, obs)
    }
}

fn request(now: i64, yarn: YarnSeen) -> Observations {
    Observations {
        now,
        dm: DmState::Started,
        yarn,
        failure: None,
        engine: None,
        flink_history: None,
        supervisor: None,
        oozie: None,
    }
}

#[test]
fn unchanged_observations_reuse_the_last_summary_at_the_new_time() {
    let counting = Counting(AtomicUsize::new(0));
    let mut last = LastDerived::default();
    let apps = yarn_seen(&[&recorded("_0002")]);
    let first = last.summary(&counting, &totals(), request(10, apps.clone()));
    let second = last.summary(&counting, &totals(), request(20, apps.clone()));
    assert_eq!(counting.0.load(Ordering::Relaxed), 1, "derived once");
    assert_eq!(second.observed.at, Some(20));
    let mut expected = first.clone();
    expected.observed.at = Some(20);
    assert_eq!(second, expected);
    assert_eq!(
        second,
        BuiltIn.summarize(&totals(), &request(20, apps)).unwrap(),
        "the same as derived afresh"
    );
    let changed = last.summary(
        &counting,
        &totals(),
        request(30, yarn_seen(&[&recorded("_0003")])),
    );
    assert_eq!(counting.0.load(Ordering::Relaxed), 2, "derived again");
    assert_eq!(changed.aggregate_status, Status::FinishedSucceeded);
}

/// A plugin that cannot derive is not evidence of anything.
#[test]
fn a_failed_derivation_is_unknown_and_says_why() {
    struct Broken;
    impl Summarize for Broken {
        fn observe(&self) -> Observe {
            Observe::Nothing
        }
        fn summarize(
            &self,
            _: &ComponentRef,
            _: &Observations,
        ) -> Result<ComponentSummary, CallError> {
            Err(CallError {
                plugin: "broken".into(),
                method: "summarize",
                kind: dm_plugin_api::ErrorKind::Panic,
                message: "plugin panicked: bug".into(),
            })
        }
    }
    let s = summary_of(&Broken, &totals(), &request(5, YarnSeen::NotWatched));
    assert_eq!(s.aggregate_status, Status::Unknown);
    assert_eq!(
        serde_json::to_value(&s.observed).unwrap(),
        json!({"source": "dm", "error": "plugin broken: plugin panicked: bug"})
    );
}

/// The RM does not answer: UNKNOWN since its first silence, with the last good summary;
/// an answer again clears both.
#[test]
fn unknown_says_since_when_and_what_was_last_seen() {
    let mut memory = Staleness::default();
    let good = summary_of(
        &BuiltIn,
        &totals(),
        &request(10, yarn_seen(&[&recorded("_0002")])),
    );
    let published = memory.settle(good.clone(), 10);
    assert_eq!(*published, good);

    let silent = YarnSeen::Silent {
        error: "connection refused".into(),
        since: 20,
    };
    let down = summary_of(&BuiltIn, &totals(), &request(30, silent));
    let first = memory.settle(down, 30);
    let v = serde_json::to_value(&*first).unwrap();
    assert_eq!(v["aggregate_status"], "UNKNOWN");
    assert_eq!(v["since"], 20, "the RM's first silence, not this cycle");
    assert_eq!(v["last_good"], serde_json::to_value(&good).unwrap());

    // A source whose summary does not say since when (the supervisor): the first cycle that
    // saw it silent.
    let mut asked = request(40, yarn_seen(&[]));
    asked.supervisor = Some(SupervisorSeen::Silent("timed out".into()));
    let s = summary_of(&BuiltIn, &totals(), &asked);
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

    let back = summary_of(
        &BuiltIn,
        &totals(),
        &request(60, yarn_seen(&[&recorded("_0002")])),
    );
    assert_eq!(memory.settle(back.clone(), 60).since, None);
    assert_eq!(memory.unknown_since, None);
    assert_eq!(memory.last_good.as_deref(), Some(&back));
}

/// The jupyter plugin's library, loaded as dmd loads it: what it declares and its summary,
/// through the ABI.
#[test]
fn a_loaded_plugin_summarizes_through_the_abi() {
    let plugin = LoadedPlugin::open(&dm_testkit::built_cdylib("dm_plugin_jupyter")).unwrap();
    assert_eq!(Summarize::observe(&plugin), Observe::Nothing);
    let mut notebook = request(8, YarnSeen::NotWatched);
    let mut c = totals();
    c.component_type = "jupyter".into();
    let mut last = LastDerived::default();
    let s = last.summary(&plugin, &c, notebook.clone());
    assert_eq!(
        serde_json::to_value(&s).unwrap(),
        json!({"aggregate_status": "RUNNING", "name": "e2e32282-totals-job", "component": "totals",
            "componentType": "Jupyter", "yarnId": "", "tracking_url": "", "information": "",
            "observed": {"source": "dm", "at": 8}})
    );
    notebook.dm = DmState::Created;
    assert_eq!(
        last.summary(&plugin, &c, notebook).aggregate_status,
        Status::Created
    );
}
