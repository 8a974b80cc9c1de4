//! The YARN ResourceManager's REST API, as far as supervision needs it: find applications by
//! tag, read one, kill one; and Flink's REST API behind the RM proxy, to find a job id.

use serde::Deserialize;
use std::io::Read;
use std::time::Duration;

/// One YARN application, as the RM reports it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct YarnApp {
    pub id: String,
    pub name: String,
    pub state: String,
    pub final_status: String,
    #[serde(default)]
    pub tracking_url: Option<String>,
    #[serde(default)]
    pub application_tags: Option<String>,
    #[serde(default)]
    pub started_time: i64,
    #[serde(default)]
    pub diagnostics: Option<String>,
    /// The NodeManager page of the ApplicationMaster container's logs
    /// (`http://nm:8042/node/containerlogs/<container>/<user>`).
    #[serde(default)]
    pub am_container_logs: Option<String>,
}

impl YarnApp {
    /// FINISHED, FAILED and KILLED are final.
    pub fn is_final(&self) -> bool {
        matches!(self.state.as_str(), "FINISHED" | "FAILED" | "KILLED")
    }

    /// Not yet given its ApplicationMaster container.
    pub fn is_pending(&self) -> bool {
        matches!(
            self.state.as_str(),
            "NEW" | "NEW_SAVING" | "SUBMITTED" | "ACCEPTED"
        )
    }

    pub fn has_tags(&self, tags: &[String]) -> bool {
        let own: Vec<&str> = self
            .application_tags
            .as_deref()
            .unwrap_or("")
            .split(',')
            .collect();
        tags.iter().all(|t| own.contains(&t.as_str()))
    }
}

#[derive(Deserialize)]
struct AppsEnvelope {
    apps: Option<AppsList>,
}

#[derive(Deserialize)]
struct AppsList {
    #[serde(default)]
    app: Vec<YarnApp>,
}

#[derive(Deserialize)]
struct AppEnvelope {
    app: YarnApp,
}

/// The longest one call to the ResourceManager may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// A ResourceManager REST client with timeouts on every call.
#[derive(Clone)]
pub struct ResourceManager {
    base: String,
    agent: ureq::Agent,
}

impl ResourceManager {
    pub fn new(base: &str) -> Self {
        ResourceManager::with_timeouts(base, Duration::from_secs(5), CALL_TIMEOUT)
    }

    /// A client whose calls give up after `connect` to connect and `total` in all.
    pub fn with_timeouts(base: &str, connect: Duration, total: Duration) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(connect)
            .timeout(total)
            .build();
        ResourceManager {
            base: base.trim_end_matches('/').to_string(),
            agent,
        }
    }

    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        let url = format!("{}{path}", self.base);
        let response = self
            .agent
            .get(&url)
            .set("Accept", "application/json")
            .call()
            .map_err(|e| format!("GET {url}: {e}"))?;
        // Read whole, then parsed: serde_json reading from a stream goes byte by byte, which
        // costs several times more on an RM's list of a thousand applications.
        let mut body = Vec::new();
        response
            .into_reader()
            .read_to_end(&mut body)
            .map_err(|e| format!("GET {url}: {e}"))?;
        serde_json::from_slice(&body).map_err(|e| format!("GET {url}: unreadable answer: {e}"))
    }

    /// Applications carrying `tag` (YARN matches tags case-insensitively).
    pub fn apps_tagged(&self, tag: &str) -> Result<Vec<YarnApp>, String> {
        let envelope: AppsEnvelope =
            self.get(&format!("/ws/v1/cluster/apps?applicationTags={tag}"))?;
        Ok(envelope.apps.map(|a| a.app).unwrap_or_default())
    }

    pub fn app(&self, id: &str) -> Result<YarnApp, String> {
        self.find(id)?
            .ok_or_else(|| format!("the ResourceManager does not know {id}"))
    }

    /// Like [`ResourceManager::app`], with `None` when the RM answers that it does not know
    /// the application (e.g. it restarted without a state store).
    pub fn find(&self, id: &str) -> Result<Option<YarnApp>, String> {
        let url = format!("{}/ws/v1/cluster/apps/{id}", self.base);
        match self
            .agent
            .get(&url)
            .set("Accept", "application/json")
            .call()
        {
            Ok(response) => response
                .into_json::<AppEnvelope>()
                .map(|e| Some(e.app))
                .map_err(|e| format!("GET {url}: unreadable answer: {e}")),
            Err(ureq::Error::Status(404, _)) => Ok(None),
            Err(e) => Err(format!("GET {url}: {e}")),
        }
    }

    pub fn kill(&self, id: &str) -> Result<(), String> {
        let url = format!("{}/ws/v1/cluster/apps/{id}/state", self.base);
        self.agent
            .put(&url)
            .send_json(serde_json::json!({"state": "KILLED"}))
            .map(|_| ())
            .map_err(|e| format!("PUT {url}: {e}"))
    }

    /// The running Flink job of a Flink application, through its tracking URL.
    pub fn running_flink_job(&self, app: &YarnApp) -> Option<FlinkJob> {
        match self.flink_job_progress(app) {
            FlinkProgress::Running(job) => Some(job),
            _ => None,
        }
    }

    /// How far the Flink application's job has come, through its tracking URL.
    pub fn flink_job_progress(&self, app: &YarnApp) -> FlinkProgress {
        let Some(tracking) = app.tracking_url.as_deref() else {
            return FlinkProgress::Unknown;
        };
        let url = format!("{}/jobs/overview", tracking.trim_end_matches('/'));
        let overview: serde_json::Value = match self.agent.get(&url).call() {
            Ok(response) => match response.into_json() {
                Ok(overview) => overview,
                Err(_) => return FlinkProgress::Unknown,
            },
            Err(_) => return FlinkProgress::Unknown,
        };
        let jobs = overview["jobs"].as_array().cloned().unwrap_or_default();
        if let Some(job) = jobs.iter().find(|j| j["state"] == "RUNNING") {
            let tasks = &job["tasks"];
            if let Some(id) = job["jid"].as_str() {
                return FlinkProgress::Running(FlinkJob {
                    id: id.to_string(),
                    all_tasks_running: tasks["running"].as_u64().is_some()
                        && tasks["running"] == tasks["total"],
                });
            }
        }
        let ended = |j: &serde_json::Value| {
            matches!(
                j["state"].as_str(),
                Some("FINISHED" | "CANCELED" | "FAILED" | "SUSPENDED")
            )
        };
        if !jobs.is_empty() && jobs.iter().all(ended) {
            FlinkProgress::Ended
        } else {
            // No job listed yet (main() still building it), or one initializing or restarting.
            FlinkProgress::Starting
        }
    }
}

/// What a Flink application's JobManager says of its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlinkProgress {
    /// The JobManager did not answer (not up yet, or gone).
    Unknown,
    /// No job yet, or one being created, initialized or restarted.
    Starting,
    Running(FlinkJob),
    /// Every job it ran has ended.
    Ended,
}

/// A Flink job as its JobManager reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlinkJob {
    pub id: String,
    /// A savepoint can only be taken once every task runs.
    pub all_tasks_running: bool,
}
