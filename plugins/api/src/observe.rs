//! What dmd observes of a component, and the summary a plugin derives from it (pnda-dm §5.6).
//!
//! A plugin declares what is to be observed of its components ([`Observe`], asked once at
//! load); each status cycle dmd fetches that — the RM's applications carrying the component's
//! tags, the engine's REST view while the job runs, the supervisor's report of a job not on
//! YARN, Oozie's answer — and hands it over as [`Observations`]; the plugin's `summarize`
//! answers with a [`ComponentSummary`], whose serde names give the JSON PNDA's clients read.
//! Everything here crosses the ABI as JSON, both ways. Shared derivation steps are in
//! [`crate::summarize`].

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Declares a string-valued enum: `as_str`, `parse` and (de)serialization from one list.
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

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $ty::parse(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        concat!("unknown ", stringify!($ty), " {:?}"),
                        text
                    ))
                })
            }
        }
    };
}

// ---- YARN's states. The `dm-clients` crate's `yarn` module holds the same two enums: these
// ---- are to become `pub use dm_clients::yarn::{YarnState, FinalStatus};` when both meet.

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

// ---- end of the YARN enums.

impl YarnState {
    /// FINISHED, FAILED and KILLED are final.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            YarnState::Finished | YarnState::Failed | YarnState::Killed
        )
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

named! {
    /// An Oozie workflow's or coordinator's `status` (Oozie's documentation, "Workflow Job
    /// Status" and "Coordinator Job Status"; a bundle's are among them).
    OozieJobState {
        Prep = "PREP",
        Running = "RUNNING",
        RunningWithError = "RUNNINGWITHERROR",
        PrepSuspended = "PREPSUSPENDED",
        Suspended = "SUSPENDED",
        SuspendedWithError = "SUSPENDEDWITHERROR",
        PrepPaused = "PREPPAUSED",
        Paused = "PAUSED",
        PausedWithError = "PAUSEDWITHERROR",
        Succeeded = "SUCCEEDED",
        DoneWithError = "DONEWITHERROR",
        Killed = "KILLED",
        Failed = "FAILED",
        Ignored = "IGNORED",
    }
}

impl OozieJobState {
    /// Final: nothing will change it but a rerun.
    pub fn is_final(self) -> bool {
        use OozieJobState as O;
        matches!(
            self,
            O::Succeeded | O::Killed | O::Failed | O::DoneWithError | O::Ignored
        )
    }
}

named! {
    /// An Oozie action's `status`: a workflow action's (PREP … FAILED) or a coordinator
    /// action's (WAITING … SKIPPED).
    OozieActionState {
        Prep = "PREP",
        Running = "RUNNING",
        Ok = "OK",
        Error = "ERROR",
        UserRetry = "USER_RETRY",
        StartRetry = "START_RETRY",
        StartManual = "START_MANUAL",
        Done = "DONE",
        EndRetry = "END_RETRY",
        EndManual = "END_MANUAL",
        Killed = "KILLED",
        Failed = "FAILED",
        Waiting = "WAITING",
        Ready = "READY",
        Submitted = "SUBMITTED",
        TimedOut = "TIMEDOUT",
        Succeeded = "SUCCEEDED",
        Ignored = "IGNORED",
        Skipped = "SKIPPED",
        Suspended = "SUSPENDED",
    }
}

named! {
    /// PNDA's health of an Oozie action or workflow (`status` in its Oozie summary).
    Health {
        Ok = "OK",
        Warn = "WARN",
        Error = "ERROR",
    }
}

impl Health {
    /// PNDA's roll-up: every child ERROR → ERROR; any ERROR or WARN → WARN; else OK. No
    /// children is OK (PNDA: ERROR).
    pub fn roll_up(children: &[Health]) -> Health {
        if !children.is_empty() && children.iter().all(|h| *h == Health::Error) {
            Health::Error
        } else if children.iter().any(|h| *h != Health::Ok) {
            Health::Warn
        } else {
            Health::Ok
        }
    }
}

/// How an attempt of a supervised job ended (the supervisor's protocol uses this type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
    /// Ended by a stop request.
    Stopped,
    /// Ended while the supervisor was not watching (adopted process, exit status lost).
    Unknown,
}

/// A supervised job's state (the supervisor's protocol uses this type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// An attempt is being started or submitted.
    Starting,
    Running,
    /// Between attempts, waiting out the respawn delay.
    BackingOff,
    /// Stopped on request.
    Stopped,
    /// Ended and, by its respawn policy, not restarted.
    Ended,
    /// Gave up (start limit hit, or it cannot be started).
    Failed,
}

// ---- What a plugin declares.

