//! What dmd and the supervisor say to each other: one JSON request per line on a Unix socket,
//! one JSON response line back.

use dm_plugin_api::Job;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A job to keep running: the plan's job plus where and as whom it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Stable id, `<application>/<component>`.
    pub id: String,
    pub job: Job,
    /// The working directory (the component's rendered files).
    pub workdir: PathBuf,
    /// The user the job runs as when the supervisor runs as root.
    #[serde(default)]
    pub user: Option<String>,
    /// Where savepoints go (Flink), if the job takes them.
    #[serde(default)]
    pub savepoint_dir: Option<String>,
    /// Extra environment (e.g. HADOOP_CONF_DIR), on top of the plan's.
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// What this start restores from; respawns then resume from the last savepoint recorded.
    #[serde(default)]
    pub restore: Restore,
    /// Whether a restore may drop state of operators the job no longer has.
    #[serde(default)]
    pub allow_non_restored_state: bool,
}

/// What a start restores from (dmd's savepoint catalog decides; see `dm_core::savepoints`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Restore {
    /// The last savepoint the supervisor recorded for the job (its stop savepoint), if any.
    #[default]
    Last,
    /// This savepoint.
    Savepoint { path: String },
    /// Empty state.
    Empty,
}

impl JobSpec {
    /// The plan's environment for the submit command, then the supervisor's own for the job.
    pub fn submit_env(&self) -> Vec<(String, String)> {
        self.job
            .submit
            .env
            .clone()
            .into_iter()
            .chain(self.env.iter().cloned())
            .collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Start supervising (or, for a known id, resume) a job. Idempotent: a job already running
    /// is left alone, never started twice.
    Start {
        spec: Box<JobSpec>,
    },
    /// Stop a job and keep it stopped; answers once it has stopped. With `cancel`, the plan's
    /// stop steps that take a savepoint are skipped (an upgrade that keeps no state, or one that
    /// restores a retained checkpoint).
    Stop {
        id: String,
        #[serde(default)]
        cancel: bool,
    },
    /// Forget a stopped job and its logs.
    Remove {
        id: String,
    },
    Status {
        id: String,
    },
    /// Records a savepoint taken outside a stop (triggered by dmd), so that a respawn of the job
    /// resumes from it rather than from an older one.
    RecordSavepoint {
        id: String,
        path: String,
    },
    List,
    /// The tail of an attempt's log (the latest attempt when `attempt` is absent).
    Logs {
        id: String,
        attempt: Option<u32>,
        max_bytes: Option<u64>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Ok,
    Job { job: JobReport },
    Jobs { jobs: Vec<JobReport> },
    Log { attempt: u32, text: String },
    Error { message: String },
}

/// What the supervisor knows of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobReport {
    pub id: String,
    pub state: JobState,
    /// Why the job is in this state, when it is not the obvious one (e.g. gave up respawning).
    pub reason: Option<String>,
    pub attempts: Vec<Attempt>,
    pub last_savepoint: Option<String>,
    /// What the running local process uses, measured when the report was made.
    #[serde(default)]
    pub resources: Option<Resources>,
}

/// Resource figures of a local job's process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    pub memory_bytes: u64,
    /// Percent of one core since the previous measurement.
    pub cpu_percent: f32,
}

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

/// One run of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub number: u32,
    pub started_ms: u64,
    pub ended_ms: Option<u64>,
    /// Local process id, while it is known.
    pub pid: Option<u32>,
    pub yarn_application_id: Option<String>,
    pub outcome: Option<Outcome>,
    /// For a failure: the root exception or error found in the log, or what went wrong.
    pub reason: Option<String>,
    pub log: PathBuf,
}

/// How an attempt ended.
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
