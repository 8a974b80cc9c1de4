//! The derivation of PNDA's component summaries (pnda-dm.md §5.6): typed observations in —
//! the RM's application states, the supervisor's job report, the Flink/Spark views, dm's own
//! state of the application — a typed `ComponentSummary` out, whose serde names give the JSON
//! PNDA's clients read. No I/O here: the observer (`mod.rs`) fetches, these functions decide.

use super::engines::{FlinkView, SparkView};
use crate::registry::AppState;
use dm_clients::yarn::YarnApp;
use dm_supervisor::protocol::{JobReport, JobState, Outcome};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Declares a string-valued enum: `as_str`, `parse` and serialization from one list.
macro_rules! named {
    ($(#[$meta:meta])* $ty:ident { $($(#[$vmeta:meta])* $variant:ident = $name:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $ty { $($(#[$vmeta])* $variant),* }

        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),* }
            }

            pub fn parse(text: &str) -> Option<$ty> {
                match text { $($name => Some($ty::$variant),)* _ => None }
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

named! {
    /// A YARN application's `state`, as the RM writes it.
    YarnState {
        New = "NEW",
        NewSaving = "NEW_SAVING",
        Submitted = "SUBMITTED",
        Accepted = "ACCEPTED",
        Running = "RUNNING",
        Finished = "FINISHED",
        Failed = "FAILED",
        Killed = "KILLED",
    }
}

named! {
    /// A YARN application's `finalStatus`.
    FinalStatus {
        Undefined = "UNDEFINED",
        Succeeded = "SUCCEEDED",
        Failed = "FAILED",
        Killed = "KILLED",
    }
}

named! {
    /// A component's or an application's `aggregate_status`: PNDA's words, and dm's `UNKNOWN`.
    Status {
        Created = "CREATED",
        Starting = "STARTING",
        Submitted = "SUBMITTED",
        Accepted = "ACCEPTED",
        Running = "RUNNING",
        RunningWithErrors = "RUNNING_WITH_ERRORS",
        Suspended = "SUSPENDED",
        SuspendedWithFailures = "SUSPENDED_WITH_FAILURES",
        Stopped = "STOPPED",
        StoppedWithFailures = "STOPPED_WITH_FAILURES",
        Killed = "KILLED",
        KilledWithFailures = "KILLED_WITH_FAILURES",
        Failed = "FAILED",
        /// Failed before ever reaching the YARN dmd watches.
        FailedToSubmitToYarn = "FAILED_TO_SUBMIT_TO_YARN",
        Completed = "COMPLETED",
        CompletedWithFailures = "COMPLETED_WITH_FAILURES",
        Succeeded = "SUCCEEDED",
        FinishedSucceeded = "FINISHED_SUCCEEDED",
        FinishedFailed = "FINISHED_FAILED",
        FinishedKilled = "FINISHED_KILLED",
        FinishedUndefined = "FINISHED_UNDEFINED",
        NotFound = "NOT_FOUND",
        /// Its source did not answer: never a guessed failure.
        Unknown = "UNKNOWN",
    }
}

named! {
    /// Where a summary's facts came from (`observed.source`).
    Source {
        Dm = "dm",
        Yarn = "yarn",
        Flink = "flink",
        Spark = "spark",
        Supervisor = "supervisor",
        Oozie = "oozie",
    }
}

/// `observed`: the source, when it answered, or what it said instead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observed {
    pub source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Observed {
    pub fn at(source: Source, at: i64) -> Observed {
        Observed {
            source,
            at: Some(at),
            error: None,
        }
    }
}

/// The run before a resubmitted component's latest YARN application.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Previous {
    #[serde(rename = "yarnId")]
    pub yarn_id: String,
    /// The RM's own strings, shown as they came.
    pub state: String,
    #[serde(rename = "finalStatus")]
    pub final_status: String,
    pub information: String,
}

/// An engine (Flink, Spark) that did not answer while YARN says the job runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineProblem {
    pub status: Status,
    pub error: String,
    pub at: i64,
}

/// One component's summary, as `/applications/{a}/summary` shows it under `<type>-<n>`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentSummary {
    pub aggregate_status: Status,
    pub name: String,
    pub component: String,
    #[serde(rename = "componentType")]
    pub component_type: String,
    #[serde(rename = "yarnId", skip_serializing_if = "Option::is_none")]
    pub yarn_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_url: Option<String>,
    /// Text, or the engine's `{state, flinkJid, vertices}` / `{jobSummary, stageSummary}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub information: Option<Value>,
    pub observed: Observed,
    /// For `UNKNOWN`: since when the source has not answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<Previous>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub yarn_attempts: Option<usize>,
    /// The root cause of a failure, when there is evidence of one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineProblem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kpis: Option<Map<String, Value>>,
    /// For `UNKNOWN`: the last summary observed from an answering source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_good: Option<Box<ComponentSummary>>,
    /// PNDA's Oozie fields (`oozieId`, `status`, `actions`), as `oozie::summary` builds them.
    #[serde(flatten)]
    pub oozie: Map<String, Value>,
}

