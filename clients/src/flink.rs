//! Flink's REST API. Reads (jobs, checkpoints, exceptions, metrics) may go through YARN's web
//! proxy (the application's tracking URL); **writes go to the JobManager's own REST address**
//! ([`crate::yarn::YarnApp::am_url`]), because the proxy forwards only GET and PUT: a POST
//! through it is refused (405), so triggering, stopping and disposing need the JobManager itself.
//!
//! Savepoint triggers, stops and disposals are asynchronous in Flink: each returns a trigger id
//! ([`TriggerId`]) whose status is polled until it is done.

use crate::http::{decode, join, ClientError, HttpClient};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A job's state in `/jobs/overview` and the job detail (Flink's `JobStatus`), with `Other`
/// for a state a newer Flink adds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobState {
    Initializing,
    Created,
    Running,
    Failing,
    Failed,
    Cancelling,
    Canceled,
    Finished,
    Restarting,
    Suspended,
    Reconciling,
    Other(String),
}

impl JobState {
    pub fn parse(text: &str) -> JobState {
        match text {
            "INITIALIZING" => JobState::Initializing,
            "CREATED" => JobState::Created,
            "RUNNING" => JobState::Running,
            "FAILING" => JobState::Failing,
            "FAILED" => JobState::Failed,
            "CANCELLING" => JobState::Cancelling,
            "CANCELED" => JobState::Canceled,
            "FINISHED" => JobState::Finished,
            "RESTARTING" => JobState::Restarting,
            "SUSPENDED" => JobState::Suspended,
            "RECONCILING" => JobState::Reconciling,
            other => JobState::Other(other.to_string()),
        }
    }

    /// A globally terminal state, or SUSPENDED (the job will not go on in this JobManager).
    pub fn has_ended(&self) -> bool {
        matches!(
            self,
            JobState::Finished | JobState::Canceled | JobState::Failed | JobState::Suspended
        )
    }
}

impl<'de> Deserialize<'de> for JobState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(JobState::parse(&text))
    }
}

/// A job's task counts (`tasks` in `/jobs/overview`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TaskCounts {
    #[serde(default)]
    pub running: u64,
    #[serde(default)]
    pub total: u64,
}

/// One job of `/jobs/overview`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JobOverview {
    pub jid: String,
    #[serde(default)]
    pub name: String,
    pub state: JobState,
    #[serde(default)]
    pub tasks: TaskCounts,
}

#[derive(Deserialize)]
struct Overview {
    #[serde(default)]
    jobs: Vec<JobOverview>,
}

/// How far a Flink application's job has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobProgress {
    /// The JobManager did not answer (not up yet, or gone).
    Unknown,
    /// No job yet, or one being created, initialized or restarted.
    Starting,
    Running(RunningJob),
    /// Every job it ran has ended.
    Ended,
}

/// A RUNNING job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningJob {
    pub id: String,
    /// A savepoint can only be taken once every task runs.
    pub all_tasks_running: bool,
}

/// The job a dm Flink application runs: the first RUNNING one of `/jobs/overview` (the one
/// place this rule is written); else whether jobs are still coming or all have ended.
pub fn progress(jobs: &[JobOverview]) -> JobProgress {
    if let Some(job) = jobs.iter().find(|j| j.state == JobState::Running) {
        return JobProgress::Running(RunningJob {
            id: job.jid.clone(),
            all_tasks_running: job.tasks.total > 0 && job.tasks.running == job.tasks.total,
        });
    }
    if !jobs.is_empty() && jobs.iter().all(|j| j.state.has_ended()) {
        JobProgress::Ended
    } else {
        // No job listed yet (main() still building it), or one initializing or restarting.
        JobProgress::Starting
    }
}

/// A savepoint's format (`formatType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum SavepointFormat {
    /// Portable across state backends (Flink's default).
    #[default]
    Canonical,
    /// The state backend's own format: faster, tied to the backend.
    Native,
}

