//! On the loopback RM's recorded answers (`bench/data/rm-apps-loopback.json`).

use super::*;
use dm_plugin_api::observe::{DmState, FinalStatus, Status, YarnApp, YarnSeen, YarnState};
use serde_json::{json, Map, Value};

const RECORDED: &str = include_str!("../../../../bench/data/rm-apps-loopback.json");

fn recorded(suffix: &str) -> YarnApp {
    let answer: Value = serde_json::from_str(RECORDED).unwrap();
    let app = answer["apps"]["app"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"].as_str().is_some_and(|id| id.ends_with(suffix)))
        .unwrap()
        .clone();
    YarnApp {
        id: app["id"].as_str().unwrap().into(),
        state: app["state"].as_str().and_then(YarnState::parse),
        final_status: app["finalStatus"].as_str().and_then(FinalStatus::parse),
        tracking_url: app["trackingUrl"].as_str().map(str::to_string),
        diagnostics: app["diagnostics"].as_str().map(str::to_string),
    }
}

fn stream() -> ComponentRef {
    ComponentRef {
        job_name: "e2e32282-stream-job".into(),
        name: "stream".into(),
        component_type: "flink".into(),
    }
}

fn observations(latest: YarnApp, previous: Option<YarnApp>) -> Observations {
    Observations {
        now: 42,
        dm: DmState::Started,
        yarn: YarnSeen::Apps {
            count: 1 + usize::from(previous.is_some()),
            latest: Some(latest),
            previous,
        },
        failure: None,
        engine: None,
        flink_history: Some(FlinkHistory {
            url: Some("http://localhost:8082/".into()),
            last_jid: Some("f00d".into()),
        }),
        supervisor: None,
        oozie: None,
    }
}

/// A Flink component killed, resubmitted and finished, as the loopback RM recorded it.
#[test]
fn a_resubmitted_flink_component_shows_both_runs_and_links_the_history_server() {
    let s = summarize(
        &stream(),
        &observations(recorded("_0003"), Some(recorded("_0001"))),
    );
    assert_eq!(
        serde_json::to_value(&s).unwrap(),
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
    let no_jid = FlinkHistory {
        url: Some("http://localhost:8082/".into()),
        last_jid: None,
    };
    assert_eq!(
        history_link(Some(&no_jid)),
        "http://localhost:8082/#/completed-jobs"
    );
    let no_url = FlinkHistory {
        url: None,
        last_jid: Some("f00d".into()),
    };
    assert_eq!(history_link(Some(&no_url)), "");
}

fn running() -> Observations {
    let mut app = recorded("_0003");
    (app.state, app.final_status) = (Some(YarnState::Running), Some(FinalStatus::Undefined));
    observations(app, None)
}

#[test]
fn a_running_flink_job_gets_the_engines_view_and_kpis() {
    let mut obs = running();
    let mut kpis = Map::new();
    kpis.insert("records_in".into(), json!(3));
    obs.engine = Some(EngineSeen::Flink(Ok(FlinkView {
        status: Status::RunningWithErrors,
        jid: Some("j9".into()),
        information: json!({"state": "ERROR", "flinkJid": "j9", "vertices": []}),
        kpis,
    })));
    let v = serde_json::to_value(summarize(&stream(), &obs)).unwrap();
    assert_eq!(v["aggregate_status"], "RUNNING_WITH_ERRORS");
    assert_eq!(
        v["tracking_url"], "http://localhost:8088/proxy/application_1795434460817_0003/#/jobs/j9",
        "a running job links its JobManager, not the HistoryServer"
    );
    assert_eq!(v["information"]["flinkJid"], "j9");
    assert_eq!(v["observed"], json!({"source": "flink", "at": 42}));
    assert_eq!(v["kpis"]["records_in"], 3);
}

#[test]
fn an_engine_that_does_not_answer_leaves_yarns_status() {
    let mut obs = running();
    obs.engine = Some(EngineSeen::Flink(Err("connection refused".into())));
    let v = serde_json::to_value(summarize(&stream(), &obs)).unwrap();
    assert_eq!(v["aggregate_status"], "RUNNING");
    assert_eq!(v["observed"], json!({"source": "yarn", "at": 42}));
    assert_eq!(
        v["engine"],
        json!({"status": "UNKNOWN", "error": "connection refused", "at": 42})
    );
}
