//! A `sparkStreaming` component's summary: YARN's word on its application (the shared
//! derivation), completed while it runs with the Spark driver's job and stage counts.

use dm_plugin_api::observe::{
    ComponentRef, ComponentSummary, EngineSeen, Observations, Observed, Source,
};
use dm_plugin_api::summarize::{with_engine_error, yarn_job};

/// PNDA's `componentType` of a Spark Streaming component.
const LABEL: &str = "SparkStreaming";

pub fn summarize(c: &ComponentRef, obs: &Observations) -> ComponentSummary {
    let mut s = yarn_job(c, obs);
    match &obs.engine {
        Some(EngineSeen::Spark(Ok(view))) => {
            s.aggregate_status = view.status;
            s.information = Some(view.information.clone());
            s.observed = Observed::at(Source::Spark, obs.now);
        }
        Some(EngineSeen::Spark(Err(e))) => with_engine_error(&mut s, e, obs.now),
        _ => {}
    }
    s.component_type = LABEL.to_string();
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use dm_plugin_api::observe::{DmState, SparkView, Status, YarnApp, YarnSeen, YarnState};
    use serde_json::json;

    fn totals() -> ComponentRef {
        ComponentRef {
            job_name: "e2e32282-totals-job".into(),
            name: "totals".into(),
            component_type: "sparkStreaming".into(),
        }
    }

    /// The loopback RM's `application_1795434460817_0002`, killed, with `state` instead.
    fn observations(state: YarnState) -> Observations {
        let app = YarnApp {
            id: "application_1795434460817_0002".into(),
            state: Some(state),
            final_status: None,
            tracking_url: Some(
                "http://localhost:8088/cluster/app/application_1795434460817_0002".into(),
            ),
            diagnostics: Some(
                "Application application_1795434460817_0002 was killed by user dr.who".into(),
            ),
        };
        Observations {
            now: 3,
            dm: DmState::Started,
            yarn: YarnSeen::Apps {
                latest: Some(app),
                previous: None,
                count: 1,
            },
            failure: None,
            engine: None,
            flink_history: None,
            supervisor: None,
            oozie: None,
        }
    }

    #[test]
    fn a_killed_spark_component_keeps_the_rms_tracking_url() {
        let s = summarize(&totals(), &observations(YarnState::Killed));
        assert_eq!(s.aggregate_status, Status::Killed);
        assert_eq!(s.component_type, "SparkStreaming");
        assert_eq!(
            s.tracking_url.as_deref(),
            Some("http://localhost:8088/cluster/app/application_1795434460817_0002")
        );
        assert_eq!(
            s.information,
            Some(json!(
                "Application application_1795434460817_0002 was killed by user dr.who"
            ))
        );
    }

    #[test]
    fn a_running_spark_job_takes_the_drivers_view() {
        let mut obs = observations(YarnState::Running);
        let information = json!({"jobSummary": {"failed": 1}, "stageSummary": {}});
        obs.engine = Some(EngineSeen::Spark(Ok(SparkView {
            status: Status::RunningWithErrors,
            information: information.clone(),
        })));
        let s = summarize(&totals(), &obs);
        assert_eq!(s.aggregate_status, Status::RunningWithErrors);
        assert_eq!(s.information, Some(information));
        assert_eq!(s.observed, Observed::at(Source::Spark, 3));
        obs.engine = Some(EngineSeen::Spark(Err("timed out".into())));
        let s = summarize(&totals(), &obs);
        assert_eq!(s.aggregate_status, Status::Running);
        assert_eq!(s.engine.map(|e| e.error), Some("timed out".to_string()));
    }
}