/// What dmd observes of a plugin's components, declared by the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "observe")]
pub enum Observe {
    /// The YARN applications tagged with the component's tags ([`crate::identity::yarn_tags`]);
    /// while the newest runs, `engine`'s REST API through its tracking URL; once one failed,
    /// the root cause in its logs. With none on YARN and the application started, the
    /// supervisor's report of the component's job when `supervised` (dm started it).
    Yarn {
        engine: Option<Engine>,
        supervised: bool,
    },
    /// The component's Oozie job (created from an Oozie plan), its actions and their YARN runs.
    Oozie,
    /// Nothing outside dm: the component runs nowhere, dm's state of the application says all.
    Nothing,
}

/// An engine whose REST API says more than YARN about a running job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    Flink,
    Spark,
}

// ---- What dmd observed.

/// Who a component is, for its summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentRef {
    /// `component_job_name`, PNDA's `name`.
    pub job_name: String,
    pub name: String,
    /// The package's type folder (`flink`, `sparkStreaming`, …).
    pub component_type: String,
}

/// dm's own state of the component's application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DmState {
    Created,
    Starting,
    Started,
    /// Anything else: being created, stopped or destroyed.
    Leaving,
}

/// One of the component's YARN applications, as the RM reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct YarnApp {
    pub id: String,
    /// `None`: a state the RM's documentation does not list.
    pub state: Option<YarnState>,
    pub final_status: Option<FinalStatus>,
    pub tracking_url: Option<String>,
    pub diagnostics: Option<String>,
}

/// What the RM said of the component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum YarnSeen {
    /// This dmd watches no ResourceManager.
    NotWatched,
    /// The RM did not answer, since `since` (ms).
    Silent { error: String, since: i64 },
    /// The component's applications: the newest, the one before it, and how many there are
    /// (`latest` is `None` when there are none).
    Apps {
        latest: Option<YarnApp>,
        previous: Option<YarnApp>,
        count: usize,
    },
}

/// A running Flink job as its JobManager reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlinkView {
    /// `RUNNING` or `RUNNING_WITH_ERRORS`.
    pub status: Status,
    pub jid: Option<String>,
    /// PNDA's `{"state", "flinkJid", "vertices": [{name, status}]}`.
    pub information: Value,
    /// `metric → value` (records in/out, checkpoints, restarts, uptime).
    pub kpis: Map<String, Value>,
}

/// A running Spark application's job and stage counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SparkView {
    /// `RUNNING` or `RUNNING_WITH_ERRORS`.
    pub status: Status,
    /// PNDA's `{"jobSummary": …, "stageSummary": …}`, or `"No Jobs available"`.
    pub information: Value,
}

/// The engine's answer (asked only while YARN says the job runs); `Err`: why it did not answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineSeen {
    Flink(Result<FlinkView, String>),
    Spark(Result<SparkView, String>),
}

/// Where an ended Flink job is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlinkHistory {
    /// The HistoryServer's address, when dmd knows one.
    pub url: Option<String>,
    /// The job id last seen running for this component.
    pub last_jid: Option<String>,
}

/// The supervisor's report of a component's job, reduced to what a summary shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupervisedJob {
    pub state: JobState,
    /// Why it is in that state (the supervisor's own words), when it says.
    pub reason: Option<String>,
    pub last_outcome: Option<Outcome>,
    /// The last attempt's reason (a failure's root cause).
    pub last_reason: Option<String>,
}

/// What the supervisor answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupervisorSeen {
    Job(SupervisedJob),
    /// It has no job for this component.
    NoJob,
    /// It did not answer (or is not running): not evidence of anything.
    Silent(String),
}

/// One entry of an Oozie job's actions tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OozieAction {
    /// A workflow (or sub-workflow) the job started, and its own actions.
    Workflow {
        actions: Keyed<OozieAction>,
        #[serde(rename = "oozieId")]
        oozie_id: String,
        status: Health,
        name: Option<String>,
    },
    /// An action that ran on YARN.
    Yarn {
        status: Health,
        #[serde(rename = "yarnId")]
        yarn_id: String,
        information: String,
        name: Option<String>,
        #[serde(rename = "applicationType")]
        application_type: Option<String>,
    },
}

impl OozieAction {
    pub fn health(&self) -> Health {
        match self {
            OozieAction::Workflow { status, .. } | OozieAction::Yarn { status, .. } => *status,
        }
    }
}

/// Oozie's answer about a component's job: its state and, once it left PREP, its actions tree
/// (`job-N`, `workflow-N`, `subworkflow-N`) and their roll-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OozieJob {
    /// The coordinator's id for a coordinator, else the workflow's.
    pub oozie_id: Option<String>,
    pub name: Option<String>,
    /// `None`: a state Oozie's documentation does not list.
    pub state: Option<OozieJobState>,
    pub actions: Option<Keyed<OozieAction>>,
    pub health: Option<Health>,
}