/// The id Flink gives an asynchronous operation (`request-id`), to poll its status with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TriggerId(pub String);

impl std::fmt::Display for TriggerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a savepoint trigger or a stop with savepoint stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SavepointStatus {
    InProgress,
    /// Written; `location` is the savepoint's folder (e.g. `hdfs://…/savepoint-1a2b3c-…`).
    Completed {
        location: String,
    },
    /// `cause`: the Java exception's class and its message line.
    Failed {
        cause: String,
    },
}

/// Where a savepoint disposal stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisposalStatus {
    InProgress,
    Completed,
    Failed { cause: String },
}

#[derive(Deserialize)]
struct Trigger {
    #[serde(rename = "request-id")]
    request_id: String,
}

#[derive(Deserialize)]
struct AsyncStatus {
    status: StatusId,
    #[serde(default)]
    operation: Option<Operation>,
}

#[derive(Deserialize)]
struct StatusId {
    id: String,
}

#[derive(Deserialize, Default)]
struct Operation {
    #[serde(default)]
    location: Option<String>,
    #[serde(default, rename = "failure-cause")]
    failure_cause: Option<FailureCause>,
}

#[derive(Deserialize)]
struct FailureCause {
    #[serde(default)]
    class: Option<String>,
    #[serde(default, rename = "stack-trace")]
    stack_trace: Option<String>,
}

impl FailureCause {
    /// The exception's first line (`class: message`) and, when there is one, its root cause's
    /// (the last `Caused by:`), e.g. "… Could not dispose savepoint X. (Caused by: java.io.
    /// FileNotFoundException: …)"; the class alone when there is no trace.
    fn sentence(&self) -> String {
        let trace = self.stack_trace.as_deref().unwrap_or("");
        let first = trace
            .lines()
            .next()
            .map(str::trim)
            .filter(|l| !l.is_empty());
        let root = trace
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("Caused by: "));
        match (first, root, &self.class) {
            (Some(first), Some(root), _) if !first.contains(root.trim()) => {
                format!("{first} (Caused by: {})", root.trim())
            }
            (Some(first), _, _) => first.to_string(),
            (None, _, Some(class)) => class.clone(),
            (None, _, None) => "Flink gave no cause".to_string(),
        }
    }
}

/// A savepoint trigger's status answer (`GET /jobs/:id/savepoints/:trigger`): done once a
/// location or a failure cause is present.
pub fn parse_savepoint_status(body: &[u8]) -> Result<SavepointStatus, serde_json::Error> {
    let answer: AsyncStatus = serde_json::from_slice(body)?;
    let operation = answer.operation.unwrap_or_default();
    Ok(match (operation.location, operation.failure_cause) {
        (_, Some(cause)) => SavepointStatus::Failed {
            cause: cause.sentence(),
        },
        (Some(location), None) => SavepointStatus::Completed { location },
        (None, None) if answer.status.id == "COMPLETED" => SavepointStatus::Failed {
            cause: "Flink reported the savepoint complete without a location".to_string(),
        },
        (None, None) => SavepointStatus::InProgress,
    })
}

/// A disposal's status answer (`GET /savepoint-disposal/:trigger`).
pub fn parse_disposal_status(body: &[u8]) -> Result<DisposalStatus, serde_json::Error> {
    let answer: AsyncStatus = serde_json::from_slice(body)?;
    let cause = answer.operation.and_then(|o| o.failure_cause);
    Ok(match (answer.status.id.as_str(), cause) {
        (_, Some(cause)) => DisposalStatus::Failed {
            cause: cause.sentence(),
        },
        ("COMPLETED", None) => DisposalStatus::Completed,
        _ => DisposalStatus::InProgress,
    })
}