/// Who a component is, for its summary.
#[derive(Debug, Clone, Copy)]
pub struct ComponentId<'a> {
    /// `component_job_name`, PNDA's `name`.
    pub job_name: &'a str,
    pub name: &'a str,
    /// The package's type (`flink`, `sparkStreaming`, `oozie`, `jupyter`, …).
    pub ty: &'a str,
}

/// The component type whose plugin commits notebooks and runs nothing.
pub const NOTEBOOKS_TYPE: &str = "jupyter";

impl ComponentSummary {
    /// What every summary starts with; the status and source are the derivation's.
    pub fn new(id: ComponentId, status: Status, observed: Observed) -> ComponentSummary {
        ComponentSummary {
            aggregate_status: status,
            name: id.job_name.to_string(),
            component: id.name.to_string(),
            component_type: component_type_label(id.ty).to_string(),
            yarn_id: None,
            tracking_url: None,
            information: None,
            observed,
            since: None,
            previous: None,
            yarn_attempts: None,
            failure: None,
            engine: None,
            kpis: None,
            last_good: None,
            oozie: Map::new(),
        }
    }

    pub fn is_unknown(&self) -> bool {
        self.aggregate_status == Status::Unknown
    }
}

fn component_type_label(ty: &str) -> &str {
    match ty {
        "flink" => "Flink",
        "sparkStreaming" => "SparkStreaming",
        "oozie" => "Oozie",
        NOTEBOOKS_TYPE => "Jupyter",
        other => other,
    }
}

