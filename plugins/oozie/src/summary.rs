//! An `oozie` component's summary: before its job exists, dm's state; then Oozie's answer —
//! the job's state and its actions tree, rolled up by dmd's Oozie observer (`OozieJob`) — in
//! PNDA's Oozie summary shape (`oozieId`, `actions`, `status`).

use dm_plugin_api::observe::{
    ComponentRef, ComponentSummary, DmState, Health, Observations, Observed, OozieJob,
    OozieJobState, OozieSeen, Source, Status,
};
use serde_json::Value;

/// PNDA's `componentType` of an Oozie component.
const LABEL: &str = "Oozie";

pub fn summarize(c: &ComponentRef, obs: &Observations) -> ComponentSummary {
    let now = obs.now;
    let mut s = ComponentSummary::new(c, Status::NotFound, Observed::at(Source::Dm, now));
    s.component_type = LABEL.to_string();
    match &obs.oozie {
        None | Some(OozieSeen::NoJob) => {
            if obs.dm == DmState::Created {
                s.aggregate_status = Status::Created;
            }
        }
        Some(OozieSeen::NoOozie) => {
            let text = "this dmd has no Oozie to ask ([oozie] url)";
            s.information = Some(Value::from(text));
        }
        Some(OozieSeen::Answer(Ok(job))) => with_job(&mut s, job, now),
        Some(OozieSeen::Answer(Err(error))) => {
            s.aggregate_status = Status::Unknown;
            s.information = Some(Value::from(error.as_str()));
            s.observed = Observed {
                source: Source::Oozie,
                at: Some(now),
                error: Some(error.clone()),
            };
        }
    }
    s
}

fn with_job(s: &mut ComponentSummary, job: &OozieJob, now: i64) {
    s.aggregate_status = oozie_status(job.state, job.health).unwrap_or(Status::NotFound);
    if let Some(name) = &job.name {
        s.name = name.clone();
    }
    s.oozie_id = job.oozie_id.clone();
    s.actions = job.actions.clone();
    s.health = job.health;
    s.observed = Observed::at(Source::Oozie, now);
}

/// A job's status from Oozie's state of it and its actions' roll-up (`health`, `None` while
/// it is in PREP); `None` for a state PNDA did not map.
pub fn oozie_status(state: Option<OozieJobState>, health: Option<Health>) -> Option<Status> {
    use OozieJobState as O;
    let ok = health == Some(Health::Ok);
    Some(match state? {
        O::Prep | O::PrepSuspended | O::PrepPaused => Status::Created,
        O::Running | O::Paused if ok => Status::Running,
        O::Running | O::Paused | O::RunningWithError | O::PausedWithError => {
            Status::RunningWithErrors
        }
        O::Suspended if ok => Status::Suspended,
        O::Killed if ok => Status::Killed,
        O::Suspended | O::SuspendedWithError => Status::SuspendedWithFailures,
        O::Killed => Status::KilledWithFailures,
        O::Succeeded => Status::Completed,
        O::DoneWithError => Status::CompletedWithFailures,
        O::Failed => Status::Failed,
        O::Ignored => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dm_plugin_api::observe::{Keyed, YarnSeen};
    use serde_json::json;

    fn every() -> ComponentRef {
        ComponentRef {
            job_name: "a-every-job".into(),
            name: "every".into(),
            component_type: "oozie".into(),
        }
    }

    fn observations(dm: DmState, oozie: OozieSeen) -> Observations {
        Observations {
            now: 2,
            dm,
            yarn: YarnSeen::NotWatched,
            failure: None,
            engine: None,
            flink_history: None,
            supervisor: None,
            oozie: Some(oozie),
        }
    }

    #[test]
    fn before_oozie_answers() {
        let status = |dm, seen| {
            let s = summarize(&every(), &observations(dm, seen));
            (s.aggregate_status, s.information)
        };
        let no_oozie = Some(Value::from("this dmd has no Oozie to ask ([oozie] url)"));
        assert_eq!(
            status(DmState::Created, OozieSeen::NoJob),
            (Status::Created, None)
        );
        assert_eq!(
            status(DmState::Started, OozieSeen::NoJob),
            (Status::NotFound, None)
        );
        assert_eq!(
            status(DmState::Started, OozieSeen::NoOozie),
            (Status::NotFound, no_oozie)
        );
    }

    #[test]
    fn oozies_answer_in_pndas_shape() {
        let job = OozieJob {
            oozie_id: Some("0000001-C".into()),
            name: Some("dm-every-minute".into()),
            state: Some(OozieJobState::Running),
            actions: Some(Keyed(Vec::new())),
            health: Some(Health::Warn),
        };
        let s = summarize(
            &every(),
            &observations(DmState::Started, OozieSeen::Answer(Ok(job))),
        );
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"aggregate_status": "RUNNING_WITH_ERRORS", "name": "dm-every-minute",
                "component": "every", "componentType": "Oozie", "observed": {"source": "oozie", "at": 2},
                "oozieId": "0000001-C", "actions": {}, "status": "WARN"})
        );
        let seen = OozieSeen::Answer(Err("Oozie does not answer".into()));
        let v = serde_json::to_value(summarize(&every(), &observations(DmState::Started, seen)))
            .unwrap();
        assert_eq!(v["aggregate_status"], "UNKNOWN");
        assert_eq!(
            v["observed"],
            json!({"source": "oozie", "at": 2, "error": "Oozie does not answer"})
        );
    }

    /// Every Oozie job state, with healthy and unhealthy actions.
    #[test]
    fn every_oozie_job_state() {
        use OozieJobState as O;
        use Status as S;
        for state in OozieJobState::ALL {
            for health in [Health::Ok, Health::Warn, Health::Error] {
                let ok = health == Health::Ok;
                let expected = match state {
                    O::Prep | O::PrepSuspended | O::PrepPaused => Some(S::Created),
                    O::Running | O::Paused if ok => Some(S::Running),
                    O::Running | O::Paused | O::RunningWithError | O::PausedWithError => {
                        Some(S::RunningWithErrors)
                    }
                    O::Suspended if ok => Some(S::Suspended),
                    O::Suspended | O::SuspendedWithError => Some(S::SuspendedWithFailures),
                    O::Killed if ok => Some(S::Killed),
                    O::Killed => Some(S::KilledWithFailures),
                    O::Succeeded => Some(S::Completed),
                    O::DoneWithError => Some(S::CompletedWithFailures),
                    O::Failed => Some(S::Failed),
                    O::Ignored => None,
                };
                assert_eq!(
                    oozie_status(Some(*state), Some(health)),
                    expected,
                    "{state:?} {health:?}"
                );
            }
        }
        assert_eq!(oozie_status(Some(O::Prep), None), Some(S::Created));
        assert_eq!(
            oozie_status(None, Some(Health::Ok)),
            None,
            "a state Oozie never wrote"
        );
    }
}