/// What was seen of an `oozie` component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OozieSeen {
    /// No Oozie job was created for it (yet).
    NoJob,
    /// It has a job, and this dmd knows no Oozie to ask.
    NoOozie,
    /// Oozie's answer; `Err`: why it did not answer.
    Answer(Result<OozieJob, String>),
}

/// Everything dmd observed of one component in one cycle: what its plugin declared, fetched.
/// Fields a declaration did not ask for are `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observations {
    /// When the cycle observed (ms since the epoch).
    pub now: i64,
    pub dm: DmState,
    pub yarn: YarnSeen,
    /// The root cause of the latest YARN application's failure, once found.
    pub failure: Option<String>,
    pub engine: Option<EngineSeen>,
    /// For a Flink engine.
    pub flink_history: Option<FlinkHistory>,
    pub supervisor: Option<SupervisorSeen>,
    pub oozie: Option<OozieSeen>,
}

impl Observations {
    /// Equal but for when they were made (a summary derived from one serves the other).
    pub fn same_facts(&self, other: &Observations) -> bool {
        let Observations {
            now: _,
            dm,
            yarn,
            failure,
            engine,
            flink_history,
            supervisor,
            oozie,
        } = self;
        *dm == other.dm
            && *yarn == other.yarn
            && *failure == other.failure
            && *engine == other.engine
            && *flink_history == other.flink_history
            && *supervisor == other.supervisor
            && *oozie == other.oozie
    }
}

/// The `summarize` request: whose summary, from what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummarizeRequest {
    pub component: ComponentRef,
    pub observations: Observations,
}

// ---- The summary.

/// `observed`: the source, when it answered, or what it said instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Previous {
    #[serde(rename = "yarnId")]
    pub yarn_id: String,
    pub state: Option<YarnState>,
    #[serde(rename = "finalStatus")]
    pub final_status: Option<FinalStatus>,
    pub information: String,
}

/// An engine (Flink, Spark) that did not answer while YARN says the job runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineProblem {
    pub status: Status,
    pub error: String,
    pub at: i64,
}

/// One component's summary, as `/applications/{a}/summary` shows it under `<type>-<n>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentSummary {
    pub aggregate_status: Status,
    pub name: String,
    pub component: String,
    #[serde(rename = "componentType")]
    pub component_type: String,
    #[serde(rename = "yarnId", default, skip_serializing_if = "Option::is_none")]
    pub yarn_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_url: Option<String>,
    /// Text, or the engine's `{state, flinkJid, vertices}` / `{jobSummary, stageSummary}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub information: Option<Value>,
    pub observed: Observed,
    /// For `UNKNOWN`: since when the source has not answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Previous>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yarn_attempts: Option<usize>,
    /// The root cause of a failure, when there is evidence of one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineProblem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kpis: Option<Map<String, Value>>,
    /// For `UNKNOWN`: the last summary observed from an answering source (set by dmd).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_good: Option<Box<ComponentSummary>>,
    /// PNDA's Oozie fields.
    #[serde(rename = "oozieId", default, skip_serializing_if = "Option::is_none")]
    pub oozie_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Keyed<OozieAction>>,
    /// The Oozie job's actions rolled up.
    #[serde(rename = "status", default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

impl ComponentSummary {
    /// What every summary starts with; the status and source are the derivation's.
    pub fn new(c: &ComponentRef, status: Status, observed: Observed) -> ComponentSummary {
        ComponentSummary {
            aggregate_status: status,
            name: c.job_name.clone(),
            component: c.name.clone(),
            component_type: c.component_type.clone(),
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
            oozie_id: None,
            actions: None,
            health: None,
        }
    }

    pub fn is_unknown(&self) -> bool {
        self.aggregate_status == Status::Unknown
    }

    /// The same summary made at `now` from observations equal to those of `then`: the times
    /// a derivation takes from the observations' `now` (`observed.at`, `engine.at`) move.
    pub fn restamp(&mut self, then: i64, now: i64) {
        if self.observed.at == Some(then) {
            self.observed.at = Some(now);
        }
        if let Some(engine) = &mut self.engine {
            if engine.at == then {
                engine.at = now;
            }
        }
    }
}

/// A map whose keys keep their order (PNDA's `job-1`, `workflow-2`, … in the order found).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keyed<T>(pub Vec<(String, T)>);

impl<T: Serialize> Serialize for Keyed<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Keyed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Keyed<T>, D::Error> {
        struct Visit<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visit<T> {
            type Value = Keyed<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Keyed<T>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Keyed(entries))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}