/// `GET /jobs/:id/checkpoints`: counts, the latest of each kind, recent history.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
pub struct Checkpoints {
    #[serde(default)]
    pub counts: CheckpointCounts,
    #[serde(default)]
    pub latest: LatestCheckpoints,
    #[serde(default)]
    pub history: Vec<CheckpointEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct CheckpointCounts {
    #[serde(default)]
    pub restored: u64,
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub in_progress: u64,
    #[serde(default)]
    pub completed: u64,
    #[serde(default)]
    pub failed: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
pub struct LatestCheckpoints {
    #[serde(default)]
    pub completed: Option<CheckpointEntry>,
    #[serde(default)]
    pub savepoint: Option<CheckpointEntry>,
    #[serde(default)]
    pub failed: Option<CheckpointEntry>,
    #[serde(default)]
    pub restored: Option<RestoredCheckpoint>,
}

/// A checkpoint or savepoint (history entries and `latest.completed` / `latest.savepoint`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
pub struct CheckpointEntry {
    pub id: u64,
    /// `COMPLETED`, `IN_PROGRESS`, `FAILED`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub is_savepoint: bool,
    /// `CHECKPOINT`, `SAVEPOINT`, `SYNC_SAVEPOINT`, …
    #[serde(default)]
    pub checkpoint_type: Option<String>,
    #[serde(default)]
    pub trigger_timestamp: i64,
    #[serde(default)]
    pub latest_ack_timestamp: i64,
    #[serde(default)]
    pub state_size: Option<u64>,
    #[serde(default)]
    pub checkpointed_size: Option<u64>,
    #[serde(default)]
    pub end_to_end_duration: Option<u64>,
    /// Where a completed one lies (`hdfs://…/chk-7` or a savepoint folder).
    #[serde(default)]
    pub external_path: Option<String>,
    #[serde(default)]
    pub discarded: Option<bool>,
    #[serde(default)]
    pub failure_message: Option<String>,
}

/// The checkpoint or savepoint the job was restored from.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
pub struct RestoredCheckpoint {
    pub id: u64,
    #[serde(default)]
    pub restore_timestamp: i64,
    #[serde(default)]
    pub is_savepoint: bool,
    #[serde(default)]
    pub external_path: Option<String>,
}

/// One metric of `/jobs/:id/metrics?get=…` (values come as strings).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Metric {
    pub id: String,
    pub value: String,
}

/// A Flink REST client; every call names the base URL it goes to (a tracking URL for reads,
/// the JobManager's address for writes).
#[derive(Clone)]
pub struct Flink {
    http: HttpClient,
}

impl Flink {
    pub fn new(http: HttpClient) -> Flink {
        Flink { http }
    }

    /// `GET /jobs/overview`.
    pub fn overview(&self, base: &str) -> Result<Vec<JobOverview>, ClientError> {
        let overview: Overview = self.http.get_json(&join(base, "jobs/overview"))?;
        Ok(overview.jobs)
    }

    /// How far the application's job has come; a JobManager that does not answer is `Unknown`.
    pub fn progress(&self, base: &str) -> JobProgress {
        match self.overview(base) {
            Ok(jobs) => progress(&jobs),
            Err(_) => JobProgress::Unknown,
        }
    }

    /// `GET /jobs/:id`: the job detail (vertices, plan, duration), as Flink wrote it.
    pub fn job(&self, base: &str, job: &str) -> Result<Value, ClientError> {
        self.http.get_json(&join(base, &format!("jobs/{job}")))
    }

    /// `GET /jobs/:id/exceptions`, as Flink wrote it.
    pub fn exceptions(&self, base: &str, job: &str) -> Result<Value, ClientError> {
        self.http
            .get_json(&join(base, &format!("jobs/{job}/exceptions")))
    }

    /// `GET /jobs/:id/checkpoints`.
    pub fn checkpoints(&self, base: &str, job: &str) -> Result<Checkpoints, ClientError> {
        self.http
            .get_json(&join(base, &format!("jobs/{job}/checkpoints")))
    }