/// A component whose source did not answer: UNKNOWN since the first failure.
pub fn unknown(id: ComponentId, source: Source, error: &str, since: i64) -> ComponentSummary {
    let observed = Observed {
        source,
        at: None,
        error: Some(error.to_string()),
    };
    let mut s = ComponentSummary::new(id, Status::Unknown, observed);
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

/// Where a finished Flink job is shown: its page on the HistoryServer, else its list.
pub fn flink_history_link(history: Option<&str>, jid: Option<&str>) -> String {
    let Some(history) = history else {
        return String::new();
    };
    let base = history.trim_end_matches('/');
    match jid {
        Some(jid) => format!("{base}/#/jobs/{jid}"),
        None => format!("{base}/#/completed-jobs"),
    }
}

/// A component's summary from its YARN applications, newest first (`apps` is not empty);
/// `flink_history`: where an ended Flink component is linked (see `flink_history_link`).
pub fn on_yarn(
    id: ComponentId,
    apps: &[&Arc<YarnApp>],
    flink_history: impl FnOnce() -> String,
    now: i64,
) -> ComponentSummary {
    let latest = apps[0];
    let state = YarnState::parse(latest.state.as_str());
    let status = yarn_status(state, FinalStatus::parse(latest.final_status.as_str()));
    let mut s = ComponentSummary::new(id, status, Observed::at(Source::Yarn, now));
    s.yarn_id = Some(latest.id.clone());
    s.tracking_url = Some(latest.tracking_url.clone().unwrap_or_default());
    s.information = Some(Value::from(diagnostics(latest)));
    // A component resubmitted after a kill or a crash shows what happened to the previous run,
    // not only its new one.
    s.previous = apps.get(1).map(|previous| Previous {
        yarn_id: previous.id.clone(),
        state: previous.state.to_string(),
        final_status: previous.final_status.to_string(),
        information: diagnostics(previous),
    });
    s.yarn_attempts = Some(apps.len());
    let ended = matches!(
        state,
        Some(YarnState::Finished | YarnState::Failed | YarnState::Killed)
    );
    if ended && id.ty == "flink" {
        s.tracking_url = Some(flink_history());
    }
    s
}

/// A component with no application on YARN (or no YARN to look at), from dm's state of the
/// application; `true` beside it when the supervisor must be asked (a plugin's job dm started).
pub fn off_yarn(
    id: ComponentId,
    state: AppState,
    plugin: bool,
    now: i64,
) -> (ComponentSummary, bool) {
    let (status, ask) = match state {
        AppState::Created => (Status::Created, false),
        AppState::Starting => (Status::Starting, false),
        // The supervisor knows whether it is being submitted, runs locally, or failed.
        AppState::Started | AppState::RolledBack if plugin => (Status::NotFound, true),
        // dm's own no-op components run wherever dm says they do.
        AppState::Started | AppState::RolledBack => (Status::Running, false),
        _ => (Status::NotFound, false),
    };
    let mut s = ComponentSummary::new(id, status, Observed::at(Source::Dm, now));
    // Empty, as PNDA wrote them for a component with no YARN application.
    s.yarn_id = Some(String::new());
    s.tracking_url = Some(String::new());
    s.information = Some(Value::from(""));
    (s, ask)
}

/// An `oozie` component before Oozie is asked (`true` beside it when it must be): its job
/// once created, and whether this dmd knows an Oozie.
pub fn oozie_before(
    id: ComponentId,
    state: AppState,
    job_created: bool,
    have_oozie: bool,
    now: i64,
) -> (ComponentSummary, bool) {
    let mut s = ComponentSummary::new(id, Status::NotFound, Observed::at(Source::Dm, now));
    let ask = job_created && have_oozie;
    if !job_created && state == AppState::Created {
        s.aggregate_status = Status::Created;
    } else if !have_oozie {
        let text = "this dmd has no Oozie to ask ([oozie] url)";
        s.information = Some(Value::from(text));
    }
    (s, ask)
}

/// Oozie's answer (`oozie::summary::component_summary`) merged into the summary.
pub fn with_oozie(s: &mut ComponentSummary, answer: Result<Value, String>, now: i64) {
    let error = match answer {
        Ok(Value::Object(found)) => {
            for (key, value) in found {
                match key.as_str() {
                    "aggregate_status" => {
                        let status = value.as_str().and_then(Status::parse);
                        s.aggregate_status = status.unwrap_or(Status::NotFound);
                    }
                    "name" => {
                        if let Some(name) = value.as_str() {
                            s.name = name.to_string();
                        }
                    }
                    "componentType" => {}
                    _ => {
                        s.oozie.insert(key, value);
                    }
                }
            }
            s.observed = Observed::at(Source::Oozie, now);
            return;
        }
        Err(e) => e,
        Ok(other) => format!("unexpected Oozie summary {other}"),
    };
    s.aggregate_status = Status::Unknown;
    s.information = Some(Value::from(error.as_str()));
    s.observed = Observed {
        source: Source::Oozie,
        at: Some(now),
        error: Some(error),
    };
}

/// A running Flink job's view; its tracking URL then points at the job.
pub fn with_flink(s: &mut ComponentSummary, view: FlinkView, now: i64) {
    if let Some(jid) = &view.jid {
        let tracking = s.tracking_url.as_deref().unwrap_or_default();
        s.tracking_url = Some(format!("{tracking}#/jobs/{jid}"));
    }
    s.aggregate_status = view.status;
    s.information = Some(view.information);
    s.observed = Observed::at(Source::Flink, now);
    s.kpis = Some(view.kpis);
}

pub fn with_spark(s: &mut ComponentSummary, view: SparkView, now: i64) {
    s.aggregate_status = view.status;
    s.information = Some(view.information);
    s.observed = Observed::at(Source::Spark, now);
}

/// YARN says it runs; only the engine's detail is missing, and the summary says so.
pub fn with_engine_error(s: &mut ComponentSummary, error: String, now: i64) {
    s.engine = Some(EngineProblem {
        status: Status::Unknown,
        error,
        at: now,
    });
}

/// The state of a job not on YARN, from the supervisor's report (`Ok(None)`: it has no such
/// job); `yarn`: whether dmd watches a ResourceManager (so jobs are meant to run on YARN).
pub fn supervised(
    s: &mut ComponentSummary,
    report: Result<Option<JobReport>, String>,
    yarn: bool,
    now: i64,
) {
    let report = match report {
        Ok(Some(report)) => report,
        Ok(None) => {
            let text = "the supervisor has no job for this component";
            s.information = Some(Value::from(text));
            return;
        }
        Err(e) => {
            s.aggregate_status = Status::Unknown;
            s.observed = Observed {
                source: Source::Supervisor,
                at: Some(now),
                error: Some(e),
            };
            return;
        }
    };
    let last = report.attempts.last();
    let reason = report
        .reason
        .clone()
        .or_else(|| last.and_then(|a| a.reason.clone()));
    // A job that failed without ever reaching the YARN dmd watches never got submitted: PNDA's
    // label for that (the app rolls up to NOT_FOUND, as in PNDA).
    let failed = if yarn {
        Status::FailedToSubmitToYarn
    } else {
        Status::Failed
    };
    let status = match report.state {
        JobState::Running => Status::Running,
        JobState::Starting | JobState::BackingOff => Status::Starting,
        JobState::Failed => failed,
        JobState::Ended => match last.and_then(|a| a.outcome) {
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

/// YARN's diagnostics, cut before the `Details :` that PNDA left out.
pub fn diagnostics(app: &YarnApp) -> String {
    let text = app.diagnostics.as_deref().unwrap_or_default();
    text.split("Details :")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// What the observer remembers of a component between cycles to say how stale it is.
#[derive(Debug, Default)]
pub struct Staleness {
    pub last_good: Option<Arc<ComponentSummary>>,
    pub unknown_since: Option<i64>,
}

impl Staleness {
    /// The cycle's summary as published: an `UNKNOWN` one says since when (the first cycle
    /// that could not observe it, unless it already says) and carries the last good one; any
    /// other becomes the last good.
    pub fn settle(&mut self, mut s: ComponentSummary, now: i64) -> Arc<ComponentSummary> {
        if s.is_unknown() {
            if s.since.is_none() {
                s.since = Some(*self.unknown_since.get_or_insert(now));
            }
            s.last_good = self.last_good.as_deref().cloned().map(Box::new);
            return Arc::new(s);
        }
        self.unknown_since = None;
        let s = Arc::new(s);
        self.last_good = Some(Arc::clone(&s));
        s
    }
}

#[cfg(test)]
mod tests;
