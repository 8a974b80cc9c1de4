//! Derivation steps every plugin's `summarize` may share (pnda-dm §5.6): PNDA's reading of a
//! component's YARN applications, dm's state of an application, the supervisor's report and an
//! unanswering source. Pure functions of [`crate::observe`]'s types; [`yarn_job`] is the whole
//! derivation of a component run as a YARN job, which a plugin then completes with its
//! engine's view.

use crate::observe::{
    ComponentRef, ComponentSummary, DmState, EngineProblem, FinalStatus, JobState, Observations,
    Observed, Outcome, Previous, Source, Status, SupervisorSeen, YarnApp, YarnSeen, YarnState,
};
use serde_json::Value;

/// A component whose source did not answer: UNKNOWN since the first failure.
pub fn unknown(c: &ComponentRef, source: Source, error: &str, since: i64) -> ComponentSummary {
    let observed = Observed {
        source,
        at: None,
        error: Some(error.to_string()),
    };
    let mut s = ComponentSummary::new(c, Status::Unknown, observed);
    s.information = Some(Value::from(error));
    s.since = Some(since);
    s
}

/// A component's status from its latest YARN application's state and final status.
pub fn yarn_status(state: Option<YarnState>, final_status: Option<FinalStatus>) -> Status {
    match state {
        Some(YarnState::New | YarnState::NewSaving | YarnState::Submitted) => Status::Submitted,
        Some(YarnState::Accepted) => Status::Accepted,
        Some(YarnState::Running) => Status::Running,
        Some(YarnState::Finished) => match final_status {
            Some(FinalStatus::Succeeded) => Status::FinishedSucceeded,
            Some(FinalStatus::Failed) => Status::FinishedFailed,
            Some(FinalStatus::Killed) => Status::FinishedKilled,
            Some(FinalStatus::Undefined) => Status::FinishedUndefined,
            None => Status::NotFound,
        },
        Some(YarnState::Failed) => Status::Failed,
        Some(YarnState::Killed) => Status::Killed,
        None => Status::NotFound,
    }
}

/// A status whose root cause is worth looking for in the application's logs.
pub fn failed_on_yarn(status: Status) -> bool {
    matches!(status, Status::Failed | Status::FinishedFailed)
}