    /// `GET /jobs/:id/metrics?get=a,b`.
    pub fn metrics(
        &self,
        base: &str,
        job: &str,
        names: &[&str],
    ) -> Result<Vec<Metric>, ClientError> {
        let url = join(base, &format!("jobs/{job}/metrics?get={}", names.join(",")));
        self.http.get_json(&url)
    }

    /// `POST /jobs/:id/savepoints` on the JobManager `jm`: starts a savepoint into `target_dir`
    /// (`None`: the cluster's default savepoint folder), the job going on.
    pub fn trigger_savepoint(
        &self,
        jm: &str,
        job: &str,
        target_dir: Option<&str>,
        format: SavepointFormat,
    ) -> Result<TriggerId, ClientError> {
        let url = join(jm, &format!("jobs/{job}/savepoints"));
        let mut body = json!({"cancel-job": false, "formatType": format});
        if let Some(dir) = target_dir {
            body["target-directory"] = json!(dir);
        }
        self.trigger(&url, &body)
    }

    /// `GET /jobs/:id/savepoints/:trigger`: a savepoint's or a stop's progress.
    pub fn savepoint_status(
        &self,
        base: &str,
        job: &str,
        trigger: &TriggerId,
    ) -> Result<SavepointStatus, ClientError> {
        let url = join(base, &format!("jobs/{job}/savepoints/{trigger}"));
        let body = self.http.get_bytes(&url)?;
        parse_savepoint_status(&body).map_err(|e| {
            ClientError::new("GET", &url, crate::http::ErrorKind::Decode(e.to_string()))
        })
    }

    /// `POST /jobs/:id/stop` on the JobManager `jm`: a savepoint, then the job stops (with
    /// `drain`, after its sources emit MAX_WATERMARK). Its progress is [`Flink::savepoint_status`].
    pub fn stop_with_savepoint(
        &self,
        jm: &str,
        job: &str,
        target_dir: Option<&str>,
        drain: bool,
        format: SavepointFormat,
    ) -> Result<TriggerId, ClientError> {
        let url = join(jm, &format!("jobs/{job}/stop"));
        // camelCase here, unlike the trigger's body: Flink's own inconsistency.
        let mut body = json!({"drain": drain, "formatType": format});
        if let Some(dir) = target_dir {
            body["targetDirectory"] = json!(dir);
        }
        self.trigger(&url, &body)
    }

    /// `POST /savepoint-disposal` on the JobManager `jm`: deletes the savepoint at `path`.
    pub fn dispose_savepoint(&self, jm: &str, path: &str) -> Result<TriggerId, ClientError> {
        self.trigger(
            &join(jm, "savepoint-disposal"),
            &json!({"savepoint-path": path}),
        )
    }

    /// `GET /savepoint-disposal/:trigger`.
    pub fn disposal_status(
        &self,
        base: &str,
        trigger: &TriggerId,
    ) -> Result<DisposalStatus, ClientError> {
        let url = join(base, &format!("savepoint-disposal/{trigger}"));
        let body = self.http.get_bytes(&url)?;
        parse_disposal_status(&body).map_err(|e| {
            ClientError::new("GET", &url, crate::http::ErrorKind::Decode(e.to_string()))
        })
    }

    /// `PATCH /jobs/:id?mode=cancel` on the JobManager `jm`: cancels without a savepoint.
    pub fn cancel(&self, jm: &str, job: &str) -> Result<(), ClientError> {
        self.http
            .patch(&join(jm, &format!("jobs/{job}?mode=cancel")))
            .map(|_| ())
    }

    fn trigger(&self, url: &str, body: &Value) -> Result<TriggerId, ClientError> {
        let answer = self.http.post_json(url, body)?;
        let trigger: Trigger = decode("POST", url, &answer)?;
        Ok(TriggerId(trigger.request_id))
    }
}

#[cfg(test)]
mod tests;