/// YARN's diagnostics, cut before the `Details :` that PNDA left out.
pub fn diagnostics(app: &YarnApp) -> String {
    let text = app.diagnostics.as_deref().unwrap_or_default();
    text.split("Details :")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// A component's summary from its latest YARN application, the one before it (a resubmitted
/// component shows what happened to its previous run, not only its new one) and their count.
pub fn on_yarn(
    c: &ComponentRef,
    latest: &YarnApp,
    previous: Option<&YarnApp>,
    count: usize,
    now: i64,
) -> ComponentSummary {
    let status = yarn_status(latest.state, latest.final_status);
    let mut s = ComponentSummary::new(c, status, Observed::at(Source::Yarn, now));
    s.yarn_id = Some(latest.id.clone());
    s.tracking_url = Some(latest.tracking_url.clone().unwrap_or_default());
    s.information = Some(Value::from(diagnostics(latest)));
    s.previous = previous.map(|previous| Previous {
        yarn_id: previous.id.clone(),
        state: previous.state,
        final_status: previous.final_status,
        information: diagnostics(previous),
    });
    s.yarn_attempts = Some(count);
    s
}

/// A component with no application on YARN (or no YARN to look at), from dm's state of the
/// application; `supervised`: a job dm started, whose state the supervisor's report gives.
pub fn off_yarn(c: &ComponentRef, dm: DmState, supervised: bool, now: i64) -> ComponentSummary {
    let status = match dm {
        DmState::Created => Status::Created,
        DmState::Starting => Status::Starting,
        // Until the supervisor's report says more.
        DmState::Started if supervised => Status::NotFound,
        // What runs nowhere runs wherever dm says it does.
        DmState::Started => Status::Running,
        DmState::Leaving => Status::NotFound,
    };
    let mut s = ComponentSummary::new(c, status, Observed::at(Source::Dm, now));
    // Empty, as PNDA wrote them for a component with no YARN application.
    s.yarn_id = Some(String::new());
    s.tracking_url = Some(String::new());
    s.information = Some(Value::from(""));
    s
}

/// YARN says it runs; only the engine's detail is missing, and the summary says so.
pub fn with_engine_error(s: &mut ComponentSummary, error: &str, now: i64) {
    s.engine = Some(EngineProblem {
        status: Status::Unknown,
        error: error.to_string(),
        at: now,
    });
}

/// The state of a job not on YARN, from the supervisor's answer; `yarn`: whether dmd watches
/// a ResourceManager (so jobs are meant to run on YARN).
pub fn supervised(s: &mut ComponentSummary, seen: &SupervisorSeen, yarn: bool, now: i64) {
    let job = match seen {
        SupervisorSeen::Job(job) => job,
        SupervisorSeen::NoJob => {
            let text = "the supervisor has no job for this component";
            s.information = Some(Value::from(text));
            return;
        }
        SupervisorSeen::Silent(e) => {
            s.aggregate_status = Status::Unknown;
            s.observed = Observed {
                source: Source::Supervisor,
                at: Some(now),
                error: Some(e.clone()),
            };
            return;
        }
    };
    let reason = job.reason.clone().or_else(|| job.last_reason.clone());
    // A job that failed without ever reaching the YARN dmd watches never got submitted: PNDA's
    // label for that (the app rolls up to NOT_FOUND, as in PNDA).
    let failed = if yarn {
        Status::FailedToSubmitToYarn
    } else {
        Status::Failed
    };
    let status = match job.state {
        JobState::Running => Status::Running,
        JobState::Starting | JobState::BackingOff => Status::Starting,
        JobState::Failed => failed,
        JobState::Ended => match job.last_outcome {
            Some(Outcome::Succeeded) => Status::FinishedSucceeded,
            Some(Outcome::Failed) => failed,
            _ => Status::NotFound,
        },
        JobState::Stopped => Status::NotFound,
    };
    s.aggregate_status = status;
    s.observed = Observed::at(Source::Supervisor, now);
    if let Some(reason) = reason {
        if status == failed {
            s.failure = Some(reason.clone());
        }
        s.information = Some(Value::from(reason));
    }
}

/// The summary of a component run as a YARN job ([`crate::observe::Observe::Yarn`]), before
/// any engine's view: YARN's word while it has applications (UNKNOWN while it does not answer),
/// else dm's state and the supervisor's report.
pub fn yarn_job(c: &ComponentRef, obs: &Observations) -> ComponentSummary {
    let now = obs.now;
    match &obs.yarn {
        YarnSeen::Silent { error, since } => unknown(c, Source::Yarn, error, *since),
        YarnSeen::Apps {
            latest: Some(latest),
            previous,
            count,
        } => {
            let mut s = on_yarn(c, latest, previous.as_ref(), *count, now);
            if failed_on_yarn(s.aggregate_status) {
                s.failure = obs.failure.clone();
            }
            s
        }
        YarnSeen::Apps { latest: None, .. } | YarnSeen::NotWatched => {
            let mut s = off_yarn(c, obs.dm, obs.supervisor.is_some(), now);
            if let Some(seen) = &obs.supervisor {
                let watched = obs.yarn != YarnSeen::NotWatched;
                supervised(&mut s, seen, watched, now);
            }
            s
        }
    }
}

/// Whether the newest YARN application has ended (FINISHED, FAILED, KILLED).
pub fn ended_on_yarn(obs: &Observations) -> bool {
    matches!(&obs.yarn, YarnSeen::Apps { latest: Some(app), .. }
        if app.state.is_some_and(YarnState::is_final))
}

#[cfg(test)]
mod tests;
